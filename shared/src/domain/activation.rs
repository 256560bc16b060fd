//! The Activation Request decision: may this user install this item?

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::deadline::Deadline;
use crate::domain::entitlement::Entitlement;
use crate::domain::erasure::{Holder, UserHashKey};
use crate::domain::ids::{ActivationId, ItemId, MetaTag, UserToken};
use crate::domain::payload::{FromBody, JsonObject, PayloadError};
use crate::domain::store::StoreError;

/// A validated Activation Request from Gigastore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRequest {
    /// Idempotency key of this attempt.
    pub activation_id: ActivationId,
    /// The partner's user asking.
    pub user_token: UserToken,
    /// The item the user wants to install.
    pub item: ItemId,
    /// The app's free text, if any.
    pub meta_tag: Option<MetaTag>,
}

impl FromBody for ActivationRequest {
    /// Parses Gigastore's JSON body; unknown fields are ignored, `metaTag` may be absent or null.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = JsonObject::parse(body)?;
        Ok(Self {
            activation_id: ActivationId::parse(obj.required_str(ActivationId::FIELD)?)?,
            user_token: UserToken::parse(obj.required_str(UserToken::FIELD)?)?,
            item: ItemId::parse(obj.required_str(ItemId::FIELD)?)?,
            meta_tag: obj
                .optional_str(MetaTag::FIELD)?
                .map(MetaTag::parse)
                .transpose()?,
        })
    }
}

/// Why an Activation Request is refused. The first four are decisions about an entitlement
/// and are recorded; the last three answer requests that get no decision of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The user never held this item.
    NoEntitlement,
    /// An operator revoked what was left.
    Revoked,
    /// The entitlement's expiry has passed.
    Expired,
    /// Every unit has been activated already.
    NoUnitsLeft,
    /// The activationId is already recorded for another user or item.
    ActivationIdReused,
    /// The body could not be read as an Activation Request.
    InvalidRequest,
    /// User tokens are verified and this one is not signed with the configured key, is out of
    /// its time, or names no user. Not recorded: the user it claims is not known, and a
    /// forged request must not take the activationId from a genuine one.
    InvalidUserToken,
}

impl Refusal {
    /// Why an activation of `entitlement` (if any) cannot be approved at `now`.
    pub fn for_entitlement(entitlement: Option<&Entitlement>, now: OffsetDateTime) -> Self {
        match entitlement {
            None => Self::NoEntitlement,
            Some(e) if e.is_expired(now) => Self::Expired,
            Some(e) if e.units_left() == 0 && e.revoked_at.is_some() => Self::Revoked,
            Some(_) => Self::NoUnitsLeft,
        }
    }

    /// The short reason we give Gigastore.
    pub fn message(self) -> &'static str {
        match self {
            Self::NoEntitlement => "no entitlement for this item",
            Self::Revoked => "entitlement revoked",
            Self::Expired => "entitlement expired",
            Self::NoUnitsLeft => "no units left for this item",
            Self::ActivationIdReused => "activationId already used for another request",
            Self::InvalidRequest => "invalid request",
            Self::InvalidUserToken => "invalid user token",
        }
    }

    /// Stable snake_case code, for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoEntitlement => "no_entitlement",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::NoUnitsLeft => "no_units_left",
            Self::ActivationIdReused => "activation_id_reused",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidUserToken => "invalid_user_token",
        }
    }
}

/// The one decision recorded for an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved: one unit was consumed.
    Approved,
    /// Refused, and why.
    Refused(Refusal),
}

impl Decision {
    /// How Gigastore is told this decision.
    pub fn return_code(self) -> ReturnCode {
        match self {
            Self::Approved => ReturnCode::Success,
            Self::Refused(_) => ReturnCode::Fail,
        }
    }

    /// Why it was refused, if it was.
    pub fn refusal(self) -> Option<Refusal> {
        match self {
            Self::Approved => None,
            Self::Refused(why) => Some(why),
        }
    }
}

/// Gigastore's `returnCode`, spelled here and nowhere else; also how a decision is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReturnCode {
    /// Approved.
    Success,
    /// Refused.
    Fail,
}

impl ReturnCode {
    /// `SUCCESS` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }
}

/// The stored record of an activation and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// Gigastore's activation id.
    pub activation_id: ActivationId,
    /// Who asked (hashed once erased).
    pub holder: Holder,
    /// For which item.
    pub item: ItemId,
    /// The app's free text.
    pub meta_tag: Option<MetaTag>,
    /// What we decided.
    pub decision: Decision,
    /// When we decided.
    pub decided_at: OffsetDateTime,
}

