//! Load: a few thousand authenticated requests to all three webhooks, valid, invalid and
//! replayed, from many concurrent tasks against one table. Then an audit of the table through
//! the operators' read models: no unit spent twice, no approval without a unit, every accepted
//! eSIM status in its history, every replay answered as the first delivery was.
//!
//! The table is on a moto server of this test's own, on loopback: the shared one handles one
//! request at a time, so saturating it would push the tests running meanwhile past their
//! deadlines.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use activation_request::ActivationRequestWebhook;
use customer_registration::CustomerRegistrationWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::activation::ActivationStore;
use shared::domain::ids::Iccid;
use shared::domain::ids::{ActivationId, CustomerUid};
use shared::domain::views::ReadModels;
use shared::webhook::Webhook;

use crate::common::{
    concurrently, create_table, grant, http_event, local_gate, path, send, user_summary, Auth,
    MotoServer, LOCAL_SECRET,
};

/// The one table, alone on its server.
const TABLE: &str = "load";
/// Requests sent in all: about 20 s against a local server, which handles one request at a
/// time (`scripts/moto_server.py`).
const REQUESTS: usize = 2000;
/// Concurrent senders, each with its own client, like as many Lambda execution environments.
/// More only queue longer at the local server, towards the SDK's 1 s attempt timeout.
const TASKS: usize = 16;
/// Distinct activation ids; Activation Requests after these are redeliveries. Bounded because
/// moto copies the whole table for each item of a transaction: its cost grows with the table.
const DISTINCT_ACTIVATIONS: usize = 160;
/// Users with a profile; the first ones hold entitlements (see [`units_granted`]).
const USERS: usize = 16;
/// Items asked for.
const ITEMS: [&str; 2] = ["1_GB", "5_GB"];
/// eSIMs reported on.
const ESIMS: usize = 24;
/// eSIM states sent, one undocumented.
const STATES: [&str; 5] = [
    "RELEASED",
    "INSTALLED",
    "DISABLED",
    "ERROR",
    "PENDING_DELETE",
];
/// Senders stop sending after this, so a slow machine fails the test instead of hanging it.
const SEND_BUDGET: Duration = Duration::from_secs(90);

/// A small deterministic generator (splitmix64): the same plan every run, so a failure repeats.
struct Rng(u64);

impl Rng {
    /// The next number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        usize::try_from((z ^ (z >> 31)) % n as u64).unwrap_or(0)
    }

    /// True once in `n` times.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// The token of load user `u`.
fn user(u: usize) -> String {
    format!("load-user-{u:02}")
}

/// Units of `ITEMS[item]` granted to user `u`: some users hold a few of an item, some none,
/// so that units run out under load and some requests are refused for want of any.
fn units_granted(u: usize, item: usize) -> u32 {
    let units = [[12, 4], [6, 0], [0, 9], [3, 3]][u % 4][item];
    if u < USERS / 2 {
        units
    } else {
        0
    }
}

/// The ICCID of eSIM `e` (20 digits).
fn iccid(e: usize) -> String {
    format!("8936112330083612{e:04}")
}

/// One planned request.
#[derive(Debug, Clone)]
enum Call {
    /// A valid Activation Request.
    Activation {
        id: String,
        user: usize,
        item: usize,
    },
    /// An Activation Request missing or mistyping a field; `id` must never be recorded.
    BadActivation { id: String, body: String },
    /// A valid Customer Registration.
    Registration { user: String, customer: String },
    /// An invalid Customer Registration.
    BadRegistration(String),
    /// A valid eSIM Status: eSIM `esim` in `STATES[state]`.
    Esim { esim: usize, state: usize },
    /// An invalid eSIM Status.
    BadEsim(String),
}

