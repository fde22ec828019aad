//! The secret scanning partner endpoint: GitHub scans public pushes (and public npm
//! packages) for this crate's token format and sends each match here; a live token is
//! handled by the service's [`LeakPolicy`](crate::LeakPolicy), and the answer labels
//! each match.
//!
//! Order of checks, each refusing before the next runs: the key id header is one short
//! value and the signature header base64 DER (`401`); the key id names a known key, after
//! at most one refresh a minute (`401`); the body is at most 1 MiB
//! (`413`); the ECDSA P-256 / SHA-256 signature over the raw body verifies (`401`); the
//! body is a JSON array of matches (`400`) of at most 1,000 (`413`). Nothing is looked up
//! before the signature verified. A refusal's body is `{"error": code, "message": text}`
//! and never repeats what was sent.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::ids::UserId;
use crate::domain::integration::holds_token;
use crate::domain::leak::LeakLabel;
use crate::service::PrivateIntegrations;

/// The header naming the key GitHub signed with.
pub const GITHUB_KEY_ID_HEADER: &str = "github-public-key-identifier";
/// The header holding GitHub's signature (base64 of a DER ECDSA signature).
pub const GITHUB_SIGNATURE_HEADER: &str = "github-public-key-signature";
/// The largest alert body read, in bytes (1 MiB): larger is `413`.
pub const MAX_ALERT_BODY: usize = 1 << 20;
/// The most matches one alert may hold: more is `413`.
pub const MAX_ALERT_MATCHES: usize = 1000;
/// The reporter of GitHub's alerts in the audit log (the actor of their `token_leaked`
/// events).
pub const GITHUB_REPORTER: &str = "github-secret-scanning";
/// How long after a refresh of the keys an unknown key id may cause another.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How long a refresh waits for the host's [`GithubKeySource`].
pub const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How many tokens of one alert are handled at once: below the default size of a
/// database pool (sqlx's is 10), so that an alert leaves connections to verification.
const CONCURRENCY: usize = 8;

/// The error of a boxed source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where GitHub's key document comes from when a key id is unknown: the host fetches
/// it (from `https://api.github.com/meta/public_keys/secret_scanning`) with its own
/// HTTP client; the library makes no outbound request itself.
///
/// # Example
///
/// ```
/// use private_integrations::http::{BoxError, GithubKeySource};
///
/// struct FromDisk(std::path::PathBuf);
///
/// #[async_trait::async_trait]
/// impl GithubKeySource for FromDisk {
///     async fn fetch(&self) -> Result<String, BoxError> {
///         Ok(std::fs::read_to_string(&self.0)?)
///     }
/// }
/// ```
#[async_trait]
pub trait GithubKeySource: Send + Sync + 'static {
    /// The key document, as GitHub serves it.
    async fn fetch(&self) -> Result<String, BoxError>;
}

/// Why GitHub's key document was refused.
///
/// # Example
///
/// ```
/// use private_integrations::http::{GithubKeys, GithubKeysError};
/// assert!(matches!(GithubKeys::from_json("{}"), Err(GithubKeysError::Document)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GithubKeysError {
    /// Not a key document: `{"public_keys": [{"key_identifier", "key", "is_current"}]}`.
    #[error(
        "not a GitHub key document (expected {{\"public_keys\": [{{\"key_identifier\", \"key\"}}]}})"
    )]
    Document,
    /// A key is not a PEM P-256 public key.
    #[error("key {key_identifier:?} is not a PEM ECDSA P-256 public key")]
    Key {
        /// The key's id.
        key_identifier: String,
    },
    /// The document holds no key.
    #[error("the key document holds no key")]
    NoKeys,
    /// The file could not be read.
    #[error("reading the key document: {0}")]
    Io(#[from] std::io::Error),
    /// The host's source failed.
    #[error("fetching the key document: {0}")]
    Source(BoxError),
}

/// GitHub's public keys for secret scanning alerts, by key id: from the key document,
/// given by the host as a string or a file, and refreshed through a
/// [`GithubKeySource`] when an alert names a key id not known (at most once per
/// [`KEY_REFRESH_INTERVAL`]). Cheap to clone (shared).
///
/// # Example
///
/// ```
/// use private_integrations::http::GithubKeys;
/// let document = r#"{"public_keys": [{
///     "key_identifier": "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c",
///     "key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO55QlT/r6NyxgevPvApLZJnvSc1V\nv4Ev/B+TZxJqWl1TtxPcTECQ30rdVK0Bz33EY4nn4/Q3b9PwhaF4+ocOBA==\n-----END PUBLIC KEY-----\n",
///     "is_current": true
/// }]}"#;
/// let keys = GithubKeys::from_json(document)?;
/// assert_eq!(keys.key_ids().len(), 1);
/// # Ok::<(), private_integrations::http::GithubKeysError>(())
/// ```
#[derive(Clone)]
pub struct GithubKeys {
    inner: Arc<KeysInner>,
}

