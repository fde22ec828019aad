//! What the HTTP-edge targets share: a runtime made once per process, a stand-in login,
//! a fresh service per input, and arbitrary requests (method, path, query, headers,
//! body) whose text can carry a marker that no refusal may repeat.

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use axum::Router;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use private_integrations::{
    AccountId, Actor, MemoryStorage, NewIntegration, PrivateIntegrations, ScopeCatalog, UserId,
};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// A unique ASCII word put into inputs: a response that refuses an input never holds it.
pub const MARKER: &str = "zq9XMARKERq7";

/// The scope catalog of every fixture.
pub const SCOPES: [&str; 2] = ["contacts.readonly", "contacts.write"];

/// The single-thread runtime of this process.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    });
    &RUNTIME
}

/// The host's login stand-in: the `Actor` the target put in the request's extensions,
/// else 401.
pub struct Login(Actor);

impl<S: Send + Sync> FromRequestParts<S> for Login {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Login)
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

impl From<Login> for Actor {
    fn from(login: Login) -> Actor {
        login.0
    }
}

/// A fresh service with one integration (both scopes) and its token.
pub struct Fixture {
    /// The service, on a `MemoryStorage` of its own.
    pub pi: PrivateIntegrations,
    /// The integration's id.
    pub id: String,
    /// Its token.
    pub token: String,
}

/// The admin of `acct_1`.
pub fn admin() -> Actor {
    Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"))
}

/// Builds a fixture (inside the runtime).
pub async fn fixture() -> Fixture {
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .build();
    let created = pi
        .create(&admin(), NewIntegration::new("Seeded").scopes(SCOPES))
        .await
        .unwrap();
    Fixture {
        id: created.integration.id().as_str().to_owned(),
        token: created.token.expose_secret().to_owned(),
        pi,
    }
}

/// The actor a request comes from, if any.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Who {
    /// Admin of `acct_1` (owns the fixture's integration).
    Admin,
    /// Member of `acct_1`.
    Member,
    /// Admin of `acct_2`.
    Stranger,
    /// Not logged in.
    Nobody,
}

impl Who {
    /// The actor.
    pub fn actor(self) -> Option<Actor> {
        match self {
            Who::Admin => Some(admin()),
            Who::Member => Some(Actor::member(
                AccountId::new("acct_1"),
                UserId::new("u_bob"),
            )),
            Who::Stranger => Some(Actor::admin(AccountId::new("acct_2"), UserId::new("u_eve"))),
            Who::Nobody => None,
        }
    }
}

/// Words the handlers look for: field names, parameter names, enumerations.
pub const WORDS: [&str; 40] = [
    "name",
    "description",
    "scopes",
    "mode",
    "expire_later",
    "expire_now",
    "permission",
    "allow",
    "deny",
    "role_default",
    "enabled",
    "true",
    "false",
    "contacts.readonly",
    "contacts.write",
    "limit",
    "cursor",
    "q",
    "state",
    "active",
    "rotating",
    "rotation_due",
    "order",
    "newest",
    "oldest",
    "integration",
    "once",
    "lookup",
    "user",
    "version",
    "was_name",
    "was_description",
    "done",
    "go",
    "step",
    "v",
    "later",
    "now",
    "u_bob",
    "*",
];

/// Characters the input rules single out.
const SPECIAL: [&str; 16] = [
    "\u{200f}",
    "\u{200b}",
    "\u{2028}",
    "\u{202e}",
    "\u{2066}",
    "\u{feff}",
    "\u{85}",
    "\u{0}",
    "\t",
    "\n",
    "\r\n",
    " ",
    "\u{301}",
    "%",
    "\"",
    "\u{1f600}",
];

/// A piece of text.
#[derive(Arbitrary, Debug)]
pub enum Piece {
    /// Anything.
    Raw(String),
    /// [`MARKER`] (in an HTML context, after `<`).
    Marker,
    /// One of [`WORDS`].
    Word(u8),
    /// One of the special characters.
    Special(u8),
    /// The fixture's integration id.
    Id,
    /// The fixture's token.
    Token,
    /// A number.
    Number(u32),
}

/// Text made of pieces.
#[derive(Arbitrary, Debug)]
pub struct Text(pub Vec<Piece>);

impl Text {
    /// The text, with `marker` for each marker piece.
    pub fn render(&self, fx: &Fixture, marker: &str) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Raw(s) => out.push_str(s),
                Piece::Marker => out.push_str(marker),
                Piece::Word(i) => out.push_str(WORDS[usize::from(*i) % WORDS.len()]),
                Piece::Special(i) => out.push_str(SPECIAL[usize::from(*i) % SPECIAL.len()]),
                Piece::Id => out.push_str(&fx.id),
                Piece::Token => out.push_str(&fx.token),
                Piece::Number(n) => out.push_str(&n.to_string()),
            }
        }
        out
    }
}

/// A JSON value, its object keys mostly the API's field names.
#[derive(Arbitrary, Debug)]
pub enum Json {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Text),
    /// An array.
    Array(Vec<Json>),
    /// An object.
    Object(Vec<(Text, Json)>),
}

