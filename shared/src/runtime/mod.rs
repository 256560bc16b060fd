//! The composition root every function's `main` calls: configuration, the AWS clients, the gate
//! and the store, set up once at init, then the webhook served on the Lambda runtime.

pub mod config;
pub mod telemetry;

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::{sdk, secrets_manager};
use crate::webhook::gate::jwt::UserTokenKeys;
use crate::webhook::gate::secrets::{RefreshPolicy, SecretSource};
use crate::webhook::gate::user_tokens::UserTokens;
use crate::webhook::gate::Gate;
use crate::webhook::{pipeline, Webhook};
use config::{Config, SecretsConfig, UserTokenConfig};

/// Invocations one process may serve at once (Lambda Managed Instances set it).
fn max_concurrency() -> usize {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1)
}

/// One invocation at a time (classic Lambda): one thread, no work stealing. Several at once
/// (Managed Instances): a thread per core.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match max_concurrency() {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// The gate `config` and `user_tokens` describe; their managed secrets are read here, at init,
/// together. One that cannot be read is logged, not fatal: requests are refused (503) until a
/// retry reads it.
async fn gate(config: &Config, user_tokens: &UserTokenConfig, aws: &aws_config::SdkConfig) -> Gate {
    let client = secrets_manager::client(aws);
    let secrets = async {
        match &config.secrets {
            SecretsConfig::Fixed(secrets) => SecretSource::fixed(secrets.clone()),
            SecretsConfig::Managed { arn } => {
                SecretSource::managed(client.clone(), arn.clone(), RefreshPolicy::default()).await
            }
        }
    };
    let user_tokens = async {
        match user_tokens {
            UserTokenConfig::Off => UserTokens::Off,
            UserTokenConfig::Keys(keys) => UserTokens::fixed(UserTokenKeys::clone(keys)),
            UserTokenConfig::Managed { arn } => {
                UserTokens::managed(client.clone(), arn.clone(), RefreshPolicy::default()).await
            }
        }
    };
    let (secrets, user_tokens) = tokio::join!(secrets, user_tokens);
    Gate {
        secrets,
        sources: config.allowed_sources.clone(),
        user_tokens,
    }
}

/// Says once, at init, whether user tokens are verified and how (never with a key).
fn log_user_tokens(user_tokens: &UserTokenConfig) {
    match user_tokens {
        UserTokenConfig::Off => {
            tracing::info!("user tokens are not verified: the app's userToken is the user id")
        }
        UserTokenConfig::Managed { arn } => {
            tracing::info!(algorithm = "HS256", secret = %arn, "user tokens are verified")
        }
        UserTokenConfig::Keys(keys) => {
            tracing::info!(algorithm = ?keys.algorithm(), "user tokens are verified")
        }
    }
}

/// Serves the webhook `make` builds over the table, until the process ends. Everything that can
/// be set up once is set up here, before the first invocation: logging, configuration, the SDK
/// configuration, the secrets (read), and the table's connection (opened).
pub fn serve<W: Webhook + 'static>(
    make: impl FnOnce(DynamoStore) -> W,
) -> Result<(), lambda_http::Error> {
    runtime()?.block_on(async {
        telemetry::init(std::io::stdout);
        let config = Config::from_env()?;
        // Only webhooks whose payload names the user read (and need) the user token keys.
        let user_tokens = match W::USER_TOKEN {
            Some(_) => {
                let user_tokens = UserTokenConfig::from_env()?;
                log_user_tokens(&user_tokens);
                user_tokens
            }
            None => UserTokenConfig::Off,
        };
        let aws = sdk::load().await;
        let table = config.table_name.clone();
        let (gate, store) = tokio::join!(
            gate(&config, &user_tokens, &aws),
            DynamoStore::connect(&aws, table)
        );
        pipeline::run(make(store), gate).await
    })
}
