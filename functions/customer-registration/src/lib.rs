//! Gigastore's Customer Registration: record Gigastore's customer id on our user, answer the
//! user's email.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use shared::auth::WebhookSecrets;
use shared::http::{self, ApiError};
use shared::registration::{self, CustomerRegistration, Registered};
use shared::store::RegistrationStore;
use time::OffsetDateTime;

/// The answer Gigastore expects: the email the user signed in with (null if none is on file).
#[derive(Serialize)]
struct EmailAnswer {
    email: Option<String>,
}

/// Handles one Customer Registration.
pub async fn handle<S: RegistrationStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: Request,
) -> Result<Response<Body>, Error> {
    Ok(respond(store, secrets, &request).await.unwrap_or_else(|error| {
        tracing::warn!(outcome = "error", status = error.status().as_u16(), error = %error, "customer registration answered");
        error.into()
    }))
}

async fn respond<S: RegistrationStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    http::authenticate(request, secrets)?;
    let registration = CustomerRegistration::from_json(request.body())?;
    match registration::register(store, &registration, OffsetDateTime::now_utc()).await {
        Ok(Registered::KnownUser { email, replaced }) => {
            if let Some(previous) = replaced {
                tracing::warn!(
                    customer_uid = %registration.customer_uid,
                    previous_customer_uid = %previous,
                    "customer id of a user changed"
                );
            }
            tracing::info!(
                outcome = "known_user",
                has_email = email.is_some(),
                "customer registration answered"
            );
            Ok(http::json_response(StatusCode::OK, &EmailAnswer { email }))
        }
        Ok(Registered::UnknownUser) => {
            // Kept as unclaimed in the table; logged so an operator can match it.
            tracing::warn!(
                outcome = "unknown_user",
                user_token = %registration.user_token,
                customer_uid = %registration.customer_uid,
                "customer registration for an unknown user kept as unclaimed"
            );
            Err(ApiError::NotFound("unknown user"))
        }
        Err(failed) => {
            // Not stored: answered 503 so Gigastore retries, and logged whole for replay.
            tracing::error!(
                outcome = "storage_error",
                error = %failed,
                user_token = %registration.user_token,
                customer_uid = %registration.customer_uid,
                "customer registration could not be stored"
            );
            Err(failed.into())
        }
    }
}
