//! The reads: integrations, their pages, the rotation reminder and the audit log; and
//! for admin screens, the service's configured periods and an account's settings (the
//! feature switch, each user's permission), which a screen that offers their writes
//! needs to show.

use time::Duration;

use crate::domain::access::{Actor, Permission};
use crate::domain::audit::AuditEvent;
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::integration::Integration;
use crate::domain::listing::IntegrationQuery;
use crate::domain::page::{AuditLogQuery, Page, PageRequest};
use crate::domain::usage::{Usage, oldest_kept_hour};
use crate::error::{Error, InvalidInput};
use crate::storage::Storage;
use crate::telemetry;

use super::PrivateIntegrations;

impl PrivateIntegrations {
    /// How long the previous token keeps working after a rotation with
    /// [`RotationMode::ExpireLater`](crate::RotationMode::ExpireLater) (see
    /// [`PrivateIntegrationsBuilder::grace_period`](crate::PrivateIntegrationsBuilder::grace_period)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert_eq!(pi.grace_period(), DEFAULT_GRACE_PERIOD);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn grace_period(&self) -> Duration {
        self.inner.grace_period
    }

    /// The token age at which an integration is due for rotation (see
    /// [`PrivateIntegrationsBuilder::rotation_interval`](crate::PrivateIntegrationsBuilder::rotation_interval)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .rotation_interval(time::Duration::days(30))
    ///     .build();
    /// assert_eq!(pi.rotation_interval(), time::Duration::days(30));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn rotation_interval(&self) -> Duration {
        self.inner.rotation_interval
    }

    /// What happens to a live token reported found in a public place (set with
    /// [`leak_policy`](crate::PrivateIntegrationsBuilder::leak_policy)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert_eq!(pi.leak_policy(), LeakPolicy::Revoke);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn leak_policy(&self) -> crate::LeakPolicy {
        self.inner.leak_policy
    }

    /// How long audit events are kept, if not for ever (set with
    /// [`audit_retention`](crate::PrivateIntegrationsBuilder::audit_retention)).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert_eq!(pi.audit_retention(), None, "off by default");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn audit_retention(&self) -> Option<Duration> {
        self.inner.audit_retention
    }

    /// How long daily use counts are kept and shown, in whole days (set with
    /// [`usage_retention`](crate::PrivateIntegrationsBuilder::usage_retention)).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert_eq!(pi.usage_retention(), DEFAULT_USAGE_RETENTION);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn usage_retention(&self) -> Duration {
        Duration::days(i64::from(self.inner.usage_days))
    }

    /// Whether Private Integrations are switched on for the actor's account (on by
    /// default).
    ///
    /// Like [`set_feature_enabled`](Self::set_feature_enabled), it needs the admin role and
    /// works while the feature is off (so an admin can see that it is off). A denied
    /// admin does not see it: a deny means no.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin who is not denied;
    /// [`Error::Storage`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// assert!(pi.feature_enabled(&admin).await?);
    /// pi.set_feature_enabled(&admin, false).await?;
    /// assert!(!pi.feature_enabled(&admin).await?);
    /// let member = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    /// assert!(matches!(pi.feature_enabled(&member).await, Err(Error::PermissionDenied)));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn feature_enabled(&self, actor: &Actor) -> Result<bool, Error> {
        let access = self
            .inner
            .verifier
            .storage
            .access(actor.account(), actor.user())
            .await?;
        administer(actor, access.permission)?;
        Ok(access.feature_enabled)
    }

    /// The permission an admin set for `user` in the actor's account
    /// ([`Permission::RoleDefault`] where none was set).
    ///
    /// Needs the admin role, like [`set_permission`](Self::set_permission), and not to be
    /// denied; works while the feature is off. An admin may read their own permission
    /// (they cannot change it).
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin who is not denied;
    /// [`Error::Storage`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let bob = UserId::new("u_bob");
    /// assert_eq!(pi.permission(&admin, &bob).await?, Permission::RoleDefault);
    /// pi.set_permission(&admin, &bob, Permission::Allow).await?;
    /// assert_eq!(pi.permission(&admin, &bob).await?, Permission::Allow);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn permission(&self, actor: &Actor, user: &UserId) -> Result<Permission, Error> {
        administer(actor, self.own_permission(actor).await?)?;
        let access = self
            .inner
            .verifier
            .storage
            .access(actor.account(), user)
            .await?;
        Ok(access.permission)
    }
}

/// The account's settings are read by admins who are not denied (a deny means no).
fn administer(actor: &Actor, own: Permission) -> Result<(), Error> {
    if actor.may_administer(own) {
        Ok(())
    } else {
        telemetry::refused(actor, "admin role required, not denied");
        Err(Error::PermissionDenied)
    }
}

impl PrivateIntegrations {
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

