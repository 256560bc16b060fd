//! Top-ups: every package after a customer's first, bought through Gigastore's API, which is
//! not idempotent. Charged exactly once by three rules:
//!
//! - **Say it before doing it.** A worker first claims the top-up (a conditional write on its
//!   version, with a lease) and records the attempt it is about to make; only then does it
//!   call. A crash after the call leaves the claim behind, and whoever finds it expired looks
//!   the top-up up before anything else.
//! - **An unknown outcome is looked up, never repeated blindly.** A lost answer (timeout, dropped
//!   connection, 5xx, 408, 429) leaves the top-up `unknown`: the next pass reads the customer's
//!   activated items and matches the purchase id (`metatag`); found, it is completed; not
//!   found, it is looked up again once `settle` has passed since the call (a listing may lag),
//!   and only then called again.
//! - **One worker at a time.** Every transition is conditional on the version it read, so two
//!   workers never both claim it, and a worker whose lease ran out cannot overwrite what the
//!   next one found.
//!
//! A definite refusal (any other 4xx: country set, price, credit) fails the top-up for good. A
//! refund repeats safely (Gigastore refunds an activated item at most once), so its unknown
//! outcome is simply asked again.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::deadline::Deadline;
use crate::domain::gigastore::{
    ActivatedItemId, ActivationMode, CallError, Gigastore, Price, TopUpCall,
};
use crate::domain::ids::{CustomerUid, ItemId, PurchaseId};
use crate::domain::store::StoreError;

/// How long a claim holds: longer than any call it is made for (`CALL_BUDGET`) and its
/// records, so a live worker never loses it to another.
pub const LEASE: Duration = Duration::from_secs(60);
/// Time one call to Gigastore may take.
pub const CALL_BUDGET: Duration = Duration::from_secs(20);
/// A top-up not finished this long after its purchase is stuck: alarmed on, and still worked.
pub const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

/// Which money call an attempt makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// `POST /gigastore/activations/top-up`.
    TopUp,
    /// `POST /activations/activated-items/{uid}/refund`.
    Refund,
}

/// Where a top-up is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum TopUpState {
    /// Due: no call made yet, or the last one never left.
    Pending,
    /// A worker holds it until `lease_until`, calling or looking up.
    InFlight {
        /// The call it is for.
        call: Call,
        /// When another worker may take it over.
        #[serde(with = "crate::domain::clock::stored")]
        lease_until: OffsetDateTime,
        /// When the call whose outcome is unknown was made, if one was.
        #[serde(
            with = "crate::domain::clock::stored::option",
            skip_serializing_if = "Option::is_none"
        )]
        unknown_since: Option<OffsetDateTime>,
    },
    /// A call's answer was lost: find out before calling again.
    Unknown {
        /// The call.
        call: Call,
        /// When it was made.
        #[serde(with = "crate::domain::clock::stored")]
        since: OffsetDateTime,
    },
    /// Topped up: Gigastore's activated item is in `TopUp::activated_item`.
    Completed,
    /// Refused by Gigastore for good.
    Failed {
        /// Gigastore's reason.
        reason: String,
    },
    /// Refunded before it was called: never will be.
    Cancelled,
    /// A refund of the activated item is due.
    RefundPending,
    /// Gigastore refunded the activated item.
    Refunded,
    /// Gigastore refused to refund it (used, expired, over the monthly limit).
    RefundFailed {
        /// Gigastore's reason.
        reason: String,
    },
}

impl TopUpState {
    /// Whether nothing more will ever happen to it (except a refund of a completed one).
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Failed { .. }
                | Self::Cancelled
                | Self::Refunded
                | Self::RefundFailed { .. }
        )
    }
}

/// One call made, or about to be: recorded before the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The call.
    pub call: Call,
    /// When it was about to be made.
    #[serde(with = "crate::domain::clock::stored")]
    pub at: OffsetDateTime,
    /// What came of it; `None` while (or if, after a crash) unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// A top-up: what to buy for whom, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUp {
    /// The customer whose balance is topped up.
    pub customer_uid: CustomerUid,
    /// Gigastore refuses unless its retail price is this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_price: Option<Price>,
    /// When the package's validity starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_mode: Option<ActivationMode>,
    /// Where it is.
    #[serde(flatten)]
    pub state: TopUpState,
    /// Gigastore's activated item, once topped up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_item: Option<ActivatedItemId>,
    /// Every call made, in order.
    pub attempts: Vec<Attempt>,
    /// Bumped by every change: what the next change is conditional on.
    #[serde(skip)]
    pub version: u32,
}

