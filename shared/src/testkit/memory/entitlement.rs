//! Entitlements and purchases in memory: grants once per purchase id, revokes.

use time::OffsetDateTime;

use crate::domain::clock::to_millis;
use crate::domain::entitlement::{Entitlement, EntitlementStore, Grant, GrantWrite, Purchase};
use crate::domain::ids::{ItemId, UserToken};
use crate::domain::store::StoreError;

use super::{to_seconds, InMemoryStore};

impl EntitlementStore for InMemoryStore {
    async fn apply_grant(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
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
        // As the adapter: a grant that finds the entitlement expired renews it, its
        // leftovers forfeited.
        if entitlement.is_expired(now) {
            entitlement.units_granted = entitlement.units_used;
            entitlement.expires_at = None;
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

    async fn revoke(
        &self,
        user: &UserToken,
        item: &ItemId,
        at: OffsetDateTime,
    ) -> Result<Option<Entitlement>, StoreError> {
        let key = (user.clone(), item.clone());
        Ok(self.tables().entitlements.get_mut(&key).map(|e| {
            e.units_granted = e.units_used;
            e.revoked_at = Some(to_millis(at));
            e.clone()
        }))
    }

    async fn entitlement(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> Result<Option<Entitlement>, StoreError> {
        let key = (user.clone(), item.clone());
        Ok(self.tables().entitlements.get(&key).cloned())
    }
}
