//! The audit log: one event per management action, written atomically with it.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::access::Permission;
use super::credentials::RotationMode;
use super::ids::{AccountId, IntegrationId, TokenId, UserId};

/// What an audited action did.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let created = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
/// let log = pi.audit_log(&admin).await?;
/// assert_eq!(log[0].action, AuditAction::Created);
/// assert_eq!(log[0].integration.as_ref(), Some(created.integration.id()));
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
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
    /// One of the integration's tokens was reported found in a public place, by a
    /// secret scanner or an operator (the actor); see
    /// [`PrivateIntegrations::report_leak`](crate::PrivateIntegrations::report_leak).
    /// One event per place a token was found.
    TokenLeaked {
        /// The token's public id (not a secret).
        token: TokenId,
        /// Where it was found, as reported (at most 2,048 characters, a token in it
        /// replaced by `[token]`); empty if the report named no place.
        url: Box<str>,
        /// Whether this report revoked the token. `false`: the policy only notifies
        /// ([`LeakPolicy::NotifyOnly`](crate::LeakPolicy::NotifyOnly)), or an earlier
        /// report revoked it already.
        revoked: bool,
    },
    /// A rotation finished itself: the previous token expired, as "Expire now" would
    /// have it, because the new token was in use and the old one had not been used for
    /// the service's
    /// [`finish_rotation_when_silent`](crate::PrivateIntegrationsBuilder::finish_rotation_when_silent)
    /// duration. Its actor is [`AUTOMATIC_ACTOR`].
    PreviousExpiredAutomatically {
        /// The service's setting, in seconds: the old token had not been used for at
        /// least this long (since the rotation started, if it was never used).
        unused_for_secs: u64,
    },
}

/// The actor of the changes the service makes by itself, in the audit log: a rotation
/// that finished itself
/// ([`PreviousExpiredAutomatically`](AuditAction::PreviousExpiredAutomatically)).
/// Choose user ids of your own that never equal it.
///
/// # Example
///
/// ```
/// use private_integrations::{AUTOMATIC_ACTOR, UserId};
/// assert_eq!(UserId::new(AUTOMATIC_ACTOR).as_str(), "private-integrations");
/// ```
pub const AUTOMATIC_ACTOR: &str = "private-integrations";

/// A duration in whole units, as people say it: "24 hours", "90 minutes", "7 days",
/// "1 hour", "30 seconds". Days only from two on ("24 hours", "48 hours" is "2 days"), in
/// the largest unit that divides it exactly.
pub(crate) fn duration_in_words(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s >= 2 * 86_400 && s.is_multiple_of(86_400) => (s / 86_400, "day"),
        s if s >= 3_600 && s.is_multiple_of(3_600) => (s / 3_600, "hour"),
        s if s >= 60 && s.is_multiple_of(60) => (s / 60, "minute"),
        s => (s, "second"),
    };
    match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    }
}

impl fmt::Display for AuditAction {
    /// The action in the product's words, for an admin's activity feed.
    ///
    /// ```
    /// use private_integrations::{AuditAction, RotationMode};
    /// let action = AuditAction::Rotated { mode: RotationMode::ExpireLater };
    /// assert_eq!(action.to_string(), "rotated the token, the old one expires later");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditAction::Created => f.write_str("created the integration"),
            AuditAction::Updated => f.write_str("edited the integration"),
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            } => f.write_str("rotated the token, the old one expires later"),
            AuditAction::Rotated {
                mode: RotationMode::ExpireNow,
            } => f.write_str("rotated the token, the old one expired now"),
            AuditAction::RotationCancelled => f.write_str("cancelled the rotation"),
            AuditAction::PreviousExpired => f.write_str("expired the previous token now"),
            AuditAction::Deleted => f.write_str("deleted the integration"),
            AuditAction::PermissionChanged { user, permission } => {
                let permission = match permission {
                    Permission::Allow => "allowed",
                    Permission::Deny => "denied",
                    Permission::RoleDefault => "reset to the role default",
                };
                write!(
                    f,
                    "set {user}'s Private Integrations permission: {permission}"
                )
            }
            AuditAction::FeatureSwitched { enabled: true } => {
                f.write_str("switched Private Integrations on")
            }
            AuditAction::FeatureSwitched { enabled: false } => {
                f.write_str("switched Private Integrations off")
            }
            AuditAction::PreviousExpiredAutomatically { unused_for_secs } => write!(
                f,
                "expired the previous token automatically: unused for {} while the new one \
                 was in use",
                duration_in_words(*unused_for_secs)
            ),
            AuditAction::TokenLeaked { url, revoked, .. } => {
                f.write_str("reported the token found in a public place")?;
                if !url.is_empty() {
                    write!(f, " ({url})")?;
                }
                if *revoked {
                    f.write_str(", and it was revoked")?;
                }
                Ok(())
            }
        }
    }
}

/// One entry of an account's audit log. Holds no secret.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// pi.set_feature_enabled(&admin, true).await?;
/// let event: &AuditEvent = &pi.audit_log(&admin).await?[0];
/// assert_eq!(event.actor, *admin.user());
/// assert_eq!(event.action, AuditAction::FeatureSwitched { enabled: true });
/// assert!(serde_json::to_string(event).unwrap().contains(r#""action":"feature_switched""#));
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automatic_expiry_says_why_in_the_products_words() {
        let action = AuditAction::PreviousExpiredAutomatically {
            unused_for_secs: 24 * 3600,
        };
        assert_eq!(
            action.to_string(),
            "expired the previous token automatically: unused for 24 hours while the new \
             one was in use"
        );
        let json = serde_json::to_value(&action).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"action": "previous_expired_automatically", "unused_for_secs": 86400})
        );
        assert_eq!(serde_json::from_value::<AuditAction>(json).unwrap(), action);
    }

    #[test]
    fn durations_in_words() {
        for (secs, words) in [
            (1, "1 second"),
            (30, "30 seconds"),
            (60, "1 minute"),
            (90, "90 seconds"),
            (5_400, "90 minutes"),
            (3_600, "1 hour"),
            (86_400, "24 hours"),
            (36 * 3_600, "36 hours"),
            (2 * 86_400, "2 days"),
            (7 * 86_400, "7 days"),
            (7 * 86_400 + 3_600, "169 hours"),
        ] {
            assert_eq!(duration_in_words(secs), words, "{secs}");
        }
    }
}
