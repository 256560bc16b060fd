//! API Gateway glue: authentication, replies, and the one mapping from errors to responses.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::domain::payload::PayloadError;
use crate::domain::store::{FailureClass, StoreError};
use crate::domain::timeline::Recorded;
use crate::runtime::telemetry::Metric;
use crate::webhook::gate::credentials::AuthError;
use crate::webhook::gate::jwt::TokenRejected;

/// A call without a valid secret.
pub const AUTH_REJECTED: Metric = Metric::count("AuthRejected");
/// A body that could not be read.
pub const INVALID_REQUEST: Metric = Metric::count("InvalidRequest");
/// The table could not be read or written.
pub const STORAGE_ERROR: Metric = Metric::count("StorageError");
/// The table refused a request in a way no retry fixes: a bug or misconfiguration.
pub const STORAGE_PERMANENT_ERROR: Metric = Metric::count("StoragePermanentError");
/// A call from outside `ALLOWED_SOURCE_CIDRS`.
pub const SOURCE_REJECTED: Metric = Metric::count("SourceRejected");
/// The webhook secrets or the user token keys could not be read, so nothing could be accepted.
pub const SECRET_UNAVAILABLE: Metric = Metric::count("SecretUnavailable");
/// User tokens are verified and a request's names no user (forged, altered, expired).
pub const USER_TOKEN_REJECTED: Metric = Metric::count("UserTokenRejected");
/// The metrics every function may emit, whatever its webhook.
pub const METRICS: [&str; 7] = [
    AUTH_REJECTED.name,
    INVALID_REQUEST.name,
    STORAGE_ERROR.name,
    STORAGE_PERMANENT_ERROR.name,
    SOURCE_REJECTED.name,
    SECRET_UNAVAILABLE.name,
    USER_TOKEN_REJECTED.name,
];

/// What a storage failure counts: always `StorageError`, and `StoragePermanentError` when no
/// retry will fix it.
pub fn storage_failure_metrics(error: &StoreError) -> Vec<Metric> {
    match error.class() {
        FailureClass::Transient => vec![STORAGE_ERROR],
        FailureClass::Permanent => vec![STORAGE_ERROR, STORAGE_PERMANENT_ERROR],
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What a request gets, and what is logged and counted about it.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: String,
    /// Short outcome code for the log line: `approved`, `recorded`, `unauthorized`…
    pub outcome: &'static str,
    /// Why, when refused or failed (a reason code or an error message).
    pub reason: Option<String>,
    /// Metrics to emit.
    pub metrics: Vec<Metric>,
}

impl Reply {
    /// A `status` reply with `body` as JSON, logged as `outcome`.
    pub fn json<T: Serialize>(status: StatusCode, body: &T, outcome: &'static str) -> Self {
        let body = serde_json::to_string(body)
            .unwrap_or_else(|_| r#"{"error":"response could not be encoded"}"#.to_owned());
        Self {
            status,
            body,
            outcome,
            reason: None,
            metrics: Vec::new(),
        }
    }

    /// A `status` reply with body `{"error": message}`.
    pub fn error(status: StatusCode, message: &str, outcome: &'static str) -> Self {
        Self::json(status, &ErrorBody { error: message }, outcome)
    }

    /// The same reply, logged with `reason`.
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The same reply, counting `metrics` too.
    pub fn counting(mut self, metrics: impl IntoIterator<Item = Metric>) -> Self {
        self.metrics.extend(metrics);
        self
    }

    /// The answer to a fact recorded (or recognised as a redelivery): 200
    /// `{"status":"recorded"}` or `{"status":"unchanged"}`, counting `counted` and, for a
    /// redelivery, `unchanged` after them. A late fact is answered as recorded, logged `late`.
    pub fn recorded(
        outcome: Recorded,
        counted: impl IntoIterator<Item = Metric>,
        unchanged: Metric,
    ) -> Self {
        // (answer, outcome logged)
        let (status, logged) = match outcome {
            Recorded::Changed => ("recorded", "recorded"),
            Recorded::Late => ("recorded", "late"),
            Recorded::Unchanged => ("unchanged", "unchanged"),
        };
        let reply = Self::json(StatusCode::OK, &StatusBody { status }, logged).counting(counted);
        match outcome {
            Recorded::Unchanged => reply.counting([unchanged]),
            Recorded::Changed | Recorded::Late => reply,
        }
    }

    /// The metric names, in order (for tests and logs).
    pub fn metric_names(&self) -> Vec<&'static str> {
        self.metrics.iter().map(|m| m.name).collect()
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        json_response(self.status, self.body)
    }
}

/// The body of the answer to a recorded fact.
#[derive(Serialize)]
struct StatusBody {
    /// `recorded` for a new fact, `unchanged` for a redelivery.
    status: &'static str,
}

/// The body of every error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Every way the pipeline can fail a request, whatever the webhook.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 403: the caller's address is not allowed.
    #[error("forbidden")]
    Forbidden,
    /// 401: no valid secret.
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] AuthError),
    /// 400 (413 when too large): the body is not the expected payload.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] PayloadError),
    /// 503: storage failed; the sender should retry.
    #[error("temporarily unavailable, please retry")]
    Unavailable(#[from] StoreError),
    /// 403: user tokens are verified and this one names no user.
    #[error("invalid user token")]
    InvalidUserToken(#[from] TokenRejected),
}

impl From<ApiError> for Reply {
    fn from(err: ApiError) -> Self {
        match &err {
            ApiError::Forbidden => Reply::error(StatusCode::FORBIDDEN, "forbidden", "forbidden")
                .counting([SOURCE_REJECTED]),
            // The body does not say whether a secret was missing or wrong; the log does.
            ApiError::Unauthorized(why) => {
                Reply::error(StatusCode::UNAUTHORIZED, "unauthorized", "unauthorized")
                    .because(why.to_string())
                    .counting([AUTH_REJECTED])
            }
            ApiError::InvalidRequest(why) => {
                let status = match why {
                    PayloadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                Reply::error(status, &err.to_string(), "invalid")
                    .because(err.to_string())
                    .counting([INVALID_REQUEST])
            }
            ApiError::Unavailable(why) => Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &err.to_string(),
                "storage_error",
            )
            .because(why.chain())
            .counting(storage_failure_metrics(why)),
            // The body does not say what is wrong with the token; the log does.
            ApiError::InvalidUserToken(why) => Reply::error(
                StatusCode::FORBIDDEN,
                &err.to_string(),
                "invalid_user_token",
            )
            .because(why.to_string())
            .counting([USER_TOKEN_REJECTED]),
        }
    }
}
