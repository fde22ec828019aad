//! Where a service API being built elsewhere plugs in: when each token was last used. Each
//! function here is the one place the page calls for it, and says what replaces its body.

use time::OffsetDateTime;

use crate::domain::integration::{Integration, PendingRotation};

/// When a token was last used, as far as the storage keeps it.
// SEAM (last used): `Never` and `At` are made once `last_used` reads the storage's times.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LastUsed {
    /// This storage does not keep it: the page shows nothing.
    Unknown,
    /// Kept, and the token was never used.
    Never,
    /// Last used then.
    At(OffsetDateTime),
}

/// The current token's last use.
///
/// SEAM (last used): becomes `match integration.last_used_at() { Some(t) => At(t), None
/// => Never }` (or `Unknown` where the storage keeps no last-used times).
pub(super) fn last_used(integration: &Integration) -> LastUsed {
    let _ = integration;
    LastUsed::Unknown
}

/// The previous token's last use, during a rotation's grace period.
///
/// SEAM (last used): becomes `pending.previous_last_used_at()`, as [`last_used`].
pub(super) fn previous_last_used(pending: &PendingRotation) -> LastUsed {
    let _ = pending;
    LastUsed::Unknown
}
