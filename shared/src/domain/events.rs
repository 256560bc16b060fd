//! Domain events: what a reseller may act on, decided from what was stored, never from a request.
//!
//! A stored change (an item's old and new image, read into domain records by the adapter)
//! becomes at most one [`Fact`] ([`fact_of`]); the fact is completed with the ids storage knows
//! ([`enrich`], through the [`EventLookups`] port) into a [`DomainEvent`] carrying its
//! [`Origin`]: the change's id, for deduplication, and its sequence within its subject, for
//! ordering. A change that stored nothing new for a reseller (a redelivery, an entitlement's
//! units, a current-state copy, an erasure's rewrite of a kept record) gives no fact.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::activation::ActivationRecord;
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord};
use crate::domain::country::{Country, CountryChangeRecord};
use crate::domain::erasure::{ErasureRecord, Holder, UserHash};
use crate::domain::esim::EsimStatusRecord;
use crate::domain::gigastore::ActivatedItemId;
use crate::domain::ids::{
    ActivationId, BalanceItemId, CustomerUid, Eid, Iccid, Imsi, ItemId, MetaTag, PurchaseId,
    UserToken,
};
use crate::domain::purchase::{Delivery, Purchase, Refund};
use crate::domain::registration::{ProfileRecord, UnclaimedRegistration};
use crate::domain::store::StoreError;
use crate::domain::topup::TopUpState;

/// The source every event is published under.
pub const SOURCE: &str = "gigastore.reseller";

/// The kinds of event: one per kind of accepted webhook, and one per change through the
/// purchase API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    /// An Activation Request was decided (approved or refused).
    #[serde(rename = "activation.decided")]
    ActivationDecided,
    /// Gigastore told us its customer id for a user.
    #[serde(rename = "customer.registered")]
    CustomerRegistered,
    /// Gigastore reported an eSIM profile's state.
    #[serde(rename = "esim.status_changed")]
    EsimStatusChanged,
    /// A customer's data left crossed Gigastore's low-data threshold.
    #[serde(rename = "balance.low")]
    BalanceLow,
    /// A data balance started running (or its expiry changed).
    #[serde(rename = "balance.activated")]
    BalanceActivated,
    /// An eSIM attached to a network in another country.
    #[serde(rename = "esim.country_changed")]
    CountryChanged,
    /// A purchase was granted (its units added).
    #[serde(rename = "purchase.granted")]
    PurchaseGranted,
    /// A purchase was refunded (its unused units removed).
    #[serde(rename = "purchase.refunded")]
    PurchaseRefunded,
    /// A user was erased; named by its keyed hash only.
    #[serde(rename = "user.erased")]
    UserErased,
    /// Gigastore topped up a purchase's customer.
    #[serde(rename = "topup.completed")]
    TopUpCompleted,
    /// Gigastore refused a top-up for good (the reseller may refund its customer).
    #[serde(rename = "topup.failed")]
    TopUpFailed,
    /// A top-up was refunded by Gigastore, or cancelled before it was made.
    #[serde(rename = "topup.refunded")]
    TopUpRefunded,
}

impl EventType {
    /// Every event type, for documentation and tests.
    pub const ALL: [Self; 12] = [
        Self::ActivationDecided,
        Self::CustomerRegistered,
        Self::EsimStatusChanged,
        Self::BalanceLow,
        Self::BalanceActivated,
        Self::CountryChanged,
        Self::PurchaseGranted,
        Self::PurchaseRefunded,
        Self::UserErased,
        Self::TopUpCompleted,
        Self::TopUpFailed,
        Self::TopUpRefunded,
    ];

    /// The name consumers match on (EventBridge `detail-type`, the detail's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActivationDecided => "activation.decided",
            Self::CustomerRegistered => "customer.registered",
            Self::EsimStatusChanged => "esim.status_changed",
            Self::BalanceLow => "balance.low",
            Self::BalanceActivated => "balance.activated",
            Self::CountryChanged => "esim.country_changed",
            Self::PurchaseGranted => "purchase.granted",
            Self::PurchaseRefunded => "purchase.refunded",
            Self::UserErased => "user.erased",
            Self::TopUpCompleted => "topup.completed",
            Self::TopUpFailed => "topup.failed",
            Self::TopUpRefunded => "topup.refunded",
        }
    }
}

/// How an item changed, with its images read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Written where there was nothing.
    Inserted(T),
    /// Overwritten or updated: before and after.
    Modified {
        /// Before.
        old: T,
        /// After.
        new: T,
    },
    /// Deleted.
    Removed(T),
}

/// A change to an item of a kind events come from. Other items (entitlements, an eSIM's
/// current state, a customer link) are not listed: their changes never become events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredChange {
    /// An activation decision.
    Activation(Change<ActivationRecord>),
    /// A user profile.
    Profile(Change<ProfileRecord>),
    /// A registration for a user we did not know.
    UnclaimedRegistration(Change<UnclaimedRegistration>),
    /// An eSIM status history entry.
    EsimHistory(Change<EsimStatusRecord>),
    /// A balance alert.
    BalanceAlert(Change<BalanceAlertRecord>),
    /// A balance activation.
    BalanceActivation(Change<BalanceActivationRecord>),
    /// A country change history entry.
    CountryHistory(Change<CountryChangeRecord>),
    /// A purchase (granted, refunded, or its user erased).
    Purchase(Change<Purchase>),
    /// The record of an erasure.
    Erasure(Change<ErasureRecord>),
}

