//! The table's item types, each with its keys: the one place domain types meet attributes.
//!
//! Single table, keys `pk`/`sk`, one overloaded index `gsi1` (`gsi1pk`/`gsi1sk`); the layout is
//! documented in `docs/table.md`. Timestamps are stored in the one format of `crate::domain::clock`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::activation::{ActivationRecord, Decision, Refusal, ReturnCode};
use crate::domain::balance::{
    BalanceActivation, BalanceActivationRecord, BalanceAlert, BalanceAlertRecord,
};
use crate::domain::country::{Country, CountryChange, CountryChangeRecord};
use crate::domain::entitlement::{Entitlement, Purchase};
use crate::domain::esim::{EsimStatus, EsimStatusRecord, ProfileState};
use crate::domain::ids::{
    ActivationId, BalanceItemId, CustomerUid, Eid, Iccid, Imsi, ItemId, MetaTag, PurchaseId,
    UserToken,
};
use crate::domain::registration::{CustomerRegistration, ProfileRecord, UnclaimedRegistration};
use crate::domain::store::StoreError;

/// A DynamoDB item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

pub const PROFILE_SK: &str = "PROFILE";
pub const ENTITLEMENT_SK_PREFIX: &str = "ENT#";
pub const ACTIVATION_SK_PREFIX: &str = "ACTIVATION#";
pub const UNCLAIMED_SK_PREFIX: &str = "UNCLAIMED_CUSTOMER#";
pub const ESIM_CURRENT_SK: &str = "CURRENT";
pub const ESIM_HISTORY_SK_PREFIX: &str = "HISTORY#";
pub const COUNTRY_SK: &str = "COUNTRY";
pub const COUNTRY_HISTORY_SK_PREFIX: &str = "COUNTRY#";
pub const BALANCE_ALERT_SK_PREFIX: &str = "BALANCE_ALERT#";
pub const BALANCE_ACTIVATION_SK_PREFIX: &str = "BALANCE_ACTIVATION#";

/// Partition key of everything a user owns.
pub fn user_pk(user: &UserToken) -> String {
    format!("USER#{user}")
}

/// Index key of everything found by Gigastore's customer id.
pub fn customer_pk(customer: &CustomerUid) -> String {
    format!("CUSTOMER#{customer}")
}

/// Partition key of an eSIM's current state and history.
pub fn esim_pk(iccid: &Iccid) -> String {
    format!("ESIM#{iccid}")
}

/// Primary key attributes.
fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
    ])
}

/// The key the warm-up read asks for: never written, so the read finds nothing.
pub fn warm_up_key() -> Item {
    key("WARM_UP".to_owned(), "WARM_UP".to_owned())
}

/// Reads an item written by this code into its type.
pub fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(StoreError::malformed)
}

/// Writes a value as an item.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::malformed)
}

/// Only the user an item names: what a lookup by customer id reads of a profile or an
/// unclaimed registration.
#[derive(Debug, Deserialize)]
pub struct UserOnly {
    pub user_token: UserToken,
}

/// A user's profile: `USER#<token>` / `PROFILE`; written by grants and registrations.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileItem {
    pub pk: String,
    pub sk: String,
    pub user_token: UserToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_uid: Option<CustomerUid>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    pub customer_registered_at: Option<OffsetDateTime>,
}

impl ProfileItem {
    /// The profile's key.
    pub fn key(user: &UserToken) -> Item {
        key(user_pk(user), PROFILE_SK.to_owned())
    }

    /// Reads what a stored profile says about the customer id; the email stays behind.
    pub fn read(item: Item) -> Result<ProfileRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(ProfileRecord {
            user_token: stored.user_token,
            customer_uid: stored.customer_uid,
            customer_registered_at: stored.customer_registered_at,
        })
    }
}

/// Units of one item a user may activate: `USER#<token>` / `ENT#<item>`; only ever updated.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntitlementItem {
    pub pk: String,
    pub sk: String,
    pub user_token: UserToken,
    pub item_id: ItemId,
    pub units_granted: u32,
    pub units_used: u32,
    /// Unix seconds, so a condition expression can compare it with a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::clock::stored::option"
    )]
    pub revoked_at: Option<OffsetDateTime>,
}

