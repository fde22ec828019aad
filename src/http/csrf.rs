//! [`CsrfLayer`]: a tower layer that refuses state-changing requests a browser sent from
//! another site (cross-site request forgery).
//!
//! A logged-in admin's browser sends the host's session cookie with every request to the
//! host, whichever page made it: a plain `<form method="post">` on any site can make it
//! post to the admin API. Browsers say where a request comes from, in headers no page
//! can set (the Fetch standard's forbidden headers): `Sec-Fetch-Site` (every current
//! browser) and `Origin`. The layer reads them, with the rules of current practice
//! (Go 1.25's `CrossOriginProtection`, tower-http's `csrf`), and needs no token, cookie
//! or state.
//!
//! # The rules
//!
//! In this order; the first that applies decides.
//!
//! 1. `GET`, `HEAD` and `OPTIONS` pass: they change nothing (the admin API has no
//!    state-changing read), and a browser does not let another site read the answer.
//! 2. More than one `Origin` or `Sec-Fetch-Site` header: refused
//!    ([`CsrfRefusal::AmbiguousHeaders`]). A browser sends one of each; two are a
//!    forgery or a confused proxy, and nothing says which one to believe.
//! 3. An `Origin` that the host trusts ([`CsrfLayer::trust_origin`]) passes, whatever
//!    `Sec-Fetch-Site` says: the host's own admin pages served from another origin.
//! 4. `Sec-Fetch-Site: same-origin` (the host's own pages) or `none` (typed by the user,
//!    a bookmark) passes. Any other value is refused ([`CsrfRefusal::CrossSite`]):
//!    `cross-site`, and also `same-site`, since a sibling subdomain (user content,
//!    a forgotten marketing site) is another origin that the admin API need not trust.
//! 5. Neither `Sec-Fetch-Site` nor `Origin`: passes. No browser of this decade sends a
//!    state-changing request without either, so this is a client that is no browser
//!    (curl, a script, another server): it holds the admin's credentials itself, and
//!    there is no one to forge anything against.
//! 6. No `Sec-Fetch-Site`, but an `Origin` (a browser older than 2023): passes only if
//!    the origin is the request's own, `http` or `https` with the host and port of the
//!    `Host` header (or, without one, of the request URI); the port of an origin or host
//!    without one is its scheme's default. Anything else is refused
//!    ([`CsrfRefusal::ForeignOrigin`]): another host or port, `Origin: null` (a
//!    sandboxed frame, a `data:` URL, a redirect across sites), a malformed value.
//!
//! Host names compare without regard to ASCII case. `Host` carries no scheme, so an
//! `http` page of the same host and port is not told apart from an `https` one (use
//! HSTS). A reverse proxy must pass `Host` and `Origin` on unchanged, or rule 6 refuses
//! old browsers' same-origin requests (current browsers are decided by rule 4).
//!
//! A refusal never reaches the inner service: the answer is `403` with the admin API's
//! JSON error, `{"error": "cross_site_request", "message": …}`, and
//! `Cache-Control: no-store`; the message never repeats a header value. A host may
//! answer otherwise (an HTML page, say) with [`CsrfLayer::on_refusal`].
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::post};
//! use private_integrations::http::CsrfLayer;
//!
//! let app: Router = Router::new()
//!     .route("/settings/save", post(|| async { "saved" }))
//!     .layer(CsrfLayer::new().trust_origin("https://admin.example.com")?);
//! # let _ = app;
//! # Ok::<(), private_integrations::Error>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::header::{CACHE_CONTROL, HOST, ORIGIN};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, InvalidInput};

