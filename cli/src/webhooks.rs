//! The one list of webhooks. Whatever must name every webhook walks it: `entitlements replay`,
//! the template and metric checks, the sample-event and replay tests. A webhook added here
//! reaches all of them; a function left out of it fails the template test, which compares the
//! routes served here with the functions in the workspace and the template.

use shared::adapters::dynamo::DynamoStore;
use shared::domain::store::Store;
use shared::webhook::Webhook;

/// Something done once per webhook, knowing its type.
pub trait Visit<S> {
    /// Does it for webhook `W`, which `make` builds over a store.
    fn visit<W: Webhook + 'static>(&mut self, make: fn(S) -> W);
}

/// Calls `visitor` once for every webhook, each over store type `S`. A webhook that needs a
/// port [`Store`] does not list does not compile here.
pub fn each<S: Store>(visitor: &mut impl Visit<S>) {
    visitor.visit(activation_request::ActivationRequestWebhook::<S>::new);
    visitor.visit(customer_registration::CustomerRegistrationWebhook::<S>);
    visitor.visit(esim_status::EsimStatusWebhook::<S>);
    visitor.visit(balance_alert::BalanceAlertWebhook::<S>);
    visitor.visit(balance_activation::BalanceActivationWebhook::<S>);
    visitor.visit(country_change::CountryChangeWebhook::<S>);
}

/// What a webhook says of itself, without a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    /// Its function's name (the crate and the folder under `events/`).
    pub function: &'static str,
    /// The route it serves.
    pub route: &'static str,
    /// The metrics particular to it.
    pub metrics: &'static [&'static str],
    /// Whether `entitlements replay` applies what it logged as not stored.
    pub replayable: bool,
}

/// Every webhook, described.
pub fn described() -> Vec<Described> {
    struct Describe(Vec<Described>);
    impl Visit<DynamoStore> for Describe {
        fn visit<W: Webhook + 'static>(&mut self, _: fn(DynamoStore) -> W) {
            self.0.push(Described {
                function: W::FUNCTION,
                route: W::ROUTE,
                metrics: W::METRICS,
                replayable: W::REPLAYABLE,
            });
        }
    }
    let mut all = Describe(Vec::new());
    each(&mut all);
    all.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_webhook_is_listed_once_with_its_own_route() {
        let all = described();
        let mut routes: Vec<_> = all.iter().map(|w| w.route).collect();
        let mut functions: Vec<_> = all.iter().map(|w| w.function).collect();
        routes.sort_unstable();
        routes.dedup();
        functions.sort_unstable();
        functions.dedup();
        assert_eq!((routes.len(), functions.len()), (all.len(), all.len()));
        // Activation Request fails closed and is never replayed: the user is no longer waiting.
        let replayed: Vec<_> = all
            .iter()
            .filter(|w| !w.replayable)
            .map(|w| w.function)
            .collect();
        assert_eq!(replayed, ["activation-request"]);
    }
}
