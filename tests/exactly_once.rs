//! Exactly once (issue 19), end to end:
//!
//! - **A call dropped while its write is under way** (a client that went away): the
//!   write still lands, and the cache and every listener hear of it once it has landed,
//!   not before. Verification in between still sees the old record (the change has not
//!   landed); once announced, the revoked token is refused at once, not after the cache's
//!   time-to-live. For `delete`, `rotate(ExpireNow)`, `expire_previous_now` and an
//!   `update` that narrows scopes, on `MemoryStorage` and `SqliteStorage` (each with a
//!   verification cache chosen) and `PostgresStorage` (its default cache). The storage's
//!   writes land later on a task of their own, as sqlx's SQLite worker does, held at a
//!   gate the test opens ([`support::gate`]): no sleeps.
//! - **One key, many callers at once**, on two replicas of one PostgreSQL database:
//!   exactly one change is made; every other caller is told it was already done (naming
//!   the same integration) or is in progress.
//! - **Housekeeping** keeps a key's record at least 24 hours and removes it after, on
//!   tokio's paused clock and a `ManualClock`.
//!
//! The PostgreSQL cases work in a schema of their own; without `DATABASE_URL` they say
//! why and skip, except under `CI=true`, where they fail.

#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod support;

use std::sync::{Arc, Mutex};

use private_integrations::storage::ChangeListener;
use private_integrations::*;
use support::gate::{HeldWrites, WriteGate};
use support::*;
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------
// A call dropped while its write is under way.

/// What the service's change listeners were told, as one registered with
/// `PrivateIntegrationsBuilder::change_listener` hears it (after the cache).
#[derive(Default)]
struct Heard {
    /// Every token id announced, in order.
    changed: Mutex<Vec<TokenId>>,
    /// Times announcements were lost (a listener's first flush, among others).
    lost: Mutex<usize>,
    /// Bumped at every call, to wake the waiters.
    told: watch::Sender<u64>,
}

impl ChangeListener for Heard {
    fn tokens_changed(&self, token_ids: &[TokenId]) {
        self.changed.lock().unwrap().extend_from_slice(token_ids);
        self.told.send_modify(|n| *n += 1);
    }

    fn announcements_lost(&self) {
        *self.lost.lock().unwrap() += 1;
        self.told.send_modify(|n| *n += 1);
    }
}

impl Heard {
    /// Times `id` was announced so far.
    fn times(&self, id: &TokenId) -> usize {
        self.changed
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == id)
            .count()
    }

    /// Waits until `id` was announced `n` times in all.
    async fn until_told(&self, id: &TokenId, n: usize) {
        let mut told = self.told.subscribe();
        told.wait_for(|_| self.times(id) >= n).await.unwrap();
    }

    /// Waits until announcements were lost `n` times in all.
    async fn until_lost(&self, n: usize) {
        let mut told = self.told.subscribe();
        told.wait_for(|_| *self.lost.lock().unwrap() >= n)
            .await
            .unwrap();
    }
}

/// A service whose storage holds its integration writes at a gate.
struct Held {
    pi: PrivateIntegrations,
    gate: Arc<WriteGate>,
    heard: Arc<Heard>,
    admin: Actor,
    /// Whether the storage announces committed changes itself (PostgreSQL), besides
    /// the service's own announcements.
    announces: bool,
    /// The PostgreSQL schema to drop at the end.
    schema: Option<(String, String)>,
}

impl Held {
    /// A service on `storage` behind a [`HeldWrites`], with `cache` (`None`: the
    /// builder's default) and a [`Heard`] listener.
    fn new(storage: impl Storage, cache: Option<VerificationCache>) -> Self {
        let (storage, gate) = HeldWrites::new(storage);
        let heard = Arc::new(Heard::default());
        let builder = PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(ManualClock::new(T0))
            .change_listener(heard.clone());
        let pi = match cache {
            Some(cache) => builder.verification_cache(cache),
            None => builder,
        }
        .build();
        assert!(
            pi.cache_stats().is_some(),
            "the service caches verifications"
        );
        Self {
            pi,
            gate,
            heard,
            admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
            announces: false,
            schema: None,
        }
    }

    async fn memory() -> Self {
        Self::new(MemoryStorage::new(), Some(VerificationCache::new()))
    }

    async fn sqlite() -> Self {
        Self::new(sqlite_in_memory().await, Some(VerificationCache::new()))
    }

