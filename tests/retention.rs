//! Audit retention (issue 23, point 5): with `audit_retention` set, the service's
//! background work removes the audit events older than it, in bounded batches, at each
//! sweep; off by default.
//!
//! The service cases run on tokio's paused clock and a `ManualClock`: a sweep is brought
//! by advancing tokio's time one sweep interval, and waited for with the signals of a
//! wrapper backend ([`support::gate`]), never with sleeps. The sweep at start runs on
//! every backend (SQLite and PostgreSQL on real time, still without sleeps); the
//! conformance suite holds each backend's removal to its contract
//! (`old_audit_events_are_removed_oldest_first`).
//!
//! Two `#[ignore]`d measurements, `soak_retention_on` and `soak_retention_off`: churn
//! (create, verify, rotate, delete) on `MemoryStorage` for `SOAK_SECS` seconds (default
//! 120) at `SOAK_RATE` cycles a second (default 1,000), printing the resident memory
//! every 10 s. See BENCHMARKS.md, "Audit retention".

mod support;

use std::time::Instant;

use private_integrations::*;
use support::gate::{HeldWrites, WriteGate};
use support::*;
use time::{Duration, OffsetDateTime};

/// How often the service sweeps (the housekeeping's interval).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The retention of these cases.
const RETENTION: Duration = Duration::days(30);

fn admin(account: &str) -> Actor {
    Actor::admin(AccountId::new(account), UserId::new("u_admin"))
}

/// A service on `storage` with the clock, and `retention` if any; waits for the sweep
/// at start (with retention, for its removal of audit events).
async fn service(
    storage: impl Storage,
    gate: &WriteGate,
    clock: &ManualClock,
    retention: Option<Duration>,
) -> PrivateIntegrations {
    let (sweeps, audit) = (gate.sweeps(), gate.audit_sweeps());
    let builder = PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(clock.clone());
    let pi = match retention {
        Some(retention) => builder.audit_retention(retention).build(),
        None => builder.build(),
    };
    match retention {
        Some(_) => gate.until_audit_sweeps(audit + 1).await,
        None => gate.until_sweeps(sweeps + 1).await,
    }
    pi
}

/// Sets the clock to `at`, lets one sweep interval of tokio time pass, and waits for the
/// sweep it brings to end (its idempotency records, then its audit events if retention
/// is on: the calls to remove them have all returned).
async fn sweep_at(clock: &ManualClock, gate: &WriteGate, at: OffsetDateTime) {
    clock.set(at);
    let sweeps = gate.sweeps();
    let audit = gate.audit_sweeps();
    tokio::time::advance(SWEEP_EVERY).await;
    gate.until_sweeps(sweeps + 1).await;
    // With retention (the sweep at start has asked for a removal already), the audit
    // sweep follows the idempotency one; without, there is none to wait for.
    if gate.audit_removals() > 0 {
        gate.until_audit_sweeps(audit + 1).await;
    }
}

/// `n` feature switches by `admin` at the clock's time, the last one on: `n` events.
async fn switches(pi: &PrivateIntegrations, admin: &Actor, n: usize) {
    for k in 0..n {
        pi.set_feature_enabled(admin, (n - k) % 2 == 1)
            .await
            .unwrap();
    }
}

/// The times of the account's events, newest first.
async fn times(pi: &PrivateIntegrations, admin: &Actor) -> Vec<OffsetDateTime> {
    pi.audit_log(admin)
        .await
        .unwrap()
        .iter()
        .map(|e| e.at)
        .collect()
}

