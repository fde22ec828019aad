//! The life of a change listener, as a pure state machine: no I/O, no clock, no async.
//!
//! A thin async driver (`postgres/listen.rs`) does what [`Listener::step`] asks (connect,
//! wait, receive, probe), turns what happened into an [`Event`], and carries out the
//! [`Effect`] that [`Listener::on`] returns. Every decision is made here, and tested here.
//!
//! | state \ event | `Connected` | `ConnectFailed` | `WaitOver` | `Notified(a)` | `HeartbeatDue` | `HeartbeatOk` | `HeartbeatFailed` | `Lost` |
//! |---|---|---|---|---|---|---|---|---|
//! | `Connecting` | `Listening`; flush | `Waiting` (backoff) | — | — | — | — | — | — |
//! | `Waiting` | — | — | `Connecting` | — | — | — | — | — |
//! | `Listening` | — | — | — | announce `a` | `Probing` | — | — | `Connecting` at once; drop the connection |
//! | `Probing` | — | — | — | announce `a` | — | `Listening` | `Connecting` at once; drop the connection | as `HeartbeatFailed` |
//!
//! (— : cannot happen; ignored.)
//!
//! **When the cache is flushed.** Every time the listener starts listening — the first
//! time, and after every loss — [`Effect::Flush`] tells the listener that announcements
//! may have been missed: what changed while nobody listened is unknown. It is *not*
//! flushed when the loss is detected: during a database outage the cache is what keeps
//! verifying the tokens it holds (until their time-to-live), and flushing it then would
//! refuse every token at once. Ordering makes the later flush enough: the driver listens
//! first and flushes after, so a change committed after the flush is announced, and one
//! committed before it is covered by the flush.
//!
//! **A silent connection.** A connection that is half-open (the network dropped it
//! without a reset; `sqlx` sets no TCP keepalive) delivers nothing and reports nothing.
//! The heartbeat finds it: every `heartbeat_interval` the driver runs a query on the
//! listener's own connection; no answer within `heartbeat_timeout` means the connection
//! is given up, as if lost. So a silent connection is detected within
//! `heartbeat_interval + heartbeat_timeout`.
//!
//! **Reconnecting.** The first attempt after a loss is immediate; after `n` failed
//! attempts in a row the next waits `reconnect_delay_min × 2ⁿ⁻¹`, at most
//! `reconnect_delay_max`.

use std::time::Duration;

use crate::domain::ids::TokenId;

/// The channel every announcement is sent on (`pg_notify` in the triggers of
/// `migrations/postgres/0003_announce_changes.sql`).
pub(crate) const CHANNEL: &str = "pi_changes";

/// How the listener paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenerSettings {
    /// How long a connection may sit without a heartbeat.
    pub(crate) heartbeat_interval: Duration,
    /// How long a heartbeat may take before the connection counts as silent.
    pub(crate) heartbeat_timeout: Duration,
    /// How long one connection attempt (connect, `LISTEN`) may take.
    pub(crate) connect_timeout: Duration,
    /// The wait after the first failed attempt; it doubles with each further failure.
    pub(crate) reconnect_delay_min: Duration,
    /// The longest wait between attempts.
    pub(crate) reconnect_delay_max: Duration,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            reconnect_delay_min: Duration::from_millis(100),
            reconnect_delay_max: Duration::from_secs(2),
        }
    }
}

/// Where the listener is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Opening a connection and listening on it. `failures`: attempts that failed in a
    /// row; `reconnecting`: a connection was held before.
    Connecting { failures: u32, reconnecting: bool },
    /// Waiting before the next attempt.
    Waiting { failures: u32, reconnecting: bool },
    /// Listening: waiting for an announcement, until the next heartbeat is due.
    Listening,
    /// A heartbeat is on its way.
    Probing,
}

/// What the driver does next, in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Open a connection and listen, within `timeout`: then [`Event::Connected`] or
    /// [`Event::ConnectFailed`].
    Connect { timeout: Duration },
    /// Sleep for `delay`: then [`Event::WaitOver`].
    Wait { delay: Duration },
    /// Receive announcements ([`Event::Notified`], [`Event::Lost`]) until the heartbeat is
    /// due, `heartbeat_interval` after the listener entered [`State::Listening`]: then
    /// [`Event::HeartbeatDue`].
    Receive { heartbeat_interval: Duration },
    /// Run a heartbeat query on the listener's connection, within `timeout`: then
    /// [`Event::HeartbeatOk`], [`Event::HeartbeatFailed`] or [`Event::Lost`].
    Probe { timeout: Duration },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The connection is open and listening.
    Connected,
    /// The connection attempt failed or timed out.
    ConnectFailed,
    /// The wait is over.
    WaitOver,
    /// An announcement arrived on the channel.
    Notified(Announcement),
    /// The connection reported itself lost.
    Lost,
    /// No heartbeat for `heartbeat_interval`.
    HeartbeatDue,
    /// The heartbeat came back.
    HeartbeatOk,
    /// The heartbeat did not come back in time.
    HeartbeatFailed,
}

