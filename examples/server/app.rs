//! The example server's router, shared by `examples/server.rs`, `tests/http.rs`,
//! `tests/settings.rs` and `tests/browser.rs` (all include this file with `#[path]`), so the
//! tests drive exactly what the example runs.
//!
//! - `/admin/...`: the admin API of `private_integrations::http::admin_router_with_csrf`,
//!   behind [`HeaderLogin`], a STAND-IN for the host's own login. NOT FOR PRODUCTION.
//! - `/settings/private-integrations/...` (feature `admin-ui`): the settings page of
//!   `private_integrations::http::settings_router`, behind `CookieLogin`, a STAND-IN login
//!   a browser can use (`/login`: a form that sets a cookie naming the account, the user
//!   and the role). NOT FOR PRODUCTION.
//! - `GET /v1/contacts` (scope `contacts.readonly`) and `POST /v1/contacts` (scope
//!   `contacts.write`): the host's API, protected by Private Integration tokens.
//! - `GET /v1/whoami`: any live token, no scope; shows what the extractor alone gives.
//!
//! One `CsrfLayer` (tower-http's) guards every route a browser posts to: the admin API,
//! the settings page and the stand-in login (so another site cannot log a browser in as
//! someone else).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, FromRequestParts, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use private_integrations::http::{CsrfLayer, admin_router_with_csrf};
use private_integrations::{
    AccountId, Actor, PrivateIntegrations, Role, ScopeCatalog, UserId, Verified,
};
use serde::{Deserialize, Serialize};

/// The scopes of the example's API.
pub const SCOPES: [&str; 2] = ["contacts.readonly", "contacts.write"];

/// The example's scope catalog, with what people read for each scope on the settings
/// page's scopes step.
pub fn catalog() -> ScopeCatalog {
    match ScopeCatalog::labelled([
        (
            SCOPES[0],
            "View contacts",
            "Read the account's contacts: names, emails and phone numbers.",
        ),
        (
            SCOPES[1],
            "Edit contacts",
            "Create contacts and change existing ones. Does not include deleting them.",
        ),
    ]) {
        Ok(catalog) => catalog,
        Err(err) => unreachable!("the example's scopes are valid: {err}"),
    }
}

/// Where the settings page is mounted.
#[cfg(feature = "admin-ui")]
pub const SETTINGS: &str = "/settings/private-integrations";

/// The whole service: the admin API under `/admin`, the settings page under
/// [`SETTINGS`] with the stand-in login at `/login`, and the protected contacts API.
pub fn app(pi: PrivateIntegrations) -> Router {
    let contacts = get(list_contacts.layer(pi.require_scope("contacts.readonly")))
        .post(add_contact.layer(pi.require_scope("contacts.write")));
    // Cross-site requests: one set of rules for every router a browser posts to (a host
    // whose admin pages live on another origin trusts it here, `add_trusted_origin`).
    let csrf = CsrfLayer::new();
    let router = Router::new()
        .route("/v1/contacts", contacts)
        .route("/v1/whoami", get(whoami))
        .nest(
            "/admin",
            admin_router_with_csrf::<HeaderLogin, _>(pi.clone(), csrf.clone()),
        );
    // Nested with `nest_in`, so that `/settings/private-integrations/` finds the page too.
    #[cfg(feature = "admin-ui")]
    let router = private_integrations::http::SettingsPage::new(pi.clone())
        .team(login::DemoTeam)
        .csrf(csrf.clone())
        .nest_in::<login::CookieLogin, _>(router, SETTINGS);
    #[cfg(feature = "admin-ui")]
    let router = router
        .route(
            "/",
            get(|| async { axum::response::Redirect::to(SETTINGS) }),
        )
        .route(
            "/login",
            get(login::form).post(login::log_in).layer(csrf.clone()),
        )
        .route("/logout", axum::routing::post(login::log_out).layer(csrf));
    #[cfg(not(feature = "admin-ui"))]
    drop(csrf);
    router.with_state(AppState {
        pi,
        contacts: Contacts::default(),
    })
}

/// The router state: the Private Integrations service and the host's own data.
#[derive(Clone)]
struct AppState {
    pi: PrivateIntegrations,
    contacts: Contacts,
}

impl FromRef<AppState> for PrivateIntegrations {
    fn from_ref(state: &AppState) -> Self {
        state.pi.clone()
    }
}

