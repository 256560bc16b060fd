//! Purchases: a grant is one transaction (profile, entitlement, purchase record), once per
//! purchase id; a refund is one transaction (the refund on the purchase, the units off the
//! entitlement); and the item that keeps a purchase.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, Update,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::erasure::HolderFields;
use super::keys::{self, Key, GSI1};
use super::topup::TopUpFields;
use super::{
    failed, from_item, n, query_all, s, to_item, unbuildable, Cancelled, DynamoStore, Item,
    Transacted, Transaction,
};
use crate::domain::ids::{CustomerUid, ItemId, PurchaseId, RefundReason, UserToken};
use crate::domain::purchase::{
    Delivery, Grant, GrantWrite, Purchase, PurchaseStore, Refund, RefundWrite,
};
use crate::domain::store::StoreError;

/// A purchase: `PURCHASE#<id>` / `PURCHASE`, found by user and item through `gsi1`
/// (`USER#<token>` / `PURCHASE#<item>#<grantedAt>#<id>`, gone once the user is erased).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PurchaseItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    purchase_id: PurchaseId,
    /// The buyer; by hash once erased.
    #[serde(flatten)]
    holder: HolderFields,
    item_id: ItemId,
    quantity: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    expires_at: Option<OffsetDateTime>,
    /// Purchases recorded before deliveries were named were all delivered by the SDK.
    #[serde(default)]
    delivery: Delivery,
    #[serde(with = "crate::domain::clock::stored")]
    granted_at: OffsetDateTime,
    /// The refund, once refunded: `refunded_at` says it was.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    refunded_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_units: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_used: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_void: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_reason: Option<RefundReason>,
    /// A top-up's terms and state.
    #[serde(flatten)]
    top_up: TopUpFields,
}

impl PurchaseItem {
    /// The item that records `purchase`, a new purchase by `user`.
    fn new(purchase: &Purchase, user: &UserToken) -> Self {
        let purchase = purchase.clone();
        let Key { pk, sk } = keys::purchase(&purchase.purchase_id);
        let by_user = keys::purchase_by_user(
            user,
            &purchase.item,
            purchase.granted_at,
            &purchase.purchase_id,
        );
        let top_up = match &purchase.top_up {
            Some(top_up) => TopUpFields::of(&purchase.purchase_id, top_up),
            None => TopUpFields::default(),
        };
        Self {
            pk,
            sk,
            gsi1pk: Some(by_user.pk),
            gsi1sk: Some(by_user.sk),
            purchase_id: purchase.purchase_id,
            holder: HolderFields::of(&purchase.holder),
            item_id: purchase.item,
            quantity: purchase.quantity,
            expires_at: purchase.expires_at,
            delivery: purchase.delivery,
            granted_at: purchase.granted_at,
            refunded_at: None,
            refund_units: None,
            refund_used: None,
            refund_void: None,
            refund_reason: None,
            top_up,
        }
    }

    /// Reads a stored purchase.
    pub(super) fn read(item: Item) -> Result<Purchase, StoreError> {
        let stored: Self = from_item(item)?;
        let holder = stored.holder.read()?;
        let refund = stored.refunded_at.map(|refunded_at| Refund {
            units_refunded: stored.refund_units.unwrap_or(0),
            units_used: stored.refund_used.unwrap_or(0),
            units_void: stored.refund_void.unwrap_or(0),
            reason: stored.refund_reason,
            refunded_at,
        });
        Ok(Purchase {
            purchase_id: stored.purchase_id,
            holder,
            item: stored.item_id,
            quantity: stored.quantity,
            expires_at: stored.expires_at,
            delivery: stored.delivery,
            granted_at: stored.granted_at,
            refund,
            top_up: stored.top_up.read()?.map(Box::new),
        })
    }
}

/// The purchase a cancelled transaction's purchase write found (`ALL_OLD`), if it found one.
fn seen(cancelled: &Cancelled) -> Result<Option<Purchase>, StoreError> {
    let stored = cancelled.item(PURCHASE).cloned();
    stored.map(PurchaseItem::read).transpose()
}

/// Write names in the grant's and the refund's transactions.
const PROFILE: &str = "profile";
const ENTITLEMENT: &str = "entitlement";
const PURCHASE: &str = "purchase";

