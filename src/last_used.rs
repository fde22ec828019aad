//! Last used: which tokens were used in the current interval, noted on the verification
//! path without a clock read or a shared write on the common case, and handed to the
//! batch writer once per interval.
//!
//! Time is cut into epochs, one per last-used interval; the writer starts each new epoch
//! ([`LastUsedRecorder::advance`]) and takes what the last one noted. Each cached token
//! carries a [`UseMark`]: the epoch its use was last noted in. A verification reads the
//! current epoch and the mark (two reads of lines every core may share); only the first
//! use of a token in an epoch reads the clock and notes it. So each token is written at
//! most once per interval, with the time of its first use in that interval: a last-used
//! time is accurate to one interval.

// SKELETON: remove once the verifier and the last-used writer call this.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::clock::Clock;
use crate::domain::ids::TokenId;
use crate::storage::LastUse;

/// The epoch in which a token's use was last noted (0: never).
#[derive(Debug, Default)]
pub(crate) struct UseMark(AtomicU32);

/// Notes token uses for the last-used writer. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct LastUsedRecorder {
    /// The current epoch; starts at 1, so a fresh [`UseMark`] is never current.
    epoch: AtomicU32,
    /// The first use of each token noted in the current epoch.
    pending: Mutex<HashMap<TokenId, time::OffsetDateTime>>,
}

impl Default for LastUsedRecorder {
    fn default() -> Self {
        Self {
            epoch: AtomicU32::new(1),
            pending: Mutex::default(),
        }
    }
}

impl LastUsedRecorder {
    /// A verification of `token` succeeded. Reads the clock and notes the use only the
    /// first time `mark` is seen in this epoch.
    #[inline]
    pub(crate) fn used(&self, mark: &UseMark, token: &TokenId, clock: &dyn Clock) {
        let epoch = self.epoch.load(Ordering::Relaxed);
        if mark.0.load(Ordering::Relaxed) == epoch {
            return;
        }
        // Of threads racing on the first use, one notes it.
        if mark.0.swap(epoch, Ordering::Relaxed) != epoch {
            self.note(*token, clock.now());
        }
    }

    /// A verification of `token` succeeded on a record with no mark (looked up afresh):
    /// noted every time, kept once per epoch.
    pub(crate) fn used_unmarked(&self, token: &TokenId, clock: &dyn Clock) {
        self.note(*token, clock.now());
    }

    #[cold]
    fn note(&self, token: TokenId, at: time::OffsetDateTime) {
        // A poisoned lock only means a panic elsewhere while noting: the map is whole.
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.entry(token).or_insert(at);
    }

    /// Starts the next epoch and takes the uses noted in the one before, for the writer.
    pub(crate) fn advance(&self) -> Vec<LastUse> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock: a use noted after this point belongs to the new epoch's batch.
        self.epoch.fetch_add(1, Ordering::Relaxed);
        pending
            .drain()
            .map(|(token_id, at)| LastUse { token_id, at })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use time::{Duration, macros::datetime};

    #[test]
    fn each_token_is_noted_once_per_epoch_with_its_first_use() {
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let recorder = LastUsedRecorder::default();
        let (a, b) = (
            TokenId::parse("AAAAAAAAAAAAAAAA").unwrap(),
            TokenId::parse("BBBBBBBBBBBBBBBB").unwrap(),
        );
        let (mark_a, mark_b) = (UseMark::default(), UseMark::default());
        recorder.used(&mark_a, &a, &clock);
        clock.advance(Duration::seconds(10));
        recorder.used(&mark_a, &a, &clock);
        recorder.used(&mark_b, &b, &clock);
        let mut first = recorder.advance();
        first.sort_by_key(|u| u.token_id);
        assert_eq!(
            first,
            [
                LastUse {
                    token_id: a,
                    at: datetime!(2026-01-01 0:00 UTC)
                },
                LastUse {
                    token_id: b,
                    at: datetime!(2026-01-01 0:00:10 UTC)
                },
            ]
        );
        // Nothing used since: nothing to write.
        assert!(recorder.advance().is_empty());
        clock.advance(Duration::minutes(5));
        recorder.used(&mark_a, &a, &clock);
        recorder.used(&mark_a, &a, &clock);
        assert_eq!(
            recorder.advance(),
            [LastUse {
                token_id: a,
                at: datetime!(2026-01-01 0:05:10 UTC)
            }]
        );
    }

    #[test]
    fn unmarked_uses_keep_the_first_of_the_epoch() {
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let recorder = LastUsedRecorder::default();
        let a = TokenId::parse("AAAAAAAAAAAAAAAA").unwrap();
        recorder.used_unmarked(&a, &clock);
        clock.advance(Duration::seconds(30));
        recorder.used_unmarked(&a, &clock);
        assert_eq!(
            recorder.advance(),
            [LastUse {
                token_id: a,
                at: datetime!(2026-01-01 0:00 UTC)
            }]
        );
    }
}
