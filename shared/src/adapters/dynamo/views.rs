//! The read models operators see, assembled from queries.

use super::items::{
    self, ActivationItem, BalanceActivationItem, BalanceAlertItem, CountryItem, EntitlementItem,
    EsimItem, ProfileItem, UnclaimedRegistrationItem, ACTIVATION_SK_PREFIX,
    BALANCE_ACTIVATION_SK_PREFIX, BALANCE_ALERT_SK_PREFIX, COUNTRY_HISTORY_SK_PREFIX, COUNTRY_SK,
    ENTITLEMENT_SK_PREFIX, ESIM_CURRENT_SK, ESIM_HISTORY_SK_PREFIX, PROFILE_SK,
    UNCLAIMED_SK_PREFIX,
};
use super::{failed, query_all, s, DynamoStore, GSI1};
use crate::domain::balance::BalanceAlertRecord;
use crate::domain::ids::Iccid;
use crate::domain::ids::{CustomerUid, UserToken};
use crate::domain::store::StoreError;
use crate::domain::views::{ActivationView, BalanceView, EsimHistory, ReadModels, UserSummary};

/// The sort key of an item, or "" if it has none.
fn sort_key(item: &items::Item) -> &str {
    item.get("sk")
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

impl DynamoStore {
    /// The Balance Alert with the newest `timestamp` of `customer`, and the balances that
    /// started running, newest first.
    async fn balances(
        &self,
        customer: &CustomerUid,
    ) -> Result<(Option<BalanceAlertRecord>, Vec<BalanceView>), StoreError> {
        let by_customer = |prefix: &str| {
            self.query()
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(items::customer_pk(customer)))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(false)
                .consistent_read(true)
        };
        let latest = by_customer(BALANCE_ALERT_SK_PREFIX).limit(1).send();
        let activations = query_all(by_customer(BALANCE_ACTIVATION_SK_PREFIX));
        let (latest, activations) = tokio::join!(latest, activations);
        let latest = latest.map_err(|e| failed("DynamoDB Query", e))?;
        let latest = latest.items().first().cloned();
        let balances = activations?
            .into_iter()
            .map(|item| BalanceActivationItem::read(item).map(BalanceView::from))
            .collect::<Result<_, _>>()?;
        Ok((latest.map(BalanceAlertItem::read).transpose()?, balances))
    }
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
        let customer = profile.as_ref().and_then(|(_, uid)| uid.clone());
        let summary = UserSummary::new(user.clone(), profile, entitlements, activations, unclaimed);
        match customer {
            Some(customer) => {
                let (latest, balances) = self.balances(&customer).await?;
                Ok(summary.with_balances(latest, balances))
            }
            None => Ok(summary),
        }
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
            .map(items::from_item::<items::UserOnly>)
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
        let (mut current, mut history) = (None, Vec::new());
        let (mut country, mut country_history) = (None, Vec::new());
        // Read in descending key order, so each history comes newest first.
        for item in found {
            let sk = sort_key(&item);
            if sk == ESIM_CURRENT_SK {
                current = Some(EsimItem::read(item)?);
            } else if sk.starts_with(ESIM_HISTORY_SK_PREFIX) {
                history.push(EsimItem::read(item)?);
            } else if sk == COUNTRY_SK {
                country = Some(CountryItem::read(item)?);
            } else if sk.starts_with(COUNTRY_HISTORY_SK_PREFIX) {
                country_history.push(CountryItem::read(item)?);
            }
        }
        Ok(EsimHistory::of(current, history, country, country_history))
    }
}
