//! [`PrivateIntegrations`]: the service. Its state and background work here; the
//! builder in [`builder`], the management calls (policy, orchestration, audit, writes
//! that run to their end) in [`manage`], the reads for admin screens in [`reads`], and
//! calls a client may repeat in [`once`]. Verification is `crate::verify`'s.
//!
//! Every management call follows the same steps: check the actor (permission and feature
//! switch), read the clock once, load the record of the actor's account, apply a domain
//! function, and write the result with compare-and-swap together with its audit event.
//! No lifecycle rule lives here.

mod builder;
mod finish;
mod leaks;
mod manage;
mod once;
mod reads;

pub use builder::{
    DEFAULT_GRACE_PERIOD, DEFAULT_ROTATION_INTERVAL, MissingCatalog, PrivateIntegrationsBuilder,
};
pub use leaks::LeakOutcome;
use manage::OnceKey;
pub use manage::{Created, Rotated};
pub use once::Once;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use rand::rngs::SysRng;
use time::{Duration, OffsetDateTime};

use crate::cache::{Cache, CacheStats};
use crate::domain::access::{Actor, Permission};
use crate::domain::credentials::TokenCredential;
use crate::domain::ids::IntegrationId;
use crate::domain::integration::{Integration, IntegrationRecord};
use crate::domain::leak::LeakPolicy;
use crate::domain::scope::ScopeCatalog;
use crate::domain::token::{IssuedToken, TokenFormat};
use crate::error::Error;
use crate::error::VerifyError;
use crate::housekeeping::Housekeeping;
use crate::last_used::{LastUsedCounters, LastUsedStats, Writer};
use crate::storage::{ChangeListener, ListenerStats, Storage, Watch};
use crate::telemetry;
use crate::verify::{Verified, Verifier};

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
    /// What verification reads (the storage, the catalog, the clock, the token format,
    /// the index or cache, the last-used recorder); the management calls share it.
    pub(crate) verifier: Verifier,
    grace_period: Duration,
    rotation_interval: Duration,
    leak_policy: LeakPolicy,
    audit_retention: Option<Duration>,
    /// How many days of use counts are kept and shown (the usage retention).
    usage_days: u16,
    last_used_counters: Arc<LastUsedCounters>,
    /// Told of every change: this service's own writes, and (through `background.watch`)
    /// what the storage announces. `None`: nobody to tell.
    listener: Option<Arc<dyn ChangeListener>>,
    /// The `metrics` handles (feature `metrics`): management calls are counted here.
    #[cfg(feature = "metrics")]
    metrics: Arc<crate::metrics::Metrics>,
    /// The idempotency keys whose calls are under way in this process.
    in_flight: Arc<Mutex<HashSet<OnceKey>>>,
    /// How long an old token must go unused before its rotation finishes by itself;
    /// `None`: rotations do not.
    finish_when_silent: Option<Duration>,
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
    /// The removal of old idempotency records, and of old audit events if retention is
    /// on.
    housekeeping: Option<Housekeeping>,
    /// The publisher of the counted metrics (feature `metrics`).
    #[cfg(feature = "metrics")]
    publisher: Option<crate::metrics::Publisher>,
    /// The task that finishes silent rotations, when they finish by themselves.
    finisher: Option<finish::Finisher>,
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
            .field("storage", &inner.verifier.storage)
            .field("catalog", &inner.verifier.catalog)
            .field("clock", &inner.verifier.clock)
            .field("format", &inner.verifier.format)
            .field("grace_period", &inner.grace_period)
            .field("rotation_interval", &inner.rotation_interval)
            .field("leak_policy", &inner.leak_policy)
            .field("audit_retention", &inner.audit_retention)
            .field("last_used", &inner.verifier.last_used.is_some())
            .field("verification_cache", &inner.verifier.cache)
            .field("finish_rotation_when_silent", &inner.finish_when_silent)
            .finish_non_exhaustive()
    }
}

