//! Customer registrations in the table.

use aws_sdk_dynamodb::types::ReturnValue;
use time::OffsetDateTime;

use super::dynamo::{query_all, request_error, s, unless_condition_failed};
use super::items::{self, ProfileItem, UnclaimedRegistrationItem};
use super::{RegistrationStore, StoreError};
use crate::ids::{CustomerUid, UserToken};
use crate::registration::{CustomerRegistration, Registered};
use crate::store::DynamoStore;

impl RegistrationStore for DynamoStore {
    async fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<Option<Registered>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(items::user_pk(&registration.user_token), items::PROFILE_SK)))
            .update_expression(
                "SET customer_uid = :uid, customer_registered_at = :now, updated_at = :now, gsi1pk = :customer, gsi1sk = :profile",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":uid", s(registration.customer_uid.as_str()))
            .expression_attribute_values(":now", s(items::timestamp(now)))
            .expression_attribute_values(":customer", s(items::customer_pk(&registration.customer_uid)))
            .expression_attribute_values(":profile", s(items::PROFILE_SK))
            // The old profile carries the email (unchanged here) and any earlier customer id.
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(out) = unless_condition_failed(result)? else {
            return Ok(None);
        };
        let old: ProfileItem = items::from_item(out.attributes.unwrap_or_default())?;
        let replaced = old
            .customer_uid
            .filter(|previous| previous != registration.customer_uid.as_str());
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
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::to_item(&item)?))
            .send()
            .await
            .map_err(|e| request_error("PutItem", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// The user a Gigastore customer id belongs to, registered or unclaimed.
    pub async fn user_for_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let mut found = query_all(
            self.query()
                .index_name(super::dynamo::GSI1)
                .key_condition_expression("gsi1pk = :customer")
                .expression_attribute_values(":customer", s(items::customer_pk(customer))),
        )
        .await?;
        // A registered profile wins over unclaimed registrations.
        found.sort_by_key(|item| item.get("gsi1sk") != Some(&s(items::PROFILE_SK)));
        let user = found
            .into_iter()
            .next()
            .map(items::from_item::<ProfileItem>)
            .transpose()?;
        Ok(user.map(|profile| profile.user_token))
    }
}
