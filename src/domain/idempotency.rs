//! Exactly once: the key a client sends with a change, what the change's request looks
//! like, and what storage keeps of a change made under a key.
//!
//! A client that cannot tell whether its call happened (a timeout, a dropped connection,
//! a reloaded page) sends the call again with the same [`IdempotencyKey`]. The first call
//! under a key stores an [`IdempotencyRecord`] in the very transaction of its change; a
//! later call under the same key finds it and does nothing, and what it gets back is
//! decided here ([`IdempotencyRecord::decide`]):
//!
//! | the later call | answer |
//! |---|---|
//! | the same request ([`Fingerprint`]) | the first call's outcome, replayed: nothing is done again |
//! | another request | [`Error::IdempotencyKeyMismatch`]: nothing is done |
//!
//! Pure: no I/O, no clock. The service keeps the in-flight state and storage keeps the
//! records; see `PrivateIntegrations::once`.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::access::Permission;
use super::audit::AuditAction;
use super::credentials::RotationMode;
use super::ids::{AccountId, IntegrationId, UserId};
use super::integration::{Integration, IntegrationRecord, IntegrationUpdate, NewIntegration};
use super::scope::ScopeCatalog;
use crate::error::{Error, InvalidInput};

/// The longest key, in bytes (the IETF `Idempotency-Key` draft leaves it to the server;
/// 255 is what common APIs take).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// How long storage keeps the record of a change made under a key, at least: a retry
/// within this time never repeats the change. Older records are removed in bounded
/// batches by the service's background work, so the table never grows without bound.
///
/// # Example
///
/// ```
/// use private_integrations::IDEMPOTENCY_KEY_RETENTION;
/// assert_eq!(IDEMPOTENCY_KEY_RETENTION, time::Duration::hours(24));
/// ```
pub const IDEMPOTENCY_KEY_RETENTION: Duration = Duration::hours(24);

/// A key that makes a change happen at most once: 1 to 255 visible ASCII characters
/// (`!` to `~`; no space, no control character), chosen by the client, unique per
/// change it means (a UUID v4 is customary).
///
/// Keys belong to an account and a user: the same key sent by two users, or in two
/// accounts, is two keys.
///
/// # Example
///
/// ```
/// use private_integrations::IdempotencyKey;
/// let key = IdempotencyKey::new("8e03978e-40d5-43e8-bc93-6894a57f9324")?;
/// assert_eq!(key.as_str(), "8e03978e-40d5-43e8-bc93-6894a57f9324");
/// assert!(IdempotencyKey::new("").is_err());
/// assert!(IdempotencyKey::new("two words").is_err());
/// # Ok::<(), private_integrations::InvalidInput>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(Box<str>);

impl IdempotencyKey {
    /// A key, if `key` is 1 to 255 visible ASCII characters.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::Empty`], [`InvalidInput::TooLong`] or [`InvalidInput::Malformed`]
    /// (field `idempotency_key`); the error never holds the key.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IdempotencyKey, InvalidInput};
    /// assert_eq!(
    ///     IdempotencyKey::new("é").unwrap_err(),
    ///     InvalidInput::Malformed { field: "idempotency_key" },
    /// );
    /// ```
    pub fn new(key: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "idempotency_key";
        if key.is_empty() {
            return Err(InvalidInput::Empty { field: FIELD });
        }
        if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(InvalidInput::TooLong {
                field: FIELD,
                max: MAX_IDEMPOTENCY_KEY_LEN,
            });
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidInput::Malformed { field: FIELD });
        }
        Ok(Self(key.into()))
    }

    /// The key.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IdempotencyKey;
    /// assert_eq!(IdempotencyKey::new("k1")?.as_str(), "k1");
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Keys are chosen by clients and may be anything they typed: `Debug` shows the length
/// only, so a token pasted as a key never reaches a log through it.
impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({} bytes)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        Self::new(&key).map_err(serde::de::Error::custom)
    }
}

