//! What the fuzz targets share: any bytes read as a payload, and the checks of what an accepted
//! payload promises.

use std::fmt::Debug;

use shared::domain::payload::{FromBody, MAX_BODY_BYTES};
use time::OffsetDateTime;

/// Reads `data` as a `P`. Whatever the bytes, nothing panics; a payload accepted is within the
/// cap, passes `trusted` (which asserts what the rest of the code trusts of it and returns it
/// written back as bodies), and reads back the same from each of those bodies.
pub fn check<P: FromBody + PartialEq + Debug>(
    data: &[u8],
    trusted: impl FnOnce(&P) -> Vec<Vec<u8>>,
) {
    let Ok(payload) = P::from_body(data) else {
        return;
    };
    assert!(data.len() <= MAX_BODY_BYTES);
    for again in trusted(&payload) {
        assert_eq!(P::from_body(&again).as_ref(), Ok(&payload));
    }
}

/// Asserts what every text id promises: not blank, at most `max` bytes, no control characters.
pub fn assert_checked_text(text: &str, max: usize) {
    assert!(!text.trim().is_empty(), "blank: {text:?}");
    assert!(text.len() <= max, "longer than {max} bytes: {text:?}");
    assert!(
        !text.chars().any(char::is_control),
        "control characters: {text:?}"
    );
}

/// Asserts what every payload time promises: in UTC and to the millisecond, as it is stored.
pub fn assert_stored_time(at: OffsetDateTime) {
    assert!(at.offset().is_utc(), "not UTC: {at}");
    assert_eq!(
        at.nanosecond() % 1_000_000,
        0,
        "finer than a millisecond: {at}"
    );
}

/// Whether `text` is `min..=max` ASCII digits.
pub fn is_digits(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}
