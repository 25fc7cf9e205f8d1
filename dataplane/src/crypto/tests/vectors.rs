//! A reader for the `name = hex` vector files under `dataplane/tests/vectors/`.

/// One test case: the `name = value` lines of one blank-line separated block.
pub(crate) struct Case {
    fields: Vec<(String, String)>,
}

impl Case {
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("vector without {name}"))
    }

    pub fn fields_has(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        hex::decode(self.get(name))
    }
}

/// Blocks separated by blank lines; `#` lines are comments.
pub(crate) fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut fields = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if !fields.is_empty() {
                cases.push(Case { fields: std::mem::take(&mut fields) });
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("bad vector line {line}"));
        fields.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    if !fields.is_empty() {
        cases.push(Case { fields });
    }
    cases
}

pub(crate) mod hex {
    pub fn decode(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(s.len().is_multiple_of(2), "odd hex length");
        s.chunks(2)
            .map(|p| {
                u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex digit")
            })
            .collect()
    }

    pub fn encode(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
