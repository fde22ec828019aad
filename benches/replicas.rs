//! Verification on PostgreSQL with the verification cache, next to `MemoryStorage` and to
//! PostgreSQL without a cache, in the same run: one task verifying in a loop
//! (`replicas/1_task/…`, time per verification), and 32 tasks on a 2-worker tokio runtime
//! (`replicas/32_tasks/…`, verifications per second, all tasks together).
//!
//! Needs `DATABASE_URL` (it skips without it) and feature `postgres`:
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --features postgres --bench replicas
//! ```
//!
//! 1,000 integrations per storage, in a schema of its own (dropped at the end), tokens
//! visited in a fixed random order. The cache is warmed by one pass first, so
//! `pg_cached` measures hits. Every service is driven the same way (awaited on the same
//! tokio runtime), so the comparison is of storage and cache alone.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use private_integrations::storage::sqlx::{self, AssertSqlSafe, Connection};
use private_integrations::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

const INTEGRATIONS: usize = 1_000;
const TASKS: usize = 32;

/// One service under measurement and its tokens, in random order.
struct Subject {
    name: &'static str,
    pi: PrivateIntegrations,
    tokens: Arc<Vec<String>>,
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    subjects: Vec<Subject>,
    url: String,
    schema: String,
}

async fn fill(pi: &PrivateIntegrations) -> Vec<String> {
    let admin = Actor::admin(AccountId::new("acct_bench"), UserId::new("u_admin"));
    let mut tokens = Vec::with_capacity(INTEGRATIONS);
    for i in 0..INTEGRATIONS {
        let new = NewIntegration::new(format!("Integration {i}")).scopes(["contacts.readonly"]);
        tokens.push(
            pi.create(&admin, new)
                .await
                .unwrap()
                .token
                .expose_secret()
                .to_owned(),
        );
    }
    tokens.shuffle(&mut StdRng::seed_from_u64(42));
    tokens
}

impl Fixture {
    fn new() -> Option<Self> {
        let url = std::env::var("DATABASE_URL").ok()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let schema = format!("pi_bench_{}", std::process::id());
        let subjects = runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let create = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}");
            sqlx::raw_sql(AssertSqlSafe(create))
                .execute(&mut conn)
                .await
                .unwrap();
            let storage = PostgresStorage::new(support::pool_on(&url, &schema).await);
            storage.migrate().await.unwrap();
            let build = |cache: VerificationCache| {
                PrivateIntegrations::builder(storage.clone())
                    .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
                    .verification_cache(cache)
                    .build()
            };
            let uncached = build(VerificationCache::disabled());
            let cached = build(VerificationCache::new());
            let memory = PrivateIntegrations::builder(MemoryStorage::new())
                .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
                .build();
            let pg_tokens = Arc::new(fill(&uncached).await);
            let memory_tokens = Arc::new(fill(&memory).await);
            // Warm the cache; again while the creates' announcements, arriving meanwhile,
            // evict what was warmed before them.
            for _ in 0..100 {
                if cached.cache_stats().unwrap().entries == INTEGRATIONS as u64 {
                    break;
                }
                for token in pg_tokens.iter() {
                    cached.verify(token).await.expect("warm the cache");
                }
            }
            assert_eq!(
                cached.cache_stats().unwrap().entries,
                INTEGRATIONS as u64,
                "every token cached"
            );
            vec![
                Subject {
                    name: "memory",
                    pi: memory,
                    tokens: memory_tokens,
                },
                Subject {
                    name: "pg_cached",
                    pi: cached,
                    tokens: Arc::clone(&pg_tokens),
                },
                Subject {
                    name: "pg_uncached",
                    pi: uncached,
                    tokens: pg_tokens,
                },
            ]
        });
        Some(Self {
            runtime,
            subjects,
            url,
            schema,
        })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for subject in &self.subjects {
            self.runtime.block_on(subject.pi.shutdown());
        }
        self.runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
            sqlx::raw_sql(AssertSqlSafe(drop))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    }
}

/// `count` verifications by one task, from token `offset` on.
async fn verify_many(pi: &PrivateIntegrations, tokens: &[String], offset: usize, count: u64) {
    for i in 0..count as usize {
        let token = &tokens[(offset + i) % tokens.len()];
        assert!(black_box(pi.verify(token).await).is_ok());
    }
}

fn replicas(c: &mut Criterion) {
    let Some(fixture) = Fixture::new() else {
        eprintln!("replicas: DATABASE_URL is not set; skipped");
        return;
    };
    let runtime = &fixture.runtime;

    let mut group = c.benchmark_group("replicas/1_task");
    for subject in &fixture.subjects {
        if subject.name == "pg_uncached" {
            // A database round trip each: fewer, longer samples.
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_function(subject.name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    verify_many(&subject.pi, &subject.tokens, 0, iters).await;
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("replicas/32_tasks");
    group.throughput(Throughput::Elements(1));
    for subject in &fixture.subjects {
        if subject.name == "pg_uncached" {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_function(BenchmarkId::from_parameter(subject.name), |b| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(TASKS as u64);
                let elapsed = runtime.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|task| {
                            let (pi, tokens) = (subject.pi.clone(), Arc::clone(&subject.tokens));
                            let offset = task * tokens.len() / TASKS;
                            tokio::spawn(async move {
                                verify_many(&pi, &tokens, offset, per_task).await;
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    start.elapsed()
                });
                // Scaled to `iters`, so Criterion's elem/s is all tasks' throughput.
                elapsed.mul_f64(iters as f64 / (per_task * TASKS as u64) as f64)
            })
        });
    }
    group.finish();
    let stats = fixture.subjects[1].pi.cache_stats().unwrap();
    eprintln!("pg_cached: {stats:?}");
}

criterion_group!(benches, replicas);
criterion_main!(benches);
