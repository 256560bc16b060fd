//! Top-ups on both stores, against the in-memory Gigastore and its ledger: one charge per
//! purchase under every fault, under two workers at once and a crash between the call and its
//! record; refusals fail once; refunds call Gigastore once; unregistered users are refused.

use std::sync::Arc;
use std::time::Duration;

use shared::domain::deadline::Deadline;
use shared::domain::ids::{CustomerUid, PurchaseId, UserToken};
use shared::domain::purchase::{self, Grant, GrantOutcome, RefundOutcome};
use shared::domain::registration::{self, CustomerRegistration};
use shared::domain::store::Store;
use shared::domain::topup::{self, Run, TopUpState, LEASE};
use shared::testkit::gigastore::{Entry, FakeGigastore, Fault};
use time::OffsetDateTime;

use crate::common::contract;

contract!(
    a_top_up_is_charged_once_and_completed,
    an_unregistered_user_gets_no_top_up,
    every_lost_answer_is_found_out_before_any_second_call,
    a_listing_that_lags_is_waited_for_not_called_over,
    a_refusal_fails_once_and_is_never_called_again,
    two_workers_at_once_charge_once,
    a_crash_between_the_call_and_its_record_is_found_out,
    a_completed_top_up_is_refunded_once_and_a_pending_one_never_called,
);

const CUSTOMER: &str = "c-topup";

