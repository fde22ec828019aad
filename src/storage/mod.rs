//! Where integrations, settings and the audit log live.
//!
//! [`Storage`] is the whole contract between the service and a backend. It is small on
//! purpose; each method says what an implementation *must* guarantee. The service does
//! all policy and lifecycle logic, a backend only keeps records faithfully:
//!
//! - **Versioned compare-and-swap.** Every integration write names the version it read.
//!   A different stored version is [`StorageError::Conflict`] and nothing is written, so
//!   of two replicas racing on one integration exactly one wins and nothing is lost.
//! - **Create never overwrites.** An existing integration id or token id is
//!   [`StorageError::AlreadyExists`].
//! - **Atomic audit.** Each change is written together with its [`AuditEvent`], or
//!   neither is (one transaction in SQL).
//! - **O(1) token lookup.** [`Storage::find_by_token`] finds a record by any token id its
//!   credentials hold (a unique index in SQL).
//! - **Account isolation.** Every management read and write names the account; a record
//!   of another account is as good as absent.
//! - **Stable pages.** [`Storage::list_page`] and [`Storage::audit_log_page`] cut a
//!   listing by a key that never changes (keyset pagination), so under concurrent writes
//!   a page boundary never repeats or skips an item. They have defaults built on the
//!   whole listing; the built-in backends override them with keyset queries.
//!
//! # Backends
//!
//! | backend | feature | for |
//! |---|---|---|
//! | [`MemoryStorage`] | (always) | tests, examples, one process that may lose its data |
//! | `SqliteStorage` | `sqlite` | one process, embedded and persistent |
//! | `PostgresStorage` | `postgres` | many replicas sharing one database |
//!
//! The SQL backends take the host application's existing `sqlx` pool (`new(pool)`) or
//! open one (`connect(url)`), and create their tables only when told to (`migrate()`).
//! Their tables are all prefixed `pi_`, and their migration history is kept in
//! `pi_migrations`, so they never meet the host's tables or its `_sqlx_migrations`.
//!
//! A backend of your own is held to the same contract by the conformance suite
//! (feature `conformance`): see `storage::conformance`.

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "postgres")]
mod listener;
mod memory;
mod paging;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod watch;

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;

pub use crate::domain::access::AccessSettings;
pub use crate::domain::audit::{AuditAction, AuditEvent};
pub use crate::domain::credentials::{Credentials, TokenCredential};
pub use crate::domain::idempotency::{Fingerprint, IdempotencyKey, IdempotencyRecord};
pub use crate::domain::integration::{IntegrationRecord, LastUsedTimes};
pub use crate::domain::scope::StoredScopes;
pub use crate::domain::usage::TokenUses;
pub use crate::error::StorageError;
pub use memory::MemoryStorage;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStorage;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStorage;
pub use watch::{ListenerCounters, ListenerStats, Watch};

/// The `sqlx` this crate's SQL backends are built on, to build the pool they take with the
/// very same version.
///
/// # Example
///
/// ```no_run
/// use private_integrations::storage::sqlx::postgres::PgPoolOptions;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = PgPoolOptions::new().max_connections(5).connect("postgres://localhost/app").await?;
/// # let _ = pool; Ok(()) }
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
#[doc(no_inline)]
pub use sqlx;

use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
pub use crate::domain::listing::IntegrationQuery;
pub use crate::domain::page::{AuditLogQuery, Cursor, ListOrder, Page, PageRequest};
use time::OffsetDateTime;

