//! The storage contract as tests: what every [`Storage`] backend must do, the same way.
//!
//! This module *is* the contract of [`Storage`] in executable form. Every backend of
//! this crate runs it — [`MemoryStorage`](crate::MemoryStorage), `SqliteStorage`,
//! `PostgresStorage` — and a backend of your own should too: a backend that passes it
//! can be handed to [`PrivateIntegrations`](crate::PrivateIntegrations) with the same
//! guarantees as the built-in ones.
//!
//! Each case is a plain `pub async fn` taking the backend as `Arc<dyn Storage>` (the
//! race case shares it between tasks). The cases write under fresh random account ids,
//! so they may share one database, one after the other or side by side. A case panics,
//! with the broken rule in its message, if the backend breaks the contract.
//!
//! The cases check:
//!
//! - **create never overwrites**: an integration id or token id already stored (in any
//!   account) is [`StorageError::AlreadyExists`], nothing is written, the original is
//!   intact ([`create_never_overwrites`]);
//! - **versioned compare-and-swap**: a stale version is [`StorageError::Conflict`] and
//!   writes nothing ([`stale_versions_conflict_and_write_nothing`]); a missing record is
//!   [`StorageError::NotFound`] ([`missing_records_are_not_found`]); N writers doing
//!   read-modify-write with retries lose no update
//!   ([`concurrent_compare_and_swap_loses_no_update`]);
//! - **atomic audit**: an event is there if and only if its change is
//!   ([`each_change_writes_exactly_its_audit_event`]);
//! - **token lookup** follows the credentials through rotation, cancel, expiry and delete
//!   ([`token_lookup_follows_the_credentials`],
//!   [`a_token_id_held_by_another_integration_is_refused`]);
//! - **account isolation** and listing order
//!   ([`other_accounts_records_are_absent`], [`listings_are_per_account_oldest_first`]);
//! - **faithful records**: settings with their defaults, every field, and timestamps to
//!   the microsecond, before 1970 and far ahead
//!   ([`access_settings_round_trip_with_defaults`], [`records_round_trip_exactly`],
//!   [`timestamps_round_trip_to_the_microsecond`]);
//! - **pages**: page after page gives exactly the whole listing, for every page size,
//!   with one integration's audit log as a filter
//!   ([`integration_pages_follow_the_listing`], [`audit_pages_follow_the_log`]); under
//!   concurrent writes no page boundary repeats or skips a record or an event
//!   ([`pages_neither_repeat_nor_skip_under_concurrent_writes`]);
//! - **last used**: per token, the latest use wins, and recording it is not a change
//!   ([`last_used_keeps_the_latest_use_and_is_not_a_change`]); the times follow the
//!   tokens through edits, rotations and deletes ([`last_used_follows_the_tokens`]);
//! - **use counts**: batches add up per token and hour, read back per integration and
//!   only with its account, from an hour on, and recording them is not a change
//!   ([`token_uses_add_up_per_token_and_hour`]); they stay with the integration when
//!   their token leaves it and go when it is deleted
//!   ([`token_uses_stay_with_the_integration`]); old ones are removed in bounded
//!   batches, oldest first ([`old_token_uses_are_removed_oldest_first`]);
//! - **rotations under way** ([`Storage::rotating_integrations`]): of every account,
//!   those still rotating at the instant asked (to the microsecond), by their end then
//!   id, batch after batch for every batch size, each with the last-used times `get`
//!   gives ([`rotating_integrations_come_by_their_end`]);
//! - **idempotency records**: every kind of write stores the record of its key with the
//!   change, read back equal, and the same key again is [`StorageError::AlreadyExists`]
//!   and writes nothing ([`insert_stores_its_idempotency_record`],
//!   [`update_stores_its_idempotency_record`], [`delete_stores_its_idempotency_record`],
//!   [`set_permission_stores_its_idempotency_record`],
//!   [`set_feature_enabled_stores_its_idempotency_record`]), whatever kind of write
//!   tries it ([`an_idempotency_key_is_used_once_by_any_write`]); keys belong to their
//!   account and user ([`idempotency_keys_belong_to_their_account_and_user`]); a write
//!   that fails stores no record ([`a_failed_write_stores_no_idempotency_record`]); old
//!   records are removed in bounded batches, oldest first
//!   ([`old_idempotency_records_are_removed_oldest_first`]);
//! - **audit retention**: old audit events of every account are removed in bounded
//!   batches, oldest first, leaving the rest of the log and its pages as they were
//!   ([`old_audit_events_are_removed_oldest_first`]);
//! - **queries** ([`Storage::list_query`]): page after page, oldest or newest first,
//!   every matching record once, with the total of all matches on every page
//!   ([`integration_queries_page_in_either_order`]); the search ignores case the same
//!   way on every backend (Unicode lowercase of each character) and takes `%`, `_` and
//!   `\` literally ([`integration_queries_search_names_ignoring_case`]); each state
//!   (active, rotating, rotation due) at its boundaries, alone and with a search
//!   ([`integration_queries_filter_by_state`]); every total stays exact through every
//!   kind of change, failed writes and concurrent creates
//!   ([`integration_query_totals_follow_every_change`]).
//!
//! # Running it
//!
//! [`storage_conformance_tests!`](crate::storage_conformance_tests) turns every case
//! into a test of your crate. Its argument is an expression evaluated inside an `async`
//! block, once per test, so it may `.await`:
//!
//! ```
//! // tests/conformance.rs of your backend's crate, with
//! // private-integrations = { version = "…", features = ["conformance"] } in [dev-dependencies]
//! mod memory {
//!     private_integrations::storage_conformance_tests!(private_integrations::MemoryStorage::new());
//! }
//! ```
//!
//! Or call the cases yourself, from any async test:
//!
//! ```
//! use std::sync::Arc;
//! use private_integrations::{MemoryStorage, storage::conformance};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! conformance::create_never_overwrites(Arc::new(MemoryStorage::new())).await;
//! # });
//! ```
//!
//! The two last-used cases hold [`Storage::record_last_used`] to its contract, and the
//! three use-count cases [`Storage::record_token_uses`], [`Storage::token_uses`] and
//! [`Storage::remove_token_uses`]. A backend that keeps no last-used times or no counts
//! (the trait's defaults, allowed: admins then see none) fails them; call the other
//! cases one by one as above, and say so in its docs.

use std::future::Future;
use std::sync::Arc;

use crate::storage::StoredScopes;

use rand::rngs::SysRng;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::{AccessSettings, AuditLogQuery, Cursor, LastUse, PageRequest, TokenCredential};
use super::{AuditAction, AuditEvent, Credentials, IntegrationRecord, Storage, StorageError};
use super::{Change, Fingerprint, IdempotencyKey, IdempotencyRecord};
use super::{IntegrationQuery, ListOrder, TokenUses};
use crate::domain::access::Permission;
use crate::domain::credentials::{RotationMode, TokenRole, Transition};
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::listing::IntegrationState;
use crate::domain::token::TokenFormat;

/// Turns every case of [`storage::conformance`](crate::storage::conformance) into a
/// `#[test]` of the calling module.
///
/// The argument is an expression that makes the backend (any `S: Storage`), evaluated
/// inside an `async` block once per test, so it may `.await` a connection. Each test runs
/// on a multi-threaded tokio runtime of its own (two worker threads), so the race case
/// really runs in parallel; the calling crate needs no tokio of its own.
///
/// # Example
///
/// ```
/// mod memory {
///     private_integrations::storage_conformance_tests!(private_integrations::MemoryStorage::new());
/// }
/// ```
///
/// With a backend that must connect first:
///
/// ```ignore
/// mod sqlite {
///     private_integrations::storage_conformance_tests!({
///         let storage = SqliteStorage::connect("sqlite::memory:").await.unwrap();
///         storage.migrate().await.unwrap();
///         storage
///     });
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
#[macro_export]
macro_rules! storage_conformance_tests {
    ($storage:expr) => {
        $crate::storage_conformance_tests!(@cases $storage, [
            create_never_overwrites,
            stale_versions_conflict_and_write_nothing,
            missing_records_are_not_found,
            other_accounts_records_are_absent,
            concurrent_compare_and_swap_loses_no_update,
            each_change_writes_exactly_its_audit_event,
            token_lookup_follows_the_credentials,
            a_token_id_held_by_another_integration_is_refused,
            listings_are_per_account_oldest_first,
            access_settings_round_trip_with_defaults,
            records_round_trip_exactly,
            timestamps_round_trip_to_the_microsecond,
            integration_pages_follow_the_listing,
            audit_pages_follow_the_log,
            pages_neither_repeat_nor_skip_under_concurrent_writes,
            last_used_keeps_the_latest_use_and_is_not_a_change,
            last_used_follows_the_tokens,
            token_uses_add_up_per_token_and_hour,
            token_uses_stay_with_the_integration,
            old_token_uses_are_removed_oldest_first,
            rotating_integrations_come_by_their_end,
            insert_stores_its_idempotency_record,
            update_stores_its_idempotency_record,
            delete_stores_its_idempotency_record,
            set_permission_stores_its_idempotency_record,
            set_feature_enabled_stores_its_idempotency_record,
            an_idempotency_key_is_used_once_by_any_write,
            idempotency_keys_belong_to_their_account_and_user,
            a_failed_write_stores_no_idempotency_record,
            old_idempotency_records_are_removed_oldest_first,
            old_audit_events_are_removed_oldest_first,
            integration_queries_page_in_either_order,
            integration_queries_search_names_ignoring_case,
            integration_queries_filter_by_state,
            integration_query_totals_follow_every_change,
            leaked_tokens_round_trip,
        ]);
    };
    (@cases $storage:expr, [$($case:ident),* $(,)?]) => {
        $(
            #[test]
            fn $case() {
                $crate::storage::conformance::run(async {
                    let storage: ::std::sync::Arc<dyn $crate::Storage> =
                        ::std::sync::Arc::new($storage);
                    $crate::storage::conformance::$case(storage).await;
                });
            }
        )*
    };
}

/// Runs a case to completion on a fresh multi-threaded tokio runtime (two worker
/// threads, every driver the build has enabled). Used by
/// [`storage_conformance_tests!`](crate::storage_conformance_tests).
///
/// # Panics
///
/// If the runtime cannot be built, or the case panics.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::missing_records_are_not_found(Arc::new(MemoryStorage::new())));
/// ```
pub fn run(case: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance case")
        .block_on(case);
}

// ---------------------------------------------------------------------------------------
// Building blocks: records made with the public domain API.

/// 2026-03-01 09:00:00.123456 UTC: an instant with non-zero microseconds.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_772_355_600).expect("a valid instant")
        + Duration::microseconds(123_456)
}

fn fresh_id() -> IntegrationId {
    IntegrationId::generate(&mut SysRng).expect("the system random number generator")
}

/// A fresh account, so cases never see each other's data.
fn account() -> AccountId {
    AccountId::new(format!("acct_{}", fresh_id()))
}

fn user(name: &str) -> UserId {
    UserId::new(name)
}

fn token(issued_at: OffsetDateTime) -> TokenCredential {
    let (id, hash, _token) = TokenFormat::default()
        .issue(&mut SysRng)
        .expect("the system random number generator");
    TokenCredential {
        id,
        hash,
        issued_at,
    }
}

fn record(account: &AccountId, at: OffsetDateTime) -> IntegrationRecord {
    IntegrationRecord {
        id: fresh_id(),
        account: account.clone(),
        name: "Conformance".into(),
        description: "".into(),
        scopes: StoredScopes::new(["contacts.readonly"]),
        credentials: Credentials::new(token(at)),
        created_at: at,
        updated_at: at,
        version: 1,
        last_used: Default::default(),
    }
}

fn event(record: &IntegrationRecord, action: AuditAction, at: OffsetDateTime) -> AuditEvent {
    AuditEvent {
        account: record.account.clone(),
        actor: user("u_conformance"),
        integration: Some(record.id.clone()),
        action,
        at,
    }
}

fn created(record: &IntegrationRecord) -> AuditEvent {
    event(record, AuditAction::Created, record.created_at)
}

/// The next version of `record`, edited at `at`.
fn edited(record: &IntegrationRecord, description: &str, at: OffsetDateTime) -> IntegrationRecord {
    IntegrationRecord {
        description: description.into(),
        updated_at: at,
        version: record.version + 1,
        ..record.clone()
    }
}

/// The next version of `record` after a credentials transition at `at`.
fn transitioned(
    record: &IntegrationRecord,
    transition: Transition,
    at: OffsetDateTime,
) -> IntegrationRecord {
    IntegrationRecord {
        credentials: record
            .credentials
            .apply(transition, at)
            .expect("a transition the state machine allows"),
        updated_at: at,
        version: record.version + 1,
        ..record.clone()
    }
}

fn rotation(mode: RotationMode, at: OffsetDateTime) -> Transition {
    Transition::Rotate {
        mode,
        new: token(at),
        grace: Duration::days(7),
    }
}

/// Everything a record holds, comparable (token hashes as bytes).
#[derive(Debug, PartialEq)]
struct Fields {
    id: IntegrationId,
    account: AccountId,
    name: Box<str>,
    description: Box<str>,
    scopes: StoredScopes,
    tokens: Vec<(TokenId, [u8; 32], OffsetDateTime)>,
    previous_expires_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    version: u64,
}

fn fields(record: &IntegrationRecord) -> Fields {
    let credential = |c: &TokenCredential| (c.id, *c.hash.as_bytes(), c.issued_at);
    let credentials = &record.credentials;
    Fields {
        id: record.id.clone(),
        account: record.account.clone(),
        name: record.name.clone(),
        description: record.description.clone(),
        scopes: record.scopes.clone(),
        tokens: std::iter::once(credential(credentials.current()))
            .chain(credentials.previous().map(|(p, _)| credential(p)))
            .collect(),
        previous_expires_at: credentials.previous().map(|(_, at)| at),
        created_at: record.created_at,
        updated_at: record.updated_at,
        version: record.version,
    }
}

#[track_caller]
fn assert_same(got: &IntegrationRecord, expected: &IntegrationRecord, what: &str) {
    assert_eq!(fields(got), fields(expected), "{what}");
}

/// The stored record, which must exist.
async fn stored(storage: &dyn Storage, record: &IntegrationRecord) -> IntegrationRecord {
    storage
        .get(&record.account, &record.id)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("integration {} is missing", record.id))
}

async fn log(storage: &dyn Storage, account: &AccountId) -> Vec<AuditEvent> {
    storage.audit_log(account).await.expect("audit_log")
}

/// The record a token id finds, checking that its credentials hold the id.
async fn lookup(storage: &dyn Storage, token_id: &TokenId) -> Option<IntegrationRecord> {
    let found = storage
        .find_by_token(token_id)
        .await
        .expect("find_by_token");
    found.map(|record| {
        assert!(
            record.credentials.find(token_id).is_some(),
            "find_by_token({token_id}) returned a record whose credentials do not hold it"
        );
        IntegrationRecord::clone(&record)
    })
}

#[track_caller]
fn expect_err(result: Result<(), StorageError>, expected: StorageError, what: &str) {
    let matches = matches!(
        (&result, &expected),
        (
            Err(StorageError::AlreadyExists),
            StorageError::AlreadyExists
        ) | (Err(StorageError::Conflict), StorageError::Conflict)
            | (Err(StorageError::NotFound), StorageError::NotFound)
    );
    assert!(matches, "{what}: expected {expected:?}, got {result:?}");
}

// ---------------------------------------------------------------------------------------
// The cases.

/// `insert` never overwrites: an integration id already stored (in any account), or a
/// token id that another integration holds as its current or previous token, is
/// [`StorageError::AlreadyExists`]; nothing of the refused record is written and the
/// original is intact.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::create_never_overwrites(Arc::new(MemoryStorage::new())));
/// ```
pub async fn create_never_overwrites(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let original = record(&a, t0());
    storage
        .insert(&original, (&created(&original)).into())
        .await
        .expect("insert");

    // The same integration id, in the same account and in another one.
    for owner in [&a, &b] {
        let mut twin = record(owner, t0() + Duration::SECOND);
        twin.id = original.id.clone();
        twin.name = "Impostor".into();
        expect_err(
            storage.insert(&twin, (&created(&twin)).into()).await,
            StorageError::AlreadyExists,
            "insert of an integration id already stored",
        );
        assert!(
            lookup(storage, &twin.credentials.current().id)
                .await
                .is_none(),
            "the refused record's token was indexed"
        );
    }
    assert!(storage.get(&b, &original.id).await.expect("get").is_none());

    // A new integration reusing the original's token id, as its current token and as the
    // previous token of a rotation.
    let taken = *original.credentials.current();
    let mut reuses_current = record(&a, t0());
    reuses_current.credentials = Credentials::new(TokenCredential {
        hash: token(t0()).hash,
        ..taken
    });
    let mut reuses_previous = record(&b, t0());
    reuses_previous.credentials = Credentials::Rotating {
        current: token(t0()),
        previous: TokenCredential {
            hash: token(t0()).hash,
            ..taken
        },
        previous_expires_at: t0() + Duration::days(7),
    };
    for refused in [&reuses_current, &reuses_previous] {
        expect_err(
            storage.insert(refused, (&created(refused)).into()).await,
            StorageError::AlreadyExists,
            "insert of a token id already stored",
        );
        assert!(
            storage
                .get(&refused.account, &refused.id)
                .await
                .expect("get")
                .is_none(),
            "a refused insert wrote its record"
        );
        for id in refused.credentials.token_ids().filter(|id| *id != taken.id) {
            assert!(
                lookup(storage, &id).await.is_none(),
                "a refused insert indexed its other token"
            );
        }
    }

    assert_same(
        &stored(storage, &original).await,
        &original,
        "the original is intact",
    );
    let found = lookup(storage, &taken.id)
        .await
        .expect("the original's token is still found");
    assert_same(&found, &original, "the token still finds the original");
    assert_eq!(log(storage, &a).await, [created(&original)]);
    assert!(
        log(storage, &b).await.is_empty(),
        "refused inserts wrote audit events"
    );
}