impl PurchaseStore for DynamoStore {
    async fn apply_grant(
        &self,
        grant: &Grant,
        record: &Purchase,
    ) -> Result<GrantWrite, StoreError> {
        let now = record.granted_at;
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(to_item(&PurchaseItem::new(
                record,
                &grant.user_token,
            ))?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| unbuildable("DynamoDB TransactWriteItems", e))?;
        if let Some(top_up) = &record.top_up {
            return self.grant_top_up(grant, &top_up.customer_uid, put).await;
        }
        // Most grants find the entitlement live or new: one request. One that finds it expired
        // renews it, its leftovers forfeited: they never come back with the new units. A
        // renewal that finds another grant renewed it first adds to the live one.
        for renewal in [false, true, false] {
            let writes = self.grant_writes(grant, now, renewal, put.clone())?;
            let cancelled = match self.transact(writes).await? {
                Transacted::Committed => return Ok(GrantWrite::Applied),
                Transacted::ConditionFailed(cancelled) => cancelled,
            };
            if let Some(stored) = seen(&cancelled)? {
                return Ok(GrantWrite::PurchaseSeen(stored));
            }
            if !cancelled.failed(ENTITLEMENT) {
                break;
            }
        }
        Err(StoreError::Inconsistent("grant cancelled without a reason"))
    }

    async fn customer_of(&self, user: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        let profile = self
            .get(keys::profile(user).attributes())
            .projection_expression("customer_uid")
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?
            .item;
        let customer = profile.and_then(|mut p| p.remove("customer_uid"));
        match customer {
            Some(AttributeValue::S(uid)) => CustomerUid::parse(&uid)
                .map(Some)
                .map_err(StoreError::malformed),
            Some(_) => Err(StoreError::malformed("a customer id that is not a string")),
            None => Ok(None),
        }
    }

    async fn purchase(&self, id: &PurchaseId) -> Result<Option<Purchase>, StoreError> {
        self.get(keys::purchase(id).attributes())
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?
            .item
            .map(PurchaseItem::read)
            .transpose()
    }

    async fn purchases_of(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> Result<Vec<Purchase>, StoreError> {
        let found = query_all(
            self.query()
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .expression_attribute_values(":prefix", s(keys::purchases_of(item))),
        )
        .await?;
        let purchases = found
            .into_iter()
            .map(PurchaseItem::read)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(purchases.into_iter().filter(|p| p.item == *item).collect())
    }

    async fn apply_refund(
        &self,
        purchase: &Purchase,
        refund: &Refund,
        units_granted: u32,
    ) -> Result<RefundWrite, StoreError> {
        let unbuildable = |e| unbuildable("DynamoDB TransactWriteItems", e);
        let mut record = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::purchase(&purchase.purchase_id).attributes()))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(refunded_at)")
            .expression_attribute_values(":at", s(crate::domain::clock::format(refund.refunded_at)))
            .expression_attribute_values(":units", n(refund.units_refunded))
            .expression_attribute_values(":used", n(refund.units_used))
            .expression_attribute_values(":void", n(refund.units_void))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut set = String::from(
            "SET refunded_at = :at, refund_units = :units, refund_used = :used, refund_void = :void",
        );
        if let Some(reason) = &refund.reason {
            set.push_str(", refund_reason = :reason");
            record = record.expression_attribute_values(":reason", s(reason.as_str()));
        }
        let mut writes = Transaction::default().update(
            PURCHASE,
            record.update_expression(set).build().map_err(unbuildable)?,
        );
        if let Some((user, remaining)) = refund.taking(purchase, units_granted)? {
            // Only if nothing was granted, refunded or revoked since the read, and the units
            // are still unused: an activation since then leaves them so, or fails this.
            let take = Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::entitlement(user, &purchase.item).attributes()))
                .update_expression("SET units_granted = :remaining, updated_at = :at")
                .condition_expression("units_granted = :granted AND units_used <= :remaining")
                .expression_attribute_values(":granted", n(units_granted))
                .expression_attribute_values(":remaining", n(remaining))
                .expression_attribute_values(
                    ":at",
                    s(crate::domain::clock::format(refund.refunded_at)),
                )
                .build()
                .map_err(unbuildable)?;
            writes = writes.update(ENTITLEMENT, take);
        }
        let cancelled = match self.transact(writes).await? {
            Transacted::Committed => return Ok(RefundWrite::Applied),
            Transacted::ConditionFailed(cancelled) => cancelled,
        };
        if cancelled.failed(PURCHASE) {
            return match seen(&cancelled)? {
                Some(stored) => Ok(RefundWrite::AlreadyRefunded(stored)),
                None => Err(StoreError::Inconsistent("refunding a purchase not stored")),
            };
        }
        Ok(RefundWrite::EntitlementChanged)
    }
}