impl EntitlementItem {
    /// The entitlement's key.
    pub fn key(user: &UserToken, item: &ItemId) -> Item {
        key(user_pk(user), format!("{ENTITLEMENT_SK_PREFIX}{item}"))
    }

    /// Reads a stored entitlement.
    pub fn read(item: Item) -> Result<Entitlement, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(Entitlement {
            user_token: stored.user_token,
            item: stored.item_id,
            units_granted: stored.units_granted,
            units_used: stored.units_used,
            expires_at: stored
                .expires_at
                .map(OffsetDateTime::from_unix_timestamp)
                .transpose()
                .map_err(StoreError::malformed)?,
            revoked_at: stored.revoked_at,
        })
    }
}

/// An activation's one decision: `ACTIVATION#<id>` / `ACTIVATION`, found by user through
/// `gsi1` (`USER#<token>` / `ACTIVATION#<decidedAt>#<id>`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ActivationItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub activation_id: ActivationId,
    pub user_token: UserToken,
    pub item_id: ItemId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_tag: Option<MetaTag>,
    /// As answered to Gigastore.
    pub decision: ReturnCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Refusal>,
    #[serde(with = "crate::domain::clock::stored")]
    pub decided_at: OffsetDateTime,
}

impl ActivationItem {
    /// The activation's `pk` and `sk`: the activation id alone, so it is unique table-wide.
    fn keys(id: &ActivationId) -> (String, String) {
        (
            format!("{ACTIVATION_SK_PREFIX}{id}"),
            "ACTIVATION".to_owned(),
        )
    }

    /// The activation's key.
    pub fn key(id: &ActivationId) -> Item {
        let (pk, sk) = Self::keys(id);
        key(pk, sk)
    }

    /// Reads a stored decision. A refusal stored without a reason reads as "no entitlement":
    /// never approve by accident.
    pub fn read(item: Item) -> Result<ActivationRecord, StoreError> {
        let stored: Self = from_item(item)?;
        let decision = match stored.decision {
            ReturnCode::Success => Decision::Approved,
            ReturnCode::Fail => Decision::Refused(stored.reason.unwrap_or(Refusal::NoEntitlement)),
        };
        Ok(ActivationRecord {
            activation_id: stored.activation_id,
            user_token: stored.user_token,
            item: stored.item_id,
            meta_tag: stored.meta_tag,
            decision,
            decided_at: stored.decided_at,
        })
    }
}

impl From<&ActivationRecord> for ActivationItem {
    fn from(r: &ActivationRecord) -> Self {
        let id = &r.activation_id;
        let (pk, sk) = Self::keys(id);
        Self {
            pk,
            sk,
            gsi1pk: user_pk(&r.user_token),
            gsi1sk: format!(
                "{ACTIVATION_SK_PREFIX}{}#{id}",
                crate::domain::clock::format(r.decided_at)
            ),
            activation_id: id.clone(),
            user_token: r.user_token.clone(),
            item_id: r.item.clone(),
            meta_tag: r.meta_tag.clone(),
            decision: r.decision.return_code(),
            reason: r.decision.refusal(),
            decided_at: r.decided_at,
        }
    }
}

/// Marks a purchase as granted, so a retried grant adds nothing: `PURCHASE#<id>` / `PURCHASE`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurchaseItem {
    pub pk: String,
    pub sk: String,
    pub purchase_id: PurchaseId,
    pub user_token: UserToken,
    pub item_id: ItemId,
    pub quantity: u32,
    #[serde(with = "crate::domain::clock::stored")]
    pub granted_at: OffsetDateTime,
}

impl PurchaseItem {
    /// The marker of `purchase`, granted at `now`.
    pub fn new(purchase: Purchase, now: OffsetDateTime) -> Self {
        Self {
            pk: format!("PURCHASE#{}", purchase.purchase_id),
            sk: "PURCHASE".to_owned(),
            purchase_id: purchase.purchase_id,
            user_token: purchase.user_token,
            item_id: purchase.item,
            quantity: purchase.quantity,
            granted_at: now,
        }
    }