/// Events older than the retention go at the next sweep, in batches, of every account;
/// the others stay; the integrations and their tokens are untouched.
#[tokio::test(start_paused = true)]
async fn old_events_go_at_the_sweep_and_recent_ones_stay() {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = service(storage, &gate, &clock, Some(RETENTION)).await;
    assert_eq!(pi.audit_retention(), Some(RETENTION));
    let (a, b) = (admin("acct_1"), admin("acct_2"));

    // At T0: 2,500 events of one account and a creation in the other; 20 days later, a
    // rotation and 10 more switches.
    switches(&pi, &a, 2_500).await;
    let created = pi
        .create(
            &b,
            NewIntegration::new("Sync").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let id = created.integration.id().clone();
    let later = T0 + Duration::days(20);
    clock.set(later);
    let rotated = pi.rotate(&b, &id, RotationMode::ExpireNow).await.unwrap();
    switches(&pi, &a, 10).await;
    assert_eq!(times(&pi, &a).await.len(), 2_510);

    // Exactly the retention after T0: all kept (only older events go).
    sweep_at(&clock, &gate, T0 + RETENTION).await;
    assert_eq!(times(&pi, &a).await.len(), 2_510);
    assert_eq!(times(&pi, &b).await, [later, T0]);

    // Past it: the events of T0 go, of both accounts, 1,000 at a time.
    let removals = gate.audit_removals();
    sweep_at(&clock, &gate, T0 + RETENTION + Duration::SECOND).await;
    assert_eq!(times(&pi, &a).await, [later; 10]);
    assert_eq!(times(&pi, &b).await, [later]);
    assert_eq!(
        gate.audit_removals() - removals,
        3,
        "2,501 events: batches of 1,000, 1,000 and 501"
    );
    // Pages of what is left.
    let page = pi
        .audit_log_page(&a, AuditLogQuery::new().page(PageRequest::new().limit(4)))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);

    // The integration and its token are untouched.
    assert_eq!(pi.get(&b, &id).await.unwrap().id(), &id);
    assert!(pi.verify(rotated.token.expose_secret()).await.is_ok());

    // Past the retention of the later events: the log is empty.
    sweep_at(&clock, &gate, later + RETENTION + Duration::SECOND).await;
    assert!(times(&pi, &a).await.is_empty());
    assert!(times(&pi, &b).await.is_empty());
    // A new change is logged as ever.
    switches(&pi, &a, 1).await;
    assert_eq!(times(&pi, &a).await.len(), 1);
    pi.shutdown().await;
}

/// Off by default: no sweep ever asks storage to remove an event, however old.
#[tokio::test(start_paused = true)]
async fn retention_is_off_by_default() {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = service(storage, &gate, &clock, None).await;
    assert_eq!(pi.audit_retention(), None);
    let a = admin("acct_1");
    switches(&pi, &a, 3).await;
    for years in [1, 10, 100] {
        sweep_at(&clock, &gate, T0 + Duration::days(365 * years)).await;
    }
    // One more sweep: the last one's work, if it had any, is over.
    sweep_at(&clock, &gate, T0 + Duration::days(365 * 100)).await;
    assert_eq!(gate.audit_removals(), 0, "no removal was asked for");
    assert_eq!(times(&pi, &a).await, [T0; 3]);
    pi.shutdown().await;
}

/// A failed removal is logged and tried again at the next sweep.
#[tokio::test(start_paused = true)]
async fn a_failed_removal_is_retried_at_the_next_sweep() {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = service(storage, &gate, &clock, Some(RETENTION)).await;
    let a = admin("acct_1");
    switches(&pi, &a, 5).await;

    gate.fail_audit_removals(1);
    let (removals, sweeps) = (gate.audit_removals(), gate.audit_sweeps());
    clock.set(T0 + RETENTION + Duration::SECOND);
    tokio::time::advance(SWEEP_EVERY).await;
    gate.until_audit_removals(removals + 1).await;
    assert_eq!(gate.audit_sweeps(), sweeps, "the sweep failed");
    assert_eq!(times(&pi, &a).await.len(), 5, "nothing was removed");

    sweep_at(&clock, &gate, T0 + RETENTION + Duration::SECOND).await;
    assert!(
        times(&pi, &a).await.is_empty(),
        "the next sweep removed them"
    );
    pi.shutdown().await;
}

/// `shutdown` stops the sweeps: nothing is removed after it.
#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_sweeps() {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = service(storage, &gate, &clock, Some(RETENTION)).await;
    let a = admin("acct_1");
    switches(&pi, &a, 5).await;
    pi.shutdown().await;

    let removals = gate.audit_removals();
    clock.set(T0 + Duration::days(365));
    for _ in 0..5 {
        tokio::time::advance(SWEEP_EVERY).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(gate.audit_removals(), removals, "no sweep after shutdown");
    assert_eq!(times(&pi, &a).await.len(), 5);
}

