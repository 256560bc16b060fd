//! Purchases and erasure, on both stores: refunds remove only unused units, first in first out,
//! once, and never a unit an activation took, however they race; an erased user leaves no
//! token or email behind, and its records keep their counts and answers.

use std::sync::Arc;

use shared::domain::activation::{self, ActivationRequest, Answer, Outcome};
use shared::domain::deadline::Deadline;
use shared::domain::entitlement::EntitlementStore;
use shared::domain::erasure::{self, Holder, UserHashKey};
use shared::domain::ids::{ActivationId, CustomerUid, Email, ItemId, PurchaseId, UserToken};
use shared::domain::purchase::{
    self, Grant, GrantOutcome, Order, Purchase, PurchaseStore, Quantity, RefundOutcome,
};
use shared::domain::registration::{self, CustomerRegistration};
use shared::domain::store::Store;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

use crate::common::contract;

contract!(
    a_refund_removes_what_its_purchase_has_left_first_in_first_out,
    a_refund_is_made_once_and_answers_the_same_again,
    refunds_racing_activations_never_take_an_activated_unit,
    an_expired_purchase_has_nothing_left_to_refund,
    an_erased_user_leaves_no_token_or_email_and_keeps_its_answers,
);

fn user(token: &str) -> UserToken {
    UserToken::parse(token).unwrap()
}

fn item() -> ItemId {
    ItemId::parse("1_GB").unwrap()
}

fn now() -> OffsetDateTime {
    shared::domain::clock::to_millis(OffsetDateTime::now_utc())
}

fn key() -> UserHashKey {
    UserHashKey::new(&[7; 32]).unwrap()
}

fn bought(id: &str, user_token: &str, quantity: u32) -> Grant {
    Grant {
        purchase_id: PurchaseId::parse(id).unwrap(),
        user_token: user(user_token),
        item: item(),
        quantity: Quantity::new(quantity.into()).unwrap(),
        email: Some(Email::parse(&format!("{user_token}@example.com")).unwrap()),
        expires_at: None,
        delivery: Order::Sdk,
    }
}

