//! What the SQL backends share: the SQL text, turning records into column values and
//! rows back into records (checking every value on the way in), the audit action's JSON,
//! the embedded migrations' runner, the mapping of `sqlx` errors, and the [`Storage`]
//! implementation itself ([`impl_storage!`]).
//!
//! One text serves both dialects: both take `$n` parameters and `ON CONFLICT … DO
//! UPDATE`. Their types differ only in the migrations and in how a timestamp is stored,
//! which each backend says (see [`impl_storage!`]).
//!
//! [`Storage`]: super::Storage

use std::borrow::Cow;
use std::fmt;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};
use time::OffsetDateTime;

use super::{
    AccessSettings, AuditAction, AuditEvent, Credentials, Fingerprint, IdempotencyKey,
    IdempotencyRecord, IntegrationRecord, LastUsedTimes, StorageError, TokenCredential,
};
use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::listing::{IntegrationQuery, IntegrationState};
use crate::domain::page::ListOrder;
use crate::domain::token::TokenHash;
use crate::domain::usage::hour_of;

/// The table that records which of this crate's migrations ran: never the host's
/// `_sqlx_migrations`.
pub(crate) const MIGRATIONS_TABLE: &str = "pi_migrations";

/// An embedded migration: its version, its description and its SQL.
pub(crate) type EmbeddedMigration = (i64, &'static str, &'static str);

/// A migrator for the embedded migrations that keeps its history in
/// [`MIGRATIONS_TABLE`].
pub(crate) fn migrator(migrations: &[EmbeddedMigration]) -> Migrator {
    let migrations = migrations
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// A database's refusal, told by its code and message only.
///
/// Drivers keep more (PostgreSQL's detail can quote the failing row, token hashes
/// included), so the original error is not kept as the source.
#[derive(Debug)]
struct DatabaseRefusal {
    code: Option<String>,
    message: String,
}

impl fmt::Display for DatabaseRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "database error {code}: {}", self.message),
            None => write!(f, "database error: {}", self.message),
        }
    }
}

impl std::error::Error for DatabaseRefusal {}

/// Maps any `sqlx` error to [`StorageError::Backend`], keeping no bound value.
pub(crate) fn backend(err: sqlx::Error) -> StorageError {
    match err {
        sqlx::Error::Database(db) => StorageError::backend(DatabaseRefusal {
            code: db.code().map(Cow::into_owned),
            message: db.message().to_owned(),
        }),
        other => StorageError::backend(other),
    }
}

/// How many times a change is tried when the database aborts it to break a deadlock or
/// a serialization failure.
const CHANGE_ATTEMPTS: usize = 3;

/// Runs one change's transaction, again when the database aborted it as the victim of a
/// deadlock (`40P01`) or a serialization failure (`40001`), at most [`CHANGE_ATTEMPTS`]
/// times in all.
///
/// PostgreSQL aborts one transaction of each lock cycle it finds and asks the client to
/// run it again; CI once saw it abort one of the compare-and-swap writes racing on a
/// single row (`conformance::concurrent_compare_and_swap_loses_no_update`), which must
/// then end as a write or a [`StorageError::Conflict`], never as a backend error.
/// Running it again is safe: the aborted transaction wrote nothing, its idempotency
/// record and audit event included, and the retry checks the version again. Any other
/// error, and the last attempt's, is returned as it is.
pub(crate) async fn retry_aborted<F, Fut>(mut change: F) -> Result<(), StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError>>,
{
    let mut attempt = 1;
    loop {
        match change().await {
            Err(err) if attempt < CHANGE_ATTEMPTS && aborted_to_retry(&err) => {
                tracing::debug!(
                    target: "private_integrations::storage",
                    attempt,
                    "private integrations: the database aborted a change to break a lock \
                     cycle; running it again",
                );
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether the database aborted the transaction and asks for it to be run again.
fn aborted_to_retry(err: &StorageError) -> bool {
    let StorageError::Backend(source) = err else {
        return false;
    };
    source
        .downcast_ref::<DatabaseRefusal>()
        .and_then(|refusal| refusal.code.as_deref())
        .is_some_and(|code| matches!(code, "40P01" | "40001"))
}

/// Maps the error of a write that may collide with a stored id: a unique violation (an
/// integration id or token id already stored) is [`StorageError::AlreadyExists`].
pub(crate) fn write_error(err: sqlx::Error) -> StorageError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StorageError::AlreadyExists,
        _ => backend(err),
    }
}

/// A stored value that no record could have written: the database was changed by hand,
/// or by another program.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Corrupt(&'static str);

impl Corrupt {
    /// A timestamp outside the range this crate's time type can hold.
    #[cfg(feature = "sqlite")]
    pub(crate) const OUT_OF_RANGE: Corrupt = Corrupt("a timestamp out of range");
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt stored value: {}", self.0)
    }
}

impl std::error::Error for Corrupt {}

fn corrupt(what: &'static str) -> StorageError {
    StorageError::backend(Corrupt(what))
}

/// One token as columns.
pub(crate) struct TokenColumns<'a> {
    pub(crate) id: &'a str,
    pub(crate) hash: &'a [u8],
    pub(crate) issued_at: OffsetDateTime,
}

impl<'a> TokenColumns<'a> {
    fn of(credential: &'a TokenCredential) -> Self {
        Self {
            id: credential.id.as_str(),
            hash: credential.hash.as_bytes(),
            issued_at: credential.issued_at,
        }
    }
}

/// An integration record as the column values of `pi_integrations`.
pub(crate) struct IntegrationColumns<'a> {
    pub(crate) id: &'a str,
    pub(crate) account: &'a str,
    pub(crate) name: &'a str,
    /// The name folded for searches ([`fold_case`](crate::domain::listing::fold_case)).
    pub(crate) name_folded: String,
    pub(crate) description: &'a str,
    /// The scope names as a JSON array.
    pub(crate) scopes: String,
    pub(crate) current: TokenColumns<'a>,
    /// The previous token of a rotation, and when it expires.
    pub(crate) previous: Option<(TokenColumns<'a>, OffsetDateTime)>,
    /// When the current token was revoked (found leaked), if it was.
    pub(crate) current_revoked_at: Option<OffsetDateTime>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) version: i64,
}

impl<'a> IntegrationColumns<'a> {
    pub(crate) fn of(record: &'a IntegrationRecord) -> Result<Self, StorageError> {
        Ok(Self {
            id: record.id.as_str(),
            account: record.account.as_str(),
            name: &record.name,
            name_folded: crate::domain::listing::fold_case(&record.name),
            description: &record.description,
            scopes: serde_json::to_string(&record.scopes.names().collect::<Vec<_>>())
                .map_err(StorageError::backend)?,
            current: TokenColumns::of(record.credentials.current()),
            previous: record
                .credentials
                .previous()
                .map(|(previous, expires_at)| (TokenColumns::of(previous), expires_at)),
            current_revoked_at: record.credentials.revoked_at(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            version: version(record.version)?,
        })
    }

    /// The token ids the record holds (current first), for `pi_tokens`.
    pub(crate) fn token_ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        std::iter::once(self.current.id).chain(self.previous.as_ref().map(|(p, _)| p.id))
    }
}

/// A version as the `BIGINT` it is stored as.
pub(crate) fn version(version: u64) -> Result<i64, StorageError> {
    i64::try_from(version).map_err(|_| {
        StorageError::backend(Corrupt("a version beyond the range of a 64-bit integer"))
    })
}

/// A row of `pi_integrations` as read, timestamps already decoded; also, as JSON, the
/// integration an idempotency record keeps (`pi_idempotency_keys.integration`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct IntegrationRow {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) scopes: String,
    pub(crate) current_token_id: String,
    pub(crate) current_token_hash: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) current_issued_at: OffsetDateTime,
    pub(crate) previous_token_id: Option<String>,
    pub(crate) previous_token_hash: Option<Vec<u8>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) previous_issued_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) previous_expires_at: Option<OffsetDateTime>,
    /// Absent from the JSON of records kept before schema version 7.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) current_revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) version: i64,
    /// When the current token was last used (its row in `pi_tokens`).
    #[serde(skip)]
    pub(crate) current_last_used_at: Option<OffsetDateTime>,
    /// When the previous token was last used.
    #[serde(skip)]
    pub(crate) previous_last_used_at: Option<OffsetDateTime>,
}

/// The JSON an idempotency record keeps its integration as (without last-used times).
pub(crate) fn integration_json(record: &IntegrationRecord) -> Result<String, StorageError> {
    let c = IntegrationColumns::of(record)?;
    let previous = c.previous.as_ref();
    let row = IntegrationRow {
        id: c.id.to_owned(),
        account: c.account.to_owned(),
        name: c.name.to_owned(),
        description: c.description.to_owned(),
        scopes: c.scopes.clone(),
        current_token_id: c.current.id.to_owned(),
        current_token_hash: c.current.hash.to_vec(),
        current_issued_at: c.current.issued_at,
        previous_token_id: previous.map(|(p, _)| p.id.to_owned()),
        previous_token_hash: previous.map(|(p, _)| p.hash.to_vec()),
        previous_issued_at: previous.map(|(p, _)| p.issued_at),
        previous_expires_at: previous.map(|(_, at)| *at),
        current_revoked_at: c.current_revoked_at,
        created_at: c.created_at,
        updated_at: c.updated_at,
        version: c.version,
        current_last_used_at: None,
        previous_last_used_at: None,
    };
    serde_json::to_string(&row).map_err(StorageError::backend)
}