/// A write naming a version other than the stored one is [`StorageError::Conflict`] and
/// writes nothing: not the record, not its tokens, not its audit event.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::stale_versions_conflict_and_write_nothing(Arc::new(MemoryStorage::new())));
/// ```
pub async fn stale_versions_conflict_and_write_nothing(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let v1 = record(&a, t0());
    storage
        .insert(&v1, (&created(&v1)).into())
        .await
        .expect("insert");
    let at = t0() + Duration::MINUTE;
    let v2 = edited(&v1, "second", at);
    let v2_event = event(&v2, AuditAction::Updated, at);
    storage
        .update(&v2, 1, (&v2_event).into())
        .await
        .expect("update");

    // A writer that read version 1 and rotates: stale.
    let stale = transitioned(&v1, rotation(RotationMode::ExpireNow, at), at);
    let stale_event = event(
        &stale,
        AuditAction::Rotated {
            mode: RotationMode::ExpireNow,
        },
        at,
    );
    expect_err(
        storage.update(&stale, 1, (&stale_event).into()).await,
        StorageError::Conflict,
        "update at a stale version",
    );
    // A version from the future is no better.
    expect_err(
        storage.update(&stale, 3, (&stale_event).into()).await,
        StorageError::Conflict,
        "update at a version not reached yet",
    );
    let delete_event = event(&v2, AuditAction::Deleted, at);
    expect_err(
        storage.delete(&a, &v1.id, 1, (&delete_event).into()).await,
        StorageError::Conflict,
        "delete at a stale version",
    );

    assert_same(&stored(storage, &v1).await, &v2, "nothing was written");
    assert!(
        lookup(storage, &stale.credentials.current().id)
            .await
            .is_none(),
        "the stale write's token was indexed"
    );
    let found = lookup(storage, &v1.credentials.current().id).await;
    assert!(found.is_some(), "the stale write removed the live token");
    assert_eq!(
        log(storage, &a).await,
        [v2_event, created(&v1)],
        "a conflict wrote an audit event"
    );
}

/// Updating or deleting an integration that does not exist (never did, or was deleted)
/// is [`StorageError::NotFound`], whatever version is named, and writes nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::missing_records_are_not_found(Arc::new(MemoryStorage::new())));
/// ```
pub async fn missing_records_are_not_found(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let never = record(&a, t0());
    let update = edited(&never, "x", t0());
    for version in [0, 1, 2] {
        expect_err(
            storage
                .update(
                    &update,
                    version,
                    (&event(&update, AuditAction::Updated, t0())).into(),
                )
                .await,
            StorageError::NotFound,
            "update of an integration never stored",
        );
        expect_err(
            storage
                .delete(
                    &a,
                    &never.id,
                    version,
                    (&event(&never, AuditAction::Deleted, t0())).into(),
                )
                .await,
            StorageError::NotFound,
            "delete of an integration never stored",
        );
    }
    assert!(storage.get(&a, &never.id).await.expect("get").is_none());
    assert!(
        lookup(storage, &update.credentials.current().id)
            .await
            .is_none()
    );

    let gone = record(&a, t0());
    storage
        .insert(&gone, (&created(&gone)).into())
        .await
        .expect("insert");
    let deleted = event(&gone, AuditAction::Deleted, t0());
    storage
        .delete(&a, &gone.id, 1, (&deleted).into())
        .await
        .expect("delete");
    let late = edited(&gone, "late", t0());
    expect_err(
        storage
            .update(&late, 1, (&event(&late, AuditAction::Updated, t0())).into())
            .await,
        StorageError::NotFound,
        "update of a deleted integration",
    );
    expect_err(
        storage.delete(&a, &gone.id, 1, (&deleted).into()).await,
        StorageError::NotFound,
        "delete of a deleted integration",
    );
    assert!(storage.get(&a, &gone.id).await.expect("get").is_none());
    assert!(
        lookup(storage, &late.credentials.current().id)
            .await
            .is_none()
    );
    assert_eq!(
        log(storage, &a).await,
        [deleted, created(&gone)],
        "a refused write wrote an audit event"
    );
}

/// Another account's integration is absent for every management call: `get` is `None`,
/// `update` and `delete` are [`StorageError::NotFound`] (not `Conflict`, whatever the
/// version), `list` does not show it; nothing is written.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::other_accounts_records_are_absent(Arc::new(MemoryStorage::new())));
/// ```
pub async fn other_accounts_records_are_absent(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let theirs = record(&a, t0());
    storage
        .insert(&theirs, (&created(&theirs)).into())
        .await
        .expect("insert");

    assert!(
        storage.get(&b, &theirs.id).await.expect("get").is_none(),
        "get across accounts"
    );
    assert!(
        storage.list(&b).await.expect("list").is_empty(),
        "list across accounts"
    );
    let mut hijack = edited(&theirs, "hijacked", t0());
    hijack.account = b.clone();
    for version in [1, 2] {
        expect_err(
            storage
                .update(
                    &hijack,
                    version,
                    (&event(&hijack, AuditAction::Updated, t0())).into(),
                )
                .await,
            StorageError::NotFound,
            "update across accounts",
        );
        expect_err(
            storage
                .delete(
                    &b,
                    &theirs.id,
                    version,
                    (&event(&hijack, AuditAction::Deleted, t0())).into(),
                )
                .await,
            StorageError::NotFound,
            "delete across accounts",
        );
    }
    assert_same(
        &stored(storage, &theirs).await,
        &theirs,
        "the record is intact",
    );
    assert!(
        lookup(storage, &theirs.credentials.current().id)
            .await
            .is_some()
    );
    assert!(log(storage, &b).await.is_empty());
    assert_eq!(log(storage, &a).await, [created(&theirs)]);
}

/// The number of concurrent writers of [`concurrent_compare_and_swap_loses_no_update`].
///
/// # Example
///
/// ```
/// use private_integrations::storage::conformance::{RACE_UPDATES_PER_WRITER, RACE_WRITERS};
/// // The version an integration reaches in the race: created at 1, one per update.
/// assert_eq!(1 + RACE_WRITERS * RACE_UPDATES_PER_WRITER, 201);
/// ```
pub const RACE_WRITERS: u64 = 8;

/// The number of updates each writer of [`concurrent_compare_and_swap_loses_no_update`]
/// makes.
///
/// # Example
///
/// ```
/// use private_integrations::storage::conformance::{RACE_UPDATES_PER_WRITER, RACE_WRITERS};
/// let surviving_updates = RACE_WRITERS * RACE_UPDATES_PER_WRITER;
/// assert_eq!(surviving_updates, 200);
/// ```
pub const RACE_UPDATES_PER_WRITER: u64 = 25;

/// [`RACE_WRITERS`] tasks each make [`RACE_UPDATES_PER_WRITER`] increments of a counter
/// kept in one integration's description: read, add one, write with compare-and-swap,
/// and on [`StorageError::Conflict`] read again and retry. Exactly every increment
/// survives: the final counter is N×K, the version 1 + N×K, and the log holds one event
/// per successful write.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::concurrent_compare_and_swap_loses_no_update(Arc::new(MemoryStorage::new())));
/// ```
pub async fn concurrent_compare_and_swap_loses_no_update(storage: Arc<dyn Storage>) {
    let a = account();
    let counter = record(&a, t0());
    storage
        .insert(&counter, (&created(&counter)).into())
        .await
        .expect("insert");

    let writers: Vec<_> = (0..RACE_WRITERS)
        .map(|_| {
            let (storage, counter) = (Arc::clone(&storage), counter.clone());
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..RACE_UPDATES_PER_WRITER {
                    loop {
                        let read = stored(&*storage, &counter).await;
                        let count: u64 = if read.description.is_empty() {
                            0
                        } else {
                            read.description.parse().expect("a counter")
                        };
                        let next = edited(&read, &(count + 1).to_string(), t0());
                        let note = event(&next, AuditAction::Updated, t0());
                        match storage.update(&next, read.version, (&note).into()).await {
                            Ok(()) => break,
                            Err(StorageError::Conflict) => conflicts += 1,
                            Err(other) => panic!("a racing update failed: {other:?}"),
                        }
                        assert!(conflicts < 100_000, "a writer never got through");
                    }
                }
                conflicts
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer panicked");
    }

    let total = RACE_WRITERS * RACE_UPDATES_PER_WRITER;
    let last = stored(&*storage, &counter).await;
    assert_eq!(
        last.description,
        total.to_string().into(),
        "increments were lost or doubled"
    );
    assert_eq!(last.version, 1 + total, "versions were skipped or repeated");
    let events = log(&*storage, &a).await;
    let updates = events
        .iter()
        .filter(|e| e.action == AuditAction::Updated)
        .count();
    assert_eq!(
        updates as u64, total,
        "one audit event per successful write"
    );
    assert_eq!(events.len() as u64, total + 1);
}

/// Each change appends exactly its own audit event, equal to the one given, in the same
/// write; a refused change appends none. The log is per account, newest first by the
/// events' time (not by when they were written), and of events at the same instant the
/// one written last comes first.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::each_change_writes_exactly_its_audit_event(Arc::new(MemoryStorage::new())));
/// ```
pub async fn each_change_writes_exactly_its_audit_event(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let mut expected: Vec<AuditEvent> = Vec::new();

    let v1 = record(&a, t0());
    storage
        .insert(&v1, (&created(&v1)).into())
        .await
        .expect("insert");
    expected.push(created(&v1));
    assert_eq!(log(storage, &a).await, expected, "after insert");

    // Refused: the same id again.
    let mut twin = record(&a, t0());
    twin.id = v1.id.clone();
    expect_err(
        storage.insert(&twin, (&created(&twin)).into()).await,
        StorageError::AlreadyExists,
        "insert of an id already stored",
    );
    assert_eq!(log(storage, &a).await, expected, "after a refused insert");

    // Two changes at one instant: the second written comes first.
    let at = t0() + Duration::SECOND;
    let v2 = edited(&v1, "two", at);
    let v2_event = event(&v2, AuditAction::Updated, at);
    storage
        .update(&v2, 1, (&v2_event).into())
        .await
        .expect("update");
    expected.push(v2_event);
    let v3 = transitioned(&v2, rotation(RotationMode::ExpireLater, at), at);
    let v3_event = event(
        &v3,
        AuditAction::Rotated {
            mode: RotationMode::ExpireLater,
        },
        at,
    );
    storage
        .update(&v3, 2, (&v3_event).into())
        .await
        .expect("rotate");
    expected.push(v3_event);
    let mut newest_first = expected.clone();
    newest_first.reverse();
    assert_eq!(log(storage, &a).await, newest_first, "after two updates");

    // Refused: a stale update, a missing delete.
    let stale = edited(&v1, "stale", at);
    expect_err(
        storage
            .update(&stale, 1, (&event(&stale, AuditAction::Updated, at)).into())
            .await,
        StorageError::Conflict,
        "update at a stale version",
    );
    expect_err(
        storage
            .delete(
                &a,
                &fresh_id(),
                1,
                (&event(&v1, AuditAction::Deleted, at)).into(),
            )
            .await,
        StorageError::NotFound,
        "delete of an integration never stored",
    );
    assert_eq!(log(storage, &a).await, newest_first, "after refused writes");

    // Settings changes, then the delete.
    let later = at + Duration::MINUTE;
    let bob = user("u_bob");
    let permission_event = AuditEvent {
        account: a.clone(),
        actor: user("u_admin"),
        integration: None,
        action: AuditAction::PermissionChanged {
            user: bob.clone(),
            permission: Permission::Allow,
        },
        at: later,
    };
    storage
        .set_permission(&a, &bob, Permission::Allow, (&permission_event).into())
        .await
        .expect("set_permission");
    expected.push(permission_event);
    let switch_event = AuditEvent {
        action: AuditAction::FeatureSwitched { enabled: false },
        at: later + Duration::SECOND,
        ..expected[expected.len() - 1].clone()
    };
    storage
        .set_feature_enabled(&a, false, (&switch_event).into())
        .await
        .expect("set_feature_enabled");
    expected.push(switch_event);
    let deleted = event(&v3, AuditAction::Deleted, later + Duration::MINUTE);
    storage
        .delete(&a, &v3.id, 3, (&deleted).into())
        .await
        .expect("delete");
    expected.push(deleted);

    // Written last, but stamped earlier (a replica whose clock lags): the log is in time
    // order, and of the events at this instant (the create's) it comes first.
    let lagging = AuditEvent {
        action: AuditAction::PermissionChanged {
            user: bob.clone(),
            permission: Permission::Deny,
        },
        at: t0(),
        ..expected[expected.len() - 3].clone()
    };
    storage
        .set_permission(&a, &bob, Permission::Deny, (&lagging).into())
        .await
        .expect("set_permission");
    expected.push(lagging);

    let mut newest_first = expected;
    newest_first.sort_by_key(|e| e.at); // stable: same instant, in write order
    newest_first.reverse();
    assert_eq!(
        newest_first[newest_first.len() - 2].action,
        AuditAction::PermissionChanged {
            user: bob,
            permission: Permission::Deny
        }
    );
    assert_eq!(log(storage, &a).await, newest_first, "the whole log");
    assert!(log(storage, &b).await.is_empty(), "logs are per account");
}

/// `find_by_token` finds a record by exactly the token ids its stored credentials hold:
/// both ids while a rotation is under way; after a cancel only the previous one, after
/// an early expiry only the new one, after a rotation that expires now only the newest;
/// after a delete none. An id never issued is not found.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::token_lookup_follows_the_credentials(Arc::new(MemoryStorage::new())));
/// ```
pub async fn token_lookup_follows_the_credentials(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let mut issued: Vec<TokenId> = Vec::new();
    let mut current = record(&a, t0());
    storage
        .insert(&current, (&created(&current)).into())
        .await
        .expect("insert");
    issued.push(current.credentials.current().id);

    let steps = [
        (
            rotation(RotationMode::ExpireLater, t0()),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
        ),
        (Transition::CancelRotation, AuditAction::RotationCancelled),
        (
            rotation(RotationMode::ExpireLater, t0()),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
        ),
        (Transition::ExpirePreviousNow, AuditAction::PreviousExpired),
        (
            rotation(RotationMode::ExpireLater, t0()),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
        ),
        (
            rotation(RotationMode::ExpireNow, t0()),
            AuditAction::Rotated {
                mode: RotationMode::ExpireNow,
            },
        ),
    ];
    for (n, (transition, action)) in steps.into_iter().enumerate() {
        let at = t0() + Duration::minutes(n as i64 + 1);
        let next = transitioned(&current, transition, at);
        storage
            .update(
                &next,
                current.version,
                (&event(&next, action.clone(), at)).into(),
            )
            .await
            .expect("update");
        current = next;
        issued.extend(current.credentials.token_ids());
        let live: Vec<TokenId> = current.credentials.token_ids().collect();
        for id in &issued {
            let found = lookup(storage, id).await;
            if live.contains(id) {
                let found = found.unwrap_or_else(|| panic!("after {action:?}, live {id} is lost"));
                assert_same(&found, &current, "the lookup returns the stored record");
            } else {
                assert!(
                    found.is_none(),
                    "after {action:?}, dead {id} is still found"
                );
            }
        }
    }

    storage
        .delete(
            &a,
            &current.id,
            current.version,
            (&event(&current, AuditAction::Deleted, t0())).into(),
        )
        .await
        .expect("delete");
    for id in &issued {
        assert!(
            lookup(storage, id).await.is_none(),
            "{id} is found after the delete"
        );
    }
    let never = token(t0()).id;
    assert!(lookup(storage, &never).await.is_none());
}

/// An update whose credentials hold a token id that another integration holds is
/// [`StorageError::AlreadyExists`] and writes nothing: the id keeps finding its holder.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::a_token_id_held_by_another_integration_is_refused(Arc::new(MemoryStorage::new())));
/// ```
pub async fn a_token_id_held_by_another_integration_is_refused(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let holder = record(&a, t0());
    let other = record(&a, t0());
    for r in [&holder, &other] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    let taken = *holder.credentials.current();
    let grab = transitioned(
        &other,
        Transition::Rotate {
            mode: RotationMode::ExpireLater,
            new: TokenCredential {
                hash: token(t0()).hash,
                ..taken
            },
            grace: Duration::days(7),
        },
        t0(),
    );
    expect_err(
        storage
            .update(
                &grab,
                1,
                (&event(
                    &grab,
                    AuditAction::Rotated {
                        mode: RotationMode::ExpireLater,
                    },
                    t0(),
                ))
                    .into(),
            )
            .await,
        StorageError::AlreadyExists,
        "update taking another integration's token id",
    );
    assert_same(
        &stored(storage, &other).await,
        &other,
        "nothing was written",
    );
    let found = lookup(storage, &taken.id)
        .await
        .expect("the holder's token");
    assert_same(&found, &holder, "the id still finds its holder");
    assert!(
        lookup(storage, &other.credentials.current().id)
            .await
            .is_some()
    );
    assert_eq!(log(storage, &a).await.len(), 2);
}

/// `list` shows exactly the account's integrations, oldest first, and those created at
/// the same instant by id (byte order).
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::listings_are_per_account_oldest_first(Arc::new(MemoryStorage::new())));
/// ```
pub async fn listings_are_per_account_oldest_first(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b, empty) = (account(), account(), account());
    let records = [
        record(&a, t0() + Duration::SECOND),
        record(&a, t0()),
        record(&b, t0()),
        record(&a, t0()),
        record(&a, t0()),
        record(&a, t0() - Duration::days(400)),
    ];
    for r in &records {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    let ids = |account: &AccountId| {
        let mut ids: Vec<_> = records
            .iter()
            .filter(|r| r.account == *account)
            .map(|r| (r.created_at, r.id.clone()))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let listed = |list: Vec<IntegrationRecord>| list.into_iter().map(|r| r.id).collect::<Vec<_>>();

    assert_eq!(listed(storage.list(&a).await.expect("list")), ids(&a));
    assert_eq!(listed(storage.list(&b).await.expect("list")), ids(&b));
    assert!(storage.list(&empty).await.expect("list").is_empty());

    let gone = &records[3];
    storage
        .delete(
            &a,
            &gone.id,
            1,
            (&event(gone, AuditAction::Deleted, t0())).into(),
        )
        .await
        .expect("delete");
    let mut remaining = ids(&a);
    remaining.retain(|id| *id != gone.id);
    assert_eq!(listed(storage.list(&a).await.expect("list")), remaining);
}

/// `access` gives the defaults (feature on, [`Permission::RoleDefault`]) where nothing
/// was set, and exactly what was set otherwise: per user and per account, each set a
/// plain overwrite.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::access_settings_round_trip_with_defaults(Arc::new(MemoryStorage::new())));
/// ```
pub async fn access_settings_round_trip_with_defaults(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let (bob, eve) = (user("u_bob"), user("u_eve"));
    let access = |account: &AccountId, user: &UserId| {
        let (account, user) = (account.clone(), user.clone());
        async move { storage.access(&account, &user).await.expect("access") }
    };
    let settings = |feature_enabled, permission| AccessSettings {
        feature_enabled,
        permission,
    };
    assert_eq!(access(&a, &bob).await, AccessSettings::default());
    assert_eq!(
        AccessSettings::default(),
        settings(true, Permission::RoleDefault)
    );

    let admin = user("u_admin");
    let note = |account: &AccountId, action: AuditAction| AuditEvent {
        account: account.clone(),
        actor: admin.clone(),
        integration: None,
        action,
        at: t0(),
    };
    for permission in [
        Permission::Allow,
        Permission::Deny,
        Permission::RoleDefault,
        Permission::Deny,
    ] {
        let action = AuditAction::PermissionChanged {
            user: bob.clone(),
            permission,
        };
        storage
            .set_permission(&a, &bob, permission, (&note(&a, action)).into())
            .await
            .expect("set_permission");
        assert_eq!(access(&a, &bob).await, settings(true, permission));
        assert_eq!(
            access(&a, &eve).await,
            AccessSettings::default(),
            "another user"
        );
        assert_eq!(
            access(&b, &bob).await,
            AccessSettings::default(),
            "another account"
        );
    }
    for enabled in [false, true, false] {
        let action = AuditAction::FeatureSwitched { enabled };
        storage
            .set_feature_enabled(&a, enabled, (&note(&a, action)).into())
            .await
            .expect("set_feature_enabled");
        assert_eq!(access(&a, &bob).await, settings(enabled, Permission::Deny));
        assert_eq!(
            access(&a, &eve).await,
            settings(enabled, Permission::RoleDefault)
        );
        assert_eq!(
            access(&b, &bob).await,
            AccessSettings::default(),
            "another account"
        );
    }
    assert_eq!(log(storage, &a).await.len(), 7);
    assert!(log(storage, &b).await.is_empty());
}

/// Every field of a record comes back as written, through `get`, `list` and
/// `find_by_token`: names and descriptions with any Unicode, line breaks and tabs, an
/// empty description, scopes in their order, both tokens of a rotation with their
/// hashes, and large versions.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::records_round_trip_exactly(Arc::new(MemoryStorage::new())));
/// ```
pub async fn records_round_trip_exactly(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = AccountId::new(format!("Ácct 'quoted' \"{}\" ✓", fresh_id()));
    let mut plain = record(&a, t0());
    plain.name = "Zapier — sync ✓ 'it''s' \"quoted\" 🚀".into();
    plain.scopes = StoredScopes::new([
        "contacts.write",
        "calendars/events.write",
        "contacts.readonly",
    ]);
    let mut rotating = transitioned(
        &record(&a, t0()),
        rotation(RotationMode::ExpireLater, t0()),
        t0() + Duration::SECOND,
    );
    rotating.description = "line one\nline two\r\n\ttabbed; DROP TABLE pi_tokens; --".into();
    rotating.version = i64::MAX as u64;
    rotating.scopes = StoredScopes::default();

    for r in [&plain, &rotating] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
        assert_same(&stored(storage, r).await, r, "get");
        for id in r.credentials.token_ids() {
            let found = lookup(storage, &id).await.expect("find_by_token");
            assert_same(&found, r, "find_by_token");
        }
    }
    let listed = storage.list(&a).await.expect("list");
    assert_eq!(listed.len(), 2);
    let listed_plain = listed.iter().find(|r| r.id == plain.id).expect("listed");
    assert_same(listed_plain, &plain, "list");
    let listed_rotating = listed.iter().find(|r| r.id == rotating.id).expect("listed");
    assert_same(listed_rotating, &rotating, "list");
    assert_eq!(log(storage, &a).await.len(), 2);
}

