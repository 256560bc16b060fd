//! Who may call: the shared secret that authenticates Gigastore's calls, and the optional
//! allow-list of source addresses.

use std::net::IpAddr;

use ipnet::IpNet;
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

/// The networks calls may come from (`ALLOWED_SOURCE_CIDRS`); empty allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAllowList(Vec<IpNet>);

/// `ALLOWED_SOURCE_CIDRS` holds something that is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ALLOWED_SOURCE_CIDRS: {0:?} is not an IPv4 or IPv6 CIDR (e.g. 203.0.113.0/24)")]
pub struct InvalidCidr(pub String);

impl SourceAllowList {
    /// Parses comma-separated CIDRs; blanks are ignored, a bare address is one host.
    pub fn parse(raw: &str) -> Result<Self, InvalidCidr> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidCidr(s.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether a call from `source` (API Gateway's `sourceIp`, if any) is allowed: always with an
    /// empty list; otherwise only from a listed network, never from an unknown address.
    pub fn allows(&self, source: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(ip) = source.and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
            return false;
        };
        // An IPv4 client seen as IPv4-mapped IPv6 matches IPv4 networks.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }
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

    #[test]
    fn the_allow_list_admits_only_listed_networks() {
        let open = SourceAllowList::parse(" ").unwrap();
        assert!(open.allows(None) && open.allows(Some("198.51.100.7")));
        let list = SourceAllowList::parse("203.0.113.0/24, 2001:db8::/32,198.51.100.7").unwrap();
        assert!(list.allows(Some("203.0.113.10")));
        assert!(list.allows(Some("::ffff:203.0.113.10")));
        assert!(list.allows(Some("2001:db8::1")));
        assert!(list.allows(Some("198.51.100.7")));
        assert!(!list.allows(Some("198.51.100.8")));
        assert!(!list.allows(Some("203.0.114.1")));
        assert!(!list.allows(Some("not an address")));
        assert!(!list.allows(None));
        assert_eq!(
            SourceAllowList::parse("10.0.0.0/33"),
            Err(InvalidCidr("10.0.0.0/33".into()))
        );
    }
}
