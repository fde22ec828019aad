//! [`SqliteStorage`]: integrations in an SQLite database, embedded and persistent.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;

use super::sql::{self, AuditRow, IntegrationColumns, IntegrationRow, backend, write_error};
use super::{AccessSettings, AuditEvent, IntegrationRecord, Storage, StorageError, TokenLookup};
use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};

/// The embedded migrations, in order.
const MIGRATIONS: &[sql::EmbeddedMigration] = &[(
    1,
    "initial",
    include_str!("../../migrations/sqlite/0001_initial.sql"),
)];

/// The columns of `pi_integrations` (table alias `i`) that make a record.
macro_rules! integration_columns {
    () => {
        "i.id, i.account, i.name, i.description, i.scopes, \
         i.current_token_id, i.current_token_hash, i.current_issued_at, \
         i.previous_token_id, i.previous_token_hash, i.previous_issued_at, i.previous_expires_at, \
         i.created_at, i.updated_at, i.version"
    };
}

/// Storage in an SQLite database: embedded, persistent, one file.
///
/// Holds the same contract as every backend (see [`Storage`]): each write is one
/// transaction that checks the record's version (compare-and-swap), keeps the unique
/// token index `pi_tokens` in sync, and appends the audit event; a token lookup is one
/// query on that index. Every management query names the account.
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
            .map_err(StorageError::backend)
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

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StorageError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }
}

/// Whole microseconds since the Unix epoch.
fn micros(at: OffsetDateTime) -> Result<i64, StorageError> {
    i64::try_from((at - OffsetDateTime::UNIX_EPOCH).whole_microseconds())
        .map_err(|_| StorageError::backend(sql::Corrupt::OUT_OF_RANGE))
}

fn from_micros(micros: i64) -> Result<OffsetDateTime, StorageError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| StorageError::backend(sql::Corrupt::OUT_OF_RANGE))
}

fn integration(row: &SqliteRow) -> Result<IntegrationRecord, StorageError> {
    let at = |column: &str| from_micros(row.try_get(column).map_err(backend)?);
    let at_opt = |column: &str| {
        row.try_get::<Option<i64>, _>(column)
            .map_err(backend)?
            .map(from_micros)
            .transpose()
    };
    let get = |column: &str| row.try_get::<String, _>(column).map_err(backend);
    IntegrationRow {
        id: get("id")?,
        account: get("account")?,
        name: get("name")?,
        description: get("description")?,
        scopes: get("scopes")?,
        current_token_id: get("current_token_id")?,
        current_token_hash: row.try_get("current_token_hash").map_err(backend)?,
        current_issued_at: at("current_issued_at")?,
        previous_token_id: row.try_get("previous_token_id").map_err(backend)?,
        previous_token_hash: row.try_get("previous_token_hash").map_err(backend)?,
        previous_issued_at: at_opt("previous_issued_at")?,
        previous_expires_at: at_opt("previous_expires_at")?,
        created_at: at("created_at")?,
        updated_at: at("updated_at")?,
        version: row.try_get("version").map_err(backend)?,
    }
    .into_record()
}

/// Points every token id of the record at it (the caller removed its old ids first).
async fn index_tokens(
    tx: &mut Transaction<'static, Sqlite>,
    columns: &IntegrationColumns<'_>,
) -> Result<(), StorageError> {
    for token_id in columns.token_ids() {
        sqlx::query("INSERT INTO pi_tokens (token_id, integration_id) VALUES ($1, $2)")
            .bind(token_id)
            .bind(columns.id)
            .execute(&mut **tx)
            .await
            .map_err(write_error)?;
    }
    Ok(())
}

