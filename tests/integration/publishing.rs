//! Domain events from real stored records: webhooks through their production handlers into a
//! table with a stream (moto), the stream's records read with the DynamoDB Streams API and
//! handed to the publisher's handler as Lambda's event source mapping hands them, put on a moto
//! EventBridge bus whose rule delivers to an SQS queue on the same server; the queue is read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activation_request::ActivationRequestWebhook;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use balance_activation::BalanceActivationWebhook;
use balance_alert::BalanceAlertWebhook;
use country_change::CountryChangeWebhook;
use customer_registration::CustomerRegistrationWebhook;
use entitlements::stream::{lambda_record, Start, StreamReader};
use esim_status::EsimStatusWebhook;
use event_publisher::{Bus, Publisher};
use serde_json::{json, Value};
use shared::adapters::dynamo::DynamoStore;
use shared::domain::events::EventLookups;
use shared::domain::ids::{CustomerUid, Iccid, UserToken};
use shared::domain::store::StoreError;
use shared::testkit::LogCapture;

use crate::common::{
    demo_user, operation, post, sdk_config, streams_client, Subscriber, TestTable,
};

const USER: &str = "USER_TOKEN_1234567";
const CUSTOMER: &str = "058c8716-47dd-4fc4-be89-00978a86b7c0";
const ICCID: &str = "89361123300836129514";

/// What the publisher's tests do with a subscriber's bus.
impl Subscriber {
    /// A publisher over `table` putting on this bus through `http`.
    fn publisher(&self, table: &TestTable, http: SharedHttpClient) -> Publisher<DynamoStore> {
        self.publisher_over(table.other_store(), http)
    }

    /// A publisher completing events through `lookups`, putting on this bus through `http`.
    fn publisher_over<L: EventLookups>(&self, lookups: L, http: SharedHttpClient) -> Publisher<L> {
        let client = event_publisher::client(&sdk_config(http));
        Publisher::new(lookups, Bus::new(client, &self.bus))
    }
}

/// Every record of `table`'s stream so far, as the Lambda DynamoDB event's records (JSON): read
/// as the operator CLI's `events` reads them (moto's keys-only INSERTs dropped).
async fn stream_records(table: &TestTable) -> Vec<Value> {
    let client = table.store.client();
    let mut stream = StreamReader::open(client, streams_client(), &table.name, Start::Oldest)
        .await
        .unwrap();
    let mut records = Vec::new();
    loop {
        let (batch, any) = stream.poll().await.unwrap();
        for r in &batch {
            records.push(lambda_record(r, stream.arn()).unwrap());
        }
        if !any {
            return records;
        }
    }
}

/// Runs the publisher's handler on `records` as one Lambda invocation.
async fn publish<L: EventLookups>(
    publisher: &Publisher<L>,
    records: &[Value],
) -> DynamoDbEventResponse {
    publish_within(publisher, records, Duration::from_secs(30)).await
}

/// The same, as an invocation whose deadline is `budget` from now.
async fn publish_within<L: EventLookups>(
    publisher: &Publisher<L>,
    records: &[Value],
    budget: Duration,
) -> DynamoDbEventResponse {
    let event: Event = serde_json::from_value(json!({ "Records": records })).unwrap();
    let mut context = lambda_runtime::Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + budget.as_millis() as u64;
    publisher
        .handle(lambda_runtime::LambdaEvent::new(event, context))
        .await
        .unwrap()
}

