//! Shared core of the Gigastore reseller backend.
//!
//! Hexagonal layout (see `docs/architecture.md`):
//! - domain, free of HTTP and SDK types: `ids`, `payload`, `clock`, and one module per use case
//!   (`activation`, `entitlement`, `registration`, `esim`, `balance`, `country`, `views`), each
//!   declaring the storage port it needs beside the records it stores; `facts` what facts kept
//!   with a history share; `store` holds the error every port returns; `events` decides which
//!   stored change becomes which domain event;
//! - adapter: `dynamo`, the ports over one DynamoDB table;
//! - request pipeline: `pipeline` (one generic path for every function), `http`, `auth`,
//!   `telemetry`, `config`;
//! - `testkit` (feature `testkit`): an in-memory store and failing stores for tests.

pub mod activation;
pub mod auth;
pub mod aws;
pub mod balance;
pub mod clock;
pub mod config;
pub mod country;
pub mod deadline;
pub mod dynamo;
pub mod entitlement;
pub mod esim;
pub mod events;
pub mod facts;
pub mod http;
pub mod ids;
pub mod lambda;
pub mod payload;
pub mod pipeline;
pub mod registration;
pub mod secrets;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod views;
