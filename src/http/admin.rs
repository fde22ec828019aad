//! The admin router: the whole management API as JSON over HTTP.

use std::borrow::Cow;
use std::marker::PhantomData;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::csrf::CsrfLayer;
use crate::domain::access::{Actor, Permission};
use crate::domain::audit::AuditEvent;
use crate::domain::credentials::RotationMode;
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::integration::{Integration, IntegrationUpdate, NewIntegration};
use crate::domain::page::{AuditLogQuery, Cursor, PageRequest};
use crate::domain::token::IssuedToken;
use crate::error::{Error, InvalidInput};
use crate::service::PrivateIntegrations;

/// What the admin API says next to a token it shows: the token is never shown again.
///
/// # Example
///
/// ```
/// use private_integrations::http::TOKEN_NOTICE;
/// assert!(TOKEN_NOTICE.contains("will not be shown again"));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub const TOKEN_NOTICE: &str = "Copy this token now: it will not be shown again.";

/// The management API as an axum [`Router`]: mount it where the host's admin pages live
/// (say `.nest("/admin", admin_router::<HostLogin, _>(pi))`).
///
/// `A` is the host's own login: an extractor that authenticates the admin making the
/// call (a session cookie, an SSO header, …) and turns into the [`Actor`]. The library
/// never authenticates admins itself; `A`'s rejection is the host's response, sent as it
/// is. Every route extracts `A` first, so an unauthenticated request learns nothing else.
///
/// | method and path | body | success |
/// |---|---|---|
/// | `POST /integrations` | `{"name", "description"?, "scopes"}` | 201 `{"integration", "token", "token_notice"}` |
/// | `GET /integrations?limit=&cursor=` | | 200 `{"integrations": […], "next_cursor"}`, oldest first |
/// | `GET /integrations/{id}` | | 200 integration |
/// | `PATCH /integrations/{id}` | `{"name"?, "description"?, "scopes"?}` | 200 integration |
/// | `DELETE /integrations/{id}` | | 204 |
/// | `POST /integrations/{id}/rotate` | `{"mode": "expire_later" \| "expire_now"}` | 200 `{"integration", "token", "token_notice"}` |
/// | `POST /integrations/{id}/rotation/cancel` | | 200 integration |
/// | `POST /integrations/{id}/rotation/expire-previous` | | 200 integration |
/// | `PUT /users/{user_id}/permission` | `{"permission": "allow" \| "deny" \| "role_default"}` | 204 |
/// | `PUT /feature` | `{"enabled": bool}` | 204 |
/// | `GET /rotation-due` | | 200 `{"integrations": […]}` |
/// | `GET /audit-log?limit=&cursor=&integration=` | | 200 `{"events": […], "next_cursor"}`, newest first |
///
/// `openapi.yaml` at the root of the crate describes each of them. Responses that show a
/// token carry `Cache-Control: no-store`.
///
/// The two listings that grow without bound come a page at a time: `limit` items (1 to
/// [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE), default
/// [`DEFAULT_PAGE_SIZE`](crate::DEFAULT_PAGE_SIZE)), and `next_cursor` (`null` on the last
/// page) to pass as `cursor` for the next. The audit log takes `integration=<id>` for one
/// integration's events. Parameters an operation does not take are ignored; a malformed,
/// repeated or out-of-range one is `422 invalid_input`. See [`PrivateIntegrations::list_page`].
///
/// Every route is guarded by a [`CsrfLayer`] that trusts no other origin: a
/// state-changing request that a browser sent from another site is refused before the
/// login runs. Same-origin browser requests and clients that are no browser (curl,
/// another server) go through. [`admin_router_with_csrf`] takes a layer of the host's.
///
/// Every failure is JSON, `{"error": code, "message": text}`:
///
/// | status | `error` | when |
/// |---|---|---|
/// | 400 | `malformed_json` | the body is not JSON |
/// | 403 | `permission_denied`, `feature_disabled` | [`Error::PermissionDenied`], [`Error::FeatureDisabled`] |
/// | 403 | `cross_site_request` | a browser sent a change from another site ([`CsrfLayer`]) |
/// | 404 | `not_found` | [`Error::NotFound`]; also a malformed integration id, without a storage call |
/// | 409 | `rotation_in_progress`, `no_rotation_in_progress`, `conflict` | the errors of the same names (`conflict`: reload and retry) |
/// | 413 | `body_too_large` | the body is over axum's limit (2 MB by default) |
/// | 415 | `unsupported_media_type` | a body without `Content-Type: application/json` |
/// | 422 | `invalid_body` | JSON of the wrong shape (a missing field, an unknown field, a wrong type or value) |
/// | 422 | `invalid_input`, `unknown_scope` | [`Error::InvalidInput`], [`Error::UnknownScope`]; also a malformed user id |
/// | 500 | `internal_error` | the system's random number generator failed |
/// | 503 | `storage_unavailable` | [`Error::Storage`]; the message never shows the storage error |
///
/// # Example
///
/// ```
/// use axum::{Router, extract::FromRequestParts, http::{StatusCode, request::Parts}};
/// use private_integrations::*;
/// use private_integrations::http::admin_router;
///
/// /// The host's login: here, whatever its session layer put in the extensions.
/// struct HostLogin(Actor);
///
/// impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
///     type Rejection = StatusCode;
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
///         parts.extensions.get::<Actor>().cloned().map(HostLogin).ok_or(StatusCode::UNAUTHORIZED)
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
/// let app: Router = Router::new().nest("/admin", admin_router::<HostLogin, _>(pi));
/// # let _ = app;
/// # Ok::<(), Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn admin_router<A, S>(pi: PrivateIntegrations) -> Router<S>
where
    A: FromRequestParts<S> + Into<Actor> + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    admin_router_with_csrf::<A, S>(pi, CsrfLayer::new())
}

