//! Entitlements: what a user has bought and may still activate.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::ids::{Email, ItemId, PurchaseId, UserToken};
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

/// The marker of a purchase that was granted: what it paid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// The reseller's purchase id.
    pub purchase_id: PurchaseId,
    /// Who it was granted to.
    pub user_token: UserToken,
    /// For which item.
    pub item: ItemId,
    /// Units it added.
    pub quantity: u32,
}

/// What the store did with a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantWrite {
    /// Units added (and the purchase marked, if it had an id).
    Applied,
    /// The grant's purchase id was already marked: nothing written. The marker as stored.
    PurchaseSeen(Purchase),
}

/// Where entitlements are granted and revoked: the operator's and purchase system's side.
pub trait EntitlementStore: Send + Sync {
    /// Adds the grant's units, creates the user and entitlement if new, sets the email and
    /// expiry if given and lifts a revocation, all at once; with a purchase id, only if that
    /// purchase is not marked yet (and marks it).
    fn apply_grant(
        &self,
        grant: &Grant,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<GrantWrite, StoreError>> + Send;

    /// A user's entitlement to an item (a consistent read).
    fn entitlement(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> impl Future<Output = Result<Option<Entitlement>, StoreError>> + Send;

    /// Removes every unit left of an entitlement; `None` if there is no such entitlement.
    fn revoke(
        &self,
        user: &UserToken,
        item: &ItemId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Entitlement>, StoreError>> + Send;
}

/// Applies a grant at most once per purchase: a purchase id already granted for the same user
/// and item adds nothing; one granted for another user or item is refused.
pub async fn grant<S: EntitlementStore>(
    store: &S,
    grant: &Grant,
    now: OffsetDateTime,
) -> Result<GrantOutcome, StoreError> {
    let applied = match store.apply_grant(grant, now).await? {
        GrantWrite::Applied => true,
        GrantWrite::PurchaseSeen(earlier)
            if earlier.user_token != grant.user_token || earlier.item != grant.item =>
        {
            return Ok(GrantOutcome::PurchaseIdReused {
                user_token: earlier.user_token,
                item: earlier.item,
            });
        }
        GrantWrite::PurchaseSeen(_) => false,
    };
    let current = store
        .entitlement(&grant.user_token, &grant.item)
        .await?
        .ok_or(StoreError::Inconsistent("granted entitlement not found"))?;
    Ok(if applied {
        GrantOutcome::Granted(current)
    } else {
        GrantOutcome::AlreadyGranted(current)
    })
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
}
