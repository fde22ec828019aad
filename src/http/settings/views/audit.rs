//! The audit log, newest first, a page at a time.

use maud::{Markup, html};

use super::{Tab, layout, when};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::ids::{IntegrationId, UserId};
use crate::http::settings::web::Site;

/// What the log knows of an integration's name.
pub(in crate::http::settings) enum Name {
    /// Its name now.
    Is(String),
    /// It no longer exists.
    Deleted,
    /// It could not be read: the id stands in.
    Unread,
    /// No integration of the account has this id, nor ever had one that left an event:
    /// said the same whether another account has one or nobody does.
    Unknown,
}

/// What the screen shows.
pub(in crate::http::settings) struct AuditView<'a> {
    pub(in crate::http::settings) events: &'a [AuditEvent],
    /// What is known of the name of each integration the page shows.
    pub(in crate::http::settings) names: &'a [(IntegrationId, Name)],
    /// The integration the log is filtered to, if any.
    pub(in crate::http::settings) filter: Option<&'a IntegrationId>,
    /// The URL of the next (older) page.
    pub(in crate::http::settings) older: Option<String>,
    /// Whether this is a later page (then "Newest" leads back to the first).
    pub(in crate::http::settings) later_page: bool,
    /// The names the host's team directory gives its users (empty without one): shown
    /// instead of ids, which stand in where the directory has no name.
    pub(in crate::http::settings) people: &'a [(UserId, String)],
}

/// The name of `user` in the team directory, if it has one.
pub(in crate::http::settings) fn person<'a>(
    people: &'a [(UserId, String)],
    user: &UserId,
) -> Option<&'a str> {
    people
        .iter()
        .find(|(id, _)| id == user)
        .map(|(_, name)| name.as_str())
}

/// What an event did, in the product's words, with a user named by the directory where
/// it knows them.
fn what(people: &[(UserId, String)], action: &AuditAction) -> String {
    match action {
        AuditAction::PermissionChanged { user, .. } => match person(people, user) {
            Some(name) => action.to_string().replacen(user.as_str(), name, 1),
            None => action.to_string(),
        },
        _ => action.to_string(),
    }
}

pub(in crate::http::settings) fn render(site: &Site, view: &AuditView<'_>) -> Markup {
    let name_of = |id: &IntegrationId| {
        view.names
            .iter()
            .find(|(named, _)| named == id)
            .map_or(&Name::Unread, |(_, name)| name)
    };
    let first_page = match view.filter {
        Some(id) => site.url(&format!("/audit-log?integration={id}")),
        None => site.url("/audit-log"),
    };
    let body = html! {
        @if let Some(id) = view.filter {
            p.pi-lead {
                "Activity of "
                @match name_of(id) {
                    Name::Is(name) => { a.pi-name href=(site.url(&format!("/{id}"))) { (name) } }
                    Name::Deleted => { code { (id.as_str()) } " (deleted)" }
                    Name::Unread => { a href=(site.url(&format!("/{id}"))) { code { (id.as_str()) } } }
                    Name::Unknown => { code { (id.as_str()) } ", an unknown integration" }
                }
                ". " a href=(site.url("/audit-log")) { "Show all activity" }
            }
        } @else {
            p.pi-lead { "Every change to Private Integrations, team permissions and Labs, newest first." }
        }
        @if view.events.is_empty() {
            div.pi-card.pi-empty { p.pi-muted { "No activity yet." } }
        } @else {
            div.pi-card.pi-table-card {
                table {
                    caption.pi-sr { "Audit log" }
                    thead {
                        tr {
                            th scope="col" { "When" }
                            th scope="col" { "Who" }
                            th scope="col" { "What" }
                            th scope="col" { "Integration" }
                        }
                    }
                    tbody {
                        @for event in view.events {
                            tr {
                                td data-label="When" { (when(event.at)) }
                                td data-label="Who" {
                                    @if let Some(name) = person(view.people, &event.actor) {
                                        (name)
                                    } @else {
                                        code { (event.actor.as_str()) }
                                    }
                                }
                                td.pi-wide.pi-break data-label="What" { (what(view.people, &event.action)) }
                                td.pi-wide data-label="Integration" {
                                    @if let Some(id) = &event.integration {
                                        @match name_of(id) {
                                            Name::Is(name) => { a.pi-name href=(site.url(&format!("/{id}"))) { (name) } }
                                            Name::Deleted => { code { (id.as_str()) } span.pi-hint { "Deleted" } }
                                            Name::Unread | Name::Unknown => { a href=(site.url(&format!("/{id}"))) { code { (id.as_str()) } } }
                                        }
                                    } @else {
                                        span.pi-muted { "—" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        nav.pi-pager aria-label="Audit log pages" {
            span {
                @if view.later_page { a href=(first_page) { "← Newest events" } }
            }
            span {
                @if let Some(older) = &view.older { a href=(older) { "Older events →" } }
            }
        }
    };
    layout(site, "Audit log", Some(Tab::AuditLog), body)
}
