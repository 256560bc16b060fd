//! `entitlements replay`: applies the webhooks the functions logged as not stored, through the
//! same webhook code, at the time they were received. Idempotent: a second replay of the same
//! log changes nothing.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use shared::adapters::dynamo::DynamoStore;
use shared::domain::deadline::Deadline;
use shared::domain::payload::FromBody;
use shared::domain::store::StoreError;
use shared::webhook::{Webhook, NOT_STORED};
use time::OffsetDateTime;

use crate::webhooks::{self, Visit};

/// Time one replayed webhook may take.
const BUDGET: Duration = Duration::from_secs(30);

/// How far a logged receipt time may be ahead of this machine's clock (clocks differ a little).
/// A time further ahead is refused: replayed, it would outrank every later fact.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// One payload a function could not store, as its log line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStored {
    /// The route it came in on.
    pub route: String,
    /// When the function received it.
    pub received_at: OffsetDateTime,
    /// The body, whole.
    pub payload: String,
    /// Where it was logged: `file:n`, the n-th line (or event) of the file.
    pub source: String,
}

/// A log line that should hold a payload but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{at}: a not-stored line without a usable {field}")]
pub struct UnusableLine {
    /// Where it is: `file:n`.
    pub at: String,
    /// The missing, malformed or refused field.
    pub field: &'static str,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A log file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// A payload could not be stored (again).
    #[error("{route} received {received_at}: {error}")]
    Store {
        /// Its route.
        route: String,
        /// When it was received.
        received_at: String,
        /// Why.
        error: String,
    },
    /// The report could not be written.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The log lines of `text` with their positions: one per line (numbered from 1), or the
/// `message` of each event (numbered from 1) when `text` is the JSON that
/// `aws logs filter-log-events` prints.
fn log_lines(text: &str) -> Vec<(usize, Value)> {
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text) {
        if let Some(Value::Array(events)) = doc.get("events") {
            let messages = events.iter().map(|e| e["message"].as_str());
            return (1..)
                .zip(messages)
                .filter_map(|(n, m)| Some((n, serde_json::from_str(m?).ok()?)))
                .collect();
        }
    }
    // A line may carry a prefix (e.g. `aws logs tail` prints time and stream first).
    let json = |line: &str| {
        line.find('{')
            .and_then(|at| serde_json::from_str(&line[at..]).ok())
    };
    (1..)
        .zip(text.lines())
        .filter_map(|(n, line)| Some((n, json(line)?)))
        .collect()
}

/// The not-stored payloads in `file`, in order. A receipt time later than `now` (beyond
/// [`CLOCK_SKEW`]) makes its line unusable.
pub fn not_stored_in(
    file: &Path,
    now: OffsetDateTime,
) -> Result<Vec<Result<NotStored, UnusableLine>>, ReplayError> {
    let text = std::fs::read_to_string(file).map_err(|e| ReplayError::Read(file.to_owned(), e))?;
    let latest = now + CLOCK_SKEW;
    let entries = log_lines(&text)
        .into_iter()
        .filter(|(_, line)| line["message"] == NOT_STORED)
        .map(|(n, line)| {
            let source = format!("{}:{n}", file.display());
            let unusable = |field| UnusableLine {
                at: source.clone(),
                field,
            };
            let text = |field| line[field].as_str().ok_or_else(|| unusable(field));
            let received_at = shared::domain::clock::parse(text("received_at")?)
                .map_err(|_| unusable("received_at"))?;
            if received_at > latest {
                return Err(unusable("received_at (later than now)"));
            }
            Ok(NotStored {
                route: text("route")?.to_owned(),
                received_at,
                payload: text("payload")?.to_owned(),
                source,
            })
        })
        .collect();
    Ok(entries)
}

/// What replaying one payload did: the webhook's own outcome word, or why it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Stored now; the outcome as the function logs it (`recorded`, `known_user`…).
    Applied(&'static str),
    /// Nothing to do: already stored, or not something any webhook accepts.
    Skipped(String),
}

/// Parses and applies one payload through webhook `W`, at the time it was received.
async fn apply<W: Webhook>(
    webhook: &W,
    entry: &NotStored,
    dry_run: bool,
) -> Result<Replayed, StoreError> {
    let payload = match W::Payload::from_body(entry.payload.as_bytes()) {
        Ok(payload) => payload,
        Err(invalid) => return Ok(Replayed::Skipped(format!("invalid payload: {invalid}"))),
    };
    if dry_run {
        return Ok(Replayed::Applied("would apply"));
    }
    let deadline = Deadline::after(BUDGET);
    let outcome = deadline
        .run(webhook.call(&payload, entry.received_at, deadline))
        .await?;
    Ok(match W::answer(&payload, outcome).outcome {
        "unchanged" => Replayed::Skipped("already stored".to_owned()),
        outcome => Replayed::Applied(outcome),
    })
}

