//! Countries in memory: one timeline per SIM.

use crate::domain::country::{CountryChangeRecord, CountryStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

use super::{InMemoryStore, Timeline};

impl CountryStore for InMemoryStore {
    async fn record_country(&self, record: &CountryChangeRecord) -> Result<Recorded, StoreError> {
        let iccid = &record.change.iccid;
        Ok(Timeline::record(
            &mut self.tables().countries,
            iccid,
            record,
        ))
    }
}
