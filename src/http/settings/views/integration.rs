//! One integration: its scopes, dates, who edited it last, last use, its uses over the
//! last 30 days, rotation status (with whether the old token is still in use), the
//! reminder, and the rotation actions.

use maud::{Markup, html};
use time::{Duration, OffsetDateTime};

use super::audit::person;
use super::{
    Tab, ago, days, last_used, last_used_every, layout, menu, notice, refusal, scope, uses, when,
};
use crate::domain::audit::{AuditAction, AuditEvent, duration_in_words};
use crate::domain::ids::UserId;
use crate::domain::integration::{Integration, PendingRotation};
use crate::domain::usage::Usage;
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

/// What the integration's page shows.
pub(in crate::http::settings) struct IntegrationView<'a> {
    pub(in crate::http::settings) integration: &'a Integration,
    pub(in crate::http::settings) due: bool,
    pub(in crate::http::settings) done: Option<&'static str>,
    pub(in crate::http::settings) refusal: Option<&'a Refusal>,
    /// Its last edit (its creation, if never edited) from the audit log, if known.
    pub(in crate::http::settings) edited: Option<&'a AuditEvent>,
    /// The names the host's team directory gives its users (empty without one): shown
    /// instead of ids, which stand in where the directory has no name.
    pub(in crate::http::settings) people: &'a [(UserId, String)],
    /// The reports of its tokens still in use found in a public place, newest first.
    pub(in crate::http::settings) leaks: &'a [crate::domain::leak::Leak],
    /// How its tokens were used, or `None` if that could not be read.
    pub(in crate::http::settings) usage: Option<&'a Usage>,
    /// When the page is shown, on the service's clock: "3 minutes ago" is counted from it.
    pub(in crate::http::settings) now: OffsetDateTime,
}

