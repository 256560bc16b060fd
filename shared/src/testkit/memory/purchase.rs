//! Purchases in memory: grants once per purchase id, refunds once, as the adapter's
//! transactions do.

use crate::domain::clock::to_millis;
use crate::domain::entitlement::{Entitlement, Reset};
use crate::domain::ids::{CustomerUid, ItemId, PurchaseId, UserToken};
use crate::domain::purchase::{Grant, GrantWrite, Purchase, PurchaseStore, Refund, RefundWrite};
use crate::domain::store::StoreError;

use super::{to_seconds, InMemoryStore};

impl PurchaseStore for InMemoryStore {
    async fn apply_grant(
        &self,
        grant: &Grant,
        record: &Purchase,
    ) -> Result<GrantWrite, StoreError> {
        let now = record.granted_at;
        let mut t = self.tables();
        if let Some(earlier) = t.purchases.get(&grant.purchase_id) {
            return Ok(GrantWrite::PurchaseSeen(earlier.clone()));
        }
        if let Some(top_up) = &record.top_up {
            let customer = t
                .profiles
                .get(&grant.user_token)
                .and_then(|p| p.customer_uid.as_ref());
            if customer != Some(&top_up.customer_uid) {
                return Ok(GrantWrite::CustomerChanged);
            }
            t.purchases
                .insert(grant.purchase_id.clone(), record.clone());
            return Ok(GrantWrite::Applied);
        }
        t.purchases
            .insert(grant.purchase_id.clone(), record.clone());
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
            reset: None,
        });
        // As the adapter: a grant that finds the entitlement expired renews it, its
        // leftovers forfeited, and notes the reset.
        if entitlement.is_expired(now) {
            entitlement.units_granted = entitlement.units_used;
            entitlement.expires_at = None;
            entitlement.reset = Some(Reset {
                at: to_millis(now),
                used: entitlement.units_used,
            });
        }
        entitlement.units_granted = entitlement
            .units_granted
            .saturating_add(grant.quantity.get());
        if let Some(at) = grant.expires_at {
            entitlement.expires_at = Some(to_seconds(at));
        }
        entitlement.revoked_at = None;
        Ok(GrantWrite::Applied)
    }

    async fn customer_of(&self, user: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        Ok(self
            .tables()
            .profiles
            .get(user)
            .and_then(|p| p.customer_uid.clone()))
    }

    async fn purchase(&self, id: &PurchaseId) -> Result<Option<Purchase>, StoreError> {
        Ok(self.tables().purchases.get(id).cloned())
    }

    async fn purchases_of(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> Result<Vec<Purchase>, StoreError> {
        Ok(self
            .tables()
            .purchases
            .values()
            .filter(|p| p.holder.user_token() == Some(user) && p.item == *item)
            .cloned()
            .collect())
    }

    async fn apply_refund(
        &self,
        purchase: &Purchase,
        refund: &Refund,
        units_granted: u32,
    ) -> Result<RefundWrite, StoreError> {
        let mut t = self.tables();
        let stored = t
            .purchases
            .get(&purchase.purchase_id)
            .ok_or(StoreError::Inconsistent("refunding a purchase not stored"))?;
        if stored.refund.is_some() {
            return Ok(RefundWrite::AlreadyRefunded(stored.clone()));
        }
        if let Some((user, remaining)) = refund.taking(purchase, units_granted)? {
            let key = (user.clone(), purchase.item.clone());
            match t.entitlements.get_mut(&key) {
                Some(e) if e.units_granted == units_granted && e.units_used <= remaining => {
                    e.units_granted = remaining;
                }
                _ => return Ok(RefundWrite::EntitlementChanged),
            }
        }
        if let Some(stored) = t.purchases.get_mut(&purchase.purchase_id) {
            stored.refund = Some(refund.clone());
        }
        Ok(RefundWrite::Applied)
    }
}