impl PrivateIntegrations {
    /// Verifies a presented token: parse, look up, hash, compare, check state.
    ///
    /// Fails closed: a malformed token, an unknown id, a wrong secret, a previous token
    /// past its grace period, a token of a deleted integration and a storage failure are
    /// all refusals. An unknown id is hashed and compared like a known one, and the
    /// comparison is constant-time, so timing tells nothing of how much of a secret was
    /// right (whether an id exists may show: see `SECURITY.md`). The feature switch does
    /// not affect verification.
    ///
    /// With [`MemoryStorage`](crate::MemoryStorage), or a hit of the
    /// [`VerificationCache`](crate::VerificationCache) in front of any storage, a
    /// verification takes no lock, makes no heap allocation and writes nothing that
    /// other verifications of the same token read, so one token verified on every core
    /// at once scales with the cores. (The exceptions, each bounded: an account id longer
    /// than 24 bytes is shared behind a reference count rather than copied; last used
    /// notes a token's first use in each interval; the first verification after each
    /// change compiles the record's scope set once, into a write-once cell.) Any other
    /// storage is asked for the record on every call, as storage is on a cache miss;
    /// that path allocates (the lookup itself, and a box around it that keeps every
    /// verification's future small).
    ///
    /// A refusal is reported through `tracing` at `DEBUG` (a storage failure at `WARN`)
    /// with the reason and, once parsed, the public token id; never the presented text.
    /// A success reports nothing.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Malformed`], [`VerifyError::Invalid`], [`VerifyError::Expired`],
    /// [`VerifyError::Storage`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// # let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// verified.require_scope("contacts.readonly").unwrap();
    /// assert_eq!(verified.account().as_str(), "acct_1");
    /// assert!(matches!(pi.verify("pit_nope").await, Err(VerifyError::Malformed)));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn verify<'a>(
        &'a self,
        token: &'a str,
    ) -> impl Future<Output = Result<Verified, VerifyError>> + Send + 'a {
        // The verifier's own future, not one around it: a verification's future stays
        // as small as it is.
        self.inner.verifier.verify(token)
    }

    /// Stops the background work and waits for it: the task that finishes silent
    /// rotations (if any) stops, the change listener (if any) stops, and the last-used
    /// writer writes the uses noted and counted since its last batch, then stops.
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
        let finisher = self
            .inner
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finisher
            .take();
        // First, so that no finish starts once the rest is stopping.
        if let Some(finisher) = finisher {
            finisher.stop().await;
        }
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
        #[cfg(feature = "metrics")]
        let publisher = self
            .inner
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .publisher
            .take();
        if let Some(housekeeping) = housekeeping {
            housekeeping.stop().await;
        }
        if let Some(watch) = watch {
            watch.stop().await;
        }
        if let Some(cache) = &self.inner.verifier.cache {
            cache.stop();
        }
        if let Some(writer) = writer {
            writer.stop().await;
        }
        // Last, so that the final batch and the listener's end are published.
        #[cfg(feature = "metrics")]
        if let Some(publisher) = publisher {
            publisher.stop().await;
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
        self.inner
            .verifier
            .cache
            .as_ref()
            .map(|cache| cache.stats())
    }

    /// Whether this service records token uses (see
    /// [`PrivateIntegrationsBuilder::last_used_interval`]): if not, an empty
    /// [`Integration::last_used_at`] means "not recorded" rather than "never used", and
    /// no use is counted.
    pub(crate) fn records_last_used(&self) -> bool {
        self.inner.verifier.last_used.is_some()
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
        self.inner.verifier.catalog
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
        self.inner.verifier.format
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
        let now = self.inner.verifier.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    fn view(&self, record: &IntegrationRecord, now: OffsetDateTime) -> Integration {
        Integration::from_record(record, self.inner.verifier.catalog, now)
    }

    fn issue(&self, now: OffsetDateTime) -> Result<(TokenCredential, IssuedToken), Error> {
        let (id, hash, token) = self
            .inner
            .verifier
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
            .verifier
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

    /// The permission set for the actor themselves: a deny means no, for admins too, also
    /// for the account's settings.
    async fn own_permission(&self, actor: &Actor) -> Result<Permission, Error> {
        let access = self
            .inner
            .verifier
            .storage
            .access(actor.account(), actor.user())
            .await?;
        Ok(access.permission)
    }

    async fn load(&self, actor: &Actor, id: &IntegrationId) -> Result<IntegrationRecord, Error> {
        self.inner
            .verifier
            .storage
            .get(actor.account(), id)
            .await?
            .ok_or(Error::NotFound)
    }
}
