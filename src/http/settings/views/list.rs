//! The list of the account's integrations, with "Create new Integration".

use maud::{Markup, html};

use super::{Tab, layout, menu, notice, when};
use crate::domain::integration::Integration;
use crate::http::settings::web::Site;

/// What the list shows: one page of the account's integrations.
pub(in crate::http::settings) struct ListView<'a> {
    pub(in crate::http::settings) integrations: &'a [Integration],
    /// Whether each integration (in the same order) is due for rotation.
    pub(in crate::http::settings) due: &'a [bool],
    pub(in crate::http::settings) done: Option<&'static str>,
    /// The URL of the next page, if there may be one.
    pub(in crate::http::settings) more: Option<String>,
    /// Whether this is a later page (then "First page" leads back to the first).
    pub(in crate::http::settings) later_page: bool,
}

pub(in crate::http::settings) fn render(site: &Site, view: &ListView<'_>) -> Markup {
    let body = html! {
        @if let Some(done) = view.done { (notice("success", done)) }
        div.pi-header-row {
            p.pi-lead {
                "Private Integrations allow you to create powerful custom integrations between \
                 your account and any other third-party application. Give each one only the \
                 scopes it needs, and share its token with trusted parties only."
            }
            a.pi-button href=(site.url("/new")) { "Create new Integration" }
        }
        @if view.integrations.is_empty() {
            div.pi-card.pi-empty {
                @if view.later_page {
                    p.pi-muted { "No more Private Integrations." }
                } @else {
                    h2 { "No Private Integrations yet" }
                    p.pi-muted { "Create one to give a third-party application a token with the scopes it needs." }
                }
            }
        } @else {
            div.pi-card.pi-table-card {
                table {
                    caption.pi-sr { "Private Integrations of this account" }
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Scopes" }
                            th scope="col" { "Token" }
                            th scope="col" { "Created" }
                            th scope="col" { span.pi-sr { "Actions" } }
                        }
                    }
                    tbody {
                        @for (integration, due) in view.integrations.iter().zip(view.due) {
                            tr {
                                td.pi-name {
                                    a href=(site.url(&format!("/{}", integration.id()))) { (integration.name()) }
                                    @if !integration.description().is_empty() {
                                        span.pi-hint { (integration.description()) }
                                    }
                                }
                                td.pi-nowrap { (integration.scopes().len()) @if integration.scopes().len() == 1 { " scope" } @else { " scopes" } }
                                td {
                                    @if let Some(pending) = integration.pending_rotation() {
                                        span.pi-badge.pi-badge-warning { "Rotating" }
                                        span.pi-hint { "Old token expires " (when(pending.previous_expires_at())) }
                                    } @else if *due {
                                        span.pi-badge.pi-badge-warning { "Rotation due" }
                                    } @else {
                                        span.pi-badge.pi-badge-ok { "Active" }
                                    }
                                }
                                td { (when(integration.created_at())) }
                                td.pi-menu-cell { (menu(site, integration)) }
                            }
                        }
                    }
                }
            }
        }
        @if view.later_page || view.more.is_some() {
            nav.pi-pager aria-label="Pages of integrations" {
                span {
                    @if view.later_page { a href=(site.url("")) { "← First page" } }
                }
                span {
                    @if let Some(more) = &view.more { a href=(more) { "More integrations →" } }
                }
            }
        }
    };
    layout(site, "Private Integrations", Some(Tab::Integrations), body)
}