/// An idempotency record's integration, from its JSON.
pub(crate) fn integration_of_json(json: &str) -> Result<IntegrationRecord, StorageError> {
    serde_json::from_str::<IntegrationRow>(json)
        .map_err(|_| corrupt("an idempotency record's integration"))?
        .into_record()
}

/// A row of `pi_idempotency_keys` as read, the timestamp already decoded.
pub(crate) struct IdempotencyRow {
    pub(crate) fingerprint: Vec<u8>,
    pub(crate) action: String,
    pub(crate) integration: Option<String>,
    pub(crate) at: OffsetDateTime,
}

impl IdempotencyRow {
    /// The record of `key` of `user` in `account`, if every value is one a record could
    /// have written.
    pub(crate) fn into_record(
        self,
        account: &AccountId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<IdempotencyRecord, StorageError> {
        let fingerprint: [u8; 32] = self
            .fingerprint
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("a fingerprint that is not 32 bytes long"))?;
        Ok(IdempotencyRecord {
            account: account.clone(),
            user: user.clone(),
            key: key.clone(),
            fingerprint: Fingerprint::from_bytes(fingerprint),
            action: serde_json::from_str(&self.action)
                .map_err(|_| corrupt("an idempotency record's action"))?,
            integration: self
                .integration
                .as_deref()
                .map(integration_of_json)
                .transpose()?,
            at: self.at,
        })
    }
}

impl IntegrationRow {
    /// The record, if every value is one a record could have written.
    pub(crate) fn into_record(self) -> Result<IntegrationRecord, StorageError> {
        let current = credential(
            &self.current_token_id,
            &self.current_token_hash,
            self.current_issued_at,
        )?;
        let credentials = match (
            self.previous_token_id,
            self.previous_token_hash,
            self.previous_issued_at,
            self.previous_expires_at,
        ) {
            (None, None, None, None) => match self.current_revoked_at {
                None => Credentials::Active { current },
                Some(revoked_at) => Credentials::Revoked {
                    current,
                    revoked_at,
                },
            },
            _ if self.current_revoked_at.is_some() => {
                return Err(corrupt("a revoked token with a previous token"));
            }
            (Some(id), Some(hash), Some(issued_at), Some(previous_expires_at)) => {
                Credentials::Rotating {
                    current,
                    previous: credential(&id, &hash, issued_at)?,
                    previous_expires_at,
                }
            }
            _ => return Err(corrupt("a previous token with some of its columns missing")),
        };
        let mut last_used = LastUsedTimes::new();
        let uses = [
            (Some(credentials.current()), self.current_last_used_at),
            (
                credentials.previous().map(|(p, _)| p),
                self.previous_last_used_at,
            ),
        ];
        for (token, at) in uses {
            if let (Some(token), Some(at)) = (token, at) {
                last_used.set(token.id, at);
            }
        }
        Ok(IntegrationRecord {
            id: IntegrationId::parse(&self.id).map_err(|_| corrupt("an integration id"))?,
            account: AccountId::try_new(self.account).map_err(|_| corrupt("an account id"))?,
            name: self.name.into(),
            description: self.description.into(),
            scopes: serde_json::from_str::<Vec<String>>(&self.scopes)
                .map_err(|_| corrupt("a scope list that is not a JSON array of strings"))?
                .into(),
            credentials,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: u64::try_from(self.version).map_err(|_| corrupt("a negative version"))?,
            last_used,
        })
    }
}

fn credential(
    id: &str,
    hash: &[u8],
    issued_at: OffsetDateTime,
) -> Result<TokenCredential, StorageError> {
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| corrupt("a token hash that is not 32 bytes long"))?;
    Ok(TokenCredential {
        id: TokenId::parse(id).map_err(|_| corrupt("a token id"))?,
        hash: TokenHash::from_bytes(hash),
        issued_at,
    })
}

/// The JSON text an audit action is stored as.
pub(crate) fn action_json(action: &AuditAction) -> Result<String, StorageError> {
    serde_json::to_string(action).map_err(StorageError::backend)
}

/// A row of `pi_audit_events` as read, the timestamp already decoded.
pub(crate) struct AuditRow {
    pub(crate) account: String,
    pub(crate) actor: String,
    pub(crate) integration_id: Option<String>,
    pub(crate) action: String,
    pub(crate) at: OffsetDateTime,
}

impl AuditRow {
    /// The event, if every value is one an event could have written.
    pub(crate) fn into_event(self) -> Result<AuditEvent, StorageError> {
        Ok(AuditEvent {
            account: AccountId::try_new(self.account)
                .map_err(|_| corrupt("an audit event's account id"))?,
            actor: UserId::try_new(self.actor).map_err(|_| corrupt("an audit event's actor"))?,
            integration: self
                .integration_id
                .map(|id| IntegrationId::parse(&id))
                .transpose()
                .map_err(|_| corrupt("an audit event's integration id"))?,
            action: serde_json::from_str(&self.action)
                .map_err(|_| corrupt("an audit action that is not known"))?,
            at: self.at,
        })
    }
}

/// The columns of `pi_integrations` (table alias `i`) that make a record, and the
/// last-used times its tokens' rows in `pi_tokens` keep.
macro_rules! integration_columns {
    () => {
        "i.id, i.account, i.name, i.description, i.scopes, \
         i.current_token_id, i.current_token_hash, i.current_issued_at, \
         i.previous_token_id, i.previous_token_hash, i.previous_issued_at, i.previous_expires_at, \
         i.current_revoked_at, i.created_at, i.updated_at, i.version, \
         (SELECT u.last_used_at FROM pi_tokens u WHERE u.token_id = i.current_token_id) \
         AS current_last_used_at, \
         (SELECT u.last_used_at FROM pi_tokens u WHERE u.token_id = i.previous_token_id) \
         AS previous_last_used_at"
    };
}

/// A new record: `$1`..`$17` are its columns in the order `impl_storage!`'s
/// `bind_record` binds them (`$16` the folded name, `$17` when the current token was
/// revoked).
pub(crate) const INSERT_INTEGRATION: &str = "\
    INSERT INTO pi_integrations (id, account, name, description, scopes, \
    current_token_id, current_token_hash, current_issued_at, \
    previous_token_id, previous_token_hash, previous_issued_at, previous_expires_at, \
    created_at, updated_at, version, name_folded, current_revoked_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

/// The compare-and-swap write of a record: `$1`..`$17` as in [`INSERT_INTEGRATION`],
/// `$18` the version the writer read. Changes no row if the account has no such
/// integration or its version differs.
pub(crate) const UPDATE_INTEGRATION: &str = "\
    UPDATE pi_integrations SET name = $3, description = $4, scopes = $5, \
    current_token_id = $6, current_token_hash = $7, current_issued_at = $8, \
    previous_token_id = $9, previous_token_hash = $10, previous_issued_at = $11, \
    previous_expires_at = $12, created_at = $13, updated_at = $14, version = $15, \
    name_folded = $16, current_revoked_at = $17 \
    WHERE id = $1 AND account = $2 AND version = $18";

/// The compare-and-swap delete of a record: id, account, the version the writer read.
pub(crate) const DELETE_INTEGRATION: &str =
    "DELETE FROM pi_integrations WHERE id = $1 AND account = $2 AND version = $3";

/// Whether the account has the integration (after a compare-and-swap changed no row).
pub(crate) const INTEGRATION_EXISTS: &str =
    "SELECT 1 FROM pi_integrations WHERE id = $1 AND account = $2";

/// One row of the token index: token id, integration id.
pub(crate) const INSERT_TOKEN: &str =
    "INSERT INTO pi_tokens (token_id, integration_id) VALUES ($1, $2)";

/// Every row of the token index that points at the integration.
#[cfg(feature = "sqlite")]
pub(crate) const DELETE_TOKENS: &str = "DELETE FROM pi_tokens WHERE integration_id = $1";

/// The rows of the token index that point at the integration `$1` for token ids it no
/// longer holds: neither `$2` (its current token) nor `$3` (its previous one, or `NULL`).
/// The rows of the ids it keeps stay, with their last-used times.
pub(crate) const DELETE_TOKENS_NOT_HELD: &str = "\
    DELETE FROM pi_tokens WHERE integration_id = $1 \
    AND token_id <> $2 AND ($3 IS NULL OR token_id <> $3)";

/// A row of the token index (token id `$1`, integration `$2`) unless the integration
/// already has it. A token id held by another integration is a unique violation.
pub(crate) const INSERT_TOKEN_IF_NEW: &str = "\
    INSERT INTO pi_tokens (token_id, integration_id) SELECT $1, $2 \
    WHERE NOT EXISTS (SELECT 1 FROM pi_tokens WHERE token_id = $1 AND integration_id = $2)";

/// One token's last use (`$1` token id, `$2` time), if later than the one stored. An id no
/// longer stored matches no row.
#[cfg(feature = "sqlite")]
pub(crate) const RECORD_LAST_USED: &str = "\
    UPDATE pi_tokens SET last_used_at = $2 \
    WHERE token_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

