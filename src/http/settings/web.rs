//! The plumbing every screen shares: the page's configuration, the request context (who
//! acts, where the page is mounted), forms, HTML responses and the headers on all of them.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, RequestPartsExt};
use maud::Markup;
use tower_http::csrf::ProtectionError;
use tower_layer::Layer;
use tower_service::Service;

use super::{SettingsPage, TeamDirectory};
use crate::domain::access::Actor;
use crate::domain::page::{Cursor, PageRequest};
use crate::domain::scope::ScopeCatalog;
use crate::error::Error;
use crate::http::CsrfLayer;
use crate::service::PrivateIntegrations;

/// The largest form body read: a description of 1000 characters and every scope of a
/// full catalog fit many times over.
pub(super) const MAX_FORM_BYTES: usize = 64 * 1024;

/// The page's configuration, shared by every request.
pub(super) struct Config {
    pub(super) pi: PrivateIntegrations,
    pub(super) team: Option<Arc<dyn TeamDirectory>>,
    pub(super) stylesheet: Option<String>,
    pub(super) settings_link: Option<String>,
    pub(super) page_size: usize,
    pub(super) csrf: CsrfLayer,
}

impl From<SettingsPage> for Config {
    fn from(page: SettingsPage) -> Self {
        Self {
            pi: page.pi,
            team: page.team,
            stylesheet: page.stylesheet,
            settings_link: page.settings_link,
            page_size: page.page_size,
            csrf: page.csrf,
        }
    }
}

impl Config {
    /// The page of a list that `query` asks for (`?cursor=`), `page_size` items long.
    pub(super) fn page(&self, query: &Fields) -> Result<PageRequest, Error> {
        let request = PageRequest::new().limit(self.page_size);
        match query.get("cursor") {
            "" => Ok(request),
            text => Ok(request.after(Cursor::parse(text)?)),
        }
    }
}

/// What the layout of every screen needs: where the page is mounted, whether to show the
/// admins' tabs, and the host's options.
pub(super) struct Site {
    /// The mount point, without a trailing slash (`""` at the root).
    base: String,
    pub(super) admin: bool,
    pub(super) config: Arc<Config>,
}

impl Site {
    /// The URL of a path of the page (`""` for the list, `"/new"`, `"?done=…"`, …).
    pub(super) fn url(&self, path: &str) -> String {
        if self.base.is_empty() && !path.starts_with('/') {
            format!("/{path}")
        } else {
            format!("{}{path}", self.base)
        }
    }
}

/// A request of the page: the acting user (through the host's login `A`) and the site.
pub(super) struct Ctx<A> {
    pub(super) actor: Actor,
    pub(super) site: Site,
    _login: PhantomData<fn() -> A>,
}

impl<A> Ctx<A> {
    pub(super) fn pi(&self) -> &PrivateIntegrations {
        &self.site.config.pi
    }
}

impl<A, S> FromRequestParts<S> for Ctx<A>
where
    A: FromRequestParts<S> + Into<Actor>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        // The host's login first: an unauthenticated request learns nothing else.
        let actor: Actor = match A::from_request_parts(parts, state).await {
            Ok(login) => login.into(),
            Err(rejection) => return Err(rejection.into_response()),
        };
        let Extension(config) = parts
            .extract::<Extension<Arc<Config>>>()
            .await
            .map_err(IntoResponse::into_response)?;
        let base = base_path(&parts.uri, &parts.extensions);
        Ok(Ctx {
            site: Site {
                base,
                admin: actor.is_admin(),
                config,
            },
            actor,
            _login: PhantomData,
        })
    }
}

/// Where the page is mounted: the path the request came in on, less the part the page's
/// router matched. Works under `nest` at a static path or one with parameters.
fn base_path(uri: &Uri, extensions: &Extensions) -> String {
    let inner = uri.path();
    let Some(OriginalUri(original)) = extensions.get::<OriginalUri>() else {
        return String::new();
    };
    let outer = original.path();
    let base = if inner == "/" {
        outer.strip_suffix('/').unwrap_or(outer)
    } else {
        outer.strip_suffix(inner).unwrap_or("")
    };
    base.to_owned()
}

