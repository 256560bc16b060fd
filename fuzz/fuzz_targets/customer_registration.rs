//! Any bytes into the Customer Registration parser: it never panics, and what it accepts is a
//! registration the rest of the code can trust.

#![no_main]

use gigastore_fuzz::{assert_checked_text, check};
use libfuzzer_sys::fuzz_target;
use shared::domain::ids::{CustomerUid, UserToken};
use shared::domain::registration::CustomerRegistration;

fuzz_target!(|data: &[u8]| {
    check(data, |registration: &CustomerRegistration| {
        assert_checked_text(registration.user_token.as_str(), UserToken::MAX_LEN);
        assert_checked_text(registration.customer_uid.as_str(), CustomerUid::MAX_LEN);
        // What was read, written back under either name of the customer id, reads back the same.
        ["customerUid", "uid"]
            .into_iter()
            .map(|name| {
                let again = serde_json::json!({
                    "userToken": registration.user_token.as_str(),
                    name: registration.customer_uid.as_str(),
                });
                again.to_string().into_bytes()
            })
            .collect()
    });
});
