//! The settings page (`http::settings_router`, feature `admin-ui`) in process, on a fresh
//! `MemoryStorage` per input holding one integration: arbitrary methods, paths, query
//! strings, headers and form bodies (fields named as the page's forms name them, values
//! built from text, the fixture's id and token, and a marker), from four actors.
//!
//! Checked: nothing panics; no status is 5xx; the marker, sent as `<zq9XMARKERq7"'>`,
//! never comes back unescaped in a page (whatever a form shows again is HTML-escaped)
//! and never in a header; the fixture's token never comes back (a name holding it is
//! refused without showing it again). The one exception is the redirect of a path with
//! a trailing slash (308), whose `Location` is the same path without it and the query as
//! sent: checked to be exactly that, and never `//…` (another site).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use private_integrations::http::settings_router;
use private_integrations_fuzz::http::{
    BodyInput, HeadersInput, Login, MARKER, QueryInput, Segment, Text, Who, contains, fixture,
    request, runtime, send, uri_escape,
};

/// The marker as a page would have to escape it.
const HTML_MARKER: &str = "<zq9XMARKERq7\"'>";

/// Where a request goes.
#[derive(Arbitrary, Debug)]
enum Path {
    List,
    New,
    Team,
    Labs,
    AuditLog,
    Show(Segment),
    Rotate(Segment, bool),
    Cancel(Segment),
    Expire(Segment),
    Edit(Segment),
    Delete(Segment),
    Asset(Text),
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
        let seg = |s: &Segment| s.render(&fx, HTML_MARKER);
        let path = match &input.path {
            Path::List => "/".to_owned(),
            Path::New => "/new".to_owned(),
            Path::Team => "/team".to_owned(),
            Path::Labs => "/labs".to_owned(),
            Path::AuditLog => "/audit-log".to_owned(),
            Path::Show(s) => format!("/{}", seg(s)),
            Path::Rotate(s, now) => {
                format!("/{}/rotate/{}", seg(s), if *now { "now" } else { "later" })
            }
            Path::Cancel(s) => format!("/{}/rotation/cancel", seg(s)),
            Path::Expire(s) => format!("/{}/rotation/expire", seg(s)),
            Path::Edit(s) => format!("/{}/edit", seg(s)),
            Path::Delete(s) => format!("/{}/delete", seg(s)),
            Path::Asset(t) => format!("/assets/{}", uri_escape(&t.render(&fx, HTML_MARKER), true)),
            Path::Raw(t) => format!("/{}", uri_escape(&t.render(&fx, HTML_MARKER), false)),
        };
        let Some(req) = request(
            input.who,
            input.method,
            &path,
            &input.query,
            &input.headers,
            &input.body,
            &fx,
            HTML_MARKER,
        ) else {
            return;
        };
        let sent = req.uri().clone();
        let router = settings_router::<Login, ()>(fx.pi.clone());
        let mut answer = send(router, req).await;
        let status = answer.status.as_u16();
        if status == 308 {
            // The one redirect that repeats the request: to the same path without its
            // trailing slashes, the query kept as sent; never to another site.
            let trimmed = sent.path().trim_end_matches('/');
            let expected = match sent.query() {
                Some(query) => format!("location: {trimmed}?{query}"),
                None => format!("location: {trimmed}"),
            };
            assert!(
                answer.headers.lines().any(|l| l == expected),
                "{sent}: {}",
                answer.headers
            );
            assert!(trimmed.starts_with('/') && !trimmed.starts_with("//"));
            answer.headers = answer
                .headers
                .lines()
                .filter(|l| !l.starts_with("location: "))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        assert!(
            status < 500,
            "{status}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(
            !contains(&answer.body, b"<zq9XMARKERq7"),
            "{status}: the marker came back unescaped: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(
            !contains(&answer.body, fx.token.as_bytes()),
            "the token came back"
        );
        assert!(!answer.headers.contains(MARKER), "{}", answer.headers);
        assert!(!answer.headers.contains(&fx.token), "{}", answer.headers);
        fx.pi.shutdown().await;
    });
});
