//! tower-http's `CsrfLayer` (re-exported as `http::CsrfLayer`) on every case where its
//! rules and those of the crate's own layer, which it replaced, were measured: the status
//! each answers. `old` is `src/http/csrf.rs` as it was at commit a27254d (run on these
//! very cases before it was removed); `new` is what tower-http 0.7 answers, and is what
//! this test holds. SECURITY.md ("Cross-site request forgery") explains each difference
//! and why tower-http's answer is kept.
//!
//! The routers' own behaviour (every state-changing route refuses a cross-site form, with
//! the admin API's JSON or the settings page's screen) is in tests/http.rs and
//! tests/settings.rs.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::post;
use private_integrations::http::CsrfLayer;
use tower::ServiceExt;

/// One request, and the status each layer answered.
struct Case {
    what: &'static str,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    old: u16,
    new: u16,
}

/// The server's own host, as a browser writes it in `Host`.
const OWN: (&str, &str) = ("host", "admin.example.com");

/// The origin every case's layer trusts (the host's admin console).
const TRUSTED: &str = "https://console.example.com";

/// Every case measured; those where `old != new` are the differences.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Rules both layers share (the baseline).
    Case { what: "cross-site form", uri: "/change", headers: &[OWN, ("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")], old: 403, new: 403 },
    Case { what: "same-origin", uri: "/change", headers: &[OWN, ("origin", "https://admin.example.com"), ("sec-fetch-site", "same-origin")], old: 200, new: 200 },
    Case { what: "typed by the user (none), another Origin", uri: "/change", headers: &[OWN, ("origin", "https://evil.example"), ("sec-fetch-site", "none")], old: 200, new: 200 },
    Case { what: "no browser (no Origin, no Sec-Fetch-Site)", uri: "/change", headers: &[OWN], old: 200, new: 200 },
    Case { what: "old browser, own origin", uri: "/change", headers: &[OWN, ("origin", "https://admin.example.com")], old: 200, new: 200 },
    Case { what: "old browser, another origin", uri: "/change", headers: &[OWN, ("origin", "https://evil.example")], old: 403, new: 403 },
    Case { what: "old browser, Origin null", uri: "/change", headers: &[OWN, ("origin", "null")], old: 403, new: 403 },
    Case { what: "Sec-Fetch-Site in upper case", uri: "/change", headers: &[OWN, ("sec-fetch-site", "Same-Origin")], old: 403, new: 403 },
    // same-site: refused by both unless the origin is trusted.
    Case { what: "same-site, untrusted sibling", uri: "/change", headers: &[OWN, ("origin", "https://user-content.example.com"), ("sec-fetch-site", "same-site")], old: 403, new: 403 },
    Case { what: "same-site, no Origin", uri: "/change", headers: &[OWN, ("sec-fetch-site", "same-site")], old: 403, new: 403 },
    Case { what: "same-site, trusted origin", uri: "/change", headers: &[OWN, ("origin", TRUSTED), ("sec-fetch-site", "same-site")], old: 200, new: 200 },
    Case { what: "cross-site, trusted origin", uri: "/change", headers: &[OWN, ("origin", TRUSTED), ("sec-fetch-site", "cross-site")], old: 200, new: 200 },
    // Two headers of one name: the old layer refused; tower-http reads the first.
    Case { what: "two Sec-Fetch-Site, same-origin first", uri: "/change", headers: &[OWN, ("sec-fetch-site", "same-origin"), ("sec-fetch-site", "cross-site")], old: 403, new: 200 },
    Case { what: "two Sec-Fetch-Site, cross-site first", uri: "/change", headers: &[OWN, ("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-origin")], old: 403, new: 403 },
    Case { what: "two Origin, own first (old browser)", uri: "/change", headers: &[OWN, ("origin", "https://admin.example.com"), ("origin", "https://evil.example")], old: 403, new: 200 },
    Case { what: "two Origin, another first (old browser)", uri: "/change", headers: &[OWN, ("origin", "https://evil.example"), ("origin", "https://admin.example.com")], old: 403, new: 403 },
    Case { what: "two Origin, trusted first, cross-site", uri: "/change", headers: &[OWN, ("origin", TRUSTED), ("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")], old: 403, new: 200 },
    Case { what: "two Host, own first (old browser)", uri: "/change", headers: &[OWN, ("host", "evil.example"), ("origin", "https://admin.example.com")], old: 403, new: 200 },
    // Host-name case and default ports: the old layer normalized; tower-http compares bytes.
    Case { what: "Host in mixed case (old browser)", uri: "/change", headers: &[("host", "Admin.Example.com"), ("origin", "https://admin.example.com")], old: 200, new: 403 },
    Case { what: "Origin in mixed case (old browser)", uri: "/change", headers: &[OWN, ("origin", "https://Admin.Example.com")], old: 200, new: 403 },
    Case { what: "Host with the default port (old browser)", uri: "/change", headers: &[("host", "admin.example.com:443"), ("origin", "https://admin.example.com")], old: 200, new: 403 },
    Case { what: "Origin with the default port (old browser)", uri: "/change", headers: &[OWN, ("origin", "https://admin.example.com:443")], old: 200, new: 403 },
    Case { what: "trusted origin in mixed case, cross-site", uri: "/change", headers: &[OWN, ("origin", "https://Console.example.com"), ("sec-fetch-site", "cross-site")], old: 200, new: 403 },
    // Where the request was sent: the old layer read Host first, tower-http the URI's authority.
    Case { what: "absolute URI is the origin, Host another", uri: "https://admin.example.com/change", headers: &[("host", "other.example"), ("origin", "https://admin.example.com")], old: 403, new: 200 },
    Case { what: "Host is the origin, absolute URI another", uri: "https://other.example/change", headers: &[OWN, ("origin", "https://admin.example.com")], old: 200, new: 403 },
    Case { what: "no Host, absolute URI is the origin (HTTP/2)", uri: "https://admin.example.com/change", headers: &[("origin", "https://admin.example.com")], old: 200, new: 200 },
    // Empty and malformed values, which no browser sends.
    Case { what: "empty Sec-Fetch-Site, no Origin", uri: "/change", headers: &[OWN, ("sec-fetch-site", "")], old: 403, new: 200 },
    Case { what: "empty Sec-Fetch-Site, another Origin", uri: "/change", headers: &[OWN, ("sec-fetch-site", ""), ("origin", "https://evil.example")], old: 403, new: 403 },
    Case { what: "empty Origin (old browser)", uri: "/change", headers: &[OWN, ("origin", "")], old: 403, new: 200 },
    Case { what: "Origin with a path, own host", uri: "/change", headers: &[OWN, ("origin", "https://admin.example.com/")], old: 403, new: 200 },
    Case { what: "Origin with a user, own host", uri: "/change", headers: &[OWN, ("origin", "https://x@admin.example.com")], old: 403, new: 403 },
];

