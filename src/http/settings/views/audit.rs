//! The audit log, newest first, a page at a time.

use maud::{Markup, html};

use super::{Tab, layout, when};
use crate::domain::audit::AuditEvent;
use crate::domain::ids::IntegrationId;
use crate::domain::integration::Integration;
use crate::http::settings::web::Site;

/// What the screen shows.
pub(in crate::http::settings) struct AuditView<'a> {
    pub(in crate::http::settings) events: &'a [AuditEvent],
    /// The account's integrations, to name the ones that still exist.
    pub(in crate::http::settings) integrations: &'a [Integration],
    /// The integration the log is filtered to, if any.
    pub(in crate::http::settings) filter: Option<&'a IntegrationId>,
    /// The URL of the next (older) page.
    pub(in crate::http::settings) older: Option<String>,
    /// Whether this is a later page (then "Newest" leads back to the first).
    pub(in crate::http::settings) later_page: bool,
}

pub(in crate::http::settings) fn render(site: &Site, view: &AuditView<'_>) -> Markup {
    let name_of = |id: &IntegrationId| {
        view.integrations
            .iter()
            .find(|i| i.id() == id)
            .map(|i| i.name().to_owned())
    };
    let first_page = match view.filter {
        Some(id) => site.url(&format!("/audit-log?integration={id}")),
        None => site.url("/audit-log"),
    };
    let body = html! {
        @if let Some(id) = view.filter {
            p.pi-lead {
                "Activity of "
                @if let Some(name) = name_of(id) {
                    a.pi-name href=(site.url(&format!("/{id}"))) { (name) }
                } @else {
                    code { (id.as_str()) } " (deleted)"
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
                                td { (when(event.at)) }
                                td { code { (event.actor.as_str()) } }
                                td { (event.action.to_string()) }
                                td {
                                    @if let Some(id) = &event.integration {
                                        @if let Some(name) = name_of(id) {
                                            a.pi-name href=(site.url(&format!("/{id}"))) { (name) }
                                        } @else {
                                            code { (id.as_str()) } span.pi-hint { "Deleted" }
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