/// What a write stores beside the state it changes, in the same transaction: the
/// change's audit event and, when the call carried an [`IdempotencyKey`], the record of
/// that key ([`IdempotencyRecord`]).
///
/// A backend must store both with the change or store nothing: a crash between the two
/// can neither let the change run again under the same key nor lose its record. If a
/// record of the same account, user and key is stored already, the write must fail with
/// [`StorageError::AlreadyExists`] and write nothing (PostgreSQL: the key's row is
/// inserted first in the transaction, under a unique key, so that of two writers racing
/// with one key the second waits for the first and then fails).
///
/// # Example
///
/// ```
/// use private_integrations::{AuditAction, AuditEvent, AccountId, UserId, storage::Change};
/// let event = AuditEvent {
///     account: AccountId::new("acct_1"),
///     actor: UserId::new("u_admin"),
///     integration: None,
///     action: AuditAction::FeatureSwitched { enabled: true },
///     at: time::OffsetDateTime::UNIX_EPOCH,
/// };
/// let change = Change::from(&event);
/// assert!(change.once.is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The audit event of the change.
    pub event: &'a AuditEvent,
    /// The record of the idempotency key the change was made under, if any.
    pub once: Option<&'a IdempotencyRecord>,
}

impl<'a> From<&'a AuditEvent> for Change<'a> {
    fn from(event: &'a AuditEvent) -> Self {
        Self { event, once: None }
    }
}

/// One token's use, as the last-used batch writes it: the token id and when it was used.
///
/// # Example
///
/// ```
/// use private_integrations::{TokenId, storage::LastUse};
/// let used = LastUse { token_id: TokenId::parse("AbCdEfGh12345678")?, at: time::OffsetDateTime::UNIX_EPOCH };
/// assert_eq!(used.token_id.as_str(), "AbCdEfGh12345678");
/// # Ok::<(), private_integrations::InvalidInput>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastUse {
    /// The token that was used.
    pub token_id: TokenId,
    /// When (the first use noted in its interval).
    pub at: OffsetDateTime,
}

/// Receives what a backend announces about committed changes, made by this process or by
/// any other: which token ids may now verify differently, or not at all.
///
/// The verification cache is one; a backend that announces changes (see
/// [`Storage::watch`]) calls it from its own background task, and the service calls it
/// for its own writes before the call returns. Both methods must be cheap and must not
/// block.
///
/// # Example
///
/// ```
/// use std::sync::Mutex;
/// use private_integrations::{TokenId, storage::ChangeListener};
///
/// /// Counts announcements.
/// #[derive(Default)]
/// struct Count(Mutex<(usize, usize)>);
///
/// impl ChangeListener for Count {
///     fn tokens_changed(&self, token_ids: &[TokenId]) {
///         self.0.lock().unwrap().0 += token_ids.len();
///     }
///     fn announcements_lost(&self) {
///         self.0.lock().unwrap().1 += 1;
///     }
/// }
/// let count = Count::default();
/// count.tokens_changed(&[TokenId::parse("AbCdEfGh12345678").unwrap()]);
/// count.announcements_lost();
/// assert_eq!(*count.0.lock().unwrap(), (1, 1));
/// ```
pub trait ChangeListener: Send + Sync + 'static {
    /// A committed change touched these token ids: created, rotated in or out, their
    /// integration's scopes edited, deleted. Whatever was known about them is stale.
    fn tokens_changed(&self, token_ids: &[TokenId]);

    /// Announcements may have been missed (the backend lost its connection and got it
    /// back, or went silent): anything may have changed.
    fn announcements_lost(&self);
}

/// The result of a token lookup: the record whose credentials hold the token id, if any.
///
/// # Example
///
/// ```
/// use private_integrations::{MemoryStorage, Storage, TokenId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let unknown = TokenId::parse("0000000000000000").unwrap();
/// let result: private_integrations::storage::TokenLookupResult =
///     MemoryStorage::new().find_by_token(&unknown).await;
/// assert!(result.unwrap().is_none());
/// # });
/// ```
pub type TokenLookupResult = Result<Option<Arc<IntegrationRecord>>, StorageError>;

/// The answer of [`Storage::find_by_token`]: a future that an in-process backend
/// completes at once, without allocating, and a remote backend completes later.
///
/// Verification runs on every request, so it should not pay for a boxed future when
/// the answer is already at hand: [`TokenLookup::ready`] wraps an answer,
/// [`TokenLookup::pending`] wraps any future.
///
/// # Example
///
/// ```
/// use private_integrations::storage::TokenLookup;
/// # async fn query() -> private_integrations::storage::TokenLookupResult { Ok(None) }
/// let now = TokenLookup::ready(Ok(None));
/// let later = TokenLookup::pending(query());
/// # let _ = (now, later);
/// ```
#[must_use = "a lookup does nothing unless awaited"]
pub struct TokenLookup<'a>(LookupState<'a>);