/// What identifies a request for [`IdempotencyKey`]'s sake: SHA-256 over the operation
/// and its arguments, as the service read them.
///
/// Two calls are "the same request" when they ask for the same operation on the same
/// integration (or user) with the same arguments, whatever way a client spelled them
/// (JSON field order or spacing, the order of scopes). `update`'s expected version is
/// an argument: an edit sent with another `If-Match` is another request.
///
/// # Example
///
/// ```
/// use private_integrations::{Fingerprint, NewIntegration};
/// let a = Fingerprint::of_create(&NewIntegration::new("Sync").scopes(["b", "a"]));
/// let b = Fingerprint::of_create(&NewIntegration::new("Sync").scopes(["a", "b"]));
/// let c = Fingerprint::of_create(&NewIntegration::new("Other").scopes(["a", "b"]));
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(")?;
        for byte in &self.0[..6] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…)")
    }
}

/// Feeds a hasher with length-prefixed fields, so that no two argument lists hash alike.
struct Fields(Sha256);

impl Fields {
    fn new(operation: &str) -> Self {
        let mut fields = Self(Sha256::new());
        fields.text(operation);
        fields
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.0.update((text.len() as u64).to_le_bytes());
        self.0.update(text.as_bytes());
        self
    }

    fn optional(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            None => self.0.update([0]),
            Some(text) => {
                self.0.update([1]);
                self.text(text);
            }
        }
        self
    }

    /// A set of names: sorted and without repeats, so their order does not matter.
    fn names(&mut self, names: &[String]) -> &mut Self {
        let mut sorted: Vec<&str> = names.iter().map(|n| n.trim()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        self.0.update((sorted.len() as u64).to_le_bytes());
        for name in sorted {
            self.text(name);
        }
        self
    }

    fn done(self) -> Fingerprint {
        Fingerprint(self.0.finalize().into())
    }
}

impl Fingerprint {
    /// The fingerprint of `create(new)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, NewIntegration};
    /// let fingerprint = Fingerprint::of_create(&NewIntegration::new("Sync").scopes(["a"]));
    /// assert_eq!(fingerprint.as_bytes().len(), 32);
    /// ```
    pub fn of_create(new: &NewIntegration) -> Self {
        let mut fields = Fields::new("create");
        fields
            .text(new.name.trim())
            .text(new.description.trim())
            .names(&new.scopes);
        fields.done()
    }

    /// The fingerprint of `update(id, update)`, its expected version included.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, IntegrationId, IntegrationUpdate};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// let named = Fingerprint::of_update(&id, &IntegrationUpdate::new().name("A"));
    /// let checked = Fingerprint::of_update(&id, &IntegrationUpdate::new().name("A").expect_version(3));
    /// assert_ne!(named, checked);
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn of_update(id: &IntegrationId, update: &IntegrationUpdate) -> Self {
        let mut fields = Fields::new("update");
        fields
            .text(id.as_str())
            .optional(update.name.as_deref().map(str::trim))
            .optional(update.description.as_deref().map(str::trim));
        match &update.scopes {
            None => fields.0.update([0]),
            Some(scopes) => {
                fields.0.update([1]);
                fields.names(scopes);
            }
        }
        let version = update.expected_version.map(|v| v.to_string());
        fields.optional(version.as_deref());
        fields.done()
    }

    /// The fingerprint of an operation on one integration that takes no other argument
    /// than, for `rotate`, its mode: `rotate`, `cancel_rotation`,
    /// `expire_previous_now`, `delete`.
    fn of_integration(operation: &str, id: &IntegrationId) -> Self {
        let mut fields = Fields::new(operation);
        fields.text(id.as_str());
        fields.done()
    }

    /// The fingerprint of `rotate(id, mode)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, IntegrationId, RotationMode};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// assert_ne!(
    ///     Fingerprint::of_rotate(&id, RotationMode::ExpireLater),
    ///     Fingerprint::of_rotate(&id, RotationMode::ExpireNow),
    /// );
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn of_rotate(id: &IntegrationId, mode: RotationMode) -> Self {
        match mode {
            RotationMode::ExpireLater => Self::of_integration("rotate_expire_later", id),
            RotationMode::ExpireNow => Self::of_integration("rotate_expire_now", id),
        }
    }

