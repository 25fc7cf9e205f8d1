//! The `enum_with_unknown!` macro the IKEv1 and IKEv2 codecs declare their code points with.

/// Declares a code point enum with an `Unknown(raw)` arm, both `From` conversions (so every
/// raw value round-trips), the registry name of each value and a `Display` that prints it.
/// Shared by the IKEv1 and IKEv2 codecs (`#[macro_use]` in `lib.rs`).
macro_rules! enum_with_unknown {
    (
        $( #[$enum_attr:meta] )*
        pub enum $name:ident($ty:ty) {
            $(
              $( #[$variant_attr:meta] )*
              $variant:ident = $value:literal => $text:literal
            ),+ $(,)?
        }
    ) => {
        $( #[$enum_attr] )*
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Clone, Copy)]
        pub enum $name {
            $(
              $( #[$variant_attr] )*
              $variant
            ),*,
            /// A code point this enum has no name for.
            Unknown($ty)
        }

        impl ::core::convert::From<$ty> for $name {
            #[inline]
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),*,
                    other => $name::Unknown(other)
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            #[inline]
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other
                }
            }
        }

        impl $name {
            /// The registry name of this code point; `None` for [`Self::Unknown`].
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($text) ),*,
                    $name::Unknown(_) => None,
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "UNKNOWN({})", <$ty>::from(*self)),
                }
            }
        }
    }
}
