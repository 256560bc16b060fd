//! Any bytes into the eSIM Status parser: it never panics, and what it accepts is a status the
//! rest of the code can trust.

#![no_main]

use gigastore_fuzz::{assert_checked_text, check, is_digits};
use libfuzzer_sys::fuzz_target;
use shared::domain::esim::{EsimStatus, ProfileState};

fuzz_target!(|data: &[u8]| {
    check(data, |status: &EsimStatus| {
        assert!(is_digits(status.iccid.as_str(), 18, 22));
        assert!(is_digits(status.imsi.as_str(), 1, 15));
        if let Some(eid) = &status.eid {
            assert!(is_digits(eid.as_str(), 1, 64));
        }
        assert_checked_text(status.profile_state.as_str(), ProfileState::MAX_LEN);
        // What was read, written back as the documented payload, reads back the same.
        vec![serde_json::to_vec(status).expect("a status serializes")]
    });
});