    /// The fingerprint of `cancel_rotation(id)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, IntegrationId};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// assert_ne!(Fingerprint::of_cancel_rotation(&id), Fingerprint::of_delete(&id));
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn of_cancel_rotation(id: &IntegrationId) -> Self {
        Self::of_integration("cancel_rotation", id)
    }

    /// The fingerprint of `expire_previous_now(id)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, IntegrationId};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// assert_ne!(Fingerprint::of_expire_previous_now(&id), Fingerprint::of_delete(&id));
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn of_expire_previous_now(id: &IntegrationId) -> Self {
        Self::of_integration("expire_previous_now", id)
    }

    /// The fingerprint of `delete(id)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, IntegrationId};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// assert_eq!(Fingerprint::of_delete(&id), Fingerprint::of_delete(&id));
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn of_delete(id: &IntegrationId) -> Self {
        Self::of_integration("delete", id)
    }

    /// The fingerprint of `set_permission(user, permission)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Fingerprint, Permission, UserId};
    /// let bob = UserId::new("u_bob");
    /// assert_ne!(
    ///     Fingerprint::of_set_permission(&bob, Permission::Allow),
    ///     Fingerprint::of_set_permission(&bob, Permission::Deny),
    /// );
    /// ```
    pub fn of_set_permission(user: &UserId, permission: Permission) -> Self {
        let mut fields = Fields::new("set_permission");
        fields.text(user.as_str()).text(match permission {
            Permission::Allow => "allow",
            Permission::Deny => "deny",
            Permission::RoleDefault => "role_default",
        });
        fields.done()
    }

    /// The fingerprint of `set_feature_enabled(enabled)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Fingerprint;
    /// assert_ne!(Fingerprint::of_set_feature_enabled(true), Fingerprint::of_set_feature_enabled(false));
    /// ```
    pub fn of_set_feature_enabled(enabled: bool) -> Self {
        let mut fields = Fields::new("set_feature_enabled");
        fields.text(if enabled { "on" } else { "off" });
        fields.done()
    }

    /// The fingerprint of a leak report of `token` found at `url` (the admin API's
    /// `POST /leaks`). The token is one input of the digest, which cannot be reversed.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Fingerprint;
    /// let a = Fingerprint::of_report_leak("pit_x", "https://a.example/");
    /// assert_eq!(a, Fingerprint::of_report_leak(" pit_x ", "https://a.example/"));
    /// assert_ne!(a, Fingerprint::of_report_leak("pit_x", "https://b.example/"));
    /// ```
    pub fn of_report_leak(token: &str, url: &str) -> Self {
        let mut fields = Fields::new("report_leak");
        fields.text(token.trim()).text(url.trim());
        fields.done()
    }