/// What an announcement says, for this storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Announcement {
    /// These token ids may verify differently now.
    Tokens(Vec<TokenId>),
    /// Anything may have changed (a table was truncated, or the payload is not one this
    /// version understands).
    Everything,
    /// A change to another schema's tables: not ours.
    Elsewhere,
}

/// What the driver must do about an event, besides the next [`Step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing.
    None,
    /// Tell the listener these token ids changed.
    Announce(Vec<TokenId>),
    /// Tell the listener that announcements may have been missed.
    Flush(Flush),
    /// Drop the connection: it is gone, or silent. Reconnect at once.
    Disconnect(Cause),
    /// The connection attempt failed; the next one comes after `delay`.
    Retry { delay: Duration },
}

/// Why the listener flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// It listens for the first time: what was cached before was not covered.
    Started,
    /// It listens again after a loss: what changed in the gap was not announced.
    Reconnected,
    /// An announcement said that anything may have changed.
    Announced,
}

/// Why a connection was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// It reported itself lost (closed, reset, terminated by the server).
    Lost,
    /// It stayed silent: the heartbeat did not come back in time.
    Silent,
}

/// The listener's state machine. See the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listener {
    settings: ListenerSettings,
    state: State,
}

impl Listener {
    /// A listener about to connect for the first time.
    pub(crate) fn new(settings: ListenerSettings) -> Self {
        Self {
            settings,
            state: State::Connecting {
                failures: 0,
                reconnecting: false,
            },
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// What the driver does next.
    pub(crate) fn step(&self) -> Step {
        let s = &self.settings;
        match self.state {
            State::Connecting { .. } => Step::Connect {
                timeout: s.connect_timeout,
            },
            State::Waiting { failures, .. } => Step::Wait {
                delay: self.backoff(failures),
            },
            State::Listening => Step::Receive {
                heartbeat_interval: s.heartbeat_interval,
            },
            State::Probing => Step::Probe {
                timeout: s.heartbeat_timeout,
            },
        }
    }

    /// The next state after `event`, and what to do about it.
    pub(crate) fn on(&mut self, event: Event) -> Effect {
        let lost = State::Connecting {
            failures: 0,
            reconnecting: true,
        };
        let (next, effect) = match (self.state, event) {
            (State::Connecting { reconnecting, .. }, Event::Connected) => (
                State::Listening,
                Effect::Flush(if reconnecting {
                    Flush::Reconnected
                } else {
                    Flush::Started
                }),
            ),
            (
                State::Connecting {
                    failures,
                    reconnecting,
                },
                Event::ConnectFailed,
            ) => {
                let failures = failures.saturating_add(1);
                (
                    State::Waiting {
                        failures,
                        reconnecting,
                    },
                    Effect::Retry {
                        delay: self.backoff(failures),
                    },
                )
            }
            (
                State::Waiting {
                    failures,
                    reconnecting,
                },
                Event::WaitOver,
            ) => (
                State::Connecting {
                    failures,
                    reconnecting,
                },
                Effect::None,
            ),
            (state @ (State::Listening | State::Probing), Event::Notified(announcement)) => {
                let effect = match announcement {
                    Announcement::Tokens(ids) if ids.is_empty() => Effect::None,
                    Announcement::Tokens(ids) => Effect::Announce(ids),
                    Announcement::Everything => Effect::Flush(Flush::Announced),
                    Announcement::Elsewhere => Effect::None,
                };
                (state, effect)
            }
            (State::Listening, Event::HeartbeatDue) => (State::Probing, Effect::None),
            (State::Probing, Event::HeartbeatOk) => (State::Listening, Effect::None),
            (State::Probing, Event::HeartbeatFailed) => (lost, Effect::Disconnect(Cause::Silent)),
            (State::Listening | State::Probing, Event::Lost) => {
                (lost, Effect::Disconnect(Cause::Lost))
            }
            // Nothing else can happen in these states: keep going as before.
            (state, _) => (state, Effect::None),
        };
        self.state = next;
        effect
    }

    /// The wait after `failures` failed attempts in a row.
    fn backoff(&self, failures: u32) -> Duration {
        let s = &self.settings;
        let doublings = failures.saturating_sub(1).min(16);
        s.reconnect_delay_min
            .saturating_mul(1 << doublings)
            .min(s.reconnect_delay_max)
    }
}

/// What an announcement's payload says for the tables in `schema`.
///
/// The payload is JSON, sent by the triggers: `{"v":1,"schema":"public","tokens":["AbCd…"]}`
/// for a change of rows, `{"v":1,"schema":"public","all":true}` for a truncated table.
/// Changes to another schema's tables are [`Announcement::Elsewhere`]. Anything this
/// version cannot read (another format, a missing schema) is
/// [`Announcement::Everything`]: when in doubt, flush. A token id that is not well-formed
/// is skipped: no verification can have found it.
pub(crate) fn announcement(payload: &str, schema: &str) -> Announcement {
    use serde_json::Value;
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(payload) else {
        return Announcement::Everything;
    };
    match fields.get("schema") {
        Some(Value::String(theirs)) if theirs != schema => return Announcement::Elsewhere,
        Some(Value::String(_)) => {}
        _ => return Announcement::Everything,
    }
    if fields.get("v") != Some(&Value::from(1)) || fields.get("all") == Some(&Value::Bool(true)) {
        return Announcement::Everything;
    }
    match fields.get("tokens") {
        Some(Value::Array(ids)) => Announcement::Tokens(
            ids.iter()
                .filter_map(Value::as_str)
                .filter_map(|id| TokenId::parse(id).ok())
                .collect(),
        ),
        _ => Announcement::Everything,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settings() -> ListenerSettings {
        ListenerSettings {
            heartbeat_interval: 1000 * MS,
            heartbeat_timeout: 500 * MS,
            connect_timeout: 3000 * MS,
            reconnect_delay_min: 100 * MS,
            reconnect_delay_max: 1000 * MS,
        }
    }

    fn id(n: u8) -> TokenId {
        TokenId::parse(&format!("{n:0>16}")).unwrap()
    }

    fn tokens(ids: &[u8]) -> Event {
        Event::Notified(Announcement::Tokens(ids.iter().map(|n| id(*n)).collect()))
    }

    /// A listener that has connected and flushed once.
    fn listening() -> Listener {
        let mut l = Listener::new(settings());
        assert_eq!(l.on(Event::Connected), Effect::Flush(Flush::Started));
        l
    }

    #[test]
    fn it_connects_listens_and_flushes_what_was_cached_before() {
        let mut l = Listener::new(settings());
        assert_eq!(l.step(), Step::Connect { timeout: 3000 * MS });
        assert_eq!(l.on(Event::Connected), Effect::Flush(Flush::Started));
        assert_eq!(l.state(), State::Listening);
        assert_eq!(
            l.step(),
            Step::Receive {
                heartbeat_interval: 1000 * MS
            }
        );
    }

    #[test]
    fn announcements_reach_the_listener_while_listening_or_probing() {
        let mut l = listening();
        assert_eq!(l.on(tokens(&[1, 2])), Effect::Announce(vec![id(1), id(2)]));
        assert_eq!(l.on(tokens(&[])), Effect::None);
        assert_eq!(l.on(Event::Notified(Announcement::Elsewhere)), Effect::None);
        assert_eq!(
            l.on(Event::Notified(Announcement::Everything)),
            Effect::Flush(Flush::Announced)
        );
        assert_eq!(l.state(), State::Listening);
        // Announcements read during a heartbeat are not lost.
        l.on(Event::HeartbeatDue);
        assert_eq!(l.on(tokens(&[3])), Effect::Announce(vec![id(3)]));
        assert_eq!(l.state(), State::Probing);
    }

    #[test]
    fn a_heartbeat_that_comes_back_keeps_the_connection() {
        let mut l = listening();
        assert_eq!(l.on(Event::HeartbeatDue), Effect::None);
        assert_eq!(l.step(), Step::Probe { timeout: 500 * MS });
        assert_eq!(l.on(Event::HeartbeatOk), Effect::None);
        assert_eq!(l.state(), State::Listening);
    }

    #[test]
    fn a_silent_connection_is_dropped_and_flushed_once_listening_again() {
        let mut l = listening();
        l.on(Event::HeartbeatDue);
        // Detected: dropped, but the cache is not flushed while nothing listens.
        assert_eq!(
            l.on(Event::HeartbeatFailed),
            Effect::Disconnect(Cause::Silent)
        );
        assert_eq!(l.step(), Step::Connect { timeout: 3000 * MS });
        assert_eq!(l.on(Event::Connected), Effect::Flush(Flush::Reconnected));
    }

    #[test]
    fn a_lost_connection_reconnects_at_once_and_flushes_once_listening_again() {
        for probing in [false, true] {
            let mut l = listening();
            if probing {
                l.on(Event::HeartbeatDue);
            }
            assert_eq!(l.on(Event::Lost), Effect::Disconnect(Cause::Lost));
            assert_eq!(
                l.state(),
                State::Connecting {
                    failures: 0,
                    reconnecting: true
                }
            );
            assert_eq!(l.on(Event::Connected), Effect::Flush(Flush::Reconnected));
        }
    }

    #[test]
    fn failed_attempts_back_off_exponentially_up_to_the_maximum() {
        let mut l = listening();
        l.on(Event::Lost);
        let mut delays = Vec::new();
        for _ in 0..7 {
            let Effect::Retry { delay } = l.on(Event::ConnectFailed) else {
                panic!("a failed attempt is retried")
            };
            assert_eq!(l.step(), Step::Wait { delay });
            delays.push(delay.as_millis());
            assert_eq!(l.on(Event::WaitOver), Effect::None);
            assert!(matches!(l.step(), Step::Connect { .. }));
        }
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        // Still a reconnection, however long it took; and the count starts over.
        assert_eq!(l.on(Event::Connected), Effect::Flush(Flush::Reconnected));
        l.on(Event::Lost);
        assert_eq!(
            l.on(Event::ConnectFailed),
            Effect::Retry { delay: 100 * MS }
        );
    }

    #[test]
    fn a_first_connection_that_fails_is_not_a_reconnection() {
        let mut l = Listener::new(settings());
        l.on(Event::ConnectFailed);
        l.on(Event::WaitOver);
        assert_eq!(l.on(Event::Connected), Effect::Flush(Flush::Started));
    }

    #[test]
    fn backoff_never_overflows() {
        let mut l = Listener::new(ListenerSettings {
            reconnect_delay_max: Duration::MAX,
            ..settings()
        });
        for _ in 0..100 {
            l.on(Event::ConnectFailed);
            l.on(Event::WaitOver);
        }
        assert_eq!(
            l.on(Event::ConnectFailed),
            Effect::Retry {
                delay: 100 * MS * (1 << 16)
            }
        );
    }

    #[test]
    fn events_that_cannot_happen_change_nothing() {
        let impossible = [
            (
                State::Connecting {
                    failures: 0,
                    reconnecting: false,
                },
                vec![
                    Event::WaitOver,
                    tokens(&[1]),
                    Event::Lost,
                    Event::HeartbeatDue,
                    Event::HeartbeatOk,
                    Event::HeartbeatFailed,
                ],
            ),
            (
                State::Listening,
                vec![
                    Event::Connected,
                    Event::ConnectFailed,
                    Event::WaitOver,
                    Event::HeartbeatOk,
                    Event::HeartbeatFailed,
                ],
            ),
            (
                State::Probing,
                vec![
                    Event::Connected,
                    Event::ConnectFailed,
                    Event::WaitOver,
                    Event::HeartbeatDue,
                ],
            ),
        ];
        for (state, events) in impossible {
            for event in events {
                let mut l = Listener {
                    settings: settings(),
                    state,
                };
                assert_eq!(l.on(event.clone()), Effect::None, "{state:?} + {event:?}");
                assert_eq!(l.state(), state, "{state:?} + {event:?}");
            }
        }
        let mut waiting = Listener {
            settings: settings(),
            state: State::Waiting {
                failures: 1,
                reconnecting: true,
            },
        };
        assert_eq!(waiting.on(tokens(&[1])), Effect::None);
        assert_eq!(waiting.on(Event::Connected), Effect::None);
    }

    #[test]
    fn payloads_are_read_for_this_schema_only() {
        let ours = "pi_test_1";
        assert_eq!(
            announcement(
                r#"{"v":1,"schema":"pi_test_1","tokens":["0000000000000001","0000000000000002"]}"#,
                ours
            ),
            Announcement::Tokens(vec![id(1), id(2)])
        );
        assert_eq!(
            announcement(
                r#"{"v":1,"schema":"pi_test_2","tokens":["0000000000000001"]}"#,
                ours
            ),
            Announcement::Elsewhere
        );
        assert_eq!(
            announcement(r#"{"v":1,"schema":"pi_test_2","all":true}"#, ours),
            Announcement::Elsewhere
        );
        assert_eq!(
            announcement(r#"{"v":1,"schema":"pi_test_1","all":true}"#, ours),
            Announcement::Everything
        );
        // An id that is not well-formed cannot have been verified: skipped.
        assert_eq!(
            announcement(
                r#"{"v":1,"schema":"pi_test_1","tokens":["short",7,"0000000000000003"]}"#,
                ours
            ),
            Announcement::Tokens(vec![id(3)])
        );
        // When in doubt, flush.
        for unreadable in [
            "",
            "not json",
            "[]",
            r#"{"v":1,"tokens":["0000000000000001"]}"#,
            r#"{"v":2,"schema":"pi_test_1","tokens":["0000000000000001"]}"#,
            r#"{"v":1,"schema":"pi_test_1"}"#,
            r#"{"v":1,"schema":7,"tokens":[]}"#,
        ] {
            assert_eq!(
                announcement(unreadable, ours),
                Announcement::Everything,
                "{unreadable}"
            );
        }
    }
}
