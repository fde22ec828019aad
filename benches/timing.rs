//! Constant time, measured: a dudect-style statistical test (Reparaz, Balasch and
//! Verbauwhede, "Dude, is my code constant time?", 2017).
//!
//! `cargo bench --bench timing` (add `-- SAMPLES` for another sample count; the default
//! is 2,000,000 per test). Each test times single `verify` calls of two classes of
//! input, interleaved at random so drift and noise fall on both alike, and computes
//! Welch's t statistic of the two timing distributions, raw and with the slowest
//! samples cropped at several percentiles (as dudect does, since the tail is mostly
//! interrupts and preemption). |t| above 5 would say the classes are told apart by
//! timing; the test prints every |t| and exits non-zero if the largest of test 1 reaches
//! 5 (test 2 is reported only: see below).
//!
//! 1. Secret prefix: at a known token id, a secret wrong in its first character
//!    against one wrong in its last character. A byte-by-byte compare would tell them
//!    apart.
//! 2. Id existence: a known id with a wrong secret against an unknown id. Not a target:
//!    an id carries 95 random bits and is not a secret (SECURITY.md).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use private_integrations::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use support::ready;

const THRESHOLD: f64 = 5.0;

/// Online mean and variance (Welford).
#[derive(Default, Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
    }

    fn variance(&self) -> f64 {
        self.m2 / (self.n - 1.0)
    }
}

fn welch_t(a: &Moments, b: &Moments) -> f64 {
    (a.mean - b.mean) / (a.variance() / a.n + b.variance() / b.n).sqrt()
}

/// Times `samples` verifications, each of a class drawn at random, and returns the
/// largest |t| over the raw data and the cropped versions.
fn measure(pi: &PrivateIntegrations, classes: [&str; 2], samples: usize, name: &str) -> f64 {
    let mut rng = StdRng::seed_from_u64(0xD0DE);
    let mut timings: Vec<(u8, u32)> = Vec::with_capacity(samples);
    // Every call reads its input from the same buffer, so that the two classes differ
    // in content only, not in where they sit in memory (alignment, cache sets).
    let mut buffer = String::with_capacity(classes[0].len());
    // Warm up caches and branch predictors on both classes.
    for i in 0..10_000 {
        buffer.clear();
        buffer.push_str(classes[i % 2]);
        black_box(ready(pi.verify(&buffer)).is_ok());
    }
    for _ in 0..samples {
        let class = rng.random_range(0..2u8);
        buffer.clear();
        buffer.push_str(classes[usize::from(class)]);
        let token = black_box(buffer.as_str());
        let start = Instant::now();
        let refused = ready(pi.verify(token)).is_err();
        let elapsed = start.elapsed().as_nanos() as u32;
        assert!(refused, "both classes must be refused");
        timings.push((class, elapsed));
    }

    let mut sorted: Vec<u32> = timings.iter().map(|(_, t)| *t).collect();
    sorted.sort_unstable();
    let percentile = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
    let crops = [
        ("raw", u32::MAX),
        ("≤p99", percentile(0.99)),
        ("≤p90", percentile(0.90)),
        ("≤p50", percentile(0.50)),
    ];

    println!("{name} ({samples} samples, median {} ns):", percentile(0.5));
    let mut worst: f64 = 0.0;
    for (label, limit) in crops {
        let mut moments = [Moments::default(); 2];
        for &(class, t) in &timings {
            if t <= limit {
                moments[usize::from(class)].push(f64::from(t));
            }
        }
        let t = welch_t(&moments[0], &moments[1]);
        println!(
            "  {label:>5}: |t| = {:6.2}   means {:.2} ns vs {:.2} ns (n = {} / {})",
            t.abs(),
            moments[0].mean,
            moments[1].mean,
            moments[0].n,
            moments[1].n
        );
        worst = worst.max(t.abs());
    }
    worst
}

fn main() -> ExitCode {
    let samples: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(2_000_000);

    let h = support::Harness::new(MemoryStorage::new());
    let mut tokens = Vec::new();
    for i in 0..1_000 {
        let new = NewIntegration::new(format!("Timing {i}")).scopes(["contacts.readonly"]);
        tokens.push(ready(h.pi.create(&h.admin, new)).unwrap().token);
    }
    let known = tokens[500].expose_secret();
    // The secret spans characters 21..64 of a default-prefix token.
    let flip =
        |body: &mut Vec<u8>, at: usize| body[at] = if body[at] == b'a' { b'b' } else { b'a' };
    let first_wrong = support::forge(known, |body| flip(body, 21));
    let last_wrong = support::forge(known, |body| flip(body, 63));
    // An unknown id drawn at random, as a prober's would be.
    let mut rng = StdRng::seed_from_u64(7);
    let unknown = support::forge(known, |body| {
        for b in &mut body[4..20] {
            *b = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                [rng.random_range(0..62)];
        }
    });

    let secret = measure(
        &h.pi,
        [&first_wrong, &last_wrong],
        samples,
        "secret wrong in its first vs its last character",
    );
    // Reported, not a target: token ids carry 95 random bits, so telling a known id from
    // an unknown one finds no one and reveals nothing about a secret (SECURITY.md).
    let existence = measure(
        &h.pi,
        [&last_wrong, &unknown],
        samples,
        "known id with a wrong secret vs unknown id",
    );
    println!("id existence: largest |t| = {existence:.2} (reported only)");

    if secret < THRESHOLD {
        println!(
            "secret prefix: largest |t| = {secret:.2} < {THRESHOLD}: no timing difference found"
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "secret prefix: largest |t| = {secret:.2} ≥ {THRESHOLD}: the classes are told apart by timing"
        );
        ExitCode::FAILURE
    }
}