/// What retention costs a leak report (documented on `audit_retention`): once the report
/// that revoked a token is removed, the token reported again is a false positive, and
/// the integration no longer lists the report; the token stays revoked.
#[tokio::test(start_paused = true)]
async fn a_token_revoked_by_a_removed_report_is_no_longer_recognised() {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = service(storage, &gate, &clock, Some(RETENTION)).await;
    let a = admin("acct_1");
    let created = pi
        .create(
            &a,
            NewIntegration::new("Sync").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let (id, token) = (created.integration.id().clone(), created.token);
    let ops = UserId::new("ops");
    let first = pi
        .report_leak(&ops, token.expose_secret(), "https://example.com/one")
        .await
        .unwrap();
    assert!(first.revoked);
    let again = pi
        .report_leak(&ops, token.expose_secret(), "https://example.com/two")
        .await
        .unwrap();
    assert_eq!(
        again.label,
        LeakLabel::TruePositive,
        "recognised by its report"
    );
    assert_eq!(pi.leaks(&a, &id).await.unwrap().len(), 2);

    sweep_at(&clock, &gate, T0 + RETENTION + Duration::SECOND).await;
    assert!(pi.leaks(&a, &id).await.unwrap().is_empty());
    let late = pi
        .report_leak(&ops, token.expose_secret(), "https://example.com/three")
        .await
        .unwrap();
    assert_eq!(late.label, LeakLabel::FalsePositive);
    assert!(!late.recorded);
    assert!(
        pi.verify(token.expose_secret()).await.is_err(),
        "still revoked"
    );
    pi.shutdown().await;
}

#[test]
#[should_panic(expected = "the audit retention must be positive")]
fn a_zero_retention_is_refused() {
    let _ = PrivateIntegrations::builder(MemoryStorage::new()).audit_retention(Duration::ZERO);
}

#[test]
#[should_panic(expected = "the audit retention must be positive")]
fn a_negative_retention_is_refused() {
    let _ = PrivateIntegrations::builder(MemoryStorage::new()).audit_retention(-Duration::DAY);
}

/// A retention longer than all time past keeps everything (no overflow), and asks
/// storage for nothing.
#[tokio::test(start_paused = true)]
async fn a_retention_beyond_all_time_keeps_everything() {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .clock(clock.clone())
        .audit_retention(Duration::MAX)
        .build();
    gate.until_sweeps(1).await;
    let a = admin("acct_1");
    switches(&pi, &a, 2).await;
    for years in [10, 1_000] {
        sweep_at(&clock, &gate, T0 + Duration::days(365 * years)).await;
    }
    assert_eq!(gate.audit_removals(), 0);
    assert_eq!(times(&pi, &a).await.len(), 2);
    pi.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Every backend: the sweep at start, on real time (no sleeps: the gate's signals).

/// Events written by a service without retention, 31 days before a second service with
/// retention starts on the same storage, are gone once its sweep at start has run; a
/// recent one stays.
async fn the_sweep_at_start_removes_old_events(storage: impl Storage + Clone) {
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(storage);
    let first = service(storage.clone(), &gate, &clock, None).await;
    let a = admin(&format!("acct_{}", unique_name()));
    switches(&first, &a, 1_200).await;
    clock.set(T0 + RETENTION);
    switches(&first, &a, 1).await;
    first.shutdown().await;
    assert_eq!(times(&first, &a).await.len(), 1_201);

    clock.set(T0 + RETENTION + Duration::SECOND);
    let second = service(storage, &gate, &clock, Some(RETENTION)).await;
    assert_eq!(times(&second, &a).await, [T0 + RETENTION]);
    second.shutdown().await;
}

#[tokio::test]
async fn the_sweep_at_start_removes_old_events_on_memory() {
    the_sweep_at_start_removes_old_events(MemoryStorage::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sweep_at_start_removes_old_events_on_sqlite() {
    the_sweep_at_start_removes_old_events(sqlite_file().await.0).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_sweep_at_start_removes_old_events_on_postgres() {
    // A schema of its own: the sweep removes old events of every account.
    let storage = postgres_or_skip!();
    the_sweep_at_start_removes_old_events(storage).await;
}

/// A batch that ends inside an instant leaves the events after it where they were: a
/// cursor taken before the removal reads on as it would have (the conformance suite
/// checks cursors at instants no batch cut; the built-in backends keep these too).
async fn a_cursor_into_a_cut_instant_reads_on(storage: impl Storage) {
    let account = AccountId::new(format!("acct_{}", unique_name()));
    // Five events at one instant, long ago, told apart by their actor.
    let at = T0 - Duration::days(365 * 200);
    let events: Vec<AuditEvent> = (0..5)
        .map(|n| AuditEvent {
            account: account.clone(),
            actor: UserId::new(format!("u_{n}")),
            integration: None,
            action: AuditAction::FeatureSwitched { enabled: true },
            at,
        })
        .collect();
    for event in &events {
        storage
            .set_feature_enabled(&account, true, event.into())
            .await
            .unwrap();
    }
    // Newest first: u_4, u_3, …; the cursor after u_3.
    let first = storage
        .audit_log_page(
            &account,
            &AuditLogQuery::new().page(PageRequest::new().limit(2)),
        )
        .await
        .unwrap();
    assert_eq!(first.items, [events[4].clone(), events[3].clone()]);
    let cursor = first.next.expect("more follow");

    // The two oldest (u_0, u_1) go; u_2 is next after the cursor, as before.
    assert_eq!(
        storage
            .remove_audit_events(at + Duration::SECOND, 2)
            .await
            .unwrap(),
        2
    );
    let next = storage
        .audit_log_page(
            &account,
            &AuditLogQuery::new().page(PageRequest::new().limit(2).after(cursor)),
        )
        .await
        .unwrap();
    assert_eq!(next.items, [events[2].clone()]);
    assert!(next.next.is_none());
}

#[tokio::test]
async fn a_cursor_into_a_cut_instant_reads_on_on_memory() {
    a_cursor_into_a_cut_instant_reads_on(MemoryStorage::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_cursor_into_a_cut_instant_reads_on_on_sqlite() {
    a_cursor_into_a_cut_instant_reads_on(sqlite_in_memory().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_cursor_into_a_cut_instant_reads_on_on_postgres() {
    let storage = postgres_or_skip!();
    a_cursor_into_a_cut_instant_reads_on(storage).await;
}

// ---------------------------------------------------------------------------------------
// Soak: resident memory under churn, with and without retention (ignored; measurements).

/// The soak runs one at a time, so that each has the process's memory to itself.
static SOAK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The resident set of this process, in MiB (`/proc/self/statm`, 4 KiB pages).
fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .expect("the resident pages");
    pages as f64 * 4096.0 / (1024.0 * 1024.0)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Churn for `SOAK_SECS` seconds at `SOAK_RATE` cycles a second: each cycle creates an
/// integration in one of 8 accounts, verifies its token, rotates it and deletes it (three
/// events) and moves the manual clock one second on; every 600 cycles (ten minutes of the
/// clock) tokio's paused time moves one sweep interval on and the sweep runs. With
/// retention (one hour of the clock), an event lives 3,600 to 4,200 cycles.
fn soak(retention: Option<Duration>) {
    let _alone = SOAK.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(churn(retention));
}

async fn churn(retention: Option<Duration>) {
    let secs = env_or("SOAK_SECS", 120);
    let rate = env_or("SOAK_RATE", 1_000).max(1);
    let clock = ManualClock::new(T0);
    let (storage, gate) = HeldWrites::new(MemoryStorage::new());
    let pi = service(storage, &gate, &clock, retention).await;
    let admins: Vec<Actor> = (0..8).map(|n| admin(&format!("acct_{n}"))).collect();
    let label = match retention {
        Some(_) => "retention on (1 hour of the clock)",
        None => "retention off",
    };
    println!(
        "soak, {label}: {secs} s at {rate} cycles/s; RSS at start {:.1} MiB",
        resident_mib()
    );
    println!(
        "{:>6} {:>10} {:>12} {:>12}",
        "s", "RSS MiB", "cycles", "events"
    );

    let start = Instant::now();
    let mut cycles: u64 = 0;
    let mut report = 0;
    loop {
        let elapsed = start.elapsed();
        if elapsed.as_secs() >= report {
            println!(
                "{:>6} {:>10.1} {:>12} {:>12}",
                report,
                resident_mib(),
                cycles,
                cycles * 3
            );
            report += 10;
        }
        if elapsed.as_secs() >= secs {
            break;
        }
        // Keep to the rate: the cycles due by now.
        let due = (elapsed.as_secs_f64() * rate as f64) as u64;
        if cycles >= due {
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        while cycles < due {
            let admin = &admins[(cycles % 8) as usize];
            let created = pi
                .create(
                    admin,
                    NewIntegration::new("Soak").scopes(["contacts.readonly"]),
                )
                .await
                .unwrap();
            let id = created.integration.id().clone();
            assert!(pi.verify(created.token.expose_secret()).await.is_ok());
            pi.rotate(admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap();
            pi.delete(admin, &id).await.unwrap();
            clock.advance(Duration::SECOND);
            cycles += 1;
            if cycles.is_multiple_of(600) {
                sweep_at(&clock, &gate, clock.now()).await;
            }
        }
    }
    let mut kept = 0;
    for admin in &admins {
        kept += pi.audit_log(admin).await.unwrap().len();
    }
    println!(
        "soak, {label}: {cycles} cycles, {} events written, {kept} kept",
        cycles * 3
    );
    pi.shutdown().await;
}

#[test]
#[ignore = "a measurement: SOAK_SECS (default 120) of churn; run with --nocapture"]
fn soak_retention_on() {
    soak(Some(Duration::HOUR));
}

#[test]
#[ignore = "a measurement: SOAK_SECS (default 120) of churn; run with --nocapture"]
fn soak_retention_off() {
    soak(None);
}