struct KeysInner {
    keys: RwLock<Arc<HashMap<String, VerifyingKey>>>,
    source: Option<Arc<dyn GithubKeySource>>,
    /// When the keys were last refreshed through `source`; held while refreshing, so
    /// that one request fetches and the others wait for its result.
    refreshed: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl fmt::Debug for GithubKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubKeys")
            .field("key_ids", &self.key_ids())
            .field("refreshes", &self.inner.source.is_some())
            .finish()
    }
}

#[derive(Deserialize)]
struct KeyDocument {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

fn parse_document(document: &str) -> Result<HashMap<String, VerifyingKey>, GithubKeysError> {
    let document: KeyDocument =
        serde_json::from_str(document).map_err(|_| GithubKeysError::Document)?;
    let mut keys = HashMap::with_capacity(document.public_keys.len());
    for entry in document.public_keys {
        let key =
            VerifyingKey::from_public_key_pem(&entry.key).map_err(|_| GithubKeysError::Key {
                key_identifier: entry.key_identifier.clone(),
            })?;
        keys.insert(entry.key_identifier, key);
    }
    if keys.is_empty() {
        return Err(GithubKeysError::NoKeys);
    }
    Ok(keys)
}

impl GithubKeys {
    /// The keys of a key document, as GitHub serves it. Every key in it is accepted,
    /// current or not (GitHub keeps signing with a key for a while after it stops being
    /// current).
    ///
    /// # Errors
    ///
    /// [`GithubKeysError`] if it is not a key document, a key is not a PEM P-256 public
    /// key, or it holds no key.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::{GithubKeys, GithubKeysError};
    /// let bad = r#"{"public_keys": [{"key_identifier": "k1", "key": "not a key"}]}"#;
    /// assert!(matches!(GithubKeys::from_json(bad), Err(GithubKeysError::Key { .. })));
    /// ```
    pub fn from_json(document: &str) -> Result<Self, GithubKeysError> {
        Ok(Self::with_keys(parse_document(document)?, None))
    }