/// What an event says beyond its ids, by type; serialized as the event's `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Details {
    /// `activation.decided`.
    ActivationDecided(ActivationDetails),
    /// `customer.registered`.
    CustomerRegistered(RegistrationDetails),
    /// `esim.status_changed`.
    EsimStatusChanged(EsimStatusDetails),
    /// `balance.low`.
    BalanceLow(BalanceLowDetails),
    /// `balance.activated`.
    BalanceActivated(BalanceActivatedDetails),
    /// `esim.country_changed`.
    CountryChanged(CountryChangedDetails),
    /// `purchase.granted`.
    PurchaseGranted(PurchaseGrantedDetails),
    /// `purchase.refunded`.
    PurchaseRefunded(PurchaseRefundedDetails),
    /// `user.erased`.
    UserErased(UserErasedDetails),
    /// `topup.completed`, `topup.failed`, `topup.refunded`.
    TopUp(TopUpDetails),
}

/// Details of the `topup.*` events. The buyer is the event's `userToken` (or `userHash` here
/// once erased), the customer its `customerUid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUpDetails {
    /// The purchase system's id (Gigastore's `metatag`).
    pub purchase_id: PurchaseId,
    /// The buyer's keyed hash, once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_hash: Option<UserHash>,
    /// The package.
    pub inventory_item_id: ItemId,
    /// Gigastore's activated item, once topped up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_item: Option<ActivatedItemId>,
    /// `completed`, `failed`, `refunded` or `cancelled` (refunded before it was made).
    pub state: &'static str,
    /// Gigastore's reason, for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Calls made to Gigastore for it.
    pub attempts: usize,
}

/// Details of `activation.decided`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationDetails {
    /// Gigastore's activation id.
    pub activation_id: ActivationId,
    /// The inventory item.
    pub item_id: ItemId,
    /// `SUCCESS` or `FAIL`, as answered to Gigastore.
    pub decision: &'static str,
    /// Why it was refused (`no_entitlement`, `revoked`, `expired`, `no_units_left`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The app's free text, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_tag: Option<MetaTag>,
}

/// Details of `customer.registered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationDetails {
    /// Whether the user was ours (false: kept unclaimed for an operator).
    pub known_user: bool,
    /// The customer id the profile held before, when this one replaced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_customer_uid: Option<CustomerUid>,
}

/// Details of `esim.status_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EsimStatusDetails {
    /// The state as Gigastore sent it (`RELEASED`, `INSTALLED`, `DISABLED`, `ERROR`, or other).
    pub profile_state: String,
    /// The subscriber id.
    pub imsi: Imsi,
    /// The device's eUICC, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eid: Option<Eid>,
}

/// Details of `balance.low`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceLowDetails {
    /// Data left, in bytes: a JSON number, so rules can match it numerically.
    pub balance_bytes: u64,
    /// The subscriber id.
    pub imsi: Imsi,
}

/// Details of `balance.activated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceActivatedDetails {
    /// The balance that started.
    pub activated_item: BalanceItemId,
    /// When it started (also the event's time).
    #[serde(with = "crate::domain::clock::stored")]
    pub activated_at: OffsetDateTime,
    /// When it stops being valid.
    #[serde(with = "crate::domain::clock::stored")]
    pub expires_at: OffsetDateTime,
}

/// Details of `esim.country_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountryChangedDetails {
    /// Where the SIM was attached before; `null` on the first attach.
    pub previous_country: Option<Country>,
    /// Where it is attached now (ISO 3166-1 alpha-2).
    pub new_country: Country,
    /// The subscriber id.
    pub imsi: Imsi,
}

/// Details of `purchase.granted`. The buyer is the event's `userToken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseGrantedDetails {
    /// The purchase system's id.
    pub purchase_id: PurchaseId,
    /// The buyer's keyed hash, only when the purchase was stored for an erased user (the
    /// event's `userToken` is then null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_hash: Option<UserHash>,
    /// The item bought.
    pub inventory_item_id: ItemId,
    /// Units granted.
    pub quantity: u32,
    /// The expiry the grant set on the entitlement, if it set one.
    #[serde(
        with = "crate::domain::clock::stored::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// How its units reach the user (`sdk`).
    pub delivery: Delivery,
    /// When it was granted (also the event's time).
    #[serde(with = "crate::domain::clock::stored")]
    pub granted_at: OffsetDateTime,
}

/// Details of `purchase.refunded`. The buyer is the event's `userToken`, or `userHash` here
/// when the user was erased before the refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseRefundedDetails {
    /// The purchase system's id.
    pub purchase_id: PurchaseId,
    /// The buyer's keyed hash, only when the user was erased before the refund (the event's
    /// `userToken` is then null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_hash: Option<UserHash>,
    /// The item bought.
    pub inventory_item_id: ItemId,
    /// Units the purchase granted: `unitsRefunded + unitsUsed + unitsVoid`.
    pub quantity: u32,
    /// The refund as recorded: units refunded, used and void, the reason, when.
    #[serde(flatten)]
    pub refund: Refund,
}

