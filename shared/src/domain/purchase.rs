//! Purchases: the reseller's purchase system grants units once per purchase id, and refunds
//! what is still unused.
//!
//! One entitlement counts a user's units of one item, whatever purchase granted them, so
//! activations stay one request. Which purchase's units an activation used is a rule, first in
//! first out ([`usage`]): the oldest purchase's units go first. A refund removes the units its
//! purchase still has left by that rule, and only while the entitlement still has them unused
//! (the store's condition), so a unit is either activated or refunded, never both.

use std::future::Future;
use std::num::NonZeroU32;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::entitlement::{Entitlement, EntitlementStore};
use crate::domain::erasure::Holder;
use crate::domain::gigastore::{ActivationMode, Price};
use crate::domain::ids::{CustomerUid, Email, ItemId, PurchaseId, RefundReason, UserToken};
use crate::domain::payload::{FieldError, FromBody, JsonObject, PayloadError};
use crate::domain::store::StoreError;
use crate::domain::topup::{TopUp, TopUpState, TopUpStore};

/// Units one purchase may grant: 1 to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "u32")]
pub struct Quantity(NonZeroU32);

impl Quantity {
    /// Most units one purchase grants.
    pub const MAX: u32 = 100;
    /// The purchase body's field.
    pub const FIELD: &'static str = "quantity";
    /// One unit, the default.
    pub const ONE: Self = Self(NonZeroU32::MIN);

    /// `n` if it is 1 to [`Quantity::MAX`].
    pub fn new(n: u64) -> Result<Self, FieldError> {
        u32::try_from(n)
            .ok()
            .filter(|n| *n <= Self::MAX)
            .and_then(NonZeroU32::new)
            .map(Self)
            .ok_or(FieldError::Malformed {
                field: Self::FIELD,
                expected: "must be an integer from 1 to 100",
            })
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> Self {
        q.get()
    }
}

/// How a purchase reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub enum Delivery {
    /// Units that wait for Gigastore's Activation Request (the app's SDK installs them).
    #[default]
    #[serde(rename = "sdk")]
    Sdk,
    /// A top-up of the user's Gigastore customer, bought through Gigastore's API
    /// (`crate::domain::topup`).
    #[serde(rename = "top-up")]
    TopUp,
}

impl Delivery {
    /// The purchase body's field.
    pub const FIELD: &'static str = "delivery";

    /// Reads the field's value.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "sdk" => Ok(Self::Sdk),
            "top-up" => Ok(Self::TopUp),
            _ => Err(FieldError::Malformed {
                field: Self::FIELD,
                expected: "must be \"sdk\" or \"top-up\"",
            }),
        }
    }
}

/// What a grant delivers: units for the SDK, or a top-up and its terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Order {
    /// Units that wait for Gigastore's Activation Request.
    #[default]
    Sdk,
    /// One top-up through Gigastore's API.
    TopUp {
        /// Gigastore refuses unless its retail price is this one (`price`).
        expected_price: Option<Price>,
        /// When the package's validity starts (`activationMode`).
        activation_mode: Option<ActivationMode>,
    },
}

impl Order {
    /// How it reaches the user.
    pub fn delivery(&self) -> Delivery {
        match self {
            Self::Sdk => Delivery::Sdk,
            Self::TopUp { .. } => Delivery::TopUp,
        }
    }
}

/// A grant of units, as the purchase API or the operator CLI makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The reseller's purchase id: the grant applies once, however often it is repeated.
    pub purchase_id: PurchaseId,
    /// The buyer.
    pub user_token: UserToken,
    /// The item bought.
    pub item: ItemId,
    /// Units added.
    pub quantity: Quantity,
    /// The buyer's email, stored on the user's profile when given.
    pub email: Option<Email>,
    /// New expiry for the whole entitlement; `None` keeps the current one.
    pub expires_at: Option<OffsetDateTime>,
    /// What it delivers: units for the SDK, or a top-up.
    pub delivery: Order,
}

/// Fields a purchase body may hold; any other is refused (a misspelt `quantity` must not
/// silently grant one unit).
const PURCHASE_FIELDS: [&str; 9] = [
    PurchaseId::FIELD,
    UserToken::FIELD,
    ItemId::FIELD,
    Quantity::FIELD,
    "email",
    EXPIRES_AT,
    Delivery::FIELD,
    PRICE,
    ACTIVATION_MODE,
];
const EXPIRES_AT: &str = "expiresAt";
const PRICE: &str = "price";
const ACTIVATION_MODE: &str = "activationMode";

