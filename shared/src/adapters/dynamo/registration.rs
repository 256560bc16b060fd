//! User profiles and Customer Registrations: the customer id on the profile, or kept unclaimed;
//! and the items that keep them.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{self, Key};
use super::{failed, from_item, s, to_item, DynamoStore, Item};
use crate::domain::ids::{CustomerUid, UserToken};
use crate::domain::registration::{
    CustomerRegistration, ProfileRecord, Registered, RegistrationStore, UnclaimedRegistration,
};
use crate::domain::store::StoreError;

/// Only the user an item names: what a lookup by customer id reads of a profile or an
/// unclaimed registration.
#[derive(Debug, Deserialize)]
pub(super) struct UserOnly {
    /// The user.
    pub(super) user_token: UserToken,
}

/// A user's profile: `USER#<token>` / `PROFILE`; written by grants and registrations, found by
/// customer id through `gsi1` (`CUSTOMER#<uid>` / `PROFILE`) once registered.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ProfileItem {
    pk: String,
    sk: String,
    user_token: UserToken,
    /// The user's email, if a grant gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<String>,
    /// Gigastore's customer id, once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) customer_uid: Option<CustomerUid>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    customer_registered_at: Option<OffsetDateTime>,
}

impl ProfileItem {
    /// Reads what a stored profile says about the customer id; the email stays behind.
    pub(super) fn read(item: Item) -> Result<ProfileRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(ProfileRecord {
            user_token: stored.user_token,
            customer_uid: stored.customer_uid,
            customer_registered_at: stored.customer_registered_at,
        })
    }
}

/// A Customer Registration for a user we did not know: `USER#<token>` /
/// `UNCLAIMED_CUSTOMER#<uid>`, found by customer id through `gsi1`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UnclaimedRegistrationItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    user_token: UserToken,
    /// Gigastore's customer id.
    pub(super) customer_uid: CustomerUid,
    #[serde(with = "crate::domain::clock::stored")]
    received_at: OffsetDateTime,
}

impl UnclaimedRegistrationItem {
    /// Reads a stored unclaimed registration.
    pub(super) fn read(item: Item) -> Result<UnclaimedRegistration, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(UnclaimedRegistration {
            user_token: stored.user_token,
            customer_uid: stored.customer_uid,
            received_at: stored.received_at,
        })
    }

    /// The item keeping `r`, received at `now`.
    fn new(r: &CustomerRegistration, now: OffsetDateTime) -> Self {
        let Key { pk, sk } = keys::unclaimed(&r.user_token, &r.customer_uid);
        let by_customer = keys::unclaimed_by_customer(&r.customer_uid, &r.user_token);
        Self {
            pk,
            sk,
            gsi1pk: by_customer.pk,
            gsi1sk: by_customer.sk,
            user_token: r.user_token.clone(),
            customer_uid: r.customer_uid.clone(),
            received_at: now,
        }
    }
}

impl RegistrationStore for DynamoStore {
    async fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<Option<Registered>, StoreError> {
        let by_customer = keys::profile_by_customer(&registration.customer_uid);
        let result = self
            .update(keys::profile(&registration.user_token).attributes())
            .update_expression(
                "SET customer_uid = :uid, customer_registered_at = :now, updated_at = :now, gsi1pk = :customer, gsi1sk = :profile",
            )
            // A registration older than the one on file (a late replay) changes nothing.
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(customer_registered_at) OR customer_registered_at <= :now)",
            )
            .expression_attribute_values(":uid", s(registration.customer_uid.as_str()))
            .expression_attribute_values(":now", s(crate::domain::clock::format(now)))
            .expression_attribute_values(":customer", s(by_customer.pk))
            .expression_attribute_values(":profile", s(by_customer.sk))
            // The old profile carries the email (unchanged here) and any earlier customer id.
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let (old, current): (ProfileItem, bool) = match result {
            Ok(out) => (from_item(out.attributes.unwrap_or_default())?, true),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(newer) => (from_item(newer.clone())?, false),
                        None => return Ok(None),
                    }
                }
                _ => return Err(super::failed("DynamoDB UpdateItem", e)),
            },
        };
        // Only when the profile did not hold this id already: a redelivery is one request.
        let newly_held = current && old.customer_uid.as_ref() != Some(&registration.customer_uid);
        let replaced = old
            .customer_uid
            .filter(|previous| current && *previous != registration.customer_uid);
        let moved_from = match newly_held {
            true => self.link_customer(registration, now).await?,
            false => None,
        };
        Ok(Some(Registered::KnownUser {
            email: old.email,
            replaced,
            moved_from,
        }))
    }

    async fn keep_unclaimed(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let item = UnclaimedRegistrationItem::new(registration, now);
        self.put(to_item(&item)?)
            .send()
            .await
            .map_err(|e| failed("DynamoDB PutItem", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// Makes the registration's user the one user its customer id names: the link item
    /// (`CUSTOMER#<uid>` / `LINK`) names the user it was registered to last, and a profile
    /// that held the id before loses it. Returns that other user, if any.
    async fn link_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<Option<UserToken>, StoreError> {
        let (user, uid) = (&registration.user_token, &registration.customer_uid);
        let result = self
            .update(keys::customer_link(uid).attributes())
            .update_expression("SET user_token = :user, linked_at = :now")
            // An older registration (a late replay) never takes the id from a newer one.
            .condition_expression("attribute_not_exists(linked_at) OR linked_at <= :now")
            .expression_attribute_values(":user", s(user.as_str()))
            .expression_attribute_values(":now", s(crate::domain::clock::format(now)))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let holder = |item: Option<Item>| -> Result<Option<UserToken>, StoreError> {
            let item = item.filter(|i| !i.is_empty());
            let holder = item.map(from_item::<UserOnly>).transpose()?;
            Ok(holder.map(|h| h.user_token).filter(|h| h != user))
        };
        match result {
            Ok(out) => {
                let Some(before) = holder(out.attributes)? else {
                    return Ok(None);
                };
                self.unlink_customer(&before, uid).await?;
                Ok(Some(before))
            }
            Err(e) => match e.as_service_error() {
                // Registered to another user later: this profile does not keep it.
                Some(UpdateItemError::ConditionalCheckFailedException(newer)) => {
                    if holder(newer.item().cloned())?.is_some() {
                        self.unlink_customer(user, uid).await?;
                    }
                    Ok(None)
                }
                _ => Err(failed("DynamoDB UpdateItem", e)),
            },
        }
    }

    /// Takes customer id `uid` off `user`'s profile, if the profile still holds it.
    async fn unlink_customer(&self, user: &UserToken, uid: &CustomerUid) -> Result<(), StoreError> {
        let result = self
            .update(keys::profile(user).attributes())
            .update_expression("REMOVE customer_uid, customer_registered_at, gsi1pk, gsi1sk")
            .condition_expression("customer_uid = :uid")
            .expression_attribute_values(":uid", s(uid.as_str()))
            .send()
            .await;
        // The condition failing means the profile no longer holds it: nothing to take off.
        super::unless_condition_failed("DynamoDB UpdateItem", result)?;
        Ok(())
    }
}
