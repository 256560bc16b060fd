//! Parsing Gigastore's JSON bodies into fields, with errors that name the problem.

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Largest body accepted; Gigastore's payloads are a few hundred bytes. Larger ones are refused
/// before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A problem with one field of a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The field is absent or null.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// The field holds a number, object, array or boolean.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// The field is empty or only white space.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The field is longer than we store.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// Field name.
        field: &'static str,
        /// Longest accepted length.
        max: usize,
    },
    /// The field contains control characters.
    #[error("{0} contains control characters")]
    ControlCharacters(&'static str),
    /// The body has a field this payload does not know (its name, cut to 64 bytes).
    #[error("unknown field {0}")]
    Unknown(String),
    /// The field does not have the required shape.
    #[error("{field} {expected}")]
    Malformed {
        /// Field name.
        field: &'static str,
        /// What the field must look like.
        expected: &'static str,
    },
}

/// A body that could not be read as the expected payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// No body at all.
    #[error("body is empty")]
    Empty,
    /// The body exceeds [`MAX_BODY_BYTES`].
    #[error("body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The body is not JSON (serde's message gives line and column, never the content).
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotAnObject,
    /// A field is missing or invalid.
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// A payload read from a request body, with an error that names what is wrong.
pub trait FromBody: Sized {
    /// Reads the body (already base64-decoded, if API Gateway encoded it).
    fn from_body(body: &[u8]) -> Result<Self, PayloadError>;
}

/// A JSON object body whose fields are read one by one.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Parses a request body that must be one JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(PayloadError::Empty);
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(PayloadError::TooLarge);
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(PayloadError::NotAnObject),
            Err(e) => Err(PayloadError::InvalidJson(e.to_string())),
        }
    }

    /// A string field that must be present and non-null.
    pub fn required_str(&self, field: &'static str) -> Result<&str, FieldError> {
        self.optional_str(field)?.ok_or(FieldError::Missing(field))
    }

    /// A string field that may be absent or null.
    pub fn optional_str(&self, field: &'static str) -> Result<Option<&str>, FieldError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(FieldError::NotAString(field)),
        }
    }

    /// Refuses any field not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), FieldError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => {
                let mut end = unknown.len().min(64);
                while !unknown.is_char_boundary(end) {
                    end -= 1;
                }
                Err(FieldError::Unknown(
                    unknown[..end].escape_debug().to_string(),
                ))
            }
        }
    }

    /// A time field that may be absent or null; as [`JsonObject::required_time`].
    pub fn optional_time(&self, field: &'static str) -> Result<Option<OffsetDateTime>, FieldError> {
        match self.optional_str(field)? {
            None => Ok(None),
            Some(_) => self.required_time(field).map(Some),
        }
    }

    /// A price field that may be absent or null: `{"value": <number>, "currency": "USD"}`, the
    /// value a JSON number from 0 (kept as written: never rounded through a float's text),
    /// the currency three capital letters.
    pub fn optional_price(
        &self,
        field: &'static str,
    ) -> Result<Option<crate::domain::gigastore::Price>, FieldError> {
        let malformed = FieldError::Malformed {
            field,
            expected: "must be {\"value\": a number from 0, \"currency\": three capital letters}",
        };
        let price = match self.0.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(price)) => price,
            Some(_) => return Err(malformed),
        };
        if price.len() != 2 {
            return Err(malformed);
        }
        let value = match price.get("value") {
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v >= 0.0) => n.to_string(),
            _ => return Err(malformed),
        };
        let currency = match price.get("currency") {
            Some(Value::String(c)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                c.clone()
            }
            _ => return Err(malformed),
        };
        Ok(Some(crate::domain::gigastore::Price { value, currency }))
    }

    /// A count field that may be absent or null; as [`JsonObject::required_count`].
    pub fn optional_count(&self, field: &'static str) -> Result<Option<u64>, FieldError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.required_count(field).map(Some),
        }
    }

    /// A time field: an RFC 3339 string in the years 0001 to 9999 (UTC), kept to the
    /// millisecond (the stored precision) in UTC.
    pub fn required_time(&self, field: &'static str) -> Result<OffsetDateTime, FieldError> {
        let text = self.required_str(field)?;
        let at = crate::domain::clock::parse(text).map_err(|_| FieldError::Malformed {
            field,
            expected: "must be an RFC 3339 time, e.g. 2022-08-21T10:15:30Z",
        })?;
        Ok(crate::domain::clock::to_millis(at))
    }

    /// A count field: a JSON integer from 0 to 2^63 - 1 (a signed 64-bit number, as Gigastore
    /// sends it). A fraction, an exponent, a negative number or a string is refused, never
    /// rounded.
    pub fn required_count(&self, field: &'static str) -> Result<u64, FieldError> {
        let malformed = FieldError::Malformed {
            field,
            expected: "must be a JSON integer from 0 to 9223372036854775807",
        };
        match self.0.get(field) {
            None | Some(Value::Null) => Err(FieldError::Missing(field)),
            // Without serde_json's arbitrary precision, `1.0`, `1e3` and integers past u64
            // are floats: as_u64 is None for them.
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|&n| i64::try_from(n).is_ok())
                .ok_or(malformed),
            Some(_) => Err(malformed),
        }
    }
}

