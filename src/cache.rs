//! The verification cache: token id → the integration's record (or "no such token"), in
//! front of any storage, so that a replica on a remote database verifies at memory speed.
//!
//! - **Reads take no lock.** Entries live in two lock-free maps (papaya), one for records
//!   and one for ids the storage does not know, each with its own bound, so a flood of
//!   random ids churns the second and never pushes out a live token.
//! - **Changes evict.** The cache is a [`ChangeListener`]: the service tells it of its
//!   own writes before the call returns, and a backend that announces changes
//!   ([`Storage::watch`]) tells it of everyone's. When announcements may have been lost it
//!   empties itself. The time-to-live is the last bound on staleness.
//! - **A lookup never puts back what a change evicted.** Every eviction moves a
//!   generation number, under the same mutex that fills the cache; a lookup notes the
//!   generation before it asks the storage and fills only if nothing moved meanwhile.
//! - **One storage call per burst.** Concurrent misses of one token id share one lookup
//!   (a flight); a change drops the flights of the ids it touched, so a verification that
//!   starts after the change never joins a lookup that started before it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use time::Duration;
// Tokio's `Instant` is std's, except that tests can pause and advance it.
use tokio::time::Instant;

use crate::domain::ids::TokenId;
use crate::domain::integration::IntegrationRecord;
use crate::error::StorageError;
use crate::index::TokenEntry;
use crate::storage::{ChangeListener, Storage, TokenLookupResult};
use crate::striped::Striped;

/// The verification cache's settings, for
/// [`PrivateIntegrationsBuilder::verification_cache`](crate::PrivateIntegrationsBuilder::verification_cache).
///
/// The cache keeps, per token id, the integration's record (or that the storage has no
/// such token) for at most [`ttl`](Self::ttl), and evicts it as soon as a change to it is
/// announced: at once for this service's own writes, and for everyone's where the storage
/// announces changes (`PostgresStorage`, through PostgreSQL's `LISTEN`/`NOTIFY`). A hit
/// costs about what a [`MemoryStorage`](crate::MemoryStorage) verification costs, takes no
/// lock and allocates nothing.
///
/// **On by default where it is safe**: a service whose storage announces changes
/// ([`Storage::watch`] returns a watch: `PostgresStorage`) caches with
/// [`VerificationCache::new`]'s settings unless told otherwise; one whose storage does not
/// (memory, SQLite, a backend of your own) caches only when given a cache here, since it
/// would hear of no other process's changes and would rely on the time-to-live alone.
///
/// What a cached token keeps doing until its entry goes: during a database outage it
/// verifies until its time-to-live ends, and a previous token's grace period is checked
/// against the clock on every verification, cached or not.
///
/// # Example
///
/// ```
/// use private_integrations::{MemoryStorage, PrivateIntegrations, ScopeCatalog, VerificationCache};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .verification_cache(
///         VerificationCache::new()
///             .max_entries(100_000)
///             .ttl(time::Duration::seconds(60)),
///     )
///     .build();
/// assert!(pi.cache_stats().is_some());
/// # Ok::<(), private_integrations::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationCache {
    enabled: bool,
    max_entries: usize,
    max_unknown_entries: usize,
    ttl: Duration,
}

impl Default for VerificationCache {
    fn default() -> Self {
        Self::new()
    }
}

impl VerificationCache {
    /// The default cache: 100,000 tokens, 10,000 unknown ids, a time-to-live of 60
    /// seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::VerificationCache;
    /// let cache = VerificationCache::new();
    /// assert_eq!(cache.max_entries_value(), 100_000);
    /// assert_eq!(cache.ttl_value(), time::Duration::seconds(60));
    /// ```
    pub fn new() -> Self {
        Self {
            enabled: true,
            max_entries: 100_000,
            max_unknown_entries: 10_000,
            ttl: Duration::seconds(60),
        }
    }

