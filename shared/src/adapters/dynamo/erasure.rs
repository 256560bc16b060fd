//! Erasure: find everything that names a user (its partition, and its entries in `gsi1`),
//! delete what goes, rewrite what stays under the user's hash, then record the erasure.
//!
//! One request per item, each conditional on still naming the user, so a repeat after a
//! failure part way finishes the job and never touches what another user holds.

use serde::{Deserialize, Serialize};

use super::keys::{self, Key, Kind, GSI1};
use super::{query_all, s, to_item, DynamoStore, Item};
use crate::domain::erasure::{Erasure, ErasureRecord, ErasureStore, Holder, UserHash, UserRecords};
use crate::domain::ids::{ActivationId, CustomerUid, ItemId, PurchaseId, UserToken};
use crate::domain::store::StoreError;

/// Who a kept record names: `user_token`, replaced by `user_hash` when the user is erased
/// (`pseudonymize`). Flattened into the activation and purchase items.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct HolderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_token: Option<UserToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_hash: Option<UserHash>,
}

impl HolderFields {
    /// The attributes that name `holder`.
    pub(super) fn of(holder: &Holder) -> Self {
        match holder {
            Holder::User(user) => Self {
                user_token: Some(user.clone()),
                user_hash: None,
            },
            Holder::Erased(hash) => Self {
                user_token: None,
                user_hash: Some(hash.clone()),
            },
        }
    }

    /// The holder they name: exactly one of the two.
    pub(super) fn read(self) -> Result<Holder, StoreError> {
        match (self.user_token, self.user_hash) {
            (Some(user), None) => Ok(Holder::User(user)),
            (None, Some(hash)) => Ok(Holder::Erased(hash)),
            _ => Err(StoreError::malformed(
                "a kept record names its user by token or by hash",
            )),
        }
    }
}

/// That a user was erased: `ERASED#<userHash>` / `ERASURE#<erasedAt>`, written once per
/// erasure that found something; the `user.erased` event.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ErasureItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    erasure: ErasureCounts,
}

/// What an erasure record keeps: counts and times, never the user.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ErasureCounts {
    pub(super) user_hash: UserHash,
    #[serde(with = "crate::domain::clock::stored")]
    pub(super) erased_at: time::OffsetDateTime,
    pub(super) profiles: usize,
    pub(super) entitlements: usize,
    pub(super) unclaimed_registrations: usize,
    pub(super) activations: usize,
    pub(super) purchases: usize,
}

/// The attributes of a user's items that erasure needs.
#[derive(Debug, Deserialize)]
struct Found {
    #[serde(default)]
    customer_uid: Option<CustomerUid>,
    #[serde(default)]
    item_id: Option<ItemId>,
    #[serde(default)]
    activation_id: Option<ActivationId>,
    #[serde(default)]
    purchase_id: Option<PurchaseId>,
}

impl ErasureStore for DynamoStore {
    async fn user_records(&self, user: &UserToken) -> Result<UserRecords, StoreError> {
        let owned = self.query().key_condition_expression("pk = :pk");
        let indexed = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk");
        let pk = s(keys::user_pk(user));
        let (owned, indexed) = tokio::join!(
            query_all(
                owned
                    .expression_attribute_values(":pk", pk.clone())
                    .consistent_read(true)
            ),
            query_all(indexed.expression_attribute_values(":pk", pk)),
        );
        let mut found = UserRecords::default();
        for item in owned?.into_iter().chain(indexed?) {
            let kind = keys::kind(&item);
            let ids: Found = super::from_item(item)?;
            match (kind, ids) {
                (Some(Kind::Profile), ids) => found.profile = Some(ids.customer_uid),
                (
                    Some(Kind::Entitlement),
                    Found {
                        item_id: Some(item),
                        ..
                    },
                ) => found.entitlements.push(item),
                (
                    Some(Kind::UnclaimedRegistration),
                    Found {
                        customer_uid: Some(uid),
                        ..
                    },
                ) => found.unclaimed.push(uid),
                (
                    Some(Kind::Activation),
                    Found {
                        activation_id: Some(id),
                        ..
                    },
                ) => found.activations.push(id),
                (
                    Some(Kind::Purchase),
                    Found {
                        purchase_id: Some(id),
                        ..
                    },
                ) => found.purchases.push(id),
                (Some(_) | None, _) => {
                    return Err(StoreError::malformed(
                        "an item in a user's partition that erasure does not know",
                    ))
                }
            }
        }
        Ok(found)
    }