/// The sequence numbers a response asks Lambda to resume from.
fn resume_points(response: &DynamoDbEventResponse) -> Vec<String> {
    let failures = response.batch_item_failures.iter();
    failures.filter_map(|f| f.item_identifier.clone()).collect()
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An eSIM Status body.
fn status(state: &str) -> String {
    status_of(ICCID, state)
}

/// An eSIM Status body for `iccid`.
fn status_of(iccid: &str, state: &str) -> String {
    json!({"iccid": iccid, "imsi": "260216611193634", "profileState": state, "eid": "74088234238931452"})
        .to_string()
}

/// A Balance Alert body for `CUSTOMER` and `ICCID`.
fn alert(timestamp: &str, bytes: u64) -> String {
    json!({"uid": CUSTOMER, "iccid": ICCID, "imsi": "260216611193634", "timestamp": timestamp, "balanceAmountInByte": bytes}).to_string()
}

/// A Balance Activation body for `CUSTOMER`.
fn balance(expires: &str) -> String {
    json!({"uid": CUSTOMER, "activatedItem": "a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e", "activatedAt": "2025-08-25T09:52:10Z", "expiresAt": expires}).to_string()
}

/// A Country Change body for `ICCID`.
fn country(previous: Option<&str>, new: &str) -> String {
    json!({"imsi": "260216611193634", "iccid": ICCID, "previousCountry": previous, "newCountry": new}).to_string()
}

#[tokio::test]
async fn each_accepted_webhook_becomes_one_event_with_its_ids_and_a_redelivery_none() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let store = || table.other_store();

    // A grant: its purchase is an event; its profile and entitlement are none.
    demo_user(&table.store).await;
    let registration = CustomerRegistrationWebhook(store());
    let registered = json!({"userToken": USER, "customerUid": CUSTOMER}).to_string();
    assert_eq!(post(&registration, &registered).await.0, 200);
    assert_eq!(post(&registration, &registered).await.0, 200, "redelivery");
    let stranger = json!({"userToken": "STRANGER", "customerUid": "c-2"}).to_string();
    // Unknown user: answered 404, kept as an unclaimed registration.
    assert_eq!(post(&registration, &stranger).await.0, 404);

    let activation = ActivationRequestWebhook::new(store());
    let approve = json!({"inventoryItemId": "1_GB", "userToken": USER, "metaTag": "order-1001", "activationId": "act-1"}).to_string();
    assert_eq!(post(&activation, &approve).await.1["returnCode"], "SUCCESS");
    assert_eq!(
        post(&activation, &approve).await.1["returnCode"],
        "SUCCESS",
        "replay"
    );
    let refuse =
        json!({"inventoryItemId": "5_GB", "userToken": USER, "activationId": "act-2"}).to_string();
    assert_eq!(post(&activation, &refuse).await.1["returnCode"], "FAIL");

    // Balance alerts: a new one, its redelivery (nothing), and an older one that arrives late
    // (a fact of its own: an event, though it does not become the latest).
    let alerts = BalanceAlertWebhook(store());
    for (body, answer) in [
        (alert("2022-08-21T10:15:30Z", 93_618_231), "recorded"),
        (alert("2022-08-21T10:15:30Z", 93_618_231), "unchanged"),
        (alert("2022-08-20T08:00:00Z", 99_000_000), "recorded"),
    ] {
        assert_eq!(post(&alerts, &body).await.1["status"], answer, "{body}");
    }
    // Balance activations: new, redelivered (nothing), then its expiry extended (an event).
    let balances = BalanceActivationWebhook(store());
    for (body, answer) in [
        (balance("2025-09-02T10:15:30Z"), "recorded"),
        (balance("2025-09-02T10:15:30Z"), "unchanged"),
        (balance("2025-09-09T10:15:30Z"), "recorded"),
    ] {
        assert_eq!(post(&balances, &body).await.1["status"], answer, "{body}");
    }
    // Country changes: first attach, its redelivery (nothing), then a border crossing.
    let countries = CountryChangeWebhook(store());
    for (body, answer) in [
        (country(None, "DE"), "recorded"),
        (country(None, "DE"), "unchanged"),
        (country(Some("DE"), "FR"), "recorded"),
    ] {
        assert_eq!(post(&countries, &body).await.1["status"], answer, "{body}");
    }
    let esim = EsimStatusWebhook(store());
    assert_eq!(
        post(&esim, &status("INSTALLED")).await.1["status"],
        "recorded"
    );
    assert_eq!(
        post(&esim, &status("INSTALLED")).await.1["status"],
        "unchanged"
    );
    assert_eq!(
        post(&esim, &status("DISABLED")).await.1["status"],
        "recorded"
    );

    let records = stream_records(&table).await;
    let publisher = subscriber.publisher(&table, shared::adapters::sdk::https_client());
    let response = publish(&publisher, &records).await;
    assert_eq!(resume_points(&response), Vec::<String>::new());

    let delivered = subscriber.delivered().await;
    let by_type = |t: &str| -> Vec<&Value> {
        let mut of: Vec<&Value> = delivered.iter().filter(|e| e["detail-type"] == t).collect();
        of.sort_by_key(|e| e["detail"]["time"].as_str().unwrap_or("").to_owned());
        of
    };
    assert_eq!(
        delivered.len(),
        13,
        "one per grant and accepted webhook that stored something new: {delivered:#?}"
    );
    let ids: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["eventID"].as_str())
        .collect();
    for event in &delivered {
        assert_eq!(event["source"], "gigastore.reseller");
        assert_eq!(event["detail"]["type"], event["detail-type"]);
        let id = event["detail"]["id"].as_str().unwrap();
        assert!(ids.contains(id), "the id is the stream record's: {id}");
    }

    let grants = by_type("purchase.granted");
    assert_eq!(grants.len(), 1);
    let grant = &grants[0]["detail"];
    assert_eq!(grant["userToken"], USER);
    assert_eq!(grant["customerUid"], CUSTOMER, "enriched from the profile");
    let purchase = grant["details"]["purchaseId"].as_str().unwrap();
    assert_eq!(grant["subject"], format!("PURCHASE#{purchase}"));
    assert_eq!(grant["details"]["inventoryItemId"], "1_GB");
    assert_eq!(grant["details"]["quantity"], 2);
    assert_eq!(grant["details"]["grantedAt"], grant["time"]);

    let registrations = by_type("customer.registered");
    assert_eq!(registrations.len(), 2);
    let known = registrations
        .iter()
        .find(|e| e["detail"]["userToken"] == USER)
        .unwrap();
    assert_eq!(known["detail"]["customerUid"], CUSTOMER);
    assert_eq!(known["detail"]["iccid"], Value::Null);
    assert_eq!(known["detail"]["details"], json!({"knownUser": true}));
    let unknown = registrations
        .iter()
        .find(|e| e["detail"]["userToken"] == "STRANGER")
        .unwrap();
    assert_eq!(unknown["detail"]["customerUid"], "c-2");
    assert_eq!(unknown["detail"]["details"], json!({"knownUser": false}));

    let decisions = by_type("activation.decided");
    assert_eq!(decisions.len(), 2);
    let details: Vec<&Value> = decisions.iter().map(|e| &e["detail"]["details"]).collect();
    assert_eq!(
        details,
        [
            &json!({"activationId": "act-1", "itemId": "1_GB", "decision": "SUCCESS", "metaTag": "order-1001"}),
            &json!({"activationId": "act-2", "itemId": "5_GB", "decision": "FAIL", "reason": "no_entitlement"}),
        ]
    );
    for decision in &decisions {
        assert_eq!(decision["detail"]["userToken"], USER);
        assert_eq!(
            decision["detail"]["customerUid"], CUSTOMER,
            "enriched from the profile"
        );
        assert_eq!(
            decision["time"].as_str().unwrap()[..19],
            decision["detail"]["time"].as_str().unwrap()[..19]
        );
    }

    let statuses = by_type("esim.status_changed");
    let states: Vec<&Value> = statuses
        .iter()
        .map(|e| &e["detail"]["details"]["profileState"])
        .collect();
    assert_eq!(states, ["INSTALLED", "DISABLED"]);
    for s in &statuses {
        assert_eq!(s["detail"]["iccid"], ICCID);
        assert_eq!(
            s["detail"]["customerUid"], CUSTOMER,
            "linked through the balance alert"
        );
        assert_eq!(s["detail"]["userToken"], USER, "and the registered profile");
        assert_eq!(s["detail"]["details"]["imsi"], "260216611193634");
        assert_eq!(s["detail"]["details"]["eid"], "74088234238931452");
    }

    let low = by_type("balance.low");
    let times: Vec<&Value> = low.iter().map(|e| &e["detail"]["time"]).collect();
    assert_eq!(
        times,
        ["2022-08-20T08:00:00.000Z", "2022-08-21T10:15:30.000Z"],
        "the alert's own time"
    );
    assert_eq!(
        low[1]["detail"]["details"],
        json!({"balanceBytes": 93_618_231, "imsi": "260216611193634"})
    );
    for e in &low {
        assert_eq!(e["detail"]["customerUid"], CUSTOMER);
        assert_eq!(e["detail"]["iccid"], ICCID);
        assert_eq!(e["detail"]["userToken"], USER, "linked by the registration");
    }

    let activated = by_type("balance.activated");
    let expiries: Vec<&Value> = activated
        .iter()
        .map(|e| &e["detail"]["details"]["expiresAt"])
        .collect();
    let mut expiries = expiries;
    expiries.sort_by_key(|v| v.as_str().unwrap_or("").to_owned());
    assert_eq!(
        expiries,
        ["2025-09-02T10:15:30.000Z", "2025-09-09T10:15:30.000Z"]
    );
    for e in &activated {
        assert_eq!(e["detail"]["time"], "2025-08-25T09:52:10.000Z");
        assert_eq!(
            e["detail"]["details"]["activatedItem"],
            "a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e"
        );
        assert_eq!(e["detail"]["userToken"], USER);
        assert_eq!(e["detail"]["iccid"], Value::Null);
    }

    let moves = by_type("esim.country_changed");
    let details: Vec<&Value> = moves.iter().map(|e| &e["detail"]["details"]).collect();
    assert_eq!(
        details,
        [
            &json!({"previousCountry": null, "newCountry": "DE", "imsi": "260216611193634"}),
            &json!({"previousCountry": "DE", "newCountry": "FR", "imsi": "260216611193634"}),
        ]
    );
    for e in &moves {
        assert_eq!(e["detail"]["iccid"], ICCID);
        assert_eq!(e["detail"]["customerUid"], CUSTOMER, "through the alert");
        assert_eq!(e["detail"]["userToken"], USER);
    }

    // Lambda handing the same batch over again publishes the same events under the same ids.
    assert!(resume_points(&publish(&publisher, &records).await).is_empty());
    let again: BTreeSet<String> = subscriber
        .delivered()
        .await
        .iter()
        .map(|e| e["detail"]["id"].to_string())
        .collect();
    let first: BTreeSet<String> = delivered
        .iter()
        .map(|e| e["detail"]["id"].to_string())
        .collect();
    assert_eq!(again, first, "stable ids: consumers deduplicate by them");
}

