//! The read models operators see, assembled from queries.

use super::activation::ActivationItem;
use super::balance::{BalanceActivationItem, BalanceAlertItem};
use super::country::CountryItem;
use super::entitlement::EntitlementItem;
use super::esim::EsimItem;
use super::keys::{self, Kind, GSI1};
use super::registration::{ProfileItem, UnclaimedRegistrationItem, UserOnly};
use super::{failed, from_item, query_all, s, DynamoStore};
use crate::domain::balance::BalanceAlertRecord;
use crate::domain::ids::Iccid;
use crate::domain::ids::{CustomerUid, UserToken};
use crate::domain::store::StoreError;
use crate::domain::views::{ActivationView, BalanceView, EsimHistory, ReadModels, UserSummary};

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
                .expression_attribute_values(":pk", s(keys::customer_pk(customer)))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(false)
                .consistent_read(true)
        };
        let latest = by_customer(keys::BALANCE_ALERT_SK_PREFIX).limit(1).send();
        let activations = query_all(by_customer(keys::BALANCE_ACTIVATION_SK_PREFIX));
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
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .consistent_read(true),
        )
        .await?;
        let activations = query_all(
            self.query()
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .expression_attribute_values(":prefix", s(keys::ACTIVATION_PREFIX))
                .scan_index_forward(false),
        )
        .await?;

        let (mut profile, mut entitlements, mut unclaimed) = (None, Vec::new(), Vec::new());
        for item in owned {
            match keys::kind(&item) {
                Some(Kind::Profile) => {
                    let stored: ProfileItem = from_item(item)?;
                    profile = Some((stored.email, stored.customer_uid));
                }
                Some(Kind::Entitlement) => entitlements.push(EntitlementItem::read(item)?),
                Some(Kind::UnclaimedRegistration) => {
                    let stored: UnclaimedRegistrationItem = from_item(item)?;
                    unclaimed.push(stored.customer_uid);
                }
                _ => {}
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
                .expression_attribute_values(":customer", s(keys::customer_pk(customer))),
        )
        .await?;
        // A registered profile wins over unclaimed registrations.
        found.sort_by_key(|item| keys::text(item, keys::GSI1SK) != Some(keys::PROFILE_SK));
        let user = found
            .into_iter()
            .next()
            .map(from_item::<UserOnly>)
            .transpose()?;
        Ok(user.map(|u| u.user_token))
    }

    async fn esim_history(&self, iccid: &Iccid) -> Result<Option<EsimHistory>, StoreError> {
        let found = query_all(
            self.query()
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(keys::esim_pk(iccid)))
                .scan_index_forward(false)
                .consistent_read(true),
        )
        .await?;
        let (mut current, mut history) = (None, Vec::new());
        let (mut country, mut country_history) = (None, Vec::new());
        // Read in descending key order, so each history comes newest first.
        for item in found {
            match keys::kind(&item) {
                Some(Kind::EsimCurrent) => current = Some(EsimItem::read(item)?),
                Some(Kind::EsimHistory) => history.push(EsimItem::read(item)?),
                Some(Kind::CountryCurrent) => country = Some(CountryItem::read(item)?),
                Some(Kind::CountryHistory) => country_history.push(CountryItem::read(item)?),
                _ => {}
            }
        }
        Ok(EsimHistory::of(current, history, country, country_history))
    }
}