/// Timestamps come back as the same instant to the microsecond: with non-zero
/// microseconds, before 1970, in the year 9999, and given with a UTC offset other than
/// zero; in records (created, updated, issued, expiry) and in audit events.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::timestamps_round_trip_to_the_microsecond(Arc::new(MemoryStorage::new())));
/// ```
pub async fn timestamps_round_trip_to_the_microsecond(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let instant = |unix: i64, micros: i64| {
        OffsetDateTime::from_unix_timestamp(unix).expect("a valid instant")
            + Duration::microseconds(micros)
    };
    let moon_landing = instant(-14_182_940, 1); // 1969-07-20 20:17:40.000001 UTC
    let early = instant(-2_208_988_800, 999_999); // 1900-01-01 00:00:00.999999 UTC
    let far = instant(253_402_300_799, 999_999); // 9999-12-31 23:59:59.999999 UTC
    let offset = UtcOffset::from_hms(5, 30, 0).expect("a valid offset");
    let elsewhere = (t0() + Duration::microseconds(1)).to_offset(offset);
    let times = [t0(), moon_landing, early, far, elsewhere];

    for (n, &at) in times.iter().enumerate() {
        let previous_issued = times[(n + 1) % times.len()];
        let expires = times[(n + 2) % times.len()];
        let created_at = times[(n + 3) % times.len()];
        let mut r = record(&a, created_at);
        r.updated_at = times[(n + 4) % times.len()];
        r.credentials = Credentials::Rotating {
            current: token(at),
            previous: token(previous_issued),
            previous_expires_at: expires,
        };
        let e = event(&r, AuditAction::Created, at);
        storage.insert(&r, (&e).into()).await.expect("insert");
        let back = stored(storage, &r).await;
        assert_same(&back, &r, "timestamps of a record");
        assert_eq!(back.created_at.unix_timestamp_nanos() % 1_000, 0);
        let found = lookup(storage, &r.credentials.current().id)
            .await
            .expect("find_by_token");
        assert_same(&found, &r, "timestamps through find_by_token");
        let logged = log(storage, &a).await;
        assert!(
            logged.contains(&e),
            "the event at {at} came back as another instant"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Pages.

/// Every page of `account`'s integrations, `size` at a time, checking each page's shape.
async fn integration_pages(
    storage: &dyn Storage,
    account: &AccountId,
    size: usize,
) -> Vec<Vec<IntegrationRecord>> {
    let mut pages = Vec::new();
    let mut request = PageRequest::new().limit(size);
    loop {
        let page = storage
            .list_page(account, &request)
            .await
            .expect("list_page");
        assert!(page.items.len() <= size, "a page longer than its size");
        let next = page.next.clone();
        pages.push(page.items);
        match next {
            Some(cursor) => {
                assert!(
                    cursor.integration_key().is_some(),
                    "a cursor of another kind"
                );
                request = request.after(cursor);
            }
            None => return pages,
        }
        assert!(pages.len() < 10_000, "pages never end");
    }
}

/// Every page of the audit log `query` asks for, `size` at a time.
async fn audit_pages(
    storage: &dyn Storage,
    account: &AccountId,
    query: AuditLogQuery,
    size: usize,
) -> Vec<Vec<AuditEvent>> {
    let mut pages = Vec::new();
    let mut request = PageRequest::new().limit(size);
    loop {
        let page = storage
            .audit_log_page(account, &query.clone().page(request.clone()))
            .await
            .expect("audit_log_page");
        assert!(page.items.len() <= size, "a page longer than its size");
        let next = page.next.clone();
        pages.push(page.items);
        match next {
            Some(cursor) => {
                assert!(
                    cursor.audit_event_key().is_some(),
                    "a cursor of another kind"
                );
                request = request.after(cursor);
            }
            None => return pages,
        }
        assert!(pages.len() < 10_000, "pages never end");
    }
}

/// An account-level audit event told apart by its actor, `ev_{n}`, about `integration`.
fn numbered(
    account: &AccountId,
    n: usize,
    integration: Option<&IntegrationId>,
    at: OffsetDateTime,
) -> AuditEvent {
    AuditEvent {
        account: account.clone(),
        actor: user(&format!("ev_{n}")),
        integration: integration.cloned(),
        action: AuditAction::FeatureSwitched {
            enabled: n.is_multiple_of(2),
        },
        at,
    }
}

/// Appends `event` alone (a feature switch carries any audit event).
async fn append(storage: &dyn Storage, event: &AuditEvent) {
    let enabled = matches!(event.action, AuditAction::FeatureSwitched { enabled: true });
    storage
        .set_feature_enabled(&event.account, enabled, (event).into())
        .await
        .expect("set_feature_enabled");
}

/// `list_page`, page after page, gives exactly `list`: every record once, oldest first
/// (records created at the same instant by id), each page as long as asked until the
/// last, `next` only when more follow; only the account's own records; an empty account
/// is one empty page.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::integration_pages_follow_the_listing(Arc::new(MemoryStorage::new())));
/// ```
pub async fn integration_pages_follow_the_listing(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b, empty) = (account(), account(), account());
    let times = [
        t0(),
        t0(),
        t0() + Duration::microseconds(1),
        t0() - Duration::days(400),
        t0(),
        t0() + Duration::days(1),
        t0() + Duration::microseconds(1),
    ];
    for (n, at) in times.iter().enumerate() {
        let r = record(if n == 4 { &b } else { &a }, *at);
        storage
            .insert(&r, (&created(&r)).into())
            .await
            .expect("insert");
    }
    let listed = storage.list(&a).await.expect("list");
    assert_eq!(listed.len(), 6);
    for size in 1..=7 {
        let pages = integration_pages(storage, &a, size).await;
        let (last, full) = pages.split_last().expect("at least one page");
        assert!(
            full.iter().all(|page| page.len() == size),
            "size {size}: a page before the last is short"
        );
        assert!(
            !last.is_empty() || pages.len() == 1,
            "size {size}: an empty last page"
        );
        let read: Vec<_> = pages.iter().flatten().map(|r| r.id.clone()).collect();
        let expected: Vec<_> = listed.iter().map(|r| r.id.clone()).collect();
        assert_eq!(read, expected, "size {size}: the pages are not the listing");
        assert_eq!(pages.len(), listed.len().div_ceil(size), "size {size}");
    }
    for (r, listed) in integration_pages(storage, &a, 4)
        .await
        .iter()
        .flatten()
        .zip(&listed)
    {
        assert_same(r, listed, "a paged record");
    }
    assert_eq!(integration_pages(storage, &b, 2).await.concat().len(), 1);
    // Cursors at the ends of time (any text of a cursor's form is one): all, or nothing.
    let (first, last) = (
        time::PrimitiveDateTime::MIN.assume_utc(),
        time::PrimitiveDateTime::MAX.assume_utc(),
    );
    let id = fresh_id();
    let all = PageRequest::new().after(Cursor::after_integration(first, &id));
    let page = storage
        .list_page(&a, &all)
        .await
        .expect("a cursor before all time");
    assert_eq!(page.items.len(), 6);
    let none = PageRequest::new().after(Cursor::after_integration(last, &id));
    let page = storage
        .list_page(&a, &none)
        .await
        .expect("a cursor after all time");
    assert!(page.items.is_empty());
    let nothing = integration_pages(storage, &empty, 2).await;
    assert!(
        nothing.len() == 1 && nothing[0].is_empty(),
        "an empty account"
    );

    // A cursor of one account read in another: only that account's records, after it.
    let cursor = storage
        .list_page(&a, &PageRequest::new().limit(1))
        .await
        .expect("list_page")
        .next
        .expect("more than one record");
    let elsewhere = storage
        .list_page(&b, &PageRequest::new().after(cursor))
        .await
        .expect("list_page");
    assert!(elsewhere.items.iter().all(|r| r.account == b));
}

/// `audit_log_page`, page after page, gives exactly `audit_log`: every event once,
/// newest first, events of one instant across page boundaries included; with an
/// integration, exactly that integration's events (a deleted one's too), and an unknown
/// id gives one empty page.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::audit_pages_follow_the_log(Arc::new(MemoryStorage::new())));
/// ```
pub async fn audit_pages_follow_the_log(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let (first, second) = (record(&a, t0()), record(&a, t0()));
    for r in [&first, &second] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    // Runs of events at one instant, some longer than a page, interleaved between the two
    // integrations and the account, with a clock that goes back once.
    let instants = [0, 0, 0, 0, 0, 1, 1, 2, -5, 3, 3, 3, 3, 3, 3, 3, 4];
    for (n, seconds) in instants.iter().enumerate() {
        let about = match n % 3 {
            0 => Some(&first.id),
            1 => Some(&second.id),
            _ => None,
        };
        append(
            storage,
            &numbered(&a, n, about, t0() + Duration::seconds(*seconds)),
        )
        .await;
    }
    append(storage, &numbered(&b, 99, Some(&first.id), t0())).await;
    storage
        .delete(
            &a,
            &second.id,
            1,
            (&event(&second, AuditAction::Deleted, t0())).into(),
        )
        .await
        .expect("delete");

    let log = log(storage, &a).await;
    assert_eq!(log.len(), 2 + instants.len() + 1);
    for size in [1, 2, 3, 4, 7, 20, 21, 200] {
        let pages = audit_pages(storage, &a, AuditLogQuery::new(), size).await;
        let (_, full) = pages.split_last().expect("at least one page");
        assert!(full.iter().all(|page| page.len() == size), "size {size}");
        assert_eq!(
            pages.concat(),
            log,
            "size {size}: the pages are not the log"
        );
        for integration in [&first.id, &second.id] {
            let query = AuditLogQuery::new().integration(integration.clone());
            let pages = audit_pages(storage, &a, query, size).await;
            let expected: Vec<_> = log
                .iter()
                .filter(|e| e.integration.as_ref() == Some(integration))
                .cloned()
                .collect();
            assert!(!expected.is_empty());
            assert_eq!(
                pages.concat(),
                expected,
                "size {size}: one integration's log"
            );
        }
    }
    for (at, expected) in [
        (time::PrimitiveDateTime::MIN.assume_utc(), 0),
        (time::PrimitiveDateTime::MAX.assume_utc(), log.len()),
    ] {
        for position in [0, u64::MAX] {
            let cursor = Cursor::after_audit_event(at, position);
            let query = AuditLogQuery::new().page(PageRequest::new().after(cursor));
            let page = storage
                .audit_log_page(&a, &query)
                .await
                .expect("a cursor at an end of time");
            assert_eq!(page.items.len(), expected, "after {at}, {position}");
        }
    }
    let unknown = AuditLogQuery::new().integration(fresh_id());
    assert_eq!(audit_pages(storage, &a, unknown, 5).await, [Vec::new()]);
    let of_b = audit_pages(storage, &b, AuditLogQuery::new(), 5).await;
    assert_eq!(of_b.concat(), [numbered(&b, 99, Some(&first.id), t0())]);
}

/// Pages read while other writers add, edit and delete: no record or event is on two
/// pages, none that existed when the first page was read (and was not deleted) is
/// missing, and so is none written meanwhile behind the reader's cursor. Writers run
/// freely on other tasks throughout, and between pages the case writes just before,
/// at and just after the cursor's own key.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::pages_neither_repeat_nor_skip_under_concurrent_writes(Arc::new(MemoryStorage::new())));
/// ```
pub async fn pages_neither_repeat_nor_skip_under_concurrent_writes(storage: Arc<dyn Storage>) {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};

    const EXISTING: usize = 24;
    const PAGE: usize = 3;
    let a = account();
    let mut existing = Vec::new();
    for n in 0..EXISTING {
        let r = record(&a, t0() + Duration::seconds((n / 4) as i64));
        storage
            .insert(&r, (&created(&r)).into())
            .await
            .expect("insert");
        existing.push(r);
    }
    for n in 0..EXISTING {
        append(
            &*storage,
            &numbered(&a, n, None, t0() + Duration::seconds((n / 4) as i64)),
        )
        .await;
    }
    let existing_events = log(&*storage, &a).await;

    // Free writers: new events at any time, new integrations at any time.
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (storage, done, a) = (Arc::clone(&storage), Arc::clone(&done), a.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !done.load(Ordering::SeqCst) && n < 40 {
                    let at = t0() + Duration::seconds((n % 13) as i64);
                    append(&*storage, &numbered(&a, 10_000 * (w + 1) + n, None, at)).await;
                    let r = record(&a, at);
                    storage
                        .insert(&r, (&created(&r)).into())
                        .await
                        .expect("insert");
                    n += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    // The integrations, oldest first.
    let mut seen = HashSet::new();
    let mut must_see: HashSet<IntegrationId> = existing.iter().map(|r| r.id.clone()).collect();
    let mut deleted = HashSet::new();
    let mut last: Option<(OffsetDateTime, IntegrationId)> = None;
    let mut request = PageRequest::new().limit(PAGE);
    for round in 0u32.. {
        let page = storage.list_page(&a, &request).await.expect("list_page");
        for r in &page.items {
            let key = (r.created_at, r.id.clone());
            assert!(last.as_ref().is_none_or(|last| key > *last), "out of order");
            assert!(
                seen.insert(r.id.clone()),
                "integration {} on two pages",
                r.id
            );
            assert!(!deleted.contains(&r.id), "a deleted integration was listed");
            last = Some(key);
        }
        let Some(cursor) = page.next else { break };
        let (at, id) = cursor.integration_key().expect("an integration cursor");
        assert_eq!(
            (at, id),
            last.as_ref().map(|(t, i)| (*t, i)).expect("a last record")
        );
        // Behind the cursor (must be listed), before it (need not be), on it.
        let behind = record(&a, at + Duration::microseconds(1));
        let before = record(&a, at - Duration::microseconds(1));
        for r in [&behind, &before] {
            storage
                .insert(r, (&created(r)).into())
                .await
                .expect("insert");
        }
        must_see.insert(behind.id.clone());
        // Edit one already read and one not yet read; delete one not yet read.
        for r in existing.iter().filter(|r| seen.contains(&r.id)).take(1) {
            let now = stored(&*storage, r).await;
            let next = edited(&now, &format!("round {round}"), t0());
            storage
                .update(
                    &next,
                    now.version,
                    (&event(&next, AuditAction::Updated, t0())).into(),
                )
                .await
                .expect("update of a read record");
        }
        let unread: Vec<&IntegrationRecord> = existing
            .iter()
            .filter(|r| !seen.contains(&r.id) && !deleted.contains(&r.id))
            .collect();
        if let Some(r) = unread.first() {
            let now = stored(&*storage, r).await;
            let next = edited(&now, &format!("round {round}"), t0());
            storage
                .update(
                    &next,
                    now.version,
                    (&event(&next, AuditAction::Updated, t0())).into(),
                )
                .await
                .expect("update of an unread record");
        }
        if round.is_multiple_of(2)
            && let Some(r) = unread.last()
        {
            storage
                .delete(
                    &a,
                    &r.id,
                    stored(&*storage, r).await.version,
                    (&event(r, AuditAction::Deleted, t0())).into(),
                )
                .await
                .expect("delete");
            deleted.insert(r.id.clone());
            must_see.remove(&r.id);
        }
        request = request.after(cursor);
    }
    let missing: Vec<_> = must_see.difference(&seen).collect();
    assert!(missing.is_empty(), "integrations skipped: {missing:?}");

    // The audit log, newest first.
    // Events told apart: the numbered ones by actor, the creations by integration.
    let ident = |e: &AuditEvent| match (&e.action, &e.integration) {
        (AuditAction::Created, Some(id)) => Some(format!("created {id}")),
        _ if e.actor.as_str().starts_with("ev_") => Some(e.actor.to_string()),
        _ => None,
    };
    let mut seen = HashSet::new();
    let mut must_see: HashSet<String> = existing_events.iter().filter_map(ident).collect();
    assert_eq!(must_see.len(), 2 * EXISTING);
    let mut previous_at: Option<OffsetDateTime> = None;
    let mut request = PageRequest::new().limit(PAGE);
    let mut n = 1_000_000;
    loop {
        let page = storage
            .audit_log_page(&a, &AuditLogQuery::new().page(request.clone()))
            .await
            .expect("audit_log_page");
        for e in &page.items {
            assert!(previous_at.is_none_or(|at| e.at <= at), "out of order");
            previous_at = Some(e.at);
            if let Some(ident) = ident(e) {
                assert!(seen.insert(ident.clone()), "event {ident} on two pages");
            }
        }
        let Some(cursor) = page.next else { break };
        let (at, _) = cursor.audit_event_key().expect("an audit cursor");
        // Behind the cursor (must be read), at its instant and ahead of it (need not be).
        let behind = numbered(&a, n, None, at - Duration::microseconds(1));
        append(&*storage, &behind).await;
        must_see.insert(behind.actor.to_string());
        append(&*storage, &numbered(&a, n + 1, None, at)).await;
        append(
            &*storage,
            &numbered(&a, n + 2, None, at + Duration::microseconds(1)),
        )
        .await;
        n += 3;
        request = request.after(cursor);
    }
    let missing: Vec<_> = must_see.difference(&seen).collect();
    assert!(missing.is_empty(), "events skipped: {missing:?}");

    done.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
}

// ---------------------------------------------------------------------------------------
// Last used.

/// When each token id of `record` was last used, as `get`, `list` and `list_page` read
/// it.
async fn last_used_of(
    storage: &dyn Storage,
    record: &IntegrationRecord,
) -> Vec<(TokenId, Option<OffsetDateTime>)> {
    let got = stored(storage, record).await;
    let listed = storage
        .list(&record.account)
        .await
        .expect("list")
        .into_iter()
        .find(|r| r.id == record.id)
        .expect("the record is listed");
    let paged = storage
        .list_page(
            &record.account,
            &PageRequest::new().limit(crate::domain::page::MAX_PAGE_SIZE),
        )
        .await
        .expect("list_page")
        .items
        .into_iter()
        .find(|r| r.id == record.id)
        .expect("the record is on the first page");
    let times: Vec<_> = record
        .credentials
        .token_ids()
        .map(|id| (id, got.last_used.get(&id)))
        .collect();
    let listed_times: Vec<_> = record
        .credentials
        .token_ids()
        .map(|id| (id, listed.last_used.get(&id)))
        .collect();
    assert_eq!(
        times, listed_times,
        "get and list read the same last-used times"
    );
    let paged_times: Vec<_> = record
        .credentials
        .token_ids()
        .map(|id| (id, paged.last_used.get(&id)))
        .collect();
    assert_eq!(
        times, paged_times,
        "get and list_page read the same last-used times"
    );
    times
}

fn used(token_id: TokenId, at: OffsetDateTime) -> LastUse {
    LastUse { token_id, at }
}

/// Writes `next` over `previous`, with its audit event.
async fn replace(
    storage: &dyn Storage,
    previous: &IntegrationRecord,
    next: IntegrationRecord,
    action: AuditAction,
) -> IntegrationRecord {
    storage
        .update(
            &next,
            previous.version,
            (&event(&next, action, next.updated_at)).into(),
        )
        .await
        .expect("update");
    next
}

/// [`Storage::record_last_used`] keeps, per token, the later of the stored time and the
/// new one; `get` and `list` read it back; an id no longer stored is skipped without an
/// error; and it is not a change: no version moves, no audit event is written.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::last_used_keeps_the_latest_use_and_is_not_a_change(Arc::new(MemoryStorage::new())));
/// ```
pub async fn last_used_keeps_the_latest_use_and_is_not_a_change(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let r = record(&a, t0());
    storage
        .insert(&r, (&created(&r)).into())
        .await
        .expect("insert");
    let id = r.credentials.current().id;
    assert_eq!(last_used_of(storage, &r).await, [(id, None)], "never used");
    let events = log(storage, &a).await;

    let at = |minutes: i64| t0() + Duration::minutes(minutes) + Duration::microseconds(7);
    let never_stored = token(t0()).id;
    storage
        .record_last_used(&[used(id, at(5)), used(never_stored, at(5))])
        .await
        .expect("record_last_used");
    assert_eq!(last_used_of(storage, &r).await, [(id, Some(at(5)))]);
    storage
        .record_last_used(&[used(id, at(3))])
        .await
        .expect("record_last_used");
    assert_eq!(
        last_used_of(storage, &r).await,
        [(id, Some(at(5)))],
        "an earlier use does not go back in time"
    );
    storage
        .record_last_used(&[used(id, at(9)), used(id, at(8))])
        .await
        .expect("record_last_used");
    assert_eq!(last_used_of(storage, &r).await, [(id, Some(at(9)))]);
    storage.record_last_used(&[]).await.expect("an empty batch");

    let back = stored(storage, &r).await;
    assert_eq!(
        back.version, r.version,
        "a last-used write moves no version"
    );
    assert_same(&back, &r, "a last-used write changes nothing else");
    assert_eq!(
        log(storage, &a).await,
        events,
        "a last-used write is not audited"
    );
    // The stored version still takes a compare-and-swap.
    let next = edited(&r, "after use", at(10));
    storage
        .update(
            &next,
            r.version,
            (&event(&next, AuditAction::Updated, at(10))).into(),
        )
        .await
        .expect("update at the version read before the uses");
    assert!(
        lookup(storage, &never_stored).await.is_none(),
        "a skipped id is not stored"
    );
}

/// Last-used times belong to tokens, not to versions of the record: an edit keeps them,
/// a rotation moves the current token's time to the previous token's place (the new
/// token has none), a cancel keeps the restored token's, and the times of tokens that
/// are gone (expired now, rotated out, deleted) are gone with them.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::last_used_follows_the_tokens(Arc::new(MemoryStorage::new())));
/// ```
pub async fn last_used_follows_the_tokens(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    let r = record(&a, t0());
    storage
        .insert(&r, (&created(&r)).into())
        .await
        .expect("insert");
    let first = r.credentials.current().id;
    storage
        .record_last_used(&[used(first, at(1))])
        .await
        .expect("record_last_used");

    // An edit keeps the time (the token's row stays).
    let r = replace(
        storage,
        &r,
        edited(&r, "renamed", at(2)),
        AuditAction::Updated,
    )
    .await;
    assert_eq!(last_used_of(storage, &r).await, [(first, Some(at(1)))]);

    // A rotation: the new token has none, the previous one keeps its own.
    let later = AuditAction::Rotated {
        mode: RotationMode::ExpireLater,
    };
    let r = replace(
        storage,
        &r,
        transitioned(&r, rotation(RotationMode::ExpireLater, at(3)), at(3)),
        later.clone(),
    )
    .await;
    let second = r.credentials.current().id;
    assert_eq!(
        last_used_of(storage, &r).await,
        [(second, None), (first, Some(at(1)))]
    );
    storage
        .record_last_used(&[used(second, at(4)), used(first, at(5))])
        .await
        .expect("record_last_used");
    assert_eq!(
        last_used_of(storage, &r).await,
        [(second, Some(at(4))), (first, Some(at(5)))]
    );

    // Cancelled: the first token is current again, with its time; the second is gone.
    let r = replace(
        storage,
        &r,
        transitioned(&r, Transition::CancelRotation, at(6)),
        AuditAction::RotationCancelled,
    )
    .await;
    assert_eq!(last_used_of(storage, &r).await, [(first, Some(at(5)))]);
    storage
        .record_last_used(&[used(second, at(7))])
        .await
        .expect("a gone token is skipped, not an error");

    // Rotated again; a token that comes back cannot bring an old time with it.
    let r = replace(
        storage,
        &r,
        transitioned(&r, rotation(RotationMode::ExpireLater, at(8)), at(8)),
        later,
    )
    .await;
    let third = r.credentials.current().id;
    assert_eq!(
        last_used_of(storage, &r).await,
        [(third, None), (first, Some(at(5)))]
    );
    // Expired now: only the third token, with no time yet.
    let r = replace(
        storage,
        &r,
        transitioned(&r, Transition::ExpirePreviousNow, at(9)),
        AuditAction::PreviousExpired,
    )
    .await;
    assert_eq!(last_used_of(storage, &r).await, [(third, None)]);
    storage
        .record_last_used(&[used(third, at(10))])
        .await
        .expect("record_last_used");
    // Rotated with immediate expiry: every older token is gone with its time.
    let r = replace(
        storage,
        &r,
        transitioned(&r, rotation(RotationMode::ExpireNow, at(11)), at(11)),
        AuditAction::Rotated {
            mode: RotationMode::ExpireNow,
        },
    )
    .await;
    let fourth = r.credentials.current().id;
    assert_eq!(last_used_of(storage, &r).await, [(fourth, None)]);

    storage
        .delete(
            &a,
            &r.id,
            r.version,
            (&event(&r, AuditAction::Deleted, at(12))).into(),
        )
        .await
        .expect("delete");
    storage
        .record_last_used(&[used(fourth, at(13)), used(first, at(13))])
        .await
        .expect("the tokens of a deleted integration are skipped, not an error");
    assert!(lookup(storage, &fourth).await.is_none());
}

// ---------------------------------------------------------------------------------------
// Use counts.

/// The start of the UTC hour `n` hours after the one that holds `t0()`.
fn hour(n: i64) -> OffsetDateTime {
    crate::domain::usage::hour_of(t0()) + Duration::hours(n)
}

/// The stored counts of the integration `id` of `account` since `since`, as (token,
/// hour, uses), by hour then token.
async fn counts_of(
    storage: &dyn Storage,
    account: &AccountId,
    id: &IntegrationId,
    since: OffsetDateTime,
) -> Vec<(TokenId, OffsetDateTime, u64)> {
    let mut counts: Vec<_> = storage
        .token_uses(account, id, since)
        .await
        .expect("token_uses")
        .into_iter()
        .map(|c| (c.token_id, c.hour, c.uses))
        .collect();
    counts.sort_by_key(|&(token_id, hour, _)| (hour, token_id));
    let mut keys: Vec<_> = counts.iter().map(|&(t, h, _)| (h, t)).collect();
    keys.dedup();
    assert_eq!(keys.len(), counts.len(), "one count per token and hour");
    counts
}

/// `counts` by hour then token, as [`counts_of`] gives them.
fn by_hour(mut counts: Vec<(TokenId, OffsetDateTime, u64)>) -> Vec<(TokenId, OffsetDateTime, u64)> {
    counts.sort_by_key(|&(token_id, hour, _)| (hour, token_id));
    counts
}

/// [`Storage::record_token_uses`] adds each batch's uses to the stored count of their
/// token and hour (the UTC hour that holds the time, whatever its offset), kept with
/// the integration that holds the token; [`Storage::token_uses`] gives them back, one
/// per token and hour, for the integration and only with its account, from the hours
/// that start at or after `since`. An id never stored is skipped without an error; a
/// count too large for the backend stays as large as it holds (at least 2^63 - 1)
/// without an error; and recording is not a change: no version moves, no audit event
/// is written.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::token_uses_add_up_per_token_and_hour(Arc::new(MemoryStorage::new())));
/// ```
pub async fn token_uses_add_up_per_token_and_hour(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let (r, other) = (record(&a, t0()), record(&a, t0()));
    for r in [&r, &other] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    let (x, y) = (r.credentials.current().id, other.credentials.current().id);
    let events = log(storage, &a).await;
    // A time `minutes` into the hour `n`.
    let within =
        |n: i64, minutes: i64| hour(n) + Duration::minutes(minutes) + Duration::microseconds(7);
    let never_stored = token(t0()).id;

    storage
        .record_token_uses(&[
            TokenUses::new(x, within(0, 1), 2),
            TokenUses::new(x, within(1, 30), 3),
            TokenUses::new(y, within(0, 59), 7),
            TokenUses::new(never_stored, within(0, 0), 50),
        ])
        .await
        .expect("record_token_uses");
    storage
        .record_token_uses(&[
            TokenUses::new(x, within(0, 45), 5),
            TokenUses::new(y, within(1, 0), 1),
            // The same hour, told in another offset.
            TokenUses::new(
                x,
                within(1, 10).to_offset(UtcOffset::from_hms(2, 0, 0).expect("an offset")),
                4,
            ),
        ])
        .await
        .expect("record_token_uses");
    storage
        .record_token_uses(&[])
        .await
        .expect("an empty batch");

    let of_r = vec![(x, hour(0), 7), (x, hour(1), 7)];
    let of_other = vec![(y, hour(0), 7), (y, hour(1), 1)];
    assert_eq!(
        counts_of(storage, &a, &r.id, hour(0)).await,
        of_r,
        "the uses of each batch add up, per token and hour"
    );
    assert_eq!(
        counts_of(storage, &a, &other.id, hour(0)).await,
        of_other,
        "each integration has the counts of its own tokens"
    );
    assert_eq!(
        counts_of(storage, &a, &r.id, hour(-1000)).await,
        of_r,
        "an earlier `since` finds no more"
    );
    assert_eq!(
        counts_of(storage, &a, &r.id, hour(1)).await,
        [(x, hour(1), 7)],
        "the hours that start at or after `since`"
    );
    assert_eq!(
        counts_of(storage, &a, &r.id, hour(0) + Duration::microseconds(1)).await,
        [(x, hour(1), 7)],
        "an hour that starts before `since` is left out"
    );
    assert!(
        counts_of(storage, &a, &r.id, hour(2)).await.is_empty(),
        "no counts since"
    );
    assert!(
        counts_of(storage, &b, &r.id, hour(-1)).await.is_empty(),
        "another account's integration has none"
    );
    assert!(
        counts_of(storage, &a, &fresh_id(), hour(-1))
            .await
            .is_empty(),
        "no such integration, no counts"
    );
    assert!(
        lookup(storage, &never_stored).await.is_none(),
        "a skipped id is not stored"
    );

    // Not a change.
    for record in [&r, &other] {
        let back = stored(storage, record).await;
        assert_eq!(back.version, record.version, "a count moves no version");
        assert_same(&back, record, "a count changes nothing else");
    }
    assert_eq!(log(storage, &a).await, events, "a count is not audited");

    // Past what a backend holds: no error, and as large as it holds.
    storage
        .record_token_uses(&[
            TokenUses::new(y, within(3, 0), u64::MAX),
            TokenUses::new(y, within(3, 1), 1),
        ])
        .await
        .expect("a count too large to hold is no error");
    storage
        .record_token_uses(&[TokenUses::new(y, within(3, 2), u64::MAX)])
        .await
        .expect("adding to the largest count is no error");
    let huge = counts_of(storage, &a, &other.id, hour(3)).await;
    assert_eq!(huge.len(), 1, "{huge:?}");
    assert!(
        huge[0].2 >= i64::MAX as u64,
        "a huge count stays huge: {huge:?}"
    );
    assert_eq!(counts_of(storage, &a, &r.id, hour(0)).await, of_r);
}

/// Counts belong to the integration, not to the token: the counts of a token that left
/// the integration (rotated out, its grace expired) stay with it, while a count for that
/// token written after it left, or for an id never stored, is skipped without an error.
/// Deleting the integration removes its counts (a new integration under its id starts
/// with none, and a count for its tokens is skipped), and no other integration's.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::token_uses_stay_with_the_integration(Arc::new(MemoryStorage::new())));
/// ```
pub async fn token_uses_stay_with_the_integration(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    let (r, kept) = (record(&a, t0()), record(&a, t0()));
    for r in [&r, &kept] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    let (first, k) = (r.credentials.current().id, kept.credentials.current().id);
    let record_uses = |uses: Vec<TokenUses>| async move {
        storage
            .record_token_uses(&uses)
            .await
            .expect("record_token_uses: a token no longer stored is skipped, not an error");
    };
    record_uses(vec![
        TokenUses::new(first, hour(0), 3),
        TokenUses::new(k, hour(0), 1),
    ])
    .await;

    // Rotated: both tokens are the integration's, each with its own counts.
    let r = replace(
        storage,
        &r,
        transitioned(&r, rotation(RotationMode::ExpireLater, at(1)), at(1)),
        AuditAction::Rotated {
            mode: RotationMode::ExpireLater,
        },
    )
    .await;
    let second = r.credentials.current().id;
    record_uses(vec![
        TokenUses::new(first, hour(1), 2),
        TokenUses::new(second, hour(1), 4),
    ])
    .await;
    // The first token leaves: its counts stay, a new count for it is skipped.
    let r = replace(
        storage,
        &r,
        transitioned(&r, Transition::ExpirePreviousNow, at(2)),
        AuditAction::PreviousExpired,
    )
    .await;
    let never_stored = token(t0()).id;
    record_uses(vec![
        TokenUses::new(first, hour(2), 100),
        TokenUses::new(never_stored, hour(2), 9),
        TokenUses::new(second, hour(2), 1),
    ])
    .await;
    let history = by_hour(vec![
        (first, hour(0), 3),
        (first, hour(1), 2),
        (second, hour(1), 4),
        (second, hour(2), 1),
    ]);
    assert_eq!(
        counts_of(storage, &a, &r.id, hour(0)).await,
        history,
        "the counts of a token that left stay with the integration; none is added for it after"
    );
    // An edit keeps them.
    let r = replace(
        storage,
        &r,
        edited(&r, "renamed", at(3)),
        AuditAction::Updated,
    )
    .await;
    assert_eq!(counts_of(storage, &a, &r.id, hour(0)).await, history);

    // Deleted: its counts go, the other integration's stay.
    storage
        .delete(
            &a,
            &r.id,
            r.version,
            (&event(&r, AuditAction::Deleted, at(4))).into(),
        )
        .await
        .expect("delete");
    record_uses(vec![
        TokenUses::new(second, hour(3), 5),
        TokenUses::new(first, hour(3), 5),
        TokenUses::new(k, hour(3), 2),
    ])
    .await;
    assert!(
        counts_of(storage, &a, &r.id, hour(0)).await.is_empty(),
        "a deleted integration has no counts"
    );
    assert_eq!(
        counts_of(storage, &a, &kept.id, hour(0)).await,
        [(k, hour(0), 1), (k, hour(3), 2)],
        "another integration's counts stay"
    );
    let again = IntegrationRecord {
        id: r.id.clone(),
        ..record(&a, at(5))
    };
    storage
        .insert(&again, (&created(&again)).into())
        .await
        .expect("insert under the deleted integration's id");
    assert!(
        counts_of(storage, &a, &again.id, hour(-1000))
            .await
            .is_empty(),
        "the counts went with the deleted integration, and none was added after"
    );
    let third = again.credentials.current().id;
    record_uses(vec![
        TokenUses::new(third, hour(4), 6),
        TokenUses::new(second, hour(4), 6),
    ])
    .await;
    assert_eq!(
        counts_of(storage, &a, &again.id, hour(0)).await,
        [(third, hour(4), 6)]
    );
}

/// `remove_token_uses(before, limit)` removes only counts whose hour starts strictly
/// before `before`, of any account, at most `limit` of them, the oldest first, and says
/// how many it removed; the integrations, their audit logs and their newer counts stay.
/// Once nothing is older, it removes nothing.
///
/// Its counts are of hours of 1600 and it removes every count older than 1600-01-01
/// 10:00 UTC of any account: it must not run side by side with itself on one database
/// (no other case counts uses before 2000).
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::old_token_uses_are_removed_oldest_first(Arc::new(MemoryStorage::new())));
/// ```
pub async fn old_token_uses_are_removed_oldest_first(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let (r1, r2, r3) = (record(&a, t0()), record(&a, t0()), record(&b, t0()));
    for r in [&r1, &r2, &r3] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    let state = (
        log(storage, &a).await,
        log(storage, &b).await,
        [&r1, &r2, &r3].map(|r| r.version),
    );
    let [x, y, z] = [&r1, &r2, &r3].map(|r| r.credentials.current().id);
    // 1600-01-01 00:00 UTC, and hours after it.
    let base = time::Date::from_calendar_date(1600, time::Month::January, 1)
        .expect("a valid date")
        .midnight()
        .assume_utc();
    let old = |n: i64| base + Duration::hours(n);
    // Written out of time order, in two batches, interleaved between the accounts; two
    // counts of one hour; one count of each account is recent.
    for batch in [
        vec![
            TokenUses::new(z, old(4), 1),
            TokenUses::new(x, old(3), 1),
            TokenUses::new(y, old(1), 1),
        ],
        vec![
            TokenUses::new(x, old(0), 1),
            TokenUses::new(z, old(2), 1),
            TokenUses::new(y, old(3), 1),
            TokenUses::new(x, t0(), 1),
            TokenUses::new(z, t0(), 1),
        ],
    ] {
        storage
            .record_token_uses(&batch)
            .await
            .expect("record_token_uses");
    }
    // What is left: (token, hour after `base`), by hour then token; a recent count's hour
    // is `RECENT`.
    const RECENT: i64 = i64::MAX;
    let integrations = [(&a, &r1), (&a, &r2), (&b, &r3)];
    let left = || async move {
        let mut left = Vec::new();
        for (account, r) in integrations {
            for (token_id, at, _) in counts_of(storage, account, &r.id, base).await {
                let n = if at >= hour(0) {
                    RECENT
                } else {
                    (at - base).whole_hours()
                };
                let name = if token_id == x {
                    'x'
                } else if token_id == y {
                    'y'
                } else {
                    'z'
                };
                left.push((name, n));
            }
        }
        left.sort_by_key(|&(name, n)| (n, name));
        left
    };
    let remove = |before, limit| async move {
        storage
            .remove_token_uses(before, limit)
            .await
            .expect("remove_token_uses")
    };

    let all = [
        ('x', 0),
        ('y', 1),
        ('z', 2),
        ('x', 3),
        ('y', 3),
        ('z', 4),
        ('x', RECENT),
        ('z', RECENT),
    ];
    assert_eq!(left().await, all);
    assert_eq!(remove(old(10), 0).await, 0, "a limit of 0 removes nothing");
    assert_eq!(left().await, all);
    assert_eq!(remove(old(10), 2).await, 2, "at most the limit");
    assert_eq!(left().await, all[2..], "the oldest first, of any account");
    assert_eq!(remove(old(3), 10).await, 1, "only those strictly before");
    assert_eq!(left().await, all[3..]);
    assert_eq!(remove(old(3), 10).await, 0, "nothing older is left");
    assert_eq!(remove(old(10), 1).await, 1);
    let now = left().await;
    assert_eq!(
        now.iter().filter(|(_, n)| *n == 3).count(),
        1,
        "one of the two counts of the oldest hour: {now:?}"
    );
    assert_eq!(now[1..], all[5..], "the later ones stay");
    assert_eq!(remove(old(10), 10).await, 2, "all that is older");
    assert_eq!(left().await, all[6..], "the recent counts stay");
    assert_eq!(remove(old(10), 10).await, 0, "nothing older is left");
    assert_eq!(remove(base, 10).await, 0);
    assert_eq!(
        (
            log(storage, &a).await,
            log(storage, &b).await,
            [&r1, &r2, &r3].map(|r| r.version),
        ),
        state,
        "removing counts changed nothing else"
    );
    for r in [&r1, &r2, &r3] {
        assert_same(
            &stored(storage, r).await,
            r,
            "removing counts changed a record",
        );
    }
}

/// `rotating_integrations(now, after, limit)` gives the integrations of every account
/// that rotate at `now` (a previous token with `now < previous_expires_at`, to the
/// microsecond) and no other — not one that never rotated, nor one whose rotation was
/// finished, cancelled, revoked or has run out — in the order of (`previous_expires_at`,
/// id), strictly after `after`, at most `limit`, each as `get` reads it (last-used times
/// included). Batch after batch, for every batch size, it gives each exactly once.
///
/// It reads every account's rotations: on a database shared with other cases, theirs
/// are passed over.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::rotating_integrations_come_by_their_end(Arc::new(MemoryStorage::new())));
/// ```
pub async fn rotating_integrations_come_by_their_end(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let now = t0();
    let later = AuditAction::Rotated {
        mode: RotationMode::ExpireLater,
    };
    /// A new record of `owner`, rotated (7 days of grace) at `at`.
    async fn rotated_at(
        storage: &dyn Storage,
        owner: &AccountId,
        at: OffsetDateTime,
    ) -> IntegrationRecord {
        let r = record(owner, at - Duration::days(30));
        storage
            .insert(&r, (&created(&r)).into())
            .await
            .expect("insert");
        let next = transitioned(&r, rotation(RotationMode::ExpireLater, at), at);
        let later = AuditAction::Rotated {
            mode: RotationMode::ExpireLater,
        };
        replace(storage, &r, next, later).await
    }
    let rotated = |owner, at| rotated_at(storage, owner, at);
    let week = Duration::days(7);
    // Rotating at `now`: two of one end in two accounts, one ending sooner, one ending a
    // microsecond after `now`, one that last a year.
    let first = rotated(&a, now).await;
    let twin = rotated(&b, now).await;
    let sooner = rotated(&a, now - Duration::days(5)).await;
    let barely = rotated(&b, now - week + Duration::microseconds(1)).await;
    let long = {
        let r = record(&a, now);
        storage
            .insert(&r, (&created(&r)).into())
            .await
            .expect("insert");
        let rotate = Transition::Rotate {
            mode: RotationMode::ExpireLater,
            new: token(now),
            grace: Duration::days(365),
        };
        replace(storage, &r, transitioned(&r, rotate, now), later.clone()).await
    };
    // Not rotating at `now`: never rotated; run out exactly at `now`, and long before;
    // finished now; cancelled; the current token revoked (leaked).
    let active = record(&a, now);
    storage
        .insert(&active, (&created(&active)).into())
        .await
        .expect("insert");
    let _ran_out = rotated(&a, now - week).await;
    let _long_ago = rotated(&b, now - Duration::days(60)).await;
    let finished = rotated(&b, now - Duration::days(1)).await;
    replace(
        storage,
        &finished,
        transitioned(&finished, Transition::ExpirePreviousNow, now),
        AuditAction::PreviousExpired,
    )
    .await;
    let cancelled = rotated(&a, now - Duration::days(1)).await;
    replace(
        storage,
        &cancelled,
        transitioned(&cancelled, Transition::CancelRotation, now),
        AuditAction::RotationCancelled,
    )
    .await;
    let leaked = rotated(&b, now - Duration::days(1)).await;
    let revoked = leaked
        .revoke_leaked(&leaked.credentials.current().id, now - Duration::hours(1))
        .expect("a live token");
    replace(storage, &leaked, revoked, AuditAction::Updated).await;
    // Uses of both tokens of one rotation, and of the new token of another.
    let (new, old) = (
        first.credentials.current().id,
        first.credentials.previous().expect("rotating").0.id,
    );
    storage
        .record_last_used(&[
            used(new, now - Duration::hours(2)),
            used(old, now - Duration::hours(3)),
            used(sooner.credentials.current().id, now - Duration::hours(4)),
        ])
        .await
        .expect("record_last_used");

    let ours = [&a, &b];
    let key = |r: &IntegrationRecord| {
        let (_, until) = r.credentials.previous().expect("a rotating record");
        (until, r.id.clone())
    };
    let mut expected = [&first, &twin, &sooner, &barely, &long];
    expected.sort_by_key(|r| key(r));
    for size in [1, 2, 3, 100] {
        let mut seen: Vec<IntegrationRecord> = Vec::new();
        let mut after: Option<(OffsetDateTime, IntegrationId)> = None;
        let mut batches = 0;
        loop {
            batches += 1;
            assert!(batches < 10_000, "the batches never end");
            let cursor = after.as_ref().map(|(until, id)| (*until, id));
            let batch = storage
                .rotating_integrations(now, cursor, size)
                .await
                .expect("rotating_integrations");
            assert!(
                batch.len() <= size,
                "a batch of {size} gave {}",
                batch.len()
            );
            let keys: Vec<_> = batch.iter().map(key).collect();
            assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "a batch is not in the order of (end, id): {keys:?}"
            );
            if let (Some(after), Some(first)) = (&after, keys.first()) {
                assert!(first > after, "a batch starts at or before its cursor");
            }
            for record in &batch {
                let (until, _) = key(record);
                assert!(now < until, "{} does not rotate at now", record.id);
            }
            seen.extend(batch.iter().filter(|r| ours.contains(&&r.account)).cloned());
            match batch.last() {
                Some(last) if batch.len() == size => after = Some(key(last)),
                _ => break,
            }
        }
        let ids: Vec<&IntegrationId> = seen.iter().map(|r| &r.id).collect();
        let wanted: Vec<&IntegrationId> = expected.iter().map(|r| &r.id).collect();
        assert_eq!(ids, wanted, "batches of {size}");
        for got in &seen {
            let read = stored(storage, got).await;
            assert_same(got, &read, "a rotating record as get reads it");
            assert_eq!(
                got.last_used, read.last_used,
                "its last-used times, as get reads them"
            );
        }
    }
    // Strictly after the cursor, and nothing after the last.
    let (until, id) = key(expected[0]);
    let after_first = storage
        .rotating_integrations(now, Some((until, &id)), 100)
        .await
        .expect("rotating_integrations");
    assert!(
        after_first.iter().all(|r| r.id != id),
        "the cursor's own record again"
    );
    let (until, id) = key(expected[expected.len() - 1]);
    let after_last = storage
        .rotating_integrations(now, Some((until, &id)), 100)
        .await
        .expect("rotating_integrations");
    assert!(
        after_last.iter().all(|r| !ours.contains(&&r.account)),
        "records after the last one"
    );
    assert!(
        storage
            .rotating_integrations(now, None, 0)
            .await
            .expect("rotating_integrations")
            .is_empty(),
        "a limit of 0 gives nothing"
    );
    // A rotation that ends at `now` does not rotate at `now`.
    let at_end = storage
        .rotating_integrations(now + Duration::microseconds(1), None, 100_000)
        .await
        .expect("rotating_integrations");
    assert!(
        at_end.iter().all(|r| r.id != barely.id),
        "ended a microsecond ago"
    );
}

// ---------------------------------------------------------------------------------------
// Idempotency records.

/// The kinds of write that may carry an idempotency record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Insert,
    Update,
    Delete,
    SetPermission,
    SetFeatureEnabled,
}

