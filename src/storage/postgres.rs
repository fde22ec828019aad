//! [`PostgresStorage`]: integrations in PostgreSQL, shared by every replica of a service.

mod listen;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use super::listener::ListenerSettings;
use super::sql::{self, backend};
use super::{ChangeListener, LastUse, ListenerCounters, StorageError, TokenLookupResult, Watch};

/// The embedded migrations, in order.
const MIGRATIONS: &[sql::EmbeddedMigration] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "audit by integration",
        include_str!("../../migrations/postgres/0002_audit_by_integration.sql"),
    ),
    (
        3,
        "announce changes",
        include_str!("../../migrations/postgres/0003_announce_changes.sql"),
    ),
    (
        4,
        "idempotency keys",
        include_str!("../../migrations/postgres/0004_idempotency_keys.sql"),
    ),
    (
        5,
        "name search",
        include_str!("../../migrations/postgres/0005_name_search.sql"),
    ),
    (
        6,
        "listing counts",
        include_str!("../../migrations/postgres/0006_listing_counts.sql"),
    ),
    (
        7,
        "leaked tokens",
        include_str!("../../migrations/postgres/0007_leaked_tokens.sql"),
    ),
    (
        8,
        "audit retention",
        include_str!("../../migrations/postgres/0008_audit_retention.sql"),
    ),
    (
        9,
        "rotation finish",
        include_str!("../../migrations/postgres/0009_rotation_finish.sql"),
    ),
    (
        10,
        "token uses",
        include_str!("../../migrations/postgres/0010_token_uses.sql"),
    ),
];

/// Storage in PostgreSQL: every replica of the service shares one database.
///
/// Holds the same contract as every backend (see [`Storage`](super::Storage)): each
/// write is one transaction whose `UPDATE … WHERE id = … AND account = … AND version =
/// …` is the compare-and-swap (of two replicas racing on one integration exactly one
/// wins, the other gets [`StorageError::Conflict`]); it keeps the unique token index
/// `pi_tokens` in sync and appends the audit event. A token lookup is one indexed
/// query. Every management query names the account.
///
/// The tables are created by [`migrate`](Self::migrate), never implicitly:
/// `pi_integrations`, `pi_tokens`, `pi_account_settings`, `pi_permissions` and
/// `pi_audit_events`, with their history in `pi_migrations`, in the first schema of the
/// connection's `search_path`. They can share a database and a schema with the host
/// application's tables and its `_sqlx_migrations`.
///
/// Timestamps are `timestamptz` (microseconds, as the service keeps them), token hashes
/// 32-byte `bytea`, audit actions JSON text. Last-used times live on the token's row of
/// `pi_tokens`, written in one statement per batch; use counts per token and hour in
/// `pi_token_uses`, added in one statement per batch too.
///
/// # Announcing changes
///
/// The migrations install triggers that announce every committed change affecting
/// verification on the channel `pi_changes`, in the writing transaction (so changes
/// made by hand in SQL are announced too, and rolled-back ones never are).
/// [`Storage::watch`](super::Storage::watch) listens for them on a connection of its
/// own (a `PgListener`, named [`listener_application_name`](Self::listener_application_name)
/// in `pg_stat_activity`), checks it with a heartbeat, and reconnects when it is lost or
/// silent. See [`heartbeat`](Self::heartbeat) for the timings.
///
/// The cost: PostgreSQL commits the transactions that `NOTIFY` one at a time, across the
/// whole database (it takes a global lock at commit so that notifications arrive in
/// commit order). Only management writes announce — never a verification, never a
/// last-used write or a use count — so this serializes the admins' changes, which are
/// rare, and any other transaction of the host that uses `NOTIFY`; nothing else.
///
/// # An outage is bounded
///
/// With the database unreachable every call fails with [`StorageError::Backend`] within
/// a bounded time instead of hanging:
/// - a token lookup (verification) gives up after the [lookup
///   timeout](Self::lookup_timeout), 3 s by default, whatever the pool does;
/// - every other call waits at most the pool's acquire timeout for a connection:
///   [`connect`](Self::connect) sets [`DEFAULT_ACQUIRE_TIMEOUT`](Self::DEFAULT_ACQUIRE_TIMEOUT),
///   2 s (`sqlx`'s own default is 30 s). A pool of your own, passed to
///   [`new`](Self::new), should set a short `acquire_timeout` too (a few seconds) and keep
///   `test_before_acquire` on (the default), so that a connection left silent by the
///   network is found by the ping inside the acquire timeout. A call already waiting on
///   the network when it goes silent ends when the operating system gives up on the
///   connection (minutes); bound it with a timeout of your own (e.g. on the HTTP request)
///   if that matters.
///
/// Once the database is back, the pool opens new connections and everything works again,
/// with no restart.
///
/// No TLS implementation is built in: to reach a server over TLS, enable one of `sqlx`'s
/// `tls-*` features in the host's own `Cargo.toml`. Clones share the pool.
///
/// # Example
///
/// ```no_run
/// use private_integrations::{PostgresStorage, PrivateIntegrations, ScopeCatalog};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let storage = PostgresStorage::connect("postgres://app@localhost/app").await?;
/// storage.migrate().await?;
/// let pi = PrivateIntegrations::builder(storage)
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// # let _ = pi; Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    lookup_timeout: Duration,
    listener: ListenerSettings,
    application_name: Arc<str>,
}

