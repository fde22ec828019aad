//! [`PrivateIntegrationsBuilder`]: how a service is configured, and `build`.

use std::fmt;
use std::sync::{Arc, Mutex};

use time::Duration;

use crate::cache::{Cache, VerificationCache};
use crate::clock::{Clock, SystemClock};
use crate::domain::leak::LeakPolicy;
use crate::domain::scope::ScopeCatalog;
use crate::domain::token::TokenFormat;
use crate::error::Error;
use crate::housekeeping::{Housekeeping, Retention};
use crate::last_used::{
    DEFAULT_LAST_USED_INTERVAL, LastUsedCounters, LastUsedRecorder, Writer, WriterParts,
};
use crate::storage::{ChangeListener, Storage};
use crate::verify::Verifier;

use super::{Background, Inner, PrivateIntegrations, listeners};

/// The default grace period of a rotation with [`RotationMode::ExpireLater`](crate::RotationMode::ExpireLater): 7 days.
///
/// # Example
///
/// ```
/// use private_integrations::DEFAULT_GRACE_PERIOD;
/// assert_eq!(DEFAULT_GRACE_PERIOD, time::Duration::days(7));
/// ```
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::days(7);

/// The default age at which a token is due for rotation: 90 days.
///
/// # Example
///
/// ```
/// use private_integrations::DEFAULT_ROTATION_INTERVAL;
/// assert_eq!(DEFAULT_ROTATION_INTERVAL, time::Duration::days(90));
/// ```
pub const DEFAULT_ROTATION_INTERVAL: Duration = Duration::days(90);

/// A [`PrivateIntegrationsBuilder`] that has no scope catalog yet; `build` needs one.
///
/// # Example
///
/// ```
/// use private_integrations::{MemoryStorage, MissingCatalog, PrivateIntegrations, PrivateIntegrationsBuilder};
/// let builder: PrivateIntegrationsBuilder<MissingCatalog> = PrivateIntegrations::builder(MemoryStorage::new());
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MissingCatalog;

/// Configures a [`PrivateIntegrations`]. Made by [`PrivateIntegrations::builder`].
///
/// A scope catalog is required: `build` only exists once
/// [`scope_catalog`](Self::scope_catalog) was called, so a service without one does not
/// compile.
///
/// # Example
///
/// ```
/// use private_integrations::*;
/// let builder = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
/// let pi = builder.build();
/// # let _ = pi;
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct PrivateIntegrationsBuilder<C = MissingCatalog> {
    storage: Arc<dyn Storage>,
    catalog: C,
    clock: Arc<dyn Clock>,
    grace_period: Duration,
    rotation_interval: Duration,
    leak_policy: LeakPolicy,
    /// `None`: audit events are kept for ever (the default).
    audit_retention: Option<Duration>,
    usage_retention: Duration,
    format: TokenFormat,
    last_used_interval: Duration,
    listeners: Vec<Arc<dyn ChangeListener>>,
    /// `None`: the default, a cache where the storage announces changes.
    cache: Option<VerificationCache>,
    /// `None`: rotations do not finish by themselves (the default).
    finish_when_silent: Option<Duration>,
}

impl<C: fmt::Debug> fmt::Debug for PrivateIntegrationsBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateIntegrationsBuilder")
            .field("storage", &self.storage)
            .field("catalog", &self.catalog)
            .field("clock", &self.clock)
            .field("grace_period", &self.grace_period)
            .field("rotation_interval", &self.rotation_interval)
            .field("leak_policy", &self.leak_policy)
            .field("audit_retention", &self.audit_retention)
            .field("usage_retention", &self.usage_retention)
            .field("format", &self.format)
            .field("last_used_interval", &self.last_used_interval)
            .field("change_listeners", &self.listeners.len())
            .field("verification_cache", &self.cache)
            .field("finish_rotation_when_silent", &self.finish_when_silent)
            .finish()
    }
}

