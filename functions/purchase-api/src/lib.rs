//! The purchase API: the reseller's purchase system grants, reads and refunds purchases, and
//! reads and erases users, through IAM-signed calls (README, "Purchase API").
//!
//! Not a Gigastore webhook: no webhook secret, its own routes. Every request takes one path
//! ([`PurchaseApi::respond`]): the caller ([`callers`]), the body's size, the route
//! ([`routes`]), the body, the domain's use case within the request's deadline, and the
//! answer; failures are answered in one place ([`error`]). One log line and one EMF line each.

pub mod callers;
pub mod error;
pub mod routes;

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::domain::erasure;
use shared::domain::payload::{FromBody, PayloadError, MAX_BODY_BYTES};
use shared::domain::purchase::{
    self, Grant, GrantOutcome, Purchase, PurchaseView, RefundOutcome, RefundRequest, Usage,
};
use shared::domain::store::{Store, StoreError};
use shared::runtime::telemetry::{self, Metric};
use shared::runtime::HttpFunction;
use shared::webhook::gate::secrets::UserHashKeySource;
use shared::webhook::pipeline::deadline_of;
use shared::webhook::reply::Reply;
use time::OffsetDateTime;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use callers::Callers;
use error::ApiError;
pub use error::FORBIDDEN;
use routes::Route;

/// The function's name in metrics.
pub const FUNCTION: &str = "purchase-api";
/// A purchase was granted (its units added).
pub const GRANTED: Metric = Metric::count("PurchaseGranted");
/// A purchase id came again with other fields: nothing granted.
pub const CONFLICT: Metric = Metric::count("PurchaseConflict");
/// A purchase was refunded (its unused units removed).
pub const REFUNDED: Metric = Metric::count("PurchaseRefunded");
/// A user was erased.
pub const ERASED: Metric = Metric::count("UserErased");
/// The metrics particular to this function (the shared ones are `reply::METRICS`).
pub const METRICS: [&str; 5] = [
    GRANTED.name,
    CONFLICT.name,
    REFUNDED.name,
    ERASED.name,
    FORBIDDEN.name,
];

/// The purchase API over a store.
#[derive(Debug)]
pub struct PurchaseApi<S> {
    /// The table.
    pub store: S,
    /// The key erased users are hashed with; `None`: erasure is not configured.
    pub user_hash_key: Option<UserHashKeySource>,
    /// Who may call.
    pub callers: Callers,
}

impl<S> PurchaseApi<S> {
    /// The API over `store`, with the callers the environment allows (`PURCHASE_API_CALLERS`).
    pub fn from_env(store: S, user_hash_key: Option<UserHashKeySource>) -> Self {
        Self {
            store,
            user_hash_key,
            callers: Callers::from_env(),
        }
    }
}

/// The body of a conflicting grant: what differs, and the purchase as stored.
#[derive(Serialize)]
struct ConflictBody<'a> {
    error: String,
    differences: &'a [&'static str],
    purchase: &'a Purchase,
}

impl<S: Store> PurchaseApi<S> {
    /// The reply to `request`, not logged or counted, and the span it ran in (its fields: the
    /// route, the caller, and the purchase, item or erased user's hash it was about).
    pub async fn respond(&self, request: &Request) -> (Reply, Span) {
        let span = tracing::info_span!(
            "purchase_api",
            route = Empty,
            caller = Empty,
            purchase_id = Empty,
            item = Empty,
            user_hash = Empty
        );
        let reply = async {
            match self.serve(request, &span).await {
                Ok(reply) => reply,
                Err(error) => Reply::from(error),
            }
        }
        .instrument(span.clone())
        .await;
        (reply, span)
    }