/// What the EventBridge connector does to `PutEvents` requests; everything else passes.
#[derive(Debug, Default)]
struct BusPlan {
    /// Requests passed before every later one fails with AWS's `InternalException` (500).
    fail_after: Option<usize>,
    /// Entries whose detail contains this text are refused, this many times.
    refuse: Option<(String, usize)>,
    /// The error code they are refused with (`InternalFailure` when unset).
    refusal: Option<&'static str>,
    /// `PutEvents` requests seen.
    requests: usize,
}

#[derive(Debug, Clone, Default)]
struct BusFaults(Arc<Mutex<BusPlan>>);

impl BusFaults {
    fn plan(&self) -> std::sync::MutexGuard<'_, BusPlan> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn http_client(&self) -> SharedHttpClient {
        let faults = self.clone();
        let base = aws_smithy_http_client::Builder::new().build_http();
        http_client_fn(move |settings, components| {
            let inner = base.http_connector(settings, components);
            SharedHttpConnector::new(FaultyBus {
                inner,
                faults: faults.clone(),
            })
        })
    }
}

#[derive(Debug)]
struct FaultyBus {
    inner: SharedHttpConnector,
    faults: BusFaults,
}

/// AWS's JSON error answer of EventBridge.
fn aws_error(status: u16, kind: &str) -> HttpConnectorFuture {
    let body = json!({"__type": kind, "message": format!("injected {kind}")});
    let mut response = aws_smithy_runtime_api::http::Response::new(
        status.try_into().unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    HttpConnectorFuture::ready(Ok(response))
}

impl HttpConnector for FaultyBus {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        if operation(&request) != "PutEvents" {
            return self.inner.call(request);
        }
        let mut plan = self.faults.plan();
        plan.requests += 1;
        if plan.fail_after.is_some_and(|n| plan.requests > n) {
            return aws_error(500, "InternalException");
        }
        let code = plan.refusal.unwrap_or("InternalFailure");
        let Some((marker, times)) = plan.refuse.as_mut().filter(|(_, times)| *times > 0) else {
            return self.inner.call(request);
        };
        // The refused entries are taken out of the request, so EventBridge never gets them,
        // and put back into the answer as failures, where EventBridge would report them.
        let body: Value = serde_json::from_slice(request.body().bytes().unwrap()).unwrap();
        let entries = body["Entries"].as_array().unwrap();
        let refused: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                entries[i]["Detail"]
                    .as_str()
                    .unwrap()
                    .contains(marker.as_str())
            })
            .collect();
        if refused.is_empty() {
            return self.inner.call(request);
        }
        *times -= 1;
        let kept: Vec<&Value> = (0..entries.len())
            .filter(|i| !refused.contains(i))
            .map(|i| &entries[i])
            .collect();
        let kept = json!({"Entries": kept}).to_string();
        request
            .headers_mut()
            .insert("content-length", kept.len().to_string());
        *request.body_mut() = SdkBody::from(kept);
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let response = sent.await?;
            let status = response.status();
            let bytes = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?
                .into_bytes();
            let mut answer: Value = serde_json::from_slice(&bytes).unwrap();
            let results = answer["Entries"].as_array_mut().unwrap();
            for &i in &refused {
                results.insert(i, json!({"ErrorCode": code, "ErrorMessage": "injected"}));
            }
            let failed = answer["FailedEntryCount"].as_u64().unwrap_or(0) + refused.len() as u64;
            answer["FailedEntryCount"] = failed.into();
            let mut response = aws_smithy_runtime_api::http::Response::new(
                status,
                SdkBody::from(answer.to_string()),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.1");
            Ok(response)
        })
    }
}

