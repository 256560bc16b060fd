//! Any bytes into the Activation Request parser: it never panics, and what it accepts is a
//! request the rest of the code can trust.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::activation::ActivationRequest;
use shared::ids::{ActivationId, ItemId, MetaTag, UserToken};
use shared::payload::{FromBody, MAX_BODY_BYTES};

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
    let Ok(request) = ActivationRequest::from_body(data) else {
        return;
    };
    assert!(data.len() <= MAX_BODY_BYTES);
    assert_checked_text(request.activation_id.as_str(), ActivationId::MAX_LEN);
    assert_checked_text(request.user_token.as_str(), UserToken::MAX_LEN);
    assert_checked_text(request.item.as_str(), ItemId::MAX_LEN);
    if let Some(tag) = &request.meta_tag {
        assert_checked_text(tag.as_str(), MetaTag::MAX_LEN);
    }
    // What was read, written back as the documented payload, reads back the same.
    let again = serde_json::json!({
        "activationId": request.activation_id.as_str(),
        "userToken": request.user_token.as_str(),
        "inventoryItemId": request.item.as_str(),
        "metaTag": request.meta_tag.as_ref().map(MetaTag::as_str),
    });
    assert_eq!(
        ActivationRequest::from_body(again.to_string().as_bytes()).as_ref(),
        Ok(&request)
    );
});
