//! Management calls a client may repeat: [`PrivateIntegrations::once`].

use super::{Created, PrivateIntegrations, Rotated};
use crate::domain::access::{Actor, Permission};
use crate::domain::credentials::RotationMode;
use crate::domain::idempotency::{IdempotencyKey, Outcome};
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::integration::{Integration, IntegrationUpdate, NewIntegration};
use crate::error::Error;

/// The management calls of one actor under one [`IdempotencyKey`]: made by
/// [`PrivateIntegrations::once`].
///
/// Each call does what the service's call of the same name does, at most once per key:
/// the first call under a key makes its change and stores a record of it in the same
/// write (the same transaction on SQL backends), and any later call under the same key
/// makes no change at all:
///
/// - the same request (operation, integration and arguments, see
///   [`Fingerprint`](crate::Fingerprint)): [`Outcome::AlreadyDone`] with what the first
///   call did and when. A create's or rotation's token is never kept: it was shown once,
///   to the first call;
/// - another request: [`Error::IdempotencyKeyMismatch`];
/// - while the first call is still under way in this service:
///   [`Error::RequestInProgress`] (with several replicas, a call that races another
///   replica's waits for it, then gets [`Outcome::AlreadyDone`]).
///
/// A call that fails changes nothing and stores nothing: a retry runs again. Permission
/// and input are checked first, as without a key. Records are kept for
/// [`IDEMPOTENCY_KEY_RETENTION`](crate::IDEMPOTENCY_KEY_RETENTION) (24 hours) at least,
/// then removed by the service's background work.
///
/// # Example
///
/// ```
/// use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let key = IdempotencyKey::new("create-zapier-1")?;
/// let new = || NewIntegration::new("Zapier sync").scopes(["contacts.readonly"]);
///
/// let Outcome::Done(created) = pi.once(&admin, &key).create(new()).await? else { panic!() };
/// // The client never got the answer and sends the same request again:
/// let Outcome::AlreadyDone(first) = pi.once(&admin, &key).create(new()).await? else { panic!() };
/// assert_eq!(first.integration.unwrap().id(), created.integration.id());
/// assert_eq!(pi.list(&admin).await?.len(), 1);
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Once<'a> {
    pi: &'a PrivateIntegrations,
    actor: &'a Actor,
    key: &'a IdempotencyKey,
}

impl PrivateIntegrations {
    /// The management calls of `actor` under `key`, each made at most once: a reloaded
    /// page, a retried request or a double click repeats nothing. See [`Once`].
    ///
    /// The admin API (`Idempotency-Key` header) and the settings page (a one-time key
    /// in every form) are built on it.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let id = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?
    ///     .integration.id().clone();
    /// let key = IdempotencyKey::new("rotate-sync-now")?;
    /// let first = pi.once(&admin, &key).rotate(&id, RotationMode::ExpireNow).await?;
    /// let again = pi.once(&admin, &key).rotate(&id, RotationMode::ExpireNow).await?;
    /// assert!(matches!(first, Outcome::Done(_)));
    /// assert!(matches!(again, Outcome::AlreadyDone(_)));
    /// assert_eq!(pi.get(&admin, &id).await?.version(), 2); // rotated once
    /// // The same key for another request changes nothing either:
    /// assert!(matches!(
    ///     pi.once(&admin, &key).delete(&id).await,
    ///     Err(Error::IdempotencyKeyMismatch),
    /// ));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn once<'a>(&'a self, actor: &'a Actor, key: &'a IdempotencyKey) -> Once<'a> {
        Once {
            pi: self,
            actor,
            key,
        }
    }
}

impl Once<'_> {
    /// [`PrivateIntegrations::create`], at most once.
    ///
    /// # Errors
    ///
    /// As `create`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn create(&self, new: NewIntegration) -> Result<Outcome<Created>, Error> {
        self.pi.create_once(self.actor, new, Some(self.key)).await
    }

    /// [`PrivateIntegrations::update`], at most once.
    ///
    /// # Errors
    ///
    /// As `update`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn update(
        &self,
        id: &IntegrationId,
        update: IntegrationUpdate,
    ) -> Result<Outcome<Integration>, Error> {
        self.pi
            .update_once(self.actor, id, update, Some(self.key))
            .await
    }

    /// [`PrivateIntegrations::rotate`], at most once.
    ///
    /// # Errors
    ///
    /// As `rotate`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn rotate(
        &self,
        id: &IntegrationId,
        mode: RotationMode,
    ) -> Result<Outcome<Rotated>, Error> {
        self.pi
            .rotate_once(self.actor, id, mode, Some(self.key))
            .await
    }

    /// [`PrivateIntegrations::cancel_rotation`], at most once.
    ///
    /// # Errors
    ///
    /// As `cancel_rotation`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn cancel_rotation(&self, id: &IntegrationId) -> Result<Outcome<Integration>, Error> {
        self.pi
            .cancel_rotation_once(self.actor, id, Some(self.key))
            .await
    }

    /// [`PrivateIntegrations::expire_previous_now`], at most once.
    ///
    /// # Errors
    ///
    /// As `expire_previous_now`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn expire_previous_now(
        &self,
        id: &IntegrationId,
    ) -> Result<Outcome<Integration>, Error> {
        self.pi
            .expire_previous_now_once(self.actor, id, Some(self.key))
            .await
    }

    /// [`PrivateIntegrations::delete`], at most once.
    ///
    /// # Errors
    ///
    /// As `delete`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn delete(&self, id: &IntegrationId) -> Result<Outcome<()>, Error> {
        self.pi.delete_once(self.actor, id, Some(self.key)).await
    }

    /// [`PrivateIntegrations::set_permission`], at most once.
    ///
    /// # Errors
    ///
    /// As `set_permission`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn set_permission(
        &self,
        user: &UserId,
        permission: Permission,
    ) -> Result<Outcome<()>, Error> {
        self.pi
            .set_permission_once(self.actor, user, permission, Some(self.key))
            .await
    }

    /// [`PrivateIntegrations::report_leak_as`], at most once: a repeat answers with what
    /// the first call did ([`LeakOutcome::replayed`](crate::LeakOutcome::replayed)). A report that wrote nothing (a
    /// false positive, a place recorded already) keeps no record, and a repeat of it is
    /// handled anew — with the same answer, since it changes nothing either.
    ///
    /// # Errors
    ///
    /// As `report_leak_as`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn report_leak(
        &self,
        token: &str,
        url: &str,
    ) -> Result<Outcome<crate::LeakOutcome>, Error> {
        self.pi
            .report_leak_once(self.actor, token, url, Some(self.key))
            .await
    }

    /// [`PrivateIntegrations::set_feature_enabled`], at most once.
    ///
    /// # Errors
    ///
    /// As `set_feature_enabled`, plus [`Error::IdempotencyKeyMismatch`] and
    /// [`Error::RequestInProgress`].
    pub async fn set_feature_enabled(&self, enabled: bool) -> Result<Outcome<()>, Error> {
        self.pi
            .set_feature_enabled_once(self.actor, enabled, Some(self.key))
            .await
    }
}
