//! Every port in memory, with DynamoDB's semantics: each call is atomic (one lock), conditions
//! decide as the adapter's condition expressions do, and values read back as stored. One file
//! per port, named as the adapter's (`adapters::dynamo::x` <-> `testkit::memory::x`).

mod activation;
mod balance;
mod country;
mod entitlement;
mod erasure;
mod esim;
mod events;
mod purchase;
mod registration;
mod timeline;
mod topup;
mod views;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

use crate::domain::activation::ActivationRecord;
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord};
use crate::domain::country::CountryChangeRecord;
use crate::domain::entitlement::Entitlement;
use crate::domain::erasure::Erasure;
use crate::domain::esim::EsimStatusRecord;
use crate::domain::ids::{
    ActivationId, BalanceItemId, CustomerUid, Iccid, ItemId, PurchaseId, UserToken,
};
use crate::domain::purchase::Purchase;
use timeline::Timeline;

#[derive(Debug, Default)]
struct Profile {
    email: Option<String>,
    customer_uid: Option<CustomerUid>,
    registered_at: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
struct Tables {
    profiles: BTreeMap<UserToken, Profile>,
    entitlements: BTreeMap<(UserToken, ItemId), Entitlement>,
    activations: BTreeMap<ActivationId, ActivationRecord>,
    purchases: BTreeMap<PurchaseId, Purchase>,
    /// Every erasure that found something, in order.
    erasures: Vec<Erasure>,
    unclaimed: BTreeMap<(UserToken, CustomerUid), OffsetDateTime>,
    /// By customer id: the user it was registered to last, and when.
    customer_links: BTreeMap<CustomerUid, (UserToken, OffsetDateTime)>,
    esims: BTreeMap<Iccid, Timeline<EsimStatusRecord>>,
    countries: BTreeMap<Iccid, Timeline<CountryChangeRecord>>,
    /// By `(customer, timestamp, iccid)`, as their keys.
    balance_alerts: BTreeMap<(CustomerUid, OffsetDateTime, Iccid), BalanceAlertRecord>,
    /// By `(customer, activated_at, item)`, as their keys.
    balance_activations:
        BTreeMap<(CustomerUid, OffsetDateTime, BalanceItemId), BalanceActivationRecord>,
}

/// Every storage port in memory.
#[derive(Debug, Default)]
pub struct InMemoryStore(Mutex<Tables>);

impl crate::domain::store::Store for InMemoryStore {}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A test that panicked while holding the lock left consistent data: every change
        // below is made after its checks.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unix seconds, as the adapter stores expiries.
fn to_seconds(at: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(at.unix_timestamp()).unwrap_or(at)
}

/// Everything an [`InMemoryStore`] holds at one moment, to compare before and after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(String);

impl InMemoryStore {
    /// What the store holds now. Cheap for the few records a test writes: its `Debug` text,
    /// which lists every table in key order, so equal snapshots mean equal contents.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(format!("{:?}", *self.tables()))
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::domain::entitlement::EntitlementStore;
    use crate::domain::ids::{ItemId, PurchaseId, UserToken};
    use crate::domain::purchase::{Grant, Order, Purchase, PurchaseStore, Quantity};

    #[tokio::test]
    async fn a_snapshot_changes_with_a_write_and_not_with_a_read() {
        let store = InMemoryStore::new();
        let empty = store.snapshot();
        assert_eq!(store.snapshot(), empty);
        let user = UserToken::parse("u1").unwrap();
        let item = ItemId::parse("1_GB").unwrap();
        // A read writes nothing.
        store.entitlement(&user, &item).await.unwrap();
        assert_eq!(store.snapshot(), empty);
        let grant = Grant {
            purchase_id: PurchaseId::parse("p1").unwrap(),
            user_token: user,
            item,
            quantity: Quantity::ONE,
            email: None,
            expires_at: None,
            delivery: Order::Sdk,
        };
        store
            .apply_grant(
                &grant,
                &Purchase::granted(&grant, OffsetDateTime::now_utc(), None),
            )
            .await
            .unwrap();
        assert_ne!(store.snapshot(), empty);
    }
}