    async fn erase(
        &self,
        user: &UserToken,
        found: &UserRecords,
        erasure: &Erasure,
    ) -> Result<(), StoreError> {
        let hash = &erasure.user_hash;
        if let Some(customer) = found.profile.as_ref() {
            if let Some(customer) = customer {
                // The link names the user only while no other user has taken the id since.
                self.delete_naming(keys::customer_link(customer), user)
                    .await?;
            }
            self.delete_naming(keys::profile(user), user).await?;
        }
        for item in &found.entitlements {
            self.delete_naming(keys::entitlement(user, item), user)
                .await?;
        }
        for customer in &found.unclaimed {
            self.delete_naming(keys::unclaimed(user, customer), user)
                .await?;
        }
        for id in &found.activations {
            self.pseudonymize(keys::activation(id), user, hash).await?;
        }
        for id in &found.purchases {
            self.pseudonymize(keys::purchase(id), user, hash).await?;
        }
        let erased_at = erasure
            .erased_at
            .ok_or(StoreError::Inconsistent("an erasure without a time"))?;
        let Key { pk, sk } = keys::erasure(hash, erased_at);
        let record = ErasureItem {
            pk,
            sk,
            erasure: ErasureCounts {
                user_hash: hash.clone(),
                erased_at,
                profiles: erasure.profiles,
                entitlements: erasure.entitlements,
                unclaimed_registrations: erasure.unclaimed_registrations,
                activations: erasure.activations,
                purchases: erasure.purchases,
            },
        };
        self.put_new(to_item(&record)?).await?;
        Ok(())
    }
}

impl DynamoStore {
    /// Deletes the item at `key` if it still names `user`.
    async fn delete_naming(&self, key: Key, user: &UserToken) -> Result<(), StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key.attributes()))
            .condition_expression("user_token = :user")
            .expression_attribute_values(":user", s(user.as_str()))
            .send()
            .await;
        super::unless_condition_failed("DynamoDB DeleteItem", result)?;
        Ok(())
    }

    /// Replaces `user` by `hash` in the item at `key`, and takes it out of the user's `gsi1`
    /// partition; an item that no longer names the user is left alone.
    async fn pseudonymize(
        &self,
        key: Key,
        user: &UserToken,
        hash: &UserHash,
    ) -> Result<(), StoreError> {
        let result = self
            .update(key.attributes())
            .update_expression("SET user_hash = :hash REMOVE user_token, gsi1pk, gsi1sk")
            .condition_expression("user_token = :user")
            .expression_attribute_values(":user", s(user.as_str()))
            .expression_attribute_values(":hash", s(hash.as_str()))
            .send()
            .await;
        super::unless_condition_failed("DynamoDB UpdateItem", result)?;
        Ok(())
    }
}

/// Reads an erasure record (for the event publisher).
pub(super) fn read_erasure(item: Item) -> Result<ErasureRecord, StoreError> {
    let stored: ErasureItem = super::from_item(item)?;
    let ErasureCounts {
        user_hash,
        erased_at,
        profiles,
        entitlements,
        unclaimed_registrations,
        activations,
        purchases,
    } = stored.erasure;
    Ok(ErasureRecord {
        user_hash,
        erased_at,
        profiles,
        entitlements,
        unclaimed_registrations,
        activations,
        purchases,
    })
}