impl<C> PrivateIntegrationsBuilder<C> {
    /// The service's scope catalog (required).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// # let _ = builder;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn scope_catalog(self, catalog: ScopeCatalog) -> PrivateIntegrationsBuilder<ScopeCatalog> {
        PrivateIntegrationsBuilder {
            storage: self.storage,
            catalog,
            clock: self.clock,
            grace_period: self.grace_period,
            rotation_interval: self.rotation_interval,
            leak_policy: self.leak_policy,
            audit_retention: self.audit_retention,
            usage_retention: self.usage_retention,
            format: self.format,
            last_used_interval: self.last_used_interval,
            listeners: self.listeners,
            cache: self.cache,
            finish_when_silent: self.finish_when_silent,
        }
    }

    /// The clock (default: [`SystemClock`]).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// let pi = builder.clock(ManualClock::new(time::OffsetDateTime::now_utc())).build();
    /// # let _ = pi;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long the previous token keeps working after a rotation with
    /// [`RotationMode::ExpireLater`](crate::RotationMode::ExpireLater) (default: [`DEFAULT_GRACE_PERIOD`], 7 days).
    ///
    /// # Panics
    ///
    /// Panics if `grace` is not positive: that is a configuration bug, found at start-up.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// let pi = builder.grace_period(time::Duration::days(14)).build();
    /// # let _ = pi;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn grace_period(mut self, grace: Duration) -> Self {
        assert!(grace.is_positive(), "the grace period must be positive");
        self.grace_period = grace;
        self
    }

    /// The token age at which an integration is due for rotation (default:
    /// [`DEFAULT_ROTATION_INTERVAL`], 90 days).
    ///
    /// # Panics
    ///
    /// Panics if `interval` is not positive.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// let pi = builder.rotation_interval(time::Duration::days(30)).build();
    /// # let _ = pi;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn rotation_interval(mut self, interval: Duration) -> Self {
        assert!(
            interval.is_positive(),
            "the rotation interval must be positive"
        );
        self.rotation_interval = interval;
        self
    }

    /// What happens to a live token reported found in a public place
    /// ([`report_leak`](PrivateIntegrations::report_leak), the secret scanning endpoint,
    /// the admin API's `POST /leaks`). Default: [`LeakPolicy::Revoke`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .leak_policy(LeakPolicy::NotifyOnly)
    ///     .build();
    /// assert_eq!(pi.leak_policy(), LeakPolicy::NotifyOnly);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn leak_policy(mut self, policy: LeakPolicy) -> Self {
        self.leak_policy = policy;
        self
    }

    /// How long audit events are kept (default: for ever). With a retention, the
    /// service's background work removes the events older than it, of every account, in
    /// bounded batches (1,000 events per storage call), the oldest first: once at
    /// [`build`](PrivateIntegrationsBuilder::build) and then every hour, so an event
    /// lives between the retention and the retention plus an hour. A batch that fails is
    /// logged at `WARN` and tried again at the next sweep. Like the last-used writer, the
    /// work runs on the tokio runtime current at `build` and stops at
    /// [`shutdown`](PrivateIntegrations::shutdown); built outside a runtime, nothing is
    /// removed.
    ///
    /// What goes with an event: its line of the admin's audit log, and what a leak
    /// report left. A token that a report revoked is recognised by the report's
    /// `token_leaked` event: once that is removed, a later report of the token is a
    /// [`LeakLabel::FalsePositive`](crate::LeakLabel::FalsePositive) (nothing recorded),
    /// and [`leaks`](PrivateIntegrations::leaks) and the settings page no longer show
    /// the report (the token stays revoked); a live token reported again from the same
    /// place is recorded again. Export the events first if they must outlive the
    /// retention.
    ///
    /// # Panics
    ///
    /// Panics if `retention` is not positive.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .audit_retention(time::Duration::days(365))
    ///     .build();
    /// assert_eq!(pi.audit_retention(), Some(time::Duration::days(365)));
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn audit_retention(mut self, retention: Duration) -> Self {
        assert!(
            retention.is_positive(),
            "the audit retention must be positive"
        );
        self.audit_retention = Some(retention);
        self
    }

    /// How long the daily use counts of each token are kept (default
    /// [`DEFAULT_USAGE_RETENTION`](crate::DEFAULT_USAGE_RETENTION), 90 days), in whole
    /// days: what [`usage`](PrivateIntegrations::usage) shows, one day per day kept.
    ///
    /// The counts are kept by the hour in storage (one row per token and hour it was
    /// used) and removed past the retention by the same background work as old audit
    /// events, in bounded batches; they go with their integration when it is deleted.
    /// They are counted whenever last-used times are recorded
    /// ([`last_used_interval`](Self::last_used_interval)). The last 24 hours are always
    /// kept, also with a retention of one day. A part of a day counts as a whole day.
    /// Replicas sharing a database should use one retention: each removes what is past
    /// its own.
    ///
    /// # Panics
    ///
    /// Panics if `retention` is shorter than a day or longer than 3,660 days (ten years).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .usage_retention(time::Duration::days(30))
    ///     .build();
    /// assert_eq!(pi.usage_retention(), time::Duration::days(30));
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn usage_retention(mut self, retention: Duration) -> Self {
        assert!(
            retention >= Duration::DAY && retention <= MAX_USAGE_RETENTION,
            "the usage retention must be between one day and ten years"
        );
        self.usage_retention = retention;
        self
    }

    /// The prefix of issued tokens, `[a-z][a-z0-9]{0,15}` (default `pit`). Verification
    /// accepts only tokens with this prefix.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed prefix.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// let pi = builder.token_prefix("acme")?.build();
    /// assert_eq!(pi.token_format().prefix(), "acme");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn token_prefix(mut self, prefix: &str) -> Result<Self, Error> {
        self.format = TokenFormat::new(prefix)?;
        Ok(self)
    }

    /// How often token uses are written (default: [`DEFAULT_LAST_USED_INTERVAL`], one
    /// minute): at most one write per token per interval, in one batch, off the request
    /// path. What admins see ([`Integration::last_used_at`](crate::Integration::last_used_at),
    /// [`PendingRotation::previous_last_used_at`](crate::PendingRotation::previous_last_used_at))
    /// is the time of the token's first use in its interval, written at the end of it:
    /// accurate to, and late by, up to one interval.
    ///
    /// `Duration::ZERO` turns last used off: nothing is noted, nothing written. An interval
    /// longer than a year is taken as a year.
    ///
    /// The writer is a task on the tokio runtime current at [`build`](PrivateIntegrationsBuilder::build),
    /// with timers enabled (`#[tokio::main]` and `#[tokio::test]` enable them). Built
    /// outside a tokio runtime, the service records no last use (and says so with a
    /// `WARN` event). [`PrivateIntegrations::shutdown`] writes what is pending.
    ///
    /// # Panics
    ///
    /// If `interval` is negative: a configuration bug, found at start-up.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// let pi = builder.last_used_interval(time::Duration::minutes(10)).build();
    /// # let _ = pi;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn last_used_interval(mut self, interval: Duration) -> Self {
        assert!(
            !interval.is_negative(),
            "the last-used interval must not be negative"
        );
        self.last_used_interval = interval;
        self
    }

    /// Also tells `listener` of every change that affects verification: this service's
    /// own writes (before each call returns, also when the call fails after reaching
    /// storage, since the change may have landed), and, if the storage announces changes
    /// ([`Storage::watch`]), every change committed by anyone, from a task on the tokio
    /// runtime current at `build`. For a cache the host keeps of verification results.
    /// May be called more than once: each listener is told.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use private_integrations::{*, storage::ChangeListener};
    ///
    /// #[derive(Default)]
    /// struct Evictions(Mutex<Vec<TokenId>>);
    /// impl ChangeListener for Evictions {
    ///     fn tokens_changed(&self, ids: &[TokenId]) { self.0.lock().unwrap().extend_from_slice(ids) }
    ///     fn announcements_lost(&self) {}
    /// }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let evictions = Arc::new(Evictions::default());
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .change_listener(evictions.clone())
    ///     .build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let created = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
    /// pi.delete(&admin, created.integration.id()).await?;
    /// assert_eq!(evictions.0.lock().unwrap().len(), 2); // its token: created, then deleted
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn change_listener(mut self, listener: Arc<dyn ChangeListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// The verification cache: token ids' records kept in this process, evicted by every
    /// announced change, for at most a time-to-live (see [`VerificationCache`] for what
    /// it guarantees).
    ///
    /// By default a service caches with [`VerificationCache::new`] where its storage
    /// announces changes (`PostgresStorage`), and not otherwise. Given here, the cache
    /// is used whatever the storage: for one that announces nothing (memory, SQLite, a
    /// backend of your own) it hears of this service's own writes only, so other
    /// processes' changes reach it when entries expire. [`VerificationCache::disabled`]
    /// turns it off.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .verification_cache(VerificationCache::new().ttl(time::Duration::seconds(10)))
    ///     .build();
    /// assert_eq!(pi.cache_stats().unwrap().entries, 0);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn verification_cache(mut self, cache: VerificationCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Lets a rotation finish by itself (off by default): once the new token has been
    /// used and the old one has not been used for `silent_for`, the old token expires,
    /// as "Expire now" would have it — the third party has switched, so the old token
    /// need not wait out the rest of the grace period. The rule, exactly:
    /// [`IntegrationRecord::finish_when_silent`](crate::storage::IntegrationRecord::finish_when_silent)
    /// (the old token's silence counts from its last use, or from the rotation's start
    /// if it was never used; a revoked token never finishes this way).
    ///
    /// Each finish is an audit event
    /// [`PreviousExpiredAutomatically`](crate::AuditAction::PreviousExpiredAutomatically)
    /// by [`AUTOMATIC_ACTOR`](crate::AUTOMATIC_ACTOR) ("expired the previous token
    /// automatically: unused for 24 hours while the new one was in use"), written and
    /// announced like any change; the settings page says it in the rotation's banner.
    ///
    /// A task on the tokio runtime current at [`build`](PrivateIntegrationsBuilder::build)
    /// looks at every rotation under way, of every account, once a minute (the first
    /// time a minute after `build`), in bounded batches
    /// ([`PrivateIntegrations::finish_silent_rotations`] is one such pass);
    /// [`shutdown`](PrivateIntegrations::shutdown) stops it. Many
    /// replicas on one database may all run it: a finish is a compare-and-swap write,
    /// so two replicas never both finish one rotation, and the one that loses does
    /// nothing. Built outside a tokio runtime, rotations do not finish by themselves
    /// (say so with a `WARN` event).
    ///
    /// It reads the last-used times ([`last_used_interval`](Self::last_used_interval)):
    /// with last used off everywhere, no new token is ever seen in use and no rotation
    /// finishes. Uses are written up to one last-used interval late, so choose
    /// `silent_for` well above it (hours, for the default of one minute). A `silent_for`
    /// as long as the grace period or longer never finishes a rotation early.
    ///
    /// # Panics
    ///
    /// Panics if `silent_for` is not positive: a configuration bug, found at start-up.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .finish_rotation_when_silent(time::Duration::hours(24))
    ///     .build();
    /// assert_eq!(pi.finish_rotation_when_silent(), Some(time::Duration::hours(24)));
    /// pi.shutdown().await; // the background task stops
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn finish_rotation_when_silent(mut self, silent_for: Duration) -> Self {
        assert!(
            silent_for.is_positive(),
            "the silence that finishes a rotation must be positive"
        );
        self.finish_when_silent = Some(silent_for);
        self
    }
}

