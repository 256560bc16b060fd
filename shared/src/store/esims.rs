//! eSIM status facts in the table: current state plus append-only history.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::Serialize;

use super::dynamo::{is_condition_failure, query_all, s};
use super::items::{self, EsimItem};
use super::{EsimStore, StoreError};
use crate::esim::{EsimStatusRecord, Iccid, Recorded};
use crate::store::DynamoStore;

fn malformed(e: String) -> StoreError {
    StoreError::Malformed(serde::de::Error::custom(e))
}

impl EsimStore for DynamoStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        let status = &record.status;
        let pk = items::esim_pk(&status.iccid);
        let stamp = items::timestamp(record.received_at);
        let mut history = items::to_item(&EsimItem::from(record))?;
        history.insert("pk".into(), s(&pk));
        history.insert(
            "sk".into(),
            s(format!(
                "{}{stamp}#{}",
                items::ESIM_HISTORY_SK_PREFIX,
                status.profile_state.as_str()
            )),
        );

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
            .table_name(&self.table)
            .set_key(Some(items::key(pk, items::ESIM_CURRENT_SK)))
            .update_expression(set)
            .condition_expression(changed)
            .expression_attribute_values(":iccid", s(status.iccid.as_str()))
            .expression_attribute_values(":imsi", s(status.imsi.as_str()))
            .expression_attribute_values(":state", s(status.profile_state.as_str()))
            .expression_attribute_values(":at", s(&stamp));
        if let Some(eid) = &status.eid {
            current = current.expression_attribute_values(":eid", s(eid.as_str()));
        }
        let current = current.build().map_err(|e| StoreError::Request {
            operation: "TransactWriteItems",
            message: e.to_string(),
        })?;
        let append = Put::builder()
            .table_name(&self.table)
            .set_item(Some(history))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Request {
                operation: "TransactWriteItems",
                message: e.to_string(),
            })?;
        let items = vec![
            TransactWriteItem::builder().update(current).build(),
            TransactWriteItem::builder().put(append).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(Recorded::Changed),
            // Either the status repeats the current state, or this exact entry is already in
            // the history (same state, same millisecond): both are redeliveries.
            Err(reasons) if reasons.iter().any(is_condition_failure) => Ok(Recorded::Unchanged),
            Err(_) => Err(StoreError::Inconsistent(
                "transaction cancelled without a reason",
            )),
        }
    }
}

/// An eSIM's current state and its history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EsimHistory {
    /// The latest status received.
    pub current: EsimStatusRecord,
    /// Every distinct status received, newest first.
    pub history: Vec<EsimStatusRecord>,
}

impl DynamoStore {
    /// An eSIM's current state and history; `None` if nothing was ever received for it.
    pub async fn esim_history(&self, iccid: &Iccid) -> Result<Option<EsimHistory>, StoreError> {
        let found = query_all(
            self.query()
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(items::esim_pk(iccid)))
                .scan_index_forward(false)
                .consistent_read(true),
        )
        .await?;
        let mut current = None;
        let mut history = Vec::new();
        for item in found {
            let is_current = item.get("sk") == Some(&s(items::ESIM_CURRENT_SK));
            let record = EsimStatusRecord::try_from(items::from_item::<EsimItem>(item)?)
                .map_err(malformed)?;
            if is_current {
                current = Some(record);
            } else {
                history.push(record);
            }
        }
        Ok(current.map(|current| EsimHistory { current, history }))
    }
}
