//! Storage: the port the domain needs, and its DynamoDB adapter.

mod customers;
mod dynamo;
mod esims;
mod items;

use std::future::Future;

pub use dynamo::{ActivationView, DynamoStore, UserSummary};
pub use esims::EsimHistory;

use crate::activation::ActivationRecord;
use crate::entitlement::Entitlement;
use crate::esim::{EsimStatusRecord, Recorded};
use crate::registration::{CustomerRegistration, Registered};

/// Result of trying to approve an activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveOutcome {
    /// Recorded as approved, and one unit consumed.
    Approved,
    /// The activation already had a decision; nothing changed.
    AlreadyDecided(ActivationRecord),
    /// The entitlement (if any) cannot pay; nothing changed.
    NotEntitled(Option<Entitlement>),
}

/// Result of recording a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recorded.
    Recorded,
    /// The activation already had a decision; nothing changed.
    AlreadyDecided(ActivationRecord),
}

/// Where activation decisions and entitlements live.
pub trait ActivationStore {
    /// Atomically records `approval` and consumes one unit of its entitlement, unless the
    /// activation already has a decision or the entitlement cannot pay.
    fn approve(
        &self,
        approval: &ActivationRecord,
    ) -> impl Future<Output = Result<ApproveOutcome, StoreError>> + Send;

    /// Records a refusal, unless the activation already has a decision.
    fn record(
        &self,
        refusal: &ActivationRecord,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;
}

/// Where customer registrations are kept.
pub trait RegistrationStore {
    /// Records the customer id on the user's profile; `None` if the user is unknown.
    fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Registered>, StoreError>> + Send;

    /// Keeps a registration for an unknown user where an operator can find it.
    fn keep_unclaimed(
        &self,
        registration: &CustomerRegistration,
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where eSIM facts are kept.
pub trait EsimStore {
    /// Updates the eSIM's current state and appends to its history, unless the status repeats
    /// the current state.
    fn record_status(
        &self,
        record: &EsimStatusRecord,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// Storage failed; the request can be retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB did not do what was asked.
    #[error("DynamoDB {operation} failed: {message}")]
    Request {
        /// The API operation.
        operation: &'static str,
        /// The SDK's error with its context.
        message: String,
    },
    /// Concurrent transactions on the same entitlement kept conflicting.
    #[error("DynamoDB transaction kept conflicting after {0} attempts")]
    Contention(u32),
    /// DynamoDB's answer contradicts itself (e.g. a condition failed on an item it cannot find).
    #[error("DynamoDB answer is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// A stored item does not have the shape this code writes.
    #[error("stored item is malformed: {0}")]
    Malformed(#[from] serde_dynamo::Error),
}
