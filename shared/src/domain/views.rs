//! Read models for operators: what the table holds about a user or an eSIM, and the port that
//! reads them.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::activation::{ActivationRecord, Refusal, ReturnCode};
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord};
use crate::domain::country::CountryChangeRecord;
use crate::domain::entitlement::Entitlement;
use crate::domain::esim::EsimStatusRecord;
use crate::domain::ids::Iccid;
use crate::domain::ids::{ActivationId, BalanceItemId, CustomerUid, ItemId, MetaTag, UserToken};
use crate::domain::store::StoreError;

/// One activation as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationView {
    /// Gigastore's activation id.
    pub activation_id: ActivationId,
    /// The item asked for.
    pub item: ItemId,
    /// The app's free text.
    pub meta_tag: Option<MetaTag>,
    /// `SUCCESS` or `FAIL`.
    pub decision: ReturnCode,
    /// Why it was refused.
    pub reason: Option<Refusal>,
    /// When it was decided.
    #[serde(with = "crate::domain::clock::stored")]
    pub decided_at: OffsetDateTime,
}

impl From<ActivationRecord> for ActivationView {
    fn from(r: ActivationRecord) -> Self {
        Self {
            activation_id: r.activation_id,
            item: r.item,
            meta_tag: r.meta_tag,
            decision: r.decision.return_code(),
            reason: r.decision.refusal(),
            decided_at: r.decided_at,
        }
    }
}

/// A data balance that started running, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    /// Gigastore's id of the balance.
    pub item: BalanceItemId,
    /// When it started.
    #[serde(with = "crate::domain::clock::stored")]
    pub activated_at: OffsetDateTime,
    /// When it stops being valid.
    #[serde(with = "crate::domain::clock::stored")]
    pub expires_at: OffsetDateTime,
}

impl From<BalanceActivationRecord> for BalanceView {
    fn from(r: BalanceActivationRecord) -> Self {
        Self {
            item: r.activation.activated_item,
            activated_at: r.activation.activated_at,
            expires_at: r.activation.expires_at,
        }
    }
}

/// Everything the table holds about one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    /// The user.
    pub user_token: UserToken,
    /// Whether the table holds anything about this user.
    #[serde(skip)]
    pub found: bool,
    /// The email on the profile.
    pub email: Option<String>,
    /// Gigastore's customer id, once registered.
    pub customer_uid: Option<CustomerUid>,
    /// Entitlements, by item.
    pub entitlements: Vec<Entitlement>,
    /// Activation decisions, newest first.
    pub activations: Vec<ActivationView>,
    /// Customer ids Gigastore registered while this user was unknown to us.
    pub unclaimed_customer_uids: Vec<CustomerUid>,
    /// The Balance Alert with the newest `timestamp` for the registered customer id.
    pub latest_balance_alert: Option<BalanceAlertRecord>,
    /// The balances that started running for the registered customer id, newest first.
    pub balances: Vec<BalanceView>,
}

impl UserSummary {
    /// What the table holds about `user_token`: its profile's email and customer id (`None` if
    /// it has no profile), entitlements, activations (newest first) and unclaimed registrations.
    pub fn new(
        user_token: UserToken,
        profile: Option<(Option<String>, Option<CustomerUid>)>,
        entitlements: Vec<Entitlement>,
        activations: Vec<ActivationView>,
        unclaimed_customer_uids: Vec<CustomerUid>,
    ) -> Self {
        let found = profile.is_some()
            || !entitlements.is_empty()
            || !activations.is_empty()
            || !unclaimed_customer_uids.is_empty();
        let (email, customer_uid) = profile.unwrap_or_default();
        Self {
            user_token,
            found,
            email,
            customer_uid,
            entitlements,
            activations,
            unclaimed_customer_uids,
            latest_balance_alert: None,
            balances: Vec::new(),
        }
    }

    /// The same summary with the balance facts of its customer id.
    pub fn with_balances(
        self,
        latest_balance_alert: Option<BalanceAlertRecord>,
        balances: Vec<BalanceView>,
    ) -> Self {
        Self {
            latest_balance_alert,
            balances,
            ..self
        }
    }
}

/// An eSIM's current state and country, and their histories, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EsimHistory {
    /// The latest status received; `None` while only country changes were.
    pub current: Option<EsimStatusRecord>,
    /// Every distinct status received, newest first.
    pub history: Vec<EsimStatusRecord>,
    /// The latest country change received.
    pub country: Option<CountryChangeRecord>,
    /// Every distinct country change received, newest first.
    pub country_history: Vec<CountryChangeRecord>,
}

impl EsimHistory {
    /// The eSIM's facts, or `None` if nothing was ever received for it.
    pub fn of(
        current: Option<EsimStatusRecord>,
        history: Vec<EsimStatusRecord>,
        country: Option<CountryChangeRecord>,
        country_history: Vec<CountryChangeRecord>,
    ) -> Option<Self> {
        (current.is_some() || country.is_some()).then_some(Self {
            current,
            history,
            country,
            country_history,
        })
    }
}

/// What operators read.
pub trait ReadModels: Send + Sync {
    /// Profile, entitlements, activations (newest first) and unclaimed registrations of a user,
    /// and the balance facts of its registered customer id.
    fn user_summary(
        &self,
        user: &UserToken,
    ) -> impl Future<Output = Result<UserSummary, StoreError>> + Send;

    /// The user a Gigastore customer id belongs to: a registered profile wins over unclaimed
    /// registrations.
    fn user_for_customer(
        &self,
        customer: &CustomerUid,
    ) -> impl Future<Output = Result<Option<UserToken>, StoreError>> + Send;

    /// An eSIM's current state and country, and their histories; `None` if nothing was ever
    /// received for it.
    fn esim_history(
        &self,
        iccid: &Iccid,
    ) -> impl Future<Output = Result<Option<EsimHistory>, StoreError>> + Send;
}
