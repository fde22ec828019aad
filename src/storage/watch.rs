//! [`Watch`]: the handle on a backend's announcements running in the background, and the
//! counters operators read from it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::task::JoinHandle;

/// The background task of a backend that announces changes (see
/// [`Storage::watch`](super::Storage::watch)), and what it has seen.
///
/// - [`stop`](Self::stop) ends the task and returns once it no longer runs.
/// - Dropping a `Watch` ends the task too, without waiting: it is aborted at its next
///   await point, and a connection it held is closed in the background.
///
/// Nothing is lost by stopping: a listener only receives, it has nothing to write.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use private_integrations::storage::{ListenerCounters, Watch};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let counters = Arc::new(ListenerCounters::default());
/// let watch = Watch::spawn(counters, std::future::pending()).expect("inside a tokio runtime");
/// assert_eq!(watch.stats().reconnects, 0);
/// watch.stop().await;
/// # });
/// ```
#[derive(Debug)]
pub struct Watch {
    task: JoinHandle<()>,
    counters: Arc<ListenerCounters>,
}

impl Watch {
    /// Runs `task` on the tokio runtime current here, reporting through `counters`.
    /// `None` when no tokio runtime is current.
    ///
    /// For a backend of your own: `task` receives announcements and calls its
    /// [`ChangeListener`](super::ChangeListener); it may run forever, [`stop`](Self::stop)
    /// and drop abort it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use private_integrations::storage::{ListenerCounters, Watch};
    /// // Outside a runtime there is nowhere to run.
    /// assert!(Watch::spawn(Arc::new(ListenerCounters::default()), async {}).is_none());
    /// ```
    pub fn spawn(
        counters: Arc<ListenerCounters>,
        task: impl Future<Output = ()> + Send + 'static,
    ) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(Self {
            task: runtime.spawn(task),
            counters,
        })
    }

    /// Ends the task; returns once it no longer runs.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use private_integrations::storage::{ListenerCounters, Watch};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let watch = Watch::spawn(Arc::new(ListenerCounters::default()), std::future::pending()).unwrap();
    /// watch.stop().await;
    /// # });
    /// ```
    pub async fn stop(mut self) {
        self.task.abort();
        // Aborted, or ended before: either way it no longer runs. A panic inside it was
        // already reported by the runtime.
        let _ = (&mut self.task).await;
    }

    /// Whether the task has ended (stopped, or panicked).
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use private_integrations::storage::{ListenerCounters, Watch};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let watch = Watch::spawn(Arc::new(ListenerCounters::default()), std::future::pending()).unwrap();
    /// assert!(!watch.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// What the listener has seen so far.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use private_integrations::storage::{ListenerCounters, Watch};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let counters = Arc::new(ListenerCounters::default());
    /// let watch = Watch::spawn(counters.clone(), std::future::pending()).unwrap();
    /// counters.notified();
    /// assert_eq!(watch.stats().notifications, 1);
    /// # });
    /// ```
    pub fn stats(&self) -> ListenerStats {
        self.counters.snapshot()
    }

    /// The live counters, for the service's metrics publisher.
    #[cfg(feature = "metrics")]
    pub(crate) fn counters(&self) -> Arc<ListenerCounters> {
        Arc::clone(&self.counters)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a change listener has seen, at one moment: counters since it started, for a
/// host's health checks and metrics. Read with [`Watch::stats`].
///
/// # Example
///
/// ```
/// use private_integrations::storage::ListenerStats;
/// fn healthy(stats: &ListenerStats) -> bool {
///     stats.listening
/// }
/// assert!(!healthy(&ListenerStats::default()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStats {
    /// Announcements received for this storage (other schemas' are not counted).
    pub notifications: u64,
    /// Times the listener listened again after losing its connection.
    pub reconnects: u64,
    /// Times the listener told its [`ChangeListener`](super::ChangeListener) that
    /// announcements may have been missed (`announcements_lost`).
    pub flushes: u64,
    /// Heartbeats that failed or timed out: a silent connection, given up.
    pub heartbeat_failures: u64,
    /// Connection attempts that failed (each is retried after a delay).
    pub connect_failures: u64,
    /// Times the listener started listening: the first connection and every reconnection.
    pub connects: u64,
    /// Times the listener stopped listening because its connection was lost or silent.
    pub losses: u64,
    /// Whether the listener is connected and listening right now.
    pub listening: bool,
}