/// The batch of uses to write: one per token id, the latest, in token id order (so that
/// concurrent writers lock rows in the same order).
pub(crate) fn last_uses(uses: &[super::LastUse]) -> Vec<super::LastUse> {
    let mut latest: std::collections::BTreeMap<TokenId, OffsetDateTime> = Default::default();
    for used in uses {
        let at = latest.entry(used.token_id).or_insert(used.at);
        *at = (*at).max(used.at);
    }
    latest
        .into_iter()
        .map(|(token_id, at)| super::LastUse { token_id, at })
        .collect()
}

/// On a count already stored for its integration, hour and token: adds the new uses to
/// it, staying at the largest `BIGINT` (2^63 - 1) rather than fail the batch.
macro_rules! add_to_stored_uses {
    () => {
        " ON CONFLICT (integration_id, hour, token_id) DO UPDATE SET uses = \
         CASE WHEN pi_token_uses.uses > 9223372036854775807 - excluded.uses \
         THEN 9223372036854775807 ELSE pi_token_uses.uses + excluded.uses END"
    };
}

/// Adds `$3` uses of the token `$1` in the hour `$2` to the count of the integration that
/// holds the token, through the token index: an id no longer stored matches no row and
/// is skipped.
#[cfg(feature = "sqlite")]
pub(crate) const RECORD_TOKEN_USES: &str = concat!(
    "INSERT INTO pi_token_uses (integration_id, token_id, hour, uses) \
     SELECT t.integration_id, t.token_id, $2, $3 \
     FROM pi_tokens t JOIN pi_integrations i ON i.id = t.integration_id \
     WHERE t.token_id = $1",
    add_to_stored_uses!()
);

/// `RECORD_TOKEN_USES` for a whole batch in one statement: `$1` the token ids, `$2`
/// the hours, `$3` the uses, in the batch's order (token id, hour), which the rows keep
/// (`ORDER BY n`) so that concurrent writers lock them in the same order. Each row
/// first takes a key-share lock on its integration: a delete of it running at the same
/// time then either waits for the batch (and deletes its counts with it) or commits
/// first, and the row is skipped (rather than fail the batch on the foreign key).
#[cfg(feature = "postgres")]
pub(crate) const RECORD_TOKEN_USES_BATCH: &str = concat!(
    "INSERT INTO pi_token_uses (integration_id, token_id, hour, uses) \
     SELECT t.integration_id, t.token_id, b.hour, b.uses \
     FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) \
     WITH ORDINALITY AS b(token_id, hour, uses, n) \
     JOIN pi_tokens t ON t.token_id = b.token_id \
     JOIN pi_integrations i ON i.id = t.integration_id \
     ORDER BY b.n FOR KEY SHARE OF i",
    add_to_stored_uses!()
);

/// The counts of the integration `$1` of the account `$2` whose hour starts at or after
/// `$3`: a range of the primary key (integration, hour, token).
pub(crate) const SELECT_TOKEN_USES: &str = "\
    SELECT u.token_id, u.hour, u.uses FROM pi_token_uses u \
    JOIN pi_integrations i ON i.id = u.integration_id AND i.account = $2 \
    WHERE u.integration_id = $1 AND u.hour >= $3 \
    ORDER BY u.hour, u.token_id";

/// Removes at most `$2` counts whose hour starts before `$1`, the oldest first, through
/// the index on (`hour`, `integration_id`, `token_id`) of migration 10.
pub(crate) const REMOVE_TOKEN_USES: &str = "\
    DELETE FROM pi_token_uses WHERE (integration_id, hour, token_id) IN \
    (SELECT integration_id, hour, token_id FROM pi_token_uses WHERE hour < $1 \
    ORDER BY hour, integration_id, token_id LIMIT $2)";

/// Every count of the integration.
#[cfg(feature = "sqlite")]
pub(crate) const DELETE_TOKEN_USES: &str = "DELETE FROM pi_token_uses WHERE integration_id = $1";

/// One row of a batch of counts to add: the uses of one token in one hour, as the
/// `BIGINT` they are stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UseCount {
    pub(crate) token_id: TokenId,
    /// The start of the hour (UTC).
    pub(crate) hour: OffsetDateTime,
    pub(crate) uses: i64,
}

/// The batch of counts to add: one per token and hour (the uses of each summed), in
/// (token id, hour) order (so that concurrent writers lock rows in the same order), each
/// hour the start of its UTC hour. A sum past what a `BIGINT` holds is the largest one
/// (2^63 - 1): a count that large is already past meaning, and the batch must not fail.
pub(crate) fn use_counts(uses: &[super::TokenUses]) -> Vec<UseCount> {
    let mut sums: std::collections::BTreeMap<(TokenId, OffsetDateTime), u64> = Default::default();
    for used in uses {
        let sum = sums.entry((used.token_id, hour_of(used.hour))).or_insert(0);
        *sum = sum.saturating_add(used.uses);
    }
    sums.into_iter()
        .map(|((token_id, hour), uses)| UseCount {
            token_id,
            hour,
            uses: i64::try_from(uses).unwrap_or(i64::MAX),
        })
        .collect()
}

/// A row of [`SELECT_TOKEN_USES`], the hour already decoded, if every value is one a
/// count could have written.
pub(crate) fn token_uses_of(
    token_id: &str,
    hour: OffsetDateTime,
    uses: i64,
) -> Result<super::TokenUses, StorageError> {
    if hour_of(hour) != hour {
        return Err(corrupt(
            "a use count's hour that is not the start of an hour",
        ));
    }
    Ok(super::TokenUses {
        token_id: TokenId::parse(token_id).map_err(|_| corrupt("a use count's token id"))?,
        hour: hour.to_offset(time::UtcOffset::UTC),
        uses: u64::try_from(uses).map_err(|_| corrupt("a negative use count"))?,
    })
}

/// The record of a change made under an idempotency key: fails on the primary key if
/// the key is stored (or being stored by a transaction not yet committed, which it waits
/// for).
pub(crate) const INSERT_IDEMPOTENCY_KEY: &str = "\
    INSERT INTO pi_idempotency_keys (account, user_id, key, fingerprint, action, integration, at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The record of a key.
pub(crate) const SELECT_IDEMPOTENCY_KEY: &str = "\
    SELECT fingerprint, action, integration, at FROM pi_idempotency_keys \
    WHERE account = $1 AND user_id = $2 AND key = $3";

/// Removes at most `$2` records older than `$1`, the oldest first, through the index on
/// `at`.
pub(crate) const REMOVE_IDEMPOTENCY_KEYS: &str = "\
    DELETE FROM pi_idempotency_keys WHERE (account, user_id, key) IN \
    (SELECT account, user_id, key FROM pi_idempotency_keys WHERE at < $1 ORDER BY at LIMIT $2)";

/// Removes at most `$2` audit events older than `$1`, the oldest first (of one instant,
/// the first written), through the index on (`at`, `seq`) of migration 8.
pub(crate) const REMOVE_AUDIT_EVENTS: &str = "\
    DELETE FROM pi_audit_events WHERE seq IN \
    (SELECT seq FROM pi_audit_events WHERE at < $1 ORDER BY at, seq LIMIT $2)";

/// An audit event.
pub(crate) const INSERT_AUDIT_EVENT: &str = "\
    INSERT INTO pi_audit_events (account, actor, integration_id, action, at) \
    VALUES ($1, $2, $3, $4, $5)";

/// A record by id and account.
pub(crate) const SELECT_INTEGRATION: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_integrations i WHERE i.id = $1 AND i.account = $2"
);

/// The account's records, oldest first.
pub(crate) const LIST_INTEGRATIONS: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_integrations i WHERE i.account = $1 ORDER BY i.created_at, i.id"
);

/// The record a token id points at, through the unique token index; the record must
/// still hold the id.
pub(crate) const FIND_BY_TOKEN: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_tokens t JOIN pi_integrations i ON i.id = t.integration_id \
     WHERE t.token_id = $1 \
     AND (i.current_token_id = $1 OR i.previous_token_id = $1)"
);

/// The account's feature switch and the user's permission, each `NULL` where unset.
pub(crate) const SELECT_ACCESS: &str = "\
    SELECT \
    (SELECT feature_enabled FROM pi_account_settings WHERE account = $1) AS feature_enabled, \
    (SELECT permission FROM pi_permissions WHERE account = $1 AND user_id = $2) AS permission";

/// Sets a user's permission.
pub(crate) const UPSERT_PERMISSION: &str = "\
    INSERT INTO pi_permissions (account, user_id, permission) VALUES ($1, $2, $3) \
    ON CONFLICT (account, user_id) DO UPDATE SET permission = excluded.permission";

/// Sets an account's feature switch.
pub(crate) const UPSERT_FEATURE_ENABLED: &str = "\
    INSERT INTO pi_account_settings (account, feature_enabled) VALUES ($1, $2) \
    ON CONFLICT (account) DO UPDATE SET feature_enabled = excluded.feature_enabled";