const WRITE_KINDS: [WriteKind; 5] = [
    WriteKind::Insert,
    WriteKind::Update,
    WriteKind::Delete,
    WriteKind::SetPermission,
    WriteKind::SetFeatureEnabled,
];

/// A write ready to be made: what it stores, its audit event, the request's fingerprint,
/// and the integration an idempotency record of it keeps.
struct KeyedWrite {
    kind: WriteKind,
    /// The record an insert or update stores, or the one a delete removes.
    record: Option<IntegrationRecord>,
    /// The version an update or delete names.
    expected_version: u64,
    event: AuditEvent,
    fingerprint: Fingerprint,
}

/// The user every idempotency case writes as, unless it says otherwise.
fn keyed_user() -> UserId {
    user("u_conformance")
}

/// The user whose permission the permission writes set.
fn bob() -> UserId {
    user("u_bob")
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).expect("a valid idempotency key")
}

/// A write of `kind` in account `a` at `at`: an insert of a fresh integration, an edit or
/// a delete of `target` (at its stored version), a permission or a feature switch.
fn keyed_write(
    kind: WriteKind,
    a: &AccountId,
    target: &IntegrationRecord,
    at: OffsetDateTime,
) -> KeyedWrite {
    let account_event = |action| AuditEvent {
        account: a.clone(),
        actor: keyed_user(),
        integration: None,
        action,
        at,
    };
    let (record, event, fingerprint) = match kind {
        WriteKind::Insert => {
            let fresh = record(a, at);
            let new = crate::NewIntegration::new(&*fresh.name).scopes(["contacts.readonly"]);
            let event = created(&fresh);
            (Some(fresh), event, Fingerprint::of_create(&new))
        }
        WriteKind::Update => {
            let next = edited(target, "edited under a key", at);
            let update = crate::IntegrationUpdate::new().description("edited under a key");
            let event = event(&next, AuditAction::Updated, at);
            (
                Some(next),
                event,
                Fingerprint::of_update(&target.id, &update),
            )
        }
        WriteKind::Delete => (
            Some(target.clone()),
            event(target, AuditAction::Deleted, at),
            Fingerprint::of_delete(&target.id),
        ),
        WriteKind::SetPermission => (
            None,
            account_event(AuditAction::PermissionChanged {
                user: bob(),
                permission: Permission::Allow,
            }),
            Fingerprint::of_set_permission(&bob(), Permission::Allow),
        ),
        WriteKind::SetFeatureEnabled => (
            None,
            account_event(AuditAction::FeatureSwitched { enabled: false }),
            Fingerprint::of_set_feature_enabled(false),
        ),
    };
    KeyedWrite {
        kind,
        record,
        expected_version: target.version,
        event,
        fingerprint,
    }
}