    /// On a fresh PostgreSQL schema, with the default cache, listening once this
    /// returns; `None` (skipped) without `DATABASE_URL`.
    async fn postgres() -> Option<Self> {
        let (url, schema) = postgres_schema().await?;
        let storage = PostgresStorage::new(pool_on(&url, &schema).await);
        storage.migrate().await.expect("migrate");
        let mut held = Self::new(storage, None);
        // The listener's first flush: it listens from now on.
        held.heard.until_lost(1).await;
        held.announces = true;
        held.schema = Some((url, schema));
        Some(held)
    }

    /// Once this returns, every announcement of the changes made so far has been heard:
    /// with a storage that announces (PostgreSQL, in commit order), a change made after
    /// them all is heard from the storage too, so theirs were heard before.
    async fn settle(&self) {
        if !self.announces {
            return;
        }
        let created = self
            .pi
            .create(
                &self.admin,
                NewIntegration::new("Sentinel").scopes(["contacts.readonly"]),
            )
            .await
            .expect("create the sentinel");
        // Once from the service, at least once from the storage.
        self.heard.until_told(created.token.token_id(), 2).await;
    }

    async fn end(self) {
        self.pi.shutdown().await;
        if let Some((url, schema)) = self.schema {
            drop_schema(&url, &schema).await;
        }
    }
}

/// The call the client makes, then goes away from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoke {
    Delete,
    RotateNow,
    ExpirePreviousNow,
    /// An update from two scopes to `contacts.readonly` alone.
    NarrowScopes,
}

/// Creates an integration (and for `ExpirePreviousNow` rotates it with a grace period),
/// fills the cache with its token, then starts `revoke` in a task and aborts the task
/// once the write has reached storage. In the window before the write lands the token
/// still verifies as before and no listener has been told; once the gate opens, the
/// write lands, is announced, and the token is refused (or, for the narrowed scopes,
/// the removed scope is) at once.
async fn dropped_call_lands_then_is_announced(held: Held, revoke: Revoke) {
    let (pi, admin) = (&held.pi, &held.admin);
    let created = pi
        .create(
            admin,
            NewIntegration::new("Zapier").scopes(["contacts.readonly", "contacts.write"]),
        )
        .await
        .expect("create");
    let id = created.integration.id().clone();
    let token = created.token;
    // For `ExpirePreviousNow`: the new token, which must keep working.
    let kept = match revoke {
        Revoke::ExpirePreviousNow => Some(
            pi.rotate(admin, &id, RotationMode::ExpireLater)
                .await
                .expect("rotate with a grace period")
                .token,
        ),
        _ => None,
    };
    held.settle().await;

    // The cache holds the token.
    let verified = pi.verify(token.expose_secret()).await.expect("verifies");
    verified.require_scope("contacts.write").expect("in scope");
    if let Some(kept) = &kept {
        pi.verify(kept.expose_secret())
            .await
            .expect("the new token verifies");
    }
    let before = pi.get(admin, &id).await.expect("get");
    let affected = *token.token_id();
    let told = held.heard.times(&affected);

    // The client calls, the write reaches storage, the client goes away.
    held.gate.hold();
    let (waiting, landed) = (held.gate.waiting(), held.gate.landed());
    let call = {
        let (pi, admin, id) = (pi.clone(), admin.clone(), id.clone());
        tokio::spawn(async move {
            match revoke {
                Revoke::Delete => pi.delete(&admin, &id).await,
                Revoke::RotateNow => pi
                    .rotate(&admin, &id, RotationMode::ExpireNow)
                    .await
                    .map(drop),
                Revoke::ExpirePreviousNow => pi.expire_previous_now(&admin, &id).await.map(drop),
                Revoke::NarrowScopes => pi
                    .update(
                        &admin,
                        &id,
                        IntegrationUpdate::new().scopes(["contacts.readonly"]),
                    )
                    .await
                    .map(drop),
            }
        })
    };
    held.gate.until_waiting(waiting + 1).await;
    call.abort();
    let aborted = call.await;
    assert!(
        aborted.as_ref().is_err_and(|err| err.is_cancelled()),
        "{revoke:?}: the call was cancelled while its write was held, got {aborted:?}"
    );

    // The window: the write has not landed, so nothing changed yet, and nobody was told.
    for _ in 0..2 {
        let verified = pi
            .verify(token.expose_secret())
            .await
            .unwrap_or_else(|err| panic!("{revoke:?}: refused before the write landed: {err:?}"));
        verified
            .require_scope("contacts.write")
            .expect("still in scope before the write landed");
    }
    assert_eq!(
        held.heard.times(&affected),
        told,
        "{revoke:?}: the listeners were told before the write landed"
    );
    assert_eq!(held.gate.landed(), landed, "{revoke:?}: landed while held");
    assert_eq!(
        pi.get(admin, &id).await.expect("get").version(),
        before.version()
    );

    // The write lands, and is announced.
    held.gate.release();
    held.gate.until_landed(landed + 1).await;
    held.heard.until_told(&affected, told + 1).await;

    match revoke {
        Revoke::NarrowScopes => {
            let verified = pi
                .verify(token.expose_secret())
                .await
                .expect("the token itself still works");
            assert!(
                matches!(
                    verified.require_scope("contacts.write"),
                    Err(VerifyError::InsufficientScope { .. })
                ),
                "the removed scope is refused at once"
            );
            verified.require_scope("contacts.readonly").expect("kept");
        }
        _ => assert!(
            matches!(
                pi.verify(token.expose_secret()).await,
                Err(VerifyError::Invalid)
            ),
            "{revoke:?}: the revoked token is refused at once"
        ),
    }
    let action = match revoke {
        Revoke::Delete => {
            assert!(matches!(pi.get(admin, &id).await, Err(Error::NotFound)));
            AuditAction::Deleted
        }
        Revoke::RotateNow => {
            let after = pi.get(admin, &id).await.expect("get");
            assert_eq!(after.version(), before.version() + 1);
            assert!(after.pending_rotation().is_none());
            AuditAction::Rotated {
                mode: RotationMode::ExpireNow,
            }
        }
        Revoke::ExpirePreviousNow => {
            let after = pi.get(admin, &id).await.expect("get");
            assert_eq!(after.version(), before.version() + 1);
            assert!(before.pending_rotation().is_some());
            assert!(after.pending_rotation().is_none());
            let kept = kept.as_ref().expect("the new token");
            pi.verify(kept.expose_secret())
                .await
                .expect("the new token still verifies");
            AuditAction::PreviousExpired
        }
        Revoke::NarrowScopes => {
            let after = pi.get(admin, &id).await.expect("get");
            assert_eq!(after.version(), before.version() + 1);
            let scopes: Vec<&str> = after.scopes().iter().collect();
            assert_eq!(scopes, ["contacts.readonly"]);
            AuditAction::Updated
        }
    };
    let log = pi.audit_log(admin).await.expect("audit log");
    let events: Vec<&AuditAction> = log
        .iter()
        .filter(|e| e.integration.as_ref() == Some(&id) && e.action == action)
        .map(|e| &e.action)
        .collect();
    assert_eq!(events.len(), 1, "{revoke:?}: one audit event, got {log:?}");
    held.end().await;
}

