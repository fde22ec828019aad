//! Usage, the admin's story: how often each token was used, day by day, counted on the
//! verification path and written with the last-used times; the current token apart
//! from the ones it replaced; and what a shutdown writes.
//!
//! The service runs on a `ManualClock` (the days and hours counts fall in) and on
//! tokio's paused time (the writer's interval), so nothing here sleeps: the test moves
//! time, then lets the writer run until its batch is written.

mod support;

use std::time::Duration as StdDuration;

use private_integrations::*;
use support::*;
use time::Duration;

const MINUTE: StdDuration = StdDuration::from_secs(60);

/// A service on memory storage, built here, on this test's runtime, with the default
/// last-used interval of one minute.
struct Story {
    pi: PrivateIntegrations,
    clock: ManualClock,
    admin: Actor,
}

impl Story {
    fn new() -> Self {
        Self::with(|builder| builder)
    }

    fn with(
        configure: impl FnOnce(
            PrivateIntegrationsBuilder<ScopeCatalog>,
        ) -> PrivateIntegrationsBuilder<ScopeCatalog>,
    ) -> Self {
        let clock = ManualClock::new(T0);
        let builder = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone());
        Self {
            pi: configure(builder).build(),
            clock,
            admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
        }
    }

    async fn create(&self, name: &str) -> (IntegrationId, IssuedToken) {
        let created = self
            .pi
            .create(
                &self.admin,
                NewIntegration::new(name).scopes(["contacts.readonly"]),
            )
            .await
            .unwrap();
        (created.integration.id().clone(), created.token)
    }

    async fn verify(&self, token: &IssuedToken, times: usize) {
        for _ in 0..times {
            self.pi
                .verify(token.expose_secret())
                .await
                .expect("verifies");
        }
    }

    async fn usage(&self, id: &IntegrationId) -> Usage {
        self.pi.usage(&self.admin, id).await.unwrap()
    }

    /// Lets one interval pass, and lets the writer run until it has written `n` batches
    /// of counts in all.
    async fn interval_passes(&self, n: u64) {
        // The writer starts its timer when it first runs.
        tokio::task::yield_now().await;
        tokio::time::advance(MINUTE).await;
        for _ in 0..10_000 {
            if self.pi.last_used_stats().count_batches >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "batch {n} of counts was never written: {:?}",
            self.pi.last_used_stats()
        );
    }
}

/// Today's (current, previous) and the last 24 hours' (current, previous).
fn today(usage: &Usage) -> ((u64, u64), (u64, u64)) {
    let day = usage.days().last().expect("today is there");
    let last = usage.last_24_hours();
    (
        (day.current(), day.previous()),
        (last.current(), last.previous()),
    )
}

