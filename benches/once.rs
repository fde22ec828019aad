//! What an idempotency key costs a `create`: `create` without a key next to
//! `once(&admin, &key).create(…)` with a fresh key each time (the key's record is read
//! first, then stored in the create's own transaction), on the same backend, in the same
//! run: `MemoryStorage` for reference, `SqliteStorage` on a file, `PostgresStorage`.
//!
//! Needs features `sqlite` and `postgres`; the PostgreSQL group needs `DATABASE_URL`
//! (skipped without it):
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features sqlite,postgres --bench once
//! ```
//!
//! One task creating in a loop, time per create; every create adds an integration (and a
//! key record), so both variants run on tables growing the same way (the keyed one
//! second, on slightly larger tables). On a shared or busy machine run it more than
//! once: database round trips vary from run to run far more than the key's cost.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use private_integrations::*;

/// A service under measurement.
struct Subject {
    name: &'static str,
    pi: PrivateIntegrations,
    /// Small groups for the storages that go to disk or the network.
    slow: bool,
}

/// The PostgreSQL schema to drop at the end.
struct Schema {
    url: String,
    schema: String,
}

fn service(storage: impl Storage) -> PrivateIntegrations {
    PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
        .build()
}

async fn subjects() -> (Vec<Subject>, Option<Schema>) {
    let mut subjects = vec![
        Subject {
            name: "memory",
            pi: service(MemoryStorage::new()),
            slow: false,
        },
        Subject {
            name: "sqlite_file",
            pi: service(support::sqlite_file().await.0),
            slow: true,
        },
    ];
    let mut schema = None;
    if std::env::var("DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        let (url, name) = support::postgres_schema()
            .await
            .expect("DATABASE_URL is set");
        let storage = PostgresStorage::new(support::pool_on(&url, &name).await);
        storage.migrate().await.unwrap();
        subjects.push(Subject {
            name: "postgres",
            pi: service(storage),
            slow: true,
        });
        schema = Some(Schema { url, schema: name });
    } else {
        eprintln!("once: DATABASE_URL is not set; PostgreSQL skipped");
    }
    (subjects, schema)
}

fn new_integration() -> NewIntegration {
    NewIntegration::new("Zapier sync")
        .description("Pushes contacts")
        .scopes(["contacts.readonly"])
}

fn once(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (subjects, schema) = runtime.block_on(subjects());
    let admin = Actor::admin(AccountId::new("acct_bench"), UserId::new("u_admin"));
    let keys = AtomicU64::new(0);

    for subject in &subjects {
        let mut group = c.benchmark_group(format!("once/create/{}", subject.name));
        if subject.slow {
            group.sample_size(20);
        }
        let pi = &subject.pi;
        group.bench_function("no_key", |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        pi.create(&admin, new_integration()).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function("fresh_key", |b| {
            b.iter_custom(|iters| {
                // The keys are made outside the measurement.
                let keys: Vec<IdempotencyKey> = (0..iters)
                    .map(|_| {
                        let n = keys.fetch_add(1, Ordering::Relaxed);
                        IdempotencyKey::new(&format!("bench-{n}")).unwrap()
                    })
                    .collect();
                runtime.block_on(async {
                    let start = Instant::now();
                    for key in &keys {
                        let outcome = pi.once(&admin, key).create(new_integration()).await;
                        assert!(matches!(outcome, Ok(Outcome::Done(_))));
                    }
                    start.elapsed()
                })
            })
        });
        group.finish();
    }

    runtime.block_on(async {
        for subject in &subjects {
            subject.pi.shutdown().await;
        }
        if let Some(Schema { url, schema }) = &schema {
            support::drop_schema(url, schema).await;
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = once
}
criterion_main!(benches);
