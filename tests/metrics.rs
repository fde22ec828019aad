//! Feature `metrics`: each metric moves as the story happens. A debugging recorder of the
//! test's own (no global recorder: the service's handles are registered inside
//! `metrics::with_local_recorder`, and keep pointing at it), tokio's paused clock to
//! let the publisher (every second) and the last-used writer (every minute) run on cue.
#![cfg(feature = "metrics")]

mod support;

use std::collections::BTreeMap;

use metrics::Unit;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use private_integrations::*;
use support::faults::{Fault, Faults, FaultyStorage, Method};
use support::{SCOPES, T0, unknown_id, wrong_secret};

/// What moved since the last look: "name{label=value,…}" → how much (counters), or the
/// values recorded (histograms, in seconds). The debugging recorder hands counters out as
/// deltas.
fn moved(snapshotter: &Snapshotter) -> BTreeMap<String, String> {
    let mut moved = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key
            .key()
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.key().name(), labels.join(","));
        match value {
            DebugValue::Counter(0) => {}
            DebugValue::Counter(n) => {
                moved.insert(name, n.to_string());
            }
            DebugValue::Histogram(values) if !values.is_empty() => {
                let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                moved.insert(name, values.join(" "));
            }
            _ => {}
        }
    }
    moved
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Long enough for the publisher's next turn.
async fn published() {
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
}

fn service(
    recorder: &DebuggingRecorder,
    storage: impl Storage,
    clock: &ManualClock,
    cache: VerificationCache,
) -> PrivateIntegrations {
    metrics::with_local_recorder(recorder, || {
        PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .verification_cache(cache)
            .build()
    })
}

#[tokio::test(start_paused = true)]
async fn each_metric_moves_as_the_story_happens() {
    let recorder = DebuggingRecorder::new();
    let seen = recorder.snapshotter();
    let faults = Faults::new();
    let clock = ManualClock::new(T0);
    let storage = FaultyStorage::new(MemoryStorage::new(), faults.clone());
    let pi = service(&recorder, storage, &clock, VerificationCache::new());
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let member = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    // Registered at build, described with their units; nothing moved yet.
    let described: BTreeMap<String, Option<Unit>> = seen
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, _, _)| (key.key().name().to_owned(), unit))
        .collect();
    assert_eq!(
        described["private_integrations.verify.count"],
        Some(Unit::Count)
    );
    assert_eq!(described.len(), 9, "{described:?}");
    assert_eq!(moved(&seen), expect(&[]));

    // An admin creates an integration: a management call, ok.
    let new = NewIntegration::new("Sync").scopes(["contacts.readonly"]);
    let token = pi.create(&admin, new).await.unwrap().token;
    let id = pi.list(&admin).await.unwrap()[0].id().clone();
    assert_eq!(
        moved(&seen),
        expect(&[(
            "private_integrations.management.calls{operation=create,outcome=ok}",
            "1"
        )])
    );

    // A member may not: refused.
    let new = NewIntegration::new("Mine").scopes(["contacts.readonly"]);
    assert!(matches!(
        pi.create(&member, new).await,
        Err(Error::PermissionDenied)
    ));
    assert_eq!(
        moved(&seen),
        expect(&[(
            "private_integrations.management.calls{operation=create,outcome=permission_denied}",
            "1"
        )])
    );

    // The token verifies: a cache miss, then a hit. Published within a second.
    pi.verify(token.expose_secret()).await.unwrap();
    pi.verify(token.expose_secret()).await.unwrap();
    assert_eq!(moved(&seen), expect(&[]), "not before the publisher's turn");
    published().await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.hits{}", "1"),
            ("private_integrations.cache.misses{}", "1"),
            ("private_integrations.verify.count{outcome=ok}", "2"),
        ])
    );

    // A wrong secret and an unknown id are both invalid; a typo is malformed.
    let _ = pi.verify(&wrong_secret(token.expose_secret())).await;
    let _ = pi.verify(&unknown_id(token.expose_secret())).await;
    let _ = pi.verify("pit_nope").await;
    published().await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.hits{}", "1"),
            ("private_integrations.cache.misses{}", "1"),
            ("private_integrations.verify.count{outcome=invalid}", "2"),
            ("private_integrations.verify.count{outcome=malformed}", "1"),
        ])
    );

    // A rotation evicts the cached token; eight days later the old token has expired.
    let new = pi
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await
        .unwrap()
        .token;
    clock.advance(time::Duration::days(8));
    let expired = pi.verify(token.expose_secret()).await;
    assert!(matches!(expired, Err(VerifyError::Expired)));
    published().await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.evictions{reason=change}", "1"),
            ("private_integrations.cache.misses{}", "1"),
            (
                "private_integrations.management.calls{operation=rotate,outcome=ok}",
                "1"
            ),
            ("private_integrations.verify.count{outcome=expired}", "1"),
        ])
    );

    // The storage fails on the new token's lookup: refused, counted as such.
    faults.on_next(Method::FindByToken, Fault::FailBefore);
    let failed = pi.verify(new.expose_secret()).await;
    assert!(matches!(failed, Err(VerifyError::Storage(_))));
    // A second rotation "later" while one is under way: refused by the domain.
    pi.cancel_rotation(&admin, &id).await.unwrap_err();
    published().await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.misses{}", "1"),
            (
                "private_integrations.management.calls{operation=cancel_rotation,outcome=no_rotation_in_progress}",
                "1"
            ),
            (
                "private_integrations.verify.count{outcome=storage_error}",
                "1"
            ),
        ])
    );

    // The last-used writer's minute: the successful verifications' use is written.
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    assert_eq!(
        moved(&seen),
        expect(&[(
            "private_integrations.last_used.batches{outcome=written}",
            "1"
        )])
    );

    // The new token verifies, and the next batch fails (kept for later).
    pi.verify(new.expose_secret()).await.unwrap();
    faults.on_next(Method::RecordLastUsed, Fault::FailBefore);
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.misses{}", "1"),
            (
                "private_integrations.last_used.batches{outcome=failed}",
                "1"
            ),
            ("private_integrations.verify.count{outcome=ok}", "1"),
        ])
    );

    // Shutdown: the cache, no longer hearing of changes, is flushed; the kept use is
    // written; both published at once, without waiting for the publisher's turn.
    pi.shutdown().await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.flushes{}", "1"),
            (
                "private_integrations.last_used.batches{outcome=written}",
                "1"
            ),
        ])
    );
}

