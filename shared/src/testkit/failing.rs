//! A store whose every request fails the same way.

use time::OffsetDateTime;

use crate::domain::activation::{ActivationRecord, ActivationStore, ApproveOutcome, RecordOutcome};
use crate::domain::balance::{BalanceActivationRecord, BalanceAlertRecord, BalanceStore};
use crate::domain::country::{CountryChangeRecord, CountryStore};
use crate::domain::entitlement::{Entitlement, EntitlementStore};
use crate::domain::erasure::{Erasure, ErasureStore, UserRecords};
use crate::domain::esim::{EsimStatusRecord, EsimStore};
use crate::domain::events::EventLookups;
use crate::domain::ids::Iccid;
use crate::domain::ids::PurchaseId;
use crate::domain::ids::{ActivationId, CustomerUid, ItemId, UserToken};
use crate::domain::purchase::{Grant, GrantWrite, Purchase, PurchaseStore, Refund, RefundWrite};
use crate::domain::registration::{CustomerRegistration, Registered, RegistrationStore};
use crate::domain::store::{FailureClass, StoreError};
use crate::domain::timeline::Recorded;
use crate::domain::topup::{TopUp, TopUpJob, TopUpStore};
use crate::domain::views::{EsimHistory, ReadModels, UserSummary};

/// How a [`FailingStore`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every request fails with a transient error (as throttling would).
    Transient,
    /// Every request fails with a permanent error (as a missing table would).
    Permanent,
    /// No request is ever answered.
    NeverAnswers,
}

/// A store that fails every request as its [`Failure`] says.
#[derive(Debug, Clone, Copy)]
pub struct FailingStore(pub Failure);

impl crate::domain::store::Store for FailingStore {}

impl FailingStore {
    async fn fail<T>(&self, operation: &'static str) -> Result<T, StoreError> {
        let (class, message) = match self.0 {
            Failure::Transient => (FailureClass::Transient, "injected: throughput exceeded"),
            Failure::Permanent => (FailureClass::Permanent, "injected: table not found"),
            Failure::NeverAnswers => std::future::pending().await,
        };
        Err(StoreError::Request {
            operation,
            class,
            maybe_applied: false,
            source: message.into(),
        })
    }
}

impl ActivationStore for FailingStore {
    async fn approve(&self, _: &ActivationRecord) -> Result<ApproveOutcome, StoreError> {
        self.fail("TransactWriteItems").await
    }

    async fn record(&self, _: &ActivationRecord) -> Result<RecordOutcome, StoreError> {
        self.fail("PutItem").await
    }

    async fn activation(&self, _: &ActivationId) -> Result<Option<ActivationRecord>, StoreError> {
        self.fail("GetItem").await
    }
}

impl PurchaseStore for FailingStore {
    async fn apply_grant(&self, _: &Grant, _: &Purchase) -> Result<GrantWrite, StoreError> {
        self.fail("TransactWriteItems").await
    }

    async fn customer_of(&self, _: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        self.fail("GetItem").await
    }

    async fn purchase(&self, _: &PurchaseId) -> Result<Option<Purchase>, StoreError> {
        self.fail("GetItem").await
    }

    async fn purchases_of(&self, _: &UserToken, _: &ItemId) -> Result<Vec<Purchase>, StoreError> {
        self.fail("Query").await
    }

    async fn apply_refund(
        &self,
        _: &Purchase,
        _: &Refund,
        _: u32,
    ) -> Result<RefundWrite, StoreError> {
        self.fail("TransactWriteItems").await
    }
}

impl TopUpStore for FailingStore {
    async fn due_top_ups(&self, _: OffsetDateTime, _: usize) -> Result<Vec<TopUpJob>, StoreError> {
        self.fail("Query").await
    }

    async fn top_up(&self, _: &PurchaseId) -> Result<Option<TopUpJob>, StoreError> {
        self.fail("GetItem").await
    }

    async fn move_top_up(&self, _: &PurchaseId, _: u32, _: &TopUp) -> Result<bool, StoreError> {
        self.fail("UpdateItem").await
    }
}

impl ErasureStore for FailingStore {
    async fn user_records(&self, _: &UserToken) -> Result<UserRecords, StoreError> {
        self.fail("Query").await
    }

    async fn erase(&self, _: &UserToken, _: &UserRecords, _: &Erasure) -> Result<(), StoreError> {
        self.fail("DeleteItem").await
    }
}

impl EntitlementStore for FailingStore {
    async fn entitlement(
        &self,
        _: &UserToken,
        _: &ItemId,
    ) -> Result<Option<Entitlement>, StoreError> {
        self.fail("GetItem").await
    }

    async fn revoke(
        &self,
        _: &UserToken,
        _: &ItemId,
        _: OffsetDateTime,
    ) -> Result<Option<Entitlement>, StoreError> {
        self.fail("UpdateItem").await
    }
}

impl RegistrationStore for FailingStore {
    async fn register_customer(
        &self,
        _: &CustomerRegistration,
        _: OffsetDateTime,
    ) -> Result<Option<Registered>, StoreError> {
        self.fail("UpdateItem").await
    }

    async fn keep_unclaimed(
        &self,
        _: &CustomerRegistration,
        _: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.fail("PutItem").await
    }
}

impl EsimStore for FailingStore {
    async fn record_status(&self, _: &EsimStatusRecord) -> Result<Recorded, StoreError> {
        self.fail("TransactWriteItems").await
    }
}

impl CountryStore for FailingStore {
    async fn record_country(&self, _: &CountryChangeRecord) -> Result<Recorded, StoreError> {
        self.fail("TransactWriteItems").await
    }
}

impl BalanceStore for FailingStore {
    async fn record_alert(&self, _: &BalanceAlertRecord) -> Result<Recorded, StoreError> {
        self.fail("PutItem").await
    }

    async fn record_activation(&self, _: &BalanceActivationRecord) -> Result<Recorded, StoreError> {
        self.fail("PutItem").await
    }
}

impl ReadModels for FailingStore {
    async fn user_summary(&self, _: &UserToken) -> Result<UserSummary, StoreError> {
        self.fail("Query").await
    }

    async fn user_for_customer(&self, _: &CustomerUid) -> Result<Option<UserToken>, StoreError> {
        self.fail("Query").await
    }

    async fn esim_history(&self, _: &Iccid) -> Result<Option<EsimHistory>, StoreError> {
        self.fail("Query").await
    }
}

impl EventLookups for FailingStore {
    async fn user_of_customer(&self, _: &CustomerUid) -> Result<Option<UserToken>, StoreError> {
        self.fail("Query").await
    }

    async fn customer_of_user(&self, _: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        self.fail("GetItem").await
    }

    async fn customer_of_iccid(&self, _: &Iccid) -> Result<Option<CustomerUid>, StoreError> {
        self.fail("Query").await
    }
}
