//! What the event publisher reads: stream images into domain records (the same item types the
//! writers use, so one stored format per kind), and the enrichment lookups.
//!
//! Takes images as `serde_dynamo::Item`, which is what the Lambda DynamoDB event holds, so this
//! module needs no Lambda event types: the webhook functions that share the library do not
//! compile them.

use serde::Deserialize;

use super::activation::ActivationItem;
use super::balance::{BalanceActivationItem, BalanceAlertItem};
use super::country::CountryItem;
use super::erasure::read_erasure;
use super::esim::EsimItem;
use super::keys::{self, Kind, GSI1};
use super::purchase::PurchaseItem;
use super::registration::{ProfileItem, UnclaimedRegistrationItem, UserOnly};
use super::{failed, from_item, s, DynamoStore, Item};
use crate::domain::events::{
    enrich, fact_of, Change, DomainEvent, EventLookups, Fact, Origin, StoredChange,
};
use crate::domain::ids::{CustomerUid, Iccid, UserToken};
use crate::domain::store::StoreError;

/// The kind of change a stream record reports (`eventName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// `INSERT`: a new item.
    Insert,
    /// `MODIFY`: an item overwritten or updated.
    Modify,
    /// `REMOVE`: an item deleted (or expired).
    Remove,
}

impl StreamEvent {
    /// Reads an `eventName`.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "INSERT" => Ok(Self::Insert),
            "MODIFY" => Ok(Self::Modify),
            "REMOVE" => Ok(Self::Remove),
            other => Err(StoreError::malformed(UnknownEventName(other.to_owned()))),
        }
    }
}

/// A stream record whose `eventName` is none of DynamoDB's three.
#[derive(Debug, thiserror::Error)]
#[error("unknown stream event name {0:?}")]
struct UnknownEventName(String);

