//! Every port in memory, with DynamoDB's semantics: each call is atomic (one lock), conditions
//! decide as the adapter's condition expressions do, and values read back as stored.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

use crate::domain::activation::{ActivationRecord, ActivationStore, ApproveOutcome, RecordOutcome};
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord, BalanceStore};
use crate::domain::clock::to_millis;
use crate::domain::country::{CountryChangeRecord, CountryStore};
use crate::domain::entitlement::{Entitlement, EntitlementStore, Grant, GrantWrite, Purchase};
use crate::domain::esim::{EsimStatusRecord, EsimStore};
use crate::domain::events::EventLookups;
use crate::domain::ids::Iccid;
use crate::domain::ids::{ActivationId, BalanceItemId, CustomerUid, ItemId, PurchaseId, UserToken};
use crate::domain::registration::{CustomerRegistration, Registered, RegistrationStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;
use crate::domain::timeline::Tracked;
use crate::domain::views::{ActivationView, BalanceView, EsimHistory, ReadModels, UserSummary};

#[derive(Debug, Default)]
struct Profile {
    email: Option<String>,
    customer_uid: Option<CustomerUid>,
    registered_at: Option<OffsetDateTime>,
}

/// A tracked fact's current value and history.
#[derive(Debug)]
struct Timeline<F> {
    current: F,
    /// By `(received_at, distinction)`, as the history entries' sort keys.
    history: BTreeMap<(OffsetDateTime, String), F>,
}

impl<F: Tracked> Timeline<F> {
    /// Records `fact` into the timeline of `subject` in `timelines` (created if new), as the
    /// adapter's transaction and late path do.
    fn record<K: Ord + Clone>(
        timelines: &mut BTreeMap<K, Self>,
        subject: &K,
        fact: &F,
    ) -> Recorded {
        let entry = (fact.received_at(), fact.distinction().to_owned());
        let Some(timeline) = timelines.get_mut(subject) else {
            let timeline = Self {
                current: fact.clone(),
                history: BTreeMap::from([(entry, fact.clone())]),
            };
            timelines.insert(subject.clone(), timeline);
            return Recorded::Changed;
        };
        if timeline.history.contains_key(&entry) {
            return Recorded::Unchanged;
        }
        if timeline.current.received_at() < fact.received_at() {
            if fact.repeats(&timeline.current) {
                return Recorded::Unchanged;
            }
            timeline.current = fact.replacing(&timeline.current);
            timeline.history.insert(entry, fact.clone());
            return Recorded::Changed;
        }
        // Older than the current value: placed in the history by its time, unless it repeats
        // the entry before or after it.
        let before = timeline.history.range(..entry.clone()).next_back();
        let after = timeline.history.range(entry.clone()..).next();
        if before
            .into_iter()
            .chain(after)
            .any(|(_, n)| fact.repeats(n))
        {
            return Recorded::Unchanged;
        }
        timeline.history.insert(entry, fact.clone());
        Recorded::Late
    }

    /// The current value and the history, newest first.
    fn view(timeline: Option<&Self>) -> (Option<F>, Vec<F>) {
        match timeline {
            Some(t) => (
                Some(t.current.clone()),
                t.history.values().rev().cloned().collect(),
            ),
            None => (None, Vec::new()),
        }
    }
}

#[derive(Debug, Default)]
struct Tables {
    profiles: BTreeMap<UserToken, Profile>,
    entitlements: BTreeMap<(UserToken, ItemId), Entitlement>,
    activations: BTreeMap<ActivationId, ActivationRecord>,
    purchases: BTreeMap<PurchaseId, Purchase>,
    unclaimed: BTreeMap<(UserToken, CustomerUid), OffsetDateTime>,
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

impl ActivationStore for InMemoryStore {
    async fn approve(&self, approval: &ActivationRecord) -> Result<ApproveOutcome, StoreError> {
        let mut t = self.tables();
        if let Some(existing) = t.activations.get(&approval.activation_id) {
            return Ok(ApproveOutcome::AlreadyDecided(existing.clone()));
        }
        let key = (approval.user_token.clone(), approval.item.clone());
        let epoch = approval.decided_at.unix_timestamp();
        match t.entitlements.get_mut(&key) {
            Some(e)
                if e.units_used < e.units_granted
                    && e.expires_at.is_none_or(|at| at.unix_timestamp() > epoch) =>
            {
                e.units_used += 1;
            }
            other => return Ok(ApproveOutcome::NotEntitled(other.map(|e| e.clone()))),
        }
        t.activations
            .insert(approval.activation_id.clone(), approval.clone());
        Ok(ApproveOutcome::Approved)
    }

    async fn record(&self, refusal: &ActivationRecord) -> Result<RecordOutcome, StoreError> {
        let mut t = self.tables();
        if let Some(existing) = t.activations.get(&refusal.activation_id) {
            return Ok(RecordOutcome::AlreadyDecided(existing.clone()));
        }
        t.activations
            .insert(refusal.activation_id.clone(), refusal.clone());
        Ok(RecordOutcome::Recorded)
    }

    async fn activation(&self, id: &ActivationId) -> Result<Option<ActivationRecord>, StoreError> {
        Ok(self.tables().activations.get(id).cloned())
    }
}

impl EntitlementStore for InMemoryStore {
    async fn apply_grant(
        &self,
        grant: &Grant,
        _now: OffsetDateTime,
    ) -> Result<GrantWrite, StoreError> {
        let mut t = self.tables();
        if let Some(id) = &grant.purchase_id {
            if let Some(earlier) = t.purchases.get(id) {
                return Ok(GrantWrite::PurchaseSeen(earlier.clone()));
            }
            let purchase = Purchase {
                purchase_id: id.clone(),
                user_token: grant.user_token.clone(),
                item: grant.item.clone(),
                quantity: grant.quantity.get(),
            };
            t.purchases.insert(id.clone(), purchase);
        }
        let profile = t.profiles.entry(grant.user_token.clone()).or_default();
        if let Some(email) = &grant.email {
            profile.email = Some(email.as_str().to_owned());
        }
        let key = (grant.user_token.clone(), grant.item.clone());
        let entitlement = t.entitlements.entry(key).or_insert_with(|| Entitlement {
            user_token: grant.user_token.clone(),
            item: grant.item.clone(),
            units_granted: 0,
            units_used: 0,
            expires_at: None,
            revoked_at: None,
        });
        entitlement.units_granted += grant.quantity.get();
        if let Some(at) = grant.expires_at {
            entitlement.expires_at = Some(to_seconds(at));
        }
        entitlement.revoked_at = None;
        Ok(GrantWrite::Applied)
    }

    async fn entitlement(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> Result<Option<Entitlement>, StoreError> {
        let key = (user.clone(), item.clone());
        Ok(self.tables().entitlements.get(&key).cloned())
    }

    async fn revoke(
        &self,
        user: &UserToken,
        item: &ItemId,
        now: OffsetDateTime,
    ) -> Result<Option<Entitlement>, StoreError> {
        let key = (user.clone(), item.clone());
        Ok(self.tables().entitlements.get_mut(&key).map(|e| {
            e.units_granted = e.units_used;
            e.revoked_at = Some(to_millis(now));
            e.clone()
        }))
    }
}

impl RegistrationStore for InMemoryStore {
    async fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<Option<Registered>, StoreError> {
        let mut t = self.tables();
        let Some(profile) = t.profiles.get_mut(&registration.user_token) else {
            return Ok(None);
        };
        let now = to_millis(now);
        if profile.registered_at.is_some_and(|at| at > now) {
            // Older than the registration on file: changes nothing.
            return Ok(Some(Registered::KnownUser {
                email: profile.email.clone(),
                replaced: None,
            }));
        }
        profile.registered_at = Some(now);
        let previous = profile
            .customer_uid
            .replace(registration.customer_uid.clone());
        Ok(Some(Registered::KnownUser {
            email: profile.email.clone(),
            replaced: previous.filter(|p| *p != registration.customer_uid),
        }))
    }

    async fn keep_unclaimed(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = (
            registration.user_token.clone(),
            registration.customer_uid.clone(),
        );
        self.tables().unclaimed.insert(key, to_millis(now));
        Ok(())
    }
}

impl EsimStore for InMemoryStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        let iccid = &record.status.iccid;
        Ok(Timeline::record(&mut self.tables().esims, iccid, record))
    }
}

impl CountryStore for InMemoryStore {
    async fn record_country(&self, record: &CountryChangeRecord) -> Result<Recorded, StoreError> {
        let iccid = &record.change.iccid;
        Ok(Timeline::record(
            &mut self.tables().countries,
            iccid,
            record,
        ))
    }
}

impl BalanceStore for InMemoryStore {
    async fn record_alert(&self, record: &BalanceAlertRecord) -> Result<Recorded, StoreError> {
        let alert = &record.alert;
        let key = (
            alert.customer_uid.clone(),
            alert.timestamp,
            alert.iccid.clone(),
        );
        let mut t = self.tables();
        if t.balance_alerts.contains_key(&key) {
            return Ok(Recorded::Unchanged);
        }
        t.balance_alerts.insert(key, record.clone());
        Ok(Recorded::Changed)
    }

    async fn record_activation(
        &self,
        record: &BalanceActivationRecord,
    ) -> Result<Recorded, StoreError> {
        let a = &record.activation;
        let key = (
            a.customer_uid.clone(),
            a.activated_at,
            a.activated_item.clone(),
        );
        let mut t = self.tables();
        // As the adapter's condition: a new expiry received after the one on file.
        let replaces = |stored: &BalanceActivationRecord| {
            stored.activation.expires_at != a.expires_at && stored.received_at < record.received_at
        };
        if t.balance_activations
            .get(&key)
            .is_some_and(|s| !replaces(s))
        {
            return Ok(Recorded::Unchanged);
        }
        t.balance_activations.insert(key, record.clone());
        Ok(Recorded::Changed)
    }
}

impl ReadModels for InMemoryStore {
    async fn user_summary(&self, user: &UserToken) -> Result<UserSummary, StoreError> {
        let t = self.tables();
        let profile = t
            .profiles
            .get(user)
            .map(|p| (p.email.clone(), p.customer_uid.clone()));
        let entitlements = t
            .entitlements
            .iter()
            .filter(|((owner, _), _)| owner == user)
            .map(|(_, e)| e.clone())
            .collect();
        let mut activations: Vec<&ActivationRecord> = t
            .activations
            .values()
            .filter(|a| a.user_token == *user)
            .collect();
        // Newest first, as the index's sort key (decision time, then id) orders them.
        activations.sort_by(|a, b| {
            (b.decided_at, &b.activation_id).cmp(&(a.decided_at, &a.activation_id))
        });
        let unclaimed = t
            .unclaimed
            .keys()
            .filter(|(owner, _)| owner == user)
            .map(|(_, customer)| customer.clone())
            .collect();
        let views = activations.into_iter().cloned().map(ActivationView::from);
        let customer = profile.as_ref().and_then(|(_, uid)| uid.clone());
        let summary = UserSummary::new(
            user.clone(),
            profile,
            entitlements,
            views.collect(),
            unclaimed,
        );
        let Some(customer) = customer else {
            return Ok(summary);
        };
        // Newest first, as the adapter's descending queries read them.
        let latest = t
            .balance_alerts
            .iter()
            .rfind(|((c, ..), _)| *c == customer)
            .map(|(_, a)| a.clone());
        let balances = t
            .balance_activations
            .iter()
            .rev()
            .filter(|((c, ..), _)| *c == customer)
            .map(|(_, a)| BalanceView::from(a.clone()))
            .collect();
        Ok(summary.with_balances(latest, balances))
    }

    async fn user_for_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let t = self.tables();
        let registered = t
            .profiles
            .iter()
            .find(|(_, p)| p.customer_uid.as_ref() == Some(customer))
            .map(|(user, _)| user.clone());
        let unclaimed = || {
            t.unclaimed
                .keys()
                .find(|(_, c)| c == customer)
                .map(|(user, _)| user.clone())
        };
        Ok(registered.or_else(unclaimed))
    }

    async fn esim_history(&self, iccid: &Iccid) -> Result<Option<EsimHistory>, StoreError> {
        let t = self.tables();
        let (current, history) = Timeline::view(t.esims.get(iccid));
        let (country, country_history) = Timeline::view(t.countries.get(iccid));
        Ok(EsimHistory::of(current, history, country, country_history))
    }
}

impl EventLookups for InMemoryStore {
    async fn user_of_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let t = self.tables();
        let mut profiles = t.profiles.iter();
        let registered = profiles.find(|(_, p)| p.customer_uid.as_ref() == Some(customer));
        Ok(registered.map(|(user, _)| user.clone()))
    }

    async fn customer_of_user(&self, user: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        let t = self.tables();
        Ok(t.profiles.get(user).and_then(|p| p.customer_uid.clone()))
    }

    async fn customer_of_iccid(&self, iccid: &Iccid) -> Result<Option<CustomerUid>, StoreError> {
        // A SIM is linked to a customer by its newest balance alert, as the index has it.
        let t = self.tables();
        let alerts = t.balance_alerts.values().map(|r| &r.alert);
        let newest = alerts
            .filter(|a| &a.iccid == iccid)
            .max_by_key(|a| a.timestamp);
        Ok(newest.map(|a| a.customer_uid.clone()))
    }
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
    use crate::domain::ids::{ItemId, UserToken};

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
            user_token: user,
            item,
            quantity: std::num::NonZeroU32::MIN,
            email: None,
            expires_at: None,
            purchase_id: None,
        };
        store
            .apply_grant(&grant, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert_ne!(store.snapshot(), empty);
    }
}
