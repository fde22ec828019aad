//! The page's assets, embedded in the crate: a stylesheet, the script of the copy button
//! and the menus, and the page's icon (so that browsers ask for no `/favicon.ico`).
//!
//! The pages link each asset with `?v=<version>`, the first hex digits of the SHA-256 of
//! its content. Asked for with that version, an asset is `immutable` for a year (a new
//! release changes the URL); asked for otherwise, it must be revalidated (`no-cache`,
//! with an `ETag`).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::web::{Fields, Query};

/// One embedded file.
pub(super) struct Asset {
    pub(super) name: &'static str,
    content_type: &'static str,
    body: &'static str,
    version: LazyLock<String>,
}

impl Asset {
    /// The version of the content, as in the URL the pages use.
    pub(super) fn version(&self) -> &str {
        &self.version
    }
}

fn version_of(body: &str) -> String {
    Sha256::digest(body.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) static CSS: Asset = Asset {
    name: "settings.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("assets/settings.css"),
    version: LazyLock::new(|| version_of(include_str!("assets/settings.css"))),
};

pub(super) static JS: Asset = Asset {
    name: "settings.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/settings.js"),
    version: LazyLock::new(|| version_of(include_str!("assets/settings.js"))),
};

pub(super) static ICON: Asset = Asset {
    name: "favicon.svg",
    content_type: "image/svg+xml",
    body: include_str!("assets/favicon.svg"),
    version: LazyLock::new(|| version_of(include_str!("assets/favicon.svg"))),
};

/// Cache rules by kind of asset: every kind is versioned in its URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// `GET /assets/{file}`.
pub(super) async fn serve(
    Path(file): Path<String>,
    Query(query): Query,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = [&CSS, &JS, &ICON].into_iter().find(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", asset.version());
    let cache = cache_control(asset, &query);
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let etag = HeaderValue::try_from(etag).unwrap_or(HeaderValue::from_static("\"\""));
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (ETAG, etag),
                (CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
        )
            .into_response();
    }
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
            (ETAG, etag),
        ],
        asset.body,
    )
        .into_response()
}

fn cache_control(asset: &Asset, query: &Fields) -> &'static str {
    if query.get("v") == asset.version() {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}
