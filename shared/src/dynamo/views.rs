//! The read models operators see, assembled from queries.

use super::items::{
    self, ActivationItem, EntitlementItem, EsimItem, ProfileItem, UnclaimedRegistrationItem,
    ACTIVATION_SK_PREFIX, ENTITLEMENT_SK_PREFIX, ESIM_CURRENT_SK, PROFILE_SK, UNCLAIMED_SK_PREFIX,
};
use super::{query_all, s, DynamoStore, GSI1};
use crate::esim::Iccid;
use crate::ids::{CustomerUid, UserToken};
use crate::store::StoreError;
use crate::views::{ActivationView, EsimHistory, ReadModels, UserSummary};

/// The sort key of an item, or "" if it has none.
fn sort_key(item: &items::Item) -> &str {
    item.get("sk")
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

impl ReadModels for DynamoStore {
    async fn user_summary(&self, user: &UserToken) -> Result<UserSummary, StoreError> {
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
                .expression_attribute_values(":prefix", s(ACTIVATION_SK_PREFIX))
                .scan_index_forward(false),
        )
        .await?;

        let (mut profile, mut entitlements, mut unclaimed) = (None, Vec::new(), Vec::new());
        for item in owned {
            let sk = sort_key(&item);
            if sk == PROFILE_SK {
                let stored: ProfileItem = items::from_item(item)?;
                profile = Some((stored.email, stored.customer_uid));
            } else if sk.starts_with(ENTITLEMENT_SK_PREFIX) {
                entitlements.push(EntitlementItem::read(item)?);
            } else if sk.starts_with(UNCLAIMED_SK_PREFIX) {
                let stored: UnclaimedRegistrationItem = items::from_item(item)?;
                unclaimed.push(stored.customer_uid);
            }
        }
        let activations = activations
            .into_iter()
            .map(|item| ActivationItem::read(item).map(ActivationView::from))
            .collect::<Result<_, _>>()?;
        Ok(UserSummary::new(
            user.clone(),
            profile,
            entitlements,
            activations,
            unclaimed,
        ))
    }

    async fn user_for_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let mut found = query_all(
            self.query()
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :customer")
                .expression_attribute_values(":customer", s(items::customer_pk(customer))),
        )
        .await?;
        // A registered profile wins over unclaimed registrations.
        found.sort_by_key(|item| item.get("gsi1sk") != Some(&s(PROFILE_SK)));
        let user = found
            .into_iter()
            .next()
            .map(items::from_item::<UserOnly>)
            .transpose()?;
        Ok(user.map(|u| u.user_token))
    }

    async fn esim_history(&self, iccid: &Iccid) -> Result<Option<EsimHistory>, StoreError> {
        let found = query_all(
            self.query()
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(items::esim_pk(iccid)))
                .scan_index_forward(false)
                .consistent_read(true),
        )
        .await?;
        let mut current = None;
        let mut history = Vec::new();
        for item in found {
            let is_current = sort_key(&item) == ESIM_CURRENT_SK;
            let record = EsimItem::read(item)?;
            if is_current {
                current = Some(record);
            } else {
                history.push(record);
            }
        }
        Ok(current.map(|current| EsimHistory { current, history }))
    }
}

/// The user an item found by customer id belongs to (a profile or an unclaimed registration).
#[derive(serde::Deserialize)]
struct UserOnly {
    user_token: UserToken,
}