    /// Checks the caller, then the body's size, routes, reads, and calls the use case.
    async fn serve(&self, request: &Request, span: &Span) -> Result<Reply, ApiError> {
        let deadline = deadline_of(request);
        // Before anything is read: a route deployed without IAM authorization is no open door.
        let caller = self.callers.admit(request)?;
        span.record("caller", caller.as_str());
        if request.body().len() > MAX_BODY_BYTES {
            return Err(PayloadError::TooLarge.into());
        }
        let route = Route::of(request)?;
        span.record("route", route.name());
        let now = OffsetDateTime::now_utc();
        match route {
            Route::Grant => {
                let grant = Grant::from_body(request.body())?;
                span.record("purchase_id", grant.purchase_id.as_str());
                span.record("item", grant.item.as_str());
                let outcome = deadline
                    .run(purchase::grant(&self.store, &grant, now))
                    .await?;
                granted(outcome)
            }
            Route::Purchase(id) => {
                span.record("purchase_id", id.as_str());
                let found = deadline.run(purchase::find(&self.store, &id, now)).await?;
                let view = found.ok_or(ApiError::NoPurchase(id))?;
                span.record("item", view.purchase.item.as_str());
                Ok(Reply::json(StatusCode::OK, &view, "found"))
            }
            Route::Refund(id) => {
                span.record("purchase_id", id.as_str());
                let RefundRequest { reason } = RefundRequest::from_body(request.body())?;
                let refund = purchase::refund(&self.store, &id, reason, now);
                let (purchase, outcome, counted) = match deadline.run(refund).await? {
                    RefundOutcome::Refunded(p) => (p, "refunded", Some(REFUNDED)),
                    RefundOutcome::AlreadyRefunded(p) => (p, "already_refunded", None),
                    RefundOutcome::TopUpInFlight(_) => return Err(ApiError::TopUpInFlight(id)),
                    RefundOutcome::NotFound => return Err(ApiError::NoPurchase(id)),
                };
                span.record("item", purchase.item.as_str());
                // As its refund recorded them: every later call answers the same. A top-up has
                // no units: its state says where its refund is.
                let units = match purchase.top_up {
                    Some(_) => None,
                    None => Some(Usage::recorded(&purchase).ok_or(StoreError::Inconsistent(
                        "a refund answered a purchase without its refund",
                    ))?),
                };
                let view = PurchaseView { purchase, units };
                Ok(Reply::json(StatusCode::OK, &view, outcome).counting(counted))
            }
            Route::User(user) => {
                let summary = deadline.run(self.store.user_summary(&user)).await?;
                if !summary.found {
                    return Err(ApiError::NoUser);
                }
                Ok(Reply::json(StatusCode::OK, &summary, "found"))
            }
            Route::Erase(user) => {
                let source = self.user_hash_key.as_ref();
                let source = source.ok_or(ApiError::ErasureNotConfigured)?;
                let key = source.current().await.map_err(ApiError::KeyUnavailable)?;
                // The operator's handle on this erasure: never the token itself.
                span.record("user_hash", key.hash(&user).as_str());
                let erasure = deadline
                    .run(erasure::erase(&self.store, &key, &user, now))
                    .await?;
                let reply = match erasure.erased {
                    true => Reply::json(StatusCode::OK, &erasure, "erased").counting([ERASED]),
                    false => Reply::json(StatusCode::OK, &erasure, "nothing_to_erase"),
                };
                Ok(reply)
            }
        }
    }
}

/// The answer to a grant: 201 the purchase granted now, 200 the same purchase granted before,
/// 409 a purchase id granted before with other fields (naming them), or a top-up for a user
/// with no Gigastore customer yet.
fn granted(outcome: GrantOutcome) -> Result<Reply, ApiError> {
    Ok(match outcome {
        GrantOutcome::Granted(purchase) => {
            Reply::json(StatusCode::CREATED, &purchase, "granted").counting([GRANTED])
        }
        GrantOutcome::AlreadyGranted(purchase) => {
            Reply::json(StatusCode::OK, &purchase, "already_granted")
        }
        GrantOutcome::NotRegistered => return Err(ApiError::NotRegistered),
        GrantOutcome::Conflict {
            purchase,
            differences,
        } => {
            let named = differences.join(", ");
            let body = ConflictBody {
                error: format!(
                    "purchase {} was granted with another {named}",
                    purchase.purchase_id
                ),
                differences: &differences,
                purchase: &purchase,
            };
            Reply::json(StatusCode::CONFLICT, &body, "conflict")
                .because(format!("differs in {named}"))
                .counting([CONFLICT])
        }
    })
}

impl<S: Store> HttpFunction for PurchaseApi<S> {
    /// Answers `request`, logs one line for it (request id, route, caller, status, outcome,
    /// reason, latency, and the purchase, item or erased user's hash; never a user token, an
    /// email or a body) and emits its metrics.
    async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let (reply, span) = self.respond(&request).await;
        let request_id = request.lambda_context_ref().map(|c| c.request_id.as_str());
        span.in_scope(|| {
            tracing::info!(
                request_id,
                status = reply.status.as_u16(),
                outcome = reply.outcome,
                reason = reply.reason.as_deref(),
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        });
        telemetry::emit(FUNCTION, &reply.metrics);
        reply.into_response()
    }
}

#[cfg(test)]
mod tests;
