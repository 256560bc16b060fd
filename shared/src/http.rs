//! API Gateway glue: authentication and the one mapping from errors to HTTP responses.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::auth::{AuthError, WebhookSecrets};
use crate::payload::PayloadError;
use crate::store::StoreError;

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
