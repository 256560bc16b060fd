//! Every way a request can fail, and the one mapping from each to its answer: status, body
//! `{"error": "..."}`, the outcome and reason logged, the metrics counted.

use lambda_http::http::StatusCode;
use shared::domain::ids::PurchaseId;
use shared::domain::payload::PayloadError;
use shared::domain::store::{FailureClass, StoreError};
use shared::runtime::telemetry::Metric;
use shared::webhook::gate::secrets::SecretUnavailable;
use shared::webhook::reply::{storage_failure_metrics, Reply, INVALID_REQUEST, SECRET_UNAVAILABLE};

use crate::callers::Refused;
use crate::routes::Unrouted;

/// A request refused for its caller (no IAM caller, or one `PURCHASE_API_CALLERS` does not list).
pub const FORBIDDEN: Metric = Metric::count("PurchaseApiForbidden");

/// A request that was not served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 403: no IAM caller, or not an allowed one; nothing was read or written.
    #[error(transparent)]
    Forbidden(#[from] Refused),
    /// 404, 405, or 400 for a path parameter.
    #[error(transparent)]
    Unrouted(#[from] Unrouted),
    /// 400 (413 when too large): the body is not what the route reads.
    #[error(transparent)]
    Invalid(#[from] PayloadError),
    /// 404: no purchase has this id.
    #[error("no purchase {0}")]
    NoPurchase(PurchaseId),
    /// 404: nothing is stored for this user.
    #[error("no such user")]
    NoUser,
    /// 409: a top-up for a user Gigastore has no customer for yet (the app delivers the first
    /// package through the SDK).
    #[error("customer not registered")]
    NotRegistered,
    /// 409: a top-up is being called or looked up: refund it again once it has settled.
    #[error("top-up of purchase {0} is in flight: refund it again in a minute")]
    TopUpInFlight(PurchaseId),
    /// 503: erasure needs the user hash key, and none is configured; nothing was read.
    #[error("erasure is not configured: set USER_HASH_KEY_ARN (or USER_HASH_KEY locally)")]
    ErasureNotConfigured,
    /// 503: the user hash key is configured but could not be read yet; nothing was read.
    #[error("temporarily unavailable, please retry")]
    KeyUnavailable(#[source] SecretUnavailable),
    /// 503 (the caller retries) or, when no retry helps, 500.
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        let message = error.to_string();
        match error {
            ApiError::Forbidden(refused) => {
                let reply = Reply::error(StatusCode::FORBIDDEN, &message, "forbidden");
                match refused {
                    // The caller's ARN, for the log only.
                    Refused::NotAllowed(caller) => reply.because(format!("{message}: {caller}")),
                    Refused::NoCaller => reply.because(message),
                }
                .counting([FORBIDDEN])
            }
            ApiError::Unrouted(Unrouted::NotFound) => {
                Reply::error(StatusCode::NOT_FOUND, &message, "not_found")
            }
            ApiError::Unrouted(Unrouted::MethodNotAllowed) => Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                &message,
                "method_not_allowed",
            ),
            ApiError::Unrouted(Unrouted::Invalid(_)) => invalid(StatusCode::BAD_REQUEST, message),
            ApiError::Invalid(PayloadError::TooLarge) => {
                invalid(StatusCode::PAYLOAD_TOO_LARGE, message)
            }
            ApiError::Invalid(_) => invalid(StatusCode::BAD_REQUEST, message),
            ApiError::NoPurchase(_) => {
                Reply::error(StatusCode::NOT_FOUND, &message, "unknown_purchase")
            }
            ApiError::NoUser => Reply::error(StatusCode::NOT_FOUND, &message, "unknown_user"),
            ApiError::NotRegistered => {
                Reply::error(StatusCode::CONFLICT, &message, "customer_not_registered")
            }
            ApiError::TopUpInFlight(_) => {
                Reply::error(StatusCode::CONFLICT, &message, "top_up_in_flight")
            }
            ApiError::ErasureNotConfigured => Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &message,
                "erasure_not_configured",
            ),
            ApiError::KeyUnavailable(unavailable) => {
                let why = shared::domain::store::chain(&unavailable);
                tracing::error!(error = %why, "user hash key unavailable: request refused");
                Reply::error(StatusCode::SERVICE_UNAVAILABLE, &message, "unavailable")
                    .because(why)
                    .counting([SECRET_UNAVAILABLE])
            }
            ApiError::Store(failed) => {
                let (status, said) = match failed.class() {
                    FailureClass::Transient => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily unavailable, please retry",
                    ),
                    FailureClass::Permanent => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "storage failed, retrying will not help",
                    ),
                };
                tracing::error!(
                    error = %failed.chain(),
                    class = failed.class().as_str(),
                    "storage failed: nothing was answered from it"
                );
                Reply::error(status, said, "storage_error")
                    .because(failed.chain())
                    .counting(storage_failure_metrics(&failed))
            }
        }
    }
}

