//! The settings page (feature `admin-ui`): the admin's screens of Private Integrations,
//! server-rendered, for the host to mount in one line.
//!
//! ```
//! use axum::Router;
//! use private_integrations::*;
//! use private_integrations::http::{admin_router, settings_router};
//! # use axum::{extract::FromRequestParts, http::{StatusCode, request::Parts}};
//! # struct HostLogin(Actor);
//! # impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
//! #     type Rejection = StatusCode;
//! #     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
//! #         parts.extensions.get::<Actor>().cloned().map(HostLogin).ok_or(StatusCode::UNAUTHORIZED)
//! #     }
//! # }
//! # impl From<HostLogin> for Actor { fn from(login: HostLogin) -> Actor { login.0 } }
//!
//! let pi = PrivateIntegrations::builder(MemoryStorage::new())
//!     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
//!     .build();
//! let app: Router = Router::new()
//!     .nest("/settings/private-integrations", settings_router::<HostLogin, _>(pi.clone()))
//!     .nest("/admin", admin_router::<HostLogin, _>(pi));
//! # let _ = app;
//! # Ok::<(), Error>(())
//! ```
//!
//! The page walks the product's help article word for word: "Create new Integration", a
//! name and description step, a scopes step (with the labels and descriptions of a
//! [`ScopeCatalog::labelled`](crate::ScopeCatalog::labelled) catalog), the token shown
//! once with a copy button, "Rotate and expire this token later" and "Rotate and expire
//! this token now" behind a warning with "Continue", the grace-period banner with the
//! exact expiry, "Cancel rotation" and "Expire now", "Edit" and "Delete" in a three-dot
//! menu, and for admins the team's permissions and the feature switch ("Labs"); the
//! audit log, paged.
//!
//! # Routes
//!
//! Relative to where the router is nested; links are built from the path the request
//! came in on, so the page works at any mount point (static or with path parameters).
//!
//! | route | screen |
//! |---|---|
//! | `GET /` | the integrations, with "Create new Integration", a page at a time (`?cursor=` the next page) |
//! | `GET /new`, `POST /new` | create: name and description, then scopes, then the token (shown in the response to the last `POST`, never again) |
//! | `GET /{id}` | one integration: scopes, dates, last used, its uses over the last 30 days (a chart and a table), rotation status and reminder |
//! | `GET`, `POST /{id}/rotate/later`, `/{id}/rotate/now` | the warning with "Continue", then the new token |
//! | `POST /{id}/rotation/cancel`, `/{id}/rotation/expire` | "Cancel rotation", "Expire now" |
//! | `GET /{id}/edit`, `POST /{id}/edit` | edit: details, "Next", scopes, "Update" |
//! | `GET /{id}/delete`, `POST /{id}/delete` | delete, behind a confirmation |
//! | `GET /team`, `POST /team` | admins: each user's permission (allow, deny, role default) |
//! | `GET /labs`, `POST /labs` | admins: the feature switch |
//! | `GET /audit-log` | the audit log, newest first, a page at a time (`?cursor=` the next page; `?integration=` one integration's events) |
//! | `GET /assets/settings.css`, `/assets/settings.js`, `/assets/favicon.svg` | the embedded stylesheet, script (the copy button, the menus' Escape) and icon |
//! | any other path | a path with a trailing slash: `308` to the path without it (the list for the mount point itself, `…/private-integrations/`); otherwise a "no such page" screen (`404`) |
//!
//! # What every response carries
//!
//! Every response of the router, its `404`s and redirects included:
//!
//! - `Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self';
//!   img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`: no
//!   inline script or style exists, and the page cannot be framed.
//! - Pages: `Cache-Control: no-store`. Assets: `Cache-Control: public, max-age=31536000,
//!   immutable` when asked for by their versioned URL (the pages link them with
//!   `?v=<hash of the content>`), `no-cache` with an `ETag` otherwise.
//! - `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy:
//!   no-referrer`, `Cross-Origin-Opener-Policy: same-origin`,
//!   `Cross-Origin-Resource-Policy: same-origin`.
//!
//! # Safe as an admin page must be
//!
//! - A token is in exactly one response: the one to the `POST` that creates it (create, or
//!   "Continue" on a rotation), rendered in place rather than redirected to, so it is in no
//!   URL, no redirect, no log line of the library, no later page, and no cache
//!   (`no-store`).
//! - Every text is escaped by the templates (maud): a name such as
//!   `<script>alert(1)</script>` shows as typed.
//! - Every refusal of the service (`PermissionDenied`, `FeatureDisabled`, `Conflict`,
//!   `RotationInProgress`, a validation error, …) is a message on the page, with the form
//!   kept as typed.
//! - An edit carries the version the admin saw (a hidden field) and is applied only at that
//!   version ([`IntegrationUpdate::expect_version`](crate::IntegrationUpdate::expect_version),
//!   checked in the same compare-and-swap as the write), and the values it was opened
//!   with (hidden `was_*` fields). An edit made from a stale page is refused (`409`),
//!   saying what the other person changed; the form starts again from the current
//!   values and version, with the admin's own changes re-applied where the other person
//!   did not change the same thing (each marked "Your change"; a name or description
//!   both changed keeps theirs and shows the admin's), so a scope someone else removed
//!   is never ticked again unnoticed, and only a deliberate "Update" saves. "Delete", the
//!   rotations, "Cancel rotation" and "Expire now" carry no version, as the service's
//!   calls take none: they act on the integration whatever its name, description and
//!   scopes are now, and the service refuses those its state no longer allows (a rotation
//!   already in progress, none to cancel or expire, an integration deleted meanwhile).
//! - A name, description or user id that holds a token is refused, and the page does not
//!   show it back: that field of the form is emptied (everything else is kept as typed).
//! - A value that must be one of a known set is refused without being shown back: a
//!   scope outside the catalog ("a scope … is not in this service's scope catalog", never
//!   which), dropped from the form shown again; a user id that is not one (too long,
//!   control characters), not even in the lookup field.
//! - State-changing requests are `POST`s of HTML forms, and one that a browser sent from
//!   another site is refused before the host's login runs, by tower-http's
//!   [`CsrfLayer`] (`Sec-Fetch-Site`, then `Origin` against the host;
//!   [the rules](super#cross-site-requests)), the same as the admin API's. The host can
//!   give the page its own layer ([`SettingsPage::csrf`]), with the origins it trusts. A
//!   refusal is a screen of the page saying so (`403`).
//! - The host's login `A` runs first on every route but the assets, exactly as for
//!   [`admin_router`](super::admin_router); its rejection (a redirect to the host's
//!   login page, say) is sent as it is.
//!
//! # Styling
//!
//! The page has its own small stylesheet and no framework. A host restyles it by adding
//! its stylesheet ([`SettingsPage::stylesheet`]) and setting custom properties on `.pi`:
//! `--pi-font`, `--pi-mono`, `--pi-text`, `--pi-muted`, `--pi-bg`, `--pi-surface`,
//! `--pi-border`, `--pi-accent`, `--pi-accent-hover`, `--pi-accent-text`, `--pi-danger`,
//! `--pi-danger-hover`, `--pi-warning-bg`, `--pi-warning-border`, `--pi-success-bg`,
//! `--pi-success-border`, `--pi-error-bg`, `--pi-focus`, `--pi-radius`, `--pi-max-width`,
//! `--pi-shadow`, and the uses chart's `--pi-chart-current` (the current token's bars),
//! `--pi-chart-old` and `--pi-chart-old-bg` (the old tokens' stripes).