impl KeyedWrite {
    /// The idempotency record of this write made by `user` under `key`.
    fn once(&self, user: &UserId, key: &IdempotencyKey) -> IdempotencyRecord {
        IdempotencyRecord {
            account: self.event.account.clone(),
            user: user.clone(),
            key: key.clone(),
            fingerprint: self.fingerprint,
            action: self.event.action.clone(),
            integration: match self.kind {
                WriteKind::SetPermission | WriteKind::SetFeatureEnabled => None,
                _ => self.record.clone(),
            },
            at: self.event.at,
        }
    }

    /// Makes the write, with `once` as its idempotency record.
    async fn apply(
        &self,
        storage: &dyn Storage,
        once: Option<&IdempotencyRecord>,
    ) -> Result<(), StorageError> {
        let change = Change {
            event: &self.event,
            once,
        };
        let a = &self.event.account;
        let record = || self.record.as_ref().expect("an integration write");
        match self.kind {
            WriteKind::Insert => storage.insert(record(), change).await,
            WriteKind::Update => {
                storage
                    .update(record(), self.expected_version, change)
                    .await
            }
            WriteKind::Delete => {
                storage
                    .delete(a, &record().id, self.expected_version, change)
                    .await
            }
            WriteKind::SetPermission => {
                storage
                    .set_permission(a, &bob(), Permission::Allow, change)
                    .await
            }
            WriteKind::SetFeatureEnabled => storage.set_feature_enabled(a, false, change).await,
        }
    }
}

