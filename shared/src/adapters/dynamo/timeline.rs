//! Facts kept as a current item plus history entries in their subject's partition (eSIM
//! statuses, countries). The usual, in-order fact is one transaction; a fact older than the
//! current one (a late replay) takes two more requests that place it in the history by its time.
//!
//! The current item's update is built from the history entry, so the two hold the same
//! attributes: a new field of the item reaches both or neither. Only the condition, which
//! decides whether a fact replaces the current one, is written by hand.

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, Update};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys::{self, Key};
use super::{s, to_item, unbuildable, DynamoStore, Item, Transacted, Transaction};
use crate::domain::store::StoreError;
use crate::domain::timeline::{Recorded, Tracked};

/// Write names in the transaction.
const CURRENT: &str = "current value";
const HISTORY: &str = "history entry";

/// A tracked fact as the table keeps it.
pub(super) trait TrackedItem: Tracked + Send + Sync {
    /// The item type of both its current item and its history entries.
    type Stored: Serialize + DeserializeOwned;

    /// The sort key prefix of its history entries.
    const HISTORY_PREFIX: &'static str;

    /// Attributes an absent value leaves as the current item has them; every other attribute
    /// of [`Self::Stored`] that the fact lacks is removed.
    const KEPT_WHEN_ABSENT: &'static [&'static str] = &[];

    /// Its history entry, keys included.
    fn history_entry(&self) -> Self::Stored;

    /// The key of its history entry.
    fn history_key(&self) -> Key;

    /// The key of its subject's current item.
    fn current_key(&self) -> Key;

    /// The condition on which it replaces the current item: the item does not exist, or holds
    /// an older fact that this one changes. Names values as the update does: `:<attribute>`.
    fn replaces_current(&self) -> &'static str;

    /// Reads a stored current item or history entry.
    fn read(item: Item) -> Result<Self, StoreError>;
}