/// Details of `user.erased`: the user by keyed hash only, never its token (the event's
/// `userToken`, `customerUid` and `iccid` are null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserErasedDetails {
    /// The erased user, as its kept records (activations, purchases) now name it.
    pub user_hash: UserHash,
    /// Profiles deleted (0 or 1), with the email and the customer link.
    pub profiles: usize,
    /// Entitlements deleted.
    pub entitlements: usize,
    /// Unclaimed registrations deleted.
    pub unclaimed_registrations: usize,
    /// Activation decisions kept, the user replaced by the hash.
    pub activations: usize,
    /// Purchases kept, the user replaced by the hash.
    pub purchases: usize,
    /// When (also the event's time).
    #[serde(with = "crate::domain::clock::stored")]
    pub erased_at: OffsetDateTime,
}

/// What one stored change tells a reseller, before the ids storage knows are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The kind of event.
    pub event_type: EventType,
    /// When it happened (decided, registered, received).
    pub time: OffsetDateTime,
    /// The user, when the change names them.
    pub user_token: Option<UserToken>,
    /// Gigastore's customer id, when the change names it.
    pub customer_uid: Option<CustomerUid>,
    /// The SIM, when the change names it.
    pub iccid: Option<Iccid>,
    /// The rest.
    pub details: Details,
}

/// The one event a stored change becomes, if any: only the first write of a fact counts, so a
/// redelivery (which writes nothing, or rewrites what was there) gives none.
pub fn fact_of(change: &StoredChange) -> Option<Fact> {
    match change {
        StoredChange::Activation(Change::Inserted(a)) => Some(activation_decided(a)),
        StoredChange::Profile(change) => customer_registered(change),
        StoredChange::UnclaimedRegistration(Change::Inserted(r)) => Some(Fact {
            event_type: EventType::CustomerRegistered,
            time: r.received_at,
            user_token: Some(r.user_token.clone()),
            customer_uid: Some(r.customer_uid.clone()),
            iccid: None,
            details: Details::CustomerRegistered(RegistrationDetails {
                known_user: false,
                replaced_customer_uid: None,
            }),
        }),
        StoredChange::EsimHistory(Change::Inserted(h)) => Some(Fact {
            event_type: EventType::EsimStatusChanged,
            time: h.received_at,
            user_token: None,
            customer_uid: None,
            iccid: Some(h.status.iccid.clone()),
            details: Details::EsimStatusChanged(EsimStatusDetails {
                profile_state: h.status.profile_state.as_str().to_owned(),
                imsi: h.status.imsi.clone(),
                eid: h.status.eid.clone(),
            }),
        }),
        StoredChange::BalanceAlert(Change::Inserted(a)) => Some(Fact {
            event_type: EventType::BalanceLow,
            // Gigastore's own time: when the threshold was crossed.
            time: a.alert.timestamp,
            user_token: None,
            customer_uid: Some(a.alert.customer_uid.clone()),
            iccid: Some(a.alert.iccid.clone()),
            details: Details::BalanceLow(BalanceLowDetails {
                balance_bytes: a.alert.balance_bytes,
                imsi: a.alert.imsi.clone(),
            }),
        }),
        StoredChange::BalanceActivation(change) => balance_activated(change),
        StoredChange::Purchase(change) => purchase_changed(change),
        StoredChange::Erasure(Change::Inserted(e)) => Some(user_erased(e)),
        StoredChange::CountryHistory(Change::Inserted(c)) => Some(Fact {
            event_type: EventType::CountryChanged,
            time: c.received_at,
            user_token: None,
            customer_uid: None,
            iccid: Some(c.change.iccid.clone()),
            details: Details::CountryChanged(CountryChangedDetails {
                previous_country: c.change.previous_country,
                new_country: c.change.new_country,
                imsi: c.change.imsi.clone(),
            }),
        }),
        // Decisions, alerts, history entries and erasure records are written once; an update
        // or a removal of one is an erasure's rewrite (a decision kept under the user's hash)
        // or deletion (an unclaimed registration), or an operator's repair: not a new fact.
        StoredChange::Activation(_)
        | StoredChange::UnclaimedRegistration(_)
        | StoredChange::EsimHistory(_)
        | StoredChange::BalanceAlert(_)
        | StoredChange::CountryHistory(_)
        | StoredChange::Erasure(_) => None,
    }
}

fn activation_decided(a: &ActivationRecord) -> Fact {
    Fact {
        event_type: EventType::ActivationDecided,
        time: a.decided_at,
        user_token: a.holder.user_token().cloned(),
        customer_uid: None,
        iccid: None,
        details: Details::ActivationDecided(ActivationDetails {
            activation_id: a.activation_id.clone(),
            item_id: a.item.clone(),
            decision: a.decision.return_code().as_str(),
            reason: a.decision.refusal().map(|r| r.code()),
            meta_tag: a.meta_tag.clone(),
        }),
    }
}

/// A balance activation is an event when first stored, and again only when a later delivery
/// changed its expiry (the one overwrite its store allows).
fn balance_activated(change: &Change<BalanceActivationRecord>) -> Option<Fact> {
    let record = match change {
        Change::Inserted(new) => new,
        Change::Modified { old, new } if old.activation.expires_at != new.activation.expires_at => {
            new
        }
        Change::Modified { .. } | Change::Removed(_) => return None,
    };
    let a = &record.activation;
    Some(Fact {
        event_type: EventType::BalanceActivated,
        time: a.activated_at,
        user_token: None,
        customer_uid: Some(a.customer_uid.clone()),
        iccid: None,
        details: Details::BalanceActivated(BalanceActivatedDetails {
            activated_item: a.activated_item.clone(),
            activated_at: a.activated_at,
            expires_at: a.expires_at,
        }),
    })
}

