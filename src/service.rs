//! [`PrivateIntegrations`]: policy, orchestration and audit around the pure domain.
//!
//! Every management call follows the same steps: check the actor (permission and feature
//! switch), read the clock once, load the record of the actor's account, apply a domain
//! function, and write the result with compare-and-swap together with its audit event.
//! No lifecycle rule lives here.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use rand::rngs::SysRng;
use time::{Duration, OffsetDateTime};

use crate::cache::{Cache, CacheStats, VerificationCache};
use crate::clock::{Clock, SystemClock};
use crate::domain::access::{Actor, Permission};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::credentials::{Credentials, RotationMode, TokenCredential, Transition};
use crate::domain::idempotency::{
    AlreadyDone, Fingerprint, IdempotencyKey, IdempotencyRecord, Outcome,
};
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::integration::{
    Integration, IntegrationRecord, IntegrationUpdate, NewIntegration,
};
use crate::domain::page::{AuditLogQuery, Page, PageRequest};
use crate::domain::scope::ScopeCatalog;
use crate::domain::token::{IssuedToken, TokenFormat};
use crate::error::{Error, InvalidInput, StorageError};
use crate::housekeeping::Housekeeping;
use crate::last_used::{
    DEFAULT_LAST_USED_INTERVAL, LastUsedCounters, LastUsedRecorder, LastUsedStats, Writer,
};
use crate::storage::{Change, ChangeListener, ListenerStats, MemoryStorage, Storage, Watch};
use crate::telemetry;

/// The default grace period of a rotation with [`RotationMode::ExpireLater`]: 7 days.
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

/// The Private Integrations service: management calls for account admins, and
/// [`verify`](Self::verify) for every incoming request.
///
/// Cheap to clone (a reference count); `Send + Sync`, so one instance serves every task.
///
/// # Who may do what
///
/// - Integration calls (`create`, `get`, `list`, `update`, `rotate`, `cancel_rotation`,
///   `expire_previous_now`, `delete`, `rotation_due`, `audit_log`) need the permission to
///   manage Private Integrations: admins have it by default, and a per-user
///   [`Permission`] set by an admin overrides the role either way. They also need the
///   feature switched on for the account ([`Error::FeatureDisabled`] otherwise).
/// - `set_permission` and `set_feature_enabled` need the admin role, and work while the
///   feature is off (so it can be switched back on). No admin changes their own
///   permission: a deny on an admin is set, and lifted, by another admin.
/// - An actor only ever sees its own account: another account's integration is
///   [`Error::NotFound`].
///
/// Every check happens before any write, and a failed call changes nothing.
///
/// # Example
///
/// ```
/// use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
///     .build();
/// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let created = pi
///     .create(&admin, NewIntegration::new("Zapier sync").scopes(["contacts.readonly"]))
///     .await?;
/// let verified = pi.verify(created.token.expose_secret()).await.unwrap();
/// assert!(verified.has_scope("contacts.readonly"));
/// assert!(!verified.has_scope("contacts.write"));
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct PrivateIntegrations {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) catalog: ScopeCatalog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) format: TokenFormat,
    pub(crate) grace_period: Duration,
    pub(crate) rotation_interval: Duration,
    /// Notes token uses for the last-used writer; `None` while last used is off.
    pub(crate) last_used: Option<Arc<LastUsedRecorder>>,
    last_used_counters: Arc<LastUsedCounters>,
    /// Told of every change: this service's own writes, and (through `background.watch`)
    /// what the storage announces. `None`: nobody to tell.
    pub(crate) listener: Option<Arc<dyn ChangeListener>>,
    /// The verification cache, if any (also in `listener`).
    pub(crate) cache: Option<Arc<Cache>>,
    /// The storage, when it is a `MemoryStorage` and no cache was chosen: verification
    /// reads its token index in place.
    pub(crate) memory: Option<MemoryStorage>,
    /// The idempotency keys whose calls are under way in this process.
    in_flight: Arc<Mutex<HashSet<OnceKey>>>,
    /// The background tasks, until `shutdown` takes them.
    background: Mutex<Background>,
}

/// The tasks a service runs beside its calls. Dropped with the service: the writer then
/// writes what is pending and ends (if the runtime still runs), the watch is aborted.
#[derive(Default)]
struct Background {
    /// The last-used writer.
    writer: Option<Writer>,
    /// The storage's announcements, for `listener`.
    watch: Option<Watch>,
    /// The removal of old idempotency records.
    housekeeping: Option<Housekeeping>,
}

/// Every listener of the builder (and the cache), as one.
struct Listeners(Vec<Arc<dyn ChangeListener>>);

/// The one listener to tell of changes: the cache (first) and the builder's listeners.
fn listeners(
    listeners: &[Arc<dyn ChangeListener>],
    cache: Option<&Arc<Cache>>,
) -> Option<Arc<dyn ChangeListener>> {
    let mut all: Vec<Arc<dyn ChangeListener>> = Vec::with_capacity(listeners.len() + 1);
    if let Some(cache) = cache {
        all.push(Arc::clone(cache) as Arc<dyn ChangeListener>);
    }
    all.extend(listeners.iter().cloned());
    (!all.is_empty()).then(|| Arc::new(Listeners(all)) as Arc<dyn ChangeListener>)
}

