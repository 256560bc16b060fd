//! `template.yaml` against the workspace: every function has a route and every route a
//! function, the deployment settings the issue fixes, least privilege, and the metric names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use entitlements::webhooks::described;
use serde_yaml::Value;
use shared::runtime::telemetry::NAMESPACE;

/// Every metric name a function emits: the pipeline's, each webhook's, the publisher's.
fn metric_names() -> Vec<&'static str> {
    let webhooks = described()
        .into_iter()
        .flat_map(|w| w.metrics.iter().copied());
    shared::webhook::reply::METRICS
        .into_iter()
        .chain(webhooks)
        .chain(event_publisher::METRICS)
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

#[test]
fn every_function_has_its_route_and_every_route_a_function() {
    let t = template();
    let mut routes = BTreeMap::new();
    let mut stream_readers = BTreeSet::new();
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
        assert_eq!(events.len(), 1, "{name} serves one route");
        let event = events.values().next().unwrap();
        if event["Type"] == "DynamoDB" {
            assert_stream_trigger(&name, &event["Properties"]);
            stream_readers.insert(binary);
            continue;
        }
        assert_eq!(event["Type"], "HttpApi", "{name}");
        assert_eq!(
            tag(&event["Properties"]["ApiId"]),
            "Ref HttpApi",
            "{name}: one API for all"
        );
        let route = format!(
            "{} {}",
            event["Properties"]["Method"].as_str().unwrap(),
            event["Properties"]["Path"].as_str().unwrap()
        );
        assert!(
            routes.insert(binary, route).is_none(),
            "{name}: one function per binary"
        );
    }
    assert_eq!(
        stream_readers,
        BTreeSet::from(["event-publisher".to_owned()]),
        "the publisher is the one function without a route"
    );
    let deployed: BTreeSet<String> = routes.keys().cloned().chain(stream_readers).collect();
    assert_eq!(
        deployed,
        workspace_functions(),
        "no route without a function, no function without a route or its stream"
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
/// The ARN of the user token secret, generated or named: what the functions get and may read.
const USER_TOKEN_SECRET_ARN: &str =
    "If [GeneratesUserTokenSecret, Ref UserTokenJwtSecret, Ref UserTokenJwtSecretArn]";

/// The one webhook secret the stack creates, by logical name: every secret but the user
/// token secret, which exists only with its condition.
fn webhook_secret(t: &Value) -> (String, &Value) {
    let secrets: Vec<_> = of_type(t, "AWS::SecretsManager::Secret")
        .into_iter()
        .filter(|(name, _)| name != USER_TOKEN_SECRET)
        .collect();
    assert_eq!(secrets.len(), 1, "one webhook secret");
    secrets.into_iter().next().unwrap()
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
    for (name, function) in of_type(&t, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str();
        let publisher = binary == Some("event-publisher");
        let names_users = matches!(binary, Some("activation-request" | "customer-registration"));
        let policies = function["Properties"]["Policies"].as_sequence().unwrap();
        assert_eq!(policies.len(), 1, "{name}");
        let mut reads_secret = 0;
        let mut reads_user_token_secret = 0;
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
                "Sub ${EntitlementTable.Arn}/index/gsi1" if publisher => {
                    assert_eq!(actions, ["dynamodb:Query"], "{name}: reads only");
                }
                "GetAtt EventBus.Arn" if publisher => {
                    assert_eq!(actions, ["events:PutEvents"], "{name}: its bus only");
                }
                "GetAtt EntitlementTable.Arn" => {
                    for action in actions {
                        assert!(
                            action.starts_with("dynamodb:") && !action.contains('*'),
                            "{name}: {action}"
                        );
                    }
                }
                resource if resource == secret => {
                    assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{name}");
                    reads_secret += 1;
                }
                other => panic!("{name}: a statement on {other}"),
            }
        }
        let expected = if publisher { 0 } else { 1 };
        assert_eq!(
            reads_secret, expected,
            "{name}: only webhooks read the secret"
        );
        assert_eq!(
            reads_user_token_secret,
            usize::from(names_users),
            "{name}: only the functions whose payloads name users read the user token secret"
        );
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
    for (name, function) in of_type(&t, "AWS::Serverless::Function") {
        let own = &function["Properties"]["Environment"]["Variables"];
        match function["Metadata"]["BuildProperties"]["Binary"].as_str() {
            Some("event-publisher") => {
                assert_eq!(own.as_mapping().map(|m| m.len()), Some(1), "{name}");
                assert_eq!(tag(&own["EVENT_BUS_NAME"]), "Ref EventBus", "{name}");
            }
            _ => assert!(
                function["Properties"].get("Environment").is_none(),
                "{name}: the global environment applies as is"
            ),
        }
    }
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
    let exposed: Vec<&Value> = t["Outputs"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|o| tag(&o["Value"]).contains(&name))
        .collect();
    assert_eq!(exposed.len(), 1, "one output names the secret");
    assert_eq!(
        tag(&exposed[0]["Value"]),
        format!("Ref {name}"),
        "its ARN only"
    );
    // The user token secret: generated only when hs256 is chosen without a secret of yours,
    // free of commas (they separate secrets), and only its ARN is an output.
    let user_tokens = &t["Resources"][USER_TOKEN_SECRET];
    assert_eq!(user_tokens["Condition"], "GeneratesUserTokenSecret");
    let generated = &user_tokens["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
    assert_eq!(generated["ExcludePunctuation"], true, "no commas");
    assert!(user_tokens["Properties"].get("SecretString").is_none());
    let exposed: Vec<(&Value, &Value)> = t["Outputs"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, o)| shown(&o["Value"]).contains(USER_TOKEN_SECRET))
        .collect();
    assert_eq!(exposed.len(), 1, "one output names the user token secret");
    assert_eq!(exposed[0].0, "UserTokenJwtSecretArn");
    assert_eq!(exposed[0].1["Condition"], "VerifiesUserTokensWithSecret");
    assert_eq!(
        shown(&exposed[0].1["Value"]),
        USER_TOKEN_SECRET_ARN,
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
    ] {
        assert!(used.contains(required), "{required} has no alarm or widget");
    }
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm").len();
    assert_eq!(
        alarms, 14,
        "errors, throttles, 5xx, auth burst, storage, permanent storage errors, secret \
         unavailable, activation outcome unknown, refusal rate, DynamoDB throttling, event \
         dead letters, event publisher failures, poisoned records, stream iterator age"
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