impl Call {
    /// The JSON body sent.
    fn body(&self) -> String {
        match self {
            Self::Activation { id, user: u, item } => json!({
                "activationId": id, "userToken": user(*u), "inventoryItemId": ITEMS[*item], "metaTag": "load"
            })
            .to_string(),
            Self::Registration { user, customer } => {
                json!({"userToken": user, "customerUid": customer}).to_string()
            }
            Self::Esim { esim, state } => json!({
                "iccid": iccid(*esim),
                "imsi": format!("26021661119{esim:04}"),
                "profileState": STATES[*state],
                "eid": format!("7408823423893{esim:04}"),
            })
            .to_string(),
            Self::BadActivation { body, .. } | Self::BadRegistration(body) | Self::BadEsim(body) => {
                body.clone()
            }
        }
    }
}

/// [`REQUESTS`] calls: a third Activation Requests (most of them redeliveries, as a local
/// server cannot hold thousands of distinct decisions quickly; a few reuse an id for another
/// user or item), a fifth each registrations and eSIM statuses (mostly redeliveries of the
/// current state), and a quarter invalid bodies spread over the three.
fn plan() -> Vec<Call> {
    let mut rng = Rng(0x5EED);
    let mut activations: Vec<(String, usize, usize)> = Vec::new();
    let mut esim_states = [0; ESIMS];
    let mut calls = Vec::with_capacity(REQUESTS);
    for n in 0..REQUESTS {
        let call = match rng.below(100) {
            0..=9 => {
                let id = format!("bad-{n}");
                let body = match rng.below(3) {
                    0 => json!({"activationId": id, "userToken": user(0), "inventoryItemId": 5}),
                    1 => json!({"activationId": id, "userToken": "", "inventoryItemId": "1_GB"}),
                    _ => json!({"activationId": id, "inventoryItemId": "1_GB"}),
                };
                Call::BadActivation {
                    id,
                    body: body.to_string(),
                }
            }
            10..=17 => Call::BadRegistration(
                [
                    r#"{"userToken":5,"customerUid":"c"}"#,
                    r#"{"userToken":"u"}"#,
                    "not json",
                ][rng.below(3)]
                .to_owned(),
            ),
            18..=24 => Call::BadEsim(
                [
                    r#"{"iccid":"89X","imsi":"1","profileState":"INSTALLED"}"#,
                    "[]",
                    r#"{"iccid":"89361123300836129514"}"#,
                ][rng.below(3)]
                .to_owned(),
            ),
            25..=44 => {
                // Known users, and strangers kept as unclaimed; a user's id changes now and then.
                let who = rng.below(USERS + 4);
                let user = if who < USERS {
                    user(who)
                } else {
                    format!("stranger-{who}")
                };
                let customer = format!("cust-{who}-{}", rng.below(2));
                Call::Registration { user, customer }
            }
            45..=79
                if activations.is_empty()
                    || (activations.len() < DISTINCT_ACTIVATIONS && rng.one_in(3)) =>
            {
                let (id, u, item) = (format!("act-{n}"), rng.below(USERS), rng.below(2));
                activations.push((id.clone(), u, item));
                Call::Activation { id, user: u, item }
            }
            45..=79 => {
                let (id, mut u, mut item) = activations[rng.below(activations.len())].clone();
                if rng.one_in(20) {
                    // Someone else's id: refused as reused, or recorded for this one if first.
                    (u, item) = (rng.below(USERS), rng.below(ITEMS.len()));
                }
                Call::Activation { id, user: u, item }
            }
            _ => {
                let esim = rng.below(ESIMS);
                if rng.one_in(8) {
                    esim_states[esim] = rng.below(STATES.len());
                }
                Call::Esim {
                    esim,
                    state: esim_states[esim],
                }
            }
        };
        calls.push(call);
    }
    calls
}

/// Sends `body` to `webhook` through the production handler, as Gigastore would: the secret
/// as a bearer token or in the query string, the body base64-encoded now and then.
async fn deliver<W: Webhook>(webhook: &W, body: &str, n: usize) -> (u16, Value) {
    let auth = if n.is_multiple_of(2) {
        Auth::Bearer(LOCAL_SECRET)
    } else {
        Auth::Query(LOCAL_SECRET)
    };
    let request = http_event(path::<W>(), Some(body), n.is_multiple_of(5), auth);
    // This test is about correctness under concurrency, not latency: the local server answers
    // one request at a time, so queues here can outlast a real invocation's few seconds.
    let request = crate::common::with_budget(request, std::time::Duration::from_secs(60));
    send(webhook, &local_gate(), request).await
}

