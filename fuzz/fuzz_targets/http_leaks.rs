//! The secret scanning endpoint (`http::secret_scanning_router`) in process: arbitrary
//! alert bodies (raw bytes, or a JSON array built from matches whose tokens are the
//! fixture's live token, an edited one, or text), signed with the right key or not, the
//! signature headers arbitrary, the body tampered with after signing.
//!
//! Checked: nothing panics, no 5xx; a body that was not signed by a known key is `401`
//! and the live token still verifies; a signed body is `200` (the labels, one per match,
//! `true_positive` only for the live token, which then verifies no more), `400` (with
//! the one fixed message: never what was sent) or `413`; no answer repeats a token or
//! the marker.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use base64ct::{Base64, Encoding};
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use private_integrations::http::{
    GITHUB_KEY_ID_HEADER, GITHUB_SIGNATURE_HEADER, GithubKeys, secret_scanning_router,
};
use private_integrations_fuzz::http::{Fixture, MARKER, Text, contains, fixture, runtime, send};

const KEY_ID: &str = "k1";

static KEY: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7; 32].into()).unwrap());
static OTHER_KEY: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[9; 32].into()).unwrap());
static KEYS: LazyLock<GithubKeys> = LazyLock::new(|| {
    let pem = KEY
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let document = serde_json::json!({
        "public_keys": [{ "key_identifier": KEY_ID, "key": pem, "is_current": true }]
    });
    GithubKeys::from_json(&document.to_string()).unwrap()
});

#[derive(Arbitrary, Debug)]
enum TokenChoice {
    Live,
    Edited(u8, u8),
    Text(Text),
}

#[derive(Arbitrary, Debug)]
struct Found {
    token: TokenChoice,
    token_type: Text,
    url: Option<Text>,
    extra: Option<(Text, Text)>,
}

#[derive(Arbitrary, Debug)]
enum AlertBody {
    Raw(Vec<u8>),
    Matches(Vec<Found>),
}

#[derive(Arbitrary, Debug)]
enum Signing {
    /// Signed by the known key, named.
    Right,
    /// Signed by another key, under the known key's id.
    OtherKey,
    /// The right signature, under another key id.
    OtherId(Text),
    /// Headers of arbitrary bytes.
    Raw(Vec<u8>, Vec<u8>),
    /// No headers.
    None,
}

#[derive(Arbitrary, Debug)]
struct Input {
    body: AlertBody,
    signing: Signing,
    /// A byte of the body changed after signing (at, xor).
    tamper: Option<(u16, u8)>,
}

fn token_text(choice: &TokenChoice, fx: &Fixture) -> String {
    let live = fx.token.as_str();
    match choice {
        TokenChoice::Live => live.to_owned(),
        TokenChoice::Edited(at, byte) => {
            let mut bytes = live.as_bytes().to_vec();
            let at = usize::from(*at) % bytes.len();
            bytes[at] = *byte;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        TokenChoice::Text(text) => text.render(fx, MARKER),
    }
}

/// How many matches a body holds by the documented shape (a JSON array of objects with
/// a string `token` and `type` and, if present, a string or null `url`), or `None` if it
/// does not have that shape.
fn reference_matches(body: &[u8]) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let items = value.as_array()?;
    for item in items {
        let object = item.as_object()?;
        object.get("token")?.as_str()?;
        object.get("type")?.as_str()?;
        match object.get("url") {
            None | Some(serde_json::Value::Null | serde_json::Value::String(_)) => {}
            Some(_) => return None,
        }
    }
    Some(items.len())
}

fuzz_target!(|input: Input| {
    runtime().block_on(async {
        let fx = fixture().await;
        let router = secret_scanning_router(fx.pi.clone(), KEYS.clone());
        let mut body = match &input.body {
            AlertBody::Raw(bytes) => bytes.clone(),
            AlertBody::Matches(found) => {
                let items: Vec<serde_json::Value> = found
                    .iter()
                    .map(|f| {
                        let mut item = serde_json::json!({
                            "token": token_text(&f.token, &fx),
                            // The type is sent back, as GitHub's feedback has it: no marker in it.
                            "type": f.token_type.render(&fx, "pit_token"),
                        });
                        if let Some(url) = &f.url {
                            item["url"] = url.render(&fx, MARKER).into();
                        }
                        if let Some((name, value)) = &f.extra {
                            let name = name.render(&fx, MARKER);
                            if !matches!(name.as_str(), "token" | "type" | "url") {
                                item[name] = value.render(&fx, MARKER).into();
                            }
                        }
                        item
                    })
                    .collect();
                serde_json::to_vec(&items).unwrap()
            }
        };
        let signature = |key: &SigningKey, body: &[u8]| {
            let signature: Signature = key.sign(body);
            Base64::encode_string(signature.to_der().as_bytes()).into_bytes()
        };
        let headers: Option<(Vec<u8>, Vec<u8>)> = match &input.signing {
            Signing::Right => Some((KEY_ID.into(), signature(&KEY, &body))),
            Signing::OtherKey => Some((KEY_ID.into(), signature(&OTHER_KEY, &body))),
            Signing::OtherId(id) => {
                Some((id.render(&fx, MARKER).into_bytes(), signature(&KEY, &body)))
            }
            Signing::Raw(id, signature) => Some((id.clone(), signature.clone())),
            Signing::None => None,
        };
        let mut tampered = false;
        if let Some((at, xor)) = input.tamper
            && !body.is_empty()
            && xor != 0
        {
            let at = usize::from(at) % body.len();
            body[at] ^= xor;
            tampered = true;
        }
        let mut req = Request::post("/").body(Body::from(body.clone())).unwrap();
        if let Some((id, signature)) = &headers {
            let (Ok(id), Ok(signature)) = (
                HeaderValue::from_bytes(id),
                HeaderValue::from_bytes(signature),
            ) else {
                return;
            };
            req.headers_mut().insert(GITHUB_KEY_ID_HEADER, id);
            req.headers_mut().insert(GITHUB_SIGNATURE_HEADER, signature);
        }
        let answer = send(router, req).await;
        let status = answer.status.as_u16();
        assert!(status < 500, "{status}");
        assert!(
            !contains(&answer.body, fx.token.as_bytes()),
            "a token sent back"
        );
        assert!(
            !contains(&answer.body, MARKER.as_bytes()),
            "input sent back"
        );
        let authentic = matches!(input.signing, Signing::Right) && !tampered;
        let live = fx.pi.verify(&fx.token).await.is_ok();
        if !authentic {
            // Another key id may happen to be the right one only by being "k1".
            let named_right = matches!(&input.signing, Signing::OtherId(_) | Signing::Raw(..))
                && headers
                    .as_ref()
                    .is_some_and(|(id, _)| id.trim_ascii() == KEY_ID.as_bytes());
            if !named_right {
                assert_eq!(status, 401, "an alert not signed by a known key");
                assert!(live, "an unsigned alert revoked a token");
            }
            return;
        }
        match reference_matches(&body) {
            Some(n) if body.len() <= 1 << 20 && n <= 1000 => {
                assert!(status == 200 || status == 400, "{status}");
                if status == 200 {
                    let labels: Vec<serde_json::Value> =
                        serde_json::from_slice(&answer.body).unwrap();
                    assert_eq!(labels.len(), n);
                    let live_reported = labels.iter().any(|l| l["label"] == "true_positive");
                    assert_eq!(
                        live_reported, !live,
                        "true positive iff the live token was revoked"
                    );
                }
            }
            _ => assert!(status == 400 || status == 413, "{status}"),
        }
        if status == 400 {
            let refusal: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(refusal["error"], "malformed_alert");
        }
    });
});
