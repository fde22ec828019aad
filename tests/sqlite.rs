//! What only `SqliteStorage` can show: the data survives closing and reopening the file,
//! the tables live beside the host's, a closed pool fails closed, and a corrupt row is a
//! storage error, never a panic.
#![cfg(feature = "sqlite")]

mod support;

use private_integrations::storage::sqlx::sqlite::SqlitePoolOptions;
use private_integrations::storage::sqlx::{self, Row};
use private_integrations::*;
use support::*;
use time::Duration;

/// The database file, read byte by byte after every kind of token was issued into it,
/// holds no piece of any secret.
#[tokio::test]
async fn the_file_holds_no_secret() {
    let (storage, url) = sqlite_file().await;
    let h = Harness::new(storage.clone());
    let tokens = issue_tokens_of_every_kind(&h).await;
    drop(h);
    storage.pool().close().await;
    let path = url.trim_start_matches("sqlite://");
    let mut stored = std::fs::read(path).expect("read the database file");
    // Whatever is still in the write-ahead log counts too.
    stored.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    assert!(stored.len() > 4096, "the file should hold the tables");
    assert_no_secret_at_rest(&stored, &tokens);
    // The check does find a secret that is there, raw or in hexadecimal.
    let secret = &tokens[2].expose_secret().as_bytes()[21..64];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    for planted in [secret.to_vec(), hex.into_bytes()] {
        let with_secret = [stored.as_slice(), &planted].concat();
        let found = std::panic::catch_unwind(|| assert_no_secret_at_rest(&with_secret, &tokens));
        assert!(found.is_err(), "a planted secret went unnoticed");
    }
}