impl PrivateIntegrationsBuilder<ScopeCatalog> {
    /// Builds the service.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let builder = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?);
    /// let pi: PrivateIntegrations = builder.build();
    /// # let _ = pi;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn build(self) -> PrivateIntegrations {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let chosen = self.cache.is_some();
        let mut cache = match self.cache {
            Some(settings) if !settings.is_enabled() => None,
            settings => Some(Arc::new(Cache::new(settings.unwrap_or_default()))),
        };
        let mut listener = listeners(&self.listeners, cache.as_ref());
        let watch = listener
            .as_ref()
            .and_then(|listener| self.storage.watch(Arc::clone(listener)));
        if watch.is_none() && !chosen && cache.is_some() {
            // The storage announces nothing: no cache unless asked for.
            cache = None;
            listener = listeners(&self.listeners, None);
        }
        let counters = Arc::new(LastUsedCounters::default());
        let (last_used, writer) = match (self.last_used_interval.unsigned_abs(), &runtime) {
            (interval, _) if interval.is_zero() => (None, None),
            (interval, Some(runtime)) => {
                let recorder = Arc::new(LastUsedRecorder::default());
                let parts = WriterParts {
                    recorder: Arc::clone(&recorder),
                    storage: Arc::clone(&self.storage),
                    clock: Arc::clone(&self.clock),
                    counters: Arc::clone(&counters),
                    usage_days: usage_days(self.usage_retention),
                };
                let writer = Writer::spawn(runtime, parts, interval);
                (Some(recorder), Some(writer))
            }
            (_, None) => {
                tracing::warn!(
                    target: "private_integrations::last_used",
                    "private integrations: built outside a tokio runtime, so token uses \
                     are not recorded (last used stays empty)"
                );
                (None, None)
            }
        };
        let housekeeping = runtime.as_ref().map(|runtime| {
            Housekeeping::spawn(
                runtime,
                Arc::clone(&self.storage),
                Arc::clone(&self.clock),
                Retention {
                    audit: self.audit_retention,
                    usage_days: usage_days(self.usage_retention),
                },
            )
        });
        // `MemoryStorage`'s token index is read in place by verification; a chosen cache
        // is used as chosen, in front of any storage.
        let memory = match cache {
            Some(_) => None,
            None => self.storage.as_memory_storage().cloned(),
        };
        #[cfg(feature = "metrics")]
        let outcomes = Arc::new(crate::verify::VerifyCounts::default());
        #[cfg(feature = "metrics")]
        let (metrics, publisher) = {
            let metrics = Arc::new(crate::metrics::Metrics::register());
            let sources = crate::metrics::Sources {
                verify: Arc::clone(&outcomes),
                cache: cache.clone(),
                last_used: Arc::clone(&counters),
                listener: watch.as_ref().map(crate::storage::Watch::counters),
            };
            let publisher = runtime.as_ref().map(|runtime| {
                crate::metrics::Publisher::spawn(runtime, Arc::clone(&metrics), sources)
            });
            (metrics, publisher)
        };
        let pi = PrivateIntegrations {
            inner: Arc::new(Inner {
                verifier: Verifier {
                    storage: self.storage,
                    catalog: self.catalog,
                    clock: self.clock,
                    format: self.format,
                    last_used,
                    cache,
                    memory,
                    #[cfg(feature = "metrics")]
                    outcomes,
                },
                grace_period: self.grace_period,
                rotation_interval: self.rotation_interval,
                leak_policy: self.leak_policy,
                audit_retention: self.audit_retention,
                usage_days: usage_days(self.usage_retention),
                last_used_counters: counters,
                listener,
                #[cfg(feature = "metrics")]
                metrics,
                in_flight: Arc::default(),
                finish_when_silent: self.finish_when_silent,
                background: Mutex::new(Background {
                    writer,
                    watch,
                    housekeeping,
                    #[cfg(feature = "metrics")]
                    publisher,
                    finisher: None,
                }),
            }),
        };
        pi.start_finishing(runtime.as_ref());
        pi
    }
}

