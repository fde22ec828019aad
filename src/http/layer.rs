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