    /// What the stored marker paid for.
    pub fn read(item: Item) -> Result<Purchase, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(Purchase {
            purchase_id: stored.purchase_id,
            user_token: stored.user_token,
            item: stored.item_id,
            quantity: stored.quantity,
        })
    }
}

/// A Customer Registration for a user we did not know: `USER#<token>` /
/// `UNCLAIMED_CUSTOMER#<uid>`, found by customer id through `gsi1`.
#[derive(Debug, Serialize, Deserialize)]
pub struct UnclaimedRegistrationItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub user_token: UserToken,
    pub customer_uid: CustomerUid,
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl UnclaimedRegistrationItem {
    /// Reads a stored unclaimed registration.
    pub fn read(item: Item) -> Result<UnclaimedRegistration, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(UnclaimedRegistration {
            user_token: stored.user_token,
            customer_uid: stored.customer_uid,
            received_at: stored.received_at,
        })
    }

    /// The item keeping `r`, received at `now`.
    pub fn new(r: &CustomerRegistration, now: OffsetDateTime) -> Self {
        Self {
            pk: user_pk(&r.user_token),
            sk: format!("{UNCLAIMED_SK_PREFIX}{}", r.customer_uid),
            gsi1pk: customer_pk(&r.customer_uid),
            gsi1sk: format!("UNCLAIMED#{}", r.user_token),
            user_token: r.user_token.clone(),
            customer_uid: r.customer_uid.clone(),
            received_at: now,
        }
    }
}

/// An eSIM status, both as the current state (`ESIM#<iccid>` / `CURRENT`) and as a history
/// entry (`ESIM#<iccid>` / `HISTORY#<receivedAt>#<state>`, written once).
#[derive(Debug, Serialize, Deserialize)]
pub struct EsimItem {
    pub pk: String,
    pub sk: String,
    pub iccid: Iccid,
    pub imsi: Imsi,
    pub profile_state: ProfileState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<Eid>,
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl EsimItem {
    /// The key of an eSIM's current state.
    pub fn current_key(iccid: &Iccid) -> Item {
        key(esim_pk(iccid), ESIM_CURRENT_SK.to_owned())
    }

    /// The history entry of `r`.
    pub fn history(r: &EsimStatusRecord) -> Self {
        let status = &r.status;
        Self {
            pk: esim_pk(&status.iccid),
            sk: format!(
                "{ESIM_HISTORY_SK_PREFIX}{}#{}",
                crate::domain::clock::format(r.received_at),
                status.profile_state.as_str()
            ),
            iccid: status.iccid.clone(),
            imsi: status.imsi.clone(),
            profile_state: status.profile_state.clone(),
            eid: status.eid.clone(),
            received_at: r.received_at,
        }
    }

    /// Reads a stored status.
    pub fn read(item: Item) -> Result<EsimStatusRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(EsimStatusRecord {
            status: EsimStatus {
                iccid: stored.iccid,
                imsi: stored.imsi,
                profile_state: stored.profile_state,
                eid: stored.eid,
            },
            received_at: stored.received_at,
        })
    }
}

