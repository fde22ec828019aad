//! The service's housekeeping: a background task that removes idempotency records older
//! than their retention, in bounded batches, so that they never grow without bound.
//!
//! One sweep every [`SWEEP_EVERY`] (and one at start): batches of [`SWEEP_BATCH`]
//! records until a batch comes back short. Several replicas sweeping one database is
//! harmless: each batch removes what is there to remove. A failed batch is logged and
//! tried again at the next sweep.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::clock::Clock;
use crate::domain::idempotency::IDEMPOTENCY_KEY_RETENTION;
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
    ) -> Self {
        Self {
            task: Some(runtime.spawn(sweep_every(storage, clock))),
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

async fn sweep_every(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>) {
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
    }
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
