//! Facts Gigastore reports that we keep with their history: what recording one did, and what a
//! fact kept as a current value plus a history must tell (eSIM statuses, countries).

use time::OffsetDateTime;

/// What recording a fact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new fact: stored (as the current value and in the history, where there is one).
    Changed,
    /// A fact received before the current value (e.g. replayed late): added to the history in
    /// its place; the newer current value stays.
    Late,
    /// Nothing new: a redelivery of a fact already stored; nothing written.
    Unchanged,
}

/// A fact kept as its subject's current value and as one history entry per change, ordered by
/// the time it was received. The current value is the newest one; an older one (a late replay)
/// only takes its place in the history; one that repeats its neighbour is a redelivery.
pub trait Tracked: Clone {
    /// When it was received: orders the history.
    fn received_at(&self) -> OffsetDateTime;

    /// What tells two entries received in the same millisecond apart (the state, the country).
    fn distinction(&self) -> &str;

    /// Whether it says nothing new after `earlier`.
    fn repeats(&self, earlier: &Self) -> bool;

    /// The current value once this newer fact replaces `current` (by default, this fact).
    fn replacing(&self, _current: &Self) -> Self {
        self.clone()
    }
}
