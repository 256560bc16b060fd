//! The `entitlements` operator CLI against a real DynamoDB-API server.

use crate::common::{cli_clients, client, demo_user, post, root, TestTable};
use activation_request::ActivationRequestWebhook;
use customer_registration::CustomerRegistrationWebhook;
use esim_status::EsimStatusWebhook;
use serde_json::Value;

/// Runs the CLI in-process; returns (exit code, stdout, stderr).
async fn cli(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("entitlements").chain(args.iter().copied());
    let code = entitlements::run(argv, || async { cli_clients() }, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Runs the CLI on `table`: `--table <table>` followed by `args`.
pub(crate) async fn cli_on(table: &str, args: &[&str]) -> (u8, String, String) {
    cli(&[&["--table", table][..], args].concat()).await
}

/// The arguments of `grant --user-token <user> --item <item>`, followed by `options`.
fn grant_args<'a>(user: &'a str, item: &'a str, options: &[&'a str]) -> Vec<&'a str> {
    [
        &["grant", "--user-token", user, "--item", item][..],
        options,
    ]
    .concat()
}

/// Runs `grant` on `table` for `user` and `item` with `options`.
async fn cli_grant(table: &str, user: &str, item: &str, options: &[&str]) -> (u8, String, String) {
    cli_on(table, &grant_args(user, item, options)).await
}

