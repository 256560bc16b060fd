//! Time as this backend stores it.

use time::OffsetDateTime;

/// `at` kept to the millisecond, the precision stored timestamps have, so a recorded time
/// reads back equal to the one decided with.
pub fn to_millis(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_millisecond(at.millisecond()).unwrap_or(at)
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
}
