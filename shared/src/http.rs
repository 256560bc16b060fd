//! API Gateway glue: authentication, replies, and the one mapping from errors to responses.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::auth::{AuthError, WebhookSecrets};
use crate::payload::PayloadError;
use crate::store::StoreError;
use crate::telemetry::Metric;

/// A call without a valid secret.
pub const AUTH_REJECTED: Metric = Metric::count("AuthRejected");
/// A body that could not be read.
pub const INVALID_REQUEST: Metric = Metric::count("InvalidRequest");
/// The table could not be read or written.
pub const STORAGE_ERROR: Metric = Metric::count("StorageError");
/// The metrics every function may emit, whatever its webhook.
pub const METRICS: [&str; 3] = [AUTH_REJECTED.name, INVALID_REQUEST.name, STORAGE_ERROR.name];

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

/// Checks the secret from `Authorization: Bearer <secret>` or the `token` query parameter.
pub fn authenticate(request: &Request, secrets: &WebhookSecrets) -> Result<(), AuthError> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let query = request
        .query_string_parameters_ref()
        .and_then(|q| q.first("token"));
    secrets.verify(bearer.into_iter().chain(query))
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

    /// The metric names, in order (for tests and logs).
    pub fn metric_names(&self) -> Vec<&'static str> {
        self.metrics.iter().map(|m| m.name).collect()
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        json_response(self.status, self.body)
    }
}

/// The body of every error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Every way the pipeline can fail a request, whatever the webhook.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no valid secret.
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] AuthError),
    /// 400: the body is not the expected payload.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] PayloadError),
    /// 503: storage failed; the sender should retry.
    #[error("temporarily unavailable, please retry")]
    Unavailable(#[from] StoreError),
}

impl From<ApiError> for Reply {
    fn from(err: ApiError) -> Self {
        match &err {
            // The body does not say whether a secret was missing or wrong; the log does.
            ApiError::Unauthorized(why) => {
                Reply::error(StatusCode::UNAUTHORIZED, "unauthorized", "unauthorized")
                    .because(why.to_string())
                    .counting([AUTH_REJECTED])
            }
            ApiError::InvalidRequest(_) => {
                Reply::error(StatusCode::BAD_REQUEST, &err.to_string(), "invalid")
                    .because(err.to_string())
                    .counting([INVALID_REQUEST])
            }
            ApiError::Unavailable(why) => Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &err.to_string(),
                "storage_error",
            )
            .because(why.chain())
            .counting([STORAGE_ERROR]),
        }
    }
}