/// The account's audit events, newest first (`seq` orders those of one instant).
pub(crate) const SELECT_AUDIT_LOG: &str = "\
    SELECT account, actor, integration_id, action, at FROM pi_audit_events \
    WHERE account = $1 ORDER BY at DESC, seq DESC";

/// The first page of the account's records, oldest first: `$2` is the row limit.
pub(crate) const LIST_INTEGRATIONS_PAGE: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_integrations i WHERE i.account = $1 ORDER BY i.created_at, i.id LIMIT $2"
);

/// A later page of the account's records: after the creation time `$2` and id `$3`;
/// `$4` is the row limit. The keyset of the index `pi_integrations_account`.
pub(crate) const LIST_INTEGRATIONS_PAGE_AFTER: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_integrations i WHERE i.account = $1 AND (i.created_at, i.id) > ($2, $3) \
     ORDER BY i.created_at, i.id LIMIT $4"
);

/// The first batch of the records of every account rotating at `$1` (a previous token
/// that expires after it), in the order of (`previous_expires_at`, id): `$2` is the row
/// limit. A range of the index `pi_integrations_rotating_until` (migration 9), read in
/// its order.
pub(crate) const ROTATING_INTEGRATIONS: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_integrations i WHERE i.previous_expires_at > $1 \
     ORDER BY i.previous_expires_at, i.id LIMIT $2"
);

/// A later batch of [`ROTATING_INTEGRATIONS`]: after the end `$2` and id `$3`; `$4` is the
/// row limit.
pub(crate) const ROTATING_INTEGRATIONS_AFTER: &str = concat!(
    "SELECT ",
    integration_columns!(),
    " FROM pi_integrations i WHERE i.previous_expires_at > $1 \
     AND (i.previous_expires_at, i.id) > ($2, $3) \
     ORDER BY i.previous_expires_at, i.id LIMIT $4"
);

/// The records of an integration listing (table alias `i`), before its `WHERE`.
const SELECT_INTEGRATIONS: &str =
    concat!("SELECT ", integration_columns!(), " FROM pi_integrations i");

/// A value bound to a listing query: the backend binds each in turn as `$1`, `$2`, …
pub(crate) enum ListingValue {
    /// A text.
    Text(String),
    /// A time, which the backend encodes as it stores times.
    Time(OffsetDateTime),
    /// A row limit.
    Limit(i64),
}

/// A listing query: its text and the values of its parameters, in order.
pub(crate) struct ListingSql {
    pub(crate) text: String,
    pub(crate) values: Vec<ListingValue>,
}

impl ListingSql {
    fn new(head: &str) -> Self {
        Self {
            text: head.to_owned(),
            values: Vec::new(),
        }
    }

    /// Binds `value` and says its parameter (`$n`).
    fn param(&mut self, value: ListingValue) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    /// `WHERE` and the query's filter: the account, the search and the state at `now`.
    ///
    /// The search compares the stored fold of the name (`name_folded`, written in Rust
    /// with the name) with the folded search text, `%`, `_` and `\` escaped; a row
    /// written before the column existed, by an older version of this crate, falls back
    /// on the database's `lower()`. The states are conditions on the token columns, at
    /// `now` (see [`IntegrationState`](crate::IntegrationState)):
    /// - rotating: `previous_expires_at > now`;
    /// - rotation due: not rotating, and `current_issued_at <= now - interval`;
    /// - active: not rotating, and `current_issued_at > now - interval`.
    ///
    /// A page's state conditions filter the account's rows, read in key order through
    /// `pi_integrations_account`; a total without a search counts otherwise
    /// ([`list_total`]). The search uses PostgreSQL's trigram index
    /// `pi_integrations_name_trgm` where migration 5 could create it (`pg_trgm`), and
    /// otherwise filters the account's rows too.
    fn filter(
        &mut self,
        account: &AccountId,
        query: &IntegrationQuery,
        now: OffsetDateTime,
        rotation_interval: time::Duration,
    ) {
        let account = self.param(ListingValue::Text(account.as_str().to_owned()));
        self.text.push_str(&format!(" WHERE i.account = {account}"));
        if let Some(text) = query.folded_search() {
            let pattern = self.param(ListingValue::Text(format!("%{}%", escape_like(&text))));
            // Two terms rather than `coalesce(…)`, so that each can use its index on
            // PostgreSQL (the trigram index, where there is one, and the partial index of
            // rows not folded yet), joined by a bitmap OR.
            self.text.push_str(&format!(
                " AND (i.name_folded LIKE {pattern} ESCAPE '\\' \
                 OR (i.name_folded IS NULL AND lower(i.name) LIKE {pattern} ESCAPE '\\'))"
            ));
        }
        let Some(state) = query.state_filter() else {
            return;
        };
        let due_before = now_minus(now, rotation_interval);
        let now = self.param(ListingValue::Time(cursor_time(now)));
        if state == IntegrationState::Rotating {
            self.text
                .push_str(&format!(" AND i.previous_expires_at > {now}"));
            return;
        }
        let due = self.param(ListingValue::Time(due_before));
        let comparison = if state == IntegrationState::RotationDue {
            "<="
        } else {
            ">"
        };
        self.text.push_str(&format!(
            " AND (i.previous_expires_at IS NULL OR i.previous_expires_at <= {now}) \
             AND i.current_issued_at {comparison} {due}"
        ));
    }
}

/// `now - interval`, as a bound the database takes: the earliest time it stores if the
/// difference is earlier (no token is that old).
fn now_minus(now: OffsetDateTime, interval: time::Duration) -> OffsetDateTime {
    cursor_time(
        now.checked_sub(interval)
            .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc()),
    )
}

