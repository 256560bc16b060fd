//! eSIM Status: facts about a user's eSIM profile that we record and never lose.

use std::future::Future;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::ids::{Eid, Iccid, Imsi};
use crate::domain::payload::{FieldError, FromBody, JsonObject, PayloadError};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;
use crate::domain::timeline::Tracked;

/// State of an eSIM profile as Gigastore reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProfileState {
    /// Not installed on a device; ready to be downloaded.
    Released,
    /// Installed and enabled.
    Installed,
    /// Installed, but disabled in the phone's settings.
    Disabled,
    /// Installation failed; support must replace the profile.
    Error,
    /// A state Gigastore has not documented: kept verbatim, never dropped.
    Other(String),
}

impl ProfileState {
    /// Longest state text kept.
    pub const MAX_LEN: usize = 64;

    /// Parses a state; undocumented values become [`ProfileState::Other`].
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = crate::domain::payload::check_text("profileState", raw, Self::MAX_LEN)?;
        Ok(match text {
            "RELEASED" => Self::Released,
            "INSTALLED" => Self::Installed,
            "DISABLED" => Self::Disabled,
            "ERROR" => Self::Error,
            other => Self::Other(other.to_owned()),
        })
    }

    /// The state as Gigastore sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Released => "RELEASED",
            Self::Installed => "INSTALLED",
            Self::Disabled => "DISABLED",
            Self::Error => "ERROR",
            Self::Other(s) => s,
        }
    }

    /// Whether Gigastore documents this state.
    pub fn is_documented(&self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// The name of a documented state; `None` for others (they never become metric dimensions).
    pub fn documented_name(&self) -> Option<&'static str> {
        match self {
            Self::Released => Some("RELEASED"),
            Self::Installed => Some("INSTALLED"),
            Self::Disabled => Some("DISABLED"),
            Self::Error => Some("ERROR"),
            Self::Other(_) => None,
        }
    }
}

impl Serialize for ProfileState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProfileState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A validated eSIM Status webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EsimStatus {
    /// The SIM.
    pub iccid: Iccid,
    /// Its subscriber id.
    pub imsi: Imsi,
    /// The reported state.
    pub profile_state: ProfileState,
    /// The device's eUICC, when sent.
    pub eid: Option<Eid>,
}

impl FromBody for EsimStatus {
    /// Parses the webhook body. Gigastore's documented sample ends with a trailing comma
    /// (`..."eid": "…",}`); that one quirk is accepted, as losing a status is worse.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = match JsonObject::parse(body) {
            Err(PayloadError::InvalidJson(e)) => JsonObject::parse(
                &without_trailing_comma(body).ok_or(PayloadError::InvalidJson(e))?,
            )?,
            other => other?,
        };
        Ok(Self {
            iccid: Iccid::parse(obj.required_str(Iccid::FIELD)?)?,
            imsi: Imsi::parse(obj.required_str(Imsi::FIELD)?)?,
            profile_state: ProfileState::parse(obj.required_str("profileState")?)?,
            eid: obj.optional_str(Eid::FIELD)?.map(Eid::parse).transpose()?,
        })
    }
}

/// The body with a comma right before its final `}` removed, if it has one.
fn without_trailing_comma(body: &[u8]) -> Option<Vec<u8>> {
    let end = body.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if body[end] != b'}' {
        return None;
    }
    let comma = body[..end].iter().rposition(|b| !b.is_ascii_whitespace())?;
    (body[comma] == b',').then(|| [&body[..comma], &body[comma + 1..]].concat())
}

impl EsimStatus {
    /// Whether this status says nothing new after `earlier`: same state and IMSI, and the same
    /// eid unless this one has none (a status without an eid keeps the one on file).
    pub fn repeats(&self, earlier: &EsimStatus) -> bool {
        self.profile_state == earlier.profile_state
            && self.imsi == earlier.imsi
            && self
                .eid
                .as_ref()
                .is_none_or(|eid| earlier.eid.as_ref() == Some(eid))
    }
}