pub(crate) async fn show_json(table: &str, user: &str) -> Value {
    let (code, out, err) = cli_on(table, &["show", "--user-token", user, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn grant_show_and_revoke() {
    let t = TestTable::new().await;
    let table = t.name.as_str();
    let (code, out, _) = cli_grant(table, "u1", "1_GB", &["--email", "u1@example.com"]).await;
    assert_eq!(code, 0);
    // Without a purchase id, the grant is recorded under a new one, printed.
    let (said, id) = out.split_once('\n').unwrap();
    assert_eq!(said, "granted 1 x 1_GB: 1 left, 0 used, 1 granted");
    assert!(id.starts_with("purchase id: operator-"), "{id}");
    let options = [
        "--quantity",
        "3",
        "--expires-at",
        "2030-01-31T23:59:59Z",
        "--purchase-id",
        "order-3",
    ];
    let (code, out, _) = cli_grant(table, "u1", "1_GB", &options).await;
    assert_eq!(code, 0);
    assert_eq!(out, "granted 3 x 1_GB: 4 left, 0 used, 4 granted\n");

    let shown = show_json(table, "u1").await;
    assert_eq!(shown["userToken"], "u1");
    assert_eq!(shown["email"], "u1@example.com");
    assert_eq!(shown["customerUid"], Value::Null);
    let entitlement = &shown["entitlements"][0];
    assert_eq!(entitlement["item"], "1_GB");
    assert_eq!(entitlement["unitsGranted"], 4);
    assert_eq!(entitlement["unitsUsed"], 0);
    assert_eq!(entitlement["expiresAt"], "2030-01-31T23:59:59.000Z");
    assert_eq!(shown["activations"], Value::Array(vec![]));

    let (code, out, _) = cli_on(table, &["show", "--user-token", "u1"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("email:       u1@example.com"), "{out}");
    assert!(out.contains("1_GB"), "{out}");

    let (code, out, _) = cli_on(table, &["revoke", "--user-token", "u1", "--item", "1_GB"]).await;
    assert_eq!(code, 0);
    assert_eq!(out, "revoked 1_GB: 0 left, 0 used, 0 granted\n");
    let shown = show_json(table, "u1").await;
    assert!(shown["entitlements"][0]["revokedAt"].is_string());
    assert_eq!(shown["entitlements"][0]["unitsGranted"], 0);
}

#[tokio::test]
async fn show_lists_activation_decisions_newest_first() {
    let t = TestTable::new().await;
    let table = t.name.as_str();
    assert_eq!(cli_grant(table, "u1", "1_GB", &[]).await.0, 0);
    for id in ["first", "second"] {
        let body =
            serde_json::json!({"inventoryItemId": "1_GB", "userToken": "u1", "activationId": id})
                .to_string();
        // Both are decisions, approval and refusal alike: 200.
        assert_eq!(
            post(&ActivationRequestWebhook::new(t.store.clone()), &body)
                .await
                .0,
            200
        );
        // Decisions are ordered by their millisecond timestamps; keep them apart.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let shown = show_json(table, "u1").await;
    let activations = shown["activations"].as_array().unwrap();
    assert_eq!(activations.len(), 2);
    assert_eq!(activations[0]["activationId"], "second");
    assert_eq!(activations[0]["decision"], "FAIL");
    assert_eq!(activations[0]["reason"], "no_units_left");
    assert_eq!(activations[1]["activationId"], "first");
    assert_eq!(activations[1]["decision"], "SUCCESS");
    assert_eq!(shown["entitlements"][0]["unitsUsed"], 1);
}

#[tokio::test]
async fn failures_exit_1_with_a_clear_message() {
    let t = TestTable::new().await;
    let table = t.name.as_str();
    let (code, out, err) = cli_on(table, &["show", "--user-token", "nobody"]).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: nothing is stored for this user\n");
    let revoke = ["revoke", "--user-token", "nobody", "--item", "1_GB"];
    let (code, _, err) = cli_on(table, &revoke).await;
    assert_eq!(code, 1);
    assert_eq!(err, "error: user has no entitlement to 1_GB\n");
    let (code, _, err) = cli_on("no-such-table", &["show", "--user-token", "u1"]).await;
    assert_eq!(code, 1);
    assert!(err.starts_with("error: DynamoDB Query failed"), "{err}");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    // `args` on a table named `t`: each case is refused before any table is looked at.
    let on_t = |args: Vec<&'static str>| [vec!["--table", "t"], args].concat();
    for args in [
        vec!["grant", "--user-token", "u1"],
        on_t(grant_args("u1", "1_GB", &["--quantity", "0"])),
        on_t(grant_args("u1", "1_GB", &["--quantity", "-1"])),
        on_t(grant_args("u1", "1_GB", &["--email", "not-an-email"])),
        on_t(grant_args("u1", "1_GB", &["--expires-at", "tomorrow"])),
        on_t(grant_args("", "1_GB", &[])),
        vec!["--table", "t", "frobnicate"],
        vec!["--table", "", "show", "--user-token", "u1"],
    ] {
        let (code, out, err) = cli(&args).await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
    let (code, out, _) = cli(&["--help"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("grant") && out.contains("revoke") && out.contains("show"));
}

#[tokio::test]
async fn create_table_builds_the_table_the_template_declares() {
    let table = format!("cli-created-{}", std::process::id());
    let template = root().join("template.yaml");
    let (code, out, err) = cli_on(
        &table,
        &["create-table", "--template", template.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("created table {table}")));
    let described = client()
        .0
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let description = described.table().unwrap();
    let keys: Vec<&str> = description
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(keys, ["pk", "sk"]);
    let indexes: Vec<&str> = description
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    assert_eq!(indexes, ["gsi1", "gsi2"]);
    let stream = description.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        Some("NEW_AND_OLD_IMAGES"),
        "the stream the event publisher reads"
    );

    let (code, _, err) = cli_on(&table, &["create-table", "--template", "missing.yaml"]).await;
    assert_eq!(code, 1);
    assert!(err.starts_with("error: cannot read missing.yaml"), "{err}");
}

#[tokio::test]
async fn esim_shows_current_state_and_history_newest_first() {
    let t = TestTable::new().await;
    for state in ["RELEASED", "INSTALLED", "DISABLED"] {
        let body = serde_json::json!({"iccid": "89361123300836129514", "imsi": "260216611193634", "profileState": state}).to_string();
        assert_eq!(
            post(&EsimStatusWebhook(t.store.clone()), &body).await.0,
            200
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let table = t.name.as_str();
    let esim = ["esim", "--iccid", "89361123300836129514"];
    let (code, out, err) = cli_on(table, &[&esim[..], &["--json"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["current"]["profileState"], "DISABLED");
    assert_eq!(shown["current"]["iccid"], "89361123300836129514");
    let states: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["profileState"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["DISABLED", "INSTALLED", "RELEASED"]);

    let (code, out, _) = cli_on(table, &esim).await;
    assert_eq!(code, 0);
    assert!(out.contains("state:    DISABLED"), "{out}");
    let (code, _, err) = cli_on(table, &["esim", "--iccid", "893611233008361295"]).await;
    assert_eq!(
        (code, err.as_str()),
        (1, "error: nothing was ever received for this eSIM\n")
    );
    let (code, _, err) = cli_on(table, &["esim", "--iccid", "12"]).await;
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn show_finds_a_user_by_customer_id() {
    let t = TestTable::new().await;
    let table = t.name.as_str();
    let email = ["--email", "u1@example.com"];
    assert_eq!(cli_grant(table, "u1", "1_GB", &email).await.0, 0);
    let body = serde_json::json!({"userToken": "u1", "customerUid": "c-77"}).to_string();
    let registration = CustomerRegistrationWebhook(t.store.clone());
    assert_eq!(post(&registration, &body).await.0, 200);

    let (code, out, err) = cli_on(table, &["show", "--customer-uid", "c-77", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["userToken"], "u1");
    assert_eq!(shown["customerUid"], "c-77");
    let (code, _, err) = cli_on(table, &["show", "--customer-uid", "c-78"]).await;
    assert_eq!(
        (code, err.as_str()),
        (1, "error: no user is registered with this customer id\n")
    );
    let both = ["show", "--customer-uid", "c-77", "--user-token", "u1"];
    let (code, _, _) = cli_on(table, &both).await;
    assert_eq!(code, 2);
}

#[tokio::test]
async fn grant_with_a_purchase_id_applies_once() {
    let t = TestTable::new().await;
    let table = t.name.as_str();
    let options = ["--quantity", "2", "--purchase-id", "order-1"];
    let (code, out, _) = cli_grant(table, "u1", "1_GB", &options).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "granted 2 x 1_GB: 2 left, 0 used, 2 granted\n")
    );
    let (code, out, _) = cli_grant(table, "u1", "1_GB", &options).await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "already granted, nothing added: 1_GB: 2 left, 0 used, 2 granted\n"
        )
    );
    let reused = ["--quantity", "2", "--purchase-id", "order-1"];
    let (code, _, err) = cli_grant(table, "u2", "1_GB", &reused).await;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: this purchase id was already granted with another userToken: nothing added\n"
    );
}

const EVENT_USER: &str = "USER_TOKEN_1234567";
const EVENT_CUSTOMER: &str = "058c8716-47dd-4fc4-be89-00978a86b7c0";
const EVENT_ICCID: &str = "89361123300836129514";

/// An eSIM Status body for `EVENT_ICCID`.
fn esim_status(state: &str) -> String {
    serde_json::json!({"iccid": EVENT_ICCID, "imsi": "260216611193634", "profileState": state})
        .to_string()
}

/// The JSON lines of `events --json` output.
fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn events_prints_one_line_per_accepted_webhook_and_none_for_a_redelivery() {
    let t = TestTable::with_stream().await;
    let table = t.name.as_str();
    // A grant: its purchase is an event, its profile and entitlement none.
    demo_user(&t.store).await;
    let registration = CustomerRegistrationWebhook(t.other_store());
    let registered =
        serde_json::json!({"userToken": EVENT_USER, "customerUid": EVENT_CUSTOMER}).to_string();
    assert_eq!(post(&registration, &registered).await.0, 200);
    assert_eq!(post(&registration, &registered).await.0, 200, "redelivery");
    let activation = ActivationRequestWebhook::new(t.other_store());
    let approve = serde_json::json!({"inventoryItemId": "1_GB", "userToken": EVENT_USER, "activationId": "act-1"}).to_string();
    assert_eq!(post(&activation, &approve).await.1["returnCode"], "SUCCESS");
    let esim = EsimStatusWebhook(t.other_store());
    let installed = esim_status("INSTALLED");
    assert_eq!(post(&esim, &installed).await.1["status"], "recorded");
    assert_eq!(post(&esim, &installed).await.1["status"], "unchanged");

    let (code, out, err) = cli_on(table, &["events", "--json"]).await;
    assert_eq!((code, err.as_str()), (0, ""));
    let events = json_lines(&out);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "purchase.granted",
            "customer.registered",
            "activation.decided",
            "esim.status_changed"
        ],
        "{out}"
    );
    let ids: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "each its stream record's id: {out}");
    assert!(ids.iter().all(|id| !id.is_empty()));
    for e in &events {
        let sequence = e["sequence"].as_str().unwrap_or_default();
        assert_eq!(sequence.len(), 40, "as published: {out}");
        assert!(
            e["subject"].as_str().is_some_and(|s| !s.is_empty()),
            "{out}"
        );
    }
    for e in &events[..3] {
        assert_eq!(e["userToken"], EVENT_USER);
        assert_eq!(e["customerUid"], EVENT_CUSTOMER, "enriched as published");
    }
    assert_eq!(events[0]["details"]["inventoryItemId"], "1_GB");
    assert_eq!(events[0]["details"]["quantity"], 2);
    assert_eq!(events[1]["details"], serde_json::json!({"knownUser": true}));
    assert_eq!(events[2]["details"]["activationId"], "act-1");
    assert_eq!(events[2]["details"]["decision"], "SUCCESS");
    assert_eq!(events[3]["iccid"], EVENT_ICCID);
    assert_eq!(events[3]["details"]["profileState"], "INSTALLED");

    // The same events, again (the stream keeps them), one readable line each.
    let (code, out, _) = cli_on(table, &["events"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].contains("purchase.granted"), "{out}");
    assert!(lines[1].contains("customer.registered"), "{out}");
    assert!(lines[1].contains(&format!("user={EVENT_USER}")), "{out}");
    assert!(lines[2].contains(r#""activationId":"act-1""#), "{out}");
    assert!(lines[3].contains(&format!("iccid={EVENT_ICCID}")), "{out}");
    for id in &ids {
        assert_eq!(out.matches(id).count(), 1, "{out}");
    }
}

#[tokio::test]
async fn events_follow_prints_events_as_webhooks_arrive() {
    let t = TestTable::with_stream().await;
    let esim = EsimStatusWebhook(t.other_store());
    assert_eq!(
        post(&esim, &esim_status("INSTALLED")).await.1["status"],
        "recorded"
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args = [
        "--table",
        &t.name,
        "events",
        "--follow",
        "--from-start",
        "--json",
    ];
    let argv = std::iter::once("entitlements").chain(args);
    let following = entitlements::run(argv, || async { cli_clients() }, &mut out, &mut err);
    // Following ends only when interrupted: here, when the test stops waiting.
    let following = tokio::time::timeout(std::time::Duration::from_secs(6), following);
    let later = async {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let disabled = post(&esim, &esim_status("DISABLED")).await;
        assert_eq!(disabled.1["status"], "recorded");
    };
    let (ended, ()) = tokio::join!(following, later);
    assert!(ended.is_err(), "still following");
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    let events = json_lines(&String::from_utf8(out).unwrap());
    let states: Vec<&str> = events
        .iter()
        .map(|e| e["details"]["profileState"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["INSTALLED", "DISABLED"]);
}

/// The user hash key `forget` is given in `forget_erases_with_the_functions_key_or_changes_nothing`
/// (a test value).
const HASH_KEY: &str = "integration-test-user-hash-key-0123456789";

#[tokio::test]
async fn forget_erases_with_the_functions_key_or_changes_nothing() {
    let t = TestTable::new().await;
    let table = t.name.as_str();
    let options = ["--email", "forget@example.com", "--purchase-id", "p-forget"];
    assert_eq!(cli_grant(table, "forget-me", "1_GB", &options).await.0, 0);
    // The only test that sets these variables.
    std::env::remove_var("USER_HASH_KEY");
    std::env::remove_var("USER_HASH_KEY_ARN");
    let before = show_json(table, "forget-me").await;
    let (code, out, err) = cli_on(table, &["forget", "--user-token", "forget-me"]).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with("error: no user hash key: set USER_HASH_KEY_ARN"),
        "{err}"
    );
    assert_eq!(
        show_json(table, "forget-me").await,
        before,
        "nothing changed"
    );

    std::env::set_var("USER_HASH_KEY", HASH_KEY);
    let forget = ["forget", "--user-token", "forget-me", "--json"];
    let (code, out, err) = cli_on(table, &forget).await;
    assert_eq!(code, 0, "{err}");
    let erased: Value = serde_json::from_str(&out).unwrap();
    let user = shared::domain::ids::UserToken::parse("forget-me").unwrap();
    let key = shared::domain::erasure::UserHashKey::new(HASH_KEY.as_bytes()).unwrap();
    let hash = key.hash(&user);
    assert_eq!(erased["userHash"], hash.as_str());
    assert_eq!(
        (
            &erased["erased"],
            &erased["profiles"],
            &erased["entitlements"],
            &erased["purchases"]
        ),
        (
            &Value::from(true),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        )
    );
    // Again, for people: nothing left.
    let (code, out, _) = cli_on(table, &["forget", "--user-token", "forget-me"]).await;
    assert_eq!(
        (code, out),
        (0, format!("nothing left to erase: user {hash}\n"))
    );
    let (code, _, err) = cli_on(table, &["show", "--user-token", "forget-me"]).await;
    assert_eq!(
        (code, err.as_str()),
        (1, "error: nothing is stored for this user\n")
    );
    std::env::remove_var("USER_HASH_KEY");
}
