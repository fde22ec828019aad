//! Many replicas on one PostgreSQL: every committed change that affects verification is
//! announced by PostgreSQL itself (also when made by hand in SQL), every replica hears
//! it, a lost or silent listener reconnects and says announcements may have been missed,
//! and an outage is bounded. The network is broken with a TCP proxy the test owns
//! (`support::proxy`), never by touching the shared server.
//!
//! Each test works in a schema of its own; without `DATABASE_URL` they say why and skip,
//! except under `CI=true`, where they fail. A test waits for events with a generous
//! timeout; it never sleeps to synchronize.
#![cfg(feature = "postgres")]

mod support;

#[cfg(feature = "axum")]
#[path = "../examples/server/app.rs"]
mod app;

use std::collections::BTreeSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use private_integrations::storage::sqlx::postgres::PgPoolOptions;
use private_integrations::storage::sqlx::{self, PgPool};
use private_integrations::storage::{self as store, ChangeListener, ListenerStats, Watch};
use private_integrations::*;
use support::proxy::Proxy;
use support::*;
use tokio::sync::Notify;

/// How long a test waits for something that should happen within a few seconds.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// A listener that writes down what it hears.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Tokens(BTreeSet<TokenId>),
    Lost,
}

#[derive(Default)]
struct Ears {
    heard: Mutex<Vec<Heard>>,
    news: Notify,
    /// Token ids left out of [`Ears::tokens`] (markers).
    ignored: Mutex<BTreeSet<TokenId>>,
}

impl ChangeListener for Ears {
    fn tokens_changed(&self, token_ids: &[TokenId]) {
        self.hear(Heard::Tokens(token_ids.iter().copied().collect()));
    }

    fn announcements_lost(&self) {
        self.hear(Heard::Lost);
    }
}

impl Ears {
    fn hear(&self, heard: Heard) {
        self.heard.lock().unwrap().push(heard);
        self.news.notify_waiters();
    }

    fn heard(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }

    /// Forgets what was heard so far.
    fn clear(&self) {
        self.heard.lock().unwrap().clear();
    }

    /// Every token id heard so far, less the ignored ones.
    fn tokens(&self) -> BTreeSet<TokenId> {
        let heard: BTreeSet<TokenId> = self
            .heard()
            .into_iter()
            .flat_map(|h| match h {
                Heard::Tokens(ids) => ids,
                Heard::Lost => BTreeSet::new(),
            })
            .collect();
        &heard - &*self.ignored.lock().unwrap()
    }

    fn losses(&self) -> usize {
        self.heard().iter().filter(|h| **h == Heard::Lost).count()
    }

    /// Waits until `done` holds for what was heard.
    async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let wait = async {
            loop {
                let news = self.news.notified();
                if done(self) {
                    return;
                }
                news.await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("never heard {what}; heard {:?}", self.heard()));
    }

    async fn until_tokens(&self, ids: &BTreeSet<TokenId>) {
        self.until(&format!("{ids:?}"), |e| e.tokens().is_superset(ids))
            .await;
    }

    async fn until_losses(&self, n: usize) {
        self.until(&format!("{n} losses"), |e| e.losses() >= n)
            .await;
    }
}

// ---------------------------------------------------------------------------------------
// Building blocks.

/// A schema and the server's URL, or skip.
macro_rules! schema_or_skip {
    () => {
        match postgres_schema().await {
            Some(found) => found,
            None => return,
        }
    };
}

/// The `application_name` of this test's listener, so the test can find its backend.
fn listener_name(schema: &str) -> String {
    format!("pil {schema}")
}

/// Storage on `pool`, with a listener named for `schema`. Its heartbeat is patient: on a
/// loaded machine a heartbeat that times out makes the listener reconnect, and the
/// announcements of the gap are (rightly) replaced by a flush, which tests that count
/// announcements cannot tell from a lost one. The heartbeat tests set their own.
fn storage_on(pool: PgPool, schema: &str) -> PostgresStorage {
    PostgresStorage::new(pool)
        .heartbeat(Duration::from_secs(1), Duration::from_secs(10))
        .listener_application_name(&listener_name(schema))
}

/// A migrated storage on its own pool on `schema`.
async fn storage(url: &str, schema: &str) -> PostgresStorage {
    let storage = storage_on(pool_on(url, schema).await, schema);
    storage.migrate().await.expect("migrate");
    storage
}

/// Watches `storage` and waits until it listens (its first flush).
async fn listening(storage: &PostgresStorage) -> (Arc<Ears>, Watch) {
    let ears = Arc::new(Ears::default());
    let watch = storage
        .watch(ears.clone())
        .expect("PostgreSQL announces changes");
    ears.until_losses(1).await;
    assert!(watch.stats().listening);
    (ears, watch)
}

/// The token ids an integration holds now.
async fn token_ids(
    storage: &PostgresStorage,
    h: &Harness,
    id: &IntegrationId,
) -> BTreeSet<TokenId> {
    storage
        .get(h.admin.account(), id)
        .await
        .unwrap()
        .map(|r| r.credentials.token_ids().collect())
        .unwrap_or_default()
}

/// Runs `sql` on a connection of its own, as an operator in psql would.
async fn operator(url: &str, schema: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&postgres_options(url, schema))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    conn.close().await.unwrap();
}

