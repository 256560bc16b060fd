//! Country changes: an eSIM's current country plus history, kept as a timeline (`timeline`);
//! and the item that keeps a country change.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{self, Key};
use super::timeline::TrackedItem;
use super::{from_item, DynamoStore, Item};
use crate::domain::country::{Country, CountryChange, CountryChangeRecord, CountryStore};
use crate::domain::ids::{Iccid, Imsi};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

/// An eSIM's country, both as the current one (`ESIM#<iccid>` / `COUNTRY`) and as a history
/// entry (`ESIM#<iccid>` / `COUNTRY#<receivedAt>#<newCountry>`, written once).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CountryItem {
    pk: String,
    sk: String,
    iccid: Iccid,
    imsi: Imsi,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_country: Option<Country>,
    new_country: Country,
    #[serde(with = "crate::domain::clock::stored")]
    received_at: OffsetDateTime,
}

impl CountryItem {
    /// The history entry of `r`.
    fn history(r: &CountryChangeRecord) -> Self {
        let Key { pk, sk } = r.history_key();
        let change = &r.change;
        Self {
            pk,
            sk,
            iccid: change.iccid.clone(),
            imsi: change.imsi.clone(),
            previous_country: change.previous_country,
            new_country: change.new_country,
            received_at: r.received_at,
        }
    }

    /// Reads a stored country change.
    pub(super) fn read(item: Item) -> Result<CountryChangeRecord, StoreError> {
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

impl TrackedItem for CountryChangeRecord {
    type Stored = CountryItem;

    const HISTORY_PREFIX: &'static str = keys::COUNTRY_HISTORY_SK_PREFIX;

    fn history_entry(&self) -> CountryItem {
        CountryItem::history(self)
    }

    fn history_key(&self) -> Key {
        let change = &self.change;
        keys::country_history(&change.iccid, self.received_at, change.new_country)
    }

    fn current_key(&self) -> Key {
        keys::country_current(&self.change.iccid)
    }

    fn replaces_current(&self) -> &'static str {
        // The current country is the newest one received, unless it repeats the one on file.
        match &self.change.previous_country {
            Some(_) => {
                "attribute_not_exists(pk) OR (received_at < :received_at AND (new_country <> :new_country OR imsi <> :imsi OR attribute_not_exists(previous_country) OR previous_country <> :previous_country))"
            }
            None => {
                "attribute_not_exists(pk) OR (received_at < :received_at AND (new_country <> :new_country OR imsi <> :imsi OR attribute_exists(previous_country)))"
            }
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

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::super::timeline::current_update;
    use super::super::to_item;
    use super::*;

    fn change(previous: Option<&str>) -> CountryChangeRecord {
        CountryChangeRecord {
            change: CountryChange {
                iccid: Iccid::parse("89361123300836129514").unwrap(),
                imsi: Imsi::parse("260216611193634").unwrap(),
                previous_country: previous.map(|c| Country::parse("previousCountry", c).unwrap()),
                new_country: Country::parse("newCountry", "DE").unwrap(),
            },
            received_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        }
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
    fn the_previous_country_reaches_the_current_item_and_an_absent_one_is_removed() {
        let moved = change(Some("AT"));
        let entry = to_item(&moved.history_entry()).unwrap();
        let update = current_update(&moved, &entry)
            .table_name("t")
            .build()
            .unwrap();
        assert_eq!(
            update.update_expression(),
            "SET #iccid = :iccid, #imsi = :imsi, #previous_country = :previous_country, #new_country = :new_country, #received_at = :received_at"
        );
        let values = update.expression_attribute_values().unwrap();
        assert_eq!(values[":previous_country"], AttributeValue::S("AT".into()));
        assert_eq!(update.key()["sk"], AttributeValue::S("COUNTRY".into()));

        let first = change(None);
        let entry = to_item(&first.history_entry()).unwrap();
        let update = current_update(&first, &entry)
            .table_name("t")
            .build()
            .unwrap();
        assert_eq!(
            update.update_expression(),
            "SET #iccid = :iccid, #imsi = :imsi, #new_country = :new_country, #received_at = :received_at REMOVE #previous_country"
        );
    }
}
