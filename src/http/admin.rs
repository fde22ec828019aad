//! The admin router: the whole management API as JSON over HTTP.

use std::borrow::Cow;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MATCH, PRAGMA};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tower_http::csrf::{ProtectionError, ProtectionErrorKind};

use super::CsrfLayer;
use crate::domain::access::{Actor, Permission};
use crate::domain::audit::AuditEvent;
use crate::domain::credentials::RotationMode;
use crate::domain::idempotency::{AlreadyDone, IdempotencyKey, Outcome};
use crate::domain::ids::{IntegrationId, UserId};
use crate::domain::integration::{Integration, IntegrationUpdate, NewIntegration, holds_token};
use crate::domain::leak::LeakLabel;
use crate::domain::listing::{IntegrationQuery, IntegrationState, MAX_SEARCH_CHARS};
use crate::domain::page::{AuditLogQuery, Cursor, ListOrder, PageRequest};
use crate::domain::token::IssuedToken;
use crate::domain::usage::{Usage, UseTotals};
use crate::error::{Error, InvalidInput};
use crate::service::{LeakOutcome, PrivateIntegrations};

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
/// | `GET /integrations?limit=&cursor=&q=&state=&order=` | | 200 `{"integrations": […], "next_cursor", "total"}`, oldest first unless `order=newest` |
/// | `GET /integrations/{id}` | | 200 integration |
/// | `GET /integrations/{id}/usage?days=` | | 200 `{"days": [{"date", "current", "previous"}, …], "last_24_hours": {"current", "previous"}, "recorded"}`, oldest day first |
/// | `PATCH /integrations/{id}` | `{"name"?, "description"?, "scopes"?}`, `If-Match`? | 200 integration |
/// | `DELETE /integrations/{id}` | | 204 |
/// | `POST /integrations/{id}/rotate` | `{"mode": "expire_later" \| "expire_now"}` | 200 `{"integration", "token", "token_notice"}` |
/// | `POST /integrations/{id}/rotation/cancel` | | 200 integration |
/// | `POST /integrations/{id}/rotation/expire-previous` | | 200 integration |
/// | `PUT /users/{user_id}/permission` | `{"permission": "allow" \| "deny" \| "role_default"}` | 204 |
/// | `PUT /feature` | `{"enabled": bool}` | 204 |
/// | `GET /rotation-due` | | 200 `{"integrations": […]}` |
/// | `GET /audit-log?limit=&cursor=&integration=` | | 200 `{"events": […], "next_cursor"}`, newest first |
///
/// `openapi.yaml` at the root of the crate describes each of them. Every answer, errors
/// included, carries `Cache-Control: no-store` (those that show a token also
/// `Pragma: no-cache`): lists and logs are private, and no cache on the way may keep one.
///
/// No answer repeats what the request sent: a refusal names the field (by this API's own
/// name for it, `scopes[1]`) and the rule, never the value, so a token pasted into the
/// wrong field does not come back. A name, description or user id that holds a token is
/// refused (`invalid_input`): it would be stored, and shown, as it is.
///
/// Every answer that shows an integration carries its version as a strong `ETag`
/// (`"3"`). A `PATCH` with `If-Match: "3"` applies only if the integration is still at
/// version 3 ([`IntegrationUpdate::expect_version`]), and is otherwise `412
/// precondition_failed`, changing nothing: an edit form sends back the `ETag` of what
/// it showed, and never undoes a change made meanwhile. `If-Match: *` is the same as
/// none (the integration exists); a list of tags matches if one does (RFC 9110
/// §13.1.1). A weak tag (`W/"3"`) or one that is no version never matches; a value that
/// is not `*` or a list of entity tags matches nothing either (`412
/// malformed_precondition`). As RFC 9110 §13.2.2 orders it, an edit refused anyway
/// (404, 403, 422) says so rather than 412. Other operations ignore `If-Match`.
///
/// The two listings that grow without bound come a page at a time: `limit` items (1 to
/// [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE), default
/// [`DEFAULT_PAGE_SIZE`](crate::DEFAULT_PAGE_SIZE)), and `next_cursor` (`null` on the last
/// page) to pass as `cursor` for the next. The audit log takes `integration=<id>` for one
/// integration's events. Parameters an operation does not take are ignored; a malformed,
/// repeated or out-of-range one is `422 invalid_input`. See [`PrivateIntegrations::list_page`].
///
/// **Usage.** `GET /integrations/{id}/usage` is [`PrivateIntegrations::usage`], authorised
/// like `GET /integrations/{id}`: one entry per day (UTC) of the usage retention, oldest
/// first, ending today, each `{"date": "2026-12-07", "current": 12, "previous": 3}` (the
/// uses of the current token, and of the tokens it replaced), the same split over the
/// last 24 hours, and whether this service counts uses at all (`recorded`). `days=N`
/// keeps the newest `N` days only (1 to the retention's days; [`Usage::recent_days`]).
///
/// **Retries.** Every state-changing route takes an `Idempotency-Key` header (IETF
/// httpapi draft; see [`PrivateIntegrations::once`]): a client that cannot tell whether
/// its request happened sends it again with the same key, and the change is made at most
/// once. The key is the header's value as sent, 1 to 255 visible ASCII characters,
/// scoped to the account and user, kept at least 24 hours. A retry of a completed
/// request (same operation, integration and arguments) changes nothing and gets the
/// first answer again, with `Idempotent-Replayed: true`; but a create's or rotation's
/// token is stored nowhere, so their retry is `409 idempotency_key_reused`, naming the
/// integration and when its token was issued. The same key for another request is `422
/// idempotency_key_mismatch`; while the first is under way, `409 request_in_progress`;
/// a malformed or repeated key, `400 invalid_idempotency_key` (never shown back).
///
/// Every route is guarded by tower-http's [`CsrfLayer`], trusting no other origin: a
/// state-changing request that a browser sent from another site is refused before the
/// login runs ([the rules](super#cross-site-requests)).
/// Same-origin browser requests and clients that are no browser (curl, another server) go
/// through. [`admin_router_with_csrf`] takes a layer of the host's.
///
/// Every failure is JSON, `{"error": code, "message": text}`:
///
/// | status | `error` | when |
/// |---|---|---|
/// | 400 | `malformed_json` | the body is not JSON (the message gives the line and column) |
/// | 400 | `invalid_idempotency_key` | a malformed or repeated `Idempotency-Key` |
/// | 404 | `not_found` | a path under the router that names no operation |
/// | 405 | `method_not_allowed` | a method the path does not take (with `Allow`) |
/// | 403 | `permission_denied`, `feature_disabled` | [`Error::PermissionDenied`], [`Error::FeatureDisabled`] |
/// | 403 | `cross_site_request` | a browser sent a change from another site ([`CsrfLayer`]) |
/// | 404 | `not_found` | [`Error::NotFound`]; also a malformed integration id, without a storage call |
/// | 409 | `rotation_in_progress`, `no_rotation_in_progress`, `conflict` | the errors of the same names (`conflict`: reload and retry) |
/// | 409 | `request_in_progress`, `idempotency_key_reused` | [`Error::RequestInProgress`]; a create or rotation repeated with its `Idempotency-Key` (with `integration`, `token_issued_at`, `done_at`) |
/// | 412 | `precondition_failed`, `malformed_precondition` | a `PATCH` whose `If-Match` names no version the integration is at ([`IntegrationUpdate::expect_version`]), or is not `*` or a list of entity tags |
/// | 413 | `body_too_large` | the body is over axum's limit (2 MB by default) |
/// | 415 | `unsupported_media_type` | a body without `Content-Type: application/json` |
/// | 422 | `invalid_body` | JSON of the wrong shape (a missing field, an unknown field, a wrong type or value) |
/// | 422 | `invalid_input`, `unknown_scope` | [`Error::InvalidInput`], [`Error::UnknownScope`]; also a malformed user id |
/// | 422 | `idempotency_key_mismatch` | [`Error::IdempotencyKeyMismatch`] |
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
/// login included. The layer's trusted origins (and any bypass the host gave it) are
/// kept; its refusal is replaced with the admin API's own
/// ([`with_rejection_response`](CsrfLayer::with_rejection_response)): a state-changing
/// request that a browser sent from another site is `403`,
/// `{"error": "cross_site_request", "message": …}`, the message never repeating a header
/// value.
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
/// // Written as browsers send it: the host in lower case, no default port, no path.
/// let csrf = CsrfLayer::new().add_trusted_origin("https://console.example.com")?;
/// let app: Router = Router::new().nest("/admin", admin_router_with_csrf::<HostLogin, _>(pi, csrf));
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
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
        .route("/integrations/{id}/usage", get(usage::<A>))
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
        .route("/leaks", post(report_leak::<A>))
        .fallback(no_such_operation)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(pi))
        .layer(csrf.with_rejection_response(cross_site_refusal))
        .layer(map_response(no_store))
}

