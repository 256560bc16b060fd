//! Any bytes into the Customer Registration parser: it never panics, and what it accepts is a
//! registration the rest of the code can trust.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::ids::{CustomerUid, UserToken};
use shared::payload::{FromBody, MAX_BODY_BYTES};
use shared::registration::CustomerRegistration;

/// Asserts what every text id promises: not blank, at most `max` bytes, no control characters.
fn assert_checked_text(text: &str, max: usize) {
    assert!(!text.trim().is_empty(), "blank: {text:?}");
    assert!(text.len() <= max, "longer than {max} bytes: {text:?}");
    assert!(
        !text.chars().any(char::is_control),
        "control characters: {text:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(registration) = CustomerRegistration::from_body(data) else {
        return;
    };
    assert!(data.len() <= MAX_BODY_BYTES);
    assert_checked_text(registration.user_token.as_str(), UserToken::MAX_LEN);
    assert_checked_text(registration.customer_uid.as_str(), CustomerUid::MAX_LEN);
    // What was read, written back under either name of the customer id, reads back the same.
    for name in ["customerUid", "uid"] {
        let again = serde_json::json!({
            "userToken": registration.user_token.as_str(),
            name: registration.customer_uid.as_str(),
        });
        assert_eq!(
            CustomerRegistration::from_body(again.to_string().as_bytes()).as_ref(),
            Ok(&registration)
        );
    }
});