/// Twelve eSIM statuses: twelve history entries (events) among 24 stream records.
async fn twelve_statuses(table: &TestTable) -> Vec<Value> {
    let esim = EsimStatusWebhook(table.other_store());
    for i in 0..12 {
        let state = ["INSTALLED", "DISABLED"][i % 2];
        assert_eq!(post(&esim, &status(state)).await.1["status"], "recorded");
    }
    stream_records(table).await
}

/// The stream record each delivered event came from, by event id.
fn origins(records: &[Value]) -> BTreeMap<String, usize> {
    let ids = records.iter().enumerate();
    ids.map(|(i, r)| (r["eventID"].as_str().unwrap().to_owned(), i))
        .collect()
}

fn delivered_ids(delivered: &[Value]) -> Vec<String> {
    let ids = delivered
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap().to_owned());
    ids.collect()
}

/// Records whose stored change is an event (history entries), in stream order.
fn event_records(records: &[Value]) -> Vec<usize> {
    let history = |r: &Value| {
        r["dynamodb"]["Keys"]["sk"]["S"]
            .as_str()
            .is_some_and(|sk| sk.starts_with("HISTORY#"))
    };
    (0..records.len())
        .filter(|&i| history(&records[i]))
        .collect()
}

#[tokio::test]
async fn a_failed_put_resumes_from_the_first_unpublished_record_without_repeating_earlier_ones() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let records = twelve_statuses(&table).await;
    let events = event_records(&records);
    assert_eq!(events.len(), 12);

    // The first PutEvents (ten entries) goes through; the second fails, after the SDK's retries.
    let faults = BusFaults::default();
    faults.plan().fail_after = Some(1);
    let publisher = subscriber.publisher(&table, faults.http_client());
    let response = publish(&publisher, &records).await;
    let eleventh = events[10];
    assert_eq!(
        resume_points(&response),
        [sequence_number(&records[eleventh])]
    );
    let first = delivered_ids(&subscriber.delivered().await);
    assert_eq!(first.len(), 10);
    let origin = origins(&records);
    assert!(first.iter().all(|id| origin[id] < eleventh));

    // Lambda hands the batch over again from that record; EventBridge is back.
    *faults.plan() = BusPlan::default();
    let response = publish(&publisher, &records[eleventh..]).await;
    assert!(resume_points(&response).is_empty());
    let rest = delivered_ids(&subscriber.delivered().await);
    assert_eq!(rest.len(), 2);
    let all: BTreeSet<&String> = first.iter().chain(&rest).collect();
    assert_eq!(all.len(), 12, "every event once, none repeated");
}

#[tokio::test]
async fn refused_entries_are_retried_and_a_lasting_refusal_resumes_from_its_record() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let records = twelve_statuses(&table).await;
    let events = event_records(&records);
    let id = |i: usize| records[events[i]]["eventID"].as_str().unwrap().to_owned();

    // Refused once: the publisher puts it again itself; nothing for Lambda to retry.
    let faults = BusFaults::default();
    faults.plan().refuse = Some((id(2), 1));
    let publisher = subscriber.publisher(&table, faults.http_client());
    assert!(resume_points(&publish(&publisher, &records).await).is_empty());
    let delivered = delivered_ids(&subscriber.delivered().await);
    assert_eq!(delivered.iter().collect::<BTreeSet<_>>().len(), 12);
    assert_eq!(delivered.len(), 12, "none twice");

    // Refused every time: Lambda resumes from its record; those before it are done.
    let table = TestTable::with_stream().await;
    let records = twelve_statuses(&table).await;
    let events = event_records(&records);
    let id = |i: usize| records[events[i]]["eventID"].as_str().unwrap().to_owned();
    faults.plan().refuse = Some((id(2), usize::MAX));
    let publisher = subscriber.publisher(&table, faults.http_client());
    let response = publish(&publisher, &records).await;
    assert_eq!(
        resume_points(&response),
        [sequence_number(&records[events[2]])]
    );
    let first = delivered_ids(&subscriber.delivered().await);
    assert!(first.contains(&id(0)) && first.contains(&id(1)) && !first.contains(&id(2)));

    *faults.plan() = BusPlan::default();
    let response = publish(&publisher, &records[events[2]..]).await;
    assert!(resume_points(&response).is_empty());
    let rest = delivered_ids(&subscriber.delivered().await);
    assert!(
        !rest.contains(&id(0)) && !rest.contains(&id(1)),
        "earlier ones not repeated"
    );
    let all: BTreeSet<&String> = first.iter().chain(&rest).collect();
    assert_eq!(all.len(), 12, "every event at least once");
}