#[tokio::test(start_paused = true)]
async fn the_admin_sees_how_often_each_token_was_used() {
    let s = Story::new();
    let (id, token) = s.create("Zapier").await;
    let (other, other_token) = s.create("Make").await;

    let usage = s.usage(&id).await;
    assert!(usage.recorded());
    assert_eq!(usage.days().len(), 90, "the default retention, one per day");
    assert_eq!(usage.days().last().unwrap().date(), T0.date());
    assert_eq!(today(&usage), ((0, 0), (0, 0)), "never used");

    s.verify(&token, 3).await;
    s.verify(&other_token, 1).await;
    assert_eq!(
        today(&s.usage(&id).await),
        ((0, 0), (0, 0)),
        "not written yet"
    );
    s.interval_passes(1).await;
    assert_eq!(today(&s.usage(&id).await), ((3, 0), (3, 0)));
    assert_eq!(today(&s.usage(&other).await), ((1, 0), (1, 0)));

    // Refusals are not uses.
    let wrong = wrong_secret(token.expose_secret());
    assert!(s.pi.verify(&wrong).await.is_err());
    // Counts add up over batches.
    s.verify(&token, 2).await;
    s.interval_passes(2).await;
    assert_eq!(today(&s.usage(&id).await), ((5, 0), (5, 0)));
    let stats = s.pi.last_used_stats();
    assert_eq!((stats.count_batches, stats.failed_count_batches), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn the_current_token_is_counted_apart_from_the_one_it_replaced() {
    let s = Story::new();
    let (id, old) = s.create("Zapier").await;
    s.verify(&old, 2).await;
    s.interval_passes(1).await;

    // The admin rotates, keeping the old token for the grace period; the third party
    // has not moved yet, then moves half way.
    let rotated =
        s.pi.rotate(&s.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap();
    s.verify(&old, 4).await;
    s.verify(&rotated.token, 1).await;
    s.interval_passes(2).await;
    // The old token's uses before the rotation are its own too: it is the previous one.
    assert_eq!(today(&s.usage(&id).await), ((1, 6), (1, 6)));

    // Once the rotation is finished the old token's uses stay, as the previous ones.
    s.pi.expire_previous_now(&s.admin, &id).await.unwrap();
    s.verify(&rotated.token, 1).await;
    s.interval_passes(3).await;
    assert_eq!(today(&s.usage(&id).await), ((2, 6), (2, 6)));
}

#[tokio::test(start_paused = true)]
async fn uses_fall_on_their_days_and_the_last_24_hours_move_on() {
    let s = Story::new();
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 10).await;
    s.interval_passes(1).await;

    // A day and an hour later: yesterday's 10 are out of the last 24 hours.
    s.clock.advance(Duration::hours(25));
    s.verify(&token, 1).await;
    s.interval_passes(2).await;
    let usage = s.usage(&id).await;
    let days: Vec<u64> = usage
        .days()
        .iter()
        .rev()
        .take(3)
        .map(|d| d.current())
        .collect();
    assert_eq!(days, [1, 10, 0], "today, yesterday, the day before");
    assert_eq!(usage.last_24_hours().current(), 1);
    assert_eq!(usage.recent_days(30).len(), 30);
    assert_eq!(
        usage.days().last().unwrap().date(),
        (T0 + Duration::hours(25)).date()
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_writes_what_was_counted() {
    let s = Story::new();
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 7).await;
    s.pi.shutdown().await;
    assert_eq!(today(&s.usage(&id).await), ((7, 0), (7, 0)));
    assert_eq!(s.pi.last_used_stats().count_batches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uses_on_every_thread_add_up() {
    let s = Story::new();
    let (id, token) = s.create("Zapier").await;
    let (id2, token2) = s.create("Make").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let pi = s.pi.clone();
            let token = if i % 2 == 0 { &token } else { &token2 };
            let secret = token.expose_secret().to_owned();
            tokio::spawn(async move {
                for _ in 0..500 {
                    pi.verify(&secret).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // A thread that counted and ended meanwhile: its uses are not lost.
    let pi = s.pi.clone();
    let secret = token.expose_secret().to_owned();
    std::thread::spawn(move || {
        for _ in 0..100 {
            ready(pi.verify(&secret)).unwrap();
        }
    })
    .join()
    .unwrap();
    s.pi.shutdown().await;
    assert_eq!(today(&s.usage(&id).await).0, (2_100, 0));
    assert_eq!(today(&s.usage(&id2).await).0, (2_000, 0));
}

#[tokio::test(start_paused = true)]
async fn usage_is_read_as_an_integration_is() {
    let s = Story::new();
    let (id, _) = s.create("Zapier").await;
    let other_admin = Actor::admin(AccountId::new("acct_2"), UserId::new("u_eve"));
    assert!(matches!(
        s.pi.usage(&other_admin, &id).await,
        Err(Error::NotFound)
    ));
    let member = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    assert!(matches!(
        s.pi.usage(&member, &id).await,
        Err(Error::PermissionDenied)
    ));
    s.pi.delete(&s.admin, &id).await.unwrap();
    assert!(matches!(
        s.pi.usage(&s.admin, &id).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_shorter_retention_shows_fewer_days() {
    let s = Story::with(|b| b.usage_retention(Duration::days(30)));
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 1).await;
    s.interval_passes(1).await;
    let usage = s.usage(&id).await;
    assert_eq!(usage.days().len(), 30);
    assert_eq!(s.pi.usage_retention(), Duration::days(30));
    assert_eq!(today(&usage), ((1, 0), (1, 0)));
}

#[test]
#[should_panic(expected = "the usage retention must be between one day and ten years")]
fn a_retention_under_a_day_is_refused() {
    let _ = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .usage_retention(Duration::hours(23));
}

#[test]
fn a_service_that_records_no_last_used_times_counts_nothing() {
    // Built outside a runtime: no writer, so no counts, and usage says so.
    let s = Story::new();
    let (id, token) = ready(s.create("Zapier"));
    for _ in 0..3 {
        ready(s.pi.verify(token.expose_secret())).unwrap();
    }
    let usage = ready(s.usage(&id));
    assert!(!usage.recorded());
    assert!(usage.days().iter().all(|d| d.total() == 0));
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_counts_that_fails_is_kept_for_the_next_one() {
    use support::faults::{Fault, Faults, FaultyStorage, Method};
    let faults = Faults::new();
    let clock = ManualClock::new(T0);
    let s = Story {
        pi: PrivateIntegrations::builder(FaultyStorage::new(MemoryStorage::new(), faults.clone()))
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .build(),
        clock,
        admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
    };
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 4).await;
    // The database is down when the interval ends: the batch fails, and is kept.
    faults.on_next(Method::RecordTokenUses, Fault::FailBefore);
    tokio::task::yield_now().await;
    tokio::time::advance(MINUTE).await;
    for _ in 0..10_000 {
        if s.pi.last_used_stats().failed_count_batches >= 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let stats = s.pi.last_used_stats();
    assert_eq!((stats.count_batches, stats.failed_count_batches), (0, 1));
    assert_eq!(today(&s.usage(&id).await), ((0, 0), (0, 0)));

    // Back up: the next batch holds both intervals' uses, in the hour they fell in.
    s.verify(&token, 1).await;
    s.interval_passes(1).await;
    assert_eq!(today(&s.usage(&id).await), ((5, 0), (5, 0)));
    // Nothing is written twice.
    s.interval_passes(1).await;
    s.pi.shutdown().await;
    assert_eq!(today(&s.usage(&id).await), ((5, 0), (5, 0)));
    assert_eq!(s.pi.last_used_stats().count_batches, 1);
}

#[tokio::test(start_paused = true)]
async fn counts_of_a_deleted_integration_go_with_it() {
    let memory = MemoryStorage::new();
    let clock = ManualClock::new(T0);
    let s = Story {
        pi: PrivateIntegrations::builder(memory.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .build(),
        clock,
        admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
    };
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 2).await;
    s.interval_passes(1).await;
    let since = T0 - Duration::days(1);
    let stored = |memory: MemoryStorage, account: AccountId, id: IntegrationId| async move {
        memory.token_uses(&account, &id, since).await.unwrap()
    };
    let account = s.admin.account().clone();
    assert_eq!(
        stored(memory.clone(), account.clone(), id.clone()).await,
        [storage::TokenUses::new(*token.token_id(), T0, 2)]
    );
    // One more use, counted but not yet written, then the integration is deleted: its
    // counts go, and the pending one is dropped when it is written.
    s.verify(&token, 1).await;
    s.pi.delete(&s.admin, &id).await.unwrap();
    assert!(
        stored(memory.clone(), account.clone(), id.clone())
            .await
            .is_empty()
    );
    s.pi.shutdown().await;
    assert_eq!(s.pi.last_used_stats().count_batches, 2);
    assert!(stored(memory, account, id).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn counts_older_than_the_retention_are_removed_in_the_background() {
    use support::gate::HeldWrites;
    let memory = MemoryStorage::new();
    let (held, gate) = HeldWrites::new(memory.clone());
    let clock = ManualClock::new(T0);
    let s = Story {
        pi: PrivateIntegrations::builder(held)
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .usage_retention(Duration::days(2))
            .build(),
        clock,
        admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
    };
    // The sweep at start.
    gate.until_usage_sweeps(1).await;
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 3).await;
    s.interval_passes(1).await;
    let stored = || {
        let (memory, account, id) = (memory.clone(), s.admin.account().clone(), id.clone());
        async move {
            memory
                .token_uses(&account, &id, time::OffsetDateTime::UNIX_EPOCH)
                .await
                .unwrap()
                .iter()
                .map(|u| (u.hour, u.uses))
                .collect::<Vec<_>>()
        }
    };
    // Tomorrow: still kept (the retention keeps today and yesterday).
    s.clock.advance(Duration::days(1));
    s.verify(&token, 1).await;
    s.interval_passes(2).await;
    tokio::time::advance(StdDuration::from_secs(3600)).await;
    gate.until_usage_sweeps(2).await;
    let t0_hour = T0.replace_minute(0).unwrap();
    let next_hour = (T0 + Duration::days(1)).replace_minute(0).unwrap();
    let mut kept = stored().await;
    kept.sort();
    assert_eq!(kept, [(t0_hour, 3), (next_hour, 1)]);
    // The day after: T0's day has passed the retention; the sweep removes its counts.
    s.clock.advance(Duration::days(1));
    tokio::time::advance(StdDuration::from_secs(3600)).await;
    gate.until_usage_sweeps(3).await;
    assert_eq!(stored().await, [(next_hour, 1)]);
    let usage = s.usage(&id).await;
    let days: Vec<u64> = usage.days().iter().map(|d| d.current()).collect();
    assert_eq!(days, [1, 0]);
}

#[tokio::test(start_paused = true)]
async fn a_one_day_retention_still_shows_the_last_24_hours() {
    let s = Story::with(|b| b.usage_retention(Duration::days(1)));
    // 23:50 UTC: five uses; forty minutes later it is the next day.
    s.clock.advance(Duration::hours(14) + Duration::minutes(50));
    let (id, token) = s.create("Zapier").await;
    s.verify(&token, 5).await;
    s.interval_passes(1).await;
    let before = s.usage(&id).await;
    assert_eq!(today(&before), ((5, 0), (5, 0)), "{before:?}");
    s.clock.advance(Duration::minutes(40));
    let usage = s.usage(&id).await;
    assert_eq!(usage.days().len(), 1, "{usage:?}");
    assert_eq!(today(&usage), ((0, 0), (5, 0)));
}
