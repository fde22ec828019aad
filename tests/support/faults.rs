//! Fault injection: [`FaultyStorage`] wraps any [`Storage`] and, as a shared [`Faults`]
//! plan says, fails a call (with [`StorageError::Backend`]) or delays it (a tokio sleep)
//! at chosen call numbers, at the next call of a chosen method, or at random with a
//! seeded RNG.
//!
//! A failure is injected either **before** the call reaches the wrapped storage (the
//! call never happens: a lost connection) or **after** it (the call happened, but its
//! answer is lost: the caller sees an error while the change stands). Futures are lazy,
//! so "before" truly never runs the inner call.
//!
//! Generic over the wrapped backend, so the SQL backends' tests can use it as well: keep
//! a second, unwrapped handle on the same backend to read what was really stored.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use private_integrations::storage::{
    AccessSettings, AuditEvent, Change, ChangeListener, IdempotencyKey, IdempotencyRecord,
    IntegrationRecord, LastUse, Storage, StorageError, TokenLookup, TokenUses, Watch,
};
use private_integrations::{AccountId, IntegrationId, Permission, TokenId, UserId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A storage method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Insert,
    Update,
    Delete,
    Get,
    List,
    FindByToken,
    Access,
    SetPermission,
    SetFeatureEnabled,
    AuditLog,
    IdempotencyRecord,
    /// Runs in the background, at times tests do not control: not numbered, never faulted
    /// at random or by number, only by [`Faults::on_next`].
    RecordLastUsed,
    /// Written with the last-used times: like [`Method::RecordLastUsed`], faulted only by
    /// [`Faults::on_next`].
    RecordTokenUses,
    /// The counts an admin reads (`usage`).
    TokenUses,
}

impl Method {
    /// Whether the method writes.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Method::Insert
                | Method::Update
                | Method::Delete
                | Method::SetPermission
                | Method::SetFeatureEnabled
        )
    }
}

/// What to do to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail without calling the wrapped storage.
    FailBefore,
    /// Call the wrapped storage, then fail anyway (a lost acknowledgment).
    FailAfter,
    /// Wait, then call the wrapped storage.
    Delay(Duration),
}

/// One fault that was injected: the call's number, its method, and the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    pub call: u64,
    pub method: Method,
    pub fault: Fault,
}

/// The chances of each fault per call, for [`Faults::random`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    pub fail_before: f64,
    pub fail_after: f64,
    pub delay: f64,
    /// The longest delay.
    pub max_delay: Duration,
}

/// The error an injected failure returns (the source of a [`StorageError::Backend`]).
#[derive(Debug)]
pub struct InjectedFault {
    pub injection: Injection,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.injection.fault {
            Fault::FailAfter => "after it reached storage",
            _ => "before it reached storage",
        };
        write!(
            f,
            "injected fault: {:?} call #{} failed {when}",
            self.injection.method, self.injection.call
        )
    }
}

impl std::error::Error for InjectedFault {}

/// Whether `err` is a failure this module injected.
/// Whether the injected fault caused `err` (directly, or as the cause of a lookup that
/// a verification cache shared between concurrent verifications).
pub fn is_injected(err: &StorageError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if err.is::<InjectedFault>() {
            return true;
        }
        cause = err.source();
    }
    false
}

#[derive(Default)]
struct Plan {
    /// Calls so far; the next call gets this number.
    calls: u64,
    paused: bool,
    at: BTreeMap<u64, Fault>,
    on: Vec<(Method, Fault)>,
    random: Option<(StdRng, Rates)>,
    injected: Vec<Injection>,
    /// Every batch of last uses that reached the wrapped storage, oldest first.
    batches: Vec<Vec<LastUse>>,
    /// Every batch of use counts that reached the wrapped storage, oldest first.
    count_batches: Vec<Vec<TokenUses>>,
    /// While set, token lookups are held (see [`Faults::hold_lookups`]).
    gate: Option<Arc<LookupGate>>,
}

/// Holds token lookups open: each reads the wrapped storage's answer at once, then waits
/// until released, so a test can change things while a lookup that began before is still
/// on its way.
#[derive(Debug)]
pub struct LookupGate {
    open: tokio::sync::watch::Sender<bool>,
    arrived: tokio::sync::watch::Sender<usize>,
}

