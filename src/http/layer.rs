//! [`RequireScope`]: a tower layer that lets a request through only with a live token
//! that has a scope.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::bearer::{BearerError, BearerRejection, Realm, authenticate};
use crate::error::Error;
use crate::service::PrivateIntegrations;
use crate::verify::Verified;

/// A tower [`Layer`] that refuses a request unless it carries
/// `Authorization: Bearer <token>` with a live token whose integration has the scope.
///
/// On success the request goes on with the [`Verified`] integration in its extensions,
/// so the handler extracts it at no further cost. On failure the inner service is never
/// called and the response is a [`BearerRejection`]: 401, 400, 403 or 503 with an RFC 6750
/// challenge, and never the token.
///
/// Made by [`PrivateIntegrations::require_scope`] (or [`RequireScope::new`]). The scope
/// must be in the service's catalog: a typo would otherwise refuse every request, so it
/// is caught when the router is built.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::{get, post}};
/// use private_integrations::*;
///
/// async fn list(verified: Verified) -> String {
///     format!("contacts of {}", verified.account())
/// }
/// async fn add(verified: Verified) -> &'static str {
///     "added"
/// }
///
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
///     .build();
/// let reads = Router::new()
///     .route("/v1/contacts", get(list))
///     .route_layer(pi.require_scope("contacts.readonly"));
/// let writes = Router::new()
///     .route("/v1/contacts", post(add))
///     .route_layer(pi.require_scope("contacts.write"));
/// let app: Router = reads.merge(writes).with_state(pi);
/// # let _ = app;
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct RequireScope {
    pi: PrivateIntegrations,
    scope: &'static str,
    realm: Realm,
}

impl RequireScope {
    /// Requires `scope`, verifying tokens with `pi`.
    ///
    /// # Panics
    ///
    /// Panics if `scope` is not in `pi`'s scope catalog: that is a bug in the router's
    /// code, found when it is built. Use [`try_new`](Self::try_new) for a scope from
    /// configuration.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// use private_integrations::http::RequireScope;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let layer = RequireScope::new(pi, "contacts.readonly");
    /// assert_eq!(layer.scope(), "contacts.readonly");
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn new(pi: PrivateIntegrations, scope: &str) -> Self {
        match Self::try_new(pi, scope) {
            Ok(layer) => layer,
            Err(err) => panic!("RequireScope::new: {err}"),
        }
    }

    /// Requires `scope`, verifying tokens with `pi`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownScope`] if `scope` is not in `pi`'s scope catalog.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// use private_integrations::http::RequireScope;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// assert!(RequireScope::try_new(pi.clone(), "contacts.readonly").is_ok());
    /// assert!(matches!(
    ///     RequireScope::try_new(pi, "contacts.readnly"),
    ///     Err(Error::UnknownScope(_))
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_new(pi: PrivateIntegrations, scope: &str) -> Result<Self, Error> {
        let scope = pi
            .scope_catalog()
            .iter()
            .find(|name| *name == scope)
            .ok_or_else(|| Error::UnknownScope(scope.to_owned()))?;
        Ok(Self {
            pi,
            scope,
            realm: Realm::default(),
        })
    }

    /// Names `realm` in the challenges (default: [`DEFAULT_REALM`](super::DEFAULT_REALM)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// use private_integrations::http::Realm;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let layer = pi.require_scope("contacts.readonly").realm(Realm::new("contacts").unwrap());
    /// # let _ = layer;
    /// # Ok::<(), Error>(())
    /// ```
    #[must_use]
    pub fn realm(mut self, realm: Realm) -> Self {
        self.realm = realm;
        self
    }

    /// The required scope.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::*;
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.write"])?)
    ///     .build();
    /// assert_eq!(pi.require_scope("contacts.write").scope(), "contacts.write");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn scope(&self) -> &'static str {
        self.scope
    }

    /// The verified integration of a request that has the scope. A [`Verified`] already
    /// in the extensions (from an outer `RequireScope`) is reused, not verified again.
    async fn check(
        &self,
        headers: &axum::http::HeaderMap,
        already: Option<Verified>,
    ) -> Result<Verified, BearerError> {
        let verified = match already {
            Some(verified) => verified,
            None => authenticate(&self.pi, headers).await?,
        };
        if verified.has_scope(self.scope) {
            Ok(verified)
        } else {
            Err(BearerError::InsufficientScope {
                scope: self.scope.to_owned(),
            })
        }
    }
}

impl fmt::Debug for RequireScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("scope", &self.scope)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by the [`RequireScope`] layer around an inner service.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use private_integrations::*;
/// use private_integrations::http::RequireScopeService;
/// use tower_layer::Layer;
///
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// let inner = Router::new().route("/", get(|| async { "ok" }));
/// let service: RequireScopeService<Router> = pi.require_scope("contacts.readonly").layer(inner);
/// # let _ = service;
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct RequireScopeService<S> {
    inner: S,
    layer: RequireScope,
}