impl FromBody for Grant {
    /// Reads `POST /purchases`' body; errors name the field.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let obj = JsonObject::parse(body)?;
        obj.only(&PURCHASE_FIELDS)?;
        Ok(Self {
            purchase_id: PurchaseId::parse(obj.required_str(PurchaseId::FIELD)?)?,
            user_token: UserToken::parse(obj.required_str(UserToken::FIELD)?)?,
            item: ItemId::parse(obj.required_str(ItemId::FIELD)?)?,
            quantity: match obj.optional_count(Quantity::FIELD)? {
                Some(n) => Quantity::new(n)?,
                None => Quantity::ONE,
            },
            email: obj.optional_str("email")?.map(Email::parse).transpose()?,
            expires_at: expires_at(&obj)?,
            delivery: order(&obj)?,
        })
        .and_then(|grant| match grant.delivery {
            // One top-up per purchase, with the package's own validity.
            Order::TopUp { .. } if grant.quantity != Quantity::ONE => Err(FieldError::Malformed {
                field: Quantity::FIELD,
                expected: "must be 1 for a top-up",
            }
            .into()),
            Order::TopUp { .. } if grant.expires_at.is_some() => Err(FieldError::Malformed {
                field: EXPIRES_AT,
                expected: "is not for a top-up: the package has its own validity",
            }
            .into()),
            _ => Ok(grant),
        })
    }
}

/// The body's delivery and, for a top-up, its terms (refused for units: they have none).
fn order(obj: &JsonObject) -> Result<Order, FieldError> {
    let delivery = obj.optional_str(Delivery::FIELD)?.map(Delivery::parse);
    let expected_price = obj.optional_price(PRICE)?;
    let activation_mode = match obj.optional_str(ACTIVATION_MODE)? {
        None => None,
        Some("NOW") => Some(ActivationMode::Now),
        Some("FIRST_USE") => Some(ActivationMode::FirstUse),
        Some("ON_DEMAND") => Some(ActivationMode::OnDemand),
        Some(_) => {
            return Err(FieldError::Malformed {
                field: ACTIVATION_MODE,
                expected: "must be NOW, FIRST_USE or ON_DEMAND",
            })
        }
    };
    match delivery.transpose()?.unwrap_or_default() {
        Delivery::TopUp => Ok(Order::TopUp {
            expected_price,
            activation_mode,
        }),
        Delivery::Sdk => {
            let needs_top_up = |field| FieldError::Malformed {
                field,
                expected: "is only for \"delivery\": \"top-up\"",
            };
            match (expected_price, activation_mode) {
                (Some(_), _) => Err(needs_top_up(PRICE)),
                (_, Some(_)) => Err(needs_top_up(ACTIVATION_MODE)),
                (None, None) => Ok(Order::Sdk),
            }
        }
    }
}

/// `expiresAt`, an RFC 3339 date-time as the purchase API's contract has it
/// (`docs/openapi.yaml`: `format: date-time`): `T` or `t` between the date and the time. The
/// shared reader takes any one character there, as Gigastore's payloads and stored items may
/// have it; a client generated from the contract never sends one, and the contract refuses it.
fn expires_at(obj: &JsonObject) -> Result<Option<OffsetDateTime>, FieldError> {
    let at = obj.optional_time(EXPIRES_AT)?;
    // Parsed: four-digit year, month and day, so the separator is the eleventh byte.
    match obj
        .optional_str(EXPIRES_AT)?
        .map(|text| text.as_bytes().get(10))
    {
        Some(Some(b'T' | b't')) | None => Ok(at),
        Some(_) => Err(FieldError::Malformed {
            field: EXPIRES_AT,
            expected: "must be an RFC 3339 time, e.g. 2022-08-21T10:15:30Z",
        }),
    }
}

/// A refund, as recorded on its purchase: what it removed and what was already gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// Unused units removed.
    pub units_refunded: u32,
    /// Units already activated (first in, first out), so kept.
    pub units_used: u32,
    /// Units that were neither: lost to an expiry, an operator's revocation or an erasure.
    pub units_void: u32,
    /// The purchase system's reason, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RefundReason>,
    /// When.
    #[serde(with = "crate::domain::clock::stored")]
    pub refunded_at: OffsetDateTime,
}

