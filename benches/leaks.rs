//! The secret scanning endpoint's work on a full alert: 1,000 matches, signed, through
//! `http::secret_scanning_router` in process (no socket), on `PostgresStorage` with its
//! verification cache, as a GitHub alert would arrive. From the request to the answer:
//! the signature check, the parse, and every report (the token looked up in the
//! database, the secret compared, the revocation written with its audit event and
//! announced).
//!
//! Three batches, each on tokens issued for it before the clock starts:
//! - `1000_live`: 1,000 live tokens of 1,000 integrations, each revoked (the worst case;
//!   a live token to revoke skips the read of earlier reports);
//! - `1000_unknown`: 1,000 well-formed tokens that name no integration (a false positive
//!   costs one indexed lookup);
//! - `1000_mixed`: 100 live tokens, 900 unknown.
//!
//! Needs features `axum` and `postgres`, and `DATABASE_URL` (skipped without it):
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features axum,postgres --bench leaks
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64ct::{Base64, Encoding};
use criterion::{Criterion, criterion_group, criterion_main};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use private_integrations::http::{
    GITHUB_KEY_ID_HEADER, GITHUB_SIGNATURE_HEADER, GithubKeys, secret_scanning_router,
};
use private_integrations::*;
use support::sqlx;
use tower::ServiceExt;

const MATCHES: usize = 1000;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32].into()).unwrap()
}

fn keys() -> GithubKeys {
    let pem = key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let document = serde_json::json!({
        "public_keys": [{ "key_identifier": "k1", "key": pem, "is_current": true }]
    });
    GithubKeys::from_json(&document.to_string()).unwrap()
}

/// An alert of `live` fresh live tokens and `MATCHES - live` unknown ones.
async fn alert(pi: &PrivateIntegrations, live: usize) -> Request<Body> {
    let admin = Actor::admin(AccountId::new("acct_bench"), UserId::new("u_admin"));
    let mut tokens = Vec::with_capacity(MATCHES);
    for n in 0..MATCHES {
        let created = pi
            .create(
                &admin,
                NewIntegration::new(format!("Bench {n}")).scopes(["contacts.readonly"]),
            )
            .await
            .unwrap();
        let token = created.token.expose_secret().to_owned();
        tokens.push(if n < live {
            token
        } else {
            support::unknown_id_n(&token, n)
        });
    }
    let matches: Vec<serde_json::Value> = tokens
        .iter()
        .map(|token| {
            serde_json::json!({
                "token": token, "type": "pit_token", "source": "content",
                "url": "https://github.com/octo/app/blob/main/.env",
            })
        })
        .collect();
    let body = serde_json::to_vec(&matches).unwrap();
    let signature: Signature = key().sign(&body);
    Request::post("/")
        .header(GITHUB_KEY_ID_HEADER, "k1")
        .header(
            GITHUB_SIGNATURE_HEADER,
            Base64::encode_string(signature.to_der().as_bytes()),
        )
        .body(Body::from(body))
        .unwrap()
}

fn leaks(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: the leaks bench needs DATABASE_URL");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (pi, schema) = runtime.block_on(async {
        let (url, schema) = support::postgres_schema().await.unwrap();
        // A pool of 16 connections (sqlx's default is 10): the endpoint reports up to 16
        // tokens at once.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect_with(support::postgres_options(&url, &schema))
            .await
            .unwrap();
        let storage = PostgresStorage::new(pool);
        storage.migrate().await.unwrap();
        let pi = PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(support::SCOPES).unwrap())
            .build();
        (pi, schema)
    });
    let router = secret_scanning_router(pi.clone(), keys());
    let mut group = c.benchmark_group("secret_scanning");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, live) in [
        ("1000_live", MATCHES),
        ("1000_mixed", 100),
        ("1000_unknown", 0),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let request = alert(&pi, live).await;
                        let start = Instant::now();
                        let response = router.clone().oneshot(request).await.unwrap();
                        let status = response.status();
                        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                            .await
                            .unwrap();
                        spent += start.elapsed();
                        assert_eq!(status, StatusCode::OK);
                        let positives = body.windows(13).filter(|w| w == b"true_positive").count();
                        assert_eq!(positives, live);
                    }
                    spent
                })
            });
        });
    }
    group.finish();
    runtime.block_on(async {
        pi.shutdown().await;
        support::drop_schema(&url, &schema).await;
    });
}

criterion_group!(benches, leaks);
criterion_main!(benches);
