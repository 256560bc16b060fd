//! Entitlements: what a user has bought and may still activate.

use serde::Serialize;
use time::OffsetDateTime;

use crate::ids::{ItemId, PurchaseId, UserToken};

/// Units of one inventory item that a user may activate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    /// Whose entitlement this is.
    pub user_token: UserToken,
    /// The Gigastore inventory item it pays for.
    pub item: ItemId,
    /// Units granted so far, over all purchases.
    pub units_granted: u32,
    /// Units consumed by approved activations.
    pub units_used: u32,
    /// After this instant nothing more may be activated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When an operator last revoked what was left.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl Entitlement {
    /// Units that may still be activated.
    pub fn units_left(&self) -> u32 {
        self.units_granted.saturating_sub(self.units_used)
    }

    /// Whether the entitlement has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A grant of units, as the operator CLI or the reseller's purchase system makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The buyer.
    pub user_token: UserToken,
    /// The item bought.
    pub item: ItemId,
    /// Units added (at least one).
    pub quantity: std::num::NonZeroU32,
    /// The buyer's email, stored on the user's profile when given.
    pub email: Option<Email>,
    /// New expiry for the whole entitlement; `None` keeps the current one.
    pub expires_at: Option<OffsetDateTime>,
    /// The purchase this grant pays for: a grant with a purchase id applies once, however
    /// often it is retried.
    pub purchase_id: Option<PurchaseId>,
}

/// What a grant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// Units added; the entitlement as it is now.
    Granted(Entitlement),
    /// This purchase was granted before: nothing added; the entitlement as it is now.
    AlreadyGranted(Entitlement),
    /// The purchase id was granted before for another user or item: nothing added.
    PurchaseIdReused {
        /// Who the purchase id was granted to.
        user_token: UserToken,
        /// For which item.
        item: ItemId,
    },
}

/// An email address as the partner's platform knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email(String);

impl Email {
    /// Longest accepted address (RFC 5321's limit).
    pub const MAX_LEN: usize = 254;

    /// Accepts `local@domain` with no white space.
    pub fn parse(raw: &str) -> Result<Self, crate::payload::FieldError> {
        let text = crate::payload::check_text("email", raw, Self::MAX_LEN)?;
        match text.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !text.contains(char::is_whitespace) =>
            {
                Ok(Self(text.to_owned()))
            }
            _ => Err(crate::payload::FieldError::Malformed {
                field: "email",
                expected: "must look like name@domain",
            }),
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entitlement(granted: u32, used: u32) -> Entitlement {
        Entitlement {
            user_token: UserToken::parse("u").unwrap(),
            item: ItemId::parse("1_GB").unwrap(),
            units_granted: granted,
            units_used: used,
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn units_left_never_underflows() {
        assert_eq!(entitlement(3, 1).units_left(), 2);
        assert_eq!(entitlement(1, 3).units_left(), 0);
    }

    #[test]
    fn expiry_is_inclusive_of_the_instant() {
        let now = OffsetDateTime::now_utc();
        let mut e = entitlement(1, 0);
        assert!(!e.is_expired(now));
        e.expires_at = Some(now);
        assert!(e.is_expired(now));
        e.expires_at = Some(now + time::Duration::seconds(1));
        assert!(!e.is_expired(now));
    }

    #[test]
    fn emails_need_one_at_sign() {
        assert!(Email::parse("a@b.example").is_ok());
        for bad in ["", "ab", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