mod assets;
mod audit;
mod create;
mod delete;
mod edit;
mod integration;
mod labs;
mod list;
mod rebase;
mod refusal;
mod rotate;
mod team;
mod views;
mod web;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::routing::{get, post};
use axum::{Extension, Router, middleware};

use crate::domain::access::{Actor, Role};
use crate::domain::ids::{AccountId, UserId};
use crate::domain::page::MAX_PAGE_SIZE;
use crate::http::CsrfLayer;
use crate::service::PrivateIntegrations;

/// The settings page as an axum [`Router`], with the default [`SettingsPage`] options:
/// mount it where the host's settings live, say
/// `.nest("/settings/private-integrations", settings_router::<HostLogin, _>(pi))`.
///
/// `A` is the host's own login, as for [`admin_router`](super::admin_router): an
/// extractor that authenticates the user and turns into the [`Actor`]. The page never
/// authenticates anyone; what each user may do is the service's rules (admins, and the
/// members an admin allowed).
///
/// # Example
///
/// ```
/// use axum::{Router, extract::FromRequestParts, http::request::Parts, response::Redirect};
/// use private_integrations::*;
/// use private_integrations::http::settings_router;
///
/// /// The host's login: whatever its session layer put in the extensions, or off to the
/// /// login page.
/// struct HostLogin(Actor);
///
/// impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
///     type Rejection = Redirect;
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Redirect> {
///         parts.extensions.get::<Actor>().cloned().map(HostLogin).ok_or(Redirect::to("/login"))
///     }
/// }
///
/// impl From<HostLogin> for Actor {
///     fn from(login: HostLogin) -> Actor {
///         login.0
///     }
/// }
///
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// let app: Router =
///     Router::new().nest("/settings/private-integrations", settings_router::<HostLogin, _>(pi));
/// # let _ = app;
/// # Ok::<(), Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub fn settings_router<A, S>(pi: PrivateIntegrations) -> Router<S>
where
    A: FromRequestParts<S> + Into<Actor> + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    SettingsPage::new(pi).router::<A, S>()
}

