//! Activation decisions: approve (record + consume, one transaction), refuse, read back; and
//! the item that keeps a decision.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, Update};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::entitlement::EntitlementItem;
use super::erasure::HolderFields;
use super::keys::{self, Key};
use super::{
    failed, from_item, n, s, to_item, unbuildable, DynamoStore, Item, Transacted, Transaction,
};
use crate::domain::activation::{
    ActivationRecord, ActivationStore, ApproveOutcome, Decision, RecordOutcome, Refusal, ReturnCode,
};
use crate::domain::ids::{ActivationId, ItemId, MetaTag};
use crate::domain::store::StoreError;

/// An activation's one decision: `ACTIVATION#<id>` / `ACTIVATION`, found by user through
/// `gsi1` (`USER#<token>` / `ACTIVATION#<decidedAt>#<id>`, gone once the user is erased).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ActivationItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    activation_id: ActivationId,
    /// Who asked; by hash once erased.
    #[serde(flatten)]
    holder: HolderFields,
    item_id: ItemId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    meta_tag: Option<MetaTag>,
    /// As answered to Gigastore.
    decision: ReturnCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Refusal>,
    #[serde(with = "crate::domain::clock::stored")]
    decided_at: OffsetDateTime,
}

impl ActivationItem {
    /// Reads a stored decision. A refusal stored without a reason reads as "no entitlement":
    /// never approve by accident.
    pub(super) fn read(item: Item) -> Result<ActivationRecord, StoreError> {
        let stored: Self = from_item(item)?;
        let holder = stored.holder.read()?;
        let decision = match stored.decision {
            ReturnCode::Success => Decision::Approved,
            ReturnCode::Fail => Decision::Refused(stored.reason.unwrap_or(Refusal::NoEntitlement)),
        };
        Ok(ActivationRecord {
            activation_id: stored.activation_id,
            holder,
            item: stored.item_id,
            meta_tag: stored.meta_tag,
            decision,
            decided_at: stored.decided_at,
        })
    }
}

impl From<&ActivationRecord> for ActivationItem {
    fn from(r: &ActivationRecord) -> Self {
        let id = &r.activation_id;
        let Key { pk, sk } = keys::activation(id);
        let by_user = r
            .holder
            .user_token()
            .map(|user| keys::activation_by_user(user, r.decided_at, id));
        let (gsi1pk, gsi1sk) = by_user.map(|k| (k.pk, k.sk)).unzip();
        Self {
            pk,
            sk,
            gsi1pk,
            gsi1sk,
            activation_id: id.clone(),
            holder: HolderFields::of(&r.holder),
            item_id: r.item.clone(),
            meta_tag: r.meta_tag.clone(),
            decision: r.decision.return_code(),
            reason: r.decision.refusal(),
            decided_at: r.decided_at,
        }
    }
}

/// Write names in the approving transaction.
const RECORD: &str = "activation record";
const CONSUME: &str = "entitlement";

impl DynamoStore {
    /// The activation a failed condition reported, from the item DynamoDB returned or, if it
    /// returned none, read back.
    async fn decided(
        &self,
        returned: Option<&Item>,
        id: &ActivationId,
    ) -> Result<ActivationRecord, StoreError> {
        let existing = match returned {
            Some(item) => Some(ActivationItem::read(item.clone())?),
            None => self.activation(id).await?,
        };
        existing.ok_or(StoreError::Inconsistent(
            "activation record reported but not found",
        ))
    }
}

impl ActivationStore for DynamoStore {
    async fn approve(&self, approval: &ActivationRecord) -> Result<ApproveOutcome, StoreError> {
        let unbuildable = |e| unbuildable("DynamoDB TransactWriteItems", e);
        let user = approval
            .holder
            .user_token()
            .ok_or(StoreError::Inconsistent(
                "approving an activation for an erased user",
            ))?;
        let record = Put::builder()
            .table_name(self.table())
            .set_item(Some(to_item(&ActivationItem::from(approval))?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(unbuildable)?;
        let consume = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::entitlement(user, &approval.item).attributes()))
            .update_expression("SET units_used = units_used + :one, updated_at = :now")
            .condition_expression(
                "units_used < units_granted AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(crate::domain::clock::format(approval.decided_at)))
            .expression_attribute_values(":epoch", n(approval.decided_at.unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(unbuildable)?;
        let writes = Transaction::default()
            .put(RECORD, record)
            .update(CONSUME, consume);
        let cancelled = match self.transact(writes).await? {
            Transacted::Committed => return Ok(ApproveOutcome::Approved),
            Transacted::ConditionFailed(cancelled) => cancelled,
        };
        if cancelled.failed(RECORD) {
            let existing = self
                .decided(cancelled.item(RECORD), &approval.activation_id)
                .await?;
            return Ok(ApproveOutcome::AlreadyDecided(existing));
        }
        let entitlement = cancelled
            .item(CONSUME)
            .cloned()
            .map(EntitlementItem::read)
            .transpose()?;
        Ok(ApproveOutcome::NotEntitled(entitlement))
    }

    async fn record(&self, refusal: &ActivationRecord) -> Result<RecordOutcome, StoreError> {
        let result = self
            .put(to_item(&ActivationItem::from(refusal))?)
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(exists)) => self
                    .decided(exists.item(), &refusal.activation_id)
                    .await
                    .map(RecordOutcome::AlreadyDecided),
                _ => Err(failed("DynamoDB PutItem", e)),
            },
        }
    }

    async fn activation(&self, id: &ActivationId) -> Result<Option<ActivationRecord>, StoreError> {
        let out = self
            .get(keys::activation(id).attributes())
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?;
        out.item.map(ActivationItem::read).transpose()
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::domain::erasure::Holder;
    use crate::domain::ids::UserToken;

    #[test]
    fn activation_records_round_trip_through_items() {
        let record = ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            holder: Holder::User(UserToken::parse("u1").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Refused(Refusal::Expired),
            decided_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let item = to_item(&ActivationItem::from(&record)).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("ACTIVATION#a1".into()));
        assert_eq!(item["gsi1pk"], AttributeValue::S("USER#u1".into()));
        assert_eq!(
            item["gsi1sk"],
            AttributeValue::S("ACTIVATION#2023-11-14T22:13:20.000Z#a1".into())
        );
        assert_eq!(item["decision"], AttributeValue::S("FAIL".into()));
        assert_eq!(item["reason"], AttributeValue::S("expired".into()));
        assert_eq!(
            item["decided_at"],
            AttributeValue::S("2023-11-14T22:13:20.000Z".into())
        );
        assert!(!item.contains_key("meta_tag"));
        assert_eq!(ActivationItem::read(item).unwrap(), record);
    }

    #[test]
    fn decisions_written_with_variable_fractions_still_read() {
        let mut item = to_item(&ActivationItem::from(&ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            holder: Holder::User(UserToken::parse("u1").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Approved,
            decided_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        }))
        .unwrap();
        item.insert(
            "decided_at".into(),
            AttributeValue::S("2023-11-14T22:13:20.12Z".into()),
        );
        let read = ActivationItem::read(item).unwrap();
        assert_eq!(read.decided_at.millisecond(), 120);
        assert_eq!(read.decision, Decision::Approved);
    }
}
