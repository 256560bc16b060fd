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
use super::esim::EsimItem;
use super::keys::{self, Kind, GSI1};
use super::registration::{ProfileItem, UnclaimedRegistrationItem, UserOnly};
use super::{failed, from_item, s, DynamoStore, Item};
use crate::domain::events::{enrich, fact_of, Change, DomainEvent, EventLookups, StoredChange};
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

/// The stored change a stream record reports, its images read into domain records; `None`
/// for items no event comes from (entitlements, purchases, an eSIM's current state, ...).
pub fn stored_change(
    event: StreamEvent,
    old: serde_dynamo::Item,
    new: serde_dynamo::Item,
) -> Result<Option<StoredChange>, StoreError> {
    let (old, new): (Item, Item) = (old.into(), new.into());
    let keyed = match event {
        StreamEvent::Remove => &old,
        StreamEvent::Insert | StreamEvent::Modify => &new,
    };
    let Some(kind) = keys::kind(keyed) else {
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
        // Their facts are told by the items above (an eSIM's current state and country by
        // their history entries).
        Kind::Entitlement | Kind::Purchase | Kind::EsimCurrent | Kind::CountryCurrent => {
            return Ok(None)
        }
    }))
}

/// The domain event one stream record becomes, if any: its images read ([`stored_change`]),
/// the fact they store ([`fact_of`]), completed through `lookups` ([`enrich`]) under `id`, the
/// record's `eventID`. The publisher and the operator CLI both come here, so they agree.
pub async fn event_of<L: EventLookups>(
    lookups: &L,
    id: String,
    event_name: &str,
    old: serde_dynamo::Item,
    new: serde_dynamo::Item,
) -> Result<Option<DomainEvent>, StoreError> {
    let change = stored_change(StreamEvent::parse(event_name)?, old, new)?;
    let Some(fact) = change.as_ref().and_then(fact_of) else {
        return Ok(None);
    };
    enrich(lookups, id, fact).await.map(Some)
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
    use crate::domain::ids::{ActivationId, ItemId};
    use aws_sdk_dynamodb::types::AttributeValue;
    use time::OffsetDateTime;

    fn image(item: Item) -> serde_dynamo::Item {
        item.into()
    }

    fn decision() -> Item {
        to_item(&ActivationItem::from(&ActivationRecord {
            activation_id: ActivationId::parse("a1").unwrap(),
            user_token: UserToken::parse("u1").unwrap(),
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
}
