//! `GET /{id}/delete`: the confirmation; `POST`: "Delete".

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::refusal::Refusal;
use super::views::delete::render;
use super::web::{Ctx, Form, already_done, html, integration_id, once_key, refused, see_other};
use crate::domain::idempotency::Outcome;

const TITLE: &str = "Delete Private Integration";

pub(super) async fn confirm<A>(ctx: Ctx<A>, Path(id): Path<String>) -> Response {
    confirmation(&ctx, &id, None).await
}

pub(super) async fn submit<A>(ctx: Ctx<A>, Path(id): Path<String>, Form(form): Form) -> Response {
    let deleted = match (integration_id(&id), once_key(&form)) {
        (Ok(parsed), Some(key)) => ctx.pi().once(&ctx.actor, &key).delete(&parsed).await,
        (Ok(parsed), None) => ctx
            .pi()
            .delete(&ctx.actor, &parsed)
            .await
            .map(Outcome::Done),
        (Err(err), _) => Err(err),
    };
    match deleted {
        Ok(Outcome::Done(())) => see_other(ctx.site.url("?done=deleted")),
        Ok(Outcome::AlreadyDone(first)) => already_done(&ctx.site, &first),
        Err(err) => confirmation(&ctx, &id, Some(&Refusal::from(&err))).await,
    }
}

async fn confirmation<A>(ctx: &Ctx<A>, id: &str, refusal: Option<&Refusal>) -> Response {
    let found = match integration_id(id) {
        Ok(id) => ctx.pi().get(&ctx.actor, &id).await,
        Err(err) => Err(err),
    };
    match found {
        Ok(integration) => {
            let status = refusal.map_or(StatusCode::OK, |r| r.status);
            html(status, render(&ctx.site, &integration, refusal))
        }
        Err(err) => refused(&ctx.site, TITLE, &err),
    }
}
