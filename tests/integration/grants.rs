//! Granting entitlements: atomic, and idempotent per purchase id, under retries and concurrency.

use std::num::NonZeroU32;

use crate::common::{concurrently, user_summary, TestTable};
use shared::domain::entitlement::{Grant, GrantOutcome};
use shared::domain::ids::{ItemId, PurchaseId, UserToken};
use time::OffsetDateTime;

fn purchase(user: &str, item: &str, quantity: u32, id: Option<&str>) -> Grant {
    Grant {
        user_token: UserToken::parse(user).unwrap(),
        item: ItemId::parse(item).unwrap(),
        quantity: NonZeroU32::new(quantity).unwrap(),
        email: None,
        expires_at: None,
        purchase_id: id.map(|p| PurchaseId::parse(p).unwrap()),
    }
}

fn granted(outcome: &GrantOutcome) -> u32 {
    match outcome {
        GrantOutcome::Granted(e) | GrantOutcome::AlreadyGranted(e) => e.units_granted,
        GrantOutcome::PurchaseIdReused { .. } => panic!("unexpected {outcome:?}"),
    }
}

#[tokio::test]
async fn a_purchase_is_granted_once_however_often_it_is_sent() {
    let t = TestTable::new().await;
    let now = OffsetDateTime::now_utc();
    let first = shared::domain::entitlement::grant(
        &t.store,
        &purchase("u1", "1_GB", 2, Some("order-1")),
        now,
    )
    .await
    .unwrap();
    assert!(matches!(first, GrantOutcome::Granted(_)));
    assert_eq!(granted(&first), 2);
    let again = shared::domain::entitlement::grant(
        &t.store,
        &purchase("u1", "1_GB", 2, Some("order-1")),
        now,
    )
    .await
    .unwrap();
    assert!(
        matches!(again, GrantOutcome::AlreadyGranted(_)),
        "{again:?}"
    );
    assert_eq!(granted(&again), 2);

    // Another purchase adds; a grant without a purchase id always adds.
    let second = shared::domain::entitlement::grant(
        &t.store,
        &purchase("u1", "1_GB", 1, Some("order-2")),
        now,
    )
    .await
    .unwrap();
    assert_eq!(granted(&second), 3);
    let manual =
        shared::domain::entitlement::grant(&t.store, &purchase("u1", "1_GB", 1, None), now)
            .await
            .unwrap();
    assert_eq!(granted(&manual), 4);

    // The same purchase id for another user or item adds nothing anywhere.
    for (user, item) in [("u2", "1_GB"), ("u1", "5_GB")] {
        let reused = shared::domain::entitlement::grant(
            &t.store,
            &purchase(user, item, 1, Some("order-1")),
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            reused,
            GrantOutcome::PurchaseIdReused {
                user_token: UserToken::parse("u1").unwrap(),
                item: ItemId::parse("1_GB").unwrap(),
            }
        );
    }
    assert!(!user_summary(&t.store, "u2").await.found);
    let u1 = user_summary(&t.store, "u1").await;
    assert_eq!(u1.entitlements.len(), 1, "no 5_GB entitlement was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_retries_of_one_purchase_grant_once() {
    let t = TestTable::new().await;
    let outcomes = concurrently(20, |_| {
        let store = t.other_store();
        async move {
            let retry = purchase("u1", "1_GB", 3, Some("order-9"));
            shared::domain::entitlement::grant(&store, &retry, OffsetDateTime::now_utc())
                .await
                .unwrap()
        }
    })
    .await;
    let mut fresh = 0;
    for outcome in outcomes {
        fresh += usize::from(matches!(outcome, GrantOutcome::Granted(_)));
        assert_eq!(granted(&outcome), 3);
    }
    assert_eq!(fresh, 1);
}

#[tokio::test]
async fn a_grant_is_one_transaction_plus_one_read() {
    let t = TestTable::new().await;
    t.log.clear();
    shared::domain::entitlement::grant(
        &t.store,
        &purchase("u1", "1_GB", 1, Some("order-1")),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(t.log.operations(), ["TransactWriteItems", "GetItem"]);
}