impl ActivationRecord {
    /// A record of `decision` for `request`, made at `now` (kept to the millisecond).
    pub fn new(request: &ActivationRequest, decision: Decision, now: OffsetDateTime) -> Self {
        Self {
            activation_id: request.activation_id.clone(),
            holder: Holder::User(request.user_token.clone()),
            item: request.item.clone(),
            meta_tag: request.meta_tag.clone(),
            decision,
            decided_at: crate::domain::clock::to_millis(now),
        }
    }

    /// Whether `request` is a redelivery of the request this record answered. An erased
    /// user's record is matched by its hash, so without the key it matches nobody.
    pub fn is_same_request(&self, request: &ActivationRequest, key: Option<&UserHashKey>) -> bool {
        let same_user = match (&self.holder, key) {
            (Holder::User(user), _) => *user == request.user_token,
            (erased, Some(key)) => key.holds(erased, &request.user_token),
            (Holder::Erased(_), None) => false,
        };
        same_user && self.item == request.item
    }
}

/// What happened to one Activation Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// First delivery: this decision was made and recorded now.
    Decided(Decision),
    /// Redelivery: the decision recorded earlier, unchanged.
    Replayed(Decision),
    /// The approving write's answer was lost; the record read back holds this decision.
    Confirmed(Decision),
    /// The activationId is already recorded for another user or item.
    ActivationIdReused,
    /// The approving write's answer was lost and no record could be read back in time: it may
    /// still have been approved. Answered `FAIL`; a redelivery gets the recorded decision.
    Unknown {
        /// Why the write's outcome is unknown.
        error: String,
    },
}

impl Outcome {
    /// The answer Gigastore gets.
    pub fn answer(&self) -> Answer {
        match self {
            Self::Decided(d) | Self::Replayed(d) | Self::Confirmed(d) => match d {
                Decision::Approved => Answer::Approve,
                Decision::Refused(r) => Answer::Refuse(Cow::Borrowed(r.message())),
            },
            Self::ActivationIdReused => {
                Answer::Refuse(Cow::Borrowed(Refusal::ActivationIdReused.message()))
            }
            Self::Unknown { .. } => Answer::unavailable(),
        }
    }
}

/// Result of trying to approve an activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveOutcome {
    /// Recorded as approved, and one unit consumed.
    Approved,
    /// The activation already had a decision; nothing changed.
    AlreadyDecided(ActivationRecord),
    /// The entitlement (if any) cannot pay; nothing changed.
    NotEntitled(Option<Entitlement>),
}

/// Result of recording a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recorded.
    Recorded,
    /// The activation already had a decision; nothing changed.
    AlreadyDecided(ActivationRecord),
}

/// Where activation decisions and the entitlements that pay for them live.
pub trait ActivationStore: Send + Sync {
    /// Atomically records `approval` and consumes one unit of its entitlement, unless the
    /// activation already has a decision or the entitlement cannot pay.
    fn approve(
        &self,
        approval: &ActivationRecord,
    ) -> impl Future<Output = Result<ApproveOutcome, StoreError>> + Send;

    /// Records a refusal, unless the activation already has a decision.
    fn record(
        &self,
        refusal: &ActivationRecord,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;

    /// The recorded decision for an activation, if any (a consistent read).
    fn activation(
        &self,
        id: &ActivationId,
    ) -> impl Future<Output = Result<Option<ActivationRecord>, StoreError>> + Send;
}

/// Time kept back from the deadline to read back an approval whose answer was lost.
pub const READ_BACK_RESERVE: Duration = Duration::from_millis(400);

/// Decides `request` exactly once before `deadline`: approve and consume a unit, or record why
/// not. When the approving write may have been applied but its answer was lost, the record is
/// read back (consistently) to find out.
pub async fn decide<S: ActivationStore>(
    store: &S,
    request: &ActivationRequest,
    key: Option<&UserHashKey>,
    now: OffsetDateTime,
    deadline: Deadline,
) -> Result<Outcome, StoreError> {
    let approval = ActivationRecord::new(request, Decision::Approved, now);
    let approving = deadline.keeping(READ_BACK_RESERVE);
    let existing = match approving.run(store.approve(&approval)).await {
        Ok(ApproveOutcome::Approved) => return Ok(Outcome::Decided(Decision::Approved)),
        Ok(ApproveOutcome::AlreadyDecided(existing)) => existing,
        Ok(ApproveOutcome::NotEntitled(entitlement)) => {
            let refusal = Refusal::for_entitlement(entitlement.as_ref(), now);
            let record = ActivationRecord::new(request, Decision::Refused(refusal), now);
            match deadline.run(store.record(&record)).await? {
                RecordOutcome::Recorded => return Ok(Outcome::Decided(record.decision)),
                // A concurrent delivery of the same activation decided first.
                RecordOutcome::AlreadyDecided(existing) => existing,
            }
        }
        Err(lost) if lost.maybe_applied() => {
            return Ok(
                match deadline.run(store.activation(&request.activation_id)).await {
                    Ok(Some(existing)) if existing.is_same_request(request, key) => {
                        Outcome::Confirmed(existing.decision)
                    }
                    Ok(Some(_)) => Outcome::ActivationIdReused,
                    // Not recorded yet, or unreadable: the approval may still commit.
                    Ok(None) | Err(_) => Outcome::Unknown {
                        error: lost.chain(),
                    },
                },
            );
        }
        Err(failed) => return Err(failed),
    };
    Ok(if existing.is_same_request(request, key) {
        Outcome::Replayed(existing.decision)
    } else {
        Outcome::ActivationIdReused
    })
}

/// The Activation Request response body Gigastore expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `{"returnCode":"SUCCESS","returnMessage":null}`
    Approve,
    /// `{"returnCode":"FAIL","returnMessage":"<why>"}`
    Refuse(Cow<'static, str>),
}

impl Answer {
    /// Refusal of a body we could not read.
    pub fn invalid(error: &PayloadError) -> Self {
        Self::Refuse(Cow::Owned(format!(
            "{}: {error}",
            Refusal::InvalidRequest.message()
        )))
    }

