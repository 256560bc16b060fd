//! Nothing lost: the database goes away in the middle of a stream of webhooks of every kind and
//! stays away while the stream goes on; what could not be stored is logged whole, `entitlements
//! replay` applies the log once the database is back, and the table ends as the one of a twin
//! run where nothing failed. Replaying again changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use activation_request::ActivationRequestWebhook;
use customer_registration::CustomerRegistrationWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::ids::{Iccid, UserToken};
use shared::domain::views::ReadModels;
use shared::testkit::LogCapture;
use shared::webhook::pipeline::respond;
use shared::webhook::Webhook;

use crate::common::{
    cli_clients, demo_user, local_gate, respond_as, root, sample_event, TestTable,
};
use crate::faults::{faulty_store, invocation, Fault, Faults};
use entitlements::commands::replay::{replay_one, NotStored, Replayed};
use entitlements::webhooks::described;
use shared::testkit::grant_units;
use shared::testkit::{FailingStore, Failure};
use shared::webhook::NOT_STORED;

const USERS: usize = 8;
const ICCIDS: usize = 12;
const STATES: [&str; 5] = ["INSTALLED", "DISABLED", "RELEASED", "ERROR", "SUSPENDED"];

/// One delivery of the stream.
#[derive(Debug, Clone)]
enum Delivery {
    Activation(String),
    Registration(String),
    Status(String),
}

/// A deterministic mixed stream of `n` deliveries, redeliveries included.
fn stream(n: usize) -> Vec<Delivery> {
    let mut seed: u64 = 0x5eed;
    let mut next = move |bound: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(seed >> 33).unwrap_or(0) % bound
    };
    let mut deliveries: Vec<Delivery> = Vec::new();
    for i in 0..n {
        let redelivery = i > 0 && next(10) == 0;
        if redelivery {
            let earlier = deliveries[next(deliveries.len())].clone();
            deliveries.push(earlier);
            continue;
        }
        let delivery = match next(3) {
            0 => Delivery::Activation(
                json!({"inventoryItemId": "1_GB", "userToken": format!("user-{}", next(USERS + 2)), "activationId": format!("act-{i}")})
                    .to_string(),
            ),
            1 => Delivery::Registration(
                // Users past USERS are unknown: their registrations are kept unclaimed.
                json!({"userToken": format!("user-{}", next(USERS + 2)), "customerUid": format!("cust-{}", next(USERS * 2))})
                    .to_string(),
            ),
            _ => Delivery::Status(
                json!({"iccid": format!("8936112330083612{:04}", next(ICCIDS)), "imsi": "260216611193634", "profileState": STATES[next(STATES.len())], "eid": format!("{}", 74_088_234_238_931_452_u64 + next(2) as u64)})
                    .to_string(),
            ),
        };
        deliveries.push(delivery);
    }
    deliveries
}

/// Users with entitlements and emails, on a fresh table.
async fn seeded() -> TestTable {
    let t = TestTable::new().await;
    for user in 0..USERS {
        let email = format!("user-{user}@example.com");
        grant_units(
            &t.store,
            &format!("user-{user}"),
            "1_GB",
            500,
            Some(&email),
            None,
        )
        .await;
    }
    t
}

/// Delivers `delivery` to the function it is for; returns the HTTP status and body.
async fn deliver(store: &DynamoStore, delivery: &Delivery, budget: Duration) -> (u16, Value) {
    async fn to<W: Webhook>(webhook: W, body: &str, budget: Duration) -> (u16, Value) {
        let reply = respond(&webhook, &local_gate(), &invocation::<W>(body, budget)).await;
        let json = serde_json::from_str(&reply.body).expect("a JSON body");
        (reply.status.as_u16(), json)
    }
    let store = store.clone();
    match delivery {
        Delivery::Activation(body) => to(ActivationRequestWebhook::new(store), body, budget).await,
        Delivery::Registration(body) => to(CustomerRegistrationWebhook(store), body, budget).await,
        Delivery::Status(body) => to(EsimStatusWebhook(store), body, budget).await,
    }
}