impl Refund {
    /// What this refund of `purchase` takes from an entitlement with `units_granted`: whose
    /// entitlement and the units left granted after it; `None` when it takes no unit.
    pub fn taking<'a>(
        &self,
        purchase: &'a Purchase,
        units_granted: u32,
    ) -> Result<Option<(&'a UserToken, u32)>, StoreError> {
        if self.units_refunded == 0 {
            return Ok(None);
        }
        let user = purchase
            .holder
            .user_token()
            .ok_or(StoreError::Inconsistent(
                "units to refund from an erased user's purchase",
            ))?;
        let remaining =
            units_granted
                .checked_sub(self.units_refunded)
                .ok_or(StoreError::Inconsistent(
                    "refunding more units than granted",
                ))?;
        Ok(Some((user, remaining)))
    }
}

/// A purchase as stored: what it granted, to whom, and its refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    /// The reseller's purchase id.
    pub purchase_id: PurchaseId,
    /// The buyer (hashed once erased).
    #[serde(flatten)]
    pub holder: Holder,
    /// The item bought.
    #[serde(rename = "inventoryItemId")]
    pub item: ItemId,
    /// Units granted.
    pub quantity: u32,
    /// The expiry the grant set, if it set one.
    #[serde(
        with = "crate::domain::clock::stored::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// How it reaches the user.
    pub delivery: Delivery,
    /// When it was granted.
    #[serde(with = "crate::domain::clock::stored")]
    pub granted_at: OffsetDateTime,
    /// Its refund, once refunded (units; a top-up's refund is in its `top_up`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<Refund>,
    /// The top-up, for a purchase delivered as one (boxed: most purchases are units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_up: Option<Box<TopUp>>,
}

impl Purchase {
    /// The purchase `grant` records at `now`; a top-up's for `customer`, the user's
    /// Gigastore customer id.
    pub fn granted(grant: &Grant, now: OffsetDateTime, customer: Option<&CustomerUid>) -> Self {
        let top_up = match (&grant.delivery, customer) {
            (
                Order::TopUp {
                    expected_price,
                    activation_mode,
                },
                Some(customer),
            ) => Some(Box::new(TopUp::new(
                customer.clone(),
                expected_price.clone(),
                *activation_mode,
            ))),
            _ => None,
        };
        Self {
            purchase_id: grant.purchase_id.clone(),
            holder: Holder::User(grant.user_token.clone()),
            item: grant.item.clone(),
            quantity: grant.quantity.get(),
            expires_at: grant.expires_at.map(crate::domain::clock::to_millis),
            delivery: grant.delivery.delivery(),
            granted_at: crate::domain::clock::to_millis(now),
            refund: None,
            top_up,
        }
    }

    /// The fields of `grant` that differ from this purchase, by their body names.
    pub fn differences(&self, grant: &Grant) -> Vec<&'static str> {
        let expires_at = grant.expires_at.map(crate::domain::clock::to_millis);
        let (expected_price, activation_mode) = match &grant.delivery {
            Order::Sdk => (None, None),
            Order::TopUp {
                expected_price,
                activation_mode,
            } => (expected_price.as_ref(), *activation_mode),
        };
        [
            (
                self.holder != Holder::User(grant.user_token.clone()),
                UserToken::FIELD,
            ),
            (self.item != grant.item, ItemId::FIELD),
            (self.quantity != grant.quantity.get(), Quantity::FIELD),
            (self.expires_at != expires_at, EXPIRES_AT),
            (self.delivery != grant.delivery.delivery(), Delivery::FIELD),
            (
                self.top_up.as_ref().and_then(|t| t.expected_price.as_ref()) != expected_price,
                PRICE,
            ),
            (
                self.top_up.as_ref().and_then(|t| t.activation_mode) != activation_mode,
                ACTIVATION_MODE,
            ),
        ]
        .into_iter()
        .filter_map(|(differs, field)| differs.then_some(field))
        .collect()
    }
}

/// What the store did with a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantWrite {
    /// Units added (or the top-up made due) and the purchase recorded.
    Applied,
    /// The purchase id was recorded before: nothing written. The purchase as stored.
    PurchaseSeen(Purchase),
    /// A top-up's customer id is no longer the user's: nothing written.
    CustomerChanged,
}

/// What the store did with a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundWrite {
    /// Units removed (if any) and the refund recorded.
    Applied,
    /// The purchase was refunded before: nothing written. The purchase as stored.
    AlreadyRefunded(Purchase),
    /// The entitlement changed since it was read (an activation, grant or refund): nothing
    /// written; read again.
    EntitlementChanged,
}

