//! The one path every request takes: deadline, gate, body decoding, the user (when user tokens
//! are verified), the webhook's use case, the reply, one log line and the metrics. Nothing here
//! knows any one webhook.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use time::OffsetDateTime;
use tracing::{Instrument, Span};

use crate::domain::deadline::Deadline;
use crate::domain::ids::UserToken;
use crate::domain::payload::{FromBody, PayloadError, MAX_BODY_BYTES};
use crate::domain::store::chain;
use crate::runtime::telemetry;
use crate::webhook::gate::secrets::SecretUnavailable;
use crate::webhook::gate::user_tokens::Unverified;
use crate::webhook::gate::{Gate, Refused};
use crate::webhook::reply::{ApiError, Reply, SECRET_UNAVAILABLE};
use crate::webhook::Webhook;

/// Time kept back from Lambda's deadline to write the answer and the log line.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(250);
/// The time a request has when no Lambda deadline is known (tests, local tools).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

/// The deadline of `request`: Lambda's, less [`ANSWER_MARGIN`], or [`DEFAULT_BUDGET`] from now.
pub fn deadline_of(request: &Request) -> Deadline {
    let lambda = request.lambda_context_ref().map(|c| c.deadline);
    Deadline::before_lambda(lambda, ANSWER_MARGIN, DEFAULT_BUDGET)
}

/// Checks the caller, parses, identifies the user (when user tokens are verified), runs the
/// use case before the deadline and answers; returns the reply with the span it ran in.
async fn run_request<W: Webhook>(webhook: &W, gate: &Gate, request: &Request) -> (Reply, Span) {
    let deadline = deadline_of(request);
    match gate.admit(request).await {
        Ok(()) => {}
        Err(Refused::Source) => return (ApiError::Forbidden.into(), Span::none()),
        Err(Refused::SecretUnavailable(unavailable)) => {
            return (secrets_unavailable::<W>(unavailable), Span::none())
        }
        Err(Refused::Credentials(rejected)) => {
            return (ApiError::Unauthorized(rejected).into(), Span::none())
        }
    }
    // Refused before parsing: nothing this large is a Gigastore payload.
    if request.body().len() > MAX_BODY_BYTES {
        return (W::invalid(PayloadError::TooLarge), Span::none());
    }
    let mut payload = match W::Payload::from_body(request.body()) {
        Ok(payload) => payload,
        Err(invalid) => return (W::invalid(invalid), Span::none()),
    };
    let now = OffsetDateTime::now_utc();
    // Before the token is checked, so a refused request is logged with the payload's ids.
    let span = W::span(&payload);
    let reply = async {
        // The user the verified token names, which replaced it in the payload.
        let mut verified = None;
        if let Some(field) = W::USER_TOKEN {
            let token = (field.token)(&mut payload);
            match gate.user_tokens.identify(token, now, field.expiry).await {
                Ok(true) => verified = Some(token.clone()),
                Ok(false) => {}
                Err(Unverified::Rejected(rejected)) => return W::invalid_user_token(rejected),
                Err(Unverified::KeysUnavailable(unavailable)) => {
                    return secrets_unavailable::<W>(unavailable)
                }
            }
        }
        match deadline.run(webhook.call(&payload, now, deadline)).await {
            Ok(outcome) => W::answer(&payload, outcome),
            Err(failed) => match verified {
                // Logged for replay with the user in place of the token: never the token.
                Some(user) => W::unavailable(&payload, &naming(request.body(), &user), now, failed),
                None => W::unavailable(&payload, request.body(), now, failed),
            },
        }
    }
    .instrument(span.clone())
    .await;
    (reply, span)
}

/// The answer when the webhook secrets or the user token keys cannot be read.
fn secrets_unavailable<W: Webhook>(unavailable: SecretUnavailable) -> Reply {
    tracing::error!(error = %chain(&unavailable), "{unavailable}: request refused");
    W::temporarily_unavailable()
        .because(unavailable.to_string())
        .counting([SECRET_UNAVAILABLE])
}

/// `body` (a JSON object, as the payload parsed) with `user` as its `userToken`.
fn naming(body: &[u8], user: &UserToken) -> Vec<u8> {
    // Unreadable (it parsed, so it cannot be): only the user is kept, never the token.
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).unwrap_or_default();
    object.insert(UserToken::FIELD.to_owned(), user.as_str().into());
    serde_json::to_vec(&object).unwrap_or_default()
}

/// The reply to `request`, without logging or counting it (for tests).
pub async fn respond<W: Webhook>(webhook: &W, gate: &Gate, request: &Request) -> Reply {
    run_request(webhook, gate, request).await.0
}

/// Answers `request`, logs one JSON line for it (request id, route, status, outcome, reason,
/// latency and the webhook's span fields; never the query string, a secret or an email) and
/// emits its metrics.
pub async fn handle<W: Webhook>(webhook: &W, gate: &Gate, request: Request) -> Response<Body> {
    let started = Instant::now();
    let (reply, span) = run_request(webhook, gate, &request).await;
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

/// Serves `webhook` on the Lambda runtime until the process ends: one invocation at a time, or
/// as many at once as `AWS_LAMBDA_MAX_CONCURRENCY` allows (Lambda Managed Instances).
pub async fn run<W: Webhook + 'static>(webhook: W, gate: Gate) -> Result<(), lambda_http::Error> {
    let shared = std::sync::Arc::new((webhook, gate));
    lambda_http::run_concurrent(service_fn(move |request| {
        let shared = std::sync::Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared.0, &shared.1, request).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn with_deadline(deadline_ms: u64) -> Request {
        let mut context = lambda_http::Context::default();
        context.deadline = deadline_ms;
        Request::default().with_lambda_context(context)
    }

    #[test]
    fn the_deadline_is_lambdas_less_the_margin_unless_it_has_passed() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap();
        let left = deadline_of(&with_deadline(now_ms + 3000)).remaining();
        assert!(left <= Duration::from_millis(2750) && left > Duration::from_millis(2000));
        // A deadline already past on arrival (a local emulator's) means no deadline is known.
        for unknown in [
            with_deadline(now_ms - 1000),
            with_deadline(0),
            Request::default(),
        ] {
            let left = deadline_of(&unknown).remaining();
            assert!(left > DEFAULT_BUDGET - ANSWER_MARGIN - Duration::from_millis(500));
        }
    }
}