/// A stream record without the image its event name promises (the stream is not
/// `NEW_AND_OLD_IMAGES`).
#[derive(Debug, thiserror::Error)]
#[error("stream record without its {0} image: the stream must be NEW_AND_OLD_IMAGES")]
struct MissingImage(&'static str);

/// A stream record whose sequence number is not the 1 to 40 digits DynamoDB Streams gives.
#[derive(Debug, thiserror::Error)]
#[error("stream record without a sequence number of 1 to 40 digits: {0:?}")]
struct BadSequenceNumber(Option<String>);

/// A stream image without the partition key that tells the event's subject.
#[derive(Debug, thiserror::Error)]
#[error("stream image without its partition key")]
struct NoPartitionKey;

/// Digits a sequence is padded to: DynamoDB Streams' longest sequence number.
const SEQUENCE_DIGITS: usize = 40;

/// One stream record as its two readers get it: the publisher from Lambda's event, the CLI from
/// the DynamoDB Streams API.
#[derive(Debug, Clone, Default)]
pub struct StreamRecord {
    /// `eventID`: the id of the event it becomes.
    pub id: String,
    /// `eventName`: `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    /// `SequenceNumber`: ordered per item key within the stream.
    pub sequence_number: Option<String>,
    /// `OldImage` (empty on an insert).
    pub old: serde_dynamo::Item,
    /// `NewImage` (empty on a removal).
    pub new: serde_dynamo::Item,
}

/// The stored change a stream record reports, its images read into domain records; `None`
/// for items no event comes from (entitlements, an eSIM's current state, a customer link, ...).
pub fn stored_change(
    event: StreamEvent,
    old: serde_dynamo::Item,
    new: serde_dynamo::Item,
) -> Result<Option<StoredChange>, StoreError> {
    change_of(event, old.into(), new.into())
}

/// The image that holds a change's keys: the new one, or the old one of a removal.
fn keyed<'a>(event: StreamEvent, old: &'a Item, new: &'a Item) -> &'a Item {
    match event {
        StreamEvent::Remove => old,
        StreamEvent::Insert | StreamEvent::Modify => new,
    }
}

/// [`stored_change`] of images already read as items.
fn change_of(event: StreamEvent, old: Item, new: Item) -> Result<Option<StoredChange>, StoreError> {
    let Some(kind) = keys::kind(keyed(event, &old, &new)) else {
        return Ok(None);
    };
    // Every kind named, so a new kind of item is given its events, or none, on purpose.
    Ok(Some(match kind {
        Kind::Activation => {
            StoredChange::Activation(change(event, old, new, ActivationItem::read)?)
        }
        Kind::Profile => StoredChange::Profile(change(event, old, new, ProfileItem::read)?),
        Kind::UnclaimedRegistration => StoredChange::UnclaimedRegistration(change(
            event,
            old,
            new,
            UnclaimedRegistrationItem::read,
        )?),
        Kind::EsimHistory => StoredChange::EsimHistory(change(event, old, new, EsimItem::read)?),
        Kind::BalanceAlert => {
            StoredChange::BalanceAlert(change(event, old, new, BalanceAlertItem::read)?)
        }
        Kind::BalanceActivation => {
            StoredChange::BalanceActivation(change(event, old, new, BalanceActivationItem::read)?)
        }
        Kind::CountryHistory => {
            StoredChange::CountryHistory(change(event, old, new, CountryItem::read)?)
        }
        Kind::Purchase => StoredChange::Purchase(change(event, old, new, PurchaseItem::read)?),
        Kind::Erasure => StoredChange::Erasure(change(event, old, new, read_erasure)?),
        // Their facts are told by the items above (an entitlement's units by the purchases
        // that grant and refund them, an eSIM's current state and country by their history
        // entries), or are no fact (an operator's revocation). A customer id's move is told by
        // the profiles it moves between. Not read: an erasure deleting them is no fact either.
        Kind::Entitlement | Kind::EsimCurrent | Kind::CountryCurrent | Kind::CustomerLink => {
            return Ok(None)
        }
    }))
}

/// The fact one stream record stores, if any, with its origin: its images read
/// ([`stored_change`]) and the fact they store ([`fact_of`]); the subject is the item's
/// partition key, the sequence the record's sequence number padded to 40 digits, so that text
/// order is number order. Reads nothing else: an error means the record itself cannot be read
/// (`Malformed`), and will not be read on any retry.
pub fn fact_of_record(record: StreamRecord) -> Result<Option<(Origin, Fact)>, StoreError> {
    let event = StreamEvent::parse(&record.event_name)?;
    let (old, new): (Item, Item) = (record.old.into(), record.new.into());
    let subject = keys::text(keyed(event, &old, &new), keys::PK).map(str::to_owned);
    let change = change_of(event, old, new)?;
    let Some(fact) = change.as_ref().and_then(fact_of) else {
        return Ok(None);
    };
    // Never missing: an item without a partition key is of no kind, so gives no fact.
    let subject = subject.ok_or_else(|| StoreError::malformed(NoPartitionKey))?;
    let origin = Origin {
        id: record.id,
        subject,
        sequence: sequence(record.sequence_number)?,
    };
    Ok(Some((origin, fact)))
}

/// The domain event one stream record becomes, if any: its fact ([`fact_of_record`]) completed
/// through `lookups` ([`enrich`]). The publisher and the operator CLI both come here, so they
/// agree.
pub async fn event_of<L: EventLookups>(
    lookups: &L,
    record: StreamRecord,
) -> Result<Option<DomainEvent>, StoreError> {
    let Some((origin, fact)) = fact_of_record(record)? else {
        return Ok(None);
    };
    enrich(lookups, origin, fact).await.map(Some)
}

/// A stream record's `Keys` as its partition and sort key (empty where absent), which say
/// where its item is without showing what it holds.
pub fn keys_of(keys: serde_dynamo::Item) -> (String, String) {
    let keys: Item = keys.into();
    let key = |name| keys::text(&keys, name).unwrap_or_default().to_owned();
    (key(keys::PK), key(keys::SK))
}

/// A stream sequence number as a sequence: its digits, left-padded with zeros to 40.
fn sequence(number: Option<String>) -> Result<String, StoreError> {
    match number {
        Some(n)
            if (1..=SEQUENCE_DIGITS).contains(&n.len())
                && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(format!("{n:0>SEQUENCE_DIGITS$}"))
        }
        other => Err(StoreError::malformed(BadSequenceNumber(other))),
    }
}

/// The images of one change, each read by `read`.
fn change<T>(
    event: StreamEvent,
    old: Item,
    new: Item,
    read: impl Fn(Item) -> Result<T, StoreError>,
) -> Result<Change<T>, StoreError> {
    let image = |item: Item, which| match item.is_empty() {
        true => Err(StoreError::malformed(MissingImage(which))),
        false => read(item),
    };
    Ok(match event {
        StreamEvent::Insert => Change::Inserted(image(new, "new")?),
        StreamEvent::Modify => Change::Modified {
            old: image(old, "old")?,
            new: image(new, "new")?,
        },
        StreamEvent::Remove => Change::Removed(image(old, "old")?),
    })
}

