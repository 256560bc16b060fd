//! The DynamoDB adapter: implements the domain's storage ports over one table.
//!
//! One module per thing stored, each with its item types beside the code that writes them
//! (`activation`, `entitlement`, `purchase`, `erasure`, `registration`, `esim`,
//! `country`, `balance`); the table's
//! layout (every key, and which kind of item a key is) in `keys`; what facts with a history share
//! in `timeline`; the read models in `views`; what the event publisher reads in `events`. This
//! module holds what they share: the client, the item type and its serde, error classes,
//! conditional puts and transactions.

mod activation;
mod attempts;
mod balance;
mod country;
mod entitlement;
mod erasure;
mod esim;
pub mod events;
mod keys;
mod purchase;
mod registration;
mod timeline;
mod topup;
mod views;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::store::{FailureClass, StoreError};
use attempts::Attempts;

pub use keys::{GSI1, GSI2};

/// A DynamoDB item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// Reads an item written by this code into its type.
fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(StoreError::malformed)
}

/// Writes a value as an item.
fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::malformed)
}

/// Attempts of one transaction when concurrent transactions on the same items conflict; the
/// request's deadline may end them sooner.
const TRANSACTION_ATTEMPTS: u32 = 6;

/// Longest the warm-up read at init may take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait for a connection (TCP and TLS): a cold start's first one included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for one attempt; a DynamoDB write normally answers in a few milliseconds, so
/// an attempt that takes this long is retried on a fresh connection within the time left.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Error codes after which a retry may succeed; any other 4xx is a bug or misconfiguration.
const TRANSIENT_CODES: [&str; 7] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Cancellation reasons of a transaction after which a retry may succeed.
const TRANSIENT_REASONS: [&str; 3] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// A DynamoDB client over the shared configuration, with [`tuned`] timeouts and retries.
pub fn client(aws: &aws_config::SdkConfig) -> Client {
    Client::from_conf(tuned(aws_sdk_dynamodb::config::Builder::from(aws)).build())
}

/// Timeouts and retries for a function answering within seconds: short connect and attempt
/// timeouts, and the SDK's standard retries (throttling, 5xx, timeouts, connection errors) with
/// jittered backoff from 20 ms, each request's deadline ending them (`crate::domain::deadline`).
pub fn tuned(config: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(500));
    config.timeout_config(timeouts).retry_config(retries)
}

/// A random wait of up to `10 ms x 2^attempt` ("full jitter"), so writers that conflicted do
/// not retry in step.
fn jittered(attempt: u32) -> Duration {
    use std::hash::BuildHasher;
    let ceiling = 10u64 << attempt.min(8);
    let random = std::collections::hash_map::RandomState::new().hash_one(attempt);
    Duration::from_millis(random % (ceiling + 1))
}

/// The table, reached through one SDK client built at init.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl crate::domain::store::Store for DynamoStore {}

impl DynamoStore {
    /// A store over `table`, using `client` for every request.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store over `table` whose connection is open: at init, so the first request does not
    /// pay for DNS, TCP, TLS, credentials and endpoint resolution while a user waits.
    pub async fn connect(aws: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let store = Self::new(client(aws), table);
        store.warm_up().await;
        store
    }

    /// One cheap read of a key that never exists. Its failure is only logged: the first
    /// request then opens the connection itself.
    pub async fn warm_up(&self) {
        let key = keys::warm_up().attributes();
        let read = self.get(key).send();
        match tokio::time::timeout(WARM_UP_TIMEOUT, read).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %failed("DynamoDB GetItem", e).chain(), "warm-up read failed")
            }
            Err(_) => tracing::warn!("warm-up read timed out"),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client, for table administration.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A query on this table.
    fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// A consistent read of the item at `key`.
    fn get(&self, key: Item) -> GetItemFluentBuilder {
        let get = self.client.get_item().table_name(&self.table);
        get.set_key(Some(key)).consistent_read(true)
    }

    /// A write of `item`.
    fn put(&self, item: Item) -> PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
    }

    /// Sends a conditional put: `false`, not an error, when its condition fails (the item
    /// stored already says as much).
    async fn put_if(&self, put: PutItemFluentBuilder) -> Result<bool, StoreError> {
        let put = unless_condition_failed("DynamoDB PutItem", put.send().await)?;
        Ok(put.is_some())
    }

    /// Puts `item` unless its key is taken; `false` if it was.
    async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        self.put_if(
            self.put(item)
                .condition_expression("attribute_not_exists(pk)"),
        )
        .await
    }

    /// An update of the item at `key`.
    fn update(&self, key: Item) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// Sends `writes` as one transaction, retrying while concurrent transactions on the same
    /// items conflict.
    async fn transact(&self, writes: Transaction) -> Result<Transacted, StoreError> {
        let mut attempt = 1;
        loop {
            let attempts = Attempts::default();
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.items.clone()))
                .customize()
                .interceptor(attempts.clone())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Transacted::Committed),
                Err(err) => err,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            {
                let reasons = cancelled.cancellation_reasons();
                if reasons.iter().any(is_condition_failure) {
                    let by_name = writes.names.iter().copied().zip(reasons.iter().cloned());
                    return Ok(Transacted::ConditionFailed(Cancelled(by_name.collect())));
                }
                let transient = reasons
                    .iter()
                    .any(|r| r.code().is_some_and(|c| TRANSIENT_REASONS.contains(&c)));
                if transient && attempt < TRANSACTION_ATTEMPTS {
                    tokio::time::sleep(jittered(attempt)).await;
                    attempt += 1;
                    continue;
                }
                if transient {
                    return Err(StoreError::Contention {
                        operation: "DynamoDB TransactWriteItems",
                        attempts: attempt,
                    });
                }
            }
            let error = failed("DynamoDB TransactWriteItems", err);
            return Err(error.or_maybe_applied(attempts.maybe_applied()));
        }
    }
}

