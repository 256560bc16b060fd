//! Observability without HTTP types: JSON logs, and metrics in CloudWatch Embedded Metric Format.

use serde_json::{json, Map, Value};
use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// CloudWatch namespace of every metric the functions emit.
pub const NAMESPACE: &str = "GigastoreReseller";

/// The level: `AWS_LAMBDA_LOG_LEVEL` (Lambda's application log level, as the runtime's own
/// subscriber reads it), else `RUST_LOG` (a level, such as `debug`), else `info`. Levels only,
/// no per-module directives: that keeps a regex engine out of the binary.
fn filter(lookup: impl Fn(&str) -> Option<String>) -> LevelFilter {
    let level = |name| lookup(name).filter(|l: &String| !l.trim().is_empty());
    let parsed = match level("AWS_LAMBDA_LOG_LEVEL").or_else(|| level("RUST_LOG")) {
        // Lambda's levels are TRACE..FATAL; tracing's stop at ERROR.
        Some(l) if l.trim().eq_ignore_ascii_case("fatal") => Some(LevelFilter::ERROR),
        Some(l) => l.trim().parse::<LevelFilter>().ok(),
        None => None,
    };
    parsed.unwrap_or(LevelFilter::INFO)
}

/// The most a dependency may log, whatever the level: at DEBUG and TRACE the Lambda runtime logs
/// raw invocations (the `?token=` secret, headers, bodies), the AWS SDK logs responses (emails)
/// and errors with the items they carry, the HTTP stack logs headers (session tokens). This
/// library logs nothing secret or personal at any level, so only its own events go lower.
pub const DEPENDENCIES_AT_MOST: LevelFilter = LevelFilter::INFO;

/// What is logged at `level`: this library's events at it, every other crate's at most at
/// [`DEPENDENCIES_AT_MOST`].
fn targets(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level.min(DEPENDENCIES_AT_MOST))
        .with_target(module_path!().split("::").next().unwrap_or("shared"), level)
}

/// The JSON log subscriber writing to `writer`: one object per line, event fields and the
/// current span's fields (each function's own, see `pipeline::Webhook::span`) at the top level.
/// Its level comes from the process environment (see [`filter`]).
pub fn subscriber<W>(writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    subscriber_with(writer, |name| std::env::var(name).ok())
}

/// [`subscriber`], its level read through `lookup` instead of the environment.
pub fn subscriber_with<W>(
    writer: W,
    lookup: impl Fn(&str) -> Option<String>,
) -> impl Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let mut layer = json_subscriber::JsonLayer::new(writer);
    layer
        .with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
        .with_level("level")
        .with_flattened_event()
        .with_top_level_flattened_current_span();
    tracing_subscriber::registry()
        .with(targets(filter(lookup)))
        .with(layer)
}

/// Installs [`subscriber`] over `writer` (stdout in Lambda) as the process's subscriber.
pub fn init<W>(writer: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    // Only fails if a subscriber is already installed, which then keeps logging.
    let _ = tracing::subscriber::set_global_default(subscriber(writer));
}

/// A count a function emits, with the `Function` dimension and at most one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// The extra dimension, if any.
    pub dimension: Option<(&'static str, &'static str)>,
}

impl Metric {
    /// A count without an extra dimension.
    pub const fn count(name: &'static str) -> Self {
        Self {
            name,
            dimension: None,
        }
    }

    /// The same count, also by `key` = `value`.
    pub const fn by(self, key: &'static str, value: &'static str) -> Self {
        Self {
            name: self.name,
            dimension: Some((key, value)),
        }
    }
}

