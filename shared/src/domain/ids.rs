//! Identifiers from Gigastore's payloads, parsed once and then trusted.

use std::fmt;

use crate::domain::payload::{check_text, FieldError};

/// Serde, `Display` and text access for an id type whose `parse` checks a raw value.
macro_rules! checked_text {
    ($name:ident) => {
        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(raw: String) -> Result<Self, FieldError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// An id type: a string checked once by `$check`, then trusted, with serde that checks again.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, |$raw:ident| $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The field's name in Gigastore's payloads.
            pub const FIELD: &'static str = $field;

            /// Parses a raw value; an error names the field and what is wrong.
            pub fn parse($raw: &str) -> Result<Self, FieldError> {
                $check.map(|checked: &str| Self(checked.to_owned()))
            }
        }

        checked_text!($name);
    };
}

/// Free text: non-blank, at most `$max` bytes, no control characters.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        id_type!($(#[$doc])* $name, $field, |raw| check_text($field, raw, $max));

        impl $name {
            /// Longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;
        }
    };
}

text_id!(
    /// The partner's own user id, as the app passed it to `setUserToken`.
    UserToken,
    "userToken",
    256
);
text_id!(
    /// A Gigastore inventory item, such as `1_GB`.
    ItemId,
    "inventoryItemId",
    128
);
text_id!(
    /// Gigastore's unique id of one activation attempt: our idempotency key.
    ActivationId,
    "activationId",
    128
);
text_id!(
    /// Free text the app passed to `activateItem`, often an order id.
    MetaTag,
    "metaTag",
    1024
);
text_id!(
    /// The reseller's id of one purchase: makes a grant idempotent.
    PurchaseId,
    "purchaseId",
    128
);
text_id!(
    /// Why the purchase system refunded a purchase, in its words.
    RefundReason,
    "reason",
    512
);
text_id!(
    /// Gigastore's customer id for one of our users (`customerUid`, later webhooks' `uid`).
    CustomerUid,
    "customerUid",
    128
);
text_id!(
    /// Gigastore's id of a data balance that started running (a UUID in its example).
    BalanceItemId,
    "activatedItem",
    128
);

/// `raw` if it is `min..=max` ASCII digits.
fn digits<'a>(
    field: &'static str,
    raw: &'a str,
    min: usize,
    max: usize,
    expected: &'static str,
) -> Result<&'a str, FieldError> {
    if raw.is_empty() {
        Err(FieldError::Empty(field))
    } else if raw.len() < min || raw.len() > max || !raw.bytes().all(|b| b.is_ascii_digit()) {
        Err(FieldError::Malformed { field, expected })
    } else {
        Ok(raw)
    }
}

/// Digits only, `$min..=$max` of them.
macro_rules! digit_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:expr, $max:expr, $expected:literal) => {
        id_type!($(#[$doc])* $name, $field, |raw| digits($field, raw, $min, $max, $expected));
    };
}

digit_id!(
    /// SIM card id: 18 to 22 ASCII digits. No Luhn check: Gigastore's own example fails it.
    Iccid, "iccid", 18, 22, "must be 18 to 22 digits"
);
digit_id!(
    /// Subscriber id: up to 15 digits.
    Imsi, "imsi", 1, 15, "must be 1 to 15 digits"
);
digit_id!(
    /// Id of the device's eUICC: digits (32 on real devices, 17 in Gigastore's example).
    Eid, "eid", 1, 64, "must be 1 to 64 digits"
);

/// An email address as the partner's platform knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest accepted address (RFC 5321's limit).
    pub const MAX_LEN: usize = 254;

    /// Accepts `local@domain` with no white space.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = check_text("email", raw, Self::MAX_LEN)?;
        match text.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !text.contains(char::is_whitespace) =>
            {
                Ok(Self(text.to_owned()))
            }
            _ => Err(FieldError::Malformed {
                field: "email",
                expected: "must look like name@domain",
            }),
        }
    }
}

checked_text!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds_identifiers() {
        assert_eq!(UserToken::parse("USER_1").unwrap().as_str(), "USER_1");
        assert_eq!(ItemId::parse(""), Err(FieldError::Empty("inventoryItemId")));
        let long = "x".repeat(ActivationId::MAX_LEN + 1);
        assert_eq!(
            ActivationId::parse(&long),
            Err(FieldError::TooLong {
                field: "activationId",
                max: 128
            })
        );
        assert!(MetaTag::parse(&"m".repeat(MetaTag::MAX_LEN)).is_ok());
    }

    #[test]
    fn stored_values_are_checked_on_the_way_back_in() {
        let token: Result<UserToken, _> = serde_json::from_str("\"\"");
        assert!(token.is_err());
        let token: UserToken = serde_json::from_str("\"u\"").unwrap();
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"u\"");
    }

    #[test]
    fn digit_ids_are_checked_on_the_way_back_in() {
        let iccid: Iccid = serde_json::from_str("\"89361123300836129514\"").unwrap();
        assert_eq!(iccid.as_str(), "89361123300836129514");
        assert!(serde_json::from_str::<Iccid>("\"8936112330083612951a\"").is_err());
        assert_eq!(
            Imsi::parse("1234567890123456"),
            Err(FieldError::Malformed {
                field: "imsi",
                expected: "must be 1 to 15 digits"
            })
        );
        assert_eq!(Eid::parse(""), Err(FieldError::Empty("eid")));
    }

    #[test]
    fn emails_need_one_at_sign() {
        assert!(Email::parse("a@b.example").is_ok());
        for bad in ["", "ab", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }
}