impl LookupGate {
    /// Waits until `n` lookups have read their answer (and wait at the gate).
    pub async fn until_arrived(&self, n: usize) {
        let mut arrived = self.arrived.subscribe();
        arrived.wait_for(|arrived| *arrived >= n).await.unwrap();
    }

    /// How many lookups have arrived so far.
    pub fn arrived(&self) -> usize {
        *self.arrived.borrow()
    }

    /// Lets every held lookup (and every later one) answer.
    pub fn release(&self) {
        self.open.send_replace(true);
    }
}

/// The fault plan, shared by a test and its [`FaultyStorage`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Plan>>, Arc<tokio::sync::Notify>);

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan();
        f.debug_struct("Faults")
            .field("calls", &plan.calls)
            .field("injected", &plan.injected.len())
            .finish_non_exhaustive()
    }
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// The number of storage calls so far (the next call's number).
    pub fn calls(&self) -> u64 {
        self.plan().calls
    }

    /// Injects `fault` at the call numbered `call`.
    pub fn at(&self, call: u64, fault: Fault) {
        self.plan().at.insert(call, fault);
    }

    /// Injects `fault` at the call `offset` calls from now (0: the next call).
    pub fn after_calls(&self, offset: u64, fault: Fault) {
        let mut plan = self.plan();
        let call = plan.calls + offset;
        plan.at.insert(call, fault);
    }

    /// Injects `fault` at the next call of `method`.
    pub fn on_next(&self, method: Method, fault: Fault) {
        self.plan().on.push((method, fault));
    }

    /// Injects faults at random, at these rates, from a seeded RNG (reproducible).
    pub fn random(&self, seed: u64, rates: Rates) {
        self.plan().random = Some((StdRng::seed_from_u64(seed), rates));
    }

    /// Stops injecting, but keeps the plan (random faults resume with [`resume`]).
    ///
    /// [`resume`]: Self::resume
    pub fn pause(&self) {
        self.plan().paused = true;
    }

    /// Injects again after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.plan().paused = false;
    }

    /// Forgets every planned fault: from now on every call goes through.
    pub fn stop(&self) {
        let mut plan = self.plan();
        plan.at.clear();
        plan.on.clear();
        plan.random = None;
    }

    /// From now on, holds every token lookup at a [`LookupGate`] until it is released.
    pub fn hold_lookups(&self) -> Arc<LookupGate> {
        let gate = Arc::new(LookupGate {
            open: tokio::sync::watch::Sender::new(false),
            arrived: tokio::sync::watch::Sender::new(0),
        });
        self.plan().gate = Some(Arc::clone(&gate));
        gate
    }

    /// Every fault injected so far, oldest first.
    pub fn injected(&self) -> Vec<Injection> {
        self.plan().injected.clone()
    }

    /// Every batch of last uses written through the wrapper so far, oldest first.
    pub fn batches(&self) -> Vec<Vec<LastUse>> {
        self.plan().batches.clone()
    }

    /// Every batch of use counts written through the wrapper so far, oldest first.
    pub fn count_batches(&self) -> Vec<Vec<TokenUses>> {
        self.plan().count_batches.clone()
    }

    /// Waits until `n` batches of last uses have been written through the wrapper, and
    /// returns them all.
    pub async fn wait_for_batches(&self, n: usize) -> Vec<Vec<LastUse>> {
        loop {
            let written = self.1.notified();
            let batches = self.batches();
            if batches.len() >= n {
                return batches;
            }
            written.await;
        }
    }

    /// The fault for the next call of `method`, a background write
    /// (`record_last_used`, `record_token_uses`), if one was planned with `on_next`.
    fn decide_background(&self, method: Method) -> Option<Injection> {
        let mut plan = self.plan();
        let i = plan.on.iter().position(|(m, _)| *m == method)?;
        let fault = plan.on.remove(i).1;
        let injection = Injection {
            call: u64::MAX,
            method,
            fault,
        };
        plan.injected.push(injection);
        Some(injection)
    }

    /// Numbers the call and decides its fault.
    fn decide(&self, method: Method) -> Option<Injection> {
        let mut plan = self.plan();
        let call = plan.calls;
        plan.calls += 1;
        if plan.paused {
            return None;
        }
        let mut fault = plan.at.remove(&call);
        if fault.is_none()
            && let Some(i) = plan.on.iter().position(|(m, _)| *m == method)
        {
            fault = Some(plan.on.remove(i).1);
        }
        if fault.is_none()
            && let Some((rng, rates)) = &mut plan.random
        {
            let roll: f64 = rng.random();
            fault = if roll < rates.fail_before {
                Some(Fault::FailBefore)
            } else if roll < rates.fail_before + rates.fail_after {
                Some(Fault::FailAfter)
            } else if roll < rates.fail_before + rates.fail_after + rates.delay {
                let micros = rng.random_range(0..=rates.max_delay.as_micros() as u64);
                Some(Fault::Delay(Duration::from_micros(micros)))
            } else {
                None
            };
        }
        let injection = Injection {
            call,
            method,
            fault: fault?,
        };
        plan.injected.push(injection);
        Some(injection)
    }
}

