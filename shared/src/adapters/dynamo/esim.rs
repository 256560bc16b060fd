//! eSIM status facts: current state plus history, kept as a timeline (`timeline`).

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::Update;

use super::items::{self, EsimItem, Item, ESIM_HISTORY_SK_PREFIX};
use super::s;
use super::timeline::TrackedItem;
use super::DynamoStore;
use crate::domain::esim::{EsimStatusRecord, EsimStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

impl TrackedItem for EsimStatusRecord {
    const HISTORY_PREFIX: &'static str = ESIM_HISTORY_SK_PREFIX;

    fn history_item(&self) -> Result<Item, StoreError> {
        items::to_item(&EsimItem::history(self))
    }

    fn history_key(&self) -> (String, String) {
        let entry = EsimItem::history(self);
        (entry.pk, entry.sk)
    }

    fn current_update(&self) -> UpdateBuilder {
        let status = &self.status;
        // A status without an eid keeps the one on file.
        let (set, changed) = match &status.eid {
            Some(_) => (
                "SET iccid = :iccid, imsi = :imsi, profile_state = :state, eid = :eid, received_at = :at",
                "attribute_not_exists(pk) OR (received_at < :at AND (profile_state <> :state OR imsi <> :imsi OR attribute_not_exists(eid) OR eid <> :eid))",
            ),
            None => (
                "SET iccid = :iccid, imsi = :imsi, profile_state = :state, received_at = :at",
                "attribute_not_exists(pk) OR (received_at < :at AND (profile_state <> :state OR imsi <> :imsi))",
            ),
        };
        let update = Update::builder()
            .set_key(Some(EsimItem::current_key(&status.iccid)))
            .update_expression(set)
            .condition_expression(changed)
            .expression_attribute_values(":iccid", s(status.iccid.as_str()))
            .expression_attribute_values(":imsi", s(status.imsi.as_str()))
            .expression_attribute_values(":state", s(status.profile_state.as_str()))
            .expression_attribute_values(":at", s(crate::domain::clock::format(self.received_at)));
        match &status.eid {
            Some(eid) => update.expression_attribute_values(":eid", s(eid.as_str())),
            None => update,
        }
    }

    fn read(item: Item) -> Result<Self, StoreError> {
        EsimItem::read(item)
    }
}

impl EsimStore for DynamoStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        self.record_tracked(record).await
    }
}
