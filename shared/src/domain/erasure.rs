//! A user's right to be forgotten: what goes, what stays under a keyed hash, and who held a
//! record once the user is gone ([`Holder`]).
//!
//! The profile, entitlements, unclaimed registrations and the customer link go. Records the
//! money audit needs (activation decisions, purchases) stay, with the user token replaced by
//! [`UserHash`]: an HMAC-SHA256 under a key only this service holds, so counts and idempotency
//! still hold (the hash of a redelivered request's token matches) and nobody without the key
//! can tell whose they were.

use std::fmt;
use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::ids::{ActivationId, CustomerUid, ItemId, PurchaseId, UserToken};
use crate::domain::store::StoreError;

/// Shortest hash key accepted, in bytes: HMAC-SHA256's own output size.
pub const MIN_KEY_BYTES: usize = 32;

/// The secret that erased records' [`UserHash`]es are keyed with.
#[derive(Clone)]
pub struct UserHashKey(ring::hmac::Key);

impl UserHashKey {
    /// A key from its secret bytes (as stored: at least [`MIN_KEY_BYTES`]).
    pub fn new(secret: &[u8]) -> Result<Self, ShortKey> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(ShortKey(secret.len()));
        }
        Ok(Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret)))
    }

    /// A key from a secret's string value (`USER_HASH_KEY`, or the Secrets Manager secret's):
    /// its bytes, white space around it trimmed, so a trailing newline never changes the key.
    pub fn from_secret(value: &str) -> Result<Self, ShortKey> {
        Self::new(value.trim().as_bytes())
    }

    /// The erased form of `user`.
    pub fn hash(&self, user: &UserToken) -> UserHash {
        let tag = ring::hmac::sign(&self.0, user.as_str().as_bytes());
        let hex = tag.as_ref().iter().fold(String::new(), |mut hex, b| {
            use fmt::Write;
            let _ = write!(hex, "{b:02x}");
            hex
        });
        UserHash(hex)
    }

    /// Whether `holder` is `user`, in clear or erased.
    pub fn holds(&self, holder: &Holder, user: &UserToken) -> bool {
        match holder {
            Holder::User(token) => token == user,
            Holder::Erased(hash) => *hash == self.hash(user),
        }
    }
}

impl fmt::Debug for UserHashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserHashKey(..)")
    }
}

/// A hash key shorter than [`MIN_KEY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the user hash key has {0} bytes; it needs at least {MIN_KEY_BYTES}")]
pub struct ShortKey(pub usize);

/// An erased user's token, keyed-hashed: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserHash(String);

impl UserHash {
    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserHash {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if raw.len() == 64 && raw.bytes().all(hex) {
            Ok(Self(raw))
        } else {
            Err("a user hash is 64 lowercase hex digits")
        }
    }
}

impl From<UserHash> for String {
    fn from(hash: UserHash) -> Self {
        hash.0
    }
}

impl fmt::Display for UserHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose a kept record is: a user, or one who was erased. Serialized as the field that names
/// it: `"userToken": "..."` or `"userHash": "..."`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Holder {
    /// A user, by token.
    #[serde(rename = "userToken")]
    User(UserToken),
    /// A user who was erased, by keyed hash.
    #[serde(rename = "userHash")]
    Erased(UserHash),
}

impl Holder {
    /// The user's token, unless erased.
    pub fn user_token(&self) -> Option<&UserToken> {
        match self {
            Self::User(token) => Some(token),
            Self::Erased(_) => None,
        }
    }
}

/// Everything stored about one user, found before erasing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRecords {
    /// Whether the user has a profile, and the customer id it holds.
    pub profile: Option<Option<CustomerUid>>,
    /// Items the user holds entitlements to.
    pub entitlements: Vec<ItemId>,
    /// Customer ids registered for the user before we knew it.
    pub unclaimed: Vec<CustomerUid>,
    /// Activation decisions about the user.
    pub activations: Vec<ActivationId>,
    /// The user's purchases.
    pub purchases: Vec<PurchaseId>,
}

impl UserRecords {
    /// Whether nothing is left to erase.
    pub fn is_empty(&self) -> bool {
        self.profile.is_none()
            && self.entitlements.is_empty()
            && self.unclaimed.is_empty()
            && self.activations.is_empty()
            && self.purchases.is_empty()
    }
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    /// The erased user, as kept records now name it.
    pub user_hash: UserHash,
    /// Whether anything was found to erase (a repeated erasure finds nothing).
    pub erased: bool,
    /// Profiles deleted (0 or 1), with the email and customer link.
    pub profiles: usize,
    /// Entitlements deleted.
    pub entitlements: usize,
    /// Unclaimed registrations deleted.
    pub unclaimed_registrations: usize,
    /// Activation decisions kept, the user replaced by the hash.
    pub activations: usize,
    /// Purchases kept, the user replaced by the hash.
    pub purchases: usize,
    /// When (absent if nothing was erased).
    #[serde(
        with = "crate::domain::clock::stored::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub erased_at: Option<OffsetDateTime>,
}

