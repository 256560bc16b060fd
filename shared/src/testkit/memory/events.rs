//! The lookups that complete domain events, in memory.

use crate::domain::events::EventLookups;
use crate::domain::ids::Iccid;
use crate::domain::ids::{CustomerUid, UserToken};
use crate::domain::store::StoreError;

use super::InMemoryStore;

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
