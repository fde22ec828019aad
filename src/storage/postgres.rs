//! [`PostgresStorage`]: integrations in PostgreSQL, shared by every replica of a service.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::sql::{self, AuditRow, IntegrationColumns, IntegrationRow, backend, write_error};
use super::{AccessSettings, AuditEvent, IntegrationRecord, Storage, StorageError, TokenLookup};
use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};

/// The embedded migrations, in order.
const MIGRATIONS: &[sql::EmbeddedMigration] = &[(
    1,
    "initial",
    include_str!("../../migrations/postgres/0001_initial.sql"),
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

/// Storage in PostgreSQL: every replica of the service shares one database.
///
/// Holds the same contract as every backend (see [`Storage`]): each write is one
/// transaction whose `UPDATE … WHERE id = $1 AND account = $2 AND version = $3` is the
/// compare-and-swap (of two replicas racing on one integration exactly one wins, the
/// other gets [`StorageError::Conflict`]); it keeps the unique token index `pi_tokens`
/// in sync and appends the audit event. A token lookup is one indexed query. Every
/// management query names the account.
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

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StorageError> {
        self.pool.begin().await.map_err(backend)
    }
}

fn integration(row: &PgRow) -> Result<IntegrationRecord, StorageError> {
    let get = |column: &str| row.try_get::<String, _>(column).map_err(backend);
    IntegrationRow {
        id: get("id")?,
        account: get("account")?,
        name: get("name")?,
        description: get("description")?,
        scopes: get("scopes")?,
        current_token_id: get("current_token_id")?,
        current_token_hash: row.try_get("current_token_hash").map_err(backend)?,
        current_issued_at: row.try_get("current_issued_at").map_err(backend)?,
        previous_token_id: row.try_get("previous_token_id").map_err(backend)?,
        previous_token_hash: row.try_get("previous_token_hash").map_err(backend)?,
        previous_issued_at: row.try_get("previous_issued_at").map_err(backend)?,
        previous_expires_at: row.try_get("previous_expires_at").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        updated_at: row.try_get("updated_at").map_err(backend)?,
        version: row.try_get("version").map_err(backend)?,
    }
    .into_record()
}

/// Points every token id of the record at it (the caller removed its old ids first).
async fn index_tokens(
    tx: &mut Transaction<'static, Postgres>,
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
    tx: &mut Transaction<'static, Postgres>,
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
    .bind(event.at)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// After a compare-and-swap write changed no row: [`StorageError::NotFound`] if the
/// account has no such integration, [`StorageError::Conflict`] if its version differs.
async fn missed(tx: &mut Transaction<'static, Postgres>, account: &str, id: &str) -> StorageError {
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
impl Storage for PostgresStorage {
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
        .bind(c.current.issued_at)
        .bind(previous.map(|(p, _)| p.id))
        .bind(previous.map(|(p, _)| p.hash))
        .bind(previous.map(|(p, _)| p.issued_at))
        .bind(previous.map(|(_, at)| *at))
        .bind(c.created_at)
        .bind(c.updated_at)
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
        // Under READ COMMITTED a concurrent writer of the same row makes this wait, then
        // re-check the version against the row it committed: one of them changes nothing.
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
        .bind(c.current.issued_at)
        .bind(previous.map(|(p, _)| p.id))
        .bind(previous.map(|(p, _)| p.hash))
        .bind(previous.map(|(p, _)| p.issued_at))
        .bind(previous.map(|(_, at)| *at))
        .bind(c.created_at)
        .bind(c.updated_at)
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
        // Its token index rows go with it (ON DELETE CASCADE).
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
                    at: row.try_get("at").map_err(backend)?,
                }
                .into_event()
            })
            .collect()
    }
}