/// Where purchases are recorded, granted and refunded.
pub trait PurchaseStore: Send + Sync {
    /// Records `record` (the purchase `grant` makes, at its `granted_at`) if its id is not
    /// recorded yet and, in the same write, adds its units (creating the user and entitlement
    /// if new, setting the email and expiry if given, lifting a revocation), or, for a top-up,
    /// checks that the user still has the customer id it is for.
    fn apply_grant(
        &self,
        grant: &Grant,
        record: &Purchase,
    ) -> impl Future<Output = Result<GrantWrite, StoreError>> + Send;

    /// The user's Gigastore customer id, once Customer Registration told us (a consistent
    /// read).
    fn customer_of(
        &self,
        user: &UserToken,
    ) -> impl Future<Output = Result<Option<CustomerUid>, StoreError>> + Send;

    /// One purchase (a consistent read).
    fn purchase(
        &self,
        id: &PurchaseId,
    ) -> impl Future<Output = Result<Option<Purchase>, StoreError>> + Send;

    /// Every purchase of `item` by `user`, in any order.
    fn purchases_of(
        &self,
        user: &UserToken,
        item: &ItemId,
    ) -> impl Future<Output = Result<Vec<Purchase>, StoreError>> + Send;

    /// Records `refund` on `purchase` if it has none, and removes `refund.units_refunded`
    /// units from its entitlement, all or nothing, only if the entitlement still has
    /// `units_granted` granted and at least that many unused.
    fn apply_refund(
        &self,
        purchase: &Purchase,
        refund: &Refund,
        units_granted: u32,
    ) -> impl Future<Output = Result<RefundWrite, StoreError>> + Send;
}

/// What a grant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// Granted now: the purchase as recorded.
    Granted(Purchase),
    /// The same grant was made before: nothing added.
    AlreadyGranted(Purchase),
    /// The purchase id was granted before with other fields: nothing added.
    Conflict {
        /// The purchase as stored.
        purchase: Purchase,
        /// The body fields that differ.
        differences: Vec<&'static str>,
    },
    /// A top-up for a user Gigastore has no customer for yet (its first package goes through
    /// the SDK): nothing recorded.
    NotRegistered,
}

impl GrantOutcome {
    fn seen(stored: Purchase, grant: &Grant) -> Self {
        let differences = stored.differences(grant);
        if differences.is_empty() {
            Self::AlreadyGranted(stored)
        } else {
            Self::Conflict {
                purchase: stored,
                differences,
            }
        }
    }
}

/// Grants once per purchase id, in one write: the answer is built from what was written. A
/// write whose answer was lost is read back before anything else is said. A top-up first
/// reads the user's customer id: there is none before Customer Registration.
pub async fn grant<S: PurchaseStore>(
    store: &S,
    grant: &Grant,
    now: OffsetDateTime,
) -> Result<GrantOutcome, StoreError> {
    let customer = match grant.delivery {
        Order::Sdk => None,
        Order::TopUp { .. } => match store.customer_of(&grant.user_token).await? {
            Some(customer) => Some(customer),
            // A retry of a top-up recorded before the customer id moved still answers it.
            None => {
                return Ok(match store.purchase(&grant.purchase_id).await? {
                    Some(stored) => GrantOutcome::seen(stored, grant),
                    None => GrantOutcome::NotRegistered,
                })
            }
        },
    };
    let purchase = Purchase::granted(grant, now, customer.as_ref());
    match store.apply_grant(grant, &purchase).await {
        Ok(GrantWrite::Applied) => Ok(GrantOutcome::Granted(purchase)),
        Ok(GrantWrite::PurchaseSeen(stored)) => Ok(GrantOutcome::seen(stored, grant)),
        Ok(GrantWrite::CustomerChanged) => Ok(GrantOutcome::NotRegistered),
        Err(lost) if lost.maybe_applied() => match store.purchase(&grant.purchase_id).await {
            Ok(Some(stored)) if stored == purchase => Ok(GrantOutcome::Granted(stored)),
            Ok(Some(stored)) => Ok(GrantOutcome::seen(stored, grant)),
            Ok(None) | Err(_) => Err(lost),
        },
        Err(failed) => Err(failed),
    }
}

/// Where one purchase's units are, by first in, first out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Units granted.
    pub granted: u32,
    /// Units activated.
    pub used: u32,
    /// Units that may still be activated (and could be refunded).
    pub left: u32,
    /// Units refunded.
    pub refunded: u32,
    /// Units lost unused: expired, revoked, or erased with the user.
    pub void: u32,
}