/// Everything the table holds about the stream's users and eSIMs, without the times at which
/// it was written (a replay writes at the time of receipt, a twin run at its own).
async fn contents(store: &DynamoStore) -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for user in 0..USERS + 2 {
        let token = UserToken::parse(&format!("user-{user}")).unwrap();
        let s = store.user_summary(&token).await.unwrap();
        let mut activations: Vec<Value> = s
            .activations
            .iter()
            .map(|a| {
                json!([
                    a.activation_id.as_str(),
                    a.decision.as_str(),
                    a.reason.map(|r| r.code())
                ])
            })
            .collect();
        activations.sort_by_key(ToString::to_string);
        let entitlements: Vec<Value> = s
            .entitlements
            .iter()
            .map(|e| json!([e.item.as_str(), e.units_granted, e.units_used]))
            .collect();
        all.insert(
            token.to_string(),
            json!({"email": s.email, "customer": s.customer_uid.map(String::from),
                   "unclaimed": s.unclaimed_customer_uids.into_iter().map(String::from).collect::<Vec<_>>(),
                   "entitlements": entitlements, "activations": activations}),
        );
    }
    for esim in 0..ICCIDS {
        let iccid = Iccid::parse(&format!("8936112330083612{esim:04}")).unwrap();
        let history = store.esim_history(&iccid).await.unwrap();
        let facts = history.map(|h| {
            let fact = |r: &shared::domain::esim::EsimStatusRecord| {
                json!([r.status.profile_state.as_str(), r.status.imsi.as_str(), r.status.eid.as_ref().map(|e| e.as_str())])
            };
            json!({"current": h.current.as_ref().map(fact), "history": h.history.iter().map(fact).collect::<Vec<_>>()})
        });
        all.insert(iccid.to_string(), json!(facts));
    }
    all
}

/// Fails on the first key whose contents differ, showing both sides of it.
fn assert_same(left: &BTreeMap<String, Value>, right: &BTreeMap<String, Value>) {
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        right.keys().collect::<Vec<_>>()
    );
    for (key, value) in left {
        assert_eq!(value, &right[key], "{key} differs");
    }
}

/// Runs the operator CLI's replay on `log` against `table`; returns (exit code, stdout).
async fn replay_cli(table: &str, log: &std::path::Path) -> (u8, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args = ["entitlements", "--table", table, "replay", "--from-log"];
    let argv = args
        .into_iter()
        .map(String::from)
        .chain([log.display().to_string()]);
    let code = entitlements::run(argv, || async { cli_clients() }, &mut out, &mut err).await;
    let stdout = String::from_utf8(out).unwrap();
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    (code, stdout)
}

