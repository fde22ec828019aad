//! The embedded default: everything in this process's memory.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    AccessSettings, AuditEvent, AuditLogQuery, Change, Cursor, IdempotencyKey, IdempotencyRecord,
    IntegrationQuery, IntegrationRecord, LastUse, LastUsedTimes, Page, PageRequest, Storage,
    StorageError, TokenLookup, TokenUses, paging,
};
use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::usage::hour_of;
use crate::index::TokenEntry;
use time::OffsetDateTime;

/// Storage in this process's memory: the embedded default, for tests, examples and
/// single-process services that can lose their integrations on restart.
///
/// Verification reads are lock-free (a concurrent hash map from token id to the
/// integration's current record), so readers never wait for writers and scale with
/// cores. Writes are serialized by one mutex and hold the same contract as the SQL
/// backends: versioned compare-and-swap, create never overwrites, and each change is
/// applied together with its audit event.
///
/// Clones share the same data.
///
/// # Example
///
/// ```
/// use private_integrations::{MemoryStorage, PrivateIntegrations, ScopeCatalog};
/// let storage = MemoryStorage::new();
/// let pi = PrivateIntegrations::builder(storage.clone())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// # let _ = pi;
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("live_tokens", &self.inner.tokens.len())
            .finish_non_exhaustive()
    }
}

/// A token's slot: its integration's record, kept in the index node itself.
type Slot = TokenEntry<IntegrationRecord>;

/// The token index, pinned.
type Pinned<'a> =
    papaya::HashMapRef<'a, TokenId, Slot, foldhash::fast::RandomState, papaya::LocalGuard<'a>>;

struct Inner {
    /// Every live token id → its slot, which holds the current record of its integration
    /// (the two tokens of a rotation each hold a copy). Read without locks: verification
    /// reads the record in place, in the index's own node.
    tokens: papaya::HashMap<TokenId, Slot, foldhash::fast::RandomState>,
    /// Everything else; also serializes writers.
    tables: Mutex<Tables>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            // Blocking resizes: the (already serialized) writer that grows the map moves
            // every entry at once, so a lookup never has to search an old and a new table
            // during a migration. That keeps a miss as cheap as a hit.
            tokens: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            tables: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Tables {
    /// Every integration → its current token id; its record is in that token's slot.
    integrations: HashMap<IntegrationId, TokenId>,
    accounts: HashMap<AccountId, Account>,
    /// When each live token was last used (tokens never used have no entry), apart from
    /// the records: recording a use replaces no record.
    last_used: HashMap<TokenId, time::OffsetDateTime>,
    /// The records of changes made under an idempotency key.
    once: HashMap<OnceKey, IdempotencyRecord>,
    /// The same keys by the time of their change (then an order of writing), so that the
    /// oldest are removed first without a scan.
    once_by_time: BTreeMap<(OffsetDateTime, u64), OnceKey>,
    /// The order of writing of the next idempotency record.
    once_written: u64,
    /// The time of each account's oldest audit event (accounts without events have no
    /// entry), so that the oldest events of all accounts are removed first without a
    /// scan: one entry per account, not per event.
    audit_oldest: BTreeSet<(OffsetDateTime, AccountId)>,
    /// Token use counts by (hour, integration, token): the oldest come first, for their
    /// removal.
    uses: BTreeMap<(OffsetDateTime, IntegrationId, TokenId), u64>,
    /// The keys of `uses` of each integration (integrations without counts have no
    /// entry): its counts are read, and removed with it, without a scan.
    uses_of: HashMap<IntegrationId, BTreeSet<(OffsetDateTime, TokenId)>>,
}

impl Tables {
    /// Removes every use count of integration `id`.
    fn forget_uses(&mut self, id: &IntegrationId) {
        for (hour, token) in self.uses_of.remove(id).unwrap_or_default() {
            self.uses.remove(&(hour, id.clone(), token));
        }
    }
}

/// An idempotency key with its owner.
type OnceKey = (AccountId, UserId, IdempotencyKey);

fn once_key(record: &IdempotencyRecord) -> OnceKey {
    (
        record.account.clone(),
        record.user.clone(),
        record.key.clone(),
    )
}

impl Tables {
    /// Fails if the change's idempotency key is stored already. Writers call it before
    /// they change anything.
    fn check_once(&self, change: Change<'_>) -> Result<(), StorageError> {
        match change.once {
            Some(once) if self.once.contains_key(&once_key(once)) => {
                Err(StorageError::AlreadyExists)
            }
            _ => Ok(()),
        }
    }

