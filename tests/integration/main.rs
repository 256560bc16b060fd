//! The integration tests, as one program: one local DynamoDB-API server (moto) for the whole
//! run, a fresh table per test, created from `template.yaml`.

mod activation;
mod balance;
mod cli;
mod common;
mod contract;
mod country;
mod esim;
mod events;
mod faults;
mod fulfilment;
mod gigastore;
mod grants;
mod load;
mod logs;
mod openapi;
mod publishing;
mod purchases;
mod registration;
mod replay;
mod secrets;
mod template;
mod topups;