enum LookupState<'a> {
    Ready(Option<TokenLookupResult>),
    Pending(Pin<Box<dyn Future<Output = TokenLookupResult> + Send + 'a>>),
}

impl<'a> TokenLookup<'a> {
    /// An answer already at hand.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::storage::TokenLookup;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert!(TokenLookup::ready(Ok(None)).await.unwrap().is_none());
    /// # });
    /// ```
    pub fn ready(result: TokenLookupResult) -> Self {
        Self(LookupState::Ready(Some(result)))
    }

    /// An answer still to come.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::storage::TokenLookup;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let lookup = TokenLookup::pending(async { Ok(None) });
    /// assert!(lookup.await.unwrap().is_none());
    /// # });
    /// ```
    pub fn pending(future: impl Future<Output = TokenLookupResult> + Send + 'a) -> Self {
        Self(LookupState::Pending(Box::pin(future)))
    }
}

impl Future for TokenLookup<'_> {
    type Output = TokenLookupResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            LookupState::Ready(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(StorageError::backend(
                    "token lookup polled after completion",
                ))
            })),
            LookupState::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl Debug for TokenLookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0 {
            LookupState::Ready(_) => "ready",
            LookupState::Pending(_) => "pending",
        };
        f.debug_tuple("TokenLookup").field(&state).finish()
    }
}

