//! Where the service reads the time: the system clock, or a clock tests move by hand.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

/// A source of the current time. Grace periods, expiry and the rotation reminder all
/// read it; nothing runs in the background.
///
/// # Example
///
/// ```
/// use private_integrations::Clock;
/// use time::OffsetDateTime;
///
/// /// A clock stuck at the Unix epoch.
/// #[derive(Debug)]
/// struct Epoch;
/// impl Clock for Epoch {
///     fn now(&self) -> OffsetDateTime {
///         OffsetDateTime::UNIX_EPOCH
///     }
/// }
/// assert_eq!(Epoch.now().year(), 1970);
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock (UTC). The default.
///
/// # Example
///
/// ```
/// use private_integrations::{Clock, SystemClock};
/// assert!(SystemClock.now().year() >= 2024);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test keeps
/// one handle and gives another to the service.
///
/// # Example
///
/// ```
/// use private_integrations::{Clock, ManualClock};
/// use time::{Duration, macros::datetime};
///
/// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
/// let shared = clock.clone();
/// clock.advance(Duration::days(6));
/// assert_eq!(shared.now(), datetime!(2026-01-07 0:00 UTC));
/// clock.set(datetime!(2030-01-01 0:00 UTC));
/// assert_eq!(shared.now().year(), 2030);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock showing `now`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Clock, ManualClock};
    /// let clock = ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC));
    /// assert_eq!(clock.now().year(), 2026);
    /// ```
    pub fn new(now: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Moves the time by `by` (which may be negative).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Clock, ManualClock};
    /// use time::{Duration, macros::datetime};
    /// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
    /// clock.advance(Duration::days(8));
    /// assert_eq!(clock.now(), datetime!(2026-01-09 0:00 UTC));
    /// ```
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    /// Sets the time.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Clock, ManualClock};
    /// use time::macros::datetime;
    /// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
    /// clock.set(datetime!(2020-06-01 12:00 UTC));
    /// assert_eq!(clock.now().year(), 2020);
    /// ```
    pub fn set(&self, now: OffsetDateTime) {
        *self.lock() = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        // The guarded value is a plain timestamp: a panic elsewhere cannot leave it torn.
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}