/// The update of `fact`'s current item to what its history entry `entry` holds: every
/// attribute but the keys `SET`, absent ones `REMOVE`d (unless kept), on its condition.
pub(super) fn current_update<F: TrackedItem>(fact: &F, entry: &Item) -> UpdateBuilder {
    let attributes = attribute_names::<F::Stored>();
    let updated = |name: &&str| !keys::KEY_ATTRIBUTES.contains(name);
    let mut present: Vec<&str> = entry.keys().map(String::as_str).filter(updated).collect();
    // In the item type's field order, so the expression reads like the type.
    let order = |name: &str| attributes.iter().position(|a| *a == name);
    present.sort_by_key(|name| (order(name).unwrap_or(usize::MAX), *name));
    let absent: Vec<&str> = (attributes.iter().copied().filter(updated))
        .filter(|name| !entry.contains_key(*name) && !F::KEPT_WHEN_ABSENT.contains(name))
        .collect();

    // Placeholders are the attribute names, so the hand-written condition names the same
    // values; `#` keeps an attribute named like a reserved word valid.
    let set: Vec<String> = present.iter().map(|n| format!("#{n} = :{n}")).collect();
    let mut expression = format!("SET {}", set.join(", "));
    if !absent.is_empty() {
        let remove: Vec<String> = absent.iter().map(|n| format!("#{n}")).collect();
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let names = (present.iter().chain(&absent))
        .map(|n| (format!("#{n}"), (*n).to_owned()))
        .collect();
    let values = (present.iter())
        .map(|n| (format!(":{n}"), entry[*n].clone()))
        .collect();
    Update::builder()
        .set_key(Some(fact.current_key().attributes()))
        .update_expression(expression)
        .condition_expression(fact.replaces_current())
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
}

/// The attribute names of item type `T`: the fields its `Deserialize` asks for. Known from
/// the type, not from one value, so an attribute a fact lacks is still known to be removed.
fn attribute_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error, Visitor};
    /// A deserializer that only notes the fields a struct asks for, then stops.
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Fields<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Error::custom("fields noted"))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Error::custom("not a struct"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    // Always an error: the deserializer stops once it has the fields.
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// Past every sort key that starts with `prefix`, for a range over exactly those keys
/// (`#` is followed by `$`).
fn past(prefix: &str) -> String {
    let mut end = prefix.trim_end_matches('#').to_owned();
    end.push('$');
    end
}

impl DynamoStore {
    /// Records `fact`: as the current value and a history entry if it is the newest and changes
    /// something; as a history entry only if a newer one is current and it repeats neither
    /// history entry next to it; not at all otherwise.
    pub(super) async fn record_tracked<F: TrackedItem>(
        &self,
        fact: &F,
    ) -> Result<Recorded, StoreError> {
        let unbuildable = |e| unbuildable("DynamoDB TransactWriteItems", e);
        // Only a newer fact that changes something replaces the current one; otherwise the
        // condition fails, the whole transaction is dropped, and the current value comes back.
        let entry = to_item(&fact.history_entry())?;
        let update = current_update(fact, &entry)
            .table_name(self.table())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(unbuildable)?;
        let append = Put::builder()
            .table_name(self.table())
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unbuildable)?;
        let writes = Transaction::default()
            .update(CURRENT, update)
            .put(HISTORY, append);
        let cancelled = match self.transact(writes).await? {
            Transacted::Committed => return Ok(Recorded::Changed),
            Transacted::ConditionFailed(cancelled) => cancelled,
        };
        let current = cancelled.item(CURRENT).cloned().map(F::read).transpose()?;
        match current {
            // This exact entry is already in the history (same fact, same millisecond).
            _ if cancelled.failed(HISTORY) => Ok(Recorded::Unchanged),
            Some(current) if current.received_at() >= fact.received_at() => {
                self.record_late(fact).await
            }
            // Newer, but it repeats the current value: a redelivery.
            _ => Ok(Recorded::Unchanged),
        }
    }

    /// The history entry received right before `fact` (or right after it, with `after`).
    async fn neighbour<F: TrackedItem>(
        &self,
        fact: &F,
        after: bool,
    ) -> Result<Option<F>, StoreError> {
        let Key { pk, sk } = fact.history_key();
        let query = self
            .query()
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(&pk))
            .consistent_read(true)
            // The entry itself, if already there, is not its own neighbour.
            .limit(2);
        let query = match after {
            true => query
                .expression_attribute_values(":from", s(&sk))
                .expression_attribute_values(":to", s(past(F::HISTORY_PREFIX))),
            false => query
                .expression_attribute_values(":from", s(F::HISTORY_PREFIX))
                .expression_attribute_values(":to", s(&sk))
                .scan_index_forward(false),
        };
        let found = query
            .send()
            .await
            .map_err(|e| super::failed("DynamoDB Query", e))?;
        let neighbour = found
            .items()
            .iter()
            .find(|item| keys::text(item, keys::SK) != Some(sk.as_str()));
        neighbour.cloned().map(F::read).transpose()
    }

    /// Places a fact older than the current one in the history by its time, unless it repeats
    /// the entry before or after it: then it is a redelivery (as it was when first received,
    /// or one that lost a race with its twin received a moment later).
    async fn record_late<F: TrackedItem>(&self, fact: &F) -> Result<Recorded, StoreError> {
        for after in [false, true] {
            let neighbour = self.neighbour(fact, after).await?;
            if neighbour.is_some_and(|n| fact.repeats(&n)) {
                return Ok(Recorded::Unchanged);
            }
        }
        match self.put_new(to_item(&fact.history_entry())?).await? {
            true => Ok(Recorded::Late),
            false => Ok(Recorded::Unchanged),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::country::{Country, CountryChange, CountryChangeRecord};
    use crate::domain::esim::{EsimStatus, EsimStatusRecord, ProfileState};
    use crate::domain::ids::{Eid, Iccid, Imsi};

    /// Every attribute of `fact`'s history entry but the keys is set on the current item, to
    /// the same value, and every value the condition names is one of them.
    fn assert_current_holds_the_entry<F: TrackedItem>(fact: &F) {
        let entry = to_item(&fact.history_entry()).unwrap();
        let update = current_update(fact, &entry)
            .table_name("t")
            .build()
            .unwrap();
        let (names, values) = (
            update.expression_attribute_names().unwrap(),
            update.expression_attribute_values().unwrap(),
        );
        let set = update.update_expression().split(" REMOVE ").next().unwrap();
        for (name, value) in entry
            .iter()
            .filter(|(n, _)| !keys::KEY_ATTRIBUTES.contains(&n.as_str()))
        {
            assert!(
                set.contains(&format!("#{name} = :{name}")),
                "{name} not in {set}"
            );
            assert_eq!(names[&format!("#{name}")], *name);
            assert_eq!(values[&format!(":{name}")], *value);
        }
        assert_eq!(values.len(), entry.len() - keys::KEY_ATTRIBUTES.len());
        let condition = update.condition_expression().unwrap();
        for placeholder in condition.split(|c: char| !(c.is_alphanumeric() || c == ':' || c == '_'))
        {
            if placeholder.starts_with(':') {
                assert!(values.contains_key(placeholder), "{placeholder} unbound");
            }
        }
    }

    #[test]
    fn the_current_item_is_set_to_every_attribute_of_the_history_entry() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let iccid = Iccid::parse("89361123300836129514").unwrap();
        let imsi = Imsi::parse("260216611193634").unwrap();
        for eid in [None, Some(Eid::parse("8904903200000100").unwrap())] {
            let status = EsimStatus {
                iccid: iccid.clone(),
                imsi: imsi.clone(),
                profile_state: ProfileState::Released,
                eid,
            };
            assert_current_holds_the_entry(&EsimStatusRecord {
                status,
                received_at: at,
            });
        }
        for previous_country in [None, Some(Country::parse("previousCountry", "AT").unwrap())] {
            let change = CountryChange {
                iccid: iccid.clone(),
                imsi: imsi.clone(),
                previous_country,
                new_country: Country::parse("newCountry", "DE").unwrap(),
            };
            assert_current_holds_the_entry(&CountryChangeRecord {
                change,
                received_at: at,
            });
        }
    }

    #[test]
    fn the_range_past_a_prefix_holds_every_key_with_it_and_no_other() {
        for prefix in [
            keys::ESIM_HISTORY_SK_PREFIX,
            keys::COUNTRY_HISTORY_SK_PREFIX,
        ] {
            let end = past(prefix);
            assert!(format!("{prefix}9999-12-31T23:59:59.999Z#ZZZ~~~").as_str() < end.as_str());
            assert!(prefix < end.as_str());
        }
        // The current country's key is outside its history's range.
        assert!(keys::COUNTRY_SK < keys::COUNTRY_HISTORY_SK_PREFIX);
        assert!(past(keys::COUNTRY_HISTORY_SK_PREFIX).as_str() < keys::ESIM_CURRENT_SK);
    }
}
