//! The two steps of create and edit: the name and description, then the scopes. Each
//! step is a form that carries the other step's values in hidden fields, so nothing is
//! kept on the server between them and going back loses nothing.

use maud::{Markup, html};

use super::{layout, refusal};
use crate::domain::scope::ScopeCatalog;
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

/// The form's values and what surrounds them.
pub(in crate::http::settings) struct Wizard<'a> {
    /// The screen's title: "Create new Integration", "Edit …".
    pub(in crate::http::settings) title: &'a str,
    /// Where both steps post.
    pub(in crate::http::settings) action: String,
    /// Where "Cancel" leads.
    pub(in crate::http::settings) cancel: String,
    pub(in crate::http::settings) name: &'a str,
    pub(in crate::http::settings) description: &'a str,
    pub(in crate::http::settings) scopes: &'a [String],
    /// The version the edit started from (edit only).
    pub(in crate::http::settings) version: Option<u64>,
    /// The last step's button: "Create" or "Update".
    pub(in crate::http::settings) submit: &'a str,
    /// A note above the last step's button.
    pub(in crate::http::settings) note: Option<&'a str>,
    pub(in crate::http::settings) refusal: Option<&'a Refusal>,
    pub(in crate::http::settings) catalog: ScopeCatalog,
}

fn steps(current: u8) -> Markup {
    html! {
        ol.pi-steps aria-label="Steps" {
            @for (n, label) in [(1, "Name and description"), (2, "Scopes")] {
                @if n == current {
                    li aria-current="step" { (n) ". " (label) }
                } @else {
                    li { (n) ". " (label) }
                }
            }
        }
    }
}

/// The other step's values and the version, as hidden fields.
fn carried(w: &Wizard<'_>, step: &str) -> Markup {
    html! {
        input type="hidden" name="step" value=(step);
        (super::once())
        @if let Some(version) = w.version {
            input type="hidden" name="version" value=(version);
        }
        @if step == "details" {
            @for name in w.scopes {
                input type="hidden" name="scopes" value=(name);
            }
        } @else {
            input type="hidden" name="name" value=(w.name);
            input type="hidden" name="description" value=(w.description);
        }
    }
}

/// Step 1: "Give a name and description to your Private Integration".
pub(in crate::http::settings) fn details(site: &Site, w: &Wizard<'_>) -> Markup {
    let name_error = w.refusal.and_then(|r| r.about("name"));
    let description_error = w.refusal.and_then(|r| r.about("description"));
    let body = html! {
        (steps(1))
        (refusal(w.refusal))
        form.pi-card method="post" action=(w.action) {
            (carried(w, "details"))
            p.pi-muted {
                @if w.version.is_some() {
                    "Update the name and description of the Private Integration, if necessary."
                } @else {
                    "Give a name and description to your Private Integration to help you and your \
                     team identify what it is for."
                }
            }
            div.pi-field {
                label for="pi-name" { "Name" }
                input #pi-name type="text" name="name" value=(w.name) autocomplete="off"
                    aria-required="true" autofocus
                    aria-invalid=[name_error.map(|_| "true")]
                    aria-describedby=[name_error.map(|_| "pi-name-error")];
                @if let Some(message) = name_error {
                    span.pi-field-error #pi-name-error { (message) }
                }
                span.pi-hint { "Up to 100 characters." }
            }
            div.pi-field {
                label for="pi-description" { "Description" }
                textarea #pi-description name="description"
                    aria-invalid=[description_error.map(|_| "true")]
                    aria-describedby=[description_error.map(|_| "pi-description-error")] { (w.description) }
                @if let Some(message) = description_error {
                    span.pi-field-error #pi-description-error { (message) }
                }
                span.pi-hint { "Optional. Up to 1000 characters." }
            }
            div.pi-actions {
                button type="submit" name="go" value="next" { "Next" }
                a.pi-button.pi-secondary href=(w.cancel) { "Cancel" }
            }
        }
    };
    layout(site, w.title, None, body)
}

/// Step 2: "Select the scopes/permissions you want the private integration to have".
pub(in crate::http::settings) fn scopes(site: &Site, w: &Wizard<'_>) -> Markup {
    let scopes_error = w.refusal.and_then(|r| r.about("scopes"));
    let body = html! {
        (steps(2))
        (refusal(w.refusal))
        form.pi-card method="post" action=(w.action) {
            (carried(w, "scopes"))
            p { "Integration: " strong.pi-name { (w.name) } }
            fieldset.pi-scopes aria-describedby=[scopes_error.map(|_| "pi-scopes-error")] {
                legend { "Scopes" }
                p.pi-muted {
                    @if w.version.is_some() { "If necessary, update the " } @else { "Select the " }
                    "scopes/permissions you want the private integration to have access to in \
                     your account. Make sure to select only the necessary scopes for better data \
                     security."
                }
                @if let Some(message) = scopes_error {
                    p.pi-field-error #pi-scopes-error { (message) }
                }
                @for (i, name) in w.catalog.iter().enumerate() {
                    @let id = format!("pi-scope-{i}");
                    div.pi-scope {
                        input type="checkbox" id=(id) name="scopes" value=(name)
                            checked[w.scopes.iter().any(|s| s == name)]
                            autofocus[i == 0];
                        div {
                            label for=(id) {
                                (w.catalog.label(name).unwrap_or(name))
                            }
                            @if w.catalog.label(name).is_some() {
                                code.pi-scope-name { (name) }
                            }
                            @if let Some(description) = w.catalog.description(name) {
                                span.pi-hint { (description) }
                            }
                        }
                    }
                }
            }
            @if let Some(note) = w.note {
                p.pi-notice { (note) }
            }
            div.pi-actions {
                button type="submit" name="go" value="submit" { (w.submit) }
                button.pi-secondary type="submit" name="go" value="back" { "Back" }
                a.pi-button.pi-secondary href=(w.cancel) { "Cancel" }
            }
        }
    };
    layout(site, w.title, None, body)
}
