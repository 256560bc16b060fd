//! User profiles and Customer Registrations: the customer id on the profile, or kept unclaimed.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::items::{self, ProfileItem, UnclaimedRegistrationItem, PROFILE_SK};
use super::{failed, s, DynamoStore};
use crate::domain::registration::{CustomerRegistration, Registered, RegistrationStore};
use crate::domain::store::StoreError;

impl RegistrationStore for DynamoStore {
    async fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<Option<Registered>, StoreError> {
        let result = self
            .update(ProfileItem::key(&registration.user_token))
            .update_expression(
                "SET customer_uid = :uid, customer_registered_at = :now, updated_at = :now, gsi1pk = :customer, gsi1sk = :profile",
            )
            // A registration older than the one on file (a late replay) changes nothing.
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(customer_registered_at) OR customer_registered_at <= :now)",
            )
            .expression_attribute_values(":uid", s(registration.customer_uid.as_str()))
            .expression_attribute_values(":now", s(crate::domain::clock::format(now)))
            .expression_attribute_values(":customer", s(items::customer_pk(&registration.customer_uid)))
            .expression_attribute_values(":profile", s(PROFILE_SK))
            // The old profile carries the email (unchanged here) and any earlier customer id.
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let (old, current): (ProfileItem, bool) = match result {
            Ok(out) => (items::from_item(out.attributes.unwrap_or_default())?, true),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(newer) => (items::from_item(newer.clone())?, false),
                        None => return Ok(None),
                    }
                }
                _ => return Err(super::failed("DynamoDB UpdateItem", e)),
            },
        };
        let replaced = old
            .customer_uid
            .filter(|previous| current && *previous != registration.customer_uid);
        Ok(Some(Registered::KnownUser {
            email: old.email,
            replaced,
        }))
    }

    async fn keep_unclaimed(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let item = UnclaimedRegistrationItem::new(registration, now);
        self.put(items::to_item(&item)?)
            .send()
            .await
            .map_err(|e| failed("DynamoDB PutItem", e))?;
        Ok(())
    }
}
