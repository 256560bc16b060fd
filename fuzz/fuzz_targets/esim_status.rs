//! Any bytes into the eSIM Status parser: it never panics, and what it accepts is a status the
//! rest of the code can trust.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::esim::{EsimStatus, ProfileState};
use shared::payload::{FromBody, MAX_BODY_BYTES};

/// Whether `text` is `min..=max` ASCII digits.
fn is_digits(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fuzz_target!(|data: &[u8]| {
    let Ok(status) = EsimStatus::from_body(data) else {
        return;
    };
    assert!(data.len() <= MAX_BODY_BYTES);
    assert!(is_digits(status.iccid.as_str(), 18, 22));
    assert!(is_digits(status.imsi.as_str(), 1, 15));
    if let Some(eid) = &status.eid {
        assert!(is_digits(eid.as_str(), 1, 64));
    }
    let state = status.profile_state.as_str();
    assert!(!state.trim().is_empty() && state.len() <= ProfileState::MAX_LEN);
    assert!(!state.chars().any(char::is_control));
    // What was read, written back as the documented payload, reads back the same.
    let again = serde_json::to_vec(&status).expect("a status serializes");
    assert_eq!(EsimStatus::from_body(&again).as_ref(), Ok(&status));
});
