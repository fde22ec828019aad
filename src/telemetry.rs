//! What the library reports through [`tracing`]: successful management actions at
//! `INFO`, refused management calls and refused tokens at `DEBUG`, storage failures on
//! the verification path at `WARN`.
//!
//! Fields are the account, the acting user, the integration id, the action, the public
//! token id and the reason: never a presented token, a secret or a digest. A malformed
//! token is reported by its length only (it may be a secret pasted in the wrong place).
//! A successful verification reports nothing, so the hot path pays nothing for
//! `tracing`.

use crate::domain::access::Actor;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::ids::IntegrationId;

/// The target of management events (verification events have `private_integrations::verify`).
const TARGET: &str = "private_integrations::service";

/// A management action that was written, with its audit event.
pub(crate) fn recorded(event: &AuditEvent) {
    tracing::info!(
        target: TARGET,
        account = %event.account,
        actor = %event.actor,
        integration = event.integration.as_ref().map(IntegrationId::as_str),
        action = action_name(&event.action),
        "private integrations: {}",
        event.action,
    );
}

/// A management call refused before it touched anything.
pub(crate) fn refused(actor: &Actor, reason: &'static str) {
    tracing::debug!(
        target: TARGET,
        account = %actor.account(),
        actor = %actor.user(),
        reason,
        "private integrations: call refused",
    );
}

/// The machine-readable name of an action, as its serde tag.
fn action_name(action: &AuditAction) -> &'static str {
    match action {
        AuditAction::Created => "created",
        AuditAction::Updated => "updated",
        AuditAction::Rotated { .. } => "rotated",
        AuditAction::RotationCancelled => "rotation_cancelled",
        AuditAction::PreviousExpired => "previous_expired",
        AuditAction::Deleted => "deleted",
        AuditAction::PermissionChanged { .. } => "permission_changed",
        AuditAction::FeatureSwitched { .. } => "feature_switched",
        AuditAction::TokenLeaked { .. } => "token_leaked",
        AuditAction::PreviousExpiredAutomatically { .. } => "previous_expired_automatically",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Permission, RotationMode, UserId};

    /// The names are the serde tags of the audit log, so logs and stored events agree.
    #[test]
    fn action_names_match_the_serde_tags() {
        let actions = [
            AuditAction::Created,
            AuditAction::Updated,
            AuditAction::Rotated {
                mode: RotationMode::ExpireNow,
            },
            AuditAction::RotationCancelled,
            AuditAction::PreviousExpired,
            AuditAction::Deleted,
            AuditAction::PermissionChanged {
                user: UserId::new("u"),
                permission: Permission::Allow,
            },
            AuditAction::FeatureSwitched { enabled: true },
            AuditAction::TokenLeaked {
                token: crate::TokenId::parse("AbCdEfGh12345678").unwrap(),
                url: "https://example.com/".into(),
                revoked: true,
            },
            AuditAction::PreviousExpiredAutomatically {
                unused_for_secs: 86_400,
            },
        ];
        for action in actions {
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(json["action"], action_name(&action), "{action:?}");
        }
    }
}
