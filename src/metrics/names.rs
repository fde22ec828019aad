//! The metrics' names (OpenTelemetry semantic-convention style: dotted, lower case, the
//! unit in the description and the `metrics` unit), and the one handle registered below
//! the service: the listener's reconnect delay, recorded where it happens. Imports
//! nothing from the crate, so that any room may point down at it.

use metrics::Unit;

/// Verifications, by `outcome`: `ok`, `invalid`, `expired`, `malformed`, `storage_error`.
pub(crate) const VERIFY_COUNT: &str = "private_integrations.verify.count";
/// Verifications answered from the verification cache.
pub(crate) const CACHE_HITS: &str = "private_integrations.cache.hits";
/// Verifications that asked the storage through the cache.
pub(crate) const CACHE_MISSES: &str = "private_integrations.cache.misses";
/// Cache entries removed, by `reason`: `change` (a change touched the token), `room`
/// (to make room, or past its time-to-live).
pub(crate) const CACHE_EVICTIONS: &str = "private_integrations.cache.evictions";
/// Times the whole cache was emptied because announcements may have been missed.
pub(crate) const CACHE_FLUSHES: &str = "private_integrations.cache.flushes";
/// Times the change listener started listening (the first time and after each loss).
pub(crate) const LISTENER_CONNECTS: &str = "private_integrations.listener.connects";
/// Times the change listener's connection was lost or went silent.
pub(crate) const LISTENER_LOSSES: &str = "private_integrations.listener.losses";
/// The waits before the listener's next connection attempt, in seconds.
pub(crate) const LISTENER_RECONNECT_DELAY: &str = "private_integrations.listener.reconnect_delay";
/// Last-used batches, by `outcome`: `written`, `failed`.
pub(crate) const LAST_USED_BATCHES: &str = "private_integrations.last_used.batches";
/// Management calls, by `operation` and `outcome`.
pub(crate) const MANAGEMENT_CALLS: &str = "private_integrations.management.calls";

/// The histogram of the listener's reconnect delays, described and registered with the
/// `metrics` recorder current now.
pub(crate) fn reconnect_delay() -> metrics::Histogram {
    metrics::describe_histogram!(
        LISTENER_RECONNECT_DELAY,
        Unit::Seconds,
        "Waits before the change listener's next connection attempt, in seconds."
    );
    metrics::histogram!(LISTENER_RECONNECT_DELAY)
}
