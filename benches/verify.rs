//! Verification speed, next to the floor of the work it must do and next to peers.
//!
//! `cargo bench --bench verify` runs it all; `BENCHMARKS.md` holds the figures.
//!
//! - `verify/{1k,1m}/…`: `PrivateIntegrations::verify` on `MemoryStorage` with 1,000 and
//!   1,000,000 integrations, tokens visited in a fixed random order: a valid token, a
//!   wrong secret at a known id, an unknown id, a bad checksum; and
//!   `verify/1k_recorded/valid`, a valid token on a service that records last used and
//!   counts uses (built on a tokio runtime).
//! - `floor/…`: the work verification cannot avoid, done by hand: SHA-256 of the 43
//!   secret characters, and SHA-256 plus a lookup in a plain map of the same size; and
//!   `TokenFormat::hash`, the digest verification computes, for comparison.
//! - `peers/…`: the same valid-token check as the `prefixed-api-key` crate does it (its
//!   keys in a `HashMap`), and an Argon2id-hashed key as password-hashing API-key crates
//!   do it.
//! - `throughput/{1,2}_threads`: verifications per second with 1 and 2 reader threads
//!   while a third thread rotates and edits integrations all along (3,000 changes/s).
//! - `scaling/{hot_token,distinct_tokens,hot_token_last_used}/{1,2}_threads`:
//!   verifications per second of one token verified by every thread at once (one large
//!   integration sending most of the traffic), of 1,000 tokens, each thread on its own
//!   part, and of the hot token with last used recorded and uses counted; no writer.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use private_integrations::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};
use support::{ready, unknown_id, wrong_secret};

/// A service with `n` integrations of one account, and their tokens in random order.
struct Fixture {
    pi: PrivateIntegrations,
    admin: Actor,
    ids: Vec<IntegrationId>,
    tokens: Vec<String>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        Self::on(Self::service(), n)
    }

    fn service() -> PrivateIntegrations {
        PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
            .build()
    }

    /// `n` integrations created on `pi`, outside any runtime (where a write runs in the
    /// call itself, so `ready` completes it).
    fn on(pi: PrivateIntegrations, n: usize) -> Self {
        let admin = Actor::admin(AccountId::new("acct_bench"), UserId::new("u_admin"));
        let mut ids = Vec::with_capacity(n);
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            let new = NewIntegration::new(format!("Integration {i}")).scopes(["contacts.readonly"]);
            let created = ready(pi.create(&admin, new)).unwrap();
            ids.push(created.integration.id().clone());
            tokens.push(created.token.expose_secret().to_owned());
        }
        tokens.shuffle(&mut StdRng::seed_from_u64(42));
        Self {
            pi,
            admin,
            ids,
            tokens,
        }
    }
}

/// Cycles through `items` in order, one per call.
struct Cycle<'a, T> {
    items: &'a [T],
    next: usize,
}

impl<'a, T> Cycle<'a, T> {
    fn new(items: &'a [T]) -> Self {
        Self { items, next: 0 }
    }

    fn next(&mut self) -> &'a T {
        let item = &self.items[self.next];
        self.next = (self.next + 1) % self.items.len();
        item
    }
}

/// Every token kind of one fixture size, and the floor's plain map, built on first use
/// (so a filtered run does not build the 1,000,000-integration fixture for nothing).
struct Cases {
    fixture: Fixture,
    wrong_secret: Vec<String>,
    unknown_id: Vec<String>,
    bad_checksum: Vec<String>,
    floor_map: HashMap<[u8; 16], [u8; 32], foldhash::fast::RandomState>,
}

impl Cases {
    fn new(n: usize) -> Self {
        let fixture = Fixture::new(n);
        let valid = &fixture.tokens;
        let bad_checksum = valid
            .iter()
            .map(|t| {
                let mut t = t.clone();
                let last = if t.ends_with('0') { "1" } else { "0" };
                t.replace_range(t.len() - 1.., last);
                t
            })
            .collect();
        let floor_map = valid
            .iter()
            .map(|t| {
                let id: [u8; 16] = t.as_bytes()[4..20].try_into().unwrap();
                (id, Sha256::digest(&t.as_bytes()[21..64]).into())
            })
            .collect();
        Self {
            wrong_secret: valid.iter().map(|t| wrong_secret(t)).collect(),
            unknown_id: valid.iter().map(|t| unknown_id(t)).collect(),
            bad_checksum,
            floor_map,
            fixture,
        }
    }
}

/// Picks one kind of token out of the cases.
type TokensOf = fn(&Cases) -> &[String];

