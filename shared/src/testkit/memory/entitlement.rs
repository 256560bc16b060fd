//! Entitlements in memory: read and revoked (grants and refunds are in `purchase`).

use time::OffsetDateTime;

use crate::domain::clock::to_millis;
use crate::domain::entitlement::{Entitlement, EntitlementStore, Reset};
use crate::domain::ids::{ItemId, UserToken};
use crate::domain::store::StoreError;

use super::InMemoryStore;

impl EntitlementStore for InMemoryStore {
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
            e.reset = Some(Reset {
                at: to_millis(at),
                used: e.units_used,
            });
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
