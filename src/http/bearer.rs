//! Bearer tokens on the wire: reading `Authorization`, and refusing per RFC 6750.

use std::fmt;
use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{InvalidInput, StorageError, VerifyError};
use crate::service::PrivateIntegrations;
use crate::verify::Verified;

/// The realm of the `WWW-Authenticate` challenges when none is configured: `api`.
///
/// # Example
///
/// ```
/// use private_integrations::http::{DEFAULT_REALM, Realm};
/// assert_eq!(Realm::default().as_str(), DEFAULT_REALM);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub const DEFAULT_REALM: &str = "api";

/// The longest `Authorization` value that is looked at, in bytes. A longer one is refused
/// as `invalid_token` before it is even checked for UTF-8: no token of any prefix comes
/// close (the longest is 83 bytes), so a 100 KB header costs one comparison.
///
/// # Example
///
/// ```
/// use private_integrations::http::MAX_AUTHORIZATION_LEN;
/// assert!(MAX_AUTHORIZATION_LEN >= "Bearer ".len() + 83);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub const MAX_AUTHORIZATION_LEN: usize = 1024;

/// The longest realm name, in bytes.
const MAX_REALM_LEN: usize = 100;

/// The protection space named in `WWW-Authenticate: Bearer realm="…"` challenges.
///
/// Visible ASCII and spaces, 1 to 100 bytes, without `"` or `\` (so it needs no escaping
/// inside the quoted string). The challenge header values are built once, here, so a
/// refusal costs no formatting. Cheap to clone.
///
/// The [`RequireScope`](super::RequireScope) layer takes its realm from
/// [`RequireScope::realm`](super::RequireScope::realm); the [`Verified`] extractor takes
/// it from a `Realm` in the request extensions (add one with `axum::Extension`), and
/// otherwise uses [`DEFAULT_REALM`].
///
/// # Example
///
/// ```
/// use private_integrations::http::Realm;
/// let realm = Realm::new("contacts API").unwrap();
/// assert_eq!(realm.as_str(), "contacts API");
/// assert!(Realm::new("say \"hi\"").is_err());
/// assert!(Realm::new("").is_err());
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct Realm(Arc<Challenges>);

struct Challenges {
    name: Box<str>,
    missing: HeaderValue,
    invalid_request: HeaderValue,
    invalid_token: HeaderValue,
}

impl Realm {
    /// Checks and wraps a realm name.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::Empty`], [`InvalidInput::TooLong`] (over 100 bytes) or
    /// [`InvalidInput::Malformed`] (a character other than visible ASCII and space, or
    /// `"` or `\`).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::Realm;
    /// assert!(Realm::new("acme").is_ok());
    /// assert!(Realm::new("naïve").is_err());
    /// ```
    pub fn new(name: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "realm";
        if name.is_empty() {
            return Err(InvalidInput::Empty { field: FIELD });
        }
        if name.len() > MAX_REALM_LEN {
            return Err(InvalidInput::TooLong {
                field: FIELD,
                max: MAX_REALM_LEN,
            });
        }
        let allowed = |b: u8| (b == b' ' || b.is_ascii_graphic()) && b != b'"' && b != b'\\';
        if !name.bytes().all(allowed) {
            return Err(InvalidInput::Malformed { field: FIELD });
        }
        let header = |value: String| {
            HeaderValue::try_from(value).map_err(|_| InvalidInput::Malformed { field: FIELD })
        };
        Ok(Self(Arc::new(Challenges {
            name: name.into(),
            missing: header(format!("Bearer realm=\"{name}\""))?,
            invalid_request: header(format!(
                "Bearer realm=\"{name}\", error=\"invalid_request\""
            ))?,
            invalid_token: header(format!("Bearer realm=\"{name}\", error=\"invalid_token\""))?,
        })))
    }

    /// The realm name.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::Realm;
    /// assert_eq!(Realm::new("acme").unwrap().as_str(), "acme");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0.name
    }

    /// `error="insufficient_scope"`, naming the scope when it is a well-formed scope
    /// name (catalog names always are; a name from elsewhere that would need escaping is
    /// left out rather than quoted wrongly).
    fn insufficient_scope(&self, scope: &str) -> Option<HeaderValue> {
        let name = &self.0.name;
        let plain =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':');
        let value = if !scope.is_empty() && scope.bytes().all(plain) {
            format!("Bearer realm=\"{name}\", error=\"insufficient_scope\", scope=\"{scope}\"")
        } else {
            format!("Bearer realm=\"{name}\", error=\"insufficient_scope\"")
        };
        // Only visible ASCII went in (the realm and the scope were checked), so this is
        // always `Some`.
        HeaderValue::try_from(value).ok()
    }
}

