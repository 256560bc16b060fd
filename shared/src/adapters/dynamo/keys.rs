//! The table's layout, the one place it is spelled: key attributes, the index, every partition
//! and sort key, and which kind of item a key belongs to. `docs/table.md` describes the same.
//!
//! Timestamps in keys are in the stored format (`crate::domain::clock`), so keys sort by time.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::Item;
use crate::domain::clock;
use crate::domain::country::Country;
use crate::domain::erasure::UserHash;
use crate::domain::esim::ProfileState;
use crate::domain::ids::{
    ActivationId, BalanceItemId, CustomerUid, Iccid, ItemId, PurchaseId, UserToken,
};

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// The table's key attributes: an update can never change them.
pub const KEY_ATTRIBUTES: [&str; 2] = [PK, SK];
/// Name of the index that finds items by another id (a user's activations, a customer id).
pub const GSI1: &str = "gsi1";
/// Sort key attribute of `gsi1`.
pub const GSI1SK: &str = "gsi1sk";
/// Name of the sparse index of due work (top-ups due to be called, looked up or refunded).
pub const GSI2: &str = "gsi2";
const DUE_TOP_UPS: &str = "TOPUP";

const USER_PREFIX: &str = "USER#";
const CUSTOMER_PREFIX: &str = "CUSTOMER#";
const ESIM_PREFIX: &str = "ESIM#";
const PURCHASE_PREFIX: &str = "PURCHASE#";
const ERASED_PREFIX: &str = "ERASED#";
/// Partition key prefix of an activation, and `gsi1` sort key prefix of a user's activations.
pub const ACTIVATION_PREFIX: &str = "ACTIVATION#";

/// Sort key of the item naming the one user a customer id belongs to.
const CUSTOMER_LINK_SK: &str = "LINK";
/// Sort key of a user's profile, and its `gsi1` sort key once registered.
pub const PROFILE_SK: &str = "PROFILE";
const ENTITLEMENT_SK_PREFIX: &str = "ENT#";
const UNCLAIMED_SK_PREFIX: &str = "UNCLAIMED_CUSTOMER#";
const UNCLAIMED_GSI1SK_PREFIX: &str = "UNCLAIMED#";
const ACTIVATION_SK: &str = "ACTIVATION";
const PURCHASE_SK: &str = "PURCHASE";
/// `gsi1` sort key prefix of a user's purchases.
pub const PURCHASE_GSI1SK_PREFIX: &str = "PURCHASE#";
const ERASURE_SK_PREFIX: &str = "ERASURE#";
/// Sort key of an eSIM's current state.
pub const ESIM_CURRENT_SK: &str = "CURRENT";
/// Sort key prefix of an eSIM's status history.
pub const ESIM_HISTORY_SK_PREFIX: &str = "HISTORY#";
/// Sort key of an eSIM's current country.
pub const COUNTRY_SK: &str = "COUNTRY";
/// Sort key prefix of an eSIM's country history.
pub const COUNTRY_HISTORY_SK_PREFIX: &str = "COUNTRY#";
/// Sort key prefix of a customer's Balance Alerts, and `gsi1` sort key prefix of an eSIM's.
pub const BALANCE_ALERT_SK_PREFIX: &str = "BALANCE_ALERT#";
/// Sort key prefix of a customer's Balance Activations.
pub const BALANCE_ACTIVATION_SK_PREFIX: &str = "BALANCE_ACTIVATION#";
const WARM_UP: &str = "WARM_UP";

/// Where one item is: its partition and sort key in the table, or its keys in `gsi1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Partition key (`pk`, or `gsi1pk`).
    pub pk: String,
    /// Sort key (`sk`, or `gsi1sk`).
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    /// The key as the attributes a request names its item by.
    pub fn attributes(self) -> Item {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(self.pk)),
            (SK.to_owned(), AttributeValue::S(self.sk)),
        ])
    }
}

/// Partition of everything a user owns.
pub fn user_pk(user: &UserToken) -> String {
    format!("{USER_PREFIX}{user}")
}

/// Partition (in the table and in `gsi1`) of everything found by Gigastore's customer id.
pub fn customer_pk(customer: &CustomerUid) -> String {
    format!("{CUSTOMER_PREFIX}{customer}")
}