/// A full cache makes room: an eviction for room, not for a change.
#[tokio::test(start_paused = true)]
async fn a_full_cache_counts_evictions_for_room() {
    let recorder = DebuggingRecorder::new();
    let seen = recorder.snapshotter();
    let clock = ManualClock::new(T0);
    let storage = FaultyStorage::new(MemoryStorage::new(), Faults::new());
    let pi = service(
        &recorder,
        storage,
        &clock,
        VerificationCache::new().max_entries(1),
    );
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let mut tokens = Vec::new();
    for name in ["One", "Two"] {
        let new = NewIntegration::new(name).scopes(["contacts.readonly"]);
        tokens.push(pi.create(&admin, new).await.unwrap().token);
    }
    for token in &tokens {
        pi.verify(token.expose_secret()).await.unwrap();
    }
    published().await;
    assert_eq!(
        moved(&seen),
        expect(&[
            ("private_integrations.cache.evictions{reason=room}", "1"),
            ("private_integrations.cache.misses{}", "2"),
            (
                "private_integrations.management.calls{operation=create,outcome=ok}",
                "2"
            ),
            ("private_integrations.verify.count{outcome=ok}", "2"),
        ])
    );
}

/// The listener's counters as a backend bumps them: connects and losses (which the
/// service's publisher publishes), each reconnect delay recorded at once, in seconds.
#[tokio::test(start_paused = true)]
async fn listener_connects_losses_and_reconnect_delays() {
    let recorder = DebuggingRecorder::new();
    let seen = recorder.snapshotter();
    let counters = metrics::with_local_recorder(&recorder, || {
        std::sync::Arc::new(storage::ListenerCounters::default())
    });
    counters.listening(true);
    counters.listening(false);
    counters.reconnect_delay(std::time::Duration::from_millis(250));
    counters.listening(true);
    let stats = counters.snapshot();
    assert_eq!((stats.connects, stats.losses), (2, 1));
    let snapshot = seen.snapshot().into_vec();
    let (key, unit, _, value) = &snapshot[0];
    assert_eq!(key.kind(), MetricKind::Histogram);
    assert_eq!(
        key.key().name(),
        "private_integrations.listener.reconnect_delay"
    );
    assert_eq!(*unit, Some(Unit::Seconds));
    assert_eq!(*value, DebugValue::Histogram(vec![0.25.into()]));
}
