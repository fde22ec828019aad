//! Last used, the admin's story: when each token was last used, written in batches off
//! the request path, at most once per token per interval; and a clean shutdown.
//!
//! The service runs on a `ManualClock` (the times admins see) and on tokio's paused time
//! (the writer's interval), so nothing here sleeps: the test moves time, then waits for
//! the batch the writer hands to storage.
//!
//! Also here: the service tells its change listeners of its own writes.

mod support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use private_integrations::storage::LastUse;
use private_integrations::*;
use support::faults::{Fault, Faults, FaultyStorage, Method};
use support::*;
use time::Duration;

const MINUTE: StdDuration = StdDuration::from_secs(60);

/// A service on memory storage wrapped to observe (and fail) last-used writes, built
/// here, on this test's runtime, with the default interval of one minute.
struct Story {
    pi: PrivateIntegrations,
    memory: MemoryStorage,
    faults: Faults,
    clock: ManualClock,
    admin: Actor,
}

impl Story {
    fn new() -> Self {
        Self::with(|builder| builder)
    }

    fn with(
        configure: impl FnOnce(
            PrivateIntegrationsBuilder<ScopeCatalog>,
        ) -> PrivateIntegrationsBuilder<ScopeCatalog>,
    ) -> Self {
        let memory = MemoryStorage::new();
        let faults = Faults::new();
        let clock = ManualClock::new(T0);
        let builder =
            PrivateIntegrations::builder(FaultyStorage::new(memory.clone(), faults.clone()))
                .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
                .clock(clock.clone());
        Self {
            pi: configure(builder).build(),
            memory,
            faults,
            clock,
            admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
        }
    }

    async fn create(&self) -> (IntegrationId, IssuedToken) {
        let created = self
            .pi
            .create(
                &self.admin,
                NewIntegration::new("Zapier").scopes(["contacts.readonly"]),
            )
            .await
            .unwrap();
        (created.integration.id().clone(), created.token)
    }

    async fn verify(&self, token: &IssuedToken) {
        self.pi
            .verify(token.expose_secret())
            .await
            .expect("verifies");
    }

    async fn get(&self, id: &IntegrationId) -> Integration {
        self.pi.get(&self.admin, id).await.unwrap()
    }

