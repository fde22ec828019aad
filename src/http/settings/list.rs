//! `GET /`: the account's integrations, a page at a time (`?cursor=` the next page).

use axum::http::StatusCode;
use axum::response::Response;

use super::views::list::{ListView, render};
use super::web::{Ctx, Query, done, html, refused};

const TITLE: &str = "Private Integrations";

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let page = match ctx.site.config.page(&query) {
        Ok(request) => pi.list_page(actor, request).await,
        Err(err) => Err(err),
    };
    let page = match page {
        Ok(page) => page,
        Err(err) => return refused(&ctx.site, TITLE, &err),
    };
    // Due for rotation: the service's rule, on the integrations already read.
    let (now, interval) = (pi.now(), pi.rotation_interval());
    let due: Vec<bool> = page
        .items
        .iter()
        .map(|i| i.rotation_due(now, interval))
        .collect();
    let more = page.next.as_ref().map(|next| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("cursor", next.as_str());
        ctx.site.url(&format!("?{}", query.finish()))
    });
    let view = ListView {
        integrations: &page.items,
        due: &due,
        done: done(&query),
        more,
        later_page: !query.get("cursor").is_empty(),
    };
    html(StatusCode::OK, render(&ctx.site, &view))
}