// ---------------------------------------------------------------------------------------
// STAND-IN LOGIN — NOT FOR PRODUCTION.
//
// A real host authenticates its admins with its own login (a session cookie, SSO, …) and
// turns the logged-in user into an `Actor`. This stand-in believes whatever the request
// headers claim, so anyone could act as anyone: it exists only so the example runs
// without a login system.
// ---------------------------------------------------------------------------------------

/// STAND-IN for the host's login, NOT FOR PRODUCTION: the acting user is read from the
/// `X-Account-Id`, `X-User-Id` and `X-Role` (`admin` or `member`) headers, unchecked.
pub struct HeaderLogin(Actor);

/// The stand-in login's refusal: 401 with the admin API's JSON error shape.
type LoginRefused = (StatusCode, Json<LoginError>);

/// The body of [`LoginRefused`].
#[derive(Serialize)]
pub struct LoginError {
    error: &'static str,
    message: &'static str,
}

impl<S: Send + Sync> FromRequestParts<S> for HeaderLogin {
    type Rejection = LoginRefused;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, LoginRefused> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        let role = match header("x-role") {
            Some("admin") => Some(Role::Admin),
            Some("member") => Some(Role::Member),
            _ => None,
        };
        let account = header("x-account-id").and_then(|id| AccountId::try_new(id).ok());
        let user = header("x-user-id").and_then(|id| UserId::try_new(id).ok());
        match (account, user, role) {
            (Some(account), Some(user), Some(role)) => {
                Ok(HeaderLogin(Actor::new(account, user, role)))
            }
            _ => Err((
                StatusCode::UNAUTHORIZED,
                Json(LoginError {
                    error: "unauthenticated",
                    message: "stand-in login: send X-Account-Id, X-User-Id and X-Role (admin or member)",
                }),
            )),
        }
    }
}

impl From<HeaderLogin> for Actor {
    fn from(login: HeaderLogin) -> Actor {
        login.0
    }
}

/// STAND-IN login for the settings page, NOT FOR PRODUCTION: a form at `/login` sets a
/// cookie that names the account, the user and the role, and the page believes it.
#[cfg(feature = "admin-ui")]
pub mod login {
    use async_trait::async_trait;
    use axum::Form;
    use axum::extract::FromRequestParts;
    use axum::http::header::{COOKIE, SET_COOKIE};
    use axum::http::request::Parts;
    use axum::response::{Html, IntoResponse, Redirect, Response};
    use private_integrations::http::{TeamDirectory, TeamMember};
    use private_integrations::{AccountId, Actor, Role, UserId};
    use serde::Deserialize;

    /// The stand-in's cookie.
    const COOKIE_NAME: &str = "pi_demo_login";

    /// The example's team, as "Team permissions" lists it (every account has the same).
    pub const TEAM: [(&str, &str, Role); 4] = [
        ("u_admin", "Ada Admin", Role::Admin),
        ("u_ann", "Ann Admin", Role::Admin),
        ("u_bob", "Bob Member", Role::Member),
        ("u_carol", "Carol Member", Role::Member),
    ];

    /// The example's team directory: [`TEAM`].
    pub struct DemoTeam;

    #[async_trait]
    impl TeamDirectory for DemoTeam {
        async fn members(
            &self,
            _account: &AccountId,
        ) -> Result<Vec<TeamMember>, Box<dyn std::error::Error + Send + Sync>> {
            Ok(TEAM
                .iter()
                .map(|(user, name, role)| TeamMember::new(UserId::new(*user), *name, *role))
                .collect())
        }
    }

    /// STAND-IN, NOT FOR PRODUCTION: the user the cookie names, unchecked.
    pub struct CookieLogin(Actor);

    impl From<CookieLogin> for Actor {
        fn from(login: CookieLogin) -> Actor {
            login.0
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for CookieLogin {
        type Rejection = Redirect;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Redirect> {
            let value = parts
                .headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == COOKIE_NAME)
                .map(|(_, value)| value);
            value
                .and_then(parse)
                .map(CookieLogin)
                .ok_or(Redirect::to("/login"))
        }
    }

    /// `account.user.role`, each part checked: the cookie is the stand-in's only state.
    fn parse(value: &str) -> Option<Actor> {
        let mut parts = value.split('.');
        let (account, user, role) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !safe(account) || !safe(user) {
            return None;
        }
        let role = match role {
            "admin" => Role::Admin,
            "member" => Role::Member,
            _ => return None,
        };
        Some(Actor::new(
            AccountId::try_new(account).ok()?,
            UserId::try_new(user).ok()?,
            role,
        ))
    }

