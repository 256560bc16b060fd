//! Any bytes into the Country Change parser: it never panics, and what it accepts is a change
//! the rest of the code can trust.

#![no_main]

use gigastore_fuzz::{check, is_digits};
use libfuzzer_sys::fuzz_target;
use shared::domain::country::{Country, CountryChange};

/// Asserts what a country promises: two upper-case letters that parse as themselves.
fn assert_country(country: Country) {
    let code = country.as_str();
    assert!(
        code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
        "{code:?}"
    );
    assert_eq!(Country::parse("newCountry", code), Ok(country));
}

fuzz_target!(|data: &[u8]| {
    check(data, |change: &CountryChange| {
        assert!(is_digits(change.iccid.as_str(), 18, 22));
        assert!(is_digits(change.imsi.as_str(), 1, 15));
        if let Some(previous) = change.previous_country {
            assert_country(previous);
        }
        assert_country(change.new_country);
        // What was read, written back as the documented payload, reads back the same; a first
        // attach has `previousCountry` null, or absent.
        let mut again = serde_json::json!({
            "imsi": change.imsi.as_str(),
            "iccid": change.iccid.as_str(),
            "previousCountry": change.previous_country.as_ref().map(Country::as_str),
            "newCountry": change.new_country.as_str(),
        });
        let mut bodies = vec![again.to_string().into_bytes()];
        if change.previous_country.is_none() {
            again
                .as_object_mut()
                .expect("an object")
                .remove("previousCountry");
            bodies.push(again.to_string().into_bytes());
        }
        bodies
    });
});
