//! Gigastore's eSIM Status webhook: record the eSIM's current state and its history.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use shared::auth::WebhookSecrets;
use shared::esim::{self, EsimStatus, Recorded};
use shared::http::{self, ApiError, Handled};
use shared::store::EsimStore;
use shared::telemetry::{Metric, Observation};
use time::OffsetDateTime;

/// The function's name in metrics.
pub const FUNCTION: &str = "esim-status";
/// The API route it serves.
pub const ROUTE: &str = "POST /webhooks/esim-status";

/// The small body every stored status gets.
#[derive(Serialize)]
struct Stored {
    /// `recorded` for a new fact, `unchanged` for a repeat of the current state.
    status: &'static str,
}

/// Handles one eSIM Status webhook, then logs and counts it.
pub async fn handle<S: EsimStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: Request,
) -> Result<Response<Body>, Error> {
    let started = Instant::now();
    let handled = respond(store, secrets, &request)
        .await
        .unwrap_or_else(Handled::from);
    Ok(http::finish(FUNCTION, ROUTE, &request, started, handled))
}

/// Authenticates, parses, records, answers.
pub async fn respond<S: EsimStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: &Request,
) -> Result<Handled, ApiError> {
    http::authenticate(request, secrets)?;
    let status = EsimStatus::from_json(request.body())?;
    let state = &status.profile_state;
    let mut metrics = vec![Metric::EsimStatusReceived(state.documented_name())];
    if !state.is_documented() {
        tracing::warn!(
            profile_state = state.as_str(),
            iccid = %status.iccid,
            "undocumented eSIM profile state received; kept verbatim"
        );
        metrics.push(Metric::EsimUnknownState);
    }
    let outcome = match esim::record(store, &status, OffsetDateTime::now_utc()).await {
        Ok(Recorded::Changed) => "recorded",
        Ok(Recorded::Unchanged) => {
            metrics.push(Metric::EsimStatusUnchanged);
            "unchanged"
        }
        Err(failed) => {
            // Not stored: answered 503 so Gigastore retries, and logged whole for replay.
            tracing::error!(
                error = %failed,
                body = %String::from_utf8_lossy(request.body()),
                "esim status could not be stored"
            );
            return Err(failed.into());
        }
    };
    let observation = Observation {
        iccid: Some(status.iccid.to_string()),
        profile_state: Some(state.as_str().to_owned()),
        ..Observation::new(outcome, metrics)
    };
    Ok(Handled::json(
        StatusCode::OK,
        &Stored { status: outcome },
        observation,
    ))
}
