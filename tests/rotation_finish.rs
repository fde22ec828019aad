//! A rotation that finishes itself (issue 23, point 4), the background side: the task
//! that `finish_rotation_when_silent` starts looks at every rotation once a minute, on
//! the host's tokio runtime, and `shutdown` stops it; many rotations are read in batches;
//! two replicas on one PostgreSQL database never both finish one rotation.
//!
//! The rule itself is the domain's (`IntegrationRecord::finish_when_silent`, unit-tested
//! there); the admin's story of it runs on every backend in `tests/lifecycle.rs`. Here,
//! tokio's clock is paused and moved by hand, the rules' clock is a `ManualClock`: no
//! test sleeps.

mod support;

use std::sync::Arc;

use private_integrations::storage::{ChangeListener, LastUse};
use private_integrations::*;
use support::*;
use time::Duration;
use tokio::sync::watch;

/// The silence that finishes a rotation in these tests.
const SILENCE: Duration = Duration::hours(24);

/// How often the background pass runs (the library's constant).
const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Counts what the service announces, as a host's change listener hears it.
#[derive(Default)]
struct Heard(watch::Sender<usize>);

impl ChangeListener for Heard {
    fn tokens_changed(&self, _: &[TokenId]) {
        self.0.send_modify(|n| *n += 1);
    }

    fn announcements_lost(&self) {}
}

impl Heard {
    fn count(&self) -> usize {
        *self.0.borrow()
    }
}

/// A service on `storage` whose rotations finish after [`SILENCE`], on a manual clock at
/// [`T0`], telling `heard` of every change.
fn finishing(
    storage: impl Storage,
    clock: &ManualClock,
    heard: &Arc<Heard>,
) -> PrivateIntegrations {
    PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(clock.clone())
        .change_listener(heard.clone())
        .finish_rotation_when_silent(SILENCE)
        .build()
}

fn admin() -> Actor {
    Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"))
}

/// Lets every task that can run, run (tokio's clock paused: it does not move meanwhile).
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// An integration rotated (with grace) at the clock's time, its new token used a minute
/// later as the last-used writer would have written it: ready to finish once its old
/// token has been silent for [`SILENCE`]. Its id and its old and new tokens.
async fn rotated_and_used(
    pi: &PrivateIntegrations,
    storage: &dyn Storage,
    actor: &Actor,
) -> (IntegrationId, IssuedToken, IssuedToken) {
    let created = pi
        .create(
            actor,
            NewIntegration::new("Sync").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let id = created.integration.id().clone();
    let new = pi
        .rotate(actor, &id, RotationMode::ExpireLater)
        .await
        .unwrap()
        .token;
    let used = LastUse {
        token_id: *new.token_id(),
        at: pi.now() + Duration::MINUTE,
    };
    storage.record_last_used(&[used]).await.unwrap();
    (id, created.token, new)
}

async fn rotating(pi: &PrivateIntegrations, id: &IntegrationId) -> bool {
    pi.get(&admin(), id)
        .await
        .unwrap()
        .pending_rotation()
        .is_some()
}

async fn automatic_expiries(pi: &PrivateIntegrations, actor: &Actor) -> Vec<AuditEvent> {
    pi.audit_log(actor)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.action, AuditAction::PreviousExpiredAutomatically { .. }))
        .collect()
}