/// [`admin_router`] with the host's own [`CsrfLayer`]: to trust the origin of admin pages
/// served from another origin than the API, say.
///
/// Every route of the admin API goes through `csrf` before anything else, the host's
/// login included: a state-changing request that a browser sent from another site is
/// `403 cross_site_request` (see [`CsrfLayer`] for the rules).
///
/// # Example
///
/// ```
/// use axum::{Router, extract::FromRequestParts, http::{StatusCode, request::Parts}};
/// use private_integrations::*;
/// use private_integrations::http::{CsrfLayer, admin_router_with_csrf};
///
/// struct HostLogin(Actor);
///
/// impl<S: Send + Sync> FromRequestParts<S> for HostLogin {
///     type Rejection = StatusCode;
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
///         parts.extensions.get::<Actor>().cloned().map(HostLogin).ok_or(StatusCode::UNAUTHORIZED)
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
/// let csrf = CsrfLayer::new().trust_origin("https://console.example.com")?;
/// let app: Router = Router::new().nest("/admin", admin_router_with_csrf::<HostLogin, _>(pi, csrf));
/// # let _ = app;
/// # Ok::<(), Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn admin_router_with_csrf<A, S>(pi: PrivateIntegrations, csrf: CsrfLayer) -> Router<S>
where
    A: FromRequestParts<S> + Into<Actor> + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/integrations", post(create::<A>).get(list::<A>))
        .route(
            "/integrations/{id}",
            get(get_one::<A>).patch(update::<A>).delete(delete::<A>),
        )
        .route("/integrations/{id}/rotate", post(rotate::<A>))
        .route(
            "/integrations/{id}/rotation/cancel",
            post(cancel_rotation::<A>),
        )
        .route(
            "/integrations/{id}/rotation/expire-previous",
            post(expire_previous_now::<A>),
        )
        .route("/users/{user_id}/permission", put(set_permission::<A>))
        .route("/feature", put(set_feature::<A>))
        .route("/rotation-due", get(rotation_due::<A>))
        .route("/audit-log", get(audit_log::<A>))
        .layer(Extension(pi))
        .layer(csrf)
}

/// The acting admin, as the host's login `A` found them.
struct Acting<A>(Actor, PhantomData<fn() -> A>);

impl<A, S> FromRequestParts<S> for Acting<A>
where
    A: FromRequestParts<S> + Into<Actor>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match A::from_request_parts(parts, state).await {
            Ok(login) => Ok(Acting(login.into(), PhantomData)),
            Err(rejection) => Err(rejection.into_response()),
        }
    }
}

