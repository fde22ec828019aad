//! The hot path: is this token good, and for which account and scopes?

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::domain::credentials::TokenRole;
use crate::domain::credentials::{Credentials, TokenCredential};
use crate::domain::ids::{AccountId, IntegrationId};
use crate::domain::ids::{ID_LEN, TokenId};
use crate::domain::integration::IntegrationRecord;
use crate::domain::scope::ScopeSet;
use crate::domain::scope::StoredScopes;
use crate::domain::token::TokenHash;
use crate::error::VerifyError;
use crate::service::PrivateIntegrations;

impl PrivateIntegrations {
    /// Verifies a presented token: parse, look up, hash, compare, check state.
    ///
    /// Fails closed: a malformed token, an unknown id, a wrong secret, a previous token
    /// past its grace period, a token of a deleted integration and a storage failure are
    /// all refusals. An unknown id is hashed and compared like a known one, and the
    /// comparison is constant-time, so timing tells neither which ids exist nor how much
    /// of a secret was right. The feature switch does not affect verification.
    ///
    /// With [`MemoryStorage`](crate::MemoryStorage), or a hit of the
    /// [`VerificationCache`](crate::VerificationCache) in front of any storage, a
    /// successful verification takes no lock and makes no heap allocation. A refusal from
    /// the cache (an unknown id it remembers) is as cheap.
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
    pub async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        let inner = &*self.inner;
        let parsed = inner.format.parse(token).map_err(|_| {
            // The length only: the text may be a secret pasted in the wrong place.
            tracing::debug!(reason = "malformed", len = token.len(), "token refused");
            VerifyError::Malformed
        })?;
        // Hash before the lookup: the digest depends on the input alone, so the CPU
        // computes it while the lookup waits on memory.
        let presented = inner.format.hash(parsed.secret);
        let lookup = match &inner.cache {
            Some(cache) => cache.find(&parsed.id, &*inner.storage).await,
            None => inner.storage.find_by_token(&parsed.id).await,
        };
        let record = lookup.map_err(|err| {
            tracing::warn!(
                token_id = %parsed.id,
                error = &err as &(dyn std::error::Error + 'static),
                "token refused: storage failed",
            );
            VerifyError::Storage(err)
        })?;

        // An unknown id takes the same steps on a stand-in record (a reference count,
        // the credential search, the compare), so the verifier's own work is that of a
        // known id with a wrong secret. (The map's hit or miss may still differ: see
        // SECURITY.md.)
        let known = record.is_some();
        let record = record.unwrap_or_else(|| STAND_IN.with(Arc::clone));
        let found = record.credentials.find(&parsed.id);
        let expected = found.map_or(&record.credentials.current().hash, |(credential, _)| {
            &credential.hash
        });
        let matches = bool::from(presented.ct_eq(expected));
        let role = found.map(|(_, role)| role);

        let (true, Some(role), true) = (known, role, matches) else {
            // One reason for an unknown id and a wrong secret, as in the error.
            tracing::debug!(token_id = %parsed.id, reason = "invalid", "token refused");
            return Err(VerifyError::Invalid);
        };
        if let TokenRole::Previous { expires_at } = role {
            // Only a previous token needs the clock.
            if inner.clock.now() >= expires_at {
                tracing::debug!(token_id = %parsed.id, reason = "expired", "token refused");
                return Err(VerifyError::Expired);
            }
        }
        if let Some(recorder) = &inner.last_used {
            // Noted in memory only; the last-used writer stores it later, off this path.
            recorder.used_unmarked(&parsed.id, &*inner.clock);
        }
        let scopes = record.scopes.granted(inner.catalog);
        Ok(Verified { record, scopes })
    }
}

thread_local! {
    /// What an unknown token id is checked against. One per thread, so that probes for
    /// unknown ids never contend on a shared reference count.
    static STAND_IN: Arc<IntegrationRecord> = Arc::new(stand_in());
}

/// A record no token can match: its hash is all zeros, which no known input produces,
/// and the verifier refuses any token found on it anyway.
fn stand_in() -> IntegrationRecord {
    let credential = TokenCredential {
        id: TokenId::from_bytes([b'0'; ID_LEN]),
        hash: TokenHash::from_bytes([0; 32]),
        issued_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    IntegrationRecord {
        id: IntegrationId::from_bytes([b'0'; ID_LEN]),
        account: AccountId::new("stand-in"),
        name: "".into(),
        description: "".into(),
        scopes: StoredScopes::default(),
        credentials: Credentials::new(credential),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
        version: 0,
        last_used: Default::default(),
    }
}

/// A token that passed [`PrivateIntegrations::verify`]: who it acts for and what it may
/// do. Cheap to clone; holds no secret.
///
/// Scopes are those of the integration at the moment of verification, limited to the
/// service's catalog: a scope the host has removed from its catalog is not granted.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// fn list_contacts(verified: &Verified) -> Result<String, VerifyError> {
///     verified.require_scope("contacts.readonly")?;
///     Ok(format!("contacts of {}", verified.account()))
/// }
/// ```
#[derive(Clone)]
pub struct Verified {
    record: Arc<IntegrationRecord>,
    scopes: ScopeSet,
}

impl Verified {
    /// The account the token acts for.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// assert_eq!(verified.account().as_str(), "acct_1");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn account(&self) -> &AccountId {
        &self.record.account
    }

    /// The integration the token belongs to.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// assert_eq!(pi.get(&admin, verified.integration_id()).await?.name(), "Sync");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn integration_id(&self) -> &IntegrationId {
        &self.record.id
    }

    /// The integration's name (for logs and consent screens).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// assert_eq!(verified.integration_name(), "Sync");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn integration_name(&self) -> &str {
        &self.record.name
    }

    /// The granted scopes.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// assert_eq!(verified.scopes().iter().collect::<Vec<_>>(), ["contacts.readonly"]);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// Whether the scope is granted. O(1), allocation-free.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// assert!(verified.has_scope("contacts.readonly") && !verified.has_scope("contacts.write"));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Requires a scope.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InsufficientScope`] naming the scope if it is not granted.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let verified = pi.verify(token.expose_secret()).await.unwrap();
    /// assert!(verified.require_scope("contacts.readonly").is_ok());
    /// assert!(matches!(
    ///     verified.require_scope("contacts.write"),
    ///     Err(VerifyError::InsufficientScope { required }) if required == "contacts.write"
    /// ));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn require_scope(&self, scope: &str) -> Result<(), VerifyError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(VerifyError::InsufficientScope {
                required: scope.to_owned(),
            })
        }
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("account", self.account())
            .field("integration_id", self.integration_id())
            .field("scopes", &self.scopes)
            .finish()
    }
}
