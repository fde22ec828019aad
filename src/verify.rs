//! The hot path: is this token good, and for which account and scopes?
//!
//! A token index (`MemoryStorage`'s, the verification cache's) keeps one [`TokenEntry`]
//! per token id. A verification reads it and its record in place, under the index's
//! epoch guard, and copies what it hands out into the [`Verified`]: it touches no
//! reference count and writes to no memory another verification of the same token reads.

use std::fmt;
use std::sync::{Arc, LazyLock};

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::cache::Cache;
use crate::clock::Clock;
use crate::domain::credentials::{Credentials, TokenCredential, TokenRole};
use crate::domain::ids::{AccountId, ID_LEN, IntegrationId, TokenId};
use crate::domain::integration::IntegrationRecord;
use crate::domain::scope::ScopeCatalog;
use crate::domain::scope::{ScopeSet, StoredScopes};
use crate::domain::token::TokenFormat;
use crate::domain::token::TokenHash;
use crate::error::VerifyError;
use crate::index::{TokenEntry, UseMark};
use crate::last_used::LastUsedRecorder;
use crate::storage::{MemoryStorage, Storage};
#[cfg(feature = "metrics")]
use crate::striped::Striped;

/// What verification reads: the service's token format, scope catalog and clock; where
/// records are found (`MemoryStorage`'s index read in place, the verification cache, or
/// the storage); and where uses are noted. The service builds it and shares it with its
/// management calls.
pub(crate) struct Verifier {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) catalog: ScopeCatalog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) format: TokenFormat,
    /// Notes token uses for the last-used writer; `None` while last used is off.
    pub(crate) last_used: Option<Arc<LastUsedRecorder>>,
    /// The verification cache, if any.
    pub(crate) cache: Option<Arc<Cache>>,
    /// The storage, when it is a `MemoryStorage` and no cache was chosen: its token index
    /// is read in place.
    pub(crate) memory: Option<MemoryStorage>,
    /// Verifications per outcome (feature `metrics`), published from outside the hot
    /// path by the metrics room's task.
    #[cfg(feature = "metrics")]
    pub(crate) outcomes: Arc<VerifyCounts>,
}

/// How a verification ended, as counted for feature `metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyOutcome {
    Ok,
    Invalid,
    Expired,
    Malformed,
    StorageError,
}

impl VerifyOutcome {
    /// Every outcome, in the order of [`VerifyCounts::totals`].
    #[cfg(feature = "metrics")]
    pub(crate) const ALL: [Self; 5] = [
        Self::Ok,
        Self::Invalid,
        Self::Expired,
        Self::Malformed,
        Self::StorageError,
    ];
}

/// Verifications counted per outcome on stripes: a verification adds one to its
/// thread's stripe (no lock, no allocation, no line shared with other cores); the
/// metrics room sums and publishes them from its own task.
#[cfg(feature = "metrics")]
#[derive(Debug, Default)]
pub(crate) struct VerifyCounts([Striped; 5]);

#[cfg(feature = "metrics")]
impl VerifyCounts {
    /// The totals so far, in the order of [`VerifyOutcome::ALL`].
    pub(crate) fn totals(&self) -> [u64; 5] {
        std::array::from_fn(|n| self.0[n].sum())
    }
}

impl Verifier {
    /// Counts a verification's outcome (feature `metrics`; nothing without it).
    #[inline(always)]
    fn count(&self, outcome: VerifyOutcome) {
        #[cfg(feature = "metrics")]
        self.outcomes.0[outcome as usize].add();
        #[cfg(not(feature = "metrics"))]
        let _ = outcome;
    }

    /// [`PrivateIntegrations::verify`](crate::PrivateIntegrations::verify).
    pub(crate) async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        let inner = self;
        let parsed = inner.format.parse(token).map_err(|_| {
            // The length only: the text may be a secret pasted in the wrong place.
            tracing::debug!(reason = "malformed", len = token.len(), "token refused");
            inner.count(VerifyOutcome::Malformed);
            VerifyError::Malformed
        })?;
        let id = &parsed.id;
        // The digest depends on the input alone. With an index in this process it is
        // computed after the lookup is issued, so that the CPU hashes while the lookup
        // waits on memory; the decision is then taken in place, without waiting.
        let hash = || inner.format.hash(parsed.secret);
        if let Some(memory) = &inner.memory {
            return memory.with_token(id, |entry| {
                decide(inner, id, &hash(), entry.map(TokenEntry::view))
            });
        }
        if let Some(cache) = &inner.cache {
            let hit = cache.with_hit(id, |entry| {
                decide(inner, id, &hash(), entry.map(TokenEntry::view))
            });
            if let Some(hit) = hit {
                return hit;
            }
        }
        // Boxed: a storage lookup's future is large, and kept inline it would make every
        // verification's future as large (about 500 bytes, moved by each caller). The one
        // allocation joins those of the lookup itself.
        Box::pin(verify_in_storage(inner, id, hash())).await
    }
}

