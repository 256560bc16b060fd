//! `template.yaml` against the workspace: every function has a route and every route a
//! function, the deployment settings the issue fixes, least privilege, and the metric names.
//! The webhooks come from their registry; the purchase API, which is no webhook, is checked
//! by name: its routes, their IAM authorization and the one role that may call them. So are the
//! two functions without a route: the event publisher (the table's stream) and fulfilment (a
//! schedule, and the bus's rule for a top-up bought, which the publisher's own entries match).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use entitlements::webhooks::described;
use serde_yaml::Value;
use shared::domain::deadline::Deadline;
use shared::domain::events;
use shared::domain::ids::CustomerUid;
use shared::domain::payload::FromBody;
use shared::domain::purchase::{Grant, Purchase};
use shared::runtime::telemetry::NAMESPACE;
use shared::testkit::InMemoryStore;
use time::OffsetDateTime;

/// The purchase API's function (no webhook: IAM-signed calls from the reseller's purchase
/// system).
const PURCHASE_API: &str = "purchase-api";

/// The purchase API's routes, every one with API Gateway's IAM authorization: the ones its
/// handler serves.
const PURCHASE_API_ROUTES: [&str; 5] = purchase_api::routes::ROUTES;

/// The function that works through the due top-ups (no route: a schedule and a bus rule).
const FULFILMENT: &str = fulfilment::FUNCTION;
/// Its function's logical name (SAM names the rules it generates after it and the event).
const FULFILMENT_FUNCTION: &str = "FulfilmentFunction";
/// Where its triggers go when they are not run.
const FULFILMENT_QUEUE: &str = "FulfilmentDeadLetterQueue";
/// The secret holding Gigastore's API credentials, read by fulfilment only.
const GIGASTORE_CREDENTIALS_SECRET: &str = "GigastoreCredentialsSecret";

/// Every metric name a function emits: the pipeline's, each webhook's, the purchase API's,
/// the publisher's, fulfilment's.
fn metric_names() -> Vec<&'static str> {
    let webhooks = described()
        .into_iter()
        .flat_map(|w| w.metrics.iter().copied());
    shared::webhook::reply::METRICS
        .into_iter()
        .chain(webhooks)
        .chain(purchase_api::METRICS)
        .chain(event_publisher::METRICS)
        .chain(fulfilment::METRICS)
        .collect()
}

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
        .collect()
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// `!Ref X` / `!GetAtt X.Arn` as "Ref X" / "GetAtt X.Arn".
fn tag(v: &Value) -> String {
    match v {
        Value::Tagged(t) => format!(
            "{} {}",
            t.tag.to_string().trim_start_matches('!'),
            t.value.as_str().unwrap_or("")
        ),
        other => format!("{other:?}"),
    }
}

/// The workspace's function crates, by directory name.
fn workspace_functions() -> BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("functions");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// An `HttpApi` event's route, `METHOD /path`, checked to be on the one API.
fn route_of(name: &str, event: &Value) -> String {
    assert_eq!(event["Type"], "HttpApi", "{name}");
    assert_eq!(
        tag(&event["Properties"]["ApiId"]),
        "Ref HttpApi",
        "{name}: one API for all"
    );
    format!(
        "{} {}",
        event["Properties"]["Method"].as_str().unwrap(),
        event["Properties"]["Path"].as_str().unwrap()
    )
}

/// The authorizer an `HttpApi` event asks for, if any.
fn authorizer_of(event: &Value) -> Option<&str> {
    event["Properties"]["Auth"]["Authorizer"].as_str()
}

#[test]
fn every_function_has_its_route_and_every_route_a_function() {
    let t = template();
    let mut routes = BTreeMap::new();
    let mut stream_readers = BTreeSet::new();
    let mut scheduled = BTreeSet::new();
    let mut purchase_api_routes = BTreeSet::new();
    let mut every_route = BTreeSet::new();
    for (name, function) in of_type(&t, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        let events = function["Properties"]["Events"].as_mapping().unwrap();
        if binary == PURCHASE_API {
            for event in events.values() {
                let route = route_of(&name, event);
                assert_eq!(
                    authorizer_of(event),
                    Some("AWS_IAM"),
                    "{name}: {route} takes only IAM-signed calls"
                );
                assert!(every_route.insert(route.clone()), "{route}: one function");
                purchase_api_routes.insert(route);
            }
            continue;
        }
        if binary == FULFILMENT {
            // Its triggers: `fulfilment_runs_every_minute_and_for_each_top_up_bought`.
            assert!(
                events.values().all(|e| e["Type"] != "HttpApi"),
                "{name}: no route"
            );
            scheduled.insert(binary);
            continue;
        }
        assert_eq!(events.len(), 1, "{name} serves one route");
        let event = events.values().next().unwrap();
        if event["Type"] == "DynamoDB" {
            assert_stream_trigger(&name, &event["Properties"]);
            stream_readers.insert(binary);
            continue;
        }
        let route = route_of(&name, event);
        // Gigastore cannot sign: a webhook authenticates with its secret, never with IAM.
        assert!(
            event["Properties"].get("Auth").is_none(),
            "{name}: {route} has no API Gateway authorizer"
        );
        assert!(every_route.insert(route.clone()), "{route}: one function");
        assert!(
            routes.insert(binary, route).is_none(),
            "{name}: one function per binary"
        );
    }
    assert_eq!(
        stream_readers,
        BTreeSet::from(["event-publisher".to_owned()]),
        "the publisher is the one function on the stream"
    );
    assert_eq!(
        scheduled,
        BTreeSet::from([FULFILMENT.to_owned()]),
        "fulfilment is the one function on a schedule"
    );
    assert_eq!(
        purchase_api_routes,
        BTreeSet::from(PURCHASE_API_ROUTES.map(str::to_owned)),
        "the purchase API serves exactly its five routes"
    );
    let deployed: BTreeSet<String> = routes
        .keys()
        .cloned()
        .chain(stream_readers)
        .chain(scheduled)
        .chain([PURCHASE_API.to_owned()])
        .collect();
    assert_eq!(
        deployed,
        workspace_functions(),
        "no route without a function, no function without a route, its stream or its schedule"
    );

    let served: BTreeMap<String, String> = described()
        .into_iter()
        .map(|w| (w.function.to_owned(), w.route.to_owned()))
        .collect();
    assert_eq!(
        routes, served,
        "each function is deployed on the route its handler serves"
    );
}