/// Delivers call `n` through the function it is for, over `store`.
async fn deliver_call(store: &DynamoStore, call: &Call, n: usize) -> (u16, Value) {
    let body = call.body();
    match call {
        Call::Activation { .. } | Call::BadActivation { .. } => {
            deliver(&ActivationRequestWebhook(store.clone()), &body, n).await
        }
        Call::Registration { .. } | Call::BadRegistration(_) => {
            deliver(&CustomerRegistrationWebhook(store.clone()), &body, n).await
        }
        Call::Esim { .. } | Call::BadEsim(_) => {
            deliver(&EsimStatusWebhook(store.clone()), &body, n).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_concurrent_requests_keep_every_promise() {
    // A server of this test's own, stopped at its end.
    let server = MotoServer::start();
    // Each client like another Lambda execution environment. The local server answers one
    // request at a time, so with every task queueing on it an attempt can wait longer than
    // the functions' 1 s attempt timeout, and timed-out retries would drain the SDK's retry
    // quota: this test is about correctness under concurrency, so attempts may take longer.
    let patient = |config: aws_sdk_dynamodb::config::Builder| {
        config.timeout_config(crate::common::patient_timeouts())
    };
    let client = || server.client_with(patient).0;
    let store = DynamoStore::new(client(), TABLE);
    create_table(store.client(), TABLE).await;
    for u in 0..USERS {
        for (item, name) in ITEMS.iter().enumerate() {
            if units_granted(u, item) > 0 {
                grant(&store, &user(u), name, units_granted(u, item), None).await;
            }
        }
        if u >= USERS / 2 {
            // A profile, holding only an item never asked for: a known user to registrations.
            grant(&store, &user(u), "profile-only", 1, None).await;
        }
    }

    let calls = plan();
    let started = Instant::now();
    let answered: Vec<(usize, (u16, Value))> = concurrently(TASKS, |task| {
        let store = DynamoStore::new(client(), TABLE);
        let mine: Vec<(usize, Call)> = calls
            .iter()
            .cloned()
            .enumerate()
            .skip(task)
            .step_by(TASKS)
            .collect();
        async move {
            let mut answers = Vec::with_capacity(mine.len());
            for (n, call) in mine {
                if started.elapsed() > SEND_BUDGET {
                    break;
                }
                answers.push((n, deliver_call(&store, &call, n).await));
            }
            answers
        }
    })
    .await
    .into_iter()
    .flatten()
    .collect();
    let sent = started.elapsed();
    assert_eq!(
        answered.len(),
        REQUESTS,
        "only {} requests answered within {SEND_BUDGET:?}",
        answered.len()
    );

    let mut answers: Vec<(u16, Value)> = vec![(0, Value::Null); REQUESTS];
    for (n, answer) in answered {
        answers[n] = answer;
    }
    let counts = audit_activations(&store, &calls, &answers).await;
    audit_registrations(&store, &calls, &answers).await;
    audit_esims(&store, &calls, &answers).await;
    eprintln!(
        "load: {REQUESTS} requests from {TASKS} tasks answered in {sent:?}, audited in {:?}; \
         activations: {counts:?}",
        started.elapsed() - sent
    );
}

/// What the activation audit saw, for the summary line.
#[derive(Debug, Default)]
struct ActivationCounts {
    /// Distinct ids answered `SUCCESS`.
    approved: usize,
    /// Deliveries of an id after its first one, with the same user and item.
    redelivered: usize,
    /// Deliveries refused because their id was recorded for another user or item.
    reused: usize,
}

/// Units are spent once each and only on approvals, invalid requests record nothing, and every
/// delivery of an id with its recorded user and item got the recorded answer.
async fn audit_activations(
    store: &DynamoStore,
    calls: &[Call],
    answers: &[(u16, Value)],
) -> ActivationCounts {
    let success = json!({"returnCode": "SUCCESS", "returnMessage": null});
    let reused = json!({"returnCode": "FAIL", "returnMessage": "activationId already used for another request"});
    let mut counts = ActivationCounts::default();
    // Every delivery, by activation id: (user, item, answer).
    let mut deliveries: BTreeMap<&str, Vec<(usize, usize, &Value)>> = BTreeMap::new();
    // Ids answered SUCCESS, by the (user, item) they were asked for.
    let mut approved: BTreeMap<(usize, usize), BTreeSet<&str>> = BTreeMap::new();
    for (call, (status, answer)) in calls.iter().zip(answers) {
        match call {
            Call::Activation { id, user, item } => {
                assert_eq!(*status, 200, "{call:?}: {answer}");
                deliveries
                    .entry(id)
                    .or_default()
                    .push((*user, *item, answer));
                if *answer == success {
                    approved.entry((*user, *item)).or_default().insert(id);
                }
            }
            Call::BadActivation { id, .. } => {
                assert_eq!(*status, 200, "{call:?}: {answer}");
                assert_eq!(answer["returnCode"], "FAIL", "{call:?}");
                let message = answer["returnMessage"].as_str().unwrap_or_default();
                assert!(
                    message.starts_with("invalid request: "),
                    "{call:?}: {answer}"
                );
                let id = ActivationId::parse(id).unwrap();
                assert_eq!(store.activation(&id).await.unwrap(), None, "{call:?}");
            }
            _ => {}
        }
    }

    // Ids recorded, by the (user, item) of their record.
    let mut demand: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (id, delivered) in &deliveries {
        let record = store
            .activation(&ActivationId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} was answered but never recorded"));
        let u = (0..USERS).find(|&u| {
            record
                .holder
                .user_token()
                .is_some_and(|t| t.as_str() == user(u).as_str())
        });
        let item = ITEMS.iter().position(|i| record.item == *i);
        let owner = (u.expect("a load user"), item.expect("a load item"));
        let recorded = json!({
            "returnCode": record.decision.return_code().as_str(),
            "returnMessage": record.decision.refusal().map(|r| r.message()),
        });
        let mut first = true;
        for &(u, item, answer) in delivered {
            // The recorded request's deliveries all get its decision; any other, the refusal.
            if (u, item) == owner {
                assert_eq!(answer, &recorded, "{id} delivered for {u}/{item}");
                counts.redelivered += usize::from(!first);
                first = false;
            } else {
                assert_eq!(answer, &reused, "{id} delivered for {u}/{item}");
                counts.reused += 1;
            }
        }
        *demand.entry(owner).or_default() += 1;
    }

    for u in 0..USERS {
        let summary = user_summary(store, &user(u)).await;
        for (item, name) in ITEMS.iter().enumerate() {
            let entitlement = summary.entitlements.iter().find(|e| e.item == *name);
            let (used, granted) = entitlement.map_or((0, 0), |e| (e.units_used, e.units_granted));
            let answered: Vec<&str> = approved
                .get(&(u, item))
                .map(|ids| ids.iter().copied().collect())
                .unwrap_or_default();
            let mut recorded: Vec<&str> = summary
                .activations
                .iter()
                .filter(|a| a.item == *name && a.decision.as_str() == "SUCCESS")
                .map(|a| a.activation_id.as_str())
                .collect();
            recorded.sort_unstable();
            assert_eq!(granted, units_granted(u, item), "{u}/{name}");
            assert_eq!(
                used as usize,
                answered.len(),
                "{u}/{name}: one unit per approved id"
            );
            assert!(used <= granted, "{u}/{name}: {used} of {granted} used");
            assert_eq!(recorded, answered, "{u}/{name}: approvals recorded as such");
            // Nothing refused while units were left: demand beyond the grant is refused.
            let wanted = demand.get(&(u, item)).copied().unwrap_or(0);
            assert_eq!(answered.len(), wanted.min(granted as usize), "{u}/{name}");
            counts.approved += answered.len();
        }
        let expected: usize = (0..ITEMS.len())
            .map(|item| demand.get(&(u, item)).copied().unwrap_or(0))
            .sum();
        assert_eq!(
            summary.activations.len(),
            expected,
            "{u}: one record per id"
        );
    }
    // The plan exercises every path: approvals, redeliveries, ids reused by another request.
    assert!(
        counts.approved > 0 && counts.redelivered > 0 && counts.reused > 0,
        "{counts:?}"
    );
    counts
}

/// Known users got their email, strangers 404 and were kept as unclaimed, invalid bodies 400,
/// and each user's customer id is one that was sent for them.
async fn audit_registrations(store: &DynamoStore, calls: &[Call], answers: &[(u16, Value)]) {
    let mut sent: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (call, answer) in calls.iter().zip(answers) {
        match call {
            Call::Registration { user, customer } if user.starts_with("load-user-") => {
                assert_eq!(
                    answer,
                    &(200, json!({"email": "user@example.com"})),
                    "{call:?}"
                );
                sent.entry(user).or_default().insert(customer);
            }
            Call::Registration { user, customer } => {
                assert_eq!(answer, &(404, json!({"error": "unknown user"})), "{call:?}");
                let uid = CustomerUid::parse(customer).unwrap();
                let owner = store.user_for_customer(&uid).await.unwrap();
                assert_eq!(owner.as_ref().map(|o| o.as_str()), Some(user.as_str()));
            }
            Call::BadRegistration(_) => assert_eq!(answer.0, 400, "{call:?}: {answer:?}"),
            _ => {}
        }
    }
    assert!(!sent.is_empty());
    for (user, customers) in sent {
        let summary = user_summary(store, user).await;
        let on_file = summary
            .customer_uid
            .expect("a registered user has a customer id");
        assert!(customers.contains(on_file.as_str()), "{user}: {on_file}");
    }
}

/// Every accepted status is in its eSIM's history, nothing else is, and invalid ones got 400.
async fn audit_esims(store: &DynamoStore, calls: &[Call], answers: &[(u16, Value)]) {
    let mut accepted: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for (call, (status, answer)) in calls.iter().zip(answers) {
        match call {
            Call::Esim { esim, state } => {
                assert_eq!(*status, 200, "{call:?}: {answer}");
                let outcome = answer["status"].as_str().unwrap_or_default();
                assert!(["recorded", "unchanged"].contains(&outcome), "{answer}");
                *outcomes.entry(outcome).or_default() += 1;
                accepted.entry(*esim).or_default().insert(STATES[*state]);
            }
            Call::BadEsim(_) => assert_eq!(*status, 400, "{call:?}: {answer}"),
            _ => {}
        }
    }
    // Both new facts and redeliveries were sent.
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    for (esim, states) in accepted {
        let history = store
            .esim_history(&Iccid::parse(&iccid(esim)).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("eSIM {esim} accepted but has no history"));
        let sent = serde_json::from_str::<Value>(&Call::Esim { esim, state: 0 }.body()).unwrap();
        for entry in &history.history {
            assert_eq!(entry.status.imsi.as_str(), sent["imsi"], "eSIM {esim}");
            let eid = entry.status.eid.as_ref().map(|e| e.as_str());
            assert_eq!(eid, sent["eid"].as_str(), "eSIM {esim}");
        }
        let in_history: BTreeSet<&str> = history
            .history
            .iter()
            .map(|h| h.status.profile_state.as_str())
            .collect();
        assert_eq!(in_history, states, "eSIM {esim}");
        assert!(states.contains(
            history
                .current
                .as_ref()
                .unwrap()
                .status
                .profile_state
                .as_str()
        ));
    }
}