static DEFAULT: LazyLock<Realm> = LazyLock::new(|| match Realm::new(DEFAULT_REALM) {
    Ok(realm) => realm,
    // `DEFAULT_REALM` is a valid realm; a unit test pins it.
    Err(err) => unreachable!("the default realm is valid: {err}"),
});

impl Default for Realm {
    /// [`DEFAULT_REALM`].
    fn default() -> Self {
        DEFAULT.clone()
    }
}

impl fmt::Debug for Realm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Realm").field(&self.as_str()).finish()
    }
}

/// Why a request was refused before reaching its handler.
///
/// Every kind of bad token is one case, [`InvalidToken`](Self::InvalidToken), on purpose:
/// nothing in the response tells an attacker whether a token was malformed, unknown,
/// expired or revoked. No variant carries the presented token.
///
/// # Example
///
/// ```
/// use private_integrations::VerifyError;
/// use private_integrations::http::BearerError;
///
/// let err = BearerError::from(VerifyError::Expired);
/// assert!(matches!(err, BearerError::InvalidToken));
/// assert_eq!(err.to_string(), "invalid token");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub enum BearerError {
    /// No bearer credentials: no `Authorization` header, or one with another scheme
    /// (`Basic …`). 401 with a bare challenge, as RFC 6750 §3.1 asks for a request
    /// without authentication information.
    #[error("no bearer token")]
    Missing,
    /// More than one `Authorization` header. Which one counts is ambiguous, and a proxy
    /// and this service could pick differently, so neither is used. 400 with
    /// `error="invalid_request"`.
    #[error("more than one Authorization header")]
    AmbiguousCredentials,
    /// The credentials are not a live token of this service: malformed (wrong length,
    /// alphabet or checksum, not UTF-8, spaces inside, longer than
    /// [`MAX_AUTHORIZATION_LEN`]), unknown, expired, revoked, or of a deleted integration.
    /// 401 with `error="invalid_token"`.
    #[error("invalid token")]
    InvalidToken,
    /// The token is valid but its integration lacks the scope. 403 with
    /// `error="insufficient_scope"` naming it.
    #[error("insufficient scope: {scope:?} is required")]
    InsufficientScope {
        /// The scope that was required.
        scope: String,
    },
    /// The storage failed, so the token could not be checked and is refused (fail
    /// closed). 503; the response does not show the storage error, the source does.
    #[error("the token could not be checked: storage unavailable")]
    Unavailable(#[source] StorageError),
}

impl From<VerifyError> for BearerError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::InsufficientScope { required } => {
                BearerError::InsufficientScope { scope: required }
            }
            VerifyError::Storage(source) => BearerError::Unavailable(source),
            // Malformed, Invalid, Expired, and anything added later: refuse as invalid.
            _ => BearerError::InvalidToken,
        }
    }
}

