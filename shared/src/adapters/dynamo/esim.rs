//! eSIM status facts: current state plus history, kept as a timeline (`timeline`); and the item
//! that keeps a status.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{self, Key};
use super::timeline::TrackedItem;
use super::{from_item, DynamoStore, Item};
use crate::domain::esim::{EsimStatus, EsimStatusRecord, EsimStore, ProfileState};
use crate::domain::ids::{Eid, Iccid, Imsi};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

/// An eSIM status, both as the current state (`ESIM#<iccid>` / `CURRENT`) and as a history
/// entry (`ESIM#<iccid>` / `HISTORY#<receivedAt>#<state>`, written once).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EsimItem {
    pk: String,
    sk: String,
    iccid: Iccid,
    imsi: Imsi,
    profile_state: ProfileState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eid: Option<Eid>,
    #[serde(with = "crate::domain::clock::stored")]
    received_at: OffsetDateTime,
}

impl EsimItem {
    /// The history entry of `r`.
    fn history(r: &EsimStatusRecord) -> Self {
        let Key { pk, sk } = r.history_key();
        let status = &r.status;
        Self {
            pk,
            sk,
            iccid: status.iccid.clone(),
            imsi: status.imsi.clone(),
            profile_state: status.profile_state.clone(),
            eid: status.eid.clone(),
            received_at: r.received_at,
        }
    }

    /// Reads a stored status.
    pub(super) fn read(item: Item) -> Result<EsimStatusRecord, StoreError> {
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

impl TrackedItem for EsimStatusRecord {
    type Stored = EsimItem;

    const HISTORY_PREFIX: &'static str = keys::ESIM_HISTORY_SK_PREFIX;

    // A status without an eid keeps the one on file.
    const KEPT_WHEN_ABSENT: &'static [&'static str] = &["eid"];

    fn history_entry(&self) -> EsimItem {
        EsimItem::history(self)
    }

    fn history_key(&self) -> Key {
        let status = &self.status;
        keys::esim_history(&status.iccid, self.received_at, &status.profile_state)
    }

    fn current_key(&self) -> Key {
        keys::esim_current(&self.status.iccid)
    }

    fn replaces_current(&self) -> &'static str {
        match &self.status.eid {
            Some(_) => {
                "attribute_not_exists(pk) OR (received_at < :received_at AND (profile_state <> :profile_state OR imsi <> :imsi OR attribute_not_exists(eid) OR eid <> :eid))"
            }
            None => {
                "attribute_not_exists(pk) OR (received_at < :received_at AND (profile_state <> :profile_state OR imsi <> :imsi))"
            }
        }
    }

    fn read(item: Item) -> Result<Self, StoreError> {
        EsimItem::read(item)
    }
}

impl EsimStore for DynamoStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        self.record_tracked(record).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::super::timeline::current_update;
    use super::super::to_item;
    use super::*;

    fn status(eid: Option<&str>) -> EsimStatusRecord {
        EsimStatusRecord {
            status: EsimStatus {
                iccid: Iccid::parse("89361123300836129514").unwrap(),
                imsi: Imsi::parse("260216611193634").unwrap(),
                profile_state: ProfileState::Installed,
                eid: eid.map(|e| Eid::parse(e).unwrap()),
            },
            received_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        }
    }

    #[test]
    fn a_stored_item_of_the_wrong_shape_is_malformed_not_a_panic() {
        let item = HashMap::from([("pk".to_owned(), AttributeValue::S("ESIM#1".into()))]);
        assert!(matches!(
            EsimItem::read(item),
            Err(StoreError::Malformed(_))
        ));
    }

    #[test]
    fn the_eid_reaches_the_current_item_and_an_absent_one_keeps_the_stored_one() {
        let with = status(Some("89049032000001000000123456789012"));
        let entry = to_item(&with.history_entry()).unwrap();
        let update = current_update(&with, &entry)
            .table_name("t")
            .build()
            .unwrap();
        assert_eq!(
            update.update_expression(),
            "SET #iccid = :iccid, #imsi = :imsi, #profile_state = :profile_state, #eid = :eid, #received_at = :received_at"
        );
        let values = update.expression_attribute_values().unwrap();
        assert_eq!(values[":eid"], entry["eid"]);
        assert_eq!(update.key()["sk"], AttributeValue::S("CURRENT".into()));

        let without = status(None);
        let entry = to_item(&without.history_entry()).unwrap();
        let update = current_update(&without, &entry)
            .table_name("t")
            .build()
            .unwrap();
        assert!(!update.update_expression().contains("eid"));
        assert!(!update
            .expression_attribute_names()
            .unwrap()
            .contains_key("#eid"));
    }
}