impl std::fmt::Debug for PostgresStorage {
    /// Shows the pool's state, never its connect options (they may hold a password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .field("lookup_timeout", &self.lookup_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Storage on the host application's existing pool. Creates nothing: call
    /// [`migrate`](Self::migrate) once before use.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use private_integrations::PostgresStorage;
    /// use private_integrations::storage::sqlx::postgres::PgPoolOptions;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = PgPoolOptions::new().max_connections(10).connect("postgres://app@localhost/app").await?;
    /// let storage = PostgresStorage::new(pool);
    /// storage.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            lookup_timeout: Self::DEFAULT_LOOKUP_TIMEOUT,
            listener: ListenerSettings::default(),
            application_name: Self::DEFAULT_LISTENER_APPLICATION_NAME.into(),
        }
    }

    /// How long [`connect`](Self::connect)'s pool waits for a connection before a call
    /// fails: 2 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PostgresStorage;
    /// assert_eq!(PostgresStorage::DEFAULT_ACQUIRE_TIMEOUT.as_secs(), 2);
    /// ```
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

    /// How long a token lookup may take before verification is refused with a storage
    /// error: 3 seconds. See [`lookup_timeout`](Self::lookup_timeout).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PostgresStorage;
    /// assert_eq!(PostgresStorage::DEFAULT_LOOKUP_TIMEOUT.as_secs(), 3);
    /// ```
    pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

    /// The change listener's heartbeat interval: 2 seconds. See [`heartbeat`](Self::heartbeat).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PostgresStorage;
    /// assert_eq!(PostgresStorage::DEFAULT_HEARTBEAT_INTERVAL.as_secs(), 2);
    /// ```
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

    /// How long the change listener's heartbeat may take: 2 seconds. See
    /// [`heartbeat`](Self::heartbeat).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PostgresStorage;
    /// assert_eq!(PostgresStorage::DEFAULT_HEARTBEAT_TIMEOUT.as_secs(), 2);
    /// ```
    pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

    /// The `application_name` of the change listener's connection:
    /// `private-integrations listener`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PostgresStorage;
    /// assert_eq!(PostgresStorage::DEFAULT_LISTENER_APPLICATION_NAME, "private-integrations listener");
    /// ```
    pub const DEFAULT_LISTENER_APPLICATION_NAME: &'static str = "private-integrations listener";

    /// How long a token lookup may take (default [`DEFAULT_LOOKUP_TIMEOUT`](Self::DEFAULT_LOOKUP_TIMEOUT),
    /// 3 s): past it, verification is refused with a storage error rather than wait on a
    /// database that does not answer. It bounds the whole lookup, waiting for a
    /// connection included, whatever the pool's own settings.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero: a configuration bug, found at start-up.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use private_integrations::PostgresStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = PostgresStorage::connect("postgres://app@localhost/app")
    ///     .await?
    ///     .lookup_timeout(Duration::from_millis(500));
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        assert!(!timeout.is_zero(), "the lookup timeout must be positive");
        self.lookup_timeout = timeout;
        self
    }

    /// The change listener's heartbeat: every `interval` (default
    /// [`DEFAULT_HEARTBEAT_INTERVAL`](Self::DEFAULT_HEARTBEAT_INTERVAL), 2 s) it runs a
    /// query on its own connection, and a query that has not answered within `timeout`
    /// (default [`DEFAULT_HEARTBEAT_TIMEOUT`](Self::DEFAULT_HEARTBEAT_TIMEOUT), 2 s) means
    /// the connection has gone silent: it is dropped and opened again, and the listener
    /// told that announcements may have been missed once it listens again. A silent
    /// connection is thus found within `interval + timeout` (4 s by default). `sqlx`
    /// sets no TCP keepalive, so without the heartbeat a connection dropped by the
    /// network would wait forever.
    ///
    /// Reconnecting starts at once, then backs off from 100 ms, doubling, to at most
    /// `interval`; one attempt may take 5 s, or `timeout` if longer.
    ///
    /// # Panics
    ///
    /// If `interval` or `timeout` is zero.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use private_integrations::PostgresStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = PostgresStorage::connect("postgres://app@localhost/app")
    ///     .await?
    ///     .heartbeat(Duration::from_secs(1), Duration::from_secs(1)); // silence found within 2 s
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        assert!(
            !interval.is_zero() && !timeout.is_zero(),
            "the heartbeat interval and timeout must be positive"
        );
        self.listener.heartbeat_interval = interval;
        self.listener.heartbeat_timeout = timeout;
        self.listener.reconnect_delay_max = interval;
        self.listener.connect_timeout = ListenerSettings::default().connect_timeout.max(timeout);
        self
    }

    /// The `application_name` the change listener's connection shows in
    /// `pg_stat_activity` (default
    /// [`DEFAULT_LISTENER_APPLICATION_NAME`](Self::DEFAULT_LISTENER_APPLICATION_NAME)).
    /// Its other connection settings are the pool's.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use private_integrations::PostgresStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = PostgresStorage::connect("postgres://app@localhost/app")
    ///     .await?
    ///     .listener_application_name("billing-api pi listener");
    /// # Ok(()) }
    /// ```
    pub fn listener_application_name(mut self, name: &str) -> Self {
        self.application_name = name.into();
        self
    }

    /// Opens a pool on `url` (`postgres://user:password@host/database`) with `sqlx`'s
    /// default settings, except a short acquire timeout:
    /// [`DEFAULT_ACQUIRE_TIMEOUT`](Self::DEFAULT_ACQUIRE_TIMEOUT), 2 s, so that a call
    /// fails within it when the database is unreachable instead of waiting 30 s. Call
    /// [`migrate`](Self::migrate) before use.
    ///
    /// # Errors
    ///
    /// [`StorageError::Backend`] if the URL is malformed or the server cannot be reached.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use private_integrations::PostgresStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = PostgresStorage::connect("postgres://app@localhost/app").await?;
    /// storage.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let pool = PgPoolOptions::new()
            .acquire_timeout(Self::DEFAULT_ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(backend)?;
        Ok(Self::new(pool))
    }

    /// Creates or upgrades this crate's tables, and the triggers that announce changes,
    /// applying the embedded migrations that have not run yet, each in a transaction.
    /// Idempotent: run it at every start-up.
    ///
    /// Replicas starting together are safe: the run holds a PostgreSQL advisory lock, so
    /// one applies the migrations and the others then find nothing to do. The history is
    /// kept in `pi_migrations`, apart from the host's `_sqlx_migrations`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Backend`] if the database fails, or if it holds a migration of
    /// this crate that differs from the embedded one.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # use private_integrations::PostgresStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = PostgresStorage::connect("postgres://app@localhost/app").await?;
    /// storage.migrate().await?;
    /// storage.migrate().await?; // nothing left to do
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        // `run_direct` is what `Migrator::run` calls once it holds a connection; called
        // directly, the future stays `Send` (`run`'s `Acquire` bound is not general
        // enough for `tokio::spawn`), and the connection stays ours to close.
        let result = sql::migrator(MIGRATIONS)
            .run_direct(None, &mut *conn, false)
            .await;
        if result.is_err() {
            // The session may still hold the advisory lock: end it, rather than hand it
            // back to the pool and block every later run.
            conn.close_on_drop();
        }
        result.map_err(StorageError::backend)?;
        drop(conn);
        self.fold_names().await
    }

    /// The pool, for the host's own queries or to [`close`](PgPool::close) it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # use private_integrations::PostgresStorage;
    /// # async fn run(storage: PostgresStorage) {
    /// storage.pool().close().await;
    /// # }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// What `sql::impl_storage!` needs of this backend.