/// An eSIM's country, both as the current one (`ESIM#<iccid>` / `COUNTRY`) and as a history
/// entry (`ESIM#<iccid>` / `COUNTRY#<receivedAt>#<newCountry>`, written once).
#[derive(Debug, Serialize, Deserialize)]
pub struct CountryItem {
    pub pk: String,
    pub sk: String,
    pub iccid: Iccid,
    pub imsi: Imsi,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_country: Option<Country>,
    pub new_country: Country,
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl CountryItem {
    /// The key of an eSIM's current country.
    pub fn current_key(iccid: &Iccid) -> Item {
        key(esim_pk(iccid), COUNTRY_SK.to_owned())
    }

    /// The history entry of `r`.
    pub fn history(r: &CountryChangeRecord) -> Self {
        let change = &r.change;
        Self {
            pk: esim_pk(&change.iccid),
            sk: format!(
                "{COUNTRY_HISTORY_SK_PREFIX}{}#{}",
                crate::domain::clock::format(r.received_at),
                change.new_country
            ),
            iccid: change.iccid.clone(),
            imsi: change.imsi.clone(),
            previous_country: change.previous_country,
            new_country: change.new_country,
            received_at: r.received_at,
        }
    }

    /// Reads a stored country change.
    pub fn read(item: Item) -> Result<CountryChangeRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(CountryChangeRecord {
            change: CountryChange {
                iccid: stored.iccid,
                imsi: stored.imsi,
                previous_country: stored.previous_country,
                new_country: stored.new_country,
            },
            received_at: stored.received_at,
        })
    }
}

/// A Balance Alert, kept by customer (`CUSTOMER#<uid>` / `BALANCE_ALERT#<timestamp>#<iccid>`)
/// and found by SIM through `gsi1` (`ESIM#<iccid>` / `BALANCE_ALERT#<timestamp>`); written once.
#[derive(Debug, Serialize, Deserialize)]
pub struct BalanceAlertItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub customer_uid: CustomerUid,
    pub iccid: Iccid,
    pub imsi: Imsi,
    #[serde(with = "crate::domain::clock::stored")]
    pub timestamp: OffsetDateTime,
    pub balance_bytes: u64,
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl From<&BalanceAlertRecord> for BalanceAlertItem {
    fn from(r: &BalanceAlertRecord) -> Self {
        let alert = &r.alert;
        let at = crate::domain::clock::format(alert.timestamp);
        Self {
            pk: customer_pk(&alert.customer_uid),
            sk: format!("{BALANCE_ALERT_SK_PREFIX}{at}#{}", alert.iccid),
            gsi1pk: esim_pk(&alert.iccid),
            gsi1sk: format!("{BALANCE_ALERT_SK_PREFIX}{at}"),
            customer_uid: alert.customer_uid.clone(),
            iccid: alert.iccid.clone(),
            imsi: alert.imsi.clone(),
            timestamp: alert.timestamp,
            balance_bytes: alert.balance_bytes,
            received_at: r.received_at,
        }
    }
}

impl BalanceAlertItem {
    /// Reads a stored alert.
    pub fn read(item: Item) -> Result<BalanceAlertRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(BalanceAlertRecord {
            alert: BalanceAlert {
                customer_uid: stored.customer_uid,
                iccid: stored.iccid,
                imsi: stored.imsi,
                timestamp: stored.timestamp,
                balance_bytes: stored.balance_bytes,
            },
            received_at: stored.received_at,
        })
    }
}

/// A Balance Activation, kept by customer:
/// `CUSTOMER#<uid>` / `BALANCE_ACTIVATION#<activatedAt>#<activatedItem>`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BalanceActivationItem {
    pub pk: String,
    pub sk: String,
    pub customer_uid: CustomerUid,
    pub activated_item: BalanceItemId,
    #[serde(with = "crate::domain::clock::stored")]
    pub activated_at: OffsetDateTime,
    #[serde(with = "crate::domain::clock::stored")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl From<&BalanceActivationRecord> for BalanceActivationItem {
    fn from(r: &BalanceActivationRecord) -> Self {
        let activation = &r.activation;
        Self {
            pk: customer_pk(&activation.customer_uid),
            sk: format!(
                "{BALANCE_ACTIVATION_SK_PREFIX}{}#{}",
                crate::domain::clock::format(activation.activated_at),
                activation.activated_item
            ),
            customer_uid: activation.customer_uid.clone(),
            activated_item: activation.activated_item.clone(),
            activated_at: activation.activated_at,
            expires_at: activation.expires_at,
            received_at: r.received_at,
        }
    }
}

