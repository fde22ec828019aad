//! What the integration tests share: a service on a manual clock, actors, and helpers
//! that forge tokens of the right shape.
#![allow(dead_code)]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use private_integrations::storage::sqlx;
use private_integrations::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);
pub const GRACE: Duration = Duration::days(7);
pub const SCOPES: [&str; 3] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.write",
];

/// Runs a future that completes without waiting, as every `MemoryStorage` call does:
/// polled once with a no-op waker, so no executor runs (or allocates) in a measurement.
///
/// # Panics
///
/// If the future is not ready at once.
// Inline, so the future is built in place, as in an `async` caller, rather than copied
// into this function's frame: the benches measure verification, not that copy.
#[inline(always)]
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a MemoryStorage call did not complete at once"),
    }
}

/// A service on `storage` with a manual clock at [`T0`] and the default settings.
pub struct Harness {
    pub pi: PrivateIntegrations,
    /// The storage under `pi`, for a second service on the same storage.
    pub storage: std::sync::Arc<dyn Storage>,
    pub clock: ManualClock,
    pub admin: Actor,
    pub member: Actor,
    pub other_admin: Actor,
    /// The verification cache `pi` was built with (`None`: the builder's default).
    pub cache: Option<VerificationCache>,
    /// Services `pi` replaced, kept until the harness goes: dropping one would abort its
    /// background work in the middle of a query, which closes the connection (and an
    /// in-memory SQLite database lives in its only connection).
    retired: Vec<PrivateIntegrations>,
}

impl Harness {
    pub fn new(storage: impl Storage) -> Self {
        Self::with_cache(storage, None)
    }

    /// With this verification cache (`None`: the builder's default).
    pub fn with_cache(storage: impl Storage, cache: Option<VerificationCache>) -> Self {
        let clock = ManualClock::new(T0);
        let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(storage);
        let builder = PrivateIntegrations::builder(storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone());
        let pi = match cache {
            Some(cache) => builder.verification_cache(cache),
            None => builder,
        }
        .build();
        Self {
            pi,
            storage,
            clock,
            admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
            member: Actor::member(AccountId::new("acct_1"), UserId::new("u_bob")),
            other_admin: Actor::admin(AccountId::new("acct_2"), UserId::new("u_eve")),
            cache,
            retired: Vec::new(),
        }
    }