/// The admin API's answer to a request [`CsrfLayer`] refused: `403 cross_site_request`,
/// with a message that names no header value (`no_store` adds `Cache-Control`).
fn cross_site_refusal(refusal: ProtectionError) -> Response {
    let message = match refusal.kind() {
        // Sec-Fetch-Site said another site (or a sibling of this one).
        ProtectionErrorKind::CrossOriginRequest => {
            "refused: a browser sent this change from another site; make it from the admin pages"
        }
        // No Sec-Fetch-Site, and an Origin that is not the request's own nor trusted.
        _ => {
            "refused: a browser sent this change from another origin; make it from the admin pages"
        }
    };
    tracing::debug!(%refusal, "refused a cross-site request to the admin API");
    ApiError::new(StatusCode::FORBIDDEN, "cross_site_request", message).into_response()
}

/// Keeps every answer of the admin API out of caches on the way (RFC 9111 §5.2.2.5):
/// lists and the audit log are as private as a token, and a shared cache must not serve
/// one admin's answer, or an error about a request, to anyone else.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A path under the admin router that names no operation.
async fn no_such_operation() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such operation: see openapi.yaml",
    )
}

/// A method the path does not take (axum adds the `Allow` header).
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take this method: the Allow header lists those it takes",
    )
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
            Error::IdempotencyKeyMismatch => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_mismatch")
            }
            Error::RequestInProgress => (StatusCode::CONFLICT, "request_in_progress"),
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
        // These messages name fields and rules, never a value the caller sent (a token
        // pasted into the wrong field must not come back) or an internal detail.
        let message = match &err {
            Error::UnknownScope(_) => Cow::Borrowed(UNKNOWN_SCOPE),
            Error::InvalidInput(InvalidInput::DuplicateScope(_)) => {
                Cow::Borrowed("the scope catalog names a scope twice")
            }
            _ => Cow::Owned(err.to_string()),
        };
        ApiError::new(status, code, message)
    }
}