    /// The digest, as stored.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Fingerprint;
    /// let f = Fingerprint::of_set_feature_enabled(true);
    /// assert_eq!(Fingerprint::from_bytes(*f.as_bytes()), f);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A digest read back from storage.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Fingerprint;
    /// assert_eq!(Fingerprint::from_bytes([0; 32]).as_bytes(), &[0; 32]);
    /// ```
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

/// What storage keeps of a change made under an [`IdempotencyKey`], written in the same
/// transaction as the change (see [`Storage`](crate::Storage)'s write methods): the key's
/// owner, the request's [`Fingerprint`], and what the change did.
///
/// It holds no secret: a create's or rotation's token is never kept to be shown again.
///
/// # Example
///
/// ```
/// use private_integrations::*;
/// let record = IdempotencyRecord {
///     account: AccountId::new("acct_1"),
///     user: UserId::new("u_admin"),
///     key: IdempotencyKey::new("k1")?,
///     fingerprint: Fingerprint::of_set_feature_enabled(false),
///     action: AuditAction::FeatureSwitched { enabled: false },
///     integration: None,
///     at: time::OffsetDateTime::UNIX_EPOCH,
/// };
/// assert!(record.decide(Fingerprint::of_set_feature_enabled(false)).is_ok());
/// assert!(matches!(
///     record.decide(Fingerprint::of_set_feature_enabled(true)),
///     Err(Error::IdempotencyKeyMismatch),
/// ));
/// # Ok::<(), InvalidInput>(())
/// ```
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    /// The account the key belongs to.
    pub account: AccountId,
    /// The user who sent it.
    pub user: UserId,
    /// The key.
    pub key: IdempotencyKey,
    /// The request the key was first used for.
    pub fingerprint: Fingerprint,
    /// What the change did (the action of its audit event).
    pub action: AuditAction,
    /// The integration the change acted on, as the change left it (for a delete: as it
    /// was just before), without last-used times; `None` for a permission or the
    /// feature switch.
    pub integration: Option<IntegrationRecord>,
    /// When the change was made (the time of its audit event).
    pub at: OffsetDateTime,
}

impl IdempotencyRecord {
    /// What a later call under this record's key gets: `Ok(())` to replay this record's
    /// outcome if it is the same request, [`Error::IdempotencyKeyMismatch`] if not.
    ///
    /// # Errors
    ///
    /// [`Error::IdempotencyKeyMismatch`].
    ///
    /// # Example
    ///
    /// See [`IdempotencyRecord`].
    pub fn decide(&self, request: Fingerprint) -> Result<(), Error> {
        if self.fingerprint == request {
            Ok(())
        } else {
            Err(Error::IdempotencyKeyMismatch)
        }
    }
}

/// What a call under an [`IdempotencyKey`] did: its change, or nothing because an
/// earlier call with the same key and request made it.
///
/// # Example
///
/// ```
/// use private_integrations::Outcome;
/// let outcome: Outcome<u32> = Outcome::Done(3);
/// assert_eq!(outcome.done(), Some(3));
/// ```
#[derive(Debug)]
pub enum Outcome<T> {
    /// This call made the change; its result.
    Done(T),
    /// An earlier call with the same key and request made it; this one changed nothing.
    AlreadyDone(Box<AlreadyDone>),
}

impl<T> Outcome<T> {
    /// The result, if this call made the change.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Outcome;
    /// assert_eq!(Outcome::Done("made").done(), Some("made"));
    /// ```
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(value) => Some(value),
            Outcome::AlreadyDone(_) => None,
        }
    }

    /// Maps the result of a call that made the change.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done(value) => Outcome::Done(f(value)),
            Outcome::AlreadyDone(first) => Outcome::AlreadyDone(first),
        }
    }
}

/// What the first call under an idempotency key did, and when: the answer to a repeated
/// call, which changed nothing.
///
/// # Example
///
/// ```
/// use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let key = IdempotencyKey::new("labs-off")?;
/// pi.once(&admin, &key).set_feature_enabled(false).await?;
/// let Outcome::AlreadyDone(first) = pi.once(&admin, &key).set_feature_enabled(false).await? else {
///     panic!("repeated")
/// };
/// assert_eq!(first.action, AuditAction::FeatureSwitched { enabled: false });
/// assert!(first.integration.is_none());
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlreadyDone {
    /// What the first call did.
    pub action: AuditAction,
    /// The integration it acted on, as that call left it and answered it (for a delete,
    /// as it was just before; for a create or rotation, [`Integration::token_issued_at`]
    /// is when the token that was shown once was issued). `None` for a permission or the
    /// feature switch.
    pub integration: Option<Integration>,
    /// When it did it.
    pub at: OffsetDateTime,
}

