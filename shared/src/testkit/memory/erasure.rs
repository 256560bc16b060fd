//! Erasure in memory: the same items go and stay as in the adapter.

use crate::domain::erasure::{Erasure, ErasureStore, Holder, UserRecords};
use crate::domain::ids::UserToken;
use crate::domain::store::StoreError;

use super::InMemoryStore;

impl ErasureStore for InMemoryStore {
    async fn user_records(&self, user: &UserToken) -> Result<UserRecords, StoreError> {
        let t = self.tables();
        let named = |holder: &Holder| holder.user_token() == Some(user);
        Ok(UserRecords {
            profile: t.profiles.get(user).map(|p| p.customer_uid.clone()),
            entitlements: t
                .entitlements
                .keys()
                .filter(|(owner, _)| owner == user)
                .map(|(_, item)| item.clone())
                .collect(),
            unclaimed: t
                .unclaimed
                .keys()
                .filter(|(owner, _)| owner == user)
                .map(|(_, customer)| customer.clone())
                .collect(),
            activations: t
                .activations
                .values()
                .filter(|a| named(&a.holder))
                .map(|a| a.activation_id.clone())
                .collect(),
            purchases: t
                .purchases
                .values()
                .filter(|p| named(&p.holder))
                .map(|p| p.purchase_id.clone())
                .collect(),
        })
    }

    async fn erase(
        &self,
        user: &UserToken,
        found: &UserRecords,
        erasure: &Erasure,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        if let Some(Some(customer)) = t.profiles.remove(user).map(|p| p.customer_uid) {
            if t.customer_links
                .get(&customer)
                .is_some_and(|(u, _)| u == user)
            {
                t.customer_links.remove(&customer);
            }
        }
        t.entitlements.retain(|(owner, _), _| owner != user);
        t.unclaimed.retain(|(owner, _), _| owner != user);
        let erased = Holder::Erased(erasure.user_hash.clone());
        for id in &found.activations {
            if let Some(a) = t.activations.get_mut(id) {
                if a.holder.user_token() == Some(user) {
                    a.holder = erased.clone();
                }
            }
        }
        for id in &found.purchases {
            if let Some(p) = t.purchases.get_mut(id) {
                if p.holder.user_token() == Some(user) {
                    p.holder = erased.clone();
                }
            }
        }
        t.erasures.push(erasure.clone());
        Ok(())
    }
}
