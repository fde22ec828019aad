//! Counting each token's uses on the verification path, with no write that two threads
//! share: every thread counts in a table of its own, and the last-used writer sums the
//! tables once per interval.
//!
//! A thread's table ([`ThreadCounts`]) is an array of [`SETS`] sets of [`WAYS`] slots, one
//! token per slot, a token's set picked by its id. Counting a use of a token that holds
//! a slot is a few compares and a load and a store of the slot's count, on a line no
//! other thread writes: no lock, no atomic read-modify-write, no allocation. Only the
//! owning thread writes a count; the writer reads it and remembers what it took
//! (`taken`), so neither ever waits for the other and no use is lost or counted twice.
//! A token new to the thread takes a free slot of its set under the table's lock; if
//! the set is full (rare below a few thousand tokens per thread and interval), it takes
//! one over, moving what that slot's token had not yet handed over to the table's
//! overflow map, which the writer empties too (keeping its capacity, so a steady load
//! allocates nothing there either).
//!
//! Each thread finds its table through a thread-local list, one entry per counter (per
//! service) it has counted for; the counter keeps every table it handed out, so the
//! uses of a thread that has ended are still summed. The table of an ended thread goes
//! to the next new thread (its uses handed over first), or is forgotten at the next
//! sum: threads that come and go cost no more tables than were alive at once. A thread's
//! first use for a service (its table's registration) takes the counter's lock and may
//! allocate; every later one does neither.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::ids::TokenId;

/// The sets of a thread's table: 2,048 slots in all, 64 KiB per thread and service.
/// Enough that a thread seeing a thousand tokens within one interval almost never finds
/// a set full; with far more tokens, taking slots over is the common path, and costs a
/// lock that only the writer also takes (while it sums the table) and an entry of a
/// hash map.
const SETS: usize = 512;

/// The slots of a set: two cache lines.
const WAYS: usize = 4;

/// Gives each counter an id of its own, for the threads' lists.
static NEXT_COUNTER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The tables of this thread, one per counter it has counted for (a service has
    /// one), the most recently registered first.
    static TABLES: RefCell<Vec<Arc<ThreadCounts>>> = const { RefCell::new(Vec::new()) };
}

/// The uses of every token, counted per thread. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct UseCounter {
    id: u64,
    /// Every table handed out to a thread.
    tables: Mutex<Vec<Arc<ThreadCounts>>>,
    /// Uses counted where a thread's table could not be reached (a thread tearing down
    /// its thread-locals).
    stray: Mutex<HashMap<TokenId, u64>>,
}

impl Default for UseCounter {
    fn default() -> Self {
        Self {
            id: NEXT_COUNTER.fetch_add(1, Ordering::Relaxed),
            tables: Mutex::default(),
            stray: Mutex::default(),
        }
    }
}

impl Drop for UseCounter {
    fn drop(&mut self) {
        // Threads still listing a table of this counter drop it at their next
        // registration.
        for table in lock(&self.tables).iter() {
            table.orphaned.store(true, Ordering::Relaxed);
        }
    }
}

/// A thread's table for one counter.
#[derive(Debug)]
struct ThreadCounts {
    /// The id of the counter it counts for.
    counter: u64,
    sets: Box<[Set]>,
    /// Taken by the owning thread to take a slot over, and by the writer to sum; holds
    /// the uses of the tokens that lost their slot.
    overflow: Mutex<HashMap<TokenId, u64, foldhash::fast::RandomState>>,
    /// Set once the counter is dropped.
    orphaned: AtomicBool,
}

/// The slots a token may take, filled in order.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Set([Slot; WAYS]);

