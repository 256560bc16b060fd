//! Gigastore's JSON, as its documentation shows it: what we send, and the parts of its answers we
//! read. Everything else in an answer is ignored. Prices are decimals kept as written (a
//! [`RawValue`]), never read through a float.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::gigastore::{
    ActivatedItem, ActivatedItemId, ActivationMode, InventoryItem, Price, TopUpCall,
};

/// `POST /gigastore/activations/top-up`'s body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TopUpBody<'a> {
    inventory_item_id: &'a str,
    metatag: &'a str,
    customer_uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_price: Option<ExpectedPrice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    activation_mode: Option<ActivationMode>,
}

/// `expectedPrice`. Our prices carry no `sortIndex`: 0, as in Gigastore's example (if Gigastore
/// matched it against another retail price's index, the top-up would be refused, not charged).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedPrice<'a> {
    sort_index: u32,
    price_value: Box<RawValue>,
    currency_code: &'a str,
}

/// A price whose value is not a plain decimal (`4.99`): it is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expectedPrice {value:?} {currency:?} is not a decimal amount and a currency code")]
pub(super) struct InvalidPrice {
    value: String,
    currency: String,
}

impl<'a> TopUpBody<'a> {
    pub(super) fn of(call: &'a TopUpCall) -> Result<Self, InvalidPrice> {
        let expected_price = call
            .expected_price
            .as_ref()
            .map(|price| {
                let invalid = || InvalidPrice {
                    value: price.value.clone(),
                    currency: price.currency.clone(),
                };
                let currency_ok = !price.currency.is_empty()
                    && price.currency.len() <= 8
                    && price.currency.bytes().all(|b| b.is_ascii_alphabetic());
                if !is_decimal(&price.value) || !currency_ok {
                    return Err(invalid());
                }
                let price_value =
                    RawValue::from_string(price.value.clone()).map_err(|_| invalid())?;
                Ok(ExpectedPrice {
                    sort_index: 0,
                    price_value,
                    currency_code: &price.currency,
                })
            })
            .transpose()?;
        Ok(Self {
            inventory_item_id: call.item.as_str(),
            metatag: call.purchase_id.as_str(),
            customer_uid: call.customer_uid.as_str(),
            expected_price,
            activation_mode: call.activation_mode,
        })
    }
}

/// `digits[.digits]`: a price as JSON writes one, without sign or exponent.
fn is_decimal(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

/// The top-up's answer: `{"status": "success", "activatedItem": {"uid": ...}, ...}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TopUpAnswer {
    status: Option<String>,
    activated_item: Option<ItemOnWire>,
}

impl TopUpAnswer {
    /// The activated item's id, if the answer says the top-up succeeded; otherwise why it is not
    /// an answer we can read.
    pub(super) fn activated(self) -> Result<ActivatedItemId, &'static str> {
        if self.status.as_deref().is_some_and(|s| s != "success") {
            return Err("a 2xx answer whose status is not \"success\"");
        }
        match self.activated_item {
            Some(item) if !item.uid.trim().is_empty() => Ok(ActivatedItemId(item.uid)),
            _ => Err("a 2xx answer without activatedItem.uid"),
        }
    }
}

/// An activated item: its `uid` and `metatag` (the rest is not read).
#[derive(Debug, Deserialize)]
struct ItemOnWire {
    uid: String,
    #[serde(default)]
    metatag: Option<String>,
}

/// `GET /gigastore/activations/customers/{uid}`: its `activatedItems`. The list must be there:
/// a customer exists only through a first package, and an answer without the list must not read
/// as "no top-up found", which would send a charge again.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomerAnswer {
    activated_items: Vec<ItemOnWire>,
}

impl CustomerAnswer {
    pub(super) fn items(self) -> Vec<ActivatedItem> {
        self.activated_items
            .into_iter()
            .map(|item| ActivatedItem {
                uid: ActivatedItemId(item.uid),
                metatag: item.metatag,
            })
            .collect()
    }
}

/// `GET /gigastore/products/inventory`.
#[derive(Debug, Deserialize)]
pub(super) struct InventoryAnswer {
    items: Vec<Box<RawValue>>,
}

/// One catalogue item; only `id` is required.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryOnWire {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size_value: Option<Box<RawValue>>,
    #[serde(default)]
    size_unit: Option<String>,
    #[serde(default)]
    validity_size: Option<Box<RawValue>>,
    #[serde(default)]
    validity_unit: Option<String>,
    #[serde(default)]
    validity_unlimited: Option<bool>,
    #[serde(default)]
    country_set: Option<String>,
    #[serde(default)]
    retail_prices: Vec<PriceOnWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceOnWire {
    #[serde(default)]
    sort_index: Option<i64>,
    price_value: Box<RawValue>,
    currency_code: String,
}

impl InventoryAnswer {
    /// The items, each read on its own: one that cannot be read is left out and counted.
    pub(super) fn items(self) -> (Vec<InventoryItem>, usize) {
        let mut skipped = 0usize;
        let items = self
            .items
            .iter()
            .filter_map(
                |raw| match serde_json::from_str::<InventoryOnWire>(raw.get()) {
                    Ok(item) => Some(item.into_domain()),
                    Err(_) => {
                        skipped = skipped.saturating_add(1);
                        None
                    }
                },
            )
            .collect();
        (items, skipped)
    }
}

