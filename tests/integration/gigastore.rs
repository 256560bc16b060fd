//! The Gigastore client against the local double (`scripts/gigastore_double.py`): one double per
//! test, so faults and ledgers never mix. Authentication and token reuse, renewal, every fault
//! classed as the port says, the ledger as the truth about charges. Nothing calls the real API.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::adapters::gigastore::{
    BaseUrl, ClientCredentials, CredentialSource, GigastoreClient, REASON_CHARS,
};
use shared::adapters::secrets_manager::sdk;
use shared::adapters::secrets_manager::sdk::config::{BehaviorVersion, Credentials, Region};
use shared::domain::deadline::Deadline;
use shared::domain::gigastore::{
    ActivatedItemId, ActivationMode, CallError, Gigastore, Price, TopUpCall,
};
use shared::domain::ids::{CustomerUid, ItemId, PurchaseId};
use shared::testkit::LogCapture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;

/// The double's client credentials in these tests.
pub const CLIENT_ID: &str = "test-client-id";
/// The double's client secret in these tests.
pub const CLIENT_SECRET: &str = "test-client-secret-hunter2";

/// A Gigastore double on a free loopback port; stopped when dropped, and in any case when this
/// process ends (`--exit-with-parent`).
pub struct GigastoreDouble {
    port: u16,
    child: Child,
}

impl GigastoreDouble {
    /// Starts one and waits until it says its port (it prints it once it listens).
    pub fn start() -> Self {
        // Standard library only: moto's Python (scripts/test sets it) or any python3.
        let python = std::env::var_os("MOTO_PYTHON")
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("python3"));
        let mut child = Command::new(&python)
            .arg(common::root().join("scripts/gigastore_double.py"))
            .args(["--port", "0", "--exit-with-parent"])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start the double: {e}", python.display()));
        let stdout = child.stdout.take().expect("the double's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30));
        let port = line.as_deref().ok().and_then(|l| l.trim().parse().ok());
        match port {
            Some(port) => Self { port, child },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the Gigastore double did not say its port: {line:?}");
            }
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of it with its credentials.
    pub fn client(&self) -> GigastoreClient {
        self.client_with(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET).unwrap())
    }

    /// A client of it with `credentials`.
    pub fn client_with(&self, credentials: ClientCredentials) -> GigastoreClient {
        GigastoreClient::new(
            BaseUrl::parse(&self.url()).unwrap(),
            CredentialSource::Fixed(credentials),
        )
        .unwrap()
    }