impl Listeners {
    /// Tells every listener, each on its own: a listener that panics is reported and the
    /// others are still told, and the backend's listening task goes on.
    fn tell(&self, what: &str, tell: impl Fn(&dyn ChangeListener)) {
        for listener in &self.0 {
            let told = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tell(&**listener);
            }));
            if told.is_err() {
                tracing::error!(
                    target: "private_integrations::listener",
                    call = what,
                    "private integrations: a change listener panicked; the others were told",
                );
            }
        }
    }
}

impl ChangeListener for Listeners {
    fn tokens_changed(&self, token_ids: &[crate::TokenId]) {
        self.tell("tokens_changed", |listener| {
            listener.tokens_changed(token_ids)
        });
    }

    fn announcements_lost(&self) {
        self.tell("announcements_lost", |listener| {
            listener.announcements_lost()
        });
    }
}

impl fmt::Debug for PrivateIntegrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("PrivateIntegrations")
            .field("storage", &inner.storage)
            .field("catalog", &inner.catalog)
            .field("clock", &inner.clock)
            .field("format", &inner.format)
            .field("grace_period", &inner.grace_period)
            .field("rotation_interval", &inner.rotation_interval)
            .field("last_used", &inner.last_used.is_some())
            .field("verification_cache", &inner.cache)
            .finish_non_exhaustive()
    }
}

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
    format: TokenFormat,
    last_used_interval: Duration,
    listeners: Vec<Arc<dyn ChangeListener>>,
    /// `None`: the default, a cache where the storage announces changes.
    cache: Option<VerificationCache>,
}

impl<C: fmt::Debug> fmt::Debug for PrivateIntegrationsBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateIntegrationsBuilder")
            .field("storage", &self.storage)
            .field("catalog", &self.catalog)
            .field("clock", &self.clock)
            .field("grace_period", &self.grace_period)
            .field("rotation_interval", &self.rotation_interval)
            .field("format", &self.format)
            .field("last_used_interval", &self.last_used_interval)
            .field("change_listeners", &self.listeners.len())
            .field("verification_cache", &self.cache)
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
            format: self.format,
            last_used_interval: self.last_used_interval,
            listeners: self.listeners,
            cache: self.cache,
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
    /// [`RotationMode::ExpireLater`] (default: [`DEFAULT_GRACE_PERIOD`], 7 days).
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
    /// path. What admins see ([`Integration::last_used_at`],
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
                let writer = Writer::spawn(
                    runtime,
                    Arc::clone(&recorder),
                    Arc::clone(&self.storage),
                    interval,
                    Arc::clone(&counters),
                );
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
            Housekeeping::spawn(runtime, Arc::clone(&self.storage), Arc::clone(&self.clock))
        });
        // `MemoryStorage`'s token index is read in place by verification; a chosen cache
        // is used as chosen, in front of any storage.
        let memory = match cache {
            Some(_) => None,
            None => self.storage.as_memory_storage().cloned(),
        };
        PrivateIntegrations {
            inner: Arc::new(Inner {
                storage: self.storage,
                catalog: self.catalog,
                clock: self.clock,
                format: self.format,
                grace_period: self.grace_period,
                rotation_interval: self.rotation_interval,
                last_used,
                last_used_counters: counters,
                listener,
                memory,
                cache,
                in_flight: Arc::default(),
                background: Mutex::new(Background {
                    writer,
                    watch,
                    housekeeping,
                }),
            }),
        }
    }
}

/// The result of [`PrivateIntegrations::create`].
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let Created { integration, token, .. } =
///     pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
/// assert_eq!(integration.name(), "Sync");
/// assert!(pi.verify(token.expose_secret()).await.is_ok());
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Created {
    /// The new integration.
    pub integration: Integration,
    /// Its token: show it to the admin now, it cannot be retrieved again.
    pub token: IssuedToken,
}

