//! The composition root every function's `main` calls: configuration, the AWS clients, the gate
//! and the store (and, for the functions that need it, the user hash key), set up once at init,
//! then the webhook (or, for the purchase API, the [`HttpFunction`]) served on the Lambda runtime.

pub mod config;
pub mod telemetry;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use lambda_http::{service_fn, Body, Request, Response};

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::{sdk, secrets_manager};
use crate::webhook::gate::jwt::UserTokenKeys;
use crate::webhook::gate::secrets::{RefreshPolicy, SecretSource, Sourced, UserHashKeySource};
use crate::webhook::gate::user_tokens::UserTokens;
use crate::webhook::gate::Gate;
use crate::webhook::{pipeline, Webhook};
use config::{Config, SecretsConfig, UserHashKeyConfig, UserTokenConfig};

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

/// The user hash key `config` names, its managed secret read here, at init; `None` when none is
/// configured. A secret that cannot be read is logged, not fatal: what needs it retries.
pub async fn user_hash_key(
    config: &UserHashKeyConfig,
    aws: &aws_config::SdkConfig,
) -> Option<UserHashKeySource> {
    match config {
        UserHashKeyConfig::None => {
            tracing::warn!(
                "no user hash key (USER_HASH_KEY_ARN or USER_HASH_KEY): users cannot be erased"
            );
            None
        }
        UserHashKeyConfig::Fixed(key) => Some(Sourced::fixed(key.clone())),
        UserHashKeyConfig::Managed { arn } => {
            let client = secrets_manager::client(aws);
            Some(Sourced::managed(client, arn.clone(), RefreshPolicy::kept()).await)
        }
    }
}

/// Serves the webhook `make` builds over the table, until the process ends. Everything that can
/// be set up once is set up here, before the first invocation: logging, configuration, the SDK
/// configuration, the secrets (read), and the table's connection (opened).
pub fn serve<W: Webhook + 'static>(
    make: impl FnOnce(DynamoStore) -> W,
) -> Result<(), lambda_http::Error> {
    serve_webhook(false, |store, _| make(store))
}

/// [`serve`] for a webhook that also needs the user hash key (Activation Request, which
/// recognises an erased user's redeliveries): read at init, with the rest.
pub fn serve_with_user_hash_key<W: Webhook + 'static>(
    make: impl FnOnce(DynamoStore, Option<UserHashKeySource>) -> W,
) -> Result<(), lambda_http::Error> {
    serve_webhook(true, make)
}

fn serve_webhook<W: Webhook + 'static>(
    keyed: bool,
    make: impl FnOnce(DynamoStore, Option<UserHashKeySource>) -> W,
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
        let hash_key = match keyed {
            true => Some(UserHashKeyConfig::from_env()?),
            false => None,
        };
        let aws = sdk::load().await;
        let table = config.table_name.clone();
        let (gate, store, hash_key) = tokio::join!(
            gate(&config, &user_tokens, &aws),
            DynamoStore::connect(&aws, table),
            async {
                match &hash_key {
                    Some(config) => user_hash_key(config, &aws).await,
                    None => None,
                }
            }
        );
        pipeline::run(make(store, hash_key), gate).await
    })
}

/// An HTTP function that is not a Gigastore webhook (the purchase API): it has no webhook
/// secret, and checks, answers, logs and counts every request itself.
pub trait HttpFunction: Send + Sync + 'static {
    /// The response to `request`, logged and counted.
    fn handle(&self, request: Request) -> impl Future<Output = Response<Body>> + Send;
}

/// Serves the [`HttpFunction`] `make` builds over the table and the user hash key, until the
/// process ends. Set up once, before the first invocation: logging, `TABLE_NAME`, the SDK
/// configuration, and, together, the table's connection and the user hash key (read).
pub fn serve_http<F: HttpFunction>(
    make: impl FnOnce(DynamoStore, Option<UserHashKeySource>) -> F,
) -> Result<(), lambda_http::Error> {
    runtime()?.block_on(async {
        telemetry::init(std::io::stdout);
        let table = config::table_name(&|name| std::env::var(name).ok())?;
        let hash_key = UserHashKeyConfig::from_env()?;
        let aws = sdk::load().await;
        let (store, hash_key) = tokio::join!(
            DynamoStore::connect(&aws, table),
            user_hash_key(&hash_key, &aws)
        );
        let function = Arc::new(make(store, hash_key));
        lambda_http::run_concurrent(service_fn(move |request| {
            let function = Arc::clone(&function);
            async move { Ok::<_, Infallible>(function.handle(request).await) }
        }))
        .await
    })
}
