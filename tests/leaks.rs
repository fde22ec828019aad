//! The secret scanning partner endpoint (`http::secret_scanning_router`), as GitHub
//! calls it: alerts signed with ECDSA P-256 / SHA-256 over the raw body, with a key pair
//! made here, on memory, SQLite and PostgreSQL (two instances with their caches: the
//! revoked token is refused on the one that did not handle the alert).
//!
//! What the service does with a report (the policy, each place once, what is a false
//! positive) is walked through on every backend in `tests/lifecycle.rs`; here, what the
//! endpoint adds: the signature checked before anything is read, the limits, the answer.
#![cfg(feature = "axum")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use private_integrations::http::{
    BoxError, GITHUB_KEY_ID_HEADER, GITHUB_SIGNATURE_HEADER, GithubKeySource, GithubKeys,
    secret_scanning_router,
};
use private_integrations::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::*;
use tower::ServiceExt;

const KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const OTHER_KEY_ID: &str = "29f6e4f1a0a43b2c0d0f7b3f2a9fd5c06b1b56c8d8b0de4e9f4bd6c1b7c1b2a7";

/// A signing key of its own for each `n` (a fixed scalar: tests are deterministic).
fn signing_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32].into()).expect("a valid scalar")
}

/// GitHub's key document for these keys.
fn key_document(keys: &[(&str, &SigningKey)]) -> String {
    let entries: Vec<Value> = keys
        .iter()
        .map(|(id, key)| {
            json!({
                "key_identifier": id,
                "key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                "is_current": true,
            })
        })
        .collect();
    json!({ "public_keys": entries }).to_string()
}

fn sign(key: &SigningKey, body: &[u8]) -> String {
    let signature: Signature = key.sign(body);
    Base64::encode_string(signature.to_der().as_bytes())
}

/// A request as GitHub sends it: `body`, signed by `key`, naming `key_id`.
fn alert(key_id: &str, signature: &str, body: impl Into<Vec<u8>>) -> Request<Body> {
    Request::post("/")
        .header("content-type", "application/json")
        .header(GITHUB_KEY_ID_HEADER, key_id)
        .header(GITHUB_SIGNATURE_HEADER, signature)
        .body(Body::from(body.into()))
        .unwrap()
}

fn signed(body: impl Into<Vec<u8>>) -> Request<Body> {
    let body = body.into();
    alert(KEY_ID, &sign(&signing_key(7), &body), body)
}

fn matches(found: &[(&str, &str)]) -> Vec<u8> {
    let matches: Vec<Value> = found
        .iter()
        .map(|(token, url)| json!({ "token": token, "type": "pit_token", "url": url, "source": "content" }))
        .collect();
    serde_json::to_vec(&matches).unwrap()
}

