//! Customer registrations in memory: profiles and registrations for users not known yet.

use time::OffsetDateTime;

use crate::domain::clock::to_millis;
use crate::domain::registration::{CustomerRegistration, Registered, RegistrationStore};
use crate::domain::store::StoreError;

use super::InMemoryStore;

impl RegistrationStore for InMemoryStore {
    async fn register_customer(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<Option<Registered>, StoreError> {
        let mut t = self.tables();
        let Some(profile) = t.profiles.get_mut(&registration.user_token) else {
            return Ok(None);
        };
        let now = to_millis(now);
        if profile.registered_at.is_some_and(|at| at > now) {
            // Older than the registration on file: changes nothing.
            return Ok(Some(Registered::KnownUser {
                email: profile.email.clone(),
                replaced: None,
            }));
        }
        profile.registered_at = Some(now);
        let previous = profile
            .customer_uid
            .replace(registration.customer_uid.clone());
        Ok(Some(Registered::KnownUser {
            email: profile.email.clone(),
            replaced: previous.filter(|p| *p != registration.customer_uid),
        }))
    }

    async fn keep_unclaimed(
        &self,
        registration: &CustomerRegistration,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = (
            registration.user_token.clone(),
            registration.customer_uid.clone(),
        );
        self.tables().unclaimed.insert(key, to_millis(now));
        Ok(())
    }
}