/// Where `purchase`'s units are, given its user's `entitlement` to the item and `all` of
/// that user's purchases of the item (`purchase` among them).
///
/// Activations use units first in, first out (by grant time, then purchase id). A refunded
/// purchase keeps only the units it had used. The entitlement's last reset (a renewal after
/// expiry, or a revocation) voided every unit of the purchases before it that was not used by
/// then; the used count at the reset is split among them in the same order, which is exact
/// for one reset and keeps the total for several. Units left never exceed what the
/// entitlement has unused.
pub fn usage(
    purchase: &Purchase,
    entitlement: Option<&Entitlement>,
    all: &[Purchase],
    now: OffsetDateTime,
) -> Usage {
    let refunded = purchase.refund.as_ref().map_or(0, |r| r.units_refunded);
    let mut usage = Usage {
        granted: purchase.quantity,
        refunded,
        void: purchase.quantity.saturating_sub(refunded),
        ..Usage::default()
    };
    let Some(entitlement) = entitlement else {
        return usage;
    };
    // The index `all` is read from may lag: `purchase` counts whether or not it is there yet.
    let others = all.iter().filter(|p| p.purchase_id != purchase.purchase_id);
    let mut ordered: Vec<&Purchase> = others.chain([purchase]).collect();
    ordered.sort_by(|a, b| (a.granted_at, &a.purchase_id).cmp(&(b.granted_at, &b.purchase_id)));
    let reset_at = entitlement.reset.map(|r| r.at);
    let reset_used = entitlement.reset.map_or(0, |r| r.used);
    let before_reset = |p: &Purchase| reset_at.is_some_and(|at| p.granted_at < at);
    let expired = entitlement.is_expired(now);

    // Used units to hand out, before and after the reset, and unused units that exist.
    let mut used_before = reset_used;
    let mut used_after = entitlement.units_used.saturating_sub(reset_used);
    let mut unused = entitlement.units_left();
    for p in ordered {
        let capacity = p
            .quantity
            .saturating_sub(p.refund.as_ref().map_or(0, |r| r.units_refunded));
        let pool = if before_reset(p) {
            &mut used_before
        } else {
            &mut used_after
        };
        let used = capacity.min(*pool);
        *pool -= used;
        let mut left = 0;
        if !before_reset(p) && !expired {
            left = (capacity - used).min(unused);
            unused -= left;
        }
        if p.purchase_id == purchase.purchase_id {
            usage.used = used;
            usage.left = left;
            usage.void = capacity - used - left;
        }
    }
    usage
}

impl Usage {
    /// Where a refunded purchase's units are, as its refund recorded them: nothing is left, and
    /// what was used, refunded or void then stays so. `None` if it was not refunded.
    pub fn recorded(purchase: &Purchase) -> Option<Self> {
        purchase.refund.as_ref().map(|refund| Self {
            granted: purchase.quantity,
            used: refund.units_used,
            left: 0,
            refunded: refund.units_refunded,
            void: refund.units_void,
        })
    }
}

/// A purchase with where its units are, as the purchase API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseView {
    /// The purchase as stored.
    #[serde(flatten)]
    pub purchase: Purchase,
    /// Where its units are (none for a top-up: Gigastore delivers it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<Usage>,
}

/// The entitlement a purchase's units went to and every purchase of its item by its user (none
/// once the user is erased: its entitlements went with it).
async fn entitlement_and_purchases<S: PurchaseStore + EntitlementStore>(
    store: &S,
    purchase: &Purchase,
) -> Result<(Option<Entitlement>, Vec<Purchase>), StoreError> {
    match purchase.holder.user_token() {
        Some(user) => {
            let (entitlement, all) = tokio::join!(
                store.entitlement(user, &purchase.item),
                store.purchases_of(user, &purchase.item)
            );
            Ok((entitlement?, all?))
        }
        None => Ok((None, Vec::new())),
    }
}

/// One purchase and where its units are now (by [`usage`]; a refunded one's as its refund
/// recorded them, so every answer about it is the same); `None` if it is not recorded.
pub async fn find<S: PurchaseStore + EntitlementStore>(
    store: &S,
    id: &PurchaseId,
    now: OffsetDateTime,
) -> Result<Option<PurchaseView>, StoreError> {
    let Some(purchase) = store.purchase(id).await? else {
        return Ok(None);
    };
    let units = match (&purchase.top_up, Usage::recorded(&purchase)) {
        (Some(_), _) => None,
        (None, Some(units)) => Some(units),
        (None, None) => {
            let (entitlement, all) = entitlement_and_purchases(store, &purchase).await?;
            Some(usage(&purchase, entitlement.as_ref(), &all, now))
        }
    };
    Ok(Some(PurchaseView { purchase, units }))
}

