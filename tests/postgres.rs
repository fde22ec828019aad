//! What only `PostgresStorage` can show: replicas racing on one database, migrations
//! beside the host's and from replicas at once, a database that is down, a corrupt row,
//! and errors that never quote a token hash.
//!
//! Each test works in a schema of its own; without `DATABASE_URL` they say why and skip,
//! except under `CI=true`, where they fail.
#![cfg(feature = "postgres")]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use private_integrations::storage::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use private_integrations::storage::sqlx::{self, AssertSqlSafe, Row};
use private_integrations::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use support::*;

/// This crate's PostgreSQL migrations: version and description.
const MIGRATIONS: [(i64, &str); 10] = [
    (1, "initial"),
    (2, "audit by integration"),
    (3, "announce changes"),
    (4, "idempotency keys"),
    (5, "name search"),
    (6, "listing counts"),
    (7, "leaked tokens"),
    (8, "audit retention"),
    (9, "rotation finish"),
    (10, "token uses"),
];

/// A service replica: its own pool on the shared schema, the system clock.
async fn replica(url: &str, schema: &str) -> PrivateIntegrations {
    let storage = PostgresStorage::new(pool_on(url, schema).await);
    storage.migrate().await.expect("migrate");
    PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .build()
}

/// One successful action of the race.
struct Success {
    integration: usize,
    action: AuditAction,
    /// The version the action wrote (none for a delete).
    version: Option<u64>,
    /// The token a rotation issued.
    token: Option<IssuedToken>,
}

const TASKS: u64 = 16;
const ACTIONS_PER_TASK: u64 = 20;
const INTEGRATIONS: usize = 3;

