//! Who may call, by what they present: the shared secrets that authenticate Gigastore's calls,
//! and where a request carries one.

use lambda_http::http::header;
use lambda_http::{Request, RequestExt};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted webhook secrets; any one authenticates a call, so a secret can be rotated
/// by adding the new one, updating Gigastore, then removing the old one.
///
/// Only SHA-256 digests are kept, so comparisons take the same time whatever the length,
/// and the secrets cannot leak through `Debug`.
#[derive(Clone, Default)]
pub struct WebhookSecrets(Vec<[u8; 32]>);

/// A call without a valid secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No secret was presented.
    #[error("missing credentials")]
    Missing,
    /// A secret was presented and matched none.
    #[error("invalid credentials")]
    Invalid,
    /// More than one secret was presented where one is expected.
    #[error("ambiguous credentials")]
    Ambiguous,
    /// No secret is configured, so nothing is accepted.
    #[error("no webhook secret is configured")]
    NotConfigured,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl WebhookSecrets {
    /// Parses `WEBHOOK_SECRETS`: comma-separated, blanks ignored.
    pub fn parse(raw: &str) -> Self {
        Self(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(digest)
                .collect(),
        )
    }

    /// How many secrets are accepted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no secret is configured (every call is then refused).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Accepts the first present candidate that matches any configured secret.
    pub fn verify<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), AuthError> {
        if self.is_empty() {
            return Err(AuthError::NotConfigured);
        }
        let mut presented = false;
        let mut matched = subtle::Choice::from(0);
        for candidate in candidates {
            presented = true;
            let d = digest(candidate);
            // Compare with every secret, without short-circuit, so timing reveals nothing.
            for secret in &self.0 {
                matched |= secret.ct_eq(&d);
            }
        }
        match (presented, bool::from(matched)) {
            (_, true) => Ok(()),
            (false, false) => Err(AuthError::Missing),
            (true, false) => Err(AuthError::Invalid),
        }
    }
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

