//! The embedded default: everything in this process's memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    AccessSettings, AuditEvent, AuditLogQuery, Cursor, IntegrationRecord, Page, PageRequest,
    Storage, StorageError, TokenLookup, paging,
};
use crate::domain::access::Permission;
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};

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

struct Inner {
    /// Every live token id → the current record of its integration. Read without locks.
    tokens: papaya::HashMap<TokenId, Arc<IntegrationRecord>, foldhash::fast::RandomState>,
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
    integrations: HashMap<IntegrationId, Arc<IntegrationRecord>>,
    accounts: HashMap<AccountId, Account>,
}

#[derive(Debug, Default)]
struct Account {
    integrations: BTreeSet<IntegrationId>,
    feature_enabled: Option<bool>,
    permissions: HashMap<UserId, Permission>,
    /// Oldest first (by time, then by write).
    audit: Vec<AuditEvent>,
}

impl Account {
    /// Files an event in time order; after every event of the same instant, so that of
    /// those the one written last is read first.
    fn record(&mut self, event: &AuditEvent) {
        let at = self.audit.partition_point(|e| e.at <= event.at);
        self.audit.insert(at, event.clone());
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

    /// Points every token id of `record` at it, then forgets the ids of `old` it no
    /// longer holds. Inserting first means a token that stays valid is never missing.
    fn index(&self, record: &Arc<IntegrationRecord>, old: Option<&IntegrationRecord>) {
        let tokens = self.inner.tokens.pin();
        for id in record.credentials.token_ids() {
            tokens.insert(id, Arc::clone(record));
        }
        if let Some(old) = old {
            for id in old.credentials.token_ids() {
                if record.credentials.find(&id).is_none() {
                    tokens.remove(&id);
                }
            }
        }
    }

    /// The stored record `id` of `account` at `expected_version`.
    fn expect<'t>(
        tables: &'t Tables,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
    ) -> Result<&'t Arc<IntegrationRecord>, StorageError> {
        let stored = tables
            .integrations
            .get(id)
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
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let tokens = self.inner.tokens.pin();
        if tables.integrations.contains_key(&record.id)
            || record
                .credentials
                .token_ids()
                .any(|id| tokens.contains_key(&id))
        {
            return Err(StorageError::AlreadyExists);
        }
        let record = Arc::new(record.clone());
        self.index(&record, None);
        let account = tables.accounts.entry(record.account.clone()).or_default();
        account.integrations.insert(record.id.clone());
        account.record(event);
        tables.integrations.insert(record.id.clone(), record);
        Ok(())
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let old = Arc::clone(Self::expect(
            &tables,
            &record.account,
            &record.id,
            expected_version,
        )?);
        let tokens = self.inner.tokens.pin();
        let taken = record
            .credentials
            .token_ids()
            .any(|id| tokens.get(&id).is_some_and(|holder| holder.id != record.id));
        if taken {
            return Err(StorageError::AlreadyExists);
        }
        let record = Arc::new(record.clone());
        self.index(&record, Some(&old));
        tables.integrations.insert(record.id.clone(), record);
        if let Some(account) = tables.accounts.get_mut(&old.account) {
            account.record(event);
        }
        Ok(())
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        Self::expect(&tables, account, id, expected_version)?;
        if let Some(old) = tables.integrations.remove(id) {
            let tokens = self.inner.tokens.pin();
            for token_id in old.credentials.token_ids() {
                tokens.remove(&token_id);
            }
        }
        if let Some(account) = tables.accounts.get_mut(account) {
            account.integrations.remove(id);
            account.record(event);
        }
        Ok(())
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        Ok(tables
            .integrations
            .get(id)
            .filter(|r| r.account == *account)
            .map(|r| IntegrationRecord::clone(r)))
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        let tables = self.tables()?;
        let Some(ids) = tables.accounts.get(account).map(|a| &a.integrations) else {
            return Ok(Vec::new());
        };
        let mut records: Vec<IntegrationRecord> = ids
            .iter()
            .filter_map(|id| tables.integrations.get(id))
            .map(|r| IntegrationRecord::clone(r))
            .collect();
        records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(records)
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        TokenLookup::ready(Ok(self.inner.tokens.pin().get(token_id).cloned()))
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
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let account = tables.accounts.entry(account.clone()).or_default();
        account.permissions.insert(user.clone(), permission);
        account.record(event);
        Ok(())
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tables = self.tables()?;
        let account = tables.accounts.entry(account.clone()).or_default();
        account.feature_enabled = Some(enabled);
        account.record(event);
        Ok(())
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
        let mut candidates: Vec<&Arc<IntegrationRecord>> = ids
            .iter()
            .filter_map(|id| tables.integrations.get(id))
            .filter(|r| after.is_none_or(|(at, id)| (r.created_at, &r.id) > (at, id)))
            .collect();
        // One more than the page tells whether another page follows.
        let wanted = page.page_size().saturating_add(1);
        if candidates.len() > wanted {
            candidates.select_nth_unstable_by_key(wanted - 1, |r| key(r));
            candidates.truncate(wanted);
        }
        candidates.sort_unstable_by_key(|r| key(r));
        let mut records = candidates.into_iter().map(|r| IntegrationRecord::clone(r));
        Ok(paging::take_page(&mut records, page.page_size(), |r| {
            Cursor::after_integration(r.created_at, &r.id)
        }))
    }

    /// The account's log is kept oldest first, the events of one instant in the order
    /// they were written (writers hold the lock): an event's position is its place among
    /// them, counted from 1, and never changes. The page is read backwards from the
    /// cursor's place, found by binary search.
    async fn audit_log_page(
        &self,
        account: &AccountId,
        query: &AuditLogQuery,
    ) -> Result<Page<AuditEvent>, StorageError> {
        let tables = self.tables()?;
        let Some(log) = tables.accounts.get(account).map(|a| &a.audit) else {
            return Ok(Page::new(Vec::new(), None));
        };
        let end = match query
            .page_request()
            .cursor()
            .and_then(Cursor::audit_event_key)
        {
            Some((at, position)) => {
                let first = log.partition_point(|e| e.at < at);
                let instant = log.partition_point(|e| e.at <= at) - first;
                let before = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
                first + before.min(instant)
            }
            None => log.len(),
        };
        let filter = query.integration_id();
        let mut events = log[..end]
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, e)| filter.is_none() || e.integration.as_ref() == filter)
            .map(|(index, e)| {
                let first = log.partition_point(|other| other.at < e.at);
                (e.clone(), (index - first + 1) as u64)
            });
        let page = paging::take_page(&mut events, query.page_request().page_size(), |(e, p)| {
            Cursor::after_audit_event(e.at, *p)
        });
        Ok(page.map(|(event, _)| event))
    }
}
