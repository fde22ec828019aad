//! [`SqliteStorage`]: integrations in an SQLite database, embedded and persistent.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

use super::StorageError;
use super::sql::{self, backend};

/// The embedded migrations, in order.
const MIGRATIONS: &[sql::EmbeddedMigration] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "audit by integration",
        include_str!("../../migrations/sqlite/0002_audit_by_integration.sql"),
    ),
    (
        3,
        "last used",
        include_str!("../../migrations/sqlite/0003_last_used.sql"),
    ),
    (
        4,
        "idempotency keys",
        include_str!("../../migrations/sqlite/0004_idempotency_keys.sql"),
    ),
    (
        5,
        "name search",
        include_str!("../../migrations/sqlite/0005_name_search.sql"),
    ),
    (
        6,
        "listing counts",
        include_str!("../../migrations/sqlite/0006_listing_counts.sql"),
    ),
    (
        7,
        "leaked tokens",
        include_str!("../../migrations/sqlite/0007_leaked_tokens.sql"),
    ),
    (
        8,
        "audit retention",
        include_str!("../../migrations/sqlite/0008_audit_retention.sql"),
    ),
    (
        9,
        "rotation finish",
        include_str!("../../migrations/sqlite/0009_rotation_finish.sql"),
    ),
    (
        10,
        "token uses",
        include_str!("../../migrations/sqlite/0010_token_uses.sql"),
    ),
];

/// Storage in an SQLite database: embedded, persistent, one file.
///
/// Holds the same contract as every backend (see [`Storage`](super::Storage)): each
/// write is one transaction that checks the record's version (compare-and-swap), keeps
/// the unique token index `pi_tokens` in sync, and appends the audit event; a token
/// lookup is one query on that index. Every management query names the account.
///
/// The tables are created by [`migrate`](Self::migrate), never implicitly:
/// `pi_integrations`, `pi_tokens`, `pi_account_settings`, `pi_permissions` and
/// `pi_audit_events`, with their history in `pi_migrations`, so they can share a database
/// with the host application's tables and its `_sqlx_migrations`.
///
/// Timestamps are stored as whole microseconds since the Unix epoch (`INTEGER`), exact
/// over the whole range of [`OffsetDateTime`]; token hashes as 32-byte `BLOB`s; audit
/// actions as JSON text.
///
/// Writes take SQLite's write lock at once (`BEGIN IMMEDIATE`), so concurrent writers
/// wait for each other (up to the connection's busy timeout, 5 s by default) instead of
/// failing. Clones share the pool.
///
/// Last-used times live on the token's row of `pi_tokens`, and use counts per token and
/// hour in `pi_token_uses`, each written in one transaction per batch. It announces no
/// changes ([`Storage::watch`](super::Storage::watch) is `None`): it serves one process,
/// whose service announces its own writes.
///
/// # Example
///
/// ```no_run
/// use private_integrations::{PrivateIntegrations, ScopeCatalog, SqliteStorage};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let storage = SqliteStorage::connect("sqlite://integrations.db").await?;
/// storage.migrate().await?;
/// let pi = PrivateIntegrations::builder(storage)
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// # let _ = pi; Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[derive(Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Storage on the host application's existing pool. Creates nothing: call
    /// [`migrate`](Self::migrate) once before use.
    ///
    /// Foreign-key enforcement is not required: every delete removes the token index
    /// rows itself.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use private_integrations::SqliteStorage;
    /// use private_integrations::storage::sqlx::sqlite::SqlitePoolOptions;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = SqlitePoolOptions::new().connect("sqlite://app.db?mode=rwc").await?;
    /// let storage = SqliteStorage::new(pool);
    /// storage.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Opens a pool on `url` (`sqlite://path/to/file.db`, or `sqlite::memory:`).
    ///
    /// A database file is created if missing and put in WAL mode, so readers never wait
    /// for a writer. An in-memory database lives in one connection that the pool never
    /// closes (each connection would otherwise see a database of its own, or none); it
    /// is gone when the pool is. Call [`migrate`](Self::migrate) before use.
    ///
    /// # Errors
    ///
    /// [`StorageError::Backend`] if the URL is malformed or the database cannot be opened.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use private_integrations::SqliteStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = SqliteStorage::connect("sqlite::memory:").await?;
    /// storage.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(url).map_err(backend)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .connect_with(
                    options
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal),
                )
                .await
        };
        Ok(Self::new(pool.map_err(backend)?))
    }

    /// Creates or upgrades this crate's tables, applying the embedded migrations that
    /// have not run yet, each in a transaction. Idempotent: run it at every start-up.
    ///
    /// The history is kept in `pi_migrations`, apart from the host's
    /// `_sqlx_migrations`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Backend`] if the database fails, or if it holds a migration of
    /// this crate that differs from the embedded one.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # use private_integrations::SqliteStorage;
    /// # async fn run() -> Result<(), private_integrations::StorageError> {
    /// let storage = SqliteStorage::connect("sqlite://integrations.db").await?;
    /// storage.migrate().await?;
    /// storage.migrate().await?; // nothing left to do
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StorageError> {
        sql::migrator(MIGRATIONS)
            .run(&self.pool)
            .await
            .map_err(StorageError::backend)?;
        self.fold_names().await
    }

    /// The pool, for the host's own queries or to [`close`](SqlitePool::close) it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # use private_integrations::SqliteStorage;
    /// # async fn run(storage: SqliteStorage) {
    /// storage.pool().close().await;
    /// # }
    /// ```
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

