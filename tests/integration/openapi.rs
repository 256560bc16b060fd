//! `docs/openapi.yaml` against the purchase API, so that neither drifts from the other:
//!
//! - the document's operations are the function's routes ([`purchase_api::routes::ROUTES`]);
//! - its `x-scenario` runs step by step through the function over the local DynamoDB-API
//!   server: each answer has the step's status, equals the step's example (the times the run's
//!   clock set aside, and checked apart) and is valid under the document's schema for it;
//! - every example in the document is exercised: by the scenario, or by [`REACHES`], the
//!   answers the scenario cannot reach (a refused caller, a body over the cap, a failing
//!   table, no hash key, and API Gateway's own answers);
//! - requests at the edges of the request schemas, and generated ones, for every operation
//!   (bodies built from the schemas' fields, valid or not; path parameters valid or not; every
//!   way the function is deployed or run) get a status the document lists for the operation, a
//!   body valid under the document's schema for it, and 400 exactly when the document's schemas
//!   refuse the request.
//!
//! The schemas are checked with the `jsonschema` crate (draft 2020-12, OpenAPI 3.1's dialect),
//! formats asserted: the document says times are RFC 3339, and the function refuses others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use activation_request::ActivationRequestWebhook;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestRunner};
use purchase_api::callers::Callers;
use purchase_api::PurchaseApi;
use serde_json::{json, Map, Value};
use shared::domain::erasure::UserHashKey;
use shared::domain::store::Store;
use shared::runtime::config::UserHashKeyConfig;
use shared::runtime::HttpFunction;
use shared::testkit::{self, FailingStore, Failure, InMemoryStore};
use shared::webhook::gate::secrets::{Sourced, UserHashKeySource};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::{self, TestTable};

// ---------------------------------------------------------------------------------------------
// The document

/// `docs/openapi.yaml`, as JSON.
fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = common::root().join("docs/openapi.yaml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// The document's value at the JSON pointer `pointer`.
fn at(pointer: &str) -> &'static Value {
    document()
        .pointer(pointer)
        .unwrap_or_else(|| panic!("docs/openapi.yaml has nothing at #{pointer}"))
}

/// `name` as one JSON pointer token.
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// `pointer`, its `$ref`s followed to what they name (the document's are all local, `#/...`).
fn follow(mut pointer: String) -> String {
    for _ in 0..16 {
        let Some(target) = at(&pointer).get("$ref").and_then(Value::as_str) else {
            return pointer;
        };
        pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("#{pointer}: $ref {target} is not in the document"))
            .to_owned();
    }
    panic!("#{pointer}: a loop of $refs")
}

/// The example objects of the `examples` map of `holder` (a media type or a parameter), by
/// name (in name order: the JSON maps here are sorted), their `$ref`s followed.
fn examples_of(holder: &str) -> Vec<(String, String)> {
    let examples = document().pointer(&format!("{holder}/examples"));
    let names = examples.and_then(Value::as_object).map(|e| e.keys());
    names
        .into_iter()
        .flatten()
        .map(|name| {
            let example = follow(format!("{holder}/examples/{}", token(name)));
            (name.clone(), example)
        })
        .collect()
}

/// An example object's value.
fn example_value(pointer: &str) -> &'static Value {
    let example = at(pointer);
    assert!(
        example.get("externalValue").is_none(),
        "#{pointer}: external examples are not checked"
    );
    example
        .get("value")
        .unwrap_or_else(|| panic!("#{pointer} has no value"))
}

/// The media type every body and answer of the API has, as a pointer token.
const JSON: &str = "application~1json";

/// One operation of the document: a method on a path.
#[derive(Debug, Clone)]
struct Operation {
    id: String,
    /// Upper case, as API Gateway names routes.
    method: String,
    /// The path template (`/purchases/{purchaseId}`).
    path: String,
    /// The operation object's pointer.
    pointer: String,
}

/// Every operation of the document, by path.
fn operations() -> Vec<Operation> {
    let paths = at("/paths").as_object().expect("paths is an object");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            found.push(Operation {
                id: id.to_owned(),
                method: method.to_uppercase(),
                path: path.clone(),
                pointer: format!("/paths/{}/{method}", token(path)),
            });
        }
    }
    found
}

/// The operation `id`.
fn operation(id: &str) -> Operation {
    operations()
        .into_iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("docs/openapi.yaml has no operation {id}"))
}

impl Operation {
    /// The route, as API Gateway and `ROUTES` name it.
    fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The names of the path's parameters, in order.
    fn path_parameters(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect()
    }

    /// The parameter object of the path parameter `name` (the operation's, else the path's).
    fn parameter(&self, name: &str) -> String {
        let lists = [
            format!("{}/parameters", self.pointer),
            format!("/paths/{}/parameters", token(&self.path)),
        ];
        for list in lists {
            let count = document()
                .pointer(&list)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for i in 0..count {
                let parameter = follow(format!("{list}/{i}"));
                if at(&parameter)["name"] == name && at(&parameter)["in"] == "path" {
                    return parameter;
                }
            }
        }
        panic!("{}: no path parameter {name}", self.id)
    }

    /// The request body object, if the operation takes one.
    fn request_body(&self) -> Option<String> {
        let pointer = format!("{}/requestBody", self.pointer);
        document().pointer(&pointer).map(|_| follow(pointer))
    }