impl DynamoStore {
    /// The grant's transaction: the profile, the entitlement (live or new; or, for a
    /// `renewal`, expired) and the purchase.
    /// A top-up's grant: the purchase, if the user still has the customer id it is for. No
    /// units: Gigastore delivers a top-up.
    async fn grant_top_up(
        &self,
        grant: &Grant,
        customer: &CustomerUid,
        put: Put,
    ) -> Result<GrantWrite, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(keys::profile(&grant.user_token).attributes()))
            .condition_expression("customer_uid = :customer")
            .expression_attribute_values(":customer", s(customer.as_str()))
            .build()
            .map_err(|e| unbuildable("DynamoDB TransactWriteItems", e))?;
        let writes = Transaction::default()
            .check(PROFILE, check)
            .put(PURCHASE, put);
        let cancelled = match self.transact(writes).await? {
            Transacted::Committed => return Ok(GrantWrite::Applied),
            Transacted::ConditionFailed(cancelled) => cancelled,
        };
        if let Some(stored) = seen(&cancelled)? {
            return Ok(GrantWrite::PurchaseSeen(stored));
        }
        Ok(GrantWrite::CustomerChanged)
    }

    fn grant_writes(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
        renewal: bool,
        record: Put,
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
        // renewed one (expired) keeps only what was used, and the grant's expiry or none, and
        // notes the reset that purchases' usage is reckoned from.
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
                        "{entitlement_set}, units_granted = units_used + :quantity, reset_at = :now, reset_used = units_used {expiry}"
                    ))
            }
        };

        let profile = profile.update_expression(profile_set);
        Ok(Transaction::default()
            .update(PROFILE, profile.build().map_err(unbuildable)?)
            .update(ENTITLEMENT, entitlement.build().map_err(unbuildable)?)
            .put(PURCHASE, record))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::domain::payload::FromBody;

    #[test]
    fn purchases_round_trip_through_items() {
        let grant = Grant::from_body(
            br#"{"purchaseId":"p1","userToken":"u1","inventoryItemId":"1_GB","quantity":2,"expiresAt":"2027-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let record = Purchase::granted(&grant, now, None);
        let item = to_item(&PurchaseItem::new(&record, &grant.user_token)).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("PURCHASE#p1".into()));
        assert_eq!(item["gsi1pk"], AttributeValue::S("USER#u1".into()));
        assert_eq!(
            item["gsi1sk"],
            AttributeValue::S("PURCHASE#1_GB#2023-11-14T22:13:20.000Z#p1".into())
        );
        assert_eq!(item["delivery"], AttributeValue::S("sdk".into()));
        assert!(!item.contains_key("refunded_at"));
        assert_eq!(PurchaseItem::read(item).unwrap(), record);
    }

    #[test]
    fn markers_written_before_purchases_were_kept_whole_still_read() {
        let mut item = Item::new();
        for (k, v) in [
            ("pk", "PURCHASE#p0"),
            ("sk", "PURCHASE"),
            ("purchase_id", "p0"),
            ("user_token", "u0"),
            ("item_id", "1_GB"),
            ("granted_at", "2025-01-01T00:00:00.000Z"),
        ] {
            item.insert(k.into(), AttributeValue::S(v.into()));
        }
        item.insert("quantity".into(), AttributeValue::N("3".into()));
        let read = PurchaseItem::read(item).unwrap();
        assert_eq!(
            (read.quantity, read.delivery, read.refund),
            (3, Delivery::Sdk, None)
        );
    }
}