impl TopUp {
    /// A new top-up, due now.
    pub fn new(
        customer_uid: CustomerUid,
        expected_price: Option<Price>,
        activation_mode: Option<ActivationMode>,
    ) -> Self {
        Self {
            customer_uid,
            expected_price,
            activation_mode,
            state: TopUpState::Pending,
            activated_item: None,
            attempts: Vec::new(),
            version: 0,
        }
    }

    /// The same top-up moved to `state`, one version on.
    pub fn to(&self, state: TopUpState) -> Self {
        Self {
            state,
            version: self.version.saturating_add(1),
            ..self.clone()
        }
    }

    /// When it should next be worked on; `None` once settled.
    pub fn due_at(&self) -> Option<OffsetDateTime> {
        match &self.state {
            TopUpState::Pending | TopUpState::RefundPending => Some(OffsetDateTime::UNIX_EPOCH),
            TopUpState::InFlight { lease_until, .. } => Some(*lease_until),
            TopUpState::Unknown { since, .. } => Some(*since),
            _ => None,
        }
    }
}

/// What the next pass over a top-up should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Claim it and make the call.
    Call(Call),
    /// Claim it and look the top-up made at `since` up; call again only if it is not found
    /// and `settle` has passed.
    LookUp {
        /// When the call whose outcome is unknown was made.
        since: OffsetDateTime,
    },
    /// Another worker holds it until then.
    Wait(OffsetDateTime),
    /// Nothing to do.
    Nothing,
}

/// The next step for `state` at `now`.
pub fn next_step(state: &TopUpState, now: OffsetDateTime) -> Step {
    match state {
        TopUpState::Pending => Step::Call(Call::TopUp),
        TopUpState::RefundPending => Step::Call(Call::Refund),
        TopUpState::InFlight { lease_until, .. } if *lease_until > now => Step::Wait(*lease_until),
        // The worker that claimed it is gone, maybe after calling: find out first. A refund
        // is asked again: Gigastore refunds an item at most once.
        TopUpState::InFlight {
            call: Call::TopUp,
            lease_until,
            unknown_since,
        } => Step::LookUp {
            since: unknown_since.unwrap_or(*lease_until),
        },
        TopUpState::InFlight {
            call: Call::Refund, ..
        } => Step::Call(Call::Refund),
        TopUpState::Unknown {
            call: Call::TopUp,
            since,
        } => Step::LookUp { since: *since },
        TopUpState::Unknown {
            call: Call::Refund, ..
        } => Step::Call(Call::Refund),
        _ => Step::Nothing,
    }
}

/// A purchase's top-up, as the worker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpJob {
    /// The purchase: Gigastore's `metatag`.
    pub purchase_id: PurchaseId,
    /// The package.
    pub item: ItemId,
    /// When it was bought.
    pub granted_at: OffsetDateTime,
    /// The top-up.
    pub top_up: TopUp,
}