/// `Sec-Fetch-Site`, which `http` does not name.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Why [`CsrfLayer`] refused a request. Its `Display` is the message of the refusal,
/// and never repeats a header value.
///
/// # Example
///
/// ```
/// use axum::http::Request;
/// use private_integrations::http::{CsrfLayer, CsrfRefusal};
///
/// let forged = Request::post("/admin/feature")
///     .header("origin", "https://evil.example")
///     .header("sec-fetch-site", "cross-site")
///     .body(())
///     .unwrap();
/// assert_eq!(CsrfLayer::new().check(&forged), Err(CsrfRefusal::CrossSite));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub enum CsrfRefusal {
    /// `Sec-Fetch-Site` says another site, or a sibling of this one, sent the request
    /// (rule 4), and its `Origin` is not trusted.
    CrossSite,
    /// No `Sec-Fetch-Site`, and the `Origin` is neither the request's own nor trusted,
    /// or is `null` or malformed (rule 6).
    ForeignOrigin,
    /// More than one `Origin` or `Sec-Fetch-Site` header (rule 2).
    AmbiguousHeaders,
}

impl fmt::Display for CsrfRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsrfRefusal::CrossSite => {
                "refused: a browser sent this change from another site; make it from the admin pages"
            }
            CsrfRefusal::ForeignOrigin => {
                "refused: a browser sent this change from another origin; make it from the admin pages"
            }
            CsrfRefusal::AmbiguousHeaders => {
                "refused: the request has more than one Origin or Sec-Fetch-Site header"
            }
        })
    }
}

impl std::error::Error for CsrfRefusal {}

impl IntoResponse for CsrfRefusal {
    /// `403` with `{"error": "cross_site_request", "message": …}` and
    /// `Cache-Control: no-store`.
    ///
    /// ```
    /// use axum::{http::StatusCode, response::IntoResponse};
    /// use private_integrations::http::CsrfRefusal;
    /// let response = CsrfRefusal::CrossSite.into_response();
    /// assert_eq!(response.status(), StatusCode::FORBIDDEN);
    /// assert_eq!(response.headers()["cache-control"], "no-store");
    /// ```
    fn into_response(self) -> Response {
        let mut response = super::admin::ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            self.to_string(),
        )
        .into_response();
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The scheme of an origin: only these two can be a page's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An origin, `scheme://host[:port]`, normalized: the host in lower case, the port
/// always there (the scheme's default if none was written).
#[derive(Clone, PartialEq, Eq)]
struct Origin {
    scheme: Scheme,
    host: Box<str>,
    port: u16,
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl Origin {
    /// An `Origin` header value as browsers send it: `http` or `https`, `://`, a host
    /// and perhaps a port; no user, path, query or fragment. `None` for anything else,
    /// `null` included.
    fn parse(text: &[u8]) -> Option<Origin> {
        let text = std::str::from_utf8(text).ok()?;
        let (scheme, rest) = text.split_once("://")?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else {
            return None;
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let authority: Authority = rest.parse().ok()?;
        let host = authority.host();
        if host.is_empty() {
            return None;
        }
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase().into(),
            port: port(&authority, scheme)?,
        })
    }