/// The settings page with options; [`router`](Self::router) makes the [`Router`].
/// [`settings_router`] is `SettingsPage::new(pi).router()`.
///
/// # Example
///
/// ```
/// use axum::Router;
/// use private_integrations::*;
/// use private_integrations::http::SettingsPage;
/// # use axum::{extract::FromRequestParts, http::{StatusCode, request::Parts}};
/// # struct HostLogin(Actor);
/// # impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
/// #     type Rejection = StatusCode;
/// #     async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, StatusCode> {
/// #         Err(StatusCode::UNAUTHORIZED)
/// #     }
/// # }
/// # impl From<HostLogin> for Actor { fn from(login: HostLogin) -> Actor { login.0 } }
///
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// let page = SettingsPage::new(pi)
///     .stylesheet("/static/brand.css")
///     .settings_link("/settings")
///     .page_size(50);
/// let app: Router = Router::new().nest("/settings/private-integrations", page.router::<HostLogin, _>());
/// # let _ = app;
/// # Ok::<(), Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
#[derive(Clone)]
#[must_use = "a SettingsPage does nothing until `router` is called"]
pub struct SettingsPage {
    pi: PrivateIntegrations,
    team: Option<Arc<dyn TeamDirectory>>,
    stylesheet: Option<String>,
    settings_link: Option<String>,
    page_size: usize,
    csrf: CsrfLayer,
}

impl fmt::Debug for SettingsPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsPage")
            .field("pi", &self.pi)
            .field("team", &self.team.is_some())
            .field("stylesheet", &self.stylesheet)
            .field("settings_link", &self.settings_link)
            .field("page_size", &self.page_size)
            .field("csrf", &self.csrf)
            .finish()
    }
}

/// The default number of items on one page of a list: integrations, audit events.
const DEFAULT_PAGE_SIZE: usize = 25;