/// A transaction's writes, each with a name its cancellation reason is found by.
#[derive(Debug, Default)]
struct Transaction {
    names: Vec<&'static str>,
    items: Vec<TransactWriteItem>,
}

impl Transaction {
    /// The same transaction with the put `write` added under `name`.
    fn put(self, name: &'static str, write: Put) -> Self {
        self.with(name, TransactWriteItem::builder().put(write).build())
    }

    /// The same transaction with the condition check `write` added under `name`.
    fn check(self, name: &'static str, write: aws_sdk_dynamodb::types::ConditionCheck) -> Self {
        self.with(
            name,
            TransactWriteItem::builder().condition_check(write).build(),
        )
    }

    /// The same transaction with the update `write` added under `name`.
    fn update(self, name: &'static str, write: Update) -> Self {
        self.with(name, TransactWriteItem::builder().update(write).build())
    }

    /// The same transaction with `write` added under `name`.
    fn with(mut self, name: &'static str, write: TransactWriteItem) -> Self {
        self.names.push(name);
        self.items.push(write);
        self
    }
}

/// What a transaction did.
#[derive(Debug)]
enum Transacted {
    /// Every write applied.
    Committed,
    /// A condition failed; nothing applied.
    ConditionFailed(Cancelled),
}

/// The cancellation reasons of a transaction, by write name.
#[derive(Debug)]
struct Cancelled(HashMap<&'static str, CancellationReason>);

impl Cancelled {
    /// Whether the condition of the write named `name` failed.
    fn failed(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(is_condition_failure)
    }

    /// The item the write named `name` found, as it was (`ALL_OLD` on condition failure).
    fn item(&self, name: &str) -> Option<&Item> {
        self.0.get(name).and_then(CancellationReason::item)
    }
}

fn is_condition_failure(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

/// A request that failed, kept whole as the error's source and classed.
fn failed<E>(operation: &'static str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (class, maybe_applied) = match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            let transient_code = code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
            // A 5xx may come after the write was applied, and so may a transaction still in
            // progress (an earlier attempt is being applied); any other 4xx says it was not.
            let maybe_applied =
                service.raw().status().is_server_error() || code == Some(attempts::IN_PROGRESS);
            match transient_code || maybe_applied {
                true => (FailureClass::Transient, maybe_applied),
                false => (FailureClass::Permanent, false),
            }
        }
        SdkError::ConstructionFailure(_) => (FailureClass::Permanent, false),
        // Timeouts, dropped connections and unreadable responses: the request may have gone out.
        _ => (FailureClass::Transient, true),
    };
    StoreError::Request {
        operation,
        class,
        maybe_applied,
        source: Box::new(err),
    }
}

/// A request that could not be built: a bug in this adapter.
fn unbuildable(operation: &'static str, err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Request {
        operation,
        class: FailureClass::Permanent,
        maybe_applied: false,
        source: Box::new(err),
    }
}

/// Every item a query finds, over all pages.
async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| failed("DynamoDB Query", e))
}

/// A string attribute.
fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The error code of a request whose condition expression failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// A conditional single-item request (`operation`) whose condition failing is an answer, not an
/// error: `Ok(None)` (the item stored already says as much, or there is no such item).
fn unless_condition_failed<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E>>,
) -> Result<Option<O>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some(CONDITION_FAILED) => Ok(None),
        Err(e) => Err(failed(operation, e)),
    }
}