/// Everything an idempotency record holds, comparable (its integration as [`Fields`]).
#[derive(Debug, PartialEq)]
struct OnceFields {
    account: AccountId,
    user: UserId,
    key: IdempotencyKey,
    fingerprint: [u8; 32],
    action: AuditAction,
    integration: Option<Fields>,
    at: OffsetDateTime,
}

fn once_fields(record: &IdempotencyRecord) -> OnceFields {
    OnceFields {
        account: record.account.clone(),
        user: record.user.clone(),
        key: record.key.clone(),
        fingerprint: *record.fingerprint.as_bytes(),
        action: record.action.clone(),
        integration: record.integration.as_ref().map(fields),
        at: record.at,
    }
}

/// The stored idempotency record of `user` in `account` under `key`, if any.
async fn once_of(
    storage: &dyn Storage,
    account: &AccountId,
    user: &UserId,
    key: &IdempotencyKey,
) -> Option<OnceFields> {
    storage
        .idempotency_record(account, user, key)
        .await
        .expect("idempotency_record")
        .as_ref()
        .map(once_fields)
}

/// What an account shows: its integrations, its audit log and Bob's access settings.
async fn account_state(
    storage: &dyn Storage,
    a: &AccountId,
) -> (Vec<Fields>, Vec<AuditEvent>, AccessSettings) {
    let records = storage.list(a).await.expect("list");
    (
        records.iter().map(fields).collect(),
        log(storage, a).await,
        storage.access(a, &bob()).await.expect("access"),
    )
}

/// An account with two integrations stored, the first to be written under keys.
async fn keyed_account(storage: &dyn Storage) -> (AccountId, IntegrationRecord, IntegrationRecord) {
    let a = account();
    let (target, other) = (record(&a, t0()), record(&a, t0()));
    for r in [&target, &other] {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
    (a, target, other)
}

/// A write of `kind` made with an idempotency record stores the record with it, read back
/// equal (its integration, action, fingerprint, time to the microsecond); the same key
/// again, on a write of the same kind that would otherwise succeed, is
/// [`StorageError::AlreadyExists`] and writes nothing.
async fn a_keyed_write_stores_its_record(storage: &dyn Storage, kind: WriteKind) {
    let (a, target, other) = keyed_account(storage).await;
    let k = key(&format!("{kind:?}-once"));
    let at = t0() + Duration::minutes(1) + Duration::microseconds(1);
    let write = keyed_write(kind, &a, &target, at);
    let once = write.once(&keyed_user(), &k);
    write
        .apply(storage, Some(&once))
        .await
        .unwrap_or_else(|err| panic!("{kind:?} with an idempotency record: {err:?}"));
    assert_eq!(
        once_of(storage, &a, &keyed_user(), &k).await,
        Some(once_fields(&once)),
        "{kind:?}: the idempotency record reads back as written"
    );
    let before = account_state(storage, &a).await;
    assert_eq!(
        before.1.first(),
        Some(&write.event),
        "{kind:?}: the change's audit event is stored with its record"
    );

    // The same key on another write of the same kind (on the other integration, for an
    // edit or a delete), which would succeed without it.
    let again = keyed_write(kind, &a, &other, at + Duration::SECOND);
    expect_err(
        again
            .apply(storage, Some(&again.once(&keyed_user(), &k)))
            .await,
        StorageError::AlreadyExists,
        &format!("{kind:?} under a key already stored"),
    );
    assert_eq!(
        account_state(storage, &a).await,
        before,
        "{kind:?}: a write under a key already stored changed something"
    );
    assert_eq!(
        once_of(storage, &a, &keyed_user(), &k).await,
        Some(once_fields(&once)),
        "{kind:?}: a write under a key already stored replaced its record"
    );
    if let (WriteKind::Insert, Some(refused)) = (kind, &again.record) {
        assert!(
            lookup(storage, &refused.credentials.current().id)
                .await
                .is_none(),
            "the refused insert's token was indexed"
        );
    }
}

/// `insert` with an idempotency record stores the record (the new integration as its
/// snapshot) with the integration and its audit event; the same key again is
/// [`StorageError::AlreadyExists`] and writes nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::insert_stores_its_idempotency_record(Arc::new(MemoryStorage::new())));
/// ```
pub async fn insert_stores_its_idempotency_record(storage: Arc<dyn Storage>) {
    a_keyed_write_stores_its_record(&*storage, WriteKind::Insert).await;
}

/// `update` with an idempotency record stores the record (the integration as the update
/// left it) with the change; the same key again is [`StorageError::AlreadyExists`] and
/// writes nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::update_stores_its_idempotency_record(Arc::new(MemoryStorage::new())));
/// ```
pub async fn update_stores_its_idempotency_record(storage: Arc<dyn Storage>) {
    a_keyed_write_stores_its_record(&*storage, WriteKind::Update).await;
}

/// `delete` with an idempotency record stores the record, which keeps the deleted
/// integration as it was just before; the same key again is
/// [`StorageError::AlreadyExists`] and deletes nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::delete_stores_its_idempotency_record(Arc::new(MemoryStorage::new())));
/// ```
pub async fn delete_stores_its_idempotency_record(storage: Arc<dyn Storage>) {
    a_keyed_write_stores_its_record(&*storage, WriteKind::Delete).await;
}

/// `set_permission` with an idempotency record stores the record (no integration) with
/// the permission; the same key again is [`StorageError::AlreadyExists`] and writes
/// nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::set_permission_stores_its_idempotency_record(Arc::new(MemoryStorage::new())));
/// ```
pub async fn set_permission_stores_its_idempotency_record(storage: Arc<dyn Storage>) {
    a_keyed_write_stores_its_record(&*storage, WriteKind::SetPermission).await;
}

/// `set_feature_enabled` with an idempotency record stores the record (no integration)
/// with the switch; the same key again is [`StorageError::AlreadyExists`] and writes
/// nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::set_feature_enabled_stores_its_idempotency_record(Arc::new(MemoryStorage::new())));
/// ```
pub async fn set_feature_enabled_stores_its_idempotency_record(storage: Arc<dyn Storage>) {
    a_keyed_write_stores_its_record(&*storage, WriteKind::SetFeatureEnabled).await;
}

/// A key stored by one kind of write is used up for every kind: the same account, user
/// and key on an insert, update, delete, permission or feature switch is
/// [`StorageError::AlreadyExists`], and changes nothing (integrations, audit log,
/// settings, the stored record).
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::an_idempotency_key_is_used_once_by_any_write(Arc::new(MemoryStorage::new())));
/// ```
pub async fn an_idempotency_key_is_used_once_by_any_write(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    for first in WRITE_KINDS {
        let (a, target, other) = keyed_account(storage).await;
        let k = key("used-once");
        let at = t0() + Duration::MINUTE;
        let write = keyed_write(first, &a, &target, at);
        let once = write.once(&keyed_user(), &k);
        write
            .apply(storage, Some(&once))
            .await
            .expect("first write");
        let before = account_state(storage, &a).await;
        for then in WRITE_KINDS {
            // On the integration the first write left alone, so only the key can refuse.
            let again = keyed_write(then, &a, &other, at + Duration::SECOND);
            expect_err(
                again
                    .apply(storage, Some(&again.once(&keyed_user(), &k)))
                    .await,
                StorageError::AlreadyExists,
                &format!("{then:?} under a key stored by {first:?}"),
            );
            assert_eq!(
                account_state(storage, &a).await,
                before,
                "{then:?} under a key stored by {first:?} changed something"
            );
        }
        assert_eq!(
            once_of(storage, &a, &keyed_user(), &k).await,
            Some(once_fields(&once)),
            "the record of {first:?} was replaced"
        );
    }
}

/// Keys belong to an account and a user: the same key sent by another user of the
/// account, or by the same user id in another account, is another key (its write
/// succeeds and stores its own record); a user who never sent it has no record of it.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::idempotency_keys_belong_to_their_account_and_user(Arc::new(MemoryStorage::new())));
/// ```
pub async fn idempotency_keys_belong_to_their_account_and_user(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, target, _) = keyed_account(storage).await;
    let (b, b_target, _) = keyed_account(storage).await;
    let k = key("shared-key");
    let (alice, carol) = (user("u_alice"), user("u_carol"));
    let at = t0() + Duration::MINUTE;
    let mut stored = Vec::new();
    for (n, (owner, who, on)) in [
        (&a, &alice, &target),
        (&a, &carol, &target),
        (&b, &alice, &b_target),
    ]
    .into_iter()
    .enumerate()
    {
        let current = storage
            .get(owner, &on.id)
            .await
            .expect("get")
            .expect("stored");
        let write = keyed_write(
            WriteKind::Update,
            owner,
            &current,
            at + Duration::seconds(n as i64),
        );
        let once = write.once(who, &k);
        write
            .apply(storage, Some(&once))
            .await
            .unwrap_or_else(|err| panic!("the key of {who:?} in {owner:?}: {err:?}"));
        stored.push((owner, who, once));
    }
    for (owner, who, once) in &stored {
        assert_eq!(
            once_of(storage, owner, who, &k).await,
            Some(once_fields(once)),
            "the record of {who:?} in {owner:?}"
        );
    }
    assert!(
        once_of(storage, &b, &carol, &k).await.is_none(),
        "a record for a user who never sent the key"
    );
    assert_eq!(
        stored_version(storage, &target).await,
        3,
        "two keyed edits in account a"
    );
    assert_eq!(
        stored_version(storage, &b_target).await,
        2,
        "one keyed edit in account b"
    );
}

async fn stored_version(storage: &dyn Storage, record: &IntegrationRecord) -> u64 {
    stored(storage, record).await.version
}

/// A write that fails for another reason stores no idempotency record, so the key is
/// still free: a stale version ([`StorageError::Conflict`], update and delete), a
/// missing integration ([`StorageError::NotFound`]), a token id already stored
/// ([`StorageError::AlreadyExists`]). The same key then works for the write that
/// succeeds.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::a_failed_write_stores_no_idempotency_record(Arc::new(MemoryStorage::new())));
/// ```
pub async fn a_failed_write_stores_no_idempotency_record(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, target, _) = keyed_account(storage).await;
    let at = t0() + Duration::MINUTE;
    let u = keyed_user();
    let before = account_state(storage, &a).await;

    // Stale versions.
    let mut stale_target = target.clone();
    stale_target.version += 1;
    for kind in [WriteKind::Update, WriteKind::Delete] {
        let k = key(&format!("stale-{kind:?}"));
        let stale = keyed_write(kind, &a, &stale_target, at);
        expect_err(
            stale.apply(storage, Some(&stale.once(&u, &k))).await,
            StorageError::Conflict,
            &format!("{kind:?} at a stale version"),
        );
        assert!(
            once_of(storage, &a, &u, &k).await.is_none(),
            "{kind:?} at a stale version stored its idempotency record"
        );
    }
    // A missing integration.
    let missing = record(&a, t0());
    for kind in [WriteKind::Update, WriteKind::Delete] {
        let k = key(&format!("missing-{kind:?}"));
        let write = keyed_write(kind, &a, &missing, at);
        expect_err(
            write.apply(storage, Some(&write.once(&u, &k))).await,
            StorageError::NotFound,
            &format!("{kind:?} of a missing integration"),
        );
        assert!(
            once_of(storage, &a, &u, &k).await.is_none(),
            "{kind:?} of a missing integration stored its idempotency record"
        );
    }
    // A token id already stored.
    let k = key("taken-token");
    let mut insert = keyed_write(WriteKind::Insert, &a, &target, at);
    if let Some(r) = &mut insert.record {
        r.credentials = Credentials::new(*target.credentials.current());
    }
    expect_err(
        insert.apply(storage, Some(&insert.once(&u, &k))).await,
        StorageError::AlreadyExists,
        "insert of a token id already stored",
    );
    assert!(
        once_of(storage, &a, &u, &k).await.is_none(),
        "a refused insert stored its idempotency record"
    );
    assert_eq!(
        account_state(storage, &a).await,
        before,
        "a failed write changed something"
    );

    // The key of the stale update is still free: the same key on a write that succeeds.
    let k = key("stale-Update");
    let write = keyed_write(WriteKind::Update, &a, &target, at);
    let once = write.once(&u, &k);
    write
        .apply(storage, Some(&once))
        .await
        .expect("the key of a failed write is free");
    assert_eq!(once_of(storage, &a, &u, &k).await, Some(once_fields(&once)));
}

