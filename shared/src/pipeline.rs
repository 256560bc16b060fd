//! The one request pipeline every function runs: clock, authentication, body decoding, the
//! webhook's use case, the reply, one log line and the metrics.
//!
//! A function contributes a [`Webhook`]: its route, its parser, its use case call, and how its
//! outcome is answered, logged and counted. Nothing here knows any one webhook.

use std::convert::Infallible;
use std::future::Future;
use std::time::Instant;

use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use time::OffsetDateTime;
use tracing::{Instrument, Span};

use crate::auth::WebhookSecrets;
use crate::http::{self, ApiError, Reply};
use crate::payload::{FromBody, PayloadError};
use crate::store::StoreError;
use crate::telemetry;

/// Marker of the log line that holds a webhook payload which could not be stored, whole, so it
/// can be replayed. Stable: operators search for it.
pub const NOT_STORED: &str = "webhook could not be stored";

/// What is particular to one Gigastore call.
pub trait Webhook: Send + Sync {
    /// The function's name in metrics.
    const FUNCTION: &'static str;
    /// The API route it serves, as API Gateway names it.
    const ROUTE: &'static str;
    /// The validated body.
    type Payload: FromBody + Send + Sync;
    /// What the use case did.
    type Outcome: Send;

    /// The span the request runs in once parsed; its fields join every log line of the request.
    /// Only what an operator needs: never an email, and a user token only where it must be.
    fn span(_payload: &Self::Payload) -> Span {
        Span::none()
    }

    /// Runs the use case.
    fn call(
        &self,
        payload: &Self::Payload,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Self::Outcome, StoreError>> + Send;

    /// How the outcome is answered, logged and counted.
    fn answer(payload: &Self::Payload, outcome: Self::Outcome) -> Reply;

    /// How a body that could not be read is answered (400 by default).
    fn invalid(error: PayloadError) -> Reply {
        ApiError::InvalidRequest(error).into()
    }

    /// How a failure to store is answered (503, so the sender retries, by default). The
    /// default logs the whole payload once under [`NOT_STORED`], for replay.
    fn unavailable(_payload: &Self::Payload, body: &[u8], error: StoreError) -> Reply {
        tracing::error!(
            error = %error.chain(),
            class = error.class().as_str(),
            payload = %String::from_utf8_lossy(body),
            "{NOT_STORED}"
        );
        ApiError::Unavailable(error).into()
    }
}

/// Authenticates, parses, runs the use case and answers; returns the reply with the span it ran in.
async fn run_request<W: Webhook>(
    webhook: &W,
    secrets: &WebhookSecrets,
    request: &Request,
) -> (Reply, Span) {
    if let Err(rejected) = http::authenticate(request, secrets) {
        return (ApiError::Unauthorized(rejected).into(), Span::none());
    }
    let payload = match W::Payload::from_body(request.body()) {
        Ok(payload) => payload,
        Err(invalid) => return (W::invalid(invalid), Span::none()),
    };
    let span = W::span(&payload);
    let reply = async {
        match webhook.call(&payload, OffsetDateTime::now_utc()).await {
            Ok(outcome) => W::answer(&payload, outcome),
            Err(failed) => W::unavailable(&payload, request.body(), failed),
        }
    }
    .instrument(span.clone())
    .await;
    (reply, span)
}

/// The reply to `request`, without logging or counting it (for tests).
pub async fn respond<W: Webhook>(
    webhook: &W,
    secrets: &WebhookSecrets,
    request: &Request,
) -> Reply {
    run_request(webhook, secrets, request).await.0
}

/// Answers `request`, logs one JSON line for it (request id, route, status, outcome, reason,
/// latency and the webhook's span fields; never the query string, a secret or an email) and
/// emits its metrics.
pub async fn handle<W: Webhook>(
    webhook: &W,
    secrets: &WebhookSecrets,
    request: Request,
) -> Response<Body> {
    let started = Instant::now();
    let (reply, span) = run_request(webhook, secrets, &request).await;
    let request_id = request.lambda_context_ref().map(|c| c.request_id.as_str());
    span.in_scope(|| {
        tracing::info!(
            request_id,
            route = W::ROUTE,
            status = reply.status.as_u16(),
            outcome = reply.outcome,
            reason = reply.reason.as_deref(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    telemetry::emit(W::FUNCTION, &reply.metrics);
    reply.into_response()
}

/// Serves `webhook` on the Lambda runtime until the process ends.
pub async fn run<W: Webhook>(
    webhook: W,
    secrets: WebhookSecrets,
) -> Result<(), lambda_http::Error> {
    let (webhook, secrets) = (&webhook, &secrets);
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Infallible>(handle(webhook, secrets, request).await)
    }))
    .await
}
