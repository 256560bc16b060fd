//! Top-ups in memory: due ones found by time, moved only from the version read, as the
//! adapter's conditional update does.

use time::OffsetDateTime;

use crate::domain::ids::PurchaseId;
use crate::domain::purchase::Purchase;
use crate::domain::store::StoreError;
use crate::domain::topup::{TopUp, TopUpJob, TopUpStore};

use super::InMemoryStore;

fn job(purchase: &Purchase) -> Option<TopUpJob> {
    Some(TopUpJob {
        purchase_id: purchase.purchase_id.clone(),
        item: purchase.item.clone(),
        granted_at: purchase.granted_at,
        top_up: *purchase.top_up.clone()?,
    })
}

impl TopUpStore for InMemoryStore {
    async fn due_top_ups(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<TopUpJob>, StoreError> {
        let t = self.tables();
        let mut due: Vec<(OffsetDateTime, TopUpJob)> = t
            .purchases
            .values()
            .filter_map(job)
            .filter_map(|j| j.top_up.due_at().filter(|at| *at <= now).map(|at| (at, j)))
            .collect();
        // As the index orders them: by due time, then purchase id.
        due.sort_by(|a, b| (a.0, &a.1.purchase_id).cmp(&(b.0, &b.1.purchase_id)));
        Ok(due.into_iter().take(limit).map(|(_, j)| j).collect())
    }

    async fn top_up(&self, id: &PurchaseId) -> Result<Option<TopUpJob>, StoreError> {
        Ok(self.tables().purchases.get(id).and_then(job))
    }

    async fn move_top_up(
        &self,
        id: &PurchaseId,
        from: u32,
        to: &TopUp,
    ) -> Result<bool, StoreError> {
        let mut t = self.tables();
        match t.purchases.get_mut(id) {
            Some(p) if p.top_up.as_ref().is_some_and(|t| t.version == from) => {
                p.top_up = Some(Box::new(to.clone()));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