/// The customer an item names, if any.
#[derive(Deserialize)]
struct CustomerOnly {
    #[serde(default)]
    customer_uid: Option<CustomerUid>,
}

impl EventLookups for DynamoStore {
    async fn user_of_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let profile = keys::profile_by_customer(customer);
        let found = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :customer AND gsi1sk = :profile")
            .expression_attribute_values(":customer", s(profile.pk))
            .expression_attribute_values(":profile", s(profile.sk))
            .send()
            .await
            .map_err(|e| failed("DynamoDB Query", e))?;
        let first = found.items.unwrap_or_default().into_iter().next();
        let user = first.map(from_item::<UserOnly>).transpose()?;
        Ok(user.map(|u| u.user_token))
    }

    async fn customer_of_user(&self, user: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        let found = self
            .get(keys::profile(user).attributes())
            // Only the id: the profile also holds the email, which an event never carries.
            .projection_expression("customer_uid")
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?;
        let stored = found.item.map(from_item::<CustomerOnly>).transpose()?;
        Ok(stored.and_then(|c| c.customer_uid))
    }

    async fn customer_of_iccid(&self, iccid: &Iccid) -> Result<Option<CustomerUid>, StoreError> {
        let found = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :esim AND begins_with(gsi1sk, :prefix)")
            .expression_attribute_values(":esim", s(keys::esim_pk(iccid)))
            .expression_attribute_values(":prefix", s(keys::BALANCE_ALERT_SK_PREFIX))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| failed("DynamoDB Query", e))?;
        let newest = found.items.unwrap_or_default().into_iter().next();
        let stored = newest.map(from_item::<CustomerOnly>).transpose()?;
        Ok(stored.and_then(|c| c.customer_uid))
    }
}

#[cfg(test)]
mod tests {
    use super::super::to_item;
    use super::*;
    use crate::domain::activation::{ActivationRecord, Decision};
    use crate::domain::erasure::UserHash;
    use crate::domain::ids::{ActivationId, ItemId};
    use aws_sdk_dynamodb::types::AttributeValue;
    use time::OffsetDateTime;

    fn image(item: Item) -> serde_dynamo::Item {
        item.into()
    }

    fn decision() -> Item {
        to_item(&ActivationItem::from(&ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            holder: crate::domain::erasure::Holder::User(UserToken::parse("u1").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            meta_tag: None,
            decision: Decision::Approved,
            decided_at: OffsetDateTime::from_unix_timestamp(0).unwrap(),
        }))
        .unwrap()
    }

    #[test]
    fn reads_images_with_the_writers_item_types() {
        let none = serde_dynamo::Item::from(Item::new());
        let change = stored_change(StreamEvent::Insert, none, image(decision())).unwrap();
        let Some(StoredChange::Activation(Change::Inserted(record))) = change else {
            panic!("not an inserted activation: {change:?}");
        };
        assert_eq!(record.activation_id, "a1");
    }

    #[test]
    fn other_items_are_no_change_and_missing_images_are_malformed() {
        let entitlement = Item::from([
            ("pk".to_owned(), AttributeValue::S("USER#u1".into())),
            ("sk".to_owned(), AttributeValue::S("ENT#1_GB".into())),
        ]);
        let none = || serde_dynamo::Item::from(Item::new());
        let change = stored_change(
            StreamEvent::Modify,
            image(entitlement.clone()),
            image(entitlement),
        );
        assert!(matches!(change, Ok(None)));
        let keys_only = stored_change(StreamEvent::Modify, none(), image(decision()));
        assert!(matches!(keys_only, Err(StoreError::Malformed(_))));
        assert!(StreamEvent::parse("UPSERT").is_err());
        assert_eq!(StreamEvent::parse("REMOVE").unwrap(), StreamEvent::Remove);
    }

    fn inserted(sequence_number: Option<&str>) -> StreamRecord {
        StreamRecord {
            id: "r1".into(),
            event_name: "INSERT".into(),
            sequence_number: sequence_number.map(str::to_owned),
            old: serde_dynamo::Item::from(Item::new()),
            new: image(decision()),
        }
    }

