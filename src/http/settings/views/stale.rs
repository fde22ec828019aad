//! The notice of an edit refused because someone else changed the integration since the
//! form was opened: what they changed, which of the admin's changes the form re-applies
//! on top, and which it could not (they changed the same text).

use maud::{Markup, html};

use crate::domain::scope::ScopeCatalog;
use crate::http::settings::rebase::{Changes, Stale, TextChange};

/// The first sentence, whatever else the notice says.
pub(in crate::http::settings) const NOTHING_SAVED: &str = "Someone changed this Private \
Integration since you opened this page, so nothing was saved.";

/// The notice, above the form. An alert, so that it is read out when the page loads.
pub(in crate::http::settings) fn render(stale: &Stale, catalog: ScopeCatalog) -> Markup {
    html! {
        div.pi-notice.pi-notice-warning role="alert" id="pi-error" {
            @match stale {
                Stale::Rebased(rebased) => {
                    p {
                        (NOTHING_SAVED) " The form below starts from its current version, with \
                         your own changes applied again where they do not collide with theirs. \
                         Check it, then select Update to save."
                    }
                    h2 { "Changed by someone else" }
                    @if rebased.theirs.is_empty() {
                        p {
                            "Its name, description and scopes are as you found them: the \
                             change was elsewhere, such as a token rotation."
                        }
                    } @else {
                        (list(&rebased.theirs, catalog))
                    }
                    @if !rebased.mine.is_empty() {
                        h2 { "Your changes, applied again" }
                        p.pi-muted { "Marked “Your change” in the form." }
                        (list(&rebased.mine, catalog))
                    }
                    @if !rebased.set_aside.is_empty() {
                        h2 { "Your changes not applied" }
                        ul {
                            @if let Some(name) = &rebased.set_aside.name {
                                li { (set_aside("name", name)) }
                            }
                            @if let Some(description) = &rebased.set_aside.description {
                                li { (set_aside("description", description)) }
                            }
                        }
                    }
                }
                Stale::Unknown => {
                    p {
                        (NOTHING_SAVED) " This form did not record what it was opened with, \
                         so your changes cannot be told apart from theirs: the form below \
                         shows the current values. Make your changes again, then select \
                         Update."
                    }
                }
            }
        }
    }
}

/// One side's changes, a line each.
fn list(changes: &Changes, catalog: ScopeCatalog) -> Markup {
    html! {
        ul {
            @for scope in &changes.removed {
                li { "Scope removed: " (scope_name(catalog, scope)) }
            }
            @for scope in &changes.added {
                li { "Scope added: " (scope_name(catalog, scope)) }
            }
            @if let Some(name) = &changes.name {
                li { "Name changed from “" (name.from) "” to “" (name.to) "”" }
            }
            @if let Some(description) = &changes.description {
                li {
                    @if description.from.is_empty() {
                        "Description added: “" (description.to) "”"
                    } @else if description.to.is_empty() {
                        "Description removed (it was “" (description.from) "”)"
                    } @else {
                        "Description changed from “" (description.from) "” to “" (description.to) "”"
                    }
                }
            }
        }
    }
}

/// A text of the admin's the form does not hold: theirs is kept.
fn set_aside(field: &str, change: &TextChange) -> Markup {
    html! {
        "Your " (field) " " (quoted(&change.to)) " was not applied: someone else changed it \
         too, and the form keeps theirs, " (quoted(&change.from)) ". To use yours, select \
         Back and enter it again."
    }
}

/// A text in quotes, or “(empty)”.
fn quoted(text: &str) -> String {
    if text.is_empty() {
        "(empty)".to_owned()
    } else {
        format!("“{text}”")
    }
}

/// A scope in a sentence: its label and name, or its name.
fn scope_name(catalog: ScopeCatalog, name: &str) -> Markup {
    html! {
        @if let Some(label) = catalog.label(name) {
            (label) " (" code { (name) } ")"
        } @else {
            code { (name) }
        }
    }
}