impl BalanceActivationItem {
    /// Reads a stored activation.
    pub fn read(item: Item) -> Result<BalanceActivationRecord, StoreError> {
        let stored: Self = from_item(item)?;
        Ok(BalanceActivationRecord {
            activation: BalanceActivation {
                customer_uid: stored.customer_uid,
                activated_item: stored.activated_item,
                activated_at: stored.activated_at,
                expires_at: stored.expires_at,
            },
            received_at: stored.received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_records_round_trip_through_items() {
        let record = ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            user_token: UserToken::parse("u1").unwrap(),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Refused(Refusal::Expired),
            decided_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let item = to_item(&ActivationItem::from(&record)).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("ACTIVATION#a1".into()));
        assert_eq!(item["gsi1pk"], AttributeValue::S("USER#u1".into()));
        assert_eq!(
            item["gsi1sk"],
            AttributeValue::S("ACTIVATION#2023-11-14T22:13:20.000Z#a1".into())
        );
        assert_eq!(item["decision"], AttributeValue::S("FAIL".into()));
        assert_eq!(item["reason"], AttributeValue::S("expired".into()));
        assert_eq!(
            item["decided_at"],
            AttributeValue::S("2023-11-14T22:13:20.000Z".into())
        );
        assert!(!item.contains_key("meta_tag"));
        assert_eq!(ActivationItem::read(item).unwrap(), record);
    }

    #[test]
    fn decisions_written_with_variable_fractions_still_read() {
        let mut item = to_item(&ActivationItem::from(&ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            user_token: UserToken::parse("u1").unwrap(),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Approved,
            decided_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        }))
        .unwrap();
        item.insert(
            "decided_at".into(),
            AttributeValue::S("2023-11-14T22:13:20.12Z".into()),
        );
        let read = ActivationItem::read(item).unwrap();
        assert_eq!(read.decided_at.millisecond(), 120);
        assert_eq!(read.decision, Decision::Approved);
    }

    #[test]
    fn balance_alerts_are_keyed_by_customer_and_found_by_sim() {
        let record = BalanceAlertRecord {
            alert: BalanceAlert {
                customer_uid: CustomerUid::parse("c-1").unwrap(),
                iccid: Iccid::parse("89361123300836129514").unwrap(),
                imsi: Imsi::parse("260216611193634").unwrap(),
                timestamp: OffsetDateTime::from_unix_timestamp(1_661_076_930).unwrap(),
                balance_bytes: i64::MAX as u64,
            },
            received_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let item = to_item(&BalanceAlertItem::from(&record)).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("CUSTOMER#c-1".into()));
        assert_eq!(
            item["sk"],
            AttributeValue::S("BALANCE_ALERT#2022-08-21T10:15:30.000Z#89361123300836129514".into())
        );
        assert_eq!(
            item["gsi1pk"],
            AttributeValue::S("ESIM#89361123300836129514".into())
        );
        assert_eq!(
            item["balance_bytes"],
            AttributeValue::N("9223372036854775807".into())
        );
        assert_eq!(BalanceAlertItem::read(item).unwrap(), record);
    }

    #[test]
    fn country_changes_round_trip_without_a_previous_country() {
        let record = CountryChangeRecord {
            change: CountryChange {
                iccid: Iccid::parse("89361123300836129514").unwrap(),
                imsi: Imsi::parse("260216611193634").unwrap(),
                previous_country: None,
                new_country: Country::parse("newCountry", "DE").unwrap(),
            },
            received_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let item = to_item(&CountryItem::history(&record)).unwrap();
        assert_eq!(
            item["sk"],
            AttributeValue::S("COUNTRY#2023-11-14T22:13:20.000Z#DE".into())
        );
        assert!(!item.contains_key("previous_country"));
        assert_eq!(CountryItem::read(item).unwrap(), record);
    }

    #[test]
    fn a_stored_item_of_the_wrong_shape_is_malformed_not_a_panic() {
        let item = HashMap::from([("pk".to_owned(), AttributeValue::S("ESIM#1".into()))]);
        assert!(matches!(
            EsimItem::read(item),
            Err(StoreError::Malformed(_))
        ));
    }
}