    /// What the stand-in accepts in an id: it goes in a cookie unencoded.
    fn safe(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    /// `GET /login`: who to be.
    pub async fn form() -> Html<&'static str> {
        Html(LOGIN_PAGE)
    }

    /// The login form's fields.
    #[derive(Deserialize)]
    pub struct LogIn {
        account: String,
        user: String,
        role: String,
    }

    /// `POST /login`: sets the cookie, then off to the settings page.
    pub async fn log_in(Form(form): Form<LogIn>) -> Response {
        let value = format!("{}.{}.{}", form.account.trim(), form.user.trim(), form.role);
        if parse(&value).is_none() {
            return (
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                Html("Use letters, digits, _ or - for the account and the user. <a href=\"/login\">Back</a>"),
            )
                .into_response();
        }
        let cookie = format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax");
        ([(SET_COOKIE, cookie)], Redirect::to(super::SETTINGS)).into_response()
    }

    /// `POST /logout`.
    pub async fn log_out() -> Response {
        let cookie = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        ([(SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
    }

    const LOGIN_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stand-in login · example server</title>
<link rel="stylesheet" href="/settings/private-integrations/assets/settings.css">
</head>
<body class="pi">
<div class="pi-page">
<main>
<h1>Stand-in login</h1>
<div class="pi-notice pi-notice-warning" role="note">
<p><strong>NOT FOR PRODUCTION.</strong> This example believes whoever you say you are. A real
host puts its own login in front of the settings page.</p>
</div>
<form class="pi-card" method="post" action="/login">
<div class="pi-field">
<label for="account">Account</label>
<input id="account" type="text" name="account" value="acct_1" autocomplete="off">
</div>
<div class="pi-field">
<label for="user">User</label>
<select id="user" name="user">
<option value="u_admin">Ada Admin (u_admin)</option>
<option value="u_ann">Ann Admin (u_ann)</option>
<option value="u_bob">Bob Member (u_bob)</option>
<option value="u_carol">Carol Member (u_carol)</option>
</select>
</div>
<div class="pi-field">
<label for="role">Role</label>
<select id="role" name="role">
<option value="admin">Admin</option>
<option value="member">Member</option>
</select>
</div>
<div class="pi-actions"><button type="submit">Log in</button></div>
</form>
</main>
</div>
</body>
</html>
"#;
}

// ---------------------------------------------------------------------------------------
// The host's API, protected by Private Integration tokens.
// ---------------------------------------------------------------------------------------

/// The host's data: each account's contacts.
#[derive(Clone, Default)]
struct Contacts(Arc<Mutex<HashMap<AccountId, Vec<Contact>>>>);

impl Contacts {
    fn of(&self, account: &AccountId) -> Vec<Contact> {
        let all = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        all.get(account).cloned().unwrap_or_default()
    }

    fn add(&self, account: &AccountId, contact: Contact) {
        let mut all = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        all.entry(account.clone()).or_default().push(contact);
    }
}

/// A contact of an account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contact {
    name: String,
}

/// The contacts of the token's account.
#[derive(Serialize)]
struct ContactList {
    account: AccountId,
    contacts: Vec<Contact>,
}

/// `GET /v1/contacts`, behind `contacts.readonly`.
async fn list_contacts(verified: Verified, State(state): State<AppState>) -> Json<ContactList> {
    Json(ContactList {
        account: verified.account().clone(),
        contacts: state.contacts.of(verified.account()),
    })
}

/// `POST /v1/contacts`, behind `contacts.write`.
async fn add_contact(
    verified: Verified,
    State(state): State<AppState>,
    Json(contact): Json<Contact>,
) -> Result<(StatusCode, Json<Contact>), StatusCode> {
    let name = contact.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let contact = Contact { name: name.into() };
    state.contacts.add(verified.account(), contact.clone());
    Ok((StatusCode::CREATED, Json(contact)))
}

/// What a token may do, as `GET /v1/whoami` shows it.
#[derive(Serialize)]
struct WhoAmI {
    account: AccountId,
    integration_id: String,
    scopes: Vec<&'static str>,
}

/// `GET /v1/whoami`: any live token, no scope needed (the extractor alone).
async fn whoami(verified: Verified) -> Json<WhoAmI> {
    Json(WhoAmI {
        account: verified.account().clone(),
        integration_id: verified.integration_id().to_string(),
        scopes: verified.scopes().iter().collect(),
    })
}
