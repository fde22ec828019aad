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
//!
//! The writer ([`Writer`]) is a task on the tokio runtime current when the service is
//! built: each interval it takes the batch and hands it to
//! [`Storage::record_last_used`]. A batch that fails (the database is down) is kept and
//! merged into the next one; on stop, the writer writes what is pending, then ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock::Clock;
use crate::domain::ids::TokenId;
use crate::domain::usage::{hour_of, oldest_kept_hour};
use crate::index::UseMark;
use crate::storage::{LastUse, Storage, TokenUses};
use crate::use_counts::UseCounter;

/// The default last-used interval: at most one write per token per minute.
///
/// # Example
///
/// ```
/// assert_eq!(private_integrations::DEFAULT_LAST_USED_INTERVAL, time::Duration::minutes(1));
/// ```
pub const DEFAULT_LAST_USED_INTERVAL: time::Duration = time::Duration::minutes(1);

/// What the last-used writer has done, at one moment: counters since the service was
/// built, for a host's metrics. Read with
/// [`PrivateIntegrations::last_used_stats`](crate::PrivateIntegrations::last_used_stats).
///
/// # Example
///
/// ```
/// use private_integrations::LastUsedStats;
/// fn failing(stats: &LastUsedStats) -> bool {
///     stats.failed_batches > 0
/// }
/// assert!(!failing(&LastUsedStats::default()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastUsedStats {
    /// Batches written.
    pub batches: u64,
    /// Token uses written, over all batches (at most one per token per batch).
    pub uses_written: u64,
    /// Batches that failed; their uses were kept for the next batch.
    pub failed_batches: u64,
    /// Batches of use counts written (with the last-used times, in the same interval).
    pub count_batches: u64,
    /// Batches of use counts that failed; their counts were kept for the next batch.
    pub failed_count_batches: u64,
}

/// The live counters behind [`LastUsedStats`].
#[derive(Debug, Default)]
pub(crate) struct LastUsedCounters {
    batches: AtomicU64,
    uses_written: AtomicU64,
    failed_batches: AtomicU64,
    count_batches: AtomicU64,
    failed_count_batches: AtomicU64,
}

impl LastUsedCounters {
    pub(crate) fn snapshot(&self) -> LastUsedStats {
        LastUsedStats {
            batches: self.batches.load(Ordering::Relaxed),
            uses_written: self.uses_written.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
            count_batches: self.count_batches.load(Ordering::Relaxed),
            failed_count_batches: self.failed_count_batches.load(Ordering::Relaxed),
        }
    }
}

/// Notes token uses for the last-used writer. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct LastUsedRecorder {
    /// The current epoch; starts at 1, so a fresh [`UseMark`] is never current.
    epoch: AtomicU32,
    /// The first use of each token noted in the current epoch.
    pending: Mutex<HashMap<TokenId, time::OffsetDateTime>>,
    /// How often the writer writes, in milliseconds (set when it starts; 0 before).
    interval_ms: AtomicU64,
    /// Every use of every token, per thread, for the daily counts.
    counts: UseCounter,
    /// Set when the writer stops: nothing is noted or counted after, since nothing would
    /// write it.
    stopped: std::sync::atomic::AtomicBool,
}

impl Default for LastUsedRecorder {
    fn default() -> Self {
        Self {
            epoch: AtomicU32::new(1),
            pending: Mutex::default(),
            interval_ms: AtomicU64::new(0),
            counts: UseCounter::default(),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl LastUsedRecorder {
    /// How often the uses noted here are written: what admins are told of how fresh a
    /// last-used time is. `None` before a writer started.
    #[cfg(feature = "admin-ui")]
    pub(crate) fn interval(&self) -> Option<std::time::Duration> {
        match self.interval_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        }
    }
}

impl LastUsedRecorder {
    /// A verification of `token` succeeded. Counts it (on this thread's table); reads
    /// the clock and notes the use only the first time `mark` is seen in this epoch.
    #[inline]
    pub(crate) fn used(&self, mark: &UseMark, token: &TokenId, clock: &dyn Clock) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        self.counts.count(token);
        let epoch = self.epoch.load(Ordering::Relaxed);
        if mark.noted_in(epoch) {
            return;
        }
        // Of threads racing on the first use, one notes it.
        if mark.note(epoch) {
            self.note(*token, clock.now());
        }
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

/// The running last-used writer.
#[derive(Debug)]
pub(crate) struct Writer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// What the writer writes to, and with what.
pub(crate) struct WriterParts {
    pub(crate) recorder: Arc<LastUsedRecorder>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) counters: Arc<LastUsedCounters>,
    /// The days of use counts kept: older counts not yet written are dropped.
    pub(crate) usage_days: u16,
}

impl Writer {
    /// Starts writing the recorder's batches to storage every `interval`, on `runtime`.
    pub(crate) fn spawn(
        runtime: &tokio::runtime::Handle,
        parts: WriterParts,
        interval: std::time::Duration,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        parts.recorder.interval_ms.store(ms, Ordering::Relaxed);
        let task = runtime.spawn(write_every(parts, interval, stopped));
        Self { stop, task }
    }

    /// Writes what is pending, then ends; returns once the task has ended.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::warn!(
                target: TARGET,
                error = &err as &(dyn std::error::Error + 'static),
                "private integrations: the last-used writer did not end cleanly",
            );
        }
    }
}

/// The longest interval the writer waits: a longer one is taken as this (a year).
const LONGEST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// The target of the writer's `tracing` events.
const TARGET: &str = "private_integrations::last_used";

