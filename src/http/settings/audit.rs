//! `GET /audit-log`: the audit log, newest first, a page at a time (`?after=` the cursor
//! of the page, `?integration=` one integration's events).

use axum::http::StatusCode;
use axum::response::Response;

use super::seams;
use super::views::audit::{AuditView, render};
use super::web::{Ctx, Query, html, integration_id, refused};

const TITLE: &str = "Audit log";

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let filter = match query.get("integration") {
        "" => None,
        raw => match integration_id(raw) {
            Ok(id) => Some(id),
            Err(err) => return refused(&ctx.site, TITLE, &err),
        },
    };
    let cursor = Some(query.get("after")).filter(|c| !c.is_empty());
    let limit = ctx.site.config.page_size;
    let page = match seams::audit_page(pi, actor, filter.as_ref(), cursor, limit).await {
        Ok(page) => page,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    // Only to name the integrations that still exist; the log shows ids without it.
    let integrations = pi.list(actor).await.unwrap_or_default();
    let older = page.next.as_deref().map(|next| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(id) = &filter {
            query.append_pair("integration", id.as_str());
        }
        query.append_pair("after", next);
        ctx.site.url(&format!("/audit-log?{}", query.finish()))
    });
    let view = AuditView {
        events: &page.events,
        integrations: &integrations,
        filter: filter.as_ref(),
        older,
        later_page: cursor.is_some(),
    };
    html(StatusCode::OK, render(&ctx.site, &view))
}
