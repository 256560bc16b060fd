//! The inbound side: how an API Gateway request becomes a use case call and back.
//!
//! A function contributes a [`Webhook`]: its route, its parser, its use case call, and how its
//! outcome is answered, logged and counted. `pipeline` runs it for every request, `gate` decides
//! who may call, `reply` turns outcomes and errors into responses.

pub mod gate;
pub mod pipeline;
pub mod reply;

use std::future::Future;

use lambda_http::http::StatusCode;
use time::OffsetDateTime;
use tracing::Span;

use crate::domain::clock;
use crate::domain::deadline::Deadline;
use crate::domain::payload::{FromBody, PayloadError};
use crate::domain::store::StoreError;
use gate::jwt::TokenRejected;
use gate::user_tokens::UserTokenField;
use reply::{ApiError, Reply};

/// Marker of the log line that holds a webhook payload which could not be stored, whole, so it
/// can be replayed. Stable: operators search for it.
pub const NOT_STORED: &str = "webhook could not be stored";

/// What is particular to one Gigastore call.
pub trait Webhook: Send + Sync {
    /// The function's name in metrics.
    const FUNCTION: &'static str;
    /// The API route it serves, as API Gateway names it.
    const ROUTE: &'static str;
    /// The metrics particular to it (the pipeline's own are `reply::METRICS`).
    const METRICS: &'static [&'static str];
    /// Whether a payload it could not store is logged under [`NOT_STORED`] for `entitlements
    /// replay` to apply later, as the default [`Webhook::unavailable`] does.
    const REPLAYABLE: bool = true;
    /// The validated body.
    type Payload: FromBody + Send + Sync;
    /// What the use case did.
    type Outcome: Send;
    /// Where the payload names the app's user by its `userToken`, if it does. When user tokens
    /// are verified, the gate replaces that token with the user it names before the use case
    /// runs and anything logs the payload, and a token naming none gets
    /// [`Webhook::invalid_user_token`]; the keys are read at init only for such webhooks.
    const USER_TOKEN: Option<UserTokenField<Self::Payload>> = None;

    /// The span the request runs in once parsed; its fields join every log line of the request.
    /// Only what an operator needs: never an email, and never the user token (the span is
    /// made before a verified token is replaced by its user).
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

    /// How a request whose user token names no user is answered, when user tokens are
    /// verified (403 `invalid user token` by default).
    fn invalid_user_token(rejected: TokenRejected) -> Reply {
        ApiError::InvalidUserToken(rejected).into()
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
            received_at = %clock::format(received_at),
            payload = %String::from_utf8_lossy(body),
            "{NOT_STORED}"
        );
        ApiError::Unavailable(error).into()
    }
}
