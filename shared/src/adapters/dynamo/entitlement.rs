//! Entitlements and grants: one transaction per grant, marked once per purchase; and the items
//! that keep an entitlement and a granted purchase.

use aws_sdk_dynamodb::types::{Put, ReturnValue, ReturnValuesOnConditionCheckFailure, Update};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{self, Key};
use super::{
    failed, from_item, n, s, to_item, unbuildable, DynamoStore, Item, Transacted, Transaction,
};
use crate::domain::entitlement::{Entitlement, EntitlementStore, Grant, GrantWrite, Purchase};
use crate::domain::ids::{ItemId, PurchaseId, UserToken};
use crate::domain::store::StoreError;

/// Units of one item a user may activate: `USER#<token>` / `ENT#<item>`; only ever updated
/// (concurrent activations use it), so this type only reads it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EntitlementItem {
    pk: String,
    sk: String,
    user_token: UserToken,
    item_id: ItemId,
    units_granted: u32,
    units_used: u32,
    /// Unix seconds, so a condition expression can compare it with a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    revoked_at: Option<OffsetDateTime>,
}

impl EntitlementItem {
    /// Reads a stored entitlement.
    pub(super) fn read(item: Item) -> Result<Entitlement, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(Entitlement {
            user_token: stored.user_token,
            item: stored.item_id,
            units_granted: stored.units_granted,
            units_used: stored.units_used,
            expires_at: stored
                .expires_at
                .map(OffsetDateTime::from_unix_timestamp)
                .transpose()
                .map_err(StoreError::malformed)?,
            revoked_at: stored.revoked_at,
        })
    }
}

/// Marks a purchase as granted, so a retried grant adds nothing: `PURCHASE#<id>` / `PURCHASE`.
#[derive(Debug, Serialize, Deserialize)]
struct PurchaseItem {
    pk: String,
    sk: String,
    purchase_id: PurchaseId,
    user_token: UserToken,
    item_id: ItemId,
    quantity: u32,
    #[serde(with = "crate::domain::clock::stored")]
    granted_at: OffsetDateTime,
}

impl PurchaseItem {
    /// The marker of `purchase`, granted at `now`.
    fn new(purchase: Purchase, now: OffsetDateTime) -> Self {
        let Key { pk, sk } = keys::purchase(&purchase.purchase_id);
        Self {
            pk,
            sk,
            purchase_id: purchase.purchase_id,
            user_token: purchase.user_token,
            item_id: purchase.item,
            quantity: purchase.quantity,
            granted_at: now,
        }
    }

    /// What the stored marker paid for.
    fn read(item: Item) -> Result<Purchase, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(Purchase {
            purchase_id: stored.purchase_id,
            user_token: stored.user_token,
            item: stored.item_id,
            quantity: stored.quantity,
        })
    }
}

/// Write names in the grant's transaction.
const PROFILE: &str = "profile";
const ENTITLEMENT: &str = "entitlement";
const PURCHASE: &str = "purchase";

impl EntitlementStore for DynamoStore {
    async fn apply_grant(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
    ) -> Result<GrantWrite, StoreError> {
        // Most grants find the entitlement live or new: one request. One that finds it expired
        // renews it, its leftovers forfeited: they never come back with the new units.
        for renewal in [false, true] {
            let writes = self.grant_writes(grant, now, renewal)?;
            let cancelled = match self.transact(writes).await? {
                Transacted::Committed => return Ok(GrantWrite::Applied),
                Transacted::ConditionFailed(cancelled) => cancelled,
            };
            if let Some(marker) = cancelled.item(PURCHASE) {
                return Ok(GrantWrite::PurchaseSeen(PurchaseItem::read(
                    marker.clone(),
                )?));
            }
            if !cancelled.failed(ENTITLEMENT) {
                break;
            }
        }
        Err(StoreError::Inconsistent("grant cancelled without a reason"))
    }

    async fn entitlement(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> Result<Option<Entitlement>, StoreError> {
        self.get(keys::entitlement(user, item).attributes())
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?
            .item
            .map(EntitlementItem::read)
            .transpose()
    }

    async fn revoke(
        &self,
        user: &UserToken,
        item: &ItemId,
        now: OffsetDateTime,
    ) -> Result<Option<Entitlement>, StoreError> {
        let result = self
            .update(keys::entitlement(user, item).attributes())
            .update_expression(
                "SET units_granted = units_used, revoked_at = :now, updated_at = :now",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(crate::domain::clock::format(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        super::unless_condition_failed(result)?
            .map(|out| EntitlementItem::read(out.attributes.unwrap_or_default()))
            .transpose()
    }
}

impl DynamoStore {
    /// The grant's transaction: the profile, the entitlement (live or new; or, for a
    /// `renewal`, expired) and the purchase marker.
    fn grant_writes(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
        renewal: bool,
    ) -> Result<Transaction, StoreError> {
        let unbuildable = |e| unbuildable("DynamoDB TransactWriteItems", e);
        let stamp = crate::domain::clock::format(now);

        let mut profile_set = String::from(
            "SET user_token = :user, created_at = if_not_exists(created_at, :now), updated_at = :now",
        );
        let mut profile = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::profile(&grant.user_token).attributes()))
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
            .table_name(self.table())
            .set_key(Some(
                keys::entitlement(&grant.user_token, &grant.item).attributes(),
            ))
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
        // A new purchase lifts an earlier revocation. A live entitlement keeps what is left; a
        // renewed one (expired) keeps only what was used, and the grant's expiry or none.
        let entitlement =
            entitlement.expression_attribute_values(":epoch", n(now.unix_timestamp()));
        let entitlement = match renewal {
            false => entitlement
                .condition_expression("attribute_not_exists(expires_at) OR expires_at > :epoch")
                .update_expression(format!(
                    "{entitlement_set} ADD units_granted :quantity REMOVE revoked_at"
                )),
            true => {
                let expiry = match grant.expires_at {
                    Some(_) => "REMOVE revoked_at",
                    None => "REMOVE revoked_at, expires_at",
                };
                entitlement
                    .condition_expression("expires_at <= :epoch")
                    .update_expression(format!(
                        "{entitlement_set}, units_granted = units_used + :quantity {expiry}"
                    ))
            }
        };

        let profile = profile.update_expression(profile_set);
        let mut writes = Transaction::default()
            .update(PROFILE, profile.build().map_err(unbuildable)?)
            .update(ENTITLEMENT, entitlement.build().map_err(unbuildable)?);
        if let Some(purchase_id) = &grant.purchase_id {
            let marker = PurchaseItem::new(
                Purchase {
                    purchase_id: purchase_id.clone(),
                    user_token: grant.user_token.clone(),
                    item: grant.item.clone(),
                    quantity: grant.quantity.get(),
                },
                now,
            );
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(to_item(&marker)?))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(unbuildable)?;
            writes = writes.put(PURCHASE, put);
        }
        Ok(writes)
    }
}
