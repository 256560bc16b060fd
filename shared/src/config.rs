//! Configuration from the environment, read once at init.

use crate::auth::{InvalidCidr, SourceAllowList, WebhookSecrets};

/// What every function needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Accepted webhook secrets (`WEBHOOK_SECRETS`, comma-separated).
    pub secrets: WebhookSecrets,
    /// Where calls may come from (`ALLOWED_SOURCE_CIDRS`, comma-separated; empty allows all).
    pub allowed_sources: SourceAllowList,
}

/// The environment cannot run a function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `TABLE_NAME` is unset or blank.
    #[error("TABLE_NAME is not set")]
    MissingTableName,
    /// `ALLOWED_SOURCE_CIDRS` is not a list of CIDRs.
    #[error(transparent)]
    AllowedSources(#[from] InvalidCidr),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("TABLE_NAME")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or(ConfigError::MissingTableName)?;
        let secrets = WebhookSecrets::parse(&lookup("WEBHOOK_SECRETS").unwrap_or_default());
        if secrets.is_empty() {
            tracing::error!("WEBHOOK_SECRETS is empty: every request will be refused with 401");
        }
        let allowed_sources =
            SourceAllowList::parse(&lookup("ALLOWED_SOURCE_CIDRS").unwrap_or_default())?;
        Ok(Self {
            table_name,
            secrets,
            allowed_sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_name_is_required() {
        assert_eq!(
            Config::from_lookup(|_| None).unwrap_err(),
            ConfigError::MissingTableName
        );
        let config = Config::from_lookup(|name| match name {
            "TABLE_NAME" => Some("t".into()),
            "WEBHOOK_SECRETS" => Some("a,b".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.table_name, "t");
        assert_eq!(config.secrets.len(), 2);
    }
}
