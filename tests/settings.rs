//! The settings page over HTTP, without a browser: the example server's router
//! (`examples/server/app.rs`), driven with form posts and its stand-in login cookie.
//!
//! - every response carries the security headers, and pages carry `no-store`;
//! - no page holds an inline script, an inline style or an event-handler attribute;
//! - the assets are embedded, with cache headers per kind;
//! - whatever a user typed is escaped on every page;
//! - the token is in the one response that creates it, and nowhere after;
//! - every refusal of the service is a message on the page, with the form kept as typed
//!   (but a token pasted into a field, which is refused and not shown back);
//! - a value outside a known set (a scope not in the catalog, a user id that is not one)
//!   is refused and never shown back, in the page or a redirect;
//! - an edit made from a stale page says what the other admin changed, starts again from
//!   the current values with the admin's own changes marked, and never ticks again a
//!   scope the other admin removed;
//! - a cross-site post is refused, as a page, and changes nothing; the host's CSRF layer
//!   decides which other origins are trusted;
//! - the list and the audit log are read a page at a time; a token is due for rotation
//!   once it is as old as the rotation interval;
//! - the page works wherever it is mounted.
#![cfg(feature = "admin-ui")]

#[path = "../examples/server/app.rs"]
mod app;
mod support;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION};
use axum::http::{HeaderMap, Request, StatusCode};
use private_integrations::*;
use tower::ServiceExt;

const ADMIN: &str = "pi_demo_login=acct_1.u_admin.admin";
const OTHER_ADMIN: &str = "pi_demo_login=acct_1.u_ann.admin";
const BOB: &str = "pi_demo_login=acct_1.u_bob.member";
const SETTINGS: &str = app::SETTINGS;

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_NAME: &str = "\"><img src=x onerror=alert(1)>";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[track_caller]
    fn assert_shows(&self, text: &str) {
        assert!(
            self.body.contains(text),
            "the page does not show {text:?}:\n{}",
            self.body
        );
    }
}

/// The example app on a manual clock, and a way to send it requests as a browser would.
struct Site {
    app: Router,
    pi: PrivateIntegrations,
    clock: ManualClock,
}