pub(in crate::http::settings) fn render(site: &Site, view: &IntegrationView<'_>) -> Markup {
    let integration = view.integration;
    let pi = &site.config.pi;
    let catalog = pi.scope_catalog();
    let id = integration.id().as_str();
    let pending = integration.pending_rotation();
    let body = html! {
        @if let Some(done) = view.done { (notice("success", done)) }
        (refusal(view.refusal))
        (super::leak::banner(site, integration, view.leaks))
        @if let Some(pending) = pending {
            section.pi-notice.pi-notice-warning aria-labelledby="pi-rotation-title" {
                h2 #pi-rotation-title { "Token rotation in progress" }
                p {
                    "Both the old and the new token work until "
                    strong { (when(pending.previous_expires_at())) }
                    ". After that, the old token expires and only the new one works."
                }
                @if let Some(silent) = pi.finish_rotation_when_silent() {
                    p {
                        "The old token will expire automatically once unused for "
                        (duration_in_words(u64::try_from(silent.whole_seconds()).unwrap_or(0)))
                        " (and the new one has been used)."
                    }
                }
                (old_token_use(site, view, pending))
                div.pi-actions {
                    form method="post" action=(site.url(&format!("/{id}/rotation/cancel"))) {
                        (super::once())
                        button.pi-secondary type="submit" { "Cancel rotation" }
                    }
                    form method="post" action=(site.url(&format!("/{id}/rotation/expire"))) {
                        (super::once())
                        button type="submit" { "Expire now" }
                    }
                }
                p.pi-small.pi-muted {
                    "Cancel rotation if, for example, your developer needs more time to update \
                     the token in the third-party application: the new token stops working and \
                     the old one keeps working. Expire now if the third-party application has \
                     been updated with the new token: the old token stops working."
                }
            }
        } @else if view.due {
            div.pi-notice.pi-notice-warning role="status" {
                p {
                    strong { "This token is due for rotation." } " "
                    "It was issued " (when(integration.token_issued_at())) ". We recommend that \
                     you rotate your Private Integration tokens every "
                    (days(pi.rotation_interval())) " days."
                }
            }
        }
        div.pi-card {
            div.pi-header-row {
                div {
                    @if integration.description().is_empty() {
                        p.pi-muted { "No description." }
                    } @else {
                        p.pi-name { (integration.description()) }
                    }
                }
                (menu(site, integration))
            }
            dl.pi-facts {
                dt { "Scopes" }
                dd {
                    ul.pi-scope-list {
                        @for name in integration.scopes().iter() {
                            li { (scope(catalog, name)) }
                        }
                    }
                }
                dt { "Created" }
                dd { (when(integration.created_at())) }
                dt { "Last edited" }
                dd { (when(integration.updated_at())) }
                dt { "Token issued" }
                dd { (when(integration.token_issued_at())) }
                @if let Some(used) = last_used(site, integration.last_used_at()) {
                    dt { @if pending.is_some() { "New token last used" } @else { "Last used" } }
                    dd { (used) }
                }
                dt { "Integration ID" }
                dd { code { (id) } }
            }
            @if let Some(edited) = view.edited {
                p.pi-small {
                    @if edited.action == AuditAction::Created { "Created by " } @else { "Last edited by " }
                    @if let Some(name) = person(view.people, &edited.actor) {
                        (name)
                    } @else {
                        code { (edited.actor.as_str()) }
                    }
                    " on " (when(edited.at))
                }
            }
            @if let (Some(_), Some(every)) = (last_used(site, None), last_used_every(site)) {
                p.pi-hint { "Last used is updated " (every) "." }
            }
        }
        (super::usage::card(site, view.usage))
        section.pi-card aria-labelledby="pi-rotate-title" {
            h2 #pi-rotate-title { "Rotate token" }
            p.pi-muted {
                "We recommend that you rotate your Private Integration tokens every "
                (days(pi.rotation_interval())) " days."
            }
            div.pi-rotate {
                div.pi-card {
                    h3 { "The old token expires later" }
                    p.pi-small {
                        "A new token is generated. The current one keeps working for "
                        (days(pi.grace_period())) " days, so you can update your third-party \
                         application in the meantime."
                    }
                    div.pi-actions {
                        @if pending.is_some() {
                            p.pi-small.pi-muted { "A rotation is already in progress." }
                        } @else if integration.token_revoked_at().is_some() {
                            p.pi-small.pi-muted {
                                "The current token was revoked: it gets no time to keep working. \
                                 Rotate and expire it now."
                            }
                        } @else {
                            a.pi-button.pi-secondary href=(site.url(&format!("/{id}/rotate/later"))) {
                                "Rotate and expire this token later"
                            }
                        }
                    }
                }
                div.pi-card {
                    h3 { "The old token expires now" }
                    p.pi-small {
                        "A new token is generated and every older token stops working at once, \
                         for example if a token leaked."
                    }
                    div.pi-actions {
                        a.pi-button.pi-secondary href=(site.url(&format!("/{id}/rotate/now"))) {
                            "Rotate and expire this token now"
                        }
                    }
                }
            }
        }
        p { a href=(site.url(&format!("/audit-log?integration={id}"))) { "Activity of this integration" } }
    };
    layout(site, integration.name(), Some(Tab::Integrations), body)
}

/// Whether the third party still calls with the old token, as the rotation's banner says
/// it: last used how long ago, and how often in the last 24 hours (when the counts could
/// be read); not used since when, if not in the last 24 hours; or never. Nothing where
/// this service records no uses.
fn old_token_use(site: &Site, view: &IntegrationView<'_>, pending: PendingRotation) -> Markup {
    let recorded = site.config.pi.records_last_used();
    let in_last_day = view
        .usage
        .map_or(0, |usage| usage.last_24_hours().previous());
    html! {
        @match pending.previous_last_used_at() {
            Some(at) if view.now - at < Duration::DAY => p {
                "The old token was last used " (ago(view.now, at))
                // Counted by the hour, a use 23 hours ago may fall outside the last 24
                // hours of counts: no "0 uses" beside a recent use.
                @if in_last_day > 0 { " (" (uses(in_last_day)) " in the last 24 hours)" }
                "."
            },
            Some(at) => p { "The old token has not been used since " (when(at)) "." },
            None if recorded => p { "The old token has never been used." },
            None => {},
        }
    }
}
