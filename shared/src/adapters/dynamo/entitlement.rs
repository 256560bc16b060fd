//! Entitlements: reading and revoking them, and the item that keeps one (grants and refunds
//! write it in `purchase`'s transactions).

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys;
use super::{failed, from_item, s, DynamoStore, Item};
use crate::domain::entitlement::{Entitlement, EntitlementStore, Reset};
use crate::domain::ids::{ItemId, UserToken};
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
    /// The last reset (renewal or revocation), and `units_used` then.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    reset_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reset_used: Option<u32>,
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
            reset: stored.reset_at.map(|at| Reset {
                at,
                used: stored.reset_used.unwrap_or(0),
            }),
        })
    }
}

impl EntitlementStore for DynamoStore {
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
                "SET units_granted = units_used, revoked_at = :now, updated_at = :now, reset_at = :now, reset_used = units_used",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(crate::domain::clock::format(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        super::unless_condition_failed("DynamoDB UpdateItem", result)?
            .map(|out| EntitlementItem::read(out.attributes.unwrap_or_default()))
            .transpose()
    }
}
