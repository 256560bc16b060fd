//! Gigastore's partner API in memory, for fast tests of the top-up worker: a ledger of every
//! charge and refund, and faults on request. It keeps only what Gigastore documents (a top-up
//! charges and creates an activated item carrying its `metatag`; a refund returns the credit of
//! an item once). The HTTP double (`scripts/gigastore_double.py`) does the same over the wire.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::domain::deadline::Deadline;
use crate::domain::gigastore::{
    ActivatedItem, ActivatedItemId, CallError, Gigastore, InventoryItem, TopUpCall,
};
use crate::domain::ids::CustomerUid;

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A top-up charged the reseller: for this `metatag` (our purchase id).
    Charge {
        /// The purchase id sent.
        metatag: String,
        /// The activated item created.
        item: ActivatedItemId,
    },
    /// A refund returned an item's credit.
    Refund(ActivatedItemId),
}

/// What the next matching call does instead of answering plainly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fails before doing anything: a 5xx (unknown outcome), not applied.
    ServerErrorBefore,
    /// Applies the call, then the answer is lost (a 5xx, a dropped connection, a timeout).
    LostAfter,
    /// Applies the call, then never answers (the caller is cut off, or crashes).
    HangAfter,
    /// Refuses it for good (a 4xx) with this reason.
    Refuse(String),
    /// The request never leaves.
    NotSent,
    /// The customer's listing leaves out its newest item this many times.
    ListingLag(u32),
}

#[derive(Debug, Default)]
struct State {
    customers: Vec<(CustomerUid, Vec<ActivatedItem>)>,
    ledger: Vec<Entry>,
    faults: VecDeque<Fault>,
    lag: u32,
    calls: usize,
    next_item: u64,
}

/// The fake API; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct FakeGigastore(Arc<Mutex<State>>);

impl FakeGigastore {
    /// A Gigastore that knows `customers`.
    pub fn with_customers(customers: &[&str]) -> Self {
        let fake = Self::default();
        fake.state().customers = customers
            .iter()
            .filter_map(|c| CustomerUid::parse(c).ok())
            .map(|c| (c, Vec::new()))
            .collect();
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the next call (top-up or refund; a listing for `ListingLag`) misbehave.
    pub fn fault(&self, fault: Fault) {
        match fault {
            Fault::ListingLag(n) => self.state().lag = n,
            other => self.state().faults.push_back(other),
        }
    }

    /// Every charge and refund, in order.
    pub fn ledger(&self) -> Vec<Entry> {
        self.state().ledger.clone()
    }

    /// Charges made for `metatag`.
    pub fn charges(&self, metatag: &str) -> usize {
        self.ledger()
            .iter()
            .filter(|e| matches!(e, Entry::Charge { metatag: m, .. } if m == metatag))
            .count()
    }

    /// Money calls made (top-ups and refunds, answered or not).
    pub fn calls(&self) -> usize {
        self.state().calls
    }

    fn next_fault(&self) -> Option<Fault> {
        let mut state = self.state();
        state.calls += 1;
        state.faults.pop_front()
    }
}

fn unknown(operation: &'static str) -> CallError {
    CallError::Unknown {
        operation,
        reason: "the answer was lost".into(),
    }
}

/// Applies `apply`, or misbehaves as the next fault says.
async fn with_fault<T>(
    fake: &FakeGigastore,
    operation: &'static str,
    deadline: Deadline,
    apply: impl FnOnce() -> Result<T, CallError>,
) -> Result<T, CallError> {
    match fake.next_fault() {
        None => apply(),
        Some(Fault::ServerErrorBefore) => Err(unknown(operation)),
        Some(Fault::NotSent) => Err(CallError::NotSent {
            operation,
            reason: "connection refused".into(),
        }),
        Some(Fault::Refuse(reason)) => Err(CallError::Refused {
            operation,
            status: 400,
            reason,
        }),
        Some(Fault::LostAfter) => {
            apply()?;
            Err(unknown(operation))
        }
        Some(Fault::HangAfter) => {
            apply()?;
            tokio::time::sleep(deadline.remaining() + Duration::from_secs(3600)).await;
            Err(unknown(operation))
        }
        Some(Fault::ListingLag(_)) => apply(),
    }
}

impl Gigastore for FakeGigastore {
    async fn top_up(
        &self,
        call: &TopUpCall,
        deadline: Deadline,
    ) -> Result<ActivatedItemId, CallError> {
        with_fault(self, "top-up", deadline, || {
            let mut state = self.state();
            state.next_item += 1;
            let uid = ActivatedItemId(format!("item-{}", state.next_item));
            let metatag = call.purchase_id.as_str().to_owned();
            let customer = state
                .customers
                .iter_mut()
                .find(|(c, _)| *c == call.customer_uid)
                .ok_or(CallError::Refused {
                    operation: "top-up",
                    status: 404,
                    reason: "customer not found".into(),
                })?;
            customer.1.push(ActivatedItem {
                uid: uid.clone(),
                metatag: Some(metatag.clone()),
            });
            state.ledger.push(Entry::Charge {
                metatag,
                item: uid.clone(),
            });
            Ok(uid)
        })
        .await
    }

    async fn activated_items(
        &self,
        customer: &CustomerUid,
        _deadline: Deadline,
    ) -> Result<Vec<ActivatedItem>, CallError> {
        let mut state = self.state();
        let mut items = state
            .customers
            .iter()
            .find(|(c, _)| c == customer)
            .map(|(_, items)| items.clone())
            .ok_or(CallError::Refused {
                operation: "customer",
                status: 404,
                reason: "customer not found".into(),
            })?;
        if state.lag > 0 {
            state.lag -= 1;
            items.pop();
        }
        Ok(items)
    }

    async fn refund(&self, item: &ActivatedItemId, deadline: Deadline) -> Result<(), CallError> {
        with_fault(self, "refund", deadline, || {
            let mut state = self.state();
            if state.ledger.contains(&Entry::Refund(item.clone())) {
                return Err(CallError::Refused {
                    operation: "refund",
                    status: 400,
                    reason: "package already refunded".into(),
                });
            }
            state.ledger.push(Entry::Refund(item.clone()));
            Ok(())
        })
        .await
    }

    async fn inventory(&self, _deadline: Deadline) -> Result<Vec<InventoryItem>, CallError> {
        Ok(Vec::new())
    }
}

/// A one-unit top-up of `1_GB` bought as `purchase_id` for `user`, neither price nor mode given.
///
/// # Panics
/// On an id the domain refuses: tests pass literals.
pub fn top_up_grant(
    purchase_id: &str,
    user: crate::domain::ids::UserToken,
) -> crate::domain::purchase::Grant {
    use crate::domain::ids::{ItemId, PurchaseId};
    use crate::domain::purchase::{Grant, Order, Quantity};
    Grant {
        purchase_id: PurchaseId::parse(purchase_id).expect("a test's purchase id"),
        user_token: user,
        item: ItemId::parse("1_GB").expect("a valid item id"),
        quantity: Quantity::ONE,
        email: None,
        expires_at: None,
        delivery: Order::TopUp {
            expected_price: None,
            activation_mode: None,
        },
    }
}