/// The live counters behind [`ListenerStats`], bumped by the listener's task.
///
/// With feature `metrics`, [`default`](Default::default) also registers the histogram
/// `private_integrations.listener.reconnect_delay` with the `metrics` recorder current
/// then (the service builds its listener's counters in `build`), and
/// [`reconnect_delay`](Self::reconnect_delay) records into it.
///
/// # Example
///
/// ```
/// use private_integrations::storage::ListenerCounters;
/// let counters = ListenerCounters::default();
/// counters.listening(true);
/// counters.flushed();
/// let stats = counters.snapshot();
/// assert!(stats.listening);
/// assert_eq!(stats.flushes, 1);
/// ```
#[derive(Debug)]
pub struct ListenerCounters {
    notifications: AtomicU64,
    reconnects: AtomicU64,
    flushes: AtomicU64,
    heartbeat_failures: AtomicU64,
    connect_failures: AtomicU64,
    connects: AtomicU64,
    losses: AtomicU64,
    listening: AtomicBool,
    #[cfg(feature = "metrics")]
    reconnect_delay: metrics::Histogram,
}

impl Default for ListenerCounters {
    fn default() -> Self {
        Self {
            notifications: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            heartbeat_failures: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            #[cfg(feature = "metrics")]
            reconnect_delay: crate::metrics::names::reconnect_delay(),
        }
    }
}

impl ListenerCounters {
    /// An announcement for this storage arrived.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.notified();
    /// assert_eq!(counters.snapshot().notifications, 1);
    /// ```
    pub fn notified(&self) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }

    /// The listener listens again after losing its connection.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.reconnected();
    /// assert_eq!(counters.snapshot().reconnects, 1);
    /// ```
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// The listener called `announcements_lost`.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.flushed();
    /// assert_eq!(counters.snapshot().flushes, 1);
    /// ```
    pub fn flushed(&self) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// A heartbeat failed or timed out.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.heartbeat_failed();
    /// assert_eq!(counters.snapshot().heartbeat_failures, 1);
    /// ```
    pub fn heartbeat_failed(&self) {
        self.heartbeat_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection attempt failed.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.connect_failed();
    /// assert_eq!(counters.snapshot().connect_failures, 1);
    /// ```
    pub fn connect_failed(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The listener waits `delay` before its next connection attempt. With feature
    /// `metrics`, recorded in the histogram `private_integrations.listener.reconnect_delay`
    /// (seconds); nothing else is kept.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.reconnect_delay(std::time::Duration::from_millis(100));
    /// ```
    pub fn reconnect_delay(&self, delay: std::time::Duration) {
        #[cfg(feature = "metrics")]
        self.reconnect_delay.record(delay.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = delay;
    }

    /// Whether the listener is listening now. Going from not listening to listening
    /// counts a connect; from listening to not listening, a loss.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// let counters = ListenerCounters::default();
    /// counters.listening(true);
    /// counters.listening(false);
    /// counters.listening(true);
    /// let stats = counters.snapshot();
    /// assert!(stats.listening);
    /// assert_eq!((stats.connects, stats.losses), (2, 1));
    /// ```
    pub fn listening(&self, listening: bool) {
        let was = self.listening.swap(listening, Ordering::Relaxed);
        match (was, listening) {
            (false, true) => self.connects.fetch_add(1, Ordering::Relaxed),
            (true, false) => self.losses.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// The counters now.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::storage::ListenerCounters;
    /// assert_eq!(ListenerCounters::default().snapshot(), Default::default());
    /// ```
    pub fn snapshot(&self) -> ListenerStats {
        ListenerStats {
            notifications: self.notifications.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            heartbeat_failures: self.heartbeat_failures.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            losses: self.losses.load(Ordering::Relaxed),
            listening: self.listening.load(Ordering::Relaxed),
        }
    }
}