/// What the writer holds between batches: what failed to be written, for the next one.
#[derive(Default)]
struct Unwritten {
    /// One last use per token, the latest.
    last_used: HashMap<TokenId, time::OffsetDateTime>,
    /// Uses per token and hour.
    counts: HashMap<(TokenId, time::OffsetDateTime), u64>,
    /// The sum of the threads' counts, emptied at each batch (its capacity kept).
    taken: HashMap<TokenId, u64>,
}

impl Unwritten {
    /// Takes what the recorder noted and counted since the last batch; counts fall in
    /// the hour of `now`.
    fn take(&mut self, recorder: &LastUsedRecorder, now: time::OffsetDateTime, usage_days: u16) {
        for used in recorder.advance() {
            let at = self.last_used.entry(used.token_id).or_insert(used.at);
            *at = (*at).max(used.at);
        }
        recorder.counts.take(&mut self.taken);
        let hour = hour_of(now);
        for (token, uses) in self.taken.drain() {
            let count = self.counts.entry((token, hour)).or_insert(0);
            *count = count.saturating_add(uses);
        }
        // Kept through a long outage, counts of hours past the retention would only be
        // written to be removed: they go now, so what is kept stays within one count
        // per token and hour of the retention.
        let oldest = oldest_kept_hour(now, usage_days);
        let before = self.counts.len();
        self.counts.retain(|&(_, hour), _| hour >= oldest);
        let dropped = before - self.counts.len();
        if dropped > 0 {
            tracing::warn!(
                target: TARGET,
                counts = dropped,
                "private integrations: use counts never written are past the usage \
                 retention; dropped",
            );
        }
    }

    fn is_empty(&self) -> bool {
        self.last_used.is_empty() && self.counts.is_empty()
    }

    /// Writes both batches; what fails is kept for the next call.
    async fn write(&mut self, storage: &dyn Storage, counters: &LastUsedCounters) {
        if !self.last_used.is_empty() {
            let batch: Vec<LastUse> = self
                .last_used
                .iter()
                .map(|(&token_id, &at)| LastUse { token_id, at })
                .collect();
            match storage.record_last_used(&batch).await {
                Ok(()) => {
                    self.last_used.clear();
                    counters.batches.fetch_add(1, Ordering::Relaxed);
                    counters
                        .uses_written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::debug!(
                        target: TARGET,
                        uses = batch.len(),
                        "private integrations: last-used times written"
                    );
                }
                Err(err) => {
                    counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        target: TARGET,
                        uses = batch.len(),
                        error = &err as &(dyn std::error::Error + 'static),
                        "private integrations: last-used times not written; kept for the \
                         next interval",
                    );
                }
            }
        }
        if !self.counts.is_empty() {
            let batch: Vec<TokenUses> = self
                .counts
                .iter()
                .map(|(&(token_id, hour), &uses)| TokenUses {
                    token_id,
                    hour,
                    uses,
                })
                .collect();
            match storage.record_token_uses(&batch).await {
                Ok(()) => {
                    self.counts.clear();
                    counters.count_batches.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        target: TARGET,
                        counts = batch.len(),
                        "private integrations: use counts written"
                    );
                }
                Err(err) => {
                    counters
                        .failed_count_batches
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        target: TARGET,
                        counts = batch.len(),
                        error = &err as &(dyn std::error::Error + 'static),
                        "private integrations: use counts not written; kept for the next \
                         interval",
                    );
                }
            }
        }
    }
}

/// The writer's loop: a batch every `interval`, and one last batch when told to stop (or
/// when the service is dropped, which drops the sender).
async fn write_every(
    parts: WriterParts,
    interval: std::time::Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let WriterParts {
        recorder,
        storage,
        clock,
        counters,
        usage_days,
    } = parts;
    // No overflow of the timer's arithmetic, whatever the interval.
    let interval = interval.min(LONGEST_INTERVAL);
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut unwritten = Unwritten::default();
    loop {
        // The next tick, or the stop (which wins when both are ready).
        let last = std::future::poll_fn(|cx| {
            if std::pin::Pin::new(&mut stop).poll(cx).is_ready() {
                return std::task::Poll::Ready(true);
            }
            ticks.poll_tick(cx).map(|_| false)
        })
        .await;
        if last {
            // Nothing noted or counted from now on would be written.
            recorder.stopped.store(true, Ordering::Relaxed);
        }
        unwritten.take(&recorder, clock.now(), usage_days);
        if !unwritten.is_empty() {
            unwritten.write(&*storage, &counters).await;
        }
        if last {
            if !unwritten.is_empty() {
                tracing::warn!(
                    target: TARGET,
                    uses = unwritten.last_used.len(),
                    counts = unwritten.counts.len(),
                    "private integrations: stopping with last-used times or use counts \
                     unwritten"
                );
            }
            return;
        }
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
    fn fresh_marks_keep_the_first_use_of_the_epoch() {
        // An entry built for one verification carries a fresh mark every time.
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let recorder = LastUsedRecorder::default();
        let a = TokenId::parse("AAAAAAAAAAAAAAAA").unwrap();
        recorder.used(&UseMark::default(), &a, &clock);
        clock.advance(Duration::seconds(30));
        recorder.used(&UseMark::default(), &a, &clock);
        assert_eq!(
            recorder.advance(),
            [LastUse {
                token_id: a,
                at: datetime!(2026-01-01 0:00 UTC)
            }]
        );
    }
}