impl<S, B> Service<Request<B>> for RequireScopeService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Call the instance that `poll_ready` prepared; leave a fresh clone in its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let layer = self.layer.clone();
        Box::pin(async move {
            let already = request.extensions().get::<Verified>().cloned();
            match layer.check(request.headers(), already).await {
                Ok(verified) => {
                    request.extensions_mut().insert(verified);
                    inner.call(request).await
                }
                Err(error) => Ok(BearerRejection::new(error, layer.realm).into_response()),
            }
        })
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl PrivateIntegrations {
    /// A [`RequireScope`] layer: only requests with a live token that has `scope` reach
    /// the routes it wraps, and their handlers can extract the [`Verified`] integration.
    ///
    /// # Panics
    ///
    /// Panics if `scope` is not in the scope catalog (see [`RequireScope::new`]).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use private_integrations::*;
    ///
    /// async fn list(verified: Verified) -> String {
    ///     format!("contacts of {}", verified.account())
    /// }
    ///
    /// let pi = PrivateIntegrations::builder(MemoryStorage::new())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// let app: Router = Router::new()
    ///     .route("/v1/contacts", get(list))
    ///     .route_layer(pi.require_scope("contacts.readonly"))
    ///     .with_state(pi);
    /// # let _ = app;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn require_scope(&self, scope: &str) -> RequireScope {
        RequireScope::new(self.clone(), scope)
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    use super::*;
    use crate::http::Realm;
    use crate::{AccountId, Actor, MemoryStorage, NewIntegration, ScopeCatalog, UserId};

    async fn service() -> (PrivateIntegrations, String) {
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"]).unwrap())
            .build();
        let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
        let created = pi
            .create(
                &admin,
                NewIntegration::new("Sync").scopes(["contacts.readonly"]),
            )
            .await
            .unwrap();
        (pi, created.token.expose_secret().to_owned())
    }

    fn request(authorization: Option<&str>) -> Request<Body> {
        let mut request = Request::builder().uri("/");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.body(Body::empty()).unwrap()
    }

    async fn who(verified: Verified) -> String {
        verified.account().to_string()
    }

    #[tokio::test]
    async fn the_handler_gets_what_the_layer_verified() {
        let (pi, token) = service().await;
        let app: Router = Router::new()
            .route("/", get(who))
            .route_layer(pi.require_scope("contacts.readonly"))
            .with_state(pi);
        let bearer = format!("Bearer {token}");
        let response = app.oneshot(request(Some(&bearer))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"acct_1");
    }

    #[tokio::test]
    async fn a_refused_request_never_reaches_the_inner_service() {
        let (pi, token) = service().await;
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let app: Router = Router::new()
            .route(
                "/",
                get(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    "reached"
                }),
            )
            .route_layer(pi.require_scope("contacts.write"))
            .with_state(pi);
        let bearer = format!("Bearer {token}");
        for auth in [
            None,
            Some("Basic eA=="),
            Some("Bearer nope"),
            Some(&*bearer),
        ] {
            let response = app.clone().oneshot(request(auth)).await.unwrap();
            assert!(response.status().is_client_error(), "{auth:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn nested_layers_verify_once_and_check_each_scope() {
        let (pi, token) = service().await;
        let bearer = format!("Bearer {token}");
        let inner: Router = Router::new()
            .route("/", get(who))
            .route_layer(pi.require_scope("contacts.readonly"))
            .with_state(pi.clone());
        let both = inner.clone().layer(pi.require_scope("contacts.readonly"));
        let response = both.oneshot(request(Some(&bearer))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The outer layer's scope is checked even though the inner one would pass.
        let stricter = inner.layer(pi.require_scope("contacts.write"));
        let response = stricter.oneshot(request(Some(&bearer))).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn the_realm_is_configurable() {
        let (pi, _) = service().await;
        let realm = Realm::new("contacts").unwrap();
        let app: Router = Router::new()
            .route("/", get(who))
            .route_layer(pi.require_scope("contacts.readonly").realm(realm.clone()))
            .with_state(pi.clone());
        let response = app.oneshot(request(None)).await.unwrap();
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="contacts""#
        );
        // The extractor alone reads the realm from the extensions.
        let app: Router = Router::new()
            .route("/", get(who))
            .layer(axum::Extension(realm))
            .with_state(pi);
        let response = app.oneshot(request(Some("Bearer nope"))).await.unwrap();
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="contacts", error="invalid_token""#
        );
    }

    #[tokio::test]
    async fn an_optional_extractor_lets_anonymous_requests_in_but_not_bad_tokens() {
        async fn maybe(verified: Option<Verified>) -> String {
            verified.map_or("anonymous".into(), |v| v.account().to_string())
        }
        let (pi, token) = service().await;
        let app: Router = Router::new().route("/", get(maybe)).with_state(pi);
        let bearer = format!("Bearer {token}");
        for (auth, status, body) in [
            (None, StatusCode::OK, &b"anonymous"[..]),
            (Some("Basic eA=="), StatusCode::OK, b"anonymous"),
            (Some(&*bearer), StatusCode::OK, b"acct_1"),
        ] {
            let response = app.clone().oneshot(request(auth)).await.unwrap();
            assert_eq!(response.status(), status);
            let bytes = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(&bytes[..], body);
        }
        let response = app.oneshot(request(Some("Bearer nope"))).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn scopes_outside_the_catalog_are_caught_when_the_router_is_built() {
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
            .build();
        assert!(matches!(
            RequireScope::try_new(pi, "contacts.readnly"),
            Err(Error::UnknownScope(scope)) if scope == "contacts.readnly"
        ));
    }

    #[test]
    #[should_panic(expected = "unknown scope \"contacts.readnly\"")]
    fn require_scope_panics_on_a_typo() {
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
            .build();
        let _ = pi.require_scope("contacts.readnly");
    }
}