/// A purchase is an event when first stored (granted), and again when an update first records
/// its refund (refunded). Any other update (an erasure replacing the user by its hash, a
/// rewrite) or a removal is not a fact.
fn purchase_changed(change: &Change<Purchase>) -> Option<Fact> {
    match change {
        Change::Inserted(p) => Some(purchase_granted(p)),
        Change::Modified { old, new } => match (&old.refund, &new.refund) {
            (None, Some(_)) => purchase_refunded(new),
            _ => top_up_settled(old, new),
        },
        Change::Removed(_) => None,
    }
}

/// A top-up is an event when an update moves it into `completed`, `failed`, `refunded` or
/// `cancelled`; every other move (a claim, an unknown outcome, a refund made due) is not.
fn top_up_settled(old: &Purchase, new: &Purchase) -> Option<Fact> {
    let (before, after) = (old.top_up.as_deref()?, new.top_up.as_deref()?);
    if std::mem::discriminant(&before.state) == std::mem::discriminant(&after.state) {
        return None;
    }
    let (event_type, state, reason) = match &after.state {
        TopUpState::Completed => (EventType::TopUpCompleted, "completed", None),
        TopUpState::Failed { reason } => (EventType::TopUpFailed, "failed", Some(reason.clone())),
        TopUpState::Refunded => (EventType::TopUpRefunded, "refunded", None),
        TopUpState::Cancelled => (EventType::TopUpRefunded, "cancelled", None),
        _ => return None,
    };
    let (user_token, user_hash) = buyer(&new.holder);
    // The time of the last call, or of the purchase for one cancelled before any.
    let time = after.attempts.last().map_or(new.granted_at, |a| a.at);
    Some(Fact {
        event_type,
        time,
        user_token,
        customer_uid: Some(after.customer_uid.clone()),
        iccid: None,
        details: Details::TopUp(TopUpDetails {
            purchase_id: new.purchase_id.clone(),
            user_hash,
            inventory_item_id: new.item.clone(),
            activated_item: after.activated_item.clone(),
            state,
            reason,
            attempts: after.attempts.len(),
        }),
    })
}

/// The buyer as an event names them: the token in the event's `userToken`, or the hash in its
/// details once erased.
fn buyer(holder: &Holder) -> (Option<UserToken>, Option<UserHash>) {
    match holder {
        Holder::User(token) => (Some(token.clone()), None),
        Holder::Erased(hash) => (None, Some(hash.clone())),
    }
}

fn purchase_granted(p: &Purchase) -> Fact {
    let (user_token, user_hash) = buyer(&p.holder);
    Fact {
        event_type: EventType::PurchaseGranted,
        time: p.granted_at,
        user_token,
        customer_uid: None,
        iccid: None,
        details: Details::PurchaseGranted(PurchaseGrantedDetails {
            purchase_id: p.purchase_id.clone(),
            user_hash,
            inventory_item_id: p.item.clone(),
            quantity: p.quantity,
            expires_at: p.expires_at,
            delivery: p.delivery,
            granted_at: p.granted_at,
        }),
    }
}

/// `None` for a purchase without a refund (never given one: the caller checked).
fn purchase_refunded(p: &Purchase) -> Option<Fact> {
    let refund = p.refund.as_ref()?;
    let (user_token, user_hash) = buyer(&p.holder);
    Some(Fact {
        event_type: EventType::PurchaseRefunded,
        time: refund.refunded_at,
        user_token,
        customer_uid: None,
        iccid: None,
        details: Details::PurchaseRefunded(PurchaseRefundedDetails {
            purchase_id: p.purchase_id.clone(),
            user_hash,
            inventory_item_id: p.item.clone(),
            quantity: p.quantity,
            refund: refund.clone(),
        }),
    })
}

/// An erasure names no user but by hash: the event carries no token, customer id or SIM, so
/// nothing is looked up to complete it.
fn user_erased(e: &ErasureRecord) -> Fact {
    Fact {
        event_type: EventType::UserErased,
        time: e.erased_at,
        user_token: None,
        customer_uid: None,
        iccid: None,
        details: Details::UserErased(UserErasedDetails {
            user_hash: e.user_hash.clone(),
            profiles: e.profiles,
            entitlements: e.entitlements,
            unclaimed_registrations: e.unclaimed_registrations,
            activations: e.activations,
            purchases: e.purchases,
            erased_at: e.erased_at,
        }),
    }
}

/// A profile change is a registration only when its customer id changed: a grant updating the
/// profile, or a redelivered registration rewriting the same id, is not.
fn customer_registered(change: &Change<ProfileRecord>) -> Option<Fact> {
    let (old, new) = match change {
        Change::Inserted(new) => (None, new),
        Change::Modified { old, new } => (old.customer_uid.as_ref(), new),
        Change::Removed(_) => return None,
    };
    let uid = new.customer_uid.as_ref()?;
    if old == Some(uid) {
        return None;
    }
    Some(Fact {
        event_type: EventType::CustomerRegistered,
        time: new.customer_registered_at?,
        user_token: Some(new.user_token.clone()),
        customer_uid: Some(uid.clone()),
        iccid: None,
        details: Details::CustomerRegistered(RegistrationDetails {
            known_user: true,
            replaced_customer_uid: old.cloned(),
        }),
    })
}

