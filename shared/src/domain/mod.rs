//! What the business decides, free of HTTP and SDK types: Gigastore's payloads (`ids`,
//! `payload`), time (`clock`, `deadline`), what every port shares (`store`, `timeline`), one module
//! per use case (`purchase` grants and refunds, `erasure` forgets a user) with the port it needs, the read models (`views`), the domain events
//! (`events`) and what a verified user token yields (`user_token`). Nothing here imports
//! anything outside this folder.

pub mod activation;
pub mod balance;
pub mod clock;
pub mod country;
pub mod deadline;
pub mod entitlement;
pub mod erasure;
pub mod esim;
pub mod events;
pub mod gigastore;
pub mod ids;
pub mod payload;
pub mod purchase;
pub mod registration;
pub mod store;
pub mod timeline;
pub mod user_token;
pub mod views;
