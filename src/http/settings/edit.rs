//! `GET /{id}/edit`, `POST /{id}/edit`: "Edit" in two steps (details, "Next", scopes,
//! "Update"). The version the admin started from, and the values it had, travel in the
//! form; the service applies the edit only at that version
//! ([`IntegrationUpdate::expect_version`]). An edit made from a stale page is refused:
//! the page says what the other person changed, and starts the form again from the
//! current values with the admin's own changes re-applied where they do not collide (see
//! [`rebase`](super::rebase)), for the admin to check and "Update" again.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::rebase::{Editable, Stale, rebase};
use super::refusal::{self, Refusal};
use super::views::steps::{self, Wizard};
use super::web::{
    Ctx, Fields, Form, already_done, html, integration_id, once_key, refused, see_other,
};
use crate::domain::idempotency::Outcome;
use crate::domain::ids::IntegrationId;
use crate::domain::integration::{IntegrationUpdate, NewIntegration};
use crate::domain::scope::ScopeCatalog;
use crate::error::{Error, InvalidInput};

const TITLE: &str = "Edit Private Integration";
const NOTE: &str = "Note: Updating the Private Integration details does not generate a new \
token. The existing token will continue to work.";

/// The form's own values: what was typed, what the form was opened with, and the version
/// it was made from.
struct Typed {
    values: Editable,
    /// The hidden `was_*` fields, if the form has them and they hold values the service
    /// could have stored (anything else is not shown back).
    original: Option<Editable>,
    /// `None`: the form did not say (it is then treated as stale).
    version: Option<u64>,
}

impl Typed {
    /// A form opened now, at the integration's current values and version.
    fn opened(values: Editable, version: u64) -> Self {
        Self {
            original: Some(values.clone()),
            values,
            version: Some(version),
        }
    }

    fn read(form: &Fields, catalog: ScopeCatalog) -> Self {
        let values = Editable {
            name: form.get("name").to_owned(),
            description: form.get("description").to_owned(),
            scopes: form.scopes("scopes", catalog),
        };
        let original = form
            .has("was_name")
            .then(|| Editable {
                name: form.get("was_name").to_owned(),
                description: form.get("was_description").to_owned(),
                scopes: form.scopes("was_scopes", catalog),
            })
            .filter(|was| {
                let new = NewIntegration::new(&*was.name)
                    .description(&*was.description)
                    .scopes(was.scopes.iter().copied());
                new.validate(catalog).is_ok()
            });
        Self {
            values,
            original,
            version: form.get("version").parse().ok(),
        }
    }
}

pub(super) async fn start<A>(ctx: Ctx<A>, Path(id): Path<String>) -> Response {
    let found = match integration_id(&id) {
        Ok(parsed) => ctx.pi().get(&ctx.actor, &parsed).await,
        Err(err) => Err(err),
    };
    match found {
        Ok(integration) => {
            let typed = Typed::opened(Editable::of(&integration), integration.version());
            details(&ctx, &id, &typed, StatusCode::OK, None)
        }
        Err(err) => refused(&ctx.site, TITLE, &err),
    }
}

