//! Balance alerts and activations in memory, written once each.

use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord, BalanceStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

use super::InMemoryStore;

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
