//! The DynamoDB adapter: every request this backend makes to its table.

use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use time::OffsetDateTime;

use super::items::{self, ActivationItem, EntitlementItem, Item, ProfileItem};
use super::{ActivationStore, ApproveOutcome, RecordOutcome, StoreError};
use crate::activation::{ActivationRecord, Decision, Refusal};
use crate::entitlement::{Entitlement, Grant, GrantOutcome};
use crate::ids::{ActivationId, ItemId, MetaTag, UserToken};

/// Name of the index that finds a user's activations.
pub const GSI1: &str = "gsi1";

/// Attempts of one transaction when concurrent transactions on the same items conflict.
const TRANSACTION_ATTEMPTS: u32 = 4;

/// The entitlement table, reached through one SDK client built at init.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn request_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Request {
        operation,
        message: DisplayErrorContext(&err).to_string(),
    }
}

fn entitlement_from(item: Item) -> Result<Entitlement, StoreError> {
    let stored: EntitlementItem = items::from_item(item)?;
    Entitlement::try_from(stored).map_err(|e| StoreError::Malformed(serde::de::Error::custom(e)))
}

fn activation_from(item: Item) -> Result<ActivationRecord, StoreError> {
    Ok(items::from_item::<ActivationItem>(item)?.into())
}

pub(super) fn is_condition_failure(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

/// Every item a query finds, over all pages.
pub(super) async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| request_error("Query", e))
}

/// An `UpdateItem` whose condition failing means "no such item": `Ok(None)`.
pub(super) fn unless_condition_failed<R: std::fmt::Debug>(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, R>>,
) -> Result<Option<UpdateItemOutput>, StoreError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(request_error("UpdateItem", e)),
    }
}

impl DynamoStore {
    /// A store over `table`, using `client` for every request.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A query on this table.
    pub(super) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// The activation a failed condition reported, from the item DynamoDB returned or, if it
    /// returned none, read back.
    async fn decided(
        &self,
        returned: Option<&Item>,
        id: &ActivationId,
    ) -> Result<ActivationRecord, StoreError> {
        let existing = match returned {
            Some(item) => Some(activation_from(item.clone())?),
            None => self.activation(id).await?,
        };
        existing.ok_or(StoreError::Inconsistent(
            "activation record reported but not found",
        ))
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client, for table administration.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The recorded decision for an activation, if any (strongly consistent read).
    pub async fn activation(
        &self,
        id: &ActivationId,
    ) -> Result<Option<ActivationRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(
                items::activation_pk(id),
                items::ACTIVATION_SK,
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error("GetItem", e))?;
        out.item.map(activation_from).transpose()
    }