/// Partition of an eSIM's states and countries, and its `gsi1` partition.
pub fn esim_pk(iccid: &Iccid) -> String {
    format!("{ESIM_PREFIX}{iccid}")
}

/// A user's profile.
pub fn profile(user: &UserToken) -> Key {
    Key::new(user_pk(user), PROFILE_SK)
}

/// A registered profile in `gsi1`, found by its customer id.
pub fn profile_by_customer(customer: &CustomerUid) -> Key {
    Key::new(customer_pk(customer), PROFILE_SK)
}

/// The item naming the one user customer id `customer` belongs to.
pub fn customer_link(customer: &CustomerUid) -> Key {
    Key::new(customer_pk(customer), CUSTOMER_LINK_SK)
}

/// A user's entitlement to units of `item`.
pub fn entitlement(user: &UserToken, item: &ItemId) -> Key {
    Key::new(user_pk(user), format!("{ENTITLEMENT_SK_PREFIX}{item}"))
}

/// A Customer Registration of `customer` for `user`, a user we did not know.
pub fn unclaimed(user: &UserToken, customer: &CustomerUid) -> Key {
    Key::new(user_pk(user), format!("{UNCLAIMED_SK_PREFIX}{customer}"))
}

/// The same in `gsi1`, found by its customer id.
pub fn unclaimed_by_customer(customer: &CustomerUid, user: &UserToken) -> Key {
    Key::new(
        customer_pk(customer),
        format!("{UNCLAIMED_GSI1SK_PREFIX}{user}"),
    )
}

/// An activation's decision: by its id alone, so it is unique table-wide.
pub fn activation(id: &ActivationId) -> Key {
    Key::new(format!("{ACTIVATION_PREFIX}{id}"), ACTIVATION_SK)
}

/// The same in `gsi1`: a user's activations in the order they were decided.
pub fn activation_by_user(user: &UserToken, decided_at: OffsetDateTime, id: &ActivationId) -> Key {
    let at = clock::format(decided_at);
    Key::new(user_pk(user), format!("{ACTIVATION_PREFIX}{at}#{id}"))
}

/// The marker of a granted purchase.
pub fn purchase(id: &PurchaseId) -> Key {
    Key::new(format!("{PURCHASE_PREFIX}{id}"), PURCHASE_SK)
}

/// The same in `gsi1`: a user's purchases of an item, in the order they were granted.
pub fn purchase_by_user(
    user: &UserToken,
    item: &ItemId,
    granted_at: OffsetDateTime,
    id: &PurchaseId,
) -> Key {
    let at = clock::format(granted_at);
    Key::new(user_pk(user), format!("{}{at}#{id}", purchases_of(item)))
}

/// The `gsi1` sort key prefix of a user's purchases of `item` (`item` may itself hold `#`:
/// readers check the item too).
pub fn purchases_of(item: &ItemId) -> String {
    format!("{PURCHASE_GSI1SK_PREFIX}{item}#")
}

/// A top-up in `gsi2` while it is due: by the time it is due, then its purchase.
pub fn due_top_up(due_at: OffsetDateTime, id: &PurchaseId) -> Key {
    let at = clock::format(due_at);
    Key::new(DUE_TOP_UPS.to_owned(), format!("{at}#{id}"))
}

/// The greatest `gsi2` key of a top-up due at `now`: every one due by then sorts at or before
/// it (U+10FFFF is the greatest character, so any purchase id sorts before it).
pub fn due_top_ups_until(now: OffsetDateTime) -> Key {
    let at = clock::format(now);
    Key::new(DUE_TOP_UPS.to_owned(), format!("{at}#\u{10FFFF}"))
}

/// The record that a user, named by its hash, was erased at `at`.
pub fn erasure(user: &UserHash, at: OffsetDateTime) -> Key {
    let at = clock::format(at);
    Key::new(
        format!("{ERASED_PREFIX}{user}"),
        format!("{ERASURE_SK_PREFIX}{at}"),
    )
}

/// An eSIM's current state.
pub fn esim_current(iccid: &Iccid) -> Key {
    Key::new(esim_pk(iccid), ESIM_CURRENT_SK)
}

