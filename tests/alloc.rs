//! Heap use, counted by a wrapping global allocator: a successful verification on
//! `MemoryStorage` allocates nothing, nor does a verification cache's hit, and a stored integration costs a bounded number of
//! bytes. Counting allocations is deterministic, unlike timing, so these are asserted.
//!
//! One test function only: the allocator's counters are process-wide, and another test
//! running in parallel would be counted too.

mod support;

use std::alloc::System;

use private_integrations::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::ready;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INTEGRATIONS: usize = 10_000;
const NAME: &str = "Integration 01234"; // 17 bytes, as every name below

/// Bytes still allocated (stats_alloc counts a growing realloc in `bytes_allocated`).
fn net(stats: &stats_alloc::Stats) -> isize {
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

#[test]
fn verification_allocates_nothing_and_integrations_are_small() {
    let h = support::Harness::new(MemoryStorage::new());
    let before = Region::new(GLOBAL);
    let mut tokens = Vec::with_capacity(INTEGRATIONS);
    for i in 0..INTEGRATIONS {
        let new = NewIntegration::new(format!("Integration {i:05}")).scopes(["contacts.readonly"]);
        tokens.push(ready(h.pi.create(&h.admin, new)).unwrap().token);
    }
    let created = before.change();
    // What stays allocated, less what the test itself keeps (the tokens and their Vec).
    let kept_by_test = tokens.capacity() * size_of::<IssuedToken>() + INTEGRATIONS * 70;
    let with_event = net(&created) - kept_by_test as isize;

    // An edit replaces the record with one of the same size and appends one audit
    // event: what it adds is the cost of an audit event.
    let ids: Vec<IntegrationId> = ready(h.pi.list(&h.admin))
        .unwrap()
        .iter()
        .map(|i| i.id().clone())
        .collect();
    let region = Region::new(GLOBAL);
    for (i, id) in ids.iter().enumerate() {
        let rename = IntegrationUpdate::new().name(format!("Integration {:05}", INTEGRATIONS - i));
        ready(h.pi.update(&h.admin, id, rename)).unwrap();
    }
    let edited = region.change();
    drop(ids);
    let per_event = net(&edited) as f64 / INTEGRATIONS as f64;
    let per_integration = with_event as f64 / INTEGRATIONS as f64 - per_event;
    println!(
        "memory per stored integration: {per_integration:.0} bytes (record, token index, account \
         index; name {} bytes, no description), plus {per_event:.0} bytes per audit event",
        NAME.len()
    );
    assert!(
        per_integration <= (512 + NAME.len()) as f64,
        "{per_integration:.0} bytes per integration"
    );
    // The event itself (128 bytes, 144 with every feature: its account and user ids kept
    // inline, up to 24 bytes each), plus the slack of a Vec that doubles its capacity.
    let event = size_of::<storage::AuditEvent>();
    assert!(event <= 144, "an audit event grew to {event} bytes");
    assert!(
        per_event <= 2.0 * 144.0,
        "{per_event:.0} bytes per audit event"
    );

    // Warm up: the first verification on a thread registers it with the lock-free map,
    // and the first unknown id builds the thread's stand-in record.
    for token in &tokens[..100] {
        assert!(ready(h.pi.verify(token.expose_secret())).is_ok());
    }
    assert!(ready(h.pi.verify(&support::unknown_id(tokens[0].expose_secret()))).is_err());
    let region = Region::new(GLOBAL);
    for token in &tokens {
        let verified = ready(h.pi.verify(token.expose_secret())).unwrap();
        assert!(verified.has_scope("contacts.readonly"));
    }
    let during = region.change();
    assert_eq!(
        (during.allocations, during.reallocations),
        (0, 0),
        "verification allocated: {during:?}"
    );

    // The refusal paths allocate nothing either.
    let wrong = support::wrong_secret(tokens[0].expose_secret());
    let unknown = support::unknown_id(tokens[0].expose_secret());
    let region = Region::new(GLOBAL);
    for _ in 0..1000 {
        assert!(ready(h.pi.verify(&wrong)).is_err());
        assert!(ready(h.pi.verify(&unknown)).is_err());
        assert!(ready(h.pi.verify("pit_garbage")).is_err());
    }
    assert_eq!(region.change().allocations, 0);

    // A verification cache's hits allocate nothing: tokens and an unknown id, cached
    // by a first round.
    let cached = PrivateIntegrations::builder(h.storage.clone())
        .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
        .verification_cache(VerificationCache::new())
        .build();
    for token in &tokens {
        assert!(ready(cached.verify(token.expose_secret())).is_ok());
    }
    assert!(ready(cached.verify(&unknown)).is_err());
    let warm = cached.cache_stats().unwrap();
    assert_eq!(
        (warm.entries, warm.unknown_entries),
        (INTEGRATIONS as u64, 1)
    );
    let region = Region::new(GLOBAL);
    for token in &tokens {
        let verified = ready(cached.verify(token.expose_secret())).unwrap();
        assert!(verified.has_scope("contacts.readonly"));
        assert!(ready(cached.verify(&wrong)).is_err());
        assert!(ready(cached.verify(&unknown)).is_err());
    }
    let during = region.change();
    assert_eq!(
        (during.allocations, during.reallocations),
        (0, 0),
        "cache hits allocated: {during:?}"
    );
    let hits = cached.cache_stats().unwrap().hits - warm.hits;
    assert_eq!(
        hits,
        3 * INTEGRATIONS as u64,
        "every verification was a hit"
    );

    with_use_counts(&h, &tokens);

    #[cfg(feature = "metrics")]
    with_a_metrics_recorder(&h, &tokens, &wrong, &unknown);
}

/// A service that records last used and counts uses (built on a tokio runtime): once
/// warm, verification allocates nothing either. Warm means each token used once in an
/// interval and the interval's batch written: the thread's table of counts exists, and
/// the maps that hold a token's first use in an interval and the uses of tokens that
/// lost their slot have grown to the working set (the writer empties them, keeping
/// their capacity). Then every use is written: none lost on the way.
fn with_use_counts(h: &support::Harness, tokens: &[IssuedToken]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let pi = {
        let _entered = runtime.enter();
        PrivateIntegrations::builder(h.storage.clone())
            .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
            .build()
    };
    let interval_passes = |batches: u64| {
        runtime.block_on(async {
            // The writer starts its timer when it first runs.
            tokio::task::yield_now().await;
            tokio::time::advance(DEFAULT_LAST_USED_INTERVAL.unsigned_abs()).await;
            for _ in 0..10_000 {
                if pi.last_used_stats().count_batches >= batches {
                    return;
                }
                tokio::task::yield_now().await;
            }
            panic!("the batch was never written: {:?}", pi.last_used_stats());
        })
    };
    for _ in 0..2 {
        for token in tokens {
            assert!(ready(pi.verify(token.expose_secret())).is_ok());
        }
    }
    interval_passes(1);
    let region = Region::new(GLOBAL);
    for token in tokens {
        assert!(ready(pi.verify(token.expose_secret())).is_ok());
    }
    let during = region.change();
    assert_eq!(
        (during.allocations, during.reallocations),
        (0, 0),
        "verification with uses counted allocated: {during:?}"
    );
    runtime.block_on(pi.shutdown());
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let ids: Vec<IntegrationId> = runtime
        .block_on(pi.list(&admin))
        .unwrap()
        .iter()
        .map(|i| i.id().clone())
        .collect();
    let total: u64 = ids
        .iter()
        .map(|id| {
            let usage = runtime.block_on(pi.usage(&admin, id)).unwrap();
            usage.days().iter().map(|d| d.total()).sum::<u64>()
        })
        .sum();
    assert_eq!(total, 3 * tokens.len() as u64, "every use was written");
}

/// Feature `metrics`, with a real recorder (Prometheus's): verification still allocates
/// nothing, in place and on cache hits. Outcomes are counted on stripes and published by
/// the service's task, which runs here only once the measured regions are over (on a
/// current-thread runtime that nothing drives meanwhile); then the exporter shows them.
#[cfg(feature = "metrics")]
fn with_a_metrics_recorder(
    h: &support::Harness,
    tokens: &[IssuedToken],
    wrong: &str,
    unknown: &str,
) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let exporter = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (in_place, cached) = {
        let _entered = runtime.enter();
        metrics::with_local_recorder(&recorder, || {
            let builder = || {
                PrivateIntegrations::builder(h.storage.clone())
                    .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
            };
            let cached = builder()
                .verification_cache(VerificationCache::new())
                .build();
            (builder().build(), cached)
        })
    };
    for pi in [&in_place, &cached] {
        // Warm up (the cache's first round fills it).
        for token in tokens {
            assert!(ready(pi.verify(token.expose_secret())).is_ok());
        }
        assert!(ready(pi.verify(unknown)).is_err());
        let region = Region::new(GLOBAL);
        for token in tokens {
            let verified = ready(pi.verify(token.expose_secret())).unwrap();
            assert!(verified.has_scope("contacts.readonly"));
            assert!(ready(pi.verify(wrong)).is_err());
            assert!(ready(pi.verify(unknown)).is_err());
            assert!(ready(pi.verify("pit_garbage")).is_err());
        }
        let during = region.change();
        assert_eq!(
            (during.allocations, during.reallocations),
            (0, 0),
            "verification with a metrics recorder allocated: {during:?}"
        );
    }
    // Shutdown publishes what was counted.
    runtime.block_on(async {
        in_place.shutdown().await;
        cached.shutdown().await;
    });
    let text = exporter.render();
    let ok = 2 * 2 * INTEGRATIONS;
    let invalid = 2 * (1 + 2 * INTEGRATIONS);
    for line in [
        format!("private_integrations_verify_count{{outcome=\"ok\"}} {ok}"),
        format!("private_integrations_verify_count{{outcome=\"invalid\"}} {invalid}"),
        format!(
            "private_integrations_verify_count{{outcome=\"malformed\"}} {}",
            2 * INTEGRATIONS
        ),
        format!("private_integrations_cache_hits {}", 3 * INTEGRATIONS),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}