/// A [`Storage`] that injects the faults of a [`Faults`] plan into every call to the
/// storage it wraps.
#[derive(Debug, Clone)]
pub struct FaultyStorage<S> {
    inner: S,
    faults: Faults,
}

impl<S: Storage> FaultyStorage<S> {
    /// Wraps `inner`; `faults` decides what happens to each call.
    pub fn new(inner: S, faults: Faults) -> Self {
        Self { inner, faults }
    }

    /// Wraps `inner` with random delays of up to a millisecond on a fifth of the calls,
    /// and no failures: every outcome stays as without the wrapper, only later.
    pub fn delaying(inner: S, seed: u64) -> Self {
        let faults = Faults::new();
        faults.random(
            seed,
            Rates {
                delay: 0.2,
                max_delay: Duration::from_millis(1),
                ..Rates::default()
            },
        );
        Self::new(inner, faults)
    }

    /// A background write (`method`) under the fault planned for it with `on_next`, if
    /// any: failed before it reaches storage, delayed, or failed after it; `landed`
    /// keeps the batch when it reached storage.
    async fn background(
        &self,
        method: Method,
        call: impl Future<Output = Result<(), StorageError>>,
        landed: impl FnOnce(&mut Plan),
    ) -> Result<(), StorageError> {
        let injection = self.faults.decide_background(method);
        let fail = |injection| Err(StorageError::backend(InjectedFault { injection }));
        let result = match injection.map(|i| (i, i.fault)) {
            Some((injection, Fault::FailBefore)) => return fail(injection),
            Some((_, Fault::Delay(delay))) => {
                tokio::time::sleep(delay).await;
                call.await
            }
            _ => call.await,
        };
        if result.is_ok() {
            landed(&mut self.faults.plan());
            self.faults.1.notify_waiters();
        }
        match injection.map(|i| (i, i.fault)) {
            Some((injection, Fault::FailAfter)) => fail(injection),
            _ => result,
        }
    }

    async fn run<T>(
        &self,
        method: Method,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        match self.faults.decide(method) {
            None => call.await,
            Some(injection) => match injection.fault {
                Fault::FailBefore => Err(StorageError::backend(InjectedFault { injection })),
                Fault::FailAfter => {
                    let _lost = call.await;
                    Err(StorageError::backend(InjectedFault { injection }))
                }
                Fault::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    call.await
                }
            },
        }
    }
}

#[async_trait]
impl<S: Storage> Storage for FaultyStorage<S> {
    async fn insert(
        &self,
        record: &IntegrationRecord,
        event: Change<'_>,
    ) -> Result<(), StorageError> {
        self.run(Method::Insert, self.inner.insert(record, event))
            .await
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        event: Change<'_>,
    ) -> Result<(), StorageError> {
        let call = self.inner.update(record, expected_version, event);
        self.run(Method::Update, call).await
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        event: Change<'_>,
    ) -> Result<(), StorageError> {
        let call = self.inner.delete(account, id, expected_version, event);
        self.run(Method::Delete, call).await
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        self.run(Method::Get, self.inner.get(account, id)).await
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        self.run(Method::List, self.inner.list(account)).await
    }

