//! Facts kept as a current item plus history entries in their subject's partition (eSIM
//! statuses, countries). The usual, in-order fact is one transaction; a fact older than the
//! current one (a late replay) takes two more requests that place it in the history by its time.

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure};

use super::items::Item;
use super::{s, unbuildable, DynamoStore, Transacted, Transaction};
use crate::domain::store::StoreError;
use crate::domain::timeline::{Recorded, Tracked};

/// Write names in the transaction.
const CURRENT: &str = "current value";
const HISTORY: &str = "history entry";

/// A tracked fact as the table keeps it.
pub(super) trait TrackedItem: Tracked + Send + Sync {
    /// The sort key prefix of its history entries.
    const HISTORY_PREFIX: &'static str;

    /// Its history entry, keys included.
    fn history_item(&self) -> Result<Item, StoreError>;

    /// The partition and sort key of its history entry.
    fn history_key(&self) -> (String, String);

    /// The update of the current item to this fact (its key, expressions and values; the
    /// table is added), on the condition that the item does not exist or holds an older fact
    /// that this one changes.
    fn current_update(&self) -> UpdateBuilder;

    /// Reads a stored current item or history entry.
    fn read(item: Item) -> Result<Self, StoreError>;
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
        let update = fact
            .current_update()
            .table_name(self.table())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(unbuildable)?;
        let append = Put::builder()
            .table_name(self.table())
            .set_item(Some(fact.history_item()?))
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
        let (pk, sk) = fact.history_key();
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
            .find(|item| item.get("sk") != Some(&s(&sk)));
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
        match self.put_new(fact.history_item()?).await? {
            true => Ok(Recorded::Late),
            false => Ok(Recorded::Unchanged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::items;
    use super::*;

    #[test]
    fn the_range_past_a_prefix_holds_every_key_with_it_and_no_other() {
        for prefix in [
            items::ESIM_HISTORY_SK_PREFIX,
            items::COUNTRY_HISTORY_SK_PREFIX,
        ] {
            let end = past(prefix);
            assert!(format!("{prefix}9999-12-31T23:59:59.999Z#ZZZ~~~").as_str() < end.as_str());
            assert!(prefix < end.as_str());
        }
        // The current country's key is outside its history's range.
        assert!(items::COUNTRY_SK < items::COUNTRY_HISTORY_SK_PREFIX);
        assert!(past(items::COUNTRY_HISTORY_SK_PREFIX).as_str() < items::ESIM_CURRENT_SK);
    }
}
