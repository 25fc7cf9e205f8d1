//! Enums whose values are config keywords.

/// Declares a `Copy` enum whose variants are written in the config as fixed keywords, with
/// `ALL`, `keyword()`, `from_keyword()`, `expected()` (the accepted list for messages) and
/// `Display`.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $kw:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the config format documents them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The config (and ASA) keyword.
            pub const fn keyword(self) -> &'static str {
                match self {
                    $($name::$variant => $kw,)+
                }
            }

            /// Parses a config keyword (exact, lower case).
            pub fn from_keyword(s: &str) -> Option<$name> {
                match s {
                    $($kw => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The accepted keywords, comma separated, for error messages.
            pub fn expected() -> String {
                let all: &[&str] = &[$($kw),+];
                all.join(", ")
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.keyword())
            }
        }
    };
}

pub(crate) use keyword_enum;
