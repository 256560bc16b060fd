//! Gigastore's Activation Request: "may user X install item Y?", answered from the entitlement
//! table. Every authenticated call gets HTTP 200 with `SUCCESS` or `FAIL`.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use shared::activation::{self, ActivationRequest, Answer, Decision, Outcome};
use shared::auth::WebhookSecrets;
use shared::http::{self, Handled};
use shared::store::ActivationStore;
use shared::telemetry::{Metric, Observation};
use time::OffsetDateTime;

/// The function's name in metrics.
pub const FUNCTION: &str = "activation-request";
/// The API route it serves.
pub const ROUTE: &str = "POST /sdk/activation-request";

/// Handles one Activation Request, then logs and counts it.
pub async fn handle<S: ActivationStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: Request,
) -> Result<Response<Body>, Error> {
    let started = Instant::now();
    let handled = respond(store, secrets, &request).await;
    Ok(http::finish(FUNCTION, ROUTE, &request, started, handled))
}

/// Authenticates, parses, decides once, answers.
pub async fn respond<S: ActivationStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: &Request,
) -> Handled {
    if let Err(rejected) = http::authenticate(request, secrets) {
        return rejected.into();
    }
    let parsed = match ActivationRequest::from_json(request.body()) {
        Ok(parsed) => parsed,
        Err(invalid) => {
            let observation = Observation {
                reason: Some(invalid.to_string()),
                ..Observation::new(
                    "refused",
                    vec![
                        Metric::InvalidRequest,
                        Metric::ActivationRefused("invalid_request"),
                    ],
                )
            };
            return Handled::json(StatusCode::OK, &Answer::invalid(&invalid), observation);
        }
    };
    let (answer, mut observation) =
        match activation::decide(store, &parsed, OffsetDateTime::now_utc()).await {
            Ok(outcome) => (outcome.answer(), observe(outcome)),
            Err(failed) => {
                // Nothing was recorded: a redelivery may still be approved. Logged whole for replay.
                tracing::error!(
                    error = %failed,
                    activation_id = %parsed.activation_id,
                    user_token = %parsed.user_token,
                    item = %parsed.item,
                    meta_tag = parsed.meta_tag.as_ref().map(|m| m.as_str()),
                    "activation request could not be decided"
                );
                let observation = Observation {
                    reason: Some(failed.to_string()),
                    ..Observation::new("storage_error", vec![Metric::StorageError])
                };
                (Answer::unavailable(), observation)
            }
        };
    observation.activation_id = Some(parsed.activation_id.to_string());
    observation.item = Some(parsed.item.to_string());
    Handled::json(StatusCode::OK, &answer, observation)
}

fn observe(outcome: Outcome) -> Observation {
    match outcome {
        Outcome::Decided(Decision::Approved) => {
            Observation::new("approved", vec![Metric::ActivationApproved])
        }
        Outcome::Decided(Decision::Refused(why)) => Observation {
            reason: Some(why.code().to_owned()),
            ..Observation::new("refused", vec![Metric::ActivationRefused(why.code())])
        },
        Outcome::Replayed(decision) => Observation {
            reason: match decision {
                Decision::Approved => None,
                Decision::Refused(why) => Some(why.code().to_owned()),
            },
            ..Observation::new("replayed", vec![Metric::ActivationReplayed])
        },
        Outcome::ActivationIdReused => Observation {
            reason: Some("activation_id_reused".to_owned()),
            ..Observation::new(
                "refused",
                vec![Metric::ActivationRefused("activation_id_reused")],
            )
        },
    }
}
