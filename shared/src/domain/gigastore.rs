//! Gigastore's partner REST API, as the domain needs it: the port top-ups, their refunds and
//! the catalogue go through, and what a call's failure means for money.
//!
//! The top-up is not idempotent as far as Gigastore documents: a call whose answer was lost
//! may have charged. So every failure says whether the call may have been applied
//! ([`CallError::Unknown`]), was refused for good ([`CallError::Refused`]) or never left
//! ([`CallError::NotSent`]); only the last may simply be repeated.

use std::future::Future;

use serde::Serialize;

use crate::domain::deadline::Deadline;
use crate::domain::ids::{CustomerUid, ItemId, PurchaseId};

/// Gigastore's id of a package it activated for a customer (`activatedItem.uid`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ActivatedItemId(pub String);

/// A price, as Gigastore writes one: a decimal value kept as its text (never a float), and an
/// ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    /// The amount, e.g. `4.99`.
    pub value: String,
    /// The currency, e.g. `USD`.
    pub currency: String,
}

/// When a topped-up package's validity starts (`activationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActivationMode {
    /// At once (Gigastore's default).
    Now,
    /// On the first network attach in the coverage area.
    FirstUse,
    /// When the reseller triggers it (worldwide and regional packages only).
    OnDemand,
}

/// One top-up call: `POST /gigastore/activations/top-up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpCall {
    /// Whose balance is topped up.
    pub customer_uid: CustomerUid,
    /// The package.
    pub item: ItemId,
    /// Our purchase id, sent as `metatag` (how a lost answer is found out) and as the
    /// `idempotency-key` header (harmless if ignored).
    pub purchase_id: PurchaseId,
    /// Gigastore refuses unless its retail price is this one.
    pub expected_price: Option<Price>,
    /// When the package's validity starts.
    pub activation_mode: Option<ActivationMode>,
}

/// A package Gigastore activated for a customer, as its customer view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivatedItem {
    /// Its id.
    pub uid: ActivatedItemId,
    /// The `metatag` it was topped up with, if any.
    pub metatag: Option<String>,
}

/// One item of Gigastore's catalogue (`GET /gigastore/products/inventory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    /// The `inventoryItemId`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Data size, e.g. `1 GB`.
    pub size: String,
    /// Validity, e.g. `30 days` or `unlimited`.
    pub validity: String,
    /// `WWW` (worldwide), an ISO 3166-1 alpha-2 code, or a region.
    pub country_set: String,
    /// Retail prices (what `expectedPrice` must equal).
    pub retail_prices: Vec<Price>,
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request never left (no connection, no credentials): nothing was applied; it may be
    /// sent again.
    #[error("{operation} not sent: {reason}")]
    NotSent {
        /// The call.
        operation: &'static str,
        /// Why.
        reason: String,
    },
    /// Gigastore refused it for good (a 4xx other than 401, 408 and 429): never repeat it.
    #[error("{operation} refused ({status}): {reason}")]
    Refused {
        /// The call.
        operation: &'static str,
        /// The HTTP status; 0 when the call was refused before sending, as it could never
        /// succeed (an `expectedPrice` that is not a decimal amount).
        status: u16,
        /// Gigastore's answer, cut short (it documents no error shape).
        reason: String,
    },
    /// The answer was lost or is not an answer (a timeout, a dropped connection, a 5xx, 408 or
    /// 429, an unreadable body): it may have been applied. Find out before repeating it.
    #[error("{operation} outcome unknown: {reason}")]
    Unknown {
        /// The call.
        operation: &'static str,
        /// Why.
        reason: String,
    },
}

impl CallError {
    /// Whether the call may have been applied although it failed.
    pub fn maybe_applied(&self) -> bool {
        matches!(self, Self::Unknown { .. })
    }
}

/// Gigastore's partner API: every call bounded by `deadline`. Authentication (a 24 h token,
/// renewed before expiry or after one 401) is the adapter's business.
pub trait Gigastore: Send + Sync {
    /// Tops up a customer's balance: charges the reseller's credit.
    fn top_up(
        &self,
        call: &TopUpCall,
        deadline: Deadline,
    ) -> impl Future<Output = Result<ActivatedItemId, CallError>> + Send;

    /// The packages Gigastore activated for `customer`.
    fn activated_items(
        &self,
        customer: &CustomerUid,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Vec<ActivatedItem>, CallError>> + Send;

    /// Refunds an activated package (valid and unused only, within a monthly limit).
    fn refund(
        &self,
        item: &ActivatedItemId,
        deadline: Deadline,
    ) -> impl Future<Output = Result<(), CallError>> + Send;

    /// The catalogue.
    fn inventory(
        &self,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Vec<InventoryItem>, CallError>> + Send;
}
