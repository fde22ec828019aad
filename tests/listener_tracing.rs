//! Operators can see the change listener work: on PostgreSQL, each reconnection and each
//! flush of the verification cache is a `tracing` event, and the counters a host exports
//! (`listener_stats`, `cache_stats`) move with them.
//!
//! One test in this file, with a global subscriber installed before anything runs: the
//! reason is in `tests/tracing.rs` (tracing caches a callsite's interest process-wide).
//! Skipped without `DATABASE_URL`, except under `CI=true`.
#![cfg(feature = "postgres")]

mod support;

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use private_integrations::storage::sqlx;
use private_integrations::*;
use support::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every event, as "LEVEL target message fields".
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        write!(self.0, " {}={value:?}", field.name()).unwrap();
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields(format!("{} {}", meta.level(), meta.target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

impl Captured {
    fn count(&self, level: &str, target: &str, text: &str) -> usize {
        let prefix = format!("{level} {target} ");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.starts_with(&prefix) && line.contains(text))
            .count()
    }
}

#[test]
fn each_reconnection_and_flush_is_reported_and_counted() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(story(captured));
}

/// Waits, under a generous timeout, until `done`.
async fn until(what: &str, done: impl Fn() -> bool) {
    let wait = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("{what} never happened"));
}

async fn story(captured: Captured) {
    let Some((url, schema)) = postgres_schema().await else {
        assert!(!in_ci(), "CI=true: DATABASE_URL must be set");
        eprintln!("SKIPPED: DATABASE_URL is not set");
        return;
    };
    let name = format!("pil {schema}");
    let storage =
        PostgresStorage::new(pool_on(&url, &schema).await).listener_application_name(&name);
    storage.migrate().await.unwrap();
    let h = Harness::new(storage.clone());
    let listener = "private_integrations::listener";
    let cache = "private_integrations::cache";

    // Listening: the first flush, reported and counted.
    until("listening", || {
        h.pi.listener_stats().is_some_and(|s| s.listening)
    })
    .await;
    until("the first flush", || {
        h.pi.cache_stats().unwrap().flushes == 1
    })
    .await;
    assert_eq!(captured.count("INFO", listener, "listening for changes"), 1);
    assert_eq!(
        captured.count("DEBUG", cache, "verification cache flushed"),
        1
    );

    // A token in the cache, then the listener's backend is terminated.
    // (The create's own announcements, arriving meanwhile, may evict it or keep a lookup
    // from filling: verify until a hit.)
    let (_, token) = h.create("Zapier", &["contacts.readonly"]).await;
    let hit = async {
        while h.pi.cache_stats().unwrap().hits == 0 {
            assert!(h.verifies(&token).await);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), hit)
        .await
        .expect("a cache hit");
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(storage.pool())
    .await
    .unwrap();
    assert_eq!(terminated, [true]);

    // The reconnection and its flush: an INFO event each time, and the counters.
    until("the reconnection", || {
        h.pi.listener_stats()
            .is_some_and(|s| s.reconnects == 1 && s.listening)
    })
    .await;
    until("the second flush", || {
        h.pi.cache_stats().unwrap().flushes == 2
    })
    .await;
    assert_eq!(captured.count("INFO", listener, "listening again"), 1);
    assert_eq!(
        captured.count("DEBUG", cache, "verification cache flushed"),
        2
    );
    let listened = h.pi.listener_stats().unwrap();
    assert_eq!((listened.reconnects, listened.flushes), (1, 2));
    assert_eq!(h.pi.cache_stats().unwrap().entries, 0);

    h.pi.shutdown().await;
    drop_schema(&url, &schema).await;
}