/// Lookups through `inner` that each first wait `delay` (a table slow to answer), and a record
/// of every lookup made (`operation:argument`).
struct SlowLookups<L> {
    inner: L,
    delay: Duration,
    made: Made,
}

/// The lookups made, shared with the test.
#[derive(Debug, Clone, Default)]
struct Made(Arc<Mutex<Vec<String>>>);

impl Made {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl<L> SlowLookups<L> {
    fn new(inner: L, delay: Duration) -> (Self, Made) {
        let made = Made::default();
        let lookups = Self {
            inner,
            delay,
            made: made.clone(),
        };
        (lookups, made)
    }

    async fn note(&self, lookup: String) {
        self.made.0.lock().unwrap().push(lookup);
        tokio::time::sleep(self.delay).await;
    }
}

impl<L: EventLookups> EventLookups for SlowLookups<L> {
    async fn user_of_customer(&self, c: &CustomerUid) -> Result<Option<UserToken>, StoreError> {
        self.note(format!("user_of_customer:{c}")).await;
        self.inner.user_of_customer(c).await
    }

    async fn customer_of_user(&self, u: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        self.note(format!("customer_of_user:{u}")).await;
        self.inner.customer_of_user(u).await
    }

    async fn customer_of_iccid(&self, i: &Iccid) -> Result<Option<CustomerUid>, StoreError> {
        self.note(format!("customer_of_iccid:{i}")).await;
        self.inner.customer_of_iccid(i).await
    }
}

#[tokio::test]
async fn slow_lookups_leave_time_to_publish_what_was_read_and_resume_at_the_first_unread_record() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    // Twelve SIMs: twelve events, each needing a lookup of its own.
    let esim = EsimStatusWebhook(table.other_store());
    for i in 0..12 {
        let body = status_of(&format!("8936112330083612{i:04}"), "INSTALLED");
        assert_eq!(post(&esim, &body).await.1["status"], "recorded");
    }
    let records = stream_records(&table).await;
    let events = event_records(&records);
    assert_eq!(events.len(), 12);

    // 400 ms a lookup, 4 s for the invocation: reading all of them would take it all.
    let (slow, _) = SlowLookups::new(table.other_store(), Duration::from_millis(400));
    let http = shared::adapters::sdk::https_client();
    let publisher = subscriber.publisher_over(slow, http.clone());
    let response = publish_within(&publisher, &records, Duration::from_secs(4)).await;
    let first = delivered_ids(&subscriber.delivered().await);
    let read = first.len();
    assert!(read > 0, "what was read is published");
    assert!(read < 12, "not everything could be read in time");
    assert_eq!(
        resume_points(&response),
        [sequence_number(&records[events[read]])],
        "resumes at the first record not read"
    );
    let origin = origins(&records);
    let mut published: Vec<usize> = first.iter().map(|id| origin[id]).collect();
    published.sort_unstable();
    assert_eq!(
        published,
        events[..read],
        "the events read, in stream order"
    );

    // Lambda hands the rest over again.
    let publisher = subscriber.publisher(&table, http);
    let response = publish(&publisher, &records[events[read]..]).await;
    assert!(resume_points(&response).is_empty());
    let rest = delivered_ids(&subscriber.delivered().await);
    let all: BTreeSet<&String> = first.iter().chain(&rest).collect();
    assert_eq!((all.len(), first.len() + rest.len()), (12, 12), "each once");
}

#[tokio::test]
async fn a_batch_looks_up_each_customer_user_and_sim_once() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    demo_user(&table.store).await;
    let store = || table.other_store();
    let registered = json!({"userToken": USER, "customerUid": CUSTOMER}).to_string();
    let registration = CustomerRegistrationWebhook(store());
    assert_eq!(post(&registration, &registered).await.0, 200);
    let activation = ActivationRequestWebhook::new(store());
    for (id, item) in [("act-1", "1_GB"), ("act-2", "5_GB")] {
        let body = json!({"inventoryItemId": item, "userToken": USER, "activationId": id});
        assert_eq!(post(&activation, &body.to_string()).await.0, 200);
    }
    let alerts = BalanceAlertWebhook(store());
    let body = alert("2022-08-21T10:15:30Z", 93_618_231);
    assert_eq!(post(&alerts, &body).await.1["status"], "recorded");
    let esim = EsimStatusWebhook(store());
    for state in ["INSTALLED", "DISABLED", "INSTALLED"] {
        assert_eq!(post(&esim, &status(state)).await.1["status"], "recorded");
    }
    let countries = CountryChangeWebhook(store());
    for (previous, new) in [(None, "DE"), (Some("DE"), "FR")] {
        let body = country(previous, new);
        assert_eq!(post(&countries, &body).await.1["status"], "recorded");
    }
    let records = stream_records(&table).await;

    let (lookups, made) = SlowLookups::new(table.other_store(), Duration::ZERO);
    let publisher = subscriber.publisher_over(lookups, shared::adapters::sdk::https_client());
    assert!(resume_points(&publish(&publisher, &records).await).is_empty());
    let delivered = subscriber.delivered().await;
    assert_eq!(
        delivered.len(),
        10,
        "the grant's and nine webhooks': {delivered:#?}"
    );
    for event in &delivered {
        assert_eq!(event["detail"]["userToken"], USER, "{event:#}");
        assert_eq!(event["detail"]["customerUid"], CUSTOMER, "{event:#}");
    }
    let mut once = made.all();
    once.sort();
    assert_eq!(
        once,
        [
            format!("customer_of_iccid:{ICCID}"),
            format!("customer_of_user:{USER}"),
            format!("user_of_customer:{CUSTOMER}"),
        ],
        "each once in the batch"
    );

    // The next batch looks them up again: a profile may have changed in between.
    assert!(resume_points(&publish(&publisher, &records).await).is_empty());
    assert_eq!(made.all().len(), 6);
}