/// The fields of a form or a query string, in order; a key may repeat (checkboxes).
#[derive(Debug, Default)]
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    pub(super) fn parse(encoded: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(encoded)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, or `""`.
    pub(super) fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether the form has a field `key` at all (even empty).
    pub(super) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The values of `key` that are scopes of `catalog`, once each, in the catalog's
    /// order: what a form may show back. Any other value (a typo, a pasted secret) is
    /// left out, never rendered.
    pub(super) fn scopes(&self, key: &str, catalog: ScopeCatalog) -> Vec<&'static str> {
        catalog
            .iter()
            .filter(|scope| self.0.iter().any(|(k, v)| k == key && v == scope))
            .collect()
    }

    /// Every value of `key`, in order.
    pub(super) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The query string of the request.
pub(super) struct Query(pub(super) Fields);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query(Fields::parse(
            parts.uri.query().unwrap_or("").as_bytes(),
        )))
    }
}

/// An HTML form body (`application/x-www-form-urlencoded`).
pub(super) struct Form(pub(super) Fields);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let form_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the form as application/x-www-form-urlencoded",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Form(Fields::parse(&bytes)))
    }
}

/// The one-time key a form carries (see `views::once`), if it carries a well-formed
/// one. A form without one (a page rendered before keys existed) is sent without a key.
pub(super) fn once_key(form: &Fields) -> Option<crate::domain::idempotency::IdempotencyKey> {
    crate::domain::idempotency::IdempotencyKey::new(form.get("once")).ok()
}

/// The page for a form sent a second time: nothing was done again; what the first
/// submission did, and when.
pub(super) fn already_done(
    site: &Site,
    first: &crate::domain::idempotency::AlreadyDone,
) -> Response {
    html(StatusCode::OK, super::views::again::render(site, first))
}

/// A rendered screen.
pub(super) fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A short plain-text refusal, for requests no form of the page sends.
pub(super) fn plain(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// After a change: back to a screen, with a notice of what was done (`?done=…`, one of a
/// fixed list; never a user's text or a token).
pub(super) fn see_other(url: String) -> Response {
    match HeaderValue::try_from(url) {
        Ok(location) => (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response(),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "bad redirect"),
    }
}

/// What the page says when it refuses a request another site sent.
const CROSS_SITE: &str = "Your browser sent this change from another site, so it was refused \
and nothing was changed. To make the change, open Private Integrations and make it there.";

/// Cross-site requests: the page's [`CsrfLayer`] ([`SettingsPage::csrf`]), before the
/// host's login and the handlers run. Its trusted origins are kept; its refusal is a screen
/// of the page (`403`), set with `with_rejection_response`. The screen links the page's
/// stylesheet and list, which need where the page is mounted: so the layer is put around
/// the rest of this request here, where the request is known (a clone of the layer is a
/// few reference counts).
pub(super) async fn cross_site(request: Request, next: Next) -> Response {
    let Some(config) = request.extensions().get::<Arc<Config>>().cloned() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page is not configured",
        );
    };
    let base = base_path(request.uri(), request.extensions());
    let page = Arc::clone(&config);
    let refuse = move |refusal: ProtectionError| {
        tracing::debug!(%refusal, "refused a cross-site request to the settings page");
        let site = Site {
            base: base.clone(),
            // Who sent it is not asked: the host's login does not run for it.
            admin: false,
            config: Arc::clone(&page),
        };
        refused_with(&site, "Change refused", StatusCode::FORBIDDEN, CROSS_SITE)
    };
    let mut guarded = config
        .csrf
        .clone()
        .with_rejection_response(refuse)
        .layer(next);
    // `Next` is always ready and never fails.
    if let Err(never) = std::future::poll_fn(|cx| guarded.poll_ready(cx)).await {
        match never {}
    }
    match guarded.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The page's `Content-Security-Policy`: scripts and styles of the page's own origin
