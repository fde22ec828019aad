//! Writes that land later, on a task of their own: [`HeldWrites`] wraps any [`Storage`]
//! and hands each integration write (`update`, `delete`) to a spawned task, as sqlx's
//! SQLite worker does with every statement. The caller's future only waits for that
//! task: drop it, and the write still lands.
//!
//! While its [`WriteGate`] is held, the task waits at the gate before it runs the inner
//! write, so a test can act in the window between "the write reached storage" and "the
//! write landed", with signals instead of sleeps: [`WriteGate::until_waiting`] (a write
//! reached the gate), [`WriteGate::release`], [`WriteGate::until_landed`].
//!
//! It also counts the sweeps of old idempotency records that went through it
//! ([`WriteGate::until_sweeps`]): a sweep is done when a removal comes back short of its
//! limit. The same for old audit events ([`WriteGate::until_audit_sweeps`]), whose
//! removals it can also fail ([`WriteGate::fail_audit_removals`]), and old use counts
//! ([`WriteGate::until_usage_sweeps`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use private_integrations::storage::{
    AccessSettings, AuditEvent, AuditLogQuery, Change, ChangeListener, IdempotencyKey,
    IdempotencyRecord, IntegrationRecord, LastUse, Page, PageRequest, Storage, StorageError,
    TokenLookup, TokenUses, Watch,
};
use private_integrations::{AccountId, IntegrationId, Permission, TokenId, UserId};
use tokio::sync::watch;

/// The gate of a [`HeldWrites`], shared with the test.
#[derive(Debug)]
pub struct WriteGate {
    /// Whether held writes may run.
    open: watch::Sender<bool>,
    /// Writes that reached the gate while it was held.
    waiting: watch::Sender<usize>,
    /// Writes whose inner call has returned (whatever its outcome).
    landed: watch::Sender<usize>,
    /// Sweeps of old idempotency records that ended (a removal short of its limit).
    sweeps: watch::Sender<usize>,
    /// Sweeps of old audit events that ended (a removal short of its limit).
    audit_sweeps: watch::Sender<usize>,
    /// Calls to remove old audit events that returned, failed ones included.
    audit_removals: watch::Sender<usize>,
    /// How many of the next removals of audit events fail (before reaching storage).
    audit_failures: AtomicUsize,
    /// Sweeps of old use counts that ended (a removal short of its limit).
    usage_sweeps: watch::Sender<usize>,
}

impl WriteGate {
    fn new() -> Self {
        Self {
            open: watch::Sender::new(true),
            waiting: watch::Sender::new(0),
            landed: watch::Sender::new(0),
            sweeps: watch::Sender::new(0),
            audit_sweeps: watch::Sender::new(0),
            audit_removals: watch::Sender::new(0),
            audit_failures: AtomicUsize::new(0),
            usage_sweeps: watch::Sender::new(0),
        }
    }

    /// From now on, integration writes wait at the gate until [`release`](Self::release).
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Lets every held write (and every later one) run.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Waits until `n` writes in all have reached the gate while it was held.
    pub async fn until_waiting(&self, n: usize) {
        let mut waiting = self.waiting.subscribe();
        waiting.wait_for(|w| *w >= n).await.expect("the gate lives");
    }

    /// Writes that reached the gate while it was held, so far.
    pub fn waiting(&self) -> usize {
        *self.waiting.borrow()
    }

    /// Writes that have landed so far (their inner call returned).
    pub fn landed(&self) -> usize {
        *self.landed.borrow()
    }

    /// Waits until `n` writes in all have landed.
    pub async fn until_landed(&self, n: usize) {
        let mut landed = self.landed.subscribe();
        landed.wait_for(|l| *l >= n).await.expect("the gate lives");
    }

    /// Sweeps of old idempotency records ended so far.
    pub fn sweeps(&self) -> usize {
        *self.sweeps.borrow()
    }

    /// Waits until `n` sweeps in all have ended.
    pub async fn until_sweeps(&self, n: usize) {
        let mut sweeps = self.sweeps.subscribe();
        sweeps.wait_for(|s| *s >= n).await.expect("the gate lives");
    }

    /// Sweeps of old audit events ended so far.
    pub fn audit_sweeps(&self) -> usize {
        *self.audit_sweeps.borrow()
    }

    /// Waits until `n` sweeps of old audit events in all have ended.
    pub async fn until_audit_sweeps(&self, n: usize) {
        let mut sweeps = self.audit_sweeps.subscribe();
        sweeps.wait_for(|s| *s >= n).await.expect("the gate lives");
    }

    /// Calls to remove old audit events that returned so far, failed ones included.
    pub fn audit_removals(&self) -> usize {
        *self.audit_removals.borrow()
    }

    /// Waits until `n` calls to remove old audit events in all have returned.
    pub async fn until_audit_removals(&self, n: usize) {
        let mut removals = self.audit_removals.subscribe();
        removals
            .wait_for(|r| *r >= n)
            .await
            .expect("the gate lives");
    }

    /// Waits until `n` sweeps of old use counts in all have ended.
    pub async fn until_usage_sweeps(&self, n: usize) {
        let mut sweeps = self.usage_sweeps.subscribe();
        sweeps.wait_for(|s| *s >= n).await.expect("the gate lives");
    }

    /// Sweeps of old use counts ended so far.
    pub fn usage_sweeps(&self) -> usize {
        *self.usage_sweeps.borrow()
    }

