//! A stand-in for the crate's shared cross-site request forgery layer: the least that keeps
//! the page's forms from being posted by another site, until that layer replaces this
//! file (one line in [`SettingsPage::router`](super::SettingsPage::router)).
//!
//! Rules, for unsafe methods only (`GET`, `HEAD` and `OPTIONS` pass):
//! 1. `Sec-Fetch-Site` present: only `same-origin` and `none` (typed by the user) pass.
//! 2. Otherwise `Origin` present: it must name the request's own `Host`.
//! 3. Neither header (an old browser, or no browser): passes; the session cookie's
//!    `SameSite` is the host's line of defence there.

use axum::extract::Request;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::web::plain;

pub(super) async fn same_origin(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || is_same_origin(&request)
    {
        next.run(request).await
    } else {
        plain(
            StatusCode::FORBIDDEN,
            "cross-site request refused: submit the form from the settings page itself",
        )
    }
}

fn is_same_origin(request: &Request) -> bool {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (header(ORIGIN.as_str()), header(HOST.as_str())) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}
