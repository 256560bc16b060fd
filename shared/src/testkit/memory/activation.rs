//! Activation decisions in memory: the approval and its one decision per activation id.

use crate::domain::activation::{ActivationRecord, ActivationStore, ApproveOutcome, RecordOutcome};
use crate::domain::ids::ActivationId;
use crate::domain::store::StoreError;

use super::InMemoryStore;

impl ActivationStore for InMemoryStore {
    async fn approve(&self, approval: &ActivationRecord) -> Result<ApproveOutcome, StoreError> {
        let mut t = self.tables();
        if let Some(existing) = t.activations.get(&approval.activation_id) {
            return Ok(ApproveOutcome::AlreadyDecided(existing.clone()));
        }
        let user = approval
            .holder
            .user_token()
            .ok_or(StoreError::Inconsistent(
                "approving an activation for an erased user",
            ))?;
        let key = (user.clone(), approval.item.clone());
        let epoch = approval.decided_at.unix_timestamp();
        match t.entitlements.get_mut(&key) {
            Some(e)
                if e.units_used < e.units_granted
                    && e.expires_at.is_none_or(|at| at.unix_timestamp() > epoch) =>
            {
                e.units_used += 1;
            }
            other => return Ok(ApproveOutcome::NotEntitled(other.map(|e| e.clone()))),
        }
        t.activations
            .insert(approval.activation_id.clone(), approval.clone());
        Ok(ApproveOutcome::Approved)
    }

    async fn record(&self, refusal: &ActivationRecord) -> Result<RecordOutcome, StoreError> {
        let mut t = self.tables();
        if let Some(existing) = t.activations.get(&refusal.activation_id) {
            return Ok(RecordOutcome::AlreadyDecided(existing.clone()));
        }
        t.activations
            .insert(refusal.activation_id.clone(), refusal.clone());
        Ok(RecordOutcome::Recorded)
    }

    async fn activation(&self, id: &ActivationId) -> Result<Option<ActivationRecord>, StoreError> {
        Ok(self.tables().activations.get(id).cloned())
    }
}