/// Two replicas with separate pools race every lifecycle action on a few integrations
/// from many tasks. Afterwards, replaying the successful actions in version order on the
/// state machine gives each integration's state: exactly the tokens that state allows
/// verify, on both replicas, and the audit log holds exactly one event per success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_racing_on_one_database_lose_nothing() {
    let Some((url, schema)) = postgres_schema().await else {
        return;
    };
    let replicas = [replica(&url, &schema).await, replica(&url, &schema).await];
    let admin = Actor::admin(AccountId::new("acct_race"), UserId::new("u_admin"));

    let mut ids = Vec::new();
    let mut first_tokens = Vec::new();
    for n in 0..INTEGRATIONS {
        let created = replicas[n % 2]
            .create(
                &admin,
                NewIntegration::new(format!("Raced {n}")).scopes(["contacts.readonly"]),
            )
            .await
            .unwrap();
        ids.push(created.integration.id().clone());
        first_tokens.push(created.token);
    }
    let ids = Arc::new(ids);

    // A race is random: should one kind of action never win a round (it happens, rarely),
    // race again, up to three more rounds, so that every kind is exercised under the race.
    let mut successes: Vec<Success> = Vec::new();
    for round in 0..4 {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let pi = replicas[(task % 2) as usize].clone();
                let (admin, ids) = (admin.clone(), Arc::clone(&ids));
                tokio::spawn(async move {
                    let mut rng = StdRng::seed_from_u64(task + round * TASKS);
                    let mut successes = Vec::new();
                    for step in 0..ACTIONS_PER_TASK {
                        let n = rng.random_range(0..INTEGRATIONS);
                        let id = &ids[n];
                        // Deletes come late, and never to the first integration, so the race
                        // keeps going on live integrations.
                        let choice = if step >= ACTIONS_PER_TASK * 3 / 4 && n != 0 {
                            rng.random_range(0..6)
                        } else {
                            rng.random_range(0..5)
                        };
                        let result: Result<Success, Error> = match choice {
                            0 | 1 => {
                                let mode = if choice == 0 {
                                    RotationMode::ExpireLater
                                } else {
                                    RotationMode::ExpireNow
                                };
                                pi.rotate(&admin, id, mode).await.map(|r| Success {
                                    integration: n,
                                    action: AuditAction::Rotated { mode },
                                    version: Some(r.integration.version()),
                                    token: Some(r.token),
                                })
                            }
                            2 => pi.cancel_rotation(&admin, id).await.map(|i| Success {
                                integration: n,
                                action: AuditAction::RotationCancelled,
                                version: Some(i.version()),
                                token: None,
                            }),
                            3 => pi.expire_previous_now(&admin, id).await.map(|i| Success {
                                integration: n,
                                action: AuditAction::PreviousExpired,
                                version: Some(i.version()),
                                token: None,
                            }),
                            4 => pi
                                .update(
                                    &admin,
                                    id,
                                    IntegrationUpdate::new()
                                        .description(format!("task {task} step {step}")),
                                )
                                .await
                                .map(|i| Success {
                                    integration: n,
                                    action: AuditAction::Updated,
                                    version: Some(i.version()),
                                    token: None,
                                }),
                            _ => {
                                // An admin who means to delete retries a lost race.
                                let mut result = pi.delete(&admin, id).await;
                                for _ in 0..50 {
                                    if !matches!(result, Err(Error::Conflict)) {
                                        break;
                                    }
                                    result = pi.delete(&admin, id).await;
                                }
                                result.map(|()| Success {
                                    integration: n,
                                    action: AuditAction::Deleted,
                                    version: None,
                                    token: None,
                                })
                            }
                        };
                        match result {
                            Ok(success) => successes.push(success),
                            Err(
                                Error::Conflict
                                | Error::RotationInProgress
                                | Error::NoRotationInProgress
                                | Error::NotFound,
                            ) => {}
                            Err(other) => panic!("task {task} step {step}: {other:?}"),
                        }
                    }
                    successes
                })
            })
            .collect();
        for task in tasks {
            successes.extend(task.await.expect("a racing task panicked"));
        }
        let kinds: std::collections::BTreeSet<String> = successes
            .iter()
            .map(|s| format!("{:?}", s.action))
            .collect();
        if kinds.len() == 6 {
            break;
        }
        eprintln!("round {round}: only {kinds:?} won; racing again");
    }
    assert!(
        successes.len() as u64 > TASKS,
        "the race barely made progress: {} successes",
        successes.len()
    );

    eprintln!(
        "{} racing actions succeeded (of {} per round)",
        successes.len(),
        TASKS * ACTIONS_PER_TASK
    );

    // Replay each integration's successes, in the order their versions give, on the
    // state machine of DESIGN §2.
    let mut tokens_of: Vec<Vec<IssuedToken>> = first_tokens.into_iter().map(|t| vec![t]).collect();
    let mut history: Vec<Vec<(u64, AuditAction, Option<usize>)>> = vec![Vec::new(); INTEGRATIONS];
    let mut deletes = [0; INTEGRATIONS];
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for success in successes {
        *counts.entry(format!("{:?}", success.action)).or_default() += 1;
        let n = success.integration;
        let token = success.token.map(|t| {
            tokens_of[n].push(t);
            tokens_of[n].len() - 1
        });
        match success.version {
            Some(version) => history[n].push((version, success.action, token)),
            None => deletes[n] += 1,
        }
    }
    let pi = &replicas[0];
    for n in 0..INTEGRATIONS {
        history[n].sort_by_key(|(version, ..)| *version);
        let versions: Vec<u64> = history[n].iter().map(|(v, ..)| *v).collect();
        let expected: Vec<u64> = (2..2 + versions.len() as u64).collect();
        assert_eq!(
            versions, expected,
            "integration {n}: versions skipped or repeated"
        );

        // (current, previous) as indexes into tokens_of[n].
        let (mut current, mut previous): (usize, Option<usize>) = (0, None);
        for (version, action, token) in &history[n] {
            match action {
                AuditAction::Rotated {
                    mode: RotationMode::ExpireLater,
                } => {
                    assert!(previous.is_none(), "v{version}: rotated while rotating");
                    previous = Some(current);
                    current = token.expect("a rotation issues a token");
                }
                AuditAction::Rotated {
                    mode: RotationMode::ExpireNow,
                } => {
                    previous = None;
                    current = token.expect("a rotation issues a token");
                }
                AuditAction::RotationCancelled => {
                    current = previous.take().expect("cancelled with no rotation");
                }
                AuditAction::PreviousExpired => {
                    previous.take().expect("expired with no rotation");
                }
                AuditAction::Updated => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let deleted = match deletes[n] {
            0 => false,
            1 => true,
            more => panic!("integration {n} was deleted {more} times"),
        };
        assert!(!(deleted && n == 0));

        match pi.get(&admin, &ids[n]).await {
            Ok(integration) => {
                assert!(!deleted, "integration {n} survived its delete");
                assert_eq!(integration.version(), 1 + history[n].len() as u64);
                assert_eq!(integration.pending_rotation().is_some(), previous.is_some());
            }
            Err(Error::NotFound) => assert!(deleted, "integration {n} vanished"),
            Err(other) => panic!("{other:?}"),
        }
        for (t, token) in tokens_of[n].iter().enumerate() {
            let live = !deleted && (t == current || Some(t) == previous);
            for replica in &replicas {
                match replica.verify(token.expose_secret()).await {
                    Ok(verified) => {
                        assert!(live, "integration {n}: dead token {t} verifies");
                        assert_eq!(verified.integration_id(), &ids[n]);
                    }
                    Err(VerifyError::Invalid) => {
                        assert!(!live, "integration {n}: live token {t} is refused")
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    }

    // Exactly one audit event per success (and per create), by kind.
    let log = pi.audit_log(&admin).await.unwrap();
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    for event in &log {
        *logged.entry(format!("{:?}", event.action)).or_default() += 1;
    }
    counts.insert(format!("{:?}", AuditAction::Created), INTEGRATIONS);
    assert_eq!(logged, counts, "audit events by kind");
    eprintln!("audit events by kind: {logged:?}");
    assert_eq!(
        logged.len(),
        7,
        "every kind of action won at least once: {logged:?}"
    );

    drop(replicas);
    drop_schema(&url, &schema).await;
}

/// Replicas starting at once all migrate: one applies, the others find nothing to do,
/// and none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_can_migrate_at_once() {
    let Some((url, schema)) = postgres_schema().await else {
        return;
    };
    let mut storages = Vec::new();
    for _ in 0..4 {
        storages.push(PostgresStorage::new(pool_on(&url, &schema).await));
    }
    let runs: Vec<_> = storages
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    for run in runs {
        run.await.unwrap().expect("a concurrent migrate failed");
    }
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM pi_migrations ORDER BY 1")
        .fetch_all(storages[0].pool())
        .await
        .unwrap();
    assert_eq!(applied, MIGRATIONS.map(|(version, _)| version));
    let h = Harness::new(storages.pop().unwrap());
    let (_, token) = h.create("After the rush", &["contacts.readonly"]).await;
    assert!(h.verifies(&token).await);
    drop(h);
    drop(storages);
    drop_schema(&url, &schema).await;
}

/// In the host's own schema, beside the host's `_sqlx_migrations` and its tables named
/// like ours but for the prefix, in either order: each history sees only its own
/// migrations, and every table of this crate is prefixed `pi_`.
#[tokio::test]
async fn tables_live_beside_the_hosts() {
    for host_first in [true, false] {
        let Some((url, schema)) = postgres_schema().await else {
            return;
        };
        let pool = pool_on(&url, &schema).await;
        let storage = PostgresStorage::new(pool.clone());
        if host_first {
            host_migrator().run(&pool).await.unwrap();
            storage.migrate().await.unwrap();
        } else {
            storage.migrate().await.unwrap();
            host_migrator().run(&pool).await.unwrap();
        }
        storage.migrate().await.unwrap();
        host_migrator().run(&pool).await.unwrap();

        for (table, expected) in [
            ("_sqlx_migrations", &[(1, "host tables")][..]),
            ("pi_migrations", &MIGRATIONS[..]),
        ] {
            let rows: Vec<(i64, String)> = sqlx::query(AssertSqlSafe(format!(
                "SELECT version, description FROM {table} ORDER BY version"
            )))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
            let expected: Vec<(i64, String)> =
                expected.iter().map(|(v, d)| (*v, d.to_string())).collect();
            assert_eq!(rows, expected, "{table}");
        }
        let tables: Vec<String> = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
        )
        .bind(&schema)
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
        pool.close().await;
        drop_schema(&url, &schema).await;
    }
}

/// A closed pool: management calls are `Error::Storage`, verification
/// `VerifyError::Storage`.
/// Every row of every table of ours, after every kind of token was issued, holds no
/// piece of any secret.
#[tokio::test]
async fn the_tables_hold_no_secret() {
    let storage = postgres_or_skip!();
    let h = Harness::new(storage.clone());
    let tokens = issue_tokens_of_every_kind(&h).await;
    let mut dump = String::new();
    for table in [
        "pi_integrations",
        "pi_tokens",
        "pi_audit_events",
        "pi_account_settings",
        "pi_account_counts",
        "pi_permissions",
        "pi_migrations",
        "pi_token_uses",
    ] {
        let rows: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT coalesce(string_agg(row_to_json(t)::text, E'\\n'), '') FROM {table} t"
        )))
        .fetch_one(storage.pool())
        .await
        .expect("dump a table");
        dump.push_str(&rows);
    }
    assert!(
        dump.contains("Kept"),
        "the dump should hold the integration's row"
    );
    assert_no_secret_at_rest(dump.as_bytes(), &tokens);
}

