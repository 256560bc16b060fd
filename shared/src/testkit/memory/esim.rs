//! eSIM statuses in memory: one timeline per SIM.

use crate::domain::esim::{EsimStatusRecord, EsimStore};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

use super::{InMemoryStore, Timeline};

impl EsimStore for InMemoryStore {
    async fn record_status(&self, record: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        let iccid = &record.status.iccid;
        Ok(Timeline::record(&mut self.tables().esims, iccid, record))
    }
}