/// The message of `unknown_scope` when it is not known which scope it was.
const UNKNOWN_SCOPE: &str = "a scope is not in the service's scope catalog";

/// [`Error`] as an [`ApiError`], saying which of `scopes` is unknown by its place in the
/// list (`scopes[2]`), never by its name: the name is what the caller sent.
fn scope_error(err: Error, pi: &PrivateIntegrations, scopes: &[String]) -> ApiError {
    let mut api = ApiError::from(err);
    if api.code == "unknown_scope" {
        let catalog = pi.scope_catalog();
        if let Some(at) = scopes.iter().position(|s| !catalog.contains(s)) {
            api.message = format!("scopes[{at}] is not in the service's scope catalog").into();
        }
    }
    api
}

/// A JSON body, read so that no refusal repeats what was sent: axum's own `Json`
/// rejections quote the offending value (`invalid type: string "pit_…"`), and a token
/// pasted into the wrong field must never come back in a response. A refusal names the
/// field by its path in the body (`scopes[1]`), which holds only this API's field names
/// and indices: an unknown field is refused at the body's top level, without its name.
struct JsonBody<T>(T);

/// A request body of the admin API, and the names of its fields.
trait Body: DeserializeOwned {
    const FIELDS: &'static [&'static str];
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: Body,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON, with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the body is larger than the server takes",
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "unreadable_body",
                        "the body could not be read",
                    )
                }
            })?;
        let mut reader = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut reader).map_err(|err| {
            // The path names fields as the body spelled them: show it only if each is one
            // of this body's own fields (an unknown one is the caller's text).
            let known = err.path().iter().all(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => T::FIELDS.contains(&key.as_str()),
                serde_path_to_error::Segment::Seq { .. } => true,
                _ => false,
            });
            let path = if known {
                err.path().to_string()
            } else {
                ".".to_owned()
            };
            refused_body(&path, &err.into_inner())
        })?;
        reader.end().map_err(|err| refused_body(".", &err))?;
        Ok(JsonBody(value))
    }
}

/// Why a body was refused, from where in it (`path`, `.` for the whole) and the JSON
/// reader's error, whose own text is never shown (it may quote the value).
fn refused_body(path: &str, err: &serde_json::Error) -> ApiError {
    match err.classify() {
        serde_json::error::Category::Data if path == "." => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "the body must be a JSON object with this operation's fields, each once and no \
             others (see openapi.yaml)",
        ),
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("{path} has the wrong type or value (see openapi.yaml)"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not JSON (line {}, column {})",
                err.line(),
                err.column()
            ),
        ),
    }
}

/// `Content-Type: application/json`, or another `application/…+json`, with any
/// parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

/// A field that may be left out but, when given, is a value of its type: `null` is not
/// "leave it as it is" (leave the field out for that).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
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
fn body<T: Body>(json: Result<JsonBody<T>, ApiError>) -> ApiResult<T> {
    json.map(|JsonBody(value)| value)
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
    let mut response = (status, etag(integration), Json(body)).into_response();
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
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
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

/// `POST /leaks`: a token found in a public place, and where.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeakBody {
    token: String,
    #[serde(default)]
    url: String,
}

impl Body for LeakBody {
    const FIELDS: &'static [&'static str] = &["token", "url"];
}

/// The answer of `POST /leaks`.
#[derive(Serialize)]
struct LeakAnswer {
    label: LeakLabel,
    revoked: bool,
    recorded: bool,
    integration: Option<IntegrationId>,
}

impl From<LeakOutcome> for LeakAnswer {
    fn from(outcome: LeakOutcome) -> Self {
        Self {
            label: outcome.label,
            revoked: outcome.revoked,
            recorded: outcome.recorded,
            integration: outcome.integration,
        }
    }
}

