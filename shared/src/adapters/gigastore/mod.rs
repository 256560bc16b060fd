//! Gigastore's partner REST API: the [`Gigastore`] port over HTTP(S).
//!
//! docs/gigastore-contract.md ("Gigastore's REST API: what we call") says what each call relies
//! on. How a failure is classed, for money's sake:
//!
//! | what happened | [`CallError`] |
//! |---|---|
//! | no connection (refused, DNS, TLS), no token (credentials unreadable or refused, authentication failed), 401 again after a new token | `NotSent`: nothing was applied |
//! | a timeout or the deadline, a dropped connection, 5xx, 408, 429, any other non-2xx that is no 4xx, a 2xx whose body is not the answer | `Unknown`: it may have been applied |
//! | any other 4xx | `Refused`, with Gigastore's answer cut to [`REASON_CHARS`] characters |
//!
//! A 401 means the token was refused and nothing applied: a new token is fetched and the call
//! sent once more. Every call, authentication included, ends by its [`Deadline`].
//!
//! Nothing here logs a token, the client secret or an `Authorization` header, at any level.

mod auth;
mod transport;
mod wire;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};

pub use self::auth::{
    ClientCredentials, ClientSecret, CredentialSource, InvalidCredentials, RENEWAL_MARGIN,
};
pub use self::transport::{BaseUrl, InvalidBaseUrl};

use self::auth::{AuthError, Token, Tokens};
use self::transport::{Answer, Outgoing, SendError, Transport};
use self::wire::{CustomerAnswer, InventoryAnswer, TopUpAnswer, TopUpBody};
use crate::adapters::tls::TlsSetupError;
use crate::domain::deadline::Deadline;
use crate::domain::gigastore::{
    ActivatedItem, ActivatedItemId, CallError, Gigastore, InventoryItem, TopUpCall,
};
use crate::domain::ids::CustomerUid;

/// How much of a refusal's body is kept as its reason.
pub const REASON_CHARS: usize = 200;

/// The client: one per process, its connections pooled and its token cached.
#[derive(Debug)]
pub struct GigastoreClient {
    transport: Transport,
    tokens: Tokens,
}

impl GigastoreClient {
    /// A client of the API at `base_url`, authenticating with the credentials `source` gives;
    /// tokens renewed [`RENEWAL_MARGIN`] before they expire.
    pub fn new(base_url: BaseUrl, source: CredentialSource) -> Result<Self, TlsSetupError> {
        Self::with_renewal_margin(base_url, source, RENEWAL_MARGIN)
    }

    /// The same, renewing tokens `margin` before they expire (tests: a margin of a day or more
    /// renews before every call).
    pub fn with_renewal_margin(
        base_url: BaseUrl,
        source: CredentialSource,
        margin: Duration,
    ) -> Result<Self, TlsSetupError> {
        Ok(Self {
            transport: Transport::new(base_url)?,
            tokens: Tokens::new(source, margin),
        })
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &BaseUrl {
        self.transport.base()
    }

    /// Sends one call with the cached token; after a 401, once more with a new token. The
    /// answer is a 2xx's body, or the call's error.
    async fn call(
        &self,
        operation: &'static str,
        request: Request<'_>,
        deadline: Deadline,
    ) -> Result<Bytes, CallError> {
        let not_sent = |error: AuthError| CallError::NotSent {
            operation,
            reason: crate::domain::store::chain(&error),
        };
        let mut token = self
            .tokens
            .current(&self.transport, deadline)
            .await
            .map_err(not_sent)?;
        let mut renewed = false;
        loop {
            let answer = self
                .transport
                .send(request.outgoing(&token.authorization), deadline)
                .await
                .map_err(|e| match e {
                    SendError::NotSent(reason) => CallError::NotSent { operation, reason },
                    SendError::Lost(reason) => CallError::Unknown { operation, reason },
                })?;
            tracing::debug!(
                operation,
                status = answer.status.as_u16(),
                "Gigastore answered"
            );
            if answer.status != StatusCode::UNAUTHORIZED {
                return classify(operation, answer, &token);
            }
            if renewed {
                return Err(CallError::NotSent {
                    operation,
                    reason: "401 again with a new token: not authorized".into(),
                });
            }
            tracing::warn!(operation, "Gigastore answered 401: authenticating again");
            token = self
                .tokens
                .after_refusal(&token, &self.transport, deadline)
                .await
                .map_err(not_sent)?;
            renewed = true;
        }
    }
}

/// One call's request, sent again as is after a 401.
struct Request<'a> {
    method: Method,
    path: String,
    idempotency_key: Option<&'a str>,
    body: Option<Bytes>,
}

impl Request<'_> {
    fn outgoing<'b>(&'b self, authorization: &'b HeaderValue) -> Outgoing<'b> {
        Outgoing {
            method: self.method.clone(),
            path: &self.path,
            authorization,
            idempotency_key: self.idempotency_key,
            body: self.body.clone(),
        }
    }
}