    /// Adds units to a user's entitlement, creating the user and entitlement if new, in one
    /// transaction; with a purchase id, at most once per purchase.
    pub async fn grant(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
    ) -> Result<GrantOutcome, StoreError> {
        let pk = items::user_pk(&grant.user_token);
        let entitlement_key = items::key(pk.clone(), &items::entitlement_sk(&grant.item));
        let stamp = items::timestamp(now);
        let build_error = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Request {
            operation: "TransactWriteItems",
            message: e.to_string(),
        };

        let mut profile_set = String::from(
            "SET user_token = :user, created_at = if_not_exists(created_at, :now), updated_at = :now",
        );
        let mut profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(pk, items::PROFILE_SK)))
            .expression_attribute_values(":user", s(grant.user_token.as_str()))
            .expression_attribute_values(":now", s(&stamp));
        if let Some(email) = &grant.email {
            profile_set.push_str(", email = :email");
            profile = profile.expression_attribute_values(":email", s(email.as_str()));
        }

        let mut entitlement_set = String::from(
            "SET user_token = :user, item_id = :item, units_used = if_not_exists(units_used, :zero), updated_at = :now",
        );
        let mut entitlement = Update::builder()
            .table_name(&self.table)
            .set_key(Some(entitlement_key.clone()))
            .expression_attribute_values(":user", s(grant.user_token.as_str()))
            .expression_attribute_values(":item", s(grant.item.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(&stamp))
            .expression_attribute_values(":quantity", n(grant.quantity.get()));
        if let Some(expires_at) = grant.expires_at {
            entitlement_set.push_str(", expires_at = :expires");
            entitlement =
                entitlement.expression_attribute_values(":expires", n(expires_at.unix_timestamp()));
        }
        // A new purchase lifts an earlier revocation.
        let entitlement = entitlement.update_expression(format!(
            "{entitlement_set} ADD units_granted :quantity REMOVE revoked_at"
        ));

        let mut writes = vec![
            TransactWriteItem::builder()
                .update(
                    profile
                        .update_expression(profile_set)
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
            TransactWriteItem::builder()
                .update(entitlement.build().map_err(build_error)?)
                .build(),
        ];
        if let Some(purchase_id) = &grant.purchase_id {
            let marker = items::PurchaseItem {
                pk: items::purchase_pk(purchase_id),
                sk: items::PURCHASE_SK.to_owned(),
                purchase_id: purchase_id.clone(),
                user_token: grant.user_token.clone(),
                item_id: grant.item.clone(),
                quantity: grant.quantity.get(),
                granted_at: stamp.clone(),
            };
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(items::to_item(&marker)?))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }

        let granted = match self.transact(writes).await? {
            Ok(()) => true,
            Err(reasons) => {
                let earlier = reasons.get(2).and_then(CancellationReason::item).cloned();
                let earlier: items::PurchaseItem = match earlier {
                    Some(item) => items::from_item(item)?,
                    None => {
                        return Err(StoreError::Inconsistent("grant cancelled without a reason"))
                    }
                };
                if earlier.user_token != grant.user_token || earlier.item_id != grant.item {
                    return Ok(GrantOutcome::PurchaseIdReused {
                        user_token: earlier.user_token,
                        item: earlier.item_id,
                    });
                }
                false
            }
        };
        let current = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(entitlement_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error("GetItem", e))?
            .item
            .ok_or(StoreError::Inconsistent("granted entitlement not found"))
            .and_then(entitlement_from)?;
        Ok(if granted {
            GrantOutcome::Granted(current)
        } else {
            GrantOutcome::AlreadyGranted(current)
        })
    }

    /// Removes every unit left of a user's entitlement; `None` if there is no such entitlement.
    pub async fn revoke(
        &self,
        user: &UserToken,
        item: &ItemId,
        now: OffsetDateTime,
    ) -> Result<Option<Entitlement>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(
                items::user_pk(user),
                &items::entitlement_sk(item),
            )))
            .update_expression(
                "SET units_granted = units_used, revoked_at = :now, updated_at = :now",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(items::timestamp(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        unless_condition_failed(result)?
            .map(|out| entitlement_from(out.attributes.unwrap_or_default()))
            .transpose()
    }

    /// Everything the table holds about one user: profile, entitlements, activations.
    pub async fn user_summary(&self, user: &UserToken) -> Result<UserSummary, StoreError> {
        let owned = query_all(
            self.query()
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(items::user_pk(user)))
                .consistent_read(true),
        )
        .await?;
        let activations = query_all(
            self.query()
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
                .expression_attribute_values(":pk", s(items::user_pk(user)))
                .expression_attribute_values(":prefix", s("ACTIVATION#"))
                .scan_index_forward(false),
        )
        .await?;

        let mut summary = UserSummary {
            user_token: user.clone(),
            found: false,
            email: None,
            customer_uid: None,
            entitlements: Vec::new(),
            activations: Vec::new(),
            unclaimed_customer_uids: Vec::new(),
        };
        for item in owned {
            let sk = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == items::PROFILE_SK {
                let profile: ProfileItem = items::from_item(item)?;
                summary.found = true;
                summary.email = profile.email;
                summary.customer_uid = profile.customer_uid;
            } else if sk.starts_with(items::ENTITLEMENT_SK_PREFIX) {
                summary.entitlements.push(entitlement_from(item)?);
            } else if sk.starts_with(items::UNCLAIMED_SK_PREFIX) {
                let unclaimed: items::UnclaimedRegistrationItem = items::from_item(item)?;
                summary
                    .unclaimed_customer_uids
                    .push(unclaimed.customer_uid.to_string());
            }
        }
        for item in activations {
            summary
                .activations
                .push(ActivationView::from(activation_from(item)?));
        }
        summary.found |= !summary.entitlements.is_empty()
            || !summary.activations.is_empty()
            || !summary.unclaimed_customer_uids.is_empty();
        Ok(summary)
    }

    /// Sends a transaction, retrying while concurrent transactions on the same items conflict.
    /// `Ok(Err(reasons))`: a condition failed; the reasons carry the items as they were.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<CancellationReason>>, StoreError> {
        let mut attempt = 1;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            {
                let reasons = cancelled.cancellation_reasons();
                if reasons.iter().any(is_condition_failure) {
                    return Ok(Err(reasons.to_vec()));
                }
                if reasons
                    .iter()
                    .any(|r| r.code() == Some("TransactionConflict"))
                {
                    if attempt == TRANSACTION_ATTEMPTS {
                        return Err(StoreError::Contention(attempt));
                    }
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                    attempt += 1;
                    continue;
                }
            }
            return Err(request_error("TransactWriteItems", err));
        }
    }
}