    /// How an integration's tokens were used: one day per day of the usage retention
    /// (90 days by default), ending today (UTC), the current token's uses apart from
    /// those of the tokens it replaced, and the same over the last 24 hours. Authorised
    /// like [`get`](Self::get).
    ///
    /// Uses are counted in process on every successful verification and written with
    /// the last-used times, once per last-used interval: the newest show up to one
    /// interval late. See [`Usage`] for what the counts mean.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_1"));
    /// let created = pi.create(&admin, NewIntegration::new("Zapier sync").scopes(["contacts.readonly"])).await?;
    /// pi.verify(created.token.expose_secret()).await?;
    /// pi.verify(created.token.expose_secret()).await?;
    /// pi.shutdown().await; // writes what was counted
    /// let usage = pi.usage(&admin, created.integration.id()).await?;
    /// let today = usage.days().last().unwrap();
    /// assert_eq!((today.current(), today.previous()), (2, 0));
    /// assert_eq!(usage.last_24_hours().current(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn usage(&self, actor: &Actor, id: &IntegrationId) -> Result<Usage, Error> {
        self.authorize(actor).await?;
        let now = self.now();
        let record = self.load(actor, id).await?;
        let days = self.inner.usage_days;
        let since = oldest_kept_hour(now, days);
        let counts = self
            .inner
            .verifier
            .storage
            .token_uses(actor.account(), id, since)
            .await?;
        Ok(Usage::from_counts(
            now,
            days,
            &record.credentials.current().id,
            &counts,
            self.records_last_used(),
        ))
    }

    /// Every integration of the actor's account, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`], [`Error::FeatureDisabled`], [`Error::Storage`].
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Integration>, Error> {
        self.authorize(actor).await?;
        let now = self.now();
        let records = self.inner.verifier.storage.list(actor.account()).await?;
        Ok(records.iter().map(|r| self.view(r, now)).collect())
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
        Ok(self
            .inner
            .verifier
            .storage
            .audit_log(actor.account())
            .await?)
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
        let records = self
            .inner
            .verifier
            .storage
            .list_page(actor.account(), &page)
            .await?;
        Ok(records.map(|r| self.view(&r, now)))
    }

    /// The integrations of the actor's account that `query` asks for, a page at a time:
    /// newest first unless the query says otherwise, only those whose name contains the
    /// query's text (ignoring case), only those in its [`IntegrationState`](crate::IntegrationState) now; with
    /// [`Page::total`] set to how many match in all (every page). [`Page::next`] is the
    /// cursor of the next page, if there may be more: ask it with the same order.
    ///
    /// The filter, the page and the count run in the storage: the SQL backends read the
    /// account's rows in key order through its index and count in the database (see
    /// [`Storage::list_query`]). Pages are cut by key, as [`list_page`](Self::list_page)'s.
    /// The state is the list's badge: exactly one of active, rotating and rotation due
    /// (see [`IntegrationState`](crate::IntegrationState)), at the service's clock.
    ///
    /// # Errors
    ///
    /// As [`list_page`](Self::list_page) (a cursor of the other order, or of another
    /// listing, is [`InvalidInput::Malformed`] of `cursor`), plus the search text's
    /// ([`IntegrationQuery::validate`]).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// for name in ["Zapier one", "Mailer", "Zapier two", "Zapier three"] {
    ///     pi.create(&admin, NewIntegration::new(name).scopes(["contacts.readonly"])).await?;
    /// }
    /// let query = IntegrationQuery::new().name_contains("zapier").page(PageRequest::new().limit(2));
    /// let first = pi.list_query(&admin, query.clone()).await?;
    /// assert_eq!(first.total, Some(3));
    /// assert_eq!(first.items[0].name(), "Zapier three"); // newest first
    /// let next = query.page(PageRequest::new().limit(2).after(first.next.unwrap()));
    /// let second = pi.list_query(&admin, next).await?;
    /// assert_eq!(second.items[0].name(), "Zapier one");
    /// assert!(second.next.is_none());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn list_query(
        &self,
        actor: &Actor,
        query: IntegrationQuery,
    ) -> Result<Page<Integration>, Error> {
        self.authorize(actor).await?;
        query.validate()?;
        let order = query.list_order();
        let cursor = query.page_request().cursor();
        if cursor.is_some_and(|c| c.integration_key_in(order).is_none()) {
            return Err(InvalidInput::Malformed { field: "cursor" }.into());
        }
        let now = self.now();
        let records = self
            .inner
            .verifier
            .storage
            .list_query(actor.account(), &query, now, self.inner.rotation_interval)
            .await?;
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
            .verifier
            .storage
            .audit_log_page(actor.account(), &query)
            .await?)
    }
}

#[cfg(feature = "admin-ui")]
impl PrivateIntegrations {
    /// How often this service writes token uses, if it records them (see
    /// [`PrivateIntegrationsBuilder::last_used_interval`](crate::PrivateIntegrationsBuilder::last_used_interval)):
    /// a last-used time is late by up to this much.
    pub(crate) fn last_used_interval(&self) -> Option<std::time::Duration> {
        self.inner.verifier.last_used.as_ref()?.interval()
    }
}
