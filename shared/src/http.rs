//! API Gateway glue: authentication and the one mapping from errors to HTTP responses.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use std::time::Instant;

use crate::auth::{AuthError, WebhookSecrets};
use crate::payload::PayloadError;
use crate::store::StoreError;
use crate::telemetry::{self, Metric, Observation};

/// A JSON response with `status`.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body)
        .unwrap_or_else(|_| r#"{"error":"response could not be encoded"}"#.to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Checks the secret from `Authorization: Bearer <secret>` or the `token` query parameter.
pub fn authenticate(request: &Request, secrets: &WebhookSecrets) -> Result<(), ApiError> {
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
    secrets
        .verify(bearer.into_iter().chain(query))
        .map_err(ApiError::Unauthorized)
}

/// Every way a request can fail, mapped to a status and a JSON `{"error": ...}` body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no valid secret.
    #[error("unauthorized: {0}")]
    Unauthorized(AuthError),
    /// 400: the body is not the expected payload.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] PayloadError),
    /// 404: the subject is unknown.
    #[error("{0}")]
    NotFound(&'static str),
    /// 503: storage failed; the sender should retry.
    #[error("temporarily unavailable, please retry")]
    Unavailable(#[from] StoreError),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The body of every error response.
#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl From<ApiError> for Response<Body> {
    fn from(err: ApiError) -> Self {
        // The 401 body does not say whether a secret was missing or wrong.
        let error = match &err {
            ApiError::Unauthorized(_) => "unauthorized".to_owned(),
            other => other.to_string(),
        };
        json_response(err.status(), &ErrorBody { error })
    }
}

/// A response and what the request did.
#[derive(Debug)]
pub struct Handled {
    /// What Gigastore gets.
    pub response: Response<Body>,
    /// What is logged and counted.
    pub observation: Observation,
}

impl Handled {
    /// A JSON response with `status`, observed as `observation`.
    pub fn json<T: Serialize>(status: StatusCode, body: &T, observation: Observation) -> Self {
        Self {
            response: json_response(status, body),
            observation,
        }
    }
}

impl From<ApiError> for Handled {
    fn from(err: ApiError) -> Self {
        let (outcome, metrics) = match &err {
            ApiError::Unauthorized(_) => ("unauthorized", vec![Metric::AuthRejected]),
            ApiError::InvalidRequest(_) => ("invalid", vec![Metric::InvalidRequest]),
            ApiError::NotFound(_) => ("not_found", vec![]),
            ApiError::Unavailable(_) => ("storage_error", vec![Metric::StorageError]),
        };
        let reason = match &err {
            ApiError::Unauthorized(why) => why.to_string(),
            ApiError::Unavailable(why) => why.to_string(),
            other => other.to_string(),
        };
        Self {
            observation: Observation {
                reason: Some(reason),
                ..Observation::new(outcome, metrics)
            },
            response: err.into(),
        }
    }
}

/// Logs one JSON line for the request (id, route, status, outcome, latency; never the query
/// string, a secret or an email), emits its metrics, and returns the response.
pub fn finish(
    function: &'static str,
    route: &'static str,
    request: &Request,
    started: Instant,
    handled: Handled,
) -> Response<Body> {
    let o = &handled.observation;
    let request_id = request.lambda_context_ref().map(|c| c.request_id.as_str());
    tracing::info!(
        request_id,
        route,
        status = handled.response.status().as_u16(),
        outcome = o.outcome,
        reason = o.reason.as_deref(),
        activation_id = o.activation_id.as_deref(),
        item = o.item.as_deref(),
        iccid = o.iccid.as_deref(),
        profile_state = o.profile_state.as_deref(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    telemetry::emit(function, &o.metrics);
    handled.response
}