/// Where top-ups are kept and claimed.
pub trait TopUpStore: Send + Sync {
    /// Top-ups due at `now` (pending, unknown, or held past their lease), oldest first, at
    /// most `limit`.
    fn due_top_ups(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TopUpJob>, StoreError>> + Send;

    /// One purchase's top-up, if it is one (a consistent read).
    fn top_up(
        &self,
        id: &PurchaseId,
    ) -> impl Future<Output = Result<Option<TopUpJob>, StoreError>> + Send;

    /// Replaces the top-up of purchase `id` by `to` if it is still at version `from`; `false`
    /// if it moved on (another worker, or a refund, got there first).
    fn move_top_up(
        &self,
        id: &PurchaseId,
        from: u32,
        to: &TopUp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// What one pass did to a top-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Topped up (now, or found topped up).
    Completed(ActivatedItemId),
    /// Refused for good.
    Failed(String),
    /// Refunded.
    Refunded,
    /// Gigastore refused the refund.
    RefundFailed(String),
    /// The call's outcome is unknown: it will be looked up.
    Unknown(String),
    /// Nothing done yet: not found and not settled, held by another worker, not sent, or
    /// nothing to do.
    Waiting,
}

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum FulfilError {
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A lookup failed; the top-up is left as it was.
    #[error(transparent)]
    Gigastore(#[from] CallError),
}

/// One pass over a top-up: the step it is due for, at `now()`, calls bounded by
/// [`CALL_BUDGET`] and `deadline`.
pub async fn advance<S: TopUpStore, G: Gigastore>(
    store: &S,
    api: &G,
    job: TopUpJob,
    settle: Duration,
    now: impl Fn() -> OffsetDateTime,
    deadline: Deadline,
) -> Result<Progress, FulfilError> {
    let budget = || deadline.at_most(CALL_BUDGET);
    let (call, unknown_since) = match next_step(&job.top_up.state, now()) {
        Step::Nothing | Step::Wait(_) => return Ok(Progress::Waiting),
        Step::Call(call) => (call, None),
        Step::LookUp { since } => (Call::TopUp, Some(since)),
    };
    let mut held = job.top_up.to(TopUpState::InFlight {
        call,
        lease_until: now() + LEASE,
        unknown_since,
    });
    if unknown_since.is_none() {
        held.attempts.push(Attempt {
            call,
            at: crate::domain::clock::to_millis(now()),
            outcome: None,
        });
    }
    if !store
        .move_top_up(&job.purchase_id, job.top_up.version, &held)
        .await?
    {
        return Ok(Progress::Waiting);
    }

    if let Some(since) = unknown_since {
        // Where the top-up goes back to while its call's outcome stays unknown.
        let back = held.to(TopUpState::Unknown {
            call: Call::TopUp,
            since,
        });
        let items = match api.activated_items(&held.customer_uid, budget()).await {
            Ok(items) => items,
            Err(e) => {
                store
                    .move_top_up(&job.purchase_id, held.version, &back)
                    .await?;
                return Err(e.into());
            }
        };
        let found = items
            .into_iter()
            .find(|i| i.metatag.as_deref() == Some(job.purchase_id.as_str()));
        if let Some(found) = found {
            let mut done = held.to(TopUpState::Completed);
            done.activated_item = Some(found.uid.clone());
            note(&mut done, format!("found topped up: {}", found.uid.0));
            store
                .move_top_up(&job.purchase_id, held.version, &done)
                .await?;
            return Ok(Progress::Completed(found.uid));
        }
        if now() < since + settle {
            store
                .move_top_up(&job.purchase_id, held.version, &back)
                .await?;
            return Ok(Progress::Waiting);
        }
        // Not there after the settle time: it was not made. Say so, then make it.
        let mut again = held.to(TopUpState::InFlight {
            call: Call::TopUp,
            lease_until: now() + LEASE,
            unknown_since: None,
        });
        note(&mut again, "not found after the settle time".to_owned());
        again.attempts.push(Attempt {
            call: Call::TopUp,
            at: crate::domain::clock::to_millis(now()),
            outcome: None,
        });
        if !store
            .move_top_up(&job.purchase_id, held.version, &again)
            .await?
        {
            return Ok(Progress::Waiting);
        }
        held = again;
    }

    let (state, progress, outcome) = match call {
        Call::TopUp => {
            let request = TopUpCall {
                customer_uid: held.customer_uid.clone(),
                item: job.item.clone(),
                purchase_id: job.purchase_id.clone(),
                expected_price: held.expected_price.clone(),
                activation_mode: held.activation_mode,
            };
            match api.top_up(&request, budget()).await {
                Ok(uid) => {
                    held.activated_item = Some(uid.clone());
                    let said = format!("topped up: {}", uid.0);
                    (TopUpState::Completed, Progress::Completed(uid), said)
                }
                Err(e) => failure(e, Call::TopUp, now()),
            }
        }
        Call::Refund => match held.activated_item.clone() {
            Some(item) => match api.refund(&item, budget()).await {
                Ok(()) => (TopUpState::Refunded, Progress::Refunded, "refunded".into()),
                // Refused after a refund whose answer was lost: maybe because that one worked.
                Err(CallError::Refused {
                    operation,
                    status,
                    reason,
                }) if held.attempts.iter().rev().skip(1).any(|a| {
                    a.call == Call::Refund
                        && a.outcome.as_deref().is_none_or(|o| o.contains("unknown"))
                }) =>
                {
                    let reason = format!(
                        "{reason} (an earlier refund call's answer was lost: it may have been refunded then)"
                    );
                    let e = CallError::Refused {
                        operation,
                        status,
                        reason,
                    };
                    failure(e, Call::Refund, now())
                }
                Err(e) => failure(e, Call::Refund, now()),
            },
            None => {
                let reason = "nothing was topped up to refund".to_owned();
                (
                    TopUpState::RefundFailed {
                        reason: reason.clone(),
                    },
                    Progress::RefundFailed(reason.clone()),
                    reason,
                )
            }
        },
    };
    let mut done = held.to(state);
    if matches!(progress, Progress::Waiting) {
        // Not sent: no call was made, so no attempt is kept (a run a minute while Gigastore
        // is out of reach must not grow the item).
        done.attempts.pop();
    } else {
        note(&mut done, outcome);
    }
    if !store
        .move_top_up(&job.purchase_id, held.version, &done)
        .await?
    {
        // Our lease ran out and another worker took over: it looks the call up.
        return Err(StoreError::Inconsistent("a top-up's lease ran out during its call").into());
    }
    Ok(progress)
}

/// What a failed call leaves: refused for good, unknown (to be found out), or not sent (due
/// again).
fn failure(e: CallError, call: Call, now: OffsetDateTime) -> (TopUpState, Progress, String) {
    let said = e.to_string();
    match (e, call) {
        (CallError::Refused { reason, .. }, Call::TopUp) => (
            TopUpState::Failed {
                reason: reason.clone(),
            },
            Progress::Failed(reason),
            said,
        ),
        (CallError::Refused { reason, .. }, Call::Refund) => (
            TopUpState::RefundFailed {
                reason: reason.clone(),
            },
            Progress::RefundFailed(reason),
            said,
        ),
        (CallError::Unknown { .. }, call) => (
            TopUpState::Unknown {
                call,
                since: crate::domain::clock::to_millis(now),
            },
            Progress::Unknown(said.clone()),
            said,
        ),
        (CallError::NotSent { .. }, Call::TopUp) => (TopUpState::Pending, Progress::Waiting, said),
        (CallError::NotSent { .. }, Call::Refund) => {
            (TopUpState::RefundPending, Progress::Waiting, said)
        }
    }
}

/// Records `outcome` on the last attempt.
fn note(top_up: &mut TopUp, outcome: String) {
    if let Some(last) = top_up.attempts.last_mut() {
        if last.outcome.is_none() {
            last.outcome = Some(outcome);
        }
    }
}

/// What one run over every due top-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Topped up.
    pub completed: usize,
    /// Refused for good.
    pub failed: usize,
    /// Refunded.
    pub refunded: usize,
    /// Refunds refused.
    pub refund_failed: usize,
    /// Outcomes unknown, to be looked up.
    pub unknown: usize,
    /// Left for later.
    pub waiting: usize,
    /// Passes that failed (the table, or a lookup): the purchase id and why, left as they
    /// were and worked again by the next run.
    pub errors: Vec<(PurchaseId, String)>,
    /// Due top-ups bought longer ago than [`STUCK_AFTER`].
    pub stuck: usize,
}

/// Works once through every top-up due at the start: for a scheduled function, the operator's
/// `entitlements fulfil`, and tests.
pub async fn fulfil<S: TopUpStore, G: Gigastore>(
    store: &S,
    api: &G,
    settle: Duration,
    now: impl Fn() -> OffsetDateTime + Copy,
    deadline: Deadline,
) -> Result<Run, StoreError> {
    let started = now();
    let due = store.due_top_ups(started, 100).await?;
    let mut run = Run::default();
    for job in due {
        if deadline.remaining() < CALL_BUDGET {
            break;
        }
        // A top-up not made long after its purchase. (A refund's wait is not measured: its
        // purchase is old by nature; a refused one is alarmed on as such.)
        let buying = matches!(
            job.top_up.state,
            TopUpState::Pending
                | TopUpState::InFlight {
                    call: Call::TopUp,
                    ..
                }
                | TopUpState::Unknown {
                    call: Call::TopUp,
                    ..
                }
        );
        if buying && started - job.granted_at > STUCK_AFTER {
            run.stuck += 1;
        }
        let id = job.purchase_id.clone();
        match advance(store, api, job, settle, now, deadline).await {
            Ok(Progress::Completed(_)) => run.completed += 1,
            Ok(Progress::Failed(_)) => run.failed += 1,
            Ok(Progress::Refunded) => run.refunded += 1,
            Ok(Progress::RefundFailed(_)) => run.refund_failed += 1,
            Ok(Progress::Unknown(_)) => run.unknown += 1,
            Ok(Progress::Waiting) => run.waiting += 1,
            Err(e) => run.errors.push((id, crate::domain::store::chain(&e))),
        }
    }
    Ok(run)
}