    /// Calls a control endpoint (`/_double/...`); its JSON answer, or panics on an error.
    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("the double listens");
        let request = format!(
            "{method} {path} HTTP/1.0\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, payload) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "{method} {path}: {answer}"
        );
        serde_json::from_str(payload).expect("a JSON answer")
    }

    /// Seeds customers (`[{"uid", "countrySet"}]`) and, if given, the reseller's credit.
    pub async fn seed(&self, customers: Value, credit: Option<&str>) {
        let mut body = json!({ "customers": customers });
        if let Some(credit) = credit {
            body["credit"] = json!(credit);
        }
        self.control("POST", "/_double/seed", Some(body)).await;
    }

    /// Arms a fault (`{"fault": ..., "times"?, "path"?, ...}`).
    pub async fn fault(&self, fault: Value) {
        self.control("POST", "/_double/faults", Some(fault)).await;
    }

    /// Every charge and refund so far.
    pub async fn ledger(&self) -> Vec<Value> {
        let ledger = self.control("GET", "/_double/ledger", None).await;
        ledger["entries"].as_array().cloned().unwrap_or_default()
    }

    /// The charges so far.
    pub async fn charges(&self) -> Vec<Value> {
        let mut ledger = self.ledger().await;
        ledger.retain(|e| e["kind"] == "charge");
        ledger
    }

    /// How many times a client authenticated.
    pub async fn authentications(&self) -> u64 {
        self.control("GET", "/_double/calls", None).await["authentications"]
            .as_u64()
            .unwrap_or_default()
    }

    /// Every call to Gigastore's API (not the control endpoints), in order.
    pub async fn requests(&self) -> Vec<Value> {
        let calls = self.control("GET", "/_double/calls", None).await;
        calls["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Stops it now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GigastoreDouble {
    fn drop(&mut self) {
        self.stop();
    }
}

const CUSTOMER: &str = "customer-1";

/// A double with one worldwide customer and 100.00 of credit.
async fn double() -> GigastoreDouble {
    let double = GigastoreDouble::start();
    double
        .seed(json!([{"uid": CUSTOMER, "countrySet": "WWW"}]), None)
        .await;
    double
}

fn top_up(purchase: &str, item: &str) -> TopUpCall {
    TopUpCall {
        customer_uid: CustomerUid::parse(CUSTOMER).unwrap(),
        item: ItemId::parse(item).unwrap(),
        purchase_id: PurchaseId::parse(purchase).unwrap(),
        expected_price: None,
        activation_mode: None,
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn customer() -> CustomerUid {
    CustomerUid::parse(CUSTOMER).unwrap()
}

#[track_caller]
fn assert_unknown<T: std::fmt::Debug>(result: Result<T, CallError>) -> String {
    match result {
        Err(e @ CallError::Unknown { .. }) => {
            assert!(e.maybe_applied());
            e.to_string()
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_top_up_charges_once_and_is_found_by_its_metatag() {
    let double = double().await;
    let client = double.client();
    let mut call = top_up("purchase-1", "1_GB");
    call.expected_price = Some(Price {
        value: "4.99".into(),
        currency: "USD".into(),
    });
    call.activation_mode = Some(ActivationMode::FirstUse);
    let item = client.top_up(&call, deadline()).await.unwrap();

    let charges = double.charges().await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["metatag"], "purchase-1");
    assert_eq!(charges[0]["activatedItemUid"], item.0.as_str());
    assert_eq!(charges[0]["inventoryItemId"], "1_GB");
    // The purchase id went as the idempotency-key header too (the double ignores it, as
    // Gigastore may).
    let requests = double.requests().await;
    let sent = requests
        .iter()
        .find(|r| r["path"] == "/gigastore/activations/top-up")
        .unwrap();
    assert_eq!(sent["idempotencyKey"], "purchase-1");

    let items = client
        .activated_items(&customer(), deadline())
        .await
        .unwrap();
    let found: Vec<_> = items
        .iter()
        .filter(|i| i.metatag.as_deref() == Some("purchase-1"))
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uid, item);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_calls_share_one_authentication() {
    let double = double().await;
    let client = double.client();
    for n in 0..3 {
        client.inventory(deadline()).await.unwrap();
        client
            .activated_items(&customer(), deadline())
            .await
            .unwrap();
        client
            .top_up(&top_up(&format!("p-{n}"), "1_GB"), deadline())
            .await
            .unwrap();
    }
    // At once, on a client that has no token yet: one authentication, the others wait for it.
    let fresh = Arc::new(double.client());
    let results = common::concurrently(8, |_| {
        let fresh = Arc::clone(&fresh);
        async move { fresh.inventory(deadline()).await.map(|items| items.len()) }
    })
    .await;
    assert!(results.iter().all(|r| matches!(r, Ok(4))), "{results:?}");
    assert_eq!(double.authentications().await, 2);
    assert_eq!(double.charges().await.len(), 3);
}

#[tokio::test]
async fn a_token_due_for_renewal_is_renewed_before_the_call() {
    let double = double().await;
    // A margin of a day: every token (valid 24 h) is due at once.
    let client = GigastoreClient::with_renewal_margin(
        BaseUrl::parse(&double.url()).unwrap(),
        CredentialSource::Fixed(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET).unwrap()),
        Duration::from_secs(24 * 60 * 60),
    )
    .unwrap();
    for _ in 0..3 {
        client.inventory(deadline()).await.unwrap();
    }
    assert_eq!(double.authentications().await, 3);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_repeated() {
    let double = double().await;
    let client = double.client();
    client.inventory(deadline()).await.unwrap();
    double.fault(json!({"fault": "expire_token"})).await;

    let item = client
        .top_up(&top_up("purchase-401", "1_GB"), deadline())
        .await
        .unwrap();
    assert_eq!(double.authentications().await, 2);
    let charges = double.charges().await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["activatedItemUid"], item.0.as_str());
    // The new token is kept.
    client.inventory(deadline()).await.unwrap();
    assert_eq!(double.authentications().await, 2);
}

#[tokio::test]
async fn a_second_401_after_renewal_is_not_sent_and_nothing_is_charged() {
    let double = double().await;
    let client = double.client();
    double
        .fault(json!({"fault": "expire_token", "times": 2}))
        .await;
    let result = client
        .top_up(&top_up("purchase-2x401", "1_GB"), deadline())
        .await;
    assert!(
        matches!(
            &result,
            Err(CallError::NotSent {
                operation: "top-up",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(double.authentications().await, 2);
    assert!(double.charges().await.is_empty());
    // The 401s were not cached as a refusal: the next call goes through.
    client
        .top_up(&top_up("purchase-2x401", "1_GB"), deadline())
        .await
        .unwrap();
}

#[tokio::test]
async fn refused_credentials_are_not_sent_and_charge_nothing() {
    let double = double().await;
    let client = double.client_with(ClientCredentials::new(CLIENT_ID, "wrong-secret").unwrap());
    let result = client
        .top_up(&top_up("purchase-x", "1_GB"), deadline())
        .await;
    match result {
        Err(CallError::NotSent { reason, .. }) => {
            assert!(reason.contains("authentication refused"), "{reason}");
            assert!(!reason.contains("wrong-secret"));
        }
        other => panic!("{other:?}"),
    }
    assert!(double.charges().await.is_empty());
    let requests = double.requests().await;
    assert!(requests
        .iter()
        .all(|r| r["path"] == "/reseller/authenticate"));
}

#[tokio::test]
async fn a_500_before_committing_is_unknown_and_charges_nothing() {
    let double = double().await;
    let client = double.client();
    double
        .fault(json!({"fault": "500_before", "path": "/gigastore/activations/top-up"}))
        .await;
    assert_unknown(client.top_up(&top_up("p-500b", "1_GB"), deadline()).await);
    assert!(double.charges().await.is_empty());
}

#[tokio::test]
async fn a_500_after_committing_is_unknown_and_the_ledger_shows_the_charge() {
    let double = double().await;
    let client = double.client();
    double.fault(json!({"fault": "500_after"})).await;
    let reason = assert_unknown(client.top_up(&top_up("p-500a", "1_GB"), deadline()).await);
    assert!(reason.contains("500"), "{reason}");
    let charges = double.charges().await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["metatag"], "p-500a");
    // What the lookup after an unknown outcome does: the charge is found by its metatag.
    let items = client
        .activated_items(&customer(), deadline())
        .await
        .unwrap();
    assert!(items.iter().any(|i| i.metatag.as_deref() == Some("p-500a")));
}

#[tokio::test]
async fn a_connection_dropped_after_committing_is_unknown() {
    let double = double().await;
    let client = double.client();
    double.fault(json!({"fault": "drop_after"})).await;
    assert_unknown(client.top_up(&top_up("p-drop", "1_GB"), deadline()).await);
    assert_eq!(double.charges().await.len(), 1);
    // The pool recovers: the next call gets a new connection.
    client.inventory(deadline()).await.unwrap();
}

#[tokio::test]
async fn a_hanging_call_is_unknown_by_its_deadline() {
    let double = double().await;
    let client = double.client();
    client.inventory(deadline()).await.unwrap();
    double.fault(json!({"fault": "hang", "seconds": 30})).await;
    let started = Instant::now();
    let budget = Duration::from_millis(800);
    let result = client
        .top_up(&top_up("p-hang", "1_GB"), Deadline::after(budget))
        .await;
    let waited = started.elapsed();
    let reason = assert_unknown(result);
    assert!(reason.contains("deadline"), "{reason}");
    assert!(
        waited >= budget && waited < budget + Duration::from_secs(2),
        "{waited:?}"
    );
    // This double commits before it hangs.
    assert_eq!(double.charges().await.len(), 1);
}

#[tokio::test]
async fn a_hang_that_never_commits_is_unknown_too_and_charges_nothing() {
    let double = double().await;
    let client = double.client();
    double
        .fault(json!({"fault": "hang", "seconds": 30, "commit": false}))
        .await;
    assert_unknown(
        client
            .top_up(
                &top_up("p-hang2", "1_GB"),
                Deadline::after(Duration::from_millis(800)),
            )
            .await,
    );
    assert!(double.charges().await.is_empty());
}

#[tokio::test]
async fn timeouts_and_throttling_and_server_errors_are_unknown() {
    let double = double().await;
    let client = double.client();
    for status in [408, 429, 500, 502, 503, 504] {
        double
            .fault(json!({"fault": "refuse", "status": status, "body": {"message": "busy"}}))
            .await;
        let reason = assert_unknown(client.top_up(&top_up("p-busy", "1_GB"), deadline()).await);
        assert!(reason.contains(&status.to_string()), "{reason}");
    }
    assert!(double.charges().await.is_empty());
}

#[tokio::test]
async fn a_4xx_is_refused_with_gigastores_answer_cut_short() {
    let double = double().await;
    let client = double.client();
    let long = "x".repeat(1000);
    double
        .fault(json!({"fault": "refuse", "status": 402, "body": {"message": long}}))
        .await;
    match client.top_up(&top_up("p-402", "1_GB"), deadline()).await {
        Err(CallError::Refused {
            operation,
            status,
            reason,
        }) => {
            assert_eq!((operation, status), ("top-up", 402));
            assert!(reason.starts_with("{\"message\": \"xxx"), "{reason}");
            assert!(
                reason.chars().count() <= REASON_CHARS + 1,
                "{}",
                reason.len()
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(double.charges().await.is_empty());
}

#[tokio::test]
async fn gigastores_own_refusals_are_refused_and_charge_nothing() {
    let double = double().await;
    double
        .seed(
            json!([{"uid": "customer-de", "countrySet": "DE"}]),
            Some("3.00"),
        )
        .await;
    let client = double.client();
    let mut wrong_price = top_up("p-price", "1_GB");
    wrong_price.expected_price = Some(Price {
        value: "3.99".into(),
        currency: "USD".into(),
    });
    let mut unknown_customer = top_up("p-who", "1_GB");
    unknown_customer.customer_uid = CustomerUid::parse("nobody").unwrap();
    let cases = [
        (top_up("p-country", "DE_10_GB"), "country set"),
        (wrong_price, "expected price"),
        (top_up("p-credit", "5_GB"), "insufficient credit"),
        (top_up("p-item", "NO_SUCH_ITEM"), "item not found"),
        (unknown_customer, "customer not found"),
    ];
    for (call, why) in cases {
        match client.top_up(&call, deadline()).await {
            Err(e @ CallError::Refused { .. }) => {
                assert!(!e.maybe_applied());
                assert!(e.to_string().contains(why), "{e}");
            }
            other => panic!("{why}: {other:?}"),
        }
    }
    assert!(double.charges().await.is_empty());
}

#[tokio::test]
async fn a_price_that_is_not_a_decimal_is_refused_before_sending() {
    let double = double().await;
    let client = double.client();
    let mut call = top_up("p-bad-price", "1_GB");
    call.expected_price = Some(Price {
        value: "4,99".into(),
        currency: "USD".into(),
    });
    let result = client.top_up(&call, deadline()).await;
    assert!(
        matches!(&result, Err(CallError::Refused { status: 0, .. })),
        "{result:?}"
    );
    assert!(double.requests().await.is_empty());
}

#[tokio::test]
async fn nothing_listening_is_not_sent() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let client = GigastoreClient::new(
        BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        CredentialSource::Fixed(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET).unwrap()),
    )
    .unwrap();
    let result = client
        .top_up(&top_up("p-refused", "1_GB"), deadline())
        .await;
    assert!(
        matches!(&result, Err(CallError::NotSent { .. })),
        "{result:?}"
    );

    // With a token already: the call itself finds nothing listening.
    let mut double = double().await;
    let client = double.client();
    client.inventory(deadline()).await.unwrap();
    double.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let result = client.top_up(&top_up("p-gone", "1_GB"), deadline()).await;
    match result {
        Err(e @ CallError::NotSent { .. }) => assert!(!e.maybe_applied()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_not_sent() {
    let client = GigastoreClient::new(
        BaseUrl::parse("http://gigastore-double.invalid").unwrap(),
        CredentialSource::Fixed(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET).unwrap()),
    )
    .unwrap();
    // A resolver slow to say "no such name" must not pass for a lost answer here.
    let result = client
        .inventory(Deadline::after(Duration::from_secs(60)))
        .await;
    assert!(
        matches!(&result, Err(CallError::NotSent { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_lagging_listing_omits_the_newest_item_until_it_catches_up() {
    let double = double().await;
    let client = double.client();
    double
        .fault(json!({"fault": "listing_lag", "reads": 1}))
        .await;
    let item = client
        .top_up(&top_up("p-lag", "1_GB"), deadline())
        .await
        .unwrap();
    let first = client
        .activated_items(&customer(), deadline())
        .await
        .unwrap();
    assert!(first.iter().all(|i| i.uid != item), "{first:?}");
    let second = client
        .activated_items(&customer(), deadline())
        .await
        .unwrap();
    assert!(second.iter().any(|i| i.uid == item), "{second:?}");
}

#[tokio::test]
async fn an_unknown_customer_is_refused() {
    let double = double().await;
    let result = double
        .client()
        .activated_items(&CustomerUid::parse("nobody").unwrap(), deadline())
        .await;
    assert!(
        matches!(&result, Err(CallError::Refused { status: 404, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_refund_gives_the_credit_back_once() {
    let double = double().await;
    let client = double.client();
    let item = client
        .top_up(&top_up("p-refund", "1_GB"), deadline())
        .await
        .unwrap();
    client.refund(&item, deadline()).await.unwrap();
    let ledger = double.ledger().await;
    let kinds: Vec<_> = ledger.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["charge", "refund"]);
    assert_eq!(ledger[1]["activatedItemUid"], item.0.as_str());
    assert_eq!(
        double.control("GET", "/_double/ledger", None).await["credit"],
        "100.00"
    );

    // Again: no longer a valid, unused package.
    let again = client.refund(&item, deadline()).await;
    assert!(
        matches!(&again, Err(CallError::Refused { operation: "refund", status: 400, reason }) if reason.contains("already refunded")),
        "{again:?}"
    );
    // Used, or unknown: refused too. Each refund was one call.
    let used = client
        .top_up(&top_up("p-used", "1_GB"), deadline())
        .await
        .unwrap();
    double
        .control(
            "POST",
            "/_double/use",
            Some(json!({"activatedItemUid": used.0})),
        )
        .await;
    assert!(matches!(
        client.refund(&used, deadline()).await,
        Err(CallError::Refused { .. })
    ));
    assert!(matches!(
        client
            .refund(&ActivatedItemId("no-such-item".into()), deadline())
            .await,
        Err(CallError::Refused { status: 404, .. })
    ));
    let refunds = double
        .requests()
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/refund"))
        .count();
    assert_eq!(refunds, 4);
    assert_eq!(double.ledger().await.len(), 3);
}

#[tokio::test]
async fn the_monthly_refund_limit_refuses_further_refunds() {
    let double = double().await;
    double
        .control("POST", "/_double/seed", Some(json!({"refundLimit": 1})))
        .await;
    let client = double.client();
    let first = client
        .top_up(&top_up("p-a", "1_GB"), deadline())
        .await
        .unwrap();
    let second = client
        .top_up(&top_up("p-b", "1_GB"), deadline())
        .await
        .unwrap();
    client.refund(&first, deadline()).await.unwrap();
    match client.refund(&second, deadline()).await {
        Err(CallError::Refused { reason, .. }) => assert!(reason.contains("limit"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_catalogue_is_read_with_retail_prices_as_written() {
    let double = double().await;
    let items = double.client().inventory(deadline()).await.unwrap();
    let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["1_GB", "5_GB", "EU_3_GB", "DE_10_GB"]);
    let one = &items[0];
    assert_eq!(one.name, "1 GB Worldwide");
    assert_eq!(one.size, "1 GB");
    assert_eq!(one.validity, "7 days");
    assert_eq!(one.country_set, "WWW");
    assert_eq!(
        one.retail_prices,
        [Price {
            value: "4.99".into(),
            currency: "USD".into()
        }]
    );
    assert_eq!(items[3].country_set, "DE");
    assert_eq!(items[3].retail_prices[0].value, "11.49");
}

#[tokio::test]
async fn credentials_come_from_a_managed_secret() {
    let double = double().await;
    let secrets = sdk::Client::from_conf(
        sdk::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(common::endpoint())
            .http_client(shared::adapters::sdk::https_client())
            .build(),
    );
    let name = format!("gigastore-{}-{}", std::process::id(), double.port);
    let created = secrets
        .create_secret()
        .name(&name)
        .secret_string(json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}).to_string())
        .send()
        .await
        .unwrap();
    let client = GigastoreClient::new(
        BaseUrl::parse(&double.url()).unwrap(),
        CredentialSource::Managed {
            client: secrets.clone(),
            secret_id: created.arn().unwrap().to_owned(),
        },
    )
    .unwrap();
    client.inventory(deadline()).await.unwrap();
    assert_eq!(double.authentications().await, 1);

    // A secret that is not the documented JSON: not sent, and its value never shown.
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string("hunter2-plain-text")
        .send()
        .await
        .unwrap();
    let fresh = GigastoreClient::new(
        BaseUrl::parse(&double.url()).unwrap(),
        CredentialSource::Managed {
            client: secrets,
            secret_id: name,
        },
    )
    .unwrap();
    match fresh.inventory(deadline()).await {
        Err(CallError::NotSent { reason, .. }) => assert!(!reason.contains("hunter2"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// Tokens and the client secret never reach a log line or an error, at any level.
#[tokio::test]
async fn tokens_and_the_client_secret_are_never_logged() {
    let logs = LogCapture::default();
    let _guard = logs.install_at("trace");
    let double = double().await;
    let client = double.client();
    let mut errors = Vec::new();
    client.inventory(deadline()).await.unwrap();
    double.fault(json!({"fault": "expire_token"})).await;
    client
        .top_up(&top_up("p-logs", "1_GB"), deadline())
        .await
        .unwrap();
    double
        .fault(json!({"fault": "refuse", "status": 400, "body": {"message": "no"}}))
        .await;
    errors.push(
        client
            .top_up(&top_up("p-logs-2", "1_GB"), deadline())
            .await
            .unwrap_err(),
    );
    double.fault(json!({"fault": "500_after"})).await;
    errors.push(client.inventory(deadline()).await.unwrap_err());
    let wrong = double.client_with(ClientCredentials::new(CLIENT_ID, "wrong-hunter2").unwrap());
    errors.push(wrong.inventory(deadline()).await.unwrap_err());

    let calls = double.control("GET", "/_double/calls", None).await;
    let tokens: Vec<String> = calls["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tokens.len(), 2);
    let text = logs.text();
    assert!(text.contains("authenticated with Gigastore"), "{text}");
    assert!(text.contains("authenticating again"), "{text}");
    let shown: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .chain([text, format!("{client:?}")])
        .collect();
    for shown in shown {
        for token in &tokens {
            // Any part of it (the signature is what makes it a secret).
            let signature = token.rsplit('.').next().unwrap();
            assert!(!shown.contains(signature), "a token in: {shown}");
        }
        for secret in ["hunter2", "Basic ", "Bearer "] {
            assert!(!shown.contains(secret), "{secret} in: {shown}");
        }
    }
}
