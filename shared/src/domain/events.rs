//! Domain events: what a reseller may act on, decided from what was stored, never from a request.
//!
//! A stored change (an item's old and new image, read into domain records by the adapter)
//! becomes at most one [`Fact`] ([`fact_of`]); the fact is completed with the ids storage knows
//! ([`enrich`], through the [`EventLookups`] port) into a [`DomainEvent`] carrying its
//! [`Origin`]: the change's id, for deduplication, and its sequence within its subject, for
//! ordering. A change that stored nothing new for a reseller (a redelivery, a grant, a
//! current-state copy) gives no fact.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::activation::ActivationRecord;
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord};
use crate::domain::country::{Country, CountryChangeRecord};
use crate::domain::esim::EsimStatusRecord;
use crate::domain::ids::{
    ActivationId, BalanceItemId, CustomerUid, Eid, Iccid, Imsi, ItemId, MetaTag, UserToken,
};
use crate::domain::registration::{ProfileRecord, UnclaimedRegistration};
use crate::domain::store::StoreError;

/// The source every event is published under.
pub const SOURCE: &str = "gigastore.reseller";

/// The kinds of event, one per kind of accepted webhook.
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
}

impl EventType {
    /// Every event type, for documentation and tests.
    pub const ALL: [Self; 6] = [
        Self::ActivationDecided,
        Self::CustomerRegistered,
        Self::EsimStatusChanged,
        Self::BalanceLow,
        Self::BalanceActivated,
        Self::CountryChanged,
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

/// A change to an item of a kind events come from. Other items (entitlements, purchases, an
/// eSIM's current state) are not listed: their changes never become events.
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
        // Decisions, alerts and history entries are written once; an update or a removal of
        // one is an operator's repair, not a new fact.
        StoredChange::Activation(_)
        | StoredChange::UnclaimedRegistration(_)
        | StoredChange::EsimHistory(_)
        | StoredChange::BalanceAlert(_)
        | StoredChange::CountryHistory(_) => None,
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