/// A failure of the admin API, as JSON.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let (status, code) = match &err {
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Error::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Error::FeatureDisabled => (StatusCode::FORBIDDEN, "feature_disabled"),
            Error::InvalidInput(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            Error::UnknownScope(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_scope"),
            Error::RotationInProgress => (StatusCode::CONFLICT, "rotation_in_progress"),
            Error::NoRotationInProgress => (StatusCode::CONFLICT, "no_rotation_in_progress"),
            Error::Conflict => (StatusCode::CONFLICT, "conflict"),
            // The storage error's source stays here: it may name hosts, users or queries.
            Error::Storage(_) => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the integrations store is unavailable; reload before retrying",
                );
            }
            // `Randomness`, and any variant added later.
            _ => {
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "an internal error occurred; reload before retrying",
                );
            }
        };
        // These messages name fields, rules and the caller's own scope names, never a
        // secret or an internal detail.
        ApiError::new(status, code, err.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                return ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON, with `Content-Type: application/json`",
                );
            }
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "unreadable_body"),
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

/// `Error` as an axum response: the status and JSON body of the admin API (see
/// [`admin_router`]), for hosts that call the service from their own handlers.
///
/// ```
/// use axum::{http::StatusCode, response::IntoResponse};
/// use private_integrations::Error;
/// assert_eq!(Error::Conflict.into_response().status(), StatusCode::CONFLICT);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The integration id of the path. A malformed one cannot exist: 404, like an id of
/// another account, without a storage call.
fn integration_id(path: Result<Path<String>, PathRejection>) -> ApiResult<IntegrationId> {
    path.ok()
        .and_then(|Path(raw)| IntegrationId::parse(&raw).ok())
        .ok_or_else(|| Error::NotFound.into())
}

/// The body, or the JSON error that says what is wrong with it.
fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json.map(|Json(value)| value).map_err(ApiError::from)
}

/// A response that shows a token: the admin's only chance to copy it.
#[derive(Serialize)]
struct TokenShown<'a> {
    integration: &'a Integration,
    token: &'a str,
    token_notice: &'static str,
}

fn token_shown(status: StatusCode, integration: &Integration, token: &IssuedToken) -> Response {
    let body = TokenShown {
        integration,
        token: token.expose_secret(),
        token_notice: TOKEN_NOTICE,
    };
    let mut response = (status, Json(body)).into_response();
    // Keep the token out of every cache on the way (RFC 9111 §5.2.2.5).
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    description: String,
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    mode: RotationMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionBody {
    permission: Permission,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureBody {
    enabled: bool,
}

#[derive(Serialize)]
struct Integrations {
    integrations: Vec<Integration>,
}

/// A page of integrations: the field of the unpaged list, and the next page's cursor.
#[derive(Serialize)]
struct IntegrationPage {
    integrations: Vec<Integration>,
    next_cursor: Option<Cursor>,
}

/// A page of the audit log.
#[derive(Serialize)]
struct Events {
    events: Vec<AuditEvent>,
    next_cursor: Option<Cursor>,
}

/// The query parameters of a paged listing, read by hand: every refusal names the
/// parameter and the rule, never the value. Parameters the operation does not take are
/// ignored, as HTTP APIs do (a cache-buster, say).
#[derive(Default)]
struct PageQuery {
    page: PageRequest,
    integration: Option<IntegrationId>,
}

/// Reads `limit`, `cursor` and, where `with_integration`, `integration` from a query
/// string. Each may appear once.
fn page_query(raw: Option<&str>, with_integration: bool) -> Result<PageQuery, Error> {
    let malformed = |field| Error::InvalidInput(InvalidInput::Malformed { field });
    let mut query = PageQuery::default();
    let (mut limit, mut cursor, mut integration) = (None, None, None);
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let (slot, field) = match &*name {
            "limit" => (&mut limit, "limit"),
            "cursor" => (&mut cursor, "cursor"),
            "integration" if with_integration => (&mut integration, "integration"),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(InvalidInput::Repeated { field }.into());
        }
    }
    if let Some(limit) = limit {
        if limit.is_empty() || !limit.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("limit"));
        }
        // More digits than a usize holds is out of range, like any number above the max.
        query.page = query.page.limit(limit.parse().unwrap_or(usize::MAX));
        query.page.validate()?;
    }
    if let Some(cursor) = cursor {
        query.page = query.page.after(Cursor::parse(&cursor)?);
    }
    if let Some(id) = integration {
        query.integration = Some(IntegrationId::parse(&id).map_err(|_| malformed("integration"))?);
    }
    Ok(query)
}

