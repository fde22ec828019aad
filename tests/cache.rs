//! The verification cache, on memory storage where every step is under the test's
//! control: what a hit and a miss do, that each of this service's changes evicts before
//! the call returns, the time-to-live, the bounds (a flood of unknown ids never pushes out
//! a live token), one storage call per burst, a lookup that began before a change never
//! putting the old record back, a previous token's grace period honoured from the cache,
//! and failed lookups never cached.
//!
//! Lookups are held open with the fault wrapper's gate (`Faults::hold_lookups`): each
//! reads the storage's answer at once and returns it only when the test releases it.
//! Nothing here sleeps; waits are on events, under a generous timeout.

mod support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use private_integrations::*;
use support::faults::{Fault, Faults, FaultyStorage, Method, is_injected};
use support::*;
use time::Duration;

const PATIENCE: StdDuration = StdDuration::from_secs(30);

struct Cached {
    pi: PrivateIntegrations,
    /// The same storage, for a second service that changes it behind this one's back.
    memory: MemoryStorage,
    faults: Faults,
    clock: ManualClock,
    admin: Actor,
}

impl Cached {
    fn new(cache: VerificationCache) -> Self {
        let memory = MemoryStorage::new();
        let faults = Faults::new();
        let clock = ManualClock::new(T0);
        let pi = PrivateIntegrations::builder(FaultyStorage::new(memory.clone(), faults.clone()))
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .verification_cache(cache)
            .build();
        Self {
            pi,
            memory,
            faults,
            clock,
            admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
        }
    }

    async fn create(&self, name: &str) -> (IntegrationId, IssuedToken) {
        let created = self
            .pi
            .create(
                &self.admin,
                NewIntegration::new(name).scopes(["contacts.readonly", "contacts.write"]),
            )
            .await
            .unwrap();
        (created.integration.id().clone(), created.token)
    }

    async fn verify(&self, token: &IssuedToken) -> Result<Verified, VerifyError> {
        self.pi.verify(token.expose_secret()).await
    }

    fn stats(&self) -> CacheStats {
        self.pi.cache_stats().expect("a cache")
    }