    #[test]
    fn a_facts_origin_is_its_records_id_its_items_partition_and_its_padded_sequence() {
        let (origin, fact) = fact_of_record(inserted(Some("1100000000017454423009")))
            .unwrap()
            .unwrap();
        assert_eq!(fact.event_type.as_str(), "activation.decided");
        assert_eq!(origin.id, "r1");
        assert_eq!(origin.subject, "ACTIVATION#a1");
        assert_eq!(
            origin.sequence,
            format!("{}1100000000017454423009", "0".repeat(18))
        );
        let (shorter, longer) = (sequence(Some("99".into())), sequence(Some("100".into())));
        assert!(
            shorter.unwrap() < longer.unwrap(),
            "text order is number order"
        );
        assert_eq!(sequence(Some("9".repeat(40))).unwrap(), "9".repeat(40));
    }

    /// An item of string attributes `strings` and number attributes `numbers`.
    fn item(strings: &[(&str, &str)], numbers: &[(&str, usize)]) -> Item {
        let strings = strings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())));
        let numbers = numbers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::N(v.to_string())));
        strings.chain(numbers).collect()
    }

    /// A stream record `name` of `old` and `new` images, at sequence number 1.
    fn record(name: &str, old: Item, new: Item) -> StreamRecord {
        StreamRecord {
            id: "r1".into(),
            event_name: name.into(),
            sequence_number: Some("1".into()),
            old: image(old),
            new: image(new),
        }
    }

    /// The subject and the fact of the event `record` becomes, if any.
    fn fact(record: StreamRecord) -> Option<(String, Fact)> {
        let read = fact_of_record(record).unwrap();
        read.map(|(origin, fact)| (origin.subject, fact))
    }

    /// A user's hash as an erasure writes it.
    fn hash() -> String {
        let key = crate::domain::erasure::UserHashKey::new(&[7u8; 32]).unwrap();
        key.hash(&UserToken::parse("u1").unwrap()).to_string()
    }

    /// The purchase `p1` as a grant stores it.
    fn granted() -> Item {
        item(
            &[
                ("pk", "PURCHASE#p1"),
                ("sk", "PURCHASE"),
                ("gsi1pk", "USER#u1"),
                ("gsi1sk", "PURCHASE#1_GB#2026-11-30T10:00:00.000Z#p1"),
                ("purchase_id", "p1"),
                ("user_token", "u1"),
                ("item_id", "1_GB"),
                ("delivery", "sdk"),
                ("granted_at", "2026-11-30T10:00:00.000Z"),
            ],
            &[("quantity", 2)],
        )
    }

    /// `purchase` as the refund's update leaves it.
    fn refunded(mut purchase: Item) -> Item {
        purchase.extend(item(
            &[
                ("refunded_at", "2026-12-01T10:00:00.000Z"),
                ("refund_reason", "chargeback"),
            ],
            &[("refund_units", 1), ("refund_used", 1), ("refund_void", 0)],
        ));
        purchase
    }

    /// `kept` as the erasure's update leaves it: the user replaced by its hash.
    fn erased(mut kept: Item) -> Item {
        for name in ["user_token", "gsi1pk", "gsi1sk"] {
            kept.remove(name);
        }
        kept.insert("user_hash".into(), AttributeValue::S(hash()));
        kept
    }

    #[test]
    fn a_purchase_stored_is_granted_and_its_refund_stored_is_refunded() {
        let (subject, granted_fact) = fact(record("INSERT", Item::new(), granted())).unwrap();
        assert_eq!(subject, "PURCHASE#p1");
        assert_eq!(granted_fact.event_type.as_str(), "purchase.granted");
        assert_eq!(granted_fact.user_token.unwrap(), "u1");
        let details = serde_json::to_value(&granted_fact.details).unwrap();
        assert_eq!(
            details,
            serde_json::json!({"purchaseId": "p1", "inventoryItemId": "1_GB", "quantity": 2, "delivery": "sdk", "grantedAt": "2026-11-30T10:00:00.000Z"})
        );

        let refund = record("MODIFY", granted(), refunded(granted()));
        let (subject, refunded_fact) = fact(refund).unwrap();
        assert_eq!(subject, "PURCHASE#p1", "ordered after its grant");
        assert_eq!(refunded_fact.event_type.as_str(), "purchase.refunded");
        let details = serde_json::to_value(&refunded_fact.details).unwrap();
        assert_eq!(
            details,
            serde_json::json!({"purchaseId": "p1", "inventoryItemId": "1_GB", "quantity": 2, "unitsRefunded": 1, "unitsUsed": 1, "unitsVoid": 0, "reason": "chargeback", "refundedAt": "2026-12-01T10:00:00.000Z"})
        );
    }

    #[test]
    fn a_purchase_marker_from_before_refunds_and_deliveries_still_reads() {
        let mut marker = granted();
        for name in ["gsi1pk", "gsi1sk", "delivery"] {
            marker.remove(name);
        }
        let (_, granted) = fact(record("INSERT", Item::new(), marker.clone())).unwrap();
        let details = serde_json::to_value(&granted.details).unwrap();
        assert_eq!(details["delivery"], "sdk");
        // Erased later: a rewrite, no event, and no error holding up the stream.
        assert!(fact(record("MODIFY", marker.clone(), erased(marker))).is_none());
    }

    #[test]
    fn an_erasures_rewrites_and_deletions_read_and_are_no_event() {
        for (old, new) in [
            (granted(), erased(granted())),
            (refunded(granted()), erased(refunded(granted()))),
            (decision(), erased(decision())),
        ] {
            assert!(fact(record("MODIFY", old, new)).is_none());
        }
        // After the erasure, a refund names the user by hash only.
        let late = record("MODIFY", erased(granted()), erased(refunded(granted())));
        let (_, late) = fact(late).unwrap();
        assert_eq!(late.event_type.as_str(), "purchase.refunded");
        assert_eq!(late.user_token, None);
        let details = serde_json::to_value(&late.details).unwrap();
        assert_eq!(details["userHash"], hash());

        let profile = item(
            &[
                ("pk", "USER#u1"),
                ("sk", "PROFILE"),
                ("gsi1pk", "CUSTOMER#c1"),
                ("gsi1sk", "PROFILE"),
                ("user_token", "u1"),
                ("email", "someone@example.com"),
                ("customer_uid", "c1"),
                ("customer_registered_at", "2026-11-30T10:00:00.000Z"),
            ],
            &[],
        );
        let unclaimed = item(
            &[
                ("pk", "USER#u1"),
                ("sk", "UNCLAIMED_CUSTOMER#c2"),
                ("gsi1pk", "CUSTOMER#c2"),
                ("gsi1sk", "UNCLAIMED#u1"),
                ("user_token", "u1"),
                ("customer_uid", "c2"),
                ("received_at", "2026-11-30T10:00:00.000Z"),
            ],
            &[],
        );
        let entitlement = item(
            &[
                ("pk", "USER#u1"),
                ("sk", "ENT#1_GB"),
                ("user_token", "u1"),
                ("item_id", "1_GB"),
            ],
            &[("units_granted", 2), ("units_used", 1)],
        );
        let link = item(
            &[("pk", "CUSTOMER#c1"), ("sk", "LINK"), ("user_token", "u1")],
            &[],
        );
        for deleted in [profile, unclaimed, entitlement, link] {
            let keys = (deleted["pk"].clone(), deleted["sk"].clone());
            let removal = record("REMOVE", deleted, Item::new());
            assert!(fact(removal).is_none(), "{keys:?}");
        }
    }

    #[test]
    fn an_erasure_record_is_the_user_erased_event_under_its_hash() {
        let erased_at = "2026-12-02T10:00:00.000Z";
        let key = keys::erasure(
            &UserHash::try_from(hash()).unwrap(),
            crate::domain::clock::parse(erased_at).unwrap(),
        );
        let record_item = item(
            &[
                ("pk", &key.pk),
                ("sk", &key.sk),
                ("user_hash", &hash()),
                ("erased_at", erased_at),
            ],
            &[
                ("profiles", 1),
                ("entitlements", 1),
                ("unclaimed_registrations", 1),
                ("activations", 1),
                ("purchases", 2),
            ],
        );
        let (subject, erasure) = fact(record("INSERT", Item::new(), record_item.clone())).unwrap();
        assert_eq!(subject, format!("ERASED#{}", hash()));
        assert_eq!(erasure.event_type.as_str(), "user.erased");
        assert_eq!(erasure.user_token, None);
        assert_eq!(
            serde_json::to_value(&erasure.details).unwrap(),
            serde_json::json!({"userHash": hash(), "profiles": 1, "entitlements": 1, "unclaimedRegistrations": 1, "activations": 1, "purchases": 2, "erasedAt": erased_at})
        );
        let again = record("MODIFY", record_item.clone(), record_item);
        assert!(fact(again).is_none());
    }

    #[test]
    fn a_record_without_a_sequence_number_of_digits_cannot_be_read() {
        for bad in [None, Some(""), Some("12a"), Some(&*"1".repeat(41))] {
            let read = fact_of_record(inserted(bad));
            assert!(matches!(read, Err(StoreError::Malformed(_))), "{bad:?}");
        }
    }
}