/// Where the test server listens.
fn server_addr(url: &str) -> SocketAddr {
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    (options.get_host(), options.get_port())
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

/// A pool on `schema` whose connections go through `proxy`.
fn pool_through(proxy: &Proxy, url: &str, schema: &str, options: PgPoolOptions) -> PgPool {
    let connect = postgres_options(url, schema)
        .host("127.0.0.1")
        .port(proxy.addr().port());
    options.connect_lazy_with(connect)
}

/// Waits until the listener's counters satisfy `done`.
async fn until_stats(watch: &Watch, what: &str, done: impl Fn(&ListenerStats) -> bool) {
    let wait = async {
        while !done(&watch.stats()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("{what} never happened: {:?}", watch.stats()));
}

/// What `action` makes the listener hear, exactly: everything heard until the creation
/// of a fresh marker integration (committed after the action, so announced after it)
/// arrives, less the markers' token ids. (A fresh one: a late announcement of an earlier
/// change to an old marker could arrive first and end the wait too soon.)
async fn heard_for(
    ears: &Ears,
    storage: &PostgresStorage,
    h: &Harness,
    action: impl std::future::Future<Output = ()>,
) -> BTreeSet<TokenId> {
    ears.clear();
    action.await;
    let (marker, _) = h.create("Marker", &["contacts.readonly"]).await;
    let marker_ids = token_ids(storage, h, &marker).await;
    // Heard once the first of the marker's announcements arrives; its others may come
    // later, during the next step: never count them.
    let arrived = |e: &Ears| {
        e.heard()
            .iter()
            .any(|h| matches!(h, Heard::Tokens(ids) if ids.is_superset(&marker_ids)))
    };
    ears.until("the marker", arrived).await;
    ears.ignored.lock().unwrap().extend(marker_ids);
    assert_eq!(
        ears.losses(),
        0,
        "the listener reconnected during the step, so announcements may be missing: {:?}",
        ears.heard()
    );
    ears.tokens()
}

// ---------------------------------------------------------------------------------------
// Announcements.

/// Every lifecycle action is announced with exactly the token ids it touched (old and
/// new), once committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_is_announced_with_the_tokens_it_touched() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let (ears, _watch) = listening(&storage).await;
    let h = Harness::new(storage.clone());
    let ids = |id| token_ids(&storage, &h, id);

    let mut created = None;
    let heard = heard_for(&ears, &storage, &h, async {
        created = Some(h.create("Zapier", &["contacts.readonly"]).await.0);
    })
    .await;
    let id = created.unwrap();
    let first = ids(&id).await;
    assert_eq!(heard, first, "create");

    let mut rotated = BTreeSet::new();
    let heard = heard_for(&ears, &storage, &h, async {
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap();
        rotated = ids(&id).await;
    })
    .await;
    assert_eq!(rotated.len(), 2);
    assert_eq!(heard, rotated, "rotate, expire later: old and new");

    let heard = heard_for(&ears, &storage, &h, async {
        h.pi.update(
            &h.admin,
            &id,
            IntegrationUpdate::new().scopes(["contacts.write"]),
        )
        .await
        .unwrap();
    })
    .await;
    assert_eq!(heard, rotated, "a scope edit: every live token");

    let heard = heard_for(&ears, &storage, &h, async {
        h.pi.cancel_rotation(&h.admin, &id).await.unwrap();
    })
    .await;
    assert_eq!(
        heard, rotated,
        "cancel: the new token dies, the old one stays"
    );

    let before = ids(&id).await;
    let mut after = BTreeSet::new();
    let heard = heard_for(&ears, &storage, &h, async {
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow)
            .await
            .unwrap();
        after = ids(&id).await;
    })
    .await;
    assert_eq!(heard, &before | &after, "rotate, expire now");

    h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
        .await
        .unwrap();
    let both = ids(&id).await;
    let heard = heard_for(&ears, &storage, &h, async {
        h.pi.expire_previous_now(&h.admin, &id).await.unwrap();
    })
    .await;
    assert_eq!(heard, both, "expire the previous token now");

    let last = ids(&id).await;
    let heard = heard_for(&ears, &storage, &h, async {
        h.pi.delete(&h.admin, &id).await.unwrap();
    })
    .await;
    assert_eq!(heard, last, "delete");
    drop_schema(&url, &schema).await;
}

/// A change that is rolled back is never announced; the one committed after it is.
#[tokio::test]
async fn a_rolled_back_change_is_never_announced() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let (ears, _watch) = listening(&storage).await;
    let h = Harness::new(storage.clone());
    let (rolled_back, _) = h.create("Rolled back", &["contacts.readonly"]).await;
    let (committed, _) = h.create("Committed", &["contacts.readonly"]).await;
    let rolled_back_ids = token_ids(&storage, &h, &rolled_back).await;
    let committed_ids = token_ids(&storage, &h, &committed).await;
    ears.until_tokens(&(&rolled_back_ids | &committed_ids))
        .await;
    ears.clear();

    let mut tx = storage.pool().begin().await.unwrap();
    for sql in [
        "UPDATE pi_integrations SET scopes = '[\"contacts.write\"]' WHERE id = $1",
        "DELETE FROM pi_tokens WHERE integration_id = $1",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rolled_back.as_str())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.rollback().await.unwrap();
    h.pi.delete(&h.admin, &committed).await.unwrap();
    ears.until_tokens(&committed_ids).await;
    assert!(
        ears.tokens().is_disjoint(&rolled_back_ids),
        "a rolled-back change was announced: {:?}",
        ears.heard()
    );
    drop_schema(&url, &schema).await;
}

