//! A driver for callgrind's cache simulation: where verification misses the caches,
//! next to the floor (SHA-256 and a plain map), per valid verification.
//!
//! ```sh
//! cargo bench --bench misses --no-run
//! valgrind --tool=callgrind --cache-sim=yes --LL=4194304,16,64 \
//!     --toggle-collect=misses::verify_loop --toggle-collect=misses::floor_loop \
//!     target/release/deps/misses-<hash> 200000 20000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep _loop
//! ```
//!
//! The arguments are the number of integrations and of measured verifications. Every
//! token is verified once before the measurement, so each record's scope set is
//! compiled, as in a running service. A 4 MiB last-level cache keeps 200,000
//! integrations out of it, as a million are out of a 32 MiB one. Run natively, it only
//! prints the counts of tokens verified. `BENCHMARKS.md` holds the figures.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::hint::black_box;

use private_integrations::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};
use support::ready;

type FloorMap = HashMap<[u8; 16], [u8; 32], foldhash::fast::RandomState>;

#[inline(never)]
fn warm(pi: &PrivateIntegrations, tokens: &[String]) -> usize {
    tokens
        .iter()
        .filter(|t| ready(pi.verify(black_box(t))).is_ok())
        .count()
}

#[inline(never)]
fn verify_loop(pi: &PrivateIntegrations, tokens: &[String], n: usize) -> usize {
    (0..n)
        .filter(|i| ready(pi.verify(black_box(&tokens[i % tokens.len()]))).is_ok())
        .count()
}

#[inline(never)]
fn floor_loop(map: &FloorMap, tokens: &[String], n: usize) -> usize {
    (0..n)
        .filter(|i| {
            let t = black_box(&tokens[i % tokens.len()]).as_bytes();
            let id: &[u8; 16] = t[4..20].try_into().unwrap();
            let digest: [u8; 32] = Sha256::digest(&t[21..64]).into();
            map.get(id) == Some(&digest)
        })
        .count()
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse::<usize>().ok());
    let integrations = args.next().unwrap_or(1_000);
    let verifications = args.next().unwrap_or(10_000);
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"]).unwrap())
        .build();
    let admin = Actor::admin(AccountId::new("acct_bench"), UserId::new("u_admin"));
    let mut tokens: Vec<String> = (0..integrations)
        .map(|i| {
            let new = NewIntegration::new(format!("Integration {i}")).scopes(["contacts.readonly"]);
            let created = ready(pi.create(&admin, new)).unwrap();
            created.token.expose_secret().to_owned()
        })
        .collect();
    tokens.shuffle(&mut StdRng::seed_from_u64(42));
    let map: FloorMap = tokens
        .iter()
        .map(|t| {
            let t = t.as_bytes();
            (
                t[4..20].try_into().unwrap(),
                Sha256::digest(&t[21..64]).into(),
            )
        })
        .collect();
    let warmed = warm(&pi, &tokens);
    let ours = verify_loop(&pi, &tokens, verifications);
    let floor = floor_loop(&map, &tokens, verifications);
    assert_eq!(
        (warmed, ours, floor),
        (integrations, verifications, verifications)
    );
    println!("verified {warmed} + {ours}; floor {floor}");
}
