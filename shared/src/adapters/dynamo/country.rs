//! Country changes: an eSIM's current country plus history, kept as a timeline (`timeline`).

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::Update;

use super::items::{self, CountryItem, Item, COUNTRY_HISTORY_SK_PREFIX};
use super::s;
use super::timeline::TrackedItem;
use super::DynamoStore;
use crate::domain::country::{CountryChangeRecord, CountryStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

impl TrackedItem for CountryChangeRecord {
    const HISTORY_PREFIX: &'static str = COUNTRY_HISTORY_SK_PREFIX;

    fn history_item(&self) -> Result<Item, StoreError> {
        items::to_item(&CountryItem::history(self))
    }

    fn history_key(&self) -> (String, String) {
        let entry = CountryItem::history(self);
        (entry.pk, entry.sk)
    }

    fn current_update(&self) -> UpdateBuilder {
        let change = &self.change;
        // The current country is the newest one received, unless it repeats the one on file.
        let (set, changed) = match &change.previous_country {
            Some(_) => (
                "SET iccid = :iccid, imsi = :imsi, previous_country = :previous, new_country = :new, received_at = :at",
                "attribute_not_exists(pk) OR (received_at < :at AND (new_country <> :new OR imsi <> :imsi OR attribute_not_exists(previous_country) OR previous_country <> :previous))",
            ),
            None => (
                "SET iccid = :iccid, imsi = :imsi, new_country = :new, received_at = :at REMOVE previous_country",
                "attribute_not_exists(pk) OR (received_at < :at AND (new_country <> :new OR imsi <> :imsi OR attribute_exists(previous_country)))",
            ),
        };
        let update = Update::builder()
            .set_key(Some(CountryItem::current_key(&change.iccid)))
            .update_expression(set)
            .condition_expression(changed)
            .expression_attribute_values(":iccid", s(change.iccid.as_str()))
            .expression_attribute_values(":imsi", s(change.imsi.as_str()))
            .expression_attribute_values(":new", s(change.new_country.as_str()))
            .expression_attribute_values(":at", s(crate::domain::clock::format(self.received_at)));
        match &change.previous_country {
            Some(previous) => update.expression_attribute_values(":previous", s(previous.as_str())),
            None => update,
        }
    }

    fn read(item: Item) -> Result<Self, StoreError> {
        CountryItem::read(item)
    }
}

impl CountryStore for DynamoStore {
    async fn record_country(&self, record: &CountryChangeRecord) -> Result<Recorded, StoreError> {
        self.record_tracked(record).await
    }
}
