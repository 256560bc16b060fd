//! Gigastore's Activation Request: "may user X install item Y?", answered from the entitlement
//! table. Every authenticated call gets HTTP 200 with `SUCCESS` or `FAIL`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use shared::activation::{self, ActivationRequest, Answer, Outcome};
use shared::auth::WebhookSecrets;
use shared::http;
use shared::store::ActivationStore;
use time::OffsetDateTime;

/// Handles one Activation Request: authenticate, parse, decide once, answer.
pub async fn handle<S: ActivationStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: Request,
) -> Result<Response<Body>, Error> {
    if let Err(rejected) = http::authenticate(&request, secrets) {
        tracing::warn!(outcome = "unauthorized", "activation request rejected");
        return Ok(rejected.into());
    }
    let answer = match ActivationRequest::from_json(request.body()) {
        Err(invalid) => {
            tracing::warn!(outcome = "invalid", error = %invalid, "activation request refused");
            Answer::invalid(&invalid)
        }
        Ok(parsed) => match activation::decide(store, &parsed, OffsetDateTime::now_utc()).await {
            Ok(outcome) => {
                log_outcome(&parsed, outcome);
                outcome.answer()
            }
            Err(failed) => {
                // Nothing was recorded: a redelivery may still be approved. Logged whole for replay.
                tracing::error!(
                    outcome = "storage_error",
                    error = %failed,
                    activation_id = %parsed.activation_id,
                    user_token = %parsed.user_token,
                    item = %parsed.item,
                    meta_tag = parsed.meta_tag.as_ref().map(|m| m.as_str()),
                    "activation request could not be decided"
                );
                Answer::unavailable()
            }
        },
    };
    Ok(http::json_response(StatusCode::OK, &answer))
}

fn log_outcome(request: &ActivationRequest, outcome: Outcome) {
    let (kind, decision) = match outcome {
        Outcome::Decided(d) => ("decided", Some(d)),
        Outcome::Replayed(d) => ("replayed", Some(d)),
        Outcome::ActivationIdReused => ("activation_id_reused", None),
    };
    let reason = match decision {
        Some(activation::Decision::Refused(r)) => Some(r.code()),
        _ => None,
    };
    let approved = matches!(decision, Some(activation::Decision::Approved));
    tracing::info!(
        outcome = kind,
        approved,
        reason,
        activation_id = %request.activation_id,
        item = %request.item,
        "activation request answered"
    );
}