/// The task runs the pass a minute after `build`, then every minute: a rotation whose
/// old token has been silent long enough finishes at the next pass, is announced to the
/// change listeners, and is audited once.
#[tokio::test(start_paused = true)]
async fn the_background_task_finishes_silent_rotations_every_minute() {
    let start = tokio::time::Instant::now();
    let (storage, clock, heard) = (MemoryStorage::new(), ManualClock::new(T0), Arc::default());
    let pi = finishing(storage.clone(), &clock, &heard);
    let (id, old, new) = rotated_and_used(&pi, &storage, &admin()).await;
    // A day and a bit later (the rules' clock), the old token has been silent long enough.
    clock.set(T0 + SILENCE);
    let told = heard.count();

    // Not before the first minute is over.
    tokio::time::advance(EVERY - std::time::Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(heard.count(), told, "nothing before the first pass");
    assert!(rotating(&pi, &id).await);

    tokio::time::advance(std::time::Duration::from_millis(1)).await;
    let mut changes = heard.0.subscribe();
    changes.wait_for(|n| *n > told).await.unwrap();
    assert_eq!(
        start.elapsed(),
        EVERY,
        "the first pass, a minute after build"
    );
    assert!(!rotating(&pi, &id).await);
    assert!(matches!(
        pi.verify(old.expose_secret()).await,
        Err(VerifyError::Invalid)
    ));
    assert!(pi.verify(new.expose_secret()).await.is_ok());
    let events = automatic_expiries(&pi, &admin()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor.as_str(), AUTOMATIC_ACTOR);
    assert_eq!(events[0].integration.as_ref(), Some(&id));

    // Another rotation, ready between two passes: finished at the next one.
    let (second, _, _) = rotated_and_used(&pi, &storage, &admin()).await;
    clock.advance(SILENCE);
    let told = heard.count();
    tokio::time::advance(EVERY / 2).await;
    settle().await;
    assert!(rotating(&pi, &second).await, "not between passes");
    assert_eq!(heard.count(), told);
    tokio::time::advance(EVERY / 2).await;
    changes.wait_for(|n| *n > told).await.unwrap();
    assert_eq!(start.elapsed(), EVERY * 2);
    assert!(!rotating(&pi, &second).await);
    assert_eq!(automatic_expiries(&pi, &admin()).await.len(), 2);

    // Later passes find nothing more to do.
    let told = heard.count();
    tokio::time::advance(EVERY * 5).await;
    settle().await;
    assert_eq!(heard.count(), told);
    assert_eq!(automatic_expiries(&pi, &admin()).await.len(), 2);
    pi.shutdown().await;
}

/// `shutdown` stops the task: a rotation ready to finish is left alone afterwards. So
/// does dropping every handle of the service (the task holds it weakly).
#[tokio::test(start_paused = true)]
async fn shutdown_and_drop_stop_the_background_task() {
    for stop in ["shutdown", "drop"] {
        let (storage, clock, heard) = (MemoryStorage::new(), ManualClock::new(T0), Arc::default());
        let pi = finishing(storage.clone(), &clock, &heard);
        let (id, _, _) = rotated_and_used(&pi, &storage, &admin()).await;
        clock.set(T0 + SILENCE * 2);
        let told = heard.count();
        let reader = PrivateIntegrations::builder(storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .build();
        match stop {
            "shutdown" => pi.shutdown().await,
            _ => drop(pi),
        }
        tokio::time::advance(EVERY * 10).await;
        settle().await;
        assert_eq!(heard.count(), told, "{stop}: nothing announced");
        assert!(rotating(&reader, &id).await, "{stop}: the rotation goes on");
        assert!(
            automatic_expiries(&reader, &admin()).await.is_empty(),
            "{stop}"
        );
        reader.shutdown().await;
    }
}

/// Without the setting, no task looks at rotations: a silent one runs its window out.
#[tokio::test(start_paused = true)]
async fn off_by_default() {
    let (storage, clock) = (MemoryStorage::new(), ManualClock::new(T0));
    let pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(clock.clone())
        .build();
    assert_eq!(pi.finish_rotation_when_silent(), None);
    let (id, old, _) = rotated_and_used(&pi, &storage, &admin()).await;
    clock.set(T0 + SILENCE * 3);
    tokio::time::advance(EVERY * 10).await;
    settle().await;
    assert!(rotating(&pi, &id).await);
    assert!(pi.verify(old.expose_secret()).await.is_ok());
    assert_eq!(pi.finish_silent_rotations().await.unwrap(), 0);
    assert!(automatic_expiries(&pi, &admin()).await.is_empty());
    pi.shutdown().await;
}

/// A non-positive silence is a configuration bug, refused at start-up.
#[test]
#[should_panic(expected = "must be positive")]
fn a_silence_that_is_not_positive_panics() {
    let _ = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .finish_rotation_when_silent(Duration::ZERO);
}

/// More rotations than one storage call reads (100), in two accounts, some ready and
/// some not (the new token unused), interleaved: one pass goes through them all and
/// finishes exactly the ready ones.
async fn a_pass_reads_every_rotation_in_batches(storage: impl Storage + Clone) {
    let (clock, heard) = (ManualClock::new(T0), Arc::default());
    let pi = finishing(storage.clone(), &clock, &heard);
    let other = Actor::admin(AccountId::new("acct_2"), UserId::new("u_eve"));
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for n in 0..250 {
        let actor = if n % 3 == 0 { &other } else { &admin() };
        let actor = actor.clone();
        if n % 5 == 0 {
            let created = pi
                .create(
                    &actor,
                    NewIntegration::new("Unused").scopes(["contacts.readonly"]),
                )
                .await
                .unwrap();
            let id = created.integration.id().clone();
            pi.rotate(&actor, &id, RotationMode::ExpireLater)
                .await
                .unwrap();
            waiting.push((actor, id));
        } else {
            let (id, _, _) = rotated_and_used(&pi, &storage, &actor).await;
            ready.push((actor, id));
        }
        // Rotations that end at different instants, some at the same one.
        if n % 2 == 0 {
            clock.advance(Duration::SECOND);
        }
    }
    clock.advance(SILENCE + Duration::MINUTE);
    assert_eq!(pi.finish_silent_rotations().await.unwrap(), ready.len());
    for (actor, id) in &ready {
        let integration = pi.get(actor, id).await.unwrap();
        assert!(integration.pending_rotation().is_none());
    }
    for (actor, id) in &waiting {
        let integration = pi.get(actor, id).await.unwrap();
        assert!(integration.pending_rotation().is_some());
    }
    let events =
        automatic_expiries(&pi, &admin()).await.len() + automatic_expiries(&pi, &other).await.len();
    assert_eq!(events, ready.len());
    assert_eq!(pi.finish_silent_rotations().await.unwrap(), 0);
    pi.shutdown().await;
}

#[tokio::test]
async fn a_pass_reads_every_rotation_in_batches_in_memory() {
    a_pass_reads_every_rotation_in_batches(MemoryStorage::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_pass_reads_every_rotation_in_batches_on_sqlite() {
    a_pass_reads_every_rotation_in_batches(sqlite_in_memory().await).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    /// A replica: its own pool on the shared schema, its own clock (set alike).
    async fn replica(url: &str, schema: &str, clock: &ManualClock) -> PrivateIntegrations {
        let storage = PostgresStorage::new(pool_on(url, schema).await);
        storage.migrate().await.expect("migrate");
        finishing(storage, clock, &Arc::default())
    }

    /// Two replicas run the pass at once, over and over: every ready rotation is
    /// finished once, by one of them, with one audit event; the other's write lost the
    /// version check and did nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_never_both_finish_a_rotation() {
        let Some((url, schema)) = postgres_schema().await else {
            return;
        };
        let clocks = [ManualClock::new(T0), ManualClock::new(T0)];
        let replicas = [
            replica(&url, &schema, &clocks[0]).await,
            replica(&url, &schema, &clocks[1]).await,
        ];
        let storage = PostgresStorage::new(pool_on(&url, &schema).await);
        const ROUNDS: usize = 5;
        const PER_ROUND: usize = 12;
        let mut finished = 0;
        for round in 0..ROUNDS {
            let mut ids = Vec::new();
            for _ in 0..PER_ROUND {
                let (id, _, _) = rotated_and_used(&replicas[round % 2], &storage, &admin()).await;
                ids.push(id);
            }
            for clock in &clocks {
                clock.advance(SILENCE + Duration::MINUTE);
            }
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let passes = replicas.clone().map(|pi| {
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    barrier.wait().await;
                    pi.finish_silent_rotations().await.unwrap()
                })
            });
            let [a, b] = passes;
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            assert_eq!(a + b, PER_ROUND, "round {round}: {a} + {b}");
            finished += a + b;
            for id in &ids {
                assert!(!rotating(&replicas[0], id).await);
            }
        }
        let events = automatic_expiries(&replicas[1], &admin()).await;
        assert_eq!(events.len(), finished);
        let mut ids: Vec<_> = events.iter().map(|e| e.integration.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ROUNDS * PER_ROUND, "one event per rotation");
        for pi in &replicas {
            pi.shutdown().await;
        }
        drop_schema(&url, &schema).await;
    }

    /// An admin ending rotations on one replica while the other finishes them: each
    /// rotation ends once, either way, never both; the side that lost is told
    /// (`Conflict`, or no rotation in progress) or does nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_admin_and_the_pass_racing_end_a_rotation_once() {
        let Some((url, schema)) = postgres_schema().await else {
            return;
        };
        let clocks = [ManualClock::new(T0), ManualClock::new(T0)];
        let replicas = [
            replica(&url, &schema, &clocks[0]).await,
            replica(&url, &schema, &clocks[1]).await,
        ];
        let storage = PostgresStorage::new(pool_on(&url, &schema).await);
        let mut ids = Vec::new();
        for _ in 0..20 {
            let (id, _, _) = rotated_and_used(&replicas[0], &storage, &admin()).await;
            ids.push(id);
        }
        for clock in &clocks {
            clock.advance(SILENCE + Duration::MINUTE);
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let pass = {
            let (pi, barrier) = (replicas[0].clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                pi.finish_silent_rotations().await.unwrap()
            })
        };
        let cancels = {
            let (pi, barrier, ids) = (replicas[1].clone(), Arc::clone(&barrier), ids.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut cancelled = Vec::new();
                for id in ids.iter().rev() {
                    match pi.cancel_rotation(&admin(), id).await {
                        Ok(_) => cancelled.push(id.clone()),
                        Err(Error::Conflict | Error::NoRotationInProgress) => {}
                        Err(other) => panic!("cancel: {other:?}"),
                    }
                }
                cancelled
            })
        };
        let finished = pass.await.unwrap();
        let cancelled = cancels.await.unwrap();
        let log = replicas[0].audit_log(&admin()).await.unwrap();
        let mut automatic = 0;
        for id in &ids {
            let ends: Vec<&AuditAction> = log
                .iter()
                .filter(|e| e.integration.as_ref() == Some(id))
                .map(|e| &e.action)
                .filter(|a| {
                    matches!(
                        a,
                        AuditAction::RotationCancelled
                            | AuditAction::PreviousExpiredAutomatically { .. }
                    )
                })
                .collect();
            assert_eq!(ends.len(), 1, "{id}: {ends:?}");
            let by_admin = matches!(ends[0], AuditAction::RotationCancelled);
            assert_eq!(by_admin, cancelled.contains(id), "{id}");
            automatic += usize::from(!by_admin);
            assert!(!rotating(&replicas[1], id).await);
        }
        assert_eq!(automatic, finished);
        assert_eq!(finished + cancelled.len(), ids.len());
        for pi in &replicas {
            pi.shutdown().await;
        }
        drop_schema(&url, &schema).await;
    }
}