/// One EMF document holding each metric with its count for `function`, at `timestamp_ms` (a
/// request counts each metric once; a batch, many events in one line).
///
/// Each metric is published without dimensions (for alarms across functions), per function,
/// and per function and its extra dimension.
pub fn emf_counts(function: &str, counts: &[(Metric, u64)], timestamp_ms: i64) -> Value {
    let mut root = Map::new();
    let mut directives = Vec::new();
    root.insert("Function".into(), function.into());
    for (metric, n) in counts {
        let mut dimensions = vec![json!([]), json!(["Function"])];
        if let Some((key, value)) = metric.dimension {
            root.insert(key.into(), value.into());
            dimensions.push(json!(["Function", key]));
        }
        let count = root.get(metric.name).and_then(Value::as_u64).unwrap_or(0) + n;
        root.insert(metric.name.into(), count.into());
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": dimensions,
            "Metrics": [{"Name": metric.name, "Unit": "Count"}],
        }));
    }
    root.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
    );
    Value::Object(root)
}

/// Prints an EMF document counting each of `metrics` once on its own stdout line, where
/// CloudWatch Logs extracts it.
pub fn emit(function: &str, metrics: &[Metric]) {
    let ones: Vec<(Metric, u64)> = metrics.iter().map(|&m| (m, 1)).collect();
    emit_counts(function, &ones);
}

/// The same with a count for each metric.
pub fn emit_counts(function: &str, counts: &[(Metric, u64)]) {
    if counts.is_empty() {
        return;
    }
    let Ok(mut line) = serde_json::to_vec(&emf_counts(function, counts, now_millis())) else {
        return;
    };
    line.push(b'\n');
    // One write of the whole line; a line stdout refuses is lost, never a panic (as println!).
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &line);
}

fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document of one request counting each of `metrics` once.
    fn emf_document(function: &str, metrics: &[Metric], timestamp_ms: i64) -> Value {
        let ones: Vec<(Metric, u64)> = metrics.iter().map(|&m| (m, 1)).collect();
        emf_counts(function, &ones, timestamp_ms)
    }

    #[test]
    fn emf_documents_follow_the_specification() {
        let doc = emf_document(
            "activation-request",
            &[Metric::count("ActivationRefused").by("Reason", "no_units_left")],
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
            &[
                Metric::count("EsimStatusReceived"),
                Metric::count("EsimUnknownState"),
            ],
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
    fn counts_are_emitted_as_given() {
        let doc = emf_counts(
            "event-publisher",
            &[
                (Metric::count("EventsPublished"), 12),
                (Metric::count("EventsFailed"), 0),
            ],
            0,
        );
        assert_eq!(doc["EventsPublished"], 12);
        assert_eq!(doc["EventsFailed"], 0);
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        let env = |level: Option<&'static str>, rust_log: Option<&'static str>| {
            move |name: &str| match name {
                "AWS_LAMBDA_LOG_LEVEL" => level.map(str::to_owned),
                "RUST_LOG" => rust_log.map(str::to_owned),
                _ => None,
            }
        };
        let shown = |f: LevelFilter| Some(f.to_string());
        assert_eq!(
            shown(filter(env(Some("WARN"), Some("debug")))).as_deref(),
            Some("warn")
        );
        assert_eq!(
            shown(filter(env(Some("FATAL"), None))).as_deref(),
            Some("error")
        );
        assert_eq!(
            shown(filter(env(None, Some("debug")))).as_deref(),
            Some("debug")
        );
        assert_eq!(shown(filter(env(None, None))).as_deref(), Some("info"));
        assert_eq!(
            shown(filter(env(Some("loud"), None))).as_deref(),
            Some("info")
        );
    }

    #[test]
    fn dependencies_never_log_below_info() {
        use tracing::Level;
        for level in [
            LevelFilter::TRACE,
            LevelFilter::DEBUG,
            LevelFilter::INFO,
            LevelFilter::WARN,
        ] {
            let targets = targets(level);
            for dependency in [
                "lambda_runtime::layers::api_response",
                "aws_smithy_runtime",
                "hyper",
            ] {
                assert!(
                    !targets.would_enable(dependency, &Level::DEBUG),
                    "{level} {dependency}"
                );
                assert_eq!(
                    targets.would_enable(dependency, &Level::INFO),
                    level >= LevelFilter::INFO
                );
            }
            let own = Level::DEBUG;
            assert_eq!(
                targets.would_enable("shared::webhook::pipeline", &own),
                level >= own
            );
        }
    }
}
