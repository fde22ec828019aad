//! The example server (`examples/server`) over real HTTP on 127.0.0.1, with a manual
//! clock and a storage that can be made to fail:
//!
//! - the admin's whole story through the admin API and the token-protected contacts API;
//! - every refusal of the bearer layer, with its status, its exact `WWW-Authenticate`
//!   header and a body that never holds the token, and proof that the handler was not
//!   reached;
//! - `openapi.yaml` held against what the server really answers: every documented
//!   operation answers with every documented status and no other, and every body fits
//!   its documented schema.
#![cfg(feature = "axum")]

#[path = "../examples/server/app.rs"]
mod app;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use private_integrations::http::TOKEN_NOTICE;
use private_integrations::storage::{AccessSettings, IntegrationRecord, TokenLookup};
use private_integrations::*;
use serde_json::{Value, json};
use time::Duration;

// ---------------------------------------------------------------------------------------
// A storage that can be made to fail, and counts token lookups.
// ---------------------------------------------------------------------------------------

const NORMAL: u8 = 0;
/// Every call fails with a backend error.
const DOWN: u8 = 1;
/// Every integration write loses a compare-and-swap race.
const CONFLICT: u8 = 2;

/// What the failing backend says: internals no response may show.
const INTERNALS: &str = "connect to db.internal:5432 as pi_owner: password hunter2 rejected";

#[derive(Debug, Clone, Default)]
struct Faults {
    mode: Arc<AtomicU8>,
    lookups: Arc<AtomicUsize>,
}

impl Faults {
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn read(&self) -> Result<(), StorageError> {
        if self.mode.load(Ordering::SeqCst) == DOWN {
            return Err(StorageError::backend(std::io::Error::other(INTERNALS)));
        }
        Ok(())
    }

    fn write(&self) -> Result<(), StorageError> {
        self.read()?;
        if self.mode.load(Ordering::SeqCst) == CONFLICT {
            return Err(StorageError::Conflict);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultyStorage {
    inner: MemoryStorage,
    faults: Faults,
}

#[async_trait]
impl Storage for FaultyStorage {
    async fn insert(
        &self,
        record: &IntegrationRecord,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.faults.write()?;
        self.inner.insert(record, event).await
    }

    async fn update(
        &self,
        record: &IntegrationRecord,
        expected_version: u64,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.faults.write()?;
        self.inner.update(record, expected_version, event).await
    }

    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.faults.write()?;
        self.inner
            .delete(account, id, expected_version, event)
            .await
    }

    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        self.faults.read()?;
        self.inner.get(account, id).await
    }

    async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
        self.faults.read()?;
        self.inner.list(account).await
    }

    fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
        self.faults.lookups.fetch_add(1, Ordering::SeqCst);
        match self.faults.read() {
            Ok(()) => self.inner.find_by_token(token_id),
            Err(err) => TokenLookup::ready(Err(err)),
        }
    }

    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<AccessSettings, StorageError> {
        self.faults.read()?;
        self.inner.access(account, user).await
    }

    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.faults.read()?;
        self.inner
            .set_permission(account, user, permission, event)
            .await
    }

    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.faults.read()?;
        self.inner
            .set_feature_enabled(account, enabled, event)
            .await
    }

    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        self.faults.read()?;
        self.inner.audit_log(account).await
    }
}

// ---------------------------------------------------------------------------------------
// The server, a client, and what they said to each other.
// ---------------------------------------------------------------------------------------

/// Who the stand-in login says is calling the admin API.
#[derive(Debug, Clone, Copy)]
enum Login {
    Admin,
    Member,
    OtherAccountAdmin,
    Anonymous,
}

impl Login {
    fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Login::Admin => &[
                ("x-account-id", "acct_1"),
                ("x-user-id", "u_admin"),
                ("x-role", "admin"),
            ],
            Login::Member => &[
                ("x-account-id", "acct_1"),
                ("x-user-id", "u_bob"),
                ("x-role", "member"),
            ],
            Login::OtherAccountAdmin => &[
                ("x-account-id", "acct_2"),
                ("x-user-id", "u_eve"),
                ("x-role", "admin"),
            ],
            Login::Anonymous => &[],
        }
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "{}: not JSON ({err}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn challenge(&self) -> Option<&str> {
        self.header(WWW_AUTHENTICATE.as_str())
    }

    /// Whether `text` shows anywhere in the response: body or any header.
    fn shows(&self, text: &str) -> bool {
        let needle = text.as_bytes();
        let within = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        within(&self.body) || self.headers.values().any(|v| within(v.as_bytes()))
    }
}

