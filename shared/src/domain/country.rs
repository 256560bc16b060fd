//! Country Change: the eSIM attached to a network in another country. Kept by ICCID as the
//! eSIM's current country and a history of changes, like eSIM statuses.

use std::future::Future;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::ids::{Iccid, Imsi};
use crate::domain::payload::{FieldError, FromBody, JsonObject, PayloadError};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;
use crate::domain::timeline::Tracked;

/// Every officially assigned ISO 3166-1 alpha-2 code (249), sorted. User-assigned codes such
/// as `XK` and reserved ones such as `UK` or `EU` are not countries here.
const ISO_3166_ALPHA_2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// A country as an ISO 3166-1 alpha-2 code, one of the officially assigned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(&'static str);

impl Country {
    /// Parses `raw` for `field`: two letters naming an assigned country. Lower case is read as
    /// upper case (a fact is worth more than its spelling); the code is kept in upper case.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::Empty(field));
        }
        let upper = raw.to_ascii_uppercase();
        ISO_3166_ALPHA_2
            .binary_search(&upper.as_str())
            .map(|at| Self(ISO_3166_ALPHA_2[at]))
            .map_err(|_| FieldError::Malformed {
                field,
                expected: "must be an ISO 3166-1 alpha-2 country code, e.g. DE",
            })
    }

    /// The code, in upper case.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Country {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse("country", &text).map_err(serde::de::Error::custom)
    }
}

/// A validated Country Change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountryChange {
    /// The SIM.
    pub iccid: Iccid,
    /// Its subscriber id.
    pub imsi: Imsi,
    /// Where it was attached before; `None` on the first attach.
    pub previous_country: Option<Country>,
    /// Where it is attached now.
    pub new_country: Country,
}

impl FromBody for CountryChange {
    /// Parses `{"imsi", "iccid", "previousCountry", "newCountry"}`; `previousCountry` may be
    /// null or absent (the first attach).
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = JsonObject::parse(body)?;
        let previous = obj.optional_str("previousCountry")?;
        Ok(Self {
            iccid: Iccid::parse(obj.required_str(Iccid::FIELD)?)?,
            imsi: Imsi::parse(obj.required_str(Imsi::FIELD)?)?,
            previous_country: previous
                .map(|raw| Country::parse("previousCountry", raw))
                .transpose()?,
            new_country: Country::parse("newCountry", obj.required_str("newCountry")?)?,
        })
    }
}

/// One Country Change as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountryChangeRecord {
    /// What Gigastore reported.
    #[serde(flatten)]
    pub change: CountryChange,
    /// When we received it: the payload carries no time of its own.
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

impl Tracked for CountryChangeRecord {
    fn received_at(&self) -> OffsetDateTime {
        self.received_at
    }

    fn distinction(&self) -> &str {
        self.change.new_country.as_str()
    }

    /// The same move of the same subscriber: a redelivery.
    fn repeats(&self, earlier: &Self) -> bool {
        self.change == earlier.change
    }
}

/// Where country changes are kept: the current country is the one received last, and the
/// history lists the changes by the time they were received.
pub trait CountryStore: Send + Sync {
    /// Records a change: as the current country and a history entry if it is the newest and
    /// not a repeat of the current one; as a history entry only if a newer one is current (a
    /// late replay) and it repeats neither history entry next to it; not at all otherwise.
    fn record_country(
        &self,
        record: &CountryChangeRecord,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// Records a Country Change received at `now`.
pub async fn record<S: CountryStore>(
    store: &S,
    change: &CountryChange,
    now: OffsetDateTime,
) -> Result<Recorded, StoreError> {
    let record = CountryChangeRecord {
        change: change.clone(),
        received_at: crate::domain::clock::to_millis(now),
    };
    store.record_country(&record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_complete() {
        assert!(ISO_3166_ALPHA_2.windows(2).all(|w| w[0] < w[1]));
        assert!(ISO_3166_ALPHA_2
            .iter()
            .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
        for code in ["DE", "US", "GB", "AX", "ZW", "SS", "CW", "SX", "BQ", "PS"] {
            assert_eq!(Country::parse("newCountry", code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn only_assigned_codes_are_countries() {
        for bad in ["XK", "UK", "EU", "ZZ", "D", "DEU", "D1", "ÄÄ", " DE"] {
            assert_eq!(
                Country::parse("newCountry", bad).unwrap_err().to_string(),
                "newCountry must be an ISO 3166-1 alpha-2 country code, e.g. DE",
                "{bad}"
            );
        }
        assert_eq!(
            Country::parse("newCountry", ""),
            Err(FieldError::Empty("newCountry"))
        );
        assert_eq!(Country::parse("newCountry", "de").unwrap().as_str(), "DE");
    }

    #[test]
    fn reads_gigastore_sample_and_names_each_field() {
        let first = CountryChange::from_body(
            br#"{"imsi":"260216611193634","iccid":"89361123300836129514","previousCountry":null,"newCountry":"DE"}"#,
        )
        .unwrap();
        assert_eq!(first.previous_country, None);
        assert_eq!(first.new_country.as_str(), "DE");
        let absent = CountryChange::from_body(
            br#"{"imsi":"260216611193634","iccid":"89361123300836129514","newCountry":"DE"}"#,
        )
        .unwrap();
        assert_eq!(absent, first);
        for (body, error) in [
            (
                r#"{"imsi":"1","iccid":"89361123300836129514","previousCountry":"XX","newCountry":"DE"}"#,
                "previousCountry must be an ISO 3166-1 alpha-2 country code, e.g. DE",
            ),
            (
                r#"{"imsi":"1","iccid":"89361123300836129514","previousCountry":276,"newCountry":"DE"}"#,
                "previousCountry must be a string",
            ),
            (
                r#"{"imsi":"1","iccid":"89361123300836129514"}"#,
                "newCountry is missing",
            ),
            (
                r#"{"imsi":"1","iccid":"1","newCountry":"DE"}"#,
                "iccid must be 18 to 22 digits",
            ),
        ] {
            assert_eq!(
                CountryChange::from_body(body.as_bytes())
                    .unwrap_err()
                    .to_string(),
                error
            );
        }
    }

    #[test]
    fn stored_countries_are_checked_on_the_way_back_in() {
        let de: Country = serde_json::from_str("\"DE\"").unwrap();
        assert_eq!(serde_json::to_string(&de).unwrap(), "\"DE\"");
        assert!(serde_json::from_str::<Country>("\"XX\"").is_err());
    }
}