impl ActivationStore for DynamoStore {
    async fn approve(&self, approval: &ActivationRecord) -> Result<ApproveOutcome, StoreError> {
        let item = items::to_item(&ActivationItem::from(approval))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Request {
                operation: "TransactWriteItems",
                message: e.to_string(),
            })?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(
                items::user_pk(&approval.user_token),
                &items::entitlement_sk(&approval.item),
            )))
            .update_expression("SET units_used = units_used + :one, updated_at = :now")
            .condition_expression(
                "units_used < units_granted AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(items::timestamp(approval.decided_at)))
            .expression_attribute_values(":epoch", n(approval.decided_at.unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Request { operation: "TransactWriteItems", message: e.to_string() })?;

        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        let reasons = match self.transact(items).await? {
            Ok(()) => return Ok(ApproveOutcome::Approved),
            Err(reasons) => reasons,
        };
        match (reasons.first(), reasons.get(1)) {
            (Some(record), _) if is_condition_failure(record) => self
                .decided(record.item(), &approval.activation_id)
                .await
                .map(ApproveOutcome::AlreadyDecided),
            (_, Some(entitlement)) => {
                let current = entitlement
                    .item()
                    .cloned()
                    .map(entitlement_from)
                    .transpose()?;
                Ok(ApproveOutcome::NotEntitled(current))
            }
            _ => Err(StoreError::Inconsistent(
                "transaction cancelled without a reason",
            )),
        }
    }

    async fn record(&self, refusal: &ActivationRecord) -> Result<RecordOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::to_item(&ActivationItem::from(refusal))?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => self
                    .decided(failed.item(), &refusal.activation_id)
                    .await
                    .map(RecordOutcome::AlreadyDecided),
                _ => Err(request_error("PutItem", e)),
            },
        }
    }
}

/// One activation as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationView {
    /// Gigastore's activation id.
    pub activation_id: ActivationId,
    /// The item asked for.
    pub item: ItemId,
    /// The app's free text.
    pub meta_tag: Option<MetaTag>,
    /// `SUCCESS` or `FAIL`.
    pub decision: &'static str,
    /// Why it was refused.
    pub reason: Option<Refusal>,
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
}

impl From<ActivationRecord> for ActivationView {
    fn from(r: ActivationRecord) -> Self {
        let (decision, reason) = match r.decision {
            Decision::Approved => ("SUCCESS", None),
            Decision::Refused(why) => ("FAIL", Some(why)),
        };
        Self {
            activation_id: r.activation_id,
            item: r.item,
            meta_tag: r.meta_tag,
            decision,
            reason,
            decided_at: r.decided_at,
        }
    }
}

/// Everything the table holds about one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    /// The user.
    pub user_token: UserToken,
    /// Whether the table holds anything about this user.
    #[serde(skip)]
    pub found: bool,
    /// The email on the profile.
    pub email: Option<String>,
    /// Gigastore's customer id, once registered.
    pub customer_uid: Option<String>,
    /// Entitlements, by item.
    pub entitlements: Vec<Entitlement>,
    /// Activation decisions, newest first.
    pub activations: Vec<ActivationView>,
    /// Customer ids Gigastore registered while this user was unknown to us.
    pub unclaimed_customer_uids: Vec<String>,
}
