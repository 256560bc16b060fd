//! Lambda entry point: wires tracing, configuration and the DynamoDB client to the handler.

use lambda_http::{run, service_fn, Error};
use shared::config::{dynamodb_client, Config};
use shared::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let store = DynamoStore::new(dynamodb_client().await, config.table_name);
    let (store, secrets) = (&store, &config.secrets);
    run(service_fn(move |request| {
        customer_registration::handle(store, secrets, request)
    }))
    .await
}