impl Erasure {
    /// The summary of erasing `found` as `user_hash` at `at`.
    pub fn of(found: &UserRecords, user_hash: UserHash, at: OffsetDateTime) -> Self {
        let erased = !found.is_empty();
        Self {
            user_hash,
            erased,
            profiles: usize::from(found.profile.is_some()),
            entitlements: found.entitlements.len(),
            unclaimed_registrations: found.unclaimed.len(),
            activations: found.activations.len(),
            purchases: found.purchases.len(),
            erased_at: erased.then(|| crate::domain::clock::to_millis(at)),
        }
    }
}

/// An erasure as recorded, once it found something: the user by hash only, when, and what
/// was deleted or kept. Its first write is the `user.erased` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    /// The erased user, as kept records now name it.
    pub user_hash: UserHash,
    /// When.
    pub erased_at: OffsetDateTime,
    /// Profiles deleted (0 or 1).
    pub profiles: usize,
    /// Entitlements deleted.
    pub entitlements: usize,
    /// Unclaimed registrations deleted.
    pub unclaimed_registrations: usize,
    /// Activation decisions kept under the hash.
    pub activations: usize,
    /// Purchases kept under the hash.
    pub purchases: usize,
}

/// Where a user's records are found and erased.
pub trait ErasureStore: Send + Sync {
    /// Everything stored that names `user` in clear.
    fn user_records(
        &self,
        user: &UserToken,
    ) -> impl Future<Output = Result<UserRecords, StoreError>> + Send;

    /// Deletes what goes and rewrites what stays under `erasure.user_hash`, then records the
    /// erasure (the `user.erased` event). Safe to repeat after a failure part way.
    fn erase(
        &self,
        user: &UserToken,
        found: &UserRecords,
        erasure: &Erasure,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Erases `user`: afterwards no item holds its token or email in clear. Erasing again finds
/// nothing and changes nothing.
pub async fn erase<S: ErasureStore>(
    store: &S,
    key: &UserHashKey,
    user: &UserToken,
    now: OffsetDateTime,
) -> Result<Erasure, StoreError> {
    let found = store.user_records(user).await?;
    let erasure = Erasure::of(&found, key.hash(user), now);
    if erasure.erased {
        store.erase(user, &found, &erasure).await?;
    }
    Ok(erasure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> UserHashKey {
        UserHashKey::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn hashes_are_keyed_stable_and_hex() {
        let user = UserToken::parse("user-1").unwrap();
        let hash = key(1).hash(&user);
        assert_eq!(hash, key(1).hash(&user));
        assert_ne!(hash, key(2).hash(&user));
        assert_ne!(hash, key(1).hash(&UserToken::parse("user-2").unwrap()));
        assert_eq!(UserHash::try_from(hash.as_str().to_owned()), Ok(hash));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(UserHashKey::new(&[0; 31]).unwrap_err(), ShortKey(31));
        assert!(UserHashKey::new(&[0; 32]).is_ok());
        assert_eq!(
            UserHashKey::from_secret(&format!(" {}\n", "k".repeat(31))).unwrap_err(),
            ShortKey(31)
        );
    }

    #[test]
    fn a_secret_value_is_read_trimmed() {
        let user = UserToken::parse("u").unwrap();
        let value = "k".repeat(40);
        let trimmed = UserHashKey::from_secret(&value).unwrap().hash(&user);
        let padded = UserHashKey::from_secret(&format!("\t{value} \n")).unwrap();
        assert_eq!(padded.hash(&user), trimmed);
        assert_eq!(
            UserHashKey::new(value.as_bytes()).unwrap().hash(&user),
            trimmed
        );
    }

    #[test]
    fn a_holder_is_matched_in_clear_or_by_hash() {
        let (user, other) = (
            UserToken::parse("u").unwrap(),
            UserToken::parse("v").unwrap(),
        );
        let k = key(7);
        assert!(k.holds(&Holder::User(user.clone()), &user));
        assert!(!k.holds(&Holder::User(user.clone()), &other));
        assert!(k.holds(&Holder::Erased(k.hash(&user)), &user));
        assert!(!k.holds(&Holder::Erased(k.hash(&user)), &other));
        assert!(!key(8).holds(&Holder::Erased(k.hash(&user)), &user));
    }

    #[test]
    fn holders_serialize_as_the_field_that_names_them() {
        let k = key(3);
        let user = UserToken::parse("u").unwrap();
        assert_eq!(
            serde_json::to_value(Holder::User(user.clone())).unwrap(),
            serde_json::json!({"userToken": "u"})
        );
        let hash = k.hash(&user);
        assert_eq!(
            serde_json::to_value(Holder::Erased(hash.clone())).unwrap(),
            serde_json::json!({"userHash": hash.as_str()})
        );
    }

    #[test]
    fn malformed_hashes_do_not_read() {
        for raw in ["", "ABC", &"g".repeat(64), &"a".repeat(63)] {
            assert!(UserHash::try_from(raw.to_owned()).is_err(), "{raw}");
        }
    }
}
