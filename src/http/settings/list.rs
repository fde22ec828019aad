//! `GET /`: the account's integrations.

use axum::http::StatusCode;
use axum::response::Response;

use super::views::list::{ListView, render};
use super::web::{Ctx, Query, done, html, refused};

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let integrations = match pi.list(actor).await {
        Ok(integrations) => integrations,
        Err(err) => return refused(&ctx.site, "Private Integrations", &err),
    };
    let due = pi.rotation_due(actor).await.unwrap_or_default();
    let view = ListView {
        integrations: &integrations,
        due: &due,
        done: done(&query),
    };
    html(StatusCode::OK, render(&ctx.site, &view))
}