/// A request whose path or body is not valid, the reason its own message.
fn invalid(status: StatusCode, message: String) -> Reply {
    Reply::error(status, &message, "invalid")
        .because(message)
        .counting([INVALID_REQUEST])
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::payload::FieldError;
    use shared::webhook::reply::{STORAGE_ERROR, STORAGE_PERMANENT_ERROR};

    fn answered(error: impl Into<ApiError>) -> (u16, serde_json::Value, Vec<&'static str>) {
        let reply = Reply::from(error.into());
        let body = serde_json::from_str(&reply.body).unwrap();
        (reply.status.as_u16(), body, reply.metric_names())
    }

    fn store_error(class: FailureClass) -> StoreError {
        StoreError::Request {
            operation: "GetItem",
            class,
            maybe_applied: false,
            source: "injected".into(),
        }
    }

    #[test]
    fn each_error_has_its_status_and_message() {
        use serde_json::json;
        let cases: Vec<(ApiError, u16, &str, &[&str])> = vec![
            (
                Refused::NoCaller.into(),
                403,
                "forbidden: no IAM caller",
                &["PurchaseApiForbidden"],
            ),
            (
                Refused::NotAllowed("arn:x".into()).into(),
                403,
                "forbidden: caller not allowed",
                &["PurchaseApiForbidden"],
            ),
            (Unrouted::NotFound.into(), 404, "not found", &[]),
            (
                Unrouted::MethodNotAllowed.into(),
                405,
                "method not allowed",
                &[],
            ),
            (
                Unrouted::Invalid(FieldError::Empty("purchaseId")).into(),
                400,
                "purchaseId is empty",
                &["InvalidRequest"],
            ),
            (
                PayloadError::TooLarge.into(),
                413,
                "body is larger than 65536 bytes",
                &["InvalidRequest"],
            ),
            (
                PayloadError::Field(FieldError::Malformed {
                    field: "quantity",
                    expected: "must be an integer from 1 to 100",
                })
                .into(),
                400,
                "quantity must be an integer from 1 to 100",
                &["InvalidRequest"],
            ),
            (
                ApiError::NoPurchase(PurchaseId::parse("p1").unwrap()),
                404,
                "no purchase p1",
                &[],
            ),
            (ApiError::NoUser, 404, "no such user", &[]),
            (
                ApiError::ErasureNotConfigured,
                503,
                "erasure is not configured: set USER_HASH_KEY_ARN (or USER_HASH_KEY locally)",
                &[],
            ),
            (
                ApiError::KeyUnavailable(SecretUnavailable {
                    what: "user hash key",
                    source: "GetSecretValue failed".into(),
                }),
                503,
                "temporarily unavailable, please retry",
                &[SECRET_UNAVAILABLE.name],
            ),
            (
                store_error(FailureClass::Transient).into(),
                503,
                "temporarily unavailable, please retry",
                &[STORAGE_ERROR.name],
            ),
            (
                StoreError::DeadlineExceeded.into(),
                503,
                "temporarily unavailable, please retry",
                &[STORAGE_ERROR.name],
            ),
            (
                store_error(FailureClass::Permanent).into(),
                500,
                "storage failed, retrying will not help",
                &[STORAGE_ERROR.name, STORAGE_PERMANENT_ERROR.name],
            ),
        ];
        for (error, status, message, metrics) in cases {
            let said = format!("{error:?}");
            assert_eq!(
                answered(error),
                (status, json!({ "error": message }), metrics.to_vec()),
                "{said}"
            );
        }
    }

    #[test]
    fn a_refused_callers_arn_is_logged_never_answered() {
        let reply = Reply::from(ApiError::from(Refused::NotAllowed(
            "arn:aws:iam::1:user/x".into(),
        )));
        assert!(!reply.body.contains("arn:"), "{}", reply.body);
        assert_eq!(
            reply.reason.as_deref(),
            Some("forbidden: caller not allowed: arn:aws:iam::1:user/x")
        );
    }
}