/// `remove_idempotency_records(before, limit)` removes only records made strictly before
/// `before`, at most `limit` of them, the oldest first (not in the order written), and
/// says how many it removed; the changes they were made with (state, audit log) stay.
///
/// Its records are made in 1960 and it removes every record older than 1961 of any
/// account: it must not run side by side with itself on one database (no other case
/// makes records before 1970).
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::old_idempotency_records_are_removed_oldest_first(Arc::new(MemoryStorage::new())));
/// ```
pub async fn old_idempotency_records_are_removed_oldest_first(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, target, _) = keyed_account(storage).await;
    let u = keyed_user();
    // 1960-01-01 00:00:00.000001 UTC, and minutes after it.
    let base = OffsetDateTime::from_unix_timestamp(-315_619_200).expect("a valid instant")
        + Duration::microseconds(1);
    let minute = |n: i64| base + Duration::minutes(n);
    // Written out of time order: the sixth is recent.
    let order = [3, 0, 4, 1, 2];
    let keys: Vec<IdempotencyKey> = (0..6).map(|n| key(&format!("aged-{n}"))).collect();
    for n in order {
        let write = keyed_write(WriteKind::SetFeatureEnabled, &a, &target, minute(n));
        write
            .apply(storage, Some(&write.once(&u, &keys[n as usize])))
            .await
            .expect("a keyed write");
    }
    let recent = keyed_write(WriteKind::SetFeatureEnabled, &a, &target, t0());
    recent
        .apply(storage, Some(&recent.once(&u, &keys[5])))
        .await
        .expect("a keyed write");
    let state = account_state(storage, &a).await;
    let left = || async {
        let mut left = Vec::new();
        for (n, k) in keys.iter().enumerate() {
            if once_of(storage, &a, &u, k).await.is_some() {
                left.push(n);
            }
        }
        left
    };
    let remove = |before, limit| async move {
        storage
            .remove_idempotency_records(before, limit)
            .await
            .expect("remove_idempotency_records")
    };

    assert_eq!(
        remove(minute(60), 0).await,
        0,
        "a limit of 0 removes nothing"
    );
    assert_eq!(left().await, [0, 1, 2, 3, 4, 5]);
    assert_eq!(remove(minute(60), 2).await, 2, "at most the limit");
    assert_eq!(left().await, [2, 3, 4, 5], "the oldest first");
    assert_eq!(remove(minute(3), 10).await, 1, "only those strictly before");
    assert_eq!(left().await, [3, 4, 5]);
    assert_eq!(remove(minute(3), 10).await, 0, "nothing older is left");
    assert_eq!(remove(minute(60), 10).await, 2);
    assert_eq!(left().await, [5], "a recent record stays");
    assert_eq!(
        account_state(storage, &a).await,
        state,
        "removing records changed the account"
    );
}

/// `remove_audit_events(before, limit)` removes only events written strictly before
/// `before`, of any account, at most `limit` of them, the oldest first (of one account's
/// events of one instant, the one written first), and says how many it removed; the
/// events left keep their order, every page of the log is the log left, a cursor to an
/// event left reads the same page as before (without the events removed), and the
/// accounts' settings stay. Once nothing is older, it removes nothing.
///
/// Its events are written in 1800 and it removes every event older than 1801 of any
/// account: it must not run side by side with itself on one database (no other case
/// writes events before 1900).
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::old_audit_events_are_removed_oldest_first(Arc::new(MemoryStorage::new())));
/// ```
pub async fn old_audit_events_are_removed_oldest_first(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let kept = record(&a, t0());
    storage
        .insert(&kept, (&created(&kept)).into())
        .await
        .expect("insert");
    // 1800-01-01 00:00:00.000001 UTC, and minutes after it.
    let base = time::Date::from_calendar_date(1800, time::Month::January, 1)
        .expect("a valid date")
        .midnight()
        .assume_utc()
        + Duration::microseconds(1);
    let minute = |n: i64| base + Duration::minutes(n);
    let kept_id = &kept.id;
    // Written out of time order, interleaved between the accounts; three of `a` at one
    // instant; one event of each account is recent.
    let writes: [(&AccountId, usize, Option<i64>); 11] = [
        (&a, 0, Some(2)),
        (&a, 1, Some(0)),
        (&b, 10, Some(1)),
        (&a, 2, Some(0)),
        (&b, 11, Some(3)),
        (&a, 3, Some(4)),
        (&a, 4, Some(4)),
        (&b, 12, Some(5)),
        (&a, 5, Some(4)),
        (&a, 6, None),
        (&b, 13, None),
    ];
    for (account, n, at) in writes {
        let about = (account == &a && n % 2 == 0).then_some(kept_id);
        let at = at.map_or(t0(), minute);
        append(storage, &numbered(account, n, about, at)).await;
    }
    let settings = (
        storage.access(&a, &bob()).await.expect("access"),
        storage.access(&b, &bob()).await.expect("access"),
    );
    // The numbers of the account's events, newest first; the integration's creation is
    // `99`.
    let left = |account: AccountId| async move {
        log(storage, &account)
            .await
            .iter()
            .map(|e| match e.actor.as_str().strip_prefix("ev_") {
                Some(n) => n.parse::<usize>().expect("a numbered event"),
                None => 99,
            })
            .collect::<Vec<usize>>()
    };
    let remove = |before, limit| async move {
        storage
            .remove_audit_events(before, limit)
            .await
            .expect("remove_audit_events")
    };
    // Every page of the log is the log; and each cursor, with the page after it.
    let pages = |account: AccountId| async move {
        let whole = log(storage, &account).await;
        for size in [1, 2, 3, 20] {
            let pages = audit_pages(storage, &account, AuditLogQuery::new(), size).await;
            assert_eq!(pages.concat(), whole, "size {size}: the pages are the log");
        }
        let of_kept = audit_pages(
            storage,
            &account,
            AuditLogQuery::new().integration(kept_id.clone()),
            2,
        )
        .await;
        let expected: Vec<AuditEvent> = whole
            .iter()
            .filter(|e| e.integration.as_ref() == Some(kept_id))
            .cloned()
            .collect();
        assert_eq!(of_kept.concat(), expected, "one integration's pages");
        let mut cursors = Vec::new();
        let mut request = PageRequest::new().limit(1);
        loop {
            let page = storage
                .audit_log_page(&account, &AuditLogQuery::new().page(request.clone()))
                .await
                .expect("audit_log_page");
            let Some(next) = page.next else { break };
            let after = storage
                .audit_log_page(
                    &account,
                    &AuditLogQuery::new().page(PageRequest::new().limit(3).after(next.clone())),
                )
                .await
                .expect("audit_log_page");
            cursors.push((page.items[0].clone(), next.clone(), after.items));
            request = PageRequest::new().limit(1).after(next);
        }
        cursors
    };
    // After removing what is older than `before`: a cursor to an event left reads the
    // page it read, without the events removed.
    let same_pages = |account: AccountId,
                      cursors: Vec<(AuditEvent, Cursor, Vec<AuditEvent>)>,
                      before: OffsetDateTime| async move {
        let whole = log(storage, &account).await;
        for (event, cursor, page) in cursors {
            if event.at < before {
                continue;
            }
            let expected: Vec<AuditEvent> =
                page.into_iter().filter(|e| whole.contains(e)).collect();
            let now = storage
                .audit_log_page(
                    &account,
                    &AuditLogQuery::new().page(PageRequest::new().limit(3).after(cursor)),
                )
                .await
                .expect("audit_log_page");
            let now: Vec<AuditEvent> = now.items.into_iter().take(expected.len()).collect();
            assert_eq!(now, expected, "the page after the event at {}", event.at);
        }
    };

    assert_eq!(left(a.clone()).await, [6, 99, 5, 4, 3, 0, 2, 1]);
    assert_eq!(left(b.clone()).await, [13, 12, 11, 10]);
    assert_eq!(
        remove(minute(60), 0).await,
        0,
        "a limit of 0 removes nothing"
    );
    assert_eq!(left(a.clone()).await, [6, 99, 5, 4, 3, 0, 2, 1]);

    // Before, limit, how many go, what is left of each account, and the rule.
    type Step = (
        OffsetDateTime,
        usize,
        usize,
        &'static [usize],
        &'static [usize],
        &'static str,
    );
    let steps: [Step; 5] = [
        (
            minute(60),
            2,
            2,
            &[6, 99, 5, 4, 3, 0],
            &[13, 12, 11, 10],
            "at most the limit, the oldest first",
        ),
        (
            minute(60),
            1,
            1,
            &[6, 99, 5, 4, 3, 0],
            &[13, 12, 11],
            "then the next oldest, of the other account",
        ),
        (
            minute(4),
            10,
            2,
            &[6, 99, 5, 4, 3],
            &[13, 12],
            "only those strictly before",
        ),
        (
            minute(60),
            2,
            2,
            &[6, 99, 5],
            &[13, 12],
            "of one instant, the first written first",
        ),
        (minute(60), 10, 2, &[6, 99], &[13], "all that is older"),
    ];
    for (before, limit, removed, in_a, in_b, rule) in steps {
        let (cursors_a, cursors_b) = (pages(a.clone()).await, pages(b.clone()).await);
        assert_eq!(remove(before, limit).await, removed, "{rule}");
        assert_eq!(left(a.clone()).await, in_a, "{rule}");
        assert_eq!(left(b.clone()).await, in_b, "{rule}");
        same_pages(a.clone(), cursors_a, before).await;
        same_pages(b.clone(), cursors_b, before).await;
    }

    let state = (log(storage, &a).await, log(storage, &b).await);
    assert_eq!(remove(minute(60), 10).await, 0, "nothing older is left");
    assert_eq!(remove(base, 10).await, 0);
    assert_eq!(
        (log(storage, &a).await, log(storage, &b).await),
        state,
        "removing nothing changed the log"
    );
    pages(a.clone()).await;
    let recent = log(storage, &a).await;
    assert_eq!(
        recent[0],
        numbered(&a, 6, Some(&kept.id), t0()),
        "a recent event stays"
    );
    assert_eq!(recent[1], created(&kept));
    assert_eq!(
        (
            storage.access(&a, &bob()).await.expect("access"),
            storage.access(&b, &bob()).await.expect("access"),
        ),
        settings,
        "removing events changed the settings"
    );
    assert!(storage.get(&a, &kept.id).await.expect("get").is_some());
}

// ---------------------------------------------------------------------------------------
// Queries: search, state, order, total.

/// Every page of `query` over `account`'s integrations, `size` at a time, at `now` with
/// `interval`, checking each page's shape, cursor order and total: the records, in order,
/// and the total.
async fn query_pages(
    storage: &dyn Storage,
    account: &AccountId,
    query: &IntegrationQuery,
    size: usize,
    (now, interval): (OffsetDateTime, Duration),
) -> (Vec<IntegrationRecord>, u64) {
    let mut read = Vec::new();
    let mut request = PageRequest::new().limit(size);
    let mut total = None;
    let order = query.list_order();
    loop {
        let page = storage
            .list_query(account, &query.clone().page(request.clone()), now, interval)
            .await
            .expect("list_query");
        assert!(page.items.len() <= size, "a page longer than its size");
        let this_total = page.total.expect("list_query sets the total");
        assert!(
            total.is_none_or(|t| t == this_total),
            "the total changed between pages"
        );
        total = Some(this_total);
        let next = page.next.clone();
        assert!(
            next.is_none() || page.items.len() == size,
            "a short page before the last"
        );
        read.extend(page.items);
        match next {
            Some(cursor) => {
                assert!(
                    cursor.integration_key_in(order).is_some(),
                    "a cursor of another order or kind"
                );
                request = request.after(cursor);
            }
            None => return (read, total.unwrap_or(0)),
        }
        assert!(read.len() < 100_000, "pages never end");
    }
}

/// A record of `account` named `name`, created and issued at `at`.
fn named(account: &AccountId, name: &str, at: OffsetDateTime) -> IntegrationRecord {
    IntegrationRecord {
        name: name.into(),
        ..record(account, at)
    }
}

async fn insert_all(storage: &dyn Storage, records: &[IntegrationRecord]) {
    for r in records {
        storage
            .insert(r, (&created(r)).into())
            .await
            .expect("insert");
    }
}

fn ids(records: &[IntegrationRecord]) -> Vec<IntegrationId> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// `records` sorted in `order`, by creation time, then id.
fn in_order(mut records: Vec<IntegrationRecord>, order: ListOrder) -> Vec<IntegrationId> {
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    if order == ListOrder::NewestFirst {
        records.reverse();
    }
    ids(&records)
}

/// `list_query`, page after page, oldest first or newest first, gives every record of
/// the account once in that order (records of one instant by id, reversed newest first),
/// every page but the last full, the same total on each page; with a filter, exactly
/// the matching records in the same order; an empty account is one empty page with a
/// total of 0; cursors at the ends of time give all or nothing.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::integration_queries_page_in_either_order(Arc::new(MemoryStorage::new())));
/// ```
pub async fn integration_queries_page_in_either_order(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b, empty) = (account(), account(), account());
    let at = |n: i64| t0() + Duration::microseconds(n);
    let records = vec![
        named(&a, "Alpha sync", at(0)),
        named(&a, "Beta", at(0)),
        named(&a, "alpha backup", at(1)),
        named(&a, "Gamma", t0() - Duration::days(400)),
        named(&a, "ALPHA", at(0)),
        named(&a, "Delta", t0() + Duration::days(1)),
        named(&a, "Alphabet", at(1)),
    ];
    insert_all(storage, &records).await;
    insert_all(storage, &[named(&b, "Alpha of b", at(0))]).await;
    let clock = (t0(), Duration::days(90));
    let listed = storage.list(&a).await.expect("list");
    assert_eq!(
        ids(&listed),
        in_order(records.clone(), ListOrder::OldestFirst),
        "list is oldest first"
    );
    for order in [ListOrder::OldestFirst, ListOrder::NewestFirst] {
        let query = IntegrationQuery::new().order(order);
        for size in 1..=8 {
            let (read, total) = query_pages(storage, &a, &query, size, clock).await;
            assert_eq!(
                ids(&read),
                in_order(records.clone(), order),
                "{order:?}, size {size}: the pages are not the listing"
            );
            assert_eq!(total, 7, "{order:?}, size {size}: the total");
        }
        let (read, _) = query_pages(storage, &a, &query, 3, clock).await;
        for r in &read {
            let expected = records.iter().find(|e| e.id == r.id).expect("a record");
            assert_same(r, expected, "a record read by list_query");
        }
        // Paging under a filter: only the matches, in order, the total theirs.
        let alpha = query.clone().name_contains("alpha");
        let matching: Vec<_> = records
            .iter()
            .filter(|r| r.name.to_lowercase().contains("alpha"))
            .cloned()
            .collect();
        assert_eq!(matching.len(), 4);
        for size in 1..=5 {
            let (read, total) = query_pages(storage, &a, &alpha, size, clock).await;
            assert_eq!(ids(&read), in_order(matching.clone(), order), "{order:?}");
            assert_eq!(total, 4, "{order:?}, size {size}: the filtered total");
        }
        let (nothing, total) = query_pages(storage, &empty, &query, 2, clock).await;
        assert!(nothing.is_empty() && total == 0, "an empty account");
        // Cursors at the ends of time: all, or nothing; the total is every match.
        let (first, last) = (
            time::PrimitiveDateTime::MIN.assume_utc(),
            time::PrimitiveDateTime::MAX.assume_utc(),
        );
        let (all_from, none_from) = match order {
            ListOrder::OldestFirst => (first, last),
            ListOrder::NewestFirst => (last, first),
        };
        let id = fresh_id();
        for (from, expected) in [(all_from, 7), (none_from, 0)] {
            let cursor = Cursor::after_integration_in(order, from, &id);
            let page = storage
                .list_query(
                    &a,
                    &query.clone().page(PageRequest::new().after(cursor)),
                    clock.0,
                    clock.1,
                )
                .await
                .expect("a cursor at the end of time");
            assert_eq!(page.items.len(), expected, "{order:?} from {from}");
            assert_eq!(
                page.total,
                Some(7),
                "{order:?}: the total ignores the cursor"
            );
        }
    }
}