fn user() -> UserToken {
    UserToken::parse("u-topup").unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

fn top_up(id: &str) -> Grant {
    shared::testkit::gigastore::top_up_grant(id, user())
}

/// A user Gigastore registered as `CUSTOMER` (its first package went through the SDK), and a
/// Gigastore that knows the customer.
async fn registered<S: Store>(store: &S) -> FakeGigastore {
    shared::testkit::grant_units(store, user().as_str(), "1_GB", 1, None, None).await;
    let registration = CustomerRegistration {
        user_token: user(),
        customer_uid: CustomerUid::parse(CUSTOMER).unwrap(),
    };
    registration::register(store, &registration, now())
        .await
        .unwrap();
    FakeGigastore::with_customers(&[CUSTOMER])
}

async fn bought<S: Store>(store: &S, id: &str) {
    let outcome = purchase::grant(store, &top_up(id), now()).await.unwrap();
    assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
}

async fn fulfil<S: Store>(store: &S, api: &FakeGigastore, settle: Duration) -> Run {
    topup::fulfil(store, api, settle, now, deadline())
        .await
        .unwrap()
}

async fn state<S: Store>(store: &S, id: &str) -> TopUpState {
    let id = PurchaseId::parse(id).unwrap();
    store.top_up(&id).await.unwrap().unwrap().top_up.state
}

async fn a_top_up_is_charged_once_and_completed<S: Store>(store: Arc<S>) {
    let store = &*store;
    let api = registered(store).await;
    bought(store, "t1").await;
    // The same purchase again records nothing new.
    let again = purchase::grant(store, &top_up("t1"), now()).await.unwrap();
    assert!(
        matches!(again, GrantOutcome::AlreadyGranted(_)),
        "{again:?}"
    );
    assert_eq!(state(store, "t1").await, TopUpState::Pending);

    let run = fulfil(store, &api, Duration::ZERO).await;
    assert_eq!(run.completed, 1, "{run:?}");
    assert_eq!(state(store, "t1").await, TopUpState::Completed);
    let job = store
        .top_up(&PurchaseId::parse("t1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let Some(Entry::Charge { item, .. }) = api.ledger().first().cloned() else {
        panic!("no charge: {:?}", api.ledger());
    };
    assert_eq!(job.top_up.activated_item, Some(item));
    assert_eq!(job.top_up.attempts.len(), 1);
    assert!(job.top_up.attempts[0].outcome.is_some());
    // Nothing is due any more.
    assert_eq!(fulfil(store, &api, Duration::ZERO).await, Run::default());
    assert_eq!(api.charges("t1"), 1);
    // The user's units were not touched: a top-up is Gigastore's to deliver.
    assert_eq!(api.calls(), 1);
}

async fn an_unregistered_user_gets_no_top_up<S: Store>(store: Arc<S>) {
    let store = &*store;
    shared::testkit::grant_units(store, user().as_str(), "1_GB", 1, None, None).await;
    let outcome = purchase::grant(store, &top_up("t1"), now()).await.unwrap();
    assert_eq!(outcome, GrantOutcome::NotRegistered);
    assert_eq!(
        store
            .top_up(&PurchaseId::parse("t1").unwrap())
            .await
            .unwrap(),
        None
    );
    assert!(store.due_top_ups(now(), 10).await.unwrap().is_empty());
}

async fn every_lost_answer_is_found_out_before_any_second_call<S: Store>(store: Arc<S>) {
    let store = &*store;
    let api = registered(store).await;
    for (n, fault) in [Fault::ServerErrorBefore, Fault::LostAfter, Fault::NotSent]
        .into_iter()
        .enumerate()
    {
        let id = format!("t{n}");
        bought(store, &id).await;
        api.fault(fault.clone());
        let first = fulfil(store, &api, Duration::ZERO).await;
        assert_eq!(first.completed, 0, "{fault:?}: {first:?}");
        // Settled at once (settle 0): looked up, then called again only if not found.
        fulfil(store, &api, Duration::ZERO).await;
        assert_eq!(state(store, &id).await, TopUpState::Completed, "{fault:?}");
        assert_eq!(api.charges(&id), 1, "{fault:?}: {:?}", api.ledger());
    }
}

async fn a_listing_that_lags_is_waited_for_not_called_over<S: Store>(store: Arc<S>) {
    let store = &*store;
    let api = registered(store).await;
    bought(store, "t1").await;
    api.fault(Fault::LostAfter);
    fulfil(store, &api, Duration::from_secs(3600)).await;
    assert!(matches!(
        state(store, "t1").await,
        TopUpState::Unknown { .. }
    ));
    // The listing does not show it yet, and the settle time has not passed: no second call.
    api.fault(Fault::ListingLag(1));
    let run = fulfil(store, &api, Duration::from_secs(3600)).await;
    assert_eq!((run.waiting, api.calls()), (1, 1), "{run:?}");
    // Now it shows: completed, without a second charge.
    let run = fulfil(store, &api, Duration::from_secs(3600)).await;
    assert_eq!(run.completed, 1, "{run:?}");
    assert_eq!((api.charges("t1"), api.calls()), (1, 1));
}

async fn a_refusal_fails_once_and_is_never_called_again<S: Store>(store: Arc<S>) {
    let store = &*store;
    let api = registered(store).await;
    bought(store, "t1").await;
    api.fault(Fault::Refuse("country set mismatch".into()));
    let run = fulfil(store, &api, Duration::ZERO).await;
    assert_eq!(run.failed, 1, "{run:?}");
    assert_eq!(
        state(store, "t1").await,
        TopUpState::Failed {
            reason: "country set mismatch".into()
        }
    );
    for _ in 0..2 {
        assert_eq!(fulfil(store, &api, Duration::ZERO).await, Run::default());
    }
    assert_eq!((api.calls(), api.charges("t1")), (1, 0));
}

async fn two_workers_at_once_charge_once<S: Store>(store: Arc<S>) {
    let api = registered(&*store).await;
    for n in 0..5 {
        bought(&*store, &format!("t{n}")).await;
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (store, api) = (store.clone(), api.clone());
        workers.spawn(async move {
            topup::fulfil(&*store, &api, Duration::ZERO, now, deadline())
                .await
                .unwrap()
        });
    }
    let mut completed = 0;
    while let Some(run) = workers.join_next().await {
        completed += run.unwrap().completed;
    }
    // Whatever one worker left (it found a top-up held by the other) the next run finishes.
    completed += fulfil(&*store, &api, Duration::ZERO).await.completed;
    assert_eq!(completed, 5);
    for n in 0..5 {
        assert_eq!(api.charges(&format!("t{n}")), 1, "{:?}", api.ledger());
    }
    assert_eq!(api.calls(), 5);
}

async fn a_crash_between_the_call_and_its_record_is_found_out<S: Store>(store: Arc<S>) {
    let api = registered(&*store).await;
    bought(&*store, "t1").await;
    // The call is applied, then the worker dies before recording its answer.
    api.fault(Fault::HangAfter);
    let crashed = {
        let (store, api) = (store.clone(), api.clone());
        tokio::spawn(
            async move { topup::fulfil(&*store, &api, Duration::ZERO, now, deadline()).await },
        )
    };
    while api.charges("t1") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crashed.abort();
    assert!(matches!(
        state(&*store, "t1").await,
        TopUpState::InFlight { .. }
    ));
    // Before the lease runs out nobody touches it.
    assert_eq!(fulfil(&*store, &api, Duration::ZERO).await, Run::default());
    // After it, the next worker looks it up and finds it: no second call.
    let later = || OffsetDateTime::now_utc() + LEASE + Duration::from_secs(1);
    let run = topup::fulfil(&*store, &api, Duration::ZERO, later, deadline())
        .await
        .unwrap();
    assert_eq!(run.completed, 1, "{run:?}");
    assert_eq!((api.charges("t1"), api.calls()), (1, 1));
}

async fn a_completed_top_up_is_refunded_once_and_a_pending_one_never_called<S: Store>(
    store: Arc<S>,
) {
    let store = &*store;
    let api = registered(store).await;
    for id in ["done", "lost"] {
        bought(store, id).await;
    }
    fulfil(store, &api, Duration::ZERO).await;
    bought(store, "pending").await;
    let refund = |id: &'static str| async move {
        purchase::refund(store, &PurchaseId::parse(id).unwrap(), None, now())
            .await
            .unwrap()
    };
    let refunds = || {
        api.ledger()
            .into_iter()
            .filter(|e| matches!(e, Entry::Refund(_)))
            .count()
    };
    // A pending one is cancelled: never called.
    assert!(matches!(
        refund("pending").await,
        RefundOutcome::Refunded(_)
    ));
    assert_eq!(state(store, "pending").await, TopUpState::Cancelled);
    // A completed one's refund is due, and made once, however often it is asked for.
    assert!(matches!(refund("done").await, RefundOutcome::Refunded(_)));
    assert!(matches!(
        refund("done").await,
        RefundOutcome::AlreadyRefunded(_)
    ));
    let calls = api.calls();
    assert_eq!(fulfil(store, &api, Duration::ZERO).await.refunded, 1);
    assert_eq!(state(store, "done").await, TopUpState::Refunded);
    assert_eq!((refunds(), api.calls()), (1, calls + 1));
    assert_eq!(fulfil(store, &api, Duration::ZERO).await, Run::default());
    // A refund whose answer was lost is asked again (Gigastore refunds an item once): its
    // refusal then says the first may have worked, for an operator to check.
    assert!(matches!(refund("lost").await, RefundOutcome::Refunded(_)));
    api.fault(Fault::LostAfter);
    fulfil(store, &api, Duration::ZERO).await;
    fulfil(store, &api, Duration::ZERO).await;
    match state(store, "lost").await {
        TopUpState::RefundFailed { reason } => {
            assert!(reason.contains("package already refunded"), "{reason}");
            assert!(reason.contains("may have been refunded"), "{reason}");
        }
        other => panic!("expected a refused refund, got {other:?}"),
    }
    assert_eq!(refunds(), 2, "{:?}", api.ledger());
    assert_eq!(api.charges("pending"), 0);
    assert_eq!(fulfil(store, &api, Duration::ZERO).await, Run::default());
}
