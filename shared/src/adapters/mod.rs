//! The outbound side: the domain's ports over AWS and Gigastore. `dynamo` implements every
//! storage port over one table, `gigastore` the partner API port over HTTPS, `secrets_manager`
//! reads a secret, `sdk` is the configuration every AWS client shares (and their HTTPS client),
//! `tls` the one TLS configuration of every HTTPS client, its roots read once.

pub mod dynamo;
pub mod gigastore;
pub mod sdk;
pub mod secrets_manager;
pub mod tls;
