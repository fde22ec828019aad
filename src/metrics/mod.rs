//! Feature `metrics`: what the service counts, published through the `metrics` facade to
//! the recorder the host installed (the names and labels in [`names`], and in the crate
//! documentation's table).
//!
//! **Counted where it happens, published from here.** Verification counts its outcome on
//! striped counters (`crate::verify::VerifyCounts`), and the cache its hits (one cache
//! line per stripe, picked per thread): no lock, no allocation, no line shared between
//! cores, no label formatted. The cache's other counters, the listener's and the
//! last-used writer's already exist as atomics. A [`Publisher`] task sums them every
//! [`PUBLISH_INTERVAL`] (and once more when it stops) and adds what moved since its last
//! turn to `metrics` counters whose handles were registered once, at build. Adding
//! deltas (not setting totals) keeps two services in one process from hiding each
//! other's counts.
//!
//! Recorded directly, off the hot path, through handles registered at build: management
//! calls (by operation and outcome) and the listener's reconnect delays (a histogram).
//!
//! Why not a `metrics` counter on the hot path: with `metrics-exporter-prometheus` each
//! increment is two atomic additions on lines every core shares (the value and its
//! generation), which is exactly the shared write issue #12 took out of verification.

pub(crate) mod names;

use std::future::Future;
use std::sync::Arc;

use metrics::{Counter, Unit};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cache::Cache;
use crate::domain::idempotency::Outcome;
use crate::error::Error;
use crate::last_used::LastUsedCounters;
use crate::storage::ListenerCounters;
use crate::verify::{VerifyCounts, VerifyOutcome};

use names::*;