/// The log lines of `logs` whose message is `message`.
fn logged(logs: &LogCapture, message: &str) -> Vec<Value> {
    let lines = logs.lines().into_iter();
    lines.filter(|l| l["message"] == message).collect()
}

#[tokio::test]
async fn an_unreadable_record_is_skipped_logged_without_its_image_and_the_rest_published() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let mut records = twelve_statuses(&table).await;
    let events = event_records(&records);
    let bad = events[3];
    let image = &mut records[bad]["dynamodb"]["NewImage"];
    image.as_object_mut().unwrap().remove("received_at");
    image["email"] = json!({"S": "someone@example.com"});
    let bad_id = records[bad]["eventID"].as_str().unwrap().to_owned();

    let logs = LogCapture::default();
    let _guard = logs.install();
    let publisher = subscriber.publisher(&table, shared::adapters::sdk::https_client());
    let response = publish(&publisher, &records).await;
    assert!(
        resume_points(&response).is_empty(),
        "nothing to hand over again"
    );
    let delivered = delivered_ids(&subscriber.delivered().await);
    assert_eq!(delivered.len(), 11);
    assert!(!delivered.contains(&bad_id));

    let skipped = logged(&logs, "record skipped");
    assert_eq!(skipped.len(), 1, "{}", logs.text());
    let line = &skipped[0];
    assert_eq!(line["level"], "ERROR");
    assert_eq!(
        line["sequence_number"],
        sequence_number(&records[bad]).as_str()
    );
    assert_eq!(line["event_id"], bad_id.as_str());
    assert_eq!(line["pk"], records[bad]["dynamodb"]["Keys"]["pk"]["S"]);
    assert_eq!(line["sk"], records[bad]["dynamodb"]["Keys"]["sk"]["S"]);
    assert!(
        line["error"].as_str().unwrap().contains("received_at"),
        "{line}"
    );
    assert!(
        !logs.text().contains("someone@example.com"),
        "never the image"
    );
    let batch = logged(&logs, "batch");
    assert_eq!(batch.len(), 1, "{}", logs.text());
    assert_eq!(
        (&batch[0]["published"], &batch[0]["poisoned"]),
        (&json!(11), &json!(1))
    );
}

#[tokio::test]
async fn an_entry_refused_for_good_is_skipped_and_a_configuration_refusal_resumes_unretried() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let records = twelve_statuses(&table).await;
    let events = event_records(&records);
    let id = |i: usize| records[events[i]]["eventID"].as_str().unwrap().to_owned();

    // The entry itself is refused: it is never retried, and the others are all put.
    let faults = BusFaults::default();
    faults.plan().refuse = Some((id(2), usize::MAX));
    faults.plan().refusal = Some("MalformedDetail");
    let logs = LogCapture::default();
    let guard = logs.install();
    let publisher = subscriber.publisher(&table, faults.http_client());
    assert!(resume_points(&publish(&publisher, &records).await).is_empty());
    drop(guard);
    assert_eq!(faults.plan().requests, 2, "ten entries, then two: no retry");
    let delivered = delivered_ids(&subscriber.delivered().await);
    assert_eq!(delivered.len(), 11);
    assert!(!delivered.contains(&id(2)));
    let skipped = logged(&logs, "record skipped");
    assert_eq!(skipped.len(), 1, "{}", logs.text());
    let sequence = sequence_number(&records[events[2]]);
    assert_eq!(skipped[0]["sequence_number"], sequence.as_str());
    assert!(skipped[0]["error"]
        .as_str()
        .unwrap()
        .contains("MalformedDetail"));
    assert_eq!(logged(&logs, "batch")[0]["poisoned"], 1);

    // The bus refuses us, not the entry: no retry would help now, Lambda's later ones may.
    *faults.plan() = BusPlan::default();
    faults.plan().refuse = Some((id(2), usize::MAX));
    faults.plan().refusal = Some("AccessDeniedException");
    let response = publish(&publisher, &records).await;
    assert_eq!(resume_points(&response), [sequence]);
    assert_eq!(
        faults.plan().requests,
        1,
        "not retried, nothing sent after it"
    );
}