/// Which stored change an event comes from, and its place among its subject's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Stable across redeliveries of the change (the stream record's id).
    pub id: String,
    /// What `sequence` orders the changes of (the partition the item is stored in).
    pub subject: String,
    /// Greater for each later change stored under `subject`; compares as text.
    pub sequence: String,
}

/// A normalized event, as published (the EventBridge entry's `detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    /// Stable across redeliveries of the same stored change (the stream record's id): consumers
    /// deduplicate by it.
    pub id: String,
    /// What `sequence` orders: events of one subject in the order their facts were stored.
    pub subject: String,
    /// Greater for each later event of the same `subject`, compared as text: events may arrive
    /// out of order, so consumers keep the greatest one seen.
    pub sequence: String,
    /// The kind of event.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened, RFC 3339 UTC with milliseconds.
    #[serde(with = "crate::domain::clock::stored")]
    pub time: OffsetDateTime,
    /// Our user, if known.
    pub user_token: Option<UserToken>,
    /// Gigastore's customer id, if known.
    pub customer_uid: Option<CustomerUid>,
    /// The SIM, if the event is about one.
    pub iccid: Option<Iccid>,
    /// What the event says, by type.
    pub details: Details,
}

/// The reads that complete an event with the ids the change itself does not carry.
/// Not found is `Ok(None)`; only a failed read is an error.
pub trait EventLookups: Send + Sync {
    /// The user whose profile holds `customer` (a registered profile only).
    fn user_of_customer(
        &self,
        customer: &CustomerUid,
    ) -> impl Future<Output = Result<Option<UserToken>, StoreError>> + Send;

    /// The customer id on `user`'s profile.
    fn customer_of_user(
        &self,
        user: &UserToken,
    ) -> impl Future<Output = Result<Option<CustomerUid>, StoreError>> + Send;

    /// The customer a SIM was last reported for.
    fn customer_of_iccid(
        &self,
        iccid: &Iccid,
    ) -> impl Future<Output = Result<Option<CustomerUid>, StoreError>> + Send;
}