/// Checks free text: non-blank, at most `max` bytes, no control characters.
pub fn check_text<'a>(
    field: &'static str,
    raw: &'a str,
    max: usize,
) -> Result<&'a str, FieldError> {
    if raw.trim().is_empty() {
        Err(FieldError::Empty(field))
    } else if raw.len() > max {
        Err(FieldError::TooLong { field, max })
    } else if raw.chars().any(char::is_control) {
        Err(FieldError::ControlCharacters(field))
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_one_object() {
        assert_eq!(JsonObject::parse(b"").unwrap_err(), PayloadError::Empty);
        assert_eq!(JsonObject::parse(b" \n").unwrap_err(), PayloadError::Empty);
        assert_eq!(
            JsonObject::parse(b"[1]").unwrap_err(),
            PayloadError::NotAnObject
        );
        assert_eq!(
            JsonObject::parse(b"null").unwrap_err(),
            PayloadError::NotAnObject
        );
        assert!(matches!(
            JsonObject::parse(br#"{"metaTag": myTag}"#),
            Err(PayloadError::InvalidJson(_))
        ));
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        let mut huge_object = b"{\"a\":\"".to_vec();
        huge_object.extend(std::iter::repeat_n(b'x', MAX_BODY_BYTES));
        huge_object.extend(b"\"}");
        assert_eq!(JsonObject::parse(&huge).unwrap_err(), PayloadError::Empty);
        assert_eq!(
            JsonObject::parse(&huge_object).unwrap_err(),
            PayloadError::TooLarge
        );
    }

    #[test]
    fn reads_string_fields_strictly() {
        let obj = JsonObject::parse(br#"{"a":"x","n":1,"z":null,"o":{}}"#).unwrap();
        assert_eq!(obj.required_str("a"), Ok("x"));
        assert_eq!(obj.required_str("n"), Err(FieldError::NotAString("n")));
        assert_eq!(obj.optional_str("o"), Err(FieldError::NotAString("o")));
        assert_eq!(obj.required_str("z"), Err(FieldError::Missing("z")));
        assert_eq!(obj.optional_str("z"), Ok(None));
        assert_eq!(obj.optional_str("absent"), Ok(None));
    }

    #[test]
    fn reads_counts_as_json_integers_below_two_to_the_63() {
        let obj = JsonObject::parse(
            br#"{"zero":0,"max":9223372036854775807,"over":9223372036854775808,"u64over":18446744073709551616,
                "neg":-1,"frac":1.5,"whole_float":1.0,"exp":1e3,"text":"5","null":null}"#,
        )
        .unwrap();
        assert_eq!(obj.required_count("zero"), Ok(0));
        assert_eq!(obj.required_count("max"), Ok(i64::MAX as u64));
        for field in [
            "over",
            "u64over",
            "neg",
            "frac",
            "whole_float",
            "exp",
            "text",
        ] {
            assert_eq!(
                obj.required_count(field).unwrap_err().to_string(),
                format!("{field} must be a JSON integer from 0 to 9223372036854775807"),
            );
        }
        assert_eq!(obj.required_count("null"), Err(FieldError::Missing("null")));
        assert_eq!(
            obj.required_count("absent"),
            Err(FieldError::Missing("absent"))
        );
    }

    #[test]
    fn reads_times_as_rfc_3339_in_utc_to_the_millisecond() {
        let obj = JsonObject::parse(
            br#"{"z":"2022-08-21T10:15:30Z","offset":"2022-08-21T12:15:30.123456+02:00","bad":"21/08/2022","n":1}"#,
        )
        .unwrap();
        let z = obj.required_time("z").unwrap();
        assert_eq!(crate::domain::clock::format(z), "2022-08-21T10:15:30.000Z");
        let offset = obj.required_time("offset").unwrap();
        assert_eq!(
            crate::domain::clock::format(offset),
            "2022-08-21T10:15:30.123Z"
        );
        assert_eq!(offset.offset(), time::UtcOffset::UTC);
        assert_eq!(
            obj.required_time("bad").unwrap_err().to_string(),
            "bad must be an RFC 3339 time, e.g. 2022-08-21T10:15:30Z"
        );
        assert_eq!(obj.required_time("n"), Err(FieldError::NotAString("n")));
    }

    #[test]
    fn times_past_the_stored_years_are_invalid_input() {
        for (edge, accepted) in [
            ("9999-12-31T23:59:59-00:01", false),
            ("0000-01-01T00:00:00+00:01", false),
            ("9999-12-31T23:59:59+00:01", true),
            ("0001-01-01T00:00:00Z", true),
        ] {
            let obj = JsonObject::parse(format!(r#"{{"t":"{edge}"}}"#).as_bytes()).unwrap();
            let read = obj.required_time("t");
            assert_eq!(read.is_ok(), accepted, "{edge}: {read:?}");
            if let Ok(at) = read {
                let stored = crate::domain::clock::format(at);
                assert_eq!(crate::domain::clock::parse(&stored), Ok(at), "{edge}");
            }
        }
    }

    #[test]
    fn checks_text() {
        assert_eq!(check_text("f", "ok", 5), Ok("ok"));
        assert_eq!(check_text("f", "  ", 5), Err(FieldError::Empty("f")));
        assert_eq!(
            check_text("f", "toolong", 5),
            Err(FieldError::TooLong { field: "f", max: 5 })
        );
        assert_eq!(
            check_text("f", "a\nb", 5),
            Err(FieldError::ControlCharacters("f"))
        );
    }
}