    /// The keys of the key document in the file at `path`.
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json), and [`GithubKeysError::Io`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::{GithubKeys, GithubKeysError};
    /// assert!(matches!(GithubKeys::from_file("/no/such/file"), Err(GithubKeysError::Io(_))));
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, GithubKeysError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// The keys fetched from `source` now, refreshed from it when an alert names an
    /// unknown key id.
    ///
    /// # Errors
    ///
    /// [`GithubKeysError::Source`] if the fetch fails, or as [`from_json`](Self::from_json).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::http::{BoxError, GithubKeySource, GithubKeys};
    ///
    /// /// The host's own client would fetch GitHub's key document here.
    /// struct Fetch(String);
    ///
    /// #[async_trait::async_trait]
    /// impl GithubKeySource for Fetch {
    ///     async fn fetch(&self) -> Result<String, BoxError> {
    ///         Ok(self.0.clone())
    ///     }
    /// }
    /// # let document = r#"{"public_keys": [{"key_identifier": "k1", "key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO55QlT/r6NyxgevPvApLZJnvSc1V\nv4Ev/B+TZxJqWl1TtxPcTECQ30rdVK0Bz33EY4nn4/Q3b9PwhaF4+ocOBA==\n-----END PUBLIC KEY-----\n"}]}"#;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let keys = GithubKeys::from_source(Fetch(document.into())).await?;
    /// assert_eq!(keys.key_ids(), ["k1"]);
    /// # Ok::<(), private_integrations::http::GithubKeysError>(()) }).unwrap();
    /// ```
    pub async fn from_source(source: impl GithubKeySource) -> Result<Self, GithubKeysError> {
        let document = source.fetch().await.map_err(GithubKeysError::Source)?;
        let keys = parse_document(&document)?;
        let keys = Self::with_keys(keys, Some(Arc::new(source)));
        *keys.inner.refreshed.lock().await = Some(tokio::time::Instant::now());
        Ok(keys)
    }

    /// These keys, refreshed from `source` when an alert names an unknown key id.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::http::{BoxError, GithubKeySource, GithubKeys};
    /// # struct Fetch(String);
    /// # #[async_trait::async_trait]
    /// # impl GithubKeySource for Fetch {
    /// #     async fn fetch(&self) -> Result<String, BoxError> { Ok(self.0.clone()) }
    /// # }
    /// # let document = r#"{"public_keys": [{"key_identifier": "k1", "key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO55QlT/r6NyxgevPvApLZJnvSc1V\nv4Ev/B+TZxJqWl1TtxPcTECQ30rdVK0Bz33EY4nn4/Q3b9PwhaF4+ocOBA==\n-----END PUBLIC KEY-----\n"}]}"#;
    /// let keys = GithubKeys::from_json(document)?.refreshed_from(Fetch(document.into()));
    /// # let _ = keys;
    /// # Ok::<(), private_integrations::http::GithubKeysError>(())
    /// ```
    pub fn refreshed_from(self, source: impl GithubKeySource) -> Self {
        let keys = self.current();
        Self::with_keys(keys.as_ref().clone(), Some(Arc::new(source)))
    }

    /// The ids of the keys known now.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::http::GithubKeys;
    /// # let document = r#"{"public_keys": [{"key_identifier": "k1", "key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO55QlT/r6NyxgevPvApLZJnvSc1V\nv4Ev/B+TZxJqWl1TtxPcTECQ30rdVK0Bz33EY4nn4/Q3b9PwhaF4+ocOBA==\n-----END PUBLIC KEY-----\n"}]}"#;
    /// assert_eq!(GithubKeys::from_json(document)?.key_ids(), ["k1"]);
    /// # Ok::<(), private_integrations::http::GithubKeysError>(())
    /// ```
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.current().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn with_keys(
        keys: HashMap<String, VerifyingKey>,
        source: Option<Arc<dyn GithubKeySource>>,
    ) -> Self {
        Self {
            inner: Arc::new(KeysInner {
                keys: RwLock::new(Arc::new(keys)),
                source,
                refreshed: tokio::sync::Mutex::new(None),
            }),
        }
    }

    fn current(&self) -> Arc<HashMap<String, VerifyingKey>> {
        match self.inner.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The key named `id`: known now, or after a refresh if one is allowed.
    async fn key(&self, id: &str) -> Option<VerifyingKey> {
        if let Some(key) = self.current().get(id) {
            return Some(*key);
        }
        let source = self.inner.source.as_ref()?;
        // One refresh at a time; a request that finds one under way does not queue
        // behind it (an unknown key id is refused, GitHub sends the alert again).
        let Ok(mut refreshed) = self.inner.refreshed.try_lock() else {
            return None;
        };
        if let Some(key) = self.current().get(id) {
            return Some(*key);
        }
        if refreshed.is_some_and(|at| at.elapsed() < KEY_REFRESH_INTERVAL) {
            return None;
        }
        // On a task of its own, so that a request dropped mid-fetch neither cancels it
        // nor leaves the next refresh a minute away; bounded by a timeout.
        let fetch = tokio::spawn({
            let source = Arc::clone(source);
            async move { tokio::time::timeout(KEY_FETCH_TIMEOUT, source.fetch()).await }
        });
        let fetched = match fetch.await {
            Ok(Ok(fetched)) => fetched,
            Ok(Err(_elapsed)) => Err("the key source did not answer in time".into()),
            Err(err) => Err(format!("the key source's task ended abnormally: {err}").into()),
        };
        // Counted from the attempt that ended, whatever its outcome: a failing source is
        // not asked again at every request.
        *refreshed = Some(tokio::time::Instant::now());
        match fetched.map_err(GithubKeysError::Source) {
            Ok(document) => match parse_document(&document) {
                Ok(keys) => {
                    let found = keys.get(id).copied();
                    match self.inner.keys.write() {
                        Ok(mut current) => *current = Arc::new(keys),
                        Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
                    }
                    found
                }
                Err(err) => {
                    tracing::warn!(error = %err, "secret scanning: refreshed keys refused, the old ones kept");
                    None
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "secret scanning: refreshing the keys failed");
                None
            }
        }
    }
}

/// The secret scanning partner endpoint for GitHub: mount it (with `nest`) where GitHub
/// was told to send alerts; it answers `POST` at the mount point.
///
/// Every alert's signature is checked against `keys` before anything else; each match's
/// token is reported with [`PrivateIntegrations::report_leak`] by
/// [`GITHUB_REPORTER`], so the service's [`LeakPolicy`](crate::LeakPolicy) applies
/// (default: revoke). The answer is GitHub's feedback: for each match, in order,
/// `{"token_hash", "token_type", "label"}`, the hash the SHA-256 of the token in
/// lower-case hex (the token itself is never sent back; nor is a `type` that holds a
/// token, is over 128 bytes or has a control character: it is answered as `""`).
///
/// | status | `error` | when |
/// |---|---|---|
/// | 200 | | the feedback array |
/// | 400 | `malformed_alert` | the body is not a JSON array of `{"token", "type", "url", "source"}` |
/// | 401 | `invalid_signature` | a missing or unknown key id, a missing or malformed signature, or one that does not verify |
/// | 413 | `alert_too_large` | more than 1 MiB, or more than 1,000 matches |
/// | 503 | `unavailable` | storage failed; GitHub sends the alert again, which is safe |
///
/// # Example
///
/// ```no_run
/// use axum::Router;
/// use private_integrations::http::{GithubKeys, secret_scanning_router};
/// # fn app(pi: private_integrations::PrivateIntegrations) -> Result<Router, Box<dyn std::error::Error>> {
/// let keys = GithubKeys::from_file("github-keys.json")?; // GitHub's key document
/// let app: Router = Router::new().nest("/secret-scanning/github", secret_scanning_router(pi, keys));
/// # Ok(app) }
/// ```
pub fn secret_scanning_router(pi: PrivateIntegrations, keys: GithubKeys) -> Router {
    Router::new()
        .route("/", post(alert))
        .with_state(Scanning { pi, keys })
}

#[derive(Clone)]
struct Scanning {
    pi: PrivateIntegrations,
    keys: GithubKeys,
}

/// One match of an alert. Unknown fields are ignored.
#[derive(Deserialize)]
pub(crate) struct Match {
    token: String,
    #[serde(rename = "type")]
    token_type: String,
    #[serde(default)]
    url: Option<String>,
}

/// One label of the answer.
#[derive(Serialize)]
struct Feedback<'a> {
    token_hash: String,
    token_type: &'a str,
    label: LeakLabel,
}

fn refusal(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    (status, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
        "the alert must be signed by a GitHub secret scanning key: \
         GITHUB-PUBLIC-KEY-IDENTIFIER and GITHUB-PUBLIC-KEY-SIGNATURE over the raw body",
    )
}

fn too_large() -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "alert_too_large",
        "an alert holds at most 1,000 matches in at most 1 MiB",
    )
}