struct Answer {
    status: StatusCode,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn labels(&self) -> Vec<String> {
        self.json()
            .as_array()
            .expect("a feedback array")
            .iter()
            .map(|f| f["label"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn router(pi: &PrivateIntegrations) -> Router {
    let keys = GithubKeys::from_json(&key_document(&[(KEY_ID, &signing_key(7))])).unwrap();
    secret_scanning_router(pi.clone(), keys)
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A signed batch mixing a live current token, a live previous token, one an earlier
/// report revoked, one rotated away, an unknown id with a valid checksum and a malformed
/// string: labelled in order, the live ones revoked, nothing else touched; then the same
/// batch again, which changes nothing more.
async fn a_mixed_batch_is_labelled_and_the_live_tokens_revoked(h: Harness) {
    let router = router(&h.pi);
    let (current_id, current) = h.create("Current", &["contacts.readonly"]).await;
    let (rotating, previous) = h.create("Rotating", &["contacts.readonly"]).await;
    let new =
        h.pi.rotate(&h.admin, &rotating, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    let (_, revoked_before) = h.create("Revoked before", &["contacts.readonly"]).await;
    let scanner = UserId::new("github-secret-scanning");
    h.pi.report_leak(
        &scanner,
        revoked_before.expose_secret(),
        "https://a.example/1",
    )
    .await
    .unwrap();
    let (gone_id, gone) = h.create("Rotated away", &["contacts.readonly"]).await;
    h.pi.rotate(&h.admin, &gone_id, RotationMode::ExpireNow)
        .await
        .unwrap();
    let (_, bystander) = h.create("Bystander", &["contacts.readonly"]).await;
    let unknown = unknown_id(current.expose_secret());
    let url = "https://github.com/octo/app/blob/main/.env";
    let batch = [
        (current.expose_secret(), url),
        (previous.expose_secret(), url),
        (revoked_before.expose_secret(), "https://a.example/2"),
        (gone.expose_secret(), url),
        (unknown.as_str(), url),
        ("pit_not-a-token", url),
        // The same token in a second place.
        (current.expose_secret(), "https://gist.github.com/octo/1"),
    ];
    let before = h.pi.audit_log(&h.admin).await.unwrap().len();

    let answer = send(&router, signed(matches(&batch))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.labels(),
        [
            "true_positive",
            "true_positive",
            "true_positive",
            "false_positive",
            "false_positive",
            "false_positive",
            "true_positive",
        ]
    );
    let feedback = answer.json();
    assert_eq!(
        feedback[0]["token_hash"],
        sha256_hex(current.expose_secret())
    );
    assert_eq!(feedback[0]["token_type"], "pit_token");
    for (token, _) in &batch {
        assert!(!answer.text.contains(token), "a token was sent back");
    }
    assert!(!h.verifies(&current).await && !h.verifies(&previous).await);
    assert!(h.verifies(&new).await && h.verifies(&bystander).await);
    let integration = h.pi.get(&h.admin, &current_id).await.unwrap();
    assert!(integration.token_revoked_at().is_some());
    assert!(
        h.pi.get(&h.admin, &rotating)
            .await
            .unwrap()
            .pending_rotation()
            .is_none()
    );
    // One event per place: the current token in two, the previous in one, the revoked
    // one in a new place.
    let log = h.pi.audit_log(&h.admin).await.unwrap();
    assert_eq!(log.len() - before, 4);
    assert!(log[..4].iter().all(|e| e.actor == scanner));

    // GitHub sends it again: the same labels, nothing more done.
    let again = send(&router, signed(matches(&batch))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.labels(), answer.labels());
    assert_eq!(h.pi.audit_log(&h.admin).await.unwrap().len(), log.len());
}

/// A missing or unknown key id, a bad signature, a tampered body, another body's
/// signature: `401`, and nothing was looked up or changed.
async fn a_bad_signature_is_refused_before_anything_is_read(h: Harness) {
    let router = router(&h.pi);
    let (_, token) = h.create("Live", &["contacts.readonly"]).await;
    let body = matches(&[(token.expose_secret(), "https://a.example/")]);
    let good = sign(&signing_key(7), &body);
    let mut tampered = body.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 0x01;
    let other_body = matches(&[(token.expose_secret(), "https://b.example/")]);
    let refusals = [
        alert(OTHER_KEY_ID, &good, body.clone()),
        alert(KEY_ID, &sign(&signing_key(9), &body), body.clone()),
        alert(KEY_ID, &good, tampered),
        alert(KEY_ID, &sign(&signing_key(7), &other_body), body.clone()),
        alert(KEY_ID, "not base64!", body.clone()),
        alert(KEY_ID, &Base64::encode_string(b"not DER"), body.clone()),
        alert("", &good, body.clone()),
        Request::post("/").body(Body::from(body.clone())).unwrap(),
        Request::post("/")
            .header(GITHUB_KEY_ID_HEADER, KEY_ID)
            .body(Body::from(body.clone()))
            .unwrap(),
    ];
    for request in refusals {
        let answer = send(&router, request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
        assert_eq!(answer.json()["error"], "invalid_signature");
        assert!(!answer.text.contains(token.expose_secret()));
    }
    assert!(h.verifies(&token).await);
    let log = h.pi.audit_log(&h.admin).await.unwrap();
    assert_eq!(log.len(), 1, "only the create");
}

/// Over 1 MiB or over 1,000 matches: `413`; not JSON (signed): `400`, saying nothing of
/// what was sent.
async fn limits_and_malformed_alerts(h: Harness) {
    let router = router(&h.pi);
    let (_, token) = h.create("Live", &["contacts.readonly"]).await;
    let secret = token.expose_secret();

    let huge = vec![b' '; (1 << 20) + 1];
    assert_eq!(
        send(&router, signed(huge)).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let many: Vec<(&str, &str)> = (0..1001).map(|_| ("x", "")).collect();
    assert_eq!(
        send(&router, signed(matches(&many))).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for body in [
        format!("{{\"token\": \"{secret}\"}}"),
        format!("[{{\"token\": \"{secret}\"}}"),
        format!("[{{\"tok\": \"{secret}\", \"type\": \"t\"}}]"),
        "".to_owned(),
        "\u{feff}[]".to_owned(),
    ] {
        let answer = send(&router, signed(body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(answer.json()["error"], "malformed_alert");
        assert!(!answer.text.contains(secret));
    }
    // 1,000 matches (all of one token) are taken.
    let thousand: Vec<(&str, &str)> = (0..1000).map(|_| (secret, "https://a.example/")).collect();
    let answer = send(&router, signed(matches(&thousand))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.labels().len(), 1000);
    assert!(!h.verifies(&token).await);
    let empty = send(&router, signed("[]")).await;
    assert_eq!((empty.status, empty.text.as_str()), (StatusCode::OK, "[]"));
}

macro_rules! endpoint_cases {
    ($($backend:ident => $harness:expr;)*) => {
        $(
            mod $backend {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn a_mixed_batch_is_labelled_and_the_live_tokens_revoked() {
                    let Some(h) = $harness else { return };
                    super::a_mixed_batch_is_labelled_and_the_live_tokens_revoked(h).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn a_bad_signature_is_refused_before_anything_is_read() {
                    let Some(h) = $harness else { return };
                    super::a_bad_signature_is_refused_before_anything_is_read(h).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn limits_and_malformed_alerts() {
                    let Some(h) = $harness else { return };
                    super::limits_and_malformed_alerts(h).await;
                }
            }
        )*
    };
}

endpoint_cases! {
    memory => Some(Harness::new(MemoryStorage::new()));
    memory_cached => Some(Harness::with_cache(MemoryStorage::new(), Some(VerificationCache::new())));
}

#[cfg(feature = "sqlite")]
endpoint_cases! {
    sqlite => Some(Harness::new(sqlite_in_memory().await));
}

#[cfg(feature = "postgres")]
endpoint_cases! {
    postgres => postgres_storage().await.map(Harness::new);
}

/// Two instances on one PostgreSQL database, each with its verification cache: the
/// second holds the token in its cache, the first handles the alert, and the second
/// refuses the token once it hears of the change (no sleeping: a listener on the second
/// says when the announcement arrived).
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_revoked_token_is_refused_by_another_instance() {
    use tokio::sync::Notify;

    struct Heard(std::sync::Mutex<Vec<TokenId>>, Notify);
    impl private_integrations::storage::ChangeListener for Heard {
        fn tokens_changed(&self, token_ids: &[TokenId]) {
            self.0.lock().unwrap().extend_from_slice(token_ids);
            self.1.notify_waiters();
        }
        fn announcements_lost(&self) {}
    }

    let Some((url, schema)) = postgres_schema().await else {
        return;
    };
    let instance = |heard: Option<Arc<Heard>>| {
        let (url, schema) = (url.clone(), schema.clone());
        async move {
            let storage = PostgresStorage::new(pool_on(&url, &schema).await);
            storage.migrate().await.expect("migrate");
            let builder = PrivateIntegrations::builder(storage)
                .scope_catalog(ScopeCatalog::new(SCOPES).unwrap());
            match heard {
                Some(heard) => builder.change_listener(heard),
                None => builder,
            }
            .build()
        }
    };
    let a = instance(None).await;
    let heard = Arc::new(Heard(Default::default(), Notify::new()));
    let b = instance(Some(Arc::clone(&heard))).await;
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let created = a
        .create(
            &admin,
            NewIntegration::new("Shared").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let secret = created.token.expose_secret();
    assert!(b.verify(secret).await.is_ok(), "now in b's cache");

    let answer = send(
        &router(&a),
        signed(matches(&[(secret, "https://a.example/")])),
    )
    .await;
    assert_eq!(answer.labels(), ["true_positive"]);
    assert!(a.verify(secret).await.is_err());
    // b's cache drops the token when an announcement reaches it: each announcement wakes
    // this check (the create's may come late, so it checks again until b refuses).
    let refused = async {
        loop {
            let news = heard.1.notified();
            if matches!(b.verify(secret).await, Err(VerifyError::Invalid)) {
                return;
            }
            news.await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), refused)
        .await
        .expect("b refuses the revoked token once it hears of it");
    let token_id = TokenId::parse(&secret[4..20]).unwrap();
    assert!(heard.0.lock().unwrap().contains(&token_id));
    a.shutdown().await;
    b.shutdown().await;
    drop_schema(&url, &schema).await;
}

/// A source that counts its fetches and serves the document it holds.
struct Counted {
    document: std::sync::Mutex<String>,
    fetches: AtomicUsize,
}

/// The host's source: shares the test's [`Counted`].
struct Source(Arc<Counted>);

#[async_trait::async_trait]
impl GithubKeySource for Source {
    async fn fetch(&self) -> Result<String, BoxError> {
        self.0.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(self.0.document.lock().unwrap().clone())
    }
}

/// An unknown key id makes the keys refresh from the host's source, at most once a
/// minute (paused time: no waiting); GitHub's new key is then known.
#[tokio::test(start_paused = true)]
async fn an_unknown_key_id_refreshes_the_keys_at_most_once_a_minute() {
    let h = Harness::new(MemoryStorage::new());
    let (old, new) = (signing_key(7), signing_key(11));
    let source = Arc::new(Counted {
        document: std::sync::Mutex::new(key_document(&[(KEY_ID, &old)])),
        fetches: AtomicUsize::new(0),
    });
    let keys = GithubKeys::from_source(Source(Arc::clone(&source)))
        .await
        .unwrap();
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    let router = secret_scanning_router(h.pi.clone(), keys.clone());
    let body = matches(&[]);
    let by_new = || alert(OTHER_KEY_ID, &sign(&new, &body), body.clone());

    // GitHub signs with a new key: not within a minute of the first fetch.
    assert_eq!(
        send(&router, by_new()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        1,
        "not within the minute"
    );
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    // One refresh, but the document does not have the key yet.
    assert_eq!(
        send(&router, by_new()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2, "one refresh");
    *source.document.lock().unwrap() = key_document(&[(KEY_ID, &old), (OTHER_KEY_ID, &new)]);
    for _ in 0..5 {
        assert_eq!(
            send(&router, by_new()).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "not within the minute"
    );
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    assert_eq!(send(&router, by_new()).await.status, StatusCode::OK);
    assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
    assert_eq!(keys.key_ids(), [OTHER_KEY_ID, KEY_ID]);
    // A known key costs no fetch.
    assert_eq!(send(&router, by_new()).await.status, StatusCode::OK);
    assert_eq!(
        send(&router, signed(body.clone())).await.status,
        StatusCode::OK
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
}

#[test]
fn a_key_document_is_checked() {
    let good = key_document(&[(KEY_ID, &signing_key(7))]);
    assert_eq!(GithubKeys::from_json(&good).unwrap().key_ids(), [KEY_ID]);
    for bad in [
        "",
        "[]",
        r#"{"public_keys": []}"#,
        r#"{"public_keys": [{"key_identifier": "k", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]}"#,
    ] {
        assert!(GithubKeys::from_json(bad).is_err(), "{bad}");
    }
    // The Debug form lists key ids only.
    let debug = format!("{:?}", GithubKeys::from_json(&good).unwrap());
    assert!(debug.contains(KEY_ID) && !debug.contains("BEGIN"));
}

/// A signature made by another implementation (OpenSSL: `openssl dgst -sha256 -sign
/// key.pem body | base64`), as GitHub's are: base64 of a DER ECDSA signature over the raw
/// body, the key a PEM SPKI public key.
#[tokio::test]
async fn a_signature_made_by_openssl_verifies() {
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO55QlT/r6NyxgevPvApLZJnvSc1V\n\
        v4Ev/B+TZxJqWl1TtxPcTECQ30rdVK0Bz33EY4nn4/Q3b9PwhaF4+ocOBA==\n\
        -----END PUBLIC KEY-----\n";
    const BODY: &str = r#"[{"token":"pit_example","type":"pit_token","url":"https://github.com/o/r/blob/1/.env","source":"content"}]"#;
    const SIGNATURE: &str = "MEUCIQC3QFVzx8wBkfso7uPvfEgrAx5ZdomX7sh61blHxP2CCgIgP/1uFnAEk/9oT3kVV297yr1Ets7AbLMYO0dfHw9lyb8=";
    let document =
        json!({ "public_keys": [{ "key_identifier": "openssl", "key": PEM, "is_current": true }] });
    let keys = GithubKeys::from_json(&document.to_string()).unwrap();
    let h = Harness::new(MemoryStorage::new());
    let router = secret_scanning_router(h.pi.clone(), keys);
    let answer = send(&router, alert("openssl", SIGNATURE, BODY)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.labels(), ["false_positive"]);
    let edited = BODY.replace("o/r", "o/x");
    assert_eq!(
        send(&router, alert("openssl", SIGNATURE, edited))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// `http_leaks`, first 90-second run: a match whose `type` held the live token had it
/// sent back in the feedback's `token_type`. A `type` that holds a token (or is over 128
/// bytes, or has a control character) is answered as `""`.
#[tokio::test]
async fn a_token_in_a_matches_type_is_not_sent_back() {
    let h = Harness::new(MemoryStorage::new());
    let (_, token) = h.create("Live", &["contacts.readonly"]).await;
    let secret = token.expose_secret();
    let body = json!([
        { "token": "x", "type": format!("type {secret}") },
        { "token": "y", "type": "t".repeat(129) },
        { "token": "z", "type": "a\u{7}b" },
        { "token": "w", "type": "pit_token" },
    ]);
    let answer = send(&router(&h.pi), signed(body.to_string())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.text.contains(secret));
    let types: Vec<Value> = answer
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["token_type"].clone())
        .collect();
    assert_eq!(types, [json!(""), json!(""), json!(""), json!("pit_token")]);
    assert!(
        h.verifies(&token).await,
        "a token in a type is not reported"
    );
}
