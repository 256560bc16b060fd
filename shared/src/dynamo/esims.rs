//! eSIM status facts: current state plus history. The usual, in-order status is one transaction;
//! a status older than the current one (a late replay) takes two more requests that place it in
//! the history by its time.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, Update};

use super::items::{self, EsimItem, ESIM_HISTORY_SK_PREFIX};
use super::{failed, s, unbuildable, DynamoStore, Transacted, Transaction};
use crate::esim::{EsimStatusRecord, EsimStore, Recorded};
use crate::store::StoreError;

/// Write names in the status transactions.
const CURRENT: &str = "current state";
const HISTORY: &str = "history entry";

impl DynamoStore {
    /// The history entry received right before `record` (or right after it, with `after`).
    async fn neighbour(
        &self,
        record: &EsimStatusRecord,
        after: bool,
    ) -> Result<Option<EsimStatusRecord>, StoreError> {
        let entry = EsimItem::history(record);
        let query = self
            .query()
            .expression_attribute_values(":pk", s(&entry.pk))
            .expression_attribute_values(":sk", s(&entry.sk))
            .consistent_read(true);
        let query = match after {
            true => query
                .key_condition_expression("pk = :pk AND sk > :sk")
                .limit(1),
            false => query
                .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :sk")
                .expression_attribute_values(":first", s(ESIM_HISTORY_SK_PREFIX))
                .scan_index_forward(false)
                // The entry itself, if already there, is not its own neighbour.
                .limit(2),
        };
        let found = query
            .send()
            .await
            .map_err(|e| failed("DynamoDB Query", e))?;
        let neighbour = found
            .items()
            .iter()
            .find(|item| item.get("sk") != Some(&s(&entry.sk)));
        neighbour.cloned().map(EsimItem::read).transpose()
    }

    /// Places a status older than the current one in the history by its time, unless it
    /// repeats the entry before or after it: then it is a redelivery (as it was when first
    /// received, or one that lost a race with its twin received a moment later).
    async fn record_late(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        for after in [false, true] {
            let neighbour = self.neighbour(record, after).await?;
            if neighbour.is_some_and(|n| record.status.repeats(&n.status)) {
                return Ok(Recorded::Unchanged);
            }
        }
        let result = self
            .put(items::to_item(&EsimItem::history(record))?)
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Late),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(Recorded::Unchanged)
            }
            Err(e) => Err(failed("DynamoDB PutItem", e)),
        }
    }
}

impl EsimStore for DynamoStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        let unbuildable = |e| unbuildable("DynamoDB TransactWriteItems", e);
        let status = &record.status;
        let history = EsimItem::history(record);

        // Only a newer status that changes something replaces the current one; otherwise the
        // condition fails, the whole transaction is dropped, and the current state comes back.
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
        let mut current = Update::builder()
            .table_name(self.table())
            .set_key(Some(EsimItem::current_key(&status.iccid)))
            .update_expression(set)
            .condition_expression(changed)
            .expression_attribute_values(":iccid", s(status.iccid.as_str()))
            .expression_attribute_values(":imsi", s(status.imsi.as_str()))
            .expression_attribute_values(":state", s(status.profile_state.as_str()))
            .expression_attribute_values(":at", s(crate::clock::format(record.received_at)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
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
            .update(CURRENT, current.build().map_err(unbuildable)?)
            .put(HISTORY, append);
        let cancelled = match self.transact(writes).await? {
            Transacted::Committed => return Ok(Recorded::Changed),
            Transacted::ConditionFailed(cancelled) => cancelled,
        };
        let current = cancelled
            .item(CURRENT)
            .cloned()
            .map(EsimItem::read)
            .transpose()?;
        match current {
            // This exact entry is already in the history (same state, same millisecond).
            _ if cancelled.failed(HISTORY) => Ok(Recorded::Unchanged),
            Some(current) if current.received_at >= record.received_at => {
                self.record_late(record).await
            }
            // Newer, but it repeats the current state: a redelivery.
            _ => Ok(Recorded::Unchanged),
        }
    }
}
