//! Balance facts, kept by Gigastore's customer id: one conditional `PutItem` each.

use super::items::{self, BalanceActivationItem, BalanceAlertItem};
use super::{s, DynamoStore};
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord, BalanceStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

/// `Changed` if the put was applied, `Unchanged` if its condition said it was stored already.
fn recorded(applied: bool) -> Recorded {
    match applied {
        true => Recorded::Changed,
        false => Recorded::Unchanged,
    }
}

impl BalanceStore for DynamoStore {
    async fn record_alert(&self, record: &BalanceAlertRecord) -> Result<Recorded, StoreError> {
        let item = items::to_item(&BalanceAlertItem::from(record))?;
        self.put_new(item).await.map(recorded)
    }

    async fn record_activation(
        &self,
        record: &BalanceActivationRecord,
    ) -> Result<Recorded, StoreError> {
        let item = BalanceActivationItem::from(record);
        let expires = s(crate::domain::clock::format(item.expires_at));
        let at = s(crate::domain::clock::format(item.received_at));
        // A new expiry is a new fact, unless it was received before the one on file (a late
        // replay must not undo an extension).
        let put = self
            .put(items::to_item(&item)?)
            .condition_expression(
                "attribute_not_exists(pk) OR (expires_at <> :expires AND received_at < :at)",
            )
            .expression_attribute_values(":expires", expires)
            .expression_attribute_values(":at", at);
        self.put_if(put).await.map(recorded)
    }
}
