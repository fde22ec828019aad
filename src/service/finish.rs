//! A rotation that finishes itself (opt-in:
//! [`finish_rotation_when_silent`](super::PrivateIntegrationsBuilder::finish_rotation_when_silent)):
//! once the new token has been used and the old one has not been used for the set time,
//! the old token expires, as "Expire now" would have it. The rule is the domain's
//! ([`IntegrationRecord::finish_when_silent`]); here are the pass that applies it to
//! every rotation under way, in every account, and the background task that runs the
//! pass every [`FINISH_EVERY`].
//!
//! Each finish is written like every change: compare-and-swap on the version read, with
//! its audit event, announced to the cache and every listener once it landed. So of two
//! replicas on one database (or a replica and an admin) acting on one rotation at once,
//! exactly one wins; the other's write is a `Conflict`, which here means "someone else
//! changed it first" and is a no-op. A rotation is finished once, with one audit event.

use std::sync::{Arc, Weak};

use time::{Duration, OffsetDateTime};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::domain::audit::{AUTOMATIC_ACTOR, AuditAction, AuditEvent};
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::integration::IntegrationRecord;
use crate::error::Error;

use super::manage::Pending;
use super::{Inner, PrivateIntegrations};

/// How often the pass runs, the first time this long after `build`: a rotation finishes
/// within this much of the moment the rule applies, plus the last-used interval by which
/// uses are late.
pub(crate) const FINISH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The most rotating integrations one storage call reads.
pub(crate) const FINISH_BATCH: usize = 100;

/// The target of the task's `tracing` events.
const TARGET: &str = "private_integrations::rotation";

/// The running task, until stopped.
pub(super) struct Finisher {
    /// `None` once stopped.
    task: Option<JoinHandle<()>>,
}

impl Finisher {
    /// Starts running the pass on `runtime`, every [`FINISH_EVERY`], for as long as the
    /// service lives: the task holds it weakly, so a service dropped without
    /// `shutdown` is not kept alive by its own task.
    pub(super) fn spawn(runtime: &tokio::runtime::Handle, service: Weak<Inner>) -> Self {
        Self {
            task: Some(runtime.spawn(finish_every(service))),
        }
    }

    /// Stops the task and waits for it to end. A write under way runs to its end on a
    /// task of its own (see `commit`), announced as always: stopping never leaves half a
    /// finish.
    pub(super) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn finish_every(service: Weak<Inner>) {
    let first = tokio::time::Instant::now() + FINISH_EVERY;
    let mut ticks = tokio::time::interval_at(first, FINISH_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = service.upgrade() else {
            return;
        };
        let pi = PrivateIntegrations { inner };
        if let Err(err) = pi.finish_silent_rotations().await {
            tracing::warn!(
                target: TARGET,
                error = %err,
                "private integrations: finishing silent rotations failed; tried again in a minute",
            );
        }
    }
}

impl PrivateIntegrations {
    /// How long the old token of a rotation must go unused, once the new one has been
    /// used, before it expires by itself; `None` if rotations do not finish by themselves
    /// (the default). Set with
    /// [`finish_rotation_when_silent`](crate::PrivateIntegrationsBuilder::finish_rotation_when_silent).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert_eq!(pi.finish_rotation_when_silent(), None, "off by default");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn finish_rotation_when_silent(&self) -> Option<Duration> {
        self.inner.finish_when_silent
    }