    /// No cache: every verification asks the storage. For a storage that announces
    /// changes, this is how to turn the default cache off.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{MemoryStorage, PrivateIntegrations, ScopeCatalog, VerificationCache};
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .verification_cache(VerificationCache::disabled())
    ///     .build();
    /// assert!(pi.cache_stats().is_none());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// At most this many tokens' records are kept. When the cache is full, every expired
    /// entry goes, and then others until a sixteenth of the bound is free, picked in the
    /// map's hash order from a starting point that moves each time (in effect at
    /// random). Zero keeps none.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::VerificationCache;
    /// assert_eq!(VerificationCache::new().max_entries(10).max_entries_value(), 10);
    /// ```
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// At most this many token ids the storage does not know are remembered as unknown,
    /// apart from [`max_entries`](Self::max_entries): a flood of made-up ids fills this
    /// bound and never pushes out a live token. Zero remembers none.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::VerificationCache;
    /// assert_eq!(VerificationCache::new().max_unknown_entries(0).max_unknown_entries_value(), 0);
    /// ```
    pub fn max_unknown_entries(mut self, max: usize) -> Self {
        self.max_unknown_entries = max;
        self
    }

    /// How long an entry may be used at most, announced changes or not: the bound on
    /// staleness when announcements cannot be had, and how long a cached token keeps
    /// verifying while the storage is unreachable. Zero or less keeps nothing; more than
    /// ten years is taken as ten years.
    ///
    /// Measured on a monotonic clock (tokio's `Instant`, which is std's unless a test
    /// pauses tokio's time), not on the service's [`Clock`](crate::Clock): reading the
    /// wall clock on every hit would cost more than the rest of the hit, and a duration
    /// should not stretch when the wall clock is set back. A previous token's grace
    /// period, a moment in time, is still checked on the service's clock.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::VerificationCache;
    /// let cache = VerificationCache::new().ttl(time::Duration::seconds(10));
    /// assert_eq!(cache.ttl_value(), time::Duration::seconds(10));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The bound set by [`max_entries`](Self::max_entries).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(private_integrations::VerificationCache::new().max_entries_value(), 100_000);
    /// ```
    pub fn max_entries_value(&self) -> usize {
        self.max_entries
    }

    /// The bound set by [`max_unknown_entries`](Self::max_unknown_entries).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(private_integrations::VerificationCache::new().max_unknown_entries_value(), 10_000);
    /// ```
    pub fn max_unknown_entries_value(&self) -> usize {
        self.max_unknown_entries
    }

    /// The time-to-live set by [`ttl`](Self::ttl).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(private_integrations::VerificationCache::new().ttl_value(), time::Duration::minutes(1));
    /// ```
    pub fn ttl_value(&self) -> Duration {
        self.ttl
    }

    /// Whether these settings cache at all (not [`disabled`](Self::disabled)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::VerificationCache;
    /// assert!(VerificationCache::new().is_enabled());
    /// assert!(!VerificationCache::disabled().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }
}

/// What the verification cache has done, at one moment: counters since the service was
/// built, for a host's metrics. Read with
/// [`PrivateIntegrations::cache_stats`](crate::PrivateIntegrations::cache_stats).
///
/// # Example
///
/// ```
/// use private_integrations::CacheStats;
/// fn hit_ratio(stats: &CacheStats) -> f64 {
///     stats.hits as f64 / (stats.hits + stats.misses).max(1) as f64
/// }
/// assert_eq!(hit_ratio(&CacheStats::default()), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Verifications answered from the cache (known tokens and remembered unknown ids).
    pub hits: u64,
    /// Verifications that had to ask: they waited for a storage lookup, their own or one
    /// already under way for the same id.
    pub misses: u64,
    /// Storage lookups made (at most one at a time per token id).
    pub lookups: u64,
    /// Entries removed because a change touched their token.
    pub evictions: u64,
    /// Entries removed to make room or because their time-to-live ended.
    pub expirations: u64,
    /// Times the whole cache was emptied because announcements may have been lost.
    pub flushes: u64,
    /// Tokens' records held now.
    pub entries: u64,
    /// Unknown ids remembered now.
    pub unknown_entries: u64,
    /// Token ids whose storage lookup is under way now.
    pub in_flight: u64,
}

/// One cached answer.
struct Entry<T> {
    value: T,
    expires_at: Instant,
}

type Map<T> = papaya::HashMap<TokenId, Entry<T>, foldhash::fast::RandomState>;

/// What a lookup of one token id gives everyone who waited on it. An error is shared as
/// its text: the verification that made the lookup gets the backend's own error.
type Answer = Result<Option<Arc<IntegrationRecord>>, Arc<SharedLookupError>>;

/// A lookup of one token id, shared by every verification that misses on it meanwhile,
/// and how many of them are still waiting on it.
struct Flight {
    answer: Arc<tokio::sync::OnceCell<Answer>>,
    waiting: usize,
}

