//! Time as this backend records it: UTC, to the millisecond, one text format everywhere.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The years a time may have in UTC: what the stored format (four digits) can hold and read back.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// A time this backend cannot take: not RFC 3339, or outside [`YEARS`] once in UTC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTime {
    /// Not an RFC 3339 time.
    #[error("not an RFC 3339 time ({0})")]
    Syntax(#[from] time::error::Parse),
    /// A real time, but outside the years 0001 to 9999 in UTC.
    #[error("outside the years 0001 to 9999 in UTC")]
    OutOfRange,
}

/// `at` kept to the millisecond, the precision stored timestamps have, so a recorded time
/// reads back equal to the one decided with.
pub fn to_millis(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_millisecond(at.millisecond()).unwrap_or(at)
}

/// The one stored format: RFC 3339 in UTC with exactly three fractional digits
/// (`2026-11-23T17:00:00.000Z`), readable in the console and sortable as text.
pub fn format(at: OffsetDateTime) -> String {
    // Times from outside went through `in_range`; `unwrap_or` only keeps this from panicking.
    let t = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Reads any RFC 3339 time (so items written before the format was fixed still read) whose UTC
/// year is in [`YEARS`], in UTC. Every time from outside (payloads, log lines, the CLI, stored
/// items) is read with it, so no later conversion or formatting can go out of range.
pub fn parse(text: &str) -> Result<OffsetDateTime, InvalidTime> {
    in_range(OffsetDateTime::parse(text, &Rfc3339)?)
}

/// `at` in UTC, if its UTC year is in [`YEARS`].
pub fn in_range(at: OffsetDateTime) -> Result<OffsetDateTime, InvalidTime> {
    at.checked_to_offset(UtcOffset::UTC)
        .filter(|utc| YEARS.contains(&utc.year()))
        .ok_or(InvalidTime::OutOfRange)
}

/// Serde in the stored format: `#[serde(with = "crate::domain::clock::stored")]`.
pub mod stored {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes the fixed format.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*at))
    }

    /// Reads any RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }

    /// The same for an optional time.
    pub mod option {
        use super::*;

        /// Writes the fixed format, or nothing.
        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads any RFC 3339 time, or nothing.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<std::borrow::Cow<'de, str>>::deserialize(d)?
                .map(|text| crate::domain::clock::parse(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_everything_below_a_millisecond() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(
            to_millis(at).unix_timestamp_nanos(),
            1_700_000_000_123_000_000
        );
    }

    #[test]
    fn stored_times_have_three_digits_and_sort_as_text() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(format(at), "2023-11-14T22:13:20.000Z");
        let later = at + time::Duration::milliseconds(5);
        assert_eq!(format(later), "2023-11-14T22:13:20.005Z");
        assert!(format(at) < format(later));
    }

    #[test]
    fn reads_the_fixed_format_and_the_older_variable_one() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_120_000_000).unwrap();
        assert_eq!(parse("2023-11-14T22:13:20.120Z").unwrap(), at);
        assert_eq!(parse("2023-11-14T22:13:20.12Z").unwrap(), at);
        assert_eq!(
            parse("2023-11-14T22:13:20Z").unwrap(),
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
        );
        assert!(parse("yesterday").is_err());
    }

    #[test]
    fn times_outside_the_stored_years_are_refused_not_panicked_on() {
        for outside in [
            "9999-12-31T23:59:59-00:01",
            "0000-01-01T00:00:00+00:01",
            "0000-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999999-23:59",
        ] {
            assert_eq!(parse(outside), Err(InvalidTime::OutOfRange), "{outside}");
        }
        for edge in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "0001-01-01T00:59:00+00:59",
        ] {
            let at = parse(edge).unwrap();
            assert_eq!(at.offset(), UtcOffset::UTC);
            assert_eq!(parse(&format(at)), Ok(to_millis(at)), "{edge} reads back");
        }
        assert!(matches!(
            parse("2026-13-01T00:00:00Z"),
            Err(InvalidTime::Syntax(_))
        ));
    }
}