impl Body for CreateBody {
    const FIELDS: &'static [&'static str] = &["name", "description", "scopes"];
}

impl Body for UpdateBody {
    const FIELDS: &'static [&'static str] = &["name", "description", "scopes"];
}

impl Body for RotateBody {
    const FIELDS: &'static [&'static str] = &["mode"];
}

impl Body for PermissionBody {
    const FIELDS: &'static [&'static str] = &["permission"];
}

impl Body for FeatureBody {
    const FIELDS: &'static [&'static str] = &["enabled"];
}

#[derive(Serialize)]
struct Integrations {
    integrations: Vec<Integration>,
}

/// A page of integrations: the field of the unpaged list, the next page's cursor, and
/// how many integrations match the query in all.
#[derive(Serialize)]
struct IntegrationPage {
    integrations: Vec<Integration>,
    next_cursor: Option<Cursor>,
    total: u64,
}

/// A page of the audit log.
#[derive(Serialize)]
struct Events {
    events: Vec<AuditEvent>,
    next_cursor: Option<Cursor>,
}

/// The answer of `GET /integrations/{id}/usage`: [`Usage`], its newest days only if the
/// query asked for fewer.
#[derive(Serialize)]
struct UsageAnswer {
    days: Vec<UsageDayAnswer>,
    last_24_hours: UseTotalsAnswer,
    recorded: bool,
}

impl UsageAnswer {
    /// The newest `days` days of `usage` (all of them if it has fewer), oldest first.
    fn new(usage: &Usage, days: usize) -> Self {
        Self {
            days: usage
                .recent_days(days)
                .iter()
                .map(|day| UsageDayAnswer {
                    date: day.date(),
                    current: day.current(),
                    previous: day.previous(),
                })
                .collect(),
            last_24_hours: usage.last_24_hours().into(),
            recorded: usage.recorded(),
        }
    }
}

/// One day of [`UsageAnswer`].
#[derive(Serialize)]
struct UsageDayAnswer {
    #[serde(serialize_with = "calendar_date")]
    date: time::Date,
    current: u64,
    previous: u64,
}

/// [`UseTotals`] as JSON.
#[derive(Serialize)]
struct UseTotalsAnswer {
    current: u64,
    previous: u64,
}

impl From<UseTotals> for UseTotalsAnswer {
    fn from(uses: UseTotals) -> Self {
        Self {
            current: uses.current(),
            previous: uses.previous(),
        }
    }
}

/// A day as an ISO 8601 calendar date, `2026-12-07`: the date of the RFC 3339 times the
/// rest of the API shows (the `time` crate's own serialisation of a `Date` is a tuple).
fn calendar_date<S: serde::Serializer>(
    date: &time::Date,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use time::format_description::well_known::Iso8601;
    let text = date
        .format(&Iso8601::DATE)
        .map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
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

/// Reads `GET /integrations`'s query: `limit` and `cursor` as [`page_query`], `q` (name
/// contains), `state` and `order` (`newest` or `oldest`). Each may appear once; an empty
/// `q`, `state` or `order` is as good as none (what an HTML form sends). Without `order`,
/// the cursor's order, or oldest first without a cursor (as before these parameters).
fn integration_query(raw: Option<&str>) -> Result<IntegrationQuery, Error> {
    let malformed = |field| Error::InvalidInput(InvalidInput::Malformed { field });
    let PageQuery { page, .. } = page_query(raw, false)?;
    let (mut q, mut state, mut order) = (None, None, None);
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let (slot, field) = match &*name {
            "q" => (&mut q, "q"),
            "state" => (&mut state, "state"),
            "order" => (&mut order, "order"),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(InvalidInput::Repeated { field }.into());
        }
    }
    let order = match order.as_deref() {
        None | Some("") => page
            .cursor()
            .and_then(Cursor::integration_order)
            .unwrap_or(ListOrder::OldestFirst),
        Some("newest") => ListOrder::NewestFirst,
        Some("oldest") => ListOrder::OldestFirst,
        Some(_) => return Err(malformed("order")),
    };
    let mut query = IntegrationQuery::new().order(order).page(page);
    if let Some(q) = q {
        // Checked as sent, before trimming, under the parameter's own name.
        if q.chars().count() > MAX_SEARCH_CHARS {
            return Err(InvalidInput::TooLong {
                field: "q",
                max: MAX_SEARCH_CHARS,
            }
            .into());
        }
        if q.chars().any(char::is_control) {
            return Err(InvalidInput::ControlCharacter { field: "q" }.into());
        }
        query = query.name_contains(q);
    }
    match state.as_deref() {
        None | Some("") => {}
        Some(text) => {
            query = query.state(IntegrationState::parse(text).ok_or_else(|| malformed("state"))?);
        }
    }
    query.validate()?;
    Ok(query)
}