#[tokio::test]
async fn a_closed_pool_fails_closed() {
    let storage = crate::postgres_or_skip!();
    let h = Harness::new(storage.clone());
    let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
    assert!(h.verifies(&token).await);
    storage.pool().close().await;
    assert_database_down(&h, &id, &token).await;
}

/// A server that is not there (nothing listens on port 1): every call fails closed
/// within the pool's acquire timeout. Needs no database.
#[tokio::test]
async fn an_unreachable_server_fails_closed() {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(1)
        .username("nobody")
        .database("nothing");
    let pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy_with(options);
    let storage = PostgresStorage::new(pool);
    assert!(matches!(
        storage.migrate().await,
        Err(StorageError::Backend(_))
    ));
    // A token that could be real: its shape is right, only storage can refuse it.
    let memory = Harness::new(MemoryStorage::new());
    let (id, token) = memory.create("Elsewhere", &["contacts.readonly"]).await;
    let h = Harness::new(storage);
    assert_database_down(&h, &id, &token).await;
}

/// A stored token hash of the wrong length is a storage error on every read path.
#[tokio::test]
async fn a_corrupt_row_is_a_storage_error() {
    let storage = crate::postgres_or_skip!();
    assert_wrong_hash_lengths_refused(storage.clone(), storage.pool()).await;
}