/// An entry of an eSIM's status history: by time, then state.
pub fn esim_history(iccid: &Iccid, received_at: OffsetDateTime, state: &ProfileState) -> Key {
    let at = clock::format(received_at);
    let sk = format!("{ESIM_HISTORY_SK_PREFIX}{at}#{}", state.as_str());
    Key::new(esim_pk(iccid), sk)
}

/// An eSIM's current country.
pub fn country_current(iccid: &Iccid) -> Key {
    Key::new(esim_pk(iccid), COUNTRY_SK)
}

/// An entry of an eSIM's country history: by time, then the new country.
pub fn country_history(iccid: &Iccid, received_at: OffsetDateTime, country: Country) -> Key {
    let at = clock::format(received_at);
    Key::new(
        esim_pk(iccid),
        format!("{COUNTRY_HISTORY_SK_PREFIX}{at}#{country}"),
    )
}

/// A Balance Alert, kept by customer: by Gigastore's timestamp, then the eSIM.
pub fn balance_alert(customer: &CustomerUid, timestamp: OffsetDateTime, iccid: &Iccid) -> Key {
    let at = clock::format(timestamp);
    Key::new(
        customer_pk(customer),
        format!("{BALANCE_ALERT_SK_PREFIX}{at}#{iccid}"),
    )
}

/// The same in `gsi1`, found by eSIM: by Gigastore's timestamp.
pub fn balance_alert_by_esim(iccid: &Iccid, timestamp: OffsetDateTime) -> Key {
    let at = clock::format(timestamp);
    Key::new(esim_pk(iccid), format!("{BALANCE_ALERT_SK_PREFIX}{at}"))
}

/// A Balance Activation, kept by customer: by activation time, then the item activated.
pub fn balance_activation(
    customer: &CustomerUid,
    activated_at: OffsetDateTime,
    item: &BalanceItemId,
) -> Key {
    let at = clock::format(activated_at);
    Key::new(
        customer_pk(customer),
        format!("{BALANCE_ACTIVATION_SK_PREFIX}{at}#{item}"),
    )
}

/// The key the warm-up read asks for: never written, so the read finds nothing.
pub fn warm_up() -> Key {
    Key::new(WARM_UP.to_owned(), WARM_UP)
}

/// The kinds of item the table holds, told apart by their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `USER#<token>` / `PROFILE`.
    Profile,
    /// `USER#<token>` / `ENT#<item>`.
    Entitlement,
    /// `USER#<token>` / `UNCLAIMED_CUSTOMER#<uid>`.
    UnclaimedRegistration,
    /// `ACTIVATION#<id>` / `ACTIVATION`.
    Activation,
    /// `PURCHASE#<id>` / `PURCHASE`.
    Purchase,
    /// `ERASED#<userHash>` / `ERASURE#<erasedAt>`.
    Erasure,
    /// `ESIM#<iccid>` / `CURRENT`.
    EsimCurrent,
    /// `ESIM#<iccid>` / `HISTORY#<receivedAt>#<state>`.
    EsimHistory,
    /// `ESIM#<iccid>` / `COUNTRY`.
    CountryCurrent,
    /// `ESIM#<iccid>` / `COUNTRY#<receivedAt>#<newCountry>`.
    CountryHistory,
    /// `CUSTOMER#<uid>` / `LINK`.
    CustomerLink,
    /// `CUSTOMER#<uid>` / `BALANCE_ALERT#<timestamp>#<iccid>`.
    BalanceAlert,
    /// `CUSTOMER#<uid>` / `BALANCE_ACTIVATION#<activatedAt>#<item>`.
    BalanceActivation,
}

