//! The audit log: one event per management action, written atomically with it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::access::Permission;
use super::credentials::RotationMode;
use super::ids::{AccountId, IntegrationId, UserId};

/// What an audited action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// An integration was created (and its first token issued).
    Created,
    /// Name, description or scopes were edited.
    Updated,
    /// A new token was issued.
    Rotated {
        /// How the replaced token was treated.
        mode: RotationMode,
    },
    /// A rotation was cancelled: the new token died, the previous one lives on.
    RotationCancelled,
    /// A rotation was finished early: the previous token died.
    PreviousExpired,
    /// The integration was deleted, with all its tokens.
    Deleted,
    /// A user's permission was set.
    PermissionChanged {
        /// The user whose permission changed.
        user: UserId,
        /// The new setting.
        permission: Permission,
    },
    /// The account's feature switch was set.
    FeatureSwitched {
        /// The new setting.
        enabled: bool,
    },
}

/// One entry of an account's audit log. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The account.
    pub account: AccountId,
    /// Who acted.
    pub actor: UserId,
    /// The integration acted on, for integration actions.
    pub integration: Option<IntegrationId>,
    /// What was done.
    #[serde(flatten)]
    pub action: AuditAction,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