/// Replays one payload on the webhook its route names.
pub async fn replay_one(
    store: &DynamoStore,
    entry: &NotStored,
    dry_run: bool,
) -> Result<Replayed, StoreError> {
    type Applying<'a> = Pin<Box<dyn Future<Output = Result<Replayed, StoreError>> + 'a>>;
    /// The registered webhook that serves the entry's route, applying it.
    struct Find<'a> {
        store: &'a DynamoStore,
        entry: &'a NotStored,
        dry_run: bool,
        found: Option<Applying<'a>>,
    }
    impl<'a> Visit<DynamoStore> for Find<'a> {
        fn visit<W: Webhook + 'static>(&mut self, make: fn(DynamoStore) -> W) {
            if W::ROUTE != self.entry.route {
                return;
            }
            let (entry, dry_run) = (self.entry, self.dry_run);
            self.found = Some(if W::REPLAYABLE {
                let webhook = make(self.store.clone());
                Box::pin(async move { apply(&webhook, entry, dry_run).await })
            } else {
                let why = format!("{} is never replayed", W::FUNCTION);
                Box::pin(async move { Ok(Replayed::Skipped(why)) })
            });
        }
    }
    let mut find = Find {
        store,
        entry,
        dry_run,
        found: None,
    };
    webhooks::each(&mut find);
    match find.found {
        Some(applying) => applying.await,
        None => Ok(Replayed::Skipped(format!(
            "no webhook serves {}",
            entry.route
        ))),
    }
}

/// Replays every not-stored payload in `files`, printing one line each; errs if any could
/// not be read or applied (after trying all of them).
pub async fn replay(
    store: &DynamoStore,
    files: &[PathBuf],
    dry_run: bool,
    out: &mut impl Write,
) -> Result<(), ReplayError> {
    let (mut applied, mut skipped, mut first_failure) = (0, 0, None);
    let now = OffsetDateTime::now_utc();
    for file in files {
        for entry in not_stored_in(file, now)? {
            let entry = match entry {
                Ok(entry) => entry,
                Err(unusable) => {
                    writeln!(out, "skipped  {unusable}")?;
                    skipped += 1;
                    continue;
                }
            };
            let at = shared::domain::clock::format(entry.received_at);
            match replay_one(store, &entry, dry_run).await {
                Ok(Replayed::Applied(outcome)) => {
                    let (route, source) = (&entry.route, &entry.source);
                    writeln!(out, "applied  {route} received {at}: {outcome} ({source})")?;
                    applied += 1;
                }
                Ok(Replayed::Skipped(why)) => {
                    writeln!(out, "skipped  {} received {at}: {why}", entry.route)?;
                    skipped += 1;
                }
                Err(error) => {
                    writeln!(
                        out,
                        "failed   {} received {at}: {}",
                        entry.route,
                        error.chain()
                    )?;
                    first_failure.get_or_insert(ReplayError::Store {
                        route: entry.route.clone(),
                        received_at: at,
                        error: error.chain(),
                    });
                }
            }
        }
    }
    let verb = if dry_run { "would apply" } else { "applied" };
    writeln!(out, "{verb} {applied}, skipped {skipped}")?;
    first_failure.map_or(Ok(()), Err)
}

/// What `replay` is told.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log files: the functions' JSON log lines, or the JSON `aws logs filter-log-events` prints
    #[arg(long = "from-log", value_name = "FILE", required = true, num_args = 1..)]
    from_log: Vec<PathBuf>,
    /// Print what would be applied, write nothing
    #[arg(long)]
    dry_run: bool,
}

/// Replays the logs `args` name into the table.
pub async fn run(
    args: Args,
    cx: &super::Context,
    out: &mut impl Write,
) -> Result<(), super::CliError> {
    Ok(replay(&cx.store, &args.from_log, args.dry_run, out).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_function_log_lines_and_filter_log_events_output() {
        let line = serde_json::json!({
            "message": NOT_STORED, "route": "POST /webhooks/esim-status",
            "received_at": "2026-11-24T00:00:00.123Z", "payload": "{\"iccid\":\"1\"}"
        })
        .to_string();
        let lines =
            format!("{line}\nnot json\n{{\"message\":\"request\"}}\n2026-11-24 stream {line}\n");
        assert_eq!(log_lines(&lines).len(), 3);
        let events = serde_json::json!({"events": [{"message": line, "timestamp": 1}], "searchedLogStreams": []});
        let parsed = log_lines(&events.to_string());
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].1["route"], "POST /webhooks/esim-status");
    }

    #[test]
    fn a_receipt_time_in_the_future_is_refused_and_every_line_says_where_it_is() {
        let now = OffsetDateTime::now_utc();
        let line = |at: OffsetDateTime| {
            serde_json::json!({
                "message": NOT_STORED, "route": "POST /webhooks/esim-status",
                "received_at": shared::domain::clock::format(at), "payload": "{}"
            })
            .to_string()
        };
        let skewed = now + CLOCK_SKEW - Duration::from_secs(1);
        let future = now + CLOCK_SKEW + Duration::from_secs(1);
        let text = [line(now), "not json".to_owned(), line(future), line(skewed)].join("\n");
        let file = std::env::temp_dir().join(format!("not-stored-{}.log", std::process::id()));
        std::fs::write(&file, text).unwrap();
        let entries = not_stored_in(&file, now).unwrap();
        let _ = std::fs::remove_file(&file);
        let at = |n| format!("{}:{n}", file.display());
        assert_eq!(entries.len(), 3);
        assert!(matches!(&entries[0], Ok(e) if e.source == at(1)));
        assert!(
            matches!(&entries[1], Err(u) if u.at == at(3) && u.field == "received_at (later than now)")
        );
        assert!(matches!(&entries[2], Ok(e) if e.source == at(4)));
    }
}