/// Reads `GET /integrations/{id}/usage`'s query: `days`, the newest days to show, 1 to
/// `kept` (the days of the usage retention); all `kept` without it. It may appear once.
fn usage_days(raw: Option<&str>, kept: usize) -> Result<usize, Error> {
    let mut days = None;
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if name == "days" && days.replace(value).is_some() {
            return Err(InvalidInput::Repeated { field: "days" }.into());
        }
    }
    let Some(days) = days else {
        return Ok(kept);
    };
    if days.is_empty() || !days.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidInput::Malformed { field: "days" }.into());
    }
    // More digits than a usize holds is out of range, like any number above the max.
    let days = days.parse().unwrap_or(usize::MAX);
    if !(1..=kept).contains(&days) {
        let (field, min, max) = ("days", 1, kept);
        return Err(InvalidInput::OutOfRange { field, min, max }.into());
    }
    Ok(days)
}

async fn create<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    Keyed(key): Keyed,
    json: Result<JsonBody<CreateBody>, ApiError>,
) -> ApiResult<Response> {
    let CreateBody {
        name,
        description,
        scopes,
    } = body(json)?;
    as_sent(&name, Some(&description))?;
    let new = NewIntegration::new(name)
        .description(description)
        .scopes(scopes.iter().cloned());
    let created = match &key {
        Some(key) => pi.once(&actor, key).create(new).await,
        None => pi.create(&actor, new).await.map(Outcome::Done),
    }
    .map_err(|err| scope_error(err, &pi, &scopes))?;
    Ok(match created {
        Outcome::Done(created) => {
            token_shown(StatusCode::CREATED, &created.integration, &created.token)
        }
        Outcome::AlreadyDone(first) => token_not_replayed(&first),
    })
}

async fn list<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<IntegrationPage>> {
    let query = integration_query(raw.as_deref())?;
    let page = pi.list_query(&actor, query).await?;
    Ok(Json(IntegrationPage {
        total: page.total.unwrap_or_default(),
        integrations: page.items,
        next_cursor: page.next,
    }))
}

async fn get_one<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Tagged> {
    let id = integration_id(path)?;
    Ok(Tagged(pi.get(&actor, &id).await?))
}

/// `GET /integrations/{id}/usage`: [`PrivateIntegrations::usage`], the newest `days`
/// days of it if the query says so. The query is read before the service is asked, as
/// the list's is.
async fn usage<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<UsageAnswer>> {
    let id = integration_id(path)?;
    let kept = usize::try_from(pi.usage_retention().whole_days()).unwrap_or(1);
    let days = usage_days(raw.as_deref(), kept.max(1))?;
    let usage = pi.usage(&actor, &id).await?;
    Ok(Json(UsageAnswer::new(&usage, days)))
}

async fn update<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    Keyed(key): Keyed,
    json: Result<JsonBody<UpdateBody>, ApiError>,
) -> ApiResult<Response> {
    let id = integration_id(path)?;
    let precondition = if_match(&headers);
    let UpdateBody {
        name,
        description,
        scopes,
    } = body(json)?;
    if let Some(name) = &name {
        as_sent(name, None)?;
    }
    as_sent("-", description.as_deref())?;
    let mut update = IntegrationUpdate::new();
    if let Some(name) = name {
        update = update.name(name);
    }
    if let Some(description) = description {
        update = update.description(description);
    }
    if let Some(scopes) = &scopes {
        update = update.scopes(scopes.iter().cloned());
    }
    let update = match expected_version(&precondition, &pi, &actor, &id).await? {
        Some(version) => update.expect_version(version),
        None => update,
    };
    let updated = match &key {
        Some(key) => pi.once(&actor, key).update(&id, update).await,
        None => pi.update(&actor, &id, update).await.map(Outcome::Done),
    };
    match updated {
        Err(Error::Conflict) if precondition == IfMatch::Malformed => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "malformed_precondition",
            "If-Match must be * or entity tags such as \"3\", the ETag of the version the edit was made from: this one matches nothing",
        )),
        Err(Error::Conflict) if precondition.is_conditional() => Err(precondition_failed()),
        Err(err) => Err(scope_error(err, &pi, scopes.as_deref().unwrap_or_default())),
        Ok(outcome) => Ok(tagged(outcome)),
    }
}

/// An integration as JSON, with its version as a strong `ETag`.
struct Tagged(Integration);

impl IntoResponse for Tagged {
    fn into_response(self) -> Response {
        (etag(&self.0), Json(&self.0)).into_response()
    }
}

/// `ETag: "<version>"`: strong, from the stored version, so `If-Match` can name what an
/// edit was made from. A rotation's grace period that ends shows as `pending_rotation:
/// null` without a new version (time passed, nothing was written), so two answers with
/// one `ETag` may differ in that field.
fn etag(integration: &Integration) -> [(HeaderName, HeaderValue); 1] {
    let value = HeaderValue::from_str(&format!("\"{}\"", integration.version()))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    [(ETAG, value)]
}