    /// The next `n` removals of old audit events fail without reaching storage.
    pub fn fail_audit_removals(&self, n: usize) {
        self.audit_failures.store(n, Ordering::SeqCst);
    }

    /// Runs `write` on a task of its own, after the gate if it is held now, and waits
    /// for it. Dropping the returned future leaves the task running.
    async fn run(
        self: &Arc<Self>,
        write: impl Future<Output = Result<(), StorageError>> + Send + 'static,
    ) -> Result<(), StorageError> {
        let held = !*self.open.borrow();
        let gate = Arc::clone(self);
        let mut open = self.open.subscribe();
        if held {
            self.waiting.send_modify(|w| *w += 1);
        }
        let task = tokio::spawn(async move {
            if held {
                open.wait_for(|open| *open).await.expect("the gate lives");
            }
            let written = write.await;
            gate.landed.send_modify(|l| *l += 1);
            written
        });
        task.await.unwrap_or_else(|err| {
            Err(StorageError::backend(format!(
                "the held write's task failed: {err}"
            )))
        })
    }
}

/// A [`Storage`] whose integration writes run on tasks of their own, held at a
/// [`WriteGate`] while the test says so. Every other call goes straight through.
#[derive(Debug, Clone)]
pub struct HeldWrites<S> {
    inner: Arc<S>,
    gate: Arc<WriteGate>,
}

impl<S: Storage> HeldWrites<S> {
    /// Wraps `inner`, the gate open; the gate to hold and release it.
    pub fn new(inner: S) -> (Self, Arc<WriteGate>) {
        let gate = Arc::new(WriteGate::new());
        let storage = Self {
            inner: Arc::new(inner),
            gate: Arc::clone(&gate),
        };
        (storage, gate)
    }
}

/// The owned parts of a [`Change`], for a write that outlives its caller.
struct OwnedChange {
    event: AuditEvent,
    once: Option<IdempotencyRecord>,
}

impl OwnedChange {
    fn of(change: Change<'_>) -> Self {
        Self {
            event: change.event.clone(),
            once: change.once.cloned(),
        }
    }

    fn change(&self) -> Change<'_> {
        Change {
            event: &self.event,
            once: self.once.as_ref(),
        }
    }
}

#[async_trait]
impl<S: Storage> Storage for HeldWrites<S> {
    async fn insert(
        &self,
        record: &IntegrationRecord,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner.insert(record, change).await
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let (inner, record, change) = (
            Arc::clone(&self.inner),
            record.clone(),
            OwnedChange::of(change),
        );
        self.gate
            .run(async move {
                inner
                    .update(&record, expected_version, change.change())
                    .await
            })
            .await
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let (inner, account, id, change) = (
            Arc::clone(&self.inner),
            account.clone(),
            id.clone(),
            OwnedChange::of(change),
        );
        self.gate
            .run(async move {
                inner
                    .delete(&account, &id, expected_version, change.change())
                    .await
            })
            .await
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        self.inner.get(account, id).await
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        self.inner.list(account).await
    }

    async fn rotating_integrations(
        &self,
        now: time::OffsetDateTime,
        after: Option<(time::OffsetDateTime, &IntegrationId)>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StorageError> {
        self.inner.rotating_integrations(now, after, limit).await
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        self.inner.find_by_token(token_id)
    }

    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError> {
        self.inner.access(account, user).await
    }

    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner
            .set_permission(account, user, permission, change)
            .await
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner
            .set_feature_enabled(account, enabled, change)
            .await
    }

    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        self.inner.audit_log(account).await
    }

    async fn idempotency_record(
        &self,
        account: &AccountId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        self.inner.idempotency_record(account, user, key).await
    }

    async fn remove_idempotency_records(
        &self,
        made_before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let removed = self
            .inner
            .remove_idempotency_records(made_before, limit)
            .await;
        if matches!(removed, Ok(n) if n < limit) {
            self.gate.sweeps.send_modify(|s| *s += 1);
        }
        removed
    }

    async fn remove_audit_events(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let fail = self
            .gate
            .audit_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let removed = match fail {
            true => Err(StorageError::backend(
                "injected: removing audit events failed",
            )),
            false => self.inner.remove_audit_events(before, limit).await,
        };
        self.gate.audit_removals.send_modify(|r| *r += 1);
        if matches!(removed, Ok(n) if n < limit) {
            self.gate.audit_sweeps.send_modify(|s| *s += 1);
        }
        removed
    }

    async fn list_page(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        self.inner.list_page(account, page).await
    }

    async fn audit_log_page(
        &self,
        account: &AccountId,
        query: &AuditLogQuery,
    ) -> Result<Page<AuditEvent>, StorageError> {
        self.inner.audit_log_page(account, query).await
    }

    async fn record_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError> {
        self.inner.record_last_used(uses).await
    }

    async fn record_token_uses(&self, uses: &[TokenUses]) -> Result<(), StorageError> {
        self.inner.record_token_uses(uses).await
    }

    async fn token_uses(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        since: time::OffsetDateTime,
    ) -> Result<Vec<TokenUses>, StorageError> {
        self.inner.token_uses(account, id, since).await
    }

    async fn remove_token_uses(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let removed = self.inner.remove_token_uses(before, limit).await;
        if matches!(removed, Ok(n) if n < limit) {
            self.gate.usage_sweeps.send_modify(|s| *s += 1);
        }
        removed
    }

    fn watch(&self, listener: Arc<dyn ChangeListener>) -> Option<Watch> {
        self.inner.watch(listener)
    }
}