    /// Stores the change's audit event in `account` and its idempotency record, if any.
    fn record(&mut self, account: &AccountId, change: Change<'_>) {
        let stored = self.accounts.entry(account.clone()).or_default();
        let oldest = stored.oldest_event();
        stored.record(change.event);
        if oldest.is_none_or(|at| change.event.at < at) {
            if let Some(at) = oldest {
                self.audit_oldest.remove(&(at, account.clone()));
            }
            self.audit_oldest.insert((change.event.at, account.clone()));
        }
        if let Some(once) = change.once {
            let key = once_key(once);
            self.once_written += 1;
            self.once_by_time
                .insert((once.at, self.once_written), key.clone());
            self.once.insert(key, once.clone());
        }
    }

    /// `record` as read by `get` and `list`: with its tokens' last-used times.
    fn read(&self, record: &IntegrationRecord) -> IntegrationRecord {
        let mut read = record.clone();
        for id in record.credentials.token_ids() {
            if let Some(at) = self.last_used.get(&id) {
                read.last_used.set(id, *at);
            }
        }
        read
    }
}

/// `record` as kept: its last-used times are kept apart, by the storage.
fn kept(record: &IntegrationRecord) -> IntegrationRecord {
    let mut kept = record.clone();
    kept.last_used = LastUsedTimes::new();
    kept
}

#[derive(Debug, Default)]
struct Account {
    integrations: BTreeSet<IntegrationId>,
    feature_enabled: Option<bool>,
    permissions: HashMap<UserId, Permission>,
    /// Oldest first (by time, then by write); the oldest are removed from the front.
    audit: VecDeque<AuditEvent>,
    /// The instant of the last event removed from the front, and how many of that
    /// instant were removed: the events left of it keep their positions.
    removed: Option<(OffsetDateTime, u64)>,
}

impl Account {
    /// Files an event in time order; after every event of the same instant, so that of
    /// those the one written last is read first.
    fn record(&mut self, event: &AuditEvent) {
        let at = self.audit.partition_point(|e| e.at <= event.at);
        self.audit.insert(at, event.clone());
    }

    /// The time of the oldest event, if any.
    fn oldest_event(&self) -> Option<OffsetDateTime> {
        self.audit.front().map(|e| e.at)
    }

    /// Removes the oldest events written before `before` (and not after `until`), at
    /// most `limit`; says how many. Gives memory back once the log is a quarter of what
    /// it holds room for.
    fn remove_oldest(
        &mut self,
        before: OffsetDateTime,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> usize {
        let mut removed = 0;
        while removed < limit {
            let Some(at) = self.oldest_event() else { break };
            if at >= before || until.is_some_and(|until| at > until) {
                break;
            }
            self.audit.pop_front();
            self.removed = match self.removed {
                Some((instant, n)) if instant == at => Some((at, n + 1)),
                _ => Some((at, 1)),
            };
            removed += 1;
        }
        if self.audit.capacity() > 64 && self.audit.len() < self.audit.capacity() / 4 {
            self.audit.shrink_to(self.audit.len() * 2);
        }
        removed
    }

    /// How many events of the instant `at` were removed: the first left is the next.
    fn removed_of(&self, at: OffsetDateTime) -> u64 {
        match self.removed {
            Some((instant, n)) if instant == at => n,
            _ => 0,
        }
    }
}

impl MemoryStorage {
    /// Empty storage.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::MemoryStorage;
    /// let storage = MemoryStorage::new();
    /// # let _ = storage;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> Result<MutexGuard<'_, Tables>, StorageError> {
        // Writers validate before they mutate, so a poisoned lock means a bug mid-write:
        // refuse rather than serve state that may be torn.
        self.inner
            .tables
            .lock()
            .map_err(|_| StorageError::backend("memory storage is poisoned by an earlier panic"))
    }