    /// Refusal when storage failed; nothing was recorded, so a retry may still succeed.
    pub fn unavailable() -> Self {
        Self::Refuse(Cow::Borrowed("temporarily unable to decide, please retry"))
    }
}

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (code, message) = match self {
            Self::Approve => (ReturnCode::Success, None),
            Self::Refuse(why) => (ReturnCode::Fail, Some(why.as_ref())),
        };
        let mut s = serializer.serialize_struct("Answer", 2)?;
        s.serialize_field("returnCode", &code)?;
        s.serialize_field("returnMessage", &message)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payload::FieldError;

    #[test]
    fn parses_the_documented_fields_and_ignores_extras() {
        let r = ActivationRequest::from_body(
            r#"{"inventoryItemId":"1_GB","userToken":"U1","metaTag":"order-9","activationId":"a1","extra":[1]}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.item.as_str(), "1_GB");
        assert_eq!(r.user_token.as_str(), "U1");
        assert_eq!(r.activation_id.as_str(), "a1");
        assert_eq!(r.meta_tag.unwrap().as_str(), "order-9");
        let r = ActivationRequest::from_body(
            r#"{"inventoryItemId":"1_GB","userToken":"U1","metaTag":null,"activationId":"a1"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.meta_tag, None);
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let err = ActivationRequest::from_body(
            r#"{"inventoryItemId":"1_GB","userToken":7,"activationId":"a1"}"#.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PayloadError::Field(FieldError::NotAString("userToken"))
        );
        let err = ActivationRequest::from_body(
            r#"{"inventoryItemId":"","userToken":"U","activationId":"a1"}"#.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PayloadError::Field(FieldError::Empty("inventoryItemId"))
        );
        let err = ActivationRequest::from_body(
            r#"{"inventoryItemId":"1_GB","userToken":"U"}"#.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PayloadError::Field(FieldError::Missing("activationId"))
        );
        let err = ActivationRequest::from_body(
            r#"{"inventoryItemId":"1_GB","userToken":"U","activationId":"a","metaTag":5}"#
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(err, PayloadError::Field(FieldError::NotAString("metaTag")));
    }

    #[test]
    fn refusal_reasons_follow_the_entitlement() {
        let now = OffsetDateTime::now_utc();
        let mut e = Entitlement {
            user_token: UserToken::parse("u").unwrap(),
            item: ItemId::parse("i").unwrap(),
            units_granted: 1,
            units_used: 1,
            reset: None,
            expires_at: None,
            revoked_at: None,
        };
        assert_eq!(Refusal::for_entitlement(None, now), Refusal::NoEntitlement);
        assert_eq!(
            Refusal::for_entitlement(Some(&e), now),
            Refusal::NoUnitsLeft
        );
        e.revoked_at = Some(now);
        assert_eq!(Refusal::for_entitlement(Some(&e), now), Refusal::Revoked);
        e.expires_at = Some(now - time::Duration::minutes(1));
        assert_eq!(Refusal::for_entitlement(Some(&e), now), Refusal::Expired);
    }

    #[test]
    fn answers_serialize_as_gigastore_expects() {
        assert_eq!(
            serde_json::to_string(&Answer::Approve).unwrap(),
            r#"{"returnCode":"SUCCESS","returnMessage":null}"#
        );
        assert_eq!(
            serde_json::to_string(&Outcome::ActivationIdReused.answer()).unwrap(),
            r#"{"returnCode":"FAIL","returnMessage":"activationId already used for another request"}"#
        );
    }
}