/// How often the counted metrics are published.
pub(crate) const PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A management call, as labelled (`operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Create,
    Update,
    Rotate,
    CancelRotation,
    ExpirePreviousNow,
    Delete,
    SetPermission,
    SetFeatureEnabled,
}

impl Operation {
    const ALL: [Self; 8] = [
        Self::Create,
        Self::Update,
        Self::Rotate,
        Self::CancelRotation,
        Self::ExpirePreviousNow,
        Self::Delete,
        Self::SetPermission,
        Self::SetFeatureEnabled,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Rotate => "rotate",
            Self::CancelRotation => "cancel_rotation",
            Self::ExpirePreviousNow => "expire_previous_now",
            Self::Delete => "delete",
            Self::SetPermission => "set_permission",
            Self::SetFeatureEnabled => "set_feature_enabled",
        }
    }
}

/// A management call's `outcome` labels: `ok`, `replayed` (an idempotency key's earlier
/// call answered), and one per error kind.
const CALL_OUTCOMES: [&str; 14] = [
    "ok",
    "replayed",
    "not_found",
    "permission_denied",
    "feature_disabled",
    "invalid_input",
    "unknown_scope",
    "rotation_in_progress",
    "no_rotation_in_progress",
    "conflict",
    "idempotency_key_mismatch",
    "request_in_progress",
    "randomness",
    "storage",
];

/// The index in [`CALL_OUTCOMES`] of a call's outcome.
fn call_outcome<T>(outcome: &Result<Outcome<T>, Error>) -> usize {
    match outcome {
        Ok(Outcome::Done(_)) => 0,
        Ok(Outcome::AlreadyDone(_)) => 1,
        Err(err) => match err {
            Error::NotFound => 2,
            Error::PermissionDenied => 3,
            Error::FeatureDisabled => 4,
            Error::InvalidInput(_) => 5,
            Error::UnknownScope(_) => 6,
            Error::RotationInProgress => 7,
            Error::NoRotationInProgress => 8,
            Error::Conflict => 9,
            Error::IdempotencyKeyMismatch => 10,
            Error::RequestInProgress => 11,
            Error::Randomness(_) => 12,
            Error::Storage(_) => 13,
        },
    }
}

fn verify_label(outcome: VerifyOutcome) -> &'static str {
    match outcome {
        VerifyOutcome::Ok => "ok",
        VerifyOutcome::Invalid => "invalid",
        VerifyOutcome::Expired => "expired",
        VerifyOutcome::Malformed => "malformed",
        VerifyOutcome::StorageError => "storage_error",
    }
}

/// A service's `metrics` handles, registered once (at build) with the recorder current
/// then: every label a static string, nothing formatted afterwards.
#[derive(Debug)]
pub(crate) struct Metrics {
    verify: [Counter; 5],
    cache_hits: Counter,
    cache_misses: Counter,
    cache_evicted_by_change: Counter,
    cache_evicted_for_room: Counter,
    cache_flushes: Counter,
    listener_connects: Counter,
    listener_losses: Counter,
    batches_written: Counter,
    batches_failed: Counter,
    /// Per operation (in [`Operation::ALL`]'s order), per outcome (in [`CALL_OUTCOMES`]'s).
    management: Vec<[Counter; CALL_OUTCOMES.len()]>,
}

impl Metrics {
    /// Describes every metric and registers its handles with the recorder current now.
    pub(crate) fn register() -> Self {
        describe();
        Self {
            verify: VerifyOutcome::ALL
                .map(|outcome| metrics::counter!(VERIFY_COUNT, "outcome" => verify_label(outcome))),
            cache_hits: metrics::counter!(CACHE_HITS),
            cache_misses: metrics::counter!(CACHE_MISSES),
            cache_evicted_by_change: metrics::counter!(CACHE_EVICTIONS, "reason" => "change"),
            cache_evicted_for_room: metrics::counter!(CACHE_EVICTIONS, "reason" => "room"),
            cache_flushes: metrics::counter!(CACHE_FLUSHES),
            listener_connects: metrics::counter!(LISTENER_CONNECTS),
            listener_losses: metrics::counter!(LISTENER_LOSSES),
            batches_written: metrics::counter!(LAST_USED_BATCHES, "outcome" => "written"),
            batches_failed: metrics::counter!(LAST_USED_BATCHES, "outcome" => "failed"),
            management: Operation::ALL
                .iter()
                .map(|operation| {
                    CALL_OUTCOMES.map(|outcome| {
                        metrics::counter!(
                            MANAGEMENT_CALLS,
                            "operation" => operation.label(),
                            "outcome" => outcome,
                        )
                    })
                })
                .collect(),
        }
    }

    /// A management call returned `outcome`.
    pub(crate) fn management<T>(&self, operation: Operation, outcome: &Result<Outcome<T>, Error>) {
        self.management[operation as usize][call_outcome(outcome)].increment(1);
    }
}

fn describe() {
    metrics::describe_counter!(
        VERIFY_COUNT,
        Unit::Count,
        "Token verifications, by outcome (ok, invalid, expired, malformed, storage_error)."
    );
    metrics::describe_counter!(
        CACHE_HITS,
        Unit::Count,
        "Verifications answered from the verification cache."
    );
    metrics::describe_counter!(
        CACHE_MISSES,
        Unit::Count,
        "Verifications that asked the storage through the verification cache."
    );
    metrics::describe_counter!(
        CACHE_EVICTIONS,
        Unit::Count,
        "Verification cache entries removed, by reason (change, room)."
    );
    metrics::describe_counter!(
        CACHE_FLUSHES,
        Unit::Count,
        "Times the verification cache was emptied because announcements may have been missed."
    );
    metrics::describe_counter!(
        LISTENER_CONNECTS,
        Unit::Count,
        "Times the change listener started listening."
    );
    metrics::describe_counter!(
        LISTENER_LOSSES,
        Unit::Count,
        "Times the change listener's connection was lost or went silent."
    );
    metrics::describe_counter!(
        LAST_USED_BATCHES,
        Unit::Count,
        "Last-used batches, by outcome (written, failed)."
    );
    metrics::describe_counter!(
        MANAGEMENT_CALLS,
        Unit::Count,
        "Management calls, by operation and outcome (ok, replayed, or the error's kind)."
    );
}

/// Where the counted metrics are read.
pub(crate) struct Sources {
    pub(crate) verify: Arc<VerifyCounts>,
    pub(crate) cache: Option<Arc<Cache>>,
    pub(crate) last_used: Arc<LastUsedCounters>,
    pub(crate) listener: Option<Arc<ListenerCounters>>,
}

/// The counted metrics' totals at one moment.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    verify: [u64; 5],
    cache_hits: u64,
    cache_misses: u64,
    cache_evicted_by_change: u64,
    cache_evicted_for_room: u64,
    cache_flushes: u64,
    listener_connects: u64,
    listener_losses: u64,
    batches_written: u64,
    batches_failed: u64,
}

impl Sources {
    fn totals(&self) -> Totals {
        let cache = self
            .cache
            .as_ref()
            .map(|cache| cache.stats())
            .unwrap_or_default();
        let listener = self
            .listener
            .as_ref()
            .map(|l| l.snapshot())
            .unwrap_or_default();
        let last_used = self.last_used.snapshot();
        Totals {
            verify: self.verify.totals(),
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_evicted_by_change: cache.evictions,
            cache_evicted_for_room: cache.expirations,
            cache_flushes: cache.flushes,
            listener_connects: listener.connects,
            listener_losses: listener.losses,
            batches_written: last_used.batches,
            batches_failed: last_used.failed_batches,
        }
    }
}

impl Metrics {
    /// Adds to each counter what moved between `last` and `now`.
    fn publish(&self, last: &Totals, now: &Totals) {
        let add = |counter: &Counter, last: u64, now: u64| {
            if now > last {
                counter.increment(now - last);
            }
        };
        for ((counter, last), now) in self.verify.iter().zip(last.verify).zip(now.verify) {
            add(counter, last, now);
        }
        add(&self.cache_hits, last.cache_hits, now.cache_hits);
        add(&self.cache_misses, last.cache_misses, now.cache_misses);
        add(
            &self.cache_evicted_by_change,
            last.cache_evicted_by_change,
            now.cache_evicted_by_change,
        );
        add(
            &self.cache_evicted_for_room,
            last.cache_evicted_for_room,
            now.cache_evicted_for_room,
        );
        add(&self.cache_flushes, last.cache_flushes, now.cache_flushes);
        add(
            &self.listener_connects,
            last.listener_connects,
            now.listener_connects,
        );
        add(
            &self.listener_losses,
            last.listener_losses,
            now.listener_losses,
        );
        add(
            &self.batches_written,
            last.batches_written,
            now.batches_written,
        );
        add(
            &self.batches_failed,
            last.batches_failed,
            now.batches_failed,
        );
    }
}

/// The running publisher of the counted metrics.
#[derive(Debug)]
pub(crate) struct Publisher {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Publisher {
    /// Publishes `sources` through `metrics` every [`PUBLISH_INTERVAL`], on `runtime`.
    pub(crate) fn spawn(
        runtime: &tokio::runtime::Handle,
        metrics: Arc<Metrics>,
        sources: Sources,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = runtime.spawn(publish_every(metrics, sources, stopped));
        Self { stop, task }
    }

    /// Publishes once more, then ends; returns once the task has ended.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The publisher's loop: every interval, and once more when told to stop (or when the
/// service is dropped, which drops the sender).
async fn publish_every(metrics: Arc<Metrics>, sources: Sources, mut stop: oneshot::Receiver<()>) {
    let mut ticks = tokio::time::interval_at(Instant::now() + PUBLISH_INTERVAL, PUBLISH_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Totals::default();
    loop {
        let stopping = std::future::poll_fn(|cx| {
            if std::pin::Pin::new(&mut stop).poll(cx).is_ready() {
                return std::task::Poll::Ready(true);
            }
            ticks.poll_tick(cx).map(|_| false)
        })
        .await;
        let now = sources.totals();
        metrics.publish(&last, &now);
        last = now;
        if stopping {
            return;
        }
    }
}
