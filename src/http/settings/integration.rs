//! `GET /{id}`: one integration. `POST /{id}/rotation/cancel` ("Cancel rotation") and
//! `POST /{id}/rotation/expire` ("Expire now").

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::audit::people;
use super::refusal::Refusal;
use super::views::integration::{IntegrationView, render};
use super::web::{
    Ctx, Form, Query, already_done, done, html, integration_id, once_key, refused, see_other,
};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::idempotency::Outcome;
use crate::domain::ids::IntegrationId;
use crate::domain::integration::Integration;
use crate::domain::page::{AuditLogQuery, PageRequest};
use crate::error::Error;

const TITLE: &str = "Private Integration";

/// How many of an integration's newest events are searched for its last edit.
const EDITS_SEARCHED: usize = 20;

pub(super) async fn show<A>(ctx: Ctx<A>, Path(id): Path<String>, Query(query): Query) -> Response {
    page(&ctx, &id, done(&query), None).await
}

pub(super) async fn cancel<A>(ctx: Ctx<A>, Path(id): Path<String>, Form(form): Form) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let result = match (integration_id(&id), once_key(&form)) {
        (Ok(parsed), Some(key)) => pi.once(actor, &key).cancel_rotation(&parsed).await,
        (Ok(parsed), None) => pi.cancel_rotation(actor, &parsed).await.map(Outcome::Done),
        (Err(err), _) => Err(err),
    };
    after(&ctx, &id, result, "cancelled").await
}

pub(super) async fn expire<A>(ctx: Ctx<A>, Path(id): Path<String>, Form(form): Form) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let result = match (integration_id(&id), once_key(&form)) {
        (Ok(parsed), Some(key)) => pi.once(actor, &key).expire_previous_now(&parsed).await,
        (Ok(parsed), None) => pi
            .expire_previous_now(actor, &parsed)
            .await
            .map(Outcome::Done),
        (Err(err), _) => Err(err),
    };
    after(&ctx, &id, result, "expired").await
}

/// Back to the integration with a notice, the page of a form sent twice, or the
/// integration with the refusal.
async fn after<A>(
    ctx: &Ctx<A>,
    id: &str,
    result: Result<Outcome<Integration>, Error>,
    notice: &str,
) -> Response {
    match result {
        Ok(Outcome::Done(_)) => see_other(ctx.site.url(&format!("/{id}?done={notice}"))),
        Ok(Outcome::AlreadyDone(first)) => already_done(&ctx.site, &first),
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
    let now = pi.now();
    let due = integration.rotation_due(now, pi.rotation_interval());
    let edited = last_edit(ctx, integration.id()).await;
    let people = match edited {
        Some(_) => people(ctx).await,
        None => Vec::new(),
    };
    // If the log cannot be read, a revoked token still shows its banner (without the
    // place); the page itself still shows.
    let leaks = match pi.leaks(&ctx.actor, integration.id()).await {
        Ok(leaks) => leaks,
        Err(_) => integration
            .token_revoked_at()
            .map(|at| vec![crate::domain::leak::Leak::unknown_place(at)])
            .unwrap_or_default(),
    };
    // If the counts cannot be read, the page shows without them, saying so.
    let usage = pi.usage(&ctx.actor, integration.id()).await.ok();
    let view = IntegrationView {
        integration: &integration,
        due,
        done,
        refusal,
        edited: edited.as_ref(),
        people: &people,
        leaks: &leaks,
        usage: usage.as_ref(),
        now,
    };
    let status = refusal.map_or(StatusCode::OK, |r| r.status);
    html(status, render(&ctx.site, &view))
}

/// The integration's last edit, its creation included: the newest of its events that is
/// not a leak report (a scanner's or an operator's report, not an edit), among its
/// [`EDITS_SEARCHED`] newest. `None` if there is none, or the log cannot be read: the
/// page is still worth showing without it.
async fn last_edit<A>(ctx: &Ctx<A>, id: &IntegrationId) -> Option<AuditEvent> {
    let query = AuditLogQuery::new()
        .integration(id.clone())
        .page(PageRequest::new().limit(EDITS_SEARCHED));
    let page = ctx.pi().audit_log_page(&ctx.actor, query).await.ok()?;
    page.items
        .into_iter()
        .find(|event| !matches!(event.action, AuditAction::TokenLeaked { .. }))
}