/// An operator's SQL in psql is announced too: a scope edit, a delete of a token's row,
/// a delete of the integration; emptying a table says anything may have changed.
#[tokio::test]
async fn changes_made_by_hand_in_sql_are_announced() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let (ears, watch) = listening(&storage).await;
    let h = Harness::new(storage.clone());
    let (id, _) = h.create("Zapier", &["contacts.readonly"]).await;
    h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
        .await
        .unwrap();
    let both = token_ids(&storage, &h, &id).await;
    ears.until_tokens(&both).await;

    ears.clear();
    operator(
        &url,
        &schema,
        &format!("UPDATE pi_integrations SET scopes = '[\"contacts.write\"]' WHERE id = '{id}'"),
    )
    .await;
    ears.until_tokens(&both).await;

    let current = storage.get(h.admin.account(), &id).await.unwrap().unwrap();
    let previous = current.credentials.previous().unwrap().0.id;
    ears.clear();
    operator(
        &url,
        &schema,
        &format!("DELETE FROM pi_tokens WHERE token_id = '{previous}'"),
    )
    .await;
    ears.until_tokens(&BTreeSet::from([previous])).await;

    ears.clear();
    operator(
        &url,
        &schema,
        &format!("DELETE FROM pi_integrations WHERE id = '{id}'"),
    )
    .await;
    ears.until_tokens(&both).await;

    let losses = ears.losses();
    operator(&url, &schema, "TRUNCATE pi_integrations CASCADE").await;
    ears.until_losses(losses + 1).await;
    assert!(watch.stats().flushes >= 2);
    drop_schema(&url, &schema).await;
}

/// A last-used write is not a change: not announced.
#[tokio::test]
async fn last_used_writes_are_not_announced() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let (ears, _watch) = listening(&storage).await;
    let h = Harness::new(storage.clone());
    let (used, _) = h.create("Used", &["contacts.readonly"]).await;
    let used_ids = token_ids(&storage, &h, &used).await;
    ears.until_tokens(&used_ids).await;

    let heard = heard_for(&ears, &storage, &h, async {
        let uses: Vec<store::LastUse> = used_ids
            .iter()
            .map(|&token_id| store::LastUse {
                token_id,
                at: time::OffsetDateTime::now_utc(),
            })
            .collect();
        storage.record_last_used(&uses).await.unwrap();
    })
    .await;
    assert!(
        heard.is_empty(),
        "a last-used write was announced: {heard:?}"
    );
    let record = storage
        .get(h.admin.account(), &used)
        .await
        .unwrap()
        .unwrap();
    assert!(record.last_used.iter().count() == 1, "the use was written");
    drop_schema(&url, &schema).await;
}

/// Two replicas with pools of their own: what one writes, the other hears; and neither
/// hears another schema's changes (channels are database-wide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_hears_what_another_writes_and_nothing_of_other_schemas() {
    let (url, schema) = schema_or_skip!();
    let writer = storage(&url, &schema).await;
    let reader = storage(&url, &schema).await;
    let (ears, watch) = listening(&reader).await;
    let (other_url, other_schema) = schema_or_skip!();
    let elsewhere = Harness::new(storage(&other_url, &other_schema).await);

    let a = Harness::new(writer.clone());
    let (elsewhere_id, _) = elsewhere.create("Elsewhere", &["contacts.readonly"]).await;
    let (id, _) = a.create("Zapier", &["contacts.readonly"]).await;
    let created = token_ids(&writer, &a, &id).await;
    ears.until_tokens(&created).await;
    a.pi.rotate(&a.admin, &id, RotationMode::ExpireNow)
        .await
        .unwrap();
    let rotated = token_ids(&writer, &a, &id).await;
    ears.until_tokens(&rotated).await;
    elsewhere
        .pi
        .delete(&elsewhere.admin, &elsewhere_id)
        .await
        .unwrap();
    a.pi.delete(&a.admin, &id).await.unwrap();
    ears.until("the delete", |e| {
        e.heard()
            .iter()
            .filter(|h| matches!(h, Heard::Tokens(ids) if *ids == rotated))
            .count()
            >= 2
    })
    .await;
    assert_eq!(
        ears.tokens(),
        &created | &rotated,
        "only this schema's tokens"
    );
    assert_eq!(ears.losses(), 1, "only the first flush");
    assert!(watch.stats().notifications >= 3);
    drop_schema(&url, &schema).await;
    drop_schema(&other_url, &other_schema).await;
}

// ---------------------------------------------------------------------------------------
// A lost or silent listener.

