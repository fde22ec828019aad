//! The token index's entry: what `MemoryStorage`'s index and the verification cache keep
//! per token id, and what verification reads in place — the integration's record and the
//! token's last-used mark. Below all three: it knows only the domain's record.

use std::borrow::Borrow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::domain::integration::IntegrationRecord;

/// One token id's slot in a token index: the integration's record, read in place by
/// verifications, and the token's last-used mark.
///
/// `MemoryStorage` keeps the record in the slot itself (`R = IntegrationRecord`), so a
/// verification reaches it in the index's own node; the verification cache shares the
/// record a storage lookup gave (`R = Arc<IntegrationRecord>`), whose reference count
/// verifications never touch.
// The record first: it starts right after the index node's key (or the `Arc`'s counts),
// where its layout expects to be (see `IntegrationRecord`).
#[repr(C)]
pub(crate) struct TokenEntry<R = Arc<IntegrationRecord>> {
    record: R,
    /// The last-used epoch in which the token's use was last noted.
    mark: UseMark,
}

impl<R: Borrow<IntegrationRecord>> TokenEntry<R> {
    /// The slot of a token of `record`.
    pub(crate) fn new(record: R) -> Self {
        Self {
            record,
            mark: UseMark::default(),
        }
    }

    /// The integration's record.
    pub(crate) fn record(&self) -> &IntegrationRecord {
        self.record.borrow()
    }

    /// What verification reads.
    pub(crate) fn view(&self) -> (&IntegrationRecord, &UseMark) {
        (self.record.borrow(), &self.mark)
    }

    /// The record as held.
    #[cfg(test)]
    pub(crate) fn held(&self) -> &R {
        &self.record
    }
}

/// The epoch in which a token's use was last noted (0: never). Every entry of a token
/// index carries one ([`TokenEntry`]); an entry built for one verification (a storage
/// without an index) carries a fresh one, so that use is noted.
#[derive(Debug, Default)]
pub(crate) struct UseMark(AtomicU32);

impl UseMark {
    /// Whether the token's use was noted in `epoch` already.
    #[inline]
    pub(crate) fn noted_in(&self, epoch: u32) -> bool {
        self.0.load(Ordering::Relaxed) == epoch
    }

    /// Marks the use as noted in `epoch`: `true` for the one caller that moved it there
    /// (of threads racing on a token's first use, one notes it).
    #[inline]
    pub(crate) fn note(&self, epoch: u32) -> bool {
        self.0.swap(epoch, Ordering::Relaxed) != epoch
    }
}
