//! Lambda entry point: the stream's events onto the bus; everything is set up once, at init.

use event_publisher::{Bus, Config, Publisher};
use shared::dynamo::DynamoStore;

fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::runtime()?.block_on(async {
        shared::telemetry::init(std::io::stdout);
        let config = Config::from_env()?;
        let aws = shared::aws::load().await;
        let store = DynamoStore::connect(&aws, config.table_name).await;
        let bus = Bus::new(event_publisher::client(&aws), config.event_bus_name);
        event_publisher::run(Publisher::new(store, bus)).await
    })
}