    /// Whether this origin is the host and port a request was sent to.
    fn is_at(&self, authority: &Authority) -> bool {
        self.host.eq_ignore_ascii_case(authority.host())
            && port(authority, self.scheme) == Some(self.port)
    }
}

/// The port of `authority`, or the scheme's default if it names none; `None` if what
/// follows the host is not a port number.
fn port(authority: &Authority, scheme: Scheme) -> Option<u16> {
    if authority.as_str().len() == authority.host().len() {
        Some(scheme.default_port())
    } else {
        authority.port_u16()
    }
}

/// A tower [`Layer`] that refuses state-changing requests a browser sent from another
/// site, and lets same-origin browser requests and non-browser clients through. See the
/// [module documentation](self) for the rules.
///
/// [`admin_router`](super::admin_router) applies one (with no trusted origin) to every
/// route; [`admin_router_with_csrf`](super::admin_router_with_csrf) takes one of the
/// host's. One layer can guard any router: the admin API, a settings page, the host's own
/// forms. Cheap to clone.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::put};
/// use private_integrations::http::CsrfLayer;
///
/// // The admin pages live at https://admin.example.com, the API on another origin.
/// let csrf = CsrfLayer::new().trust_origin("https://admin.example.com")?;
/// let app: Router = Router::new()
///     .route("/feature", put(|| async { "switched" }))
///     .layer(csrf);
/// # let _ = app;
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct CsrfLayer {
    trusted: Arc<[Origin]>,
    respond: fn(CsrfRefusal) -> Response,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CsrfLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfLayer")
            .field("trusted_origins", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl CsrfLayer {
    /// A layer that trusts no other origin, and answers a refusal with
    /// [`CsrfRefusal`]'s own response (`403`, JSON).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::http::Request;
    /// use private_integrations::http::CsrfLayer;
    /// let curl = Request::post("/admin/feature").body(()).unwrap();
    /// assert_eq!(CsrfLayer::new().check(&curl), Ok(()));
    /// ```
    pub fn new() -> Self {
        Self {
            trusted: Arc::from([]),
            respond: IntoResponse::into_response,
        }
    }

    /// Also lets through requests whose `Origin` is `origin`, whatever `Sec-Fetch-Site`
    /// says: the host's own pages served from another origin (an admin console on its
    /// own subdomain, say). Trust only origins whose every page the host controls.
    ///
    /// `origin` is written as browsers send it, `scheme://host[:port]`, with `http` or
    /// `https`; it is compared normalized, so case and an explicit default port
    /// (`https://Admin.Example.com:443`) do not matter. Internationalized host names
    /// must be given in their ASCII (punycode) form, as browsers send them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] ([`InvalidInput::Malformed`], field `trusted origin`) for
    /// anything else: another scheme, a path (even `/`), a query, a user, `null`.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::http::Request;
    /// use private_integrations::http::CsrfLayer;
    ///
    /// let csrf = CsrfLayer::new().trust_origin("https://admin.example.com")?;
    /// let console = Request::post("https://api.example.com/admin/feature")
    ///     .header("origin", "https://admin.example.com")
    ///     .header("sec-fetch-site", "same-site")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(csrf.check(&console), Ok(()));
    /// assert!(CsrfLayer::new().trust_origin("https://admin.example.com/").is_err());
    /// assert!(CsrfLayer::new().trust_origin("null").is_err());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn trust_origin(mut self, origin: &str) -> Result<Self, Error> {
        let origin = Origin::parse(origin.as_bytes()).ok_or(InvalidInput::Malformed {
            field: "trusted origin",
        })?;
        let mut trusted = self.trusted.to_vec();
        if !trusted.contains(&origin) {
            trusted.push(origin);
        }
        self.trusted = trusted.into();
        Ok(self)
    }

    /// Answers refused requests with `respond` instead of [`CsrfRefusal`]'s own JSON
    /// response: an HTML page for a settings page, say. `respond` should keep the status
    /// `403` and must not repeat request headers.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{http::StatusCode, response::{Html, IntoResponse, Response}};
    /// use private_integrations::http::{CsrfLayer, CsrfRefusal};
    ///
    /// fn page(_: CsrfRefusal) -> Response {
    ///     (StatusCode::FORBIDDEN, Html("<h1>Please use the settings page</h1>")).into_response()
    /// }
    /// let csrf = CsrfLayer::new().on_refusal(page);
    /// # let _ = csrf;
    /// ```
    pub fn on_refusal(mut self, respond: fn(CsrfRefusal) -> Response) -> Self {
        self.respond = respond;
        self
    }

    /// Applies the rules (see the [module documentation](self)) to a request: `Ok` if it
    /// may go on. For a handler or a middleware of the host's own that needs the same
    /// decision.
    ///
    /// # Errors
    ///
    /// The [`CsrfRefusal`] that says which rule refused it.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::http::Request;
    /// use private_integrations::http::{CsrfLayer, CsrfRefusal};
    ///
    /// let csrf = CsrfLayer::new();
    /// let own = Request::post("/admin/feature")
    ///     .header("host", "admin.example.com")
    ///     .header("origin", "https://admin.example.com")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(csrf.check(&own), Ok(()));
    /// let sandboxed = Request::post("/admin/feature")
    ///     .header("host", "admin.example.com")
    ///     .header("origin", "null")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(csrf.check(&sandboxed), Err(CsrfRefusal::ForeignOrigin));
    /// ```
    pub fn check<B>(&self, request: &Request<B>) -> Result<(), CsrfRefusal> {
        if matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        ) {
            return Ok(());
        }
        let headers = request.headers();
        let origin = single(headers, &ORIGIN)?;
        let site = single(headers, &SEC_FETCH_SITE)?;
        let origin = origin.map(|value| Origin::parse(value.as_bytes()));
        if let Some(Some(origin)) = &origin
            && self.trusted.contains(origin)
        {
            return Ok(());
        }
        match site.map(HeaderValue::as_bytes) {
            // The Fetch standard writes the values in lower case; so does every browser.
            Some(b"same-origin" | b"none") => Ok(()),
            Some(_) => Err(CsrfRefusal::CrossSite),
            None => match origin {
                None => Ok(()),
                Some(Some(origin)) if own_authority(request).is_some_and(|a| origin.is_at(&a)) => {
                    Ok(())
                }
                Some(_) => Err(CsrfRefusal::ForeignOrigin),
            },
        }
    }
}

/// The one value of a header, if any; two or more are [`CsrfRefusal::AmbiguousHeaders`].
fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h HeaderValue>, CsrfRefusal> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(CsrfRefusal::AmbiguousHeaders);
    }
    Ok(first)
}

