//! Counting without sharing: a counter kept on stripes, one cache line each, picked per
//! thread. One token verified on every core at once writes no line another core writes;
//! a reader sums the stripes. Below the cache and verification, which both count on it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const STRIPES: usize = 16;

/// A counter on [`STRIPES`] cache lines; each thread adds to its own stripe.
#[derive(Debug, Default)]
pub(crate) struct Striped([Stripe; STRIPES]);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

impl Striped {
    /// Adds one, on this thread's stripe: no lock, no allocation, no shared line.
    #[inline]
    pub(crate) fn add(&self) {
        let stripe = STRIPE.with(|stripe| *stripe);
        self.0[stripe].0.fetch_add(1, Ordering::Relaxed);
    }

    /// The total, over every stripe.
    pub(crate) fn sum(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}