    /// The same harness (storage, clock, cache, actors) with a service whose rotations
    /// finish themselves once the old token is unused for `silent_for`
    /// (`finish_rotation_when_silent`). Its background pass first runs a minute after
    /// this: a case calls `finish_silent_rotations` itself.
    pub fn finishing_rotations(mut self, silent_for: Duration) -> Self {
        let builder = PrivateIntegrations::builder(self.storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(self.clock.clone())
            .finish_rotation_when_silent(silent_for);
        let pi = match self.cache {
            Some(cache) => builder.verification_cache(cache),
            None => builder,
        }
        .build();
        let replaced = std::mem::replace(&mut self.pi, pi);
        self.retired.push(replaced);
        self
    }

    pub async fn create(&self, name: &str, scopes: &[&str]) -> (IntegrationId, IssuedToken) {
        let created = self
            .pi
            .create(
                &self.admin,
                NewIntegration::new(name).scopes(scopes.iter().copied()),
            )
            .await
            .expect("create");
        (created.integration.id().clone(), created.token)
    }

    pub async fn verifies(&self, token: &IssuedToken) -> bool {
        self.pi.verify(token.expose_secret()).await.is_ok()
    }

    pub async fn verify(&self, token: &IssuedToken) -> Result<Verified, VerifyError> {
        self.pi.verify(token.expose_secret()).await
    }

    /// What an observer can see of the account: every integration and the audit log.
    pub async fn snapshot(&self) -> (Vec<Integration>, Vec<AuditEvent>) {
        (
            self.pi.list(&self.admin).await.unwrap(),
            self.pi.audit_log(&self.admin).await.unwrap(),
        )
    }
}

/// `token` with its checksum recomputed after `edit` changed it: a token that passes the
/// parser, so only storage can refuse it.
pub fn forge(token: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut body = token.as_bytes()[..token.len() - 6].to_vec();
    edit(&mut body);
    let mut crc = crc32fast::hash(&body);
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut checksum = [b'0'; 6];
    for digit in checksum.iter_mut().rev() {
        *digit = alphabet[(crc % 62) as usize];
        crc /= 62;
    }
    body.extend_from_slice(&checksum);
    String::from_utf8(body).unwrap()
}

/// The same token id with another secret.
pub fn wrong_secret(token: &str) -> String {
    forge(token, |body| {
        let last = body.len() - 1;
        body[last] = if body[last] == b'a' { b'b' } else { b'a' };
    })
}

/// The token with its prefix `from` replaced by `to`, and its checksum recomputed: what
/// an attacker holding a token of one service would offer another.
pub fn reprefix(token: &str, from: &str, to: &str) -> String {
    let rest = token.strip_prefix(from).expect("the token has the prefix");
    forge(&format!("{to}{rest}"), |_| {})
}

/// An id that was never issued, with a well-formed secret.
pub fn unknown_id(token: &str) -> String {
    forge(token, |body| {
        let start = body.iter().position(|b| *b == b'_').unwrap() + 1;
        body[start..start + 16].copy_from_slice(b"ZZZZZZZZZZZZZZZZ");
    })
}

/// The `n`th of a family of ids that were never issued, with a well-formed secret.
pub fn unknown_id_n(token: &str, n: usize) -> String {
    forge(token, |body| {
        let start = body.iter().position(|b| *b == b'_').unwrap() + 1;
        body[start..start + 16].copy_from_slice(format!("Z{n:015}").as_bytes());
    })
}

/// Where test databases on files go: under Cargo's per-target temporary directory.
/// Files older than an hour (left by earlier runs) are removed on the first call.
#[cfg(feature = "sqlite")]
pub fn sqlite_test_dir() -> std::path::PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pi-sqlite");
    std::fs::create_dir_all(&dir).expect("create the test database directory");
    SWEPT.call_once(|| {
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < hour_ago);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
    dir
}

/// A fresh name, unique among tests running at once.
pub fn unique_name() -> String {
    let id = IntegrationId::generate(&mut rand::rngs::SysRng).expect("random");
    let secs = OffsetDateTime::now_utc().unix_timestamp();
    format!("{secs}_{}", id.as_str().to_ascii_lowercase())
}

/// `SqliteStorage` on a private in-memory database, migrated (twice: it is idempotent).
#[cfg(feature = "sqlite")]
pub async fn sqlite_in_memory() -> SqliteStorage {
    let storage = SqliteStorage::connect("sqlite::memory:")
        .await
        .expect("open an in-memory SQLite database");
    storage.migrate().await.expect("migrate");
    storage.migrate().await.expect("migrate again");
    storage
}

/// `SqliteStorage` on a fresh database file, migrated (twice), and the file's URL.
#[cfg(feature = "sqlite")]
pub async fn sqlite_file() -> (SqliteStorage, String) {
    let path = sqlite_test_dir().join(format!("{}.db", unique_name()));
    let url = format!("sqlite://{}", path.display());
    let storage = SqliteStorage::connect(&url)
        .await
        .expect("open an SQLite database file");
    storage.migrate().await.expect("migrate");
    storage.migrate().await.expect("migrate again");
    (storage, url)
}

/// Whether this run is CI's (`CI=true`), where a database that cannot be used fails the
/// test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The PostgreSQL server of the tests: `DATABASE_URL`. Without it the test is skipped
/// (`None`, after saying why), except under `CI=true`, where that fails the test.
#[cfg(feature = "postgres")]
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if in_ci() => panic!(
            "CI=true but DATABASE_URL is not set: the PostgreSQL tests must run in CI \
             (.ci/run exports it)"
        ),
        _ => {
            eprintln!(
                "skipped: the PostgreSQL tests need DATABASE_URL \
                 (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// Options for a connection whose `search_path` is `schema`.
#[cfg(feature = "postgres")]
pub fn postgres_options(url: &str, schema: &str) -> sqlx::postgres::PgConnectOptions {
    use std::str::FromStr;
    sqlx::postgres::PgConnectOptions::from_str(url)
        .expect("DATABASE_URL is a PostgreSQL URL")
        .options([("search_path", schema)])
}

/// A fresh, empty schema `pi_test_<time>_<random>` on the test server, so that tests
/// run side by side; schemas left by runs more than an hour old are dropped on the first
/// call. `None` (skipped) without `DATABASE_URL`; panics if the server cannot be used.
#[cfg(feature = "postgres")]
pub async fn postgres_schema() -> Option<(String, String)> {
    use sqlx::{AssertSqlSafe, Connection, Row};
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    let url = database_url()?;
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {err}"));
    if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        let hour_ago = OffsetDateTime::now_utc().unix_timestamp() - 3600;
        let schemas =
            sqlx::query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pi\\_test\\_%'")
                .fetch_all(&mut conn)
                .await
                .expect("list test schemas");
        for row in schemas {
            let name: String = row.get(0);
            let born: Option<i64> = name
                .strip_prefix("pi_test_")
                .and_then(|rest| rest.split('_').next())
                .and_then(|secs| secs.parse().ok());
            if born.is_some_and(|born| born < hour_ago) {
                let _ = sqlx::query(AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
    let schema = format!("pi_test_{}", unique_name());
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut conn)
        .await
        .expect("create the test schema");
    conn.close().await.expect("close");
    Some((url, schema))
}

/// A pool on a fresh schema (see [`postgres_schema`]).
#[cfg(feature = "postgres")]
pub async fn postgres_pool() -> Option<sqlx::PgPool> {
    let (url, schema) = postgres_schema().await?;
    Some(pool_on(&url, &schema).await)
}

/// A pool of its own on `schema`, as another replica of the service would have.
#[cfg(feature = "postgres")]
pub async fn pool_on(url: &str, schema: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .connect_with(postgres_options(url, schema))
        .await
        .unwrap_or_else(|err| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {err}"))
}

/// `PostgresStorage` on a fresh schema, migrated (twice: it is idempotent). `None`
/// (skipped) without `DATABASE_URL`, except under `CI=true`.
#[cfg(feature = "postgres")]
pub async fn postgres_storage() -> Option<PostgresStorage> {
    let storage = PostgresStorage::new(postgres_pool().await?);
    storage.migrate().await.expect("migrate");
    storage.migrate().await.expect("migrate again");
    Some(storage)
}

/// Drops the schema a test made, with everything in it.
#[cfg(feature = "postgres")]
pub async fn drop_schema(url: &str, schema: &str) {
    use sqlx::{AssertSqlSafe, Connection};
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    // A service dropped just before still writes its last batch of last-used times and
    // use counts on a task of its own; PostgreSQL may end that race as a deadlock and
    // abort either side. The drop then runs again.
    for attempt in 1.. {
        let dropped = sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await;
        match dropped {
            Ok(_) => break,
            Err(sqlx::Error::Database(db))
                if db.code().as_deref() == Some("40P01") && attempt < 5 => {}
            Err(err) => panic!("drop the test schema: {err:?}"),
        }
    }
    let _ = conn.close().await;
}

/// A `PostgresStorage` on a fresh schema, or skip the calling test (return) without
/// `DATABASE_URL`. Use in an `async fn` returning `()`, or pass the value to return.
#[cfg(feature = "postgres")]
#[macro_export]
macro_rules! postgres_or_skip {
    () => {
        $crate::postgres_or_skip!(())
    };
    ($skipped:expr) => {
        match $crate::support::postgres_storage().await {
            Some(storage) => storage,
            None => return $skipped,
        }
    };
}

/// The whole chain of an error's messages, `Display` and `Debug`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{err} / {err:?}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(" / caused by: {cause} / {cause:?}"));
        source = cause.source();
    }
    text
}

/// With the database gone, every management call is `Error::Storage` and verification
/// is `VerifyError::Storage`: nothing panics, nothing passes, no error quotes the token.
pub async fn assert_database_down(h: &Harness, id: &IntegrationId, token: &IssuedToken) {
    let (pi, a) = (&h.pi, &h.admin);
    let results: Vec<(&str, Result<(), Error>)> = vec![
        (
            "create",
            pi.create(a, NewIntegration::new("x").scopes(["contacts.readonly"]))
                .await
                .map(drop),
        ),
        ("get", pi.get(a, id).await.map(drop)),
        ("list", pi.list(a).await.map(drop)),
        (
            "update",
            pi.update(a, id, IntegrationUpdate::new().name("x"))
                .await
                .map(drop),
        ),
        (
            "rotate later",
            pi.rotate(a, id, RotationMode::ExpireLater).await.map(drop),
        ),
        (
            "rotate now",
            pi.rotate(a, id, RotationMode::ExpireNow).await.map(drop),
        ),
        ("cancel", pi.cancel_rotation(a, id).await.map(drop)),
        ("expire", pi.expire_previous_now(a, id).await.map(drop)),
        ("delete", pi.delete(a, id).await),
        (
            "set_permission",
            pi.set_permission(a, h.member.user(), Permission::Allow)
                .await,
        ),
        (
            "set_feature_enabled",
            pi.set_feature_enabled(a, false).await,
        ),
        ("rotation_due", pi.rotation_due(a).await.map(drop)),
        ("audit_log", pi.audit_log(a).await.map(drop)),
    ];
    for (call, result) in results {
        match result {
            Err(err @ Error::Storage(_)) => {
                let text = error_chain(&err);
                assert!(!text.contains(token.expose_secret()), "{call}: {text}");
            }
            other => panic!("{call} with the database down gave {other:?}"),
        }
    }
    // A token the verification cache holds (if the service has one) keeps verifying; one
    // it cannot hold (never looked up) is refused.
    let cache = pi.cache_stats().is_some();
    let never_looked_up = unknown_id_n(token.expose_secret(), 4242);
    for _ in 0..3 {
        for (text, may_pass) in [(token.expose_secret(), cache), (&*never_looked_up, false)] {
            match pi.verify(text).await {
                Err(err @ VerifyError::Storage(_)) => {
                    let text = error_chain(&err);
                    assert!(!text.contains(&token.expose_secret()[21..64]), "{text}");
                }
                Ok(_) if may_pass => {}
                other => panic!("verify with the database down gave {other:?}"),
            }
        }
    }
}

/// A stored row that no record could have written (set by the caller on `id`): every
/// read of it is a storage error saying so, never a panic and never a pass.
pub async fn assert_corrupt_row_refused(h: &Harness, id: &IntegrationId, token: &IssuedToken) {
    let expect_corrupt = |what: &str, err: &(dyn std::error::Error + 'static)| {
        let text = error_chain(err);
        assert!(text.contains("corrupt stored value"), "{what}: {text}");
    };
    match h.pi.get(&h.admin, id).await {
        Err(err @ Error::Storage(StorageError::Backend(_))) => expect_corrupt("get", &err),
        other => panic!("get of a corrupt row gave {other:?}"),
    }
    match h.pi.list(&h.admin).await {
        Err(err @ Error::Storage(StorageError::Backend(_))) => expect_corrupt("list", &err),
        other => panic!("list with a corrupt row gave {other:?}"),
    }
    match h.pi.rotate(&h.admin, id, RotationMode::ExpireNow).await {
        Err(err @ Error::Storage(StorageError::Backend(_))) => expect_corrupt("rotate", &err),
        other => panic!("rotate of a corrupt row gave {other:?}"),
    }
    match h.pi.verify(token.expose_secret()).await {
        Err(err @ VerifyError::Storage(StorageError::Backend(_))) => expect_corrupt("verify", &err),
        other => panic!("verify against a corrupt row gave {other:?}"),
    }
}

/// Writes a token hash of the wrong length (too short, too long, empty) into a row of
/// `storage`, by hand through `pool`: every read of that row is a storage error (see
/// [`assert_corrupt_row_refused`]), while the other rows keep working.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn assert_wrong_hash_lengths_refused<DB>(storage: impl Storage, pool: &sqlx::Pool<DB>)
where
    DB: sqlx::Database,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let h = Harness::new(storage);
    let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
    let (healthy, healthy_token) = h.create("Healthy", &["contacts.readonly"]).await;
    for bad in [vec![1u8, 2], vec![7u8; 33], Vec::new()] {
        sqlx::query("UPDATE pi_integrations SET current_token_hash = $1 WHERE id = $2")
            .bind(bad)
            .bind(id.as_str())
            .execute(pool)
            .await
            .unwrap();
        assert_corrupt_row_refused(&h, &id, &token).await;
    }
    assert!(h.verifies(&healthy_token).await, "other rows still work");
    assert!(h.pi.get(&h.admin, &healthy).await.is_ok());
}
pub mod faults;
pub mod gate;
pub mod proxy;

/// Walks the story that leaves the most tokens behind in storage (created, rotated with
/// and without grace, cancelled, deleted) and returns every token issued.
pub async fn issue_tokens_of_every_kind(h: &Harness) -> Vec<IssuedToken> {
    let (kept, first) = h.create("Kept", &["contacts.readonly"]).await;
    let rotate = |mode| h.pi.rotate(&h.admin, &kept, mode);
    let later = rotate(RotationMode::ExpireLater)
        .await
        .expect("rotate")
        .token;
    h.pi.cancel_rotation(&h.admin, &kept).await.expect("cancel");
    let again = rotate(RotationMode::ExpireLater)
        .await
        .expect("rotate")
        .token;
    let now = rotate(RotationMode::ExpireNow).await.expect("rotate").token;
    let (gone, gone_token) = h.create("Gone", &["contacts.write"]).await;
    h.pi.delete(&h.admin, &gone).await.expect("delete");
    vec![first, later, again, now, gone_token]
}

/// Fails if `stored` (a database file, a dump) holds any 12-character piece of any
/// token's secret part, as text or as hexadecimal.
pub fn assert_no_secret_at_rest(stored: &[u8], tokens: &[IssuedToken]) {
    assert!(!stored.is_empty(), "nothing was read from storage");
    for token in tokens {
        let secret = &token.expose_secret().as_bytes()[21..64];
        for piece in secret.windows(12) {
            let hex: String = piece.iter().map(|b| format!("{b:02x}")).collect();
            let found = stored.windows(12).any(|w| w == piece)
                || stored
                    .windows(hex.len())
                    .any(|w| w.eq_ignore_ascii_case(hex.as_bytes()));
            assert!(!found, "a piece of a secret is stored");
        }
    }
}

/// A host application's own sqlx migrations, with tables named like ours but unprefixed:
/// ours must live beside them, in `pi_migrations`, not `_sqlx_migrations`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub fn host_migrator() -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(vec![Migration::new(
        1,
        "host tables".into(),
        MigrationType::Simple,
        sqlx::AssertSqlSafe(
            "CREATE TABLE integrations (id TEXT PRIMARY KEY); CREATE TABLE tokens (id TEXT);",
        )
        .into_sql_str(),
        false,
    )])
}

/// Fails if any output holds a token, its secret part, or a 12-character window of it.
pub fn assert_no_secret(outputs: &[String], tokens: &[&IssuedToken]) {
    assert!(!outputs.is_empty() && !tokens.is_empty());
    for token in tokens {
        let text = token.expose_secret();
        // `{prefix}_{id}_` precedes the secret; the checksum follows it.
        let start = text.len() - 6 - 43;
        let secret = &text[start..text.len() - 6];
        assert_eq!(secret.len(), 43);
        for output in outputs {
            assert!(!output.contains(text), "whole token in {output}");
            for window in secret.as_bytes().windows(12) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(!output.contains(piece), "secret piece {piece} in {output}");
            }
        }
    }
}
