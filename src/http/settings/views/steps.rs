//! The two steps of create and edit: the name and description, then the scopes. Each
//! step is a form that carries the other step's values in hidden fields, so nothing is
//! kept on the server between them and going back loses nothing.

use maud::{Markup, html};

use super::{layout, refusal, stale};
use crate::domain::scope::ScopeCatalog;
use crate::http::settings::rebase::{Changes, Editable, Stale};
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
    /// The values the form holds: as typed, but only scopes of the catalog.
    pub(in crate::http::settings) values: &'a Editable,
    /// The version the edit started from (edit only).
    pub(in crate::http::settings) version: Option<u64>,
    /// The values the edit started from (edit only, when the form says so): carried in
    /// hidden fields, and what the admin's changes are marked against.
    pub(in crate::http::settings) original: Option<&'a Editable>,
    /// The edit was refused as stale: what changed, above the form.
    pub(in crate::http::settings) stale: Option<&'a Stale>,
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

/// The other step's values, the version and the values the edit started from, as
/// hidden fields.
fn carried(w: &Wizard<'_>, step: &str) -> Markup {
    html! {
        input type="hidden" name="step" value=(step);
        (super::once())
        @if let Some(version) = w.version {
            input type="hidden" name="version" value=(version);
        }
        @if let Some(original) = w.original {
            input type="hidden" name="was_name" value=(original.name);
            input type="hidden" name="was_description" value=(original.description);
            @for name in &original.scopes {
                input type="hidden" name="was_scopes" value=(name);
            }
        }
        @if step == "details" {
            @for name in &w.values.scopes {
                input type="hidden" name="scopes" value=(name);
            }
        } @else {
            input type="hidden" name="name" value=(w.values.name);
            input type="hidden" name="description" value=(w.values.description);
        }
    }
}

/// The admin's own changes, from the values the edit started from (none on create).
fn own_changes(w: &Wizard<'_>) -> Changes {
    w.original
        .map(|original| Changes::between(original, w.values))
        .unwrap_or_default()
}

/// What a field's `aria-describedby` lists: the ids given, if any.
fn described(ids: &[Option<&str>]) -> Option<String> {
    let ids: Vec<&str> = ids.iter().flatten().copied().collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// The mark of a value the admin changed: words, not only a colour.
fn your_change(id: &str) -> Markup {
    html! { span.pi-badge.pi-badge-ok id=(id) { "Your change" } }
}

/// Step 1: "Give a name and description to your Private Integration".
pub(in crate::http::settings) fn details(site: &Site, w: &Wizard<'_>) -> Markup {
    let name_error = w.refusal.and_then(|r| r.about("name"));
    let description_error = w.refusal.and_then(|r| r.about("description"));
    let mine = own_changes(w);
    let name_changed = mine.name.is_some().then_some("pi-name-change");
    let description_changed = mine
        .description
        .is_some()
        .then_some("pi-description-change");
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
                div.pi-field-head {
                    label for="pi-name" { "Name" }
                    @if let Some(id) = name_changed { (your_change(id)) }
                }
                input #pi-name type="text" name="name" value=(w.values.name) autocomplete="off"
                    aria-required="true" autofocus
                    aria-invalid=[name_error.map(|_| "true")]
                    aria-describedby=[described(&[name_error.map(|_| "pi-name-error"), name_changed])];
                @if let Some(message) = name_error {
                    span.pi-field-error #pi-name-error { (message) }
                }
                span.pi-hint { "Up to 100 characters." }
            }
            div.pi-field {
                div.pi-field-head {
                    label for="pi-description" { "Description" }
                    @if let Some(id) = description_changed { (your_change(id)) }
                }
                textarea #pi-description name="description"
                    aria-invalid=[description_error.map(|_| "true")]
                    aria-describedby=[described(&[
                        description_error.map(|_| "pi-description-error"),
                        description_changed,
                    ])] { (w.values.description) }
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
    let mine = own_changes(w);
    let theirs = match w.stale {
        Some(Stale::Rebased(rebased)) => Some(&rebased.theirs),
        _ => None,
    };
    let body = html! {
        (steps(2))
        (refusal(w.refusal))
        @if let Some(notice) = w.stale { (stale::render(notice, w.catalog)) }
        form.pi-card method="post" action=(w.action) {
            (carried(w, "scopes"))
            p {
                "Integration: " strong.pi-name { (w.values.name) }
                @if mine.name.is_some() { " " (your_change("pi-name-change")) }
            }
            // The description is not a field of this step: shown when the admin changed
            // it, so that every change of theirs is in sight before "Update".
            @if mine.description.is_some() {
                p {
                    "Description: "
                    @if w.values.description.trim().is_empty() {
                        span.pi-muted { "(empty)" }
                    } @else {
                        span.pi-name { (w.values.description) }
                    }
                    " " (your_change("pi-description-change"))
                }
            }
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
                    @let mark = scope_mark(&mine, theirs, name);
                    @let mark_id = format!("pi-scope-{i}-change");
                    div.pi-scope {
                        input type="checkbox" id=(id) name="scopes" value=(name)
                            checked[w.values.scopes.contains(&name)]
                            autofocus[i == 0]
                            aria-describedby=[mark.map(|_| &mark_id)];
                        div {
                            label for=(id) {
                                (w.catalog.label(name).unwrap_or(name))
                            }
                            @if let Some((class, text)) = mark {
                                " " span class={ "pi-badge " (class) } id=(mark_id) { (text) }
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

/// How a scope changed, if it did: by the admin (from the values the edit started from),
/// or by someone else (when the edit was refused as stale). At most one applies: see
/// [`rebase`](crate::http::settings::rebase).
fn scope_mark(
    mine: &Changes,
    theirs: Option<&Changes>,
    scope: &str,
) -> Option<(&'static str, &'static str)> {
    let has = |list: &[&str]| list.contains(&scope);
    if has(&mine.added) {
        Some(("pi-badge-ok", "Your change: added"))
    } else if has(&mine.removed) {
        Some(("pi-badge-ok", "Your change: removed"))
    } else if theirs.is_some_and(|t| has(&t.added)) {
        Some(("pi-badge-warning", "Added by someone else"))
    } else if theirs.is_some_and(|t| has(&t.removed)) {
        Some(("pi-badge-warning", "Removed by someone else"))
    } else {
        None
    }
}
