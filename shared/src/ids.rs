//! Identifiers from Gigastore's payloads, parsed once and then trusted.

use std::fmt;

use crate::payload::{check_text, FieldError};

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The field's name in Gigastore's payloads.
            pub const FIELD: &'static str = $field;
            /// Longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Parses a raw value: non-blank, at most `MAX_LEN` bytes, no control characters.
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                check_text($field, raw, $max).map(|s| Self(s.to_owned()))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(raw: String) -> Result<Self, FieldError> {
                check_text($field, &raw, $max)?;
                Ok(Self(raw))
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
    /// Gigastore's customer id for one of our users (`customerUid`, later webhooks' `uid`).
    CustomerUid,
    "customerUid",
    128
);

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
}
