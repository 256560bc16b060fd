//! What the attempts of one request tell about its outcome. The SDK retries within one `send`
//! and reports only the last attempt's error; but an earlier attempt that timed out, lost its
//! connection, got a 5xx or found the transaction still in progress may have been applied, so
//! a later definite refusal (a throttle, say) does not mean "not applied".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

/// The error code of a transaction retried (same client request token) while DynamoDB is
/// still applying an earlier attempt of it.
pub const IN_PROGRESS: &str = "TransactionInProgressException";

/// Watches every attempt of one request; answers whether any may have been applied without
/// saying so.
#[derive(Debug, Clone, Default)]
pub struct Attempts(Arc<AtomicBool>);

impl Attempts {
    /// Whether an attempt ended without a definite answer.
    pub fn maybe_applied(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let server_error = context
            .response()
            .is_some_and(|r| r.status().is_server_error());
        let indeterminate = match context.output_or_error() {
            Some(Err(error)) => {
                let in_progress = error
                    .as_operation_error()
                    .and_then(|e| e.downcast_ref::<TransactWriteItemsError>())
                    .is_some_and(|e| e.code() == Some(IN_PROGRESS));
                in_progress
                    || server_error
                    || error.is_timeout_error()
                    || error.is_connector_error()
                    || error.is_response_error()
            }
            Some(Ok(_)) | None => false,
        };
        if indeterminate {
            self.0.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}
