//! `GET /{id}`: one integration. `POST /{id}/rotation/cancel` ("Cancel rotation") and
//! `POST /{id}/rotation/expire` ("Expire now").

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::refusal::Refusal;
use super::views::integration::{IntegrationView, render};
use super::web::{Ctx, Query, done, html, integration_id, refused, see_other};
use crate::error::Error;

const TITLE: &str = "Private Integration";

pub(super) async fn show<A>(ctx: Ctx<A>, Path(id): Path<String>, Query(query): Query) -> Response {
    page(&ctx, &id, done(&query), None).await
}

pub(super) async fn cancel<A>(ctx: Ctx<A>, Path(id): Path<String>) -> Response {
    let result = match integration_id(&id) {
        Ok(parsed) => ctx
            .pi()
            .cancel_rotation(&ctx.actor, &parsed)
            .await
            .map(drop),
        Err(err) => Err(err),
    };
    after(&ctx, &id, result, "cancelled").await
}

pub(super) async fn expire<A>(ctx: Ctx<A>, Path(id): Path<String>) -> Response {
    let result = match integration_id(&id) {
        Ok(parsed) => ctx
            .pi()
            .expire_previous_now(&ctx.actor, &parsed)
            .await
            .map(drop),
        Err(err) => Err(err),
    };
    after(&ctx, &id, result, "expired").await
}

/// Back to the integration with a notice, or the integration with the refusal.
async fn after<A>(ctx: &Ctx<A>, id: &str, result: Result<(), Error>, notice: &str) -> Response {
    match result {
        Ok(()) => see_other(ctx.site.url(&format!("/{id}?done={notice}"))),
        Err(err) => page(ctx, id, None, Some(&Refusal::from(&err))).await,
    }
}

/// The integration's page, with a notice or a refusal.
async fn page<A>(
    ctx: &Ctx<A>,
    id: &str,
    done: Option<&'static str>,
    refusal: Option<&Refusal>,
) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let integration = match integration_id(id) {
        Ok(id) => pi.get(actor, &id).await,
        Err(err) => Err(err),
    };
    let integration = match integration {
        Ok(integration) => integration,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    let due = integration.rotation_due(pi.now(), pi.rotation_interval());
    let view = IntegrationView {
        integration: &integration,
        due,
        done,
        refusal,
    };
    let status = refusal.map_or(StatusCode::OK, |r| r.status);
    html(status, render(&ctx.site, &view))
}
