//! Reads for admin screens: the service's configured periods, and an account's settings
//! (the feature switch, each user's permission). The writes are
//! [`PrivateIntegrations::set_feature_enabled`] and [`PrivateIntegrations::set_permission`];
//! a screen that offers them needs to show what is set now.

use time::Duration;

use crate::domain::access::{Actor, Permission};
use crate::domain::ids::UserId;
use crate::error::Error;
use crate::service::PrivateIntegrations;
use crate::telemetry;

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

    /// Whether Private Integrations are switched on for the actor's account (on by
    /// default).
    ///
    /// Like [`set_feature_enabled`](Self::set_feature_enabled), it needs the admin role and
    /// works while the feature is off (so an admin can see that it is off). It does not
    /// need the permission to manage integrations: a denied admin still sees the switch.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin; [`Error::Storage`].
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
        admin_only(actor)?;
        let access = self
            .inner
            .storage
            .access(actor.account(), actor.user())
            .await?;
        Ok(access.feature_enabled)
    }

    /// The permission an admin set for `user` in the actor's account
    /// ([`Permission::RoleDefault`] where none was set).
    ///
    /// Needs the admin role, like [`set_permission`](Self::set_permission); works while the
    /// feature is off. An admin may read their own permission (they cannot change it).
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] unless the actor is an admin; [`Error::Storage`].
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
        admin_only(actor)?;
        let access = self.inner.storage.access(actor.account(), user).await?;
        Ok(access.permission)
    }
}

fn admin_only(actor: &Actor) -> Result<(), Error> {
    if actor.is_admin() {
        Ok(())
    } else {
        telemetry::refused(actor, "admin role required");
        Err(Error::PermissionDenied)
    }
}