    /// Lets one interval pass, and waits (in paused time: up to a virtual hour) until the
    /// writer has written `n` batches in all.
    async fn interval_passes(&self, n: usize) -> Vec<Vec<LastUse>> {
        tokio::time::advance(MINUTE).await;
        tokio::time::timeout(60 * MINUTE, self.faults.wait_for_batches(n))
            .await
            .unwrap_or_else(|_| panic!("batch {n} was never written"))
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// The metrics publisher, a task of its own with the `metrics` feature.
const METRICS_TASK: usize = if cfg!(feature = "metrics") { 1 } else { 0 };

#[tokio::test(start_paused = true)]
async fn the_admin_sees_when_each_token_was_last_used() {
    let s = Story::new();
    let (id, first) = s.create().await;
    assert_eq!(s.get(&id).await.last_used_at(), None, "never used");

    // The third party calls at 09:00:05 and 09:00:40: the first use of the interval is
    // what is written, once the interval ends.
    s.clock.advance(Duration::seconds(5));
    s.verify(&first).await;
    s.clock.advance(Duration::seconds(35));
    s.verify(&first).await;
    assert_eq!(s.get(&id).await.last_used_at(), None, "not written yet");
    s.interval_passes(1).await;
    let at_first_use = T0 + Duration::seconds(5);
    assert_eq!(s.get(&id).await.last_used_at(), Some(at_first_use));

    // The admin rotates, keeping the old token for the grace period. The new token has
    // not been used; the old one keeps its time.
    s.clock.advance(Duration::minutes(10));
    let second =
        s.pi.rotate(&s.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    let rotated = s.get(&id).await;
    assert_eq!(rotated.last_used_at(), None);
    let pending = rotated.pending_rotation().unwrap();
    assert_eq!(pending.previous_last_used_at(), Some(at_first_use));

    // Two days later the third party still calls with the old token: the admin sees it.
    s.clock.advance(Duration::days(2));
    s.verify(&first).await;
    s.interval_passes(2).await;
    let still_old = T0 + Duration::minutes(10) + Duration::seconds(40) + Duration::days(2);
    let integration = s.get(&id).await;
    assert_eq!(integration.last_used_at(), None);
    assert_eq!(
        integration
            .pending_rotation()
            .unwrap()
            .previous_last_used_at(),
        Some(still_old)
    );

    // It switches; the admin sees the new token used, and the old one no longer.
    s.clock.advance(Duration::hours(1));
    s.verify(&second).await;
    s.interval_passes(3).await;
    let switched = still_old + Duration::hours(1);
    let integration = s.get(&id).await;
    assert_eq!(integration.last_used_at(), Some(switched));
    assert_eq!(
        integration
            .pending_rotation()
            .unwrap()
            .previous_last_used_at(),
        Some(still_old)
    );
    let json = serde_json::to_value(&integration).unwrap();
    assert_eq!(
        json["last_used_at"],
        serde_json::json!(
            switched
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        )
    );
    assert!(json["pending_rotation"]["previous_last_used_at"].is_string());

    // The rename of an edit keeps the time; expiring the old token drops it.
    let renamed =
        s.pi.update(&s.admin, &id, IntegrationUpdate::new().name("Zapier v2"))
            .await
            .unwrap();
    assert_eq!(renamed.last_used_at(), Some(switched));
    let expired = s.pi.expire_previous_now(&s.admin, &id).await.unwrap();
    assert_eq!(expired.last_used_at(), Some(switched));
    assert!(expired.pending_rotation().is_none());
    assert_eq!(
        s.pi.list(&s.admin).await.unwrap()[0].last_used_at(),
        Some(switched)
    );
    assert_eq!(s.pi.last_used_stats().batches, 3);
}

#[tokio::test(start_paused = true)]
async fn each_token_is_written_at_most_once_per_interval_and_never_by_verify() {
    let s = Story::new();
    let (a_id, a) = s.create().await;
    let (b_id, b) = s.create().await;
    for n in 0..100 {
        s.clock.advance(Duration::milliseconds(100));
        s.verify(if n % 3 == 0 { &b } else { &a }).await;
    }
    // A hundred verifications, and not one storage write.
    assert!(s.faults.batches().is_empty(), "verify wrote to storage");
    let batches = s.interval_passes(1).await;
    let mut batch = batches[0].clone();
    batch.sort_by_key(|u| u.at);
    let token_id = |id: &IntegrationId| {
        let get = s.memory.clone();
        let admin = s.admin.clone();
        let id = id.clone();
        async move {
            get.get(admin.account(), &id)
                .await
                .unwrap()
                .unwrap()
                .credentials
                .current()
                .id
        }
    };
    assert_eq!(
        batch,
        [
            LastUse {
                token_id: token_id(&b_id).await,
                at: T0 + Duration::milliseconds(100)
            },
            LastUse {
                token_id: token_id(&a_id).await,
                at: T0 + Duration::milliseconds(200)
            },
        ],
        "one use per token: its first in the interval"
    );
    // An interval with no use writes nothing.
    tokio::time::advance(5 * MINUTE).await;
    s.verify(&a).await;
    let batches = s.interval_passes(2).await;
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].len(), 1);
    let stats = s.pi.last_used_stats();
    assert_eq!((stats.batches, stats.uses_written), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn a_batch_that_fails_is_written_with_the_next() {
    let s = Story::new();
    let (id, token) = s.create().await;
    s.faults.on_next(Method::RecordLastUsed, Fault::FailBefore);
    s.verify(&token).await;
    tokio::time::advance(MINUTE).await;
    // The failed write is not a batch that reached storage; the next one carries it.
    let batches = s.interval_passes(1).await;
    assert_eq!(batches[0].len(), 1);
    assert_eq!(s.get(&id).await.last_used_at(), Some(T0));
    let stats = s.pi.last_used_stats();
    assert_eq!((stats.failed_batches, stats.batches), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn shutdown_writes_the_pending_batch_and_leaves_no_task() {
    let s = Story::new();
    let (id, token) = s.create().await;
    assert_eq!(
        alive_tasks(),
        2 + METRICS_TASK,
        "the writer and the housekeeping run (and the metrics publisher)"
    );
    s.verify(&token).await;
    // No time passes: the batch is pending when the server stops.
    s.pi.shutdown().await;
    assert_eq!(alive_tasks(), 0, "a task still runs after shutdown");
    assert_eq!(s.faults.batches().len(), 1);
    assert_eq!(s.get(&id).await.last_used_at(), Some(T0));
    // Idempotent; and the service still answers, only uses are no longer written.
    s.pi.shutdown().await;
    s.clock.advance(Duration::minutes(5));
    s.verify(&token).await;
    tokio::time::advance(10 * MINUTE).await;
    tokio::task::yield_now().await;
    assert_eq!(s.get(&id).await.last_used_at(), Some(T0));
}

#[tokio::test(start_paused = true)]
async fn dropped_without_shutdown_the_writer_still_writes_while_the_runtime_runs() {
    let s = Story::new();
    let (id, token) = s.create().await;
    s.verify(&token).await;
    let faults = s.faults.clone();
    let memory = s.memory.clone();
    let admin = s.admin.clone();
    drop(s);
    tokio::time::timeout(60 * MINUTE, faults.wait_for_batches(1))
        .await
        .expect("the pending batch is written");
    let stored = memory.get(admin.account(), &id).await.unwrap().unwrap();
    assert_eq!(
        stored.last_used.get(&stored.credentials.current().id),
        Some(T0)
    );
    let ended = async {
        while alive_tasks() > 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(MINUTE, ended)
        .await
        .expect("the writer ends once it has written");
}

#[tokio::test(start_paused = true)]
async fn a_zero_interval_records_nothing() {
    let s = Story::with(|b| b.last_used_interval(Duration::ZERO));
    let (id, token) = s.create().await;
    assert_eq!(
        alive_tasks(),
        1 + METRICS_TASK,
        "no writer, only the housekeeping (and the metrics publisher)"
    );
    s.verify(&token).await;
    s.pi.shutdown().await;
    tokio::time::advance(10 * MINUTE).await;
    assert!(s.faults.batches().is_empty());
    assert_eq!(s.get(&id).await.last_used_at(), None);
}

#[test]
fn built_outside_a_runtime_it_records_nothing() {
    let s = Story::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (id, token) = s.create().await;
        s.verify(&token).await;
        s.pi.shutdown().await;
        tokio::time::advance(10 * MINUTE).await;
        assert!(s.faults.batches().is_empty());
        assert_eq!(s.get(&id).await.last_used_at(), None);
        assert_eq!(alive_tasks(), 0);
    });
}

#[test]
#[should_panic(expected = "the last-used interval must not be negative")]
fn a_negative_interval_is_a_configuration_bug() {
    let _ = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .last_used_interval(Duration::seconds(-1));
}

/// The last-used times survive on every backend: the same story on SQLite.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn last_used_is_stored_by_sqlite_too() {
    let storage = sqlite_in_memory().await;
    let clock = ManualClock::new(T0);
    let pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(clock.clone())
        .build();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let created = pi
        .create(
            &admin,
            NewIntegration::new("Sync").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    pi.verify(created.token.expose_secret()).await.unwrap();
    pi.shutdown().await;
    let again = PrivateIntegrations::builder(Arc::new(storage) as Arc<dyn Storage>)
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .build();
    assert_eq!(
        again
            .get(&admin, created.integration.id())
            .await
            .unwrap()
            .last_used_at(),
        Some(T0)
    );
}

// ---------------------------------------------------------------------------------------
// The service's change listeners.

/// Writes down the token ids it is told of.
#[derive(Default)]
struct Ears(std::sync::Mutex<Vec<Option<Vec<TokenId>>>>);

impl storage::ChangeListener for Ears {
    fn tokens_changed(&self, token_ids: &[TokenId]) {
        self.0.lock().unwrap().push(Some(token_ids.to_vec()));
    }

    fn announcements_lost(&self) {
        self.0.lock().unwrap().push(None);
    }
}

impl Ears {
    fn heard(&self) -> Vec<Option<Vec<TokenId>>> {
        self.0.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    fn tokens(&self) -> std::collections::BTreeSet<TokenId> {
        self.heard().into_iter().flatten().flatten().collect()
    }
}

/// The service tells its change listeners of its own writes before each call returns,
/// on any storage (here in memory, which announces nothing else).
#[tokio::test]
async fn the_service_announces_its_own_writes_before_returning() {
    let ears = Arc::new(Ears::default());
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .change_listener(ears.clone())
        .build();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let created = pi
        .create(
            &admin,
            NewIntegration::new("Zapier").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let id = created.integration.id().clone();
    let first = ears.tokens();
    assert_eq!(first.len(), 1, "create: {:?}", ears.heard());

    ears.clear();
    pi.rotate(&admin, &id, RotationMode::ExpireLater)
        .await
        .unwrap();
    let both = ears.tokens();
    assert!(
        both.is_superset(&first) && both.len() == 2,
        "rotate: {both:?}"
    );
    for action in ["edit", "cancel", "delete"] {
        ears.clear();
        match action {
            "edit" => drop(
                pi.update(
                    &admin,
                    &id,
                    IntegrationUpdate::new().scopes(["contacts.write"]),
                )
                .await
                .unwrap(),
            ),
            "cancel" => drop(pi.cancel_rotation(&admin, &id).await.unwrap()),
            _ => pi.delete(&admin, &id).await.unwrap(),
        }
        assert!(
            ears.tokens().is_superset(&first),
            "{action}: {:?}",
            ears.heard()
        );
    }
    // A call refused before it reaches storage announces nothing.
    ears.clear();
    assert!(pi.delete(&admin, &id).await.is_err());
    assert!(ears.heard().is_empty());
    assert!(pi.listener_stats().is_none(), "memory storage: no watch");
}

#[tokio::test(start_paused = true)]
async fn an_enormous_interval_still_writes_on_shutdown() {
    let s = Story::with(|b| b.last_used_interval(Duration::MAX));
    let (id, token) = s.create().await;
    s.verify(&token).await;
    tokio::time::advance(10 * MINUTE).await;
    tokio::task::yield_now().await;
    assert!(s.faults.batches().is_empty());
    s.pi.shutdown().await;
    assert_eq!(s.get(&id).await.last_used_at(), Some(T0));
}