/// The body of a refund (`POST /purchases/{purchaseId}/refund`): the purchase system's reason,
/// if it gives one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundRequest {
    /// Why, in the purchase system's words.
    pub reason: Option<RefundReason>,
}

impl FromBody for RefundRequest {
    /// An empty body is a refund without a reason; any field but `reason` is refused.
    fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let obj = JsonObject::parse(body)?;
        obj.only(&[RefundReason::FIELD])?;
        Ok(Self {
            reason: obj
                .optional_str(RefundReason::FIELD)?
                .map(RefundReason::parse)
                .transpose()?,
        })
    }
}

/// A top-up's refund: a pending one is cancelled (never called), a completed one's refund is
/// made due (Gigastore is asked by the top-up worker, `crate::domain::topup`); one in flight
/// waits; any other is answered as it is. `None`: it moved meanwhile, read it again.
async fn refund_top_up<S: TopUpStore>(
    store: &S,
    mut purchase: Purchase,
    top_up: Box<TopUp>,
) -> Result<Option<RefundOutcome>, StoreError> {
    let next = match &top_up.state {
        TopUpState::Pending => TopUpState::Cancelled,
        TopUpState::Completed => TopUpState::RefundPending,
        TopUpState::InFlight { .. } | TopUpState::Unknown { .. } => {
            purchase.top_up = Some(top_up);
            return Ok(Some(RefundOutcome::TopUpInFlight(purchase)));
        }
        _ => {
            purchase.top_up = Some(top_up);
            return Ok(Some(RefundOutcome::AlreadyRefunded(purchase)));
        }
    };
    let moved = top_up.to(next);
    if !store
        .move_top_up(&purchase.purchase_id, top_up.version, &moved)
        .await?
    {
        return Ok(None);
    }
    purchase.top_up = Some(Box::new(moved));
    Ok(Some(RefundOutcome::Refunded(purchase)))
}

/// Most attempts at a refund while activations keep changing the entitlement.
pub const REFUND_ATTEMPTS: u32 = 5;

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Refunded now: the purchase with its refund.
    Refunded(Purchase),
    /// Refunded before (or by this call, whose answer was lost): as stored.
    AlreadyRefunded(Purchase),
    /// A top-up being called or looked up right now: refund it again once it has settled.
    TopUpInFlight(Purchase),
    /// No such purchase.
    NotFound,
}