/// One admin API call, for the OpenAPI check.
#[derive(Debug)]
struct Exchange {
    method: Method,
    path: String,
    reply: Reply,
}

struct Server {
    base: String,
    client: Client<HttpConnector, Body>,
    clock: ManualClock,
    faults: Faults,
    exchanges: Mutex<Vec<Exchange>>,
}

impl Server {
    /// The example's router on 127.0.0.1, on a port of the system's choosing.
    async fn start() -> Server {
        let clock = ManualClock::new(support::T0);
        let faults = Faults::default();
        let storage = FaultyStorage {
            inner: MemoryStorage::new(),
            faults: faults.clone(),
        };
        let pi = PrivateIntegrations::builder(storage)
            .scope_catalog(app::catalog())
            .clock(clock.clone())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app::app(pi)).await.unwrap() });
        Server {
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
            clock,
            faults,
            exchanges: Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(Body::new(body), usize::MAX)
            .await
            .unwrap();
        let reply = Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        for internal in ["db.internal", "hunter2", "pi_owner"] {
            assert!(!reply.shows(internal), "storage internals shown: {reply:?}");
        }
        reply
    }

    /// An admin API call with a raw body, recorded for the OpenAPI check.
    async fn admin_raw(
        &self,
        login: Login,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}/admin{path}", self.base));
        for (name, value) in login.headers() {
            request = request.header(*name, *value);
        }
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let reply = self.send(request.body(body.into()).unwrap()).await;
        self.exchanges.lock().unwrap().push(Exchange {
            method,
            path: path.to_owned(),
            reply: reply.clone(),
        });
        reply
    }

    /// An admin API call with a JSON body, or none.
    async fn admin(&self, login: Login, method: Method, path: &str, body: Option<Value>) -> Reply {
        match body {
            Some(body) => {
                self.admin_raw(
                    login,
                    method,
                    path,
                    Some("application/json"),
                    body.to_string(),
                )
                .await
            }
            None => {
                self.admin_raw(login, method, path, None, Body::empty())
                    .await
            }
        }
    }

    /// A call to the protected API with these `Authorization` values, as raw bytes. No
    /// answer may show any of them.
    async fn api(
        &self,
        method: Method,
        path: &str,
        authorization: &[&[u8]],
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        let headers = request.headers_mut().unwrap();
        for value in authorization {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        let body = match body {
            Some(body) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let reply = self.send(request.body(body).unwrap()).await;
        for value in authorization {
            let presented = String::from_utf8_lossy(value);
            if let Some(credential) = presented.split_ascii_whitespace().last()
                && credential.len() >= 8
            {
                assert!(!reply.shows(credential), "the token was echoed: {reply:?}");
            }
        }
        reply
    }

    async fn contacts(&self, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.api(Method::GET, "/v1/contacts", &[auth.as_bytes()], None)
            .await
    }

    async fn add_contact(&self, token: &str, name: &str) -> Reply {
        let auth = format!("Bearer {token}");
        let body = json!({ "name": name });
        self.api(Method::POST, "/v1/contacts", &[auth.as_bytes()], Some(body))
            .await
    }

    /// Creates an integration as the admin: its id and token.
    async fn create(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let body = json!({ "name": name, "scopes": scopes });
        let reply = self
            .admin(Login::Admin, Method::POST, "/integrations", Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        let json = reply.json();
        (
            json["integration"]["id"].as_str().unwrap().to_owned(),
            json["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Rotates as the admin: the new token.
    async fn rotate(&self, id: &str, mode: &str) -> String {
        let reply = self
            .admin(
                Login::Admin,
                Method::POST,
                &format!("/integrations/{id}/rotate"),
                Some(json!({ "mode": mode })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.json()["token_notice"], TOKEN_NOTICE);
        reply.json()["token"].as_str().unwrap().to_owned()
    }
}

const MISSING: &str = r#"Bearer realm="api""#;
const INVALID_TOKEN: &str = r#"Bearer realm="api", error="invalid_token""#;
const INVALID_REQUEST: &str = r#"Bearer realm="api", error="invalid_request""#;
const NEEDS_WRITE: &str =
    r#"Bearer realm="api", error="insufficient_scope", scope="contacts.write""#;

/// A refusal decided from the `Authorization` headers alone: the case, the header
/// values, and the status, challenge and error code expected.
type HeaderCase = (&'static str, Vec<Vec<u8>>, u16, &'static str, &'static str);

/// `token` with one character of its secret changed: the checksum no longer matches.
fn typo(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

/// Asserts a refusal of the protected API: status, exact challenge, error code.
#[track_caller]
fn refused(reply: &Reply, status: u16, challenge: Option<&str>, error: &str) {
    assert_eq!(reply.status.as_u16(), status, "{reply:?}");
    assert_eq!(reply.challenge(), challenge, "{reply:?}");
    assert_eq!(reply.error(), error, "{reply:?}");
}

// ---------------------------------------------------------------------------------------
// The admin's story.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_admins_story_over_http() {
    let server = Server::start().await;
    story(&server).await;
}

async fn story(s: &Server) {
    use Login::*;

    // 1. Create: the token is shown once, and kept out of caches.
    let created = s
        .admin(
            Admin,
            Method::POST,
            "/integrations",
            Some(json!({
                "name": "Zapier sync",
                "description": "Pushes contacts",
                "scopes": ["contacts.readonly"],
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let body = created.json();
    assert_eq!(body["token_notice"], TOKEN_NOTICE);
    assert_eq!(body["integration"]["name"], "Zapier sync");
    assert_eq!(body["integration"]["scopes"], json!(["contacts.readonly"]));
    assert_eq!(body["integration"]["version"], 1);
    let id = body["integration"]["id"].as_str().unwrap().to_owned();
    let first = body["token"].as_str().unwrap().to_owned();
    let one = format!("/integrations/{id}");
    let got = s.admin(Admin, Method::GET, &one, None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["id"], id.as_str());
    let listed = s.admin(Admin, Method::GET, "/integrations", None).await;
    assert_eq!(listed.json()["integrations"][0]["id"], id.as_str());
    assert!(
        !got.shows(&first) && !listed.shows(&first),
        "shown only once"
    );

    // 2. The third party reads contacts, and may not write them.
    let read = s.contacts(&first).await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    assert_eq!(read.json(), json!({ "account": "acct_1", "contacts": [] }));
    refused(
        &s.add_contact(&first, "Ada").await,
        403,
        Some(NEEDS_WRITE),
        "insufficient_scope",
    );
    let auth = format!("Bearer {first}");
    let whoami = s
        .api(Method::GET, "/v1/whoami", &[auth.as_bytes()], None)
        .await;
    assert_eq!(whoami.json()["integration_id"], id.as_str());
    assert_eq!(whoami.json()["scopes"], json!(["contacts.readonly"]));

    // 3. The admin grants contacts.write: the same token's 403 turns into 201.
    let edited = s
        .admin(
            Admin,
            Method::PATCH,
            &one,
            Some(json!({ "scopes": ["contacts.readonly", "contacts.write"] })),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(edited.json()["version"], 2);
    assert_eq!(edited.json()["name"], "Zapier sync");
    let added = s.add_contact(&first, "Ada").await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    assert_eq!(
        s.contacts(&first).await.json()["contacts"],
        json!([{ "name": "Ada" }])
    );

    // 4. Rotate, expire the old token later: both work for the 7-day grace period.
    let second = s.rotate(&id, "expire_later").await;
    let pending = &s.admin(Admin, Method::GET, &one, None).await.json()["pending_rotation"];
    assert_eq!(pending["previous_expires_at"], "2026-03-08T09:00:00Z");
    s.clock.advance(Duration::days(6));
    assert_eq!(s.contacts(&first).await.status, StatusCode::OK);
    assert_eq!(s.contacts(&second).await.status, StatusCode::OK);
    s.clock.advance(Duration::days(2));
    refused(
        &s.contacts(&first).await,
        401,
        Some(INVALID_TOKEN),
        "invalid_token",
    );
    assert_eq!(s.contacts(&second).await.status, StatusCode::OK);
    let settled = s.admin(Admin, Method::GET, &one, None).await;
    assert_eq!(settled.json()["pending_rotation"], Value::Null);

    // 5. Rotate later, then cancel: the new token dies, the old one lives on.
    let third = s.rotate(&id, "expire_later").await;
    let cancel = format!("{one}/rotation/cancel");
    let cancelled = s.admin(Admin, Method::POST, &cancel, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(cancelled.json()["pending_rotation"], Value::Null);
    assert_eq!(s.contacts(&third).await.status, StatusCode::UNAUTHORIZED);
    s.clock.advance(Duration::days(30));
    assert_eq!(s.contacts(&second).await.status, StatusCode::OK);
    let again = s.admin(Admin, Method::POST, &cancel, None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error(), "no_rotation_in_progress");

    // 6. Rotate later, then expire the previous token now.
    let fourth = s.rotate(&id, "expire_later").await;
    let twice = s
        .admin(
            Admin,
            Method::POST,
            &format!("{one}/rotate"),
            Some(json!({ "mode": "expire_later" })),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(twice.error(), "rotation_in_progress");
    let expire = format!("{one}/rotation/expire-previous");
    let expired = s.admin(Admin, Method::POST, &expire, None).await;
    assert_eq!(expired.status, StatusCode::OK, "{expired:?}");
    assert_eq!(s.contacts(&second).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.contacts(&fourth).await.status, StatusCode::OK);
    let again = s.admin(Admin, Method::POST, &expire, None).await;
    assert_eq!(again.error(), "no_rotation_in_progress");

    // 7. Rotate and expire now (a leaked token).
    let fifth = s.rotate(&id, "expire_now").await;
    assert_eq!(s.contacts(&fourth).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.contacts(&fifth).await.status, StatusCode::OK);

    // 8. Bob, a member, may manage only once allowed; never the permissions themselves.
    let denied = s.admin(Member, Method::GET, "/integrations", None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.error(), "permission_denied");
    let bob = "/users/u_bob/permission";
    let allow = s
        .admin(
            Admin,
            Method::PUT,
            bob,
            Some(json!({ "permission": "allow" })),
        )
        .await;
    assert_eq!(allow.status, StatusCode::NO_CONTENT, "{allow:?}");
    let allowed = s.admin(Member, Method::GET, "/integrations", None).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.json()["integrations"][0]["id"], id.as_str());
    let escalate = s
        .admin(
            Member,
            Method::PUT,
            "/feature",
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(escalate.error(), "permission_denied");
    let reset = s
        .admin(
            Admin,
            Method::PUT,
            bob,
            Some(json!({ "permission": "role_default" })),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let denied = s.admin(Member, Method::GET, "/integrations", None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    // 9. Another account's admin sees nothing of it.
    let elsewhere = s.admin(OtherAccountAdmin, Method::GET, &one, None).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.error(), "not_found");
    let theirs = s
        .admin(OtherAccountAdmin, Method::GET, "/integrations", None)
        .await;
    assert_eq!(theirs.json(), json!({ "integrations": [] }));
    let delete_theirs = s.admin(OtherAccountAdmin, Method::DELETE, &one, None).await;
    assert_eq!(delete_theirs.status, StatusCode::NOT_FOUND);

    // 10. The feature switch stops management, not the tokens.
    let off = s
        .admin(
            Admin,
            Method::PUT,
            "/feature",
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{off:?}");
    let disabled = s.admin(Admin, Method::GET, "/integrations", None).await;
    assert_eq!(disabled.status, StatusCode::FORBIDDEN);
    assert_eq!(disabled.error(), "feature_disabled");
    assert_eq!(s.contacts(&fifth).await.status, StatusCode::OK);
    let on = s
        .admin(
            Admin,
            Method::PUT,
            "/feature",
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(on.status, StatusCode::NO_CONTENT);

    // 11. Bad input is refused with a clear error and changes nothing.
    for (body, status, error) in [
        (
            json!({ "name": "  ", "scopes": ["contacts.readonly"] }),
            422,
            "invalid_input",
        ),
        (
            json!({ "name": "x", "scopes": ["billing.write"] }),
            422,
            "unknown_scope",
        ),
        (json!({ "name": "x", "scopes": [] }), 422, "invalid_input"),
        (json!({ "name": "x" }), 422, "invalid_body"),
        (
            json!({ "name": "x", "scope": ["contacts.readonly"] }),
            422,
            "invalid_body",
        ),
    ] {
        let reply = s
            .admin(Admin, Method::POST, "/integrations", Some(body.clone()))
            .await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {reply:?}");
        assert_eq!(reply.error(), error, "{body}");
    }
    let empty = s.admin(Admin, Method::PATCH, &one, Some(json!({}))).await;
    assert_eq!(empty.error(), "invalid_input");
    let listed = s.admin(Admin, Method::GET, "/integrations", None).await;
    assert_eq!(listed.json()["integrations"].as_array().unwrap().len(), 1);

    // 12. The rotation reminder: only the token 91 days old is due.
    let (spare_id, spare) = s.create("Reporting", &["contacts.readonly"]).await;
    s.clock.advance(Duration::days(60));
    let sixth = s.rotate(&id, "expire_now").await;
    s.clock.advance(Duration::days(31));
    let due = s.admin(Admin, Method::GET, "/rotation-due", None).await;
    assert_eq!(due.status, StatusCode::OK);
    let due = due.json();
    let due_ids: Vec<&str> = due["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(due_ids, [spare_id.as_str()]);

    // 13. The audit log, newest first, has every change.
    let log = s.admin(Admin, Method::GET, "/audit-log", None).await.json();
    let events = log["events"].as_array().unwrap();
    assert_eq!(events[0]["action"], "rotated");
    assert_eq!(events[0]["mode"], "expire_now");
    assert_eq!(events[0]["integration"], id.as_str());
    assert_eq!(events[1]["action"], "created");
    assert_eq!(events[1]["integration"], spare_id.as_str());
    let actions: BTreeSet<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "created",
            "updated",
            "rotated",
            "rotation_cancelled",
            "previous_expired",
            "permission_changed",
            "feature_switched",
        ])
    );
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // 14. Delete: its token stops at once, the other integration's works on.
    let deleted = s.admin(Admin, Method::DELETE, &one, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    assert!(deleted.body.is_empty());
    refused(
        &s.contacts(&sixth).await,
        401,
        Some(INVALID_TOKEN),
        "invalid_token",
    );
    assert_eq!(
        s.admin(Admin, Method::GET, &one, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.admin(Admin, Method::DELETE, &one, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.contacts(&spare).await.status, StatusCode::OK);
    let log = s.admin(Admin, Method::GET, "/audit-log", None).await.json();
    assert_eq!(log["events"][0]["action"], "deleted");
}

// ---------------------------------------------------------------------------------------
// Refusals of the protected API.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refusals_follow_rfc_6750_and_never_reach_the_handler() {
    let s = Server::start().await;
    let (_, reader) = s.create("Reader", &["contacts.readonly"]).await;
    let (_, writer) = s
        .create("Writer", &["contacts.readonly", "contacts.write"])
        .await;
    let post = |auth: Vec<Vec<u8>>| {
        let s = &s;
        async move {
            let auth: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
            s.api(
                Method::POST,
                "/v1/contacts",
                &auth,
                Some(json!({ "name": "Mallory" })),
            )
            .await
        }
    };
    let bearer = |token: &str| format!("Bearer {token}").into_bytes();
    let mut invalid_bodies = Vec::new();

    // Refused from the header alone: no storage lookup.
    let lookups = s.faults.lookups();
    let huge = [b"Bearer ".as_slice(), &[b'A'; 100 * 1024]].concat();
    let header_cases: Vec<HeaderCase> = vec![
        ("no Authorization", vec![], 401, MISSING, "missing_token"),
        (
            "Basic",
            vec![b"Basic dXNlcjpwYXNz".to_vec()],
            401,
            MISSING,
            "missing_token",
        ),
        (
            "scheme only",
            vec![b"Bearer".to_vec()],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        (
            "malformed token",
            vec![bearer("pit_not_a_token")],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        (
            "typo in a good token",
            vec![bearer(&typo(&writer))],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        (
            "a word after the token",
            vec![format!("Bearer {writer} extra").into_bytes()],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        (
            "not UTF-8",
            vec![b"Bearer pit_\xff\xfe\xfd".to_vec()],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        ("100 KB", vec![huge], 401, INVALID_TOKEN, "invalid_token"),
        (
            "the same good token twice",
            vec![bearer(&writer), bearer(&writer)],
            400,
            INVALID_REQUEST,
            "invalid_request",
        ),
        (
            "a good and a bad token",
            vec![bearer(&writer), bearer("pit_not_a_token")],
            400,
            INVALID_REQUEST,
            "invalid_request",
        ),
    ];
    for (case, auth, status, challenge, error) in header_cases {
        let reply = post(auth).await;
        assert_eq!(reply.status.as_u16(), status, "{case}: {reply:?}");
        assert_eq!(reply.challenge(), Some(challenge), "{case}");
        assert_eq!(reply.error(), error, "{case}");
        if error == "invalid_token" {
            invalid_bodies.push((case, reply.body));
        }
    }
    assert_eq!(
        s.faults.lookups(),
        lookups,
        "refused without touching storage"
    );

    // Well-formed tokens that storage refuses: unknown id, wrong secret, expired, revoked,
    // deleted. One answer for all.
    let (old_id, old) = s.create("Old", &["contacts.write"]).await;
    let _ = s.rotate(&old_id, "expire_later").await;
    s.clock.advance(Duration::days(8));
    let (leaked_id, leaked) = s.create("Leaked", &["contacts.write"]).await;
    let _ = s.rotate(&leaked_id, "expire_now").await;
    let (gone_id, gone) = s.create("Gone", &["contacts.write"]).await;
    let path = format!("/integrations/{gone_id}");
    let deleted = s.admin(Login::Admin, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for (case, token) in [
        ("unknown token id", support::unknown_id(&writer)),
        ("wrong secret", support::wrong_secret(&writer)),
        ("expired after the grace period", old),
        ("revoked by a rotation", leaked),
        ("of a deleted integration", gone),
    ] {
        let reply = post(vec![bearer(&token)]).await;
        refused(&reply, 401, Some(INVALID_TOKEN), "invalid_token");
        invalid_bodies.push((case, reply.body));
    }
    let (first_case, first_body) = &invalid_bodies[0];
    for (case, body) in &invalid_bodies {
        assert_eq!(body, first_body, "{case} and {first_case} answer alike");
    }

    // A live token without the scope.
    refused(
        &post(vec![bearer(&reader)]).await,
        403,
        Some(NEEDS_WRITE),
        "insufficient_scope",
    );

    // The storage is down: 503, no challenge (the token may be fine), no internals.
    s.faults.set(DOWN);
    let down = post(vec![bearer(&writer)]).await;
    refused(&down, 503, None, "temporarily_unavailable");
    s.faults.set(NORMAL);

    // Nothing above reached the handler.
    assert_eq!(
        s.contacts(&writer).await.json()["contacts"],
        json!([]),
        "no refused request added a contact"
    );

    // Accepted on purpose: the scheme in any case, more white space.
    for (case, auth) in [
        ("lower-case scheme", format!("bearer {writer}")),
        ("upper-case scheme", format!("BEARER {writer}")),
        ("two spaces", format!("Bearer  {writer}")),
        ("a tab", format!("Bearer\t{writer}")),
        ("a trailing space", format!("Bearer {writer} ")),
    ] {
        let reply = post(vec![auth.into_bytes()]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{case}: {reply:?}");
    }
    assert_eq!(
        s.contacts(&writer).await.json()["contacts"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

// ---------------------------------------------------------------------------------------
// openapi.yaml against the server.
// ---------------------------------------------------------------------------------------

/// One documented operation.
#[derive(Debug)]
struct Operation {
    id: String,
    method: Method,
    template: String,
    example: Option<Value>,
    responses: BTreeMap<u16, Value>,
}

fn spec() -> Value {
    serde_norway::from_str(include_str!("../openapi.yaml")).expect("openapi.yaml parses")
}

/// Follows `$ref`s within the document.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local $ref");
            let target = spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(spec, target)
        }
        None => value,
    }
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut operations = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let responses = operation["responses"]
                .as_object()
                .expect("responses")
                .iter()
                .map(|(status, response)| {
                    (
                        status.parse().expect("numeric status"),
                        resolve(spec, response).clone(),
                    )
                })
                .collect();
            operations.push(Operation {
                id: operation["operationId"]
                    .as_str()
                    .expect("operationId")
                    .into(),
                method: method.to_uppercase().parse().unwrap(),
                template: template.clone(),
                example: operation
                    .pointer("/requestBody/content/application~1json/example")
                    .cloned(),
                responses,
            });
        }
    }
    operations
}

/// Whether a concrete path matches a path template (`{name}` is one non-empty segment).
fn matches_template(path: &str, template: &str) -> bool {
    let path: Vec<&str> = path.split('/').collect();
    let template: Vec<&str> = template.split('/').collect();
    path.len() == template.len()
        && path.iter().zip(&template).all(|(segment, pattern)| {
            segment == pattern || (pattern.starts_with('{') && !segment.is_empty())
        })
}

/// Checks `value` against a JSON Schema, the subset `openapi.yaml` uses: `$ref`, `type`,
/// `const`, `enum`, `format: date-time`, `oneOf`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `minItems`, `minimum`.
fn validate(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |kind: &str| match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("unsupported type {other}"),
        };
        if !types.iter().any(|kind| fits(kind)) {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(expected) = schema.get("const")
        && value != expected
    {
        errors.push(format!("{at}: {value} is not {expected}"));
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        let parsed = value
            .as_str()
            .map(|text| time::OffsetDateTime::parse(text, rfc3339));
        if !matches!(parsed, Some(Ok(_))) {
            errors.push(format!("{at}: {value} is not an RFC 3339 date-time"));
        }
    }
    if let Some(Value::Array(choices)) = schema.get("oneOf") {
        let fitting = choices
            .iter()
            .filter(|choice| {
                let mut inner = Vec::new();
                validate(spec, choice, value, at, &mut inner);
                inner.is_empty()
            })
            .count();
        if fitting != 1 {
            errors.push(format!("{at}: {value} fits {fitting} of oneOf"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !object.contains_key(key) {
                errors.push(format!("{at}: missing {key}"));
            }
        }
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (key, field) in object {
            match schema.get("properties").and_then(|p| p.get(key)) {
                Some(property) => validate(spec, property, field, &format!("{at}.{key}"), errors),
                None if closed => errors.push(format!("{at}: undocumented field {key}")),
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            errors.push(format!("{at}: fewer than {min} items"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(spec, item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let (Some(min), Some(number)) = (
        schema.get("minimum").and_then(Value::as_i64),
        value.as_i64(),
    ) && number < min
    {
        errors.push(format!("{at}: {number} < {min}"));
    }
}

/// Sends each documented operation the requests that should bring out each kind of
/// answer: a good one, and ones without a login, by a member, with the storage down or
/// losing races, with unknown and malformed ids, and with bad bodies.
async fn sweep(s: &Server, operations: &[Operation]) {
    use Login::*;
    for op in operations {
        let method = op.method.clone();
        let path =
            |id: &str, user: &str| op.template.replace("{id}", id).replace("{user_id}", user);
        // A fresh integration, with a rotation under way where the operation needs one.
        let prepare = async || {
            let (id, _) = s.create("Sweep", &["contacts.readonly"]).await;
            if op.template.contains("/rotation/") {
                s.rotate(&id, "expire_later").await;
            }
            path(&id, "u_bob")
        };
        let example = || op.example.clone();

        for login in [Admin, Anonymous, Member] {
            let target = prepare().await;
            s.admin(login, method.clone(), &target, example()).await;
        }
        for mode in [DOWN, CONFLICT] {
            let target = prepare().await;
            s.faults.set(mode);
            s.admin(Admin, method.clone(), &target, example()).await;
            s.faults.set(NORMAL);
        }
        if op.template.contains("{id}") {
            for id in ["ZZZZZZZZZZZZZZZZ", "not-an-id"] {
                s.admin(Admin, method.clone(), &path(id, "u_bob"), example())
                    .await;
            }
        }
        if op.template.contains("{user_id}") {
            s.admin(Admin, method.clone(), &path("", "a%0Ab"), example())
                .await;
        }
        if let Some(body) = example() {
            let target = prepare().await;
            let json = Some("application/json");
            s.admin_raw(Admin, method.clone(), &target, json, "{").await;
            s.admin_raw(Admin, method.clone(), &target, None, body.to_string())
                .await;
            let unknown = Some(json!({ "unexpected": true }));
            s.admin(Admin, method.clone(), &target, unknown).await;
        }
    }
}

#[tokio::test]
async fn openapi_yaml_describes_what_the_admin_api_answers() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let operations = operations(&spec);
    assert_eq!(operations.len(), 12, "every operation of the admin router");

    let s = Server::start().await;
    story(&s).await;
    sweep(&s, &operations).await;

    let mut produced: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
    let mut errors = Vec::new();
    for exchange in s.exchanges.lock().unwrap().iter() {
        let Exchange {
            method,
            path,
            reply,
        } = exchange;
        let route = path.split('?').next().unwrap_or_default();
        let Some(op) = operations
            .iter()
            .find(|op| op.method == *method && matches_template(route, &op.template))
        else {
            errors.push(format!("{method} {path}: not documented"));
            continue;
        };
        let status = reply.status.as_u16();
        produced.entry(&op.id).or_default().insert(status);
        let Some(response) = op.responses.get(&status) else {
            errors.push(format!(
                "{} answered undocumented {status}: {reply:?}",
                op.id
            ));
            continue;
        };
        let at = format!("{} {status}", op.id);
        match response.pointer("/content/application~1json/schema") {
            Some(schema) => validate(&spec, schema, &reply.json(), &at, &mut errors),
            None if reply.body.is_empty() => {}
            None => errors.push(format!("{at}: undocumented body {:?}", reply.body)),
        }
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let expected = resolve(&spec, header).pointer("/schema/const");
            if let Some(expected) = expected.and_then(Value::as_str)
                && reply.header(name) != Some(expected)
            {
                errors.push(format!("{at}: header {name} is not {expected}"));
            }
        }
    }
    for op in &operations {
        let documented: BTreeSet<u16> = op.responses.keys().copied().collect();
        let seen = produced.remove(op.id.as_str()).unwrap_or_default();
        if seen != documented {
            errors.push(format!(
                "{} {} ({}): documents {documented:?}, answered {seen:?}",
                op.method, op.template, op.id
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn templates_match_whole_segments() {
    assert!(matches_template("/integrations/abc", "/integrations/{id}"));
    assert!(matches_template(
        "/integrations/abc/rotate",
        "/integrations/{id}/rotate"
    ));
    assert!(!matches_template("/integrations", "/integrations/{id}"));
    assert!(!matches_template("/integrations/", "/integrations/{id}"));
    assert!(!matches_template(
        "/integrations/abc/rotate",
        "/integrations/{id}"
    ));
}

#[test]
fn the_schema_check_catches_what_it_claims_to() {
    let spec = spec();
    let integration = json!({ "$ref": "#/components/schemas/Integration" });
    let good = json!({
        "id": "AbCdEfGh12345678", "account": "acct_1", "name": "n", "description": "",
        "scopes": ["contacts.readonly"], "created_at": "2026-03-01T09:00:00Z",
        "updated_at": "2026-03-01T09:00:00Z", "token_issued_at": "2026-03-01T09:00:00Z",
        "last_used_at": null, "pending_rotation": null, "version": 1,
    });
    let mut errors = Vec::new();
    validate(&spec, &integration, &good, "good", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let bad = |edit: fn(&mut Value)| {
        let mut value = good.clone();
        edit(&mut value);
        let mut errors = Vec::new();
        validate(&spec, &integration, &value, "bad", &mut errors);
        assert!(!errors.is_empty(), "{value} passed");
    };
    bad(|v| {
        v.as_object_mut().unwrap().remove("version");
    });
    bad(|v| v["secret"] = json!("x"));
    bad(|v| v["version"] = json!("1"));
    bad(|v| v["version"] = json!(0));
    bad(|v| v["created_at"] = json!("yesterday"));
    bad(|v| v["pending_rotation"] = json!({ "previous_expires_at": "2026-03-01T09:00:00Z" }));
    bad(|v| v["scopes"] = json!([1]));
    bad(|v| v["last_used_at"] = json!("yesterday"));
}