    /// Gives `f` the slot of token `id`, read in place (`None`: no such token). Lock-free.
    pub(crate) fn with_token<R>(&self, id: &TokenId, f: impl FnOnce(Option<&Slot>) -> R) -> R {
        f(self.inner.tokens.pin().get(id))
    }

    /// The stored record of integration `id`, from its current token's slot.
    fn stored<'g>(
        tables: &Tables,
        tokens: &'g Pinned<'_>,
        id: &IntegrationId,
    ) -> Option<&'g IntegrationRecord> {
        let token = tables.integrations.get(id)?;
        tokens.get(token).map(Slot::record)
    }

    /// Gives every token id of `record` a slot holding it, then forgets the ids of `old`
    /// it no longer holds. Inserting first means a token that stays valid is never
    /// missing.
    fn index(tokens: &Pinned<'_>, record: IntegrationRecord, old: Option<&IntegrationRecord>) {
        let (current, previous) = (
            record.credentials.current().id,
            record.credentials.previous().map(|(p, _)| p.id),
        );
        let gone: Vec<TokenId> = old
            .into_iter()
            .flat_map(|old| old.credentials.token_ids())
            .filter(|id| record.credentials.find(id).is_none())
            .collect();
        if let Some(previous) = previous {
            tokens.insert(previous, Slot::new(record.clone()));
        }
        tokens.insert(current, Slot::new(record));
        for id in &gone {
            tokens.remove(id);
        }
    }

    /// The stored record `id` of `account` at `expected_version`.
    fn expect<'g>(
        tables: &Tables,
        tokens: &'g Pinned<'_>,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
    ) -> Result<&'g IntegrationRecord, StorageError> {
        let stored = Self::stored(tables, tokens, id)
            .filter(|r| r.account == *account)
            .ok_or(StorageError::NotFound)?;
        if stored.version != expected_version {
            return Err(StorageError::Conflict);
        }
        Ok(stored)
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn insert(
        &self,
        record: &IntegrationRecord,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        tables.check_once(change)?;
        let tokens = self.inner.tokens.pin();
        if tables.integrations.contains_key(&record.id)
            || record
                .credentials
                .token_ids()
                .any(|id| tokens.contains_key(&id))
        {
            return Err(StorageError::AlreadyExists);
        }
        let account = tables.accounts.entry(record.account.clone()).or_default();
        account.integrations.insert(record.id.clone());
        tables.record(&record.account, change);
        let current = record.credentials.current().id;
        tables.integrations.insert(record.id.clone(), current);
        Self::index(&tokens, kept(record), None);
        Ok(())
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        let old = Self::expect(
            &tables,
            &tokens,
            &record.account,
            &record.id,
            expected_version,
        )?;
        let taken = record.credentials.token_ids().any(|id| {
            tokens
                .get(&id)
                .is_some_and(|holder| holder.record().id != record.id)
        });
        if taken {
            return Err(StorageError::AlreadyExists);
        }
        tables.check_once(change)?;
        for id in old.credentials.token_ids() {
            if record.credentials.find(&id).is_none() {
                tables.last_used.remove(&id);
            }
        }
        let current = record.credentials.current().id;
        tables.integrations.insert(record.id.clone(), current);
        tables.record(&old.account, change);
        Self::index(&tokens, kept(record), Some(old));
        Ok(())
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        let old = Self::expect(&tables, &tokens, account, id, expected_version)?;
        tables.check_once(change)?;
        let token_ids: Vec<TokenId> = old.credentials.token_ids().collect();
        tables.integrations.remove(id);
        for token_id in &token_ids {
            tokens.remove(token_id);
            tables.last_used.remove(token_id);
        }
        if let Some(stored) = tables.accounts.get_mut(account) {
            stored.integrations.remove(id);
        }
        tables.forget_uses(id);
        tables.record(account, change);
        Ok(())
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        Ok(Self::stored(&tables, &tokens, id)
            .filter(|r| r.account == *account)
            .map(|r| tables.read(r)))
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        let Some(ids) = tables.accounts.get(account).map(|a| &a.integrations) else {
            return Ok(Vec::new());
        };
        let tokens = self.inner.tokens.pin();
        let mut records: Vec<IntegrationRecord> = ids
            .iter()
            .filter_map(|id| Self::stored(&tables, &tokens, id))
            .map(|r| tables.read(r))
            .collect();
        records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(records)
    }

    /// Every integration is looked at, in linear time (no index of rotations is kept:
    /// it would cost every write for the sake of a background task that runs once a
    /// minute); only the batch's records are copied.
    async fn rotating_integrations(
        &self,
        now: OffsetDateTime,
        after: Option<(OffsetDateTime, &IntegrationId)>,
        limit: usize,
    ) -> Result<Vec<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        let key = |r: &IntegrationRecord| r.credentials.previous().map(|(_, until)| until);
        let mut candidates: Vec<(OffsetDateTime, &IntegrationRecord)> = tables
            .integrations
            .keys()
            .filter_map(|id| Self::stored(&tables, &tokens, id))
            .filter_map(|r| key(r).filter(|until| now < *until).map(|until| (until, r)))
            .filter(|(until, r)| after.is_none_or(|after| (*until, &r.id) > after))
            .collect();
        type Candidate<'r> = (OffsetDateTime, &'r IntegrationRecord);
        let order = |a: &Candidate<'_>, b: &Candidate<'_>| (a.0, &a.1.id).cmp(&(b.0, &b.1.id));
        if candidates.len() > limit {
            if limit == 0 {
                return Ok(Vec::new());
            }
            candidates.select_nth_unstable_by(limit - 1, order);
            candidates.truncate(limit);
        }
        candidates.sort_unstable_by(order);
        Ok(candidates
            .into_iter()
            .map(|(_, r)| tables.read(r))
            .collect())
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        // A copy (three allocations): a service on this storage reads the slot in place
        // instead (`Storage::as_memory_storage`), so only a wrapper that hides it (fault
        // injection in tests) or a verification cache in front of it comes here.
        let record = self.with_token(token_id, |slot| slot.map(|s| Arc::new(s.record().clone())));
        TokenLookup::ready(Ok(record))
    }

    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError> {
        let tables = self.tables()?;
        let mut settings = AccessSettings::default();
        if let Some(account) = tables.accounts.get(account) {
            settings.feature_enabled = account.feature_enabled.unwrap_or(true);
            settings.permission = account.permissions.get(user).copied().unwrap_or_default();
        }
        Ok(settings)
    }

    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        tables.check_once(change)?;
        tables
            .accounts
            .entry(account.clone())
            .or_default()
            .permissions
            .insert(user.clone(), permission);
        tables.record(account, change);
        Ok(())
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        tables.check_once(change)?;
        tables
            .accounts
            .entry(account.clone())
            .or_default()
            .feature_enabled = Some(enabled);
        tables.record(account, change);
        Ok(())
    }

    async fn idempotency_record(
        &self,
        account: &AccountId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StorageError> {
        let tables = self.tables()?;
        Ok(tables
            .once
            .get(&(account.clone(), user.clone(), key.clone()))
            .cloned())
    }

    async fn remove_idempotency_records(
        &self,
        made_before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let mut tables = self.tables()?;
        let mut removed = 0;
        while removed < limit {
            let Some(entry) = tables.once_by_time.first_entry() else {
                break;
            };
            if entry.key().0 >= made_before {
                break;
            }
            let key = entry.remove();
            tables.once.remove(&key);
            removed += 1;
        }
        Ok(removed)
    }

    /// The account whose oldest event is the oldest of all gives its events up to the
    /// next account's oldest; then that one; a batch costs its own size (and a log
    /// lookup per account it reaches).
    async fn remove_audit_events(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let mut tables = self.tables()?;
        let tables = &mut *tables;
        let mut removed = 0;
        while removed < limit {
            match tables.audit_oldest.first() {
                Some((at, _)) if *at < before => {}
                _ => break,
            }
            let Some((_, account)) = tables.audit_oldest.pop_first() else {
                break;
            };
            let next = tables.audit_oldest.first().map(|(at, _)| *at);
            let Some(stored) = tables.accounts.get_mut(&account) else {
                continue;
            };
            removed += stored.remove_oldest(before, next, limit - removed);
            if let Some(at) = stored.oldest_event() {
                tables.audit_oldest.insert((at, account));
            }
        }
        Ok(removed)
    }

    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        let tables = self.tables()?;
        Ok(tables
            .accounts
            .get(account)
            .map(|a| a.audit.iter().rev().cloned().collect())
            .unwrap_or_default())
    }

    /// The records whose key sorts after the cursor's, and of those only the page's
    /// first ones, selected in linear time (no index of creation times is kept: it
    /// would cost every stored integration memory for the sake of listings).
    async fn list_page(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        let Some(ids) = tables.accounts.get(account).map(|a| &a.integrations) else {
            return Ok(Page::new(Vec::new(), None));
        };
        let after = page.cursor().and_then(Cursor::integration_key);
        let key = |r: &IntegrationRecord| (r.created_at, r.id.clone());
        let tokens = self.inner.tokens.pin();
        let mut candidates: Vec<&IntegrationRecord> = ids
            .iter()
            .filter_map(|id| Self::stored(&tables, &tokens, id))
            .filter(|r| after.is_none_or(|(at, id)| (r.created_at, &r.id) > (at, id)))
            .collect();
        // One more than the page tells whether another page follows.
        let wanted = page.page_size().saturating_add(1);
        if candidates.len() > wanted {
            candidates.select_nth_unstable_by_key(wanted - 1, |r| key(r));
            candidates.truncate(wanted);
        }
        candidates.sort_unstable_by_key(|r| key(r));
        let mut records = candidates.into_iter().map(|r| tables.read(r));
        Ok(paging::take_page(&mut records, page.page_size(), |r| {
            Cursor::after_integration(r.created_at, &r.id)
        }))
    }

    /// As [`list_page`](Self::list_page): the account's records are filtered, counted
    /// and the page's first ones selected in linear time, by reference; only the page's
    /// records are copied.
    async fn list_query(
        &self,
        account: &AccountId,
        query: &IntegrationQuery,
        now: OffsetDateTime,
        rotation_interval: time::Duration,
    ) -> Result<Page<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        let Some(ids) = tables.accounts.get(account).map(|a| &a.integrations) else {
            return Ok(Page::new(Vec::new(), None).with_total(0));
        };
        let order = query.list_order();
        let after = query
            .page_request()
            .cursor()
            .and_then(|cursor| cursor.integration_key_in(order));
        let tokens = self.inner.tokens.pin();
        let matching: Vec<&IntegrationRecord> = ids
            .iter()
            .filter_map(|id| Self::stored(&tables, &tokens, id))
            .filter(|r| query.matches(r, now, rotation_interval))
            .collect();
        let total = matching.len() as u64;
        let mut candidates: Vec<&IntegrationRecord> = matching
            .into_iter()
            .filter(|r| after.is_none_or(|key| paging::follows(order, r, key)))
            .collect();
        let wanted = query.page_request().page_size().saturating_add(1);
        if candidates.len() > wanted {
            candidates.select_nth_unstable_by(wanted - 1, |a, b| paging::ordered(order, a, b));
            candidates.truncate(wanted);
        }
        candidates.sort_unstable_by(|a, b| paging::ordered(order, a, b));
        let mut records = candidates.into_iter().map(|r| tables.read(r));
        let page = paging::take_page(&mut records, query.page_request().page_size(), |r| {
            Cursor::after_integration_in(order, r.created_at, &r.id)
        });
        Ok(page.with_total(total))
    }

    /// The account's log is kept oldest first, the events of one instant in the order
    /// they were written (writers hold the lock): an event's position is its place among
    /// them, counted from 1 (after those of its instant that were removed), and never
    /// changes. The page is read backwards from the cursor's place, found by binary
    /// search.
    async fn audit_log_page(
        &self,
        account: &AccountId,
        query: &AuditLogQuery,
    ) -> Result<Page<AuditEvent>, StorageError> {
        let tables = self.tables()?;
        let Some(account) = tables.accounts.get(account) else {
            return Ok(Page::new(Vec::new(), None));
        };
        let log = &account.audit;
        let end = match query
            .page_request()
            .cursor()
            .and_then(Cursor::audit_event_key)
        {
            Some((at, position)) => {
                let first = log.partition_point(|e| e.at < at);
                let instant = log.partition_point(|e| e.at <= at) - first;
                let before = position
                    .saturating_sub(1)
                    .saturating_sub(account.removed_of(at));
                let before = usize::try_from(before).unwrap_or(usize::MAX);
                first + before.min(instant)
            }
            None => log.len(),
        };
        let filter = query.integration_id();
        let mut events = log
            .range(..end)
            .enumerate()
            .rev()
            .filter(|(_, e)| filter.is_none() || e.integration.as_ref() == filter)
            .map(|(index, e)| {
                let first = log.partition_point(|other| other.at < e.at);
                let position = (index - first + 1) as u64 + account.removed_of(e.at);
                (e.clone(), position)
            });
        let page = paging::take_page(&mut events, query.page_request().page_size(), |(e, p)| {
            Cursor::after_audit_event(e.at, *p)
        });
        Ok(page.map(|(event, _)| event))
    }

    fn as_memory_storage(&self) -> Option<&MemoryStorage> {
        Some(self)
    }

    async fn record_last_used(&self, uses: &[LastUse]) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        for used in uses {
            // Under the writers' lock: a token is stored exactly when it is indexed.
            if tokens.contains_key(&used.token_id) {
                let at = tables.last_used.entry(used.token_id).or_insert(used.at);
                *at = (*at).max(used.at);
            }
        }
        Ok(())
    }

    async fn record_token_uses(&self, uses: &[TokenUses]) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        for used in uses {
            // Under the writers' lock: a token is stored exactly when it is indexed.
            let Some(slot) = tokens.get(&used.token_id) else {
                continue;
            };
            let integration = slot.record().id.clone();
            let hour = hour_of(used.hour);
            let count = tables
                .uses
                .entry((hour, integration.clone(), used.token_id))
                .or_insert(0);
            *count = count.saturating_add(used.uses);
            tables
                .uses_of
                .entry(integration)
                .or_default()
                .insert((hour, used.token_id));
        }
        Ok(())
    }

    async fn token_uses(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        since: OffsetDateTime,
    ) -> Result<Vec<TokenUses>, StorageError> {
        let tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        if Self::stored(&tables, &tokens, id).is_none_or(|r| r.account != *account) {
            return Ok(Vec::new());
        }
        let Some(keys) = tables.uses_of.get(id) else {
            return Ok(Vec::new());
        };
        let since = since.to_offset(time::UtcOffset::UTC);
        Ok(keys
            .iter()
            .filter(|(hour, _)| *hour >= since)
            .filter_map(|(hour, token_id)| {
                let uses = *tables.uses.get(&(*hour, id.clone(), *token_id))?;
                Some(TokenUses {
                    token_id: *token_id,
                    hour: *hour,
                    uses,
                })
            })
            .collect())
    }

    async fn remove_token_uses(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let mut tables = self.tables()?;
        let mut removed = 0;
        while removed < limit {
            let Some(entry) = tables.uses.first_entry() else {
                break;
            };
            if entry.key().0 >= before {
                break;
            }
            let ((hour, integration, token), _) = entry.remove_entry();
            if let Some(keys) = tables.uses_of.get_mut(&integration) {
                keys.remove(&(hour, token));
                if keys.is_empty() {
                    tables.uses_of.remove(&integration);
                }
            }
            removed += 1;
        }
        Ok(removed)
    }
}
