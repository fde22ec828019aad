//! axum integration (feature `axum`): protect routes with Private Integration tokens, and
//! serve the admin's management API.
//!
//! - [`Verified`](crate::Verified) is an extractor: the integration behind
//!   `Authorization: Bearer <token>`, verified with the [`PrivateIntegrations`] found in
//!   the router state.
//! - [`RequireScope`], made by [`PrivateIntegrations::require_scope`], is a tower layer:
//!   only requests with a live token that has the scope reach the routes it wraps.
//! - [`admin_router`] is the whole management API as JSON, behind the host's own login.
//! - `settings_router` (feature `admin-ui`) is the settings page: the admin's screens as
//!   server-rendered HTML, behind the same login. The `settings` module documents its
//!   routes, headers and styling.
//! - [`CsrfLayer`] (tower-http's) refuses state-changing requests a browser sent from
//!   another site; the admin router and the settings page each apply the host's, with
//!   their own refusal, and it guards any other router of the host's.
//! - [`Error`](crate::Error) is an `IntoResponse`, with the admin API's statuses.
//!
//! # Protecting a route
//!
//! ```
//! use axum::{Router, routing::get};
//! use private_integrations::*;
//!
//! async fn list_contacts(verified: Verified) -> String {
//!     format!("contacts of {}", verified.account())
//! }
//!
//! let pi = PrivateIntegrations::builder(MemoryStorage::new())
//!     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
//!     .build();
//! let app: Router = Router::new()
//!     .route("/v1/contacts", get(list_contacts))
//!     .route_layer(pi.require_scope("contacts.readonly"))
//!     .with_state(pi);
//! # let _ = app;
//! # Ok::<(), Error>(())
//! ```
//!
//! # Refusals (RFC 6750)
//!
//! A refused request never reaches its handler, and no response or error holds the
//! presented token.
//!
//! | request | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no `Authorization` header, or another scheme (`Basic …`) | 401 | `Bearer realm="api"` |
//! | two or more `Authorization` headers | 400 | `Bearer realm="api", error="invalid_request"` |
//! | a malformed, unknown, expired or revoked token; a value that is not UTF-8, has spaces inside the token, or is over [`MAX_AUTHORIZATION_LEN`] bytes | 401 | `Bearer realm="api", error="invalid_token"` |
//! | a live token without the scope | 403 | `Bearer realm="api", error="insufficient_scope", scope="contacts.write"` |
//! | the storage fails | 503 | none |
//!
//! Every `invalid_token` response has the same body, whatever the cause, so nothing tells
//! an attacker which case it was. The body of every refusal is
//! `{"error": code, "message": text}`.
//!
//! What is accepted, on purpose: the scheme in any case (`bearer`, RFC 9110 §11.1 makes
//! it case-insensitive); one or more spaces or tabs between scheme and token (RFC 6750
//! says `1*SP`); white space around the whole value (RFC 9110 §5.5). The token itself
//! must be a single word. A duplicated header is refused rather than resolved: a proxy in
//! front could have read the other one.
//!
//! # The admin API
//!
//! See [`admin_router`] and `openapi.yaml` at the root of the crate.
//!
//! # Cross-site requests
//!
//! A logged-in admin's browser sends the host's session cookie with every request to the
//! host, whichever page made it: a plain `<form method="post">` on any site can make it
//! post to the admin API or the settings page. Both are guarded by tower-http's
//! [`CsrfLayer`] (Go 1.25's `CrossOriginProtection`), which reads the headers a browser
//! sets and no page can (`Sec-Fetch-Site`, `Origin`) and needs no token, cookie or state.
//! A request passes if one of these holds, and is refused otherwise:
//!
//! 1. the method is `GET`, `HEAD` or `OPTIONS` (nothing of ours changes on them);
//! 2. its `Origin` is, byte for byte, one the host trusts
//!    ([`CsrfLayer::add_trusted_origin`]);
//! 3. `Sec-Fetch-Site` is `same-origin` or `none` (typed by the user, a bookmark); any
//!    other value, `same-site` included, is refused unless rule 2 applies;
//! 4. neither `Sec-Fetch-Site` nor `Origin` is sent: a client that is no browser (curl,
//!    another server), which holds the admin's credentials itself;
//! 5. without `Sec-Fetch-Site` (a browser older than 2023), the `Origin`'s host and port
//!    are, byte for byte, the request's own (the URI's authority, or else `Host`).
//!
//! Where a header is sent twice, the first value is read. The host configures one layer
//! and gives it to [`admin_router_with_csrf`] and `SettingsPage::csrf` (feature
//! `admin-ui`), so both trust the same origins; each router keeps the layer's trusted
//! origins and answers a refusal its own way
//! ([`with_rejection_response`](CsrfLayer::with_rejection_response)): the admin API with
//! `403 cross_site_request` JSON, the settings page with a screen of its own. A trusted
//! origin is written as browsers send it, `https://console.example.com`: the host in
//! lower case, no default port, no path; anything else is accepted but never matches.
//! SECURITY.md lists how these rules differ from the crate's own layer they replaced, with
//! the statuses measured (`tests/csrf.rs`).
//!
//! ```
//! use axum::{Router, routing::post};
//! use private_integrations::http::CsrfLayer;
//!
//! // The host's own forms, guarded by the same layer (tower-http's refusal: an empty 403).
//! let csrf = CsrfLayer::new().add_trusted_origin("https://console.example.com")?;
//! let app: Router = Router::new()
//!     .route("/account/email", post(|| async { "saved" }))
//!     .layer(csrf);
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`PrivateIntegrations`]: crate::PrivateIntegrations
//! [`PrivateIntegrations::require_scope`]: crate::PrivateIntegrations::require_scope

mod admin;
mod bearer;
mod layer;
mod scanning;
#[cfg(feature = "admin-ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub mod settings;

pub use crate::domain::leak::LeakPolicy;
pub use admin::{TOKEN_NOTICE, admin_router, admin_router_with_csrf};
pub use bearer::{BearerError, BearerRejection, DEFAULT_REALM, MAX_AUTHORIZATION_LEN, Realm};
pub use layer::{RequireScope, RequireScopeService};
pub use scanning::{
    BoxError, GITHUB_KEY_ID_HEADER, GITHUB_REPORTER, GITHUB_SIGNATURE_HEADER, GithubKeySource,
    GithubKeys, GithubKeysError, KEY_FETCH_TIMEOUT, KEY_REFRESH_INTERVAL, MAX_ALERT_BODY,
    MAX_ALERT_MATCHES, secret_scanning_router,
};
#[cfg(feature = "admin-ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub use settings::{SettingsPage, TeamDirectory, TeamMember, settings_router};
/// tower-http's cross-site request forgery layer, re-exported: the host builds one, with
/// the origins it trusts, for [`admin_router_with_csrf`] and the settings page. See
/// [the rules](self#cross-site-requests).
pub use tower_http::csrf::CsrfLayer;