#[test]
fn iam_authorization_is_available_on_the_api_but_no_default() {
    let t = template();
    let api = &t["Resources"]["HttpApi"]["Properties"];
    assert_eq!(
        api["Auth"]["EnableIamAuthorizer"], true,
        "routes may ask for AWS_IAM"
    );
    assert!(
        api["Auth"].get("DefaultAuthorizer").is_none(),
        "no default: the webhooks stay callable by Gigastore, which cannot sign"
    );
    assert!(
        api["Auth"].get("Authorizers").is_none(),
        "IAM is the only authorizer"
    );
}

/// The publisher's stream trigger: from the start of the table's stream, partial batch
/// failures, bounded retries, and a dead-letter queue for what it gives up on.
fn assert_stream_trigger(name: &str, p: &Value) {
    assert_eq!(
        tag(&p["Stream"]),
        "GetAtt EntitlementTable.StreamArn",
        "{name}"
    );
    assert_eq!(p["StartingPosition"], "TRIM_HORIZON", "{name}");
    assert_eq!(
        p["FunctionResponseTypes"][0], "ReportBatchItemFailures",
        "{name}"
    );
    assert_eq!(p["BisectBatchOnFunctionError"], true, "{name}");
    assert!(
        p["MaximumRetryAttempts"].as_u64().is_some(),
        "{name}: bounded retries"
    );
    assert!(p["MaximumRecordAgeInSeconds"].as_u64().is_some(), "{name}");
    assert!(
        p["BatchSize"].as_u64().is_some() && p["MaximumBatchingWindowInSeconds"].as_u64().is_some()
    );
    let on_failure = &p["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS", "{name}");
    assert_eq!(
        tag(&on_failure["Destination"]),
        "GetAtt EventDeadLetterQueue.Arn",
        "{name}"
    );
    let t = template();
    assert_eq!(
        t["Resources"]["EntitlementTable"]["Properties"]["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
}

#[test]
fn functions_are_arm64_rust_with_tracing_and_json_logs() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Tracing"], "Active");
    assert!(globals["MemorySize"].as_u64().unwrap() <= 256);
    let log_groups: BTreeSet<String> = of_type(&t, "AWS::Logs::LogGroup")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for (name, function) in of_type(&t, "AWS::Serverless::Function") {
        let logging = &function["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{name}");
        let group = tag(&logging["LogGroup"]);
        assert!(
            log_groups.contains(group.trim_start_matches("Ref ")),
            "{name}: explicit log group"
        );
    }
    for (name, group) in of_type(&t, "AWS::Logs::LogGroup") {
        assert_eq!(
            tag(&group["Properties"]["RetentionInDays"]),
            "Ref LogRetentionDays",
            "{name}"
        );
    }
}

/// The user token secret the stack generates when UserTokenVerification is hs256 and no
/// secret is named.
const USER_TOKEN_SECRET: &str = "UserTokenJwtSecret";
/// The key of the keyed hash erased users are named by.
const USER_HASH_KEY_SECRET: &str = "UserHashKeySecret";
/// The ARN of the user token secret, generated or named: what the functions get and may read.
const USER_TOKEN_SECRET_ARN: &str =
    "If [GeneratesUserTokenSecret, Ref UserTokenJwtSecret, Ref UserTokenJwtSecretArn]";

/// The one webhook secret the stack creates, by logical name: every secret but the user
/// token secret, which exists only with its condition, the user hash key and Gigastore's API
/// credentials.
fn webhook_secret(t: &Value) -> (String, &Value) {
    let others = [
        USER_TOKEN_SECRET,
        USER_HASH_KEY_SECRET,
        GIGASTORE_CREDENTIALS_SECRET,
    ];
    let secrets: Vec<_> = of_type(t, "AWS::SecretsManager::Secret")
        .into_iter()
        .filter(|(name, _)| !others.contains(&name.as_str()))
        .collect();
    assert_eq!(secrets.len(), 1, "one webhook secret");
    secrets.into_iter().next().unwrap()
}

/// The one output whose value names `resource` (through `!Ref`, `!GetAtt`, `!Sub` or inside an
/// `!If`), as (its name, the output); fails unless exactly one does.
fn the_output_naming<'a>(t: &'a Value, resource: &str) -> (&'a Value, &'a Value) {
    let naming: Vec<(&Value, &Value)> = t["Outputs"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, o)| shown(&o["Value"]).contains(resource))
        .collect();
    assert_eq!(naming.len(), 1, "one output names {resource}");
    naming[0]
}

/// `!If [condition, a, b]` (and nested ones) as "If [condition, a, b]", with `tag` inside.
fn shown(v: &Value) -> String {
    match v {
        Value::Tagged(t) if t.value.is_sequence() => {
            let items: Vec<String> = t
                .value
                .as_sequence()
                .unwrap()
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => shown(other),
                })
                .collect();
            format!(
                "{} [{}]",
                t.tag.to_string().trim_start_matches('!'),
                items.join(", ")
            )
        }
        other => tag(other),
    }
}