#[tokio::test]
async fn a_lost_database_mid_stream_is_made_whole_by_replaying_the_log() {
    let deliveries = stream(300);
    let (healthy, lost) = (seeded().await, seeded().await);
    let faults = Faults::default();
    let flaky = faulty_store(&lost, &faults);
    // The database goes away here and stays away while the stream goes on.
    let lost_from = 120;
    let logs = LogCapture::default();
    let mut refused_activations = Vec::new();
    {
        let _guard = logs.install();
        for (i, delivery) in deliveries.iter().enumerate() {
            let twin = deliver(&healthy.store, delivery, Duration::from_secs(3)).await;
            assert!(matches!(twin.0, 200 | 404), "{delivery:?}: {twin:?}");
            if i == lost_from {
                faults.otherwise(Fault::Refuse);
            }
            if i < lost_from {
                let answer = deliver(&flaky, delivery, Duration::from_secs(3)).await;
                assert_eq!(answer, twin, "{delivery:?}");
                continue;
            }
            // A short invocation: the functions must answer within it.
            let (status, body) = deliver(&flaky, delivery, Duration::from_millis(600)).await;
            match delivery {
                Delivery::Activation(_) => {
                    assert_eq!((status, body["returnCode"].as_str()), (200, Some("FAIL")));
                    refused_activations.push((delivery.clone(), twin.1));
                }
                _ => assert_eq!(status, 503, "{delivery:?}"),
            }
        }
    }
    faults.heal();
    assert!(
        refused_activations.len() > 10
            && faults.seen("TransactWriteItems").contains(&Fault::Refuse)
    );
    // Gigastore retries the activations it was refused; they are never replayed from logs.
    for (delivery, twin) in &refused_activations {
        let (status, body) = deliver(&lost.store, delivery, Duration::from_secs(3)).await;
        assert_eq!((status, &body), (200, twin), "{delivery:?}");
    }
    assert_ne!(contents(&lost.store).await, contents(&healthy.store).await);

    let log = std::env::temp_dir().join(format!("replay-{}-{}.log", std::process::id(), lost.name));
    std::fs::write(&log, logs.text()).unwrap();
    let (code, out) = replay_cli(&lost.name, &log).await;
    assert_eq!(code, 0, "{out}");
    let applied = out.lines().filter(|l| l.starts_with("applied ")).count();
    assert!(applied > 30, "{out}");
    assert!(out.lines().all(|l| !l.starts_with("failed")), "{out}");
    let replayed = contents(&lost.store).await;
    assert_same(&replayed, &contents(&healthy.store).await);

    // A second replay of the same log applies nothing and changes nothing.
    let (code, again) = replay_cli(&lost.name, &log).await;
    assert_eq!(code, 0, "{again}");
    // eSIM facts are recognised as stored; registrations are rewritten as they are.
    for line in again
        .lines()
        .filter(|l| l.contains("/webhooks/esim-status"))
    {
        assert!(line.ends_with("already stored"), "{line}");
    }
    assert!(!again.contains("failed"), "{again}");
    assert_same(&contents(&lost.store).await, &replayed);
    let _ = std::fs::remove_file(log);
}

/// Every webhook of the registry, through its own sample events: what it could not store it
/// logs, `entitlements replay` applies, and a second replay finds stored; Activation
/// Request logs nothing to replay and its route is never replayed.
#[tokio::test]
async fn every_registered_webhook_is_replayed_from_its_own_log_lines() {
    let t = TestTable::new().await;
    demo_user(&t.store).await;
    let logs = LogCapture::default();
    {
        let _guard = logs.install();
        for webhook in described() {
            let folder = root().join("events").join(webhook.function);
            for file in std::fs::read_dir(&folder).unwrap() {
                let name = file.unwrap().file_name().to_string_lossy().into_owned();
                let request = sample_event(&format!("{}/{name}", webhook.function));
                let store = FailingStore(Failure::Transient);
                respond_as(webhook.function, store, &local_gate(), &request)
                    .await
                    .expect("a registered webhook");
            }
        }
    }
    let logged: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|line| line["message"] == NOT_STORED)
        .filter_map(|line| line["route"].as_str().map(str::to_owned))
        .collect();
    let log = std::env::temp_dir().join(format!("registry-{}-{}.log", std::process::id(), t.name));
    std::fs::write(&log, logs.text()).unwrap();
    let (code, out) = replay_cli(&t.name, &log).await;
    assert_eq!(code, 0, "{out}");
    for webhook in described() {
        let applied = format!("applied  {} received", webhook.route);
        if webhook.replayable {
            assert!(
                logged.iter().any(|r| r == webhook.route),
                "{}: {logged:?}",
                webhook.function
            );
            assert!(
                out.lines().any(|l| l.starts_with(&applied)),
                "{}: {out}",
                webhook.function
            );
        } else {
            assert!(
                !logged.iter().any(|r| r == webhook.route),
                "{}",
                webhook.function
            );
            let entry = NotStored {
                route: webhook.route.to_owned(),
                received_at: time::OffsetDateTime::now_utc(),
                payload: "{}".to_owned(),
                source: "hand-made".to_owned(),
            };
            assert_eq!(
                replay_one(&t.store, &entry, false).await.unwrap(),
                Replayed::Skipped(format!("{} is never replayed", webhook.function))
            );
        }
    }
    // Again: facts are recognised as stored, registrations rewritten as they are.
    let (code, again) = replay_cli(&t.name, &log).await;
    assert_eq!(code, 0, "{again}");
    assert!(again.contains("already stored"), "{again}");
    assert!(!again.contains("failed"), "{again}");
    let _ = std::fs::remove_file(log);
}
