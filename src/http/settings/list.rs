//! `GET /`: the account's integrations, newest first, a page at a time (`?cursor=` the
//! next page), searched by name (`?q=`) and filtered by state (`?state=`), with their
//! total.

use axum::http::StatusCode;
use axum::response::Response;
use time::{Duration, OffsetDateTime};

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
    // The old token still in use near the end of its window: from the records already
    // read (no read of the counts per row).
    let old_in_use: Vec<bool> = page
        .items
        .iter()
        .map(|i| {
            i.pending_rotation().is_some_and(|pending| {
                old_token_still_in_use(
                    now,
                    i.token_issued_at(),
                    pending.previous_expires_at(),
                    pending.previous_last_used_at(),
                )
            })
        })
        .collect();
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
        old_in_use: &old_in_use,
        now,
        done: done(&query),
        more,
        later_page: !query.get("cursor").is_empty(),
        total: page.total.unwrap_or_default(),
        filter,
        last_used: pi.records_last_used(),
    };
    html(StatusCode::OK, render(&ctx.site, &view))
}

/// Whether a rotation's old token is still in use near the end of its window, for the
/// list's mark "Old token still in use": the old token was used in the last 24 hours, and
/// the window (from `rotated_at`, when the new token was issued, to `expires_at`) ends
/// within the longer of 24 hours and a quarter of the window.
///
/// Why the longer of the two: a quarter of the window gives notice in proportion to the
/// window the service chose (the last 42 hours of the default 7 days, a week of 30
/// days), time enough to reach the third party's developer; 24 hours keeps a day's
/// notice when the window is short (a window of a day or less is marked all along while
/// the old token is in use). `last_used` is the record's `previous_last_used_at`, up to
/// one last-used interval late: the list reads no counts.
fn old_token_still_in_use(
    now: OffsetDateTime,
    rotated_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    last_used: Option<OffsetDateTime>,
) -> bool {
    let window: Duration = expires_at - rotated_at;
    let notice = (window / 4_i32).max(Duration::DAY);
    let used_lately = last_used.is_some_and(|at| now - at < Duration::DAY);
    used_lately && now < expires_at && expires_at - now <= notice
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_old_token_is_marked_when_used_lately_near_the_end_of_its_window() {
        let rotated = datetime!(2026-03-01 09:00 UTC);
        let week = rotated + Duration::days(7);
        let marked = |now: OffsetDateTime, ends: OffsetDateTime, used: Option<OffsetDateTime>| {
            old_token_still_in_use(now, rotated, ends, used)
        };
        // A 7-day window: marked in its last 42 hours (a quarter), if used in the last day.
        let at = |hours_left: i64| week - Duration::hours(hours_left);
        assert!(!marked(at(43), week, Some(at(43))));
        assert!(marked(at(42), week, Some(at(42))));
        assert!(marked(at(1), week, Some(at(24) + Duration::seconds(1))));
        assert!(!marked(at(1), week, Some(at(25))), "last used 24 hours ago");
        assert!(!marked(at(1), week, None), "never used");
        assert!(!marked(week, week, Some(week)), "the window is over");
        // A 2-day window: a quarter is 12 hours, so the last 24.
        let two = rotated + Duration::days(2);
        let used = Some(two - Duration::hours(30));
        assert!(!marked(two - Duration::hours(25), two, used));
        assert!(marked(two - Duration::hours(24), two, used));
        // A 30-day window: the last 7.5 days.
        let month = rotated + Duration::days(30);
        assert!(marked(
            month - Duration::hours(180),
            month,
            Some(month - Duration::hours(181))
        ));
        assert!(!marked(
            month - Duration::hours(181),
            month,
            Some(month - Duration::hours(181))
        ));
    }
}
