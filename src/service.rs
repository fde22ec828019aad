//! [`PrivateIntegrations`]: policy, orchestration and audit around the pure domain.
//!
//! Every management call follows the same steps: check the actor (permission and feature
//! switch), read the clock once, load the record of the actor's account, apply a domain
//! function, and write the result with compare-and-swap together with its audit event.
//! No lifecycle rule lives here.

use std::fmt;
use std::sync::Arc;

use rand::rngs::SysRng;
use time::{Duration, OffsetDateTime};

use crate::clock::{Clock, SystemClock};
use crate::domain::access::{Actor, Permission};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::credentials::{Credentials, RotationMode, TokenCredential, Transition};
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::integration::{
    Integration, IntegrationRecord, IntegrationUpdate, NewIntegration,
};
use crate::domain::page::{AuditLogQuery, Page, PageRequest};
use crate::domain::scope::ScopeCatalog;
use crate::domain::token::{IssuedToken, TokenFormat};
use crate::error::{Error, InvalidInput};
use crate::last_used::LastUsedRecorder;
use crate::storage::Storage;
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
    // SKELETON: read by the verifier and the last-used writer.
    #[allow(dead_code)]
    pub(crate) last_used: Option<Arc<LastUsedRecorder>>,
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
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PrivateIntegrationsBuilder<C = MissingCatalog> {
    storage: Arc<dyn Storage>,
    catalog: C,
    clock: Arc<dyn Clock>,
    grace_period: Duration,
    rotation_interval: Duration,
    format: TokenFormat,
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
        PrivateIntegrations {
            inner: Arc::new(Inner {
                storage: self.storage,
                catalog: self.catalog,
                clock: self.clock,
                format: self.format,
                grace_period: self.grace_period,
                rotation_interval: self.rotation_interval,
                last_used: None,
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
        }
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
    /// # Errors
    ///
    /// [`Error::PermissionDenied`], [`Error::FeatureDisabled`], [`Error::InvalidInput`],
    /// [`Error::UnknownScope`], [`Error::Storage`]. A create never overwrites: an id
    /// collision is [`Error::Conflict`] (retry).
    pub async fn create(&self, actor: &Actor, new: NewIntegration) -> Result<Created, Error> {
        self.authorize(actor).await?;
        let fields = new.validate(self.inner.catalog)?;
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
        self.inner.storage.insert(&record, &event).await?;
        telemetry::recorded(&event);
        Ok(Created {
            integration: self.view(&record, now),
            token,
        })
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
        let catalog = self.inner.catalog;
        self.change(actor, id, AuditAction::Updated, |record, now| {
            update.apply(record, catalog, now)
        })
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
        self.authorize(actor).await?;
        let now = self.now();
        let (new, token) = self.issue(now)?;
        let grace = self.inner.grace_period;
        let transition = Transition::Rotate { mode, new, grace };
        let integration = self
            .write(actor, id, AuditAction::Rotated { mode }, now, |record| {
                record.transition(transition, now)
            })
            .await?;
        Ok(Rotated { integration, token })
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
        self.change(actor, id, AuditAction::RotationCancelled, |record, now| {
            record.transition(Transition::CancelRotation, now)
        })
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
        self.change(actor, id, AuditAction::PreviousExpired, |record, now| {
            record.transition(Transition::ExpirePreviousNow, now)
        })
        .await
    }

    /// Deletes an integration: every one of its tokens stops working at once.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`Error::Conflict`].
    pub async fn delete(&self, actor: &Actor, id: &IntegrationId) -> Result<(), Error> {
        self.authorize(actor).await?;
        let now = self.now();
        let record = self.load(actor, id).await?;
        let event = audit(actor, Some(id), AuditAction::Deleted, now);
        self.inner
            .storage
            .delete(actor.account(), id, record.version, &event)
            .await?;
        telemetry::recorded(&event);
        Ok(())
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
        allow(
            actor,
            actor.may_set_permission(user),
            "admin role required, not on oneself",
        )?;
        let action = AuditAction::PermissionChanged {
            user: user.clone(),
            permission,
        };
        let event = audit(actor, None, action, self.now());
        self.inner
            .storage
            .set_permission(actor.account(), user, permission, &event)
            .await?;
        telemetry::recorded(&event);
        Ok(())
    }

    /// Switches Private Integrations on or off for the actor's account. While off,
    /// integration calls fail with [`Error::FeatureDisabled`]; tokens already issued keep
    /// verifying.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin; [`Error::Storage`].
    pub async fn set_feature_enabled(&self, actor: &Actor, enabled: bool) -> Result<(), Error> {
        allow(actor, actor.is_admin(), "admin role required")?;
        let event = audit(
            actor,
            None,
            AuditAction::FeatureSwitched { enabled },
            self.now(),
        );
        self.inner
            .storage
            .set_feature_enabled(actor.account(), enabled, &event)
            .await?;
        telemetry::recorded(&event);
        Ok(())
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

    /// Authorizes, then [`write`](Self::write)s a change computed by a domain function.
    async fn change(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        action: AuditAction,
        next: impl FnOnce(&IntegrationRecord, OffsetDateTime) -> Result<IntegrationRecord, Error>,
    ) -> Result<Integration, Error> {
        self.authorize(actor).await?;
        let now = self.now();
        self.write(actor, id, action, now, |record| next(record, now))
            .await
    }

    /// Loads, applies `next`, and writes with compare-and-swap together with the audit
    /// event. The caller has authorized.
    async fn write(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        action: AuditAction,
        now: OffsetDateTime,
        next: impl FnOnce(&IntegrationRecord) -> Result<IntegrationRecord, Error>,
    ) -> Result<Integration, Error> {
        let record = self.load(actor, id).await?;
        let updated = next(&record)?;
        let event = audit(actor, Some(id), action, now);
        self.inner
            .storage
            .update(&updated, record.version, &event)
            .await?;
        telemetry::recorded(&event);
        Ok(self.view(&updated, now))
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
