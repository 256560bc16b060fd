//! Stores for tests: [`InMemoryStore`] obeys the same contract as the DynamoDB adapter
//! (conditional, atomic writes), and [`FailingStore`] fails every request in one chosen way.
//! [`LogCapture`] collects what the production log subscriber writes.

mod failing;
mod memory;

use std::sync::{Arc, Mutex};

pub use failing::{FailingStore, Failure};
pub use memory::InMemoryStore;

/// Collects the lines the production log subscriber writes, for assertions.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Logs of this thread go here, through [`crate::telemetry::subscriber`], until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(crate::telemetry::subscriber(self.clone()))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every line written so far, as JSON (a line that is not JSON is a test failure).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("log capture poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// The secret [`reply`] presents.
pub const SECRET: &str = "unit-test-secret";

/// The reply `webhook` gives an authenticated request with `body`.
pub async fn reply<W: crate::pipeline::Webhook>(webhook: &W, body: &str) -> crate::http::Reply {
    let mut request = lambda_http::Request::new(lambda_http::Body::Text(body.to_owned()));
    let bearer = format!("Bearer {SECRET}");
    if let Ok(value) = bearer.parse() {
        request.headers_mut().insert("authorization", value);
    }
    let gate = crate::pipeline::Gate::open(crate::auth::WebhookSecrets::parse(SECRET));
    crate::pipeline::respond(webhook, &gate, &request).await
}
