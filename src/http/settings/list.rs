//! `GET /`: the account's integrations, newest first, a page at a time (`?cursor=` the
//! next page), searched by name (`?q=`) and filtered by state (`?state=`), with their
//! total.

use axum::http::StatusCode;
use axum::response::Response;

use super::views::list::{Filter, ListView, render};
use super::web::{Ctx, Query, done, html, refused};
use crate::domain::leak::LeakPolicy;
use crate::domain::listing::{IntegrationQuery, IntegrationState};
use crate::error::{Error, InvalidInput};

const TITLE: &str = "Private Integrations";

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let search = query.get("q").trim();
    let state = query.get("state");
    let listing = match ctx.site.config.page(&query) {
        Ok(request) => match list_query(request, search, state) {
            Ok(listing) => pi.list_query(actor, listing).await,
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    let page = match listing {
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
    // Leaked: a revoked token shows on the record; a token left live by a policy that
    // only notifies is found in each integration's reports.
    let mut leaked = Vec::with_capacity(page.items.len());
    for integration in &page.items {
        let live_leak = match pi.leak_policy() {
            LeakPolicy::Revoke => false,
            LeakPolicy::NotifyOnly => pi
                .leaks(actor, integration.id())
                .await
                .is_ok_and(|leaks| leaks.iter().any(|leak| leak.current)),
        };
        leaked.push(integration.token_revoked_at().is_some() || live_leak);
    }
    let filter = Filter {
        search,
        state: IntegrationState::parse(state),
    };
    let more = page
        .next
        .as_ref()
        .map(|next| ctx.site.url(&filter.query(Some(next.as_str()))));
    let view = ListView {
        integrations: &page.items,
        due: &due,
        leaked: &leaked,
        done: done(&query),
        more,
        later_page: !query.get("cursor").is_empty(),
        total: page.total.unwrap_or_default(),
        filter,
        last_used: pi.records_last_used(),
    };
    html(StatusCode::OK, render(&ctx.site, &view))
}

/// The query of the list: newest first, the search text and the state as the form sent
/// them (an empty one is none).
fn list_query(
    page: crate::domain::page::PageRequest,
    search: &str,
    state: &str,
) -> Result<IntegrationQuery, Error> {
    let mut query = IntegrationQuery::new().newest_first().page(page);
    if !search.is_empty() {
        query = query.name_contains(search);
    }
    if !state.is_empty() {
        let state =
            IntegrationState::parse(state).ok_or(Error::InvalidInput(InvalidInput::Malformed {
                field: "state",
            }))?;
        query = query.state(state);
    }
    Ok(query)
}
