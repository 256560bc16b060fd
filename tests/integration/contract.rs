//! One storage contract, two stores: every case runs against the in-memory store of the testkit
//! and against the DynamoDB adapter on the local DynamoDB-API server, so the fast handler tests
//! that use the former prove something about the latter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shared::domain::activation::{
    ActivationRecord, ActivationRequest, ApproveOutcome, Decision, RecordOutcome, Refusal,
};
use shared::domain::balance::{
    BalanceActivation, BalanceActivationRecord, BalanceAlert, BalanceAlertRecord,
};
use shared::domain::country::{Country, CountryChange, CountryChangeRecord};
use shared::domain::erasure::Holder;
use shared::domain::esim::{EsimStatus, EsimStatusRecord, ProfileState};
use shared::domain::ids::{
    ActivationId, BalanceItemId, CustomerUid, Eid, Email, Iccid, Imsi, ItemId, PurchaseId,
    UserToken,
};
use shared::domain::purchase::{self, Grant, GrantOutcome, GrantWrite, Order, Quantity};
use shared::domain::registration::{CustomerRegistration, Registered};
use shared::domain::store::Store;
use shared::domain::timeline::Recorded;
use time::{Duration, OffsetDateTime};

use crate::common::contract;

contract!(
    an_approval_consumes_one_unit_and_is_decided_once,
    nothing_is_approved_without_a_live_entitlement,
    a_refusal_is_recorded_once,
    concurrent_approvals_never_exceed_the_units,
    a_purchase_is_granted_once,
    revoking_leaves_nothing_to_activate_until_the_next_grant,
    registrations_find_their_user_both_ways,
    esim_statuses_are_recorded_once_with_history,
    summaries_order_entitlements_and_activations,
    late_statuses_take_their_place_in_time,
    an_older_registration_never_replaces_a_newer_one,
    country_changes_take_their_place_in_time_beside_statuses,
    balance_alerts_are_kept_once_and_the_newest_is_the_latest,
    balance_activations_are_kept_once_per_expiry,
    balance_facts_are_found_once_the_customer_registers,
    event_lookups_link_users_customers_and_sims,
    a_customer_id_names_the_user_it_was_registered_to_last,
    expired_units_never_come_back_and_a_renewal_is_usable,
);

fn user(token: &str) -> UserToken {
    UserToken::parse(token).unwrap()
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id).unwrap()
}

fn now() -> OffsetDateTime {
    shared::domain::clock::to_millis(OffsetDateTime::now_utc())
}

/// A grant of `quantity` units under a purchase id of its own.
fn grant(user_token: &str, item_id: &str, quantity: u32) -> Grant {
    static PURCHASES: AtomicU64 = AtomicU64::new(0);
    let n = PURCHASES.fetch_add(1, Ordering::Relaxed);
    Grant {
        purchase_id: PurchaseId::parse(&format!("contract-{n}")).unwrap(),
        user_token: user(user_token),
        item: item(item_id),
        quantity: Quantity::new(quantity.into()).unwrap(),
        email: None,
        expires_at: None,
        delivery: Order::Sdk,
    }
}

/// A decision of `decision` for activation `id` of `user_token`'s `1_GB`, made now.
fn decided(id: &str, user_token: &str, decision: Decision) -> ActivationRecord {
    let request = ActivationRequest {
        activation_id: ActivationId::parse(id).unwrap(),
        user_token: user(user_token),
        item: item("1_GB"),
        meta_tag: None,
    };
    ActivationRecord::new(&request, decision, now())
}

async fn units_used<S: Store>(store: &S, user_token: &str) -> u32 {
    let e = store.entitlement(&user(user_token), &item("1_GB")).await;
    e.unwrap().map_or(0, |e| e.units_used)
}