/// The listener's backend is terminated (`pg_terminate_backend`): it reconnects, says
/// announcements may have been missed, and hears changes again.
#[tokio::test]
async fn a_terminated_listener_reconnects_and_flushes() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let (ears, watch) = listening(&storage).await;
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(listener_name(&schema))
    .fetch_all(storage.pool())
    .await
    .unwrap();
    assert_eq!(terminated, [true], "the listener's one backend");
    ears.until_losses(2).await;
    until_stats(&watch, "a reconnection", |s| {
        s.reconnects >= 1 && s.listening
    })
    .await;

    let h = Harness::new(storage.clone());
    let (id, _) = h.create("After", &["contacts.readonly"]).await;
    ears.until_tokens(&token_ids(&storage, &h, &id).await).await;
    watch.stop().await;
    drop_schema(&url, &schema).await;
}

/// The network goes silent between the listener and the database (the proxy stops
/// forwarding, sockets stay open): the heartbeat finds it within a few seconds; once the
/// network is back, the listener reconnects, flushes, and hears changes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_found_by_the_heartbeat_and_recovered() {
    let (url, schema) = schema_or_skip!();
    let proxy = Proxy::start(server_addr(&url)).await;
    let pool = pool_through(
        &proxy,
        &url,
        &schema,
        PgPoolOptions::new().acquire_timeout(Duration::from_secs(1)),
    );
    let storage = PostgresStorage::new(pool)
        .heartbeat(Duration::from_millis(200), Duration::from_millis(500))
        .listener_application_name(&listener_name(&schema));
    storage.migrate().await.unwrap();
    let (ears, watch) = listening(&storage).await;

    proxy.cut();
    let cut_at = tokio::time::Instant::now();
    until_stats(&watch, "the heartbeat failing", |s| {
        s.heartbeat_failures >= 1
    })
    .await;
    eprintln!(
        "silence found {} ms after the cut (heartbeat 200 ms, timeout 500 ms)",
        cut_at.elapsed().as_millis()
    );
    assert!(!watch.stats().listening);
    assert_eq!(ears.losses(), 1, "no flush while nothing listens");

    proxy.restore();
    ears.until_losses(2).await;
    until_stats(&watch, "a reconnection", |s| {
        s.reconnects >= 1 && s.listening
    })
    .await;
    let h = Harness::new(storage.clone());
    let (id, _) = h.create("After", &["contacts.readonly"]).await;
    ears.until_tokens(&token_ids(&storage, &h, &id).await).await;
    watch.stop().await;
    drop(proxy);
    drop_schema(&url, &schema).await;
}

/// The network resets every connection: the listener sees the loss, reconnects and
/// flushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_connection_reconnects_and_flushes() {
    let (url, schema) = schema_or_skip!();
    let proxy = Proxy::start(server_addr(&url)).await;
    let pool = pool_through(&proxy, &url, &schema, PgPoolOptions::new());
    let storage = storage_on(pool, &schema);
    storage.migrate().await.unwrap();
    let (ears, watch) = listening(&storage).await;
    proxy.reset();
    ears.until_losses(2).await;
    until_stats(&watch, "a reconnection", |s| {
        s.reconnects >= 1 && s.listening
    })
    .await;
    let h = Harness::new(storage.clone());
    let (id, _) = h.create("After", &["contacts.readonly"]).await;
    ears.until_tokens(&token_ids(&storage, &h, &id).await).await;
    drop(watch);
    drop(proxy);
    drop_schema(&url, &schema).await;
}

// ---------------------------------------------------------------------------------------
// An outage is bounded.

/// `PostgresStorage::connect` waits at most 2 s for a connection (sqlx's default is 30 s).
#[tokio::test]
async fn connect_picks_a_short_acquire_timeout() {
    let Some(url) = database_url() else {
        return;
    };
    let storage = PostgresStorage::connect(&url).await.unwrap();
    assert_eq!(
        storage.pool().options().get_acquire_timeout(),
        PostgresStorage::DEFAULT_ACQUIRE_TIMEOUT
    );
    assert_eq!(
        PostgresStorage::DEFAULT_ACQUIRE_TIMEOUT,
        Duration::from_secs(2)
    );
}

/// With the database cut away, every call fails with a storage error, soon, instead of
/// hanging; once it is back, everything works again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_calls_quickly_and_heals_by_itself() {
    let (url, schema) = schema_or_skip!();
    let proxy = Proxy::start(server_addr(&url)).await;
    let pool = pool_through(
        &proxy,
        &url,
        &schema,
        PgPoolOptions::new().acquire_timeout(Duration::from_millis(300)),
    );
    let storage = PostgresStorage::new(pool);
    storage.migrate().await.unwrap();
    let h = Harness::new(storage.clone());
    let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
    assert!(h.verifies(&token).await);

    proxy.cut();
    tokio::time::timeout(PATIENCE, assert_database_down(&h, &id, &token))
        .await
        .expect("calls fail within the acquire timeout instead of hanging");

    proxy.restore();
    let healed = async {
        assert!(h.verifies(&token).await, "verifies again");
        h.create("After", &["contacts.readonly"]).await;
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow)
            .await
            .expect("writes again");
    };
    tokio::time::timeout(PATIENCE, healed)
        .await
        .expect("healed");
    drop(proxy);
    drop_schema(&url, &schema).await;
}