/// `text` as a `LIKE` pattern's literal part: `\`, `%` and `_` escaped with `\`.
pub(crate) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The queries of [`Storage::list_query`](super::Storage::list_query): the page (one
/// more row than the page, to tell whether another follows), then the total of every
/// match ([`list_total`]).
///
/// The page walks `pi_integrations_account (account, created_at, id)` forwards (oldest
/// first) or backwards (newest first) from the cursor and stops after the limit: with no
/// filter it reads exactly the page's rows; with one, the rows until enough match.
pub(crate) fn list_query(
    account: &AccountId,
    query: &IntegrationQuery,
    now: OffsetDateTime,
    rotation_interval: time::Duration,
) -> (ListingSql, ListingSql) {
    let mut page = ListingSql::new(SELECT_INTEGRATIONS);
    page.filter(account, query, now, rotation_interval);
    let order = query.list_order();
    let (after, direction) = match order {
        ListOrder::OldestFirst => (">", ""),
        ListOrder::NewestFirst => ("<", " DESC"),
    };
    if let Some((created_at, id)) = query
        .page_request()
        .cursor()
        .and_then(|cursor| cursor.integration_key_in(order))
    {
        let created_at = page.param(ListingValue::Time(cursor_time(created_at)));
        let id = page.param(ListingValue::Text(id.as_str().to_owned()));
        page.text.push_str(&format!(
            " AND (i.created_at, i.id) {after} ({created_at}, {id})"
        ));
    }
    let limit = page.param(ListingValue::Limit(page_limit(
        query.page_request().page_size(),
    )));
    page.text.push_str(&format!(
        " ORDER BY i.created_at{direction}, i.id{direction} LIMIT {limit}"
    ));
    (page, list_total(account, query, now, rotation_interval))
}

/// The total of a listing query (column `total`): exactly the number of integrations
/// that [`ListingSql::filter`] keeps, counted without reading all of the account's rows
/// (migration 6):
/// - no filter: the account's row of `pi_account_counts`, which the triggers of
///   migration 6 keep in the transaction of every insert and delete;
/// - rotating: the range `previous_expires_at > now` of `pi_integrations_rotating`
///   (only the integrations that have a previous token);
/// - rotation due: the range `current_issued_at <= now - interval` of
///   `pi_integrations_issued`, less the rotating integrations in it;
/// - active: every integration, less that range, less the rotating ones outside it.
///
/// So "due" and "active" read the index entries of the tokens due for rotation, and the
/// rotating ones; nothing else. With a search, the matches are counted, as the page finds
/// them. Each is one statement: its counts see one snapshot.
fn list_total(
    account: &AccountId,
    query: &IntegrationQuery,
    now: OffsetDateTime,
    rotation_interval: time::Duration,
) -> ListingSql {
    let state = query.state_filter();
    if query.folded_search().is_some() || state == Some(IntegrationState::Rotating) {
        let mut total = ListingSql::new("SELECT count(*) AS total FROM pi_integrations i");
        total.filter(account, query, now, rotation_interval);
        return total;
    }
    let mut total = ListingSql::new("SELECT ");
    let account = total.param(ListingValue::Text(account.as_str().to_owned()));
    let all = format!(
        "coalesce((SELECT c.integrations FROM pi_account_counts c \
         WHERE c.account = {account}), 0)"
    );
    let Some(state) = state else {
        total.text.push_str(&format!("{all} AS total"));
        return total;
    };
    let due_before = now_minus(now, rotation_interval);
    let now = total.param(ListingValue::Time(cursor_time(now)));
    let due = total.param(ListingValue::Time(due_before));
    let issued_due = format!(
        "(SELECT count(*) FROM pi_integrations i \
         WHERE i.account = {account} AND i.current_issued_at <= {due})"
    );
    let rotating_issued = |comparison: &str| {
        format!(
            "(SELECT count(*) FROM pi_integrations i \
             WHERE i.account = {account} AND i.previous_expires_at > {now} \
             AND i.current_issued_at {comparison} {due})"
        )
    };
    let counts = if state == IntegrationState::RotationDue {
        format!("{issued_due} - {}", rotating_issued("<="))
    } else {
        format!("{all} - {issued_due} - {}", rotating_issued(">"))
    };
    total.text.push_str(&format!("{counts} AS total"));
    total
}

/// Names stored without their fold: at most `$1`, through `pi_integrations_unfolded`.
pub(crate) const SELECT_UNFOLDED_NAMES: &str =
    "SELECT id, name FROM pi_integrations WHERE name_folded IS NULL LIMIT $1";

/// Stores the fold `$3` of integration `$1`'s name, if its name is still `$2` and it has
/// none (a writer that changed it meanwhile wrote the fold itself).
pub(crate) const SET_FOLDED_NAME: &str = "\
    UPDATE pi_integrations SET name_folded = $3 \
    WHERE id = $1 AND name = $2 AND name_folded IS NULL";

/// How many names [`SELECT_UNFOLDED_NAMES`] reads at a time.
pub(crate) const FOLD_BATCH: i64 = 500;

/// The columns of an audit event, with its position (`seq`) for the cursor.
macro_rules! audit_page {
    ($filter:literal) => {
        concat!(
            "SELECT seq, account, actor, integration_id, action, at FROM pi_audit_events \
             WHERE account = $1 ",
            $filter,
            " ORDER BY at DESC, seq DESC LIMIT "
        )
    };
}

/// Pages of the account's audit events, newest first, keyed by (`at`, `seq`): `seq`
/// never changes once a row is written, so rows that commit out of `seq` order still
/// sort where their key says. Each is followed by the row limit's parameter.
pub(crate) const AUDIT_LOG_PAGE: &str = concat!(audit_page!(""), "$2");
/// After the time `$2` and sequence number `$3`.
pub(crate) const AUDIT_LOG_PAGE_AFTER: &str =
    concat!(audit_page!("AND (at, seq) < ($2, $3)"), "$4");
/// Of the integration `$2` only.
pub(crate) const AUDIT_LOG_PAGE_OF: &str = concat!(audit_page!("AND integration_id = $2"), "$3");
/// Of the integration `$2` only, after the time `$3` and sequence number `$4`.
pub(crate) const AUDIT_LOG_PAGE_OF_AFTER: &str = concat!(
    audit_page!("AND integration_id = $2 AND (at, seq) < ($3, $4)"),
    "$5"
);

/// The row limit that tells whether another page follows: one more than the page.
pub(crate) fn page_limit(page_size: usize) -> i64 {
    i64::try_from(page_size).map_or(i64::MAX, |size| size.saturating_add(1))
}

/// A position of an audit cursor as the `BIGINT` sequence number it was read from. A
/// larger one cannot have come from a row; it sorts after every row.
pub(crate) fn seq_of(position: u64) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

/// A cursor's time as a bound the database takes: PostgreSQL stores no time before
/// 4713 BC, and a cursor may name one (any text of a cursor's form is a cursor). No row
/// can be earlier than the clamped bound, so the page is the same.
pub(crate) fn cursor_time(at: OffsetDateTime) -> OffsetDateTime {
    let earliest = time::Date::from_calendar_date(-4712, time::Month::December, 31)
        .map(|date| date.midnight().assume_utc())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.max(earliest)
}

/// A stored sequence number as a cursor's position.
pub(crate) fn position_of(seq: i64) -> Result<u64, StorageError> {
    u64::try_from(seq).map_err(|_| corrupt("a negative audit sequence number"))
}

/// The access settings from what [`SELECT_ACCESS`] read, defaults where unset.
pub(crate) fn access_settings(
    feature_enabled: Option<bool>,
    permission: Option<String>,
) -> Result<AccessSettings, StorageError> {
    let defaults = AccessSettings::default();
    Ok(AccessSettings {
        feature_enabled: feature_enabled.unwrap_or(defaults.feature_enabled),
        permission: permission
            .as_deref()
            .map(parse_permission)
            .transpose()?
            .unwrap_or(defaults.permission),
    })
}

/// The text a permission is stored as (its serde name).
pub(crate) fn permission_text(permission: Permission) -> &'static str {
    match permission {
        Permission::Allow => "allow",
        Permission::Deny => "deny",
        Permission::RoleDefault => "role_default",
    }
}

/// A stored permission.
pub(crate) fn parse_permission(text: &str) -> Result<Permission, StorageError> {
    match text {
        "allow" => Ok(Permission::Allow),
        "deny" => Ok(Permission::Deny),
        "role_default" => Ok(Permission::RoleDefault),
        _ => Err(corrupt("a permission that is not known")),
    }
}