impl PrivateIntegrations {
    /// Starts configuring a service on `storage`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{ManualClock, MemoryStorage, PrivateIntegrations, ScopeCatalog};
    /// use time::{Duration, OffsetDateTime};
    ///
    /// let clock = ManualClock::new(OffsetDateTime::now_utc());
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
    ///     .clock(clock.clone())
    ///     .grace_period(Duration::days(7))
    ///     .rotation_interval(Duration::days(90))
    ///     .token_prefix("pit")?
    ///     .build();
    /// # let _ = pi;
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn builder<S: Storage>(storage: S) -> PrivateIntegrationsBuilder<MissingCatalog> {
        PrivateIntegrationsBuilder {
            storage: Arc::new(storage),
            catalog: MissingCatalog,
            clock: Arc::new(SystemClock),
            grace_period: DEFAULT_GRACE_PERIOD,
            rotation_interval: DEFAULT_ROTATION_INTERVAL,
            leak_policy: LeakPolicy::default(),
            audit_retention: None,
            usage_retention: crate::domain::usage::DEFAULT_USAGE_RETENTION,
            format: TokenFormat::default(),
            last_used_interval: DEFAULT_LAST_USED_INTERVAL,
            listeners: Vec::new(),
            cache: None,
            finish_when_silent: None,
        }
    }
}

/// The longest usage retention: ten years.
const MAX_USAGE_RETENTION: Duration = Duration::days(3660);

/// The days a usage retention keeps: whole days, a part of one counting as one.
fn usage_days(retention: Duration) -> u16 {
    let days = retention.whole_days()
        + i64::from(retention.whole_days() * 86_400 != retention.whole_seconds());
    u16::try_from(days.clamp(1, MAX_USAGE_RETENTION.whole_days())).unwrap_or(u16::MAX)
}
