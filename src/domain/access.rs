//! Who acts, and who may manage Private Integrations.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, UserId};

/// A user's role in an account, as the host application knows it.
///
/// # Example
///
/// ```
/// use private_integrations::{AccountId, Actor, Role, UserId};
/// let actor = Actor::new(AccountId::new("acct_1"), UserId::new("u_1"), Role::Member);
/// assert_eq!(actor.role(), Role::Member);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An account admin: may manage integrations unless denied, and may change
    /// permissions and the feature switch.
    Admin,
    /// Any other user: may manage integrations only if allowed.
    Member,
}

/// The user making a management call, as authenticated by the host application.
///
/// # Example
///
/// ```
/// use private_integrations::{Actor, AccountId, UserId};
/// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// assert!(admin.is_admin());
/// assert_eq!(admin.account().as_str(), "acct_1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    account: AccountId,
    user: UserId,
    role: Role,
}

impl Actor {
    /// An account admin.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, UserId};
    /// assert!(Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")).is_admin());
    /// ```
    pub fn admin(account: AccountId, user: UserId) -> Self {
        Self::new(account, user, Role::Admin)
    }

    /// A non-admin user of the account.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, UserId};
    /// assert!(!Actor::member(AccountId::new("acct_1"), UserId::new("u_bob")).is_admin());
    /// ```
    pub fn member(account: AccountId, user: UserId) -> Self {
        Self::new(account, user, Role::Member)
    }

    /// A user with the given role.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, Role, UserId};
    /// let actor = Actor::new(AccountId::new("acct_1"), UserId::new("u_1"), Role::Admin);
    /// assert!(actor.is_admin());
    /// ```
    pub fn new(account: AccountId, user: UserId, role: Role) -> Self {
        Self {
            account,
            user,
            role,
        }
    }

    /// The account acted on.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, UserId};
    /// let actor = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    /// assert_eq!(actor.account().as_str(), "acct_1");
    /// ```
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The user.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, UserId};
    /// let actor = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    /// assert_eq!(actor.user().as_str(), "u_bob");
    /// ```
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The role.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, Role, UserId};
    /// let actor = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// assert_eq!(actor.role(), Role::Admin);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the role is [`Role::Admin`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AccountId, Actor, UserId};
    /// assert!(Actor::admin(AccountId::new("a"), UserId::new("u")).is_admin());
    /// ```
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this actor may set `user`'s permission, given the permission set for the
    /// actor themselves (`own`): an admin who is not denied ([`may_administer`](Self::may_administer)),
    /// and never on themselves. So a deny on an admin is set, and lifted, by another admin,
    /// and a denied admin can neither lift it nor deny anyone else: a deny means no.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Actor, AccountId, Permission, UserId};
    /// let admin = Actor::admin(AccountId::new("a"), UserId::new("u_admin"));
    /// let member = Actor::member(AccountId::new("a"), UserId::new("u_bob"));
    /// let bob = UserId::new("u_bob");
    /// assert!(admin.may_set_permission(Permission::RoleDefault, &bob));
    /// assert!(!admin.may_set_permission(Permission::Deny, &bob));
    /// assert!(!admin.may_set_permission(Permission::RoleDefault, &UserId::new("u_admin")));
    /// assert!(!member.may_set_permission(Permission::Allow, &UserId::new("u_carol")));
    /// ```
    pub fn may_set_permission(&self, own: Permission, user: &UserId) -> bool {
        self.may_administer(own) && self.user != *user
    }

    /// Whether this actor may switch the feature, and read the account's settings (the
    /// switch, the team's permissions), given the permission set for the actor (`own`):
    /// admins only, and not an admin who is denied. A deny means no, for admins too.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Actor, AccountId, Permission, UserId};
    /// let admin = Actor::admin(AccountId::new("a"), UserId::new("u_admin"));
    /// assert!(admin.may_administer(Permission::RoleDefault));
    /// assert!(admin.may_administer(Permission::Allow));
    /// assert!(!admin.may_administer(Permission::Deny));
    /// let member = Actor::member(AccountId::new("a"), UserId::new("u_bob"));
    /// assert!(!member.may_administer(Permission::Allow));
    /// ```
    pub fn may_administer(&self, own: Permission) -> bool {
        self.is_admin() && own != Permission::Deny
    }

    /// Whether this actor may manage integrations given their per-user setting: an
    /// explicit `Allow` or `Deny` wins, `RoleDefault` lets admins only.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Actor, AccountId, Permission, UserId};
    /// let admin = Actor::admin(AccountId::new("a"), UserId::new("u"));
    /// let member = Actor::member(AccountId::new("a"), UserId::new("m"));
    /// assert!(admin.may_manage(Permission::RoleDefault));
    /// assert!(!admin.may_manage(Permission::Deny));
    /// assert!(!member.may_manage(Permission::RoleDefault));
    /// assert!(member.may_manage(Permission::Allow));
    /// ```
    pub fn may_manage(&self, permission: Permission) -> bool {
        match permission {
            Permission::Allow => true,
            Permission::Deny => false,
            Permission::RoleDefault => self.is_admin(),
        }
    }
}

/// A user's Private Integrations permission, set by an admin.
///
/// # Example
///
/// ```
/// use private_integrations::Permission;
/// assert_eq!(Permission::default(), Permission::RoleDefault);
/// assert_eq!(serde_json::to_string(&Permission::Allow).unwrap(), r#""allow""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// May manage integrations, whatever the role.
    Allow,
    /// May not manage integrations, even an admin.
    Deny,
    /// Admins may, members may not (the default).
    #[default]
    RoleDefault,
}

/// An account's settings that decide access, read together in one storage call.
///
/// # Example
///
/// ```
/// use private_integrations::Permission;
/// use private_integrations::storage::AccessSettings;
/// let settings = AccessSettings::default();
/// assert!(settings.feature_enabled);
/// assert_eq!(settings.permission, Permission::RoleDefault);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessSettings {
    /// Whether Private Integrations are switched on for the account (default: on).
    pub feature_enabled: bool,
    /// The acting user's permission (default: [`Permission::RoleDefault`]).
    pub permission: Permission,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            feature_enabled: true,
            permission: Permission::RoleDefault,
        }
    }
}
