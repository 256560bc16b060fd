//! The fulfilment worker end to end: the real Gigastore client against the HTTP double, the
//! DynamoDB store against the local server. The double's ledger is the truth: one charge per
//! purchase under each fault it can play, under two workers at once and a call cut off by its
//! deadline; refusals fail once; refunds call once. Then the CLI's `fulfil` and `catalogue`.

use std::sync::Arc;
use std::time::Duration;

use fulfilment::Fulfilment;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::gigastore::GigastoreClient;
use shared::domain::deadline::Deadline;
use shared::domain::ids::{CustomerUid, PurchaseId, UserToken};
use shared::domain::purchase::{self, GrantOutcome, RefundOutcome};
use shared::domain::registration::{self, CustomerRegistration};
use shared::domain::topup::{self, TopUpState, TopUpStore};
use time::OffsetDateTime;

use crate::common::TestTable;
use crate::gigastore::GigastoreDouble;

const CUSTOMER: &str = "customer-e2e";
const USER: &str = "user-e2e";
const TOP_UP_PATH: &str = "/gigastore/activations/top-up";

/// A table whose user `USER` is registered as `CUSTOMER`, and a double that knows it.
async fn setup() -> (TestTable, GigastoreDouble) {
    let t = TestTable::new().await;
    shared::testkit::grant_units(&t.store, USER, "1_GB", 1, None, None).await;
    let registration = CustomerRegistration {
        user_token: UserToken::parse(USER).unwrap(),
        customer_uid: CustomerUid::parse(CUSTOMER).unwrap(),
    };
    registration::register(&t.store, &registration, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let double = GigastoreDouble::start();
    double
        .seed(json!([{"uid": CUSTOMER, "countrySet": "WWW"}]), None)
        .await;
    (t, double)
}

async fn buy(store: &DynamoStore, id: &str) {
    let grant = shared::testkit::gigastore::top_up_grant(id, UserToken::parse(USER).unwrap());
    let outcome = purchase::grant(store, &grant, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(matches!(outcome, GrantOutcome::Granted(_)), "{outcome:?}");
}

fn worker(store: DynamoStore, client: GigastoreClient) -> Fulfilment<DynamoStore, GigastoreClient> {
    Fulfilment {
        store,
        gigastore: client,
        settle: Duration::ZERO,
    }
}

async fn state(store: &DynamoStore, id: &str) -> TopUpState {
    let id = PurchaseId::parse(id).unwrap();
    store.top_up(&id).await.unwrap().unwrap().top_up.state
}

/// The double's charges for `metatag`.
async fn charges(double: &GigastoreDouble, metatag: &str) -> usize {
    let charges = double.charges().await;
    charges.iter().filter(|c| c["metatag"] == metatag).count()
}

fn minute() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

#[tokio::test]
async fn each_fault_of_the_double_ends_in_one_charge_or_one_refusal() {
    let (t, double) = setup().await;
    let worker = worker(t.store.clone(), double.client());
    let faults: [(&str, Value); 5] = [
        ("before", json!({"fault": "500_before"})),
        ("after", json!({"fault": "500_after"})),
        ("dropped", json!({"fault": "drop_after"})),
        ("expired", json!({"fault": "expire_token"})),
        (
            "refused",
            json!({"fault": "refuse", "status": 400, "body": {"message": "country set mismatch"}}),
        ),
    ];
    for (id, mut fault) in faults {
        buy(&t.store, id).await;
        fault["path"] = json!(TOP_UP_PATH);
        double.fault(fault).await;
        worker.run(minute()).await.unwrap();
        worker.run(minute()).await.unwrap();
        match id {
            "refused" => {
                assert!(
                    matches!(state(&t.store, id).await, TopUpState::Failed { ref reason } if reason.contains("country set mismatch")),
                    "{:?}",
                    state(&t.store, id).await
                );
                assert_eq!(charges(&double, id).await, 0);
            }
            _ => {
                assert_eq!(state(&t.store, id).await, TopUpState::Completed, "{id}");
                assert_eq!(
                    charges(&double, id).await,
                    1,
                    "{id}: {:?}",
                    double.ledger().await
                );
            }
        }
    }
    // Nothing is left to do, and a refused top-up is never called again.
    let calls = double.requests().await.len();
    let run = worker.run(minute()).await.unwrap();
    assert_eq!(
        (run.completed, run.failed, run.waiting),
        (0, 0, 0),
        "{run:?}"
    );
    assert_eq!(double.requests().await.len(), calls);
}

#[tokio::test]
async fn a_call_cut_off_by_its_deadline_is_looked_up_not_repeated() {
    let (t, double) = setup().await;
    buy(&t.store, "hung").await;
    double
        .fault(json!({"fault": "hang", "seconds": 5, "commit": true, "path": TOP_UP_PATH}))
        .await;
    let client = double.client();
    let job = t
        .store
        .top_up(&PurchaseId::parse("hung").unwrap())
        .await
        .unwrap()
        .unwrap();
    let cut_short = Deadline::after(Duration::from_secs(2));
    let progress = topup::advance(
        &t.store,
        &client,
        job,
        Duration::ZERO,
        OffsetDateTime::now_utc,
        cut_short,
    )
    .await
    .unwrap();
    assert!(
        matches!(progress, topup::Progress::Unknown(_)),
        "{progress:?}"
    );
    worker(t.store.clone(), client).run(minute()).await.unwrap();
    assert_eq!(state(&t.store, "hung").await, TopUpState::Completed);
    assert_eq!(charges(&double, "hung").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_at_once_charge_each_purchase_once() {
    let (t, double) = setup().await;
    for n in 0..4 {
        buy(&t.store, &format!("both-{n}")).await;
    }
    let workers: Vec<_> = (0..2)
        .map(|_| Arc::new(worker(t.other_store(), double.client())))
        .collect();
    let runs = workers.iter().map(|w| {
        let w = w.clone();
        tokio::spawn(async move { w.run(minute()).await.unwrap() })
    });
    for run in runs.collect::<Vec<_>>() {
        run.await.unwrap();
    }
    workers[0].run(minute()).await.unwrap();
    for n in 0..4 {
        let id = format!("both-{n}");
        assert_eq!(state(&t.store, &id).await, TopUpState::Completed);
        assert_eq!(
            charges(&double, &id).await,
            1,
            "{:?}",
            double.ledger().await
        );
    }
}

#[tokio::test]
async fn a_refund_calls_gigastore_once() {
    let (t, double) = setup().await;
    let worker = worker(t.store.clone(), double.client());
    buy(&t.store, "back").await;
    worker.run(minute()).await.unwrap();
    let id = PurchaseId::parse("back").unwrap();
    for _ in 0..2 {
        let outcome = purchase::refund(&t.store, &id, None, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                RefundOutcome::Refunded(_) | RefundOutcome::AlreadyRefunded(_)
            ),
            "{outcome:?}"
        );
    }
    worker.run(minute()).await.unwrap();
    worker.run(minute()).await.unwrap();
    assert_eq!(state(&t.store, "back").await, TopUpState::Refunded);
    let refunds = double.ledger().await;
    let refunds = refunds.iter().filter(|e| e["kind"] == "refund").count();
    assert_eq!(refunds, 1);
}

#[tokio::test]
async fn the_cli_fulfils_what_is_due_and_prints_the_catalogue() {
    let (t, double) = setup().await;
    buy(&t.store, "by-cli").await;
    // Only these CLI commands read Gigastore's settings from the environment.
    std::env::set_var("GIGASTORE_API_URL", double.url());
    std::env::set_var("GIGASTORE_CLIENT_ID", crate::gigastore::CLIENT_ID);
    std::env::set_var("GIGASTORE_CLIENT_SECRET", crate::gigastore::CLIENT_SECRET);
    let (code, out, err) =
        crate::cli::cli_on(&t.name, &["fulfil", "--settle", "0s", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["completed"], 1, "{out}");
    assert_eq!(charges(&double, "by-cli").await, 1);
    let (code, out, err) = crate::cli::cli_on(&t.name, &["fulfil", "--settle", "0s"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("completed 0, failed 0"), "{out}");
    let (code, out, err) = crate::cli::cli_on(&t.name, &["catalogue"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("1_GB\t")), "{out}");
    let (code, _, err) = crate::cli::cli_on(&t.name, &["fulfil", "--settle", "soon"]).await;
    assert_eq!(code, 2, "{err}");
}
