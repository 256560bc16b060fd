//! A tracked fact's current value and history in memory, as the adapter's timeline writes.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::domain::timeline::Recorded;
use crate::domain::timeline::Tracked;

/// A tracked fact's current value and history.
#[derive(Debug)]
pub(super) struct Timeline<F> {
    pub(super) current: F,
    /// By `(received_at, distinction)`, as the history entries' sort keys.
    pub(super) history: BTreeMap<(OffsetDateTime, String), F>,
}

impl<F: Tracked> Timeline<F> {
    /// Records `fact` into the timeline of `subject` in `timelines` (created if new), as the
    /// adapter's transaction and late path do.
    pub(super) fn record<K: Ord + Clone>(
        timelines: &mut BTreeMap<K, Self>,
        subject: &K,
        fact: &F,
    ) -> Recorded {
        let entry = (fact.received_at(), fact.distinction().to_owned());
        let Some(timeline) = timelines.get_mut(subject) else {
            let timeline = Self {
                current: fact.clone(),
                history: BTreeMap::from([(entry, fact.clone())]),
            };
            timelines.insert(subject.clone(), timeline);
            return Recorded::Changed;
        };
        if timeline.history.contains_key(&entry) {
            return Recorded::Unchanged;
        }
        if timeline.current.received_at() < fact.received_at() {
            if fact.repeats(&timeline.current) {
                return Recorded::Unchanged;
            }
            timeline.current = fact.replacing(&timeline.current);
            timeline.history.insert(entry, fact.clone());
            return Recorded::Changed;
        }
        // Older than the current value: placed in the history by its time, unless it repeats
        // the entry before or after it.
        let before = timeline.history.range(..entry.clone()).next_back();
        let after = timeline.history.range(entry.clone()..).next();
        if before
            .into_iter()
            .chain(after)
            .any(|(_, n)| fact.repeats(n))
        {
            return Recorded::Unchanged;
        }
        timeline.history.insert(entry, fact.clone());
        Recorded::Late
    }

    /// The current value and the history, newest first.
    pub(super) fn view(timeline: Option<&Self>) -> (Option<F>, Vec<F>) {
        match timeline {
            Some(t) => (
                Some(t.current.clone()),
                t.history.values().rev().cloned().collect(),
            ),
            None => (None, Vec::new()),
        }
    }
}