/// The longest time-to-live kept: longer ones are cut to it (far beyond any sensible
/// setting, and safe to add to a monotonic instant).
const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);

/// Evictions move the generation of the ids they touch; a lookup fills only if the
/// generation of its id (and the flush count) did not move meanwhile. Ids are spread
/// over this many generations, so a change to one token does not keep the lookups of
/// the others from filling.
const GENERATIONS: usize = 64;

/// The verification cache of one service.
pub(crate) struct Cache {
    settings: VerificationCache,
    /// Token entries, read in place by verification.
    records: Map<TokenEntry>,
    unknown: Map<()>,
    /// Serializes fills and evictions; holds the generations and the maps' sizes.
    fill: Mutex<Fill>,
    flights: Mutex<HashMap<TokenId, Flight>>,
    counters: Counters,
    /// Set by the service's shutdown: with no one listening any more, the cache is
    /// emptied and no longer used.
    stopped: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct Fill {
    /// Moves on every flush.
    flushes: u64,
    /// Moves, for the ids of one slot, on every eviction of one of them.
    generations: [u64; GENERATIONS],
    records: usize,
    unknown: usize,
    /// Where the next eviction for room starts, so that it does not always fall on the
    /// same entries.
    cursor: usize,
}

impl Default for Fill {
    fn default() -> Self {
        Self {
            flushes: 0,
            generations: [0; GENERATIONS],
            records: 0,
            unknown: 0,
            cursor: 0,
        }
    }
}

/// What a lookup noted before asking the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    flushes: u64,
    generation: u64,
}

impl Fill {
    fn ticket(&self, token_id: &TokenId) -> Ticket {
        Ticket {
            flushes: self.flushes,
            generation: self.generations[slot(token_id)],
        }
    }
}

/// The generation slot of an id: its last character (ids are random base62).
fn slot(token_id: &TokenId) -> usize {
    usize::from(token_id.as_str().as_bytes().last().copied().unwrap_or(0)) % GENERATIONS
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state is consistent between statements: a panic elsewhere leaves
    // nothing half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A storage error as the verifications that shared its lookup see it.
#[derive(Debug)]
pub(crate) struct SharedLookupError(String);

impl fmt::Display for SharedLookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a token lookup shared with concurrent verifications failed: {}",
            self.0
        )
    }
}

impl std::error::Error for SharedLookupError {}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Cache {
    pub(crate) fn new(settings: VerificationCache) -> Self {
        Self {
            settings,
            records: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            unknown: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            fill: Mutex::default(),
            flights: Mutex::default(),
            counters: Counters::default(),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Stops caching: from now on every verification asks the storage. Called by the
    /// service's shutdown, once it no longer hears of changes.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.announcements_lost();
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let (records, unknown) = {
            let fill = lock(&self.fill);
            (fill.records, fill.unknown)
        };
        let in_flight = lock(&self.flights).len();
        CacheStats {
            hits: self.counters.hits.sum(),
            misses: self.counters.misses.load(Ordering::Relaxed),
            lookups: self.counters.lookups.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            expirations: self.counters.expirations.load(Ordering::Relaxed),
            flushes: self.counters.flushes.load(Ordering::Relaxed),
            entries: records as u64,
            unknown_entries: unknown as u64,
            in_flight: in_flight as u64,
        }
    }

    /// Gives `f` what the cache holds for `token_id`, read in place: `Some(entry)` for a
    /// token, `None` for an unknown id. `None` (and `f` not called) on a miss, or once the
    /// cache is stopped. An id is in one map at most: a fill removes it from the other.
    pub(crate) fn with_hit<R>(
        &self,
        token_id: &TokenId,
        f: impl FnOnce(Option<&TokenEntry>) -> R,
    ) -> Option<R> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let now = Instant::now();
        let hit = if let Some(entry) = self.records.pin().get(token_id) {
            (now < entry.expires_at).then(|| f(Some(&entry.value)))
        } else {
            let unknown = self.unknown.pin();
            let entry = unknown.get(token_id)?;
            (now < entry.expires_at).then(|| f(None))
        };
        if hit.is_some() {
            self.counters.hits.add();
        }
        hit
    }