async fn create<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    json: Result<Json<CreateBody>, JsonRejection>,
) -> ApiResult<Response> {
    let CreateBody {
        name,
        description,
        scopes,
    } = body(json)?;
    let new = NewIntegration::new(name)
        .description(description)
        .scopes(scopes);
    let created = pi.create(&actor, new).await?;
    Ok(token_shown(
        StatusCode::CREATED,
        &created.integration,
        &created.token,
    ))
}

async fn list<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<IntegrationPage>> {
    let query = page_query(raw.as_deref(), false)?;
    let page = pi.list_page(&actor, query.page).await?;
    Ok(Json(IntegrationPage {
        integrations: page.items,
        next_cursor: page.next,
    }))
}

async fn get_one<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Integration>> {
    let id = integration_id(path)?;
    Ok(Json(pi.get(&actor, &id).await?))
}

async fn update<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    json: Result<Json<UpdateBody>, JsonRejection>,
) -> ApiResult<Json<Integration>> {
    let id = integration_id(path)?;
    let UpdateBody {
        name,
        description,
        scopes,
    } = body(json)?;
    let mut update = IntegrationUpdate::new();
    if let Some(name) = name {
        update = update.name(name);
    }
    if let Some(description) = description {
        update = update.description(description);
    }
    if let Some(scopes) = scopes {
        update = update.scopes(scopes);
    }
    Ok(Json(pi.update(&actor, &id, update).await?))
}

async fn delete<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let id = integration_id(path)?;
    pi.delete(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    json: Result<Json<RotateBody>, JsonRejection>,
) -> ApiResult<Response> {
    let id = integration_id(path)?;
    let RotateBody { mode } = body(json)?;
    let rotated = pi.rotate(&actor, &id, mode).await?;
    Ok(token_shown(
        StatusCode::OK,
        &rotated.integration,
        &rotated.token,
    ))
}

async fn cancel_rotation<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Integration>> {
    let id = integration_id(path)?;
    Ok(Json(pi.cancel_rotation(&actor, &id).await?))
}

async fn expire_previous_now<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Integration>> {
    let id = integration_id(path)?;
    Ok(Json(pi.expire_previous_now(&actor, &id).await?))
}

async fn set_permission<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    json: Result<Json<PermissionBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let user = path
        .map_err(|_| invalid_user_id())
        .and_then(|Path(raw)| UserId::try_new(raw).map_err(|err| Error::from(err).into()))?;
    let PermissionBody { permission } = body(json)?;
    pi.set_permission(&actor, &user, permission).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn invalid_user_id() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        "invalid input: user id is malformed",
    )
}

async fn set_feature<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    json: Result<Json<FeatureBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let FeatureBody { enabled } = body(json)?;
    pi.set_feature_enabled(&actor, enabled).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotation_due<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
) -> ApiResult<Json<Integrations>> {
    let integrations = pi.rotation_due(&actor).await?;
    Ok(Json(Integrations { integrations }))
}

async fn audit_log<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Events>> {
    let PageQuery { page, integration } = page_query(raw.as_deref(), true)?;
    let mut query = AuditLogQuery::new().page(page);
    if let Some(id) = integration {
        query = query.integration(id);
    }
    let page = pi.audit_log_page(&actor, query).await?;
    Ok(Json(Events {
        events: page.items,
        next_cursor: page.next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{InvalidInput, StorageError};

    #[test]
    fn errors_map_to_statuses_and_codes() {
        let cases: [(Error, u16, &str); 10] = [
            (Error::NotFound, 404, "not_found"),
            (Error::PermissionDenied, 403, "permission_denied"),
            (Error::FeatureDisabled, 403, "feature_disabled"),
            (
                Error::InvalidInput(InvalidInput::NoScopes),
                422,
                "invalid_input",
            ),
            (Error::UnknownScope("x.y".into()), 422, "unknown_scope"),
            (Error::RotationInProgress, 409, "rotation_in_progress"),
            (Error::NoRotationInProgress, 409, "no_rotation_in_progress"),
            (Error::Conflict, 409, "conflict"),
            (
                Error::Storage(StorageError::backend("db.internal:5432 refused")),
                503,
                "storage_unavailable",
            ),
            (
                Error::Storage(StorageError::NotFound),
                503,
                "storage_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.status.as_u16(), status, "{code}");
            assert_eq!(api.code, code);
            assert!(!api.message.contains("db.internal"));
        }
    }
}
