//! Verified user tokens: what the claims of a token whose signature was checked yield, the
//! user its `sub` names, if the token is within its time. Optional (README, "Verified user
//! tokens"): when it is off, the app's `userToken` is the user id, as Gigastore documents it.
//!
//! The signature, and so which claims may be trusted at all, is the gate's
//! (`webhook::gate::jwt`); this module decides only what trusted claims mean.

use time::{Duration, OffsetDateTime};

use crate::domain::ids::UserToken;
use crate::domain::payload::FieldError;

/// Clock skew allowed on `exp` and `nbf`: the reseller's backend and Lambda keep their own time.
pub const LEEWAY: Duration = Duration::seconds(30);

/// Whether a token past its `exp` still names its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No: the token must carry an `exp` and be before it (Activation Request).
    Enforced,
    /// Yes: the request follows one whose token was checked in time (Customer Registration
    /// arrives after the first activation, possibly after the token expired).
    Ignored,
}

/// The claims of a token whose signature was verified; times are as the token carries them,
/// whole seconds since the Unix epoch (JWT's NumericDate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `sub`: the reseller's user id.
    pub subject: Option<String>,
    /// `exp`: the token is not accepted from this time on.
    pub expires_at: Option<i64>,
    /// `nbf`: the token is not accepted before this time.
    pub not_before: Option<i64>,
}

/// Why verified claims name no user now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// An Activation Request's token must expire.
    #[error("the token has no exp")]
    MissingExpiry,
    /// `exp` (plus the leeway) has passed.
    #[error("the token expired")]
    Expired,
    /// `nbf` (less the leeway) has not come yet.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// A time claim is not a whole number of seconds within the years -9999 to 9999.
    #[error("{0} is not a time")]
    NotATime(&'static str),
    /// No `sub`, or a blank one.
    #[error("the token names no user (sub)")]
    MissingSubject,
    /// `sub` is not something a user id can be (too long, control characters).
    #[error("sub is not a user id")]
    InvalidSubject(#[source] FieldError),
}

impl Claims {
    /// The user these claims name at `now`: `nbf` and, when `expiry` says so, `exp` are checked
    /// with [`LEEWAY`]; then `sub` must be a user id, as grants name users.
    pub fn user(&self, now: OffsetDateTime, expiry: Expiry) -> Result<UserToken, ClaimsError> {
        if let Some(nbf) = self.not_before {
            let earliest = time_of(nbf, "nbf")?.checked_sub(LEEWAY);
            // No earliest time: nbf is at the start of time, so the token is valid already.
            if earliest.is_some_and(|earliest| now < earliest) {
                return Err(ClaimsError::NotYetValid);
            }
        }
        if expiry == Expiry::Enforced {
            let exp = self.expires_at.ok_or(ClaimsError::MissingExpiry)?;
            let latest = time_of(exp, "exp")?.checked_add(LEEWAY);
            // No latest time: exp is at the end of time, so the token has not expired.
            if latest.is_some_and(|latest| now >= latest) {
                return Err(ClaimsError::Expired);
            }
        }
        let subject = self
            .subject
            .as_deref()
            .filter(|sub| !sub.trim().is_empty())
            .ok_or(ClaimsError::MissingSubject)?;
        UserToken::parse(subject).map_err(ClaimsError::InvalidSubject)
    }
}

/// A NumericDate as a time; out of `time`'s range is no time at all.
fn time_of(seconds: i64, claim: &'static str) -> Result<OffsetDateTime, ClaimsError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| ClaimsError::NotATime(claim))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_453_200;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    fn claims(sub: &str, exp: Option<i64>, nbf: Option<i64>) -> Claims {
        Claims {
            subject: Some(sub.to_owned()),
            expires_at: exp,
            not_before: nbf,
        }
    }

    #[test]
    fn names_the_subject_within_its_time() {
        let user = claims("u1", Some(NOW + 600), Some(NOW - 5))
            .user(now(), Expiry::Enforced)
            .unwrap();
        assert_eq!(user.as_str(), "u1");
    }

    #[test]
    fn expiry_is_enforced_with_the_leeway_unless_ignored() {
        let within_leeway = claims("u1", Some(NOW - 29), None);
        assert!(within_leeway.user(now(), Expiry::Enforced).is_ok());
        for past in [NOW - 30, NOW - 31, NOW - 86_400] {
            let expired = claims("u1", Some(past), None);
            assert_eq!(
                expired.user(now(), Expiry::Enforced),
                Err(ClaimsError::Expired)
            );
            assert_eq!(expired.user(now(), Expiry::Ignored).unwrap(), "u1");
        }
        let no_exp = claims("u1", None, None);
        assert_eq!(
            no_exp.user(now(), Expiry::Enforced),
            Err(ClaimsError::MissingExpiry)
        );
        assert_eq!(no_exp.user(now(), Expiry::Ignored).unwrap(), "u1");
    }

    #[test]
    fn not_before_is_checked_with_the_leeway_either_way() {
        assert!(claims("u1", Some(NOW + 60), Some(NOW + 30))
            .user(now(), Expiry::Enforced)
            .is_ok());
        for expiry in [Expiry::Enforced, Expiry::Ignored] {
            assert_eq!(
                claims("u1", Some(NOW + 600), Some(NOW + 31)).user(now(), expiry),
                Err(ClaimsError::NotYetValid)
            );
        }
    }

    #[test]
    fn times_at_the_ends_of_the_range_never_overflow() {
        let max = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp();
        let min = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp();
        assert!(claims("u1", Some(max), Some(min))
            .user(now(), Expiry::Enforced)
            .is_ok());
        for (exp, nbf, claim) in [
            (Some(i64::MAX), None, "exp"),
            (Some(i64::MIN), None, "exp"),
            (Some(NOW + 60), Some(i64::MIN), "nbf"),
            (Some(NOW + 60), Some(i64::MAX), "nbf"),
        ] {
            assert_eq!(
                claims("u1", exp, nbf).user(now(), Expiry::Enforced),
                Err(ClaimsError::NotATime(claim))
            );
        }
    }

    #[test]
    fn the_subject_must_be_a_user_id() {
        let exp = Some(NOW + 600);
        for blank in [
            Claims::default(),
            claims("", exp, None),
            claims("  \t", exp, None),
        ] {
            let blank = Claims {
                expires_at: exp,
                ..blank
            };
            assert_eq!(
                blank.user(now(), Expiry::Enforced),
                Err(ClaimsError::MissingSubject)
            );
        }
        let long = "u".repeat(UserToken::MAX_LEN + 1);
        assert!(matches!(
            claims(&long, exp, None).user(now(), Expiry::Enforced),
            Err(ClaimsError::InvalidSubject(FieldError::TooLong { .. }))
        ));
        assert!(matches!(
            claims("u\n1", exp, None).user(now(), Expiry::Enforced),
            Err(ClaimsError::InvalidSubject(FieldError::ControlCharacters(
                _
            )))
        ));
    }
}