/// The event `fact` from `origin` becomes, with the user token and customer id looked up where
/// the change did not carry them. Unknown ids stay `None`.
pub async fn enrich<L: EventLookups>(
    lookups: &L,
    origin: Origin,
    fact: Fact,
) -> Result<DomainEvent, StoreError> {
    let Fact {
        event_type,
        time,
        mut user_token,
        mut customer_uid,
        iccid,
        details,
    } = fact;
    if customer_uid.is_none() {
        customer_uid = match (&user_token, &iccid) {
            (Some(user), _) => lookups.customer_of_user(user).await?,
            (None, Some(iccid)) => lookups.customer_of_iccid(iccid).await?,
            (None, None) => None,
        };
    }
    if let (None, Some(customer)) = (&user_token, &customer_uid) {
        user_token = lookups.user_of_customer(customer).await?;
    }
    let Origin {
        id,
        subject,
        sequence,
    } = origin;
    Ok(DomainEvent {
        id,
        subject,
        sequence,
        event_type,
        time,
        user_token,
        customer_uid,
        iccid,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activation::{Decision, Refusal};
    use crate::domain::esim::{EsimStatus, ProfileState};
    use serde_json::Value;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn profile(uid: Option<&str>, registered: Option<i64>) -> ProfileRecord {
        ProfileRecord {
            user_token: UserToken::parse("u1").unwrap(),
            customer_uid: uid.map(|u| CustomerUid::parse(u).unwrap()),
            customer_registered_at: registered.map(at),
        }
    }

    fn status(state: &str) -> EsimStatusRecord {
        EsimStatusRecord {
            status: EsimStatus {
                iccid: Iccid::parse("8901234567890123456").unwrap(),
                imsi: Imsi::parse("123456789012345").unwrap(),
                profile_state: ProfileState::parse(state).unwrap(),
                eid: None,
            },
            received_at: at(100),
        }
    }

    #[test]
    fn a_new_decision_is_an_event_and_its_rewrite_is_not() {
        let refused = ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            holder: crate::domain::erasure::Holder::User(UserToken::parse("u1").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Refused(Refusal::NoUnitsLeft),
            decided_at: at(5),
        };
        let fact = fact_of(&StoredChange::Activation(Change::Inserted(refused.clone()))).unwrap();
        assert_eq!(fact.event_type, EventType::ActivationDecided);
        assert_eq!(fact.time, at(5));
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({"activationId": "a1", "itemId": "1_GB", "decision": "FAIL", "reason": "no_units_left"})
        );
        let rewrite = Change::Modified {
            old: refused.clone(),
            new: refused,
        };
        assert_eq!(fact_of(&StoredChange::Activation(rewrite)), None);
    }

    #[test]
    fn a_profile_change_is_a_registration_only_when_its_customer_id_changes() {
        let change = |old, new| StoredChange::Profile(Change::Modified { old, new });
        let grant = change(profile(None, None), profile(None, None));
        assert_eq!(fact_of(&grant), None);
        let redelivery = change(profile(Some("c1"), Some(1)), profile(Some("c1"), Some(2)));
        assert_eq!(fact_of(&redelivery), None);
        let first = fact_of(&change(profile(None, None), profile(Some("c1"), Some(2)))).unwrap();
        assert_eq!(first.customer_uid.unwrap(), "c1");
        assert_eq!(first.time, at(2));
        assert_eq!(
            serde_json::to_value(&first.details).unwrap(),
            serde_json::json!({"knownUser": true})
        );
        let replaced = fact_of(&change(
            profile(Some("c1"), Some(1)),
            profile(Some("c2"), Some(2)),
        ))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&replaced.details).unwrap(),
            serde_json::json!({"knownUser": true, "replacedCustomerUid": "c1"})
        );
        let removed = StoredChange::Profile(Change::Removed(profile(Some("c1"), Some(1))));
        assert_eq!(fact_of(&removed), None);
    }

    #[test]
    fn only_a_new_history_entry_is_a_status_event() {
        let fact = fact_of(&StoredChange::EsimHistory(Change::Inserted(status(
            "INSTALLED",
        ))));
        let fact = fact.unwrap();
        assert_eq!(fact.event_type.as_str(), "esim.status_changed");
        assert_eq!(fact.iccid.unwrap(), "8901234567890123456");
        let removed = StoredChange::EsimHistory(Change::Removed(status("INSTALLED")));
        assert_eq!(fact_of(&removed), None);
    }

    fn balance_activation(expires: i64, received: i64) -> BalanceActivationRecord {
        BalanceActivationRecord {
            activation: crate::domain::balance::BalanceActivation {
                customer_uid: CustomerUid::parse("c1").unwrap(),
                activated_item: BalanceItemId::parse("b1").unwrap(),
                activated_at: at(10),
                expires_at: at(expires),
            },
            received_at: at(received),
        }
    }

    #[test]
    fn a_balance_activation_is_an_event_when_new_or_when_its_expiry_changes() {
        let change = |old, new| StoredChange::BalanceActivation(Change::Modified { old, new });
        let first = StoredChange::BalanceActivation(Change::Inserted(balance_activation(50, 11)));
        let fact = fact_of(&first).unwrap();
        assert_eq!(fact.event_type.as_str(), "balance.activated");
        assert_eq!(fact.time, at(10));
        assert_eq!(fact.customer_uid.unwrap(), "c1");
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({"activatedItem": "b1", "activatedAt": "1970-01-01T00:00:10.000Z", "expiresAt": "1970-01-01T00:00:50.000Z"})
        );
        let same = change(balance_activation(50, 11), balance_activation(50, 12));
        assert_eq!(fact_of(&same), None);
        let extended = change(balance_activation(50, 11), balance_activation(90, 12));
        assert_eq!(fact_of(&extended).unwrap().time, at(10));
        let removed = StoredChange::BalanceActivation(Change::Removed(balance_activation(50, 11)));
        assert_eq!(fact_of(&removed), None);
    }

    #[test]
    fn a_new_alert_and_a_new_country_entry_are_events_carrying_their_ids() {
        let alert = BalanceAlertRecord {
            alert: crate::domain::balance::BalanceAlert {
                customer_uid: CustomerUid::parse("c1").unwrap(),
                iccid: Iccid::parse("8901234567890123456").unwrap(),
                imsi: Imsi::parse("123456789012345").unwrap(),
                timestamp: at(7),
                balance_bytes: 93_618_231,
            },
            received_at: at(9),
        };
        let fact = fact_of(&StoredChange::BalanceAlert(Change::Inserted(alert.clone()))).unwrap();
        assert_eq!(fact.event_type.as_str(), "balance.low");
        assert_eq!(
            fact.time,
            at(7),
            "the alert's own time, not when it arrived"
        );
        assert_eq!(fact.customer_uid.unwrap(), "c1");
        assert_eq!(fact.iccid.unwrap(), "8901234567890123456");
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({"balanceBytes": 93_618_231, "imsi": "123456789012345"})
        );
        let rewrite = Change::Modified {
            old: alert.clone(),
            new: alert,
        };
        assert_eq!(fact_of(&StoredChange::BalanceAlert(rewrite)), None);

        let country = CountryChangeRecord {
            change: crate::domain::country::CountryChange {
                iccid: Iccid::parse("8901234567890123456").unwrap(),
                imsi: Imsi::parse("123456789012345").unwrap(),
                previous_country: None,
                new_country: Country::parse("newCountry", "DE").unwrap(),
            },
            received_at: at(3),
        };
        let fact = fact_of(&StoredChange::CountryHistory(Change::Inserted(country))).unwrap();
        assert_eq!(fact.event_type.as_str(), "esim.country_changed");
        assert_eq!(fact.time, at(3));
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({"previousCountry": null, "newCountry": "DE", "imsi": "123456789012345"})
        );
    }

    fn key() -> crate::domain::erasure::UserHashKey {
        crate::domain::erasure::UserHashKey::new(&[7u8; 32]).unwrap()
    }

    fn bought(refund: Option<crate::domain::purchase::Refund>) -> Purchase {
        Purchase {
            purchase_id: PurchaseId::parse("p1").unwrap(),
            holder: Holder::User(UserToken::parse("u1").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            quantity: 3,
            expires_at: Some(at(1000)),
            delivery: Delivery::Sdk,
            granted_at: at(10),
            refund,
            top_up: None,
        }
    }

    fn refund() -> crate::domain::purchase::Refund {
        crate::domain::purchase::Refund {
            units_refunded: 1,
            units_used: 2,
            units_void: 0,
            reason: Some(crate::domain::ids::RefundReason::parse("chargeback").unwrap()),
            refunded_at: at(20),
        }
    }

    /// `p` as an erasure rewrites it: the user replaced by the hash.
    fn erased(mut p: Purchase) -> Purchase {
        let user = p.holder.user_token().unwrap().clone();
        p.holder = Holder::Erased(key().hash(&user));
        p
    }

    fn modified(old: Purchase, new: Purchase) -> StoredChange {
        StoredChange::Purchase(Change::Modified { old, new })
    }

    #[test]
    fn a_top_up_is_an_event_when_it_settles_and_not_while_it_moves() {
        use crate::domain::topup::{Call, TopUp};
        let with = |state: TopUpState| {
            let mut p = bought(None);
            let mut top_up = TopUp::new(CustomerUid::parse("c-1").unwrap(), None, None);
            top_up.state = state;
            p.top_up = Some(Box::new(top_up));
            p
        };
        let in_flight = TopUpState::InFlight {
            call: Call::TopUp,
            lease_until: at(20),
            unknown_since: None,
        };
        let failed = TopUpState::Failed {
            reason: "price mismatch".into(),
        };
        for (from, to, expected) in [
            (TopUpState::Pending, in_flight.clone(), None),
            (
                in_flight.clone(),
                TopUpState::Completed,
                Some("topup.completed"),
            ),
            (in_flight.clone(), failed.clone(), Some("topup.failed")),
            (TopUpState::Completed, TopUpState::RefundPending, None),
            (
                TopUpState::RefundPending,
                TopUpState::Refunded,
                Some("topup.refunded"),
            ),
            (
                TopUpState::Pending,
                TopUpState::Cancelled,
                Some("topup.refunded"),
            ),
            // An erasure's rewrite keeps the state: nothing.
            (TopUpState::Completed, TopUpState::Completed, None),
        ] {
            let fact = fact_of(&modified(with(from.clone()), with(to.clone())));
            assert_eq!(
                fact.as_ref().map(|f| f.event_type.as_str()),
                expected,
                "{from:?} -> {to:?}"
            );
            if let Some(fact) = fact {
                assert_eq!(
                    fact.customer_uid.map(|c| c.as_str().to_owned()),
                    Some("c-1".into())
                );
            }
        }
        let fact = fact_of(&modified(with(in_flight), with(failed))).unwrap();
        let detail = serde_json::to_value(&fact.details).unwrap();
        assert_eq!(detail["reason"], "price mismatch");
        assert_eq!(detail["state"], "failed");
    }

    #[test]
    fn a_new_purchase_is_granted_to_its_user() {
        let fact = fact_of(&StoredChange::Purchase(Change::Inserted(bought(None)))).unwrap();
        assert_eq!(fact.event_type.as_str(), "purchase.granted");
        assert_eq!(fact.time, at(10));
        assert_eq!(fact.user_token.unwrap(), "u1");
        assert_eq!((fact.customer_uid, fact.iccid), (None, None));
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({
                "purchaseId": "p1", "inventoryItemId": "1_GB", "quantity": 3,
                "expiresAt": "1970-01-01T00:16:40.000Z", "delivery": "sdk",
                "grantedAt": "1970-01-01T00:00:10.000Z"
            })
        );
        let mut no_expiry = bought(None);
        no_expiry.expires_at = None;
        let fact = fact_of(&StoredChange::Purchase(Change::Inserted(no_expiry))).unwrap();
        let details = serde_json::to_value(&fact.details).unwrap();
        assert!(details.get("expiresAt").is_none(), "{details}");
    }

    #[test]
    fn a_purchase_is_refunded_once_when_its_refund_is_first_stored() {
        let fact = fact_of(&modified(bought(None), bought(Some(refund())))).unwrap();
        assert_eq!(fact.event_type.as_str(), "purchase.refunded");
        assert_eq!(fact.time, at(20), "the refund's time, not the grant's");
        assert_eq!(fact.user_token.unwrap(), "u1");
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({
                "purchaseId": "p1", "inventoryItemId": "1_GB", "quantity": 3,
                "unitsRefunded": 1, "unitsUsed": 2, "unitsVoid": 0, "reason": "chargeback",
                "refundedAt": "1970-01-01T00:00:20.000Z"
            })
        );
        let mut without_reason = refund();
        without_reason.reason = None;
        let fact = fact_of(&modified(bought(None), bought(Some(without_reason)))).unwrap();
        let details = serde_json::to_value(&fact.details).unwrap();
        assert!(details.get("reason").is_none(), "{details}");

        let rewrite = modified(bought(Some(refund())), bought(Some(refund())));
        assert_eq!(fact_of(&rewrite), None, "a refund is stored once");
        let unchanged = modified(bought(None), bought(None));
        assert_eq!(fact_of(&unchanged), None);
        let removed = StoredChange::Purchase(Change::Removed(bought(Some(refund()))));
        assert_eq!(fact_of(&removed), None);
    }

    #[test]
    fn erasing_a_purchases_user_is_no_event_and_a_later_refund_names_the_hash_only() {
        let granted = bought(None);
        assert_eq!(fact_of(&modified(granted.clone(), erased(granted))), None);
        let refunded = bought(Some(refund()));
        assert_eq!(fact_of(&modified(refunded.clone(), erased(refunded))), None);

        let after = modified(erased(bought(None)), erased(bought(Some(refund()))));
        let fact = fact_of(&after).unwrap();
        assert_eq!(fact.event_type, EventType::PurchaseRefunded);
        assert_eq!(fact.user_token, None, "never the token of an erased user");
        let hash = key().hash(&UserToken::parse("u1").unwrap());
        let details = serde_json::to_value(&fact.details).unwrap();
        assert_eq!(details["userHash"], hash.as_str());
        assert!(!details.to_string().contains("\"u1\""), "{details}");
    }

    #[test]
    fn erasing_an_activations_user_is_no_event() {
        let decided = ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            holder: Holder::User(UserToken::parse("u1").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Approved,
            decided_at: at(5),
        };
        let mut kept = decided.clone();
        kept.holder = Holder::Erased(key().hash(&UserToken::parse("u1").unwrap()));
        let rewrite = Change::Modified {
            old: decided,
            new: kept,
        };
        assert_eq!(fact_of(&StoredChange::Activation(rewrite)), None);
        // What the erasure deletes is no event either.
        let unclaimed = UnclaimedRegistration {
            user_token: UserToken::parse("u1").unwrap(),
            customer_uid: CustomerUid::parse("c1").unwrap(),
            received_at: at(1),
        };
        let removed = StoredChange::UnclaimedRegistration(Change::Removed(unclaimed));
        assert_eq!(fact_of(&removed), None);
        let removed = StoredChange::Profile(Change::Removed(profile(Some("c1"), Some(1))));
        assert_eq!(fact_of(&removed), None);
    }

    fn erasure_record() -> ErasureRecord {
        ErasureRecord {
            user_hash: key().hash(&UserToken::parse("u1").unwrap()),
            erased_at: at(30),
            profiles: 1,
            entitlements: 2,
            unclaimed_registrations: 0,
            activations: 3,
            purchases: 2,
        }
    }

    #[test]
    fn an_erasure_record_is_the_user_erased_event_naming_the_hash_only() {
        let record = erasure_record();
        let fact = fact_of(&StoredChange::Erasure(Change::Inserted(record.clone()))).unwrap();
        assert_eq!(fact.event_type.as_str(), "user.erased");
        assert_eq!(fact.time, at(30));
        assert_eq!(
            (fact.user_token, fact.customer_uid, fact.iccid),
            (None, None, None),
            "nothing to look up: no lookup could name the user"
        );
        assert_eq!(
            serde_json::to_value(&fact.details).unwrap(),
            serde_json::json!({
                "userHash": record.user_hash.as_str(), "profiles": 1, "entitlements": 2,
                "unclaimedRegistrations": 0, "activations": 3, "purchases": 2,
                "erasedAt": "1970-01-01T00:00:30.000Z"
            })
        );
        let rewrite = Change::Modified {
            old: record.clone(),
            new: record.clone(),
        };
        assert_eq!(fact_of(&StoredChange::Erasure(rewrite)), None);
        assert_eq!(
            fact_of(&StoredChange::Erasure(Change::Removed(record))),
            None
        );
    }

    #[tokio::test]
    async fn a_user_erased_event_is_completed_without_a_lookup() {
        /// Lookups that must not be asked.
        struct Never;
        impl EventLookups for Never {
            async fn user_of_customer(
                &self,
                _: &CustomerUid,
            ) -> Result<Option<UserToken>, StoreError> {
                Err(StoreError::Inconsistent("looked up a customer"))
            }
            async fn customer_of_user(
                &self,
                _: &UserToken,
            ) -> Result<Option<CustomerUid>, StoreError> {
                Err(StoreError::Inconsistent("looked up a user"))
            }
            async fn customer_of_iccid(
                &self,
                _: &Iccid,
            ) -> Result<Option<CustomerUid>, StoreError> {
                Err(StoreError::Inconsistent("looked up a SIM"))
            }
        }
        let fact = fact_of(&StoredChange::Erasure(Change::Inserted(erasure_record()))).unwrap();
        let origin = Origin {
            id: "r1".into(),
            subject: "ERASED#x".into(),
            sequence: "1".into(),
        };
        let event = enrich(&Never, origin, fact).await.unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "user.erased");
        assert_eq!(
            (&json["userToken"], &json["customerUid"], &json["iccid"]),
            (&Value::Null, &Value::Null, &Value::Null)
        );
    }

    #[test]
    fn type_names_are_their_serialized_names() {
        for t in EventType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn events_serialize_with_every_id_present_or_null() {
        let event = DomainEvent {
            id: "e1".into(),
            subject: "ESIM#8901234567890123456".into(),
            sequence: "0000000000000000000000000000000000000042".into(),
            event_type: EventType::EsimStatusChanged,
            time: at(0),
            user_token: None,
            customer_uid: None,
            iccid: Some(Iccid::parse("8901234567890123456").unwrap()),
            details: Details::EsimStatusChanged(EsimStatusDetails {
                profile_state: "ERROR".into(),
                imsi: Imsi::parse("1").unwrap(),
                eid: None,
            }),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "id": "e1", "subject": "ESIM#8901234567890123456",
                "sequence": "0000000000000000000000000000000000000042",
                "type": "esim.status_changed", "time": "1970-01-01T00:00:00.000Z",
                "userToken": null, "customerUid": null, "iccid": "8901234567890123456",
                "details": {"profileState": "ERROR", "imsi": "1"}
            })
        );
    }
}