fn verify(c: &mut Criterion) {
    for (label, n) in [("1k", 1_000), ("1m", 1_000_000)] {
        let lazy = std::sync::OnceLock::new();
        let cases = || lazy.get_or_init(|| Cases::new(n));

        let mut group = c.benchmark_group(format!("verify/{label}"));
        group.throughput(Throughput::Elements(1));
        let kinds: [(&str, TokensOf, bool); 4] = [
            ("valid", |c| &c.fixture.tokens, true),
            ("wrong_secret", |c| &c.wrong_secret, false),
            ("unknown_id", |c| &c.unknown_id, false),
            ("bad_checksum", |c| &c.bad_checksum, false),
        ];
        for (kind, tokens_of, ok) in kinds {
            group.bench_function(kind, |b| {
                let cases = cases();
                let pi = &cases.fixture.pi;
                let tokens = tokens_of(cases);
                assert_eq!(ready(pi.verify(&tokens[0])).is_ok(), ok, "{kind}");
                let mut cycle = Cycle::new(tokens);
                b.iter(|| black_box(ready(pi.verify(black_box(cycle.next()))).is_ok()))
            });
        }
        group.finish();

        // The floor: the same hashing and a lookup in a plain map of the same size.
        let mut group = c.benchmark_group(format!("floor/{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("sha256_plus_lookup", |b| {
            let cases = cases();
            let map = &cases.floor_map;
            let mut cycle = Cycle::new(&cases.fixture.tokens);
            b.iter(|| {
                let t = black_box(cycle.next()).as_bytes();
                let id: &[u8; 16] = t[4..20].try_into().unwrap();
                let digest: [u8; 32] = Sha256::digest(&t[21..64]).into();
                black_box(map.get(id) == Some(&digest))
            })
        });
        group.finish();
    }

    // A valid token with last used and use counts recorded, as a service built on a
    // tokio runtime does (its writer is never polled here: the interval never ends, so
    // each token's first use notes it, and every use counts on the thread's table).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let recording = {
        let pi = {
            let _entered = runtime.enter();
            Fixture::service()
        };
        Fixture::on(pi, 1_000)
    };
    let mut group = c.benchmark_group("verify/1k_recorded");
    group.throughput(Throughput::Elements(1));
    group.bench_function("valid", |b| {
        let pi = &recording.pi;
        assert!(ready(pi.verify(&recording.tokens[0])).is_ok());
        let mut cycle = Cycle::new(&recording.tokens);
        b.iter(|| black_box(ready(pi.verify(black_box(cycle.next()))).is_ok()))
    });
    group.finish();

    let secret = [b'x'; 43];
    c.bench_function("floor/sha256_of_the_secret", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&secret))))
    });
    // The digest verification computes (the prefix's tag and the secret, one block), for
    // comparison with the floor's SHA-256 through `sha2`'s `Digest` API.
    let format = TokenFormat::default();
    c.bench_function("floor/token_format_hash", |b| {
        b.iter(|| black_box(format.hash(black_box(&secret))))
    });
}

fn peers(c: &mut Criterion) {
    use prefixed_api_key::{PrefixedApiKey, PrefixedApiKeyController};

    let ours = Fixture::new(1_000);
    let mut cycle = Cycle::new(&ours.tokens);
    let mut group = c.benchmark_group("peers");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ours", |b| {
        b.iter(|| black_box(ready(ours.pi.verify(black_box(cycle.next()))).is_ok()))
    });

    // prefixed-api-key: parse, look the short token up in a map, hash and compare hex.
    let controller = PrefixedApiKeyController::configure()
        .prefix("pak".to_owned())
        .seam_defaults()
        .finalize()
        .unwrap();
    let mut keys = Vec::new();
    let mut stored: HashMap<String, String> = HashMap::new();
    for _ in 0..1_000 {
        let (key, hash) = controller.generate_key_and_hash();
        stored.insert(key.short_token().to_owned(), hash);
        keys.push(key.to_string());
    }
    let mut cycle = Cycle::new(&keys);
    group.bench_function("prefixed_api_key", |b| {
        b.iter(|| {
            let key = PrefixedApiKey::from_string(black_box(cycle.next())).unwrap();
            let hash = stored.get(key.short_token()).unwrap();
            black_box(controller.check_hash(&key, hash))
        })
    });

    // An Argon2id-hashed key, as password-hashing API-key crates check it.
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    let argon = argon2::Argon2::default();
    let key = "pak_0123456789abcdef0123456789abcdef0123456789abcdef";
    let parsed: argon2::password_hash::phc::PasswordHash =
        argon.hash_password(key.as_bytes()).unwrap();
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("argon2id", |b| {
        b.iter(|| {
            black_box(
                argon
                    .verify_password(black_box(key.as_bytes()), &parsed)
                    .is_ok(),
            )
        })
    });
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let fixture = Arc::new(Fixture::new(100_000));
    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{threads}_threads")),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let stop = Arc::new(AtomicBool::new(false));
                    let writes = Arc::new(AtomicU64::new(0));
                    let writer = {
                        let (fixture, stop) = (Arc::clone(&fixture), Arc::clone(&stop));
                        let writes = Arc::clone(&writes);
                        std::thread::spawn(move || churn(&fixture, &stop, &writes))
                    };
                    // The readers start once the writer is writing (a short sample could
                    // otherwise end before the writer thread first ran).
                    while writes.load(Ordering::Acquire) == 0 {
                        std::thread::yield_now();
                    }
                    let elapsed = on_threads(&fixture, threads, iters, |t, i| {
                        let n = fixture.tokens.len();
                        (t * n / threads + i) % n
                    });
                    stop.store(true, Ordering::Relaxed);
                    writer.join().unwrap();
                    elapsed
                })
            },
        );
    }
    group.finish();
}

