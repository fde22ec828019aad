//! The management calls: check the actor, apply a domain function, and write the change
//! with its audit event (and idempotency record) on a task of its own, announced once it
//! has landed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rand::rngs::SysRng;
use time::OffsetDateTime;

use crate::domain::access::{Actor, Permission};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::credentials::{Credentials, RotationMode, Transition};
use crate::domain::idempotency::{
    AlreadyDone, Fingerprint, IdempotencyKey, IdempotencyRecord, Outcome,
};
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::integration::{
    Integration, IntegrationRecord, IntegrationUpdate, NewIntegration,
};
use crate::domain::token::IssuedToken;
use crate::error::{Error, StorageError};
#[cfg(feature = "metrics")]
use crate::metrics::Operation;
use crate::storage::{Change, ChangeListener, Storage};
use crate::telemetry;

use super::PrivateIntegrations;

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

/// A management call's outcome, counted by operation and outcome with the `metrics`
/// feature (`Operation` is named only there), and handed back.
macro_rules! counted {
    ($service:expr, $operation:expr, $outcome:expr) => {{
        let outcome = $outcome;
        #[cfg(feature = "metrics")]
        $service.inner.metrics.management($operation, &outcome);
        outcome
    }};
}

impl PrivateIntegrations {
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
        counted!(
            self,
            Operation::Create,
            self.create_uncounted(actor, new, key).await
        )
    }

    async fn create_uncounted(
        &self,
        actor: &Actor,
        new: NewIntegration,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Created>, Error> {
        self.authorize(actor).await?;
        let fields = new.validate(self.inner.verifier.catalog)?;
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
        counted!(
            self,
            Operation::Update,
            self.update_uncounted(actor, id, update, key).await
        )
    }

    async fn update_uncounted(
        &self,
        actor: &Actor,
        id: &IntegrationId,
        update: IntegrationUpdate,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<Integration>, Error> {
        let catalog = self.inner.verifier.catalog;
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
        counted!(
            self,
            Operation::Rotate,
            self.rotate_uncounted(actor, id, mode, key).await
        )
    }

    async fn rotate_uncounted(
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
        counted!(
            self,
            Operation::CancelRotation,
            self.cancel_rotation_uncounted(actor, id, key).await
        )
    }

    async fn cancel_rotation_uncounted(
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
        counted!(
            self,
            Operation::ExpirePreviousNow,
            self.expire_previous_now_uncounted(actor, id, key).await
        )
    }

    async fn expire_previous_now_uncounted(
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
        counted!(
            self,
            Operation::Delete,
            self.delete_uncounted(actor, id, key).await
        )
    }

    async fn delete_uncounted(
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
        counted!(
            self,
            Operation::SetPermission,
            self.set_permission_uncounted(actor, user, permission, key)
                .await
        )
    }

    async fn set_permission_uncounted(
        &self,
        actor: &Actor,
        user: &UserId,
        permission: Permission,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<()>, Error> {
        let own = self.own_permission(actor).await?;
        allow(
            actor,
            actor.may_set_permission(own, user),
            "admin role required, not denied, not on oneself",
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
        counted!(
            self,
            Operation::SetFeatureEnabled,
            self.set_feature_enabled_uncounted(actor, enabled, key)
                .await
        )
    }

    async fn set_feature_enabled_uncounted(
        &self,
        actor: &Actor,
        enabled: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<()>, Error> {
        let own = self.own_permission(actor).await?;
        allow(
            actor,
            actor.may_administer(own),
            "admin role required, not denied",
        )?;
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
        let integration = self.view(&updated, now);
        match self
            .commit(Pending::update(&record, updated, event, call))
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
    pub(super) async fn begin_once(
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
            .verifier
            .storage
            .idempotency_record(&call.account, &call.user, &call.key)
            .await?;
        let Some(first) = stored else {
            return Ok(None);
        };
        first.decide(call.fingerprint)?;
        Ok(Some(AlreadyDone::of(&first, self.inner.verifier.catalog)))
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
    pub(super) async fn commit(&self, pending: Pending) -> Result<Option<AlreadyDone>, Error> {
        let call = pending.call.as_ref().map(|(call, _)| call.clone());
        let storage = Arc::clone(&self.inner.verifier.storage);
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
pub(super) struct Pending {
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

    /// The compare-and-swap write of `next` over `before`, with `event`: the tokens of
    /// both are touched (a token either holds may change how it verifies).
    pub(super) fn update(
        before: &IntegrationRecord,
        next: IntegrationRecord,
        event: AuditEvent,
        call: Option<(OnceCall, Claim)>,
    ) -> Self {
        let touched = before
            .credentials
            .token_ids()
            .chain(next.credentials.token_ids())
            .collect();
        let write = Write::Update {
            expected_version: before.version,
            record: next,
        };
        Self::new(write, event, touched, call)
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
pub(super) type OnceKey = (AccountId, UserId, IdempotencyKey);

/// A call made under an idempotency key: who made it, the key, and the request.
#[derive(Clone)]
pub(super) struct OnceCall {
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
pub(super) struct Claim {
    in_flight: Arc<Mutex<HashSet<OnceKey>>>,
    key: OnceKey,
}

impl Claim {
    /// The claim on `call`'s key, or [`Error::RequestInProgress`] if it is taken.
    pub(super) fn take(
        in_flight: &Arc<Mutex<HashSet<OnceKey>>>,
        call: &OnceCall,
    ) -> Result<Self, Error> {
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
pub(super) enum Begun {
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
