//! `GET /audit-log`: the audit log, newest first, a page at a time (`?cursor=` the next
//! page, `?integration=` one integration's events).

use axum::http::StatusCode;
use axum::response::Response;

use super::views::audit::{AuditView, Name, render};
use super::web::{Ctx, Query, html, integration_id, refused};
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::page::AuditLogQuery;
use crate::error::Error;

const TITLE: &str = "Audit log";

/// The team directory's names for the people of the actor's account, to show instead of
/// user ids ([`person`](super::views::audit::person)); empty without a directory, or if
/// it cannot be read: ids stand in, and the page is still worth showing.
pub(super) async fn people<A>(ctx: &Ctx<A>) -> Vec<(UserId, String)> {
    let Some(directory) = &ctx.site.config.team else {
        return Vec::new();
    };
    directory
        .members(ctx.actor.account())
        .await
        .map(|members| {
            members
                .iter()
                .map(|m| (m.user().clone(), m.name().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let filter = match query.get("integration") {
        "" => None,
        raw => match integration_id(raw) {
            Ok(id) => Some(id),
            Err(err) => return refused(&ctx.site, TITLE, &err),
        },
    };
    let page = match ctx.site.config.page(&query) {
        Ok(request) => {
            let mut log = AuditLogQuery::new().page(request);
            if let Some(id) = &filter {
                log = log.integration(id.clone());
            }
            pi.audit_log_page(actor, log).await
        }
        Err(err) => Err(err),
    };
    let page = match page {
        Ok(page) => page,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    // The names of the integrations this page shows (of the filter, if any): one read
    // each, never the account's whole list.
    let mut ids: Vec<&IntegrationId> = filter.iter().collect();
    for id in page.items.iter().filter_map(|e| e.integration.as_ref()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    // Not found: deleted if the account's log has its events; otherwise (an id of another
    // account's, or of nobody's) unknown, the same either way.
    let later_page = !query.get("cursor").is_empty();
    let logged = |id: &IntegrationId| {
        later_page
            || page
                .items
                .iter()
                .any(|e| e.integration.as_ref() == Some(id))
    };
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        let name = match pi.get(actor, id).await {
            Ok(integration) => Name::Is(integration.name().to_owned()),
            Err(Error::NotFound) if logged(id) => Name::Deleted,
            Err(Error::NotFound) => Name::Unknown,
            // The log is still worth showing: the id stands in for the name.
            Err(_) => Name::Unread,
        };
        names.push((id.clone(), name));
    }
    let older = page.next.as_ref().map(|next| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(id) = &filter {
            query.append_pair("integration", id.as_str());
        }
        query.append_pair("cursor", next.as_str());
        ctx.site.url(&format!("/audit-log?{}", query.finish()))
    });
    let people = people(&ctx).await;
    let view = AuditView {
        events: &page.items,
        names: &names,
        filter: filter.as_ref(),
        older,
        later_page,
        people: &people,
    };
    html(StatusCode::OK, render(&ctx.site, &view))
}