/// The string attribute `name` of `item`, if it has one.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Which kind of item `item` is, by its `pk` and `sk`; `None` for keys this code never writes.
pub fn kind(item: &Item) -> Option<Kind> {
    let (pk, sk) = (text(item, PK)?, text(item, SK)?);
    let within = |prefix: &str| pk.starts_with(prefix);
    // A profile's and an unclaimed registration's sort keys are only ever in a user's
    // partition: the sort key alone says.
    let kind = if sk == PROFILE_SK {
        Kind::Profile
    } else if sk.starts_with(UNCLAIMED_SK_PREFIX) {
        Kind::UnclaimedRegistration
    } else if within(USER_PREFIX) && sk.starts_with(ENTITLEMENT_SK_PREFIX) {
        Kind::Entitlement
    } else if within(ACTIVATION_PREFIX) && sk == ACTIVATION_SK {
        Kind::Activation
    } else if within(PURCHASE_PREFIX) && sk == PURCHASE_SK {
        Kind::Purchase
    } else if within(ERASED_PREFIX) && sk.starts_with(ERASURE_SK_PREFIX) {
        Kind::Erasure
    } else if within(ESIM_PREFIX) && sk == ESIM_CURRENT_SK {
        Kind::EsimCurrent
    } else if within(ESIM_PREFIX) && sk.starts_with(ESIM_HISTORY_SK_PREFIX) {
        Kind::EsimHistory
    } else if within(ESIM_PREFIX) && sk == COUNTRY_SK {
        Kind::CountryCurrent
    } else if within(ESIM_PREFIX) && sk.starts_with(COUNTRY_HISTORY_SK_PREFIX) {
        Kind::CountryHistory
    } else if within(CUSTOMER_PREFIX) && sk == CUSTOMER_LINK_SK {
        Kind::CustomerLink
    } else if within(CUSTOMER_PREFIX) && sk.starts_with(BALANCE_ALERT_SK_PREFIX) {
        Kind::BalanceAlert
    } else if within(CUSTOMER_PREFIX) && sk.starts_with(BALANCE_ACTIVATION_SK_PREFIX) {
        Kind::BalanceActivation
    } else {
        return None;
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(key: Key) -> Item {
        key.attributes()
    }

    #[test]
    fn every_key_this_code_writes_is_of_its_kind() {
        let user = UserToken::parse("u1").unwrap();
        let customer = CustomerUid::parse("c-1").unwrap();
        let iccid = Iccid::parse("89361123300836129514").unwrap();
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let item = ItemId::parse("1_GB").unwrap();
        let cases = [
            (profile(&user), Kind::Profile),
            (entitlement(&user, &item), Kind::Entitlement),
            (unclaimed(&user, &customer), Kind::UnclaimedRegistration),
            (
                activation(&ActivationId::parse("a1").unwrap()),
                Kind::Activation,
            ),
            (purchase(&PurchaseId::parse("p1").unwrap()), Kind::Purchase),
            (
                erasure(
                    &crate::domain::erasure::UserHashKey::new(&[1; 32])
                        .unwrap()
                        .hash(&user),
                    at,
                ),
                Kind::Erasure,
            ),
            (esim_current(&iccid), Kind::EsimCurrent),
            (
                esim_history(&iccid, at, &ProfileState::Installed),
                Kind::EsimHistory,
            ),
            (country_current(&iccid), Kind::CountryCurrent),
            (
                country_history(&iccid, at, Country::parse("c", "DE").unwrap()),
                Kind::CountryHistory,
            ),
            (customer_link(&customer), Kind::CustomerLink),
            (balance_alert(&customer, at, &iccid), Kind::BalanceAlert),
            (
                balance_activation(&customer, at, &BalanceItemId::parse("b1").unwrap()),
                Kind::BalanceActivation,
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(kind(&keyed(key.clone())), Some(expected), "{key:?}");
        }
        assert_eq!(kind(&keyed(warm_up())), None);
        assert_eq!(kind(&Item::new()), None);
    }

    #[test]
    fn keys_are_spelled_as_the_table_documents() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let iccid = Iccid::parse("89361123300836129514").unwrap();
        assert_eq!(
            esim_history(&iccid, at, &ProfileState::Released),
            Key::new(
                "ESIM#89361123300836129514".into(),
                "HISTORY#2023-11-14T22:13:20.000Z#RELEASED"
            )
        );
        let user = UserToken::parse("u1").unwrap();
        let customer = CustomerUid::parse("c-1").unwrap();
        assert_eq!(
            unclaimed_by_customer(&customer, &user),
            Key::new("CUSTOMER#c-1".into(), "UNCLAIMED#u1")
        );
        assert_eq!(
            purchase(&PurchaseId::parse("p1").unwrap()),
            Key::new("PURCHASE#p1".into(), "PURCHASE")
        );
    }
}