impl Json {
    /// The value (nesting cut at depth 6).
    pub fn value(&self, fx: &Fixture, marker: &str, depth: u32) -> serde_json::Value {
        use serde_json::Value;
        if depth > 6 {
            return Value::Null;
        }
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(n) => Value::from(*n),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Str(t) => Value::String(t.render(fx, marker)),
            Json::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| v.value(fx, marker, depth + 1))
                    .collect(),
            ),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.render(fx, marker), v.value(fx, marker, depth + 1)))
                    .collect(),
            ),
        }
    }
}

/// A request body.
#[derive(Arbitrary, Debug)]
pub enum BodyInput {
    /// None.
    Empty,
    /// JSON.
    Json(Json),
    /// Form fields, `application/x-www-form-urlencoded`-encoded.
    Form(Vec<(Text, Text)>),
    /// Text as it is.
    Text(Text),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl BodyInput {
    /// The bytes.
    pub fn bytes(&self, fx: &Fixture, marker: &str) -> Vec<u8> {
        match self {
            BodyInput::Empty => Vec::new(),
            BodyInput::Json(json) => serde_json::to_vec(&json.value(fx, marker, 0)).unwrap(),
            BodyInput::Form(fields) => form(fields, fx, marker).into_bytes(),
            BodyInput::Text(text) => text.render(fx, marker).into_bytes(),
            BodyInput::Bytes(bytes) => bytes.clone(),
        }
    }
}

/// Fields, form-encoded.
pub fn form(fields: &[(Text, Text)], fx: &Fixture, marker: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        out.append_pair(&k.render(fx, marker), &v.render(fx, marker));
    }
    out.finish()
}

/// A query string.
#[derive(Arbitrary, Debug)]
pub enum QueryInput {
    /// None.
    None,
    /// Pairs, form-encoded.
    Pairs(Vec<(Text, Text)>),
    /// Text, with the bytes a URI cannot hold percent-encoded (a `%` stays as it is).
    Raw(Text),
}

/// `text` with every byte a URI's path or query cannot hold percent-encoded; `%` is
/// kept unless `escape_percent`, `/`, `?` and `#` are escaped in a path segment.
pub fn uri_escape(text: &str, segment: bool) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@%".contains(&b)
            || (!segment && (b == b'/' || b == b'?'));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The header names the targets send.
pub const HEADERS: [&str; 9] = [
    "content-type",
    "if-match",
    "idempotency-key",
    "origin",
    "sec-fetch-site",
    "authorization",
    "accept",
    "host",
    "x-anything",
];

/// The content types the targets send.
pub const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED;charset=UTF-8",
];

/// The methods the targets send.
pub const METHODS: [&str; 7] = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"];

/// Request headers: a content type, then any.
#[derive(Arbitrary, Debug)]
pub struct HeadersInput {
    /// One of [`CONTENT_TYPES`], or none.
    pub content_type: Option<u8>,
    /// A name of [`HEADERS`] and a value.
    pub others: Vec<(u8, Text)>,
}

/// Builds a request, or `None` if the URI or a header is not one `http` takes.
#[allow(clippy::too_many_arguments)]
pub fn request(
    who: Who,
    method: u8,
    path: &str,
    query: &QueryInput,
    headers: &HeadersInput,
    body: &BodyInput,
    fx: &Fixture,
    marker: &str,
) -> Option<Request<Body>> {
    let query = match query {
        QueryInput::None => String::new(),
        QueryInput::Pairs(pairs) => format!("?{}", form(pairs, fx, marker)),
        QueryInput::Raw(text) => format!("?{}", uri_escape(&text.render(fx, marker), false)),
    };
    let uri = Uri::try_from(format!("{path}{query}")).ok()?;
    let method =
        Method::from_bytes(METHODS[usize::from(method) % METHODS.len()].as_bytes()).ok()?;
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.bytes(fx, marker)))
        .ok()?;
    let map = req.headers_mut();
    if let Some(ct) = headers.content_type {
        map.insert(
            "content-type",
            HeaderValue::from_static(CONTENT_TYPES[usize::from(ct) % CONTENT_TYPES.len()]),
        );
    }
    for (name, value) in &headers.others {
        let name = HeaderName::from_static(HEADERS[usize::from(*name) % HEADERS.len()]);
        let value = HeaderValue::from_str(&value.render(fx, marker)).ok()?;
        map.append(name, value);
    }
    if let Some(actor) = who.actor() {
        req.extensions_mut().insert(actor);
    }
    Some(req)
}

/// What came back.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers, as text (`name: value` lines, values lossily decoded).
    pub headers: String,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends `req` to `router` and reads the whole answer.
pub async fn send(router: Router, req: Request<Body>) -> Answer {
    let response = router.oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// Whether `haystack` holds `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A path segment: the fixture's id, a word, or text (escaped).
#[derive(Arbitrary, Debug)]
pub enum Segment {
    /// The fixture's integration id.
    Id,
    /// An id of the right shape that names nothing.
    OtherId,
    /// Text.
    Text(Text),
}

impl Segment {
    /// The segment, escaped.
    pub fn render(&self, fx: &Fixture, marker: &str) -> String {
        match self {
            Segment::Id => fx.id.clone(),
            Segment::OtherId => "AAAAAAAAAAAAAAAA".to_owned(),
            Segment::Text(text) => uri_escape(&text.render(fx, marker), true),
        }
    }
}
