//! The in-process cost of one Activation Request, without I/O: parse, authenticate, decide over
//! the in-memory store, answer; and the same with the user token verified (an HS256 JWT).
//! Keeps the non-I/O part of the warm path visible (`cargo bench -p activation-request`); the
//! end-to-end numbers are `./bench/run`'s.

use std::sync::atomic::{AtomicU64, Ordering};

use activation_request::ActivationRequestWebhook;
use criterion::{criterion_group, criterion_main, Criterion};
use shared::domain::ids::{ItemId, PurchaseId, UserToken};
use shared::domain::purchase::{self, Grant, Order, Quantity};
use shared::testkit::InMemoryStore;
use shared::webhook::gate::credentials::WebhookSecrets;
use shared::webhook::gate::jwt::{mint_hs256, UserTokenKeys};
use shared::webhook::gate::user_tokens::UserTokens;
use shared::webhook::gate::Gate;
use shared::webhook::pipeline::respond;
use time::OffsetDateTime;
use tokio::runtime::Runtime;

/// The HS256 secret of the verified case.
const USER_TOKEN_SECRET: &str = "bench-user-token-secret-0123456789abcdef";

/// A webhook over a store of its own in which `u1` holds plenty of `1_GB`: each case starts
/// from an empty table, as the store grows by one record per iteration.
fn webhook(runtime: &Runtime, now: OffsetDateTime) -> ActivationRequestWebhook<InMemoryStore> {
    let store = InMemoryStore::new();
    // Two million units, in purchases of the most one may hold.
    for n in 0..20_000 {
        let grant = Grant {
            purchase_id: PurchaseId::parse(&format!("bench-{n}")).expect("an id"),
            user_token: UserToken::parse("u1").expect("a token"),
            item: ItemId::parse("1_GB").expect("an item"),
            quantity: Quantity::new(u64::from(Quantity::MAX)).expect("a quantity"),
            email: None,
            expires_at: None,
            delivery: Order::Sdk,
        };
        runtime
            .block_on(purchase::grant(&store, &grant, now))
            .expect("granted");
    }
    ActivationRequestWebhook::new(store)
}

fn approve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let now = OffsetDateTime::now_utc();
    let gate = Gate::open(WebhookSecrets::parse("bench-secret"));
    let keys = UserTokenKeys::shared_secrets(USER_TOKEN_SECRET).expect("a usable secret");
    let verifying = gate.clone().verifying(UserTokens::fixed(keys));
    let user = UserToken::parse("u1").expect("a token");
    let token =
        mint_hs256(USER_TOKEN_SECRET, &user, now, time::Duration::hours(1)).expect("a token");
    let next = AtomicU64::new(0);
    let mut approve_as = |name: &str, gate: &Gate, user_token: &str| {
        let webhook = webhook(&runtime, now);
        c.bench_function(name, |b| {
            b.iter(|| {
                // A fresh activation id each time: every iteration is a first delivery, approved.
                let id = next.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    r#"{{"inventoryItemId":"1_GB","userToken":"{user_token}","metaTag":"m","activationId":"a{id}"}}"#
                );
                let mut request = lambda_http::Request::new(lambda_http::Body::Text(body));
                let bearer = "Bearer bench-secret".parse().expect("a header value");
                request.headers_mut().insert("authorization", bearer);
                let answered = runtime.block_on(respond(&webhook, gate, &request));
                assert_eq!(answered.outcome, "approved");
            });
        });
    };
    approve_as("approve an activation (in memory)", &gate, "u1");
    approve_as(
        "approve an activation, user token verified (HS256, in memory)",
        &verifying,
        &token,
    );
}

criterion_group!(benches, approve);
criterion_main!(benches);
