//! Entitlements: what a user has bought and may still activate.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::ids::{ItemId, UserToken};
use crate::domain::store::StoreError;

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
    #[serde(with = "crate::domain::clock::stored::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When an operator last revoked what was left.
    #[serde(with = "crate::domain::clock::stored::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// The last reset, which purchases' usage is reckoned from (`crate::domain::purchase`).
    #[serde(skip)]
    pub reset: Option<Reset>,
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

/// The entitlement's last reset: a renewal after it expired, or a revocation, left nothing of
/// what earlier purchases had not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// When.
    pub at: OffsetDateTime,
    /// Units used by then (`units_used` counts on across resets).
    pub used: u32,
}

/// Where entitlements are read and revoked (grants go through `crate::domain::purchase`).
pub trait EntitlementStore: Send + Sync {
    /// A user's entitlement to an item (a consistent read).
    fn entitlement(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> impl Future<Output = Result<Option<Entitlement>, StoreError>> + Send;

    /// Removes every unit left of an entitlement (a reset); `None` if there is no such
    /// entitlement.
    fn revoke(
        &self,
        user: &UserToken,
        item: &ItemId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Entitlement>, StoreError>> + Send;
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
            reset: None,
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
}