/// The rejection of the [`Verified`] extractor and of the
/// [`RequireScope`](super::RequireScope) layer: a [`BearerError`] and the realm to name
/// in the challenge.
///
/// As a response (RFC 6750 §3), with a JSON body `{"error": code, "message": text}`:
///
/// | error | status | `WWW-Authenticate` |
/// |---|---|---|
/// | `Missing` | 401 | `Bearer realm="api"` |
/// | `AmbiguousCredentials` | 400 | `Bearer realm="api", error="invalid_request"` |
/// | `InvalidToken` | 401 | `Bearer realm="api", error="invalid_token"` |
/// | `InsufficientScope` | 403 | `Bearer realm="api", error="insufficient_scope", scope="contacts.write"` |
/// | `Unavailable` | 503 | none |
///
/// The body of every `InvalidToken` response is the same bytes, whatever the cause.
///
/// # Example
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use private_integrations::http::{BearerError, BearerRejection, Realm};
///
/// let rejection = BearerRejection::new(BearerError::InvalidToken, Realm::default());
/// assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
/// let response = rejection.into_response();
/// assert_eq!(
///     response.headers()["www-authenticate"],
///     r#"Bearer realm="api", error="invalid_token""#
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[error("request refused")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct BearerRejection {
    #[source]
    error: BearerError,
    realm: Realm,
}

/// The JSON body of a refusal.
#[derive(Serialize)]
struct Body {
    error: &'static str,
    message: String,
}

impl BearerRejection {
    /// A rejection naming `realm` in its challenge.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::{BearerError, BearerRejection, Realm};
    /// let rejection = BearerRejection::new(BearerError::Missing, Realm::new("acme").unwrap());
    /// assert!(matches!(rejection.error(), BearerError::Missing));
    /// ```
    pub fn new(error: BearerError, realm: Realm) -> Self {
        Self { error, realm }
    }

    /// Why the request was refused.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::{BearerError, BearerRejection, Realm};
    /// let rejection = BearerRejection::new(BearerError::InvalidToken, Realm::default());
    /// assert!(matches!(rejection.error(), BearerError::InvalidToken));
    /// ```
    pub fn error(&self) -> &BearerError {
        &self.error
    }

    /// The status code of the response.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use private_integrations::http::{BearerError, BearerRejection, Realm};
    /// let missing = BearerRejection::new(BearerError::Missing, Realm::default());
    /// assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self.error {
            BearerError::Missing | BearerError::InvalidToken => StatusCode::UNAUTHORIZED,
            BearerError::AmbiguousCredentials => StatusCode::BAD_REQUEST,
            BearerError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            BearerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let challenges = &self.realm.0;
        let (challenge, error, message) = match &self.error {
            BearerError::Missing => (
                Some(challenges.missing.clone()),
                "missing_token",
                "this API needs a bearer token: send `Authorization: Bearer <token>`".into(),
            ),
            BearerError::AmbiguousCredentials => (
                Some(challenges.invalid_request.clone()),
                "invalid_request",
                "send exactly one Authorization header".into(),
            ),
            BearerError::InvalidToken => (
                Some(challenges.invalid_token.clone()),
                "invalid_token",
                "the token is malformed, unknown, expired or revoked".into(),
            ),
            BearerError::InsufficientScope { scope } => (
                self.realm.insufficient_scope(scope),
                "insufficient_scope",
                format!("the token's integration lacks the scope {scope}"),
            ),
            BearerError::Unavailable(_) => (
                None,
                "temporarily_unavailable",
                "the token could not be checked; retry later".into(),
            ),
        };
        let mut response = (status, Json(Body { error, message })).into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Reads the bearer token of a request, without verifying it.
///
/// The rules, each chosen on purpose (RFC 6750 §2.1, RFC 9110 §11):
///
/// - no `Authorization` header, or another scheme: [`BearerError::Missing`];
/// - two or more `Authorization` headers: [`BearerError::AmbiguousCredentials`], never
///   one of them picked silently;
/// - a value longer than [`MAX_AUTHORIZATION_LEN`]: [`BearerError::InvalidToken`], before
///   anything else is looked at;
/// - white space around the value is ignored; the scheme is matched without regard to
///   case (`Bearer`, `bearer`, `BEARER`); one or more spaces or tabs separate it from the
///   token;
/// - the token is everything after that, and must be non-empty, UTF-8 and free of white
///   space: `Bearer`, `Bearer a b` and non-UTF-8 bytes are [`BearerError::InvalidToken`].
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::AmbiguousCredentials);
    }
    credentials(value.as_bytes())
}

fn credentials(value: &[u8]) -> Result<&str, BearerError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(BearerError::InvalidToken);
    }
    let is_space = |b: &u8| matches!(b, b' ' | b'\t');
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(is_space) {
        Some(at) => value.split_at(at),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(BearerError::Missing);
    }
    let token = rest.trim_ascii_start();
    if token.is_empty() || token.iter().any(u8::is_ascii_whitespace) {
        return Err(BearerError::InvalidToken);
    }
    std::str::from_utf8(token).map_err(|_| BearerError::InvalidToken)
}

/// Reads and verifies the bearer token of a request.
pub(crate) async fn authenticate(
    pi: &PrivateIntegrations,
    headers: &HeaderMap,
) -> Result<Verified, BearerError> {
    let token = bearer_token(headers)?;
    Ok(pi.verify(token).await?)
}

/// The realm for a refusal by the extractor: a [`Realm`] extension, or the default.
fn realm_of(parts: &Parts) -> Realm {
    parts.extensions.get::<Realm>().cloned().unwrap_or_default()
}

