//! Any bytes into the Balance Activation parser: it never panics, and what it accepts is an
//! activation the rest of the code can trust.

#![no_main]

use gigastore_fuzz::{assert_checked_text, assert_stored_time, check};
use libfuzzer_sys::fuzz_target;
use shared::domain::balance::{BalanceActivation, UID_FIELD};
use shared::domain::clock;
use shared::domain::ids::{BalanceItemId, CustomerUid};

fuzz_target!(|data: &[u8]| {
    check(data, |activation: &BalanceActivation| {
        assert_checked_text(activation.customer_uid.as_str(), CustomerUid::MAX_LEN);
        assert_checked_text(activation.activated_item.as_str(), BalanceItemId::MAX_LEN);
        assert_stored_time(activation.activated_at);
        assert_stored_time(activation.expires_at);
        assert!(activation.expires_at >= activation.activated_at);
        // What was read, written back as the documented payload, reads back the same.
        let again = serde_json::json!({
            UID_FIELD: activation.customer_uid.as_str(),
            "activatedItem": activation.activated_item.as_str(),
            "activatedAt": clock::format(activation.activated_at),
            "expiresAt": clock::format(activation.expires_at),
        });
        vec![again.to_string().into_bytes()]
    });
});