impl Site {
    fn new() -> Self {
        let clock = ManualClock::new(support::T0);
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(app::catalog())
            .clock(clock.clone())
            .build();
        Site {
            app: app::app(pi.clone()),
            pi,
            clock,
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, who: &str, path: &str) -> Reply {
        let request = Request::get(format!("{SETTINGS}{path}"))
            .header(COOKIE, who)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// A form post from the page itself (`Sec-Fetch-Site: same-origin`, as a browser
    /// sends it).
    async fn post(&self, who: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
        let request = form_request(who, path, fields)
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(encode(fields)))
            .unwrap();
        self.send(request).await
    }

    /// Creates an integration through the page's two steps; returns the token page.
    async fn create(&self, name: &str, description: &str, scopes: &[&str]) -> Reply {
        let mut fields = vec![
            ("step", "scopes"),
            ("go", "submit"),
            ("name", name),
            ("description", description),
        ];
        fields.extend(scopes.iter().map(|s| ("scopes", *s)));
        self.post(ADMIN, "/new", &fields).await
    }

    /// The example app on a manual clock, with a catalog of its own.
    fn with_catalog(catalog: ScopeCatalog) -> Self {
        let clock = ManualClock::new(support::T0);
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(catalog)
            .clock(clock.clone())
            .build();
        Site {
            app: app::app(pi.clone()),
            pi,
            clock,
        }
    }

    async fn only_integration(&self) -> Integration {
        let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
        let mut all = self.pi.list(&admin).await.unwrap();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }
}

fn form_request(who: &str, path: &str, _fields: &[(&str, &str)]) -> axum::http::request::Builder {
    Request::post(format!("{SETTINGS}{path}"))
        .header(COOKIE, who)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("host", "example.test")
}

fn encode(fields: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    form.finish()
}

/// The fields a browser would send for the first form of a page, as it is shown (hidden
/// fields, text fields, ticked boxes), with the button `go` pressed.
fn form_as_shown(body: &str, go: &str) -> Vec<(String, String)> {
    let form = regex::Regex::new(r"(?s)<form[^>]*>(.*?)</form>").unwrap();
    let form = &form.captures(body).expect("a form")[1];
    let attr = |tag: &str, name: &str| {
        regex::Regex::new(&format!(r#"\s{name}="([^"]*)""#))
            .unwrap()
            .captures(tag)
            .map(|c| unescape(&c[1]))
    };
    let mut fields = Vec::new();
    let inputs = regex::Regex::new(r"<input[^>]*>|<textarea[^>]*>[^<]*</textarea>").unwrap();
    let checked = regex::Regex::new(r"\schecked[\s>]").unwrap();
    for tag in inputs.find_iter(form).map(|m| m.as_str()) {
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        if let Some(text) = tag.strip_prefix("<textarea") {
            let content = &text[text.find('>').unwrap() + 1..text.rfind("</textarea>").unwrap()];
            fields.push((name, unescape(content)));
            continue;
        }
        let checkbox = attr(tag, "type").as_deref() == Some("checkbox");
        let ticked = checked.is_match(tag);
        if !checkbox || ticked {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
    }
    fields.push(("go".to_owned(), go.to_owned()));
    fields
}

fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// `fields` as [`Site::post`] takes them.
fn borrowed(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The token a page shows, if any.
fn token_in(body: &str) -> Option<String> {
    regex::Regex::new(TOKEN_PATTERN)
        .unwrap()
        .find(body)
        .map(|m| m.as_str().to_owned())
}

/// Every screen of the page, for an account with one integration in rotation.
async fn every_screen(site: &Site) -> Vec<(String, Reply)> {
    let id = site.only_integration().await.id().to_string();
    let mut screens = Vec::new();
    for path in [
        String::new(),
        "/new".into(),
        format!("/{id}"),
        format!("/{id}/rotate/later"),
        format!("/{id}/rotate/now"),
        format!("/{id}/edit"),
        format!("/{id}/delete"),
        "/team".into(),
        "/labs".into(),
        "/audit-log".into(),
        format!("/audit-log?integration={id}"),
    ] {
        let reply = site.get(ADMIN, &path).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.body);
        screens.push((path, reply));
    }
    screens
}

#[track_caller]
fn assert_page_headers(what: &str, reply: &Reply) {
    let csp = reply.header("content-security-policy");
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(rule), "{what}: CSP {csp:?} lacks {rule}");
    }
    assert!(!csp.contains("unsafe"), "{what}: CSP {csp:?}");
    assert_eq!(reply.header("cache-control"), "no-store", "{what}");
    assert_eq!(reply.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(reply.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(reply.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(
        reply.header("cross-origin-opener-policy"),
        "same-origin",
        "{what}"
    );
}

#[tokio::test]
async fn every_page_has_the_security_headers_and_no_inline_code() {
    let site = Site::new();
    let created = site
        .create("Zapier sync", "Pushes contacts", &["contacts.readonly"])
        .await;
    assert_page_headers("the token page", &created);
    let id = site.only_integration().await.id().to_string();
    let rotated = site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    assert_page_headers("the rotated token page", &rotated);

    let inline = regex::Regex::new(r"(?i)<style|\sstyle=|\son[a-z]+=|javascript:").unwrap();
    let script = regex::Regex::new(r"(?i)<script[^>]*>").unwrap();
    let mut screens = every_screen(&site).await;
    screens.push(("the token page".into(), created));
    screens.push(("the rotated token page".into(), rotated));
    for (what, reply) in &screens {
        assert_page_headers(what, reply);
        assert_eq!(
            reply.header("content-type"),
            "text/html; charset=utf-8",
            "{what}"
        );
        assert!(
            !inline.is_match(&reply.body),
            "{what} holds inline code: {:?}",
            inline.find(&reply.body)
        );
        for tag in script.find_iter(&reply.body) {
            assert!(
                tag.as_str().contains(" src="),
                "{what}: inline {}",
                tag.as_str()
            );
        }
        assert!(reply.body.starts_with("<!DOCTYPE html>"), "{what}");
    }
    // A refusal of the login, and a refusal page, carry them too.
    let anonymous = site
        .send(Request::get(SETTINGS).body(Body::empty()).unwrap())
        .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.location(),
        "/login",
        "the host's login runs first"
    );
    assert_page_headers("the login redirect", &anonymous);
    let missing = site.get(ADMIN, "/AAAAAAAAAAAAAAAA").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_page_headers("not found", &missing);
}

#[tokio::test]
async fn assets_are_embedded_and_cached_by_kind() {
    let site = Site::new();
    let page = site.get(ADMIN, "").await;
    let links = regex::Regex::new(r#"(?:href|src)="([^"]*/assets/[^"]+)""#).unwrap();
    let urls: Vec<String> = links
        .captures_iter(&page.body)
        .map(|c| c[1].to_owned())
        .collect();
    assert_eq!(
        urls.len(),
        3,
        "the icon, one stylesheet, one script: {urls:?}"
    );
    for url in &urls {
        assert!(url.starts_with(SETTINGS) && url.contains("?v="), "{url}");
        let path = url.strip_prefix(SETTINGS).unwrap();
        let versioned = site.get("", path).await;
        assert_eq!(versioned.status, StatusCode::OK, "{url}");
        assert_eq!(
            versioned.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        let kind = if url.contains(".css") {
            "text/css; charset=utf-8"
        } else if url.contains(".svg") {
            "image/svg+xml"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(versioned.header("content-type"), kind);
        assert_eq!(versioned.header("x-content-type-options"), "nosniff");
        assert!(!versioned.body.is_empty());

        let unversioned = site.get("", path.split('?').next().unwrap()).await;
        assert_eq!(unversioned.header("cache-control"), "no-cache");
        assert_eq!(unversioned.body, versioned.body);
        let etag = unversioned.header("etag").to_owned();
        let again = site
            .send(
                Request::get(format!("{SETTINGS}{}", path.split('?').next().unwrap()))
                    .header(IF_NONE_MATCH, &etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers.get(ETAG).unwrap(), etag.as_str());
    }
    let script = site.get("", "/assets/settings.js").await;
    assert!(script.body.contains("navigator.clipboard"));
    assert_eq!(
        site.get("", "/assets/other.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn what_users_type_is_escaped_everywhere() {
    let site = Site::new();
    let created = site
        .create(SCRIPT_NAME, IMG_NAME, &["contacts.readonly"])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = site.only_integration().await.id().to_string();
    let renamed = site
        .post(
            ADMIN,
            &format!("/{id}/edit"),
            &[
                ("step", "scopes"),
                ("go", "submit"),
                ("version", "1"),
                ("name", IMG_NAME),
                ("description", SCRIPT_NAME),
                ("scopes", "contacts.readonly"),
            ],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    // And a name that stays as typed in a refused form.
    let refused = site
        .post(
            ADMIN,
            "/new",
            &[
                ("step", "scopes"),
                ("go", "submit"),
                ("name", SCRIPT_NAME),
                ("description", IMG_NAME),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let lookup = site
        .get(ADMIN, &format!("/team?{}", encode(&[("user", IMG_NAME)])))
        .await;

    let mut pages = every_screen(&site).await;
    pages.push(("the token page".into(), created));
    pages.push(("a refused form".into(), refused));
    pages.push(("the team lookup".into(), lookup));
    let escaped_script = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let escaped_img = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    for (what, reply) in &pages {
        assert!(
            !reply.body.contains(SCRIPT_NAME),
            "{what} holds the raw script"
        );
        assert!(!reply.body.contains("<img"), "{what} holds the raw img");
        assert!(!reply.body.contains("onerror=alert(1)>"), "{what}");
    }
    let show = site.get(ADMIN, &format!("/{id}")).await;
    show.assert_shows(escaped_img);
    show.assert_shows(escaped_script);
    site.get(ADMIN, "").await.assert_shows(escaped_img);
    let (_, refused) = &pages[pages.len() - 2];
    refused.assert_shows(escaped_script);
    refused.assert_shows(escaped_img);
}

#[tokio::test]
async fn the_token_is_only_in_the_response_that_creates_it() {
    let site = Site::new();
    let created = site
        .create("Zapier sync", "Pushes contacts", &["contacts.readonly"])
        .await;
    assert_eq!(created.status, StatusCode::OK, "rendered, not redirected");
    assert_eq!(created.location(), "");
    let first = token_in(&created.body).expect("the token page shows the token");
    created.assert_shows(
        "Copy the generated token and share it with your third-party application developer.",
    );
    created.assert_shows(
        "Make sure to share the token only with trusted parties. Do not share it publicly.",
    );
    created.assert_shows(
        "Note: Do not forget to copy the generated token, as you will not be able to do so again later.",
    );
    assert!(
        site.pi.verify(&first).await.is_ok(),
        "the token shown works"
    );

    let id = site.only_integration().await.id().to_string();
    let rotated = site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.location(), "");
    let second = token_in(&rotated.body).expect("the rotation shows the new token");
    assert_ne!(first, second);
    rotated.assert_shows(
        "You will have a 7-day window where both the old and new tokens will continue to work.",
    );
    rotated.assert_shows("March 8, 2026 at 09:00 UTC");
    rotated.assert_shows(
        "Note: Don't forget to copy the generated token, as you won't be able to do it again later.",
    );

    let secrets = [&first, &second].map(|t| t.rsplit('_').next().unwrap().to_owned());
    for (what, reply) in every_screen(&site).await {
        assert!(token_in(&reply.body).is_none(), "{what} shows a token");
        for secret in &secrets {
            assert!(!reply.body.contains(&secret[..12]), "{what} holds a secret");
        }
    }
}

#[tokio::test]
async fn refusals_are_messages_with_the_form_kept_as_typed() {
    let site = Site::new();
    // A validation error on the first step: its own field, with the description kept.
    let empty = site
        .post(
            ADMIN,
            "/new",
            &[
                ("step", "details"),
                ("go", "next"),
                ("name", "   "),
                ("description", "Kept as typed"),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_shows("The name must not be empty.");
    empty.assert_shows(r#"aria-invalid="true""#);
    empty.assert_shows(">Kept as typed</textarea>");

    // The first step passes: on to the scopes, the name carried along.
    let next = site
        .post(
            ADMIN,
            "/new",
            &[
                ("step", "details"),
                ("go", "next"),
                ("name", "Sync"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
    next.assert_shows("Select the scopes/permissions you want the private integration to have access to in your account.");
    next.assert_shows("View contacts");
    next.assert_shows("Read the account's contacts");
    next.assert_shows(r#"name="name" value="Sync""#);

    // No scope: a message on the scopes step, the name kept.
    let none = site.create("Sync", "", &[]).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    none.assert_shows("Select at least one scope.");
    none.assert_shows(r#"name="name" value="Sync""#);
    // "Back" keeps the ticked scopes.
    let back = site
        .post(
            ADMIN,
            "/new",
            &[
                ("step", "scopes"),
                ("go", "back"),
                ("name", "Sync"),
                ("scopes", "contacts.write"),
            ],
        )
        .await;
    back.assert_shows(r#"name="scopes" value="contacts.write""#);
    back.assert_shows(r#"value="Sync""#);

    // A member without the permission; then the feature switched off.
    let bob = site.get(BOB, "").await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN);
    bob.assert_shows("You don't have permission to manage Private Integrations.");
    let bob_create = site
        .post(
            BOB,
            "/new",
            &[
                ("step", "scopes"),
                ("go", "submit"),
                ("name", "Mine"),
                ("scopes", "contacts.readonly"),
            ],
        )
        .await;
    assert_eq!(bob_create.status, StatusCode::FORBIDDEN);
    bob_create.assert_shows("permission to manage Private Integrations");
    bob_create.assert_shows(r#"value="Mine""#);
    assert_eq!(site.get(BOB, "/team").await.status, StatusCode::FORBIDDEN);
    assert_eq!(site.get(BOB, "/labs").await.status, StatusCode::FORBIDDEN);

    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();

    // A rotation in progress: "later" again is refused on the warning page.
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    let again = site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    again.assert_shows("A rotation is already in progress for this token.");
    assert!(token_in(&again.body).is_none());
    // Past the window, "Expire now" finds nothing to expire.
    site.clock.advance(time::Duration::days(8));
    let late = site
        .post(ADMIN, &format!("/{id}/rotation/expire"), &[])
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    late.assert_shows("There is no rotation in progress");

    // A stale edit: someone renamed it since the form was made (version 1).
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let version = site.only_integration().await.version();
    let integration_id: IntegrationId = id.parse().unwrap();
    site.pi
        .update(
            &admin,
            &integration_id,
            IntegrationUpdate::new().name("Renamed by Ann"),
        )
        .await
        .unwrap();
    let stale = site
        .post(
            ADMIN,
            &format!("/{id}/edit"),
            &[
                ("step", "scopes"),
                ("go", "submit"),
                ("version", &version.to_string()),
                ("name", "My rename"),
                ("description", "typed"),
                ("scopes", "contacts.write"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    stale.assert_shows("Someone changed this Private Integration since you opened this page");
    // This form does not say what it was opened with (no `was_*` fields), so its changes
    // cannot be told from Ann's: it starts again from the current values.
    stale.assert_shows("This form did not record what it was opened with");
    stale.assert_shows(r#"name="name" value="Renamed by Ann""#);
    stale.assert_shows(r#"value="contacts.readonly" checked"#);
    assert!(!stale.body.contains(r#"value="contacts.write" checked"#));
    assert_eq!(
        site.only_integration().await.name(),
        "Renamed by Ann",
        "nothing saved"
    );
    // Update again, from the refreshed version: saved.
    let current = site.only_integration().await.version().to_string();
    stale.assert_shows(&format!(r#"name="version" value="{current}""#));
    let retry = site
        .post(
            ADMIN,
            &format!("/{id}/edit"),
            &[
                ("step", "scopes"),
                ("go", "submit"),
                ("version", &current),
                ("name", "My rename"),
                ("description", "typed"),
                ("scopes", "contacts.write"),
            ],
        )
        .await;
    assert_eq!(retry.status, StatusCode::SEE_OTHER, "{}", retry.body);
    assert_eq!(site.only_integration().await.name(), "My rename");

    // An admin cannot change their own permission.
    let own = site
        .post(
            ADMIN,
            "/team",
            &[("user", "u_admin"), ("permission", "deny")],
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    own.assert_shows("You cannot change your own permission");

    // Switched off: a message for everyone, and the tokens keep working.
    let off = site.post(ADMIN, "/labs", &[("enabled", "false")]).await;
    assert_eq!(off.location(), format!("{SETTINGS}/labs?done=off"));
    let list = site.get(ADMIN, "").await;
    assert_eq!(list.status, StatusCode::FORBIDDEN);
    list.assert_shows("Private Integrations are switched off for this account.");
    list.assert_shows("Open Labs");
    let create = site.create("While off", "", &["contacts.readonly"]).await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    create.assert_shows(r#"value="While off""#);
    site.post(ADMIN, "/labs", &[("enabled", "true")]).await;

    // Not found, malformed or unknown.
    for path in [
        "/AAAAAAAAAAAAAAAA",
        "/nope/edit",
        "/AAAAAAAAAAAAAAAA/rotate/later",
        &format!("/{id}/rotate/sideways"),
    ] {
        let missing = site.get(ADMIN, path).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        missing.assert_shows("This Private Integration does not exist in this account.");
    }
}

#[tokio::test]
async fn a_members_view_follows_their_permission() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    assert_eq!(site.get(BOB, "").await.status, StatusCode::FORBIDDEN);
    let team = site.get(ADMIN, "/team").await;
    team.assert_shows("Bob Member");
    team.assert_shows("Cannot manage (member)");
    let saved = site
        .post(
            ADMIN,
            "/team",
            &[("user", "u_bob"), ("permission", "allow")],
        )
        .await;
    assert_eq!(saved.location(), format!("{SETTINGS}/team?done=saved"));
    let bob = site.get(BOB, "").await;
    assert_eq!(bob.status, StatusCode::OK);
    bob.assert_shows("Zapier sync");
    assert!(
        !bob.body.contains("Team permissions"),
        "no admin tabs for a member"
    );
    // With a team directory, only its users have a permission to set (issue 21).
    let stranger = site
        .post(
            ADMIN,
            "/team",
            &[("user", "u_stranger"), ("permission", "allow")],
        )
        .await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    stranger.assert_shows("This user is not in your team: choose someone from the list.");
    assert!(!stranger.body.contains("u_stranger"), "not shown back");
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let set = site.pi.permission(&admin, &UserId::new("u_stranger")).await;
    assert_eq!(set.unwrap(), Permission::RoleDefault, "nothing saved");
    let team = site.get(ADMIN, "/team?done=saved").await;
    team.assert_shows("Permission saved.");
    team.assert_shows(r#"<td>Member</td><td>Can manage</td>"#);
    team.assert_shows(r#"<option value="allow" selected>Allow</option>"#);

    // A deny means no, for an admin too (set by another admin): no integrations, no team
    // permissions, no Labs, and what they post changes nothing.
    site.post(
        OTHER_ADMIN,
        "/team",
        &[("user", "u_admin"), ("permission", "deny")],
    )
    .await;
    assert_eq!(site.get(ADMIN, "").await.status, StatusCode::FORBIDDEN);
    for screen in ["/team", "/labs"] {
        assert_eq!(
            site.get(ADMIN, screen).await.status,
            StatusCode::FORBIDDEN,
            "a denied admin sees no {screen}"
        );
    }
    let other = OTHER_ADMIN.split('.').nth(1).unwrap();
    for (path, fields) in [
        ("/team", vec![("user", other), ("permission", "deny")]),
        ("/team", vec![("user", "u_bob"), ("permission", "deny")]),
        ("/labs", vec![("enabled", "false")]),
    ] {
        let refused = site.post(ADMIN, path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path} {fields:?}");
    }
    let team = site.get(OTHER_ADMIN, "/team").await;
    team.assert_shows(r#"<td>Member</td><td>Can manage</td>"#);
    let ann = Actor::admin(AccountId::new("acct_1"), UserId::new("u_ann"));
    assert!(site.pi.feature_enabled(&ann).await.unwrap(), "still on");
    assert_eq!(
        site.pi
            .permission(&ann, &UserId::new("u_ann"))
            .await
            .unwrap(),
        Permission::RoleDefault,
        "the other admin is not denied"
    );
    let bad = site
        .post(
            OTHER_ADMIN,
            "/team",
            &[("user", "u_bob"), ("permission", "maybe")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let site = Site::new();
    let fields = [
        ("step", "scopes"),
        ("go", "submit"),
        ("name", "Evil"),
        ("scopes", "contacts.readonly"),
    ];
    let cases: [(&str, Option<&str>, Option<&str>); 5] = [
        (
            "another site",
            Some("cross-site"),
            Some("https://evil.test"),
        ),
        ("a sibling site", Some("same-site"), None),
        (
            "an old browser, another origin",
            None,
            Some("https://evil.test"),
        ),
        ("an opaque origin", None, Some("null")),
        // tower-http reads the first of two (no page can make a browser send two; see
        // SECURITY.md): the first says another site.
        (
            "two Sec-Fetch-Site headers, the first cross-site",
            Some("cross-site"),
            Some("DUPLICATE"),
        ),
    ];
    for (what, fetch_site, origin) in cases {
        let mut request = form_request(ADMIN, "/new", &fields);
        if let Some(v) = fetch_site {
            request = request.header("sec-fetch-site", v);
        }
        match origin {
            Some("DUPLICATE") => request = request.header("sec-fetch-site", "same-origin"),
            Some(v) => request = request.header("origin", v),
            None => {}
        }
        let reply = site
            .send(request.body(Body::from(encode(&fields))).unwrap())
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}");
        assert!(token_in(&reply.body).is_none());
        // A screen of the page that says so, with the page's headers.
        assert_page_headers(what, &reply);
        assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
        reply.assert_shows("<h1>Change refused</h1>");
        reply.assert_shows("Your browser sent this change from another site, so it was refused and nothing was changed.");
        reply.assert_shows(&format!(r#"href="{SETTINGS}/assets/settings.css?v="#));
    }
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    assert!(
        site.pi.list(&admin).await.unwrap().is_empty(),
        "nothing was created"
    );
    // From the page itself, in an old browser (no Sec-Fetch-Site): created.
    let same_origin = form_request(ADMIN, "/new", &fields)
        .header("origin", "http://example.test")
        .body(Body::from(encode(&fields)))
        .unwrap();
    assert_eq!(site.send(same_origin).await.status, StatusCode::OK);
    // The actions that post no fields are refused the same way.
    let id = site.only_integration().await.id().to_string();
    for action in ["rotate/now", "rotate/later", "delete"] {
        let forged = form_request(ADMIN, &format!("/{id}/{action}"), &[])
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        assert_eq!(site.send(forged).await.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        site.only_integration().await.version(),
        1,
        "not rotated, not deleted"
    );
    // A body that is not a form is refused before anything runs.
    let json = Request::post(format!("{SETTINGS}/new"))
        .header(COOKIE, ADMIN)
        .header(CONTENT_TYPE, "application/json")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        site.send(json).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

/// A login that always finds the same admin, for pages mounted outside the example app.
struct Fixed;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Fixed {
    type Rejection = StatusCode;
    async fn from_request_parts(
        _: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, StatusCode> {
        Ok(Fixed)
    }
}

impl From<Fixed> for Actor {
    fn from(_: Fixed) -> Actor {
        Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"))
    }
}

#[tokio::test]
async fn the_page_works_wherever_it_is_mounted() {
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(app::catalog())
        .build();
    for (mount, request, base) in [
        (
            "/t/{tenant}/integrations",
            "/t/acme/integrations",
            "/t/acme/integrations",
        ),
        ("/settings/pi", "/settings/pi/new", "/settings/pi"),
    ] {
        let app: Router = Router::new().nest(mount, http::settings_router::<Fixed, _>(pi.clone()));
        let response = app
            .oneshot(Request::get(request).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{request}");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains(&format!(r#"href="{base}/assets/settings.css?v="#)),
            "{body}"
        );
        assert!(
            body.contains(&format!(r#"href="{base}/new""#))
                || body.contains(&format!(r#"action="{base}/new""#)),
            "{body}"
        );
    }
    // At the root of the host's router.
    let app: Router = http::settings_router::<Fixed, _>(pi);
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains(r#"href="/new""#), "{body}");
}

#[tokio::test]
async fn the_audit_log_is_paged() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    // 1 create + 30 rotations = 31 events; 25 a page.
    for _ in 0..30 {
        site.post(ADMIN, &format!("/{id}/rotate/now"), &[]).await;
    }
    let first = site.get(ADMIN, "/audit-log").await;
    assert_eq!(first.body.matches("rotated the token").count(), 25);
    let older = regex::Regex::new(r#"href="([^"]+)">Older events"#).unwrap();
    let next =
        older.captures(&first.body).expect("a link to older events")[1].replace("&amp;", "&");
    assert!(next.contains("cursor="), "{next}");
    let second = site.get(ADMIN, next.strip_prefix(SETTINGS).unwrap()).await;
    assert_eq!(second.body.matches("rotated the token").count(), 5);
    second.assert_shows("created the integration");
    second.assert_shows("Newest events");
    assert!(!older.is_match(&second.body), "the last page");

    // One integration's log, paged too: another integration's events stay out, and the
    // next page keeps the filter.
    site.create("Other", "", &["contacts.readonly"]).await;
    let of_one = site
        .get(ADMIN, &format!("/audit-log?integration={id}"))
        .await;
    of_one.assert_shows("Activity of <a class=\"pi-name\"");
    assert_eq!(of_one.body.matches("rotated the token").count(), 25);
    assert!(!of_one.body.contains(">Other</a>"));
    let next = older
        .captures(&of_one.body)
        .expect("a link to older events")[1]
        .replace("&amp;", "&");
    assert!(next.contains(&format!("integration={id}")), "{next}");
    let last = site.get(ADMIN, next.strip_prefix(SETTINGS).unwrap()).await;
    assert_eq!(last.body.matches("rotated the token").count(), 5);
    assert!(!last.body.contains(">Other</a>"));
    // A deleted integration's log: its id, marked deleted.
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    site.pi
        .delete(&admin, &id.parse::<IntegrationId>().unwrap())
        .await
        .unwrap();
    let deleted = site
        .get(ADMIN, &format!("/audit-log?integration={id}"))
        .await;
    deleted.assert_shows(&format!("<code>{id}</code> (deleted)"));
    deleted.assert_shows("deleted the integration");
    // A broken link: a message.
    let broken = site.get(ADMIN, "/audit-log?cursor=a0").await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    broken.assert_shows("This link to a page of the list is not valid");
}

#[tokio::test]
async fn a_hosts_csrf_layer_decides_which_origins_are_trusted() {
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(app::catalog())
        .build();
    let console = http::CsrfLayer::new()
        .add_trusted_origin("https://console.example.test")
        .unwrap();
    let from_console = || {
        Request::post("/s/new")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("host", "api.example.test")
            .header("origin", "https://console.example.test")
            .header("sec-fetch-site", "same-site")
            .body(Body::from(encode(&[("step", "details"), ("name", "Sync")])))
            .unwrap()
    };
    let trusting: Router = Router::new().nest(
        "/s",
        http::SettingsPage::new(pi.clone())
            .csrf(console)
            .router::<Fixed, _>(),
    );
    let response = trusting.oneshot(from_console()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the host trusts it");
    let default: Router = Router::new().nest("/s", http::settings_router::<Fixed, _>(pi));
    let response = default.oneshot(from_console()).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a sibling site, trusted by no one"
    );
}

#[tokio::test]
async fn the_list_is_paged() {
    let site = Site::new();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    for n in 1..=27 {
        let new = NewIntegration::new(format!("Sync {n:02}")).scopes(["contacts.readonly"]);
        site.pi.create(&admin, new).await.unwrap();
        site.clock.advance(time::Duration::seconds(1));
    }
    let rows = |reply: &Reply| reply.body.matches(r#"aria-label="Actions for "#).count();
    let more = regex::Regex::new(r#"href="([^"]+)">More integrations"#).unwrap();
    let first = site.get(ADMIN, "").await;
    assert_eq!(rows(&first), 25, "25 a page");
    first.assert_shows("27 integrations");
    // Newest first.
    first.assert_shows(">Sync 27</a>");
    assert!(!first.body.contains(">Sync 02</a>"));
    assert!(!first.body.contains("First page"));
    let next = more.captures(&first.body).expect("a link to more")[1].replace("&amp;", "&");
    assert!(next.starts_with(&format!("{SETTINGS}?cursor=")), "{next}");
    let second = site.get(ADMIN, next.strip_prefix(SETTINGS).unwrap()).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(rows(&second), 2);
    second.assert_shows(">Sync 02</a>");
    second.assert_shows(">Sync 01</a>");
    second.assert_shows(&format!(r#"href="{SETTINGS}">← First page</a>"#));
    assert!(!more.is_match(&second.body), "the last page");

    // A link cut short, or a cursor of the audit log: a message, not a list.
    let log = site
        .pi
        .audit_log_page(
            &admin,
            AuditLogQuery::new().page(PageRequest::new().limit(1)),
        )
        .await
        .unwrap();
    let audit_cursor = log.next.unwrap().to_string();
    for cursor in [&next[next.len() - 10..], &audit_cursor] {
        let broken = site
            .get(ADMIN, &format!("?{}", encode(&[("cursor", cursor)])))
            .await;
        assert_eq!(broken.status, StatusCode::BAD_REQUEST, "{cursor}");
        broken.assert_shows("This link to a page of the list is not valid");
    }
}

#[tokio::test]
async fn a_token_is_due_for_rotation_once_as_old_as_the_interval() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    let due = "This token is due for rotation.";
    site.clock
        .advance(time::Duration::days(90) - time::Duration::seconds(1));
    // The badge (the state filter offers "Rotation due" too).
    assert!(
        !site
            .get(ADMIN, "")
            .await
            .body
            .contains("Rotation due</span>")
    );
    assert!(!site.get(ADMIN, &format!("/{id}")).await.body.contains(due));
    site.clock.advance(time::Duration::seconds(1));
    site.get(ADMIN, "")
        .await
        .assert_shows("Rotation due</span>");
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows(due);
    page.assert_shows("It was issued <time datetime=\"2026-03-01T09:00:00Z\">");
    // A new token is not due.
    site.post(ADMIN, &format!("/{id}/rotate/now"), &[]).await;
    assert!(
        !site
            .get(ADMIN, "")
            .await
            .body
            .contains("Rotation due</span>")
    );
    assert!(!site.get(ADMIN, &format!("/{id}")).await.body.contains(due));
}

#[tokio::test]
async fn a_token_pasted_into_a_form_is_refused_and_not_shown_back() {
    let site = Site::new();
    let created = site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let token = token_in(&created.body).unwrap();
    let secret = token.rsplit('_').next().unwrap()[..12].to_owned();
    let id = site.only_integration().await.id().to_string();
    let pasted = format!("Sync {token}");
    /// What the form is, where it posts, its fields, and what the page says.
    type Pasted<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);
    let forms: [Pasted<'_>; 4] = [
        (
            "create, the name on the first step",
            "/new".into(),
            vec![
                ("step", "details"),
                ("go", "next"),
                ("name", &pasted),
                ("description", "Kept"),
            ],
            "The name held an access token, so it was cleared.",
        ),
        (
            "create, the description on the last step",
            "/new".into(),
            vec![
                ("step", "scopes"),
                ("go", "submit"),
                ("name", "Kept"),
                ("description", &pasted),
                ("scopes", "contacts.readonly"),
            ],
            "The description held an access token, so it was cleared.",
        ),
        (
            "edit, the name",
            format!("/{id}/edit"),
            vec![
                ("step", "scopes"),
                ("go", "submit"),
                ("version", "1"),
                ("name", &pasted),
                ("description", "Kept"),
                ("scopes", "contacts.readonly"),
            ],
            "The name held an access token, so it was cleared.",
        ),
        (
            "team, the user id",
            "/team".into(),
            vec![
                ("user", &pasted),
                ("permission", "allow"),
                ("lookup", &pasted),
            ],
            "The user id held an access token, so it was cleared.",
        ),
    ];
    for (what, path, fields, message) in forms {
        let reply = site.post(ADMIN, &path, &fields).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        reply.assert_shows(message);
        assert!(!reply.body.contains(&secret), "{what} shows the token back");
        assert!(token_in(&reply.body).is_none(), "{what}");
        if fields.iter().any(|(_, v)| *v == "Kept") {
            reply.assert_shows("Kept");
        }
    }
    let lookup = site
        .get(ADMIN, &format!("/team?{}", encode(&[("user", &pasted)])))
        .await;
    lookup.assert_shows("The user id held an access token, so it was cleared.");
    assert!(!lookup.body.contains(&secret));
    // Without a team directory the page looks users up by id: not this one.
    let lookup_by_id: Router = http::settings_router::<Fixed, _>(site.pi.clone());
    let path = format!("/team?{}", encode(&[("user", &pasted)]));
    let response = lookup_by_id
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains("The user id held an access token, so it was cleared."));
    assert!(!body.contains(&secret), "the lookup shows the token back");
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    assert_eq!(
        site.pi.list(&admin).await.unwrap().len(),
        1,
        "nothing saved"
    );
    assert_eq!(site.only_integration().await.version(), 1, "nothing saved");
}

#[tokio::test]
async fn the_integration_page_shows_when_each_token_was_last_used() {
    let site = Site::new();
    let first = token_in(
        &site
            .create("Zapier sync", "", &["contacts.readonly"])
            .await
            .body,
    )
    .expect("the token page shows the token");
    let id = site.only_integration().await.id().to_string();
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows("<dt>Last used</dt><dd>Never used</dd>");

    // The old token is used during the window, the new one is not yet.
    site.pi.verify(&first).await.unwrap();
    site.clock.advance(time::Duration::minutes(5));
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    site.pi.verify(&first).await.unwrap();
    // Shutting down writes the pending batch of uses: per token, the first use of the
    // interval (the writer's minute has not passed on tokio's clock).
    site.pi.shutdown().await;

    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows(
        "The old token was last used <time datetime=\"2026-03-01T09:00:00Z\" \
         title=\"March 1, 2026 at 09:00 UTC\">5 minutes ago</time> (2 uses in the last 24 \
         hours).",
    );
    page.assert_shows("<dt>New token last used</dt><dd>Never used</dd>");
}

#[tokio::test]
async fn last_used_is_not_shown_where_uses_are_not_recorded() {
    let clock = ManualClock::new(support::T0);
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(app::catalog())
        .clock(clock.clone())
        .last_used_interval(time::Duration::ZERO)
        .build();
    let site = Site {
        app: app::app(pi.clone()),
        pi,
        clock,
    };
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    let page = site.get(ADMIN, &format!("/{id}")).await;
    assert!(!page.body.contains("Never used"), "{}", page.body);
    assert!(!page.body.contains("Last used"), "{}", page.body);
    // Nor uses: no chart of zeros, but a sentence; and no "never used" in the banner.
    page.assert_shows("Uses are not counted by this service.");
    assert!(!page.body.contains("<svg"), "{}", page.body);
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows("Token rotation in progress");
    assert!(!page.body.contains("The old token has"), "{}", page.body);
    assert!(!page.body.contains("The old token was"), "{}", page.body);
}

/// Ann, the other admin, changing an integration through the service while the admin's
/// form is open.
async fn as_ann(site: &Site, update: IntegrationUpdate) {
    let ann = Actor::admin(AccountId::new("acct_1"), UserId::new("u_ann"));
    let id = site.only_integration().await.id().clone();
    site.pi.update(&ann, &id, update).await.unwrap();
}

#[tokio::test]
async fn a_stale_edit_never_restores_what_a_colleague_removed() {
    let [read, write, events] = support::SCOPES;
    let site = Site::with_catalog(ScopeCatalog::new(support::SCOPES).unwrap());
    site.create("Zapier sync", "Pushes contacts", &[read, write])
        .await;
    let id = site.only_integration().await.id().to_string();
    let edit = format!("/{id}/edit");

    // The admin opens "Edit", changes the description, "Next", ticks one more scope.
    let opened = site.get(ADMIN, &edit).await;
    assert_eq!(opened.status, StatusCode::OK);
    let mut details = form_as_shown(&opened.body, "next");
    for (key, value) in &mut details {
        if key == "description" {
            *value = "Pushes contacts to the EU shop".into();
        }
    }
    let step = site.post(ADMIN, &edit, &borrowed(&details)).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    let mut scopes = form_as_shown(&step.body, "submit");
    scopes.push(("scopes".into(), events.into()));

    // Meanwhile Ann removes `contacts.write`.
    as_ann(&site, IntegrationUpdate::new().scopes([read])).await;

    // "Update" on the stale form, `contacts.write` still ticked: refused, and explained.
    let stale = site.post(ADMIN, &edit, &borrowed(&scopes)).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    stale.assert_shows("Someone changed this Private Integration since you opened this page");
    stale.assert_shows("Changed by someone else");
    stale.assert_shows(&format!("Scope removed: <code>{write}</code>"));
    stale.assert_shows(&format!(
        r#"value="{write}" aria-describedby="pi-scope-1-change">"#
    ));
    stale.assert_shows(r#"id="pi-scope-1-change">Removed by someone else</span>"#);
    assert!(
        !stale.body.contains(&format!(r#"value="{write}" checked"#)),
        "what Ann removed is not ticked again"
    );
    // The admin's own changes, re-applied on top of Ann's, and marked.
    stale.assert_shows("Your changes, applied again");
    stale.assert_shows(&format!("Scope added: <code>{events}</code>"));
    stale.assert_shows(&format!(r#"value="{events}" checked"#));
    stale.assert_shows(r#"id="pi-scope-2-change">Your change: added</span>"#);
    stale.assert_shows(
        "Description changed from “Pushes contacts” to “Pushes contacts to the EU shop”",
    );
    stale.assert_shows(r#"name="description" value="Pushes contacts to the EU shop""#);
    stale.assert_shows(
        r#"Description: <span class="pi-name">Pushes contacts to the EU shop</span> <span class="pi-badge pi-badge-ok" id="pi-description-change">Your change</span>"#,
    );
    let after_ann = site.only_integration().await;
    assert_eq!(after_ann.description(), "Pushes contacts", "nothing saved");
    stale.assert_shows(&format!(
        r#"name="version" value="{}""#,
        after_ann.version()
    ));

    // "Update" on the form as shown: saved, without what Ann removed.
    let saved = site
        .post(
            ADMIN,
            &edit,
            &borrowed(&form_as_shown(&stale.body, "submit")),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let integration = site.only_integration().await;
    assert_eq!(
        integration.scopes().iter().collect::<Vec<_>>(),
        [read, events]
    );
    assert!(!integration.scopes().contains(write));
    assert_eq!(integration.description(), "Pushes contacts to the EU shop");
    assert_eq!(integration.name(), "Zapier sync");
}

#[tokio::test]
async fn a_stale_edit_shows_a_colleagues_new_name_and_description() {
    let site = Site::new();
    site.create("Zapier sync", "Pushes contacts", &["contacts.readonly"])
        .await;
    let id = site.only_integration().await.id().to_string();
    let edit = format!("/{id}/edit");
    let opened = site.get(ADMIN, &edit).await;
    let step = site
        .post(
            ADMIN,
            &edit,
            &borrowed(&form_as_shown(&opened.body, "next")),
        )
        .await;
    // The admin renames it on the first step; the scopes step carries the new name.
    let mut scopes = form_as_shown(&step.body, "submit");
    for (key, value) in &mut scopes {
        if key == "name" {
            *value = "My rename".into();
        }
    }
    as_ann(
        &site,
        IntegrationUpdate::new()
            .name("Renamed by Ann")
            .description("Ann's notes"),
    )
    .await;

    let stale = site.post(ADMIN, &edit, &borrowed(&scopes)).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    stale.assert_shows("Name changed from “Zapier sync” to “Renamed by Ann”");
    stale.assert_shows("Description changed from “Pushes contacts” to “Ann's notes”");
    // Both renamed it: Ann's name stays in the form, the admin's is set aside, shown.
    stale.assert_shows("Your changes not applied");
    stale.assert_shows(
        "Your name “My rename” was not applied: someone else changed it too, and the form \
         keeps theirs, “Renamed by Ann”.",
    );
    stale.assert_shows(r#"name="name" value="Renamed by Ann""#);
    stale.assert_shows(r#"name="description" value="Ann's notes""#);
    assert!(!stale.body.contains("Your changes, applied again"));
    assert!(
        !stale.body.contains("pi-name-change"),
        "nothing marked as the admin's"
    );

    // "Back" from there shows the form from Ann's version, to rename it again.
    let back = site
        .post(ADMIN, &edit, &borrowed(&form_as_shown(&stale.body, "back")))
        .await;
    assert_eq!(back.status, StatusCode::OK);
    back.assert_shows(r#"name="name" value="Renamed by Ann""#);
    back.assert_shows(">Ann's notes</textarea>");

    // Only Ann's change to the description, only the admin's to the name: both kept.
    let step = site
        .post(
            ADMIN,
            &edit,
            &borrowed(&form_as_shown(&site.get(ADMIN, &edit).await.body, "next")),
        )
        .await;
    let mut scopes = form_as_shown(&step.body, "submit");
    for (key, value) in &mut scopes {
        if key == "name" {
            *value = "My rename".into();
        }
    }
    as_ann(&site, IntegrationUpdate::new().description("")).await;
    let stale = site.post(ADMIN, &edit, &borrowed(&scopes)).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    stale.assert_shows("Description removed (it was “Ann's notes”)");
    stale.assert_shows("Name changed from “Renamed by Ann” to “My rename”");
    stale.assert_shows(r#"<strong class="pi-name">My rename</strong> <span class="pi-badge pi-badge-ok" id="pi-name-change">Your change</span>"#);
    let saved = site
        .post(
            ADMIN,
            &edit,
            &borrowed(&form_as_shown(&stale.body, "submit")),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let integration = site.only_integration().await;
    assert_eq!(
        (integration.name(), integration.description()),
        ("My rename", "")
    );
}

/// Whether `body` holds `secret` in any form a page or a URL could carry it: as it is,
/// HTML-escaped, or percent-encoded.
fn holds(body: &str, secret: &str) -> bool {
    let escaped = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let encoded = encode(&[("x", secret)]);
    let encoded = encoded.trim_start_matches("x=");
    [secret, &escaped, encoded]
        .iter()
        .any(|form| body.contains(form))
}

#[tokio::test]
async fn an_unknown_scope_is_refused_and_never_shown_back() {
    let site = Site::new();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let leaky = site
        .pi
        .create(
            &admin,
            NewIntegration::new("Leaky").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let token = leaky.token.expose_secret().to_owned();
    let secret = token.rsplit('_').next().unwrap().to_owned();
    let id = leaky.integration.id().to_string();
    let edit = format!("/{id}/edit");
    let version = leaky.integration.version().to_string();
    let refused = "A scope sent with this form is not in this service's scope catalog";

    /// What the form is, where it posts, its fields, and the status of the answer.
    type Sent<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, StatusCode);
    let forms: [Sent<'_>; 6] = [
        (
            "create, Create",
            "/new",
            vec![
                ("step", "scopes"),
                ("go", "submit"),
                ("name", "Kept"),
                ("scopes", "contacts.readonly"),
                ("scopes", &token),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "create, Next (the scopes carried in hidden fields)",
            "/new",
            vec![
                ("step", "details"),
                ("go", "next"),
                ("name", "Kept"),
                ("scopes", "contacts.readonly"),
                ("scopes", &token),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "create, Back",
            "/new",
            vec![
                ("step", "scopes"),
                ("go", "back"),
                ("name", "Kept"),
                ("scopes", &token),
            ],
            StatusCode::OK,
        ),
        (
            "edit, Update",
            &edit,
            vec![
                ("step", "scopes"),
                ("go", "submit"),
                ("version", &version),
                ("name", "Kept"),
                ("scopes", "contacts.readonly"),
                ("scopes", &token),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "edit, Back, with what the form was opened with",
            &edit,
            vec![
                ("step", "scopes"),
                ("go", "back"),
                ("version", &version),
                ("was_name", "Leaky"),
                ("was_description", ""),
                ("was_scopes", &token),
                ("name", "Kept"),
                ("scopes", &token),
            ],
            StatusCode::OK,
        ),
        (
            "edit, Update from a stale version",
            &edit,
            vec![
                ("step", "scopes"),
                ("go", "submit"),
                ("version", "0"),
                ("was_name", "Leaky"),
                ("was_scopes", "contacts.readonly"),
                ("was_scopes", &token),
                ("name", "Kept"),
                ("scopes", "contacts.readonly"),
            ],
            StatusCode::CONFLICT,
        ),
    ];
    for (what, path, fields, status) in forms {
        let reply = site.post(ADMIN, path, &fields).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert!(!holds(&reply.body, &token), "{what} shows the token back");
        assert!(!holds(&reply.body, &secret), "{what} shows its secret back");
        assert!(!holds(&reply.body, &secret[..12]), "{what}");
        assert!(token_in(&reply.body).is_none(), "{what}");
        assert!(!holds(reply.location(), &secret), "{what}");
        reply.assert_shows(r#"value="Kept""#);
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            reply.assert_shows(refused);
            reply.assert_shows(r#"value="contacts.readonly" checked"#);
        }
    }
    assert_eq!(
        site.pi.list(&admin).await.unwrap().len(),
        1,
        "nothing created"
    );
    assert_eq!(
        site.pi
            .get(&admin, leaky.integration.id())
            .await
            .unwrap()
            .version(),
        leaky.integration.version(),
        "nothing saved"
    );
}

#[tokio::test]
async fn team_permissions_show_back_no_user_id_that_is_not_one() {
    let site = Site::new();
    let token = token_in(
        &site
            .create("Zapier sync", "", &["contacts.readonly"])
            .await
            .body,
    )
    .unwrap();
    let secret = token.rsplit('_').next().unwrap().to_owned();
    // A save sent with a `lookup` field other than the user saved: the redirect names the
    // user saved, not what the field held.
    let saved = site
        .post(
            ADMIN,
            "/team",
            &[
                ("user", "u_bob"),
                ("permission", "allow"),
                ("lookup", &token),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(
        saved.location(),
        format!("{SETTINGS}/team?done=saved&user=u_bob")
    );
    assert!(!holds(saved.location(), &secret));

    // Without a team directory, a user id that is not one is refused and not shown back.
    let by_id: Router = http::settings_router::<Fixed, _>(site.pi.clone());
    let malformed = "u_bob\nmarker-of-the-typed-value";
    for query in [
        encode(&[("user", malformed)]),
        encode(&[("user", &"u".repeat(1000))]),
    ] {
        let response = by_id
            .clone()
            .oneshot(
                Request::get(format!("/team?{query}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("marker-of-the-typed-value"), "{body}");
        assert!(!body.contains(&"u".repeat(1000)), "{body}");
        assert!(body.contains(r#"name="user" value="""#), "{body}");
    }
    // A user id that is one is shown, as the lookup's answer.
    let response = by_id
        .oneshot(
            Request::get("/team?user=u_bob")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Issue 19: a form sent a second time — a reload of the token screen, Back then Forward,
/// a double click — does nothing, and says what the first submission did and when; the
/// token shown the first time keeps working.
#[tokio::test]
async fn a_form_sent_twice_does_nothing_the_second_time() {
    let site = Site::new();
    let details = site.get(ADMIN, "/new").await;
    let mut fields = form_as_shown(&details.body, "next");
    fields.retain(|(name, _)| name != "name");
    fields.push(("name".to_owned(), "Zapier sync".to_owned()));
    let step = site.post(ADMIN, "/new", &borrowed(&fields)).await;
    let mut fields = form_as_shown(&step.body, "submit");
    assert!(
        fields.iter().any(|(name, _)| name == "once"),
        "a one-time key"
    );
    fields.push(("scopes".to_owned(), "contacts.readonly".to_owned()));

    let created = site.post(ADMIN, "/new", &borrowed(&fields)).await;
    let token = token_in(&created.body).expect("the token, once");
    let again = site.post(ADMIN, "/new", &borrowed(&fields)).await;
    assert_eq!(again.status, StatusCode::OK);
    again.assert_shows("This form was already sent, and nothing was done again.");
    again.assert_shows("Its token was shown once, then, and cannot be shown again.");
    again.assert_shows("Rotate and expire this token now");
    assert!(token_in(&again.body).is_none(), "no token the second time");
    let integration = site.only_integration().await;
    assert!(
        site.pi.verify(&token).await.is_ok(),
        "the token shown works"
    );

    // "Rotate and expire this token now", Continue sent twice: rotated once.
    let id = integration.id().to_string();
    let warning = site.get(ADMIN, &format!("/{id}/rotate/now")).await;
    let fields = form_as_shown(&warning.body, "continue");
    let rotated = site
        .post(ADMIN, &format!("/{id}/rotate/now"), &borrowed(&fields))
        .await;
    let new_token = token_in(&rotated.body).expect("the new token");
    let again = site
        .post(ADMIN, &format!("/{id}/rotate/now"), &borrowed(&fields))
        .await;
    again.assert_shows("This form was already sent, and nothing was done again.");
    assert!(token_in(&again.body).is_none());
    assert_eq!(site.only_integration().await.version(), 2, "rotated once");
    assert!(site.pi.verify(&new_token).await.is_ok());
    assert!(site.pi.verify(&token).await.is_err());

    // The edit form sent twice, then the same form with other values: nothing changes.
    let edit = site.get(ADMIN, &format!("/{id}/edit")).await;
    let mut fields = form_as_shown(&edit.body, "next");
    fields.retain(|(name, _)| name != "step");
    fields.push(("step".to_owned(), "scopes".to_owned()));
    fields.retain(|(name, _)| name != "description");
    fields.push(("description".to_owned(), "Edited once".to_owned()));
    let edited = site
        .post(ADMIN, &format!("/{id}/edit"), &borrowed(&fields))
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let again = site
        .post(ADMIN, &format!("/{id}/edit"), &borrowed(&fields))
        .await;
    again.assert_shows("This form was already sent, and nothing was done again.");
    fields.retain(|(name, _)| name != "description");
    fields.push(("description".to_owned(), "Edited twice".to_owned()));
    let other = site
        .post(ADMIN, &format!("/{id}/edit"), &borrowed(&fields))
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    other.assert_shows("This form was already sent with other values, so nothing was done.");
    let integration = site.only_integration().await;
    assert_eq!(
        (integration.description(), integration.version()),
        ("Edited once", 3)
    );

    // Delete, clicked twice: the second says it was already done.
    let confirm = site.get(ADMIN, &format!("/{id}/delete")).await;
    let fields = form_as_shown(&confirm.body, "delete");
    let deleted = site
        .post(ADMIN, &format!("/{id}/delete"), &borrowed(&fields))
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let again = site
        .post(ADMIN, &format!("/{id}/delete"), &borrowed(&fields))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    again.assert_shows("This form was already sent, and nothing was done again.");
    again.assert_shows("deleted the integration");
}

#[tokio::test]
async fn the_list_is_searched_and_filtered_by_state() {
    let site = Site::new();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let mut ids = Vec::new();
    for name in ["Zapier one", "Mailer", "ZAPIER two", "Zapier <b>3</b>"] {
        let new = NewIntegration::new(name).scopes(["contacts.readonly"]);
        ids.push(
            site.pi
                .create(&admin, new)
                .await
                .unwrap()
                .integration
                .id()
                .clone(),
        );
        site.clock.advance(time::Duration::seconds(1));
    }
    site.pi
        .rotate(&admin, &ids[2], RotationMode::ExpireLater)
        .await
        .unwrap();
    let all = site.get(ADMIN, "").await;
    all.assert_shows("4 integrations");
    all.assert_shows(r#"<label for="pi-search-q">Search by name</label>"#);
    all.assert_shows(r#"<label for="pi-search-state">State</label>"#);
    all.assert_shows(r#"<th scope="col">Last used</th>"#);
    all.assert_shows("Never used");
    let searched = site.get(ADMIN, "?q=zap").await;
    searched.assert_shows("3 integrations match");
    searched.assert_shows(r#"value="zap""#);
    assert!(!searched.body.contains(">Mailer</a>"));
    // Newest first, and the name escaped.
    let first = searched.body.find("Zapier &lt;b&gt;3&lt;/b&gt;").unwrap();
    let last = searched.body.find(">Zapier one</a>").unwrap();
    assert!(first < last);
    let rotating = site.get(ADMIN, "?q=zap&state=rotating").await;
    rotating.assert_shows("1 integration matches");
    rotating.assert_shows(">ZAPIER two</a>");
    rotating.assert_shows(r#"<option value="rotating" selected>Rotating</option>"#);
    let none = site.get(ADMIN, "?q=nothing+like+it").await;
    none.assert_shows("0 integrations match");
    none.assert_shows("No Private Integrations match.");
    // A bad state or search: a message, never the value.
    for query in ["?state=sideways", &format!("?q={}", "x".repeat(101))] {
        let refused = site.get(ADMIN, query).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(!refused.body.contains("sideways") && !refused.body.contains("xxxxxxxxxx"));
    }
}

#[tokio::test]
async fn pages_of_a_search_keep_it() {
    let site = Site::new();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    for n in 1..=60 {
        let name = if n % 2 == 0 {
            format!("Zapier {n:02}")
        } else {
            format!("Other {n:02}")
        };
        let new = NewIntegration::new(name).scopes(["contacts.readonly"]);
        site.pi.create(&admin, new).await.unwrap();
        site.clock.advance(time::Duration::seconds(1));
    }
    let more = regex::Regex::new(r#"href="([^"]+)">More integrations"#).unwrap();
    let first = site.get(ADMIN, "?q=zapier&state=active").await;
    first.assert_shows("30 integrations match");
    let next = more.captures(&first.body).expect("a link to more")[1].replace("&amp;", "&");
    assert!(
        next.contains("q=zapier") && next.contains("state=active"),
        "{next}"
    );
    let second = site.get(ADMIN, next.strip_prefix(SETTINGS).unwrap()).await;
    second.assert_shows("30 integrations match");
    second.assert_shows(">Zapier 02</a>");
    assert!(!second.body.contains(">Other"));
    second.assert_shows(&format!(
        r#"href="{SETTINGS}?q=zapier&amp;state=active">← First page</a>"#
    ));
}

#[tokio::test]
async fn every_answer_of_the_router_has_the_page_headers_404s_included() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    // A trailing slash: to the same path without it, query kept; not a login question.
    for (path, to) in [
        ("/".to_owned(), SETTINGS.to_owned()),
        ("/?q=zap".to_owned(), format!("{SETTINGS}?q=zap")),
        (format!("/{id}/"), format!("{SETTINGS}/{id}")),
        ("/audit-log/".to_owned(), format!("{SETTINGS}/audit-log")),
    ] {
        let reply = site.get("", &path).await;
        assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(reply.location(), to, "{path}");
        assert_page_headers(&path, &reply);
    }
    let list = site.get(ADMIN, "").await;
    assert_eq!(list.status, StatusCode::OK);
    // A path the page does not have: a screen of the page saying so, with its headers.
    for path in [
        "/no/such/page",
        &format!("/{id}/rotate/later/x"),
        "/assets/a/b",
    ] {
        let reply = site.get(ADMIN, path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_page_headers(path, &reply);
        reply.assert_shows("There is no such page in Private Integrations.");
        assert!(reply.body.starts_with("<!DOCTYPE html>"), "{path}");
    }
    let missing_asset = site.get("", "/assets/favicon.ico").await;
    assert_eq!(missing_asset.status, StatusCode::NOT_FOUND);
    assert_page_headers("a missing asset", &missing_asset);
    // Every page names its icon, so that a browser asks for no /favicon.ico.
    for (what, reply) in every_screen(&site).await {
        reply.assert_shows(r#"<link rel="icon" type="image/svg+xml" href="/settings/private-integrations/assets/favicon.svg?v="#);
        let _ = what;
    }
}

#[tokio::test]
async fn rotate_later_is_not_offered_during_a_rotation() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    let later = format!("{SETTINGS}/{id}/rotate/later");
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows("Token rotation in progress");
    assert!(!page.body.contains(&later), "no link to rotate later");
    page.assert_shows(&format!(r#"href="{SETTINGS}/{id}/rotate/now""#));
    assert!(!site.get(ADMIN, "").await.body.contains(&later));
    // The warning itself (an old link): it cannot be done now; cancel or expire first.
    let warning = site.get(ADMIN, &format!("/{id}/rotate/later")).await;
    assert_eq!(warning.status, StatusCode::OK);
    warning.assert_shows("is already in progress.");
    warning.assert_shows("first cancel the rotation or expire the old token now.");
    warning.assert_shows(&format!(r#"action="{SETTINGS}/{id}/rotation/cancel""#));
    warning.assert_shows(&format!(r#"action="{SETTINGS}/{id}/rotation/expire""#));
    assert!(!warning.body.contains(">Continue<"), "no Continue");
    assert!(!warning.body.contains(&format!(r#"action="{later}""#)));
    // "Rotate and expire this token now" stays.
    let now = site.get(ADMIN, &format!("/{id}/rotate/now")).await;
    now.assert_shows(">Continue<");
    // Expire now from there: rotate later is offered again.
    let expired = site
        .post(ADMIN, &format!("/{id}/rotation/expire"), &[])
        .await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows(&format!(r#"href="{later}""#));
    site.get(ADMIN, &format!("/{id}/rotate/later"))
        .await
        .assert_shows(">Continue<");
}

#[tokio::test]
async fn the_audit_log_of_another_accounts_integration_says_nothing_of_it() {
    let site = Site::new();
    let theirs = Actor::admin(AccountId::new("acct_2"), UserId::new("u_eve"));
    let new = NewIntegration::new("Their secret project").scopes(["contacts.readonly"]);
    let theirs = site.pi.create(&theirs, new).await.unwrap().integration;
    let nobodys = "AAAAAAAAAAAAAAAA";
    let other = site
        .get(ADMIN, &format!("/audit-log?integration={}", theirs.id()))
        .await;
    let none = site
        .get(ADMIN, &format!("/audit-log?integration={nobodys}"))
        .await;
    assert_eq!(other.status, StatusCode::OK);
    other.assert_shows("an unknown integration");
    assert!(!other.body.contains("(deleted)") && !other.body.contains("Their secret"));
    assert_eq!(
        other.body.replace(theirs.id().as_str(), nobodys),
        none.body,
        "the same answer as for an id nobody has"
    );
    // One of the account's own, deleted: its events are there, and it says so.
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    site.post(ADMIN, &format!("/{id}/delete"), &[]).await;
    let deleted = site
        .get(ADMIN, &format!("/audit-log?integration={id}"))
        .await;
    deleted.assert_shows(" (deleted)");
    deleted.assert_shows("deleted the integration");
}

#[tokio::test]
async fn last_used_says_how_often_it_is_updated() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    site.get(ADMIN, "")
        .await
        .assert_shows("Last used is updated every minute.");
    site.get(ADMIN, &format!("/{id}"))
        .await
        .assert_shows("Last used is updated every minute.");

    let clock = ManualClock::new(support::T0);
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(app::catalog())
        .clock(clock.clone())
        .last_used_interval(time::Duration::minutes(10))
        .build();
    let every_ten = Site {
        app: app::app(pi.clone()),
        pi,
        clock,
    };
    every_ten
        .create("Zapier sync", "", &["contacts.readonly"])
        .await;
    every_ten
        .get(ADMIN, "")
        .await
        .assert_shows("Last used is updated every 10 minutes.");
}

#[tokio::test]
async fn the_token_screen_starts_with_the_focus_on_the_token() {
    let site = Site::new();
    let created = site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let field = regex::Regex::new(r#"<input id="pi-token"[^>]*>"#).unwrap();
    let field = field.find(&created.body).expect("the token field").as_str();
    assert!(field.contains(" autofocus"), "{field}");
    assert_eq!(created.body.matches("autofocus").count(), 1);
}

#[tokio::test]
async fn labs_says_what_switching_off_does() {
    let site = Site::new();
    site.post(ADMIN, "/labs", &[("enabled", "false")]).await;
    let labs = site.get(ADMIN, "/labs").await;
    labs.assert_shows("nobody can see, create, edit, rotate or delete Private Integrations");
    labs.assert_shows("Admins keep Team permissions and Labs.");
    // And so it is: the integrations and the log say switched off; the rest is there.
    for screen in ["", "/audit-log"] {
        let reply = site.get(ADMIN, screen).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{screen:?}");
        reply.assert_shows("Private Integrations are switched off for this account.");
    }
    assert_eq!(site.get(ADMIN, "/team").await.status, StatusCode::OK);
}

/// Issue 21: names, not ids. With a team directory, the audit log names the people it
/// knows (who acted, and whose permission changed); an id stands in for anyone else.
#[tokio::test]
async fn the_audit_log_names_people_the_directory_knows() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    site.post(
        ADMIN,
        "/team",
        &[("user", "u_bob"), ("permission", "allow")],
    )
    .await;
    let log = site.get(ADMIN, "/audit-log").await;
    assert_eq!(log.status, StatusCode::OK);
    log.assert_shows("Ada Admin");
    log.assert_shows("set Bob Member's Private Integrations permission: allowed");
    assert!(
        !log.body.contains("<code>u_admin</code>"),
        "a name, not an id"
    );
}

#[tokio::test]
async fn the_integration_page_names_who_edited_it_last() {
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().clone();
    let path = format!("/{id}");
    let page = site.get(ADMIN, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_shows("Created by Ada Admin on <time datetime=\"2026-03-01T09:00:00Z\">");

    // An admin the team directory does not know: the id stands in, escaped.
    let stranger = Actor::admin(AccountId::new("acct_1"), UserId::new("u_<i>zed</i>"));
    site.clock.advance(time::Duration::hours(1));
    site.pi
        .update(
            &stranger,
            &id,
            IntegrationUpdate::new().description("Edited"),
        )
        .await
        .unwrap();
    let page = site.get(ADMIN, &path).await;
    page.assert_shows(
        "Last edited by <code>u_&lt;i&gt;zed&lt;/i&gt;</code> on \
         <time datetime=\"2026-03-01T10:00:00Z\">",
    );
    assert!(!page.body.contains("Created by"), "{}", page.body);
    assert!(!page.body.contains("<i>zed"), "escaped: {}", page.body);

    // A rotation is an edit; a leak report (a scanner's, not a person's edit) is not.
    let ann = Actor::admin(AccountId::new("acct_1"), UserId::new("u_ann"));
    site.clock.advance(time::Duration::hours(1));
    let rotated = site
        .pi
        .rotate(&ann, &id, RotationMode::ExpireNow)
        .await
        .unwrap();
    site.clock.advance(time::Duration::hours(1));
    site.pi
        .report_leak(
            &UserId::new("github-secret-scanning"),
            rotated.token.expose_secret(),
            "https://github.com/o/r/blob/1/.env",
        )
        .await
        .unwrap();
    let page = site.get(ADMIN, &path).await;
    page.assert_shows("Last edited by Ann Admin on <time datetime=\"2026-03-01T11:00:00Z\">");
}

/// A token found in a public place: a red banner on the integration's page saying where
/// and when and what to do, and a mark in the list; revoked (the default) or, with a
/// policy that only notifies, still live. After a rotation both are gone.
#[tokio::test]
async fn a_leaked_token_shows_a_banner_and_a_mark_in_the_list() {
    for policy in [LeakPolicy::Revoke, LeakPolicy::NotifyOnly] {
        let clock = ManualClock::new(support::T0);
        let pi = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(app::catalog())
            .clock(clock.clone())
            .leak_policy(policy)
            .build();
        let site = Site {
            app: app::app(pi.clone()),
            pi,
            clock,
        };
        let token = token_in(
            &site
                .create("Zapier sync", "", &["contacts.readonly"])
                .await
                .body,
        )
        .expect("the token page shows the token");
        let id = site.only_integration().await.id().to_string();
        let page = site.get(ADMIN, &format!("/{id}")).await;
        assert!(!page.body.contains("found in a public place"));
        site.clock.advance(time::Duration::minutes(3));
        let scanner = UserId::new("github-secret-scanning");
        let url = "https://github.com/octo/app/blob/main/.env?a=<b>";
        site.pi.report_leak(&scanner, &token, url).await.unwrap();

        let page = site.get(ADMIN, &format!("/{id}")).await;
        page.assert_shows("This token was found in a public place");
        page.assert_shows(
            "Found in a public place on <strong><time datetime=\"2026-03-01T09:03:00Z\">",
        );
        page.assert_shows("https://github.com/octo/app/blob/main/.env?a=&lt;b&gt;");
        page.assert_shows("Rotate and expire this token now");
        let list = site.get(ADMIN, "").await;
        list.assert_shows("pi-badge-danger\">Leaked</span>");
        match policy {
            LeakPolicy::Revoke => {
                page.assert_shows("it has been revoked");
                list.assert_shows("Revoked: rotate to issue a new token");
            }
            _ => {
                page.assert_shows("it still works");
                list.assert_shows("Found in a public place: rotate and expire it now");
            }
        }
        assert!(!page.body.contains(&token) && !list.body.contains(&token));

        // Rotated: the leaked token is gone, and so are the banner and the mark.
        site.post(ADMIN, &format!("/{id}/rotate/now"), &[]).await;
        let page = site.get(ADMIN, &format!("/{id}")).await;
        assert!(
            !page.body.contains("found in a public place"),
            "{}",
            page.body
        );
        assert!(!site.get(ADMIN, "").await.body.contains("Leaked"));
    }
}

/// With `finish_rotation_when_silent`, the rotation's banner says that the old token
/// expires by itself, and after how long, in words; without it, it says nothing of the
/// kind. Once the rotation finished itself, the banner is gone and the audit log says it
/// was automatic, and why.
#[tokio::test]
async fn the_rotation_banner_says_when_the_old_token_expires_by_itself() {
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    for (silence, words) in [
        (time::Duration::hours(24), "24 hours"),
        (time::Duration::minutes(90), "90 minutes"),
        (time::Duration::days(3), "3 days"),
    ] {
        let clock = ManualClock::new(support::T0);
        let storage = MemoryStorage::new();
        let pi = PrivateIntegrations::builder(storage.clone())
            .scope_catalog(app::catalog())
            .clock(clock.clone())
            .finish_rotation_when_silent(silence)
            .build();
        let site = Site {
            app: app::app(pi.clone()),
            pi,
            clock,
        };
        site.create("Zapier sync", "", &["contacts.readonly"]).await;
        let id = site.only_integration().await.id().clone();
        let new = site
            .pi
            .rotate(&admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
        let page = site.get(ADMIN, &format!("/{id}")).await;
        page.assert_shows("Token rotation in progress");
        page.assert_shows(&format!(
            "The old token will expire automatically once unused for {words} (and the new one \
             has been used)."
        ));

        // The third party switched; the old token stays silent: it expires by itself.
        let used = storage::LastUse {
            token_id: *new.token_id(),
            at: site.pi.now(),
        };
        storage.record_last_used(&[used]).await.unwrap();
        site.clock.advance(silence);
        assert_eq!(site.pi.finish_silent_rotations().await.unwrap(), 1);
        let page = site.get(ADMIN, &format!("/{id}")).await;
        assert!(!page.body.contains("Token rotation in progress"));
        assert!(!page.body.contains("expire automatically"));
        page.assert_shows("Last edited by <code>private-integrations</code>");
        let log = site.get(ADMIN, "/audit-log").await;
        log.assert_shows(&format!(
            "expired the previous token automatically: unused for {words} while the new one \
             was in use"
        ));
        log.assert_shows("<code>private-integrations</code>");
        site.pi.shutdown().await;
    }

    // Off (the default): the banner does not say it.
    let site = Site::new();
    site.create("Zapier sync", "", &["contacts.readonly"]).await;
    let id = site.only_integration().await.id().to_string();
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows("Token rotation in progress");
    assert!(!page.body.contains("expire automatically"));
}

// ---------------------------------------------------------------------------------------
// Uses (issue 23): the chart on the integration's page, the rotation's banner, the
// list's mark. Counted by `verify` and written by the last-used writer, on tokio's paused
// clock: the test lets the writer's minute pass, then waits for its batch.
// ---------------------------------------------------------------------------------------

/// The last-used writer's interval (the default), on tokio's clock.
const WRITER_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl Site {
    /// `n` successful calls with `token`.
    async fn called(&self, token: &str, n: usize) {
        for _ in 0..n {
            self.pi.verify(token).await.expect("the token works");
        }
    }

    /// Lets one last-used interval pass (tokio's clock, paused) and waits until the writer
    /// has written the uses counted so far: in the hour of the manual clock, with the
    /// last-used times.
    async fn uses_written(&self) {
        let before = self.pi.last_used_stats().count_batches;
        tokio::time::advance(WRITER_INTERVAL).await;
        for _ in 0..10_000 {
            if self.pi.last_used_stats().count_batches > before {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the writer wrote no counts");
    }
}

/// The rows of the uses table: date, current token, old tokens.
fn usage_rows(body: &str) -> Vec<(String, String, String)> {
    let row = regex::Regex::new(
        r#"<tr><th scope="row">([^<]*)</th><td class="pi-num">([^<]*)</td><td class="pi-num">([^<]*)</td></tr>"#,
    )
    .unwrap();
    row.captures_iter(body)
        .map(|c| (c[1].to_owned(), c[2].to_owned(), c[3].to_owned()))
        .collect()
}

/// The integration's page charts the uses of the last 30 days, the current token apart
/// from the old one, with a one-line summary and the same days as a table; an SVG drawn on
/// the server, with no script and the page's CSP as it was.
#[tokio::test(start_paused = true)]
async fn the_integration_page_charts_the_uses_of_the_last_30_days() {
    let site = Site::new();
    let first = token_in(
        &site
            .create("Zapier sync", "", &["contacts.readonly"])
            .await
            .body,
    )
    .expect("the token page shows the token");
    let id = site.only_integration().await.id().to_string();
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows("<h2 id=\"pi-usage-title\">Uses in the last 30 days</h2>");
    page.assert_shows("No uses in the last 30 days.");
    assert!(!page.body.contains("<svg"), "no chart of zeros");

    // March 1: three calls. March 3: two more, then a rotation; the new token is called
    // 1,201 times and the old one once more.
    site.called(&first, 3).await;
    site.uses_written().await;
    site.clock.advance(time::Duration::days(2));
    site.called(&first, 2).await;
    let rotated = site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    let second = token_in(&rotated.body).expect("the new token");
    site.called(&second, 1_201).await;
    site.called(&first, 1).await;
    site.uses_written().await;
    site.clock.advance(time::Duration::minutes(3));

    let page = site.get(ADMIN, &format!("/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_shows(
        "<p class=\"pi-usage-summary\">1,207 uses in the last 30 days (6 of them with an old \
         token), 1,204 today.</p>",
    );
    // The chart: a picture only, its scale topped at 1,500, from February 2 to today; a
    // bar on each day with uses, the new token's solid, the old one's striped above it.
    page.assert_shows("<div class=\"pi-chart\" aria-hidden=\"true\">");
    page.assert_shows("<div class=\"pi-chart-scale\"><span>1,500</span><span>0</span></div>");
    page.assert_shows(
        "<div class=\"pi-chart-dates\"><span>February 2</span><span>Today</span></div>",
    );
    page.assert_shows(
        "<title>March 1: 0 uses with the current token, 3 uses with an old token</title>",
    );
    page.assert_shows(
        "<title>March 3: 1,201 uses with the current token, 3 uses with an old token</title>",
    );
    assert_eq!(
        page.body.matches("<g><title>").count(),
        2,
        "two days with uses"
    );
    assert_eq!(
        page.body
            .matches("<rect class=\"pi-chart-current\"")
            .count(),
        1
    );
    assert_eq!(page.body.matches("<rect class=\"pi-chart-old\"").count(), 2);
    // 1,201 of 1,500 is 80% of the plot's 144 units; 3 uses get the least height.
    page.assert_shows("y=\"36.70\" height=\"115.30\"");
    page.assert_shows("fill=\"url(#pi-usage-stripes)\" y=\"35.20\" height=\"1.50\"");
    // The table: every day, newest first.
    page.assert_shows("<summary>Show as a table</summary>");
    let rows = usage_rows(&page.body);
    assert_eq!(rows.len(), 30, "{rows:?}");
    let row = |date: &str, current: &str, old: &str| (date.into(), current.into(), old.into());
    assert_eq!(
        rows[..3],
        [
            row("March 3, 2026", "1,201", "3"),
            row("March 2, 2026", "0", "0"),
            row("March 1, 2026", "0", "3"),
        ]
    );
    assert_eq!(rows[29], row("February 2, 2026", "0", "0"));
    assert!(
        rows[3..]
            .iter()
            .all(|(_, current, old)| current == "0" && old == "0")
    );
    page.assert_shows("Days are UTC days. Uses are updated every minute.");

    // The page's headers and CSP are as they were, and no script is inline.
    assert_page_headers("the integration's uses", &page);
    assert_eq!(
        page.header("content-security-policy"),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let inline = regex::Regex::new(r"(?i)<style|\sstyle=|\son[a-z]+=|javascript:").unwrap();
    assert!(
        !inline.is_match(&page.body),
        "{:?}",
        inline.find(&page.body)
    );
    let scripts: Vec<&str> = regex::Regex::new(r"(?i)<script[^>]*>")
        .unwrap()
        .find_iter(&page.body)
        .map(|m| m.as_str())
        .collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert!(scripts[0].contains(" src="), "{scripts:?}");
    site.pi.shutdown().await;
}

/// During a rotation the banner says whether the third party still calls with the old
/// token: never, how long ago and how often in the last 24 hours, or not since when.
#[tokio::test(start_paused = true)]
async fn the_rotation_banner_says_whether_the_old_token_is_still_used() {
    let site = Site::new();
    let first = token_in(
        &site
            .create("Zapier sync", "", &["contacts.readonly"])
            .await
            .body,
    )
    .expect("the token page shows the token");
    let id = site.only_integration().await.id().to_string();
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows("<p>The old token has never been used.</p>");

    site.clock.advance(time::Duration::hours(1));
    site.called(&first, 1).await;
    site.uses_written().await;
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows(
        "<p>The old token was last used <time datetime=\"2026-03-01T10:00:00Z\" \
         title=\"March 1, 2026 at 10:00 UTC\">less than a minute ago</time> (1 use in the \
         last 24 hours).</p>",
    );

    site.clock.advance(time::Duration::hours(5));
    site.called(&first, 1_203).await;
    site.uses_written().await;
    site.clock.advance(time::Duration::hours(2));
    site.get(ADMIN, &format!("/{id}")).await.assert_shows(
        "<p>The old token was last used <time datetime=\"2026-03-01T15:00:00Z\" \
         title=\"March 1, 2026 at 15:00 UTC\">2 hours ago</time> (1,204 uses in the last 24 \
         hours).</p>",
    );

    // Two days without a call.
    site.clock.advance(time::Duration::days(2));
    let page = site.get(ADMIN, &format!("/{id}")).await;
    page.assert_shows(
        "<p>The old token has not been used since <time datetime=\"2026-03-01T15:00:00Z\">\
         March 1, 2026 at 15:00 UTC</time>.</p>",
    );
    assert!(!page.body.contains("The old token was last used"));
    site.pi.shutdown().await;
}

/// The list marks an integration whose old token is still in use near the end of its
/// window: used in the last 24 hours, and the window ending within the longer of 24
/// hours and a quarter of it (the last 42 hours of 7 days).
#[tokio::test(start_paused = true)]
async fn the_list_marks_an_old_token_still_in_use_near_the_end_of_its_window() {
    const MARK: &str = "Old token still in use";
    const ROTATING: &str = "<span class=\"pi-badge pi-badge-warning\">Rotating</span>";
    let site = Site::new();
    let first = token_in(
        &site
            .create("Zapier sync", "", &["contacts.readonly"])
            .await
            .body,
    )
    .expect("the token page shows the token");
    let id = site.only_integration().await.id().to_string();
    let list = || async { site.get(ADMIN, "").await };

    // Not rotating: no mark, however busy the token.
    site.called(&first, 1).await;
    site.uses_written().await;
    assert!(!list().await.body.contains(MARK));

    // Rotating, the old token used at once: the window ends in 7 days, no mark.
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    site.called(&first, 1).await;
    site.uses_written().await;
    let shown = list().await;
    shown.assert_shows(ROTATING);
    assert!(!shown.body.contains(MARK));

    // 5 days on, used again: the window ends in 48 hours, still no mark.
    site.clock.advance(time::Duration::days(5));
    site.called(&first, 1).await;
    site.uses_written().await;
    assert!(!list().await.body.contains(MARK));

    // 7 hours later, the window ends in 41 hours and the old token was used 7 hours ago.
    site.clock.advance(time::Duration::hours(7));
    let shown = list().await;
    shown.assert_shows(
        "<span class=\"pi-badge pi-badge-warning\">Rotating</span>\
         <span class=\"pi-badge pi-badge-danger pi-badge-long\">Old token still in use</span>",
    );
    shown.assert_shows(
        "<span class=\"pi-hint\">Old token last used <time datetime=\"2026-03-06T09:00:00Z\" \
         title=\"March 6, 2026 at 09:00 UTC\">7 hours ago</time></span>",
    );

    // 18 hours later, unused for 25 hours: no mark, though the window ends in 23 hours.
    site.clock.advance(time::Duration::hours(18));
    let shown = list().await;
    shown.assert_shows(ROTATING);
    assert!(!shown.body.contains(MARK));
    // Used again: marked again.
    site.called(&first, 1).await;
    site.uses_written().await;
    list().await.assert_shows(MARK);

    // The window over: neither rotating nor marked.
    site.clock.advance(time::Duration::days(1));
    let shown = list().await;
    assert!(!shown.body.contains(ROTATING) && !shown.body.contains(MARK));
    site.pi.shutdown().await;
}

/// Memory storage whose use counts cannot be read (a database failing that one query);
/// everything else works.
#[derive(Debug, Clone)]
struct CountsUnreadable(MemoryStorage);

#[async_trait::async_trait]
impl storage::Storage for CountsUnreadable {
    async fn insert(
        &self,
        record: &storage::IntegrationRecord,
        change: storage::Change<'_>,
    ) -> Result<(), StorageError> {
        self.0.insert(record, change).await
    }
    async fn update(
        &self,
        record: &storage::IntegrationRecord,
        expected_version: u64,
        change: storage::Change<'_>,
    ) -> Result<(), StorageError> {
        self.0.update(record, expected_version, change).await
    }
    async fn delete(
        &self,
        account: &AccountId,
        id: &IntegrationId,
        expected_version: u64,
        change: storage::Change<'_>,
    ) -> Result<(), StorageError> {
        self.0.delete(account, id, expected_version, change).await
    }
    async fn get(
        &self,
        account: &AccountId,
        id: &IntegrationId,
    ) -> Result<Option<storage::IntegrationRecord>, StorageError> {
        self.0.get(account, id).await
    }
    async fn list(
        &self,
        account: &AccountId,
    ) -> Result<Vec<storage::IntegrationRecord>, StorageError> {
        self.0.list(account).await
    }
    fn find_by_token(&self, token_id: &TokenId) -> storage::TokenLookup<'_> {
        self.0.find_by_token(token_id)
    }
    async fn access(
        &self,
        account: &AccountId,
        user: &UserId,
    ) -> Result<storage::AccessSettings, StorageError> {
        self.0.access(account, user).await
    }
    async fn set_permission(
        &self,
        account: &AccountId,
        user: &UserId,
        permission: Permission,
        change: storage::Change<'_>,
    ) -> Result<(), StorageError> {
        self.0
            .set_permission(account, user, permission, change)
            .await
    }
    async fn set_feature_enabled(
        &self,
        account: &AccountId,
        enabled: bool,
        change: storage::Change<'_>,
    ) -> Result<(), StorageError> {
        self.0.set_feature_enabled(account, enabled, change).await
    }
    async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
        self.0.audit_log(account).await
    }
    async fn rotating_integrations(
        &self,
        now: time::OffsetDateTime,
        after: Option<(time::OffsetDateTime, &IntegrationId)>,
        limit: usize,
    ) -> Result<Vec<storage::IntegrationRecord>, StorageError> {
        self.0.rotating_integrations(now, after, limit).await
    }
    async fn idempotency_record(
        &self,
        account: &AccountId,
        user: &UserId,
        key: &storage::IdempotencyKey,
    ) -> Result<Option<storage::IdempotencyRecord>, StorageError> {
        self.0.idempotency_record(account, user, key).await
    }
    async fn remove_idempotency_records(
        &self,
        made_before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        self.0.remove_idempotency_records(made_before, limit).await
    }
    async fn remove_audit_events(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StorageError> {
        self.0.remove_audit_events(before, limit).await
    }
    async fn audit_log_page(
        &self,
        account: &AccountId,
        query: &storage::AuditLogQuery,
    ) -> Result<storage::Page<AuditEvent>, StorageError> {
        self.0.audit_log_page(account, query).await
    }
    async fn record_last_used(&self, uses: &[storage::LastUse]) -> Result<(), StorageError> {
        self.0.record_last_used(uses).await
    }
    async fn record_token_uses(&self, uses: &[storage::TokenUses]) -> Result<(), StorageError> {
        self.0.record_token_uses(uses).await
    }
    async fn token_uses(
        &self,
        _: &AccountId,
        _: &IntegrationId,
        _: time::OffsetDateTime,
    ) -> Result<Vec<storage::TokenUses>, StorageError> {
        Err(StorageError::backend(std::io::Error::other(
            "the counts' table is unreachable",
        )))
    }
}

/// Counts that cannot be read do not break the page: the rest shows, the chart's place
/// says so, and the banner says when the old token was last used, without a count.
#[tokio::test(start_paused = true)]
async fn the_page_shows_without_the_uses_when_they_cannot_be_read() {
    let clock = ManualClock::new(support::T0);
    let pi = PrivateIntegrations::builder(CountsUnreadable(MemoryStorage::new()))
        .scope_catalog(app::catalog())
        .clock(clock.clone())
        .build();
    let site = Site {
        app: app::app(pi.clone()),
        pi,
        clock,
    };
    let first = token_in(
        &site
            .create("Zapier sync", "", &["contacts.readonly"])
            .await
            .body,
    )
    .expect("the token page shows the token");
    let id = site.only_integration().await.id().to_string();
    site.post(ADMIN, &format!("/{id}/rotate/later"), &[]).await;
    site.called(&first, 2).await;
    site.uses_written().await;
    site.clock.advance(time::Duration::minutes(3));

    let page = site.get(ADMIN, &format!("/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_shows("Uses cannot be shown right now. Reload the page to try again.");
    page.assert_shows("Token rotation in progress");
    page.assert_shows(
        "<p>The old token was last used <time datetime=\"2026-03-01T09:00:00Z\" \
         title=\"March 1, 2026 at 09:00 UTC\">3 minutes ago</time>.</p>",
    );
    page.assert_shows("Rotate and expire this token now");
    assert!(!page.body.contains("<svg"));
    assert!(usage_rows(&page.body).is_empty());
    site.pi.shutdown().await;
}