/// How verification scales with threads: one hot token on every thread, or distinct
/// tokens per thread; and the hot token again with last used recorded (a service built
/// on a tokio runtime), which notes a token's first use in each interval and nothing
/// after. Criterion's elem/s is all threads' throughput together.
fn scaling(c: &mut Criterion) {
    let fixture = Fixture::new(1_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Built inside the runtime, so it records last used (its writer is never polled
    // here: the interval never ends, and every use after the first is skipped).
    // The integration is created outside it: inside, a write runs on a task of its own.
    let recording = {
        let pi = {
            let _entered = runtime.enter();
            Fixture::service()
        };
        Fixture::on(pi, 1)
    };
    let mut group = c.benchmark_group("scaling");
    group.throughput(Throughput::Elements(1));
    let shapes = [
        ("hot_token", &fixture, true),
        ("distinct_tokens", &fixture, false),
        ("hot_token_last_used", &recording, true),
    ];
    for (shape, fixture, hot) in shapes {
        for threads in [1usize, 2] {
            group.bench_function(format!("{shape}/{threads}_threads"), |b| {
                b.iter_custom(|iters| {
                    let part = fixture.tokens.len() / threads;
                    on_threads(fixture, threads, iters, |t, i| {
                        if hot { 0 } else { t * part + i % part }
                    })
                })
            });
        }
    }
    group.finish();
}

/// About `iters` verifications spread over `threads` threads, thread `t` verifying
/// `fixture.tokens[token_of(t, i)]` for its `i`th; the time, scaled to exactly `iters`
/// verifications, so that Criterion's elem/s is all threads' throughput together.
fn on_threads(
    fixture: &Fixture,
    threads: usize,
    iters: u64,
    token_of: impl Fn(usize, usize) -> usize + Sync,
) -> Duration {
    let per_thread = iters.div_ceil(threads as u64);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let token_of = &token_of;
            s.spawn(move || {
                for i in 0..per_thread as usize {
                    let token = &fixture.tokens[token_of(t, i)];
                    black_box(ready(fixture.pi.verify(token)).is_ok());
                }
            });
        }
    });
    let done = per_thread * threads as u64;
    start.elapsed().mul_f64(iters as f64 / done as f64)
}

/// Rotates and edits the fixture's integrations until told to stop, counting its changes
/// in `writes`: three changes (rotate, cancel, rename) every millisecond, a
/// steady stream far above what admins produce. It paces itself rather than spin,
/// since a spinning writer would take a core from the readers on a 2-core machine.
/// Rotating with `ExpireLater` and cancelling leaves every reader's token valid.
fn churn(fixture: &Fixture, stop: &AtomicBool, writes: &AtomicU64) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = &fixture.ids[n % fixture.ids.len()];
        n += 1;
        let admin = &fixture.admin;
        ready(fixture.pi.rotate(admin, id, RotationMode::ExpireLater)).unwrap();
        ready(fixture.pi.cancel_rotation(admin, id)).unwrap();
        let name = IntegrationUpdate::new().name(format!("Edited {n}"));
        ready(fixture.pi.update(admin, id, name)).unwrap();
        writes.fetch_add(3, Ordering::Release);
        std::thread::sleep(Duration::from_millis(1));
    }
}

criterion_group!(benches, verify, peers, throughput, scaling);
criterion_main!(benches);