async fn grant_at<S: Store>(store: &S, grant: &Grant, at: OffsetDateTime) -> Purchase {
    match purchase::grant(store, grant, at).await.unwrap() {
        GrantOutcome::Granted(p) => p,
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn request(id: &str, user_token: &str) -> ActivationRequest {
    ActivationRequest {
        activation_id: ActivationId::parse(id).unwrap(),
        user_token: user(user_token),
        item: item(),
        meta_tag: None,
    }
}

async fn activate<S: Store>(store: &S, id: &str, user_token: &str) -> Answer {
    let deadline = Deadline::after(std::time::Duration::from_secs(10));
    activation::decide(
        store,
        &request(id, user_token),
        Some(&key()),
        now(),
        deadline,
    )
    .await
    .unwrap()
    .answer()
}

async fn refund<S: Store>(store: &S, id: &str) -> RefundOutcome {
    let id = PurchaseId::parse(id).unwrap();
    purchase::refund(store, &id, None, now()).await.unwrap()
}

/// The refund's (refunded, used) units.
fn refunded(outcome: &RefundOutcome) -> (u32, u32) {
    match outcome {
        RefundOutcome::Refunded(p) | RefundOutcome::AlreadyRefunded(p) => {
            let r = p.refund.as_ref().expect("a refund");
            (r.units_refunded, r.units_used)
        }
        RefundOutcome::NotFound | RefundOutcome::TopUpInFlight(_) => panic!("{outcome:?}"),
    }
}

async fn units<S: Store>(store: &S, user_token: &str) -> (u32, u32) {
    let e = store.entitlement(&user(user_token), &item()).await.unwrap();
    e.map_or((0, 0), |e| (e.units_granted, e.units_used))
}

async fn a_refund_removes_what_its_purchase_has_left_first_in_first_out<S: Store>(store: Arc<S>) {
    let store = &*store;
    let t0 = now() - Duration::minutes(10);
    grant_at(store, &bought("p1", "u1", 2), t0).await;
    grant_at(store, &bought("p2", "u1", 2), t0 + Duration::minutes(1)).await;
    for id in ["a1", "a2", "a3"] {
        assert_eq!(activate(store, id, "u1").await, Answer::Approve);
    }
    // p1's two units went first, then one of p2's.
    assert_eq!(refunded(&refund(store, "p1").await), (0, 2));
    assert_eq!(units(store, "u1").await, (4, 3));
    let p2 = refund(store, "p2").await;
    assert!(matches!(p2, RefundOutcome::Refunded(_)), "{p2:?}");
    assert_eq!(refunded(&p2), (1, 1));
    assert_eq!(units(store, "u1").await, (3, 3));
    assert_ne!(activate(store, "a4", "u1").await, Answer::Approve);
    assert_eq!(
        refund(store, "nobody's").await,
        RefundOutcome::NotFound,
        "an unknown purchase"
    );
    // Another user's purchase is untouched by all this.
    grant_at(store, &bought("p3", "u2", 1), t0).await;
    assert_eq!(refunded(&refund(store, "p3").await), (1, 0));
    assert_eq!(units(store, "u1").await, (3, 3));
}

async fn a_refund_is_made_once_and_answers_the_same_again<S: Store>(shared: Arc<S>) {
    let store = &*shared;
    grant_at(store, &bought("p1", "u1", 3), now()).await;
    let first = refund(store, "p1").await;
    let RefundOutcome::Refunded(made) = first else {
        panic!("expected a refund, got {first:?}");
    };
    assert_eq!(made.refund.as_ref().map(|r| r.units_refunded), Some(3));
    // Concurrent repeats: none removes anything more, all answer the refund as made.
    let barrier = Arc::new(Barrier::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (store, barrier) = (shared.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            purchase::refund(&*store, &PurchaseId::parse("p1").unwrap(), None, now())
                .await
                .unwrap()
        });
    }
    while let Some(again) = tasks.join_next().await {
        assert_eq!(again.unwrap(), RefundOutcome::AlreadyRefunded(made.clone()));
    }
    assert_eq!(units(store, "u1").await, (0, 0));
    // A grant after the refund is whole.
    grant_at(store, &bought("p2", "u1", 1), now()).await;
    assert_eq!(units(store, "u1").await, (1, 0));
}

async fn refunds_racing_activations_never_take_an_activated_unit<S: Store>(store: Arc<S>) {
    for round in 0..4 {
        let user_token = format!("racer-{round}");
        let purchase_id = format!("race-{round}");
        grant_at(&*store, &bought(&purchase_id, &user_token, 4), now()).await;
        let barrier = Arc::new(Barrier::new(7));
        let mut activations = tokio::task::JoinSet::new();
        for i in 0..6 {
            let (store, barrier, user_token) = (store.clone(), barrier.clone(), user_token.clone());
            activations.spawn(async move {
                barrier.wait().await;
                let id = format!("{user_token}-a{i}");
                let deadline = Deadline::after(std::time::Duration::from_secs(10));
                let outcome =
                    activation::decide(&*store, &request(&id, &user_token), None, now(), deadline)
                        .await
                        .unwrap();
                matches!(outcome, Outcome::Decided(activation::Decision::Approved))
            });
        }
        let refunding = {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let id = PurchaseId::parse(&purchase_id).unwrap();
                purchase::refund(&*store, &id, None, now()).await.unwrap()
            })
        };
        let mut approved = 0;
        while let Some(a) = activations.join_next().await {
            approved += u32::from(a.unwrap());
        }
        let (units_refunded, units_used) = refunded(&refunding.await.unwrap());
        assert_eq!(
            (approved, units_refunded + units_used),
            (units_used, 4),
            "round {round}: each unit activated or refunded, never both"
        );
        assert_eq!(
            units(&*store, &user_token).await,
            (4 - units_refunded, approved)
        );
    }
}

async fn an_expired_purchase_has_nothing_left_to_refund<S: Store>(store: Arc<S>) {
    let store = &*store;
    let t0 = now() - Duration::hours(2);
    let expiring = Grant {
        expires_at: Some(t0 + Duration::hours(1)),
        ..bought("p1", "u1", 3)
    };
    grant_at(store, &expiring, t0).await;
    // Renewed after the expiry: p1's leftovers are void, p2's unit is p2's.
    grant_at(store, &bought("p2", "u1", 1), now() - Duration::minutes(1)).await;
    let p1 = refund(store, "p1").await;
    let RefundOutcome::Refunded(p1) = p1 else {
        panic!("expected a refund, got {p1:?}");
    };
    let r = p1.refund.expect("recorded");
    assert_eq!((r.units_refunded, r.units_used, r.units_void), (0, 0, 3));
    assert_eq!(refunded(&refund(store, "p2").await), (1, 0));
    assert_eq!(units(store, "u1").await, (0, 0));
}