/// The single value of header `name`, as text.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// The signature of an alert, from its headers: the key named and the DER signature.
pub(crate) fn signature_of(headers: &HeaderMap) -> Option<(&str, Signature)> {
    let key_id = single_header(headers, GITHUB_KEY_ID_HEADER)?.trim();
    if key_id.is_empty() || key_id.len() > 256 {
        return None;
    }
    let encoded = single_header(headers, GITHUB_SIGNATURE_HEADER)?.trim();
    // A DER P-256 signature is at most 72 bytes: 96 base64 characters.
    if encoded.len() > 128 {
        return None;
    }
    let der = Base64::decode_vec(encoded).ok()?;
    let signature = Signature::from_der(&der).ok()?;
    Some((key_id, signature))
}

/// Why an authenticated alert's body was refused.
pub(crate) enum BadAlert {
    /// Not a JSON array of matches: `400`.
    Malformed,
    /// More than [`MAX_ALERT_MATCHES`]: `413`.
    TooMany,
}

impl IntoResponse for BadAlert {
    fn into_response(self) -> Response {
        match self {
            BadAlert::Malformed => refusal(
                StatusCode::BAD_REQUEST,
                "malformed_alert",
                "the alert must be a JSON array of {\"token\", \"type\", \"url\", \"source\"}",
            ),
            BadAlert::TooMany => too_large(),
        }
    }
}

/// The matches of an alert's body (already authenticated).
pub(crate) fn parse_alert(body: &[u8]) -> Result<Vec<Match>, BadAlert> {
    let matches: Vec<Match> = serde_json::from_slice(body).map_err(|_| BadAlert::Malformed)?;
    if matches.len() > MAX_ALERT_MATCHES {
        return Err(BadAlert::TooMany);
    }
    Ok(matches)
}

