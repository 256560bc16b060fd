//! What every storage port shares: the error each can fail with, and [`Store`], every port as
//! one bound. The ports themselves live beside the records they store (`activation`,
//! `entitlement`, `purchase`, `erasure`, `registration`, `esim`, `country`, `balance`, `views`, `events`).

use std::error::Error;

use crate::domain::activation::ActivationStore;
use crate::domain::balance::BalanceStore;
use crate::domain::country::CountryStore;
use crate::domain::entitlement::EntitlementStore;
use crate::domain::erasure::ErasureStore;
use crate::domain::esim::EsimStore;
use crate::domain::events::EventLookups;
use crate::domain::purchase::PurchaseStore;
use crate::domain::registration::RegistrationStore;
use crate::domain::topup::TopUpStore;
use crate::domain::views::ReadModels;

/// Every port, as one store offers them: what the adapter and its in-memory twin implement
/// (each says so with an empty `impl`), and what the registry of webhooks and the storage
/// contract suite are generic over, so a webhook that needs a port left out of this list does
/// not compile there.
pub trait Store:
    ActivationStore
    + EntitlementStore
    + PurchaseStore
    + TopUpStore
    + ErasureStore
    + RegistrationStore
    + EsimStore
    + CountryStore
    + BalanceStore
    + ReadModels
    + EventLookups
    + 'static
{
}

/// The error an adapter gives, kept whole so logs show its whole chain.
pub type Source = Box<dyn Error + Send + Sync + 'static>;

/// Whether a failure may go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Throttling, conflicts, timeouts, connection errors, 5xx: a retry may succeed.
    Transient,
    /// Validation, access denied, missing table, malformed item: a bug or misconfiguration
    /// that no retry fixes.
    Permanent,
}

impl FailureClass {
    /// `transient` or `permanent`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }
}

/// Storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or did not answer a request.
    #[error("{operation} failed ({})", .class.as_str())]
    Request {
        /// The operation, as the database names it.
        operation: &'static str,
        /// Whether a retry may succeed.
        class: FailureClass,
        /// Whether the request may have been applied all the same (it went out and no answer,
        /// or a server error, came back).
        maybe_applied: bool,
        /// What the database client reported.
        #[source]
        source: Source,
    },
    /// Concurrent writes to the same items kept conflicting after every attempt.
    #[error("{operation} kept conflicting after {attempts} attempts")]
    Contention {
        /// The operation.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
    },
    /// A stored item does not have the shape this code writes.
    #[error("stored item is malformed")]
    Malformed(#[source] Source),
    /// The request's time ran out first; its requests were cancelled, maybe after being applied.
    #[error("deadline exceeded before storage answered")]
    DeadlineExceeded,
    /// The database's answer contradicts itself (e.g. a condition failed on an item it cannot find).
    #[error("storage answer is inconsistent: {0}")]
    Inconsistent(&'static str),
}

impl StoreError {
    /// Whether a retry may succeed.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Request { class, .. } => *class,
            Self::Contention { .. } | Self::DeadlineExceeded => FailureClass::Transient,
            Self::Malformed(_) | Self::Inconsistent(_) => FailureClass::Permanent,
        }
    }

    /// Whether the write may have been applied although it failed: its outcome is unknown.
    pub fn maybe_applied(&self) -> bool {
        match self {
            Self::Request { maybe_applied, .. } => *maybe_applied,
            Self::DeadlineExceeded => true,
            Self::Contention { .. } | Self::Malformed(_) | Self::Inconsistent(_) => false,
        }
    }

    /// The same error, marked as maybe applied when `earlier` says an earlier attempt of the
    /// same request may have been.
    pub fn or_maybe_applied(self, earlier: bool) -> Self {
        match self {
            Self::Request {
                operation,
                class,
                maybe_applied,
                source,
            } => Self::Request {
                operation,
                class,
                maybe_applied: maybe_applied || earlier,
                source,
            },
            other => other,
        }
    }

    /// A malformed stored value, from any error that says why.
    pub fn malformed(source: impl Into<Source>) -> Self {
        Self::Malformed(source.into())
    }

    /// The error and every source under it, on one line, for logs.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

/// `error` and every source under it, on one line (`error: cause: its cause`), for logs. Any
/// error, borrowed or boxed.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_its_source_and_class() {
        let err = StoreError::Request {
            operation: "PutItem",
            class: FailureClass::Transient,
            maybe_applied: true,
            source: "connection reset".into(),
        };
        assert!(err.maybe_applied());
        assert_eq!(err.class(), FailureClass::Transient);
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("connection reset")
        );
        assert_eq!(err.chain(), "PutItem failed (transient): connection reset");
        assert_eq!(
            StoreError::malformed("units_used is not a number").class(),
            FailureClass::Permanent
        );
        assert_eq!(
            StoreError::Contention {
                operation: "TransactWriteItems",
                attempts: 4
            }
            .class(),
            FailureClass::Transient
        );
    }
}
