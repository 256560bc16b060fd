//! eSIM status facts: current state plus append-only history, in one transaction.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use super::items::{self, EsimItem};
use super::{s, unbuildable, DynamoStore, Transacted, Transaction};
use crate::esim::{EsimStatusRecord, EsimStore, Recorded};
use crate::store::StoreError;

/// Write names in the status transaction.
const CURRENT: &str = "current state";
const HISTORY: &str = "history entry";

impl EsimStore for DynamoStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        let unbuildable = |e| unbuildable("DynamoDB TransactWriteItems", e);
        let status = &record.status;
        let history = EsimItem::history(record);

        // A status identical to the current one is a redelivery: the condition fails and the
        // whole transaction, history entry included, is dropped.
        let (set, changed) = match &status.eid {
            Some(_) => (
                "SET iccid = :iccid, imsi = :imsi, profile_state = :state, eid = :eid, received_at = :at",
                "attribute_not_exists(pk) OR profile_state <> :state OR imsi <> :imsi OR attribute_not_exists(eid) OR eid <> :eid",
            ),
            None => (
                "SET iccid = :iccid, imsi = :imsi, profile_state = :state, received_at = :at",
                "attribute_not_exists(pk) OR profile_state <> :state OR imsi <> :imsi",
            ),
        };
        let mut current = Update::builder()
            .table_name(self.table())
            .set_key(Some(EsimItem::current_key(&status.iccid)))
            .update_expression(set)
            .condition_expression(changed)
            .expression_attribute_values(":iccid", s(status.iccid.as_str()))
            .expression_attribute_values(":imsi", s(status.imsi.as_str()))
            .expression_attribute_values(":state", s(status.profile_state.as_str()))
            .expression_attribute_values(":at", s(crate::clock::format(record.received_at)));
        if let Some(eid) = &status.eid {
            current = current.expression_attribute_values(":eid", s(eid.as_str()));
        }
        let append = Put::builder()
            .table_name(self.table())
            .set_item(Some(items::to_item(&history)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unbuildable)?;
        let writes = Transaction::default()
            .with(
                CURRENT,
                TransactWriteItem::builder()
                    .update(current.build().map_err(unbuildable)?)
                    .build(),
            )
            .with(HISTORY, TransactWriteItem::builder().put(append).build());
        match self.transact(writes).await? {
            Transacted::Committed => Ok(Recorded::Changed),
            // Either the status repeats the current state, or this exact entry is already in
            // the history (same state, same millisecond): both are redeliveries.
            Transacted::ConditionFailed(_) => Ok(Recorded::Unchanged),
        }
    }
}
