//! Shared core of the Gigastore reseller backend.
//!
//! Hexagonal layout: `activation`, `registration`, `esim`, `entitlement` and `ids` hold the domain (no HTTP or SDK types), `store` holds
//! the storage port and its DynamoDB adapter, `http` and `auth` hold the API Gateway glue.

pub mod activation;
pub mod auth;
pub mod clock;
pub mod config;
pub mod entitlement;
pub mod esim;
pub mod http;
pub mod ids;
pub mod payload;
pub mod registration;
pub mod store;
pub mod telemetry;