/// What the `If-Match` header of an edit asks.
#[derive(Debug, PartialEq, Eq)]
enum IfMatch {
    /// No `If-Match`: the edit applies to whatever is stored.
    Absent,
    /// `*`: any current representation, that is, the integration exists (as without it).
    Any,
    /// A list of entity tags: the edit applies only if the integration is at one of these
    /// versions. Tags that name no version this API issues (weak ones, or not a canonical
    /// decimal number) match nothing and are left out; so may all be.
    Versions(Vec<u64>),
    /// Not `*` nor a list of entity tags: matches nothing.
    Malformed,
}

impl IfMatch {
    fn is_conditional(&self) -> bool {
        matches!(self, IfMatch::Versions(_) | IfMatch::Malformed)
    }
}

/// Reads `If-Match` (RFC 9110 §13.1.1): `*`, or a list of entity tags; every header
/// line counts.
fn if_match(headers: &HeaderMap) -> IfMatch {
    let mut values = headers.get_all(IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return IfMatch::Absent;
    }
    let mut any = false;
    let mut versions = Vec::new();
    let mut tags = 0;
    for value in values {
        let value = value.as_bytes().trim_ascii();
        if value == b"*" {
            any = true;
            continue;
        }
        let Some(list) = entity_tags(value) else {
            return IfMatch::Malformed;
        };
        tags += list.len();
        versions.extend(
            list.iter()
                .filter_map(|(weak, tag)| version_tag(*weak, tag)),
        );
    }
    match (any, tags) {
        (true, 0) => IfMatch::Any,
        (false, _) => IfMatch::Versions(versions),
        (true, _) => IfMatch::Malformed,
    }
}

/// The version an edit under `precondition` must find, if any: of several, the one the
/// integration is at now (read once more; the write still checks it).
async fn expected_version(
    precondition: &IfMatch,
    pi: &PrivateIntegrations,
    actor: &Actor,
    id: &IntegrationId,
) -> ApiResult<Option<u64>> {
    // No stored version reaches u64::MAX (the SQL backends store versions as 64-bit
    // signed integers): expecting it matches nothing, and the edit is still checked in
    // full (permission, existence, fields) before 412 is answered, as RFC 9110 §13.2.2
    // orders it.
    const NOTHING: u64 = u64::MAX;
    Ok(match precondition {
        IfMatch::Absent | IfMatch::Any => None,
        IfMatch::Malformed => Some(NOTHING),
        IfMatch::Versions(versions) => match versions.as_slice() {
            [] => Some(NOTHING),
            [one] => Some(*one),
            several => {
                let now = pi.get(actor, id).await?.version();
                Some(if several.contains(&now) { now } else { NOTHING })
            }
        },
    })
}

/// The entity tags of a list (`#entity-tag`): each `[W/]"…"`, with visible ASCII or
/// non-ASCII bytes inside the quotes, separated by commas and optional white space.
/// `None` unless the whole value is such a list with at least one tag.
fn entity_tags(value: &[u8]) -> Option<Vec<(bool, &[u8])>> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_ascii_start();
        while let Some(after) = rest.strip_prefix(b",") {
            rest = after.trim_ascii_start();
        }
        if rest.is_empty() {
            break;
        }
        let (weak, quoted) = match rest.strip_prefix(b"W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let inside = quoted.strip_prefix(b"\"")?;
        let end = inside.iter().position(|&b| b == b'"')?;
        let tag = &inside[..end];
        if !tag
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        tags.push((weak, tag));
        rest = inside[end + 1..].trim_ascii_start();
        if !rest.is_empty() && !rest.starts_with(b",") {
            return None;
        }
    }
    (!tags.is_empty()).then_some(tags)
}

/// The version a tag names, if it is one this API issues: strong, decimal digits, no
/// leading zero.
fn version_tag(weak: bool, tag: &[u8]) -> Option<u64> {
    let canonical = !weak
        && !tag.is_empty()
        && tag.iter().all(u8::is_ascii_digit)
        && (tag == b"0" || tag[0] != b'0');
    if !canonical {
        return None;
    }
    std::str::from_utf8(tag).ok()?.parse().ok()
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "the integration changed since this edit was made (If-Match): reload it and edit again",
    )
}

async fn delete<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    Keyed(key): Keyed,
) -> ApiResult<Response> {
    let id = integration_id(path)?;
    let deleted = match &key {
        Some(key) => pi.once(&actor, key).delete(&id).await?,
        None => Outcome::Done(pi.delete(&actor, &id).await?),
    };
    Ok(no_content(deleted))
}

async fn rotate<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    Keyed(key): Keyed,
    json: Result<JsonBody<RotateBody>, ApiError>,
) -> ApiResult<Response> {
    let id = integration_id(path)?;
    let RotateBody { mode } = body(json)?;
    let rotated = match &key {
        Some(key) => pi.once(&actor, key).rotate(&id, mode).await?,
        None => Outcome::Done(pi.rotate(&actor, &id, mode).await?),
    };
    Ok(match rotated {
        Outcome::Done(rotated) => token_shown(StatusCode::OK, &rotated.integration, &rotated.token),
        Outcome::AlreadyDone(first) => token_not_replayed(&first),
    })
}

