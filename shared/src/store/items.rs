//! The table's item types and keys: the one place domain types meet DynamoDB attributes.
//!
//! Single table, keys `pk`/`sk`, one overloaded index `gsi1` (`gsi1pk`/`gsi1sk`):
//!
//! | item         | pk                   | sk            | gsi1pk        | gsi1sk                            |
//! |--------------|----------------------|---------------|---------------|-----------------------------------|
//! | user profile | `USER#<userToken>`   | `PROFILE`     |               |                                   |
//! | entitlement  | `USER#<userToken>`   | `ENT#<item>`  |               |                                   |
//! | activation   | `ACTIVATION#<id>`    | `ACTIVATION`  | `USER#<token>`| `ACTIVATION#<decidedAt>#<id>`     |
//! | registered profile | (as profile)   | `PROFILE`     | `CUSTOMER#<uid>` | `PROFILE`                      |
//! | unclaimed registration | `USER#<token>` | `UNCLAIMED_CUSTOMER#<uid>` | `CUSTOMER#<uid>` | `UNCLAIMED#<token>` |
//! | purchase     | `PURCHASE#<id>`      | `PURCHASE`    |               |                                   |
//! | eSIM current | `ESIM#<iccid>`       | `CURRENT`     |               |                                   |
//! | eSIM history | `ESIM#<iccid>`       | `HISTORY#<receivedAt>#<state>` |  |                                |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::activation::{ActivationRecord, Decision, Refusal};
use crate::entitlement::Entitlement;
use crate::esim::{Eid, EsimStatus, EsimStatusRecord, Iccid, Imsi, ProfileState};
use crate::ids::{ActivationId, CustomerUid, ItemId, MetaTag, PurchaseId, UserToken};
use crate::registration::CustomerRegistration;

/// A DynamoDB item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

pub const PROFILE_SK: &str = "PROFILE";
pub const ENTITLEMENT_SK_PREFIX: &str = "ENT#";
pub const ACTIVATION_SK: &str = "ACTIVATION";
pub const UNCLAIMED_SK_PREFIX: &str = "UNCLAIMED_CUSTOMER#";
pub const ESIM_CURRENT_SK: &str = "CURRENT";
pub const PURCHASE_SK: &str = "PURCHASE";
pub const ESIM_HISTORY_SK_PREFIX: &str = "HISTORY#";

/// Partition key of everything a user owns.
pub fn user_pk(user: &UserToken) -> String {
    format!("USER#{user}")
}

/// Sort key of a user's entitlement to one item.
pub fn entitlement_sk(item: &ItemId) -> String {
    format!("{ENTITLEMENT_SK_PREFIX}{item}")
}

/// Partition key of an activation record: the activation id alone, so it is unique table-wide.
pub fn activation_pk(id: &ActivationId) -> String {
    format!("ACTIVATION#{id}")
}

/// Index key of everything found by Gigastore's customer id.
pub fn customer_pk(customer: &CustomerUid) -> String {
    format!("CUSTOMER#{customer}")
}

/// Partition key of a purchase's grant marker.
pub fn purchase_pk(id: &PurchaseId) -> String {
    format!("PURCHASE#{id}")
}

/// Partition key of an eSIM's current state and history.
pub fn esim_pk(iccid: &Iccid) -> String {
    format!("ESIM#{iccid}")
}

/// Primary key attributes.
pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// Timestamps are stored as RFC 3339 text in UTC with fixed millisecond precision: readable in
/// the console and sortable as strings.
pub fn timestamp(at: OffsetDateTime) -> String {
    let t = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EntitlementItem {
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
        with = "time::serde::rfc3339::option"
    )]
    pub revoked_at: Option<OffsetDateTime>,
}

impl TryFrom<EntitlementItem> for Entitlement {
    type Error = time::error::ComponentRange;
    fn try_from(item: EntitlementItem) -> Result<Self, Self::Error> {
        Ok(Entitlement {
            user_token: item.user_token,
            item: item.item_id,
            units_granted: item.units_granted,
            units_used: item.units_used,
            expires_at: item
                .expires_at
                .map(OffsetDateTime::from_unix_timestamp)
                .transpose()?,
            revoked_at: item.revoked_at,
        })
    }
}

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
    /// `SUCCESS` or `FAIL`, as answered to Gigastore.
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Refusal>,
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
}