/// Whether a trusted origin as written was accepted, and whether it then matched.
type Outcome = (bool, bool);

/// Trusted origins as a host may write them, and whether each layer accepted the
/// configuration and then let `Origin: https://console.example.com` (what a browser
/// sends) through on a cross-site request: `(old accepts, old matches)`, `(new accepts,
/// new matches)`.
#[rustfmt::skip]
const CONFIGS: &[(&str, Outcome, Outcome)] = &[
    ("https://console.example.com", (true, true), (true, true)),
    ("https://Console.Example.com", (true, true), (true, false)),
    ("https://console.example.com:443", (true, true), (true, false)),
    ("HTTPS://console.example.com", (true, true), (true, false)),
    ("https://console.example.com/", (false, false), (false, false)),
    ("https://console.example.com:99999", (false, false), (true, false)),
    ("https://user@console.example.com", (false, false), (true, false)),
    ("null", (false, false), (false, false)),
    ("console.example.com", (false, false), (false, false)),
];

async fn status(layer: CsrfLayer, uri: &str, headers: &[(&str, &str)]) -> u16 {
    let app = Router::new()
        .route("/change", post(|| async { "changed" }))
        .layer(layer);
    let mut request = Request::builder().method(Method::POST).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn each_rule_answers_as_measured() {
    let layer = CsrfLayer::new().add_trusted_origin(TRUSTED).unwrap();
    let mut wrong = Vec::new();
    for case in CASES {
        let got = status(layer.clone(), case.uri, case.headers).await;
        if got != case.new {
            wrong.push(format!("{}: {got}, expected {}", case.what, case.new));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let differences = CASES.iter().filter(|c| c.old != c.new).count();
    assert_eq!(differences, 14, "SECURITY.md lists 14 differing cases");
}

#[tokio::test]
async fn trusted_origins_match_only_as_browsers_write_them() {
    let console = [OWN, ("origin", TRUSTED), ("sec-fetch-site", "cross-site")];
    let mut wrong = Vec::new();
    for (written, _old, expected) in CONFIGS {
        let got = match CsrfLayer::new().add_trusted_origin(written) {
            Ok(layer) => (true, status(layer, "/change", &console).await == 200),
            Err(_) => (false, false),
        };
        if got != *expected {
            wrong.push(format!("{written}: {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Every method but `GET`, `HEAD` and `OPTIONS` is checked, as before.
#[tokio::test]
async fn only_get_head_and_options_pass_unchecked() {
    let forged = [
        OWN,
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    for method in [
        "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PURGE",
    ] {
        let app = Router::new().route("/change", axum::routing::any(|| async { "ok" }));
        let app = app.layer(CsrfLayer::new());
        let mut request = Request::builder().method(method).uri("/change");
        for (name, value) in forged {
            request = request.header(name, value);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let safe = matches!(method, "GET" | "HEAD" | "OPTIONS");
        let expected = if safe {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(response.status(), expected, "{method}");
    }
}
