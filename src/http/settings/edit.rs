//! `GET /{id}/edit`, `POST /{id}/edit`: "Edit" in two steps (details, "Next", scopes,
//! "Update"). The version the admin started from travels in the form, and the service
//! applies the edit only at that version ([`IntegrationUpdate::expect_version`]): an edit
//! made from a stale page is refused, and the form keeps what was typed.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::refusal::{self, CHANGED_SINCE, Refusal};
use super::views::steps::{self, Wizard};
use super::web::{Ctx, Fields, Form, html, integration_id, refused, see_other};
use crate::domain::ids::IntegrationId;
use crate::domain::integration::{IntegrationUpdate, NewIntegration};
use crate::error::{Error, InvalidInput};

const TITLE: &str = "Edit Private Integration";
const NOTE: &str = "Note: Updating the Private Integration details does not generate a new \
token. The existing token will continue to work.";

/// The form's own values: what was typed, and the version it was made from.
struct Typed {
    fields: Fields,
    version: u64,
}

pub(super) async fn start<A>(ctx: Ctx<A>, Path(id): Path<String>) -> Response {
    let found = match integration_id(&id) {
        Ok(parsed) => ctx.pi().get(&ctx.actor, &parsed).await,
        Err(err) => Err(err),
    };
    let integration = match found {
        Ok(integration) => integration,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    let mut pairs = vec![
        ("name".to_owned(), integration.name().to_owned()),
        (
            "description".to_owned(),
            integration.description().to_owned(),
        ),
    ];
    pairs.extend(
        integration
            .scopes()
            .iter()
            .map(|s| ("scopes".to_owned(), s.to_owned())),
    );
    let typed = Typed {
        fields: Fields::from_pairs(pairs),
        version: integration.version(),
    };
    details(&ctx, &id, &typed, StatusCode::OK, None)
}

pub(super) async fn submit<A>(ctx: Ctx<A>, Path(id): Path<String>, Form(form): Form) -> Response {
    let parsed = match integration_id(&id) {
        Ok(parsed) => parsed,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    // A form without the version it was made from cannot be checked: treat it as stale.
    let version = form.get("version").parse::<u64>().ok();
    let typed = Typed {
        version: version.unwrap_or(0),
        fields: form,
    };
    let form = &typed.fields;
    match (form.get("step"), form.get("go")) {
        ("scopes", "back") => details(&ctx, &id, &typed, StatusCode::OK, None),
        ("scopes", _) => {
            let update = IntegrationUpdate::new()
                .name(form.get("name"))
                .description(form.get("description"))
                .scopes(form.all("scopes"));
            let updated = match version {
                // Checked by the service in the compare-and-swap of the write itself.
                Some(version) => {
                    let update = update.expect_version(version);
                    ctx.pi().update(&ctx.actor, &parsed, update).await
                }
                None => Err(Error::Conflict),
            };
            match updated {
                Ok(_) => see_other(ctx.site.url(&format!("/{id}?done=updated"))),
                Err(Error::Conflict) => stale(&ctx, &parsed, &id, typed).await,
                Err(err) => refuse(&ctx, &id, typed, &err),
            }
        }
        // "Next": the same rules as on create, checked before the scopes step.
        _ => {
            let new = NewIntegration::new(form.get("name")).description(form.get("description"));
            match new.validate(ctx.pi().scope_catalog()) {
                Ok(_) | Err(Error::InvalidInput(InvalidInput::NoScopes)) => {
                    scopes(&ctx, &id, &typed, StatusCode::OK, None)
                }
                Err(err) => refuse(&ctx, &id, typed, &err),
            }
        }
    }
}

/// Someone changed the integration since the form was made: say so, keep what was typed,
/// and take the current version, so that "Update" again saves it over the other change.
async fn stale<A>(ctx: &Ctx<A>, parsed: &IntegrationId, id: &str, mut typed: Typed) -> Response {
    match ctx.pi().get(&ctx.actor, parsed).await {
        Ok(current) => {
            typed.version = current.version();
            let message = format!(
                "{CHANGED_SINCE} It is now named “{}”. Select Update again to save your changes \
                 over theirs, or Cancel to keep theirs.",
                current.name()
            );
            let refusal = Refusal::new(StatusCode::CONFLICT, message);
            scopes(ctx, id, &typed, StatusCode::CONFLICT, Some(&refusal))
        }
        Err(err) => refused(&ctx.site, TITLE, &err),
    }
}

/// The refusal on the step of the field it is about, with the form as typed (but a field
/// that held a token, emptied).
fn refuse<A>(ctx: &Ctx<A>, id: &str, mut typed: Typed, err: &Error) -> Response {
    if let Some(field) = refusal::holds_token(err) {
        typed.fields.forget(field);
    }
    let typed = &typed;
    let refusal = Refusal::from(err);
    match refusal.field {
        Some("name" | "description") => details(ctx, id, typed, refusal.status, Some(&refusal)),
        Some("scopes") => scopes(ctx, id, typed, refusal.status, Some(&refusal)),
        _ if refusal.status == StatusCode::NOT_FOUND => refused(&ctx.site, TITLE, err),
        _ => scopes(ctx, id, typed, refusal.status, Some(&refusal)),
    }
}

fn wizard<'a, A>(
    ctx: &Ctx<A>,
    id: &str,
    typed: &'a Typed,
    scopes: &'a [String],
    refusal: Option<&'a Refusal>,
) -> Wizard<'a> {
    Wizard {
        title: TITLE,
        action: ctx.site.url(&format!("/{id}/edit")),
        cancel: ctx.site.url(&format!("/{id}")),
        name: typed.fields.get("name"),
        description: typed.fields.get("description"),
        scopes,
        version: Some(typed.version),
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
    let scopes = typed.fields.all("scopes");
    html(
        status,
        steps::details(&ctx.site, &wizard(ctx, id, typed, &scopes, refusal)),
    )
}

fn scopes<A>(
    ctx: &Ctx<A>,
    id: &str,
    typed: &Typed,
    status: StatusCode,
    refusal: Option<&Refusal>,
) -> Response {
    let scopes = typed.fields.all("scopes");
    html(
        status,
        steps::scopes(&ctx.site, &wizard(ctx, id, typed, &scopes, refusal)),
    )
}
