//! Property tests of a webhook's answer to any body: [`send`] one body through the pipeline and
//! check what every webhook promises, and [`body_properties!`](crate::body_properties) for the
//! four properties each function's tests state over the [`strategies`](super::strategies).

use proptest::prelude::*;
use serde_json::Value;

use super::{api_gateway_request, reply_to, InMemoryStore};
use crate::domain::payload::{FromBody, MAX_BODY_BYTES};
use crate::webhook::Webhook;

/// What one body sent through the pipeline got.
#[derive(Debug)]
pub struct Sent<P> {
    /// The reply's status.
    pub status: u16,
    /// The reply's body.
    pub answer: Value,
    /// Whether the body is over the cap.
    pub too_large: bool,
    /// The payload the webhook read, unless the body is invalid (over the cap, or unreadable).
    pub payload: Option<P>,
}

impl<P> Sent<P> {
    /// Whether the body was refused as invalid.
    pub fn invalid(&self) -> bool {
        self.payload.is_none()
    }

    /// Checks the pipeline's default answer to an invalid body: 413 for a body over the cap and
    /// only then, 400 for any other invalid body and only then, each with an error saying
    /// `invalid request: …`.
    pub fn check_default_refusal(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.status == 413, self.too_large);
        prop_assert_eq!(self.status == 400 || self.status == 413, self.invalid());
        if self.invalid() {
            let error = self.answer["error"].as_str().unwrap_or_default();
            prop_assert!(error.starts_with("invalid request: "), "{}", self.answer);
        }
        Ok(())
    }

    /// Checks what a webhook recording a fact answers any body sent to an empty store: 200,
    /// 400 or 413, the default refusal for an invalid body, and `{"status":"recorded"}` for a
    /// valid one (always a new fact there).
    pub fn check_recorded(&self) -> Result<(), TestCaseError> {
        prop_assert!(
            [200, 400, 413].contains(&self.status),
            "status {}",
            self.status
        );
        self.check_default_refusal()?;
        if !self.invalid() {
            prop_assert_eq!(&self.answer, &serde_json::json!({"status": "recorded"}));
        }
        Ok(())
    }
}

/// Sends `body` (base64-encoded by API Gateway or not) through the pipeline to `webhook`, which
/// holds `store`, and checks what every webhook promises: the answer is JSON, and a body
/// refused as invalid changes nothing in the store while a valid one changes something.
pub async fn send<W: Webhook>(
    webhook: &W,
    store: &InMemoryStore,
    body: &[u8],
    base64: bool,
) -> Result<Sent<W::Payload>, TestCaseError> {
    let before = store.snapshot();
    let path = W::ROUTE.trim_start_matches("POST ");
    let reply = reply_to(webhook, &api_gateway_request(path, body, base64)).await;
    let changed = store.snapshot() != before;

    let answer: Value = serde_json::from_str(&reply.body)
        .map_err(|e| TestCaseError::fail(format!("answer is not JSON: {e}")))?;
    let too_large = body.len() > MAX_BODY_BYTES;
    let payload = W::Payload::from_body(body).ok().filter(|_| !too_large);
    // An invalid body writes nothing; a valid one records something.
    prop_assert_eq!(changed, payload.is_some());
    Ok(Sent {
        status: reply.status.as_u16(),
        answer,
        too_large,
        payload,
    })
}

/// The four properties of a webhook's answer to any body, as the invoking crate's proptest
/// tests (256 cases each). `check(body: &[u8], base64: bool) -> Result<T, TestCaseError>` sends
/// one body and checks every property of its answer, which it returns: any bytes, any JSON and
/// mutated payloads of the [`Payload`](super::strategies::Payload) `payload` must pass it, and
/// the valid payload with unknown fields and white space added must be answered
/// `valid_answer`, a `T`.
#[macro_export]
macro_rules! body_properties {
    ($payload:expr, $check:path, $valid_answer:expr $(,)?) => {
        $crate::body_properties!(@tests $payload, $check, $valid_answer, [
            arbitrary_bytes_get_a_documented_answer:
                body in $crate::testkit::strategies::arbitrary_bytes() => &body,
            arbitrary_json_gets_a_documented_answer:
                value in $payload.json() => value.to_string().as_bytes(),
            mutated_payloads_get_a_documented_answer:
                body in $payload.mutated() => &body,
        ]);
    };
    // Each `name: value in strategy => body` a test that `check` passes every body of.
    (@tests $payload:expr, $check:path, $valid_answer:expr, [
        $($name:ident: $value:ident in $strategy:expr => $body:expr,)*
    ]) => {
        mod body_properties {
            use $crate::testkit::properties::proptest::prelude::*;

            use super::*;

            $crate::testkit::properties::proptest::proptest! {
                #![proptest_config(ProptestConfig::with_cases(256))]

                $(
                    #[test]
                    fn $name($value in $strategy, base64 in any::<bool>()) {
                        $check($body, base64)?;
                    }
                )*

                #[test]
                fn unknown_fields_and_white_space_do_not_change_the_answer(
                    body in $payload.with_unknown_fields(),
                    base64 in any::<bool>(),
                ) {
                    prop_assert_eq!($check(&body, base64)?, $valid_answer);
                }
            }
        }
    };
}

/// The proptest crate the [`body_properties!`](crate::body_properties) tests run on, so that
/// the crates invoking it need not name it.
pub use proptest;