/// A storage backend. Usable as `Arc<dyn Storage>`.
///
/// Implementations must hold the guarantees listed on each method; the
/// [module documentation](self) sums them up. Timestamps must round-trip with at least
/// microsecond precision: the grace boundary is checked to the second.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use private_integrations::{MemoryStorage, PrivateIntegrations, ScopeCatalog, Storage};
///
/// let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
/// let pi = PrivateIntegrations::builder(storage)
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// # let _ = pi;
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[async_trait]
pub trait Storage: Debug + Send + Sync + 'static {
    /// Stores a new integration and its [`Change`] (audit event, idempotency record),
    /// atomically.
    ///
    /// Must fail with [`StorageError::AlreadyExists`], writing nothing, if the
    /// integration id or any token id of `record.credentials` is already stored (in any
    /// account), or if the change's idempotency key is (see [`Change`]). Never
    /// overwrites.
    async fn insert(
        &self,
        record: &IntegrationRecord,
        change: Change<'_>,
    ) -> Result<(), StorageError>;

    /// Replaces the integration `record.id` of `record.account` with `record`, and
    /// stores `change`, atomically, if and only if the stored version is
    /// `expected_version` and the change's idempotency key is not stored yet.
    ///
    /// Must fail with [`StorageError::NotFound`] if no such integration exists in that
    /// account, and [`StorageError::Conflict`] if its version differs; either way nothing
    /// is written. On success, [`find_by_token`](Self::find_by_token) finds the record by
    /// exactly the token ids of `record.credentials`: ids the previous version held and
    /// this one does not are no longer found. A new token id already held by another
    /// integration is [`StorageError::AlreadyExists`].
    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError>;

    /// Deletes the integration and stores `change`, atomically, if and only if the stored
    /// version is `expected_version` (and the change's idempotency key is not stored
    /// yet); none of its token ids is found afterwards.
    ///
    /// Errors as [`update`](Self::update).
    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError>;

    /// The integration `id` of `account`, if it exists in that account.
    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError>;

    /// Every integration of `account`, oldest first (by creation time, then id).
    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError>;

    /// The integration whose credentials hold `token_id`, in O(1).
    ///
    /// This is the verification hot path: an in-process backend should answer with
    /// [`TokenLookup::ready`]. It must not return a record whose credentials do not hold
    /// the id (the verifier refuses such a record anyway).
    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_>;

    /// The account's feature switch and the user's permission, with their defaults
    /// ([`AccessSettings::default`]) where nothing was set.
    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError>;

    /// Sets a user's permission and stores `change`, atomically. A plain set: the value
    /// does not depend on the one before, so concurrent sets need no version. Fails
    /// with [`StorageError::AlreadyExists`], writing nothing, if the change's
    /// idempotency key is stored already.
    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        change: Change<'_>,
    ) -> Result<(), StorageError>;

    /// Sets the account's feature switch and stores `change`, atomically. A plain set,
    /// as [`set_permission`](Self::set_permission).
    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        change: Change<'_>,
    ) -> Result<(), StorageError>;

    /// The account's audit events, newest first (events of the same instant: the one
    /// written last first).
    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError>;

    /// At most `limit` integrations, of any account, that are rotating at `now`: those
    /// with a previous token that has not expired (`now <` its `previous_expires_at`),
    /// in the order of (`previous_expires_at`, id), those that sort strictly after
    /// `after`; each with its last-used times, as [`get`](Self::get) fills them.
    ///
    /// The service calls it in bounded batches (the key of the last record of a batch is
    /// the next one's `after`) from its background work, when a rotation may finish
    /// itself
    /// ([`finish_rotation_when_silent`](crate::PrivateIntegrationsBuilder::finish_rotation_when_silent)):
    /// one call should cost about its batch, not the number of integrations (the SQL
    /// backends read an index of the rotations by their end, migration 9), and needs no
    /// snapshot across calls (a record changed between two batches is read again, or
    /// not, and written with compare-and-swap anyway). Ids compare byte by byte, as
    /// everywhere.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{MemoryStorage, Storage};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let now = time::OffsetDateTime::now_utc();
    /// let rotating = MemoryStorage::new().rotating_integrations(now, None, 100).await.unwrap();
    /// assert!(rotating.is_empty());
    /// # });
    /// ```
    async fn rotating_integrations(
        &self,
        now: OffsetDateTime,
        after: Option<(OffsetDateTime, &IntegrationId)>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StorageError>;

    /// The record of the change that `user` of `account` made under `key`, if one is
    /// stored (see [`Change::once`]).
    async fn idempotency_record(
        &self,
        account: &AccountId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StorageError>;

    /// Removes at most `limit` idempotency records made before `made_before` (any
    /// account), and says how many it removed: the service calls it in bounded batches
    /// from its background work, so that one call never holds the storage for long and
    /// the records never grow without bound.
    async fn remove_idempotency_records(
        &self,
        made_before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError>;

    /// Removes at most `limit` audit events (any account) written at a time before
    /// `before`, the oldest first (of one account's events of one instant, the one
    /// written first), and says how many it removed. The service calls it in bounded
    /// batches from its background work when
    /// [`audit_retention`](crate::PrivateIntegrationsBuilder::audit_retention) is set.
    ///
    /// What an implementation must guarantee: an event at `before` or later is never
    /// removed; the events left keep their order and their page keys (a cursor to an
    /// event that is left reads the same pages after the removal as before it); and a
    /// call that finds nothing to remove changes nothing. It must not scan the whole log
    /// per call: a batch costs about its own size (the SQL backends delete through an
    /// index on the events' time and sequence number).
    async fn remove_audit_events(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError>;

    /// One page of [`list`](Self::list): at most `page.page_size()` integrations of
    /// `account`, oldest first, those whose (creation time, id) sorts strictly after the
    /// cursor's ([`Cursor::integration_key`]), and the cursor after the last of them
    /// ([`Cursor::after_integration`]) if more may follow.
    ///
    /// The service passes only a page size it checked (1 to
    /// [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE)) and only cursors of this listing. Must
    /// never repeat or skip a record across pages under concurrent writes: the order's
    /// keys never change, so a keyset query (`WHERE (created_at, id) > (…) ORDER BY
    /// created_at, id LIMIT …`) holds it.
    ///
    /// The default reads the whole [`list`](Self::list) and cuts the page from it:
    /// correct, but it costs a whole listing per page. Backends override it.
    async fn list_page(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        Ok(paging::integrations(self.list(account).await?, page))
    }

    /// One page of [`audit_log`](Self::audit_log): at most `page_size()` events of
    /// `account` (of `query.integration_id()` only, if set), newest first, those whose
    /// key sorts strictly before the cursor's ([`Cursor::audit_event_key`]), and the
    /// cursor after the last of them ([`Cursor::after_audit_event`]) if more may follow.
    ///
    /// An event's key is its time and its *position*, a number that orders the events of
    /// one instant (the last written is the highest) and never changes once the event
    /// is stored: the SQL backends use their table's sequence number. Must never repeat
    /// or skip an event across pages under concurrent writes, including writers that
    /// commit in another order than they took their positions (see
    /// [`domain::page`](crate::domain::page) for why a fixed key is enough). As for
    /// [`list_page`](Self::list_page), the service checks the page size and the cursor's
    /// kind.
    ///
    /// The default reads the whole [`audit_log`](Self::audit_log) and numbers the events
    /// of each instant from the oldest. That is exact for a backend whose events of one
    /// instant are stored in the order they are written (in-process backends), and costs
    /// a whole log per page; a backend whose writers may commit out of order must
    /// override it with a stored sequence, as the SQL backends do. Nor does it keep the
    /// positions of an instant whose oldest events
    /// [`remove_audit_events`](Self::remove_audit_events) removed and whose others it
    /// left (a batch that ended inside the instant): a cursor into that instant may then
    /// repeat events, until the next batch removes the rest.
    async fn audit_log_page(
        &self,
        account: &AccountId,
        query: &AuditLogQuery,
    ) -> Result<Page<AuditEvent>, StorageError> {
        Ok(paging::audit_events(self.audit_log(account).await?, query))
    }

    /// One page of the integrations of `account` that `query` asks for, in its order, and
    /// how many of them there are: at most `query.page_request().page_size()` of those
    /// that [`IntegrationQuery::matches`] at `now` with `rotation_interval`, whose
    /// (creation time, id) sorts strictly after the cursor's in the query's order
    /// ([`Cursor::integration_key_in`]), with the cursor after the last of them
    /// ([`Cursor::after_integration_in`]) if more may follow, and [`Page::total`] set to
    /// the number of all the account's integrations that match (every page, not this
    /// one).
    ///
    /// The service passes only a query it checked ([`IntegrationQuery::validate`]) whose
    /// cursor, if any, is of the query's order. Must never repeat or skip a record across
    /// pages under concurrent writes, as [`list_page`](Self::list_page). The name test is
    /// on folded text ([`fold_case`](crate::domain::listing::fold_case)), never on a
    /// database's own `lower()`, so that every backend finds the same integrations.
    ///
    /// The default reads the whole [`list`](Self::list), filters, counts and cuts the
    /// page from it: correct, but it costs a whole listing per page. The SQL backends
    /// override it: the filter, the page and the count run in the database.
    async fn list_query(
        &self,
        account: &AccountId,
        query: &IntegrationQuery,
        now: OffsetDateTime,
        rotation_interval: time::Duration,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        Ok(paging::query_integrations(
            self.list(account).await?,
            query,
            now,
            rotation_interval,
        ))
    }

    /// Records when tokens were last used: for each [`LastUse`] whose token id is still
    /// stored, keeps the later of the stored time and `at`. Ids no longer stored are
    /// skipped. Not a change: no version moves, no audit event, nothing is announced.
    ///
    /// The service calls it off the request path, with one batch per last-used interval.
    /// The default does nothing: a backend that keeps no last-used times shows none.
    async fn record_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError> {
        let _ = uses;
        Ok(())
    }

    /// Adds token uses to the stored counts: for each [`TokenUses`] whose token id is
    /// still stored, adds `uses` to the count of that token and hour, kept with the
    /// integration that holds the token. Ids no longer stored are skipped. Not a change:
    /// no version moves, no audit event, nothing is announced. A batch lands whole or
    /// not at all, so that the service can keep a failed one and add it to the next.
    ///
    /// The service calls it off the request path, with the last-used times, once per
    /// last-used interval, each token and hour at most once per batch. The default keeps
    /// nothing: a backend that keeps no counts shows none.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{*, storage::TokenUses};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let storage = MemoryStorage::new();
    /// let pi = PrivateIntegrations::builder(storage.clone())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_1"));
    /// let created = pi.create(&admin, NewIntegration::new("Zapier sync").scopes(["contacts.readonly"])).await?;
    /// let token = *created.token.token_id();
    /// let at = time::OffsetDateTime::now_utc();
    /// storage.record_token_uses(&[TokenUses::new(token, at, 2)]).await?;
    /// storage.record_token_uses(&[TokenUses::new(token, at, 3)]).await?;
    /// let counts = storage
    ///     .token_uses(&admin.account(), created.integration.id(), at - time::Duration::DAY)
    ///     .await?;
    /// assert_eq!(counts, [TokenUses::new(token, at, 5)]);
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    async fn record_token_uses(&self, uses: &[TokenUses]) -> Result<(), StorageError> {
        let _ = uses;
        Ok(())
    }

    /// The stored counts of every token the integration `id` of `account` held whose
    /// hour starts at or after `since`, in any order, one per token and hour. Another
    /// account's integration, or none, has none.
    ///
    /// The default has none. See [`record_token_uses`](Self::record_token_uses) for an
    /// example.
    async fn token_uses(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        since: OffsetDateTime,
    ) -> Result<Vec<TokenUses>, StorageError> {
        let _ = (account, id, since);
        Ok(Vec::new())
    }

    /// Removes at most `limit` counts whose hour starts before `before` (any account),
    /// the oldest first, and says how many it removed: the service calls it in bounded
    /// batches from its background work, to keep counts for the usage retention only.
    /// The counts of an integration also go when it is deleted.
    ///
    /// The default removes none (and keeps none).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{*, storage::TokenUses};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let storage = MemoryStorage::new();
    /// let removed = storage.remove_token_uses(time::OffsetDateTime::now_utc(), 1000).await?;
    /// assert_eq!(removed, 0);
    /// # Ok::<(), StorageError>(())
    /// # }).unwrap();
    /// ```
    async fn remove_token_uses(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let _ = (before, limit);
        Ok(0)
    }

    /// Starts announcing every committed change that affects verification, made by any
    /// process sharing this storage, to `listener`, from a task on the tokio runtime
    /// current here, until the returned [`Watch`] is stopped or dropped.
    ///
    /// What an implementation must guarantee, if it returns a `Watch`:
    /// - every committed change that may make a token verify differently (created,
    ///   rotated in or out, scopes or name edited, deleted, also by hand outside this
    ///   crate) reaches [`ChangeListener::tokens_changed`] with every token id it touched,
    ///   old and new; a change that was not committed is never announced;
    /// - whenever announcements may have been missed (the connection was lost, or went
    ///   silent), [`ChangeListener::announcements_lost`] is called once the backend
    ///   listens again, so that nothing changed in the gap goes unnoticed;
    /// - a last-used write ([`record_last_used`](Self::record_last_used)) is not a change
    ///   and is not announced.
    ///
    /// The default returns `None`: the backend announces nothing. That is right for a
    /// storage that lives in this process alone, such as
    /// [`MemoryStorage`] (and `SqliteStorage`, one process on one
    /// file): its only writer is this process's service, which tells its listeners of
    /// its own writes itself. `PostgresStorage` announces through PostgreSQL's
    /// `LISTEN`/`NOTIFY`. A backend also returns `None` when no tokio runtime is current.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use private_integrations::{MemoryStorage, Storage, TokenId, storage::ChangeListener};
    ///
    /// struct Ignore;
    /// impl ChangeListener for Ignore {
    ///     fn tokens_changed(&self, _: &[TokenId]) {}
    ///     fn announcements_lost(&self) {}
    /// }
    /// // In-process storage has no one else to hear from.
    /// assert!(MemoryStorage::new().watch(Arc::new(Ignore)).is_none());
    /// ```
    fn watch(&self, listener: Arc<dyn ChangeListener>) -> Option<Watch> {
        let _ = listener;
        None
    }

    /// The [`MemoryStorage`] this storage is, if it is one (the default: `None`).
    ///
    /// A service built on a `MemoryStorage` verifies by reading its token index in place,
    /// never through [`find_by_token`](Self::find_by_token): no reference count, no copy.
    /// `Arc<S>` forwards this, so `Arc<dyn Storage>` holding a `MemoryStorage` is read in
    /// place too.
    ///
    /// Only `MemoryStorage` itself, and a wrapper that passes every call through to that
    /// very `MemoryStorage` unchanged, may return `Some`: verification then bypasses the
    /// wrapper's `find_by_token`. A wrapper that changes what lookups answer (a blocklist,
    /// fault injection, counting calls) must keep the default, including when it
    /// forwards the other methods wholesale.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use private_integrations::{MemoryStorage, Storage};
    /// let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    /// assert!(storage.as_memory_storage().is_some());
    /// ```
    fn as_memory_storage(&self) -> Option<&MemoryStorage> {
        None
    }
}

#[async_trait]
impl<T: Storage + ?Sized> Storage for Arc<T> {
    async fn insert(
        &self,
        record: &IntegrationRecord,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        (**self).insert(record, change).await
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        (**self).update(record, expected_version, change).await
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        (**self).delete(account, id, expected_version, change).await
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        (**self).get(account, id).await
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        (**self).list(account).await
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        (**self).find_by_token(token_id)
    }

    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError> {
        (**self).access(account, user).await
    }

    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        (**self)
            .set_permission(account, user, permission, change)
            .await
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        (**self).set_feature_enabled(account, enabled, change).await
    }

    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        (**self).audit_log(account).await
    }

    async fn rotating_integrations(
        &self,
        now: OffsetDateTime,
        after: Option<(OffsetDateTime, &IntegrationId)>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StorageError> {
        (**self).rotating_integrations(now, after, limit).await
    }

    async fn idempotency_record(
        &self,
        account: &AccountId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        (**self).idempotency_record(account, user, key).await
    }

    async fn record_token_uses(&self, uses: &[TokenUses]) -> Result<(), StorageError> {
        (**self).record_token_uses(uses).await
    }

    async fn token_uses(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        since: OffsetDateTime,
    ) -> Result<Vec<TokenUses>, StorageError> {
        (**self).token_uses(account, id, since).await
    }

    async fn remove_token_uses(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        (**self).remove_token_uses(before, limit).await
    }

    async fn remove_idempotency_records(
        &self,
        made_before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        (**self)
            .remove_idempotency_records(made_before, limit)
            .await
    }

    async fn remove_audit_events(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        (**self).remove_audit_events(before, limit).await
    }

    async fn list_page(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        (**self).list_page(account, page).await
    }

    async fn audit_log_page(
        &self,
        account: &AccountId,
        query: &AuditLogQuery,
    ) -> Result<Page<AuditEvent>, StorageError> {
        (**self).audit_log_page(account, query).await
    }

    async fn list_query(
        &self,
        account: &AccountId,
        query: &IntegrationQuery,
        now: OffsetDateTime,
        rotation_interval: time::Duration,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        (**self)
            .list_query(account, query, now, rotation_interval)
            .await
    }

    async fn record_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError> {
        (**self).record_last_used(uses).await
    }

    fn watch(&self, listener: Arc<dyn ChangeListener>) -> Option<Watch> {
        (**self).watch(listener)
    }

    fn as_memory_storage(&self) -> Option<&MemoryStorage> {
        (**self).as_memory_storage()
    }
}
