//! The outbound side: the domain's ports over AWS. `dynamo` implements every storage port over
//! one table, `secrets_manager` reads a secret, `sdk` is the configuration every client shares.

pub mod dynamo;
pub mod sdk;
pub mod secrets_manager;