async fn an_erased_user_leaves_no_token_or_email_and_keeps_its_answers<S: Store>(store: Arc<S>) {
    let store = &*store;
    grant_at(store, &bought("p1", "gone", 2), now()).await;
    grant_at(store, &bought("p9", "stays", 1), now()).await;
    assert_eq!(activate(store, "a1", "gone").await, Answer::Approve);
    let customer = CustomerUid::parse("c-gone").unwrap();
    let registration = CustomerRegistration {
        user_token: user("gone"),
        customer_uid: customer.clone(),
    };
    registration::register(store, &registration, now())
        .await
        .unwrap();

    let erased = erasure::erase(store, &key(), &user("gone"), now())
        .await
        .unwrap();
    assert!(erased.erased);
    assert_eq!(
        (
            erased.profiles,
            erased.entitlements,
            erased.activations,
            erased.purchases
        ),
        (1, 1, 1, 1)
    );
    assert!(!store.user_summary(&user("gone")).await.unwrap().found);
    assert_eq!(store.user_for_customer(&customer).await.unwrap(), None);
    // Kept records name the hash only.
    let kept = store
        .purchase(&PurchaseId::parse("p1").unwrap())
        .await
        .unwrap()
        .expect("the purchase is kept");
    assert_eq!(kept.holder, Holder::Erased(key().hash(&user("gone"))));
    assert_eq!(kept.quantity, 2);
    let decision = store
        .activation(&ActivationId::parse("a1").unwrap())
        .await
        .unwrap()
        .expect("the decision is kept");
    assert_eq!(decision.holder, Holder::Erased(key().hash(&user("gone"))));
    // A redelivery still gets its answer; another user's request with the id never does,
    // and nothing is approved without the key.
    assert_eq!(activate(store, "a1", "gone").await, Answer::Approve);
    assert_ne!(activate(store, "a1", "stays").await, Answer::Approve);
    let deadline = Deadline::after(std::time::Duration::from_secs(10));
    let keyless = activation::decide(store, &request("a1", "gone"), None, now(), deadline)
        .await
        .unwrap();
    assert_eq!(keyless, Outcome::ActivationIdReused);
    // Erasing again finds nothing and changes nothing.
    let again = erasure::erase(store, &key(), &user("gone"), now())
        .await
        .unwrap();
    assert!(!again.erased);
    assert_eq!((again.purchases, again.erased_at), (0, None));
    assert_eq!(again.user_hash, erased.user_hash);
    // A new request for the erased user finds nothing (and is a new record, in clear: the
    // user came back); the other user is untouched.
    assert_ne!(activate(store, "a2", "gone").await, Answer::Approve);
    assert_eq!(units(store, "stays").await, (1, 0));
    assert_eq!(activate(store, "a3", "stays").await, Answer::Approve);
}

#[tokio::test]
async fn after_an_erasure_no_item_in_the_table_holds_the_token_or_email() {
    let t = crate::common::TestTable::new().await;
    let store = &t.store;
    let token = "erase-me-7f3a";
    grant_at(store, &bought("p1", token, 2), now()).await;
    assert_eq!(activate(store, "a1", token).await, Answer::Approve);
    // A refusal, and a registration both known and unclaimed (another user's id first).
    assert_eq!(
        activate(store, "a2", token).await,
        activate(store, "a2", token).await
    );
    for (uid, who) in [("c-1", token), ("c-2", "nobody-yet")] {
        let registration = CustomerRegistration {
            user_token: user(who),
            customer_uid: CustomerUid::parse(uid).unwrap(),
        };
        registration::register(store, &registration, now())
            .await
            .unwrap();
    }
    let scan = || async {
        let items = store
            .client()
            .scan()
            .table_name(&t.name)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        format!("{items:?}")
    };
    let before = scan().await;
    assert!(before.contains(token) && before.contains("@example.com"));
    erasure::erase(store, &key(), &user(token), now())
        .await
        .unwrap();
    let after = scan().await;
    assert!(!after.contains(token), "{after}");
    assert!(!after.contains(&format!("{token}@example.com")), "{after}");
    assert!(after.contains(key().hash(&user(token)).as_str()));
    // The activation, purchase and the erasure record are kept; "nobody-yet" is not touched.
    assert!(after.contains("ACTIVATION#a1") && after.contains("PURCHASE#p1"));
    assert!(after.contains("ERASED#") && after.contains("nobody-yet"));
}

#[tokio::test]
async fn a_grant_after_a_refund_keeps_counting_per_purchase() {
    let t = crate::common::TestTable::new().await;
    let store = &t.store;
    let t0 = now() - Duration::minutes(5);
    grant_at(store, &bought("p1", "u1", 2), t0).await;
    assert_eq!(refunded(&refund(store, "p1").await), (2, 0));
    grant_at(store, &bought("p2", "u1", 2), t0 + Duration::minutes(1)).await;
    assert_eq!(activate(store, "a1", "u1").await, Answer::Approve);
    let p2 = store
        .purchase(&PurchaseId::parse("p2").unwrap())
        .await
        .unwrap()
        .unwrap();
    let e = store.entitlement(&user("u1"), &item()).await.unwrap();
    let all = store.purchases_of(&user("u1"), &item()).await.unwrap();
    let usage = purchase::usage(&p2, e.as_ref(), &all, now());
    assert_eq!((usage.used, usage.left), (1, 1));
}
