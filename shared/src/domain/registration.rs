//! Customer Registration: Gigastore tells us its customer id for our user; we answer the email.

use std::future::Future;

use time::OffsetDateTime;

use crate::domain::ids::{CustomerUid, UserToken};
use crate::domain::payload::{FieldError, FromBody, JsonObject, PayloadError};
use crate::domain::store::StoreError;

/// A validated Customer Registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRegistration {
    /// Our user.
    pub user_token: UserToken,
    /// Gigastore's customer id for that user.
    pub customer_uid: CustomerUid,
}

impl FromBody for CustomerRegistration {
    /// Parses `{"userToken", "customerUid"}`; `uid` is accepted for `customerUid`, as
    /// Gigastore's field table calls it.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = JsonObject::parse(body)?;
        let user_token = UserToken::parse(obj.required_str(UserToken::FIELD)?)?;
        let uid = match (
            obj.optional_str(CustomerUid::FIELD)?,
            obj.optional_str("uid")?,
        ) {
            (Some(a), Some(b)) if a != b => {
                return Err(FieldError::Malformed {
                    field: "customerUid",
                    expected: "and uid must agree when both are sent",
                }
                .into())
            }
            (Some(uid), _) | (None, Some(uid)) => uid,
            (None, None) => return Err(FieldError::Missing(CustomerUid::FIELD).into()),
        };
        Ok(Self {
            user_token,
            customer_uid: CustomerUid::parse(uid)?,
        })
    }
}

/// What registering a customer id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// The user is ours; the customer id is on their profile. The email may be missing.
    KnownUser {
        /// The email on file, if any.
        email: Option<String>,
        /// The customer id the profile held before, when it was a different one.
        replaced: Option<CustomerUid>,
        /// The user who held this customer id before, when it was another one: it moved here,
        /// and that user's profile no longer holds it (a customer id names one user).
        moved_from: Option<UserToken>,
    },
    /// No such user: the registration is kept as unclaimed for an operator.
    UnknownUser,
}

/// What a user profile says about the user's Gigastore customer id, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    /// Our user.
    pub user_token: UserToken,
    /// Gigastore's customer id, once registered.
    pub customer_uid: Option<CustomerUid>,
    /// When the customer id was recorded.
    pub customer_registered_at: Option<OffsetDateTime>,
}

/// A registration kept for a user we did not know, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnclaimedRegistration {
    /// The user token Gigastore sent.
    pub user_token: UserToken,
    /// Gigastore's customer id.
    pub customer_uid: CustomerUid,
    /// When it was received.
    pub received_at: OffsetDateTime,
}

/// Where customer registrations are kept.
pub trait RegistrationStore: Send + Sync {
    /// Records the customer id on the user's profile; `None` if the user is unknown. The id
    /// names one user: the one it was registered to last; another profile holding it loses it.
    fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Registered>, StoreError>> + Send;

    /// Keeps a registration for an unknown user where an operator can find it.
    fn keep_unclaimed(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Records the customer id on the user's profile, or keeps it as unclaimed if the user is unknown.
pub async fn register<S: RegistrationStore>(
    store: &S,
    registration: &CustomerRegistration,
    now: OffsetDateTime,
) -> Result<Registered, StoreError> {
    match store.register_customer(registration, now).await? {
        Some(known) => Ok(known),
        None => {
            store.keep_unclaimed(registration, now).await?;
            Ok(Registered::UnknownUser)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_names_of_the_customer_id() {
        let a =
            CustomerRegistration::from_body(r#"{"userToken":"u","customerUid":"c-1"}"#.as_bytes())
                .unwrap();
        let b =
            CustomerRegistration::from_body(r#"{"userToken":"u","uid":"c-1"}"#.as_bytes()).unwrap();
        let both = CustomerRegistration::from_body(
            r#"{"userToken":"u","uid":"c-1","customerUid":"c-1"}"#.as_bytes(),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, both);
        assert_eq!(a.customer_uid.as_str(), "c-1");
    }

    #[test]
    fn names_what_is_wrong() {
        let missing =
            CustomerRegistration::from_body(r#"{"userToken":"u"}"#.as_bytes()).unwrap_err();
        assert_eq!(missing.to_string(), "customerUid is missing");
        let number =
            CustomerRegistration::from_body(r#"{"userToken":"u","uid":5}"#.as_bytes()).unwrap_err();
        assert_eq!(number.to_string(), "uid must be a string");
        let disagree = CustomerRegistration::from_body(
            r#"{"userToken":"u","uid":"a","customerUid":"b"}"#.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            disagree.to_string(),
            "customerUid and uid must agree when both are sent"
        );
        let user = CustomerRegistration::from_body(r#"{"userToken":null,"uid":"a"}"#.as_bytes())
            .unwrap_err();
        assert_eq!(user.to_string(), "userToken is missing");
    }
}