/// Checks the secret, from `Authorization: Bearer <secret>` (header name and scheme in any
/// case, white space around the secret ignored) or the `token` query parameter. A request
/// with more than one `Authorization` header or more than one `token` parameter is refused as
/// ambiguous; with one of each, either may match.
pub fn authenticate(request: &Request, secrets: &WebhookSecrets) -> Result<(), AuthError> {
    let mut headers = request.headers().get_all(header::AUTHORIZATION).iter();
    let header = headers.next();
    let tokens = request
        .query_string_parameters_ref()
        .map(|q| q.all("token").unwrap_or_default())
        .unwrap_or_default();
    if headers.next().is_some() || tokens.len() > 1 {
        return Err(AuthError::Ambiguous);
    }
    let bearer = header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(char::is_whitespace))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim());
    secrets.verify(bearer.into_iter().chain(tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_secret_is_accepted() {
        let secrets = WebhookSecrets::parse(" old-secret , new-secret,,");
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets.verify(["new-secret"]), Ok(()));
        assert_eq!(secrets.verify(["old-secret"]), Ok(()));
        assert_eq!(secrets.verify(["wrong", "old-secret"]), Ok(()));
        assert_eq!(
            secrets.verify(["old-secret,new-secret"]),
            Err(AuthError::Invalid)
        );
        assert_eq!(secrets.verify(["new"]), Err(AuthError::Invalid));
        assert_eq!(secrets.verify([""]), Err(AuthError::Invalid));
        assert_eq!(secrets.verify([]), Err(AuthError::Missing));
    }

    #[test]
    fn nothing_is_accepted_without_a_configured_secret() {
        let secrets = WebhookSecrets::parse(" , ");
        assert!(secrets.is_empty());
        assert_eq!(secrets.verify([""]), Err(AuthError::NotConfigured));
        assert_eq!(secrets.verify(["anything"]), Err(AuthError::NotConfigured));
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let shown = format!("{:?}", WebhookSecrets::parse("hunter2"));
        assert!(!shown.contains("hunter2"));
    }

    /// The credential rules of [`authenticate`](super::authenticate): the header name and the `Bearer` scheme in any
    /// case, white space around the secret ignored, more than one `Authorization` header or more
    /// than one `token` parameter refused as ambiguous (401), and with one of each, either may match.
    mod from_requests {
        use std::collections::HashMap;

        use lambda_http::{Body, Request, RequestExt};

        use lambda_http::http::{HeaderValue, StatusCode};

        use super::super::*;
        use crate::webhook::reply::{ApiError, Reply, AUTH_REJECTED};

        /// The one configured secret.
        const SECRET: &str = "s3cret-Value_1";

        /// The configured secrets: [`SECRET`] only.
        fn secrets() -> WebhookSecrets {
            WebhookSecrets::parse(SECRET)
        }

        /// A request with `authorization` as its `Authorization` header values, in order, and `tokens`
        /// as the values of its `token` query parameter, set the way lambda_http sets parsed ones.
        fn request(authorization: &[&str], tokens: &[&str]) -> Request {
            let mut request = Request::new(Body::Empty);
            for value in authorization {
                let value = HeaderValue::from_str(value).expect("a valid header value");
                request.headers_mut().append(header::AUTHORIZATION, value);
            }
            if tokens.is_empty() {
                return request;
            }
            let values: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
            request.with_query_string_parameters(HashMap::from([("token".to_owned(), values)]))
        }

        /// What [`authenticate`](super::authenticate) says of a [`request`] with `authorization` and `tokens`, against the
        /// configured [`secrets`].
        fn check(authorization: &[&str], tokens: &[&str]) -> Result<(), AuthError> {
            authenticate(&request(authorization, tokens), &secrets())
        }

        /// An API Gateway HTTP API (payload 2.0) event with `headers` and `raw_query`, parsed the way
        /// Lambda parses it: header names and repeated parameters as API Gateway passes them on.
        fn event(headers: serde_json::Value, raw_query: &str) -> Request {
            let event = serde_json::json!({
                "version": "2.0",
                "routeKey": "POST /p",
                "rawPath": "/p",
                "rawQueryString": raw_query,
                "headers": headers,
                "requestContext": {
                    "http": {"method": "POST", "path": "/p", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10"},
                    "requestId": "r",
                    "routeKey": "POST /p",
                    "stage": "$default",
                    "time": "23/Nov/2026:17:00:00 +0000",
                    "timeEpoch": 1_795_453_200_000_u64
                },
                "isBase64Encoded": false
            });
            lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
        }

        #[test]
        fn the_header_name_is_read_in_any_case() {
            let bearer = format!("Bearer {SECRET}");
            for name in [
                "authorization",
                "Authorization",
                "AUTHORIZATION",
                "aUtHoRiZaTiOn",
            ] {
                let request = event(serde_json::json!({ name: bearer }), "");
                assert_eq!(authenticate(&request, &secrets()), Ok(()), "{name}");
            }
        }

        #[test]
        fn the_bearer_scheme_is_read_in_any_case_and_no_other_scheme() {
            for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
                let header = format!("{scheme} {SECRET}");
                assert_eq!(check(&[&header], &[]), Ok(()), "{header}");
            }
            // Without the scheme, the secret is not read from the header at all.
            for header in [
                format!("Basic {SECRET}"),
                format!("Token {SECRET}"),
                format!("Bearer{SECRET}"),
                SECRET.to_owned(),
            ] {
                assert_eq!(check(&[&header], &[]), Err(AuthError::Missing), "{header}");
            }
        }

        #[test]
        fn white_space_around_the_secret_is_ignored_and_inside_it_is_not() {
            let (head, tail) = SECRET.split_at(4);
            let cases = [
                (format!("Bearer   {SECRET}"), Ok(())),
                (format!("Bearer {SECRET}  "), Ok(())),
                (format!("Bearer\t{SECRET}\t"), Ok(())),
                (format!("  Bearer \t {SECRET} "), Ok(())),
                (format!("Bearer {head} {tail}"), Err(AuthError::Invalid)),
                (format!("Bearer {SECRET}x"), Err(AuthError::Invalid)),
            ];
            for (header, expected) in cases {
                assert_eq!(check(&[&header], &[]), expected, "{header:?}");
            }
        }

        #[test]
        fn two_authorization_headers_are_ambiguous_whatever_they_hold() {
            let good = format!("Bearer {SECRET}");
            for pair in [
                [&good[..], &good[..]],
                [&good, "Bearer wrong"],
                ["Bearer wrong", &good],
            ] {
                assert_eq!(check(&pair, &[]), Err(AuthError::Ambiguous), "{pair:?}");
            }
            // Even beside one valid token.
            assert_eq!(check(&[&good, &good], &[SECRET]), Err(AuthError::Ambiguous));
        }

        #[test]
        fn two_token_parameters_are_ambiguous_whatever_they_hold() {
            for pair in [[SECRET, SECRET], [SECRET, "wrong"], ["wrong", SECRET]] {
                assert_eq!(check(&[], &pair), Err(AuthError::Ambiguous), "{pair:?}");
            }
            // Even beside one valid header.
            let good = format!("Bearer {SECRET}");
            assert_eq!(
                check(&[&good], &[SECRET, SECRET]),
                Err(AuthError::Ambiguous)
            );
            // As API Gateway passes a repeated parameter on: both values, not the first or the last.
            let repeated = event(
                serde_json::json!({}),
                &format!("token={SECRET}&token={SECRET}"),
            );
            assert_eq!(
                authenticate(&repeated, &secrets()),
                Err(AuthError::Ambiguous)
            );
            let once = event(serde_json::json!({}), &format!("token={SECRET}"));
            assert_eq!(authenticate(&once, &secrets()), Ok(()));
        }

        #[test]
        fn with_one_header_and_one_token_either_may_match() {
            let good = format!("Bearer {SECRET}");
            let cases = [
                (&good[..], SECRET, Ok(())),
                (&good, "wrong", Ok(())),
                ("Bearer wrong", SECRET, Ok(())),
                (&format!("Basic {SECRET}"), SECRET, Ok(())),
                ("Bearer wrong", "wrong", Err(AuthError::Invalid)),
            ];
            for (header, token, expected) in cases {
                assert_eq!(check(&[header], &[token]), expected, "{header} / {token}");
            }
            assert_eq!(check(&[], &[]), Err(AuthError::Missing));
        }

        #[test]
        fn ambiguous_credentials_are_answered_401_like_any_other_refusal() {
            let reply = Reply::from(ApiError::from(AuthError::Ambiguous));
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
            assert_eq!(reply.body, r#"{"error":"unauthorized"}"#);
            assert_eq!(reply.reason.as_deref(), Some("ambiguous credentials"));
            assert_eq!(reply.metric_names(), [AUTH_REJECTED.name]);
        }
    }
}