/// One test per backend and call.
macro_rules! dropped_call_cases {
    ($($backend:ident => $held:expr;)*) => {
        $(
            mod $backend {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn a_dropped_delete_lands_then_is_announced() {
                    let Some(held) = $held else { return };
                    dropped_call_lands_then_is_announced(held, Revoke::Delete).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn a_dropped_rotation_now_lands_then_is_announced() {
                    let Some(held) = $held else { return };
                    dropped_call_lands_then_is_announced(held, Revoke::RotateNow).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn a_dropped_expire_previous_now_lands_then_is_announced() {
                    let Some(held) = $held else { return };
                    dropped_call_lands_then_is_announced(held, Revoke::ExpirePreviousNow).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn a_dropped_scope_narrowing_lands_then_is_announced() {
                    let Some(held) = $held else { return };
                    dropped_call_lands_then_is_announced(held, Revoke::NarrowScopes).await;
                }
            }
        )*
    };
}

dropped_call_cases! {
    memory => Some(Held::memory().await);
}

#[cfg(feature = "sqlite")]
dropped_call_cases! {
    sqlite => Some(Held::sqlite().await);
}

#[cfg(feature = "postgres")]
dropped_call_cases! {
    postgres => Held::postgres().await;
}

// ---------------------------------------------------------------------------------------
// One key, many callers at once, on two replicas.

#[cfg(feature = "postgres")]
mod race {
    use super::*;
    use tokio::sync::Barrier;
    use tokio::task::JoinSet;

    const TASKS: usize = 16;

    /// A replica: its own pool on the shared schema, its own in-flight keys.
    async fn replica(url: &str, schema: &str) -> PrivateIntegrations {
        let storage = PostgresStorage::new(pool_on(url, schema).await);
        storage.migrate().await.expect("migrate");
        PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .build()
    }

    /// What the racing calls got: the one that made the change, the integrations the
    /// others were told of, and how many were told the first was in progress.
    struct Results<T> {
        done: Vec<T>,
        already: Vec<IntegrationId>,
        in_progress: usize,
    }

    /// Runs `call` on `TASKS` tasks, half on each replica, all released at once.
    async fn race<T, F>(
        replicas: &[PrivateIntegrations; 2],
        call: impl Fn(PrivateIntegrations) -> F,
    ) -> Results<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<Outcome<T>, Error>> + Send + 'static,
    {
        let barrier = Arc::new(Barrier::new(TASKS));
        let mut tasks = JoinSet::new();
        for n in 0..TASKS {
            let (barrier, call) = (Arc::clone(&barrier), call(replicas[n % 2].clone()));
            tasks.spawn(async move {
                barrier.wait().await;
                call.await
            });
        }
        let mut results = Results {
            done: Vec::new(),
            already: Vec::new(),
            in_progress: 0,
        };
        while let Some(result) = tasks.join_next().await {
            match result.expect("the task ran") {
                Ok(Outcome::Done(value)) => results.done.push(value),
                Ok(Outcome::AlreadyDone(first)) => results.already.push(
                    first
                        .integration
                        .expect("a replay names the integration")
                        .id()
                        .clone(),
                ),
                Err(Error::RequestInProgress) => results.in_progress += 1,
                Err(other) => panic!("a racing call failed: {other:?}"),
            }
        }
        assert_eq!(
            results.done.len() + results.already.len() + results.in_progress,
            TASKS
        );
        // The keys in flight are per replica: the other replica's first caller went to
        // the database, and was told of the change made there.
        assert!(
            !results.already.is_empty(),
            "no caller was told of the first call"
        );
        results
    }

    /// 16 callers on two replicas create with one key at once: one integration, one
    /// audit event; every other caller is told of that integration or that the first
    /// call is in progress.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_creates_with_one_key_create_once() {
        let Some((url, schema)) = postgres_schema().await else {
            return;
        };
        let replicas = [replica(&url, &schema).await, replica(&url, &schema).await];
        let admin = Actor::admin(AccountId::new("acct_once"), UserId::new("u_admin"));
        let key = IdempotencyKey::new("create-zapier-once").unwrap();

        let results = race(&replicas, |pi| {
            let (admin, key) = (admin.clone(), key.clone());
            async move {
                let new = NewIntegration::new("Zapier").scopes(["contacts.readonly"]);
                pi.once(&admin, &key).create(new).await
            }
        })
        .await;

        assert_eq!(results.done.len(), 1, "exactly one call created");
        let created = &results.done[0];
        let id = created.integration.id();
        assert!(results.already.iter().all(|other| other == id));
        let listed = replicas[1].list(&admin).await.expect("list");
        assert_eq!(listed.len(), 1, "one integration");
        assert_eq!(listed[0].id(), id);
        let log = replicas[0].audit_log(&admin).await.expect("audit log");
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].action, AuditAction::Created);
        for pi in &replicas {
            pi.verify(created.token.expose_secret())
                .await
                .expect("the token shown once verifies");
        }
        eprintln!(
            "create race: 1 done, {} already done, {} in progress",
            results.already.len(),
            results.in_progress
        );
        drop_schema(&url, &schema).await;
    }

    /// 16 callers on two replicas rotate one integration with one key at once: it is
    /// rotated once (its version moves by one, one audit event), the old token is refused
    /// and the one new token verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_rotations_with_one_key_rotate_once() {
        let Some((url, schema)) = postgres_schema().await else {
            return;
        };
        let replicas = [replica(&url, &schema).await, replica(&url, &schema).await];
        let admin = Actor::admin(AccountId::new("acct_once"), UserId::new("u_admin"));
        let created = replicas[0]
            .create(
                &admin,
                NewIntegration::new("Zapier").scopes(["contacts.readonly"]),
            )
            .await
            .expect("create");
        let id = created.integration.id().clone();
        let version = created.integration.version();
        let key = IdempotencyKey::new("rotate-zapier-now").unwrap();

        let results = race(&replicas, |pi| {
            let (admin, key, id) = (admin.clone(), key.clone(), id.clone());
            async move {
                pi.once(&admin, &key)
                    .rotate(&id, RotationMode::ExpireNow)
                    .await
            }
        })
        .await;

        assert_eq!(results.done.len(), 1, "exactly one call rotated");
        assert!(results.already.iter().all(|other| *other == id));
        let rotated = &results.done[0];
        assert_eq!(rotated.integration.version(), version + 1);
        for pi in &replicas {
            assert_eq!(
                pi.get(&admin, &id).await.expect("get").version(),
                version + 1
            );
            assert!(matches!(
                pi.verify(created.token.expose_secret()).await,
                Err(VerifyError::Invalid)
            ));
            pi.verify(rotated.token.expose_secret())
                .await
                .expect("the new token verifies");
        }
        let log = replicas[1].audit_log(&admin).await.expect("audit log");
        let rotations = log
            .iter()
            .filter(|e| matches!(e.action, AuditAction::Rotated { .. }))
            .count();
        assert_eq!(rotations, 1, "{log:?}");
        eprintln!(
            "rotate race: 1 done, {} already done, {} in progress",
            results.already.len(),
            results.in_progress
        );
        drop_schema(&url, &schema).await;
    }
}