#[test]
fn each_function_may_only_call_dynamodb_on_the_table_and_read_the_secret() {
    let t = template();
    let secret = format!("Ref {}", webhook_secret(&t).0);
    let hash_key = format!("Ref {USER_HASH_KEY_SECRET}");
    let credentials = format!("Ref {GIGASTORE_CREDENTIALS_SECRET}");
    for (name, function) in of_type(&t, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str();
        let publisher = binary == Some("event-publisher");
        let purchase_api = binary == Some(PURCHASE_API);
        let fulfilment = binary == Some(FULFILMENT);
        let names_users = matches!(binary, Some("activation-request" | "customer-registration"));
        // Erasure and finding an erased user's records; a redelivered Activation Request for
        // an erased user's activation id.
        let hashes_users = matches!(binary, Some("activation-request" | PURCHASE_API));
        let policies = function["Properties"]["Policies"].as_sequence().unwrap();
        assert_eq!(policies.len(), 1, "{name}");
        let mut reads_secret = 0;
        let mut reads_user_token_secret = 0;
        let mut reads_hash_key = 0;
        let mut reads_credentials = 0;
        let mut table_actions = Vec::new();
        for statement in policies[0]["Statement"].as_sequence().unwrap() {
            // Only with its condition: `!If [VerifiesUserTokensWithSecret, statement, none]`.
            if let Value::Tagged(conditional) = statement {
                let parts = conditional.value.as_sequence().unwrap();
                assert_eq!(conditional.tag.to_string(), "!If", "{name}");
                assert_eq!(parts[0], "VerifiesUserTokensWithSecret", "{name}");
                assert_eq!(tag(&parts[2]), "Ref AWS::NoValue", "{name}");
                let statement = &parts[1];
                assert_eq!(statement["Effect"], "Allow");
                assert_eq!(
                    statement["Action"].as_sequence().unwrap(),
                    &[Value::from("secretsmanager:GetSecretValue")],
                    "{name}: reads only"
                );
                assert_eq!(
                    shown(&statement["Resource"]),
                    USER_TOKEN_SECRET_ARN,
                    "{name}"
                );
                reads_user_token_secret += 1;
                continue;
            }
            assert_eq!(statement["Effect"], "Allow");
            let actions: Vec<&str> = statement["Action"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            match tag(&statement["Resource"]).as_str() {
                "GetAtt EntitlementTable.Arn" if publisher => {
                    assert_eq!(actions, ["dynamodb:GetItem"], "{name}: reads only");
                }
                // A top-up read, and its moves, each conditional on its version: no put, no
                // delete, no transaction.
                "GetAtt EntitlementTable.Arn" if fulfilment => {
                    assert_eq!(
                        actions,
                        ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                        "{name}: reads and moves top-ups only"
                    );
                }
                // The due top-ups; nobody else reads that index.
                "Sub ${EntitlementTable.Arn}/index/gsi2" if fulfilment => {
                    assert_eq!(actions, ["dynamodb:Query"], "{name}: reads only");
                }
                resource if resource == credentials => {
                    assert!(
                        fulfilment,
                        "{name}: only fulfilment reads Gigastore's credentials"
                    );
                    assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{name}");
                    reads_credentials += 1;
                }
                "Sub ${EntitlementTable.Arn}/index/gsi1" if publisher || purchase_api => {
                    assert_eq!(actions, ["dynamodb:Query"], "{name}: reads only");
                }
                "GetAtt EventBus.Arn" if publisher => {
                    assert_eq!(actions, ["events:PutEvents"], "{name}: its bus only");
                }
                "GetAtt EntitlementTable.Arn" => {
                    table_actions.extend(actions.iter().copied());
                    for action in actions {
                        // Item actions and Query only: no Scan, no table-wide or batch action.
                        assert!(
                            [
                                "dynamodb:GetItem",
                                "dynamodb:PutItem",
                                "dynamodb:UpdateItem",
                                "dynamodb:DeleteItem",
                                "dynamodb:ConditionCheckItem",
                                "dynamodb:Query",
                            ]
                            .contains(&action),
                            "{name}: {action}"
                        );
                        assert!(
                            action != "dynamodb:DeleteItem" || purchase_api,
                            "{name}: only erasure deletes"
                        );
                    }
                }
                resource if resource == secret => {
                    assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{name}");
                    reads_secret += 1;
                }
                resource if resource == hash_key => {
                    assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{name}");
                    reads_hash_key += 1;
                }
                other => panic!("{name}: a statement on {other}"),
            }
        }
        let expected = if publisher || purchase_api || fulfilment {
            0
        } else {
            1
        };
        assert_eq!(
            reads_secret, expected,
            "{name}: only webhooks read the secret"
        );
        assert_eq!(
            reads_hash_key,
            usize::from(hashes_users),
            "{name}: only the purchase API and Activation Request read the user hash key"
        );
        assert_eq!(
            reads_user_token_secret,
            usize::from(names_users),
            "{name}: only the functions whose payloads name users read the user token secret"
        );
        assert_eq!(
            reads_credentials,
            usize::from(fulfilment),
            "{name}: fulfilment, and only it, reads Gigastore's credentials"
        );
        if purchase_api {
            // A top-up's grant checks, in its transaction, that the profile still has the
            // customer id the top-up is for.
            assert!(
                table_actions.contains(&"dynamodb:ConditionCheckItem"),
                "{name}: a top-up's grant checks the customer id"
            );
        }
    }
}

#[test]
fn functions_get_the_secret_arn_and_the_allowed_sources() {
    let t = template();
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    let secret = webhook_secret(&t).0;
    assert_eq!(tag(&env["WEBHOOK_SECRET_ARN"]), format!("Ref {secret}"));
    assert!(
        env.get("WEBHOOK_SECRETS").is_none(),
        "no secret value in the environment"
    );
    assert_eq!(tag(&env["ALLOWED_SOURCE_CIDRS"]), "Ref AllowedSourceCidrs");
    // User tokens: off by default; the secret's ARN or the public key, never a secret value.
    assert!(
        env.get("USER_TOKEN_JWT_SECRET").is_none(),
        "no user token secret value in the environment"
    );
    assert_eq!(
        shown(&env["USER_TOKEN_JWT_SECRET_ARN"]),
        format!("If [VerifiesUserTokensWithSecret, {USER_TOKEN_SECRET_ARN}, Ref AWS::NoValue]")
    );
    assert_eq!(
        shown(&env["USER_TOKEN_JWT_PUBLIC_KEY"]),
        "If [VerifiesUserTokensWithPublicKey, Ref UserTokenJwtPublicKey, Ref AWS::NoValue]"
    );
    let verification = &t["Parameters"]["UserTokenVerification"];
    assert_eq!(verification["Default"], "off", "off by default");
    assert_eq!(
        verification["AllowedValues"],
        serde_yaml::from_str::<Value>(r#"["off", hs256, public-key]"#).unwrap()
    );
    let conditions = &t["Conditions"];
    assert_eq!(
        shown(&conditions["VerifiesUserTokensWithSecret"]),
        "Equals [Ref UserTokenVerification, hs256]"
    );
    assert_eq!(
        shown(&conditions["VerifiesUserTokensWithPublicKey"]),
        "Equals [Ref UserTokenVerification, public-key]"
    );
    assert_eq!(
        shown(&conditions["GeneratesUserTokenSecret"]),
        "And [Condition VerifiesUserTokensWithSecret, Equals [Ref UserTokenJwtSecretArn, ]]"
    );
    let rule = &t["Rules"]["UserTokenPublicKeyGiven"];
    assert_eq!(
        shown(&rule["RuleCondition"]),
        "Equals [Ref UserTokenVerification, public-key]",
        "public-key without a key would leave verification off"
    );
    assert_eq!(
        shown(&rule["Assertions"][0]["Assert"]),
        "Not [Equals [Ref UserTokenJwtPublicKey, ]]"
    );
    let cidrs = &t["Parameters"]["AllowedSourceCidrs"];
    assert_eq!(cidrs["Type"], "String");
    assert_eq!(cidrs["Default"], "", "empty allows all");
    let callers = &t["Parameters"]["PurchaseApiCallers"];
    assert_eq!(callers["Type"], "String");
    assert_eq!(
        callers["Default"], "",
        "empty accepts every IAM-authorized caller"
    );
    let hash_key_arn = format!("USER_HASH_KEY_ARN Ref {USER_HASH_KEY_SECRET}");
    let credentials_arn = format!("GIGASTORE_CREDENTIALS_ARN Ref {GIGASTORE_CREDENTIALS_SECRET}");
    for (name, function) in of_type(&t, "AWS::Serverless::Function") {
        let own = &function["Properties"]["Environment"]["Variables"];
        // Each function's own variables, as "NAME value", over the global environment.
        let own_vars: BTreeSet<String> = own
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{} {}", k.as_str().unwrap(), tag(v)))
            .collect();
        let expected =
            |vars: &[&str]| -> BTreeSet<String> { vars.iter().map(|v| (*v).to_owned()).collect() };
        match function["Metadata"]["BuildProperties"]["Binary"].as_str() {
            Some("event-publisher") => {
                assert_eq!(own.as_mapping().map(|m| m.len()), Some(1), "{name}");
                assert_eq!(tag(&own["EVENT_BUS_NAME"]), "Ref EventBus", "{name}");
            }
            // The hash key's ARN, never its value (USER_HASH_KEY is for local runs only).
            Some("activation-request") => {
                assert_eq!(own_vars, expected(&[hash_key_arn.as_str()]), "{name}")
            }
            // Gigastore's settings do not apply to IAM callers, nor user token verification
            // to the purchase system's user ids: taken out of the global environment.
            Some(PURCHASE_API) => assert_eq!(
                own_vars,
                expected(&[
                    hash_key_arn.as_str(),
                    "PURCHASE_API_CALLERS Ref PurchaseApiCallers",
                    "WEBHOOK_SECRET_ARN Ref AWS::NoValue",
                    "ALLOWED_SOURCE_CIDRS Ref AWS::NoValue",
                    "USER_TOKEN_JWT_SECRET_ARN Ref AWS::NoValue",
                    "USER_TOKEN_JWT_PUBLIC_KEY Ref AWS::NoValue",
                ]),
                "{name}"
            ),
            // Gigastore's API: its URL, the credentials secret's ARN (never the credentials:
            // GIGASTORE_CLIENT_ID/SECRET are for local runs only) and the settle time; the
            // webhooks' settings taken out.
            Some(FULFILMENT) => assert_eq!(
                own_vars,
                expected(&[
                    "GIGASTORE_API_URL Ref GigastoreApiUrl",
                    credentials_arn.as_str(),
                    "TOPUP_SETTLE Ref TopUpSettle",
                    "WEBHOOK_SECRET_ARN Ref AWS::NoValue",
                    "ALLOWED_SOURCE_CIDRS Ref AWS::NoValue",
                    "USER_TOKEN_JWT_SECRET_ARN Ref AWS::NoValue",
                    "USER_TOKEN_JWT_PUBLIC_KEY Ref AWS::NoValue",
                ]),
                "{name}"
            ),
            _ => assert!(
                function["Properties"].get("Environment").is_none(),
                "{name}: the global environment applies as is"
            ),
        }
        assert!(
            own.get("USER_HASH_KEY").is_none(),
            "{name}: no hash key value in the environment"
        );
        for credential in ["GIGASTORE_CLIENT_ID", "GIGASTORE_CLIENT_SECRET"] {
            assert!(own.get(credential).is_none(), "{name}: {credential}");
            assert!(env.get(credential).is_none(), "{credential}");
        }
    }
    // Gigastore's API by default, over https only; the settle time as the function reads it,
    // and the same default as the code's.
    let url = &t["Parameters"]["GigastoreApiUrl"];
    assert_eq!(url["Type"], "String");
    assert_eq!(url["Default"], "https://api.giga.store");
    assert!(
        url["AllowedPattern"]
            .as_str()
            .unwrap()
            .starts_with("^https://"),
        "the credentials travel over https only"
    );
    let settle = &t["Parameters"]["TopUpSettle"];
    assert_eq!(settle["Type"], "String");
    assert_eq!(settle["AllowedPattern"], "^[0-9]+[smh]$");
    assert_eq!(
        fulfilment::parse_duration(settle["Default"].as_str().unwrap()),
        Ok(fulfilment::DEFAULT_SETTLE),
        "the template's default is the code's"
    );
    assert!(env.get("USER_HASH_KEY").is_none());
    assert!(
        env.get("USER_HASH_KEY_ARN").is_none(),
        "only the functions that hash users get the key"
    );
}

#[test]
fn the_secret_stays_out_of_the_template_outputs_and_access_logs() {
    let t = template();
    let (name, secret) = webhook_secret(&t);
    let generated = &secret["Properties"]["GenerateSecretString"];
    assert_eq!(generated["PasswordLength"], 48);
    assert_eq!(generated["ExcludePunctuation"], true, "URL-safe");
    assert!(
        secret["Properties"].get("SecretString").is_none(),
        "generated, never written in the template"
    );
    assert!(
        t["Parameters"]
            .as_mapping()
            .unwrap()
            .values()
            .all(|p| p.get("NoEcho").is_none()),
        "no secret passes through sam deploy"
    );
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
            .unwrap();
    assert!(
        !text.contains("resolve:secretsmanager"),
        "no dynamic reference puts the value anywhere"
    );
    // Any output value that mentions the secret (`!Ref`, `!GetAtt`, `!Sub`) must be its ARN.
    let (_, output) = the_output_naming(&t, &name);
    assert_eq!(tag(&output["Value"]), format!("Ref {name}"), "its ARN only");
    // The user token secret: generated only when hs256 is chosen without a secret of yours,
    // free of commas (they separate secrets), and only its ARN is an output.
    let user_tokens = &t["Resources"][USER_TOKEN_SECRET];
    assert_eq!(user_tokens["Condition"], "GeneratesUserTokenSecret");
    let generated = &user_tokens["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
    assert_eq!(generated["ExcludePunctuation"], true, "no commas");
    assert!(user_tokens["Properties"].get("SecretString").is_none());
    let exposed = the_output_naming(&t, USER_TOKEN_SECRET);
    assert_eq!(exposed.0, "UserTokenJwtSecretArn");
    assert_eq!(exposed.1["Condition"], "VerifiesUserTokensWithSecret");
    assert_eq!(
        shown(&exposed.1["Value"]),
        USER_TOKEN_SECRET_ARN,
        "its ARN only"
    );
    // The user hash key: generated, long, kept with the table (the hashes in it mean nothing
    // without it), and only its ARN is an output.
    let hash_key = &t["Resources"][USER_HASH_KEY_SECRET];
    assert_eq!(hash_key["Type"], "AWS::SecretsManager::Secret");
    assert!(hash_key.get("Condition").is_none(), "erasure is always on");
    assert_eq!(hash_key["DeletionPolicy"], "Retain");
    assert_eq!(hash_key["UpdateReplacePolicy"], "Retain");
    let generated = &hash_key["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
    assert!(hash_key["Properties"].get("SecretString").is_none());
    let exposed = the_output_naming(&t, USER_HASH_KEY_SECRET);
    assert_eq!(exposed.0, "UserHashKeySecretArn");
    assert_eq!(
        tag(&exposed.1["Value"]),
        format!("Ref {USER_HASH_KEY_SECRET}"),
        "its ARN only"
    );
    // Gigastore's API credentials: no value in the template at all, neither written nor
    // generated (CloudFormation then creates an empty secret, whose value the operator puts,
    // and no deploy ever writes one over it), and only its ARN is an output.
    let credentials = &t["Resources"][GIGASTORE_CREDENTIALS_SECRET];
    assert_eq!(credentials["Type"], "AWS::SecretsManager::Secret");
    assert!(credentials.get("Condition").is_none());
    for property in ["SecretString", "GenerateSecretString"] {
        assert!(
            credentials["Properties"].get(property).is_none(),
            "the operator sets the credentials: no {property}"
        );
    }
    let exposed = the_output_naming(&t, GIGASTORE_CREDENTIALS_SECRET);
    assert_eq!(exposed.0, "GigastoreCredentialsSecretArn");
    assert_eq!(
        tag(&exposed.1["Value"]),
        format!("Ref {GIGASTORE_CREDENTIALS_SECRET}"),
        "its ARN only"
    );
    let api = &of_type(&t, "AWS::Serverless::HttpApi")[0].1["Properties"];
    let format = api["AccessLogSettings"]["Format"].as_str().unwrap();
    for leak in ["$context.path", "queryString", "$context.requestOverride"] {
        assert!(
            !format.contains(leak),
            "access log format must not contain {leak}"
        );
    }
    assert_eq!(
        tag(&api["DefaultRouteSettings"]["ThrottlingRateLimit"]),
        "Ref ApiRateLimit"
    );
    assert_eq!(
        tag(&api["DefaultRouteSettings"]["ThrottlingBurstLimit"]),
        "Ref ApiBurstLimit"
    );
}

#[test]
fn the_table_is_kept_and_protected() {
    let t = template();
    let tables = of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1);
    let table = tables[0].1;
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    assert_eq!(table["Properties"]["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["Properties"]["SSESpecification"]["SSEEnabled"], true);
}

#[test]
fn alarms_and_dashboard_use_only_metric_names_the_functions_emit() {
    let t = template();
    let emitted: BTreeSet<&str> = metric_names().into_iter().collect();
    let mut used = BTreeSet::new();
    for (_, alarm) in of_type(&t, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        if p["Namespace"] == NAMESPACE {
            used.insert(p["MetricName"].as_str().unwrap().to_owned());
        }
        for m in p["Metrics"].as_sequence().into_iter().flatten() {
            let metric = &m["MetricStat"]["Metric"];
            if metric["Namespace"] == NAMESPACE {
                used.insert(metric["MetricName"].as_str().unwrap().to_owned());
            }
        }
    }
    let dashboard = serde_yaml::to_string(&of_type(&t, "AWS::CloudWatch::Dashboard")[0].1).unwrap();
    for name in metric_names() {
        if dashboard.contains(&format!("\"{name}\""))
            || dashboard.contains(&format!("\\\"{name}\\\""))
        {
            used.insert(name.to_owned());
        }
    }
    for name in &used {
        assert!(
            emitted.contains(name.as_str()),
            "{name} is not emitted by any function"
        );
    }
    for required in [
        "ActivationApproved",
        "ActivationRefused",
        "AuthRejected",
        "StorageError",
        "StoragePermanentError",
        "SecretUnavailable",
        "ActivationOutcomeUnknown",
        "UserTokenRejected",
    ]
    .into_iter()
    .chain(purchase_api::METRICS)
    .chain(fulfilment::METRICS)
    {
        assert!(used.contains(required), "{required} has no alarm or widget");
    }
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm").len();
    assert_eq!(
        alarms, 19,
        "errors, throttles, 5xx, auth burst, storage, permanent storage errors, secret \
         unavailable, activation outcome unknown, refusal rate, DynamoDB throttling, event \
         dead letters, event publisher failures, poisoned records, stream iterator age, purchase \
         API forbidden, top-ups failed, stuck and refunds failed, fulfilment dead letters"
    );
    // Each of these from the first one in 5 minutes, counted by fulfilment. An unknown outcome
    // has none: it is looked up and settled by itself, and one that lasts is stuck.
    for (alarm, metric) in [
        ("TopUpFailedAlarm", fulfilment::FAILED.name),
        ("TopUpStuckAlarm", fulfilment::STUCK.name),
        ("TopUpRefundFailedAlarm", fulfilment::REFUND_FAILED.name),
    ] {
        let p = &t["Resources"][alarm]["Properties"];
        assert_eq!(p["Namespace"], NAMESPACE, "{alarm}");
        assert_eq!(p["MetricName"], metric, "{alarm}");
        assert_eq!(p["Dimensions"][0]["Name"], "Function", "{alarm}");
        assert_eq!(p["Dimensions"][0]["Value"], FULFILMENT, "{alarm}");
        assert_eq!(p["Statistic"], "Sum", "{alarm}");
        assert_eq!(p["Period"], 300, "{alarm}");
        assert_eq!(p["Threshold"], 1, "{alarm}: the first one");
        assert_eq!(
            p["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{alarm}"
        );
    }
    let dead_letters = &t["Resources"]["FulfilmentDeadLetterAlarm"]["Properties"];
    assert_eq!(
        tag(&dead_letters["Dimensions"][0]["Value"]),
        format!("GetAtt {FULFILMENT_QUEUE}.QueueName")
    );
    let forbidden = &t["Resources"]["PurchaseApiForbiddenAlarm"]["Properties"];
    assert_eq!(forbidden["Namespace"], NAMESPACE);
    assert_eq!(forbidden["MetricName"], "PurchaseApiForbidden");
    assert_eq!(forbidden["Period"], 300);
    assert_eq!(forbidden["Threshold"], 1, "the first one");
    assert_eq!(
        forbidden["ComparisonOperator"],
        "GreaterThanOrEqualToThreshold"
    );
    assert!(used.contains("EventsFailed"), "EventsFailed has no alarm");
    assert!(
        used.contains("EventsPoisoned"),
        "EventsPoisoned has no alarm"
    );
}

#[test]
fn the_low_balance_rule_retries_then_dead_letters_to_a_queue_only_it_may_send_to() {
    let t = template();
    let rule = &t["Resources"]["LowBalanceRule"];
    assert_eq!(rule["Condition"], "HasLowBalanceTopic");
    let targets = rule["Properties"]["Targets"].as_sequence().unwrap();
    assert!(!targets.is_empty());
    for target in targets {
        let retry = &target["RetryPolicy"];
        assert!(
            retry["MaximumEventAgeInSeconds"].as_u64().is_some(),
            "bounded retries"
        );
        assert!(
            retry["MaximumRetryAttempts"].as_u64().is_some(),
            "bounded retries"
        );
        assert_eq!(
            tag(&target["DeadLetterConfig"]["Arn"]),
            "GetAtt LowBalanceDeadLetterQueue.Arn"
        );
    }
    let queue = &t["Resources"]["LowBalanceDeadLetterQueue"];
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    assert_eq!(queue["Condition"], "HasLowBalanceTopic");
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);

    let policies: Vec<(String, &Value)> = of_type(&t, "AWS::SQS::QueuePolicy")
        .into_iter()
        .filter(|(_, p)| {
            p["Properties"]["Queues"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|q| tag(q) == "Ref LowBalanceDeadLetterQueue")
        })
        .collect();
    assert_eq!(policies.len(), 1, "one policy on the queue");
    let policy = policies[0].1;
    assert_eq!(policy["Condition"], "HasLowBalanceTopic");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(s["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(s["Action"], "sqs:SendMessage");
    assert_eq!(tag(&s["Resource"]), "GetAtt LowBalanceDeadLetterQueue.Arn");
    assert_eq!(
        tag(&s["Condition"]["ArnEquals"]["aws:SourceArn"]),
        "GetAtt LowBalanceRule.Arn",
        "for this rule only"
    );
}

/// Every function but the stream's publisher, which has alarms of its own, by logical name:
/// those behind the API, and fulfilment.
fn alarmed_functions(t: &Value) -> BTreeSet<String> {
    of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] != "event-publisher")
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn the_errors_and_throttles_alarms_add_up_every_function_but_the_publisher() {
    let t = template();
    for alarm in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"] {
        let metrics = t["Resources"][alarm]["Properties"]["Metrics"]
            .as_sequence()
            .unwrap();
        let mut ids = BTreeSet::new();
        let mut functions = BTreeSet::new();
        let mut expression = None;
        for m in metrics {
            if let Some(e) = m["Expression"].as_str() {
                assert!(expression.replace(e).is_none(), "{alarm}: one expression");
                continue;
            }
            let metric = &m["MetricStat"]["Metric"];
            assert_eq!(metric["Namespace"], "AWS/Lambda", "{alarm}");
            assert_eq!(m["ReturnData"], false, "{alarm}");
            ids.insert(m["Id"].as_str().unwrap().to_owned());
            let dimension = &metric["Dimensions"][0];
            assert_eq!(dimension["Name"], "FunctionName", "{alarm}");
            functions.insert(
                tag(&dimension["Value"])
                    .trim_start_matches("Ref ")
                    .to_owned(),
            );
        }
        assert_eq!(
            functions,
            alarmed_functions(&t),
            "{alarm}: every function but the publisher"
        );
        assert!(functions.contains(FULFILMENT_FUNCTION), "{alarm}");
        let added: BTreeSet<String> = expression
            .unwrap()
            .split('+')
            .map(|id| id.trim().to_owned())
            .collect();
        assert_eq!(
            added, ids,
            "{alarm}: the expression adds every function's metric"
        );
    }
}

/// The execute-api ARN pattern (in `!Sub` form) IAM matches a route's calls against: any stage,
/// each path parameter a wildcard.
fn invoke_arn(route: &str) -> String {
    let (method, path) = route.split_once(' ').unwrap();
    let path: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "*"
            } else {
                segment
            }
        })
        .collect();
    format!(
        "Sub arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{HttpApi}}/*/{method}{}",
        path.join("/")
    )
}

#[test]
fn the_purchase_system_role_may_invoke_only_the_purchase_api_routes() {
    let t = template();
    let principal = &t["Parameters"]["PurchaseSystemPrincipalArn"];
    assert_eq!(principal["Type"], "String");
    assert_eq!(
        principal["Default"], "",
        "no role unless a principal is named"
    );
    assert_eq!(
        shown(&t["Conditions"]["HasPurchaseSystemPrincipal"]),
        "Not [Equals [Ref PurchaseSystemPrincipalArn, ]]"
    );
    let roles = of_type(&t, "AWS::IAM::Role");
    assert_eq!(
        roles.len(),
        1,
        "the purchase system's role is the one role declared"
    );
    let (name, role) = &roles[0];
    assert_eq!(name, "PurchaseSystemRole");
    assert_eq!(role["Condition"], "HasPurchaseSystemPrincipal");
    let p = &role["Properties"];
    assert!(
        p.get("ManagedPolicyArns").is_none(),
        "nothing but its own policy"
    );
    assert!(p.get("PermissionsBoundary").is_none());

    // Assumed by the named principal only.
    let trust = p["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(trust.len(), 1);
    assert_eq!(trust[0]["Effect"], "Allow");
    assert_eq!(trust[0]["Action"], "sts:AssumeRole");
    let who = trust[0]["Principal"].as_mapping().unwrap();
    assert_eq!(who.len(), 1, "an AWS principal, no service, no federation");
    assert_eq!(
        tag(&trust[0]["Principal"]["AWS"]),
        "Ref PurchaseSystemPrincipalArn"
    );
    assert!(trust[0].get("Condition").is_none());

    // Invokes exactly the purchase API's routes, on this API.
    let policies = p["Policies"].as_sequence().unwrap();
    assert_eq!(policies.len(), 1);
    let statements = policies[0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(
        s["Action"], "execute-api:Invoke",
        "nothing but calling the API"
    );
    let resources: BTreeSet<String> = s["Resource"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(tag)
        .collect();
    let expected: BTreeSet<String> = PURCHASE_API_ROUTES.iter().map(|r| invoke_arn(r)).collect();
    assert_eq!(resources, expected, "the five routes and nothing else");
    // The same routes as those deployed with IAM authorization.
    let iam_routes: BTreeSet<String> = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .flat_map(|(name, f)| {
            f["Properties"]["Events"]
                .as_mapping()
                .unwrap()
                .values()
                .filter(|e| authorizer_of(e) == Some("AWS_IAM"))
                .map(|e| invoke_arn(&route_of(&name, e)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        resources, iam_routes,
        "the role's routes are the IAM-authorized ones"
    );

    let output = &t["Outputs"]["PurchaseSystemRoleArn"];
    assert_eq!(output["Condition"], "HasPurchaseSystemPrincipal");
    assert_eq!(tag(&output["Value"]), "GetAtt PurchaseSystemRole.Arn");
}

/// An EventBridge target's retries: bounded in age and attempts, then to the fulfilment queue.
fn assert_retries_then_dead_letters(name: &str, p: &Value) {
    let retry = &p["RetryPolicy"];
    assert!(
        retry["MaximumEventAgeInSeconds"].as_u64().unwrap() <= 3600,
        "{name}: a late trigger is worth nothing"
    );
    assert!(
        retry["MaximumRetryAttempts"].as_u64().is_some(),
        "{name}: bounded"
    );
    assert_eq!(
        tag(&p["DeadLetterConfig"]["Arn"]),
        format!("GetAtt {FULFILMENT_QUEUE}.Arn"),
        "{name}"
    );
}

#[test]
fn fulfilment_runs_every_minute_and_for_each_top_up_bought() {
    let t = template();
    let function = &t["Resources"][FULFILMENT_FUNCTION];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        FULFILMENT
    );
    let p = &function["Properties"];
    assert!(
        p["Timeout"].as_u64().unwrap() > 60,
        "room for more than one call"
    );
    let triggers = p["Events"].as_mapping().unwrap();
    assert_eq!(triggers.len(), 2, "a schedule and the bus rule");
    let mut rules = BTreeSet::new();
    for (event, trigger) in triggers {
        let event = event.as_str().unwrap();
        let props = &trigger["Properties"];
        match trigger["Type"].as_str().unwrap() {
            // What nothing else triggers: settle times, lapsed leases, refunds, stuck counts.
            "Schedule" => assert_eq!(props["Schedule"], "rate(1 minute)", "{event}"),
            // A top-up bought: the publisher's purchase.granted of a top-up, on the stack's bus.
            "EventBridgeRule" => {
                assert_eq!(tag(&props["EventBusName"]), "Ref EventBus", "{event}");
                let pattern = &props["Pattern"];
                assert_eq!(
                    pattern["source"],
                    serde_yaml::from_str::<Value>(&format!("[{}]", events::SOURCE)).unwrap()
                );
                assert_eq!(
                    pattern["detail-type"][0],
                    events::EventType::PurchaseGranted.as_str()
                );
                assert_eq!(pattern["detail-type"].as_sequence().unwrap().len(), 1);
            }
            other => panic!("{event}: a {other} trigger"),
        }
        assert_retries_then_dead_letters(event, props);
        // SAM's name for the rule it generates.
        rules.insert(format!("GetAtt {FULFILMENT_FUNCTION}{event}.Arn"));
    }

    // Invoked asynchronously: a failed run is retried (boundedly), then recorded in the queue.
    let invoke = &p["EventInvokeConfig"];
    assert!(invoke["MaximumRetryAttempts"].as_u64().unwrap() <= 2);
    assert!(invoke["MaximumEventAgeInSeconds"].as_u64().is_some());
    let on_failure = &invoke["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(
        tag(&on_failure["Destination"]),
        format!("GetAtt {FULFILMENT_QUEUE}.Arn")
    );
    let queue = &t["Resources"][FULFILMENT_QUEUE];
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);

    // EventBridge may send there for these two rules only.
    let policies: Vec<(String, &Value)> = of_type(&t, "AWS::SQS::QueuePolicy")
        .into_iter()
        .filter(|(_, p)| {
            p["Properties"]["Queues"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|q| tag(q) == format!("Ref {FULFILMENT_QUEUE}"))
        })
        .collect();
    assert_eq!(policies.len(), 1, "one policy on the queue");
    let statements = policies[0].1["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(s["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(s["Action"], "sqs:SendMessage");
    assert_eq!(
        tag(&s["Resource"]),
        format!("GetAtt {FULFILMENT_QUEUE}.Arn")
    );
    let sources: BTreeSet<String> = s["Condition"]["ArnEquals"]["aws:SourceArn"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(tag)
        .collect();
    assert_eq!(sources, rules, "the function's two rules, and nothing else");
}

/// The template's rule for a top-up bought, as JSON.
fn top_up_rule_pattern() -> serde_json::Value {
    let t = template();
    let triggers = t["Resources"][FULFILMENT_FUNCTION]["Properties"]["Events"]
        .as_mapping()
        .unwrap();
    let rule = triggers
        .values()
        .find(|e| e["Type"] == "EventBridgeRule")
        .unwrap();
    serde_json::to_value(&rule["Properties"]["Pattern"]).unwrap()
}

/// The `purchase.granted` event the publisher puts for a purchase of `body`.
async fn purchase_granted(body: &str) -> events::DomainEvent {
    let grant = Grant::from_body(body.as_bytes()).unwrap();
    let customer = CustomerUid::parse("c-1").unwrap();
    let purchase = Purchase::granted(&grant, OffsetDateTime::now_utc(), Some(&customer));
    let change = events::StoredChange::Purchase(events::Change::Inserted(purchase));
    let fact = events::fact_of(&change).unwrap();
    let origin = events::Origin {
        id: format!("id-{}", grant.purchase_id.as_str()),
        subject: format!("PURCHASE#{}", grant.purchase_id.as_str()),
        sequence: "1".repeat(40),
    };
    events::enrich(&InMemoryStore::new(), origin, fact)
        .await
        .unwrap()
}

/// The rule, on a bus of its own on the moto server, delivers the publisher's entry of a top-up
/// bought, and not that of units: the pattern names the detail's path as the publisher writes it.
#[tokio::test]
async fn the_top_up_rule_matches_the_publishers_entry_of_a_top_up_and_nothing_else() {
    let subscriber = crate::common::Subscriber::matching(top_up_rule_pattern()).await;

    let top_up = purchase_granted(
        r#"{"purchaseId":"t-1","userToken":"u1","inventoryItemId":"1_GB","delivery":"top-up"}"#,
    )
    .await;
    let units = purchase_granted(
        r#"{"purchaseId":"s-1","userToken":"u1","inventoryItemId":"1_GB","delivery":"sdk"}"#,
    )
    .await;
    let config = crate::common::sdk_config(shared::adapters::sdk::https_client());
    let publisher = event_publisher::Bus::new(event_publisher::client(&config), &subscriber.bus);
    let put = publisher
        .put(&[units, top_up], Deadline::after(Duration::from_secs(10)))
        .await;
    assert_eq!(put.accepted, 2, "{put:?}");

    let delivered = subscriber.delivered().await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["detail-type"], "purchase.granted");
    assert_eq!(delivered[0]["detail"]["details"]["purchaseId"], "t-1");
    assert_eq!(delivered[0]["detail"]["details"]["delivery"], "top-up");
}