async fn an_approval_consumes_one_unit_and_is_decided_once<S: Store>(store: Arc<S>) {
    let store = &*store;
    purchase::grant(store, &grant("u1", "1_GB", 2), now())
        .await
        .unwrap();
    let a1 = decided("a1", "u1", Decision::Approved);
    assert_eq!(store.approve(&a1).await.unwrap(), ApproveOutcome::Approved);
    assert_eq!(units_used(store, "u1").await, 1);
    // A redelivery finds the first decision, as it was recorded, and consumes nothing.
    let again = decided("a1", "u1", Decision::Approved);
    assert_eq!(
        store.approve(&again).await.unwrap(),
        ApproveOutcome::AlreadyDecided(a1.clone())
    );
    assert_eq!(units_used(store, "u1").await, 1);
    assert_eq!(store.activation(&a1.activation_id).await.unwrap(), Some(a1));
    let a2 = decided("a2", "u1", Decision::Approved);
    assert_eq!(store.approve(&a2).await.unwrap(), ApproveOutcome::Approved);
    match store
        .approve(&decided("a3", "u1", Decision::Approved))
        .await
        .unwrap()
    {
        ApproveOutcome::NotEntitled(Some(e)) => assert_eq!((e.units_used, e.units_left()), (2, 0)),
        other => panic!("expected no units left, got {other:?}"),
    }
    let missing = ActivationId::parse("a3").unwrap();
    assert_eq!(store.activation(&missing).await.unwrap(), None);
}

async fn nothing_is_approved_without_a_live_entitlement<S: Store>(store: Arc<S>) {
    let store = &*store;
    let stranger = decided("a1", "nobody", Decision::Approved);
    assert_eq!(
        store.approve(&stranger).await.unwrap(),
        ApproveOutcome::NotEntitled(None)
    );
    let expired = Grant {
        expires_at: Some(now() - Duration::minutes(1)),
        ..grant("u1", "1_GB", 1)
    };
    purchase::grant(store, &expired, now()).await.unwrap();
    match store
        .approve(&decided("a2", "u1", Decision::Approved))
        .await
        .unwrap()
    {
        ApproveOutcome::NotEntitled(Some(e)) => {
            assert!(e.is_expired(now()));
            assert_eq!(e.units_used, 0);
        }
        other => panic!("expected an expired entitlement, got {other:?}"),
    }
    assert_eq!(
        store.activation(&stranger.activation_id).await.unwrap(),
        None
    );
}

async fn a_refusal_is_recorded_once<S: Store>(store: Arc<S>) {
    let store = &*store;
    let refusal = decided("a1", "u1", Decision::Refused(Refusal::NoEntitlement));
    assert_eq!(
        store.record(&refusal).await.unwrap(),
        RecordOutcome::Recorded
    );
    let later = decided("a1", "u1", Decision::Refused(Refusal::Expired));
    assert_eq!(
        store.record(&later).await.unwrap(),
        RecordOutcome::AlreadyDecided(refusal.clone())
    );
    // Even with units granted since, a decided activation stays decided.
    purchase::grant(store, &grant("u1", "1_GB", 1), now())
        .await
        .unwrap();
    assert_eq!(
        store
            .approve(&decided("a1", "u1", Decision::Approved))
            .await
            .unwrap(),
        ApproveOutcome::AlreadyDecided(refusal)
    );
    assert_eq!(units_used(store, "u1").await, 0);
}

async fn concurrent_approvals_never_exceed_the_units<S: Store>(store: Arc<S>) {
    purchase::grant(&*store, &grant("u1", "1_GB", 5), now())
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(24));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        tasks.spawn(async move {
            // Every id is delivered twice, so redeliveries race with first deliveries.
            let record = decided(&format!("a{}", i / 2), "u1", Decision::Approved);
            barrier.wait().await;
            store.approve(&record).await.unwrap()
        });
    }
    let mut approved = 0;
    while let Some(outcome) = tasks.join_next().await {
        approved += usize::from(outcome.unwrap() == ApproveOutcome::Approved);
    }
    assert_eq!(approved, 5);
    assert_eq!(units_used(&*store, "u1").await, 5);
}

