//! The driver of the change listener: does what the state machine
//! ([`storage::listener`](crate::storage::listener)) asks, on a connection of its own, and
//! tells the [`ChangeListener`] what it says. No decision is made here.
//!
//! Each connection attempt opens a fresh one-connection pool (with the storage pool's
//! connect options and the listener's `application_name`) and a `PgListener` on it, with
//! `sqlx`'s own reconnection switched off: a lost or silent connection is dropped whole,
//! and the state machine decides when to connect again. (Dropping a `PgListener` sends
//! `UNLISTEN *` from a background task; on a silent connection that task waits until
//! the operating system gives up on it. A fresh pool per attempt means it never holds
//! up the next connection.)

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::super::listener::{
    self, CHANNEL, Cause, Effect, Event, Flush, Listener, ListenerSettings, State, Step,
};
use super::super::sql::backend;
use super::super::{ChangeListener, ListenerCounters, StorageError};

/// The target of the listener's `tracing` events.
pub(super) const TARGET: &str = "private_integrations::listener";

/// Runs the listener until the task is aborted.
pub(super) async fn run(
    pool: PgPool,
    settings: ListenerSettings,
    application_name: Arc<str>,
    listener: Arc<dyn ChangeListener>,
    counters: Arc<ListenerCounters>,
) {
    let mut machine = Listener::new(settings);
    let mut connection: Option<PgListener> = None;
    // Where the tables are, learned on the first connection: announcements name it.
    let mut schema: Option<String> = None;
    let mut heartbeat_at = Instant::now();
    loop {
        let event = match machine.step() {
            Step::Connect { timeout: limit } => {
                let attempt = connect(&pool, &application_name, &mut schema);
                match timeout(limit, attempt).await {
                    Ok(Ok(opened)) => {
                        connection = Some(opened);
                        Event::Connected
                    }
                    Ok(Err(err)) => {
                        failed_to_connect(&err.chain());
                        Event::ConnectFailed
                    }
                    Err(_) => {
                        failed_to_connect(&format!(
                            "no connection within {} ms",
                            limit.as_millis()
                        ));
                        Event::ConnectFailed
                    }
                }
            }
            Step::Wait { delay } => {
                sleep(delay).await;
                Event::WaitOver
            }
            Step::Receive { .. } => match (connection.as_mut(), schema.as_deref()) {
                (Some(open), Some(schema)) => {
                    // Whichever comes first. Dropping `try_recv` when the heartbeat is
                    // due is safe: with a connection in place it only reads whole
                    // messages from the socket's buffer.
                    let mut received = pin!(open.try_recv());
                    let mut due = pin!(sleep_until(heartbeat_at));
                    let received = poll_fn(|cx| match received.as_mut().poll(cx) {
                        Poll::Ready(received) => Poll::Ready(Some(received)),
                        Poll::Pending => due.as_mut().poll(cx).map(|()| None),
                    })
                    .await;
                    match received {
                        None => Event::HeartbeatDue,
                        Some(Ok(Some(notification))) if notification.channel() == CHANNEL => {
                            Event::Notified(listener::announcement(notification.payload(), schema))
                        }
                        Some(Ok(Some(_))) => continue,
                        Some(Ok(None)) => {
                            lost(&"the connection was closed");
                            Event::Lost
                        }
                        Some(Err(err)) => {
                            lost(&backend(err).chain());
                            Event::Lost
                        }
                    }
                }
                _ => Event::Lost,
            },
            Step::Probe { timeout: limit } => match connection.as_mut() {
                Some(open) => {
                    match timeout(limit, sqlx::query("SELECT 1").execute(&mut *open)).await {
                        Ok(Ok(_)) => Event::HeartbeatOk,
                        Ok(Err(err)) => {
                            lost(&backend(err).chain());
                            Event::Lost
                        }
                        Err(_) => Event::HeartbeatFailed,
                    }
                }
                None => Event::Lost,
            },
        };
        let before = machine.state();
        let effect = machine.on(event);
        if machine.state() == State::Listening && before != State::Listening {
            heartbeat_at = Instant::now() + settings.heartbeat_interval;
        }
        match effect {
            Effect::None => {}
            Effect::Announce(token_ids) => {
                counters.notified();
                listener.tokens_changed(&token_ids);
            }
            Effect::Flush(why) => {
                match why {
                    Flush::Started => {
                        counters.listening(true);
                        tracing::info!(
                            target: TARGET,
                            "private integrations: listening for changes; cache flushed"
                        );
                    }
                    Flush::Reconnected => {
                        counters.listening(true);
                        counters.reconnected();
                        tracing::info!(
                            target: TARGET,
                            "private integrations: listening again; changes made meanwhile \
                             were not announced, cache flushed"
                        );
                    }
                    Flush::Announced => {
                        counters.notified();
                        tracing::info!(
                            target: TARGET,
                            "private integrations: a table was emptied or an announcement \
                             was unreadable; cache flushed"
                        );
                    }
                }
                counters.flushed();
                listener.announcements_lost();
            }
            Effect::Disconnect(cause) => {
                counters.listening(false);
                if cause == Cause::Silent {
                    counters.heartbeat_failed();
                    tracing::warn!(
                        target: TARGET,
                        timeout_ms = settings.heartbeat_timeout.as_millis() as u64,
                        "private integrations: the change listener's connection is silent \
                         (no heartbeat); reconnecting",
                    );
                }
                // Dropped whole: a fresh connection next.
                connection = None;
            }
            Effect::Retry { delay } => {
                counters.connect_failed();
                counters.reconnect_delay(delay);
                tracing::debug!(
                    target: TARGET,
                    retry_in_ms = delay.as_millis() as u64,
                    "private integrations: change listener retries"
                );
            }
        }
    }
}

/// Opens a listening connection. The first time, learns which schema the storage's
/// tables are in (through the storage's own pool, so with its `search_path`).
async fn connect(
    pool: &PgPool,
    application_name: &str,
    schema: &mut Option<String>,
) -> Result<PgListener, StorageError> {
    if schema.is_none() {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass('pi_integrations')",
        )
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
        *schema = Some(found.ok_or_else(|| {
            StorageError::backend("no table pi_integrations: call migrate() first")
        })?);
    }
    let options = (*pool.connect_options())
        .clone()
        .application_name(application_name);
    let own = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut listening = PgListener::connect_with(&own).await.map_err(backend)?;
    listening.eager_reconnect(false);
    listening.ignore_pool_close_event(true);
    listening.listen(CHANNEL).await.map_err(backend)?;
    Ok(listening)
}

fn failed_to_connect(err: &dyn std::fmt::Display) {
    tracing::warn!(
        target: TARGET,
        error = %err,
        "private integrations: the change listener cannot connect; retrying",
    );
}

fn lost(err: &dyn std::fmt::Display) {
    tracing::warn!(
        target: TARGET,
        error = %err,
        "private integrations: the change listener lost its connection; reconnecting",
    );
}