/// A 2xx's body, or what the status says about the call.
fn classify(operation: &'static str, answer: Answer, token: &Token) -> Result<Bytes, CallError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(answer.body);
    }
    let definite_refusal = status.is_client_error()
        && !matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        );
    if definite_refusal {
        Err(CallError::Refused {
            operation,
            status: status.as_u16(),
            reason: reason_of(&answer.body, token.secret_text()),
        })
    } else {
        Err(CallError::Unknown {
            operation,
            reason: format!("HTTP {status}"),
        })
    }
}

/// A refusal's body as its reason: at most [`REASON_CHARS`] characters, on one line, without
/// the token (should Gigastore ever echo it).
fn reason_of(body: &[u8], token: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let token = String::from_utf8_lossy(token);
    let text = if token.is_empty() {
        text.into_owned()
    } else {
        text.replace(token.as_ref(), "[token]")
    };
    let mut reason: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(REASON_CHARS)
        .collect();
    if text.chars().nth(REASON_CHARS).is_some() {
        reason.push('…');
    }
    let reason = reason.trim();
    if reason.is_empty() {
        "(no body)".to_owned()
    } else {
        reason.to_owned()
    }
}

/// A path segment, percent-encoded (RFC 3986 unreserved characters kept).
fn segment(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A 2xx body that is not the answer: the call may have been applied.
fn unreadable(operation: &'static str, what: impl std::fmt::Display) -> CallError {
    CallError::Unknown {
        operation,
        reason: format!("unreadable answer: {what}"),
    }
}

impl Gigastore for GigastoreClient {
    async fn top_up(
        &self,
        call: &TopUpCall,
        deadline: Deadline,
    ) -> Result<ActivatedItemId, CallError> {
        const OPERATION: &str = "top-up";
        let body = TopUpBody::of(call).map_err(|e| CallError::Refused {
            operation: OPERATION,
            status: 0,
            reason: format!("refused before sending: {e}"),
        })?;
        let body = serde_json::to_vec(&body).map_err(|e| CallError::NotSent {
            operation: OPERATION,
            reason: format!("the body could not be written: {e}"),
        })?;
        let request = Request {
            method: Method::POST,
            path: "/gigastore/activations/top-up".into(),
            idempotency_key: Some(call.purchase_id.as_str()),
            body: Some(Bytes::from(body)),
        };
        let answer = self.call(OPERATION, request, deadline).await?;
        let item = serde_json::from_slice::<TopUpAnswer>(&answer)
            .map_err(|e| unreadable(OPERATION, e))?
            .activated()
            .map_err(|e| unreadable(OPERATION, e))?;
        tracing::info!(
            purchase_id = call.purchase_id.as_str(),
            activated_item = item.0.as_str(),
            "Gigastore topped up"
        );
        Ok(item)
    }

    async fn activated_items(
        &self,
        customer: &CustomerUid,
        deadline: Deadline,
    ) -> Result<Vec<ActivatedItem>, CallError> {
        const OPERATION: &str = "customer";
        let request = Request {
            method: Method::GET,
            path: format!(
                "/gigastore/activations/customers/{}",
                segment(customer.as_str())
            ),
            idempotency_key: None,
            body: None,
        };
        let answer = self.call(OPERATION, request, deadline).await?;
        serde_json::from_slice::<CustomerAnswer>(&answer)
            .map(CustomerAnswer::items)
            .map_err(|e| unreadable(OPERATION, e))
    }

    async fn refund(&self, item: &ActivatedItemId, deadline: Deadline) -> Result<(), CallError> {
        const OPERATION: &str = "refund";
        // Documented without the `/gigastore` prefix every other activation path has.
        let request = Request {
            method: Method::POST,
            path: format!("/activations/activated-items/{}/refund", segment(&item.0)),
            idempotency_key: None,
            body: None,
        };
        self.call(OPERATION, request, deadline).await?;
        tracing::info!(activated_item = item.0.as_str(), "Gigastore refunded");
        Ok(())
    }

    async fn inventory(&self, deadline: Deadline) -> Result<Vec<InventoryItem>, CallError> {
        const OPERATION: &str = "inventory";
        let request = Request {
            method: Method::GET,
            path: "/gigastore/products/inventory".into(),
            idempotency_key: None,
            body: None,
        };
        let answer = self.call(OPERATION, request, deadline).await?;
        let (items, skipped) = serde_json::from_slice::<InventoryAnswer>(&answer)
            .map_err(|e| unreadable(OPERATION, e))?
            .items();
        if skipped > 0 {
            tracing::warn!(skipped, "catalogue items without an id left out");
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_cut_short_on_one_line_without_the_token() {
        assert_eq!(
            reason_of(b"{\"error\":\"no credit\"}\n", b"tok"),
            "{\"error\":\"no credit\"}"
        );
        let long = "é".repeat(500);
        let cut = reason_of(long.as_bytes(), b"");
        assert_eq!(cut.chars().count(), REASON_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            reason_of(b"bad token eyJ.abc.def\r\nhere", b"eyJ.abc.def"),
            "bad token [token]  here"
        );
        assert_eq!(reason_of(b"", b"t"), "(no body)");
        assert_eq!(reason_of(&[0xff, 0xfe], b""), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("abc-1_2.3~"), "abc-1_2.3~");
        assert_eq!(segment("a/b?c d%"), "a%2Fb%3Fc%20d%25");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
