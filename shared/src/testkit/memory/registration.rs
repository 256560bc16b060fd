//! Customer registrations in memory: profiles and registrations for users not known yet.

use time::OffsetDateTime;

use crate::domain::clock::to_millis;
use crate::domain::registration::{CustomerRegistration, Registered, RegistrationStore};
use crate::domain::store::StoreError;

use super::InMemoryStore;

impl RegistrationStore for InMemoryStore {
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
                moved_from: None,
            }));
        }
        profile.registered_at = Some(now);
        let previous = profile
            .customer_uid
            .replace(registration.customer_uid.clone());
        let email = profile.email.clone();
        // Through the guard once, so the link table and another profile borrow apart.
        let t = &mut *t;
        let (user, uid) = (&registration.user_token, &registration.customer_uid);
        let newly_held = previous.as_ref() != Some(uid);
        let replaced = previous.filter(|p| p != uid);
        // As the adapter's link item: the id names the user it was registered to last; the
        // profile of the user it was taken from (or, registered later to another, this one's)
        // loses it.
        let (moved_from, loser) = match t.customer_links.get(uid).cloned() {
            _ if !newly_held => (None, None),
            Some((holder, linked_at)) if linked_at > now => {
                (None, Some(user.clone()).filter(|u| *u != holder))
            }
            before => {
                t.customer_links.insert(uid.clone(), (user.clone(), now));
                let moved = before.map(|(holder, _)| holder).filter(|h| h != user);
                (moved.clone(), moved)
            }
        };
        if let Some(profile) = loser.and_then(|l| t.profiles.get_mut(&l)) {
            if profile.customer_uid.as_ref() == Some(uid) {
                profile.customer_uid = None;
                profile.registered_at = None;
            }
        }
        Ok(Some(Registered::KnownUser {
            email,
            replaced,
            moved_from,
        }))
    }
}
