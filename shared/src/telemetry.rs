//! Observability without HTTP types: JSON logs, and metrics in CloudWatch Embedded Metric Format.

use serde_json::{json, Map, Value};

/// CloudWatch namespace of every metric the functions emit.
pub const NAMESPACE: &str = "GigastoreReseller";

/// Installs the JSON log subscriber; `RUST_LOG` overrides the default `info` level.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .init();
}

/// A count the functions emit, each with the `Function` dimension and at most one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// An activation was approved (a unit consumed).
    ActivationApproved,
    /// An activation was refused; the dimension `Reason` says why.
    ActivationRefused(&'static str),
    /// A redelivered activation got its recorded answer.
    ActivationReplayed,
    /// A Customer Registration for one of our users.
    RegistrationKnownUser,
    /// A Customer Registration for a user we do not know.
    RegistrationUnknownUser,
    /// A known user without an email on file.
    RegistrationWithoutEmail,
    /// An eSIM status was received; `State` for documented states only.
    EsimStatusReceived(Option<&'static str>),
    /// An eSIM status with a state Gigastore does not document.
    EsimUnknownState,
    /// An eSIM status identical to the current state.
    EsimStatusUnchanged,
    /// A call without a valid secret.
    AuthRejected,
    /// A body that could not be read.
    InvalidRequest,
    /// The table could not be read or written.
    StorageError,
}

impl Metric {
    /// Every metric name, for dashboards and tests.
    pub const NAMES: [&'static str; 12] = [
        "ActivationApproved",
        "ActivationRefused",
        "ActivationReplayed",
        "RegistrationKnownUser",
        "RegistrationUnknownUser",
        "RegistrationWithoutEmail",
        "EsimStatusReceived",
        "EsimUnknownState",
        "EsimStatusUnchanged",
        "AuthRejected",
        "InvalidRequest",
        "StorageError",
    ];

    /// The CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ActivationApproved => "ActivationApproved",
            Self::ActivationRefused(_) => "ActivationRefused",
            Self::ActivationReplayed => "ActivationReplayed",
            Self::RegistrationKnownUser => "RegistrationKnownUser",
            Self::RegistrationUnknownUser => "RegistrationUnknownUser",
            Self::RegistrationWithoutEmail => "RegistrationWithoutEmail",
            Self::EsimStatusReceived(_) => "EsimStatusReceived",
            Self::EsimUnknownState => "EsimUnknownState",
            Self::EsimStatusUnchanged => "EsimStatusUnchanged",
            Self::AuthRejected => "AuthRejected",
            Self::InvalidRequest => "InvalidRequest",
            Self::StorageError => "StorageError",
        }
    }

    /// The extra dimension, if any.
    pub fn dimension(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::ActivationRefused(reason) => Some(("Reason", reason)),
            Self::EsimStatusReceived(Some(state)) => Some(("State", state)),
            _ => None,
        }
    }
}

/// One EMF document holding `metrics` (count 1 each) for `function`, at `timestamp_ms`.
///
/// Each metric is published without dimensions (for alarms across functions), per function,
/// and per function and its extra dimension.
pub fn emf_document(function: &str, metrics: &[Metric], timestamp_ms: i64) -> Value {
    let mut root = Map::new();
    let mut directives = Vec::new();
    root.insert("Function".into(), function.into());
    for metric in metrics {
        let mut dimensions = vec![json!([]), json!(["Function"])];
        if let Some((key, value)) = metric.dimension() {
            root.insert(key.into(), value.into());
            dimensions.push(json!(["Function", key]));
        }
        let count = root.get(metric.name()).and_then(Value::as_u64).unwrap_or(0) + 1;
        root.insert(metric.name().into(), count.into());
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": dimensions,
            "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
        }));
    }
    root.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
    );
    Value::Object(root)
}

/// Prints an EMF document on its own stdout line, where CloudWatch Logs extracts it.
pub fn emit(function: &str, metrics: &[Metric]) {
    if metrics.is_empty() {
        return;
    }
    let now = time::OffsetDateTime::now_utc();
    let millis = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    println!("{}", emf_document(function, metrics, millis));
}

/// What one request did: its outcome for the log line, and the metrics it counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Short outcome code: `approved`, `refused`, `replayed`, `recorded`, `unauthorized`…
    pub outcome: &'static str,
    /// Why, when refused or failed (a reason code or an error message).
    pub reason: Option<String>,
    /// The activation id, for Activation Requests.
    pub activation_id: Option<String>,
    /// The inventory item, for Activation Requests.
    pub item: Option<String>,
    /// The ICCID, for eSIM webhooks.
    pub iccid: Option<String>,
    /// The reported state, for eSIM webhooks.
    pub profile_state: Option<String>,
    /// Metrics to emit.
    pub metrics: Vec<Metric>,
}

impl Observation {
    /// An observation with `outcome` and `metrics` only.
    pub fn new(outcome: &'static str, metrics: Vec<Metric>) -> Self {
        Self {
            outcome,
            metrics,
            ..Self::default()
        }
    }

    /// The metric names, in order (for tests and logs).
    pub fn metric_names(&self) -> Vec<&'static str> {
        self.metrics.iter().map(|m| m.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_follow_the_specification() {
        let doc = emf_document(
            "activation-request",
            &[Metric::ActivationRefused("no_units_left")],
            1_700_000_000_000,
        );
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "GigastoreReseller",
                        "Dimensions": [[], ["Function"], ["Function", "Reason"]],
                        "Metrics": [{"Name": "ActivationRefused", "Unit": "Count"}]
                    }]
                },
                "Function": "activation-request",
                "Reason": "no_units_left",
                "ActivationRefused": 1
            })
        );
    }

    #[test]
    fn several_metrics_share_one_document() {
        let doc = emf_document(
            "esim-status",
            &[Metric::EsimStatusReceived(None), Metric::EsimUnknownState],
            0,
        );
        assert_eq!(doc["EsimStatusReceived"], 1);
        assert_eq!(doc["EsimUnknownState"], 1);
        assert!(doc.get("State").is_none());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn names_lists_every_metric() {
        let all = [
            Metric::ActivationApproved,
            Metric::ActivationRefused("x"),
            Metric::ActivationReplayed,
            Metric::RegistrationKnownUser,
            Metric::RegistrationUnknownUser,
            Metric::RegistrationWithoutEmail,
            Metric::EsimStatusReceived(None),
            Metric::EsimUnknownState,
            Metric::EsimStatusUnchanged,
            Metric::AuthRejected,
            Metric::InvalidRequest,
            Metric::StorageError,
        ];
        assert_eq!(all.map(Metric::name), Metric::NAMES);
    }
}
