//! Balance Alert and Balance Activation: facts about a Gigastore customer's data balances,
//! kept by Gigastore's customer id, so they are kept before Customer Registration tells us whose
//! they are, and found through the user's profile once it has.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::ids::{BalanceItemId, CustomerUid, Iccid, Imsi};
use crate::domain::payload::{check_text, FieldError, FromBody, JsonObject, PayloadError};
use crate::domain::store::StoreError;
use crate::domain::timeline::Recorded;

/// The name both balance webhooks give Gigastore's customer id.
pub const UID_FIELD: &str = "uid";

/// The customer id sent as `uid`, with errors that name `uid`.
fn customer_uid(obj: &JsonObject) -> Result<CustomerUid, FieldError> {
    let raw = obj.required_str(UID_FIELD)?;
    CustomerUid::parse(check_text(UID_FIELD, raw, CustomerUid::MAX_LEN)?)
}

/// A validated Balance Alert: the customer's data left crossed the low-data threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceAlert {
    /// Gigastore's customer id.
    pub customer_uid: CustomerUid,
    /// The SIM.
    pub iccid: Iccid,
    /// Its subscriber id.
    pub imsi: Imsi,
    /// When the threshold was crossed, as Gigastore says.
    #[serde(with = "crate::domain::clock::stored")]
    pub timestamp: OffsetDateTime,
    /// Data left, in bytes (below 2^63).
    #[serde(rename = "balanceAmountInByte")]
    pub balance_bytes: u64,
}

impl FromBody for BalanceAlert {
    /// Parses `{"uid", "iccid", "imsi", "timestamp", "balanceAmountInByte"}`.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = JsonObject::parse(body)?;
        Ok(Self {
            customer_uid: customer_uid(&obj)?,
            iccid: Iccid::parse(obj.required_str(Iccid::FIELD)?)?,
            imsi: Imsi::parse(obj.required_str(Imsi::FIELD)?)?,
            timestamp: obj.required_time("timestamp")?,
            balance_bytes: obj.required_count("balanceAmountInByte")?,
        })
    }
}

/// One Balance Alert as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceAlertRecord {
    /// What Gigastore reported.
    #[serde(flatten)]
    pub alert: BalanceAlert,
    /// When we received it.
    #[serde(with = "crate::domain::clock::stored")]
    pub received_at: OffsetDateTime,
}

/// A validated Balance Activation: a data balance started running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceActivation {
    /// Gigastore's customer id.
    pub customer_uid: CustomerUid,
    /// The balance that started.
    pub activated_item: BalanceItemId,
    /// When it started.
    pub activated_at: OffsetDateTime,
    /// When it stops being valid (never before it started).
    pub expires_at: OffsetDateTime,
}

impl FromBody for BalanceActivation {
    /// Parses `{"uid", "activatedItem", "activatedAt", "expiresAt"}`.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = JsonObject::parse(body)?;
        let activation = Self {
            customer_uid: customer_uid(&obj)?,
            activated_item: BalanceItemId::parse(obj.required_str(BalanceItemId::FIELD)?)?,
            activated_at: obj.required_time("activatedAt")?,
            expires_at: obj.required_time("expiresAt")?,
        };
        if activation.expires_at < activation.activated_at {
            return Err(FieldError::Malformed {
                field: "expiresAt",
                expected: "must not be before activatedAt",
            }
            .into());
        }
        Ok(activation)
    }
}

/// One Balance Activation as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceActivationRecord {
    /// What Gigastore reported.
    pub activation: BalanceActivation,
    /// When we received it.
    pub received_at: OffsetDateTime,
}