    /// Applies the rule of
    /// [`finish_rotation_when_silent`](crate::PrivateIntegrationsBuilder::finish_rotation_when_silent)
    /// now, to every rotation under way: what its background task does every minute,
    /// here for a host that runs it from a scheduler of its own, or a test. Says how many
    /// rotations this call finished.
    ///
    /// Every integration of every account that is rotating at the service's clock's
    /// [`now`](Self::now) is read, in batches of 100, and the rule
    /// ([`IntegrationRecord::finish_when_silent`]) applied: where the new token has been
    /// used and the old one has been silent for the set duration, the old token expires,
    /// as [`expire_previous_now`](Self::expire_previous_now) would have it, with an
    /// audit event [`PreviousExpiredAutomatically`](AuditAction::PreviousExpiredAutomatically)
    /// by [`AUTOMATIC_ACTOR`](crate::AUTOMATIC_ACTOR), announced to the verification
    /// cache and every change listener. No actor is checked: it is the host's rule, and
    /// it applies whether an account has the feature switched on or off (as a rotation's
    /// window ends either way).
    ///
    /// A rotation that another replica, or an admin, changed since it was read is left
    /// alone (its write is a compare-and-swap conflict): it is looked at again at the
    /// next pass, if it still rotates. Without the setting, this finishes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if a read or a write fails: the pass stops there (what it
    /// finished stays finished) and the next one goes on.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// use time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let memory = MemoryStorage::new();
    /// let clock = ManualClock::new(time::macros::datetime!(2026-03-01 09:00 UTC));
    /// let pi = PrivateIntegrations::builder(memory.clone())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .clock(clock.clone())
    ///     .finish_rotation_when_silent(Duration::hours(24))
    ///     .build();
    /// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let created = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
    /// let (id, old) = (created.integration.id(), created.token);
    /// let new = pi.rotate(&admin, id, RotationMode::ExpireLater).await?.token;
    ///
    /// // The third party switches to the new token within the hour (its use is written
    /// // by the last-used writer; here, by hand)…
    /// clock.advance(Duration::hours(1));
    /// let used = storage::LastUse { token_id: *new.token_id(), at: pi.now() };
    /// memory.record_last_used(&[used]).await?;
    /// // …and never uses the old one again: 24 hours after the rotation, it expires.
    /// clock.advance(Duration::hours(23));
    /// assert_eq!(pi.finish_silent_rotations().await?, 1);
    /// assert!(pi.verify(old.expose_secret()).await.is_err());
    /// assert!(pi.verify(new.expose_secret()).await.is_ok());
    /// let log = pi.audit_log(&admin).await?;
    /// assert_eq!(log[0].action, AuditAction::PreviousExpiredAutomatically { unused_for_secs: 86_400 });
    /// assert_eq!(log[0].actor.as_str(), AUTOMATIC_ACTOR);
    /// # pi.shutdown().await;
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn finish_silent_rotations(&self) -> Result<usize, Error> {
        let Some(silent_for) = self.inner.finish_when_silent else {
            return Ok(0);
        };
        let storage = &self.inner.verifier.storage;
        let mut after: Option<(OffsetDateTime, IntegrationId)> = None;
        let mut finished = 0;
        loop {
            let now = self.now();
            let cursor = after.as_ref().map(|(until, id)| (*until, id));
            let batch = storage
                .rotating_integrations(now, cursor, FINISH_BATCH)
                .await?;
            for record in &batch {
                if let Some(next) = record.finish_when_silent(now, silent_for)
                    && self.finish(record, next, silent_for, now).await?
                {
                    finished += 1;
                }
            }
            // Every record of a batch rotates, so the last one has a key.
            let last = batch.last().and_then(|record| {
                let (_, until) = record.credentials.previous()?;
                Some((until, record.id.clone()))
            });
            match last {
                Some(last) if batch.len() >= FINISH_BATCH => after = Some(last),
                _ => break,
            }
        }
        if finished > 0 {
            tracing::debug!(
                target: TARGET,
                finished,
                "private integrations: silent rotations finished",
            );
        }
        Ok(finished)
    }

    /// Writes one finish, `record` becoming `next`, through the path of every change.
    /// `Ok(false)`: someone else changed or deleted the integration first.
    async fn finish(
        &self,
        record: &IntegrationRecord,
        next: IntegrationRecord,
        silent_for: Duration,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        let event = AuditEvent {
            account: record.account.clone(),
            actor: UserId::new(AUTOMATIC_ACTOR),
            integration: Some(record.id.clone()),
            action: AuditAction::PreviousExpiredAutomatically {
                unused_for_secs: u64::try_from(silent_for.whole_seconds()).unwrap_or(0),
            },
            at: now,
        };
        match self
            .commit(Pending::update(record, next, event, None))
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Conflict | Error::NotFound) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Starts the background task if rotations finish by themselves and a runtime is
    /// at hand; says why not otherwise.
    pub(super) fn start_finishing(&self, runtime: Option<&tokio::runtime::Handle>) {
        if self.inner.finish_when_silent.is_none() {
            return;
        }
        if self.inner.verifier.last_used.is_none() {
            tracing::warn!(
                target: TARGET,
                "private integrations: rotations finish when silent, but this service \
                 records no token use (last used is off, or there is no runtime): only \
                 uses recorded by other replicas let a rotation finish",
            );
        }
        let Some(runtime) = runtime else {
            tracing::warn!(
                target: TARGET,
                "private integrations: built outside a tokio runtime, so rotations do not \
                 finish by themselves (`finish_silent_rotations` runs the pass)",
            );
            return;
        };
        let finisher = Finisher::spawn(runtime, Arc::downgrade(&self.inner));
        self.inner
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finisher = Some(finisher);
    }
}
