//! The lookups of one batch: each question asked once, its answer kept until the batch ends.
//!
//! A batch often holds many events of one customer or SIM (a status history, an alert and the
//! registration that links them), and each lookup is a `GetItem` or `Query`; asked once, slow
//! lookups cost a batch little time. Kept for one batch only, so a later batch sees a profile
//! that changed since.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use shared::domain::events::EventLookups;
use shared::domain::ids::{CustomerUid, Iccid, UserToken};
use shared::domain::store::StoreError;

/// Answers found so far, by question.
type Answers<K, V> = Mutex<HashMap<K, Option<V>>>;

/// `lookups`, each answer kept for the rest of the batch; failures are not kept.
#[derive(Debug)]
pub struct BatchLookups<'a, L> {
    lookups: &'a L,
    users_of_customers: Answers<CustomerUid, UserToken>,
    customers_of_users: Answers<UserToken, CustomerUid>,
    customers_of_sims: Answers<Iccid, CustomerUid>,
}

impl<'a, L: EventLookups> BatchLookups<'a, L> {
    /// A batch's lookups through `lookups`, nothing known yet.
    pub fn new(lookups: &'a L) -> Self {
        Self {
            lookups,
            users_of_customers: Mutex::default(),
            customers_of_users: Mutex::default(),
            customers_of_sims: Mutex::default(),
        }
    }
}

/// The answer to `key` kept in `answers`, or the one `lookup` finds, then kept.
async fn cached<K: Hash + Eq + Clone, V: Clone>(
    answers: &Answers<K, V>,
    key: &K,
    lookup: impl Future<Output = Result<Option<V>, StoreError>>,
) -> Result<Option<V>, StoreError> {
    // A panic elsewhere cannot leave a half-written answer: the map is still sound.
    let known = answers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .cloned();
    if let Some(answer) = known {
        return Ok(answer);
    }
    let answer = lookup.await?;
    let mut answers = answers.lock().unwrap_or_else(PoisonError::into_inner);
    answers.insert(key.clone(), answer.clone());
    Ok(answer)
}

impl<L: EventLookups> EventLookups for BatchLookups<'_, L> {
    async fn user_of_customer(
        &self,
        customer: &CustomerUid,
    ) -> Result<Option<UserToken>, StoreError> {
        let lookup = self.lookups.user_of_customer(customer);
        cached(&self.users_of_customers, customer, lookup).await
    }

    async fn customer_of_user(&self, user: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
        let lookup = self.lookups.customer_of_user(user);
        cached(&self.customers_of_users, user, lookup).await
    }

    async fn customer_of_iccid(&self, iccid: &Iccid) -> Result<Option<CustomerUid>, StoreError> {
        let lookup = self.lookups.customer_of_iccid(iccid);
        cached(&self.customers_of_sims, iccid, lookup).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers every question with the same customer and user after failing `failures` times,
    /// counting the questions.
    #[derive(Default)]
    struct Counting {
        failures: AtomicUsize,
        asked: AtomicUsize,
    }

    impl Counting {
        async fn answer<T>(&self, found: T) -> Result<Option<T>, StoreError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let failing = self.failures.load(Ordering::SeqCst);
            if failing > 0 {
                self.failures.store(failing - 1, Ordering::SeqCst);
                return Err(StoreError::DeadlineExceeded);
            }
            Ok(Some(found))
        }
    }

    impl EventLookups for Counting {
        async fn user_of_customer(&self, _: &CustomerUid) -> Result<Option<UserToken>, StoreError> {
            self.answer(UserToken::parse("u1").unwrap()).await
        }

        async fn customer_of_user(&self, _: &UserToken) -> Result<Option<CustomerUid>, StoreError> {
            self.answer(CustomerUid::parse("c1").unwrap()).await
        }

        async fn customer_of_iccid(&self, _: &Iccid) -> Result<Option<CustomerUid>, StoreError> {
            self.answer(CustomerUid::parse("c1").unwrap()).await
        }
    }

    fn iccid() -> Iccid {
        Iccid::parse("89361123300836129514").unwrap()
    }

    #[tokio::test]
    async fn each_question_is_asked_once_a_batch() {
        let counting = Counting::default();
        let batch = BatchLookups::new(&counting);
        let (c1, c2) = (
            CustomerUid::parse("c1").unwrap(),
            CustomerUid::parse("c2").unwrap(),
        );
        let user = UserToken::parse("u1").unwrap();
        for _ in 0..3 {
            assert_eq!(
                batch.user_of_customer(&c1).await.unwrap(),
                Some(user.clone())
            );
            assert_eq!(
                batch.customer_of_user(&user).await.unwrap(),
                Some(c1.clone())
            );
            assert_eq!(
                batch.customer_of_iccid(&iccid()).await.unwrap(),
                Some(c1.clone())
            );
        }
        assert_eq!(counting.asked.load(Ordering::SeqCst), 3);
        batch.user_of_customer(&c2).await.unwrap();
        assert_eq!(counting.asked.load(Ordering::SeqCst), 4, "another customer");

        let next = BatchLookups::new(&counting);
        next.user_of_customer(&c1).await.unwrap();
        assert_eq!(
            counting.asked.load(Ordering::SeqCst),
            5,
            "the next batch asks again"
        );
    }

    #[tokio::test]
    async fn a_failed_lookup_is_asked_again() {
        let counting = Counting {
            failures: AtomicUsize::new(1),
            ..Counting::default()
        };
        let batch = BatchLookups::new(&counting);
        assert!(batch.customer_of_iccid(&iccid()).await.is_err());
        assert!(batch.customer_of_iccid(&iccid()).await.unwrap().is_some());
        assert!(batch.customer_of_iccid(&iccid()).await.unwrap().is_some());
        assert_eq!(counting.asked.load(Ordering::SeqCst), 2);
    }
}