/// only (there is no inline script or style), no framing.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers of every response of the page. Pages are never stored by a cache (some
/// show a token); assets set their own `Cache-Control`.
pub(super) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, CONTENT_SECURITY_POLICY, CSP);
    set(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, X_FRAME_OPTIONS, "DENY");
    set(headers, REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if !headers.contains_key(CACHE_CONTROL) {
        set(headers, CACHE_CONTROL, "no-store");
    }
    response
}

/// What the page says at a path it does not have.
const NO_SUCH_PAGE: &str = "There is no such page in Private Integrations.";

/// Any path the page does not have, with any method. A path with a trailing slash (the
/// mount point itself as `…/private-integrations/`, say) is sent to the path without it,
/// query kept (`308`); anything else is a screen saying there is no such page (`404`).
/// Either way the answer has the page's headers ([`security_headers`] is around this
/// fallback too). Nothing is read or shown of the user: the host's login does not run.
pub(super) async fn not_found(request: Request) -> Response {
    let Some(config) = request.extensions().get::<Arc<Config>>().cloned() else {
        return plain(StatusCode::NOT_FOUND, NO_SUCH_PAGE);
    };
    let outer = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |OriginalUri(uri)| uri.clone());
    let path = outer.path();
    let trimmed = path.trim_end_matches('/');
    // Never to `//host…` (another site) nor to an empty path.
    if trimmed.len() < path.len() && trimmed.starts_with('/') && !trimmed.starts_with("//") {
        let location = match outer.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(location) = HeaderValue::try_from(location) {
            return (StatusCode::PERMANENT_REDIRECT, [(LOCATION, location)]).into_response();
        }
    }
    let site = Site {
        base: base_path(request.uri(), request.extensions()),
        admin: false,
        config,
    };
    refused_with(&site, "Page not found", StatusCode::NOT_FOUND, NO_SUCH_PAGE)
}

/// A screen that only says why the page cannot go on.
pub(super) fn refused(site: &Site, title: &str, err: &crate::error::Error) -> Response {
    let refusal = super::refusal::Refusal::from(err);
    let labs = matches!(err, crate::error::Error::FeatureDisabled);
    html(
        refusal.status,
        super::views::message::render(site, title, &refusal, labs),
    )
}

/// A screen that only says `message`, with `status`.
pub(super) fn refused_with(
    site: &Site,
    title: &str,
    status: StatusCode,
    message: &'static str,
) -> Response {
    let refusal = super::refusal::Refusal::new(status, message);
    html(
        status,
        super::views::message::render(site, title, &refusal, false),
    )
}

/// The notice of `?done=…`: what the last change did. Only these fixed texts are shown.
pub(super) fn done(query: &Fields) -> Option<&'static str> {
    Some(match query.get("done") {
        "updated" => {
            "Private Integration updated. Its token did not change: the existing token \
             continues to work."
        }
        "cancelled" => {
            "Rotation cancelled. The new token no longer works; the old token keeps working."
        }
        "expired" => "The old token has expired. Only the new token works now.",
        "deleted" => "Private Integration deleted. Its tokens no longer work.",
        "saved" => "Permission saved.",
        "on" => "Private Integrations are switched on.",
        "off" => "Private Integrations are switched off. Tokens already issued keep working.",
        _ => return None,
    })
}

/// The integration id of the path. A malformed one cannot exist: "not found", without a
/// storage call.
pub(super) fn integration_id(
    raw: &str,
) -> Result<crate::domain::ids::IntegrationId, crate::error::Error> {
    crate::domain::ids::IntegrationId::parse(raw).map_err(|_| crate::error::Error::NotFound)
}
