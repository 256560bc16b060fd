//! Gigastore's eSIM Status webhook: record the eSIM's current state and its history.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use shared::auth::WebhookSecrets;
use shared::esim::{self, EsimStatus, Recorded};
use shared::http::{self, ApiError};
use shared::store::EsimStore;
use time::OffsetDateTime;

/// The small body every stored status gets.
#[derive(Serialize)]
struct Stored {
    /// `recorded` for a new fact, `unchanged` for a repeat of the current state.
    status: &'static str,
}

/// Handles one eSIM Status webhook.
pub async fn handle<S: EsimStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: Request,
) -> Result<Response<Body>, Error> {
    Ok(respond(store, secrets, &request).await.unwrap_or_else(|error| {
        tracing::warn!(outcome = "error", status = error.status().as_u16(), error = %error, "esim status answered");
        error.into()
    }))
}

async fn respond<S: EsimStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    http::authenticate(request, secrets)?;
    let status = EsimStatus::from_json(request.body())?;
    if !status.profile_state.is_documented() {
        tracing::warn!(
            profile_state = status.profile_state.as_str(),
            iccid = %status.iccid,
            "undocumented eSIM profile state received; kept verbatim"
        );
    }
    match esim::record(store, &status, OffsetDateTime::now_utc()).await {
        Ok(recorded) => {
            let outcome = match recorded {
                Recorded::Changed => "recorded",
                Recorded::Unchanged => "unchanged",
            };
            tracing::info!(
                outcome,
                profile_state = status.profile_state.as_str(),
                iccid = %status.iccid,
                "esim status answered"
            );
            Ok(http::json_response(
                StatusCode::OK,
                &Stored { status: outcome },
            ))
        }
        Err(failed) => {
            // Not stored: answered 503 so Gigastore retries, and logged whole for replay.
            tracing::error!(
                outcome = "storage_error",
                error = %failed,
                body = %String::from_utf8_lossy(request.body()),
                "esim status could not be stored"
            );
            Err(failed.into())
        }
    }
}
