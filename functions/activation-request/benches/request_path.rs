//! The in-process cost of one Activation Request, without I/O: parse, authenticate, decide over
//! the in-memory store, answer. Keeps the non-I/O part of the warm path visible
//! (`cargo bench -p activation-request`); the end-to-end numbers are `./bench/run`'s.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use activation_request::ActivationRequestWebhook;
use criterion::{criterion_group, criterion_main, Criterion};
use shared::domain::entitlement::{self, Grant};
use shared::domain::ids::{ItemId, UserToken};
use shared::testkit::InMemoryStore;
use shared::webhook::gate::credentials::WebhookSecrets;
use shared::webhook::gate::Gate;
use shared::webhook::pipeline::respond;

fn approve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let store = InMemoryStore::new();
    let grant = Grant {
        user_token: UserToken::parse("u1").expect("a token"),
        item: ItemId::parse("1_GB").expect("an item"),
        quantity: NonZeroU32::MAX,
        email: None,
        expires_at: None,
        purchase_id: None,
    };
    let now = time::OffsetDateTime::now_utc();
    runtime
        .block_on(entitlement::grant(&store, &grant, now))
        .expect("granted");
    let webhook = ActivationRequestWebhook(store);
    let gate = Gate::open(WebhookSecrets::parse("bench-secret"));
    let next = AtomicU64::new(0);
    c.bench_function("approve an activation (in memory)", |b| {
        b.iter(|| {
            // A fresh activation id each time: every iteration is a first delivery, approved.
            let id = next.fetch_add(1, Ordering::Relaxed);
            let body = format!(
                r#"{{"inventoryItemId":"1_GB","userToken":"u1","metaTag":"m","activationId":"a{id}"}}"#
            );
            let mut request = lambda_http::Request::new(lambda_http::Body::Text(body));
            let bearer = "Bearer bench-secret".parse().expect("a header value");
            request.headers_mut().insert("authorization", bearer);
            let answered = runtime.block_on(respond(&webhook, &gate, &request));
            assert_eq!(answered.outcome, "approved");
        });
    });
}

criterion_group!(benches, approve);
criterion_main!(benches);