async fn cancel_rotation<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    Keyed(key): Keyed,
) -> ApiResult<Response> {
    let id = integration_id(path)?;
    Ok(tagged(match &key {
        Some(key) => pi.once(&actor, key).cancel_rotation(&id).await?,
        None => Outcome::Done(pi.cancel_rotation(&actor, &id).await?),
    }))
}

async fn expire_previous_now<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    Keyed(key): Keyed,
) -> ApiResult<Response> {
    let id = integration_id(path)?;
    Ok(tagged(match &key {
        Some(key) => pi.once(&actor, key).expire_previous_now(&id).await?,
        None => Outcome::Done(pi.expire_previous_now(&actor, &id).await?),
    }))
}

/// The header that says an answer is the first one again: the request was made before
/// with its `Idempotency-Key`, and this one did nothing.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` of a state-changing request, if it has one (IETF httpapi
/// draft): the header's value as sent, 1 to 255 visible ASCII characters. A malformed or
/// repeated key, or one that holds a token, is `400 invalid_idempotency_key`, and never
/// shown back.
struct Keyed(Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for Keyed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let refused = |message: &'static str| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", message)
        };
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Ok(Keyed(None));
        };
        if values.next().is_some() {
            return Err(refused("send one Idempotency-Key header, not several"));
        }
        // The value as sent is the key, quotes included (a structured-field string, as
        // the draft has it, is its own key, the same at every retry).
        let key = std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|raw| IdempotencyKey::new(raw).ok())
            .ok_or_else(|| refused(KEY_RULE))?;
        if holds_token(key.as_str()) {
            // Keys are stored: a token there would be a secret at rest.
            return Err(refused(
                "Idempotency-Key holds an access token: tokens are secrets, never send one as a key",
            ));
        }
        Ok(Keyed(Some(key)))
    }
}

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// What a key must be.
const KEY_RULE: &str = "Idempotency-Key must be 1 to 255 visible ASCII characters (no space): \
    a new one, a UUID say, for each new request";

/// The answer of an edit, cancel or expire: the integration as the call left it, the
/// first answer again if the call was a repeat.
fn tagged(outcome: Outcome<Integration>) -> Response {
    match outcome {
        Outcome::Done(integration) => Tagged(integration).into_response(),
        Outcome::AlreadyDone(first) => match first.integration {
            Some(integration) => replayed(Tagged(integration)),
            // Every edit, cancel and expire keeps its integration.
            None => replayed(StatusCode::NO_CONTENT),
        },
    }
}

/// `204`, flagged as the first answer again if the call was a repeat.
fn no_content(outcome: Outcome<()>) -> Response {
    match outcome {
        Outcome::Done(()) => StatusCode::NO_CONTENT.into_response(),
        Outcome::AlreadyDone(_) => replayed(StatusCode::NO_CONTENT),
    }
}

fn replayed(answer: impl IntoResponse) -> Response {
    let mut response = answer.into_response();
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The answer to a repeated create or rotation: its token was shown once, to the first
/// request, and is stored nowhere, so it cannot be shown again. `409
/// idempotency_key_reused`, naming the integration and when its token was issued, so a
/// client that lost the first answer knows which integration to rotate.
fn token_not_replayed(first: &AlreadyDone) -> Response {
    #[derive(Serialize)]
    struct KeyReused<'a> {
        error: &'static str,
        message: &'static str,
        integration: Option<&'a IntegrationId>,
        #[serde(with = "time::serde::rfc3339::option")]
        token_issued_at: Option<time::OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339")]
        done_at: time::OffsetDateTime,
    }
    let integration = first.integration.as_ref();
    let body = KeyReused {
        error: "idempotency_key_reused",
        message: "this request was already made with this Idempotency-Key: the token was \
            shown once, in the answer to the first request, and is not stored. If it was \
            lost, rotate this integration with mode expire_now to issue a new one",
        integration: integration.map(Integration::id),
        token_issued_at: integration.map(Integration::token_issued_at),
        done_at: first.at,
    };
    replayed((StatusCode::CONFLICT, Json(body)))
}

async fn set_permission<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    path: Result<Path<String>, PathRejection>,
    Keyed(key): Keyed,
    json: Result<JsonBody<PermissionBody>, ApiError>,
) -> ApiResult<Response> {
    let user = path.map_err(|_| invalid_user_id()).and_then(|Path(raw)| {
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(invalid_user_id());
        }
        if holds_token(&raw) {
            // Stored in the audit log as it is: a secret at rest if it were a token.
            return Err(Error::from(InvalidInput::HoldsToken { field: "user id" }).into());
        }
        UserId::try_new(raw).map_err(|err| Error::from(err).into())
    })?;
    let PermissionBody { permission } = body(json)?;
    Ok(no_content(match &key {
        Some(key) => {
            pi.once(&actor, key)
                .set_permission(&user, permission)
                .await?
        }
        None => Outcome::Done(pi.set_permission(&actor, &user, permission).await?),
    }))
}