/// When the database refuses a write, the error names the refusal but never quotes the
/// row: PostgreSQL's detail ("Failing row contains …") would show the token hash.
#[tokio::test]
async fn database_errors_never_quote_a_token_hash() {
    let storage = crate::postgres_or_skip!();
    sqlx::query("ALTER TABLE pi_integrations ADD CONSTRAINT refuse_all CHECK (version < 0)")
        .execute(storage.pool())
        .await
        .unwrap();
    let (token_id, hash, _token) = TokenFormat::default()
        .issue(&mut rand::rngs::SysRng)
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let record = storage::IntegrationRecord {
        id: IntegrationId::generate(&mut rand::rngs::SysRng).unwrap(),
        account: AccountId::new("acct_1"),
        name: "Refused".into(),
        description: "".into(),
        scopes: private_integrations::storage::StoredScopes::new(["contacts.readonly"]),
        credentials: storage::Credentials::new(storage::TokenCredential {
            id: token_id,
            hash,
            issued_at: now,
        }),
        created_at: now,
        updated_at: now,
        version: 1,
        last_used: Default::default(),
    };
    let event = AuditEvent {
        account: record.account.clone(),
        actor: UserId::new("u_admin"),
        integration: Some(record.id.clone()),
        action: AuditAction::Created,
        at: now,
    };
    let err = storage.insert(&record, (&event).into()).await.unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, StorageError::Backend(_)), "{text}");
    assert!(text.contains("23514"), "names the refusal: {text}");
    assert!(text.contains("refuse_all"), "names the constraint: {text}");
    let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&hex), "quotes the hash: {text}");
    assert!(
        !text.contains(&hex[..16]),
        "quotes part of the hash: {text}"
    );
    assert!(!text.contains("Failing row"), "quotes the row: {text}");
}

