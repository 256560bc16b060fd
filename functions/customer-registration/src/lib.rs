//! Gigastore's Customer Registration: record Gigastore's customer id on our user, answer the
//! user's email.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use shared::auth::WebhookSecrets;
use shared::http::{self, ApiError, Handled};
use shared::registration::{self, CustomerRegistration, Registered};
use shared::store::RegistrationStore;
use shared::telemetry::{Metric, Observation};
use time::OffsetDateTime;

/// The function's name in metrics.
pub const FUNCTION: &str = "customer-registration";
/// The API route it serves.
pub const ROUTE: &str = "POST /sdk/customer-registration";

/// The answer Gigastore expects: the email the user signed in with (null if none is on file).
#[derive(Serialize)]
struct EmailAnswer {
    email: Option<String>,
}

/// Handles one Customer Registration, then logs and counts it.
pub async fn handle<S: RegistrationStore>(
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
pub async fn respond<S: RegistrationStore>(
    store: &S,
    secrets: &WebhookSecrets,
    request: &Request,
) -> Result<Handled, ApiError> {
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
            let mut metrics = vec![Metric::RegistrationKnownUser];
            if email.is_none() {
                tracing::warn!(
                    user_token = %registration.user_token,
                    "registered user has no email on file; answered null"
                );
                metrics.push(Metric::RegistrationWithoutEmail);
            }
            let observation = Observation::new("known_user", metrics);
            Ok(Handled::json(
                StatusCode::OK,
                &EmailAnswer { email },
                observation,
            ))
        }
        Ok(Registered::UnknownUser) => {
            // Kept as unclaimed in the table; logged so an operator can match it.
            tracing::warn!(
                user_token = %registration.user_token,
                customer_uid = %registration.customer_uid,
                "customer registration for an unknown user kept as unclaimed"
            );
            let mut handled = Handled::from(ApiError::NotFound("unknown user"));
            handled.observation =
                Observation::new("unknown_user", vec![Metric::RegistrationUnknownUser]);
            Ok(handled)
        }
        Err(failed) => {
            // Not stored: answered 503 so Gigastore retries, and logged whole for replay.
            tracing::error!(
                error = %failed,
                user_token = %registration.user_token,
                customer_uid = %registration.customer_uid,
                "customer registration could not be stored"
            );
            Err(failed.into())
        }
    }
}