/// The search keeps the records whose name contains the text, ignoring case as
/// [`fold_case`](crate::domain::listing::fold_case) does (Unicode lowercase of each
/// character, the same on every backend); `%`, `_` and `\` are plain characters, never
/// wildcards; only the account's own records; the total counts the matches.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::integration_queries_search_names_ignoring_case(Arc::new(MemoryStorage::new())));
/// ```
pub async fn integration_queries_search_names_ignoring_case(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let (a, b) = (account(), account());
    let names = [
        "Zapier Sync",
        "ZAPIER backup",
        "zapier",
        "Mailer",
        "École ÉTÉ",
        "100% done",
        "100 percent",
        "snake_case",
        "snakeXcase",
        "back\\slash",
        "backslash",
        "ΣΑΣ ΟΔΟΣ",
        "Straße",
    ];
    let records: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(n, name)| named(&a, name, t0() + Duration::seconds(n as i64)))
        .collect();
    insert_all(storage, &records).await;
    insert_all(storage, &[named(&b, "Zapier of another account", t0())]).await;
    let clock = (t0(), Duration::days(90));
    let cases: [(&str, &[&str]); 16] = [
        ("zapier", &["Zapier Sync", "ZAPIER backup", "zapier"]),
        ("ZAP", &["Zapier Sync", "ZAPIER backup", "zapier"]),
        ("pier s", &["Zapier Sync"]),
        ("été", &["École ÉTÉ"]),
        ("ÉCOLE", &["École ÉTÉ"]),
        ("100%", &["100% done"]),
        ("%", &["100% done"]),
        ("_", &["snake_case"]),
        ("e_c", &["snake_case"]),
        ("\\", &["back\\slash"]),
        ("k\\s", &["back\\slash"]),
        ("σασ", &["ΣΑΣ ΟΔΟΣ"]),
        ("οδοσ", &["ΣΑΣ ΟΔΟΣ"]),
        ("STRASSE", &[]),
        ("straße", &["Straße"]),
        ("nothing like it", &[]),
    ];
    for (text, expected) in cases {
        for order in [ListOrder::OldestFirst, ListOrder::NewestFirst] {
            let query = IntegrationQuery::new().order(order).name_contains(text);
            let (read, total) = query_pages(storage, &a, &query, 2, clock).await;
            let mut found: Vec<&str> = read.iter().map(|r| &*r.name).collect();
            found.sort_unstable();
            let mut wanted = expected.to_vec();
            wanted.sort_unstable();
            assert_eq!(found, wanted, "searching {text:?}, {order:?}");
            assert_eq!(total, expected.len() as u64, "the total of {text:?}");
            for r in &read {
                assert!(query.matches(r, clock.0, clock.1), "{text:?}: {}", r.name);
            }
        }
    }
}

/// Each state keeps exactly its records at `now`, at its boundaries: rotating while
/// `now < previous_expires_at` (not at it), rotation due once the current token's age
/// reaches the interval (at it, not a microsecond before), active otherwise, and a
/// rotation under way is rotating even when its new token is due; states combine with
/// a search; each record is in exactly one state; the total counts the matches.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::integration_queries_filter_by_state(Arc::new(MemoryStorage::new())));
/// ```
pub async fn integration_queries_filter_by_state(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let now = t0();
    let interval = Duration::days(90);
    let fresh = named(&a, "Fresh", now - Duration::days(1));
    let old = named(&a, "Old", now - Duration::days(100));
    let due_now = named(&a, "Due at the boundary", now - interval);
    let almost = named(
        &a,
        "Not due by a microsecond",
        now - interval + Duration::microseconds(1),
    );
    let rotating = {
        let r = named(&a, "Rotating", now - Duration::days(100));
        // Rotated a day ago: the old token works six more days.
        let at = now - Duration::days(1);
        transitioned(&r, rotation(RotationMode::ExpireLater, at), at)
    };
    let ended = {
        let r = named(&a, "Rotation ended", now - Duration::days(200));
        // Rotated seven days ago: the old token's window ends now.
        let at = now - Duration::days(7);
        transitioned(&r, rotation(RotationMode::ExpireLater, at), at)
    };
    let records = [
        fresh.clone(),
        old.clone(),
        due_now.clone(),
        almost.clone(),
        rotating.clone(),
        ended.clone(),
    ];
    for r in &records {
        let first = IntegrationRecord {
            version: 1,
            ..r.clone()
        };
        storage
            .insert(&first, (&created(&first)).into())
            .await
            .expect("insert");
    }
    let state_of = |state| match state {
        IntegrationState::Active => vec![&fresh, &almost, &ended],
        IntegrationState::Rotating => vec![&rotating],
        IntegrationState::RotationDue => vec![&old, &due_now],
    };
    for state in IntegrationState::ALL {
        let expected: Vec<IntegrationRecord> = state_of(state).into_iter().cloned().collect();
        for r in &expected {
            assert_eq!(IntegrationState::of(r, now, interval), state, "{}", r.name);
        }
        for order in [ListOrder::OldestFirst, ListOrder::NewestFirst] {
            let query = IntegrationQuery::new().order(order).state(state);
            for size in [1, 2, 10] {
                let (read, total) = query_pages(storage, &a, &query, size, (now, interval)).await;
                assert_eq!(
                    ids(&read),
                    in_order(expected.clone(), order),
                    "{state:?}, {order:?}, size {size}"
                );
                assert_eq!(total, expected.len() as u64, "{state:?}: the total");
            }
        }
    }
    // With a short interval, the rotation's new token is due, but a rotation under way
    // is rotating, never due as well.
    let short = Duration::hours(12);
    let query = IntegrationQuery::new().state(IntegrationState::Rotating);
    let (read, _) = query_pages(storage, &a, &query, 5, (now, short)).await;
    assert_eq!(ids(&read), ids(std::slice::from_ref(&rotating)));
    let query = IntegrationQuery::new().state(IntegrationState::RotationDue);
    let (read, total) = query_pages(storage, &a, &query, 5, (now, short)).await;
    assert_eq!(total, 5, "everything but the rotation is due: {read:?}");
    // A state and a search together.
    let query = IntegrationQuery::new()
        .state(IntegrationState::Active)
        .name_contains("ROTATION");
    let (read, total) = query_pages(storage, &a, &query, 5, (now, interval)).await;
    assert_eq!((ids(&read), total), (ids(std::slice::from_ref(&ended)), 1));
    // Once the window has passed, the rotation is active.
    let later = now + Duration::days(6);
    let query = IntegrationQuery::new().state(IntegrationState::Rotating);
    let (read, _) = query_pages(storage, &a, &query, 5, (later, interval)).await;
    assert!(read.is_empty(), "a rotation whose window ended: {read:?}");
}

/// Checks that the total of every query of `account` — all, each state, each with a
/// search — is the number of `list`'s records it keeps, at instants before, during and
/// after rotation windows and the rotation interval.
async fn assert_totals(storage: &dyn Storage, account: &AccountId, what: &str) {
    let interval = Duration::days(90);
    let listed = storage.list(account).await.expect("list");
    let states = [None]
        .into_iter()
        .chain(IntegrationState::ALL.map(Some))
        .collect::<Vec<_>>();
    for now in [
        t0(),
        t0() + Duration::days(3),
        t0() + Duration::days(7),
        t0() + Duration::days(30),
    ] {
        for search in [None, Some("sync")] {
            for &state in &states {
                let mut query = IntegrationQuery::new();
                if let Some(text) = search {
                    query = query.name_contains(text);
                }
                if let Some(state) = state {
                    query = query.state(state);
                }
                let expected = listed
                    .iter()
                    .filter(|r| search.is_none_or(|text| r.name.to_lowercase().contains(text)))
                    .filter(|r| state.is_none_or(|s| IntegrationState::of(r, now, interval) == s))
                    .count() as u64;
                let page = storage
                    .list_query(
                        account,
                        &query.page(PageRequest::new().limit(1)),
                        now,
                        interval,
                    )
                    .await
                    .expect("list_query");
                assert_eq!(
                    page.total,
                    Some(expected),
                    "{what}: the total of {state:?}, search {search:?}, at {now}"
                );
            }
        }
    }
}

/// The totals of [`Storage::list_query`] follow every change exactly, whichever way a
/// backend counts them: after each insert, edit, rotation (expire later, expire now),
/// cancel, early expiry and delete, at instants that move integrations between states,
/// every total (all, each state, each with a search) is the number of the account's
/// records that it keeps. Writes that fail (an id or a token id already stored, a stale
/// version, another account) move no total; another account's changes neither; the
/// first integrations of an account, created at once, are all counted.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::integration_query_totals_follow_every_change(Arc::new(MemoryStorage::new())));
/// ```
pub async fn integration_query_totals_follow_every_change(storage: Arc<dyn Storage>) {
    let (a, b) = (account(), account());
    {
        let storage = &*storage;
        assert_totals(storage, &a, "an empty account").await;
        // Fresh; old (due); due in two days (the interval is 90 days); long due.
        let fresh = named(&a, "Sync fresh", t0() - Duration::days(1));
        let old = named(&a, "Old", t0() - Duration::days(100));
        let soon = named(&a, "Sync soon due", t0() - Duration::days(88));
        let ancient = named(&a, "Ancient sync", t0() - Duration::days(200));
        for r in [&fresh, &old, &soon, &ancient] {
            insert_all(storage, std::slice::from_ref(r)).await;
            assert_totals(storage, &a, &format!("after inserting {}", r.name)).await;
        }
        insert_all(storage, &[named(&b, "Sync of b", t0())]).await;
        assert_totals(storage, &a, "after another account's insert").await;

        // Writes that fail.
        expect_err(
            storage.insert(&fresh, (&created(&fresh)).into()).await,
            StorageError::AlreadyExists,
            "an integration id already stored",
        );
        let twin = IntegrationRecord {
            credentials: Credentials::new(*old.credentials.current()),
            ..named(&a, "Sync twin", t0())
        };
        expect_err(
            storage.insert(&twin, (&created(&twin)).into()).await,
            StorageError::AlreadyExists,
            "a token id already stored",
        );
        let gone = event(&old, AuditAction::Deleted, t0());
        expect_err(
            storage.delete(&a, &old.id, 7, (&gone).into()).await,
            StorageError::Conflict,
            "a delete at a stale version",
        );
        expect_err(
            storage.delete(&b, &old.id, 1, (&gone).into()).await,
            StorageError::NotFound,
            "a delete in another account",
        );
        assert_totals(storage, &a, "after writes that failed").await;

        // Rotations: the old token of `old` works until t0 + 6 days; `ancient`'s window
        // ends at t0; `soon` gets a new token at once; `fresh` rotates and cancels.
        let at = t0() - Duration::days(1);
        let old = replace(
            storage,
            &old,
            transitioned(&old, rotation(RotationMode::ExpireLater, at), at),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
        )
        .await;
        assert_totals(storage, &a, "after a rotation").await;
        let at = t0() - Duration::days(7);
        let ancient = replace(
            storage,
            &ancient,
            transitioned(&ancient, rotation(RotationMode::ExpireLater, at), at),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
        )
        .await;
        assert_totals(storage, &a, "after a rotation whose window ends").await;
        let soon = replace(
            storage,
            &soon,
            transitioned(&soon, rotation(RotationMode::ExpireNow, t0()), t0()),
            AuditAction::Rotated {
                mode: RotationMode::ExpireNow,
            },
        )
        .await;
        assert_totals(storage, &a, "after a rotation that expires the old token").await;
        let fresh = replace(
            storage,
            &fresh,
            transitioned(&fresh, rotation(RotationMode::ExpireLater, t0()), t0()),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
        )
        .await;
        assert_totals(storage, &a, "after another rotation").await;
        let fresh = replace(
            storage,
            &fresh,
            transitioned(&fresh, Transition::CancelRotation, t0()),
            AuditAction::RotationCancelled,
        )
        .await;
        assert_totals(storage, &a, "after a cancelled rotation").await;
        let old = replace(
            storage,
            &old,
            transitioned(&old, Transition::ExpirePreviousNow, t0()),
            AuditAction::PreviousExpired,
        )
        .await;
        assert_totals(storage, &a, "after an early expiry").await;
        let fresh = replace(
            storage,
            &fresh,
            edited(&fresh, "edited", t0()),
            AuditAction::Updated,
        )
        .await;
        assert_totals(storage, &a, "after an edit").await;

        for r in [&ancient, &old, &soon, &fresh] {
            let gone = event(r, AuditAction::Deleted, t0());
            storage
                .delete(&a, &r.id, r.version, (&gone).into())
                .await
                .expect("delete");
            assert_totals(storage, &a, &format!("after deleting {}", r.name)).await;
        }
        assert_totals(storage, &b, "another account, after every delete").await;
    }

    // The first integrations of a fresh account, created at once.
    let c = account();
    let writers: Vec<_> = (0..RACE_WRITERS)
        .map(|n| {
            let (storage, c) = (Arc::clone(&storage), c.clone());
            tokio::spawn(async move {
                let r = named(&c, &format!("Sync {n}"), t0());
                storage
                    .insert(&r, (&created(&r)).into())
                    .await
                    .expect("a concurrent insert");
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
    assert_eq!(
        storage.list(&c).await.expect("list").len() as u64,
        RACE_WRITERS
    );
    assert_totals(&*storage, &c, "after concurrent inserts").await;
}

/// A token found in a public place ([`IntegrationRecord::revoke_leaked`]): a revoked
/// current token reads back revoked, at the microsecond, and its lookup still finds the
/// integration (so that a repeated report is recognised; verification refuses it); the
/// `token_leaked` event reads back with its place; a rotation clears the revocation and
/// the leaked token's id finds nothing more. A leaked previous token reads back expired at
/// [`LEAKED_PREVIOUS_EXPIRES_AT`](crate::domain::credentials::LEAKED_PREVIOUS_EXPIRES_AT),
/// still found by its id until the next change.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use private_integrations::{MemoryStorage, storage::conformance};
/// conformance::run(conformance::leaked_tokens_round_trip(Arc::new(MemoryStorage::new())));
/// ```
pub async fn leaked_tokens_round_trip(storage: Arc<dyn Storage>) {
    let storage = &*storage;
    let a = account();
    let r = record(&a, t0());
    storage.insert(&r, (&created(&r)).into()).await.unwrap();
    let leaked = r.credentials.current().id;
    let at = t0() + Duration::minutes(5);
    let revoked = r.revoke_leaked(&leaked, at).expect("a live token");
    let report = event(
        &revoked,
        AuditAction::TokenLeaked {
            token: leaked,
            url: "https://github.com/octo/app/blob/main/.env".into(),
            revoked: true,
        },
        at,
    );
    storage.update(&revoked, 1, (&report).into()).await.unwrap();
    let stored = storage.get(&a, &r.id).await.unwrap().expect("kept");
    assert_eq!(stored.credentials.revoked_at(), Some(at));
    assert_eq!(stored.credentials.current().id, leaked);
    assert_eq!(stored.version, 2);
    let found = lookup(storage, &leaked)
        .await
        .expect("still found by its id");
    assert_eq!(
        found.credentials.find(&leaked).map(|(_, role)| role),
        Some(TokenRole::Revoked)
    );
    let log = storage.audit_log(&a).await.unwrap();
    assert_eq!(log[0], report, "the report reads back with its place");

    // A rotation issues a live token; the leaked one is gone.
    let later = at + Duration::minutes(1);
    let rotated = IntegrationRecord {
        credentials: stored
            .credentials
            .apply(
                Transition::Rotate {
                    mode: RotationMode::ExpireLater,
                    new: token(later),
                    grace: Duration::days(7),
                },
                later,
            )
            .unwrap(),
        updated_at: later,
        version: 3,
        ..stored.clone()
    };
    let rotation = event(
        &rotated,
        AuditAction::Rotated {
            mode: RotationMode::ExpireLater,
        },
        later,
    );
    storage
        .update(&rotated, 2, (&rotation).into())
        .await
        .unwrap();
    let stored = storage.get(&a, &r.id).await.unwrap().unwrap();
    assert_eq!(stored.credentials.revoked_at(), None);
    assert!(
        stored.credentials.previous().is_none(),
        "no grace for a leaked token"
    );
    assert!(lookup(storage, &leaked).await.is_none());

    // A leaked previous token: expired at the report, still found until the next change.
    let new = token(later);
    let rotating = transitioned(
        &stored,
        Transition::Rotate {
            mode: RotationMode::ExpireLater,
            new,
            grace: Duration::days(7),
        },
        later,
    );
    storage
        .update(
            &rotating,
            3,
            (&event(&rotating, AuditAction::Updated, later)).into(),
        )
        .await
        .unwrap();
    let old = stored.credentials.current().id;
    let reported = later + Duration::seconds(1);
    let expired = rotating.revoke_leaked(&old, reported).expect("live");
    storage
        .update(
            &expired,
            4,
            (&event(&expired, AuditAction::Updated, reported)).into(),
        )
        .await
        .unwrap();
    let stored = storage.get(&a, &r.id).await.unwrap().unwrap();
    assert_eq!(
        stored
            .credentials
            .previous()
            .map(|(p, expires)| (p.id, expires)),
        Some((old, crate::domain::credentials::LEAKED_PREVIOUS_EXPIRES_AT))
    );
    assert_eq!(stored.credentials.revoked_at(), None);
    assert!(lookup(storage, &old).await.is_some());
    assert!(lookup(storage, &new.id).await.is_some());
}
