//! Shared core of the Gigastore reseller backend. Folders are the hexagon's layers
//! (`docs/architecture.md` has a row for each): `domain` decides and owns its ports, `adapters`
//! implement them, `webhook` and `runtime` bring requests in, and `testkit` (feature) tests them.

pub mod adapters;
pub mod domain;
pub mod runtime;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod webhook;