    /// The request body's JSON media type object.
    fn request_media(&self) -> Option<String> {
        self.request_body().map(|body| {
            let content = at(&format!("{body}/content")).as_object().expect("content");
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                ["application/json"],
                "{}: bodies are JSON",
                self.id
            );
            format!("{body}/content/{JSON}")
        })
    }

    /// Whether the document requires a body.
    fn request_required(&self) -> bool {
        self.request_body()
            .is_some_and(|body| at(&body)["required"] == true)
    }

    /// The request example `name`'s pointer.
    fn request_example(&self, name: &str) -> String {
        let media = self.request_media().expect("a request body");
        follow(format!("{media}/examples/{}", token(name)))
    }

    /// The request examples' values, by name.
    fn request_examples(&self) -> Vec<Value> {
        let media = self.request_media();
        let examples = media.map(|media| examples_of(&media)).unwrap_or_default();
        examples
            .into_iter()
            .map(|(_, example)| example_value(&example).clone())
            .collect()
    }

    /// Every status the document lists for the operation.
    fn statuses(&self) -> BTreeSet<u16> {
        at(&format!("{}/responses", self.pointer))
            .as_object()
            .expect("responses")
            .keys()
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("{}: status {s}", self.id))
            })
            .collect()
    }

    /// The JSON media type object of the answer with `status`.
    fn media(&self, status: u16) -> Option<String> {
        let response = format!("{}/responses/{status}", self.pointer);
        document().pointer(&response)?;
        let media = format!("{}/content/{JSON}", follow(response));
        document().pointer(&media).map(|_| media)
    }

    /// The schema of the answer with `status`.
    fn response_schema(&self, status: u16) -> String {
        let media = self
            .media(status)
            .unwrap_or_else(|| panic!("{}: no JSON answer for {status}", self.id));
        format!("{media}/schema")
    }

    /// The pointer of the example `name` of the answer with `status`, if it has one.
    fn response_example(&self, status: u16, name: &str) -> Option<String> {
        let pointer = format!("{}/examples/{}", self.media(status)?, token(name));
        document().pointer(&pointer).map(|_| follow(pointer))
    }

    /// The first (by name) of each path parameter's examples: a request the document means.
    fn example_parameters(&self) -> BTreeMap<String, Parameter> {
        self.path_parameters()
            .into_iter()
            .map(|name| {
                let examples = examples_of(&self.parameter(&name));
                let (_, first) = examples.first().expect("a parameter's example");
                let value = example_value(first).as_str().expect("a parameter is text");
                (name, Parameter::Text(value.to_owned()))
            })
            .collect()
    }

    /// The first request example (by name) the request schema accepts, serialized.
    fn example_body(&self) -> Option<Vec<u8>> {
        let schema = format!("{}/schema", self.request_media()?);
        let valid = self
            .request_examples()
            .into_iter()
            .find(|example| violations(&schema, example).is_empty());
        Some(serde_json::to_vec(&valid.expect("a valid request example")).unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas

/// The dialect of OpenAPI 3.1's schemas.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// A validator of the schema at `pointer`, its `$ref`s to `#/components/...` resolved: the
/// schema is the root of a document that holds the components, as the OpenAPI document does.
fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    if let Some(validator) = built.lock().unwrap().get(pointer) {
        return Arc::clone(validator);
    }
    let mut root = match at(pointer) {
        Value::Object(schema) => schema.clone(),
        other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
    };
    root.insert("$schema".into(), DIALECT.into());
    root.insert("components".into(), at("/components").clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("the schema at #{pointer}: {e}"));
    let validator = Arc::new(validator);
    built
        .lock()
        .unwrap()
        .insert(pointer.to_owned(), Arc::clone(&validator));
    validator
}

/// Why `value` is not valid under the schema at `pointer` (nothing: it is).
fn violations(pointer: &str, value: &Value) -> Vec<String> {
    validator(pointer)
        .iter_errors(value)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect()
}

/// What a schema says of the values it accepts, enough to make some (valid or not).
#[derive(Debug, Clone, Default)]
struct Facts {
    types: BTreeSet<String>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    minimum: Option<i64>,
    maximum: Option<i64>,
    /// `enum`'s values.
    values: Vec<Value>,
    date_time: bool,
}

/// The facts of the schema at `pointer`, through its `$ref`s, `oneOf`s and `anyOf`s.
fn facts(pointer: &str) -> Facts {
    let pointer = follow(pointer.to_owned());
    let schema = at(&pointer);
    let mut found = Facts::default();
    match schema.get("type") {
        Some(Value::String(one)) => {
            found.types.insert(one.clone());
        }
        Some(Value::Array(types)) => {
            let types = types.iter().filter_map(Value::as_str).map(str::to_owned);
            found.types.extend(types);
        }
        _ => {}
    }
    for key in ["oneOf", "anyOf"] {
        let count = schema
            .get(key)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for i in 0..count {
            let branch = facts(&format!("{pointer}/{key}/{i}"));
            found.types.extend(branch.types);
            found.values.extend(branch.values);
            found.min_length = found.min_length.or(branch.min_length);
            found.max_length = found.max_length.or(branch.max_length);
            found.minimum = found.minimum.or(branch.minimum);
            found.maximum = found.maximum.or(branch.maximum);
            found.date_time |= branch.date_time;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        found.values.extend(values.iter().cloned());
        let types = values.iter().map(|v| json_type(v).to_owned());
        found.types.extend(types);
    }
    found.date_time |= schema.get("format") == Some(&json!("date-time"));
    let length = |key: &str| {
        let n = schema.get(key).and_then(Value::as_u64);
        n.and_then(|n| usize::try_from(n).ok())
    };
    let bound = |key: &str| schema.get(key).and_then(Value::as_i64);
    found.min_length = length("minLength").or(found.min_length);
    found.max_length = length("maxLength").or(found.max_length);
    found.minimum = bound("minimum").or(found.minimum);
    found.maximum = bound("maximum").or(found.maximum);
    found
}

/// A JSON value's type, as schemas name it (whole numbers are integers).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------------
// Calling the function

/// The sample events' IAM caller: the template's `PurchaseSystemRole`, assumed.
const CALLER: &str = "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole/shop-backend";
/// A `PURCHASE_API_CALLERS` that does not list [`CALLER`].
const OTHER_CALLERS: &str = "arn:aws:sts::123456789012:assumed-role/OtherRole/*";
/// The caller the local runner names (`PURCHASE_API_LOCAL_CALLER`).
const LOCAL_CALLER: &str = "arn:aws:iam::000000000000:user/local";
/// The document: "Bodies over 64 KiB are refused (413) before they are read."
const CAP: usize = 64 * 1024;

/// A path parameter as sent.
#[derive(Debug, Clone)]
enum Parameter {
    /// A value: decoded by API Gateway, percent-encoded by the local runner.
    Text(String),
    /// Sent as is in the local runner's raw path: the percent-encoding of no UTF-8 text (API
    /// Gateway, which decodes paths, would pass it on as this text).
    Undecodable(&'static str),
}

/// A request: its path parameters and body.
type Request = (BTreeMap<String, Parameter>, Option<Vec<u8>>);

/// How a request reaches the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivered {
    /// By API Gateway: its route declared, the path parameters decoded, the IAM caller named.
    ApiGateway,
    /// The same without an IAM identity (a route deployed without IAM authorization).
    WithoutIam,
    /// By the local runner: `$default`, the raw path as sent (percent-encoded), no identity.
    LocalRunner,
}

/// `text` percent-encoded: every byte but the unreserved ones.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The HTTP API (payload 2.0) event of `op` with `parameters` and `body`, delivered so.
fn event(
    op: &Operation,
    parameters: &BTreeMap<String, Parameter>,
    body: Option<&[u8]>,
    delivered: Delivered,
) -> Value {
    let local = delivered == Delivered::LocalRunner;
    let path: Vec<String> = op
        .path
        .split('/')
        .map(|segment| {
            let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                return segment.to_owned();
            };
            match (&parameters[name], local) {
                (Parameter::Text(text), true) => percent_encoded(text),
                // HTTP APIs decode rawPath.
                (Parameter::Text(text), false) => text.clone(),
                (Parameter::Undecodable(raw), _) => (*raw).to_owned(),
            }
        })
        .collect();
    let mut event = testkit::api_gateway_event(&path.join("/"), body, false);
    event["requestContext"]["http"]["method"] = op.method.clone().into();
    if local {
        event["routeKey"] = "$default".into();
        event["requestContext"]["routeKey"] = "$default".into();
        return event;
    }
    event["routeKey"] = op.route().into();
    event["requestContext"]["routeKey"] = op.route().into();
    let decoded: Map<String, Value> = parameters
        .iter()
        .map(|(name, parameter)| {
            let value = match parameter {
                Parameter::Text(text) => text.as_str(),
                Parameter::Undecodable(raw) => raw,
            };
            (name.clone(), value.into())
        })
        .collect();
    if !decoded.is_empty() {
        event["pathParameters"] = decoded.into();
    }
    if delivered == Delivered::ApiGateway {
        event["requestContext"]["authorizer"] = json!({"iam": {
            "accessKey": "ASIAEXAMPLE",
            "accountId": "123456789012",
            "callerId": "AROAEXAMPLEROLEID:shop-backend",
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": CALLER,
            "userId": "AROAEXAMPLEROLEID:shop-backend"
        }});
    }
    event
}

/// The function's (status, JSON body) for `event`, through its production handler (its log
/// line and metrics included); the answer must be JSON, as every answer of the API is.
async fn answer<S: Store>(api: &PurchaseApi<S>, event: &Value) -> (u16, Value) {
    common::read_response(api.handle(testkit::parse_event(event)).await)
}

/// A user hash key for the tests that are not the scenario.
fn test_key() -> UserHashKeySource {
    Sourced::fixed(UserHashKey::new(&[7; 32]).unwrap())
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`, in lower-case hex: computed here with
/// `sha2`, apart from the code under test (which uses *ring*).
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let padded = |pad: u8| block.iter().map(|b| b ^ pad).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(padded(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(padded(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_tests_hmac_is_rfc_4231s() {
    // RFC 4231, test cases 1 and 6 (a key longer than a block).
    assert_eq!(
        hmac_sha256(&[0x0b; 20], b"Hi There"),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        ),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

/// Why the document refuses the request (nothing: it accepts it): a path parameter its schema
/// refuses, or a body the request body object refuses (no body where one is required, not
/// JSON, or refused by the schema).
fn document_refuses(
    op: &Operation,
    parameters: &BTreeMap<String, Parameter>,
    delivered: Delivered,
    body: Option<&[u8]>,
) -> Option<String> {
    for name in op.path_parameters() {
        let value = match &parameters[&name] {
            Parameter::Text(text) => text.clone(),
            Parameter::Undecodable(raw) if delivered == Delivered::LocalRunner => {
                return Some(format!("{name} {raw} is no percent-encoded text"));
            }
            Parameter::Undecodable(raw) => (*raw).to_owned(),
        };
        let schema = format!("{}/schema", op.parameter(&name));
        let refused = violations(&schema, &Value::String(value));
        if !refused.is_empty() {
            return Some(format!("{name}: {refused:?}"));
        }
    }
    let media = op.request_media()?;
    let body = body.unwrap_or_default();
    // The document: "The body may be empty (nothing, or only white space)".
    if body.iter().all(u8::is_ascii_whitespace) {
        return op.request_required().then(|| "no body".to_owned());
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return Some(format!("not JSON: {e}")),
    };
    let refused = violations(&format!("{media}/schema"), &value);
    (!refused.is_empty()).then(|| format!("body: {refused:?}"))
}

// ---------------------------------------------------------------------------------------------
// Routes and examples

#[test]
fn the_documents_operations_are_the_functions_routes() {
    let documented: BTreeSet<String> = operations().iter().map(Operation::route).collect();
    let implemented: BTreeSet<String> = purchase_api::routes::ROUTES
        .iter()
        .map(|r| (*r).to_owned())
        .collect();
    assert_eq!(documented, implemented);
    assert_eq!(
        documented.len(),
        operations().len(),
        "one operation a route"
    );
    let ids: BTreeSet<String> = operations().into_iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), operations().len(), "operationIds are unique");
    for op in operations() {
        for name in op.path_parameters() {
            let parameter = at(&op.parameter(&name));
            assert_eq!(parameter["required"], true, "{}: {name}", op.id);
        }
    }
}

#[test]
fn the_documents_examples_are_valid_under_their_schemas() {
    let mut checked = 0;
    for op in operations() {
        // Every example of every answer.
        for status in op.statuses() {
            let Some(media) = op.media(status) else {
                continue;
            };
            for (_, example) in examples_of(&media) {
                let refused = violations(&op.response_schema(status), example_value(&example));
                assert!(refused.is_empty(), "#{example}: {refused:?}");
                checked += 1;
            }
        }
        // Every example of its path parameters.
        for name in op.path_parameters() {
            let parameter = op.parameter(&name);
            for (_, example) in examples_of(&parameter) {
                let refused = violations(&format!("{parameter}/schema"), example_value(&example));
                assert!(refused.is_empty(), "#{example}: {refused:?}");
                checked += 1;
            }
        }
        // Not the request examples: some are refused on purpose. The scenario checks that
        // each is refused exactly when its schema refuses it.
    }
    // The schemas' own `examples` (JSON Schema's keyword: an array of values).
    fn schema_examples(pointer: &str, value: &Value, checked: &mut usize) {
        let Value::Object(schema) = value else {
            return;
        };
        if let Some(Value::Array(examples)) = schema.get("examples") {
            for example in examples {
                let refused = violations(pointer, example);
                assert!(refused.is_empty(), "#{pointer}: {example}: {refused:?}");
                *checked += 1;
            }
        }
        for (key, inner) in schema {
            schema_examples(&format!("{pointer}/{}", token(key)), inner, checked);
        }
    }
    let schemas = "/components/schemas";
    schema_examples(schemas, at(schemas), &mut checked);
    assert!(checked > 20, "only {checked} examples found");
}

/// Every example object in the document (its pointer, after `$ref`s): the values of every
/// `examples` map (JSON Schema's `examples` arrays are the schemas' own, checked above).
fn all_examples() -> BTreeSet<String> {
    fn walk(pointer: &str, value: &Value, parent: Option<&str>, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(object) => {
                for (key, inner) in object {
                    let at = format!("{pointer}/{}", token(key));
                    // `examples` maps, but not a schema's property named so.
                    if key == "examples" && inner.is_object() && parent != Some("properties") {
                        found.extend(examples_of(pointer).into_iter().map(|(_, e)| e));
                    } else {
                        walk(&at, inner, Some(key), found);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{pointer}/{i}"), item, None, found);
                }
            }
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    walk("", document(), None, &mut found);
    found
}

// ---------------------------------------------------------------------------------------------
// The scenario

/// The scenario's steps.
fn steps() -> &'static Vec<Value> {
    at("/x-scenario/steps")
        .as_array()
        .expect("x-scenario.steps")
}

/// A step of the scenario that calls the API (the others are activations).
struct Call {
    op: Operation,
    parameters: BTreeMap<String, Parameter>,
    /// The request example's pointer.
    request: Option<String>,
    status: u16,
    /// The answer's example's pointer.
    response: String,
}

impl Call {
    /// `step`, unless it is an activation; its names checked against the document.
    fn of(step: &Value) -> Option<Self> {
        let id = step.get("operationId")?.as_str().expect("an operationId");
        let op = operation(id);
        let parameters: BTreeMap<String, Parameter> = step
            .get("parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let text = value.as_str().expect("a parameter is text");
                (name.clone(), Parameter::Text(text.to_owned()))
            })
            .collect();
        let given: BTreeSet<&String> = parameters.keys().collect();
        let path = op.path_parameters();
        assert_eq!(
            given,
            path.iter().collect(),
            "{step}: the path's parameters"
        );
        let request = step
            .get("request")
            .map(|name| op.request_example(name.as_str().expect("a request example's name")));
        let status = step["status"].as_u64().and_then(|s| u16::try_from(s).ok());
        let status = status.unwrap_or_else(|| panic!("{step}: a status"));
        let name = step["response"]
            .as_str()
            .expect("an answer's example's name");
        let response = op
            .response_example(status, name)
            .unwrap_or_else(|| panic!("{id}: no example {name} for {status}"));
        Some(Self {
            op,
            parameters,
            request,
            status,
            response,
        })
    }

    /// The request example's value, serialized.
    fn body(&self) -> Option<Vec<u8>> {
        let example = self.request.as_deref()?;
        Some(serde_json::to_vec(example_value(example)).unwrap())
    }
}

/// The examples the scenario uses: its requests' and answers', and the parameters' examples
/// whose values its steps send.
fn scenario_examples() -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for call in steps().iter().filter_map(Call::of) {
        used.extend(call.request.clone());
        used.insert(call.response.clone());
        for (name, sent) in &call.parameters {
            let Parameter::Text(sent) = sent else {
                continue;
            };
            let examples = examples_of(&call.op.parameter(name));
            let sent_so = examples
                .into_iter()
                .map(|(_, example)| example)
                .filter(|example| example_value(example) == sent.as_str());
            used.extend(sent_so);
        }
    }
    used
}

/// The fields of the answers that the run's clock sets: their values are the times of the
/// document's run, not this one's. Each is checked as an answer's time (RFC 3339, UTC `Z`,
/// three fractional digits) within this run, the same wherever the document gives the same
/// time, another where it gives another, and in the document's order. Every other field must
/// equal the example's (`expiresAt` too: it is the request's; `userHash` too: the HMAC of the
/// user under the scenario's key).
const CLOCK_FIELDS: [&str; 4] = ["grantedAt", "decidedAt", "refundedAt", "erasedAt"];

/// The run's clock, as the answers showed it.
struct Clock {
    started: OffsetDateTime,
    /// The document's time -> this run's, and where it was first seen.
    seen: BTreeMap<OffsetDateTime, (OffsetDateTime, String)>,
}

impl Clock {
    fn new() -> Self {
        Self {
            started: shared::domain::clock::to_millis(OffsetDateTime::now_utc()),
            seen: BTreeMap::new(),
        }
    }

    /// `actual` with the times the clock set replaced by `expected`'s, each checked.
    fn mask(&mut self, expected: &Value, actual: &Value, place: &str) -> Value {
        match (expected, actual) {
            (Value::Object(expected), Value::Object(actual)) => actual
                .iter()
                .map(|(key, value)| {
                    let place = format!("{place}.{key}");
                    let masked = match expected.get(key) {
                        Some(Value::String(documented)) if CLOCK_FIELDS.contains(&key.as_str()) => {
                            self.check(documented, value, &place);
                            Value::String(documented.clone())
                        }
                        Some(expected) => self.mask(expected, value, &place),
                        None => value.clone(),
                    };
                    (key.clone(), masked)
                })
                .collect::<Map<_, _>>()
                .into(),
            (Value::Array(expected), Value::Array(actual)) => actual
                .iter()
                .enumerate()
                .map(|(i, value)| match expected.get(i) {
                    Some(expected) => self.mask(expected, value, &format!("{place}[{i}]")),
                    None => value.clone(),
                })
                .collect::<Vec<_>>()
                .into(),
            _ => actual.clone(),
        }
    }

    /// Checks `actual`, at `place`, where the document has `documented`.
    fn check(&mut self, documented: &str, actual: &Value, place: &str) {
        let text = actual
            .as_str()
            .unwrap_or_else(|| panic!("{place}: {actual} is no time"));
        assert!(
            is_answer_time(text),
            "{place}: {text} is not like 2026-11-30T10:00:00.000Z"
        );
        let at = OffsetDateTime::parse(text, &Rfc3339).unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(
            self.started <= at && at <= now,
            "{place}: {text} is not within this run ({} to {now})",
            self.started
        );
        let documented = OffsetDateTime::parse(documented, &Rfc3339)
            .unwrap_or_else(|e| panic!("{place}: the document's {documented}: {e}"));
        match self.seen.get(&documented) {
            Some((first, there)) => assert_eq!(
                at, *first,
                "{place}: the document gives the time of {there}, the run another"
            ),
            None => {
                self.seen.insert(documented, (at, place.to_owned()));
            }
        }
    }

    /// The run's times are in the document's order, and where the document gives two times
    /// the run has two (steps take milliseconds: a table request each, at least).
    fn check_order(&self) {
        let times: Vec<_> = self.seen.values().collect();
        for pair in times.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{} ({}) is not before {} ({}), which the document has later",
                pair[0].1,
                pair[0].0,
                pair[1].1,
                pair[1].0
            );
        }
    }
}

/// Whether `text` is an answer's time: `YYYY-MM-DDTHH:MM:SS.mmmZ`, a real one.
fn is_answer_time(text: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        })
        && OffsetDateTime::parse(text, &Rfc3339).is_ok()
}

/// Every `userHash` value in `value`.
fn user_hashes(value: &Value) -> Vec<&str> {
    match value {
        Value::Object(object) => object
            .iter()
            .flat_map(|(key, inner)| match (key.as_str(), inner) {
                ("userHash", Value::String(hash)) => vec![hash.as_str()],
                _ => user_hashes(inner),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(user_hashes).collect(),
        _ => Vec::new(),
    }
}

/// The environment variables the scenario may set, and this test applies.
const SCENARIO_VARIABLES: [&str; 2] = ["USER_HASH_KEY", purchase_api::callers::CALLERS_VAR];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_scenario_runs_against_the_local_dynamodb_api_server() {
    let environment = at("/x-scenario/environment")
        .as_object()
        .expect("x-scenario.environment");
    for name in environment.keys() {
        assert!(SCENARIO_VARIABLES.contains(&name.as_str()), "{name}");
    }
    let lookup = |name: &str| {
        let value = environment.get(name).and_then(Value::as_str);
        value.map(str::to_owned)
    };
    // The function's own reading of its environment.
    let key = match UserHashKeyConfig::from_lookup(lookup).unwrap() {
        UserHashKeyConfig::Fixed(key) => Sourced::fixed(key),
        other => panic!("the scenario's USER_HASH_KEY: {other:?}"),
    };
    // As the function reads it: trimmed.
    let secret = lookup("USER_HASH_KEY").unwrap();
    let secret = secret.trim().as_bytes();
    let table = TestTable::new().await;
    let api = PurchaseApi {
        store: table.store.clone(),
        user_hash_key: Some(key.clone()),
        callers: Callers::from_lookup(lookup),
    };
    // Gigastore's Activation Request, to the function that answers it, over the same table.
    let activation_request = ActivationRequestWebhook(table.other_store(), Some(key));
    let mut clock = Clock::new();
    let mut calls = 0;
    for (i, step) in steps().iter().enumerate() {
        let Some(call) = Call::of(step) else {
            let activation = step
                .get("activation")
                .expect("an operation or an activation");
            let (status, decision) =
                common::post(&activation_request, &activation.to_string()).await;
            assert_eq!(
                (status, &decision["returnCode"]),
                (200, &json!("SUCCESS")),
                "x-scenario step {i}: the activation is approved: {decision}"
            );
            continue;
        };
        let place = format!("x-scenario step {i} ({})", call.op.id);
        let body = call.body();
        let delivered = Delivered::ApiGateway;
        let event = event(&call.op, &call.parameters, body.as_deref(), delivered);
        let (status, answered) = answer(&api, &event).await;
        assert_eq!(status, call.status, "{place}: {answered}");
        // The answer is the example, the run's clock aside.
        let expected = example_value(&call.response);
        let masked = clock.mask(expected, &answered, &place);
        assert_eq!(masked, *expected, "{place}: not #{}", call.response);
        let refused = violations(&call.op.response_schema(status), &answered);
        assert!(refused.is_empty(), "{place}: {answered}: {refused:?}");
        // The request is refused exactly when the document refuses it.
        let refusal = document_refuses(&call.op, &call.parameters, delivered, body.as_deref());
        assert_eq!(status == 400, refusal.is_some(), "{place}: {refusal:?}");
        // An erased user's hash is the HMAC of its token under the scenario's key.
        for hash in user_hashes(expected) {
            let Some(Parameter::Text(user)) = call.parameters.get("userToken") else {
                panic!("{place}: a userHash, but whose? The step names no userToken")
            };
            assert_eq!(hash, hmac_sha256(secret, user.as_bytes()), "{place}");
        }
        calls += 1;
    }
    clock.check_order();
    assert!(calls > 0 && !clock.seen.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The answers the scenario cannot reach

/// How a test reaches an answer the scenario does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// An event without an IAM caller (a route deployed without IAM authorization).
    NoIamCaller,
    /// A caller `PURCHASE_API_CALLERS` does not list.
    CallerNotListed,
    /// The request's body, padded to one byte over the cap.
    BodyOverCap,
    /// The request's body with `quantity` misspelt `quantty`.
    MisspeltQuantity,
    /// A `userToken` one byte longer than its schema's `maxLength`, in the path or the body.
    UserTokenTooLong,
    /// The table fails every request so.
    TableFails(Failure),
    /// No user hash key configured.
    NoHashKey,
    /// API Gateway's own answer (`{"message": ...}`): the function never gives it. The example
    /// is valid under its answer's schema ([`the_documents_examples_are_valid_under_their_schemas`])
    /// and not under `Error`, the function's errors' ([`the_answers_the_scenario_cannot_reach`]);
    /// the function's errors all say `error` (the generated requests).
    ApiGateway,
}

/// (status, example, how): each checked under every operation whose answer for the status has
/// the example, and where `how` applies (a body needs a request body, ...).
const REACHES: [(u16, &str, How); 10] = [
    (400, "unknownField", How::MisspeltQuantity),
    (400, "tooLong", How::UserTokenTooLong),
    (403, "noIamCaller", How::NoIamCaller),
    (403, "callerNotAllowed", How::CallerNotListed),
    (403, "unsigned", How::ApiGateway),
    (413, "tooLarge", How::BodyOverCap),
    (429, "throttled", How::ApiGateway),
    (500, "permanent", How::TableFails(Failure::Permanent)),
    (503, "unavailable", How::TableFails(Failure::Transient)),
    (503, "notConfigured", How::NoHashKey),
];

/// The request `how` makes of `op` (its examples otherwise), if it applies to `op`.
fn provoked(op: &Operation, how: How) -> Option<Request> {
    let mut parameters = op.example_parameters();
    let mut body = op.example_body();
    let object = |body: &Option<Vec<u8>>| -> Option<Map<String, Value>> {
        serde_json::from_slice(body.as_deref()?).ok()
    };
    match how {
        How::BodyOverCap => {
            let mut padded = body?;
            padded.resize(CAP + 1, b' ');
            body = Some(padded);
        }
        How::MisspeltQuantity => {
            let mut fields = object(&body)?;
            let quantity = fields.remove("quantity").unwrap_or(json!(2));
            fields.insert("quantty".into(), quantity);
            body = Some(serde_json::to_vec(&fields).unwrap());
        }
        How::UserTokenTooLong if op.path_parameters().iter().any(|p| p == "userToken") => {
            let schema = format!("{}/schema", op.parameter("userToken"));
            let max = facts(&schema).max_length.expect("a maxLength");
            parameters.insert("userToken".into(), Parameter::Text("u".repeat(max + 1)));
        }
        How::UserTokenTooLong => {
            let mut fields = object(&body)?;
            fields.get("userToken")?;
            let schema = follow(format!("{}/schema", op.request_media()?));
            let facts = facts(&format!("{schema}/properties/userToken"));
            let max = facts.max_length.expect("a maxLength");
            fields.insert("userToken".into(), "u".repeat(max + 1).into());
            body = Some(serde_json::to_vec(&fields).unwrap());
        }
        How::ApiGateway => return None,
        How::NoIamCaller | How::CallerNotListed | How::TableFails(_) | How::NoHashKey => {}
    }
    Some((parameters, body))
}

/// (operation, status, example pointer, how) for every reach, under every operation it
/// applies to.
fn reached() -> Vec<(Operation, u16, String, How)> {
    let mut reached = Vec::new();
    for (status, name, how) in REACHES {
        for op in operations() {
            let Some(example) = op.response_example(status, name) else {
                continue;
            };
            if how == How::ApiGateway || provoked(&op, how).is_some() {
                reached.push((op, status, example, how));
            }
        }
    }
    reached
}

#[tokio::test]
async fn the_answers_the_scenario_cannot_reach() {
    let error = "/components/schemas/Error";
    let mut checked = BTreeSet::new();
    for (op, documented, example, how) in reached() {
        let expected = example_value(&example);
        if how == How::ApiGateway {
            assert!(
                !violations(error, expected).is_empty(),
                "#{example} is API Gateway's, yet it reads as the function's own error"
            );
            continue;
        }
        let (parameters, body) = provoked(&op, how).unwrap();
        let delivered = match how {
            How::NoIamCaller => Delivered::WithoutIam,
            _ => Delivered::ApiGateway,
        };
        // A table that fails every request: an answer that reached it would be a 503.
        let failure = match how {
            How::TableFails(failure) => failure,
            _ => Failure::Transient,
        };
        let api = PurchaseApi {
            store: FailingStore(failure),
            user_hash_key: (how != How::NoHashKey).then(test_key),
            callers: match how {
                How::CallerNotListed => Callers::only([OTHER_CALLERS]),
                _ => Callers::any(),
            },
        };
        let event = event(&op, &parameters, body.as_deref(), delivered);
        let (status, answered) = answer(&api, &event).await;
        let place = format!("{} {how:?}", op.id);
        assert_eq!(status, documented, "{place}: {answered}");
        assert_eq!(answered, *expected, "{place}: not #{example}");
        let refused = violations(&op.response_schema(status), &answered);
        assert!(refused.is_empty(), "{place}: {refused:?}");
        if !matches!(
            how,
            How::NoIamCaller | How::CallerNotListed | How::BodyOverCap
        ) {
            let refusal = document_refuses(&op, &parameters, delivered, body.as_deref());
            assert_eq!(status == 400, refusal.is_some(), "{place}: {refusal:?}");
        }
        checked.insert(format!("{how:?}"));
    }
    // Each way applied somewhere.
    for (_, name, how) in REACHES {
        assert!(
            how == How::ApiGateway || checked.contains(&format!("{how:?}")),
            "{name} ({how:?}) was checked under no operation"
        );
    }
}

#[test]
fn every_example_in_the_document_is_exercised() {
    let all = all_examples();
    let mut exercised = scenario_examples();
    exercised.extend(reached().into_iter().map(|(_, _, example, _)| example));
    let unused: Vec<&String> = all.difference(&exercised).collect();
    assert!(
        unused.is_empty(),
        "examples that no x-scenario step uses and no test checks: {unused:#?}"
    );
    let unknown: Vec<&String> = exercised.difference(&all).collect();
    assert!(unknown.is_empty(), "not examples: {unknown:#?}");
}

// ---------------------------------------------------------------------------------------------
// Requests at the edges, and generated ones

/// How the function is deployed or run for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// As deployed: IAM callers, any; the key configured; the table after the scenario's first
    /// step.
    Deployed,
    /// As `run-local` runs it: the local caller, raw paths.
    LocalRunner,
    /// A route deployed without IAM authorization.
    WithoutIam,
    /// `PURCHASE_API_CALLERS` set, not to this caller.
    CallerNotListed,
    /// No user hash key.
    NoHashKey,
    /// The table fails every request so.
    TableFails(Failure),
}

/// A request, and how the function is set up for it.
#[derive(Clone)]
struct Case {
    setup: Setup,
    parameters: BTreeMap<String, Parameter>,
    body: Option<Vec<u8>>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.body.as_deref().map(|body| {
            let text = String::from_utf8_lossy(body);
            match text.len() {
                ..=300 => text.into_owned(),
                len => format!("{} ({len} bytes)", text.trim_end()),
            }
        });
        f.debug_struct("Case")
            .field("setup", &self.setup)
            .field("parameters", &self.parameters)
            .field("body", &body)
            .finish()
    }
}

/// Values an `enum` of the document may not list: none, and the delivery issue 16 plans next
/// (the function may take it before the document says so).
const NOT_LISTED: [&str; 2] = ["", "top-up"];

/// Values at the edges of what the schema at `pointer` accepts (the schema decides which).
fn edges(pointer: &str) -> Vec<Value> {
    let facts = facts(pointer);
    let mut edges = vec![Value::Null, json!(true), json!([]), json!({})];
    if facts.types.contains("string") {
        if !facts.values.is_empty() {
            for value in facts.values.iter().filter_map(Value::as_str) {
                let near = [value.to_uppercase(), format!("{value} ")];
                edges.extend([json!(value)].into_iter().chain(near.map(Value::from)));
            }
            edges.extend(NOT_LISTED.map(Value::from));
        } else if facts.date_time {
            let times = [
                "2099-12-31T23:59:59Z",
                "2099-12-31t23:59:59z",
                "2099-12-31 23:59:59Z",
                "2099-12-31T23:59:59+01:00",
                "2099-12-31T23:59:59.123456789-23:59",
                "2096-02-29T00:00:00Z",
                "2099-02-29T00:00:00Z",
                "2099-12-31T24:00:00Z",
                "2099-12-31T23:59:59",
                "2099-12-31",
                "soon",
            ];
            edges.extend(times.map(Value::from));
        } else {
            let min = facts.min_length.unwrap_or(0);
            let max = facts.max_length.unwrap_or(64);
            for len in [min.saturating_sub(1), min, max, max + 1] {
                edges.push(json!("x".repeat(len)));
            }
            let odd = [" x", "  ", "a\u{1}b", "a\u{7f}"].map(str::to_owned);
            let shaped = [email(max), email(max + 1)].into_iter().chain(odd);
            edges.extend(shaped.map(Value::from));
        }
    }
    if facts.types.contains("integer") {
        let (low, high) = (facts.minimum.unwrap_or(0), facts.maximum.unwrap_or(1000));
        let numbers = [json!(low - 1), json!(low), json!(high), json!(high + 1)];
        edges.extend(numbers.into_iter().chain([json!(1.5), json!("1")]));
    }
    edges
}

/// `name@domain`, `len` bytes long.
fn email(len: usize) -> String {
    let local = len / 2;
    format!("{}@{}", "b".repeat(local), "d".repeat(len - local - 1))
}

/// Requests at the edges, each sent once: the operation's example request, as it is and with
/// one path parameter (delivered by API Gateway and by the local runner) or one body field (at
/// an edge of its schema, or absent) changed.
fn edge_cases(op: &Operation) -> Vec<Case> {
    let parameters = op.example_parameters();
    let body = op.example_body();
    let mut cases = vec![Case {
        setup: Setup::Deployed,
        parameters: parameters.clone(),
        body: body.clone(),
    }];
    for name in op.path_parameters() {
        for edge in edges(&format!("{}/schema", op.parameter(&name))) {
            let Value::String(text) = edge else {
                continue;
            };
            for setup in [Setup::Deployed, Setup::LocalRunner] {
                let mut parameters = parameters.clone();
                parameters.insert(name.clone(), Parameter::Text(text.clone()));
                let body = body.clone();
                cases.push(Case {
                    setup,
                    parameters,
                    body,
                });
            }
        }
    }
    if let Some(media) = op.request_media() {
        let schema = follow(format!("{media}/schema"));
        let example: Map<String, Value> =
            serde_json::from_slice(body.as_deref().unwrap_or(b"{}")).unwrap();
        let properties = at(&schema)["properties"].as_object().expect("properties");
        for name in properties.keys() {
            let edges = edges(&format!("{schema}/properties/{}", token(name)));
            for edge in edges.into_iter().map(Some).chain([None]) {
                let mut fields = example.clone();
                match edge {
                    Some(edge) => fields.insert(name.clone(), edge),
                    None => fields.remove(name),
                };
                cases.push(Case {
                    setup: Setup::Deployed,
                    parameters: parameters.clone(),
                    body: Some(serde_json::to_vec(&fields).unwrap()),
                });
            }
        }
    }
    cases
}

fn setups() -> impl Strategy<Value = Setup> {
    prop_oneof![
        12 => Just(Setup::Deployed),
        4 => Just(Setup::LocalRunner),
        1 => Just(Setup::WithoutIam),
        1 => Just(Setup::CallerNotListed),
        1 => Just(Setup::NoHashKey),
        1 => Just(Setup::TableFails(Failure::Transient)),
        1 => Just(Setup::TableFails(Failure::Permanent)),
    ]
}

/// `len` printable ASCII characters, the first not a space.
fn printable(len: usize) -> BoxedStrategy<String> {
    let first = (0x21u8..0x7f).prop_map(char::from);
    let rest = prop::collection::vec((0x20u8..0x7f).prop_map(char::from), len.saturating_sub(1));
    (first, rest)
        .prop_map(move |(first, rest)| std::iter::once(first).chain(rest).take(len).collect())
        .boxed()
}

/// ASCII text for a string schema: mostly plausible, and its edges (empty, blank, at and past
/// `maxLength`, control characters, email shapes good and bad). The schema decides which are
/// valid.
fn text(facts: &Facts) -> BoxedStrategy<Value> {
    let max = facts.max_length.unwrap_or(64);
    let control = (
        "[a-z]{0,4}",
        prop_oneof![(0u8..0x20).prop_map(char::from), Just('\u{7f}')],
        "[a-z]{0,4}",
    )
        .prop_map(|(a, c, b)| format!("{a}{c}{b}"));
    let odd = select(vec!["", " ", "  \t", "a b@c", "a@b@c", "@b", "a@"]);
    Union::new_weighted(vec![
        (4, "[A-Za-z0-9_-]{1,24}".boxed()),
        (3, "[!-~][ -~]{0,30}".boxed()),
        (3, "[a-z0-9._+-]{1,12}@[a-z0-9.-]{1,12}".boxed()),
        (1, odd.prop_map(str::to_owned).boxed()),
        (1, printable(max)),
        (1, printable(max + 1)),
        (1, select(vec![email(max), email(max + 1)]).boxed()),
        (1, control.boxed()),
    ])
    .prop_map(Value::String)
    .boxed()
}

/// RFC 3339 times, mostly real, some with a field out of range, with any separator RFC 3339
/// and its readers know; and text that is no such time.
///
/// Not generated: the years 0001 and 9999 (the function takes the years 0001 to 9999 in UTC,
/// as the document says, so an offset can take a time there out of range: a rule no
/// `format: date-time` states; `shared::domain::payload`'s tests have those edges), and the
/// leap second `:60` (JSON Schema's `date-time` takes it at 23:59 UTC on any day, the parser
/// only at the end of a month; the document does not say which).
fn date_time() -> BoxedStrategy<Value> {
    let year = prop_oneof![8 => 2u32..=9998, 2 => Just(2099u32)];
    let month = prop_oneof![19 => 1u32..=12, 1 => select(vec![0u32, 13])];
    let day = prop_oneof![19 => 1u32..=28, 1 => select(vec![0u32, 29, 30, 31, 32])];
    let hour = prop_oneof![19 => 0u32..=23, 1 => Just(24u32)];
    let minute = prop_oneof![19 => 0u32..=59, 1 => Just(60u32)];
    let fraction = prop::option::weighted(0.5, "[0-9]{1,9}");
    let separator = prop_oneof![18 => Just('T'), 1 => Just('t'), 1 => Just(' ')];
    let offset = prop_oneof![
        8 => Just("Z".to_owned()),
        1 => Just("z".to_owned()),
        10 => (select(vec!['+', '-']), 0u32..=23, 0u32..=59)
            .prop_map(|(sign, h, m)| format!("{sign}{h:02}:{m:02}")),
        1 => select(vec!["+24:00", "+01:60", "+0100", ""]).prop_map(str::to_owned),
    ];
    let date = (year, month, day, separator);
    let clock = (hour, minute, 0u32..=59, fraction, offset);
    let time = (date, clock).prop_map(|((year, month, day, t), (h, m, s, fraction, offset))| {
        let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
        format!("{year:04}-{month:02}-{day:02}{t}{h:02}:{m:02}:{s:02}{fraction}{offset}")
    });
    let not_times = select(vec![
        "2022-08-21",
        "2022-08-21T10:15",
        "21/08/2022",
        "soon",
        "2022-08-21T10:15:30.Z",
    ]);
    prop_oneof![19 => time, 1 => not_times.prop_map(str::to_owned)]
        .prop_map(Value::String)
        .boxed()
}

/// Values for a property whose schema says `facts`: the document's example values for it, and
/// values of its type(s), valid or not, and of other types.
fn values(facts: &Facts, examples: Vec<Value>) -> BoxedStrategy<Value> {
    let mut choices: Vec<(u32, BoxedStrategy<Value>)> = Vec::new();
    if !examples.is_empty() {
        choices.push((6, select(examples).boxed()));
    }
    if facts.types.contains("string") {
        let strings: Vec<String> = facts
            .values
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        if !strings.is_empty() {
            let misses: Vec<String> = strings
                .iter()
                .flat_map(|s| [s.to_uppercase(), format!("{s}x"), format!(" {s}")])
                .chain(NOT_LISTED.map(str::to_owned))
                .collect();
            choices.push((4, select(strings).prop_map(Value::String).boxed()));
            choices.push((2, select(misses).prop_map(Value::String).boxed()));
        } else if facts.date_time {
            choices.push((6, date_time()));
        } else {
            choices.push((6, text(facts)));
        }
    }
    if facts.types.contains("integer") {
        let (low, high) = (facts.minimum.unwrap_or(0), facts.maximum.unwrap_or(1000));
        let edges = vec![
            json!(low - 1),
            json!(low),
            json!(high),
            json!(high + 1),
            json!(-1),
            json!(0),
            json!(i64::MAX),
            json!(u64::MAX),
        ];
        choices.push((4, (low..=high).prop_map(|n| json!(n)).boxed()));
        choices.push((3, select(edges).boxed()));
        // No whole number written with a fraction or an exponent (`2.0`, `1e2`): the document
        // says numbers are JSON integers, a rule of the text that no schema can state (to JSON
        // Schema, 2.0 is the integer 2); the function refuses them (`shared::domain::payload`).
        let fractions = select(vec![json!(1.5), json!(-0.5), json!(99.9)]);
        choices.push((1, fractions.boxed()));
    }
    if facts.types.contains("null") {
        choices.push((1, Just(Value::Null).boxed()));
    }
    let others: Vec<Value> = [
        json!("2"),
        json!(7),
        json!(1.5),
        json!(true),
        json!([]),
        json!(["x"]),
        json!({}),
        Value::Null,
    ]
    .into_iter()
    .filter(|v| {
        let kind = json_type(v);
        !(facts.types.contains(kind) || (kind == "integer" && facts.types.contains("number")))
    })
    .collect();
    if !others.is_empty() {
        choices.push((1, select(others).boxed()));
    }
    Union::new_weighted(choices).boxed()
}

/// JSON objects built from the properties of the object schema at `schema` (present or not,
/// valid or not), sometimes with fields it does not know.
fn objects(schema: &str, examples: &[Value]) -> BoxedStrategy<Value> {
    let schema = follow(schema.to_owned());
    let required: BTreeSet<&str> = at(&schema)
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let properties = at(&schema)["properties"].as_object().expect("properties");
    let known: BTreeSet<String> = properties.keys().cloned().collect();
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .keys()
        .map(|name| {
            let documented: Vec<Value> = examples
                .iter()
                .filter_map(|e| e.get(name))
                .cloned()
                .collect();
            let facts = facts(&format!("{schema}/properties/{}", token(name)));
            let present = match required.contains(name.as_str()) {
                true => 0.95,
                false => 0.5,
            };
            let name = name.clone();
            prop::option::weighted(present, values(&facts, documented))
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    let unknown_field = (
        "[a-z][A-Za-z]{0,10}",
        select(vec![json!(1), json!("x"), Value::Null]),
    );
    let unknown = prop_oneof![
        12 => Just(Vec::new()),
        1 => prop::collection::vec(unknown_field, 1..=2),
    ];
    (fields, unknown)
        .prop_map(move |(fields, unknown)| {
            let mut object: Map<String, Value> = fields.into_iter().flatten().collect();
            for (name, value) in unknown {
                if !known.contains(&name) {
                    object.insert(name, value);
                }
            }
            Value::Object(object)
        })
        .boxed()
}

/// Bodies for `op`'s request body: mostly objects from its schema; its examples; other JSON;
/// no JSON; empty or blank; at and past the cap.
fn bodies(op: &Operation) -> BoxedStrategy<Vec<u8>> {
    let schema = format!("{}/schema", op.request_media().expect("a request body"));
    let examples = op.request_examples();
    let objects = objects(&schema, &examples);
    let non_objects = select(vec![
        json!([]),
        json!([{"purchaseId": "p"}]),
        json!("text"),
        json!(1),
        Value::Null,
        json!(true),
    ]);
    let not_json = select(vec![
        "{",
        "{\"purchaseId\":}",
        "purchaseId=p-1",
        "{'reason':'x'}",
        "{\"reason\":\"x\",}",
    ]);
    let padded = (objects.clone(), select(vec![CAP, CAP + 1])).prop_map(|(object, len)| {
        let mut body = serde_json::to_vec(&object).unwrap();
        body.resize(len.max(body.len()), b' ');
        body
    });
    let json = |v: Value| serde_json::to_vec(&v).unwrap();
    prop_oneof![
        14 => objects.prop_map(json),
        3 => select(examples).prop_map(json),
        1 => non_objects.prop_map(json),
        1 => not_json.prop_map(|s| s.as_bytes().to_vec()),
        1 => select(vec!["", " ", "\n\t "]).prop_map(|s| s.as_bytes().to_vec()),
        1 => padded,
    ]
    .boxed()
}

/// Values of `op`'s path parameter `name`: its examples, text valid or not under its schema,
/// characters that must be percent-encoded, and (for the local runner) encodings of no text.
fn parameter_values(op: &Operation, name: &str) -> BoxedStrategy<Parameter> {
    let parameter = op.parameter(name);
    let examples: Vec<String> = examples_of(&parameter)
        .into_iter()
        .filter_map(|(_, example)| example_value(&example).as_str().map(str::to_owned))
        .collect();
    let facts = facts(&format!("{parameter}/schema"));
    let max = facts.max_length.unwrap_or(64);
    let any_text = values(&facts, Vec::new());
    let texts = prop_oneof![
        8 => select(examples),
        6 => any_text.prop_filter_map("text", |v| v.as_str().map(str::to_owned)),
        2 => "[a-z0-9]{1,6}[/%?#+&=;:@ ][a-z0-9]{0,6}",
        1 => select(vec!["", " ", "%41"]).prop_map(str::to_owned),
        1 => printable(max + 1),
    ];
    prop_oneof![
        19 => texts.prop_map(Parameter::Text),
        1 => select(vec!["%FF", "%C3", "%E2%82"]).prop_map(Parameter::Undecodable),
    ]
    .boxed()
}

/// Generated requests for `op`.
fn cases(op: &Operation) -> BoxedStrategy<Case> {
    let parameters: Vec<BoxedStrategy<(String, Parameter)>> = op
        .path_parameters()
        .into_iter()
        .map(|name| {
            let values = parameter_values(op, &name);
            values.prop_map(move |v| (name.clone(), v)).boxed()
        })
        .collect();
    let body = match op.request_media() {
        Some(_) => bodies(op).prop_map(Some).boxed(),
        None => Just(None).boxed(),
    };
    (setups(), parameters, body)
        .prop_map(|(setup, parameters, body)| Case {
            setup,
            parameters: parameters.into_iter().collect(),
            body,
        })
        .boxed()
}

/// A table after the scenario's first step, made through the function.
async fn seeded() -> InMemoryStore {
    let first = Call::of(&steps()[0]).expect("the scenario starts with a call");
    let api = PurchaseApi {
        store: InMemoryStore::new(),
        user_hash_key: Some(test_key()),
        callers: Callers::any(),
    };
    let body = first.body();
    let event = event(
        &first.op,
        &first.parameters,
        body.as_deref(),
        Delivered::ApiGateway,
    );
    let (status, answered) = answer(&api, &event).await;
    assert_eq!(status, first.status, "{answered}");
    api.store
}

/// What the requests were: (the document's verdict, the status answered) -> how many.
type Tally = BTreeMap<(&'static str, u16), u32>;

/// Sends `case` to the function set up as it says; checks the answer against the document.
fn check(op: &Operation, case: &Case, tally: &Mutex<Tally>) -> Result<(), TestCaseError> {
    let delivered = match case.setup {
        Setup::LocalRunner => Delivered::LocalRunner,
        Setup::WithoutIam => Delivered::WithoutIam,
        _ => Delivered::ApiGateway,
    };
    let callers = match case.setup {
        Setup::LocalRunner => Callers::any().with_local_caller(LOCAL_CALLER),
        Setup::CallerNotListed => Callers::only([OTHER_CALLERS]),
        _ => Callers::any(),
    };
    let user_hash_key = (case.setup != Setup::NoHashKey).then(test_key);
    let event = event(op, &case.parameters, case.body.as_deref(), delivered);
    let (status, body) = testkit::block_on(async {
        match case.setup {
            Setup::TableFails(failure) => {
                let store = FailingStore(failure);
                let api = PurchaseApi {
                    store,
                    user_hash_key,
                    callers,
                };
                answer(&api, &event).await
            }
            _ => {
                let store = seeded().await;
                let api = PurchaseApi {
                    store,
                    user_hash_key,
                    callers,
                };
                answer(&api, &event).await
            }
        }
    });
    prop_assert!(
        op.statuses().contains(&status),
        "{status} is not a status of {}: {body}",
        op.id
    );
    let refused = violations(&op.response_schema(status), &body);
    prop_assert!(refused.is_empty(), "{status} {body}: {refused:?}");
    if status >= 400 {
        let said = body["error"].is_string();
        prop_assert!(said, "the function's errors say `error`: {body}");
    }
    let refusal = document_refuses(op, &case.parameters, delivered, case.body.as_deref());
    let size = case.body.as_ref().map_or(0, Vec::len);
    let forbidden = matches!(case.setup, Setup::WithoutIam | Setup::CallerNotListed);
    let verdict = match (forbidden, size > CAP, &refusal) {
        (true, _, _) => "caller refused",
        (false, true, _) => "over the cap",
        (false, false, Some(_)) => "refused",
        (false, false, None) => "accepted",
    };
    *tally.lock().unwrap().entry((verdict, status)).or_default() += 1;
    match verdict {
        "caller refused" => prop_assert_eq!(status, 403, "{}", body),
        "over the cap" => prop_assert_eq!(status, 413, "{}", body),
        "refused" => prop_assert_eq!(
            status,
            400,
            "the document refuses it ({:?}), the function answers {}",
            refusal,
            body
        ),
        _ => {
            prop_assert!(
                ![400, 403, 413].contains(&status),
                "the document accepts it, the function answers {status} {body}"
            );
            if matches!(case.setup, Setup::Deployed | Setup::LocalRunner) {
                prop_assert!(status < 500, "{status} {body}");
            }
        }
    }
    Ok(())
}

/// Generated requests per operation: more where there is a body to build.
const CASES_WITH_A_BODY: u32 = 100;
const CASES_WITHOUT: u32 = 36;

#[test]
fn requests_at_the_edges_and_generated_get_answers_the_document_gives() {
    let started = std::time::Instant::now();
    let mut total = 0;
    for op in operations() {
        let tally = Mutex::new(Tally::new());
        let edge_cases = edge_cases(&op);
        for case in &edge_cases {
            check(&op, case, &tally).unwrap_or_else(|e| panic!("{}: {e}\n{case:?}", op.id));
        }
        let count = match op.request_media() {
            Some(_) => CASES_WITH_A_BODY,
            None => CASES_WITHOUT,
        };
        let config = Config {
            cases: count,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(config)
            .run(&cases(&op), |case| check(&op, &case, &tally))
            .unwrap_or_else(|e| panic!("{}: {e}", op.id));
        let tally = tally.into_inner().unwrap();
        println!("{} ({} at the edges): {tally:?}", op.id, edge_cases.len());
        // Not vacuous: requests the document refuses, and requests it accepts answered 2xx.
        let refused = tally.keys().any(|(verdict, _)| *verdict == "refused");
        let served = tally
            .keys()
            .any(|(verdict, status)| *verdict == "accepted" && *status < 300);
        assert!(refused && served, "{}: {tally:?}", op.id);
        total += edge_cases.len() + count as usize;
    }
    println!("{total} requests in {:?}", started.elapsed());
}