impl SettingsPage {
    /// The page with its defaults: no team directory (admins set a permission by user
    /// id), the page's own stylesheet only, 25 items a page, a [`CsrfLayer`] that trusts
    /// no other origin.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// let page = private_integrations::http::SettingsPage::new(pi);
    /// # let _ = page;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(pi: PrivateIntegrations) -> Self {
        Self {
            pi,
            team: None,
            stylesheet: None,
            settings_link: None,
            page_size: DEFAULT_PAGE_SIZE,
            csrf: CsrfLayer::new(),
        }
    }

    /// The host's team, so that "Team permissions" lists every user with their
    /// permission. Without it, an admin looks a user up by id.
    ///
    /// # Example
    ///
    /// See [`TeamDirectory`].
    pub fn team(mut self, directory: impl TeamDirectory) -> Self {
        self.team = Some(Arc::new(directory));
        self
    }

    /// A stylesheet of the host's, linked after the page's own: set the `--pi-*` custom
    /// properties there (see the [module documentation](self)). The page's
    /// `Content-Security-Policy` allows stylesheets of the same origin only.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// let page = private_integrations::http::SettingsPage::new(pi).stylesheet("/static/brand.css");
    /// # let _ = page;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn stylesheet(mut self, href: impl Into<String>) -> Self {
        self.stylesheet = Some(href.into());
        self
    }

    /// Where "Settings" in the page's breadcrumb leads: the host's settings page. Without
    /// it, the breadcrumb names "Settings" without a link.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// let page = private_integrations::http::SettingsPage::new(pi).settings_link("/settings");
    /// # let _ = page;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn settings_link(mut self, href: impl Into<String>) -> Self {
        self.settings_link = Some(href.into());
        self
    }

    /// How many items one page of a list shows: integrations on the list, events on the
    /// audit log (default 25; clamped to 1..=[`MAX_PAGE_SIZE`]).
    /// Both are read a page at a time ([`PrivateIntegrations::list_page`],
    /// [`PrivateIntegrations::audit_log_page`]), with "Older events" and "More
    /// integrations" links that carry the cursor of the next page.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// let page = private_integrations::http::SettingsPage::new(pi).page_size(50);
    /// # let _ = page;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn page_size(mut self, items: usize) -> Self {
        self.page_size = items.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The rules for cross-site requests: the host's own [`CsrfLayer`], for example the one
    /// it gives [`admin_router_with_csrf`](super::admin_router_with_csrf), so that the page
    /// and the admin API trust the same origins. Without it, [`CsrfLayer::new`]: no other
    /// origin is trusted.
    ///
    /// Every request of the page goes through the layer
    /// ([the rules](super#cross-site-requests)) before the host's login runs, with its
    /// trusted origins (and any bypass the host gave it). A refused one is answered by the
    /// page itself, with a screen that says so (`403`, with the page's headers), set with
    /// [`CsrfLayer::with_rejection_response`]: tower-http's own answer (an empty `403`) is
    /// not used.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::Router;
    /// use private_integrations::*;
    /// use private_integrations::http::{CsrfLayer, SettingsPage, admin_router_with_csrf};
    /// # use axum::{extract::FromRequestParts, http::{StatusCode, request::Parts}};
    /// # struct HostLogin(Actor);
    /// # impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
    /// #     type Rejection = StatusCode;
    /// #     async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, StatusCode> {
    /// #         Err(StatusCode::UNAUTHORIZED)
    /// #     }
    /// # }
    /// # impl From<HostLogin> for Actor { fn from(login: HostLogin) -> Actor { login.0 } }
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    ///
    /// // The host's admin console runs on its own origin; both routers trust it.
    /// let csrf = CsrfLayer::new().add_trusted_origin("https://console.example.com")?;
    /// let page = SettingsPage::new(pi.clone()).csrf(csrf.clone());
    /// let app: Router = Router::new()
    ///     .nest("/settings/private-integrations", page.router::<HostLogin, _>())
    ///     .nest("/admin", admin_router_with_csrf::<HostLogin, _>(pi, csrf));
    /// # let _ = app;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn csrf(mut self, layer: CsrfLayer) -> Self {
        self.csrf = layer;
        self
    }

    /// The page as an axum [`Router`], behind the host's login `A` (see
    /// [`settings_router`]).
    ///
    /// # Example
    ///
    /// See [`SettingsPage`].
    pub fn router<A, S>(self) -> Router<S>
    where
        A: FromRequestParts<S> + Into<Actor> + Send + 'static,
        S: Clone + Send + Sync + 'static,
    {
        let config = Arc::new(web::Config::from(self));
        let pages = Router::new()
            .route("/", get(list::show::<A>))
            .route("/new", get(create::start::<A>).post(create::submit::<A>))
            .route("/team", get(team::show::<A>).post(team::save::<A>))
            .route("/labs", get(labs::show::<A>).post(labs::save::<A>))
            .route("/audit-log", get(audit::show::<A>))
            .route("/{id}", get(integration::show::<A>))
            .route(
                "/{id}/rotate/{mode}",
                get(rotate::warn::<A>).post(rotate::confirm::<A>),
            )
            .route("/{id}/rotation/cancel", post(integration::cancel::<A>))
            .route("/{id}/rotation/expire", post(integration::expire::<A>))
            .route("/{id}/edit", get(edit::start::<A>).post(edit::submit::<A>))
            .route(
                "/{id}/delete",
                get(delete::confirm::<A>).post(delete::submit::<A>),
            )
            // Cross-site requests, before the host's login: the host's CsrfLayer.
            .layer(middleware::from_fn(web::cross_site))
            .layer(DefaultBodyLimit::max(web::MAX_FORM_BYTES));
        Router::new()
            .route("/assets/{file}", get(assets::serve))
            .merge(pages)
            .fallback(web::not_found)
            .layer(middleware::map_response(web::security_headers))
            .layer(Extension(config))
    }

    /// The page nested in the host's `router` at `path`, as
    /// `router.nest(path, page.router::<A, S>())`, and `path` with a trailing slash
    /// (`/settings/private-integrations/`) sent to `path` (`308`, with the page's headers).
    /// With `Router::nest` alone, axum gives that one path to the host's fallback: the
    /// page never sees it. (Every other path under `path` is the page's: one it does not
    /// have is its own "no such page" screen, with its headers.)
    ///
    /// # Panics
    ///
    /// As [`Router::nest`]: if `path` is empty or `/`, or overlaps a route of `router`.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::Router;
    /// use private_integrations::*;
    /// use private_integrations::http::SettingsPage;
    /// # use axum::{extract::FromRequestParts, http::{StatusCode, request::Parts}};
    /// # struct HostLogin(Actor);
    /// # impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
    /// #     type Rejection = StatusCode;
    /// #     async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, StatusCode> {
    /// #         Err(StatusCode::UNAUTHORIZED)
    /// #     }
    /// # }
    /// # impl From<HostLogin> for Actor { fn from(login: HostLogin) -> Actor { login.0 } }
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// let app: Router = SettingsPage::new(pi)
    ///     .nest_in::<HostLogin, _>(Router::new(), "/settings/private-integrations");
    /// # let _ = app;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn nest_in<A, S>(self, router: Router<S>, path: &str) -> Router<S>
    where
        A: FromRequestParts<S> + Into<Actor> + Send + 'static,
        S: Clone + Send + Sync + 'static,
    {
        let config = Arc::new(web::Config::from(self.clone()));
        let slash = Router::new()
            .route(
                &format!("{}/", path.trim_end_matches('/')),
                axum::routing::any(web::not_found),
            )
            .layer(middleware::map_response(web::security_headers))
            .layer(Extension(config));
        router.nest(path, self.router::<A, S>()).merge(slash)
    }
}