impl InventoryOnWire {
    fn into_domain(self) -> InventoryItem {
        let text = |raw: &Option<Box<RawValue>>| {
            raw.as_deref()
                .map(|r| r.get().trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        let size = format!(
            "{} {}",
            text(&self.size_value),
            self.size_unit.unwrap_or_default()
        );
        let validity = if self.validity_unlimited == Some(true) {
            "unlimited".to_owned()
        } else {
            format!(
                "{} {}",
                text(&self.validity_size),
                self.validity_unit.unwrap_or_default()
            )
        };
        let mut prices = self.retail_prices;
        prices.sort_by_key(|p| p.sort_index.unwrap_or(i64::MAX));
        let retail_prices = prices
            .into_iter()
            .filter_map(|p| {
                let value = p.price_value.get().trim_matches('"');
                is_decimal(value).then(|| Price {
                    value: value.to_owned(),
                    currency: p.currency_code,
                })
            })
            .collect();
        InventoryItem {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id: self.id,
            size: size.trim().to_owned(),
            validity: validity.trim().to_owned(),
            country_set: self.country_set.unwrap_or_default(),
            retail_prices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{CustomerUid, ItemId, PurchaseId};

    fn call(price: Option<(&str, &str)>, mode: Option<ActivationMode>) -> TopUpCall {
        TopUpCall {
            customer_uid: CustomerUid::parse("c-1").unwrap(),
            item: ItemId::parse("1_GB").unwrap(),
            purchase_id: PurchaseId::parse("p-1").unwrap(),
            expected_price: price.map(|(value, currency)| Price {
                value: value.into(),
                currency: currency.into(),
            }),
            activation_mode: mode,
        }
    }

    #[test]
    fn a_top_up_body_is_gigastores_with_the_price_as_written() {
        let body = serde_json::to_string(
            &TopUpBody::of(&call(
                Some(("4.990", "USD")),
                Some(ActivationMode::FirstUse),
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            body,
            r#"{"inventoryItemId":"1_GB","metatag":"p-1","customerUid":"c-1","expectedPrice":{"sortIndex":0,"priceValue":4.990,"currencyCode":"USD"},"activationMode":"FIRST_USE"}"#
        );
        let bare = serde_json::to_string(&TopUpBody::of(&call(None, None)).unwrap()).unwrap();
        assert_eq!(
            bare,
            r#"{"inventoryItemId":"1_GB","metatag":"p-1","customerUid":"c-1"}"#
        );
    }

    #[test]
    fn a_price_that_is_not_a_decimal_is_not_sent() {
        for (value, currency) in [
            ("", "USD"),
            ("4,99", "USD"),
            ("-1", "USD"),
            ("1e3", "USD"),
            ("4.", "USD"),
            (".5", "USD"),
            ("4.99}", "USD"),
            ("4.99", ""),
            ("4.99", "U\"SD"),
        ] {
            assert!(
                TopUpBody::of(&call(Some((value, currency)), None)).is_err(),
                "{value:?} {currency:?}"
            );
        }
    }

    #[test]
    fn a_top_up_answer_names_the_activated_item() {
        let read = |json: &str| {
            serde_json::from_str::<TopUpAnswer>(json)
                .unwrap()
                .activated()
        };
        assert_eq!(
            read(r#"{"status":"success","activatedItem":{"uid":"a-1","metatag":"p-1"}}"#),
            Ok(ActivatedItemId("a-1".into()))
        );
        assert!(read(r#"{"status":"success"}"#).is_err());
        assert!(read(r#"{"status":"error","activatedItem":{"uid":"a-1"}}"#).is_err());
        assert!(read(r#"{"activatedItem":{"uid":" "}}"#).is_err());
    }

    #[test]
    fn a_customer_answer_needs_its_list() {
        let items = serde_json::from_str::<CustomerAnswer>(
            r#"{"customer":{"uid":"c"},"activatedItems":[{"uid":"a","metatag":"p","balance":{}},{"uid":"b","metatag":null},{"uid":"c"}]}"#,
        )
        .unwrap()
        .items();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].metatag.as_deref(), Some("p"));
        assert_eq!(items[1].metatag, None);
        for bad in [
            r#"{"customer":{"uid":"c"}}"#,
            r#"{"activatedItems":null}"#,
            r#"{"activatedItems":[{"metatag":"p"}]}"#,
        ] {
            assert!(
                serde_json::from_str::<CustomerAnswer>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn inventory_items_are_read_one_by_one() {
        let answer: InventoryAnswer = serde_json::from_str(
            r#"{"items":[
              {"id":"1_GB","productId":"p","name":"1 GB","sizeValue":1,"sizeUnit":"GB","validitySize":30,
               "validityUnit":"days","validityUnlimited":false,"countrySet":"WWW",
               "prices":[{"sortIndex":0,"priceValue":3.5,"currencyCode":"USD"}],
               "retailPrices":[{"sortIndex":1,"priceValue":5.00,"currencyCode":"EUR"},{"sortIndex":0,"priceValue":4.99,"currencyCode":"USD"}]},
              {"name":"no id"},
              {"id":"U","validityUnlimited":true,"retailPrices":[{"priceValue":"7.5","currencyCode":"USD"},{"priceValue":-1,"currencyCode":"USD"}]}
            ]}"#,
        )
        .unwrap();
        let (items, skipped) = answer.items();
        assert_eq!(skipped, 1);
        assert_eq!(
            items[0],
            InventoryItem {
                id: "1_GB".into(),
                name: "1 GB".into(),
                size: "1 GB".into(),
                validity: "30 days".into(),
                country_set: "WWW".into(),
                retail_prices: vec![
                    Price {
                        value: "4.99".into(),
                        currency: "USD".into()
                    },
                    Price {
                        value: "5.00".into(),
                        currency: "EUR".into()
                    }
                ],
            }
        );
        assert_eq!(items[1].name, "U");
        assert_eq!(items[1].validity, "unlimited");
        assert_eq!(items[1].size, "");
        assert_eq!(
            items[1].retail_prices,
            vec![Price {
                value: "7.5".into(),
                currency: "USD".into()
            }]
        );
    }
}