impl From<&ActivationRecord> for ActivationItem {
    fn from(r: &ActivationRecord) -> Self {
        let (decision, reason) = match r.decision {
            Decision::Approved => ("SUCCESS", None),
            Decision::Refused(why) => ("FAIL", Some(why)),
        };
        Self {
            pk: activation_pk(&r.activation_id),
            sk: ACTIVATION_SK.to_owned(),
            gsi1pk: user_pk(&r.user_token),
            gsi1sk: format!("ACTIVATION#{}#{}", timestamp(r.decided_at), r.activation_id),
            activation_id: r.activation_id.clone(),
            user_token: r.user_token.clone(),
            item_id: r.item.clone(),
            meta_tag: r.meta_tag.clone(),
            decision: decision.to_owned(),
            reason,
            decided_at: r.decided_at,
        }
    }
}

impl From<ActivationItem> for ActivationRecord {
    fn from(item: ActivationItem) -> Self {
        // Anything but a recorded approval is a refusal: never approve by accident.
        let decision = match (item.decision.as_str(), item.reason) {
            ("SUCCESS", _) => Decision::Approved,
            (_, reason) => Decision::Refused(reason.unwrap_or(Refusal::NoEntitlement)),
        };
        Self {
            activation_id: item.activation_id,
            user_token: item.user_token,
            item: item.item_id,
            meta_tag: item.meta_tag,
            decision,
            decided_at: item.decided_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileItem {
    pub user_token: UserToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_uid: Option<String>,
}

/// Marks a purchase as granted, so a retried grant adds nothing.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurchaseItem {
    pub pk: String,
    pub sk: String,
    pub purchase_id: PurchaseId,
    pub user_token: UserToken,
    pub item_id: ItemId,
    pub quantity: u32,
    pub granted_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UnclaimedRegistrationItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub user_token: UserToken,
    pub customer_uid: CustomerUid,
    pub received_at: String,
}

impl UnclaimedRegistrationItem {
    pub fn new(r: &CustomerRegistration, now: OffsetDateTime) -> Self {
        Self {
            pk: user_pk(&r.user_token),
            sk: format!("{UNCLAIMED_SK_PREFIX}{}", r.customer_uid),
            gsi1pk: customer_pk(&r.customer_uid),
            gsi1sk: format!("UNCLAIMED#{}", r.user_token),
            user_token: r.user_token.clone(),
            customer_uid: r.customer_uid.clone(),
            received_at: timestamp(now),
        }
    }
}

/// An eSIM status as stored, both as the current state and as a history entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct EsimItem {
    pub iccid: String,
    pub imsi: String,
    pub profile_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    pub received_at: String,
}

impl From<&EsimStatusRecord> for EsimItem {
    fn from(r: &EsimStatusRecord) -> Self {
        Self {
            iccid: r.status.iccid.to_string(),
            imsi: r.status.imsi.to_string(),
            profile_state: r.status.profile_state.as_str().to_owned(),
            eid: r.status.eid.as_ref().map(ToString::to_string),
            received_at: timestamp(r.received_at),
        }
    }
}

impl TryFrom<EsimItem> for EsimStatusRecord {
    type Error = String;
    fn try_from(item: EsimItem) -> Result<Self, String> {
        let status = EsimStatus {
            iccid: Iccid::parse(&item.iccid).map_err(|e| e.to_string())?,
            imsi: Imsi::parse(&item.imsi).map_err(|e| e.to_string())?,
            profile_state: ProfileState::parse(&item.profile_state).map_err(|e| e.to_string())?,
            eid: item
                .eid
                .as_deref()
                .map(Eid::parse)
                .transpose()
                .map_err(|e| e.to_string())?,
        };
        let received_at = OffsetDateTime::parse(
            &item.received_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            status,
            received_at,
        })
    }
}

/// Reads an item written by this code into its type.
pub fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, serde_dynamo::Error> {
    serde_dynamo::from_item(item)
}

/// Writes a value as an item.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, serde_dynamo::Error> {
    serde_dynamo::to_item(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_text() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(timestamp(at), "2023-11-14T22:13:20.000Z");
        let later = at + time::Duration::milliseconds(5);
        assert_eq!(timestamp(later), "2023-11-14T22:13:20.005Z");
        assert!(timestamp(at) < timestamp(later));
    }

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
        assert_eq!(item["decision"], AttributeValue::S("FAIL".into()));
        assert_eq!(item["reason"], AttributeValue::S("expired".into()));
        assert!(!item.contains_key("meta_tag"));
        let back: ActivationItem = from_item(item).unwrap();
        assert_eq!(ActivationRecord::from(back), record);
    }
}