// ---------------------------------------------------------------------------------------
// Housekeeping.

/// Records are kept at least 24 hours (a retry replays), and removed by the hourly sweep
/// after: 2,500 keyed changes, half made 30 minutes after the others, swept in batches.
#[tokio::test(start_paused = true)]
async fn housekeeping_keeps_records_a_day_then_removes_them() {
    const CHANGES: usize = 2_500;
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(clock.clone())
        .build();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    // The sweep at build.
    gate.until_sweeps(1).await;

    let keys: Vec<IdempotencyKey> = (0..CHANGES)
        .map(|n| IdempotencyKey::new(&format!("switch-{n}")).unwrap())
        .collect();
    let half = CHANGES / 2;
    for (n, key) in keys.iter().enumerate() {
        if n == half {
            clock.advance(time::Duration::minutes(30));
        }
        let outcome = pi.once(&admin, key).set_feature_enabled(n % 2 == 0).await;
        assert!(matches!(outcome, Ok(Outcome::Done(()))), "{outcome:?}");
    }
    let (older, newer) = keys.split_at(half);

    // 23 hours, then exactly 24 hours after the older half: all kept, a retry replays.
    for at in [
        T0 + time::Duration::hours(23),
        T0 + time::Duration::hours(24),
    ] {
        sweep_at(&clock, &gate, at).await;
        assert_eq!(kept(&storage, &admin, older).await, half, "at {at}");
        assert_eq!(
            kept(&storage, &admin, newer).await,
            CHANGES - half,
            "at {at}"
        );
        let retry = pi.once(&admin, &older[0]).set_feature_enabled(true).await;
        assert!(matches!(retry, Ok(Outcome::AlreadyDone(_))), "{retry:?}");
    }

    // Past 24 hours for the older half only.
    let at = T0 + time::Duration::hours(24) + time::Duration::SECOND;
    sweep_at(&clock, &gate, at).await;
    assert_eq!(
        kept(&storage, &admin, older).await,
        0,
        "the older half is removed"
    );
    let newer_kept = kept(&storage, &admin, newer).await;
    assert_eq!(newer_kept, CHANGES - half, "the newer half is kept");

    // Past 24 hours for both.
    let at = T0 + time::Duration::minutes(24 * 60 + 30) + time::Duration::SECOND;
    sweep_at(&clock, &gate, at).await;
    assert_eq!(
        kept(&storage, &admin, newer).await,
        0,
        "the newer half is removed"
    );
    // Forgotten: the same key makes the change again.
    let again = pi.once(&admin, &older[0]).set_feature_enabled(true).await;
    assert!(matches!(again, Ok(Outcome::Done(()))), "{again:?}");
    pi.shutdown().await;
}

/// Sets the manual clock to `at`, lets one sweep interval of tokio time pass, and waits
/// for the sweep it brings to end.
async fn sweep_at(clock: &ManualClock, gate: &WriteGate, at: time::OffsetDateTime) {
    const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
    clock.set(at);
    let sweeps = gate.sweeps();
    tokio::time::advance(SWEEP_EVERY).await;
    gate.until_sweeps(sweeps + 1).await;
}

/// How many of `keys` (of `admin`) still have their record.
async fn kept(storage: &impl Storage, admin: &Actor, keys: &[IdempotencyKey]) -> usize {
    let mut kept = 0;
    for key in keys {
        let record = storage
            .idempotency_record(admin.account(), admin.user(), key)
            .await
            .expect("read");
        kept += usize::from(record.is_some());
    }
    kept
}