impl AlreadyDone {
    /// The replay of a stored record: its integration seen as at the time of the call.
    pub(crate) fn of(record: &IdempotencyRecord, catalog: ScopeCatalog) -> Self {
        Self {
            action: record.action.clone(),
            integration: record
                .integration
                .as_ref()
                .map(|r| Integration::from_record(r, catalog, record.at)),
            at: record.at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_1_to_255_bytes() {
        assert!(IdempotencyKey::new("a").is_ok());
        assert!(IdempotencyKey::new(&"k".repeat(255)).is_ok());
        assert_eq!(
            IdempotencyKey::new(&"k".repeat(256)).unwrap_err(),
            InvalidInput::TooLong {
                field: "idempotency_key",
                max: 255
            }
        );
        for bad in ["a b", "a\tb", "a\u{7f}", "\u{e9}", " ", "a\n"] {
            assert_eq!(
                IdempotencyKey::new(bad).unwrap_err(),
                InvalidInput::Malformed {
                    field: "idempotency_key"
                },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_never_shows_a_key() {
        let key = IdempotencyKey::new("pit_secret_looking").unwrap();
        assert_eq!(format!("{key:?}"), "IdempotencyKey(18 bytes)");
    }

    #[test]
    fn fingerprints_tell_operations_and_arguments_apart() {
        let id = IntegrationId::parse("AbCdEfGh12345678").unwrap();
        let other = IntegrationId::parse("AbCdEfGh12345679").unwrap();
        let all = [
            Fingerprint::of_create(&NewIntegration::new("a").scopes(["s"])),
            Fingerprint::of_create(&NewIntegration::new("a").description("d").scopes(["s"])),
            Fingerprint::of_create(&NewIntegration::new("a").scopes(["s", "t"])),
            Fingerprint::of_update(&id, &IntegrationUpdate::new().name("a")),
            Fingerprint::of_update(&id, &IntegrationUpdate::new().description("a")),
            Fingerprint::of_update(&id, &IntegrationUpdate::new().scopes(["a"])),
            Fingerprint::of_update(&other, &IntegrationUpdate::new().name("a")),
            Fingerprint::of_update(&id, &IntegrationUpdate::new().name("a").expect_version(1)),
            Fingerprint::of_rotate(&id, RotationMode::ExpireLater),
            Fingerprint::of_rotate(&id, RotationMode::ExpireNow),
            Fingerprint::of_cancel_rotation(&id),
            Fingerprint::of_expire_previous_now(&id),
            Fingerprint::of_delete(&id),
            Fingerprint::of_delete(&other),
            Fingerprint::of_set_permission(&UserId::new("u"), Permission::Allow),
            Fingerprint::of_set_permission(&UserId::new("u"), Permission::Deny),
            Fingerprint::of_set_permission(&UserId::new("v"), Permission::Allow),
            Fingerprint::of_set_feature_enabled(true),
            Fingerprint::of_set_feature_enabled(false),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_same_request_spelled_otherwise_has_the_same_fingerprint() {
        assert_eq!(
            Fingerprint::of_create(&NewIntegration::new(" Sync ").scopes(["b", "a", "a"])),
            Fingerprint::of_create(&NewIntegration::new("Sync").scopes(["a", "b"])),
        );
        let id = IntegrationId::parse("AbCdEfGh12345678").unwrap();
        assert_eq!(
            Fingerprint::of_update(&id, &IntegrationUpdate::new().scopes(["b", "a"])),
            Fingerprint::of_update(&id, &IntegrationUpdate::new().scopes(["a", "b"])),
        );
    }

    #[test]
    fn a_record_replays_its_own_request_only() {
        let record = IdempotencyRecord {
            account: AccountId::new("a"),
            user: UserId::new("u"),
            key: IdempotencyKey::new("k").unwrap(),
            fingerprint: Fingerprint::of_set_feature_enabled(true),
            action: AuditAction::FeatureSwitched { enabled: true },
            integration: None,
            at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(
            record
                .decide(Fingerprint::of_set_feature_enabled(true))
                .is_ok()
        );
        assert!(matches!(
            record.decide(Fingerprint::of_set_feature_enabled(false)),
            Err(Error::IdempotencyKeyMismatch)
        ));
    }
}