/// Verifies a token by asking storage, through the cache if there is one: the path of a
/// storage without an index in this process, or of a cache miss.
async fn verify_in_storage(
    inner: &Verifier,
    id: &TokenId,
    presented: TokenHash,
) -> Result<Verified, VerifyError> {
    let lookup = match &inner.cache {
        Some(cache) => cache.miss(id, &*inner.storage).await,
        None => inner.storage.find_by_token(id).await,
    };
    let record = lookup.map_err(|err| {
        tracing::warn!(
            token_id = %id,
            error = &err as &(dyn std::error::Error + 'static),
            "token refused: storage failed",
        );
        inner.count(VerifyOutcome::StorageError);
        VerifyError::Storage(err)
    })?;
    // Looked up for this verification alone: its mark is fresh, so the use is noted.
    let entry = record.map(TokenEntry::new);
    decide(inner, id, &presented, entry.as_ref().map(TokenEntry::view))
}

/// The decision on a presented token whose id is `id` and whose hash is `presented`, given
/// what the index holds for `id`: the record and the token's last-used mark (`None`: an
/// unknown id).
#[inline]
fn decide(
    inner: &Verifier,
    id: &TokenId,
    presented: &TokenHash,
    found: Option<(&IntegrationRecord, &UseMark)>,
) -> Result<Verified, VerifyError> {
    // An unknown id takes the same steps on a stand-in record (the credential search, the
    // compare), so the verifier's own work is that of a known id with a wrong secret.
    // (The index's hit or miss may still differ: see SECURITY.md.)
    let (record, mark) = found.unwrap_or_else(|| STAND_IN.view());
    let credential = record.credentials.find(id);
    let expected = credential.map_or(&record.credentials.current().hash, |(c, _)| &c.hash);
    let matches = bool::from(presented.ct_eq(expected));
    let (true, Some((_, role)), true) = (found.is_some(), credential, matches) else {
        // One reason for an unknown id and a wrong secret, as in the error.
        tracing::debug!(token_id = %id, reason = "invalid", "token refused");
        inner.count(VerifyOutcome::Invalid);
        return Err(VerifyError::Invalid);
    };
    match role {
        TokenRole::Current => {}
        // Only a previous token needs the clock.
        TokenRole::Previous { expires_at } => {
            if inner.clock.now() >= expires_at {
                tracing::debug!(token_id = %id, reason = "expired", "token refused");
                inner.count(VerifyOutcome::Expired);
                return Err(VerifyError::Expired);
            }
        }
        // Found in a public place: refused as any token that is not (or no longer) valid.
        TokenRole::Revoked => {
            tracing::debug!(token_id = %id, reason = "revoked", "token refused");
            inner.count(VerifyOutcome::Invalid);
            return Err(VerifyError::Invalid);
        }
    }
    if let Some(recorder) = &inner.last_used {
        // Noted once per interval (the entry's mark); the writer stores it later.
        recorder.used(mark, id, &*inner.clock);
    }
    inner.count(VerifyOutcome::Ok);
    // Copies, not a reference count: nothing here writes to the shared record.
    Ok(Verified {
        integration: record.id.clone(),
        account: record.account.clone(),
        scopes: record.scopes.granted(inner.catalog),
    })
}

/// What an unknown token id is checked against: a record no token can match. Its hash is
/// all zeros, which no known input produces, and the verifier refuses any token found on
/// it anyway.
static STAND_IN: LazyLock<TokenEntry<IntegrationRecord>> = LazyLock::new(|| {
    let credential = TokenCredential {
        id: TokenId::from_bytes([b'0'; ID_LEN]),
        hash: TokenHash::from_bytes([0; 32]),
        issued_at: OffsetDateTime::UNIX_EPOCH,
    };
    TokenEntry::new(IntegrationRecord {
        id: IntegrationId::from_bytes([b'0'; ID_LEN]),
        account: AccountId::new("stand-in"),
        name: "".into(),
        description: "".into(),
        scopes: StoredScopes::default(),
        credentials: Credentials::new(credential),
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
        version: 0,
        last_used: Default::default(),
    })
});

/// A token that passed [`PrivateIntegrations::verify`](crate::PrivateIntegrations::verify): who it acts for and what it may
/// do. Holds no secret.
///
/// A value of its own: verification copies the integration id, the account id and the
/// granted scopes into it, so it shares nothing with other verifications of the same
/// token, and a clone is a copy too (an account id longer than 24 bytes is shared behind
/// a reference count instead). It carries no name: a name is up to 400 bytes, which
/// would mean a large copy, or a shared count, on every verification; the integration
/// id is the key to log, and [`PrivateIntegrations::get`](crate::PrivateIntegrations::get) gives the rest.
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
    integration: IntegrationId,
    account: AccountId,
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
        &self.account
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
        &self.integration
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

#[cfg(test)]
mod tests {
    use crate::*;

    /// A verification's future stays small, so that a caller that moves it (every
    /// `.await` in a handler may) copies little: the storage path is boxed.
    #[test]
    fn the_verification_future_is_small() {
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
            .build();
        let future = pi.verify("pit_x");
        assert!(
            size_of_val(&future) <= 128,
            "{} bytes",
            size_of_val(&future)
        );
    }

    /// An account id too long to keep inline is shared, not copied: verification hands
    /// it out all the same, on the in-place path.
    #[test]
    fn a_long_account_id_verifies_like_a_short_one() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pi = PrivateIntegrations::builder(MemoryStorage::new())
                .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
                .build();
            for account in ["acct_1", "0e4f9c1a-6b7d-4c8e-9f10-2a3b4c5d6e7f"] {
                let admin = Actor::admin(AccountId::new(account), UserId::new("u_admin"));
                let new = NewIntegration::new("Sync").scopes(["contacts.readonly"]);
                let token = pi.create(&admin, new).await.unwrap().token;
                let verified = pi.verify(token.expose_secret()).await.unwrap();
                assert_eq!(verified.account().as_str(), account);
                assert_eq!(verified.clone().account(), admin.account());
            }
        });
    }
}
