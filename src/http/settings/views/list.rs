//! The list of the account's integrations, with "Create new Integration".

use maud::{Markup, html};

use time::OffsetDateTime;

use super::{Tab, ago, last_used, last_used_every, layout, menu, notice, when};
use crate::domain::integration::Integration;
use crate::domain::listing::IntegrationState;
use crate::http::settings::web::Site;

/// What the list is narrowed to: the search text and the state, kept from page to page.
pub(in crate::http::settings) struct Filter<'a> {
    pub(in crate::http::settings) search: &'a str,
    pub(in crate::http::settings) state: Option<IntegrationState>,
}

impl Filter<'_> {
    /// The list's query string (`?q=…&state=…&cursor=…`) with the filter, after `cursor`.
    pub(in crate::http::settings) fn query(&self, cursor: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.search.is_empty() {
            query.append_pair("q", self.search);
        }
        if let Some(state) = self.state {
            query.append_pair("state", state.as_str());
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        let query = query.finish();
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    }

    fn is_empty(&self) -> bool {
        self.search.is_empty() && self.state.is_none()
    }
}

/// A state as the filter offers it.
fn state_label(state: IntegrationState) -> &'static str {
    match state {
        IntegrationState::Active => "Active",
        IntegrationState::Rotating => "Rotating",
        IntegrationState::RotationDue => "Rotation due",
    }
}

/// What the list shows: one page of the account's integrations.
pub(in crate::http::settings) struct ListView<'a> {
    pub(in crate::http::settings) integrations: &'a [Integration],
    /// Whether each integration (in the same order) is due for rotation.
    pub(in crate::http::settings) due: &'a [bool],
    /// Whether each integration's current token was found in a public place (revoked,
    /// or still live under `LeakPolicy::NotifyOnly`).
    pub(in crate::http::settings) leaked: &'a [bool],
    /// Whether each integration is rotating with its old token still in use near the end
    /// of the window (see the list's handler for the rule).
    pub(in crate::http::settings) old_in_use: &'a [bool],
    /// When the list is shown, on the service's clock.
    pub(in crate::http::settings) now: OffsetDateTime,
    pub(in crate::http::settings) done: Option<&'static str>,
    /// The URL of the next page, if there may be one.
    pub(in crate::http::settings) more: Option<String>,
    /// Whether this is a later page (then "First page" leads back to the first).
    pub(in crate::http::settings) later_page: bool,
    /// How many integrations match the filter in all.
    pub(in crate::http::settings) total: u64,
    /// The search text and state asked for.
    pub(in crate::http::settings) filter: Filter<'a>,
    /// Whether the service records last use (then the "Last used" column shows).
    pub(in crate::http::settings) last_used: bool,
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
        @if !view.filter.is_empty() || view.total > 0 {
            form.pi-search method="get" action=(site.url("")) role="search" {
                div.pi-search-field {
                    label for="pi-search-q" { "Search by name" }
                    input #pi-search-q type="search" name="q" value=(view.filter.search) maxlength="100";
                }
                div.pi-search-field {
                    label for="pi-search-state" { "State" }
                    select #pi-search-state name="state" {
                        option value="" selected[view.filter.state.is_none()] { "All states" }
                        @for state in IntegrationState::ALL {
                            option value=(state.as_str()) selected[view.filter.state == Some(state)] { (state_label(state)) }
                        }
                    }
                }
                button.pi-button.pi-secondary type="submit" { "Search" }
                @if !view.filter.is_empty() {
                    a href=(site.url("")) { "Clear" }
                }
            }
            p.pi-muted.pi-total role="status" {
                (view.total) @if view.total == 1 { " integration" } @else { " integrations" }
                @if !view.filter.is_empty() { " match" @if view.total == 1 { "es" } }
            }
        }
        @if view.integrations.is_empty() {
            div.pi-card.pi-empty {
                @if !view.filter.is_empty() && !view.later_page {
                    p.pi-muted { "No Private Integrations match." }
                } @else if view.later_page {
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
                            @if view.last_used { th scope="col" { "Last used" } }
                            th scope="col" { span.pi-sr { "Actions" } }
                        }
                    }
                    tbody {
                        @for (((integration, due), leaked), old_in_use) in view.integrations.iter().zip(view.due).zip(view.leaked).zip(view.old_in_use) {
                            tr {
                                td.pi-name {
                                    a href=(site.url(&format!("/{}", integration.id()))) { (integration.name()) }
                                    @if !integration.description().is_empty() {
                                        span.pi-hint { (integration.description()) }
                                    }
                                }
                                td.pi-nowrap data-label="Scopes" { (integration.scopes().len()) @if integration.scopes().len() == 1 { " scope" } @else { " scopes" } }
                                td data-label="Token" {
                                    @if integration.token_revoked_at().is_some() {
                                        span.pi-badge.pi-badge-danger { "Leaked" }
                                        span.pi-hint { "Revoked: rotate to issue a new token" }
                                    } @else if *leaked {
                                        span.pi-badge.pi-badge-danger { "Leaked" }
                                        span.pi-hint { "Found in a public place: rotate and expire it now" }
                                    } @else if let Some(pending) = integration.pending_rotation() {
                                        span.pi-badge.pi-badge-warning { "Rotating" }
                                        @if *old_in_use {
                                            span.pi-badge.pi-badge-danger.pi-badge-long { "Old token still in use" }
                                        }
                                        span.pi-hint { "Old token expires " (when(pending.previous_expires_at())) }
                                        @if let (true, Some(used)) = (*old_in_use, pending.previous_last_used_at()) {
                                            span.pi-hint { "Old token last used " (ago(view.now, used)) }
                                        }
                                    } @else if *due {
                                        span.pi-badge.pi-badge-warning { "Rotation due" }
                                    } @else {
                                        span.pi-badge.pi-badge-ok { "Active" }
                                    }
                                }
                                td data-label="Created" { (when(integration.created_at())) }
                                @if view.last_used {
                                    td data-label="Last used" { @if let Some(used) = last_used(site, integration.last_used_at()) { (used) } }
                                }
                                td.pi-menu-cell { (menu(site, integration)) }
                            }
                        }
                    }
                }
            }
            @if let (true, Some(every)) = (view.last_used, last_used_every(site)) {
                p.pi-muted.pi-small { "Last used is updated " (every) "." }
            }
        }
        @if view.later_page || view.more.is_some() {
            nav.pi-pager aria-label="Pages of integrations" {
                span {
                    @if view.later_page { a href=(site.url(&view.filter.query(None))) { "← First page" } }
                }
                span {
                    @if let Some(more) = &view.more { a href=(more) { "More integrations →" } }
                }
            }
        }
    };
    layout(site, "Private Integrations", Some(Tab::Integrations), body)
}
