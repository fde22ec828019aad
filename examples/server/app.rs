//! The example server's router, shared by `examples/server.rs` and `tests/http.rs` (both
//! include this file with `#[path]`), so the tests drive exactly what the example runs.
//!
//! - `/admin/...`: the admin API of `private_integrations::http::admin_router`, behind
//!   [`HeaderLogin`], a STAND-IN for the host's own login. NOT FOR PRODUCTION.
//! - `GET /v1/contacts` (scope `contacts.readonly`) and `POST /v1/contacts` (scope
//!   `contacts.write`): the host's API, protected by Private Integration tokens.
//! - `GET /v1/whoami`: any live token, no scope; shows what the extractor alone gives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, FromRequestParts, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use private_integrations::http::admin_router;
use private_integrations::{
    AccountId, Actor, PrivateIntegrations, Role, ScopeCatalog, UserId, Verified,
};
use serde::{Deserialize, Serialize};

/// The scopes of the example's API.
pub const SCOPES: [&str; 2] = ["contacts.readonly", "contacts.write"];

/// The example's scope catalog.
pub fn catalog() -> ScopeCatalog {
    match ScopeCatalog::new(SCOPES) {
        Ok(catalog) => catalog,
        Err(err) => unreachable!("the example's scopes are valid: {err}"),
    }
}

/// The whole service: the admin API under `/admin`, and the protected contacts API.
pub fn app(pi: PrivateIntegrations) -> Router {
    let contacts = get(list_contacts.layer(pi.require_scope("contacts.readonly")))
        .post(add_contact.layer(pi.require_scope("contacts.write")));
    Router::new()
        .route("/v1/contacts", contacts)
        .route("/v1/whoami", get(whoami))
        .nest("/admin", admin_router::<HeaderLogin, _>(pi.clone()))
        .with_state(AppState {
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
    integration_name: String,
    scopes: Vec<&'static str>,
}

/// `GET /v1/whoami`: any live token, no scope needed (the extractor alone).
async fn whoami(verified: Verified) -> Json<WhoAmI> {
    Json(WhoAmI {
        account: verified.account().clone(),
        integration_id: verified.integration_id().to_string(),
        integration_name: verified.integration_name().to_owned(),
        scopes: verified.scopes().iter().collect(),
    })
}