impl PostgresStorage {
    /// A transaction at the server's default isolation, READ COMMITTED. Under it, a
    /// concurrent writer of the same row makes the compare-and-swap `UPDATE` wait, then
    /// re-check the version against the row it committed: one of them changes nothing.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StorageError> {
        self.pool.begin().await.map_err(backend)
    }

    /// A timestamp is a `timestamptz`, as it is.
    fn encode_time(at: OffsetDateTime) -> Result<OffsetDateTime, StorageError> {
        Ok(at)
    }

    fn decode_time(at: OffsetDateTime) -> Result<OffsetDateTime, StorageError> {
        Ok(at)
    }

    /// Nothing to do: the integration's token index rows and use counts went with it
    /// (`ON DELETE CASCADE`; PostgreSQL always enforces foreign keys).
    async fn delete_token_rows(
        _tx: &mut Transaction<'static, Postgres>,
        _integration_id: &str,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    /// The lookup, given up after the lookup timeout.
    fn bound_lookup(
        &self,
        lookup: impl Future<Output = TokenLookupResult> + Send,
    ) -> impl Future<Output = TokenLookupResult> + Send {
        let limit = self.lookup_timeout;
        async move {
            tokio::time::timeout(limit, lookup)
                .await
                .unwrap_or_else(|_| Err(StorageError::backend(LookupTimedOut(limit))))
        }
    }

    /// The whole batch in one statement.
    async fn write_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError> {
        let ids: Vec<&str> = uses.iter().map(|u| u.token_id.as_str()).collect();
        let times: Vec<OffsetDateTime> = uses.iter().map(|u| u.at).collect();
        sqlx::query(
            "UPDATE pi_tokens AS t SET last_used_at = u.at \
             FROM unnest($1::text[], $2::timestamptz[]) AS u(token_id, at) \
             WHERE t.token_id = u.token_id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)",
        )
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// The whole batch in one statement (`RECORD_TOKEN_USES_BATCH`): it lands whole or
    /// not at all.
    async fn write_token_uses(&self, counts: &[sql::UseCount]) -> Result<(), StorageError> {
        let ids: Vec<&str> = counts.iter().map(|c| c.token_id.as_str()).collect();
        let hours: Vec<OffsetDateTime> = counts.iter().map(|c| c.hour).collect();
        let uses: Vec<i64> = counts.iter().map(|c| c.uses).collect();
        sqlx::query(sql::RECORD_TOKEN_USES_BATCH)
            .bind(ids)
            .bind(hours)
            .bind(uses)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The change listener, on the tokio runtime current here.
    fn start_watch(&self, listener: Arc<dyn ChangeListener>) -> Option<Watch> {
        let counters = Arc::new(ListenerCounters::default());
        let task = listen::run(
            self.pool.clone(),
            self.listener,
            Arc::clone(&self.application_name),
            listener,
            Arc::clone(&counters),
        );
        let watch = Watch::spawn(counters, task);
        if watch.is_none() {
            tracing::warn!(
                target: listen::TARGET,
                "private integrations: no tokio runtime, so no change listener: \
                 other replicas' changes will not be seen before the cache expires them"
            );
        }
        watch
    }
}

/// A token lookup that took longer than the lookup timeout.
#[derive(Debug)]
struct LookupTimedOut(Duration);

impl std::fmt::Display for LookupTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token lookup timed out after {} ms", self.0.as_millis())
    }
}

impl std::error::Error for LookupTimedOut {}

sql::impl_storage!(PostgresStorage, Postgres);
