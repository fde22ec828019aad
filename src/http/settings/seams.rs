//! Where service APIs being built elsewhere plug in. Each function here is the one place
//! the page calls for it; each says what replaces its body.

use time::OffsetDateTime;

use crate::domain::access::Actor;
use crate::domain::audit::AuditEvent;
use crate::domain::ids::IntegrationId;
use crate::domain::integration::{Integration, IntegrationUpdate, PendingRotation};
use crate::error::Error;
use crate::service::PrivateIntegrations;

/// One page of the audit log, newest first, and the cursor of the next (older) page.
pub(super) struct AuditPage {
    pub(super) events: Vec<AuditEvent>,
    pub(super) next: Option<String>,
}

/// A page of the account's audit log (of one integration, if given), after `cursor`.
///
/// SEAM (pagination): becomes `pi.audit_log_page(actor, AuditLogQuery::new()
/// .integration(id).page(PageRequest::new().limit(limit).after(cursor)))`, with the
/// cursor's own string form in the URL. Until then it pages over `pi.audit_log`, and the
/// cursor is the offset.
pub(super) async fn audit_page(
    pi: &PrivateIntegrations,
    actor: &Actor,
    integration: Option<&IntegrationId>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<AuditPage, Error> {
    let offset = cursor.and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
    let mut events = pi.audit_log(actor).await?;
    if let Some(id) = integration {
        events.retain(|e| e.integration.as_ref() == Some(id));
    }
    let rest = events.len().saturating_sub(offset);
    let events: Vec<AuditEvent> = events.into_iter().skip(offset).take(limit).collect();
    let next = (rest > limit).then(|| (offset + limit).to_string());
    Ok(AuditPage { events, next })
}

/// Whether the actor may use the page at all (permission, feature switch), for screens
/// that show a form before calling the service.
///
/// SEAM (pagination): becomes `pi.list_page(actor, PageRequest::new().limit(1))`, which
/// checks the same without reading every integration.
pub(super) async fn check_access(pi: &PrivateIntegrations, actor: &Actor) -> Result<(), Error> {
    pi.list(actor).await.map(drop)
}

/// An edit made from what the admin saw at `version`: refused with [`Error::Conflict`] if
/// the integration changed since.
///
/// SEAM (stale edits): becomes `pi.update(actor, id, update.expect_version(version))`,
/// which checks it in the same compare-and-swap as the write. Until then the version is
/// checked by a read just before the write, which leaves a short window.
pub(super) async fn update_expecting(
    pi: &PrivateIntegrations,
    actor: &Actor,
    id: &IntegrationId,
    update: IntegrationUpdate,
    version: u64,
) -> Result<Integration, Error> {
    if pi.get(actor, id).await?.version() != version {
        return Err(Error::Conflict);
    }
    pi.update(actor, id, update).await
}

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
