//! Any bytes into the Activation Request parser: it never panics, and what it accepts is a
//! request the rest of the code can trust.

#![no_main]

use gigastore_fuzz::{assert_checked_text, check};
use libfuzzer_sys::fuzz_target;
use shared::domain::activation::ActivationRequest;
use shared::domain::ids::{ActivationId, ItemId, MetaTag, UserToken};

fuzz_target!(|data: &[u8]| {
    check(data, |request: &ActivationRequest| {
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
        vec![again.to_string().into_bytes()]
    });
});