/// A lookup already waiting on a connection that goes silent (the pool does not ping it
/// first) is given up after the lookup timeout: verification is refused, not stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_on_a_silent_connection_gives_up_after_the_lookup_timeout() {
    let (url, schema) = schema_or_skip!();
    let proxy = Proxy::start(server_addr(&url)).await;
    let pool = pool_through(
        &proxy,
        &url,
        &schema,
        PgPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false),
    );
    let storage = PostgresStorage::new(pool).lookup_timeout(Duration::from_millis(500));
    storage.migrate().await.unwrap();
    let (h, ears) = listening_service(&storage).await;
    let (_, cached) = h.create("Zapier", &["contacts.readonly"]).await;
    let (_, token) = h.create("Make", &["contacts.readonly"]).await;
    // Every announcement of the creates is processed before the token is cached.
    settle(&ears, &quiet_writer(Arc::new(storage.clone()))).await;
    assert!(h.verifies(&cached).await);

    proxy.cut();
    // The verification cache answers for the token it holds; the other must ask.
    assert!(h.verifies(&cached).await);
    let refused = tokio::time::timeout(PATIENCE, h.verify(&token))
        .await
        .expect("the lookup gives up instead of hanging");
    match refused {
        Err(err @ VerifyError::Storage(_)) => {
            assert!(
                error_chain(&err).contains("token lookup timed out"),
                "{}",
                error_chain(&err)
            );
        }
        other => panic!("{other:?}"),
    }
    proxy.restore();
    drop(h);
    drop(proxy);
    drop_schema(&url, &schema).await;
}

// ---------------------------------------------------------------------------------------
// The service's seam: its own writes, and the storage's announcements.

/// With a change listener, the service watches PostgreSQL from the runtime current at
/// `build`; `shutdown` stops it, and its connection goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_watches_postgres_and_shutdown_stops_it() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let ears = Arc::new(Ears::default());
    let pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .change_listener(ears.clone())
        .build();
    ears.until_losses(1).await;
    assert!(pi.listener_stats().unwrap().listening);

    // Another replica's write reaches this service's listener.
    let other = Harness::new(self::storage(&url, &schema).await);
    let (id, _) = other.create("Elsewhere", &["contacts.readonly"]).await;
    ears.until_tokens(&token_ids(&storage, &other, &id).await)
        .await;
    // The other replica listens too (for its verification cache): stopped first, so that
    // only this service's connection is left to watch.
    other.pi.shutdown().await;

    pi.shutdown().await;
    assert!(pi.listener_stats().is_none());
    let backends = async {
        loop {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(listener_name(&schema))
            .fetch_one(storage.pool())
            .await
            .unwrap();
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, backends)
        .await
        .expect("the listener's connection closes after shutdown");
    drop_schema(&url, &schema).await;
}

