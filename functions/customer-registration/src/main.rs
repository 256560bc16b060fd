//! Lambda entry point: wires logging, configuration and the DynamoDB store to the webhook.

use customer_registration::RegistrationWebhook;
use shared::config::Config;
use shared::dynamo::{client_from_env, DynamoStore};
use shared::pipeline::Gate;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init(std::io::stdout);
    let config = Config::from_env()?;
    let gate = Gate::from_config(&config).await;
    let store = DynamoStore::new(client_from_env().await, config.table_name);
    shared::pipeline::run(RegistrationWebhook(store), gate).await
}
