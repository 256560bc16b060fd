//! Any bytes into the Balance Alert parser: it never panics, and what it accepts is an alert the
//! rest of the code can trust.

#![no_main]

use gigastore_fuzz::{assert_checked_text, assert_stored_time, check, is_digits};
use libfuzzer_sys::fuzz_target;
use shared::domain::balance::{BalanceAlert, UID_FIELD};
use shared::domain::clock;
use shared::domain::ids::CustomerUid;

fuzz_target!(|data: &[u8]| {
    check(data, |alert: &BalanceAlert| {
        assert_checked_text(alert.customer_uid.as_str(), CustomerUid::MAX_LEN);
        assert!(is_digits(alert.iccid.as_str(), 18, 22));
        assert!(is_digits(alert.imsi.as_str(), 1, 15));
        assert_stored_time(alert.timestamp);
        // DynamoDB and the events carry the balance as a signed 64-bit number.
        assert!(i64::try_from(alert.balance_bytes).is_ok());
        // Written back as the documented payload (the customer id as `uid`, not as the record's
        // `customerUid`), it reads back the same.
        let again = serde_json::json!({
            UID_FIELD: alert.customer_uid.as_str(),
            "iccid": alert.iccid.as_str(),
            "imsi": alert.imsi.as_str(),
            "timestamp": clock::format(alert.timestamp),
            "balanceAmountInByte": alert.balance_bytes,
        });
        vec![again.to_string().into_bytes()]
    });
});