async fn append(
    tx: &mut Transaction<'static, Sqlite>,
    event: &AuditEvent,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO pi_audit_events (account, actor, integration_id, action, at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.account.as_str())
    .bind(event.actor.as_str())
    .bind(event.integration.as_ref().map(IntegrationId::as_str))
    .bind(sql::action_json(&event.action)?)
    .bind(micros(event.at)?)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// After a compare-and-swap write changed no row: [`StorageError::NotFound`] if the
/// account has no such integration, [`StorageError::Conflict`] if its version differs.
async fn missed(tx: &mut Transaction<'static, Sqlite>, account: &str, id: &str) -> StorageError {
    let exists = sqlx::query("SELECT 1 FROM pi_integrations WHERE id = $1 AND account = $2")
        .bind(id)
        .bind(account)
        .fetch_optional(&mut **tx)
        .await;
    match exists {
        Ok(Some(_)) => StorageError::Conflict,
        Ok(None) => StorageError::NotFound,
        Err(err) => backend(err),
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn insert(
        &self,
        record: &IntegrationRecord,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let c = IntegrationColumns::of(record)?;
        let previous = c.previous.as_ref();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO pi_integrations (id, account, name, description, scopes, \
             current_token_id, current_token_hash, current_issued_at, \
             previous_token_id, previous_token_hash, previous_issued_at, previous_expires_at, \
             created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(c.id)
        .bind(c.account)
        .bind(c.name)
        .bind(c.description)
        .bind(&c.scopes)
        .bind(c.current.id)
        .bind(c.current.hash)
        .bind(micros(c.current.issued_at)?)
        .bind(previous.map(|(p, _)| p.id))
        .bind(previous.map(|(p, _)| p.hash))
        .bind(previous.map(|(p, _)| micros(p.issued_at)).transpose()?)
        .bind(previous.map(|(_, at)| micros(*at)).transpose()?)
        .bind(micros(c.created_at)?)
        .bind(micros(c.updated_at)?)
        .bind(c.version)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        index_tokens(&mut tx, &c).await?;
        append(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let c = IntegrationColumns::of(record)?;
        let previous = c.previous.as_ref();
        let expected = sql::version(expected_version)?;
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE pi_integrations SET name = $4, description = $5, scopes = $6, \
             current_token_id = $7, current_token_hash = $8, current_issued_at = $9, \
             previous_token_id = $10, previous_token_hash = $11, previous_issued_at = $12, \
             previous_expires_at = $13, created_at = $14, updated_at = $15, version = $16 \
             WHERE id = $1 AND account = $2 AND version = $3",
        )
        .bind(c.id)
        .bind(c.account)
        .bind(expected)
        .bind(c.name)
        .bind(c.description)
        .bind(&c.scopes)
        .bind(c.current.id)
        .bind(c.current.hash)
        .bind(micros(c.current.issued_at)?)
        .bind(previous.map(|(p, _)| p.id))
        .bind(previous.map(|(p, _)| p.hash))
        .bind(previous.map(|(p, _)| micros(p.issued_at)).transpose()?)
        .bind(previous.map(|(_, at)| micros(*at)).transpose()?)
        .bind(micros(c.created_at)?)
        .bind(micros(c.updated_at)?)
        .bind(c.version)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if changed == 0 {
            return Err(missed(&mut tx, c.account, c.id).await);
        }
        sqlx::query("DELETE FROM pi_tokens WHERE integration_id = $1")
            .bind(c.id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        index_tokens(&mut tx, &c).await?;
        append(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let expected = sql::version(expected_version)?;
        let mut tx = self.begin().await?;
        // Its token index rows go with it: cascaded where foreign keys are enforced, and
        // deleted below for connections that do not enforce them.
        let changed = sqlx::query(
            "DELETE FROM pi_integrations WHERE id = $1 AND account = $2 AND version = $3",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(expected)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if changed == 0 {
            return Err(missed(&mut tx, account.as_str(), id.as_str()).await);
        }
        sqlx::query("DELETE FROM pi_tokens WHERE integration_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        append(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            integration_columns!(),
            " FROM pi_integrations i WHERE i.id = $1 AND i.account = $2"
        ))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(integration).transpose()
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            integration_columns!(),
            " FROM pi_integrations i WHERE i.account = $1 ORDER BY i.created_at, i.id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(integration).collect()
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        let token_id = *token_id;
        TokenLookup::pending(async move {
            let row = sqlx::query(concat!(
                "SELECT ",
                integration_columns!(),
                " FROM pi_tokens t JOIN pi_integrations i ON i.id = t.integration_id \
                 WHERE t.token_id = $1 \
                 AND (i.current_token_id = $1 OR i.previous_token_id = $1)"
            ))
            .bind(token_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            Ok(row.as_ref().map(integration).transpose()?.map(Arc::new))
        })
    }

    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT feature_enabled FROM pi_account_settings WHERE account = $1) AS feature_enabled, \
             (SELECT permission FROM pi_permissions WHERE account = $1 AND user_id = $2) AS permission",
        )
        .bind(account.as_str())
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let defaults = AccessSettings::default();
        let feature_enabled: Option<bool> = row.try_get("feature_enabled").map_err(backend)?;
        let permission: Option<String> = row.try_get("permission").map_err(backend)?;
        Ok(AccessSettings {
            feature_enabled: feature_enabled.unwrap_or(defaults.feature_enabled),
            permission: permission
                .as_deref()
                .map(sql::parse_permission)
                .transpose()?
                .unwrap_or(defaults.permission),
        })
    }

    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO pi_permissions (account, user_id, permission) VALUES ($1, $2, $3) \
             ON CONFLICT (account, user_id) DO UPDATE SET permission = excluded.permission",
        )
        .bind(account.as_str())
        .bind(user.as_str())
        .bind(sql::permission_text(permission))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        append(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO pi_account_settings (account, feature_enabled) VALUES ($1, $2) \
             ON CONFLICT (account) DO UPDATE SET feature_enabled = excluded.feature_enabled",
        )
        .bind(account.as_str())
        .bind(enabled)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        append(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        let rows = sqlx::query(
            "SELECT account, actor, integration_id, action, at FROM pi_audit_events \
             WHERE account = $1 ORDER BY at DESC, seq DESC",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                AuditRow {
                    account: row.try_get("account").map_err(backend)?,
                    actor: row.try_get("actor").map_err(backend)?,
                    integration_id: row.try_get("integration_id").map_err(backend)?,
                    action: row.try_get("action").map_err(backend)?,
                    at: from_micros(row.try_get("at").map_err(backend)?)?,
                }
                .into_event()
            })
            .collect()
    }
}