    /// The record of the integration holding `token_id`, from the storage, after a miss
    /// (or, once the cache is stopped, straight from the storage).
    pub(crate) async fn miss(
        &self,
        token_id: &TokenId,
        storage: &dyn Storage,
    ) -> TokenLookupResult {
        if self.stopped.load(Ordering::Relaxed) {
            return storage.find_by_token(token_id).await;
        }
        let answer = {
            let mut flights = lock(&self.flights);
            // Counted once joined: a miss counted is a miss that shares the flight.
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            let flight = flights.entry(*token_id).or_insert_with(|| Flight {
                answer: Arc::default(),
                waiting: 0,
            });
            flight.waiting += 1;
            Arc::clone(&flight.answer)
        };
        let _leave = Leave {
            cache: self,
            token_id,
            answer: &answer,
        };
        // The backend's own error, for the verification whose lookup failed.
        let mut own_error = None;
        let shared = answer
            .get_or_init(|| async {
                self.counters.lookups.fetch_add(1, Ordering::Relaxed);
                let ticket = lock(&self.fill).ticket(token_id);
                match storage.find_by_token(token_id).await {
                    Ok(found) => {
                        self.put(token_id, found.clone(), ticket, Instant::now());
                        Ok(found)
                    }
                    Err(err) => {
                        let shared = Arc::new(SharedLookupError(err.chain()));
                        own_error = Some(err);
                        Err(shared)
                    }
                }
            })
            .await;
        match (shared, own_error) {
            (Ok(found), _) => Ok(found.clone()),
            (Err(_), Some(own)) => Err(own),
            (Err(shared), None) => Err(StorageError::backend(Arc::clone(shared))),
        }
    }

    /// Fills, unless an eviction touched this id (or a flush happened) since the lookup's
    /// `ticket` was taken.
    fn put(
        &self,
        token_id: &TokenId,
        found: Option<Arc<IntegrationRecord>>,
        ticket: Ticket,
        now: Instant,
    ) {
        let Some(ttl) = std::time::Duration::try_from(self.settings.ttl)
            .ok()
            .filter(|ttl| !ttl.is_zero())
            .map(|ttl| ttl.min(MAX_TTL))
        else {
            return;
        };
        let expires_at = now + ttl;
        let mut fill = lock(&self.fill);
        if fill.ticket(token_id) != ticket || self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Fill {
            records,
            unknown,
            cursor,
            ..
        } = &mut *fill;
        let (max_records, max_unknown) =
            (self.settings.max_entries, self.settings.max_unknown_entries);
        match found {
            Some(record) => self.place(
                token_id,
                Entry {
                    value: TokenEntry::new(record),
                    expires_at,
                },
                (&self.records, records, max_records),
                (&self.unknown, unknown),
                cursor,
                now,
            ),
            None => self.place(
                token_id,
                Entry {
                    value: (),
                    expires_at,
                },
                (&self.unknown, unknown, max_unknown),
                (&self.records, records),
                cursor,
                now,
            ),
        }
    }
}

impl Cache {
    /// Puts `entry` in the map `into` (holding `len` of at most `max`), making room if it
    /// is full, and takes the id out of the other map, so an id is in one map at most.
    /// Called with the fill lock held.
    fn place<T, U>(
        &self,
        token_id: &TokenId,
        entry: Entry<T>,
        (into, len, max): (&Map<T>, &mut usize, usize),
        (out_of, out_of_len): (&Map<U>, &mut usize),
        cursor: &mut usize,
        now: Instant,
    ) {
        if out_of.pin().remove(token_id).is_some() {
            *out_of_len -= 1;
        }
        let into = into.pin();
        if into.get(token_id).is_none() && !make_room(&into, len, cursor, max, now, &self.counters)
        {
            return;
        }
        if into.insert(*token_id, entry).is_none() {
            *len += 1;
        }
    }
}