/// Creates, rotates and edits integrations through the service on a file, closes every
/// handle, reopens the file with `connect`: the same tokens verify (old and new during
/// the grace window), the edits are there, and so is the same audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_closing_and_reopening_the_file() {
    let (storage, url) = sqlite_file().await;
    let h = Harness::new(storage.clone());

    let (rotated, old) = h.create("Zapier", &["contacts.readonly"]).await;
    let (edited, edited_token) = h.create("Reporting", &["contacts.readonly"]).await;
    let (deleted, deleted_token) = h.create("Doomed", &["contacts.readonly"]).await;
    h.clock.advance(Duration::hours(1));
    let new =
        h.pi.rotate(&h.admin, &rotated, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    h.pi.update(
        &h.admin,
        &edited,
        IntegrationUpdate::new()
            .name("Reporting (EU)")
            .description("Nightly export\nto the warehouse")
            .scopes(["contacts.write", "calendars/events.write"]),
    )
    .await
    .unwrap();
    h.pi.delete(&h.admin, &deleted).await.unwrap();
    h.pi.set_permission(&h.admin, h.member.user(), Permission::Allow)
        .await
        .unwrap();
    let before = h.snapshot().await;
    assert_eq!(before.0.len(), 2);
    assert_eq!(before.1.len(), 7);

    // Close and drop every handle: the service, the storage, the pool.
    let now = h.clock.now();
    storage.pool().close().await;
    drop(h);
    drop(storage);

    let reopened = SqliteStorage::connect(&url).await.expect("reopen the file");
    reopened
        .migrate()
        .await
        .expect("migrate an up-to-date database");
    let h = Harness::new(reopened);
    h.clock.set(now);
    assert_eq!(
        h.snapshot().await,
        before,
        "the integrations and the audit log"
    );

    assert!(h.verifies(&old).await, "the old token, in its grace window");
    assert!(h.verifies(&new).await, "the new token");
    let verified = h
        .verify(&edited_token)
        .await
        .expect("the edited one's token");
    assert!(verified.has_scope("contacts.write"));
    assert!(!verified.has_scope("contacts.readonly"));
    let edited = h.pi.get(&h.admin, verified.integration_id()).await.unwrap();
    assert_eq!(edited.name(), "Reporting (EU)");
    assert!(matches!(
        h.verify(&deleted_token).await,
        Err(VerifyError::Invalid)
    ));
    assert!(
        h.pi.list(&h.member).await.is_ok(),
        "the permission was kept"
    );
    let pending =
        h.pi.get(&h.admin, &rotated)
            .await
            .unwrap()
            .pending_rotation();
    assert_eq!(
        pending.map(|p| p.previous_expires_at()),
        Some(now + GRACE),
        "the grace window, to the microsecond"
    );

    // The grace window ends on the reopened database as it would have on the first.
    h.clock.set(now + GRACE);
    assert!(matches!(h.verify(&old).await, Err(VerifyError::Expired)));
    assert!(h.verifies(&new).await);

    let path = url.trim_start_matches("sqlite://").to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

/// A closed pool: every management call is `Error::Storage`, verification is
/// `VerifyError::Storage`. Never a panic, never a pass.
#[tokio::test]
async fn a_closed_pool_fails_closed() {
    for (storage, _url) in [(sqlite_in_memory().await, None), {
        let (storage, url) = sqlite_file().await;
        (storage, Some(url))
    }] {
        let h = Harness::new(storage.clone());
        let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
        assert!(h.verifies(&token).await);
        storage.pool().close().await;
        assert_database_down(&h, &id, &token).await;
    }
}

/// `new(pool)` creates nothing: before `migrate`, calls fail with a storage error.
#[tokio::test]
async fn nothing_is_created_before_migrate() {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let storage = SqliteStorage::new(pool.clone());
    let tables: i64 = sqlx::query("SELECT count(*) FROM sqlite_master")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    let h = Harness::new(storage.clone());
    assert!(matches!(
        h.pi.list(&h.admin).await,
        Err(Error::Storage(StorageError::Backend(_)))
    ));
    storage.migrate().await.unwrap();
    assert!(h.pi.list(&h.admin).await.unwrap().is_empty());
}

/// On the host's own database: the host's migrations (in `_sqlx_migrations`) and this
/// crate's (in `pi_migrations`) do not see each other, in either order, and every table
/// of this crate is prefixed `pi_`.
#[tokio::test]
async fn tables_live_beside_the_hosts() {
    use sqlx::AssertSqlSafe;

    for host_first in [true, false] {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let storage = SqliteStorage::new(pool.clone());
        if host_first {
            host_migrator().run(&pool).await.unwrap();
            storage.migrate().await.unwrap();
        } else {
            storage.migrate().await.unwrap();
            host_migrator().run(&pool).await.unwrap();
        }
        storage.migrate().await.unwrap();
        host_migrator().run(&pool).await.unwrap();

        let versions = |table: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT version, description FROM {table} ORDER BY version"
                )))
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
                .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            versions("_sqlx_migrations").await,
            [(1, "host tables".to_owned())]
        );
        assert_eq!(
            versions("pi_migrations").await,
            [
                (1, "initial".to_owned()),
                (2, "audit by integration".to_owned()),
                (3, "last used".to_owned()),
                (4, "idempotency keys".to_owned()),
                (5, "name search".to_owned()),
                (6, "listing counts".to_owned()),
                (7, "leaked tokens".to_owned()),
                (8, "audit retention".to_owned()),
                (9, "rotation finish".to_owned()),
                (10, "token uses".to_owned())
            ]
        );

        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
        assert_eq!(
            tables,
            [
                "_sqlx_migrations",
                "integrations",
                "pi_account_counts",
                "pi_account_settings",
                "pi_audit_events",
                "pi_idempotency_keys",
                "pi_integrations",
                "pi_migrations",
                "pi_permissions",
                "pi_token_uses",
                "pi_tokens",
                "tokens"
            ]
        );

        let h = Harness::new(storage);
        let (_, token) = h.create("Beside the host", &["contacts.readonly"]).await;
        assert!(h.verifies(&token).await);
        let host_rows: i64 = sqlx::query("SELECT count(*) FROM integrations")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(host_rows, 0, "the host's table is untouched");
    }
}

/// A stored token hash of the wrong length (the file was edited by hand) is a storage
/// error on every read path, never a panic and never a pass.
#[tokio::test]
async fn a_corrupt_row_is_a_storage_error() {
    let storage = sqlite_in_memory().await;
    assert_wrong_hash_lengths_refused(storage.clone(), storage.pool()).await;
}

/// The storage and its futures can go to any task: `migrate` too.
#[tokio::test]
async fn migrate_can_run_on_a_spawned_task() {
    let storage = SqliteStorage::connect("sqlite::memory:").await.unwrap();
    let spawned = storage.clone();
    tokio::spawn(async move { spawned.migrate().await })
        .await
        .unwrap()
        .unwrap();
    let h = Harness::new(storage);
    assert!(h.pi.list(&h.admin).await.unwrap().is_empty());
}