async fn a_purchase_is_granted_once<S: Store>(store: Arc<S>) {
    let store = &*store;
    let bought = Grant {
        purchase_id: PurchaseId::parse("order-1").unwrap(),
        email: Some(Email::parse("u1@example.com").unwrap()),
        ..grant("u1", "1_GB", 3)
    };
    assert_eq!(
        store
            .apply_grant(&bought, &purchase::Purchase::granted(&bought, now(), None))
            .await
            .unwrap(),
        GrantWrite::Applied
    );
    match store
        .apply_grant(&bought, &purchase::Purchase::granted(&bought, now(), None))
        .await
        .unwrap()
    {
        GrantWrite::PurchaseSeen(marker) => {
            assert_eq!(
                (marker.holder, marker.item, marker.quantity),
                (Holder::User(user("u1")), item("1_GB"), 3)
            );
        }
        other => panic!("expected the purchase marker, got {other:?}"),
    }
    let e = store.entitlement(&user("u1"), &item("1_GB")).await.unwrap();
    assert_eq!(e.map(|e| e.units_granted), Some(3));
    // The domain's rule on top of the port: another user's grant with this purchase id is refused.
    let reused = Grant {
        user_token: user("u2"),
        ..bought.clone()
    };
    match purchase::grant(store, &reused, now()).await.unwrap() {
        GrantOutcome::Conflict { differences, .. } => assert_eq!(differences, ["userToken"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(!store.user_summary(&user("u2")).await.unwrap().found);
    let summary = store.user_summary(&user("u1")).await.unwrap();
    assert_eq!(summary.email.as_deref(), Some("u1@example.com"));
}

async fn revoking_leaves_nothing_to_activate_until_the_next_grant<S: Store>(store: Arc<S>) {
    let store = &*store;
    assert_eq!(
        store
            .revoke(&user("u1"), &item("1_GB"), now())
            .await
            .unwrap(),
        None
    );
    purchase::grant(store, &grant("u1", "1_GB", 3), now())
        .await
        .unwrap();
    let a1 = decided("a1", "u1", Decision::Approved);
    assert_eq!(store.approve(&a1).await.unwrap(), ApproveOutcome::Approved);
    let revoked_at = now();
    let revoked = store
        .revoke(&user("u1"), &item("1_GB"), revoked_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((revoked.units_granted, revoked.units_used), (1, 1));
    assert_eq!(revoked.revoked_at, Some(revoked_at));
    match store
        .approve(&decided("a2", "u1", Decision::Approved))
        .await
        .unwrap()
    {
        ApproveOutcome::NotEntitled(Some(e)) => {
            assert_eq!(Refusal::for_entitlement(Some(&e), now()), Refusal::Revoked);
        }
        other => panic!("expected a revoked entitlement, got {other:?}"),
    }
    purchase::grant(store, &grant("u1", "1_GB", 1), now())
        .await
        .unwrap();
    let lifted = store.entitlement(&user("u1"), &item("1_GB")).await.unwrap();
    assert_eq!(
        lifted.map(|e| (e.units_left(), e.revoked_at)),
        Some((1, None))
    );
}

async fn registrations_find_their_user_both_ways<S: Store>(store: Arc<S>) {
    let store = &*store;
    let registration = |token: &str, uid: &str| CustomerRegistration {
        user_token: user(token),
        customer_uid: CustomerUid::parse(uid).unwrap(),
    };
    let customer = |uid: &str| CustomerUid::parse(uid).unwrap();
    // Unknown user: nothing on a profile, kept unclaimed instead.
    let early = registration("u1", "c-1");
    assert_eq!(store.register_customer(&early, now()).await.unwrap(), None);
    store.keep_unclaimed(&early, now()).await.unwrap();
    assert_eq!(
        store.user_for_customer(&customer("c-1")).await.unwrap(),
        Some(user("u1"))
    );
    let summary = store.user_summary(&user("u1")).await.unwrap();
    assert!(summary.found);
    assert_eq!(summary.unclaimed_customer_uids, [customer("c-1")]);

    let with_email = Grant {
        email: Some(Email::parse("u1@example.com").unwrap()),
        ..grant("u1", "1_GB", 1)
    };
    purchase::grant(store, &with_email, now()).await.unwrap();
    assert_eq!(
        store.register_customer(&early, now()).await.unwrap(),
        Some(Registered::KnownUser {
            email: Some("u1@example.com".to_owned()),
            replaced: None,
            moved_from: None
        })
    );
    assert_eq!(
        store
            .register_customer(&registration("u1", "c-2"), now())
            .await
            .unwrap(),
        Some(Registered::KnownUser {
            email: Some("u1@example.com".to_owned()),
            replaced: Some(customer("c-1")),
            moved_from: None
        })
    );
    assert_eq!(
        store.user_for_customer(&customer("c-2")).await.unwrap(),
        Some(user("u1"))
    );
    assert_eq!(
        store.user_for_customer(&customer("c-9")).await.unwrap(),
        None
    );
    let summary = store.user_summary(&user("u1")).await.unwrap();
    assert_eq!(summary.customer_uid, Some(customer("c-2")));
}

async fn esim_statuses_are_recorded_once_with_history<S: Store>(store: Arc<S>) {
    let store = &*store;
    let iccid = Iccid::parse("89361123300836129514").unwrap();
    let status = |state: &str, eid: Option<&str>, at: OffsetDateTime| EsimStatusRecord {
        status: EsimStatus {
            iccid: iccid.clone(),
            imsi: Imsi::parse("260216611193634").unwrap(),
            profile_state: ProfileState::parse(state).unwrap(),
            eid: eid.map(|e| Eid::parse(e).unwrap()),
        },
        received_at: at,
    };
    assert_eq!(store.esim_history(&iccid).await.unwrap(), None);
    let t0 = now();
    let installed = status("INSTALLED", Some("74088234238931452"), t0);
    assert_eq!(
        store.record_status(&installed).await.unwrap(),
        Recorded::Changed
    );
    let redelivered = status(
        "INSTALLED",
        Some("74088234238931452"),
        t0 + Duration::seconds(1),
    );
    assert_eq!(
        store.record_status(&redelivered).await.unwrap(),
        Recorded::Unchanged
    );
    // Without an eid, the same state is still a redelivery.
    let no_eid = status("INSTALLED", None, t0 + Duration::seconds(2));
    assert_eq!(
        store.record_status(&no_eid).await.unwrap(),
        Recorded::Unchanged
    );
    let disabled = status("DISABLED", None, t0 + Duration::seconds(3));
    assert_eq!(
        store.record_status(&disabled).await.unwrap(),
        Recorded::Changed
    );

    let esim = store.esim_history(&iccid).await.unwrap().unwrap();
    assert_eq!(
        esim.current.as_ref().unwrap().status.profile_state,
        ProfileState::Disabled
    );
    assert_eq!(
        esim.current.as_ref().unwrap().received_at,
        disabled.received_at
    );
    // A status without an eid keeps the one on file.
    assert_eq!(
        esim.current.as_ref().unwrap().status.eid,
        installed.status.eid
    );
    assert_eq!(esim.history, [disabled, installed]);
}

async fn summaries_order_entitlements_and_activations<S: Store>(store: Arc<S>) {
    let store = &*store;
    assert!(!store.user_summary(&user("u1")).await.unwrap().found);
    for id in ["5_GB", "1_GB"] {
        purchase::grant(store, &grant("u1", id, 2), now())
            .await
            .unwrap();
    }
    let first = decided("a1", "u1", Decision::Approved);
    store.approve(&first).await.unwrap();
    let mut second = decided("a2", "u1", Decision::Refused(Refusal::NoUnitsLeft));
    second.decided_at = first.decided_at + Duration::milliseconds(5);
    store.record(&second).await.unwrap();
    let summary = store.user_summary(&user("u1")).await.unwrap();
    let items: Vec<&str> = summary
        .entitlements
        .iter()
        .map(|e| e.item.as_str())
        .collect();
    assert_eq!(items, ["1_GB", "5_GB"]);
    let newest_first: Vec<(&str, &str)> = summary
        .activations
        .iter()
        .map(|a| (a.activation_id.as_str(), a.decision.as_str()))
        .collect();
    assert_eq!(newest_first, [("a2", "FAIL"), ("a1", "SUCCESS")]);
    assert_eq!(summary.activations[0].reason, Some(Refusal::NoUnitsLeft));
}

async fn late_statuses_take_their_place_in_time<S: Store>(store: Arc<S>) {
    let store = &*store;
    let iccid = Iccid::parse("89361123300836129514").unwrap();
    let t0 = now();
    let at = |ms: i64, state: &str| EsimStatusRecord {
        status: EsimStatus {
            iccid: iccid.clone(),
            imsi: Imsi::parse("260216611193634").unwrap(),
            profile_state: ProfileState::parse(state).unwrap(),
            eid: None,
        },
        received_at: t0 + Duration::milliseconds(ms),
    };
    let states = |h: &shared::domain::views::EsimHistory| -> Vec<(String, i64)> {
        let ms = |r: &EsimStatusRecord| (r.received_at - t0).whole_milliseconds() as i64;
        let entries = h.history.iter();
        entries
            .map(|r| (r.status.profile_state.as_str().to_owned(), ms(r)))
            .collect()
    };
    let record = |ms, state| async move { store.record_status(&at(ms, state)).await.unwrap() };
    for (ms, state, recorded) in [
        (0, "INSTALLED", Recorded::Changed),
        (3000, "DISABLED", Recorded::Changed),
        // Older than the current state: into the history, the current state stays.
        (1000, "RELEASED", Recorded::Late),
        (1000, "RELEASED", Recorded::Unchanged),
        // Late, and it repeats the entry before it: a redelivery, as it was when first received.
        (500, "INSTALLED", Recorded::Unchanged),
        // Late, and it repeats the entry after it: the twin of a redelivery received a moment
        // later.
        (2000, "DISABLED", Recorded::Unchanged),
        (2500, "ERROR", Recorded::Late),
    ] {
        assert_eq!(record(ms, state).await, recorded, "{state} at {ms} ms");
    }
    let esim = store.esim_history(&iccid).await.unwrap().unwrap();
    assert_eq!(
        esim.current.as_ref().unwrap().status.profile_state,
        ProfileState::Disabled
    );
    assert_eq!(
        esim.current.as_ref().unwrap().received_at,
        t0 + Duration::milliseconds(3000)
    );
    let expected = [
        ("DISABLED", 3000),
        ("ERROR", 2500),
        ("RELEASED", 1000),
        ("INSTALLED", 0),
    ];
    assert_eq!(states(&esim), expected.map(|(s, ms)| (s.to_owned(), ms)));
}

async fn an_older_registration_never_replaces_a_newer_one<S: Store>(store: Arc<S>) {
    let store = &*store;
    let with_email = Grant {
        email: Some(Email::parse("u1@example.com").unwrap()),
        ..grant("u1", "1_GB", 1)
    };
    purchase::grant(store, &with_email, now()).await.unwrap();
    let registration = |uid: &str| CustomerRegistration {
        user_token: user("u1"),
        customer_uid: CustomerUid::parse(uid).unwrap(),
    };
    let t1 = now();
    let known = |replaced: Option<&str>| {
        Some(Registered::KnownUser {
            email: Some("u1@example.com".to_owned()),
            replaced: replaced.map(|uid| CustomerUid::parse(uid).unwrap()),
            moved_from: None,
        })
    };
    let newer = registration("c-new");
    assert_eq!(
        store.register_customer(&newer, t1).await.unwrap(),
        known(None)
    );
    let older = registration("c-old");
    let earlier = t1 - Duration::seconds(5);
    assert_eq!(
        store.register_customer(&older, earlier).await.unwrap(),
        known(None)
    );
    let summary = store.user_summary(&user("u1")).await.unwrap();
    assert_eq!(
        summary.customer_uid,
        Some(CustomerUid::parse("c-new").unwrap())
    );
    // The same registration again (a replay at its own time) is taken as it is.
    assert_eq!(
        store.register_customer(&newer, t1).await.unwrap(),
        known(None)
    );
}

const ICCID: &str = "89361123300836129514";

fn country(code: &str) -> Country {
    Country::parse("newCountry", code).unwrap()
}

async fn country_changes_take_their_place_in_time_beside_statuses<S: Store>(store: Arc<S>) {
    let store = &*store;
    let iccid = Iccid::parse(ICCID).unwrap();
    let t0 = now();
    let at = |ms: i64, previous: Option<&str>, new: &str| CountryChangeRecord {
        change: CountryChange {
            iccid: iccid.clone(),
            imsi: Imsi::parse("260216611193634").unwrap(),
            previous_country: previous.map(country),
            new_country: country(new),
        },
        received_at: t0 + Duration::milliseconds(ms),
    };
    let record = |ms, previous, new| async move {
        store.record_country(&at(ms, previous, new)).await.unwrap()
    };
    for (ms, previous, new, recorded) in [
        (0, None, "DE", Recorded::Changed),
        // The same change again, later: a redelivery.
        (100, None, "DE", Recorded::Unchanged),
        (3000, Some("FR"), "AT", Recorded::Changed),
        // Older than the current country: into the history only.
        (1000, Some("DE"), "FR", Recorded::Late),
        (1000, Some("DE"), "FR", Recorded::Unchanged),
        // Late, and it repeats the entry after it: the twin of a redelivery.
        (2000, Some("FR"), "AT", Recorded::Unchanged),
        // Late, and it repeats the entry before it.
        (500, None, "DE", Recorded::Unchanged),
    ] {
        assert_eq!(
            record(ms, previous, new).await,
            recorded,
            "{new} at {ms} ms"
        );
    }
    // Statuses of the same eSIM are kept apart from its countries.
    let status = EsimStatusRecord {
        status: EsimStatus {
            iccid: iccid.clone(),
            imsi: Imsi::parse("260216611193634").unwrap(),
            profile_state: ProfileState::Installed,
            eid: None,
        },
        received_at: t0 + Duration::milliseconds(1500),
    };
    assert_eq!(
        store.record_status(&status).await.unwrap(),
        Recorded::Changed
    );
    let esim = store.esim_history(&iccid).await.unwrap().unwrap();
    let current = esim.country.as_ref().unwrap();
    assert_eq!(current.change.new_country, country("AT"));
    assert_eq!(current.change.previous_country, Some(country("FR")));
    assert_eq!(current.received_at, t0 + Duration::milliseconds(3000));
    let history: Vec<(&str, i64)> = esim
        .country_history
        .iter()
        .map(|h| {
            let ms = (h.received_at - t0).whole_milliseconds() as i64;
            (h.change.new_country.as_str(), ms)
        })
        .collect();
    assert_eq!(history, [("AT", 3000), ("FR", 1000), ("DE", 0)]);
    assert_eq!(esim.current, Some(status.clone()));
    assert_eq!(esim.history, [status]);
}

fn alert(uid: &str, timestamp: OffsetDateTime, bytes: u64) -> BalanceAlertRecord {
    BalanceAlertRecord {
        alert: BalanceAlert {
            customer_uid: CustomerUid::parse(uid).unwrap(),
            iccid: Iccid::parse(ICCID).unwrap(),
            imsi: Imsi::parse("260216611193634").unwrap(),
            timestamp,
            balance_bytes: bytes,
        },
        received_at: now(),
    }
}

/// `u1` with customer id `uid` registered, at `now`.
async fn registered<S: Store>(store: &S, uid: &str) {
    purchase::grant(store, &grant("u1", "1_GB", 1), now())
        .await
        .unwrap();
    let registration = CustomerRegistration {
        user_token: user("u1"),
        customer_uid: CustomerUid::parse(uid).unwrap(),
    };
    assert!(store
        .register_customer(&registration, now())
        .await
        .unwrap()
        .is_some());
}

async fn balance_alerts_are_kept_once_and_the_newest_is_the_latest<S: Store>(store: Arc<S>) {
    let store = &*store;
    registered(store, "c-1").await;
    let t0 = now() - Duration::hours(1);
    let newer = alert("c-1", t0 + Duration::minutes(30), 50_000_000);
    let older = alert("c-1", t0, 90_000_000);
    assert_eq!(store.record_alert(&newer).await.unwrap(), Recorded::Changed);
    // Older by Gigastore's time, received later: kept, but not the latest.
    assert_eq!(store.record_alert(&older).await.unwrap(), Recorded::Changed);
    for again in [&newer, &older] {
        let redelivered = BalanceAlertRecord {
            received_at: now() + Duration::seconds(1),
            ..again.clone()
        };
        assert_eq!(
            store.record_alert(&redelivered).await.unwrap(),
            Recorded::Unchanged
        );
    }
    // Another customer's alerts are not this user's.
    let stranger = alert("c-2", t0 + Duration::minutes(50), 1);
    assert_eq!(
        store.record_alert(&stranger).await.unwrap(),
        Recorded::Changed
    );
    let summary = store.user_summary(&user("u1")).await.unwrap();
    assert_eq!(summary.latest_balance_alert, Some(newer));
}

fn activation(expires_days: i64, received_at: OffsetDateTime) -> BalanceActivationRecord {
    let activated_at = OffsetDateTime::from_unix_timestamp(1_756_115_530).unwrap();
    BalanceActivationRecord {
        activation: BalanceActivation {
            customer_uid: CustomerUid::parse("c-1").unwrap(),
            activated_item: BalanceItemId::parse("a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e").unwrap(),
            activated_at,
            expires_at: activated_at + Duration::days(expires_days),
        },
        received_at,
    }
}

async fn balance_activations_are_kept_once_per_expiry<S: Store>(store: Arc<S>) {
    let store = &*store;
    registered(store, "c-1").await;
    let t0 = now();
    let expires = |days| activation(days, t0).activation.expires_at;
    for (days, ms, recorded) in [
        (8, 0, Recorded::Changed),
        // A redelivery, even received later.
        (8, 500, Recorded::Unchanged),
        // Extended: a new fact.
        (15, 1000, Recorded::Changed),
        // The first expiry again, but received before the extension (a late replay).
        (8, 200, Recorded::Unchanged),
    ] {
        let record = activation(days, t0 + Duration::milliseconds(ms));
        let outcome = store.record_activation(&record).await.unwrap();
        assert_eq!(outcome, recorded, "{days} days at {ms} ms");
    }
    let summary = store.user_summary(&user("u1")).await.unwrap();
    let balances: Vec<_> = summary
        .balances
        .iter()
        .map(|b| (b.item.as_str(), b.expires_at))
        .collect();
    assert_eq!(
        balances,
        [("a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e", expires(15))]
    );
}

async fn balance_facts_are_found_once_the_customer_registers<S: Store>(store: Arc<S>) {
    let store = &*store;
    let early = alert("c-1", now() - Duration::minutes(5), 42);
    assert_eq!(store.record_alert(&early).await.unwrap(), Recorded::Changed);
    let started = activation(8, now());
    assert_eq!(
        store.record_activation(&started).await.unwrap(),
        Recorded::Changed
    );
    // Nobody is registered with c-1 yet: nothing links them to a user.
    purchase::grant(store, &grant("u1", "1_GB", 1), now())
        .await
        .unwrap();
    let before = store.user_summary(&user("u1")).await.unwrap();
    assert_eq!(before.latest_balance_alert, None);
    assert!(before.balances.is_empty());
    registered(store, "c-1").await;
    let after = store.user_summary(&user("u1")).await.unwrap();
    assert_eq!(after.latest_balance_alert, Some(early));
    assert_eq!(after.balances.len(), 1);
    assert_eq!(after.balances[0].expires_at, started.activation.expires_at);
}

async fn event_lookups_link_users_customers_and_sims<S: Store>(store: Arc<S>) {
    let store = &*store;
    let (c1, c2, c3) = (
        CustomerUid::parse("c-1").unwrap(),
        CustomerUid::parse("c-2").unwrap(),
        CustomerUid::parse("c-3").unwrap(),
    );
    let iccid = Iccid::parse(ICCID).unwrap();
    assert_eq!(store.user_of_customer(&c1).await.unwrap(), None);
    assert_eq!(store.customer_of_user(&user("u1")).await.unwrap(), None);
    assert_eq!(store.customer_of_iccid(&iccid).await.unwrap(), None);

    // A SIM belongs to the customer of its newest alert, whatever order they arrived in.
    let t0 = now() - Duration::hours(1);
    store
        .record_alert(&alert("c-2", t0 + Duration::minutes(10), 1))
        .await
        .unwrap();
    store.record_alert(&alert("c-1", t0, 2)).await.unwrap();
    assert_eq!(store.customer_of_iccid(&iccid).await.unwrap(), Some(c2));
    let other = Iccid::parse("8901234567890123456").unwrap();
    assert_eq!(store.customer_of_iccid(&other).await.unwrap(), None);

    // A user without a registration has no customer id yet.
    purchase::grant(store, &grant("u1", "1_GB", 1), now())
        .await
        .unwrap();
    assert_eq!(store.customer_of_user(&user("u1")).await.unwrap(), None);
    registered(store, "c-1").await;
    assert_eq!(store.user_of_customer(&c1).await.unwrap(), Some(user("u1")));
    assert_eq!(store.customer_of_user(&user("u1")).await.unwrap(), Some(c1));

    // An unclaimed registration names no user of ours.
    let unclaimed = CustomerRegistration {
        user_token: user("u9"),
        customer_uid: c3.clone(),
    };
    store.keep_unclaimed(&unclaimed, now()).await.unwrap();
    assert_eq!(store.user_of_customer(&c3).await.unwrap(), None);
}

async fn a_customer_id_names_the_user_it_was_registered_to_last<S: Store>(store: Arc<S>) {
    let store = &*store;
    let uid = CustomerUid::parse("c-shared").unwrap();
    let registration = |token: &str| CustomerRegistration {
        user_token: user(token),
        customer_uid: uid.clone(),
    };
    for token in ["a", "b"] {
        let with_email = Grant {
            email: Some(Email::parse(&format!("{token}@example.com")).unwrap()),
            ..grant(token, "1_GB", 1)
        };
        purchase::grant(store, &with_email, now()).await.unwrap();
    }
    let moved = |from: Option<&str>, to: &str| {
        Some(Registered::KnownUser {
            email: Some(format!("{to}@example.com")),
            replaced: None,
            moved_from: from.map(user),
        })
    };
    let t1 = now();
    let t2 = t1 + Duration::seconds(5);
    assert_eq!(
        store
            .register_customer(&registration("a"), t1)
            .await
            .unwrap(),
        moved(None, "a")
    );
    // Gigastore registers the same customer id to another user: it moves, once.
    assert_eq!(
        store
            .register_customer(&registration("b"), t2)
            .await
            .unwrap(),
        moved(Some("a"), "b")
    );
    assert_eq!(
        store
            .register_customer(&registration("b"), t2)
            .await
            .unwrap(),
        moved(None, "b")
    );
    let holder = |token: &'static str| async move {
        store.user_summary(&user(token)).await.unwrap().customer_uid
    };
    assert_eq!(holder("a").await, None);
    assert_eq!(holder("b").await, Some(uid.clone()));
    assert_eq!(
        store.user_for_customer(&uid).await.unwrap(),
        Some(user("b"))
    );
    // A's older registration replayed late takes nothing back.
    assert_eq!(
        store
            .register_customer(&registration("a"), t1)
            .await
            .unwrap(),
        moved(None, "a")
    );
    assert_eq!(holder("a").await, None);
    assert_eq!(
        store.user_for_customer(&uid).await.unwrap(),
        Some(user("b"))
    );
}

async fn expired_units_never_come_back_and_a_renewal_is_usable<S: Store>(store: Arc<S>) {
    let store = &*store;
    let t0 = now();
    let approve_at = |id: &str, user_token: &str, at: OffsetDateTime| {
        let request = ActivationRequest {
            activation_id: ActivationId::parse(id).unwrap(),
            user_token: user(user_token),
            item: item("1_GB"),
            meta_tag: None,
        };
        let record = ActivationRecord::new(&request, Decision::Approved, at);
        async move { store.approve(&record).await.unwrap() }
    };
    let approved = |outcomes: Vec<ApproveOutcome>| {
        outcomes
            .iter()
            .filter(|o| **o == ApproveOutcome::Approved)
            .count()
    };
    for (user_token, renewal_expiry) in [("with", Some(t0 + Duration::hours(1))), ("without", None)]
    {
        // 5 units expiring in a minute; 1 used; the other 4 expire unused.
        let first = Grant {
            expires_at: Some(t0 + Duration::minutes(1)),
            ..grant(user_token, "1_GB", 5)
        };
        purchase::grant(store, &first, t0).await.unwrap();
        assert_eq!(
            approve_at(&format!("{user_token}-0"), user_token, t0).await,
            ApproveOutcome::Approved
        );
        // Two minutes later, a purchase of 2 more: its units are usable, the 4 never again.
        let later = t0 + Duration::minutes(2);
        let renewal = Grant {
            expires_at: renewal_expiry,
            ..grant(user_token, "1_GB", 2)
        };
        purchase::grant(store, &renewal, later).await.unwrap();
        let mut outcomes = Vec::new();
        for i in 1..=6 {
            let id = format!("{user_token}-{i}");
            outcomes.push(approve_at(&id, user_token, later + Duration::seconds(1)).await);
        }
        assert_eq!(approved(outcomes), 2, "{user_token}");
        assert_eq!(units_used(store, user_token).await, 3, "{user_token}");
    }
}
