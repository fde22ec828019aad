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
//! - [`CsrfLayer`] refuses state-changing requests a browser sent from another site; the
//!   admin router and the settings page each apply one, and it guards any other router
//!   of the host's.
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
//! [`PrivateIntegrations`]: crate::PrivateIntegrations
//! [`PrivateIntegrations::require_scope`]: crate::PrivateIntegrations::require_scope

mod admin;
mod bearer;
pub mod csrf;
mod layer;
#[cfg(feature = "admin-ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub mod settings;

pub use admin::{TOKEN_NOTICE, admin_router, admin_router_with_csrf};
pub use bearer::{BearerError, BearerRejection, DEFAULT_REALM, MAX_AUTHORIZATION_LEN, Realm};
pub use csrf::{CsrfLayer, CsrfRefusal, CsrfService};
pub use layer::{RequireScope, RequireScopeService};
#[cfg(feature = "admin-ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub use settings::{SettingsPage, TeamDirectory, TeamMember, settings_router};