/// The example server on PostgreSQL, configured as it is (`PostgresStorage::connect`):
/// with the database cut away it still answers `200` to a token its verification cache
/// holds, `503` to any other token and to the admin API within a few seconds instead of
/// hanging, and `200` again once the database is back.
#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_server_answers_503_during_an_outage_and_recovers() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    let (url, schema) = schema_or_skip!();
    let proxy = Proxy::start(server_addr(&url)).await;
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let through_proxy = format!(
        "postgres://{}@127.0.0.1:{}/{}?options=-c%20search_path%3D{schema}",
        options.get_username(),
        proxy.addr().port(),
        options.get_database().unwrap_or("postgres"),
    );
    let storage = PostgresStorage::connect(&through_proxy).await.unwrap();
    storage.migrate().await.unwrap();
    let ears = Arc::new(Ears::default());
    let pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(app::catalog())
        .change_listener(ears.clone())
        .build();
    ears.until_losses(1).await;
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let create = |name: &'static str| {
        let (pi, admin) = (pi.clone(), admin.clone());
        async move {
            pi.create(
                &admin,
                NewIntegration::new(name).scopes(["contacts.readonly"]),
            )
            .await
            .unwrap()
            .token
        }
    };
    // `cached` is verified before the outage, so the verification cache holds it; `token`
    // is not.
    let (cached, token) = (create("Zapier").await, create("Make").await);
    // Every announcement of the creates is processed before the token is cached.
    settle(&ears, &quiet_writer(Arc::new(storage))).await;
    let app = app::app(pi.clone());
    let with = |token: &IssuedToken| {
        Request::get("/v1/contacts")
            .header("Authorization", format!("Bearer {}", token.expose_secret()))
            .body(Body::empty())
            .unwrap()
    };
    let contacts = || with(&token);
    let admin_list = || {
        Request::get("/admin/integrations")
            .header("X-Account-Id", "acct_1")
            .header("X-User-Id", "u_admin")
            .header("X-Role", "admin")
            .body(Body::empty())
            .unwrap()
    };
    // Well above the 2 s the pool waits for a connection, well below sqlx's default 30 s.
    const ANSWER: Duration = Duration::from_secs(10);
    let status = |request: Request<Body>| {
        let app = app.clone();
        async move {
            tokio::time::timeout(ANSWER, app.oneshot(request))
                .await
                .expect("an answer, not a hang")
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(with(&cached)).await, StatusCode::OK);

    proxy.cut();
    assert_eq!(status(with(&cached)).await, StatusCode::OK);
    assert_eq!(status(contacts()).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status(admin_list()).await, StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    assert_eq!(status(contacts()).await, StatusCode::OK);
    assert_eq!(status(admin_list()).await, StatusCode::OK);
    pi.shutdown().await;
    drop(proxy);
    drop_schema(&url, &schema).await;
}

// ---------------------------------------------------------------------------------------
// Measured: revocation lag.

/// When each token id was first heard.
#[derive(Default)]
struct Arrivals {
    at: Mutex<std::collections::HashMap<TokenId, std::time::Instant>>,
    news: Notify,
}

impl ChangeListener for Arrivals {
    fn tokens_changed(&self, token_ids: &[TokenId]) {
        let now = std::time::Instant::now();
        let mut at = self.at.lock().unwrap();
        for id in token_ids {
            at.entry(*id).or_insert(now);
        }
        drop(at);
        self.news.notify_waiters();
    }

    fn announcements_lost(&self) {}
}

impl Arrivals {
    async fn wait_for(&self, id: &TokenId) -> std::time::Instant {
        let wait = async {
            loop {
                let news = self.news.notified();
                if let Some(at) = self.at.lock().unwrap().get(id) {
                    return *at;
                }
                news.await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("{id} was never announced"))
    }
}

/// The revocation lag between two replicas with pools of their own on one database: A
/// deletes an integration or rotates it with immediate expiry while B, with its
/// verification cache holding the token, verifies it over and over; how long until B
/// refuses it, and until B's listener has the revoked token id. Prints p50, p99 and max
/// over `LAG_TRIALS` trials (default 1,000), from the start of A's call and from its
/// return. A measurement, not a test of a target:
///
/// ```sh
/// DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
///   cargo test --release --all-features --test replicas revocation_lag -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on purpose (see its documentation)"]
async fn revocation_lag() {
    let (url, schema) = schema_or_skip!();
    let trials: usize = std::env::var("LAG_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let a = quiet_writer(Arc::new(storage(&url, &schema).await));
    let arrivals = Arc::new(Arrivals::default());
    let b = {
        let storage = storage(&url, &schema).await;
        PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .verification_cache(VerificationCache::new().ttl(time::Duration::minutes(10)))
            .change_listener(arrivals.clone())
            .build()
    };
    let first_id = |id: IntegrationId| {
        let a = &a;
        async move {
            let record = a
                .storage
                .get(a.admin.account(), &id)
                .await
                .unwrap()
                .unwrap();
            record.credentials.current().id
        }
    };
    let ms = |later: std::time::Instant, earlier: std::time::Instant| match later
        .checked_duration_since(earlier)
    {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(earlier.duration_since(later).as_secs_f64() * 1000.0),
    };

    let (mut refused_start, mut refused_return) = (Vec::new(), Vec::new());
    let (mut heard_return, mut calls) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let (id, token) = a.create("Revoked", &["contacts.readonly"]).await;
        let revoked = first_id(id.clone()).await;
        // Every announcement of the create reaches B before B caches the token: a marker
        // created after it is heard after it.
        let (marker, _) = a.create("Marker", &["contacts.readonly"]).await;
        arrivals.wait_for(&first_id(marker).await).await;
        arrivals.at.lock().unwrap().remove(&revoked);
        b.verify(token.expose_secret()).await.expect("B verifies");
        let hits = b.cache_stats().unwrap().hits;
        b.verify(token.expose_secret()).await.expect("B verifies");
        assert_eq!(b.cache_stats().unwrap().hits, hits + 1, "B holds the token");

        let revoke = async {
            let start = std::time::Instant::now();
            if trial % 2 == 0 {
                a.pi.delete(&a.admin, &id).await.unwrap();
            } else {
                a.pi.rotate(&a.admin, &id, RotationMode::ExpireNow)
                    .await
                    .unwrap();
            }
            (start, std::time::Instant::now())
        };
        let refuse = async {
            while b.verify(token.expose_secret()).await.is_ok() {
                tokio::task::yield_now().await;
            }
            std::time::Instant::now()
        };
        let ((start, returned), refused) =
            tokio::time::timeout(PATIENCE, async { tokio::join!(revoke, refuse) })
                .await
                .expect("B refuses the revoked token");
        let heard = arrivals.wait_for(&revoked).await;
        refused_start.push(ms(refused, start));
        refused_return.push(ms(refused, returned));
        heard_return.push(ms(heard, returned));
        calls.push(ms(returned, start));
    }
    let report = |what: &str, mut ms: Vec<f64>| {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        println!(
            "{what:<52} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
            at(0.50),
            at(0.99),
            ms[ms.len() - 1]
        );
    };
    println!(
        "revocation lag, {trials} trials (half deletes, half rotations that expire now), \
         replica A writes, replica B verifies from its cache, separate pools, one database:"
    );
    report("A's call start -> B refuses the token", refused_start);
    report("A's call return -> B refuses the token", refused_return);
    report(
        "A's call return -> B's listener has the token id",
        heard_return,
    );
    report("A's call (delete or rotate), for reference", calls);
    let stats = b.cache_stats().unwrap();
    println!("B's cache: {stats:?}");
    assert_eq!(
        stats.flushes, 1,
        "only the first: no reconnection during the run"
    );
    b.shutdown().await;
    drop_schema(&url, &schema).await;
}

// ---------------------------------------------------------------------------------------
// The verification cache across replicas.

/// A replica with its verification cache, told (beside the cache) of what it hears.
struct Replica {
    h: Harness,
    ears: Arc<Ears>,
}

impl Replica {
    /// A replica on its own pool, caching for ten minutes (well past `PATIENCE`: only an
    /// announcement can make it forget in time), listening once this returns.
    async fn new(url: &str, schema: &str) -> Self {
        let storage = storage(url, schema).await;
        let ears = Arc::new(Ears::default());
        let clock = ManualClock::new(T0);
        let pi = PrivateIntegrations::builder(storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .verification_cache(VerificationCache::new().ttl(time::Duration::minutes(10)))
            .change_listener(ears.clone())
            .build();
        ears.until_losses(1).await;
        let mut h = Harness::new(MemoryStorage::new());
        h.pi = pi;
        h.storage = Arc::new(storage);
        h.clock = clock;
        Self { h, ears }
    }

    fn cache(&self) -> CacheStats {
        self.h.pi.cache_stats().expect("a cache")
    }

    /// Waits until this replica has heard everything `writer` committed so far.
    async fn settle(&self, writer: &Harness) {
        settle(&self.ears, writer).await;
    }

    /// Verifies until refused (each a cache hit until the announcement evicts it).
    async fn until_refused(&self, token: &IssuedToken, what: &str) -> VerifyError {
        let wait = async {
            loop {
                if let Err(err) = self.h.verify(token).await {
                    return err;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("{what}: the other replica still verifies the token"))
    }
}

/// Waits until `ears` have heard everything `writer` committed so far: a fresh marker
/// integration, created after it, is heard last (`writer` is another service than the
/// one `ears` listen to, which would hear the marker before PostgreSQL announces it) (a change may be announced more than
/// once, one notification per row it touched, so hearing a change's tokens once is not
/// enough to know that nothing more of it is on its way).
async fn settle(ears: &Ears, writer: &Harness) {
    let (marker, _) = writer.create("Marker", &["contacts.readonly"]).await;
    let ids = writer
        .storage
        .get(writer.admin.account(), &marker)
        .await
        .unwrap()
        .unwrap()
        .credentials
        .token_ids()
        .collect();
    ears.until_tokens(&ids).await;
}

/// A service on `storage` (caching by default) that also tells `ears` what it hears;
/// listening once this returns.
async fn listening_service(storage: &PostgresStorage) -> (Harness, Arc<Ears>) {
    let ears = Arc::new(Ears::default());
    let mut h = Harness::new(MemoryStorage::new());
    h.pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(h.clock.clone())
        .change_listener(ears.clone())
        .build();
    h.storage = Arc::new(storage.clone());
    ears.until_losses(1).await;
    (h, ears)
}

/// Another service on `storage` that only writes: no cache, so it does not listen.
fn quiet_writer(storage: Arc<dyn Storage>) -> Harness {
    let mut h = Harness::new(MemoryStorage::new());
    h.pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(h.clock.clone())
        .verification_cache(VerificationCache::disabled())
        .build();
    h.storage = storage;
    h
}

/// Two replicas with separate pools on one database, both caching: whatever one revokes
/// (scope edit, rotate now, cancel, expire previous now, delete) the other refuses once
/// the announcement is processed, with a time-to-live far longer than the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_replica_refuses_what_another_revoked_once_announced() {
    let (url, schema) = schema_or_skip!();
    let a = Replica::new(&url, &schema).await;
    let b = Replica::new(&url, &schema).await;
    let admin = &a.h.admin;
    let (id, first) =
        a.h.create("Zapier", &["contacts.readonly", "contacts.write"])
            .await;
    b.settle(&a.h).await;

    // Cached on B: the second verification is a hit.
    assert!(b.h.verifies(&first).await);
    let hits = b.cache().hits;
    assert!(b.h.verifies(&first).await);
    assert_eq!(b.cache().hits, hits + 1);

    // A scope edit reaches B.
    let evictions = b.cache().evictions;
    a.h.pi
        .update(
            admin,
            &id,
            IntegrationUpdate::new().scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let seen = async {
        while b
            .h
            .verify(&first)
            .await
            .unwrap()
            .has_scope("contacts.write")
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(PATIENCE, seen)
        .await
        .expect("B sees the new scopes");
    assert!(b.cache().evictions > evictions);

    // Rotate later, cancel: B refuses the new token.
    let second =
        a.h.pi
            .rotate(admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    b.settle(&a.h).await;
    assert!(b.h.verifies(&second).await && b.h.verifies(&first).await);
    a.h.pi.cancel_rotation(admin, &id).await.unwrap();
    b.until_refused(&second, "cancel rotation").await;

    // Rotate later, expire previous now: B refuses the old token.
    let third =
        a.h.pi
            .rotate(admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    b.settle(&a.h).await;
    assert!(b.h.verifies(&first).await && b.h.verifies(&third).await);
    a.h.pi.expire_previous_now(admin, &id).await.unwrap();
    b.until_refused(&first, "expire previous now").await;

    // Rotate now: B refuses the old token at once.
    let fourth =
        a.h.pi
            .rotate(admin, &id, RotationMode::ExpireNow)
            .await
            .unwrap()
            .token;
    b.until_refused(&third, "rotate now").await;
    b.settle(&a.h).await;

    // Delete.
    assert!(b.h.verifies(&fourth).await && b.h.verifies(&fourth).await);
    a.h.pi.delete(admin, &id).await.unwrap();
    assert!(matches!(
        b.until_refused(&fourth, "delete").await,
        VerifyError::Invalid
    ));
    a.h.pi.shutdown().await;
    b.h.pi.shutdown().await;
    drop_schema(&url, &schema).await;
}

/// An operator's `DELETE` in psql reaches a caching replica too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_replica_refuses_what_an_operator_deleted_in_sql() {
    let (url, schema) = schema_or_skip!();
    let b = Replica::new(&url, &schema).await;
    let writer = quiet_writer(b.h.storage.clone());
    let (id, token) = writer.create("Zapier", &["contacts.readonly"]).await;
    b.settle(&writer).await;
    assert!(b.h.verifies(&token).await && b.h.verifies(&token).await);
    assert!(b.cache().hits >= 1);
    operator(
        &url,
        &schema,
        &format!("DELETE FROM pi_integrations WHERE id = '{id}'"),
    )
    .await;
    b.until_refused(&token, "an operator's delete").await;
    b.h.pi.shutdown().await;
    drop_schema(&url, &schema).await;
}

/// The listener's backend is terminated: once it listens again the cache is emptied,
/// since anything may have changed in the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_empties_the_cache() {
    let (url, schema) = schema_or_skip!();
    let b = Replica::new(&url, &schema).await;
    let writer = quiet_writer(b.h.storage.clone());
    let (_, token) = writer.create("Zapier", &["contacts.readonly"]).await;
    b.settle(&writer).await;
    assert!(b.h.verifies(&token).await);
    assert_eq!(b.cache().entries, 1);
    let flushes = b.cache().flushes;

    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(listener_name(&schema))
    .fetch_all(&pool_on(&url, &schema).await)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "the replica's one listener");
    b.ears.until_losses(2).await;
    assert_eq!(b.cache().flushes, flushes + 1);
    assert_eq!(b.cache().entries, 0);
    assert!(b.h.verifies(&token).await, "and it fills again");
    b.h.pi.shutdown().await;
    drop_schema(&url, &schema).await;
}

/// The network between a caching replica and the database goes silent: the heartbeat
/// finds it; meanwhile cached tokens keep verifying and others are refused in bounded
/// time; once the network is back, the listener reconnects and the cache is emptied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_network_is_found_and_the_cache_emptied_once_back() {
    let (url, schema) = schema_or_skip!();
    let proxy = Proxy::start(server_addr(&url)).await;
    let pool = pool_through(
        &proxy,
        &url,
        &schema,
        PgPoolOptions::new().acquire_timeout(Duration::from_millis(500)),
    );
    let storage = PostgresStorage::new(pool)
        .lookup_timeout(Duration::from_millis(500))
        .heartbeat(Duration::from_millis(300), Duration::from_millis(300))
        .listener_application_name(&listener_name(&schema));
    storage.migrate().await.unwrap();
    let (h, ears) = listening_service(&storage).await;
    let (_, cached) = h.create("Zapier", &["contacts.readonly"]).await;
    let (_, other) = h.create("Make", &["contacts.readonly"]).await;
    // Every announcement of the creates is processed before the token is cached (the
    // marker is written by another service: this one's listeners hear its own writes at
    // once, before PostgreSQL announces them).
    settle(&ears, &quiet_writer(Arc::new(storage.clone()))).await;
    assert!(h.verifies(&cached).await);
    assert_eq!(h.pi.cache_stats().unwrap().entries, 1);

    proxy.cut();
    let stats = || h.pi.listener_stats().unwrap();
    let found = async {
        while stats().heartbeat_failures == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, found)
        .await
        .expect("the heartbeat finds the silence");
    let during = h.verify(&cached).await;
    assert!(
        during.is_ok(),
        "a cached token verifies during the outage: {during:?} {:?} {:?}",
        h.pi.cache_stats(),
        ears.heard()
    );
    let refused = tokio::time::timeout(PATIENCE, h.verify(&other)).await;
    assert!(
        matches!(refused, Ok(Err(VerifyError::Storage(_)))),
        "refused, not hung: {refused:?}"
    );

    let flushes = h.pi.cache_stats().unwrap().flushes;
    proxy.restore();
    ears.until_losses(2).await;
    assert!(h.pi.cache_stats().unwrap().flushes > flushes);
    assert!(h.verifies(&other).await, "healed");
    h.pi.shutdown().await;
    drop(proxy);
    drop_schema(&url, &schema).await;
}

/// On PostgreSQL a service caches unless told not to.
#[tokio::test]
async fn postgres_caches_by_default() {
    let (url, schema) = schema_or_skip!();
    let storage = storage(&url, &schema).await;
    let cached = Harness::new(storage.clone());
    assert!(cached.pi.cache_stats().is_some());
    let uncached = quiet_writer(Arc::new(storage));
    assert!(uncached.pi.cache_stats().is_none());
    cached.pi.shutdown().await;
    drop_schema(&url, &schema).await;
}
