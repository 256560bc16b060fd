//! The read models in memory, built from the same tables the ports write.

use crate::domain::activation::ActivationRecord;
use crate::domain::ids::Iccid;
use crate::domain::ids::{CustomerUid, UserToken};
use crate::domain::store::StoreError;
use crate::domain::views::{ActivationView, BalanceView, EsimHistory, ReadModels, UserSummary};

use super::{InMemoryStore, Timeline};

impl ReadModels for InMemoryStore {
    async fn user_summary(&self, user: &UserToken) -> Result<UserSummary, StoreError> {
        let t = self.tables();
        let profile = t
            .profiles
            .get(user)
            .map(|p| (p.email.clone(), p.customer_uid.clone()));
        let entitlements = t
            .entitlements
            .iter()
            .filter(|((owner, _), _)| owner == user)
            .map(|(_, e)| e.clone())
            .collect();
        let mut activations: Vec<&ActivationRecord> = t
            .activations
            .values()
            .filter(|a| a.holder.user_token() == Some(user))
            .collect();
        // Newest first, as the index's sort key (decision time, then id) orders them.
        activations.sort_by(|a, b| {
            (b.decided_at, &b.activation_id).cmp(&(a.decided_at, &a.activation_id))
        });
        let unclaimed = t
            .unclaimed
            .keys()
            .filter(|(owner, _)| owner == user)
            .map(|(_, customer)| customer.clone())
            .collect();
        let views = activations.into_iter().cloned().map(ActivationView::from);
        let customer = profile.as_ref().and_then(|(_, uid)| uid.clone());
        let summary = UserSummary::new(
            user.clone(),
            profile,
            entitlements,
            views.collect(),
            unclaimed,
        );
        let Some(customer) = customer else {
            return Ok(summary);
        };
        // Newest first, as the adapter's descending queries read them.
        let latest = t
            .balance_alerts
            .iter()
            .rfind(|((c, ..), _)| *c == customer)
            .map(|(_, a)| a.clone());
        let balances = t
            .balance_activations
            .iter()
            .rev()
            .filter(|((c, ..), _)| *c == customer)
            .map(|(_, a)| BalanceView::from(a.clone()))
            .collect();
        Ok(summary.with_balances(latest, balances))
    }

    async fn user_for_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let t = self.tables();
        let registered = t
            .profiles
            .iter()
            .find(|(_, p)| p.customer_uid.as_ref() == Some(customer))
            .map(|(user, _)| user.clone());
        let unclaimed = || {
            t.unclaimed
                .keys()
                .find(|(_, c)| c == customer)
                .map(|(user, _)| user.clone())
        };
        Ok(registered.or_else(unclaimed))
    }

    async fn esim_history(&self, iccid: &Iccid) -> Result<Option<EsimHistory>, StoreError> {
        let t = self.tables();
        let (current, history) = Timeline::view(t.esims.get(iccid));
        let (country, country_history) = Timeline::view(t.countries.get(iccid));
        Ok(EsimHistory::of(current, history, country, country_history))
    }
}