    /// Background work at times tests do not control: never faulted.
    async fn rotating_integrations(
        &self,
        now: time::OffsetDateTime,
        after: Option<(time::OffsetDateTime, &IntegrationId)>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StorageError> {
        self.inner.rotating_integrations(now, after, limit).await
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        let gate = self.faults.plan().gate.clone();
        let injection = self.faults.decide(Method::FindByToken);
        if gate.is_none() && injection.is_none() {
            return self.inner.find_by_token(token_id);
        }
        let token_id = *token_id;
        TokenLookup::pending(async move {
            let answer = match injection {
                None => self.inner.find_by_token(&token_id).await,
                Some(injection) => match injection.fault {
                    Fault::FailBefore => Err(StorageError::backend(InjectedFault { injection })),
                    Fault::FailAfter => {
                        let _lost = self.inner.find_by_token(&token_id).await;
                        Err(StorageError::backend(InjectedFault { injection }))
                    }
                    Fault::Delay(delay) => {
                        tokio::time::sleep(delay).await;
                        self.inner.find_by_token(&token_id).await
                    }
                },
            };
            if let Some(gate) = gate {
                // The answer is what the storage held (or the fault) before the hold.
                gate.arrived.send_modify(|arrived| *arrived += 1);
                let mut open = gate.open.subscribe();
                open.wait_for(|open| *open).await.unwrap();
            }
            answer
        })
    }

    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError> {
        self.run(Method::Access, self.inner.access(account, user))
            .await
    }

    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        event: Change<'_>,
    ) -> Result<(), StorageError> {
        let call = self.inner.set_permission(account, user, permission, event);
        self.run(Method::SetPermission, call).await
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        event: Change<'_>,
    ) -> Result<(), StorageError> {
        let call = self.inner.set_feature_enabled(account, enabled, event);
        self.run(Method::SetFeatureEnabled, call).await
    }

    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        self.run(Method::AuditLog, self.inner.audit_log(account))
            .await
    }

    async fn idempotency_record(
        &self,
        account: &AccountId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        let call = self.inner.idempotency_record(account, user, key);
        self.run(Method::IdempotencyRecord, call).await
    }

    /// Background work at times tests do not control: never faulted.
    async fn remove_idempotency_records(
        &self,
        made_before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        self.inner
            .remove_idempotency_records(made_before, limit)
            .await
    }

    /// Background work at times tests do not control: never faulted.
    async fn remove_audit_events(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        self.inner.remove_audit_events(before, limit).await
    }

    async fn record_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError> {
        let call = self.inner.record_last_used(uses);
        self.background(Method::RecordLastUsed, call, |plan| {
            plan.batches.push(uses.to_vec())
        })
        .await
    }

    async fn record_token_uses(&self, uses: &[TokenUses]) -> Result<(), StorageError> {
        let call = self.inner.record_token_uses(uses);
        self.background(Method::RecordTokenUses, call, |plan| {
            plan.count_batches.push(uses.to_vec())
        })
        .await
    }

    async fn token_uses(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        since: time::OffsetDateTime,
    ) -> Result<Vec<TokenUses>, StorageError> {
        let call = self.inner.token_uses(account, id, since);
        self.run(Method::TokenUses, call).await
    }

    /// Background work at times tests do not control: never faulted.
    async fn remove_token_uses(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        self.inner.remove_token_uses(before, limit).await
    }

    fn watch(&self, listener: Arc<dyn ChangeListener>) -> Option<Watch> {
        self.inner.watch(listener)
    }
}

/// Everything `storage` holds for these accounts and users, read directly: records (as
/// their `Debug` text: a record has no `PartialEq`), audit logs and access settings.
/// Two equal snapshots mean nothing changed.
pub async fn snapshot(
    storage: &impl Storage,
    accounts: &[&AccountId],
    users: &[&UserId],
) -> Vec<(Vec<String>, Vec<AuditEvent>, Vec<AccessSettings>)> {
    let mut out = Vec::new();
    for account in accounts {
        let records = storage.list(account).await.expect("list");
        let records = records.iter().map(|r| format!("{r:?}")).collect();
        let log = storage.audit_log(account).await.expect("audit log");
        let mut access = Vec::new();
        for user in users {
            access.push(storage.access(account, user).await.expect("access"));
        }
        out.push((records, log, access));
    }
    out
}
