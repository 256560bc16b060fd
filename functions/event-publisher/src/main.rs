//! Lambda entry point: the stream's events onto the bus; everything is set up once, at init.

use event_publisher::{Bus, Config, Publisher};
use shared::adapters::dynamo::DynamoStore;

fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::runtime()?.block_on(async {
        shared::runtime::telemetry::init(std::io::stdout);
        let config = Config::from_env()?;
        let aws = shared::adapters::sdk::load().await;
        let store = DynamoStore::connect(&aws, config.table_name).await;
        let bus = Bus::new(event_publisher::client(&aws), config.event_bus_name);
        event_publisher::run(Publisher::new(store, bus)).await
    })
}