/// One eSIM Status delivery as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EsimStatusRecord {
    /// What Gigastore reported.
    #[serde(flatten)]
    pub status: EsimStatus,
    /// When we received it.
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl Tracked for EsimStatusRecord {
    fn received_at(&self) -> OffsetDateTime {
        self.received_at
    }

    fn distinction(&self) -> &str {
        self.status.profile_state.as_str()
    }

    fn repeats(&self, earlier: &Self) -> bool {
        self.status.repeats(&earlier.status)
    }

    /// A status without an eid keeps the one on file.
    fn replacing(&self, current: &Self) -> Self {
        let mut next = self.clone();
        next.status.eid = next.status.eid.or_else(|| current.status.eid.clone());
        next
    }
}

/// Where eSIM facts are kept: the current state is the one received last, and the history lists
/// the changes by the time they were received.
pub trait EsimStore: Send + Sync {
    /// Records a status: as the current state and a history entry if it is the newest and
    /// changes something; as a history entry only if a newer one is current (a late replay)
    /// and it repeats neither history entry next to it; not at all otherwise.
    fn record_status(
        &self,
        record: &EsimStatusRecord,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// Records a status: the eSIM's current state and one history entry, unless it repeats the current state.
pub async fn record<S: EsimStore>(
    store: &S,
    status: &EsimStatus,
    now: OffsetDateTime,
) -> Result<Recorded, StoreError> {
    let record = EsimStatusRecord {
        status: status.clone(),
        received_at: crate::domain::clock::to_millis(now),
    };
    store.record_status(&record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_gigastore_sample_with_its_trailing_comma() {
        let s = EsimStatus::from_body("{\n \"iccid\": \"89361123300836129514\",\n \"imsi\": \"260216611193634\",\n \"profileState\": \"INSTALLED\",\n \"eid\": \"74088234238931452\",\n}\n".as_bytes()).unwrap();
        assert_eq!(s.iccid.as_str(), "89361123300836129514");
        assert_eq!(s.profile_state, ProfileState::Installed);
        assert_eq!(s.eid.unwrap().as_str(), "74088234238931452");
        assert!(matches!(
            EsimStatus::from_body("{\"iccid\": ,}".as_bytes()),
            Err(PayloadError::InvalidJson(_))
        ));
        assert!(matches!(
            EsimStatus::from_body("[1,]".as_bytes()),
            Err(PayloadError::InvalidJson(_))
        ));
    }

    #[test]
    fn unknown_states_are_kept_verbatim() {
        let s = EsimStatus::from_body(
            r#"{"iccid":"894000000000000000","imsi":"1","profileState":"SUSPENDED_bySupport"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            s.profile_state,
            ProfileState::Other("SUSPENDED_bySupport".into())
        );
        assert_eq!(s.profile_state.as_str(), "SUSPENDED_bySupport");
        assert!(!s.profile_state.is_documented());
        assert_eq!(s.eid, None);
    }

    #[test]
    fn validates_each_field() {
        let base = |iccid: &str, imsi: &str, state: &str, eid: &str| {
            EsimStatus::from_body(
                format!(r#"{{"iccid":{iccid},"imsi":{imsi},"profileState":{state},"eid":{eid}}}"#)
                    .as_bytes(),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let ok = [
            "\"89361123300836129514\"",
            "\"260216611193634\"",
            "\"INSTALLED\"",
            "null",
        ];
        assert_eq!(base(ok[0], ok[1], ok[2], ok[3]), Ok(()));
        // (field index, value in place of the valid one, error)
        let cases = [
            (0, "\"12345678901234567\"", "iccid must be 18 to 22 digits"),
            (
                0,
                "\"12345678901234567890123\"",
                "iccid must be 18 to 22 digits",
            ),
            (
                0,
                "\"8936112330083612951a\"",
                "iccid must be 18 to 22 digits",
            ),
            (
                0,
                "\"\u{0661}8936112330083612951\"",
                "iccid must be 18 to 22 digits",
            ),
            (0, "89361123300836129514", "iccid must be a string"),
            (1, "\"1234567890123456\"", "imsi must be 1 to 15 digits"),
            (1, "\"\"", "imsi is empty"),
            (2, "\"\"", "profileState is empty"),
            (2, "7", "profileState must be a string"),
            (3, "\"12ab\"", "eid must be 1 to 64 digits"),
            (3, "74088234238931452", "eid must be a string"),
        ];
        for (field, value, error) in cases {
            let mut fields = ok;
            fields[field] = value;
            let [iccid, imsi, state, eid] = fields;
            assert_eq!(
                base(iccid, imsi, state, eid),
                Err(error.to_owned()),
                "{value}"
            );
        }
    }
}
