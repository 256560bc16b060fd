//! Balance facts, kept by Gigastore's customer id: one conditional `PutItem` each; and the
//! items that keep them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{self, Key};
use super::{from_item, s, to_item, DynamoStore, Item};
use crate::domain::balance::{
    BalanceActivation, BalanceActivationRecord, BalanceAlert, BalanceAlertRecord, BalanceStore,
};
use crate::domain::ids::{BalanceItemId, CustomerUid, Iccid, Imsi};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

/// A Balance Alert, kept by customer (`CUSTOMER#<uid>` / `BALANCE_ALERT#<timestamp>#<iccid>`)
/// and found by SIM through `gsi1` (`ESIM#<iccid>` / `BALANCE_ALERT#<timestamp>`); written once.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct BalanceAlertItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    customer_uid: CustomerUid,
    iccid: Iccid,
    imsi: Imsi,
    #[serde(with = "crate::domain::clock::stored")]
    timestamp: OffsetDateTime,
    balance_bytes: u64,
    #[serde(with = "crate::domain::clock::stored")]
    received_at: OffsetDateTime,
}

impl From<&BalanceAlertRecord> for BalanceAlertItem {
    fn from(r: &BalanceAlertRecord) -> Self {
        let alert = &r.alert;
        let Key { pk, sk } =
            keys::balance_alert(&alert.customer_uid, alert.timestamp, &alert.iccid);
        let by_esim = keys::balance_alert_by_esim(&alert.iccid, alert.timestamp);
        Self {
            pk,
            sk,
            gsi1pk: by_esim.pk,
            gsi1sk: by_esim.sk,
            customer_uid: alert.customer_uid.clone(),
            iccid: alert.iccid.clone(),
            imsi: alert.imsi.clone(),
            timestamp: alert.timestamp,
            balance_bytes: alert.balance_bytes,
            received_at: r.received_at,
        }
    }
}

impl BalanceAlertItem {
    /// Reads a stored alert.
    pub(super) fn read(item: Item) -> Result<BalanceAlertRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(BalanceAlertRecord {
            alert: BalanceAlert {
                customer_uid: stored.customer_uid,
                iccid: stored.iccid,
                imsi: stored.imsi,
                timestamp: stored.timestamp,
                balance_bytes: stored.balance_bytes,
            },
            received_at: stored.received_at,
        })
    }
}

/// A Balance Activation, kept by customer:
/// `CUSTOMER#<uid>` / `BALANCE_ACTIVATION#<activatedAt>#<activatedItem>`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct BalanceActivationItem {
    pk: String,
    sk: String,
    customer_uid: CustomerUid,
    activated_item: BalanceItemId,
    #[serde(with = "crate::domain::clock::stored")]
    activated_at: OffsetDateTime,
    #[serde(with = "crate::domain::clock::stored")]
    expires_at: OffsetDateTime,
    #[serde(with = "crate::domain::clock::stored")]
    received_at: OffsetDateTime,
}

impl From<&BalanceActivationRecord> for BalanceActivationItem {
    fn from(r: &BalanceActivationRecord) -> Self {
        let activation = &r.activation;
        let Key { pk, sk } = keys::balance_activation(
            &activation.customer_uid,
            activation.activated_at,
            &activation.activated_item,
        );
        Self {
            pk,
            sk,
            customer_uid: activation.customer_uid.clone(),
            activated_item: activation.activated_item.clone(),
            activated_at: activation.activated_at,
            expires_at: activation.expires_at,
            received_at: r.received_at,
        }
    }
}

impl BalanceActivationItem {
    /// Reads a stored activation.
    pub(super) fn read(item: Item) -> Result<BalanceActivationRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(BalanceActivationRecord {
            activation: BalanceActivation {
                customer_uid: stored.customer_uid,
                activated_item: stored.activated_item,
                activated_at: stored.activated_at,
                expires_at: stored.expires_at,
            },
            received_at: stored.received_at,
        })
    }
}

/// `Changed` if the put was applied, `Unchanged` if its condition said it was stored already.
fn recorded(applied: bool) -> Recorded {
    match applied {
        true => Recorded::Changed,
        false => Recorded::Unchanged,
    }
}

impl BalanceStore for DynamoStore {
    async fn record_alert(&self, record: &BalanceAlertRecord) -> Result<Recorded, StoreError> {
        let item = to_item(&BalanceAlertItem::from(record))?;
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
            .put(to_item(&item)?)
            .condition_expression(
                "attribute_not_exists(pk) OR (expires_at <> :expires AND received_at < :at)",
            )
            .expression_attribute_values(":expires", expires)
            .expression_attribute_values(":at", at);
        self.put_if(put).await.map(recorded)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    #[test]
    fn balance_alerts_are_keyed_by_customer_and_found_by_sim() {
        let record = BalanceAlertRecord {
            alert: BalanceAlert {
                customer_uid: CustomerUid::parse("c-1").unwrap(),
                iccid: Iccid::parse("89361123300836129514").unwrap(),
                imsi: Imsi::parse("260216611193634").unwrap(),
                timestamp: OffsetDateTime::from_unix_timestamp(1_661_076_930).unwrap(),
                balance_bytes: i64::MAX as u64,
            },
            received_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let item = to_item(&BalanceAlertItem::from(&record)).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("CUSTOMER#c-1".into()));
        assert_eq!(
            item["sk"],
            AttributeValue::S("BALANCE_ALERT#2022-08-21T10:15:30.000Z#89361123300836129514".into())
        );
        assert_eq!(
            item["gsi1pk"],
            AttributeValue::S("ESIM#89361123300836129514".into())
        );
        assert_eq!(
            item["balance_bytes"],
            AttributeValue::N("9223372036854775807".into())
        );
        assert_eq!(BalanceAlertItem::read(item).unwrap(), record);
    }
}
