//! The admin API (`http::admin_router`) in process, on a fresh `MemoryStorage` per input
//! holding one integration: arbitrary methods, paths, query strings, headers and bodies
//! (JSON built from the API's field names, form bodies, raw bytes), from four actors.
//!
//! Checked: nothing panics; no status is 5xx; every refusal (4xx) is a JSON
//! `{"error", "message"}` that never repeats the marker put into the input; no response,
//! whatever its status, holds the fixture's token (a name or description holding it is
//! refused without showing it), and no header ever holds the marker.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use private_integrations::http::admin_router;
use private_integrations_fuzz::http::{
    BodyInput, HeadersInput, Login, MARKER, QueryInput, Segment, Text, Who, contains, fixture,
    request, runtime, send,
};

/// Where a request goes.
#[derive(Arbitrary, Debug)]
enum Path {
    Integrations,
    One(Segment),
    Rotate(Segment),
    Cancel(Segment),
    ExpirePrevious(Segment),
    Permission(Segment),
    Feature,
    RotationDue,
    AuditLog,
    Raw(Text),
}

#[derive(Arbitrary, Debug)]
struct Input {
    who: Who,
    method: u8,
    path: Path,
    query: QueryInput,
    headers: HeadersInput,
    body: BodyInput,
}

fuzz_target!(|input: Input| {
    runtime().block_on(async {
        let fx = fixture().await;
        let path = match &input.path {
            Path::Integrations => "/integrations".to_owned(),
            Path::One(s) => format!("/integrations/{}", s.render(&fx, MARKER)),
            Path::Rotate(s) => format!("/integrations/{}/rotate", s.render(&fx, MARKER)),
            Path::Cancel(s) => format!("/integrations/{}/rotation/cancel", s.render(&fx, MARKER)),
            Path::ExpirePrevious(s) => format!(
                "/integrations/{}/rotation/expire-previous",
                s.render(&fx, MARKER)
            ),
            Path::Permission(s) => format!("/users/{}/permission", s.render(&fx, MARKER)),
            Path::Feature => "/feature".to_owned(),
            Path::RotationDue => "/rotation-due".to_owned(),
            Path::AuditLog => "/audit-log".to_owned(),
            Path::Raw(t) => format!(
                "/{}",
                private_integrations_fuzz::http::uri_escape(&t.render(&fx, MARKER), false)
            ),
        };
        let Some(req) = request(
            input.who,
            input.method,
            &path,
            &input.query,
            &input.headers,
            &input.body,
            &fx,
            MARKER,
        ) else {
            return;
        };
        let router = admin_router::<Login, ()>(fx.pi.clone());
        let answer = send(router, req).await;
        let status = answer.status.as_u16();
        assert!(
            status < 500,
            "{status}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(
            !contains(&answer.body, fx.token.as_bytes()),
            "the token came back"
        );
        assert!(!answer.headers.contains(MARKER), "{}", answer.headers);
        assert!(!answer.headers.contains(&fx.token), "{}", answer.headers);
        // 401 is the stand-in login's own empty refusal.
        if status >= 400 && status != 401 {
            assert!(
                !contains(&answer.body, MARKER.as_bytes()),
                "{status} repeats the input: {}",
                String::from_utf8_lossy(&answer.body)
            );
            if !answer.body.is_empty() {
                let json: serde_json::Value = serde_json::from_slice(&answer.body)
                    .unwrap_or_else(|e| panic!("{status}: not JSON ({e})"));
                assert!(
                    json["error"].is_string() && json["message"].is_string(),
                    "{json}"
                );
            }
        }
        fx.pi.shutdown().await;
    });
});