// What `sql::impl_storage!` needs of this backend.
impl SqliteStorage {
    /// Takes SQLite's write lock at once (`BEGIN IMMEDIATE`): concurrent writers wait for
    /// each other instead of failing.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StorageError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }

    /// A timestamp is stored as whole microseconds since the Unix epoch.
    fn encode_time(at: OffsetDateTime) -> Result<i64, StorageError> {
        i64::try_from((at - OffsetDateTime::UNIX_EPOCH).whole_microseconds())
            .map_err(|_| StorageError::backend(sql::Corrupt::OUT_OF_RANGE))
    }

    fn decode_time(micros: i64) -> Result<OffsetDateTime, StorageError> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .map_err(|_| StorageError::backend(sql::Corrupt::OUT_OF_RANGE))
    }

    /// Deletes the integration's token index rows and use counts. The schema cascades
    /// them where foreign keys are enforced; this deletes them for connections that do
    /// not enforce them.
    async fn delete_token_rows(
        tx: &mut Transaction<'static, Sqlite>,
        integration_id: &str,
    ) -> Result<(), StorageError> {
        for statement in [sql::DELETE_TOKENS, sql::DELETE_TOKEN_USES] {
            sqlx::query(statement)
                .bind(integration_id)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// No time limit: the database is local (a busy database waits up to the
    /// connection's busy timeout).
    fn bound_lookup<F: std::future::Future>(&self, lookup: F) -> F {
        lookup
    }

    /// Each use in turn, in one transaction.
    async fn write_last_used(&self, uses: &[super::LastUse]) -> Result<(), StorageError> {
        let mut tx = self.begin().await?;
        for used in uses {
            sqlx::query(sql::RECORD_LAST_USED)
                .bind(used.token_id.as_str())
                .bind(Self::encode_time(used.at)?)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// Each count in turn (`RECORD_TOKEN_USES`), in one transaction: the batch lands
    /// whole or not at all.
    async fn write_token_uses(&self, counts: &[sql::UseCount]) -> Result<(), StorageError> {
        let mut tx = self.begin().await?;
        for count in counts {
            sqlx::query(sql::RECORD_TOKEN_USES)
                .bind(count.token_id.as_str())
                .bind(Self::encode_time(count.hour)?)
                .bind(count.uses)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// Nothing to announce: one process, which announces its own writes.
    fn start_watch(
        &self,
        _listener: std::sync::Arc<dyn super::ChangeListener>,
    ) -> Option<super::Watch> {
        None
    }
}

sql::impl_storage!(SqliteStorage, Sqlite);
