//! The time a request has left: every storage call of a request is bounded by it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::store::StoreError;

/// The longest a Lambda invocation may last; a deadline further out is not believed.
pub const LONGEST: Duration = Duration::from_secs(15 * 60);

/// The instant by which a request's work must be done, so that it is still answered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// `budget` from now (at most [`LONGEST`]: no invocation lasts longer).
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Self(now.checked_add(budget.min(LONGEST)).unwrap_or(now))
    }

    /// `margin` before Lambda's deadline (Unix milliseconds), or `default` from now when there
    /// is none. Lambda's deadline is always ahead when an invocation arrives; one that is not
    /// (a local emulator's) says nothing about the time left.
    pub fn before_lambda(deadline_ms: Option<u64>, margin: Duration, default: Duration) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let budget = match deadline_ms.filter(|&ms| ms > now_ms) {
            Some(ms) => Duration::from_millis(ms - now_ms),
            None => default,
        };
        Self::after(budget.saturating_sub(margin))
    }

    /// Time left, zero once passed.
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// This deadline, or `budget` from now if that comes first.
    pub fn at_most(self, budget: Duration) -> Self {
        self.min(Self::after(budget))
    }

    /// A deadline `reserve` earlier, so that work after it still fits before this one.
    pub fn keeping(self, reserve: Duration) -> Self {
        Self(
            self.0
                .checked_sub(reserve)
                .unwrap_or(self.0)
                .max(Instant::now()),
        )
    }

    /// Runs `work` until it ends or this deadline passes; then it is dropped (its requests
    /// cancelled) and the error says the outcome is unknown.
    pub async fn run<T>(
        self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(self.0, work).await {
            Ok(done) => done,
            Err(_) => Err(StoreError::DeadlineExceeded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_past_the_deadline_is_cut_off() {
        let deadline = Deadline::after(Duration::from_millis(100));
        let slow = deadline.run(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        });
        assert!(matches!(slow.await, Err(StoreError::DeadlineExceeded)));
        assert_eq!(deadline.remaining(), Duration::ZERO);
        let fast = Deadline::after(Duration::from_secs(1)).run(async { Ok(7) });
        assert_eq!(fast.await.ok(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn keeping_a_reserve_ends_earlier_but_never_in_the_past() {
        let deadline = Deadline::after(Duration::from_millis(500));
        assert_eq!(
            deadline.keeping(Duration::from_millis(200)).remaining(),
            Duration::from_millis(300)
        );
        assert_eq!(
            deadline.keeping(Duration::from_secs(5)).remaining(),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn a_deadline_from_outside_never_overflows() {
        let far = Deadline::before_lambda(Some(u64::MAX), Duration::ZERO, Duration::ZERO);
        assert!(far.remaining() <= LONGEST);
        assert!(Deadline::after(Duration::MAX).remaining() <= LONGEST);
    }
}