/// Loads `count` integrations into `account` in SQL (triggers off: a bench's load, not a
/// change to announce; so the account's count is then set from the rows, as migration 6
/// says to after such a load): names `Integration {n}`, one in a thousand
/// `Zapier sync {n}`; created ten minutes apart; one in a hundred rotating, three in ten
/// due for rotation; no two tokens issued at the same second, as in life (equal keys
/// would make the indexes smaller than real ones).
async fn load_integrations(pool: &sqlx::PgPool, account: &str, count: i64) {
    let mut conn = pool.acquire().await.unwrap();
    for statement in [
        "SET session_replication_role = replica",
        "INSERT INTO pi_integrations (id, account, name, name_folded, description, scopes, \
         current_token_id, current_token_hash, current_issued_at, \
         previous_token_id, previous_token_hash, previous_issued_at, previous_expires_at, \
         created_at, updated_at, version) \
         SELECT substr(md5($1 || 'i' || n), 1, 16), $1, v.name, lower(v.name), '', \
         '[\"contacts.readonly\"]', \
         substr(md5($1 || 't' || n), 1, 16), decode(md5('h' || n) || md5('k' || n), 'hex'), \
         CASE WHEN n % 10 < 3 THEN now() - interval '100 days' \
              ELSE now() - (n % 80) * interval '1 day' END - n * interval '1 second', \
         CASE WHEN n % 100 = 0 THEN substr(md5($1 || 'p' || n), 1, 16) END, \
         CASE WHEN n % 100 = 0 THEN decode(md5('p' || n) || md5('q' || n), 'hex') END, \
         CASE WHEN n % 100 = 0 THEN now() - interval '100 days' END, \
         CASE WHEN n % 100 = 0 THEN now() + interval '3 days' - n * interval '1 second' END, \
         now() - ($2 - n) * interval '10 minutes', now() - ($2 - n) * interval '10 minutes', 1 \
         FROM generate_series(1, $2) AS n, \
         LATERAL (SELECT CASE WHEN n % 1000 = 0 THEN 'Zapier sync ' || n \
                              ELSE 'Integration ' || n END AS name) v",
        "INSERT INTO pi_tokens (token_id, integration_id) \
         SELECT current_token_id, id FROM pi_integrations WHERE account = $1 \
         UNION ALL SELECT previous_token_id, id FROM pi_integrations \
         WHERE account = $1 AND previous_token_id IS NOT NULL",
        "RESET session_replication_role",
        "INSERT INTO pi_account_counts AS c (account, integrations) \
         SELECT account, count(*) FROM pi_integrations WHERE account = $1 GROUP BY account \
         ON CONFLICT (account) DO UPDATE SET integrations = excluded.integrations",
    ] {
        let mut query = sqlx::query(statement);
        if statement.contains("$1") {
            query = query.bind(account);
        }
        if statement.contains("$2") {
            query = query.bind(count);
        }
        query.execute(&mut *conn).await.unwrap();
    }
    sqlx::query("VACUUM ANALYZE pi_integrations")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE pi_tokens")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// One page of a 100,000-integration account, through the service (the permission read
/// included), page and total: the median and 95th percentile of 200 reads of each query,
/// after 20 to warm up. Figures in BENCHMARKS.md ("Many integrations").
///
/// `DATABASE_URL=… cargo test --release --all-features --test postgres
/// many_integrations_one_page -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a benchmark: loads 120,000 integrations"]
async fn many_integrations_one_page() {
    let Some((url, schema)) = postgres_schema().await else {
        return;
    };
    let pool = pool_on(&url, &schema).await;
    let storage = PostgresStorage::new(pool.clone());
    storage.migrate().await.unwrap();
    let started = std::time::Instant::now();
    load_integrations(&pool, "acct_big", 100_000).await;
    load_integrations(&pool, "acct_other", 20_000).await;
    println!("loaded in {:?}", started.elapsed());
    let pi = PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
        .build();
    let admin = Actor::admin(AccountId::new("acct_big"), UserId::new("u_admin"));
    let deep = {
        // The cursor after 1,000 pages of 50 newest first: the middle of the account.
        let mut request = PageRequest::new().limit(200);
        for _ in 0..250 {
            let page = pi
                .list_query(&admin, IntegrationQuery::new().page(request.clone()))
                .await
                .unwrap();
            request = request.after(page.next.unwrap());
        }
        request.cursor().unwrap().clone()
    };
    let page = |query: IntegrationQuery| query.page(PageRequest::new().limit(50));
    // Each query with its exact total: tokens of three in ten are old (n % 10 < 3), one
    // in a hundred is rotating (n % 100 = 0, old ones: rotating, not due), the rest are
    // active; one in a thousand is named "Zapier sync" (n % 1000 = 0: rotating).
    let cases: Vec<(&str, IntegrationQuery, u64)> = vec![
        (
            "newest first, first page",
            page(IntegrationQuery::new()),
            100_000,
        ),
        (
            "oldest first, first page",
            page(IntegrationQuery::new().oldest_first()),
            100_000,
        ),
        (
            "newest first, page 1,001 (cursor)",
            IntegrationQuery::new().page(PageRequest::new().limit(50).after(deep)),
            100_000,
        ),
        (
            "search \"zapier\" (100 match)",
            page(IntegrationQuery::new().name_contains("zapier")),
            100,
        ),
        (
            "search \"sync 99\" (1 matches)",
            page(IntegrationQuery::new().name_contains("sync 99")),
            1,
        ),
        (
            "search, no match",
            page(IntegrationQuery::new().name_contains("no such name")),
            0,
        ),
        (
            "state active",
            page(IntegrationQuery::new().state(IntegrationState::Active)),
            70_000,
        ),
        (
            "state rotating (1 %)",
            page(IntegrationQuery::new().state(IntegrationState::Rotating)),
            1_000,
        ),
        (
            "state rotation due",
            page(IntegrationQuery::new().state(IntegrationState::RotationDue)),
            29_000,
        ),
        (
            "search \"zapier\" and rotation due",
            page(
                IntegrationQuery::new()
                    .name_contains("zapier")
                    .state(IntegrationState::RotationDue),
            ),
            0,
        ),
    ];
    println!("| query | items | total | median | p95 |");
    println!("|---|---:|---:|---:|---:|");
    for (what, query, expected) in cases {
        let mut times = Vec::new();
        let mut last = None;
        for n in 0..220 {
            let started = std::time::Instant::now();
            let page = pi.list_query(&admin, query.clone()).await.unwrap();
            if n >= 20 {
                times.push(started.elapsed());
            }
            last = Some(page);
        }
        times.sort();
        let last = last.unwrap();
        assert_eq!(last.total, Some(expected), "{what}: the exact total");
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {what} | {} | {} | {:.2} ms | {:.2} ms |",
            last.items.len(),
            last.total.unwrap(),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100]),
        );
    }
    for (what, sql) in [
        (
            "page, search",
            "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM pi_integrations i WHERE i.account = 'acct_big' \
             AND (i.name_folded LIKE '%no such%' ESCAPE '\\' \
             OR (i.name_folded IS NULL AND lower(i.name) LIKE '%no such%' ESCAPE '\\')) \
             ORDER BY i.created_at DESC, i.id DESC LIMIT 51",
        ),
        (
            "count, search",
            "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM pi_integrations i WHERE i.account = 'acct_big' \
             AND (i.name_folded LIKE '%no such%' ESCAPE '\\' \
             OR (i.name_folded IS NULL AND lower(i.name) LIKE '%no such%' ESCAPE '\\'))",
        ),
        (
            "page, rotating",
            "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM pi_integrations i WHERE i.account = 'acct_big' \
             AND i.previous_expires_at > now() ORDER BY i.created_at DESC, i.id DESC LIMIT 51",
        ),
        (
            "total, active (as the crate counts it)",
            "EXPLAIN (ANALYZE, BUFFERS) SELECT coalesce((SELECT c.integrations \
             FROM pi_account_counts c WHERE c.account = 'acct_big'), 0) \
             - (SELECT count(*) FROM pi_integrations i WHERE i.account = 'acct_big' \
                AND i.current_issued_at <= now() - interval '90 days') \
             - (SELECT count(*) FROM pi_integrations i WHERE i.account = 'acct_big' \
                AND i.previous_expires_at > now() \
                AND i.current_issued_at > now() - interval '90 days') AS total",
        ),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        println!("{what}:\n  {}", plan.join("\n  "));
    }
}
