//! Activation decisions: approve (record + consume, one transaction), refuse, read back.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, Update};

use super::items::{ActivationItem, EntitlementItem, Item};
use super::{failed, n, s, unbuildable, DynamoStore, Transacted, Transaction};
use crate::domain::activation::{ActivationRecord, ActivationStore, ApproveOutcome, RecordOutcome};
use crate::domain::ids::ActivationId;
use crate::domain::store::StoreError;

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
        let record = Put::builder()
            .table_name(self.table())
            .set_item(Some(super::items::to_item(&ActivationItem::from(
                approval,
            ))?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(unbuildable)?;
        let consume = Update::builder()
            .table_name(self.table())
            .set_key(Some(EntitlementItem::key(&approval.user_token, &approval.item)))
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
            .put(super::items::to_item(&ActivationItem::from(refusal))?)
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
            .get(ActivationItem::key(id))
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?;
        out.item.map(ActivationItem::read).transpose()
    }
}