async fn alert(State(scanning): State<Scanning>, headers: HeaderMap, body: Body) -> Response {
    let Some((key_id, signature)) = signature_of(&headers) else {
        return unauthorized();
    };
    let Some(key) = scanning.keys.key(key_id).await else {
        return unauthorized();
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_ALERT_BODY as u64) {
        return too_large();
    }
    // Anything that keeps the body from being read whole within the limit.
    let Ok(body): Result<Bytes, _> = axum::body::to_bytes(body, MAX_ALERT_BODY).await else {
        return too_large();
    };
    if key.verify(&body, &signature).is_err() {
        return unauthorized();
    }
    let matches = match parse_alert(&body) {
        Ok(matches) => matches,
        Err(refused) => return refused.into_response(),
    };
    match labels(&scanning.pi, &matches).await {
        Ok(labels) => {
            let feedback: Vec<Feedback<'_>> = matches
                .iter()
                .zip(labels)
                .map(|(found, label)| Feedback {
                    token_hash: hex_sha256(&found.token),
                    token_type: feedback_type(&found.token_type),
                    label,
                })
                .collect();
            let positives = feedback
                .iter()
                .filter(|f| f.label == LeakLabel::TruePositive)
                .count();
            tracing::info!(
                matches = feedback.len(),
                true_positives = positives,
                "secret scanning: alert handled"
            );
            axum::Json(feedback).into_response()
        }
        Err(err) => {
            tracing::warn!(
                error = &err as &(dyn std::error::Error + 'static),
                "secret scanning: alert not handled"
            );
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the alert could not be handled now; send it again",
            )
        }
    }
}

/// The match's `type` as the feedback repeats it: GitHub's name of the token type, short
/// text. Anything else — over 128 bytes, a control character, or a token in it — is
/// answered as `""`: the answer never carries a token, whatever the alert held.
fn feedback_type(token_type: &str) -> &str {
    let plain = token_type.len() <= 128
        && !token_type.chars().any(char::is_control)
        && !holds_token(token_type);
    if plain { token_type } else { "" }
}

fn hex_sha256(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The label of each match, in order: each distinct token is reported with each of its
/// distinct places, one token after another within a task, up to [`CONCURRENCY`] tokens
/// at once. Each report is written whole on a task of its own, so a request that goes
/// away leaves every report it started done or not begun.
async fn labels(
    pi: &PrivateIntegrations,
    matches: &[Match],
) -> Result<Vec<LeakLabel>, crate::Error> {
    let mut tokens: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for found in matches {
        let slot = *index.entry(found.token.as_str()).or_insert_with(|| {
            tokens.push((found.token.as_str(), Vec::new()));
            tokens.len() - 1
        });
        let url = found.url.as_deref().unwrap_or("");
        if !tokens[slot].1.contains(&url) {
            tokens[slot].1.push(url);
        }
    }
    let reporter = UserId::new(GITHUB_REPORTER);
    let mut label_of: Vec<LeakLabel> = vec![LeakLabel::FalsePositive; tokens.len()];
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = None;
    let mut pending = tokens.iter().enumerate();
    loop {
        while tasks.len() < CONCURRENCY {
            let Some((slot, (token, urls))) = pending.next() else {
                break;
            };
            let pi = pi.clone();
            let reporter = reporter.clone();
            let token = token.to_string();
            let urls: Vec<String> = urls.iter().map(|url| url.to_string()).collect();
            tasks.spawn(async move {
                let mut label = LeakLabel::FalsePositive;
                let mut failed = None;
                for url in urls {
                    match pi.report_leak(&reporter, &token, &url).await {
                        Ok(outcome) if outcome.label == LeakLabel::TruePositive => {
                            label = LeakLabel::TruePositive;
                        }
                        Ok(_) => {}
                        Err(err) => failed = Some(err),
                    }
                }
                match failed {
                    Some(err) => Err(err),
                    None => Ok::<_, crate::Error>((slot, label)),
                }
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        // Every token is handled, whatever another's fate: one that fails leaves the
        // others reported, and the alert is answered 503 (to be sent again) at the end.
        match done {
            Ok(Ok((slot, label))) => label_of[slot] = label,
            Ok(Err(err)) => failed = Some(err),
            Err(err) => {
                failed = Some(crate::Error::Storage(crate::StorageError::backend(
                    format!("a report's task ended abnormally: {err}"),
                )));
            }
        }
    }
    if let Some(err) = failed {
        return Err(err);
    }
    Ok(matches
        .iter()
        .map(|found| label_of[index[found.token.as_str()]])
        .collect())
}