/// Where balance facts are kept, by Gigastore's customer id.
pub trait BalanceStore: Send + Sync {
    /// Keeps an alert once: another with the same customer, time and SIM is a redelivery.
    /// Alerts are never replaced: the latest is the one with the newest `timestamp`.
    fn record_alert(
        &self,
        record: &BalanceAlertRecord,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Keeps an activation once per customer, item and start; the same one with another
    /// expiry received later replaces it (the balance was extended or cut).
    fn record_activation(
        &self,
        record: &BalanceActivationRecord,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// Records a Balance Alert received at `now`.
pub async fn record_alert<S: BalanceStore>(
    store: &S,
    alert: &BalanceAlert,
    now: OffsetDateTime,
) -> Result<Recorded, StoreError> {
    let record = BalanceAlertRecord {
        alert: alert.clone(),
        received_at: crate::domain::clock::to_millis(now),
    };
    store.record_alert(&record).await
}

/// Records a Balance Activation received at `now`.
pub async fn record_activation<S: BalanceStore>(
    store: &S,
    activation: &BalanceActivation,
    now: OffsetDateTime,
) -> Result<Recorded, StoreError> {
    let record = BalanceActivationRecord {
        activation: activation.clone(),
        received_at: crate::domain::clock::to_millis(now),
    };
    store.record_activation(&record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &str = r#"{"uid":"058c8716-47dd-4fc4-be89-00978a86b7c0","iccid":"89361123300836129514","imsi":"260216611193634","timestamp":"2022-08-21T10:15:30Z","balanceAmountInByte":93618231}"#;

    fn alert_with(field: &str, value: &str) -> Result<BalanceAlert, String> {
        let mut body: serde_json::Value = serde_json::from_str(ALERT).unwrap();
        body[field] = serde_json::from_str(value).unwrap();
        BalanceAlert::from_body(body.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_gigastore_sample_alert() {
        let alert = BalanceAlert::from_body(ALERT.as_bytes()).unwrap();
        assert_eq!(
            alert.customer_uid.as_str(),
            "058c8716-47dd-4fc4-be89-00978a86b7c0"
        );
        assert_eq!(alert.balance_bytes, 93_618_231);
        assert_eq!(
            crate::domain::clock::format(alert.timestamp),
            "2022-08-21T10:15:30.000Z"
        );
    }

    #[test]
    fn the_balance_is_a_json_integer_below_two_to_the_63() {
        let rule = "balanceAmountInByte must be a JSON integer from 0 to 9223372036854775807";
        for bad in [
            "1.5",
            "1e3",
            "-1",
            "\"93618231\"",
            "9223372036854775808",
            "true",
        ] {
            assert_eq!(alert_with("balanceAmountInByte", bad), Err(rule.to_owned()));
        }
        let max = alert_with("balanceAmountInByte", "9223372036854775807").unwrap();
        assert_eq!(max.balance_bytes, i64::MAX as u64);
        assert_eq!(
            alert_with("balanceAmountInByte", "0")
                .unwrap()
                .balance_bytes,
            0
        );
        assert_eq!(
            alert_with("balanceAmountInByte", "null"),
            Err("balanceAmountInByte is missing".to_owned())
        );
    }

    #[test]
    fn names_each_field_of_an_alert() {
        for (field, value, error) in [
            ("uid", "\"\"", "uid is empty"),
            ("uid", "7", "uid must be a string"),
            ("iccid", "\"123\"", "iccid must be 18 to 22 digits"),
            ("imsi", "\"x\"", "imsi must be 1 to 15 digits"),
            (
                "timestamp",
                "\"2022-08-21 10:15\"",
                "timestamp must be an RFC 3339 time, e.g. 2022-08-21T10:15:30Z",
            ),
            ("timestamp", "null", "timestamp is missing"),
        ] {
            assert_eq!(alert_with(field, value), Err(error.to_owned()), "{field}");
        }
    }

    #[test]
    fn an_activation_never_expires_before_it_starts() {
        let body = |expires: &str| {
            format!(
                r#"{{"uid":"c-1","activatedItem":"a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e","activatedAt":"2025-08-25T09:52:10Z","expiresAt":"{expires}"}}"#
            )
        };
        let ok = BalanceActivation::from_body(body("2025-09-02T10:15:30Z").as_bytes()).unwrap();
        assert_eq!(
            ok.activated_item.as_str(),
            "a15bb850-8f4c-4a2b-9d6e-2f1c3b4a5d6e"
        );
        assert!(BalanceActivation::from_body(body("2025-08-25T09:52:10Z").as_bytes()).is_ok());
        assert_eq!(
            BalanceActivation::from_body(body("2025-08-25T09:52:09Z").as_bytes())
                .unwrap_err()
                .to_string(),
            "expiresAt must not be before activatedAt"
        );
        let missing =
            BalanceActivation::from_body(br#"{"uid":"c-1","activatedAt":"2025-08-25T09:52:10Z"}"#)
                .unwrap_err();
        assert_eq!(missing.to_string(), "activatedItem is missing");
    }
}
