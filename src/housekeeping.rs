//! The service's housekeeping: a background task that removes idempotency records older
//! than their retention, in bounded batches, so that they never grow without bound; and,
//! with [`audit_retention`](crate::PrivateIntegrationsBuilder::audit_retention) set,
//! audit events older than it, the same way; and use counts older than the usage
//! retention.
//!
//! One sweep every [`SWEEP_EVERY`] (and one at start): batches of [`SWEEP_BATCH`]
//! records until a batch comes back short, then the same for audit events. Several
//! replicas sweeping one database is harmless: each batch removes what is there to
//! remove. A failed batch is logged and tried again at the next sweep (a failure of one
//! kind does not hold the other back).

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::clock::Clock;
use crate::domain::idempotency::IDEMPOTENCY_KEY_RETENTION;
use crate::domain::usage::oldest_kept_hour;
use crate::storage::Storage;

/// How often the sweep runs: records live between the retention and the retention plus
/// this.
pub(crate) const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The most records one storage call removes.
pub(crate) const SWEEP_BATCH: usize = 1_000;

/// The target of the task's `tracing` events.
const TARGET: &str = "private_integrations::housekeeping";

/// The running task, until stopped.
pub(crate) struct Housekeeping {
    /// `None` once stopped.
    task: Option<JoinHandle<()>>,
}

impl Housekeeping {
    /// Starts sweeping on `runtime`.
    pub(crate) fn spawn(
        runtime: &tokio::runtime::Handle,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        retention: Retention,
    ) -> Self {
        Self {
            task: Some(runtime.spawn(sweep_every(storage, clock, retention))),
        }
    }

    /// Stops the task, also in the middle of a batch (a removal cut short removes
    /// nothing or a part; the next sweep finishes it), and waits for it to end.
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Housekeeping {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// What the sweep keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// Audit events younger than this (`None`: all).
    pub(crate) audit: Option<time::Duration>,
    /// Use counts of this many days, today (UTC) included.
    pub(crate) usage_days: u16,
}

async fn sweep_every(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, retention: Retention) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(err) = sweep(&*storage, &*clock).await {
            tracing::warn!(
                target: TARGET,
                error = %err.chain(),
                "private integrations: removing old idempotency records failed; retried at the next sweep",
            );
        }
        if let Some(audit) = retention.audit
            && let Err(err) = sweep_audit_events(&*storage, &*clock, audit).await
        {
            tracing::warn!(
                target: TARGET,
                error = %err.chain(),
                "private integrations: removing old audit events failed; retried at the next sweep",
            );
        }
        if let Err(err) = sweep_token_uses(&*storage, &*clock, retention.usage_days).await {
            tracing::warn!(
                target: TARGET,
                error = %err.chain(),
                "private integrations: removing old use counts failed; retried at the next sweep",
            );
        }
    }
}

/// Removes every use count of a day before the `days` days kept (today, UTC, included),
/// and before the last 24 hours, a batch at a time, the oldest first; says how many.
pub(crate) async fn sweep_token_uses(
    storage: &dyn Storage,
    clock: &dyn Clock,
    days: u16,
) -> Result<usize, crate::StorageError> {
    let before = oldest_kept_hour(clock.now(), days);
    let mut removed = 0;
    loop {
        let batch = storage.remove_token_uses(before, SWEEP_BATCH).await?;
        removed += batch;
        if batch < SWEEP_BATCH {
            break;
        }
    }
    if removed > 0 {
        tracing::debug!(
            target: TARGET,
            removed,
            "private integrations: old use counts removed",
        );
    }
    Ok(removed)
}

/// Removes every idempotency record past its retention, a batch at a time; says how many.
pub(crate) async fn sweep(
    storage: &dyn Storage,
    clock: &dyn Clock,
) -> Result<usize, crate::StorageError> {
    let made_before = clock.now() - IDEMPOTENCY_KEY_RETENTION;
    let mut removed = 0;
    loop {
        let batch = storage
            .remove_idempotency_records(made_before, SWEEP_BATCH)
            .await?;
        removed += batch;
        if batch < SWEEP_BATCH {
            break;
        }
    }
    if removed > 0 {
        tracing::debug!(
            target: TARGET,
            removed,
            "private integrations: old idempotency records removed",
        );
    }
    Ok(removed)
}

/// Removes every audit event older than `retention`, a batch at a time, the oldest
/// first; says how many.
pub(crate) async fn sweep_audit_events(
    storage: &dyn Storage,
    clock: &dyn Clock,
    retention: time::Duration,
) -> Result<usize, crate::StorageError> {
    // A retention longer than all of time past keeps everything.
    let Some(before) = clock.now().checked_sub(retention) else {
        return Ok(0);
    };
    let mut removed = 0;
    loop {
        let batch = storage.remove_audit_events(before, SWEEP_BATCH).await?;
        removed += batch;
        if batch < SWEEP_BATCH {
            break;
        }
    }
    if removed > 0 {
        tracing::debug!(
            target: TARGET,
            removed,
            "private integrations: old audit events removed",
        );
    }
    Ok(removed)
}