#[tokio::test]
async fn each_event_carries_its_subject_and_a_sequence_ordering_the_subjects_changes() {
    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let countries = CountryChangeWebhook(table.other_store());
    let body = country(None, "DE");
    assert_eq!(post(&countries, &body).await.1["status"], "recorded");
    let records = twelve_statuses(&table).await;

    let publisher = subscriber.publisher(&table, shared::adapters::sdk::https_client());
    assert!(resume_points(&publish(&publisher, &records).await).is_empty());
    let delivered = subscriber.delivered().await;
    assert_eq!(delivered.len(), 13);
    let origin = origins(&records);
    let mut by_stream: Vec<(usize, &Value)> = delivered
        .iter()
        .map(|e| (origin[e["detail"]["id"].as_str().unwrap()], &e["detail"]))
        .collect();
    by_stream.sort_by_key(|(i, _)| *i);
    for (i, detail) in &by_stream {
        assert_eq!(detail["subject"], format!("ESIM#{ICCID}"), "{detail:#}");
        let sequence = detail["sequence"].as_str().unwrap();
        assert_eq!(sequence.len(), 40, "{sequence}");
        let stream = sequence_number(&records[*i]);
        assert_eq!(format!("{stream:0>40}"), sequence, "the record's, padded");
    }
    let sequences: Vec<&str> = by_stream
        .iter()
        .map(|(_, d)| d["sequence"].as_str().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "as text, in the order the changes were stored: {sequences:?}"
    );
}

/// A grant body for `purchase` of `quantity` units of `1_GB` to `user`, with an email.
fn purchase_body(purchase: &str, user: &str, quantity: u32) -> shared::domain::purchase::Grant {
    use shared::domain::payload::FromBody;
    let body = json!({"purchaseId": purchase, "userToken": user, "inventoryItemId": "1_GB", "quantity": quantity, "email": "buyer@example.com"});
    shared::domain::purchase::Grant::from_body(body.to_string().as_bytes()).unwrap()
}