/// The result of [`PrivateIntegrations::rotate`].
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let id = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.integration.id().clone();
/// let Rotated { integration, token, .. } = pi.rotate(&admin, &id, RotationMode::ExpireNow).await?;
/// assert_eq!(integration.version(), 2);
/// assert!(pi.verify(token.expose_secret()).await.is_ok());
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Rotated {
    /// The integration after the rotation.
    pub integration: Integration,
    /// The new token: show it to the admin now, it cannot be retrieved again.
    pub token: IssuedToken,
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
            format: TokenFormat::default(),
            last_used_interval: DEFAULT_LAST_USED_INTERVAL,
            listeners: Vec::new(),
            cache: None,
        }
    }

    /// Stops the background work and waits for it: the change listener (if any) stops,
    /// and the last-used writer writes the uses noted since its last batch, then stops.
    /// When it returns, no task of this service runs. Call it once the server has
    /// drained its requests (e.g. after axum's graceful shutdown).
    ///
    /// The service keeps answering afterwards (every clone shares it), but no longer
    /// records uses, and no longer hears of other replicas' changes; so its
    /// verification cache, if any, is emptied and no longer used (every verification
    /// asks the storage).
    ///
    /// **Dropped without `shutdown`**, the service stops its listener at once; its writer
    /// notices, writes what is pending and ends, but only if the tokio runtime still
    /// runs: at process exit (the runtime gone) the uses noted since the last batch, up
    /// to one interval's worth, are lost. A batch whose write fails is lost too (it is
    /// logged at `WARN`).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// // … serve requests until asked to stop, then:
    /// pi.shutdown().await;
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn shutdown(&self) {
        let (writer, watch, housekeeping) = {
            let mut background = self
                .inner
                .background
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            (
                background.writer.take(),
                background.watch.take(),
                background.housekeeping.take(),
            )
        };
        if let Some(housekeeping) = housekeeping {
            housekeeping.stop().await;
        }
        if let Some(watch) = watch {
            watch.stop().await;
        }
        if let Some(cache) = &self.inner.cache {
            cache.stop();
        }
        if let Some(writer) = writer {
            writer.stop().await;
        }
    }

    /// What the last-used writer has done so far.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert_eq!(pi.last_used_stats().batches, 0);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn last_used_stats(&self) -> LastUsedStats {
        self.inner.last_used_counters.snapshot()
    }

    /// What the verification cache has done so far; `None` if this service has no cache
    /// (see [`PrivateIntegrationsBuilder::verification_cache`]).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .verification_cache(VerificationCache::new())
    ///     .build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// pi.verify(token.expose_secret()).await.unwrap(); // a miss: asks the storage
    /// pi.verify(token.expose_secret()).await.unwrap(); // a hit
    /// let stats = pi.cache_stats().unwrap();
    /// assert_eq!((stats.misses, stats.hits, stats.entries), (1, 1, 1));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(|cache| cache.stats())
    }

    /// Whether this service records token uses (see
    /// [`PrivateIntegrationsBuilder::last_used_interval`]): if not, an empty
    /// [`Integration::last_used_at`] means "not recorded" rather than "never used".
    #[cfg(feature = "admin-ui")]
    pub(crate) fn records_last_used(&self) -> bool {
        self.inner.last_used.is_some()
    }

    /// What the change listener has seen so far; `None` if none runs (no
    /// [`change_listener`](PrivateIntegrationsBuilder::change_listener), a storage that
    /// announces nothing, or after [`shutdown`](Self::shutdown)).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert!(pi.listener_stats().is_none()); // memory storage: no one else to hear from
    /// # Ok::<(), Error>(())
    /// ```
    pub fn listener_stats(&self) -> Option<ListenerStats> {
        let background = self
            .inner
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        background.watch.as_ref().map(Watch::stats)
    }

    /// The scope catalog.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// assert!(pi.scope_catalog().contains("contacts.write"));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn scope_catalog(&self) -> ScopeCatalog {
        self.inner.catalog
    }

    /// The token format (prefix, length, regex for secret scanners).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// assert_eq!(pi.token_format().prefix(), "pit");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn token_format(&self) -> TokenFormat {
        self.inner.format
    }

    /// Creates an integration and issues its first token.
    ///
    /// Cancel-safe: if the returned future is dropped once the write has begun, the
    /// write still runs to its end (see [`once`](Self::once) for calls a client may
    /// repeat).
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`], [`Error::FeatureDisabled`], [`Error::InvalidInput`],
    /// [`Error::UnknownScope`], [`Error::Storage`]. A create never overwrites: an id
    /// collision is [`Error::Conflict`] (retry).
    pub async fn create(&self, actor: &Actor, new: NewIntegration) -> Result<Created, Error> {
        only_done(self.create_once(actor, new, None).await?)
    }

    pub(crate) async fn create_once(
        &self,
        actor: &Actor,
        new: NewIntegration,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Created>, Error> {
        self.authorize(actor).await?;
        let fields = new.validate(self.inner.catalog)?;
        let call = match self
            .begin_once(actor, key, || Fingerprint::of_create(&new))
            .await?
        {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let now = self.now();
        let (current, token) = self.issue(now)?;
        let id = IntegrationId::generate(&mut SysRng).map_err(Error::Randomness)?;
        let record = IntegrationRecord::create(
            id,
            actor.account().clone(),
            fields,
            Credentials::new(current),
            now,
        );
        let event = audit(actor, Some(&record.id), AuditAction::Created, now);
        let touched = record.credentials.token_ids().collect();
        let integration = self.view(&record, now);
        let pending = Pending::new(Write::Insert(record), event, touched, call);
        if let Some(first) = self.commit(pending).await? {
            return Ok(Outcome::AlreadyDone(Box::new(first)));
        }
        Ok(Outcome::Done(Created { integration, token }))
    }

    /// One integration of the actor's account.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (also for another account's integration),
    /// [`Error::PermissionDenied`], [`Error::FeatureDisabled`], [`Error::Storage`].
    pub async fn get(&self, actor: &Actor, id: &IntegrationId) -> Result<Integration, Error> {
        self.authorize(actor).await?;
        let now = self.now();
        let record = self.load(actor, id).await?;
        Ok(self.view(&record, now))
    }

    /// Every integration of the actor's account, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`], [`Error::FeatureDisabled`], [`Error::Storage`].
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Integration>, Error> {
        self.authorize(actor).await?;
        let now = self.now();
        let records = self.inner.storage.list(actor.account()).await?;
        Ok(records.iter().map(|r| self.view(r, now)).collect())
    }

    /// Edits name, description or scopes. The token does not change and keeps working;
    /// new scopes apply from the next verification.
    ///
    /// An update that names the version it was made from
    /// ([`IntegrationUpdate::expect_version`]) applies only if the integration is still
    /// at that version: an edit made from an old copy never undoes a newer change.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`Error::InvalidInput`], [`Error::UnknownScope`] and
    /// [`Error::Conflict`] (a concurrent change won, or the integration is no longer at
    /// the version the update names: reload and retry).
    pub async fn update(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        update: IntegrationUpdate,
    ) -> Result<Integration, Error> {
        only_done(self.update_once(actor, id, update, None).await?)
    }

    pub(crate) async fn update_once(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        update: IntegrationUpdate,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Integration>, Error> {
        let catalog = self.inner.catalog;
        let fingerprint = || Fingerprint::of_update(id, &update);
        self.change(
            actor,
            id,
            AuditAction::Updated,
            (key, fingerprint),
            |record, now| update.apply(record, catalog, now),
        )
        .await
    }

    /// Issues a new token.
    ///
    /// With [`RotationMode::ExpireLater`] the previous token keeps working for the grace
    /// period; with [`RotationMode::ExpireNow`] every older token stops at once (for a
    /// leaked token; allowed in any state).
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), plus [`Error::RotationInProgress`] for `ExpireLater`
    /// while a rotation is under way.
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        mode: RotationMode,
    ) -> Result<Rotated, Error> {
        only_done(self.rotate_once(actor, id, mode, None).await?)
    }

    pub(crate) async fn rotate_once(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        mode: RotationMode,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Rotated>, Error> {
        self.authorize(actor).await?;
        let call = match self
            .begin_once(actor, key, || Fingerprint::of_rotate(id, mode))
            .await?
        {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let now = self.now();
        let (new, token) = self.issue(now)?;
        let grace = self.inner.grace_period;
        let transition = Transition::Rotate { mode, new, grace };
        let written = self
            .write(
                actor,
                id,
                AuditAction::Rotated { mode },
                now,
                call,
                |record| record.transition(transition, now),
            )
            .await?;
        Ok(written.map(|integration| Rotated { integration, token }))
    }

    /// Cancels a rotation under way: the new token stops working at once, and the
    /// previous one keeps working with no expiry (the third party needs more time).
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), plus [`Error::NoRotationInProgress`].
    pub async fn cancel_rotation(
        &self,
        actor: &Actor,
        id: &IntegrationId,
    ) -> Result<Integration, Error> {
        only_done(self.cancel_rotation_once(actor, id, None).await?)
    }

    pub(crate) async fn cancel_rotation_once(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Integration>, Error> {
        let fingerprint = || Fingerprint::of_cancel_rotation(id);
        self.change(
            actor,
            id,
            AuditAction::RotationCancelled,
            (key, fingerprint),
            |record, now| record.transition(Transition::CancelRotation, now),
        )
        .await
    }

    /// Ends a rotation's grace period now: the previous token stops working at once, the
    /// new one stays.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), plus [`Error::NoRotationInProgress`].
    pub async fn expire_previous_now(
        &self,
        actor: &Actor,
        id: &IntegrationId,
    ) -> Result<Integration, Error> {
        only_done(self.expire_previous_now_once(actor, id, None).await?)
    }

    pub(crate) async fn expire_previous_now_once(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Integration>, Error> {
        let fingerprint = || Fingerprint::of_expire_previous_now(id);
        self.change(
            actor,
            id,
            AuditAction::PreviousExpired,
            (key, fingerprint),
            |record, now| record.transition(Transition::ExpirePreviousNow, now),
        )
        .await
    }

    /// Deletes an integration: every one of its tokens stops working at once.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`Error::Conflict`].
    pub async fn delete(&self, actor: &Actor, id: &IntegrationId) -> Result<(), Error> {
        only_done(self.delete_once(actor, id, None).await?)
    }

    pub(crate) async fn delete_once(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<()>, Error> {
        self.authorize(actor).await?;
        let call = match self
            .begin_once(actor, key, || Fingerprint::of_delete(id))
            .await?
        {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let now = self.now();
        let record = self.load(actor, id).await?;
        let event = audit(actor, Some(id), AuditAction::Deleted, now);
        let touched = record.credentials.token_ids().collect();
        let write = Write::Delete {
            account: actor.account().clone(),
            id: id.clone(),
            expected_version: record.version,
        };
        let pending = Pending::new(write, event, touched, call).keeping(record);
        match self.commit(pending).await? {
            Some(first) => Ok(Outcome::AlreadyDone(Box::new(first))),
            None => Ok(Outcome::Done(())),
        }
    }

    /// Sets whether `user` may manage Private Integrations in the actor's account.
    /// `Deny` applies to admins too; `RoleDefault` restores the role's default.
    ///
    /// An admin cannot change their own permission: a deny on an admin is set, and lifted,
    /// by another admin, so a denied admin cannot simply allow themselves again.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin, or if `user` is the actor;
    /// [`Error::Storage`].
    pub async fn set_permission(
        &self,
        actor: &Actor,
        user: &UserId,
        permission: Permission,
    ) -> Result<(), Error> {
        only_done(
            self.set_permission_once(actor, user, permission, None)
                .await?,
        )
    }

    pub(crate) async fn set_permission_once(
        &self,
        actor: &Actor,
        user: &UserId,
        permission: Permission,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<()>, Error> {
        allow(
            actor,
            actor.may_set_permission(user),
            "admin role required, not on oneself",
        )?;
        let call = match self
            .begin_once(actor, key, || {
                Fingerprint::of_set_permission(user, permission)
            })
            .await?
        {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let action = AuditAction::PermissionChanged {
            user: user.clone(),
            permission,
        };
        let event = audit(actor, None, action, self.now());
        let write = Write::Permission {
            account: actor.account().clone(),
            user: user.clone(),
            permission,
        };
        match self
            .commit(Pending::new(write, event, Vec::new(), call))
            .await?
        {
            Some(first) => Ok(Outcome::AlreadyDone(Box::new(first))),
            None => Ok(Outcome::Done(())),
        }
    }

    /// Switches Private Integrations on or off for the actor's account. While off,
    /// integration calls fail with [`Error::FeatureDisabled`]; tokens already issued keep
    /// verifying.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin; [`Error::Storage`].
    pub async fn set_feature_enabled(&self, actor: &Actor, enabled: bool) -> Result<(), Error> {
        only_done(self.set_feature_enabled_once(actor, enabled, None).await?)
    }

    pub(crate) async fn set_feature_enabled_once(
        &self,
        actor: &Actor,
        enabled: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<()>, Error> {
        allow(actor, actor.is_admin(), "admin role required")?;
        let call = match self
            .begin_once(actor, key, || Fingerprint::of_set_feature_enabled(enabled))
            .await?
        {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let action = AuditAction::FeatureSwitched { enabled };
        let event = audit(actor, None, action, self.now());
        let write = Write::Feature {
            account: actor.account().clone(),
            enabled,
        };
        match self
            .commit(Pending::new(write, event, Vec::new(), call))
            .await?
        {
            Some(first) => Ok(Outcome::AlreadyDone(Box::new(first))),
            None => Ok(Outcome::Done(())),
        }
    }

    /// The integrations whose current token has reached the rotation interval (90 days
    /// by default): due for rotation once `now - token_issued_at >= interval`.
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list).
    pub async fn rotation_due(&self, actor: &Actor) -> Result<Vec<Integration>, Error> {
        let now = self.now();
        let interval = self.inner.rotation_interval;
        let mut all = self.list(actor).await?;
        all.retain(|i| i.rotation_due(now, interval));
        Ok(all)
    }

    /// The account's audit log, newest first.
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list).
    pub async fn audit_log(&self, actor: &Actor) -> Result<Vec<AuditEvent>, Error> {
        self.authorize(actor).await?;
        Ok(self.inner.storage.audit_log(actor.account()).await?)
    }

    /// One page of [`list`](Self::list): at most `page.page_size()` integrations of the
    /// actor's account, oldest first, after the page's cursor; [`Page::next`] is the
    /// cursor of the next page, if there may be more.
    ///
    /// Pages are cut by key, not by offset: under concurrent changes a page boundary never
    /// repeats or skips an integration that existed when the first page was read (one
    /// deleted meanwhile is not on its page; see [`domain::page`](crate::domain::page)).
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list), plus [`Error::InvalidInput`] for a page size out of
    /// 1..=[`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE) or a cursor of another listing. Only
    /// after the permission check: a caller who may not list learns nothing else.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// for name in ["One", "Two", "Three"] {
    ///     pi.create(&admin, NewIntegration::new(name).scopes(["contacts.readonly"])).await?;
    /// }
    /// let first = pi.list_page(&admin, PageRequest::new().limit(2)).await?;
    /// assert_eq!(first.items.len(), 2);
    /// let rest = pi.list_page(&admin, PageRequest::new().limit(2).after(first.next.unwrap())).await?;
    /// assert_eq!(rest.items.len(), 1);
    /// assert!(rest.next.is_none());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn list_page(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> Result<Page<Integration>, Error> {
        self.authorize(actor).await?;
        page.validate()?;
        if page.cursor().is_some_and(|c| c.integration_key().is_none()) {
            return Err(InvalidInput::Malformed { field: "cursor" }.into());
        }
        let now = self.now();
        let records = self.inner.storage.list_page(actor.account(), &page).await?;
        Ok(records.map(|r| self.view(&r, now)))
    }

    /// One page of [`audit_log`](Self::audit_log): at most `page_size()` events of the
    /// actor's account, newest first, after the query's cursor; only those of one
    /// integration if the query names it (a deleted integration's too; an id the account
    /// never had gives an empty page).
    ///
    /// Pages are cut by key (time, then an order of writing that storage fixes when it
    /// stores the event), never by offset: under concurrent changes a page boundary
    /// never repeats or skips an event. See [`domain::page`](crate::domain::page).
    ///
    /// # Errors
    ///
    /// As [`list_page`](Self::list_page).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let id = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?
    ///     .integration.id().clone();
    /// pi.rotate(&admin, &id, RotationMode::ExpireNow).await?;
    /// pi.set_feature_enabled(&admin, true).await?;
    ///
    /// let newest = pi.audit_log_page(&admin, AuditLogQuery::new().page(PageRequest::new().limit(1))).await?;
    /// assert_eq!(newest.items[0].action, AuditAction::FeatureSwitched { enabled: true });
    /// let of_sync = pi.audit_log_page(&admin, AuditLogQuery::new().integration(id)).await?;
    /// assert_eq!(of_sync.items.len(), 2);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn audit_log_page(
        &self,
        actor: &Actor,
        query: AuditLogQuery,
    ) -> Result<Page<AuditEvent>, Error> {
        self.authorize(actor).await?;
        let page = query.page_request();
        page.validate()?;
        if page.cursor().is_some_and(|c| c.audit_event_key().is_none()) {
            return Err(InvalidInput::Malformed { field: "cursor" }.into());
        }
        Ok(self
            .inner
            .storage
            .audit_log_page(actor.account(), &query)
            .await?)
    }

    /// The clock's time, truncated to whole microseconds: the finest precision every
    /// backend stores (PostgreSQL's `timestamptz`), so what is written reads back equal.
    ///
    /// It is the time every rule of the service is applied at: a screen that asks
    /// [`Integration::rotation_due`] uses it, so that it agrees with
    /// [`rotation_due`](Self::rotation_due) (and with a [`ManualClock`](crate::ManualClock)
    /// in tests).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let clock = ManualClock::new(time::macros::datetime!(2026-03-01 09:00:00.123456789 UTC));
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .clock(clock)
    ///     .build();
    /// assert_eq!(pi.now(), time::macros::datetime!(2026-03-01 09:00:00.123456 UTC));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn now(&self) -> OffsetDateTime {
        let now = self.inner.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    fn view(&self, record: &IntegrationRecord, now: OffsetDateTime) -> Integration {
        Integration::from_record(record, self.inner.catalog, now)
    }

    fn issue(&self, now: OffsetDateTime) -> Result<(TokenCredential, IssuedToken), Error> {
        let (id, hash, token) = self
            .inner
            .format
            .issue(&mut SysRng)
            .map_err(Error::Randomness)?;
        Ok((
            TokenCredential {
                id,
                hash,
                issued_at: now,
            },
            token,
        ))
    }

    /// Permission first, then the feature switch: an actor who may not manage learns
    /// nothing about the account's settings.
    async fn authorize(&self, actor: &Actor) -> Result<(), Error> {
        let access = self
            .inner
            .storage
            .access(actor.account(), actor.user())
            .await?;
        if !actor.may_manage(access.permission) {
            telemetry::refused(actor, "permission denied");
            return Err(Error::PermissionDenied);
        }
        if !access.feature_enabled {
            telemetry::refused(actor, "feature disabled");
            return Err(Error::FeatureDisabled);
        }
        Ok(())
    }

    async fn load(&self, actor: &Actor, id: &IntegrationId) -> Result<IntegrationRecord, Error> {
        self.inner
            .storage
            .get(actor.account(), id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Authorizes, then [`write`](Self::write)s a change computed by a domain function;
    /// under an idempotency key, replays the first call's outcome instead if there was one.
    async fn change(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        action: AuditAction,
        (key, fingerprint): (Option<&IdempotencyKey>, impl FnOnce() -> Fingerprint),
        next: impl FnOnce(&IntegrationRecord, OffsetDateTime) -> Result<IntegrationRecord, Error>,
    ) -> Result<Outcome<Integration>, Error> {
        self.authorize(actor).await?;
        let call = match self.begin_once(actor, key, fingerprint).await? {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let now = self.now();
        self.write(actor, id, action, now, call, |record| next(record, now))
            .await
    }

    /// Loads, applies `next`, and writes with compare-and-swap together with the audit
    /// event (and the call's idempotency record). The caller has authorized.
    async fn write(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        action: AuditAction,
        now: OffsetDateTime,
        call: Option<(OnceCall, Claim)>,
        next: impl FnOnce(&IntegrationRecord) -> Result<IntegrationRecord, Error>,
    ) -> Result<Outcome<Integration>, Error> {
        let record = self.load(actor, id).await?;
        let updated = next(&record)?;
        let event = audit(actor, Some(id), action, now);
        let touched = record
            .credentials
            .token_ids()
            .chain(updated.credentials.token_ids())
            .collect();
        let integration = self.view(&updated, now);
        let write = Write::Update {
            expected_version: record.version,
            record: updated,
        };
        match self
            .commit(Pending::new(write, event, touched, call))
            .await?
        {
            Some(first) => Ok(Outcome::AlreadyDone(Box::new(first))),
            None => Ok(Outcome::Done(integration)),
        }
    }

    /// Before a call that may carry an idempotency key: without one, nothing to do; with
    /// one, this process's claim on it ([`Error::RequestInProgress`] if a call with it is
    /// under way here), then what storage kept of an earlier call with it, if any: the
    /// same request is replayed, another is [`Error::IdempotencyKeyMismatch`].
    async fn begin_once(
        &self,
        actor: &Actor,
        key: Option<&IdempotencyKey>,
        fingerprint: impl FnOnce() -> Fingerprint,
    ) -> Result<Begun, Error> {
        let Some(key) = key else {
            return Ok(Begun::Fresh(None));
        };
        let call = OnceCall {
            account: actor.account().clone(),
            user: actor.user().clone(),
            key: key.clone(),
            fingerprint: fingerprint(),
        };
        let claim = Claim::take(&self.inner.in_flight, &call)?;
        match self.first_call(&call).await? {
            Some(first) => Ok(Begun::Replayed(first)),
            None => Ok(Begun::Fresh(Some((call, claim)))),
        }
    }

    /// What an earlier call with `call`'s key did, as a replay, if storage kept it.
    async fn first_call(&self, call: &OnceCall) -> Result<Option<AlreadyDone>, Error> {
        let stored = self
            .inner
            .storage
            .idempotency_record(&call.account, &call.user, &call.key)
            .await?;
        let Some(first) = stored else {
            return Ok(None);
        };
        first.decide(call.fingerprint)?;
        Ok(Some(AlreadyDone::of(&first, self.inner.catalog)))
    }

    /// Runs a write to its end on a task of its own and waits for it: `Ok(None)` once it
    /// landed, `Ok(Some(first))` if another call with the same idempotency key won the
    /// race (its outcome, to replay), or the write's error.
    ///
    /// The write is spawned, not run in this future, so that it cannot be cancelled
    /// half-way: a caller that goes away (a client closing its connection drops the
    /// handler's future) leaves a write that lands whole or not at all, and the cache
    /// and every listener hear of it once its outcome is known — never before it lands,
    /// which would let a verification in between put the old record back in the cache.
    /// Outside a tokio runtime the write runs in this future.
    async fn commit(&self, pending: Pending) -> Result<Option<AlreadyDone>, Error> {
        let call = pending.call.as_ref().map(|(call, _)| call.clone());
        let storage = Arc::clone(&self.inner.storage);
        let listener = self.inner.listener.clone();
        let task = async move {
            let Pending {
                write,
                event,
                touched,
                call,
                kept,
            } = pending;
            // Told when dropped: after the write, whatever its outcome (a write whose
            // acknowledgment was lost may have landed), or if the write panicked.
            let _announce = Announce { listener, touched };
            let once = call.as_ref().map(|(call, _)| {
                let integration = match &write {
                    Write::Insert(record) | Write::Update { record, .. } => Some(record),
                    _ => kept.as_ref(),
                };
                call.record(event.action.clone(), integration, event.at)
            });
            let change = Change {
                event: &event,
                once: once.as_ref(),
            };
            let written = write.apply(&*storage, change).await;
            if written.is_ok() {
                telemetry::recorded(&event);
            }
            // The claim on the key (in `call`) ends with the write.
            written
        };
        let written = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn(task).await.unwrap_or_else(|err| {
                Err(StorageError::backend(format!(
                    "the write's task ended abnormally: {err}"
                )))
            }),
            Err(_) => task.await,
        };
        match (written, call) {
            (Ok(()), _) => Ok(None),
            // Another call with the same key may have won (on another replica): replay it.
            (Err(StorageError::AlreadyExists | StorageError::Conflict), Some(call)) => {
                match self.first_call(&call).await? {
                    Some(first) => Ok(Some(first)),
                    None => Err(Error::Conflict),
                }
            }
            (Err(err), _) => Err(err.into()),
        }
    }
}

/// One of the service's writes, owned, so that it runs to its end on a task of its own.
enum Write {
    Insert(IntegrationRecord),
    Update {
        record: IntegrationRecord,
        expected_version: u64,
    },
    Delete {
        account: AccountId,
        id: IntegrationId,
        expected_version: u64,
    },
    Permission {
        account: AccountId,
        user: UserId,
        permission: Permission,
    },
    Feature {
        account: AccountId,
        enabled: bool,
    },
}

impl Write {
    async fn apply(&self, storage: &dyn Storage, change: Change<'_>) -> Result<(), StorageError> {
        match self {
            Write::Insert(record) => storage.insert(record, change).await,
            Write::Update {
                record,
                expected_version,
            } => storage.update(record, *expected_version, change).await,
            Write::Delete {
                account,
                id,
                expected_version,
            } => storage.delete(account, id, *expected_version, change).await,
            Write::Permission {
                account,
                user,
                permission,
            } => {
                storage
                    .set_permission(account, user, *permission, change)
                    .await
            }
            Write::Feature { account, enabled } => {
                storage.set_feature_enabled(account, *enabled, change).await
            }
        }
    }
}

/// A write and what goes with it, ready for [`PrivateIntegrations::commit`].
struct Pending {
    write: Write,
    event: AuditEvent,
    /// The token ids whose verification the write may change.
    touched: Vec<TokenId>,
    /// The call's idempotency key, if any, and this process's claim on it.
    call: Option<(OnceCall, Claim)>,
    /// The integration a delete removes, for its idempotency record.
    kept: Option<IntegrationRecord>,
}

impl Pending {
    fn new(
        write: Write,
        event: AuditEvent,
        touched: Vec<TokenId>,
        call: Option<(OnceCall, Claim)>,
    ) -> Self {
        Self {
            write,
            event,
            touched,
            call,
            kept: None,
        }
    }

    fn keeping(mut self, record: IntegrationRecord) -> Self {
        self.kept = Some(record);
        self
    }
}

/// Tells the listener, when dropped, that a write touched these tokens.
struct Announce {
    listener: Option<Arc<dyn ChangeListener>>,
    touched: Vec<TokenId>,
}

impl Drop for Announce {
    fn drop(&mut self) {
        if let (Some(listener), false) = (&self.listener, self.touched.is_empty()) {
            listener.tokens_changed(&self.touched);
        }
    }
}

/// An idempotency key with its owner.
type OnceKey = (AccountId, UserId, IdempotencyKey);

/// A call made under an idempotency key: who made it, the key, and the request.
#[derive(Clone)]
struct OnceCall {
    account: AccountId,
    user: UserId,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
}

impl OnceCall {
    /// The record storage keeps of this call's change.
    fn record(
        &self,
        action: AuditAction,
        integration: Option<&IntegrationRecord>,
        at: OffsetDateTime,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            account: self.account.clone(),
            user: self.user.clone(),
            key: self.key.clone(),
            fingerprint: self.fingerprint,
            action,
            integration: integration.cloned(),
            at,
        }
    }
}

/// This process's claim on an idempotency key while a call with it runs; released when
/// dropped (by the write's task once the write has ended, or by a call that ends before
/// writing).
struct Claim {
    in_flight: Arc<Mutex<HashSet<OnceKey>>>,
    key: OnceKey,
}

impl Claim {
    /// The claim on `call`'s key, or [`Error::RequestInProgress`] if it is taken.
    fn take(in_flight: &Arc<Mutex<HashSet<OnceKey>>>, call: &OnceCall) -> Result<Self, Error> {
        let key = (call.account.clone(), call.user.clone(), call.key.clone());
        let mut taken = in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if !taken.insert(key.clone()) {
            return Err(Error::RequestInProgress);
        }
        Ok(Self {
            in_flight: Arc::clone(in_flight),
            key,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Before a call with a key: what to do.
enum Begun {
    /// Go on (with the call's key and claim, if it has a key).
    Fresh(Option<(OnceCall, Claim)>),
    /// Do nothing: an earlier call with the key did it.
    Replayed(AlreadyDone),
}

/// The outcome of a call made without an idempotency key, which is never a replay.
fn only_done<T>(outcome: Outcome<T>) -> Result<T, Error> {
    match outcome {
        Outcome::Done(value) => Ok(value),
        // Only a call with a key can find an earlier one.
        Outcome::AlreadyDone(_) => Err(Error::Conflict),
    }
}

/// `PermissionDenied` (and a refusal in the logs) unless the domain rule allowed it.
fn allow(actor: &Actor, allowed: bool, reason: &'static str) -> Result<(), Error> {
    if allowed {
        Ok(())
    } else {
        telemetry::refused(actor, reason);
        Err(Error::PermissionDenied)
    }
}

fn audit(
    actor: &Actor,
    integration: Option<&IntegrationId>,
    action: AuditAction,
    at: OffsetDateTime,
) -> AuditEvent {
    AuditEvent {
        account: actor.account().clone(),
        actor: actor.user().clone(),
        integration: integration.cloned(),
        action,
        at,
    }
}