/// Implements [`Storage`](super::Storage) for a SQL backend: the same queries, binds, row
/// decoding and transaction steps serve both, so they are written once, here.
///
/// `impl_storage!(Backend, Db)` implements it for the struct `Backend`, which holds its
/// `sqlx::Pool<Db>` in the field `pool` and says, in associated functions, only what
/// differs between the backends:
///
/// - `async fn begin(&self) -> Result<Transaction<'static, Db>, StorageError>`: the
///   transaction of every write, with the backend's locking;
/// - `fn encode_time(OffsetDateTime) -> Result<T, StorageError>` and
///   `fn decode_time(T) -> Result<OffsetDateTime, StorageError>`: a timestamp as the
///   column value `T` it is stored as;
/// - `async fn delete_token_rows(&mut Transaction<'static, Db>, integration_id: &str)
///   -> Result<(), StorageError>`: whatever a delete must do, beside deleting the
///   record, so that no `pi_tokens` or `pi_token_uses` row points at it;
/// - `fn bound_lookup(&self, lookup) -> impl Future<Output = TokenLookupResult>`: the
///   token lookup, within the backend's time limit, if it has one;
/// - `async fn write_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError>`:
///   [`RECORD_LAST_USED`] for each of `uses` (one per token id, in id order), as the
///   backend does it best;
/// - `async fn write_token_uses(&self, counts: &[UseCount]) -> Result<(), StorageError>`:
///   adds the batch of counts (one per token and hour, in that order) to the stored
///   ones, in one transaction, through `pi_tokens` (an id not there is skipped);
/// - `fn start_watch(&self, Arc<dyn ChangeListener>) -> Option<Watch>`: what
///   `Storage::watch` returns.
///
/// A macro rather than functions generic over `sqlx::Database`: those would need a trait
/// bound for each type bound to a query or read from a row, and for the executors, on
/// every function.
macro_rules! impl_storage {
    ($backend:ident, $db:ty) => {
        // A block of its own, so that its imports and helpers stay out of the caller's
        // module; the impl inside it applies everywhere.
        const _: () = {
            use std::sync::Arc;

            use ::async_trait::async_trait;
            use ::sqlx::query::Query;
            use ::sqlx::{Database, Row, Transaction};
            use time::OffsetDateTime;
            use $crate::domain::access::Permission;
            use $crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
            use $crate::storage::sql::{
                self, AuditRow, IdempotencyRow, IntegrationColumns, IntegrationRow, backend,
                write_error,
            };
            use $crate::storage::{
                AccessSettings, AuditEvent, AuditLogQuery, Change, Cursor, IdempotencyKey,
                IdempotencyRecord, IntegrationQuery, IntegrationRecord, Page, PageRequest, Storage,
                StorageError, TokenLookup, paging,
            };

            type Tx = Transaction<'static, $db>;
            type DbRow = <$db as Database>::Row;
            type DbQuery = Query<'static, $db, <$db as Database>::Arguments>;

            fn integration(row: &DbRow) -> Result<IntegrationRecord, StorageError> {
                let get = |column: &str| row.try_get::<String, _>(column).map_err(backend);
                let at =
                    |column: &str| $backend::decode_time(row.try_get(column).map_err(backend)?);
                let at_opt = |column: &str| {
                    row.try_get::<Option<_>, _>(column)
                        .map_err(backend)?
                        .map($backend::decode_time)
                        .transpose()
                };
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
                    current_revoked_at: at_opt("current_revoked_at")?,
                    created_at: at("created_at")?,
                    updated_at: at("updated_at")?,
                    version: row.try_get("version").map_err(backend)?,
                    current_last_used_at: at_opt("current_last_used_at")?,
                    previous_last_used_at: at_opt("previous_last_used_at")?,
                }
                .into_record()
            }

            fn audit_event(row: &DbRow) -> Result<AuditEvent, StorageError> {
                AuditRow {
                    account: row.try_get("account").map_err(backend)?,
                    actor: row.try_get("actor").map_err(backend)?,
                    integration_id: row.try_get("integration_id").map_err(backend)?,
                    action: row.try_get("action").map_err(backend)?,
                    at: $backend::decode_time(row.try_get("at").map_err(backend)?)?,
                }
                .into_event()
            }

            /// Binds `$1`..`$17` of `INSERT_INTEGRATION` and `UPDATE_INTEGRATION`.
            fn bind_record(
                query: DbQuery,
                c: &IntegrationColumns<'_>,
            ) -> Result<DbQuery, StorageError> {
                let previous = c.previous.as_ref();
                Ok(query
                    .bind(c.id)
                    .bind(c.account)
                    .bind(c.name)
                    .bind(c.description)
                    .bind(&c.scopes)
                    .bind(c.current.id)
                    .bind(c.current.hash)
                    .bind($backend::encode_time(c.current.issued_at)?)
                    .bind(previous.map(|(p, _)| p.id))
                    .bind(previous.map(|(p, _)| p.hash))
                    .bind(
                        previous
                            .map(|(p, _)| $backend::encode_time(p.issued_at))
                            .transpose()?,
                    )
                    .bind(
                        previous
                            .map(|(_, at)| $backend::encode_time(*at))
                            .transpose()?,
                    )
                    .bind($backend::encode_time(c.created_at)?)
                    .bind($backend::encode_time(c.updated_at)?)
                    .bind(c.version)
                    .bind(c.name_folded.clone())
                    .bind(
                        c.current_revoked_at
                            .map($backend::encode_time)
                            .transpose()?,
                    ))
            }

            /// A listing query with its values bound, in order.
            fn bind_listing(listing: sql::ListingSql) -> Result<DbQuery, StorageError> {
                let mut query: DbQuery = sqlx::query(::sqlx::AssertSqlSafe(listing.text));
                for value in listing.values {
                    query = match value {
                        sql::ListingValue::Text(text) => query.bind(text),
                        sql::ListingValue::Time(at) => query.bind($backend::encode_time(at)?),
                        sql::ListingValue::Limit(limit) => query.bind(limit),
                    };
                }
                Ok(query)
            }

            /// Points every token id of a new record at it.
            async fn index_tokens(
                tx: &mut Tx,
                columns: &IntegrationColumns<'_>,
            ) -> Result<(), StorageError> {
                for token_id in columns.token_ids() {
                    sqlx::query(sql::INSERT_TOKEN)
                        .bind(token_id)
                        .bind(columns.id)
                        .execute(&mut **tx)
                        .await
                        .map_err(write_error)?;
                }
                Ok(())
            }

            /// Begins a write's transaction and, first of all, stores the change's
            /// idempotency record, if any: a key already stored (or being stored by a
            /// transaction not yet committed, which this one then waits for) fails the
            /// write with `AlreadyExists` before it changes anything.
            async fn begin_change(
                storage: &$backend,
                change: Change<'_>,
            ) -> Result<Tx, StorageError> {
                let mut tx = storage.begin().await?;
                if let Some(once) = change.once {
                    sqlx::query(sql::INSERT_IDEMPOTENCY_KEY)
                        .bind(once.account.as_str())
                        .bind(once.user.as_str())
                        .bind(once.key.as_str())
                        .bind(once.fingerprint.as_bytes().as_slice())
                        .bind(sql::action_json(&once.action)?)
                        .bind(
                            once.integration
                                .as_ref()
                                .map(sql::integration_json)
                                .transpose()?,
                        )
                        .bind($backend::encode_time(once.at)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(write_error)?;
                }
                Ok(tx)
            }

            /// Appends the change's audit event and commits: both land, or neither does.
            async fn commit_with(mut tx: Tx, event: &AuditEvent) -> Result<(), StorageError> {
                sqlx::query(sql::INSERT_AUDIT_EVENT)
                    .bind(event.account.as_str())
                    .bind(event.actor.as_str())
                    .bind(event.integration.as_ref().map(IntegrationId::as_str))
                    .bind(sql::action_json(&event.action)?)
                    .bind($backend::encode_time(event.at)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            /// After a compare-and-swap write changed no row: [`StorageError::NotFound`]
            /// if the account has no such integration, [`StorageError::Conflict`] if its
            /// version differs.
            async fn missed(tx: &mut Tx, account: &str, id: &str) -> StorageError {
                let exists = sqlx::query(sql::INTEGRATION_EXISTS)
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

            impl $backend {
                /// Writes the fold of every name stored without one (rows written before
                /// migration 5, or by an older version of this crate since), a batch at
                /// a time. `migrate()` calls it after the migrations.
                async fn fold_names(&self) -> Result<(), StorageError> {
                    loop {
                        let rows = sqlx::query(sql::SELECT_UNFOLDED_NAMES)
                            .bind(sql::FOLD_BATCH)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(backend)?;
                        for row in &rows {
                            let id: String = row.try_get("id").map_err(backend)?;
                            let name: String = row.try_get("name").map_err(backend)?;
                            sqlx::query(sql::SET_FOLDED_NAME)
                                .bind(id)
                                .bind(name.clone())
                                .bind($crate::domain::listing::fold_case(&name))
                                .execute(&self.pool)
                                .await
                                .map_err(backend)?;
                        }
                        if (rows.len() as i64) < sql::FOLD_BATCH {
                            return Ok(());
                        }
                    }
                }
            }

            #[async_trait]
            impl Storage for $backend {
                async fn insert(
                    &self,
                    record: &IntegrationRecord,
                    change: Change<'_>,
                ) -> Result<(), StorageError> {
                    sql::retry_aborted(|| async move {
                        let c = IntegrationColumns::of(record)?;
                        let mut tx = begin_change(self, change).await?;
                        bind_record(sqlx::query(sql::INSERT_INTEGRATION), &c)?
                            .execute(&mut *tx)
                            .await
                            .map_err(write_error)?;
                        index_tokens(&mut tx, &c).await?;
                        commit_with(tx, change.event).await
                    })
                    .await
                }

                async fn update(
                    &self,
                    record: &IntegrationRecord,
                    expected_version: u64,
                    change: Change<'_>,
                ) -> Result<(), StorageError> {
                    sql::retry_aborted(|| async move {
                        let c = IntegrationColumns::of(record)?;
                        let expected = sql::version(expected_version)?;
                        let mut tx = begin_change(self, change).await?;
                        let changed = bind_record(sqlx::query(sql::UPDATE_INTEGRATION), &c)?
                            .bind(expected)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?
                            .rows_affected();
                        if changed == 0 {
                            return Err(missed(&mut tx, c.account, c.id).await);
                        }
                        // The rows of the tokens it keeps stay, with their last-used times.
                        sqlx::query(sql::DELETE_TOKENS_NOT_HELD)
                            .bind(c.id)
                            .bind(c.current.id)
                            .bind(c.previous.as_ref().map(|(p, _)| p.id))
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        for token_id in c.token_ids() {
                            sqlx::query(sql::INSERT_TOKEN_IF_NEW)
                                .bind(token_id)
                                .bind(c.id)
                                .execute(&mut *tx)
                                .await
                                .map_err(write_error)?;
                        }
                        commit_with(tx, change.event).await
                    })
                    .await
                }

                async fn delete(
                    &self,
                    account: &AccountId,
                    id: &IntegrationId,
                    expected_version: u64,
                    change: Change<'_>,
                ) -> Result<(), StorageError> {
                    sql::retry_aborted(|| async move {
                        let expected = sql::version(expected_version)?;
                        let mut tx = begin_change(self, change).await?;
                        let changed = sqlx::query(sql::DELETE_INTEGRATION)
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
                        $backend::delete_token_rows(&mut tx, id.as_str()).await?;
                        commit_with(tx, change.event).await
                    })
                    .await
                }

                async fn get(
                    &self,
                    account: &AccountId,
                    id: &IntegrationId,
                ) -> Result<Option<IntegrationRecord>, StorageError> {
                    let row = sqlx::query(sql::SELECT_INTEGRATION)
                        .bind(id.as_str())
                        .bind(account.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    row.as_ref().map(integration).transpose()
                }

                async fn list(
                    &self,
                    account: &AccountId,
                ) -> Result<Vec<IntegrationRecord>, StorageError> {
                    let rows = sqlx::query(sql::LIST_INTEGRATIONS)
                        .bind(account.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(integration).collect()
                }

                async fn rotating_integrations(
                    &self,
                    now: OffsetDateTime,
                    after: Option<(OffsetDateTime, &IntegrationId)>,
                    limit: usize,
                ) -> Result<Vec<IntegrationRecord>, StorageError> {
                    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                    let now = $backend::encode_time(now)?;
                    let query = match after {
                        Some((until, id)) => sqlx::query(sql::ROTATING_INTEGRATIONS_AFTER)
                            .bind(now)
                            .bind($backend::encode_time(sql::cursor_time(until))?)
                            .bind(id.as_str().to_owned())
                            .bind(limit),
                        None => sqlx::query(sql::ROTATING_INTEGRATIONS)
                            .bind(now)
                            .bind(limit),
                    };
                    let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
                    rows.iter().map(integration).collect()
                }

                fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
                    let token_id = *token_id;
                    TokenLookup::pending(self.bound_lookup(async move {
                        let row = sqlx::query(sql::FIND_BY_TOKEN)
                            .bind(token_id.as_str())
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(backend)?;
                        Ok(row.as_ref().map(integration).transpose()?.map(Arc::new))
                    }))
                }

                async fn access(
                    &self,
                    account: &AccountId,
                    user: &UserId,
                ) -> Result<AccessSettings, StorageError> {
                    let row = sqlx::query(sql::SELECT_ACCESS)
                        .bind(account.as_str())
                        .bind(user.as_str())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(backend)?;
                    sql::access_settings(
                        row.try_get("feature_enabled").map_err(backend)?,
                        row.try_get("permission").map_err(backend)?,
                    )
                }

                async fn set_permission(
                    &self,
                    account: &AccountId,
                    user: &UserId,
                    permission: Permission,
                    change: Change<'_>,
                ) -> Result<(), StorageError> {
                    sql::retry_aborted(|| async move {
                        let mut tx = begin_change(self, change).await?;
                        sqlx::query(sql::UPSERT_PERMISSION)
                            .bind(account.as_str())
                            .bind(user.as_str())
                            .bind(sql::permission_text(permission))
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        commit_with(tx, change.event).await
                    })
                    .await
                }

                async fn set_feature_enabled(
                    &self,
                    account: &AccountId,
                    enabled: bool,
                    change: Change<'_>,
                ) -> Result<(), StorageError> {
                    sql::retry_aborted(|| async move {
                        let mut tx = begin_change(self, change).await?;
                        sqlx::query(sql::UPSERT_FEATURE_ENABLED)
                            .bind(account.as_str())
                            .bind(enabled)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        commit_with(tx, change.event).await
                    })
                    .await
                }

                async fn idempotency_record(
                    &self,
                    account: &AccountId,
                    user: &UserId,
                    key: &IdempotencyKey,
                ) -> Result<Option<IdempotencyRecord>, StorageError> {
                    let row = sqlx::query(sql::SELECT_IDEMPOTENCY_KEY)
                        .bind(account.as_str())
                        .bind(user.as_str())
                        .bind(key.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    IdempotencyRow {
                        fingerprint: row.try_get("fingerprint").map_err(backend)?,
                        action: row.try_get("action").map_err(backend)?,
                        integration: row.try_get("integration").map_err(backend)?,
                        at: $backend::decode_time(row.try_get("at").map_err(backend)?)?,
                    }
                    .into_record(account, user, key)
                    .map(Some)
                }

                async fn remove_idempotency_records(
                    &self,
                    made_before: OffsetDateTime,
                    limit: usize,
                ) -> Result<usize, StorageError> {
                    let removed = sqlx::query(sql::REMOVE_IDEMPOTENCY_KEYS)
                        .bind($backend::encode_time(made_before)?)
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
                }

                async fn remove_audit_events(
                    &self,
                    before: OffsetDateTime,
                    limit: usize,
                ) -> Result<usize, StorageError> {
                    let removed = sqlx::query(sql::REMOVE_AUDIT_EVENTS)
                        .bind($backend::encode_time(before)?)
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
                }

                async fn audit_log(
                    &self,
                    account: &AccountId,
                ) -> Result<Vec<AuditEvent>, StorageError> {
                    let rows = sqlx::query(sql::SELECT_AUDIT_LOG)
                        .bind(account.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter().map(audit_event).collect()
                }

                async fn list_page(
                    &self,
                    account: &AccountId,
                    page: &PageRequest,
                ) -> Result<Page<IntegrationRecord>, StorageError> {
                    let limit = sql::page_limit(page.page_size());
                    let query = match page.cursor().and_then(Cursor::integration_key) {
                        Some((created_at, id)) => sqlx::query(sql::LIST_INTEGRATIONS_PAGE_AFTER)
                            .bind(account.as_str())
                            .bind($backend::encode_time(sql::cursor_time(created_at))?)
                            .bind(id.as_str().to_owned())
                            .bind(limit),
                        None => sqlx::query(sql::LIST_INTEGRATIONS_PAGE)
                            .bind(account.as_str())
                            .bind(limit),
                    };
                    let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
                    let records = rows
                        .iter()
                        .map(integration)
                        .collect::<Result<Vec<_>, StorageError>>()?;
                    Ok(paging::take_page(
                        &mut records.into_iter(),
                        page.page_size(),
                        |r| Cursor::after_integration(r.created_at, &r.id),
                    ))
                }

                async fn list_query(
                    &self,
                    account: &AccountId,
                    query: &IntegrationQuery,
                    now: OffsetDateTime,
                    rotation_interval: time::Duration,
                ) -> Result<Page<IntegrationRecord>, StorageError> {
                    let (page_sql, count_sql) =
                        sql::list_query(account, query, now, rotation_interval);
                    let rows = bind_listing(page_sql)?
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    let total: i64 = bind_listing(count_sql)?
                        .fetch_one(&self.pool)
                        .await
                        .map_err(backend)?
                        .try_get("total")
                        .map_err(backend)?;
                    let records = rows
                        .iter()
                        .map(integration)
                        .collect::<Result<Vec<_>, StorageError>>()?;
                    let order = query.list_order();
                    let page = paging::take_page(
                        &mut records.into_iter(),
                        query.page_request().page_size(),
                        |r| Cursor::after_integration_in(order, r.created_at, &r.id),
                    );
                    Ok(page.with_total(u64::try_from(total).unwrap_or(0)))
                }

                async fn audit_log_page(
                    &self,
                    account: &AccountId,
                    query: &AuditLogQuery,
                ) -> Result<Page<AuditEvent>, StorageError> {
                    let page = query.page_request();
                    let limit = sql::page_limit(page.page_size());
                    let after = page.cursor().and_then(Cursor::audit_event_key);
                    let account = account.as_str();
                    let statement = match (query.integration_id(), after) {
                        (None, None) => sqlx::query(sql::AUDIT_LOG_PAGE).bind(account),
                        (None, Some((at, position))) => sqlx::query(sql::AUDIT_LOG_PAGE_AFTER)
                            .bind(account)
                            .bind($backend::encode_time(sql::cursor_time(at))?)
                            .bind(sql::seq_of(position)),
                        (Some(id), None) => sqlx::query(sql::AUDIT_LOG_PAGE_OF)
                            .bind(account)
                            .bind(id.as_str().to_owned()),
                        (Some(id), Some((at, position))) => {
                            sqlx::query(sql::AUDIT_LOG_PAGE_OF_AFTER)
                                .bind(account)
                                .bind(id.as_str().to_owned())
                                .bind($backend::encode_time(sql::cursor_time(at))?)
                                .bind(sql::seq_of(position))
                        }
                    };
                    let rows = statement
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    let events = rows
                        .iter()
                        .map(|row| {
                            let seq: i64 = row.try_get("seq").map_err(backend)?;
                            Ok((audit_event(row)?, sql::position_of(seq)?))
                        })
                        .collect::<Result<Vec<_>, StorageError>>()?;
                    let page = paging::take_page(
                        &mut events.into_iter(),
                        page.page_size(),
                        |(event, position)| Cursor::after_audit_event(event.at, *position),
                    );
                    Ok(page.map(|(event, _)| event))
                }

                async fn record_last_used(
                    &self,
                    uses: &[$crate::storage::LastUse],
                ) -> Result<(), StorageError> {
                    let uses = sql::last_uses(uses);
                    if uses.is_empty() {
                        return Ok(());
                    }
                    self.write_last_used(&uses).await
                }

                async fn record_token_uses(
                    &self,
                    uses: &[$crate::storage::TokenUses],
                ) -> Result<(), StorageError> {
                    let counts = sql::use_counts(uses);
                    if counts.is_empty() {
                        return Ok(());
                    }
                    // A batch aborted to break a lock cycle wrote nothing: run it again.
                    sql::retry_aborted(|| self.write_token_uses(&counts)).await
                }

                async fn token_uses(
                    &self,
                    account: &AccountId,
                    id: &IntegrationId,
                    since: OffsetDateTime,
                ) -> Result<Vec<$crate::storage::TokenUses>, StorageError> {
                    let rows = sqlx::query(sql::SELECT_TOKEN_USES)
                        .bind(id.as_str())
                        .bind(account.as_str())
                        .bind($backend::encode_time(sql::cursor_time(since))?)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    rows.iter()
                        .map(|row| {
                            let token_id: String = row.try_get("token_id").map_err(backend)?;
                            let hour =
                                $backend::decode_time(row.try_get("hour").map_err(backend)?)?;
                            let uses: i64 = row.try_get("uses").map_err(backend)?;
                            sql::token_uses_of(&token_id, hour, uses)
                        })
                        .collect()
                }

                async fn remove_token_uses(
                    &self,
                    before: OffsetDateTime,
                    limit: usize,
                ) -> Result<usize, StorageError> {
                    let removed = sqlx::query(sql::REMOVE_TOKEN_USES)
                        .bind($backend::encode_time(sql::cursor_time(before))?)
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?
                        .rows_affected();
                    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
                }

                fn watch(
                    &self,
                    listener: Arc<dyn $crate::storage::ChangeListener>,
                ) -> Option<$crate::storage::Watch> {
                    self.start_watch(listener)
                }
            }
        };
    };
}
pub(crate) use impl_storage;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::credentials::RotationMode;

    fn refusal(code: &str) -> StorageError {
        StorageError::backend(DatabaseRefusal {
            code: Some(code.to_owned()),
            message: "refused".to_owned(),
        })
    }

    /// Runs `retry_aborted` over a change that fails with `errors` in turn (then
    /// succeeds), and says how many attempts it made and what it returned.
    fn attempts(errors: Vec<StorageError>) -> (usize, Result<(), StorageError>) {
        let errors = std::sync::Mutex::new(errors.into_iter());
        let count = std::sync::atomic::AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(retry_aborted(|| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let next = errors.lock().unwrap().next();
            async move { next.map_or(Ok(()), Err) }
        }));
        (count.into_inner(), result)
    }

    #[test]
    fn a_change_aborted_by_the_database_runs_again_a_bounded_number_of_times() {
        // A deadlock victim, then a serialization failure: the third attempt lands.
        let (count, result) = attempts(vec![refusal("40P01"), refusal("40001")]);
        assert_eq!(count, 3);
        assert!(result.is_ok());
        // Aborted every time: the last attempt's error is returned.
        let (count, result) = attempts((0..5).map(|_| refusal("40P01")).collect());
        assert_eq!(count, CHANGE_ATTEMPTS);
        assert!(aborted_to_retry(&result.unwrap_err()));
        // Any other error ends it at once.
        for other in [
            refusal("23505"),
            StorageError::Conflict,
            StorageError::NotFound,
            StorageError::AlreadyExists,
            StorageError::backend(std::io::Error::other("connection lost")),
        ] {
            let (count, result) = attempts(vec![other]);
            assert_eq!(count, 1);
            assert!(!aborted_to_retry(&result.unwrap_err()));
        }
    }

    #[test]
    fn permissions_round_trip_as_their_serde_names() {
        for permission in [Permission::Allow, Permission::Deny, Permission::RoleDefault] {
            let text = permission_text(permission);
            assert_eq!(parse_permission(text).unwrap(), permission);
            assert_eq!(
                serde_json::to_string(&permission).unwrap(),
                format!("\"{text}\"")
            );
        }
        assert!(matches!(
            parse_permission("Allow"),
            Err(StorageError::Backend(_))
        ));
    }

    #[test]
    fn audit_actions_round_trip_as_json() {
        let action = AuditAction::Rotated {
            mode: RotationMode::ExpireLater,
        };
        let json = action_json(&action).unwrap();
        assert_eq!(json, r#"{"action":"rotated","mode":"expire_later"}"#);
        let row = AuditRow {
            account: "acct".into(),
            actor: "u".into(),
            integration_id: None,
            action: json,
            at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(row.into_event().unwrap().action, action);
    }

    fn row() -> IntegrationRow {
        IntegrationRow {
            id: "AbCdEfGh12345678".into(),
            account: "acct".into(),
            name: "n".into(),
            description: String::new(),
            scopes: r#"["a.b"]"#.into(),
            current_token_id: "TokTokTokTok0001".into(),
            current_token_hash: vec![7; 32],
            current_issued_at: OffsetDateTime::UNIX_EPOCH,
            previous_token_id: None,
            previous_token_hash: None,
            previous_issued_at: None,
            previous_expires_at: None,
            current_revoked_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
            current_last_used_at: None,
            previous_last_used_at: None,
        }
    }

    #[test]
    fn a_revoked_token_reads_back_and_cannot_have_a_previous_one() {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(2);
        let mut r = row();
        r.current_revoked_at = Some(at);
        assert_eq!(r.into_record().unwrap().credentials.revoked_at(), Some(at));
        let mut r = row();
        r.current_revoked_at = Some(at);
        r.previous_token_id = Some("TokTokTokTok0002".into());
        r.previous_token_hash = Some(vec![7; 32]);
        r.previous_issued_at = Some(at);
        r.previous_expires_at = Some(at);
        assert!(r.into_record().is_err());
        // The JSON of a record kept before schema version 7 has no such field.
        let mut json: serde_json::Value = serde_json::to_value(row()).unwrap();
        json.as_object_mut().unwrap().remove("current_revoked_at");
        let old: IntegrationRow = serde_json::from_value(json).unwrap();
        assert_eq!(old.current_revoked_at, None);
    }

    #[test]
    fn last_used_times_follow_their_token() {
        let used = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let mut r = row();
        r.current_last_used_at = Some(used);
        let record = r.into_record().unwrap();
        assert_eq!(
            record
                .last_used
                .get(&TokenId::parse("TokTokTokTok0001").unwrap()),
            Some(used)
        );
        let mut r = row();
        r.previous_token_id = Some("TokTokTokTok0002".into());
        r.previous_token_hash = Some(vec![9; 32]);
        r.previous_issued_at = Some(OffsetDateTime::UNIX_EPOCH);
        r.previous_expires_at = Some(used);
        r.previous_last_used_at = Some(used);
        let record = r.into_record().unwrap();
        assert_eq!(
            record.last_used.iter().collect::<Vec<_>>(),
            [(TokenId::parse("TokTokTokTok0002").unwrap(), used)]
        );
    }

    #[test]
    fn a_batch_holds_each_token_once_with_its_latest_use_in_id_order() {
        let (a, b) = (
            TokenId::parse("AAAAAAAAAAAAAAAA").unwrap(),
            TokenId::parse("BBBBBBBBBBBBBBBB").unwrap(),
        );
        let t = |s| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
        let uses = |list: &[(TokenId, i64)]| -> Vec<super::super::LastUse> {
            list.iter()
                .map(|&(token_id, s)| super::super::LastUse { token_id, at: t(s) })
                .collect()
        };
        assert_eq!(
            last_uses(&uses(&[(b, 1), (a, 5), (b, 3), (a, 2)])),
            uses(&[(a, 5), (b, 3)])
        );
        assert!(last_uses(&[]).is_empty());
    }

    #[test]
    fn a_batch_of_counts_holds_each_token_and_hour_once_summed_in_order() {
        let (a, b) = (
            TokenId::parse("AAAAAAAAAAAAAAAA").unwrap(),
            TokenId::parse("BBBBBBBBBBBBBBBB").unwrap(),
        );
        let at = |minutes: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(minutes);
        let uses = |token_id, minutes, uses| super::super::TokenUses {
            token_id,
            // Not the start of its hour: the batch counts it in the hour that holds it.
            hour: at(minutes),
            uses,
        };
        let count = |token_id, hours: i64, uses| UseCount {
            token_id,
            hour: at(60 * hours),
            uses,
        };
        assert_eq!(
            use_counts(&[
                uses(b, 61, 1),
                uses(a, 119, 2),
                uses(b, 0, 3),
                uses(a, 60, 4),
                uses(a, 5, 5),
            ]),
            [
                count(a, 0, 5),
                count(a, 1, 6),
                count(b, 0, 3),
                count(b, 1, 1)
            ]
        );
        // Past a BIGINT: the largest one, never a panic or an error.
        assert_eq!(
            use_counts(&[uses(a, 0, u64::MAX), uses(a, 1, 1), uses(b, 0, 1 << 63)]),
            [count(a, 0, i64::MAX), count(b, 0, i64::MAX)]
        );
        assert!(use_counts(&[]).is_empty());
    }

    #[test]
    fn stored_counts_are_checked_on_the_way_in() {
        let hour = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(3);
        let read = token_uses_of("AAAAAAAAAAAAAAAA", hour, 7).unwrap();
        assert_eq!((read.hour, read.uses), (hour, 7));
        for (token_id, at, uses) in [
            ("AAAAAAAAAAAAAAAA", hour, -1),
            ("short", hour, 1),
            ("AAAAAAAAAAAAAAAA", hour + time::Duration::minutes(1), 1),
        ] {
            assert!(matches!(
                token_uses_of(token_id, at, uses),
                Err(StorageError::Backend(_))
            ));
        }
    }

    #[test]
    fn corrupt_rows_are_backend_errors_that_quote_nothing() {
        assert!(row().into_record().is_ok());
        let cases: Vec<fn(&mut IntegrationRow)> = vec![
            |r| r.current_token_hash = vec![7; 31],
            |r| r.current_token_hash = vec![7; 33],
            |r| r.current_token_hash = Vec::new(),
            |r| r.current_token_id = "short".into(),
            |r| r.id = "not an id at all".into(),
            |r| r.account = String::new(),
            |r| r.scopes = "{".into(),
            |r| r.version = -1,
            |r| r.previous_token_id = Some("TokTokTokTok0002".into()),
            |r| {
                r.previous_token_id = Some("TokTokTokTok0002".into());
                r.previous_token_hash = Some(vec![9; 3]);
                r.previous_issued_at = Some(OffsetDateTime::UNIX_EPOCH);
                r.previous_expires_at = Some(OffsetDateTime::UNIX_EPOCH);
            },
        ];
        for break_it in cases {
            let mut broken = row();
            break_it(&mut broken);
            let err = broken.into_record().unwrap_err();
            let StorageError::Backend(source) = &err else {
                panic!("{err:?}")
            };
            let text = format!("{source} {source:?}");
            assert!(text.starts_with("corrupt stored value"), "{text}");
            assert!(!text.contains("[7, 7"), "{text}");
        }
    }

    #[test]
    fn a_version_beyond_i64_is_refused() {
        assert_eq!(version(7).unwrap(), 7);
        assert!(matches!(version(u64::MAX), Err(StorageError::Backend(_))));
    }
}
