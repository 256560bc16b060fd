//! Granting entitlements: atomic, and idempotent per purchase id, under retries and concurrency.

use crate::common::{concurrently, user_summary, TestTable};
use shared::domain::entitlement::EntitlementStore;
use shared::domain::ids::{ItemId, PurchaseId, UserToken};
use shared::domain::purchase::{self, Grant, GrantOutcome, Order, Quantity};
use time::OffsetDateTime;

fn purchase(user: &str, item: &str, quantity: u32, id: &str) -> Grant {
    Grant {
        purchase_id: PurchaseId::parse(id).unwrap(),
        user_token: UserToken::parse(user).unwrap(),
        item: ItemId::parse(item).unwrap(),
        quantity: Quantity::new(quantity.into()).unwrap(),
        email: None,
        expires_at: None,
        delivery: Order::Sdk,
    }
}

async fn units_granted(t: &TestTable, user: &str, item: &str) -> Option<u32> {
    let (user, item) = (
        UserToken::parse(user).unwrap(),
        ItemId::parse(item).unwrap(),
    );
    let e = t.store.entitlement(&user, &item).await.unwrap();
    e.map(|e| e.units_granted)
}

#[tokio::test]
async fn a_purchase_is_granted_once_however_often_it_is_sent() {
    let t = TestTable::new().await;
    let now = OffsetDateTime::now_utc();
    let order = purchase("u1", "1_GB", 2, "order-1");
    let first = purchase::grant(&t.store, &order, now).await.unwrap();
    assert_eq!(
        first,
        GrantOutcome::Granted(purchase::Purchase::granted(&order, now, None))
    );
    let again = purchase::grant(&t.store, &order, OffsetDateTime::now_utc())
        .await
        .unwrap();
    // The same purchase as first recorded, its time included.
    assert_eq!(
        again,
        GrantOutcome::AlreadyGranted(purchase::Purchase::granted(&order, now, None))
    );
    assert_eq!(units_granted(&t, "u1", "1_GB").await, Some(2));

    let second = purchase::grant(&t.store, &purchase("u1", "1_GB", 1, "order-2"), now)
        .await
        .unwrap();
    assert!(matches!(second, GrantOutcome::Granted(_)), "{second:?}");
    assert_eq!(units_granted(&t, "u1", "1_GB").await, Some(3));

    // The same purchase id with another user, item, quantity or expiry adds nothing anywhere,
    // and the answer names what differs.
    let later = Some(now + time::Duration::days(30));
    for (grant, differs) in [
        (purchase("u2", "1_GB", 2, "order-1"), vec!["userToken"]),
        (
            purchase("u1", "5_GB", 2, "order-1"),
            vec!["inventoryItemId"],
        ),
        (purchase("u1", "1_GB", 3, "order-1"), vec!["quantity"]),
        (
            Grant {
                expires_at: later,
                ..purchase("u2", "1_GB", 2, "order-1")
            },
            vec!["userToken", "expiresAt"],
        ),
    ] {
        match purchase::grant(&t.store, &grant, now).await.unwrap() {
            GrantOutcome::Conflict {
                differences,
                purchase,
            } => {
                assert_eq!(differences, differs);
                assert_eq!(purchase.quantity, 2);
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    assert!(!user_summary(&t.store, "u2").await.found);
    let u1 = user_summary(&t.store, "u1").await;
    assert_eq!(u1.entitlements.len(), 1, "no 5_GB entitlement was created");
    assert_eq!(units_granted(&t, "u1", "1_GB").await, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_retries_of_one_purchase_grant_once() {
    let t = TestTable::new().await;
    let outcomes = concurrently(20, |_| {
        let store = t.other_store();
        async move {
            let retry = purchase("u1", "1_GB", 3, "order-9");
            purchase::grant(&store, &retry, OffsetDateTime::now_utc())
                .await
                .unwrap()
        }
    })
    .await;
    let fresh = outcomes
        .iter()
        .filter(|o| matches!(o, GrantOutcome::Granted(_)))
        .count();
    assert_eq!(fresh, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        GrantOutcome::Granted(_) | GrantOutcome::AlreadyGranted(_)
    )));
    assert_eq!(units_granted(&t, "u1", "1_GB").await, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_conflicting_grants_of_one_purchase_id_grant_one_of_them() {
    let t = TestTable::new().await;
    let outcomes = concurrently(12, |i| {
        let store = t.other_store();
        async move {
            // Three different bodies under one purchase id, four senders each.
            let user = ["u1", "u2", "u3"][i % 3];
            let grant = purchase(user, "1_GB", 1 + (i % 3) as u32, "order-7");
            (
                user,
                purchase::grant(&store, &grant, OffsetDateTime::now_utc())
                    .await
                    .unwrap(),
            )
        }
    })
    .await;
    let winners: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, GrantOutcome::Granted(_)))
        .map(|(user, _)| *user)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    for (user, outcome) in &outcomes {
        match outcome {
            GrantOutcome::Granted(_) | GrantOutcome::AlreadyGranted(_) => assert_eq!(user, &winner),
            GrantOutcome::Conflict { differences, .. } => {
                assert_ne!(user, &winner);
                assert!(differences.contains(&"userToken"), "{differences:?}");
            }
            GrantOutcome::NotRegistered => panic!("units need no customer id"),
        }
    }
    for user in ["u1", "u2", "u3"] {
        let expected = (user == winner)
            .then(|| ["u1", "u2", "u3"].iter().position(|u| *u == user).unwrap() as u32 + 1);
        assert_eq!(units_granted(&t, user, "1_GB").await, expected, "{user}");
    }
}

#[tokio::test]
async fn a_grant_is_one_request() {
    let t = TestTable::new().await;
    t.log.clear();
    purchase::grant(
        &t.store,
        &purchase("u1", "1_GB", 1, "order-1"),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(t.log.operations(), ["TransactWriteItems"]);
}