/// One token's uses on one thread.
#[derive(Debug, Default)]
struct Slot {
    /// The token id's two words; both zero: empty (a token id is never zero bytes).
    key: [AtomicU64; 2],
    /// Every use counted here since the slot took the token. Written by the owning
    /// thread only.
    count: AtomicU64,
    /// How much of `count` the writer took. Written under the table's lock only.
    taken: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere while holding it: the data is whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The set of a token id's words: a multiplicative hash of both.
#[inline]
fn set_of(words: [u64; 2]) -> usize {
    let mixed = (words[0] ^ words[1].rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The top bits, as many as SETS needs.
    (mixed >> (64 - SETS.trailing_zeros())) as usize
}

/// Adds `uses` of `token` to a map of counts.
fn add_to<S: std::hash::BuildHasher>(
    map: &mut HashMap<TokenId, u64, S>,
    token: TokenId,
    uses: u64,
) {
    let count = map.entry(token).or_insert(0);
    *count = count.saturating_add(uses);
}

/// Whether the thread of a table has ended: only the counter's list holds the table
/// any more (the thread's list, dropped with the thread, held the other reference), so
/// nothing will count on it again. Called under the counter's lock of its list, which
/// every other holder of the table takes first.
fn ended(table: &Arc<ThreadCounts>) -> bool {
    if Arc::strong_count(table) > 1 {
        return false;
    }
    // Pairs with the release of the thread's reference: its last counts are visible.
    fence(Ordering::Acquire);
    true
}

/// The uses of a slot's token not yet taken by the writer.
fn pending(slot: &Slot) -> u64 {
    slot.count
        .load(Ordering::Relaxed)
        .wrapping_sub(slot.taken.load(Ordering::Relaxed))
}

/// A token id as two words.
#[inline]
fn words(token: &TokenId) -> [u64; 2] {
    let bytes = token.as_bytes();
    let mut first = [0u8; 8];
    let mut second = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    second.copy_from_slice(&bytes[8..16]);
    [u64::from_le_bytes(first), u64::from_le_bytes(second)]
}

/// The token id of two words taken from a slot.
fn token_of(words: [u64; 2]) -> TokenId {
    let mut bytes = [0u8; crate::domain::ids::ID_LEN];
    bytes[..8].copy_from_slice(&words[0].to_le_bytes());
    bytes[8..].copy_from_slice(&words[1].to_le_bytes());
    TokenId::from_bytes(bytes)
}

impl UseCounter {
    /// Counts one use of `token`, on this thread's table.
    #[inline]
    pub(crate) fn count(&self, token: &TokenId) {
        let counted = TABLES.try_with(|tables| {
            let tables = tables.try_borrow().ok()?;
            let table = tables.iter().find(|t| t.counter == self.id)?;
            table.count(token);
            Some(())
        });
        if !matches!(counted, Ok(Some(()))) {
            self.count_slowly(token);
        }
    }

    /// [`count`](Self::count) when this thread has no table for this counter yet.
    #[cold]
    #[inline(never)]
    fn count_slowly(&self, token: &TokenId) {
        let found = TABLES.try_with(|tables| {
            let mut tables = tables.try_borrow_mut().ok()?;
            // Forget the tables of counters that are gone.
            tables.retain(|t| !t.orphaned.load(Ordering::Relaxed));
            let table = match tables.iter().position(|t| t.counter == self.id) {
                // Registered since the caller looked (a table being dropped, say).
                Some(i) => tables.remove(i),
                None => self.register(),
            };
            table.count(token);
            tables.insert(0, table);
            Some(())
        });
        if !matches!(found, Ok(Some(()))) {
            *lock(&self.stray).entry(*token).or_insert(0) += 1;
        }
    }

    /// A table for this thread: the table of a thread that has ended, its uses handed
    /// to `stray` first, or else a new one. So threads that come and go between two
    /// batches need no more tables than were alive at once.
    fn register(&self) -> Arc<ThreadCounts> {
        let mut tables = lock(&self.tables);
        if let Some(ended) = tables.iter().find(|t| ended(t)) {
            let ended = Arc::clone(ended);
            let mut stray = lock(&self.stray);
            ended.take(&mut |token, uses| add_to(&mut stray, token, uses));
            ended.clear();
            return ended;
        }
        let table = Arc::new(ThreadCounts {
            counter: self.id,
            sets: (0..SETS).map(|_| Set::default()).collect(),
            overflow: Mutex::default(),
            orphaned: AtomicBool::new(false),
        });
        tables.push(Arc::clone(&table));
        table
    }

    /// Takes every use counted since the last call, summed over the threads, into
    /// `into`. Tables of threads that have ended are forgotten once taken.
    pub(crate) fn take(&self, into: &mut HashMap<TokenId, u64>) {
        let mut add = |token: TokenId, uses: u64| add_to(into, token, uses);
        let mut tables = lock(&self.tables);
        // Whether a thread has ended is decided before its table is summed, so that
        // its last uses are in the sum.
        tables.retain(|table| {
            let ended = ended(table);
            table.take(&mut add);
            !ended
        });
        drop(tables);
        for (token, uses) in lock(&self.stray).drain() {
            add(token, uses);
        }
    }
}

impl ThreadCounts {
    /// Counts a use of `token`, on the owning thread.
    #[inline]
    fn count(&self, token: &TokenId) {
        let key = words(token);
        let Some(set) = self.sets.get(set_of(key)) else {
            return;
        };
        for slot in &set.0 {
            if slot.key[0].load(Ordering::Relaxed) == key[0]
                && slot.key[1].load(Ordering::Relaxed) == key[1]
            {
                // Only this thread writes the count: a load and a store, not a locked add.
                let count = slot.count.load(Ordering::Relaxed);
                slot.count.store(count.wrapping_add(1), Ordering::Relaxed);
                return;
            }
        }
        self.claim(set, key);
    }

    /// Gives a slot of `set` to the token of `key`, with one use: a free one, or else
    /// one taken over, whose token's uses not yet taken move to the overflow map.
    #[cold]
    #[inline(never)]
    fn claim(&self, set: &Set, key: [u64; 2]) {
        let mut overflow = lock(&self.overflow);
        let held = |slot: &Slot| {
            [
                slot.key[0].load(Ordering::Relaxed),
                slot.key[1].load(Ordering::Relaxed),
            ]
        };
        // A free slot, or the one whose token used it least since the last batch.
        let slot = set
            .0
            .iter()
            .find(|slot| held(slot) == [0, 0])
            .or_else(|| set.0.iter().min_by_key(|slot| pending(slot)));
        let Some(slot) = slot else {
            return;
        };
        let (old, uses) = (held(slot), pending(slot));
        if old != [0, 0] && uses > 0 {
            let count = overflow.entry(token_of(old)).or_insert(0);
            *count = count.saturating_add(uses);
        }
        slot.key[0].store(key[0], Ordering::Relaxed);
        slot.key[1].store(key[1], Ordering::Relaxed);
        slot.taken.store(0, Ordering::Relaxed);
        slot.count.store(1, Ordering::Relaxed);
    }

    /// Empties every slot, for a new thread; its uses must have been taken.
    fn clear(&self) {
        let _overflow = lock(&self.overflow);
        for slot in self.sets.iter().flat_map(|set| &set.0) {
            slot.key[0].store(0, Ordering::Relaxed);
            slot.key[1].store(0, Ordering::Relaxed);
            slot.count.store(0, Ordering::Relaxed);
            slot.taken.store(0, Ordering::Relaxed);
        }
    }

    /// Hands every use not yet taken to `add`.
    fn take(&self, add: &mut impl FnMut(TokenId, u64)) {
        // Under the lock, no slot changes hands: each slot's key and `taken` are
        // stable, and its count only grows.
        let mut overflow = lock(&self.overflow);
        for slot in self.sets.iter().flat_map(|set| &set.0) {
            let key = [
                slot.key[0].load(Ordering::Relaxed),
                slot.key[1].load(Ordering::Relaxed),
            ];
            if key == [0, 0] {
                continue;
            }
            let count = slot.count.load(Ordering::Relaxed);
            let uses = count.wrapping_sub(slot.taken.load(Ordering::Relaxed));
            if uses > 0 {
                slot.taken.store(count, Ordering::Relaxed);
                add(token_of(key), uses);
            }
        }
        for (token, uses) in overflow.drain() {
            add(token, uses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(i: usize) -> TokenId {
        TokenId::parse(&format!("T{i:015}")).unwrap()
    }

    fn taken(counter: &UseCounter) -> HashMap<TokenId, u64> {
        let mut out = HashMap::new();
        counter.take(&mut out);
        out
    }

    #[test]
    fn every_use_is_taken_once() {
        let counter = UseCounter::default();
        for _ in 0..3 {
            counter.count(&token(1));
        }
        counter.count(&token(2));
        assert_eq!(
            taken(&counter),
            HashMap::from([(token(1), 3), (token(2), 1)])
        );
        // Nothing counted since: nothing to take.
        assert!(taken(&counter).is_empty());
        counter.count(&token(1));
        assert_eq!(taken(&counter), HashMap::from([(token(1), 1)]));
    }

    #[test]
    fn tokens_that_share_a_slot_lose_no_use() {
        // Far more tokens than slots: most find their set full.
        let counter = UseCounter::default();
        let n = SETS * WAYS * 8;
        for round in 0..3 {
            for i in 0..n {
                for _ in 0..=(i % 3) {
                    counter.count(&token(i));
                }
            }
            if round == 1 {
                // A sum in the middle changes nothing of what the next one sees.
                let middle = taken(&counter);
                assert_eq!(
                    middle.values().sum::<u64>(),
                    (0..n).map(|i| 2 * (i as u64 % 3 + 1)).sum::<u64>()
                );
            }
        }
        let last = taken(&counter);
        for i in 0..n {
            assert_eq!(last[&token(i)], i as u64 % 3 + 1, "token {i}");
        }
    }

    #[test]
    fn uses_on_many_threads_are_summed_also_after_the_threads_end() {
        let counter = Arc::new(UseCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.count(&token(0));
                        counter.count(&token(t + 1));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let sum = taken(&counter);
        assert_eq!(sum[&token(0)], 40_000);
        for t in 1..=4 {
            assert_eq!(sum[&token(t)], 10_000);
        }
        // The ended threads' tables are forgotten once taken.
        assert!(lock(&counter.tables).is_empty());
    }

    #[test]
    fn threads_that_come_and_go_lose_nothing_and_reuse_tables() {
        let counter = Arc::new(UseCounter::default());
        let stop = Arc::new(AtomicBool::new(false));
        // Sums all along, as the writer does, while threads end.
        let writer = {
            let (counter, stop) = (Arc::clone(&counter), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut total = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    total += taken(&counter).values().sum::<u64>();
                }
                total
            })
        };
        let mut counted = 0u64;
        for round in 0..50u64 {
            let lanes: Vec<_> = (0..2)
                .map(|lane| {
                    let counter = Arc::clone(&counter);
                    let uses = 100 + 37 * (round + lane) % 500;
                    std::thread::spawn(move || {
                        for i in 0..uses {
                            counter.count(&token(i as usize % 7));
                        }
                        uses
                    })
                })
                .collect();
            counted += lanes.into_iter().map(|t| t.join().unwrap()).sum::<u64>();
            // No more tables than threads alive at once, whatever the number that ended.
            assert!(lock(&counter.tables).len() <= 2);
        }
        stop.store(true, Ordering::Relaxed);
        let total = writer.join().unwrap() + taken(&counter).values().sum::<u64>();
        assert_eq!(total, counted);
    }

    #[test]
    fn a_sum_while_threads_count_loses_nothing() {
        let counter = Arc::new(UseCounter::default());
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (counter, stop) = (Arc::clone(&counter), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut counted = 0u64;
                    while !stop.load(Ordering::Relaxed) || counted < 1000 {
                        // Two tokens of one slot or not: both paths race the sums.
                        counter.count(&token(counted as usize % 600));
                        counted += 1;
                    }
                    counted
                })
            })
            .collect();
        let mut total = 0;
        for _ in 0..200 {
            total += taken(&counter).values().sum::<u64>();
        }
        stop.store(true, Ordering::Relaxed);
        let counted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        total += taken(&counter).values().sum::<u64>();
        assert_eq!(total, counted);
    }

    #[test]
    fn a_thread_counts_for_several_counters_apart() {
        let (a, b) = (UseCounter::default(), UseCounter::default());
        a.count(&token(1));
        b.count(&token(1));
        b.count(&token(1));
        a.count(&token(1));
        assert_eq!(taken(&a), HashMap::from([(token(1), 2)]));
        assert_eq!(taken(&b), HashMap::from([(token(1), 2)]));
        // A dropped counter's table leaves this thread's list at its next registration.
        drop(a);
        let c = UseCounter::default();
        c.count(&token(2));
        TABLES.with(|tables| {
            let tables = tables.borrow();
            assert!(tables.iter().all(|t| !t.orphaned.load(Ordering::Relaxed)));
            assert_eq!(tables.len(), 2);
        });
    }
}
