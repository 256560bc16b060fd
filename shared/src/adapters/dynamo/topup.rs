//! Top-ups: the part of a purchase item that keeps one (its terms, state, attempts and version),
//! the sparse index `gsi2` that finds the due ones, and their conditional moves.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{self, GSI2};
use super::purchase::PurchaseItem;
use super::{failed, n, query_all, s, to_item, DynamoStore, Item};
use crate::domain::gigastore::{ActivatedItemId, ActivationMode, Price};
use crate::domain::ids::{CustomerUid, PurchaseId};
use crate::domain::store::StoreError;
use crate::domain::topup::{Attempt, Call, TopUp, TopUpJob, TopUpState, TopUpStore};

/// A top-up's attributes on its purchase item; all absent on a purchase of units.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct TopUpFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_uid: Option<CustomerUid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activation_mode: Option<ActivationMode>,
    /// `pending`, `in_flight`, `unknown`, `completed`, `failed`, `cancelled`,
    /// `refund_pending`, `refunded` or `refund_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topup_state: Option<String>,
    /// The call an `in_flight` or `unknown` top-up is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topup_call: Option<Call>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    lease_until: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    unknown_since: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topup_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activated_item: Option<ActivatedItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<Attempt>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topup_version: Option<u32>,
    /// In `gsi2` while due: `TOPUP` / `<dueAt>#<purchaseId>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
}

/// Every attribute [`TopUpFields`] may write: a move sets those it has and removes the rest.
const FIELDS: [&str; 13] = [
    "customer_uid",
    "expected_price",
    "activation_mode",
    "topup_state",
    "topup_call",
    "lease_until",
    "unknown_since",
    "topup_reason",
    "activated_item",
    "attempts",
    "topup_version",
    "gsi2pk",
    "gsi2sk",
];

impl TopUpFields {
    /// The attributes of purchase `id`'s `top_up`.
    pub(super) fn of(id: &PurchaseId, top_up: &TopUp) -> Self {
        let (state, call, lease_until, unknown_since, reason) = match &top_up.state {
            TopUpState::Pending => ("pending", None, None, None, None),
            TopUpState::InFlight {
                call,
                lease_until,
                unknown_since,
            } => (
                "in_flight",
                Some(*call),
                Some(*lease_until),
                *unknown_since,
                None,
            ),
            TopUpState::Unknown { call, since } => {
                ("unknown", Some(*call), None, Some(*since), None)
            }
            TopUpState::Completed => ("completed", None, None, None, None),
            TopUpState::Failed { reason } => ("failed", None, None, None, Some(reason.clone())),
            TopUpState::Cancelled => ("cancelled", None, None, None, None),
            TopUpState::RefundPending => ("refund_pending", None, None, None, None),
            TopUpState::Refunded => ("refunded", None, None, None, None),
            TopUpState::RefundFailed { reason } => {
                ("refund_failed", None, None, None, Some(reason.clone()))
            }
        };
        let due = top_up.due_at().map(|at| keys::due_top_up(at, id));
        let (gsi2pk, gsi2sk) = due.map(|k| (k.pk, k.sk)).unzip();
        Self {
            customer_uid: Some(top_up.customer_uid.clone()),
            expected_price: top_up.expected_price.clone(),
            activation_mode: top_up.activation_mode,
            topup_state: Some(state.to_owned()),
            topup_call: call,
            lease_until,
            unknown_since,
            topup_reason: reason,
            activated_item: top_up.activated_item.clone(),
            attempts: Some(top_up.attempts.clone()),
            topup_version: Some(top_up.version),
            gsi2pk,
            gsi2sk,
        }
    }

    /// The top-up these attributes keep; `None` on a purchase of units.
    pub(super) fn read(self) -> Result<Option<TopUp>, StoreError> {
        let Some(state) = self.topup_state else {
            return Ok(None);
        };
        let missing = |what| StoreError::malformed(format!("a {state} top-up without {what}"));
        let state = match state.as_str() {
            "pending" => TopUpState::Pending,
            "in_flight" => TopUpState::InFlight {
                call: self.topup_call.ok_or_else(|| missing("its call"))?,
                lease_until: self.lease_until.ok_or_else(|| missing("its lease"))?,
                unknown_since: self.unknown_since,
            },
            "unknown" => TopUpState::Unknown {
                call: self.topup_call.ok_or_else(|| missing("its call"))?,
                since: self.unknown_since.ok_or_else(|| missing("its time"))?,
            },
            "completed" => TopUpState::Completed,
            "failed" => TopUpState::Failed {
                reason: self.topup_reason.unwrap_or_default(),
            },
            "cancelled" => TopUpState::Cancelled,
            "refund_pending" => TopUpState::RefundPending,
            "refunded" => TopUpState::Refunded,
            "refund_failed" => TopUpState::RefundFailed {
                reason: self.topup_reason.unwrap_or_default(),
            },
            other => {
                return Err(StoreError::malformed(format!(
                    "unknown top-up state {other:?}"
                )))
            }
        };
        Ok(Some(TopUp {
            customer_uid: self.customer_uid.ok_or_else(|| missing("its customer"))?,
            expected_price: self.expected_price,
            activation_mode: self.activation_mode,
            state,
            activated_item: self.activated_item,
            attempts: self.attempts.unwrap_or_default(),
            version: self.topup_version.unwrap_or(0),
        }))
    }
}

impl TopUpStore for DynamoStore {
    async fn due_top_ups(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<TopUpJob>, StoreError> {
        let due = keys::due_top_ups_until(now);
        let found = query_all(
            self.query()
                .index_name(GSI2)
                .key_condition_expression("gsi2pk = :pk AND gsi2sk <= :until")
                .expression_attribute_values(":pk", s(due.pk))
                .expression_attribute_values(":until", s(due.sk))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX)),
        )
        .await?;
        let mut jobs = Vec::new();
        for item in found.into_iter().take(limit) {
            jobs.extend(job(PurchaseItem::read(item)?));
        }
        Ok(jobs)
    }

    async fn top_up(&self, id: &PurchaseId) -> Result<Option<TopUpJob>, StoreError> {
        let found = self
            .get(keys::purchase(id).attributes())
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?
            .item;
        Ok(match found {
            Some(item) => job(PurchaseItem::read(item)?),
            None => None,
        })
    }

    async fn move_top_up(
        &self,
        id: &PurchaseId,
        from: u32,
        to: &TopUp,
    ) -> Result<bool, StoreError> {
        let set: Item = to_item(&TopUpFields::of(id, to))?;
        let mut names = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        for (i, field) in FIELDS.iter().enumerate() {
            names.insert(format!("#f{i}"), (*field).to_owned());
            match set.get(*field) {
                Some(value) => {
                    sets.push(format!("#f{i} = :f{i}"));
                    values.insert(format!(":f{i}"), value.clone());
                }
                None => removes.push(format!("#f{i}")),
            }
        }
        values.insert(":from".into(), n(from));
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let result = self
            .update(keys::purchase(id).attributes())
            .update_expression(expression)
            .condition_expression("topup_version = :from")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(super::unless_condition_failed("DynamoDB UpdateItem", result)?.is_some())
    }
}

/// The top-up job of a purchase, if it is a top-up.
fn job(purchase: crate::domain::purchase::Purchase) -> Option<TopUpJob> {
    let top_up = purchase.top_up?;
    Some(TopUpJob {
        purchase_id: purchase.purchase_id,
        item: purchase.item,
        granted_at: purchase.granted_at,
        top_up: *top_up,
    })
}