/// Makes room for one more entry in a map holding `len` of at most `max`: when it is
/// full, every expired entry goes, and then, until a sixteenth of `max` is free, every
/// sixteenth entry from a starting point that moves on each time (papaya's iteration
/// order is the hash order, so in effect at random). False if the map may hold none.
/// Called with the fill lock held: one pass over the map, for `max / 16` inserts.
fn make_room<T>(
    map: &papaya::HashMapRef<
        '_,
        TokenId,
        Entry<T>,
        foldhash::fast::RandomState,
        impl papaya::Guard,
    >,
    len: &mut usize,
    cursor: &mut usize,
    max: usize,
    now: Instant,
    counters: &Counters,
) -> bool {
    if max == 0 {
        return false;
    }
    if *len < max {
        return true;
    }
    let batch = (max / 16).max(1);
    let start = *cursor % 16;
    *cursor = cursor.wrapping_add(1);
    let mut expired = Vec::new();
    let mut others = Vec::new();
    for (n, (id, entry)) in map.iter().enumerate() {
        if entry.expires_at <= now {
            expired.push(*id);
        } else if n % 16 == start {
            others.push(*id);
        }
    }
    let wanted = batch.saturating_sub(expired.len());
    for id in expired.iter().chain(others.iter().take(wanted)) {
        if map.remove(id).is_some() {
            *len -= 1;
            counters.expirations.fetch_add(1, Ordering::Relaxed);
        }
    }
    *len < max
}

/// Leaves a flight: the last one waiting, or anyone once it has its answer, takes it off
/// the table (if it is still the table's), so the next miss starts afresh. Runs also
/// when the verification is cancelled.
struct Leave<'a> {
    cache: &'a Cache,
    token_id: &'a TokenId,
    answer: &'a Arc<tokio::sync::OnceCell<Answer>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.cache.flights);
        let Some(flight) = flights.get_mut(self.token_id) else {
            return;
        };
        if !Arc::ptr_eq(&flight.answer, self.answer) {
            return;
        }
        flight.waiting -= 1;
        if flight.waiting == 0 || flight.answer.initialized() {
            flights.remove(self.token_id);
        }
    }
}

impl ChangeListener for Cache {
    fn tokens_changed(&self, token_ids: &[TokenId]) {
        {
            let mut fill = lock(&self.fill);
            let (records, unknown) = (self.records.pin(), self.unknown.pin());
            let mut evicted = 0;
            for id in token_ids {
                fill.generations[slot(id)] += 1;
                if records.remove(id).is_some() {
                    fill.records -= 1;
                    evicted += 1;
                }
                if unknown.remove(id).is_some() {
                    fill.unknown -= 1;
                    evicted += 1;
                }
            }
            self.counters
                .evictions
                .fetch_add(evicted, Ordering::Relaxed);
        }
        let mut flights = lock(&self.flights);
        for id in token_ids {
            flights.remove(id);
        }
    }

    fn announcements_lost(&self) {
        let dropped = {
            let mut fill = lock(&self.fill);
            fill.flushes += 1;
            self.records.pin().clear();
            self.unknown.pin().clear();
            let dropped = fill.records + fill.unknown;
            fill.records = 0;
            fill.unknown = 0;
            dropped
        };
        lock(&self.flights).clear();
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        // The listener reports the loss at INFO; this says what it cost.
        tracing::debug!(
            target: "private_integrations::cache",
            entries = dropped,
            "verification cache flushed: announcements may have been missed",
        );
    }
}

/// The cache's counters. Hits are counted on stripes ([`Striped`]), one cache line each,
/// picked per thread: a hot token verified on every core writes no shared line.
#[derive(Debug, Default)]
struct Counters {
    hits: Striped,
    misses: AtomicU64,
    lookups: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    flushes: AtomicU64,
}

#[cfg(test)]
mod tests {
    use crate::*;

    /// The shared write issue #12 removed: a verification copies what it hands out, so
    /// the cached record's reference count stays where the cache put it, however many
    /// verifications of its token are alive.
    #[test]
    fn verifications_leave_the_cached_records_reference_count_alone() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pi = PrivateIntegrations::builder(MemoryStorage::new())
                .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
                .verification_cache(VerificationCache::new())
                .build();
            let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
            let new = NewIntegration::new("Sync").scopes(["contacts.readonly"]);
            let token = pi.create(&admin, new).await.unwrap().token;
            let mut held = Vec::new();
            for _ in 0..100 {
                held.push(pi.verify(token.expose_secret()).await.unwrap());
            }
            let cache = pi.inner.verifier.cache.as_ref().unwrap();
            assert_eq!(cache.stats().hits, 99);
            let records = cache.records.pin();
            let (_, entry) = records.iter().next().expect("the token is cached");
            assert_eq!(std::sync::Arc::strong_count(entry.value.held()), 1);
            assert!(held.iter().all(|v| v.has_scope("contacts.readonly")));
        });
    }
}
