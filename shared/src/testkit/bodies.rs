//! Request bodies for property tests: valid payloads changed field by field, the way a broken
//! sender, a proxy or an attacker could change them. Plain functions, so that any generator
//! (proptest in the function crates, a fuzzer) can drive them.

use serde_json::{Map, Value};

use crate::domain::payload::MAX_BODY_BYTES;

/// Text that naive parsers mishandle: right-to-left overrides and scripts, emoji with joiners,
/// a byte order mark and zero-width characters (format characters, accepted as text), NUL and
/// other control characters (C0, DEL, C1: refused in every field), and digits that are not
/// ASCII digits.
pub const AWKWARD_TEXT: [&str; 18] = [
    "\u{202E}1_GB",
    "\u{200F}u1\u{200E}",
    "مرحبا بالعالم",
    "שלום עולם",
    "👩\u{200D}👩\u{200D}👧\u{200D}👦🏳️\u{200D}🌈",
    "🙂",
    "\u{FEFF}u1",
    "u\u{200B}1",
    "\0",
    "u1\0",
    "a\u{1}b",
    "line\nbreak",
    "tab\there",
    "\u{7F}",
    "\u{85}",
    "\u{1b}[31mred",
    "89361123300836129514\n",
    "٨٩٣٦١١٢٣٣٠٠٨٣٦١٢٩٥١٤",
];

/// Times at the edge of what can be stored: outside the years 0001 to 9999 once in UTC (refused),
/// and just inside them (accepted and read back).
pub const EDGE_TIMES: [&str; 8] = [
    "9999-12-31T23:59:59-00:01",
    "0000-01-01T00:00:00+00:01",
    "0000-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999999-23:59",
    "-0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
    "0001-01-01T00:59:00+00:59",
];

/// What a [`Mutation`] puts where a field's value was.
#[derive(Debug, Clone, PartialEq)]
pub enum Replacement {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(i64),
    /// A number with a fraction or exponent (non-finite ones become `null`, as in JSON).
    Float(f64),
    /// An array holding the field's old value, if any.
    Array,
    /// An object holding the field's old value, if any, under `value`.
    Object,
    /// `""`.
    Empty,
    /// White space only.
    Blank,
    /// One of [`AWKWARD_TEXT`] (the index wraps).
    Awkward(usize),
    /// One of [`EDGE_TIMES`] (the index wraps).
    EdgeTime(usize),
    /// `len` bytes of `x`: with the rest of the body, up to and past [`MAX_BODY_BYTES`].
    Huge(usize),
    /// Any text.
    Text(String),
}

impl Replacement {
    /// The JSON value, given the value it replaces.
    pub fn value(&self, old: Option<Value>) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Integer(n) => Value::from(*n),
            Self::Float(f) => Value::from(*f),
            Self::Array => Value::Array(old.into_iter().collect()),
            Self::Object => Value::Object(old.into_iter().map(|v| ("value".into(), v)).collect()),
            Self::Empty => Value::from(""),
            Self::Blank => Value::from(" \t "),
            Self::Awkward(i) => Value::from(AWKWARD_TEXT[i % AWKWARD_TEXT.len()]),
            Self::EdgeTime(i) => Value::from(EDGE_TIMES[i % EDGE_TIMES.len()]),
            Self::Huge(len) => Value::from("x".repeat(*len)),
            Self::Text(text) => Value::from(text.as_str()),
        }
    }
}

/// One change to a JSON object payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// The field is removed.
    Remove(String),
    /// The field's value (or a new field) is set.
    Replace(String, Replacement),
}

/// `valid` (an object) with `mutations` applied in order; a value that is not an object is
/// returned unchanged.
pub fn mutate(valid: &Value, mutations: &[Mutation]) -> Value {
    let Value::Object(fields) = valid else {
        return valid.clone();
    };
    let mut fields: Map<String, Value> = fields.clone();
    for mutation in mutations {
        match mutation {
            Mutation::Remove(field) => {
                fields.remove(field);
            }
            Mutation::Replace(field, replacement) => {
                let value = replacement.value(fields.remove(field));
                fields.insert(field.clone(), value);
            }
        }
    }
    Value::Object(fields)
}

/// `body` followed by white space up to `len` bytes: the same JSON, another size. A body
/// already that long is returned unchanged.
pub fn padded(mut body: Vec<u8>, len: usize) -> Vec<u8> {
    if body.len() < len {
        body.resize(len, b' ');
    }
    body
}

/// Body sizes worth trying as [`padded`] lengths: around [`MAX_BODY_BYTES`], where the cap
/// decides.
pub fn sizes_around_the_cap() -> std::ops::RangeInclusive<usize> {
    MAX_BODY_BYTES - 2..=MAX_BODY_BYTES + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mutations_apply_in_order() {
        let valid = json!({"a": "x", "b": "y"});
        let changed = mutate(
            &valid,
            &[
                Mutation::Remove("a".into()),
                Mutation::Replace("b".into(), Replacement::Array),
                Mutation::Replace("c".into(), Replacement::Object),
                Mutation::Replace("d".into(), Replacement::Huge(3)),
                Mutation::Replace("e".into(), Replacement::Float(f64::NAN)),
            ],
        );
        assert_eq!(changed, json!({"b": ["y"], "c": {}, "d": "xxx", "e": null}));
        assert_eq!(
            mutate(&json!([1]), &[Mutation::Remove("a".into())]),
            json!([1])
        );
    }

    #[test]
    fn padding_keeps_the_json_and_reaches_the_length() {
        let body = padded(b"{}".to_vec(), MAX_BODY_BYTES + 1);
        assert_eq!(body.len(), MAX_BODY_BYTES + 1);
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({}));
        assert_eq!(padded(b"{}".to_vec(), 1), b"{}");
    }

    #[test]
    fn awkward_text_holds_both_kinds_of_characters() {
        // Some must be refused as control characters and some accepted: both paths get tried.
        let control = AWKWARD_TEXT
            .iter()
            .filter(|t| t.chars().any(char::is_control))
            .count();
        assert!(control > 0 && control < AWKWARD_TEXT.len());
    }
}
