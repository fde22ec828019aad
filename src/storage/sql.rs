//! What the SQL backends share, and only that: turning records into column values and
//! rows back into records (checking every value on the way in), the audit action's JSON,
//! the embedded migrations' runner, and the mapping of `sqlx` errors.
//!
//! The SQL text itself lives with each backend: the dialects differ in their types.

use std::borrow::Cow;
use std::fmt;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};
use time::OffsetDateTime;

use super::{
    AuditAction, AuditEvent, Credentials, IntegrationRecord, StorageError, TokenCredential,
};
use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::token::TokenHash;

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
    pub(crate) description: &'a str,
    /// The scope names as a JSON array.
    pub(crate) scopes: String,
    pub(crate) current: TokenColumns<'a>,
    /// The previous token of a rotation, and when it expires.
    pub(crate) previous: Option<(TokenColumns<'a>, OffsetDateTime)>,
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
            description: &record.description,
            scopes: serde_json::to_string(&record.scopes.names().collect::<Vec<_>>())
                .map_err(StorageError::backend)?,
            current: TokenColumns::of(record.credentials.current()),
            previous: record
                .credentials
                .previous()
                .map(|(previous, expires_at)| (TokenColumns::of(previous), expires_at)),
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

/// A row of `pi_integrations` as read, timestamps already decoded.
pub(crate) struct IntegrationRow {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) scopes: String,
    pub(crate) current_token_id: String,
    pub(crate) current_token_hash: Vec<u8>,
    pub(crate) current_issued_at: OffsetDateTime,
    pub(crate) previous_token_id: Option<String>,
    pub(crate) previous_token_hash: Option<Vec<u8>>,
    pub(crate) previous_issued_at: Option<OffsetDateTime>,
    pub(crate) previous_expires_at: Option<OffsetDateTime>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) version: i64,
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
            (None, None, None, None) => Credentials::Active { current },
            (Some(id), Some(hash), Some(issued_at), Some(previous_expires_at)) => {
                Credentials::Rotating {
                    current,
                    previous: credential(&id, &hash, issued_at)?,
                    previous_expires_at,
                }
            }
            _ => return Err(corrupt("a previous token with some of its columns missing")),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::credentials::RotationMode;

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
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
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