#[tokio::test]
async fn each_grant_refund_and_erasure_becomes_one_event_and_the_erasures_rewrites_none() {
    use shared::domain::erasure::{self, UserHashKey};
    use shared::domain::ids::{PurchaseId, RefundReason};
    use shared::domain::purchase::{self, GrantOutcome, RefundOutcome};
    use time::OffsetDateTime;

    let table = TestTable::with_stream().await;
    let subscriber = Subscriber::new().await;
    let store = table.other_store();
    let buyer = "BUYER_TOKEN_1";
    let user = UserToken::parse(buyer).unwrap();
    let key = UserHashKey::new(&[7u8; 32]).unwrap();
    let hash = key.hash(&user);
    let now = OffsetDateTime::now_utc;

    // Registered before the user was ours (unclaimed), then granted, then registered again
    // (the profile's customer id and its link): everything an erasure deletes.
    let registration = CustomerRegistrationWebhook(table.other_store());
    let early = json!({"userToken": buyer, "customerUid": "c-early"}).to_string();
    assert_eq!(post(&registration, &early).await.0, 404);
    let first = purchase_body("order-1", buyer, 3);
    let granted = purchase::grant(&store, &first, now()).await.unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)), "{granted:?}");
    let again = purchase::grant(&store, &first, now()).await.unwrap();
    assert!(
        matches!(again, GrantOutcome::AlreadyGranted(_)),
        "{again:?}"
    );
    let registered = json!({"userToken": buyer, "customerUid": "c-buyer"}).to_string();
    assert_eq!(post(&registration, &registered).await.0, 200);
    let activation = ActivationRequestWebhook::new(table.other_store());
    let approve = json!({"inventoryItemId": "1_GB", "userToken": buyer, "activationId": "act-b1"});
    let answer = post(&activation, &approve.to_string()).await.1;
    assert_eq!(answer["returnCode"], "SUCCESS");

    // Refunded (one unit used, two removed), and again: the same answer, nothing written.
    let order_1 = PurchaseId::parse("order-1").unwrap();
    let reason = Some(RefundReason::parse("chargeback").unwrap());
    let refunded = purchase::refund(&store, &order_1, reason.clone(), now()).await;
    assert!(
        matches!(refunded, Ok(RefundOutcome::Refunded(_))),
        "{refunded:?}"
    );
    let again = purchase::refund(&store, &order_1, reason, now()).await;
    assert!(
        matches!(again, Ok(RefundOutcome::AlreadyRefunded(_))),
        "{again:?}"
    );

    // A second purchase, refunded only after the user is erased; erasing again finds nothing.
    let second = purchase_body("order-2", buyer, 1);
    let granted = purchase::grant(&store, &second, now()).await.unwrap();
    assert!(matches!(granted, GrantOutcome::Granted(_)), "{granted:?}");
    let erased = erasure::erase(&store, &key, &user, now()).await.unwrap();
    assert!(erased.erased);
    assert_eq!(
        (
            erased.profiles,
            erased.entitlements,
            erased.unclaimed_registrations
        ),
        (1, 1, 1)
    );
    assert_eq!((erased.activations, erased.purchases), (1, 2));
    let again = erasure::erase(&store, &key, &user, now()).await.unwrap();
    assert!(!again.erased);
    let order_2 = PurchaseId::parse("order-2").unwrap();
    let late = purchase::refund(&store, &order_2, None, now()).await;
    assert!(matches!(late, Ok(RefundOutcome::Refunded(_))), "{late:?}");

    let records = stream_records(&table).await;
    // The stream holds the erasure's work: the deletions (with their old images) and the
    // rewrites of the kept decision and purchases under the hash.
    let changes_of = |name: &str| -> BTreeSet<String> {
        let named = records.iter().filter(|r| r["eventName"] == name);
        let keys = named.map(|r| &r["dynamodb"]["Keys"]);
        keys.map(|k| {
            format!(
                "{}/{}",
                k["pk"]["S"].as_str().unwrap_or_default(),
                k["sk"]["S"].as_str().unwrap_or_default()
            )
        })
        .collect()
    };
    let removed = changes_of("REMOVE");
    let expected = [
        format!("USER#{buyer}/PROFILE"),
        format!("USER#{buyer}/ENT#1_GB"),
        format!("USER#{buyer}/UNCLAIMED_CUSTOMER#c-early"),
        "CUSTOMER#c-buyer/LINK".to_owned(),
    ];
    assert_eq!(removed, BTreeSet::from(expected), "{records:#?}");
    let rewritten = records.iter().filter(|r| {
        r["eventName"] == "MODIFY"
            && r["dynamodb"]["OldImage"]["user_token"]["S"] == buyer
            && r["dynamodb"]["NewImage"]["user_hash"]["S"] == hash.as_str()
    });
    let rewritten: BTreeSet<&str> = rewritten
        .filter_map(|r| r["dynamodb"]["Keys"]["pk"]["S"].as_str())
        .collect();
    let kept = ["ACTIVATION#act-b1", "PURCHASE#order-1", "PURCHASE#order-2"];
    assert_eq!(rewritten, BTreeSet::from(kept));

    let logs = LogCapture::default();
    let guard = logs.install();
    let publisher = subscriber.publisher(&table, shared::adapters::sdk::https_client());
    let response = publish(&publisher, &records).await;
    drop(guard);
    assert!(resume_points(&response).is_empty());
    assert!(
        logged(&logs, "record skipped").is_empty(),
        "the erasure's deletions and rewrites read: {}",
        logs.text()
    );

    let delivered = subscriber.delivered().await;
    let details: Vec<&Value> = delivered.iter().map(|e| &e["detail"]).collect();
    let of = |t: &str| -> Vec<&Value> {
        let mut of: Vec<&Value> = details.iter().copied().filter(|d| d["type"] == t).collect();
        of.sort_by_key(|d| d["sequence"].as_str().unwrap_or_default().to_owned());
        of
    };
    let mut types: Vec<&str> = details.iter().filter_map(|d| d["type"].as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "activation.decided",
            "customer.registered",
            "customer.registered",
            "purchase.granted",
            "purchase.granted",
            "purchase.refunded",
            "purchase.refunded",
            "user.erased",
        ],
        "one per change, none for a repeat or the erasure's rewrites and deletions: {details:#?}"
    );
    let text = serde_json::to_string(&details).unwrap();
    assert!(!text.contains("buyer@example.com"), "never the email");

    let grants = of("purchase.granted");
    let purchases: Vec<&Value> = grants.iter().map(|d| &d["details"]["purchaseId"]).collect();
    assert_eq!(purchases.len(), 2);
    for grant in &grants {
        assert_eq!(grant["userToken"], buyer, "stored before the erasure");
        let id = grant["details"]["purchaseId"].as_str().unwrap();
        assert_eq!(grant["subject"], format!("PURCHASE#{id}"));
        assert_eq!(grant["details"]["delivery"], "sdk");
        assert_eq!(grant["details"]["grantedAt"], grant["time"]);
    }
    let first_grant = grants
        .iter()
        .find(|d| d["details"]["purchaseId"] == "order-1");
    let first_grant = first_grant.unwrap();
    assert_eq!(first_grant["details"]["quantity"], 3);
    assert_eq!(first_grant["details"]["inventoryItemId"], "1_GB");

    let refunds = of("purchase.refunded");
    let refund_of = |id: &str| {
        *refunds
            .iter()
            .find(|d| d["details"]["purchaseId"] == id)
            .unwrap()
    };
    let refund_1 = refund_of("order-1");
    assert_eq!(refund_1["userToken"], buyer);
    assert_eq!(
        refund_1["customerUid"],
        Value::Null,
        "the profile is gone by now"
    );
    assert_eq!(
        refund_1["details"],
        json!({
            "purchaseId": "order-1", "inventoryItemId": "1_GB", "quantity": 3,
            "unitsRefunded": 2, "unitsUsed": 1, "unitsVoid": 0, "reason": "chargeback",
            "refundedAt": refund_1["time"]
        })
    );
    assert_eq!(refund_1["subject"], first_grant["subject"]);
    assert!(
        refund_1["sequence"].as_str() > first_grant["sequence"].as_str(),
        "the refund after the grant it refunds"
    );
    let refund_2 = refund_of("order-2");
    assert_eq!(
        refund_2["userToken"],
        Value::Null,
        "refunded after the erasure"
    );
    assert_eq!(refund_2["details"]["userHash"], hash.as_str());
    assert_eq!(refund_2["details"]["unitsRefunded"], 0);
    assert_eq!(refund_2["details"]["unitsVoid"], 1, "erased with the user");

    let erasures = of("user.erased");
    let erasure = erasures[0];
    assert_eq!(erasure["subject"], format!("ERASED#{hash}"));
    assert_eq!(
        (
            &erasure["userToken"],
            &erasure["customerUid"],
            &erasure["iccid"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(
        erasure["details"],
        json!({
            "userHash": hash.as_str(), "profiles": 1, "entitlements": 1,
            "unclaimedRegistrations": 1, "activations": 1, "purchases": 2,
            "erasedAt": erasure["time"]
        })
    );
    assert!(
        !erasure.to_string().contains(buyer),
        "the erased user by hash only: {erasure:#}"
    );
}
