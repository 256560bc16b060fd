//! The one request pipeline every function runs: clock, authentication, body decoding, the
//! webhook's use case, the reply, one log line and the metrics.
//!
//! A function contributes a [`Webhook`]: its route, its parser, its use case call, and how its
//! outcome is answered, logged and counted. Nothing here knows any one webhook.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use time::OffsetDateTime;
use tracing::{Instrument, Span};

use crate::auth::SourceAllowList;
use crate::deadline::Deadline;
use crate::http::{self, ApiError, Reply, SECRET_UNAVAILABLE};
use crate::payload::{FromBody, PayloadError, MAX_BODY_BYTES};
use crate::secrets::SecretSource;
use crate::store::StoreError;
use crate::telemetry;

/// Time kept back from Lambda's deadline to write the answer and the log line.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(250);
/// The time a request has when no Lambda deadline is known (tests, local tools).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

/// Who may call: the accepted secrets and the allowed source networks.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The webhook secrets.
    pub secrets: SecretSource,
    /// The networks calls may come from.
    pub sources: SourceAllowList,
}

impl Gate {
    /// A gate accepting `secrets` from any address.
    pub fn open(secrets: crate::auth::WebhookSecrets) -> Self {
        Self {
            secrets: SecretSource::fixed(secrets),
            sources: SourceAllowList::default(),
        }
    }
}

/// The deadline of `request`: Lambda's, less [`ANSWER_MARGIN`], or [`DEFAULT_BUDGET`] from now.
pub fn deadline_of(request: &Request) -> Deadline {
    let lambda = request.lambda_context_ref().map(|c| c.deadline);
    Deadline::before_lambda(lambda, ANSWER_MARGIN, DEFAULT_BUDGET)
}

/// The caller's address as API Gateway saw it.
fn source_ip(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)] // other API Gateway flavours, if their features are on
        _ => None,
    }
}

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

    /// Runs the use case; the pipeline cuts it off at `deadline` in any case.
    fn call(
        &self,
        payload: &Self::Payload,
        now: OffsetDateTime,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Self::Outcome, StoreError>> + Send;

    /// How the outcome is answered, logged and counted.
    fn answer(payload: &Self::Payload, outcome: Self::Outcome) -> Reply;

    /// How a body that could not be read is answered (400 by default).
    fn invalid(error: PayloadError) -> Reply {
        ApiError::InvalidRequest(error).into()
    }

    /// How a request is answered when nothing can be decided or stored now: 503, so the
    /// sender retries, by default.
    fn temporarily_unavailable() -> Reply {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily unavailable, please retry",
            "unavailable",
        )
    }

    /// How a failure to store is answered (503, so the sender retries, by default). The
    /// default logs the whole payload once under [`NOT_STORED`], with the route and the time it
    /// was received, so `entitlements replay` can apply it later.
    fn unavailable(
        _payload: &Self::Payload,
        body: &[u8],
        received_at: OffsetDateTime,
        error: StoreError,
    ) -> Reply {
        tracing::error!(
            error = %error.chain(),
            class = error.class().as_str(),
            route = Self::ROUTE,
            received_at = %crate::clock::format(received_at),
            payload = %String::from_utf8_lossy(body),
            "{NOT_STORED}"
        );
        ApiError::Unavailable(error).into()
    }
}

/// Checks the caller, parses, runs the use case before the deadline and answers; returns the
/// reply with the span it ran in.
async fn run_request<W: Webhook>(webhook: &W, gate: &Gate, request: &Request) -> (Reply, Span) {
    let deadline = deadline_of(request);
    if !gate.sources.allows(source_ip(request)) {
        return (ApiError::Forbidden.into(), Span::none());
    }
    let secrets = match gate.secrets.current().await {
        Ok(secrets) => secrets,
        Err(unavailable) => {
            tracing::error!(error = %unavailable, "webhook secrets unavailable: request refused");
            let reply = W::temporarily_unavailable()
                .because(unavailable.to_string())
                .counting([SECRET_UNAVAILABLE]);
            return (reply, Span::none());
        }
    };
    if let Err(rejected) = http::authenticate(request, &secrets) {
        return (ApiError::Unauthorized(rejected).into(), Span::none());
    }
    // Refused before parsing: nothing this large is a Gigastore payload.
    if request.body().len() > MAX_BODY_BYTES {
        return (W::invalid(PayloadError::TooLarge), Span::none());
    }
    let payload = match W::Payload::from_body(request.body()) {
        Ok(payload) => payload,
        Err(invalid) => return (W::invalid(invalid), Span::none()),
    };
    let span = W::span(&payload);
    let reply = async {
        let now = OffsetDateTime::now_utc();
        match deadline.run(webhook.call(&payload, now, deadline)).await {
            Ok(outcome) => W::answer(&payload, outcome),
            Err(failed) => W::unavailable(&payload, request.body(), now, failed),
        }
    }
    .instrument(span.clone())
    .await;
    (reply, span)
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