/// Where the request was sent: its one `Host` header, or else the authority of its URI
/// (HTTP/2's `:authority`).
fn own_authority<B>(request: &Request<B>) -> Option<Authority> {
    let mut hosts = request.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok()?.parse().ok(),
        (Some(_), Some(_)) => None,
        (None, _) => request.uri().authority().cloned(),
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`CsrfLayer`] around an inner service: refused requests never
/// reach it.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::post};
/// use private_integrations::http::{CsrfLayer, CsrfService};
/// use tower_layer::Layer;
///
/// let inner = Router::new().route("/", post(|| async { "ok" }));
/// let service: CsrfService<Router> = CsrfLayer::new().layer(inner);
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct CsrfService<S> {
    inner: S,
    layer: CsrfLayer,
}

impl<S, B> Service<Request<B>> for CsrfService<S>
where
    S: Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.layer.check(&request) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(refusal) => {
                tracing::debug!(
                    method = %request.method(),
                    path = request.uri().path(),
                    %refusal,
                    "refused a cross-site request"
                );
                let response = (self.layer.respond)(refusal);
                Box::pin(std::future::ready(Ok(response)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request<()> {
        let mut request = Request::builder()
            .method(method)
            .uri("/admin/integrations/AbCdEfGh12345678/rotation/cancel");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap()
    }

    fn check(
        layer: &CsrfLayer,
        method: Method,
        headers: &[(&str, &str)],
    ) -> Result<(), CsrfRefusal> {
        layer.check(&request(method, headers))
    }

    const HOST_HEADER: (&str, &str) = ("host", "admin.example.com");

    #[test]
    fn rule_1_safe_methods_pass_whatever_the_headers() {
        let forged = [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert_eq!(check(&CsrfLayer::new(), method, &forged), Ok(()));
        }
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::TRACE,
            Method::from_bytes(b"PURGE").unwrap(),
        ] {
            assert_eq!(
                check(&CsrfLayer::new(), method.clone(), &forged),
                Err(CsrfRefusal::CrossSite),
                "{method}"
            );
        }
    }

    #[test]
    fn rule_2_duplicated_headers_are_refused() {
        let layer = CsrfLayer::new()
            .trust_origin("https://admin.example.com")
            .unwrap();
        let cases: [&[(&str, &str)]; 3] = [
            &[
                ("origin", "https://admin.example.com"),
                ("origin", "https://evil.example"),
            ],
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "cross-site"),
            ],
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "same-origin"),
            ],
        ];
        for headers in cases {
            assert_eq!(
                check(&layer, Method::POST, headers),
                Err(CsrfRefusal::AmbiguousHeaders),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn rule_3_trusted_origins_pass_whatever_sec_fetch_site_says() {
        let layer = CsrfLayer::new()
            .trust_origin("https://Admin.Example.com:443")
            .unwrap()
            .trust_origin("http://localhost:8080")
            .unwrap();
        for (origin, site) in [
            ("https://admin.example.com", "same-site"),
            ("https://ADMIN.example.com", "cross-site"),
            ("https://admin.example.com:443", "cross-site"),
            ("http://localhost:8080", "cross-site"),
        ] {
            let headers = [("origin", origin), ("sec-fetch-site", site)];
            assert_eq!(check(&layer, Method::POST, &headers), Ok(()), "{origin}");
            assert_eq!(
                check(&layer, Method::POST, &headers[..1]),
                Ok(()),
                "{origin}"
            );
        }
        for origin in [
            "https://admin.example.com:8443",
            "http://admin.example.com",
            "https://evil.example",
            "https://admin.example.com.evil.example",
            "http://localhost",
        ] {
            let headers = [("origin", origin), ("sec-fetch-site", "cross-site")];
            assert_eq!(
                check(&layer, Method::POST, &headers),
                Err(CsrfRefusal::CrossSite),
                "{origin}"
            );
        }
    }

    #[test]
    fn trusted_origins_must_be_origins() {
        for origin in [
            "https://admin.example.com",
            "http://127.0.0.1:3000",
            "https://[::1]:8443",
            "HTTPS://admin.example.com",
        ] {
            assert!(CsrfLayer::new().trust_origin(origin).is_ok(), "{origin}");
        }
        for origin in [
            "",
            "null",
            "admin.example.com",
            "https://",
            "https://admin.example.com/",
            "https://admin.example.com/admin",
            "https://admin.example.com?x",
            "https://admin.example.com#x",
            "https://user@admin.example.com",
            "ftp://admin.example.com",
            "file:///etc/passwd",
            "https://admin.example.com:99999",
            "https://ädmin.example.com",
            "https://admin example.com",
        ] {
            let err = CsrfLayer::new().trust_origin(origin).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidInput(InvalidInput::Malformed {
                        field: "trusted origin"
                    })
                ),
                "{origin:?}: {err:?}"
            );
        }
    }

    #[test]
    fn rule_4_sec_fetch_site_decides_for_current_browsers() {
        let layer = CsrfLayer::new();
        for site in ["same-origin", "none"] {
            // Even with an Origin that is not the host's: the browser says it is.
            let headers = [
                ("sec-fetch-site", site),
                ("origin", "https://elsewhere.example"),
            ];
            assert_eq!(check(&layer, Method::POST, &headers), Ok(()), "{site}");
        }
        for site in ["cross-site", "same-site", "Same-Origin", "", "anything"] {
            let headers = [
                HOST_HEADER,
                ("origin", "https://admin.example.com"),
                ("sec-fetch-site", site),
            ];
            assert_eq!(
                check(&layer, Method::POST, &headers),
                Err(CsrfRefusal::CrossSite),
                "{site:?}"
            );
            assert_eq!(
                check(&layer, Method::POST, &headers[2..]),
                Err(CsrfRefusal::CrossSite),
                "{site:?} without an Origin"
            );
        }
    }

    #[test]
    fn rule_5_clients_that_are_no_browser_pass() {
        let layer = CsrfLayer::new();
        assert_eq!(check(&layer, Method::POST, &[]), Ok(()));
        assert_eq!(check(&layer, Method::DELETE, &[HOST_HEADER]), Ok(()));
    }

    #[test]
    fn rule_6_without_sec_fetch_site_the_origin_must_be_the_requests_own() {
        let layer = CsrfLayer::new();
        let own = |host: &'static str, origin: &'static str| {
            check(&layer, Method::POST, &[("host", host), ("origin", origin)])
        };
        for (host, origin) in [
            ("admin.example.com", "https://admin.example.com"),
            ("admin.example.com", "http://admin.example.com"),
            ("Admin.Example.com", "https://admin.example.COM"),
            ("admin.example.com:443", "https://admin.example.com"),
            ("admin.example.com", "https://admin.example.com:443"),
            ("admin.example.com:8443", "https://admin.example.com:8443"),
            ("127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(own(host, origin), Ok(()), "{host} {origin}");
        }
        for (host, origin) in [
            ("admin.example.com", "https://evil.example"),
            (
                "admin.example.com",
                "https://admin.example.com.evil.example",
            ),
            ("admin.example.com", "https://sub.admin.example.com"),
            ("admin.example.com:8443", "https://admin.example.com:8444"),
            ("admin.example.com", "https://admin.example.com:8443"),
            ("admin.example.com:8443", "https://admin.example.com"),
            ("127.0.0.1:3000", "https://127.0.0.1"),
            ("admin.example.com", "null"),
            ("admin.example.com", ""),
            ("admin.example.com", "admin.example.com"),
            ("admin.example.com", "https://admin.example.com/"),
            ("admin.example.com", "https://x@admin.example.com"),
            ("admin.example.com", "file://admin.example.com"),
            ("admin.example.com", "https://admin.example.com:notaport"),
            ("not a host", "https://admin.example.com"),
        ] {
            assert_eq!(
                own(host, origin),
                Err(CsrfRefusal::ForeignOrigin),
                "{host} {origin}"
            );
        }
        // No Host header: the URI's authority (HTTP/2), or nothing to be the same as.
        let h2 = Request::post("https://admin.example.com/admin/feature")
            .header("origin", "https://admin.example.com")
            .body(())
            .unwrap();
        assert_eq!(layer.check(&h2), Ok(()));
        let nowhere = request(Method::POST, &[("origin", "https://admin.example.com")]);
        assert_eq!(layer.check(&nowhere), Err(CsrfRefusal::ForeignOrigin));
        // Two Host headers: nothing says which one the request was sent to.
        let two = request(
            Method::POST,
            &[
                HOST_HEADER,
                HOST_HEADER,
                ("origin", "https://admin.example.com"),
            ],
        );
        assert_eq!(layer.check(&two), Err(CsrfRefusal::ForeignOrigin));
        // A header value that is not UTF-8.
        let mut odd = request(Method::POST, &[HOST_HEADER]);
        odd.headers_mut().insert(
            ORIGIN,
            HeaderValue::from_bytes(b"https://\xffadmin").unwrap(),
        );
        assert_eq!(layer.check(&odd), Err(CsrfRefusal::ForeignOrigin));
    }

    /// The service: a refused request never reaches the inner service, and the answer is
    /// the admin API's JSON error, with nothing of the request in it.
    #[tokio::test]
    async fn refusals_never_reach_the_inner_service() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let reached = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&reached);
        let app = Router::new()
            .route(
                "/change",
                post(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { "changed" }
                }),
            )
            .layer(CsrfLayer::new());
        let forged = Request::post("/change")
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("enabled=false"))
            .unwrap();
        let response = app.clone().oneshot(forged).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "cross_site_request");
        assert!(!String::from_utf8_lossy(&body).contains("evil"), "{json}");
        assert_eq!(reached.load(Ordering::SeqCst), 0);

        let curl = Request::post("/change").body(Body::empty()).unwrap();
        let response = app.oneshot(curl).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(reached.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_host_can_answer_refusals_its_own_way() {
        fn page(refusal: CsrfRefusal) -> Response {
            (StatusCode::FORBIDDEN, format!("<p>{refusal:?}</p>")).into_response()
        }
        let app = Router::new()
            .route("/change", post(|| async { "changed" }))
            .layer(CsrfLayer::new().on_refusal(page));
        let forged = Request::post("/change")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(forged).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"<p>CrossSite</p>");
    }

    #[test]
    fn debug_shows_the_trusted_origins() {
        let layer = CsrfLayer::new()
            .trust_origin("https://admin.example.com")
            .unwrap();
        assert_eq!(
            format!("{layer:?}"),
            "CsrfLayer { trusted_origins: [https://admin.example.com:443], .. }"
        );
    }
}