pub(super) async fn submit<A>(ctx: Ctx<A>, Path(id): Path<String>, Form(form): Form) -> Response {
    let parsed = match integration_id(&id) {
        Ok(parsed) => parsed,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    let catalog = ctx.pi().scope_catalog();
    let typed = Typed::read(&form, catalog);
    let (name, description) = (form.get("name"), form.get("description"));
    match (form.get("step"), form.get("go")) {
        ("scopes", "back") => details(&ctx, &id, &typed, StatusCode::OK, None),
        ("scopes", _) => {
            // The scopes as sent, not as shown: one outside the catalog is refused.
            let scopes = form.all("scopes");
            let updated = match typed.version {
                // Checked by the service in the compare-and-swap of the write itself.
                Some(version) => {
                    let update = IntegrationUpdate::new()
                        .name(name)
                        .description(description)
                        .scopes(scopes)
                        .expect_version(version);
                    match once_key(&form) {
                        Some(key) => {
                            ctx.pi()
                                .once(&ctx.actor, &key)
                                .update(&parsed, update)
                                .await
                        }
                        None => ctx
                            .pi()
                            .update(&ctx.actor, &parsed, update)
                            .await
                            .map(Outcome::Done),
                    }
                }
                // A form without the version it was made from cannot be checked: stale,
                // once what it holds passes the rules (as the service checks them first).
                None => NewIntegration::new(name)
                    .description(description)
                    .scopes(scopes)
                    .validate(catalog)
                    .and_then(|_| Err(Error::Conflict)),
            };
            match updated {
                Ok(Outcome::Done(_)) => see_other(ctx.site.url(&format!("/{id}?done=updated"))),
                Ok(Outcome::AlreadyDone(first)) => already_done(&ctx.site, &first),
                Err(Error::Conflict) => stale(&ctx, &parsed, &id, &typed).await,
                Err(err) => refuse(&ctx, &id, typed, &err),
            }
        }
        // "Next": the same rules as on create, checked before the scopes step.
        _ => match NewIntegration::new(name)
            .description(description)
            .validate(catalog)
        {
            Ok(_) | Err(Error::InvalidInput(InvalidInput::NoScopes)) => {
                scopes(&ctx, &id, &typed, StatusCode::OK, None, None)
            }
            Err(err) => refuse(&ctx, &id, typed, &err),
        },
    }
}

/// Someone changed the integration since the form was made: say what, and start the form
/// again from the current values and version, with the admin's own changes re-applied
/// where they do not collide. Nothing is saved until "Update" is selected again.
async fn stale<A>(ctx: &Ctx<A>, parsed: &IntegrationId, id: &str, typed: &Typed) -> Response {
    let current = match ctx.pi().get(&ctx.actor, parsed).await {
        Ok(current) => current,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    let now = Editable::of(&current);
    let (values, notice) = match &typed.original {
        Some(original) => {
            let rebased = rebase(ctx.pi().scope_catalog(), original, &now, &typed.values);
            (rebased.values.clone(), Stale::Rebased(Box::new(rebased)))
        }
        None => (now.clone(), Stale::Unknown),
    };
    let fresh = Typed {
        values,
        original: Some(now),
        version: Some(current.version()),
    };
    scopes(ctx, id, &fresh, StatusCode::CONFLICT, None, Some(&notice))
}

/// The refusal on the step of the field it is about, with the form as typed (but a field
/// that held a token, emptied, and only scopes of the catalog).
fn refuse<A>(ctx: &Ctx<A>, id: &str, mut typed: Typed, err: &Error) -> Response {
    match refusal::holds_token(err) {
        Some("name") => typed.values.name.clear(),
        Some("description") => typed.values.description.clear(),
        _ => {}
    }
    let typed = &typed;
    let refusal = Refusal::from(err);
    match refusal.field {
        Some("name" | "description") => details(ctx, id, typed, refusal.status, Some(&refusal)),
        _ if refusal.status == StatusCode::NOT_FOUND => refused(&ctx.site, TITLE, err),
        _ => scopes(ctx, id, typed, refusal.status, Some(&refusal), None),
    }
}

fn wizard<'a, A>(
    ctx: &Ctx<A>,
    id: &str,
    typed: &'a Typed,
    refusal: Option<&'a Refusal>,
    stale: Option<&'a Stale>,
) -> Wizard<'a> {
    Wizard {
        title: TITLE,
        action: ctx.site.url(&format!("/{id}/edit")),
        cancel: ctx.site.url(&format!("/{id}")),
        values: &typed.values,
        version: Some(typed.version.unwrap_or(0)),
        original: typed.original.as_ref(),
        stale,
        submit: "Update",
        note: Some(NOTE),
        refusal,
        catalog: ctx.pi().scope_catalog(),
    }
}

fn details<A>(
    ctx: &Ctx<A>,
    id: &str,
    typed: &Typed,
    status: StatusCode,
    refusal: Option<&Refusal>,
) -> Response {
    let wizard = wizard(ctx, id, typed, refusal, None);
    html(status, steps::details(&ctx.site, &wizard))
}

fn scopes<A>(
    ctx: &Ctx<A>,
    id: &str,
    typed: &Typed,
    status: StatusCode,
    refusal: Option<&Refusal>,
    stale: Option<&Stale>,
) -> Response {
    let wizard = wizard(ctx, id, typed, refusal, stale);
    html(status, steps::scopes(&ctx.site, &wizard))
}
