//! [`PostgresStorage`]: integrations in PostgreSQL, shared by every replica of a service.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use super::StorageError;
use super::sql::{self, backend};

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
/// 32-byte `bytea`, audit actions JSON text.
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
}

impl std::fmt::Debug for PostgresStorage {
    /// Shows the pool's state, never its connect options (they may hold a password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
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
        Self { pool }
    }

    /// Opens a pool with `sqlx`'s default settings on `url`
    /// (`postgres://user:password@host/database`). Call [`migrate`](Self::migrate) before
    /// use.
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
        let pool = PgPoolOptions::new().connect(url).await.map_err(backend)?;
        Ok(Self::new(pool))
    }

    /// Creates or upgrades this crate's tables, applying the embedded migrations that
    /// have not run yet, each in a transaction. Idempotent: run it at every start-up.
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
        result.map_err(StorageError::backend)
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

    /// Nothing to do: the integration's token index rows went with it (`ON DELETE
    /// CASCADE`; PostgreSQL always enforces foreign keys).
    async fn delete_token_rows(
        _tx: &mut Transaction<'static, Postgres>,
        _integration_id: &str,
    ) -> Result<(), StorageError> {
        Ok(())
    }
}

sql::impl_storage!(PostgresStorage, Postgres);