    /// A second service on the same storage, with no cache: its changes are not
    /// announced to this one (memory storage announces nothing).
    fn elsewhere(&self) -> PrivateIntegrations {
        PrivateIntegrations::builder(self.memory.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(self.clock.clone())
            .build()
    }
}

#[tokio::test]
async fn a_verification_is_looked_up_once_then_answered_from_the_cache() {
    let c = Cached::new(VerificationCache::new());
    let (_, token) = c.create("Zapier").await;
    assert_eq!(c.stats(), CacheStats::default());

    for _ in 0..3 {
        let verified = c.verify(&token).await.unwrap();
        assert!(verified.has_scope("contacts.write"));
    }
    let stats = c.stats();
    assert_eq!((stats.misses, stats.lookups, stats.hits), (1, 1, 2));
    assert_eq!((stats.entries, stats.unknown_entries), (1, 0));

    // A wrong secret is refused from the cached record too, and caches nothing more.
    let wrong = wrong_secret(token.expose_secret());
    assert!(matches!(
        c.pi.verify(&wrong).await,
        Err(VerifyError::Invalid)
    ));
    assert_eq!(c.stats().lookups, 1);
    // An unknown id is remembered as unknown.
    let unknown = unknown_id(token.expose_secret());
    for _ in 0..2 {
        assert!(matches!(
            c.pi.verify(&unknown).await,
            Err(VerifyError::Invalid)
        ));
    }
    let stats = c.stats();
    assert_eq!((stats.lookups, stats.unknown_entries), (2, 1));
}

#[tokio::test]
async fn the_default_caches_only_where_the_storage_announces_changes() {
    // Memory storage announces nothing: no cache unless asked for.
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .build();
    assert!(pi.cache_stats().is_none());
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .verification_cache(VerificationCache::disabled())
        .build();
    assert!(pi.cache_stats().is_none());
}

#[tokio::test]
async fn every_change_of_this_service_evicts_before_the_call_returns() {
    let c = Cached::new(VerificationCache::new());
    let a = &c.admin;
    let (id, first) = c.create("Zapier").await;
    c.verify(&first).await.unwrap();
    c.verify(&first).await.unwrap();
    assert_eq!(c.stats().hits, 1);

    // Scope edit: the next verification sees the new scopes.
    c.pi.update(
        a,
        &id,
        IntegrationUpdate::new().scopes(["contacts.readonly"]),
    )
    .await
    .unwrap();
    assert!(!c.verify(&first).await.unwrap().has_scope("contacts.write"));

    // Rotate, expire later: both work; cancel: the new one stops at once.
    let second =
        c.pi.rotate(a, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    c.verify(&first).await.unwrap();
    c.verify(&second).await.unwrap();
    c.pi.cancel_rotation(a, &id).await.unwrap();
    assert!(matches!(c.verify(&second).await, Err(VerifyError::Invalid)));
    c.verify(&first).await.unwrap();

    // Rotate later, then expire the previous token now: the old one stops at once.
    let third =
        c.pi.rotate(a, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    c.verify(&first).await.unwrap();
    c.verify(&third).await.unwrap();
    c.pi.expire_previous_now(a, &id).await.unwrap();
    assert!(c.verify(&first).await.is_err());
    c.verify(&third).await.unwrap();

    // Rotate now: the old one stops at once.
    let fourth =
        c.pi.rotate(a, &id, RotationMode::ExpireNow)
            .await
            .unwrap()
            .token;
    assert!(matches!(c.verify(&third).await, Err(VerifyError::Invalid)));
    c.verify(&fourth).await.unwrap();

    // Delete: every token stops at once.
    c.pi.delete(a, &id).await.unwrap();
    assert!(matches!(c.verify(&fourth).await, Err(VerifyError::Invalid)));
    assert!(c.stats().evictions > 0);
}

/// The time-to-live runs on tokio's clock, paused here and moved by the test.
#[tokio::test(start_paused = true)]
async fn a_change_it_is_not_told_of_lasts_until_the_time_to_live() {
    let c = Cached::new(VerificationCache::new().ttl(Duration::seconds(60)));
    let (id, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();

    // Another service on the same (unannouncing) storage deletes it.
    c.elsewhere().delete(&c.admin, &id).await.unwrap();
    tokio::time::advance(StdDuration::from_secs(59)).await;
    assert!(
        c.verify(&token).await.is_ok(),
        "stale, within the time-to-live"
    );
    tokio::time::advance(StdDuration::from_secs(1)).await;
    assert!(matches!(c.verify(&token).await, Err(VerifyError::Invalid)));
}

#[tokio::test]
async fn a_previous_tokens_grace_period_ends_on_time_from_the_cache() {
    let c = Cached::new(VerificationCache::new().ttl(Duration::days(30)));
    let (id, old) = c.create("Zapier").await;
    c.pi.rotate(&c.admin, &id, RotationMode::ExpireLater)
        .await
        .unwrap();
    c.verify(&old).await.unwrap();
    let lookups = c.stats().lookups;

    c.clock.advance(Duration::days(7) - Duration::seconds(1));
    c.verify(&old).await.unwrap();
    c.clock.advance(Duration::seconds(1));
    assert!(matches!(c.verify(&old).await, Err(VerifyError::Expired)));
    assert_eq!(
        c.stats().lookups,
        lookups,
        "answered from the cache, told nothing"
    );
}

#[tokio::test]
async fn a_flood_of_unknown_ids_never_pushes_out_a_live_token() {
    let c = Cached::new(
        VerificationCache::new()
            .max_entries(8)
            .max_unknown_entries(16),
    );
    let (_, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();
    for n in 0..1_000 {
        let made_up = unknown_id_n(token.expose_secret(), n);
        assert!(matches!(
            c.pi.verify(&made_up).await,
            Err(VerifyError::Invalid)
        ));
        assert!(c.stats().unknown_entries <= 16);
    }
    let stats = c.stats();
    assert_eq!(stats.entries, 1);
    assert!(stats.expirations >= 1_000 - 16, "{stats:?}");
    let lookups = stats.lookups;
    c.verify(&token).await.unwrap();
    assert_eq!(c.stats().lookups, lookups, "the live token is still cached");

    // Live tokens have their own bound.
    let mut tokens = Vec::new();
    for n in 0..20 {
        tokens.push(c.create(&format!("Integration {n}")).await.1);
    }
    for token in &tokens {
        c.verify(token).await.unwrap();
        assert!(c.stats().entries <= 8);
    }
    // Nothing cached at all with zero bounds or no time-to-live.
    for cache in [
        VerificationCache::new()
            .max_entries(0)
            .max_unknown_entries(0),
        VerificationCache::new().ttl(Duration::ZERO),
    ] {
        let c = Cached::new(cache);
        let (_, token) = c.create("Zapier").await;
        c.verify(&token).await.unwrap();
        let unknown = unknown_id(token.expose_secret());
        assert!(c.pi.verify(&unknown).await.is_err());
        let stats = c.stats();
        assert_eq!((stats.entries, stats.unknown_entries), (0, 0), "{cache:?}");
    }
}

/// Spawns `n` verifications of `token` and returns once every one of them has missed
/// the cache (and so waits on the shared lookup, which the caller holds).
async fn burst(
    c: &Arc<Cached>,
    token: &Arc<IssuedToken>,
    n: u64,
) -> Vec<tokio::task::JoinHandle<Result<Verified, VerifyError>>> {
    let verifications = (0..n)
        .map(|_| {
            let (c, token) = (Arc::clone(c), Arc::clone(token));
            tokio::spawn(async move { c.verify(&token).await })
        })
        .collect();
    tokio::time::timeout(PATIENCE, async {
        while c.stats().misses < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every verification misses");
    verifications
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_verifications_of_one_uncached_token_makes_one_storage_call() {
    let c = Arc::new(Cached::new(VerificationCache::new()));
    let (_, token) = c.create("Zapier").await;
    let gate = c.faults.hold_lookups();

    const BURST: u64 = 64;
    // Every verification has joined the one lookup before it is let through.
    let token = Arc::new(token);
    let verifications = burst(&c, &token, BURST).await;
    gate.release();
    for verification in verifications {
        assert!(verification.await.unwrap().is_ok());
    }
    assert_eq!(gate.arrived(), 1);
    let stats = c.stats();
    assert_eq!((stats.lookups, stats.misses), (1, BURST));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_began_before_a_change_never_puts_the_old_record_back() {
    let c = Arc::new(Cached::new(VerificationCache::new()));
    let (id, token) = c.create("Zapier").await;
    let token = Arc::new(token);
    let gate = c.faults.hold_lookups();

    // A lookup reads the record, and is held before it answers.
    let before = {
        let (c, token) = (Arc::clone(&c), Arc::clone(&token));
        tokio::spawn(async move { c.verify(&token).await.is_ok() })
    };
    tokio::time::timeout(PATIENCE, gate.until_arrived(1))
        .await
        .unwrap();
    // Meanwhile the integration is deleted; a verification that starts now does not
    // join the held lookup, it makes its own.
    c.pi.delete(&c.admin, &id).await.unwrap();
    let after = {
        let (c, token) = (Arc::clone(&c), Arc::clone(&token));
        tokio::spawn(async move { c.verify(&token).await.is_ok() })
    };
    tokio::time::timeout(PATIENCE, gate.until_arrived(2))
        .await
        .unwrap();
    gate.release();

    // The first began before the delete (it may pass, as any verification concurrent
    // with a change); the second began after it and is refused.
    let _ = before.await.unwrap();
    assert!(!after.await.unwrap());
    // And the old record was not put back.
    assert!(matches!(c.verify(&token).await, Err(VerifyError::Invalid)));
    assert_eq!(c.stats().entries, 0);
}

#[tokio::test]
async fn a_failed_lookup_is_refused_and_not_cached() {
    let c = Cached::new(VerificationCache::new());
    let (_, token) = c.create("Zapier").await;
    for fault in [Fault::FailBefore, Fault::FailAfter] {
        c.faults.on_next(Method::FindByToken, fault);
        match c.verify(&token).await {
            Err(VerifyError::Storage(err)) => assert!(is_injected(&err), "{err:?}"),
            other => panic!("{fault:?}: {other:?}"),
        }
        assert_eq!(c.stats().entries, 0);
    }
    c.verify(&token).await.unwrap();
    assert_eq!(c.stats().entries, 1);
    // Cached, it keeps verifying while the storage fails.
    c.faults.on_next(Method::FindByToken, Fault::FailBefore);
    c.verify(&token).await.unwrap();
}

#[tokio::test]
async fn cache_settings_and_stats_hold_no_secret() {
    let c = Cached::new(VerificationCache::new());
    let (_, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();
    let shown = format!("{:?} {:?} {:?}", c.pi, c.stats(), VerificationCache::new());
    assert_no_secret(&[shown], &[&token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_is_shared_by_its_burst_and_leaves_nothing_behind() {
    let c = Arc::new(Cached::new(VerificationCache::new()));
    let (_, token) = c.create("Zapier").await;
    let gate = c.faults.hold_lookups();
    c.faults.on_next(Method::FindByToken, Fault::FailBefore);

    const BURST: u64 = 8;
    let token = Arc::new(token);
    let verifications = burst(&c, &token, BURST).await;
    assert_eq!(c.stats().in_flight, 1);
    gate.release();
    let mut own = 0;
    for verification in verifications {
        match verification.await.unwrap() {
            // The one that looked up gets the backend's own error; the others, its text.
            Err(VerifyError::Storage(err)) if is_injected(&err) => own += 1,
            Err(VerifyError::Storage(err)) => {
                assert!(err.to_string().contains("storage backend error"), "{err}");
                let source = std::error::Error::source(&err).unwrap().to_string();
                assert!(source.contains("injected fault"), "{source}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(own, 1);
    let stats = c.stats();
    assert_eq!((stats.lookups, stats.entries, stats.in_flight), (1, 0, 0));
    // The storage answers again: so does the cache.
    c.verify(&token).await.unwrap();
    assert_eq!(c.stats().entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_lookup_is_taken_over_by_a_verification_still_waiting() {
    let c = Arc::new(Cached::new(VerificationCache::new()));
    let (_, token) = c.create("Zapier").await;
    let token = Arc::new(token);
    let gate = c.faults.hold_lookups();
    let spawn = || {
        let (c, token) = (Arc::clone(&c), Arc::clone(&token));
        tokio::spawn(async move { c.verify(&token).await.is_ok() })
    };
    let first = spawn();
    tokio::time::timeout(PATIENCE, gate.until_arrived(1))
        .await
        .unwrap();
    let second = spawn();
    tokio::time::timeout(PATIENCE, async {
        while c.stats().misses < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    // The verification that made the lookup gives up (its client went away).
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    tokio::time::timeout(PATIENCE, gate.until_arrived(2))
        .await
        .expect("the waiting verification looks up itself");
    gate.release();
    assert!(second.await.unwrap());
    let stats = c.stats();
    assert_eq!((stats.lookups, stats.entries, stats.in_flight), (2, 1, 0));

    // Everyone cancelled: nothing is left in flight.
    let (_, other) = c.create("Make").await;
    let other = Arc::new(other);
    let gate = c.faults.hold_lookups();
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (c, other) = (Arc::clone(&c), Arc::clone(&other));
            tokio::spawn(async move { c.verify(&other).await.is_ok() })
        })
        .collect();
    tokio::time::timeout(PATIENCE, gate.until_arrived(1))
        .await
        .unwrap();
    for verification in waiting {
        verification.abort();
        let _ = verification.await;
    }
    assert_eq!(c.stats().in_flight, 0);
    gate.release();
}

#[tokio::test]
async fn a_time_to_live_beyond_ten_years_is_ten_years() {
    let c = Cached::new(VerificationCache::new().ttl(Duration::MAX));
    let (_, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();
    c.verify(&token).await.unwrap();
    let stats = c.stats();
    assert_eq!((stats.entries, stats.hits), (1, 1));
}

/// A token deleted behind the cache's back (by a process it does not hear from): once its
/// entry expires, the lookup finds it unknown, and the id moves from the tokens' map to
/// the unknown ids' (one entry, not two), answered from there afterwards.
#[tokio::test(start_paused = true)]
async fn an_expired_token_found_unknown_moves_to_the_unknown_ids() {
    let c = Cached::new(VerificationCache::new().ttl(Duration::seconds(60)));
    let (id, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();
    c.elsewhere().delete(&c.admin, &id).await.unwrap();
    tokio::time::advance(StdDuration::from_secs(60)).await;

    assert!(matches!(c.verify(&token).await, Err(VerifyError::Invalid)));
    let stats = c.stats();
    assert_eq!((stats.entries, stats.unknown_entries), (0, 1));
    let lookups = stats.lookups;
    assert!(matches!(c.verify(&token).await, Err(VerifyError::Invalid)));
    assert_eq!(c.stats().lookups, lookups, "answered from the unknown ids");
}

/// A change whose call is dropped while its write is under way still lands, whole, and
/// is announced only once it has: a verification in between is answered from the cache
/// (the change has not happened yet), and the one after the write is refused. (Time is
/// paused: the write's delay passes when every task waits, in order.)
#[tokio::test(start_paused = true)]
async fn a_write_dropped_midway_lands_and_is_announced_once_it_has() {
    let c = Arc::new(Cached::new(VerificationCache::new()));
    let (id, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();
    let lookups = c.stats().lookups;

    c.faults
        .on_next(Method::Delete, Fault::Delay(StdDuration::from_secs(3600)));
    let delete = {
        let c = Arc::clone(&c);
        tokio::spawn(async move { c.pi.delete(&c.admin, &id).await })
    };
    tokio::time::timeout(PATIENCE, async {
        while c.faults.injected().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the delete reaches storage");
    delete.abort();
    assert!(delete.await.unwrap_err().is_cancelled());

    // The write has not landed: the token verifies, from the cache, not evicted early.
    c.verify(&token).await.unwrap();
    assert_eq!(c.stats().lookups, lookups, "not evicted before the write");

    // The delayed write lands (its task outlives the dropped call) and is announced.
    tokio::time::sleep(StdDuration::from_secs(3601)).await;
    assert!(matches!(c.verify(&token).await, Err(VerifyError::Invalid)));
}

#[tokio::test]
async fn after_shutdown_the_cache_is_emptied_and_no_longer_used() {
    let c = Cached::new(VerificationCache::new());
    let (_, token) = c.create("Zapier").await;
    c.verify(&token).await.unwrap();
    assert_eq!(c.stats().entries, 1);
    c.pi.shutdown().await;
    assert_eq!(c.stats().entries, 0);
    let lookups = c.stats().lookups;
    c.verify(&token).await.unwrap();
    c.verify(&token).await.unwrap();
    let stats = c.stats();
    assert_eq!((stats.entries, stats.lookups, stats.hits), (0, lookups, 0));
}
