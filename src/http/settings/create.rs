//! `GET /new`, `POST /new`: "Create new Integration" in two steps, then the token.

use axum::http::StatusCode;
use axum::response::Response;

use super::rebase::Editable;
use super::refusal::{self, Refusal};
use super::views::steps::{self, Wizard};
use super::views::token::{self, Issued};
use super::web::{Ctx, Fields, Form, already_done, html, once_key, refused};
use crate::domain::idempotency::Outcome;
use crate::domain::integration::NewIntegration;
use crate::domain::page::PageRequest;
use crate::domain::scope::ScopeCatalog;
use crate::error::{Error, InvalidInput};
use crate::service::Created;

const TITLE: &str = "Create new Integration";

pub(super) async fn start<A>(ctx: Ctx<A>) -> Response {
    // Whether the actor may create (permission, feature switch) before showing the form:
    // the smallest read that asks the service.
    let may = PageRequest::new().limit(1);
    if let Err(err) = ctx.pi().list_page(&ctx.actor, may).await {
        return refused(&ctx.site, TITLE, &err);
    }
    let blank = typed(&Fields::default(), ctx.pi().scope_catalog());
    details(&ctx, &blank, StatusCode::OK, None)
}

pub(super) async fn submit<A>(ctx: Ctx<A>, Form(form): Form) -> Response {
    let pi = ctx.pi();
    // The scopes as sent go to the service (one outside the catalog is refused); the
    // form shows back only those of the catalog.
    let new = NewIntegration::new(form.get("name"))
        .description(form.get("description"))
        .scopes(form.all("scopes"));
    let mut typed = typed(&form, pi.scope_catalog());
    match (form.get("step"), form.get("go")) {
        ("scopes", "back") => details(&ctx, &typed, StatusCode::OK, None),
        ("scopes", _) => match once(&ctx, &form, new).await {
            Ok(Outcome::AlreadyDone(first)) => already_done(&ctx.site, &first),
            Ok(Outcome::Done(created)) => html(
                StatusCode::OK,
                token::render(
                    &ctx.site,
                    &created.integration,
                    &created.token,
                    Issued::Created,
                ),
            ),
            Err(err) => refuse(&ctx, &mut typed, &err),
        },
        // "Next" on the first step: the name and description must hold before the scopes.
        _ => match new.validate(pi.scope_catalog()) {
            Ok(_) | Err(Error::InvalidInput(InvalidInput::NoScopes)) => {
                scopes(&ctx, &typed, StatusCode::OK, None)
            }
            Err(err) => refuse(&ctx, &mut typed, &err),
        },
    }
}

/// The create, under the form's one-time key if it has one.
async fn once<A>(
    ctx: &Ctx<A>,
    form: &Fields,
    new: NewIntegration,
) -> Result<Outcome<Created>, Error> {
    match once_key(form) {
        Some(key) => ctx.pi().once(&ctx.actor, &key).create(new).await,
        None => ctx.pi().create(&ctx.actor, new).await.map(Outcome::Done),
    }
}

/// The form's values as it may show them back: as typed, but only scopes of the catalog.
fn typed(form: &Fields, catalog: ScopeCatalog) -> Editable {
    Editable {
        name: form.get("name").to_owned(),
        description: form.get("description").to_owned(),
        scopes: form.scopes("scopes", catalog),
    }
}

/// The refusal on the step of the field it is about, with the form as typed (but a field
/// that held a token, emptied).
fn refuse<A>(ctx: &Ctx<A>, typed: &mut Editable, err: &Error) -> Response {
    match refusal::holds_token(err) {
        Some("name") => typed.name.clear(),
        Some("description") => typed.description.clear(),
        _ => {}
    }
    let refusal = Refusal::from(err);
    match refusal.field {
        Some("name" | "description") => details(ctx, typed, refusal.status, Some(&refusal)),
        _ => scopes(ctx, typed, refusal.status, Some(&refusal)),
    }
}

fn wizard<'a, A>(ctx: &Ctx<A>, typed: &'a Editable, refusal: Option<&'a Refusal>) -> Wizard<'a> {
    Wizard {
        title: TITLE,
        action: ctx.site.url("/new"),
        cancel: ctx.site.url(""),
        values: typed,
        version: None,
        original: None,
        stale: None,
        submit: "Create",
        note: None,
        refusal,
        catalog: ctx.pi().scope_catalog(),
    }
}

fn details<A>(
    ctx: &Ctx<A>,
    typed: &Editable,
    status: StatusCode,
    refusal: Option<&Refusal>,
) -> Response {
    html(
        status,
        steps::details(&ctx.site, &wizard(ctx, typed, refusal)),
    )
}

fn scopes<A>(
    ctx: &Ctx<A>,
    typed: &Editable,
    status: StatusCode,
    refusal: Option<&Refusal>,
) -> Response {
    html(
        status,
        steps::scopes(&ctx.site, &wizard(ctx, typed, refusal)),
    )
}