/// The limits `openapi.yaml` states for a name and a description, as sent: at most 100
/// and 1000 characters before trimming, and no control character (but line breaks and
/// tabs in a description), separator or bidirectional control anywhere, the ends
/// included. The domain trims first and checks what is left; the API states limits a
/// schema can say, so it holds the text as sent to them too.
fn as_sent(name: &str, description: Option<&str>) -> Result<(), Error> {
    use crate::domain::integration::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if name.chars().count() > MAX_NAME_CHARS {
        let (field, max) = ("name", MAX_NAME_CHARS);
        return Err(InvalidInput::TooLong { field, max }.into());
    }
    if name
        .chars()
        .any(|c| c.is_control() || bidi(c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(InvalidInput::ControlCharacter { field: "name" }.into());
    }
    let Some(description) = description else {
        return Ok(());
    };
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        let (field, max) = ("description", MAX_DESCRIPTION_CHARS);
        return Err(InvalidInput::TooLong { field, max }.into());
    }
    if description
        .chars()
        .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || bidi(c))
    {
        return Err(InvalidInput::ControlCharacter {
            field: "description",
        }
        .into());
    }
    Ok(())
}

fn invalid_user_id() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        "invalid input: user id is malformed (this API takes 1 to 255 printable ASCII characters)",
    )
}

async fn set_feature<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    Keyed(key): Keyed,
    json: Result<JsonBody<FeatureBody>, ApiError>,
) -> ApiResult<Response> {
    let FeatureBody { enabled } = body(json)?;
    Ok(no_content(match &key {
        Some(key) => pi.once(&actor, key).set_feature_enabled(enabled).await?,
        None => Outcome::Done(pi.set_feature_enabled(&actor, enabled).await?),
    }))
}

/// `POST /leaks`: [`PrivateIntegrations::report_leak_as`] (the actor's account only).
async fn report_leak<A>(
    Acting(actor, _): Acting<A>,
    Extension(pi): Extension<PrivateIntegrations>,
    Keyed(key): Keyed,
    json: Result<JsonBody<LeakBody>, ApiError>,
) -> ApiResult<Response> {
    let LeakBody { token, url } = body(json)?;
    Ok(match &key {
        Some(key) => match pi.once(&actor, key).report_leak(&token, &url).await? {
            Outcome::Done(outcome) => Json(LeakAnswer::from(outcome)).into_response(),
            Outcome::AlreadyDone(first) => match LeakOutcome::replayed(&first) {
                Some(outcome) => replayed(Json(LeakAnswer::from(outcome))),
                None => return Err(Error::IdempotencyKeyMismatch.into()),
            },
        },
        None => Json(LeakAnswer::from(
            pi.report_leak_as(&actor, &token, &url).await?,
        ))
        .into_response(),
    })
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

    #[test]
    fn usage_days_are_one_to_the_retention() {
        assert_eq!(usage_days(None, 90).unwrap(), 90);
        assert_eq!(usage_days(Some("days=30&limit=0&other"), 90).unwrap(), 30);
        assert_eq!(usage_days(Some("days=1"), 90).unwrap(), 1);
        assert_eq!(usage_days(Some("days=90"), 90).unwrap(), 90);
        let refused = |query: &str| match usage_days(Some(query), 90) {
            Err(Error::InvalidInput(err)) => err.to_string(),
            other => panic!("{query}: {other:?}"),
        };
        for query in ["days=0", "days=91", "days=99999999999999999999999"] {
            assert_eq!(refused(query), "days must be between 1 and 90");
        }
        for query in ["days=", "days=-1", "days=%2B3", "days=1.5", "days=abc"] {
            assert_eq!(refused(query), "days is malformed");
        }
        assert_eq!(refused("days=3&days=3"), "days is given more than once");
    }

    #[test]
    fn a_day_of_use_is_a_calendar_date() {
        let day = UsageDayAnswer {
            date: time::macros::date!(2026 - 03 - 01),
            current: 12,
            previous: 3,
        };
        assert_eq!(
            serde_json::to_string(&day).unwrap(),
            r#"{"date":"2026-03-01","current":12,"previous":3}"#
        );
    }

    #[test]
    fn error_messages_repeat_no_input() {
        let pasted = "pit_AbCdEfGh12345678_secret";
        for err in [
            Error::UnknownScope(pasted.into()),
            Error::InvalidInput(InvalidInput::DuplicateScope(pasted.into())),
        ] {
            let api = ApiError::from(err);
            assert!(!api.message.contains(pasted), "{api:?}");
        }
    }
}