/// Refunds a purchase once: removes the units it still has left, never one that was activated
/// or that another purchase granted. Repeating it changes nothing and answers the same.
pub async fn refund<S: PurchaseStore + EntitlementStore + TopUpStore>(
    store: &S,
    id: &PurchaseId,
    reason: Option<RefundReason>,
    now: OffsetDateTime,
) -> Result<RefundOutcome, StoreError> {
    let mut lost = None;
    for _ in 0..REFUND_ATTEMPTS {
        let Some(mut purchase) = store.purchase(id).await? else {
            return Ok(RefundOutcome::NotFound);
        };
        if let Some(top_up) = purchase.top_up.take() {
            match refund_top_up(store, purchase, top_up).await? {
                Some(outcome) => return Ok(outcome),
                None => continue,
            }
        }
        if purchase.refund.is_some() {
            return Ok(RefundOutcome::AlreadyRefunded(purchase));
        }
        let (entitlement, all) = entitlement_and_purchases(store, &purchase).await?;
        let usage = usage(&purchase, entitlement.as_ref(), &all, now);
        let refund = Refund {
            units_refunded: usage.left,
            units_used: usage.used,
            units_void: usage.void,
            reason: reason.clone(),
            refunded_at: crate::domain::clock::to_millis(now),
        };
        let granted = entitlement.map_or(0, |e| e.units_granted);
        match store.apply_refund(&purchase, &refund, granted).await {
            Ok(RefundWrite::Applied) => {
                purchase.refund = Some(refund);
                return Ok(RefundOutcome::Refunded(purchase));
            }
            Ok(RefundWrite::AlreadyRefunded(stored)) => {
                return Ok(RefundOutcome::AlreadyRefunded(stored))
            }
            Ok(RefundWrite::EntitlementChanged) => {}
            // Read back first: the next attempt finds the refund if it was applied.
            Err(e) if e.maybe_applied() => lost = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(lost.unwrap_or(StoreError::Contention {
        operation: "refund",
        attempts: REFUND_ATTEMPTS,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entitlement::Reset;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn purchase(id: &str, quantity: u32, granted: i64) -> Purchase {
        Purchase {
            purchase_id: PurchaseId::parse(id).unwrap(),
            holder: Holder::User(UserToken::parse("u").unwrap()),
            item: ItemId::parse("1_GB").unwrap(),
            quantity,
            expires_at: None,
            delivery: Delivery::Sdk,
            granted_at: at(granted),
            refund: None,
            top_up: None,
        }
    }

    fn refunded(mut p: Purchase, units: u32) -> Purchase {
        p.refund = Some(Refund {
            units_refunded: units,
            units_used: p.quantity - units,
            units_void: 0,
            reason: None,
            refunded_at: at(100),
        });
        p
    }

    fn entitlement(granted: u32, used: u32, reset: Option<(i64, u32)>) -> Entitlement {
        Entitlement {
            user_token: UserToken::parse("u").unwrap(),
            item: ItemId::parse("1_GB").unwrap(),
            units_granted: granted,
            units_used: used,
            expires_at: None,
            revoked_at: None,
            reset: reset.map(|(s, used)| Reset { at: at(s), used }),
        }
    }

    fn usage_of(i: usize, e: &Entitlement, all: &[Purchase]) -> Usage {
        usage(&all[i], Some(e), all, at(1000))
    }

    #[test]
    fn the_oldest_purchase_is_used_first() {
        let all = [purchase("b", 2, 2), purchase("a", 2, 1)];
        let e = entitlement(4, 3, None);
        assert_eq!(
            (usage_of(1, &e, &all).used, usage_of(1, &e, &all).left),
            (2, 0)
        );
        assert_eq!(
            (usage_of(0, &e, &all).used, usage_of(0, &e, &all).left),
            (1, 1)
        );
    }

    #[test]
    fn a_refunded_purchase_keeps_only_what_it_used() {
        // a: 2 units, refunded 1 after 1 was used; b: 2 units; 2 more used since.
        let all = [refunded(purchase("a", 2, 1), 1), purchase("b", 2, 2)];
        let e = entitlement(3, 3, None);
        let a = usage_of(0, &e, &all);
        assert_eq!((a.used, a.left, a.refunded, a.void), (1, 0, 1, 0));
        let b = usage_of(1, &e, &all);
        assert_eq!((b.used, b.left, b.void), (2, 0, 0));
    }

    #[test]
    fn a_reset_voids_what_earlier_purchases_had_left() {
        // a: 3 units, 1 used, expired; b renewed it with 2 units, 1 used since.
        let all = [purchase("a", 3, 1), purchase("b", 2, 5)];
        let e = entitlement(3, 2, Some((5, 1)));
        let a = usage_of(0, &e, &all);
        assert_eq!((a.used, a.left, a.void), (1, 0, 2));
        let b = usage_of(1, &e, &all);
        assert_eq!((b.used, b.left, b.void), (1, 1, 0));
    }

    #[test]
    fn nothing_is_left_of_an_expired_or_missing_entitlement() {
        let all = [purchase("a", 2, 1)];
        let mut e = entitlement(2, 0, None);
        e.expires_at = Some(at(500));
        let expired = usage_of(0, &e, &all);
        assert_eq!((expired.used, expired.left, expired.void), (0, 0, 2));
        let gone = usage(&all[0], None, &all, at(1000));
        assert_eq!((gone.used, gone.left, gone.void), (0, 0, 2));
    }

    #[test]
    fn units_left_never_exceed_what_the_entitlement_has_unused() {
        // A purchase the entitlement never counted (say, written by hand): no phantom units.
        let all = [purchase("a", 2, 1), purchase("b", 2, 2)];
        let e = entitlement(2, 0, None);
        assert_eq!(usage_of(0, &e, &all).left, 2);
        let b = usage_of(1, &e, &all);
        assert_eq!((b.left, b.void), (0, 2));
    }

    #[test]
    fn a_purchase_the_index_has_not_caught_up_with_still_counts() {
        let all = [purchase("a", 2, 1)];
        let late = purchase("b", 2, 2);
        let e = entitlement(4, 1, None);
        let b = usage(&late, Some(&e), &all, at(1000));
        assert_eq!((b.used, b.left, b.void), (0, 2, 0));
    }

    #[test]
    fn every_unit_is_accounted_for() {
        let all = [
            refunded(purchase("a", 3, 1), 2),
            purchase("b", 4, 2),
            purchase("c", 1, 9),
        ];
        for (granted, used, reset) in [(6, 4, Some((5, 2))), (6, 0, None), (6, 6, None)] {
            let e = entitlement(granted, used, reset);
            for i in 0..all.len() {
                let u = usage_of(i, &e, &all);
                assert_eq!(
                    u.used + u.left + u.refunded + u.void,
                    u.granted,
                    "{i}: {u:?}"
                );
            }
        }
    }

    #[test]
    fn reads_a_purchase_body_and_names_what_is_wrong() {
        let grant = Grant::from_body(
            br#"{"purchaseId":"p1","userToken":"u","inventoryItemId":"1_GB","quantity":3,"expiresAt":"2027-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(grant.quantity.get(), 3);
        assert_eq!(grant.delivery, Order::Sdk);
        let minimal =
            Grant::from_body(br#"{"purchaseId":"p1","userToken":"u","inventoryItemId":"1_GB"}"#)
                .unwrap();
        assert_eq!(
            (minimal.quantity, minimal.expires_at),
            (Quantity::ONE, None)
        );
        let lower_case = Grant::from_body(
            br#"{"purchaseId":"p1","userToken":"u","inventoryItemId":"1_GB","expiresAt":"2027-01-01t00:00:00z"}"#,
        )
        .unwrap();
        assert_eq!(lower_case.expires_at, grant.expires_at);
        for (body, field) in [
            (
                r#"{"userToken":"u","inventoryItemId":"1_GB"}"#,
                "purchaseId",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","quantity":0}"#,
                "quantity",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","quantity":101}"#,
                "quantity",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","quantity":1.5}"#,
                "quantity",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","quantiy":2}"#,
                "quantiy",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","delivery":"post"}"#,
                "delivery",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","delivery":"top-up","quantity":2}"#,
                "quantity",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","activationMode":"NOW"}"#,
                "activationMode",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","expiresAt":"soon"}"#,
                "expiresAt",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","expiresAt":"2027-01-01 00:00:00Z"}"#,
                "expiresAt",
            ),
            (
                r#"{"purchaseId":"p","userToken":"u","inventoryItemId":"1_GB","email":"x"}"#,
                "email",
            ),
        ] {
            let error = Grant::from_body(body.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(field), "{body}: {error}");
        }
    }

    #[test]
    fn reads_a_refund_body_empty_or_with_a_reason_only() {
        for empty in [&b""[..], b" \n", b"{}", br#"{"reason":null}"#] {
            assert_eq!(
                RefundRequest::from_body(empty),
                Ok(RefundRequest::default())
            );
        }
        let reason = RefundRequest::from_body(br#"{"reason":"chargeback"}"#).unwrap();
        assert_eq!(
            reason.reason.map(String::from).as_deref(),
            Some("chargeback")
        );
        for (body, error) in [
            (&br#"{"reason":""}"#[..], "reason is empty"),
            (br#"{"reason":1}"#, "reason must be a string"),
            (br#"{"reasons":"x"}"#, "unknown field reasons"),
            (br#"[]"#, "body must be a JSON object"),
        ] {
            let refused = RefundRequest::from_body(body).unwrap_err().to_string();
            assert_eq!(refused, error);
        }
    }

    #[test]
    fn a_refund_records_where_every_unit_went() {
        let p = refunded(purchase("a", 3, 1), 2);
        assert_eq!(
            Usage::recorded(&p),
            Some(Usage {
                granted: 3,
                used: 1,
                left: 0,
                refunded: 2,
                void: 0
            })
        );
        assert_eq!(Usage::recorded(&purchase("b", 1, 1)), None);
    }

    #[test]
    fn differences_name_the_body_fields() {
        let grant =
            Grant::from_body(br#"{"purchaseId":"p1","userToken":"u","inventoryItemId":"1_GB"}"#)
                .unwrap();
        let stored = Purchase::granted(&grant, at(0), None);
        assert!(stored.differences(&grant).is_empty());
        let other = Grant::from_body(
            br#"{"purchaseId":"p1","userToken":"v","inventoryItemId":"1_GB","quantity":2,"email":"a@b.c"}"#,
        )
        .unwrap();
        assert_eq!(stored.differences(&other), ["userToken", "quantity"]);
    }
}
