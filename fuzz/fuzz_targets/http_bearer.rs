//! The `Authorization` header parser and the bearer refusals (`http::Verified`, the
//! `RequireScope` layer) in process: arbitrary `Authorization` headers, none to several,
//! raw bytes or built from a scheme, separators and a token (live, of an integration
//! without the scope, of a deleted integration, edited, padded past the length limit,
//! or text), against a route that takes any token and one that needs `contacts.write`.
//!
//! Checked against the reference reading of the documented rules (`reference_bearer`):
//! the status, the `WWW-Authenticate` challenge and the JSON `error` code; nothing
//! panics, no 5xx; no answer repeats a token or the marker; every `invalid_token` body is
//! the same bytes.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use axum::routing::get;
use libfuzzer_sys::fuzz_target;
use private_integrations::http::RequireScope;
use private_integrations::{NewIntegration, PrivateIntegrations, Verified};
use private_integrations_fuzz::http::{
    Fixture, MARKER, Text, admin, contains, fixture, runtime, send,
};
use private_integrations_fuzz::{Bearer, reference_bearer};

const SCHEMES: [&str; 7] = ["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", ""];

#[derive(Arbitrary, Debug)]
enum TokenChoice {
    /// Live, both scopes.
    Live,
    /// Live, `contacts.readonly` only.
    ReadOnly,
    /// Of a deleted integration.
    Deleted,
    /// The live token with one byte changed.
    Edited(u8, u8),
    /// The live token followed by this many `A`s (up to 2,000).
    Padded(u16),
    /// Text.
    Text(Text),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Raw(Vec<u8>),
    Built {
        lead: Vec<bool>,
        scheme: u8,
        separator: Vec<bool>,
        token: TokenChoice,
        trail: Vec<bool>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    values: Vec<Value>,
    needs_write: bool,
}

struct Tokens {
    read_only: String,
    deleted: String,
}

fn spaces(tabs: &[bool]) -> String {
    tabs.iter().map(|&t| if t { '\t' } else { ' ' }).collect()
}

async fn tokens(pi: &PrivateIntegrations) -> Tokens {
    let read_only = pi
        .create(
            &admin(),
            NewIntegration::new("Reader").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let deleted = pi
        .create(
            &admin(),
            NewIntegration::new("Gone").scopes(["contacts.write"]),
        )
        .await
        .unwrap();
    pi.delete(&admin(), deleted.integration.id()).await.unwrap();
    Tokens {
        read_only: read_only.token.expose_secret().to_owned(),
        deleted: deleted.token.expose_secret().to_owned(),
    }
}

fn render(value: &Value, fx: &Fixture, t: &Tokens) -> Vec<u8> {
    match value {
        Value::Raw(bytes) => bytes.clone(),
        Value::Built {
            lead,
            scheme,
            separator,
            token,
            trail,
        } => {
            let token = match token {
                TokenChoice::Live => fx.token.clone(),
                TokenChoice::ReadOnly => t.read_only.clone(),
                TokenChoice::Deleted => t.deleted.clone(),
                TokenChoice::Edited(at, byte) => {
                    let mut bytes = fx.token.clone().into_bytes();
                    let at = usize::from(*at) % bytes.len();
                    bytes[at] = *byte;
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                TokenChoice::Padded(n) => {
                    format!("{}{}", fx.token, "A".repeat(usize::from(*n) % 2001))
                }
                TokenChoice::Text(text) => text.render(fx, MARKER),
            };
            format!(
                "{}{}{}{}{}",
                spaces(lead),
                SCHEMES[usize::from(*scheme) % SCHEMES.len()],
                spaces(separator),
                token,
                spaces(trail)
            )
            .into_bytes()
        }
    }
}

/// The body every `invalid_token` answer has, once seen.
static INVALID_BODY: OnceLock<Vec<u8>> = OnceLock::new();

fuzz_target!(|input: Input| {
    runtime().block_on(async {
        let fx = fixture().await;
        let t = tokens(&fx.pi).await;
        let values: Vec<Vec<u8>> = input.values.iter().map(|v| render(v, &fx, &t)).collect();
        // Only values `http` takes as header values can be sent at all.
        let Ok(headers) = values
            .iter()
            .map(|v| HeaderValue::from_bytes(v))
            .collect::<Result<Vec<_>, _>>()
        else {
            return;
        };
        let mut req = Request::builder().uri("/").body(Body::empty()).unwrap();
        for value in headers {
            req.headers_mut().append("authorization", value);
        }
        let router = if input.needs_write {
            Router::new()
                .route("/", get(|| async { "ok" }))
                .route_layer(RequireScope::new(fx.pi.clone(), "contacts.write"))
        } else {
            Router::new()
                .route("/", get(|_: Verified| async { "ok" }))
                .with_state(fx.pi.clone())
        };
        let answer = send(router, req).await;

        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let expected = match reference_bearer(&refs) {
            Bearer::Missing => (
                401,
                Some(r#"Bearer realm="api""#.to_owned()),
                "missing_token",
            ),
            Bearer::Ambiguous => (
                400,
                Some(r#"Bearer realm="api", error="invalid_request""#.to_owned()),
                "invalid_request",
            ),
            Bearer::Token(token) if token == fx.token => (200, None, ""),
            Bearer::Token(token) if token == t.read_only && !input.needs_write => (200, None, ""),
            Bearer::Token(token) if token == t.read_only => (
                403,
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", scope="contacts.write""#
                        .to_owned(),
                ),
                "insufficient_scope",
            ),
            Bearer::Invalid | Bearer::Token(_) => (
                401,
                Some(r#"Bearer realm="api", error="invalid_token""#.to_owned()),
                "invalid_token",
            ),
        };
        let status = answer.status.as_u16();
        let challenge = answer
            .headers
            .lines()
            .find_map(|l| l.strip_prefix("www-authenticate: "))
            .map(str::to_owned);
        assert_eq!(
            (status, &challenge),
            (expected.0, &expected.1),
            "values {values:?}"
        );
        if status == 200 {
            assert_eq!(answer.body, b"ok");
        } else {
            let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(json["error"], expected.2, "{json}");
        }
        if expected.2 == "invalid_token" {
            let first = INVALID_BODY.get_or_init(|| answer.body.clone());
            assert_eq!(first, &answer.body, "invalid_token bodies differ");
        }
        for secret in [&fx.token, &t.read_only, &t.deleted] {
            assert!(!contains(&answer.body, secret.as_bytes()));
            assert!(!answer.headers.contains(secret.as_str()));
        }
        assert!(!contains(&answer.body, MARKER.as_bytes()));
        assert!(!answer.headers.contains(MARKER));
        fx.pi.shutdown().await;
    });
});