/// `Verified` as an axum extractor: the integration behind the request's
/// `Authorization: Bearer <token>`.
///
/// Behind a [`RequireScope`](super::RequireScope) layer it takes what the layer verified
/// (no second verification). Otherwise it reads the header by the rules of the
/// [module documentation](super#refusals-rfc-6750) and calls
/// [`PrivateIntegrations::verify`] on the service
/// found in the router state (`PrivateIntegrations: FromRef<S>`). It checks no scope:
/// use the layer, or [`Verified::require_scope`] in the handler.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S> FromRequestParts<S> for Verified
where
    PrivateIntegrations: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verified) = parts.extensions.get::<Verified>() {
            return Ok(verified.clone());
        }
        let pi = PrivateIntegrations::from_ref(state);
        authenticate(&pi, &parts.headers)
            .await
            .map_err(|error| BearerRejection::new(error, realm_of(parts)))
    }
}

/// `Option<Verified>`: `None` for a request with no bearer credentials at all (no
/// `Authorization` header, or another scheme), so a route can serve anonymous and
/// authenticated callers alike. Credentials that are present but bad are still refused:
/// a wrong token never silently turns into an anonymous request.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S> OptionalFromRequestParts<S> for Verified
where
    PrivateIntegrations: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <Verified as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(verified) => Ok(Some(verified)),
            Err(rejection) if matches!(rejection.error, BearerError::Missing) => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &[u8]) -> Result<&str, BearerError> {
        credentials(value)
    }

    #[test]
    fn the_default_realm_is_valid() {
        assert_eq!(Realm::default().as_str(), DEFAULT_REALM);
    }

    #[test]
    fn realms() {
        assert!(Realm::new("a b-c_d.e/f:g").is_ok());
        assert!(Realm::new(&"x".repeat(100)).is_ok());
        for bad in ["", "a\"b", "a\\b", "a\tb", "a\nb", "é", &"x".repeat(101)] {
            assert!(Realm::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepted_forms() {
        for value in [
            &b"Bearer tok"[..],
            b"bearer tok",
            b"BEARER tok",
            b"bEaReR tok",
            b"Bearer  tok",
            b"Bearer\ttok",
            b"Bearer tok ",
            b" Bearer tok",
            b"Bearer \t tok\t",
        ] {
            assert_eq!(
                read(value).unwrap(),
                "tok",
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn other_schemes_are_missing_bearer_credentials() {
        for value in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Token tok",
            b"Bearertok",
            b"Bearer-tok",
            b"",
            b"   ",
            b"\xffBearer tok",
        ] {
            assert!(
                matches!(read(value), Err(BearerError::Missing)),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn bad_credentials_are_invalid_tokens() {
        let long = [b"Bearer ".as_slice(), &[b'a'; MAX_AUTHORIZATION_LEN]].concat();
        let huge_basic = [b"Basic ".as_slice(), &[b'a'; 100 * 1024]].concat();
        for value in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer a b",
            b"Bearer \xff\xfe",
            b"Bearer t\xc3",
            &long,
            &huge_basic,
        ] {
            assert!(
                matches!(read(value), Err(BearerError::InvalidToken)),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        let longest = [b"Bearer ".as_slice(), &[b'a'; MAX_AUTHORIZATION_LEN - 7]].concat();
        assert!(read(&longest).is_ok());
    }

    #[test]
    fn header_counts() {
        let mut headers = HeaderMap::new();
        assert!(matches!(bearer_token(&headers), Err(BearerError::Missing)));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer one"));
        assert_eq!(bearer_token(&headers).unwrap(), "one");
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer one"));
        assert!(matches!(
            bearer_token(&headers),
            Err(BearerError::AmbiguousCredentials)
        ));
    }

    #[test]
    fn verify_errors_map_to_bearer_errors() {
        assert!(matches!(
            BearerError::from(VerifyError::Malformed),
            BearerError::InvalidToken
        ));
        assert!(matches!(
            BearerError::from(VerifyError::Invalid),
            BearerError::InvalidToken
        ));
        assert!(matches!(
            BearerError::from(VerifyError::Expired),
            BearerError::InvalidToken
        ));
        assert!(matches!(
            BearerError::from(VerifyError::InsufficientScope {
                required: "a.b".into()
            }),
            BearerError::InsufficientScope { scope } if scope == "a.b"
        ));
        assert!(matches!(
            BearerError::from(VerifyError::Storage(StorageError::backend("down"))),
            BearerError::Unavailable(_)
        ));
    }
}