/// The host's team, as "Team permissions" lists it: who is in an account, with their
/// names and roles. The library keeps no users; the host knows them.
///
/// # Example
///
/// ```
/// use async_trait::async_trait;
/// use private_integrations::{AccountId, Role, UserId};
/// use private_integrations::http::{TeamDirectory, TeamMember};
///
/// /// The host's users table, here a fixed list.
/// struct Team;
///
/// #[async_trait]
/// impl TeamDirectory for Team {
///     async fn members(
///         &self,
///         _account: &AccountId,
///     ) -> Result<Vec<TeamMember>, Box<dyn std::error::Error + Send + Sync>> {
///         Ok(vec![
///             TeamMember::new(UserId::new("u_admin"), "Ada Admin", Role::Admin),
///             TeamMember::new(UserId::new("u_bob"), "Bob Member", Role::Member),
///         ])
///     }
/// }
/// # let pi = private_integrations::PrivateIntegrations::builder(private_integrations::MemoryStorage::new())
/// #     .scope_catalog(private_integrations::ScopeCatalog::new(["contacts.readonly"]).unwrap()).build();
/// let page = private_integrations::http::SettingsPage::new(pi).team(Team);
/// # let _ = page;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
#[async_trait]
pub trait TeamDirectory: Send + Sync + 'static {
    /// The users of `account`, in the order the page lists them. An error shows as a
    /// message on the page (its text is not shown: it may hold internals).
    async fn members(
        &self,
        account: &AccountId,
    ) -> Result<Vec<TeamMember>, Box<dyn std::error::Error + Send + Sync>>;
}

/// One user of the host's team: id, display name and role. See [`TeamDirectory`].
///
/// # Example
///
/// ```
/// use private_integrations::{Role, UserId};
/// use private_integrations::http::TeamMember;
/// let bob = TeamMember::new(UserId::new("u_bob"), "Bob Member", Role::Member);
/// assert_eq!((bob.user().as_str(), bob.name(), bob.role()), ("u_bob", "Bob Member", Role::Member));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    user: UserId,
    name: String,
    role: Role,
}

impl TeamMember {
    /// A user, their display name and their role.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Role, UserId};
    /// let ada = private_integrations::http::TeamMember::new(UserId::new("u_ada"), "Ada", Role::Admin);
    /// # let _ = ada;
    /// ```
    pub fn new(user: UserId, name: impl Into<String>, role: Role) -> Self {
        Self {
            user,
            name: name.into(),
            role,
        }
    }

    /// The user's id, as the host's login puts it in the [`Actor`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Role, UserId};
    /// let ada = private_integrations::http::TeamMember::new(UserId::new("u_ada"), "Ada", Role::Admin);
    /// assert_eq!(ada.user().as_str(), "u_ada");
    /// ```
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The name the page shows.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Role, UserId};
    /// let ada = private_integrations::http::TeamMember::new(UserId::new("u_ada"), "Ada", Role::Admin);
    /// assert_eq!(ada.name(), "Ada");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's role in the account.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Role, UserId};
    /// let ada = private_integrations::http::TeamMember::new(UserId::new("u_ada"), "Ada", Role::Admin);
    /// assert_eq!(ada.role(), Role::Admin);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }
}
