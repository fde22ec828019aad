//! Team permissions (admins): who may manage Private Integrations. Per user: allow, deny,
//! or the role's default (admins may, members may not).

use maud::{Markup, html};

use super::{Tab, layout, notice, refusal};
use crate::domain::access::{Permission, Role};
use crate::domain::ids::UserId;
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

/// One user's line.
pub(in crate::http::settings) struct TeamRow {
    pub(in crate::http::settings) user: UserId,
    /// The name the host's directory gives (none when looked up by id).
    pub(in crate::http::settings) name: Option<String>,
    /// The role the host's directory gives (none when looked up by id).
    pub(in crate::http::settings) role: Option<Role>,
    pub(in crate::http::settings) permission: Permission,
    /// The acting admin: their own permission is set by another admin.
    pub(in crate::http::settings) is_self: bool,
}

/// What the screen shows.
pub(in crate::http::settings) struct TeamView<'a> {
    pub(in crate::http::settings) rows: &'a [TeamRow],
    /// Whether the host gave a team directory; without one, users are looked up by id.
    pub(in crate::http::settings) directory: bool,
    /// The user id looked up: as typed, once it is a user id (anything else is not shown
    /// back).
    pub(in crate::http::settings) lookup: &'a str,
    pub(in crate::http::settings) done: Option<&'static str>,
    pub(in crate::http::settings) refusal: Option<&'a Refusal>,
}

const CHOICES: [(Permission, &str, &str); 3] = [
    (Permission::RoleDefault, "role_default", "Role default"),
    (Permission::Allow, "allow", "Allow"),
    (Permission::Deny, "deny", "Deny"),
];

/// The form value of a permission.
pub(in crate::http::settings) fn parse_permission(value: &str) -> Option<Permission> {
    CHOICES
        .iter()
        .find(|(_, key, _)| *key == value)
        .map(|(p, _, _)| *p)
}

fn may_manage(role: Option<Role>, permission: Permission) -> &'static str {
    match (permission, role) {
        (Permission::Allow, _) => "Can manage",
        (Permission::Deny, _) => "Cannot manage",
        (Permission::RoleDefault, Some(Role::Admin)) => "Can manage (admin)",
        (Permission::RoleDefault, Some(Role::Member)) => "Cannot manage (member)",
        (Permission::RoleDefault, None) => "Admins can, members cannot",
    }
}

pub(in crate::http::settings) fn render(site: &Site, view: &TeamView<'_>) -> Markup {
    let body = html! {
        @if let Some(done) = view.done { (notice("success", done)) }
        (refusal(view.refusal))
        p.pi-lead {
            "By default, all account administrators can create and manage Private Integrations. \
             You can restrict this permission, or grant it, for each user."
        }
        @if !view.directory {
            form.pi-card method="get" action=(site.url("/team")) {
                div.pi-field {
                    label for="pi-user" { "User ID" }
                    input #pi-user type="text" name="user" value=(view.lookup) autocomplete="off";
                    span.pi-hint { "The id of the user in your account, as your login names them." }
                }
                div.pi-actions { button.pi-secondary type="submit" { "Look up" } }
            }
        }
        @if !view.rows.is_empty() {
            div.pi-card.pi-table-card {
                table {
                    caption.pi-sr { "Private Integrations permission of each user" }
                    thead {
                        tr {
                            th scope="col" { "User" }
                            th scope="col" { "Role" }
                            th scope="col" { "Private Integrations" }
                            th scope="col" { "Permission" }
                        }
                    }
                    tbody {
                        @for (i, row) in view.rows.iter().enumerate() {
                            tr {
                                td.pi-wide data-label="User" {
                                    @if let Some(name) = &row.name {
                                        strong.pi-name { (name) }
                                        span.pi-hint { (row.user.as_str()) }
                                    } @else {
                                        code { (row.user.as_str()) }
                                    }
                                }
                                td {
                                    @match row.role {
                                        Some(Role::Admin) => "Admin",
                                        Some(Role::Member) => "Member",
                                        None => span.pi-muted { "Not known" },
                                    }
                                }
                                td { (may_manage(row.role, row.permission)) }
                                td.pi-wide data-label="Permission" {
                                    @if row.is_self {
                                        span.pi-muted {
                                            (CHOICES.iter().find(|c| c.0 == row.permission).map_or("", |c| c.2))
                                            " · you cannot change your own permission"
                                        }
                                    } @else {
                                        @let select = format!("pi-permission-{i}");
                                        form.pi-actions method="post" action=(site.url("/team")) {
                                            (super::once())
                                            input type="hidden" name="user" value=(row.user.as_str());
                                            @if !view.directory {
                                                input type="hidden" name="lookup" value=(row.user.as_str());
                                            }
                                            label.pi-sr for=(select) {
                                                "Permission of " (row.name.as_deref().unwrap_or(row.user.as_str()))
                                            }
                                            select id=(select) name="permission" {
                                                @for (permission, key, label) in CHOICES {
                                                    option value=(key) selected[permission == row.permission] { (label) }
                                                }
                                            }
                                            button.pi-secondary type="submit" { "Save" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(site, "Team permissions", Some(Tab::Team), body)
}
