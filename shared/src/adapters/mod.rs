//! The outbound side: the domain's ports over AWS and Gigastore. `dynamo` implements every
//! storage port over one table, `gigastore` the partner API port over HTTPS, `secrets_manager`
//! reads a secret, `sdk` is the configuration every client shares.

pub mod dynamo;
pub mod gigastore;
pub mod sdk;
pub mod secrets_manager;
pub mod tls;
