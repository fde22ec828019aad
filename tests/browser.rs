//! The settings page in a real browser: headless Chromium, driven through chromedriver,
//! against the example server (`examples/server/app.rs`) on 127.0.0.1.
//!
//! One browser walks, in order:
//! 1. the help article's whole story as a person clicks it: log in, "Create new
//!    Integration", name and description, "Next", scopes, "Create", copy the token with the
//!    copy button, call the protected API with it; "Edit" from the three-dot menu;
//!    "Rotate and expire this token later", "Continue", "Cancel rotation"; again, then
//!    "Expire now"; "Rotate and expire this token now"; a colleague's integration in its
//!    rotation window on the list; a member who may not, then may, manage; the feature switched off in Labs; the
//!    reminder once a token is due; the audit log; "Delete" from the three-dot menu; an
//!    integration named like an attack;
//! 2. the create flow with the keyboard alone;
//! 3. a form sent twice (a reload of the token screen, a double click, Back then
//!    Forward): nothing done again, no token shown again;
//! 4. an integration in its rotation window whose old token is still called: the chart of
//!    its uses, the banner's "last used", the list's mark, on a laptop and a phone;
//! 5. axe-core on every screen: no serious or critical violation.
//!
//! Screenshots of the main screens go to `target/screenshots/`, or to `docs/` with
//! `UPDATE_SCREENSHOTS=1`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`, and the npm package
//! `axe-core` (found through `AXE_CORE_JS`, or in `target/axe-core/`, where this test
//! installs it with npm when missing). Without Chromium the test says why and passes;
//! under `CI=true` that is a failure.
#![cfg(feature = "admin-ui")]

#[path = "../examples/server/app.rs"]
mod app;
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use private_integrations::*;
use serde_json::{Value, json};

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_NAME: &str = "\"><img src=x onerror=alert(1)>";

// ---------------------------------------------------------------------------------------
// The browser, the server, and what a person does with them.
// ---------------------------------------------------------------------------------------

/// chromedriver, ended when the test ends (it ends its Chromium).
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    /// Ends chromedriver and, if the test failed before closing its session, the Chromium
    /// processes it started: those whose command line names this test's own profile
    /// directory (a unique path), by process id.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let marker = format!("--user-data-dir={}", self.profile.display());
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let ours = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg.starts_with(marker.as_bytes()));
            if ours {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/lib/chromium".into());
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| path.is_file())
}

/// Starts chromedriver on a port of its choosing (`--port=0`; it prints the port).
fn start_driver() -> Option<(Driver, u16, PathBuf)> {
    let chromedriver = find_program(&["chromedriver"])?;
    let chromium = Path::new("/usr/lib/chromium/chromium")
        .is_file()
        .then(|| PathBuf::from("/usr/lib/chromium/chromium"))
        .or_else(|| find_program(&["chromium", "chromium-browser", "google-chrome"]))?;
    let mut child = Command::new(chromedriver)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().expect("chromedriver's stdout");
    let mut port = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("chromedriver's output");
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            port = rest.trim_end_matches('.').parse().ok();
            break;
        }
    }
    let profile = std::env::temp_dir().join(format!("pi-browser-{}", support::unique_name()));
    let driver = Driver { child, profile };
    Some((driver, port.expect("chromedriver said its port"), chromium))
}

/// A Chromium session; `javascript: false` switches the page's scripts off (the browser's
/// content setting, as a person would).
async fn connect(port: u16, chromium: &Path, profile: &Path, javascript: bool) -> Client {
    let mut caps = Capabilities::new();
    let prefs = if javascript {
        json!({})
    } else {
        json!({ "profile.managed_default_content_settings.javascript": 2 })
    };
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "prefs": prefs,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

/// The WebDriver permissions extension: grant the page a permission (the clipboard).
#[derive(Debug)]
struct SetPermission(&'static str);

impl WebDriverCompatibleCommand for SetPermission {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/permissions",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"descriptor": {"name": self.0}, "state": "granted"});
        (Method::POST, Some(body.to_string()))
    }
}

/// chromedriver's `goog/cdp/execute`: one Chrome DevTools Protocol command (here, the
/// device metrics: a phone's screen, or a laptop's).
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"cmd": self.0, "params": self.1});
        (Method::POST, Some(body.to_string()))
    }
}

/// A screen the browser shows the page on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    /// 1280×800.
    Laptop,
    /// 390×844, a phone: its viewport, touch, and `<meta name="viewport">` honoured.
    Phone,
}

impl Screen {
    fn width(self) -> u64 {
        match self {
            Screen::Laptop => 1280,
            Screen::Phone => 390,
        }
    }
}

/// The example server on 127.0.0.1, on a manual clock.
struct Server {
    base: String,
    pi: PrivateIntegrations,
    /// The service's storage, to write use counts of days gone by.
    storage: MemoryStorage,
    clock: ManualClock,
    posts: Arc<Posts>,
    http: hyper_util::client::legacy::Client<HttpConnector, Body>,
}

/// Every POST the browser sent, in the order the server answered them (a layer around
/// the example's router), and a way to keep the browser waiting for an answer.
#[derive(Default)]
struct Posts {
    answered: Mutex<Vec<Post>>,
    /// The next POST is answered (its handler has run) but its answer is held until
    /// another POST has been answered, 10 s at most: a slow server, for a double click.
    hold_next: AtomicBool,
}

/// A POST as the server got it: its path and its form's one-time key (`once`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Post {
    path: String,
    once: Option<String>,
}

impl Posts {
    fn count(&self) -> usize {
        self.answered.lock().unwrap().len()
    }

    /// The POSTs answered after the first `count`.
    fn since(&self, count: usize) -> Vec<Post> {
        self.answered.lock().unwrap()[count..].to_vec()
    }

    async fn record(
        self: Arc<Self>,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        if request.method() != Method::POST {
            return next.run(request).await;
        }
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let once = url::form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "once")
            .map(|(_, value)| value.into_owned());
        let path = parts.uri.path().to_owned();
        let hold = self.hold_next.swap(false, Ordering::SeqCst);
        let response = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
        let answered = {
            let mut all = self.answered.lock().unwrap();
            all.push(Post { path, once });
            all.len()
        };
        if hold {
            for _ in 0..400 {
                if self.count() > answered {
                    break;
                }
                tokio::time::sleep(StdDuration::from_millis(25)).await;
            }
        }
        response
    }
}

impl Server {
    async fn start() -> Server {
        let clock = ManualClock::new(support::T0);
        let storage = MemoryStorage::new();
        let pi = PrivateIntegrations::builder(storage.clone())
            .scope_catalog(app::catalog())
            .clock(clock.clone())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let posts = Arc::new(Posts::default());
        let recorder = posts.clone();
        let app = app::app(pi.clone()).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                recorder.clone().record(request, next)
            },
        ));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            base,
            pi,
            storage,
            clock,
            posts,
            http: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// What the third party's call to the protected API gets.
    async fn call_api(&self, method: Method, token: &str) -> StatusCode {
        let body = if method == Method::POST {
            r#"{"name":"Ada"}"#
        } else {
            ""
        };
        let request = Request::builder()
            .method(method)
            .uri(format!("{}/v1/contacts", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.http.request(request).await.unwrap().status()
    }

    async fn works(&self, token: &str) -> bool {
        self.call_api(Method::GET, token).await == StatusCode::OK
    }

    /// The integrations of acct_1 named `name`.
    async fn named(&self, name: &str) -> Vec<Integration> {
        let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
        let all = self.pi.list(&admin).await.unwrap();
        all.into_iter().filter(|i| i.name() == name).collect()
    }

    /// The only integration named `name`.
    async fn only(&self, name: &str) -> Integration {
        let named = self.named(name).await;
        assert_eq!(named.len(), 1, "exactly one integration named {name:?}");
        named.into_iter().next().unwrap()
    }

    /// How many tokens the integration was issued (its creation and each rotation), by
    /// the audit log.
    async fn issued(&self, integration: &Integration) -> usize {
        let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
        let events = self.pi.audit_log(&admin).await.unwrap();
        events
            .iter()
            .filter(|e| e.integration.as_ref() == Some(integration.id()))
            .filter(|e| matches!(e.action, AuditAction::Created | AuditAction::Rotated { .. }))
            .count()
    }

    async fn works_with_scope(&self, token: &str, scope: &str) -> bool {
        self.pi
            .verify(token)
            .await
            .is_ok_and(|v| v.has_scope(scope))
    }
}

/// A person at the browser.
struct Person<'a> {
    client: Client,
    server: &'a Server,
    screenshots: PathBuf,
    axe: Option<String>,
    /// Every screen checked with axe, and its serious or critical violations.
    audited: Vec<(String, Vec<String>)>,
}

impl Person<'_> {
    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.server.base))
            .await
            .unwrap();
    }

    async fn log_in(&self, user: &str, role: &str) {
        self.log_in_to("acct_1", user, role).await;
    }

    async fn log_in_to(&self, account: &str, user: &str, role: &str) {
        self.client.delete_all_cookies().await.unwrap();
        self.open("/login").await;
        self.type_into("account", account).await;
        let user_select = self.client.find(Locator::Id("user")).await.unwrap();
        user_select.select_by_value(user).await.unwrap();
        let role_select = self.client.find(Locator::Id("role")).await.unwrap();
        role_select.select_by_value(role).await.unwrap();
        self.go("Log in").await;
        self.sees("Private Integrations").await;
    }

    /// Finds (10 s at most) the button, or link styled as one, with exactly this text.
    async fn button(&self, text: &str) -> fantoccini::elements::Element {
        let xpath =
            format!("//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']");
        self.client
            .wait()
            .at_most(StdDuration::from_secs(10))
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no {text:?} to click: {e}"))
    }

    /// Clicks a button that does not leave the page ("Copy").
    async fn click_button(&self, text: &str) {
        self.button(text).await.click().await.unwrap();
    }

    /// Clicks a button or link that leads to another page, and waits for that page.
    async fn go(&self, text: &str) {
        let element = self.button(text).await;
        self.navigates(element.click()).await;
    }

    /// Runs `click` (which leaves the page), then waits (10 s at most) until the next page
    /// has loaded: the page now shown is marked, and the wait ends on a page without the
    /// mark. WebDriver's click may return before a form's response has arrived.
    async fn navigates<F>(&self, click: F)
    where
        F: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        self.client
            .execute("window.__piLeaving = true;", vec![])
            .await
            .unwrap();
        click.await.unwrap();
        self.arrives().await;
    }

    /// Waits (10 s at most) for the page after the one marked by `navigates` or
    /// `moves_through_history`.
    async fn arrives(&self) {
        let arrived = "return document.readyState === 'complete' && !window.__piLeaving;";
        for _ in 0..400 {
            if let Ok(Value::Bool(true)) = self.client.execute(arrived, vec![]).await {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        panic!("the next page did not load");
    }

    /// Reload, Back or Forward, as the browser's own buttons; a prompt the browser shows
    /// ("Confirm Form Resubmission") is accepted, as a person in a hurry would. Waits for
    /// the page then shown. (Chromium 156 under chromedriver shows none: a reload sends
    /// the form again at once; Back and Forward show its "Confirm Form Resubmission" page.)
    async fn moves_through_history(&self, how: History) {
        self.client
            .execute("window.__piLeaving = true;", vec![])
            .await
            .unwrap();
        let moved = match how {
            History::Reload => self.client.refresh().await,
            History::Back => self.client.back().await,
            History::Forward => self.client.forward().await,
        };
        let prompt = self.client.get_alert_text().await.ok();
        match &prompt {
            Some(text) => {
                eprintln!("{how:?}: the browser asked {text:?}; accepted");
                self.client.accept_alert().await.unwrap();
            }
            None => moved.unwrap(),
        }
        self.arrives().await;
    }

    /// Clicks the button `text` twice, the second time while the browser still waits for
    /// the server's answer to the first (which the server holds until the second is
    /// answered), and waits for the page shown then.
    ///
    /// chromedriver runs no command in a window whose page is loading (and waits for a
    /// page a script of its own starts to load), so both clicks are set off from a second
    /// tab: it writes to the origin's `localStorage`, and the page, listening, clicks.
    async fn clicks_twice(&self, text: &str) {
        let posts = &self.server.posts;
        let before = posts.count();
        posts.hold_next.store(true, Ordering::SeqCst);
        let listen = format!(
            "window.__piLeaving = true;
             const b = [...document.querySelectorAll('button')]
               .find(b => b.innerText.trim() === {text:?});
             if (!b) throw new Error('no button ' + {text:?});
             window.addEventListener('storage', e => {{
               if (e.key === 'pi-click') b.click();
             }});"
        );
        self.client.execute(&listen, vec![]).await.unwrap();
        let page = self.client.window().await.unwrap();
        let other = self.client.new_window(true).await.unwrap().handle;
        self.client.switch_to_window(other).await.unwrap();
        self.open("/settings/private-integrations").await;
        let click = "localStorage.setItem('pi-click', String(performance.now()) + Math.random());";
        self.client.execute(click, vec![]).await.unwrap();
        for _ in 0..400 {
            if posts.count() > before {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        assert_eq!(
            posts.count(),
            before + 1,
            "the first click reached the server"
        );
        self.client.execute(click, vec![]).await.unwrap();
        self.client.close_window().await.unwrap();
        self.client.switch_to_window(page).await.unwrap();
        self.arrives().await;
    }

    /// Clicks `text`, which sends a form, and waits for the answer; the form's one-time
    /// key, as the server got it.
    async fn sends(&self, text: &str) -> String {
        let mark = self.server.posts.count();
        self.go(text).await;
        let sent = self.server.posts.since(mark);
        assert_eq!(sent.len(), 1, "{text:?} sent one form: {sent:?}");
        sent[0]
            .once
            .clone()
            .unwrap_or_else(|| panic!("the form of {text:?} carries a one-time key"))
    }

    /// Reloads the page shown, the answer to a form: the browser sends that very form
    /// again, one-time key and all.
    async fn reloads_the_answer(&self, key: &str) {
        let mark = self.server.posts.count();
        self.moves_through_history(History::Reload).await;
        let sent = self.server.posts.since(mark);
        assert_eq!(sent.len(), 1, "the reload sent the form again: {sent:?}");
        assert_eq!(sent[0].once.as_deref(), Some(key), "with its one-time key");
    }

    /// The page says the form was already sent and did nothing, shows no token, and, for
    /// a create or a rotation, says the token was shown once and offers to rotate now.
    async fn sees_already_sent(&self, token_issued: bool) {
        self.sees("This form was already sent, and nothing was done again.")
            .await;
        let status = self
            .client
            .find_all(Locator::XPath(
                "//*[@role='status'][starts-with(normalize-space(), \
                 'This form was already sent, and nothing was done again.')]",
            ))
            .await
            .unwrap();
        assert_eq!(status.len(), 1, "said in a role=\"status\" element");
        let tokens = self.client.find_all(Locator::Id("pi-token")).await.unwrap();
        assert!(tokens.is_empty(), "no token the second time");
        if token_issued {
            self.sees("Its token was shown once, then, and cannot be shown again.")
                .await;
            let rotate_now = self.button("Rotate and expire this token now").await;
            assert_eq!(rotate_now.tag_name().await.unwrap(), "a");
            let href = rotate_now.attr("href").await.unwrap().unwrap_or_default();
            assert!(href.ends_with("/rotate/now"), "{href}");
        }
    }

    /// Opens the three-dot menu of `name` and picks `item`.
    async fn menu(&self, name: &str, item: &str) {
        let summary = format!("//summary[@aria-label='Actions for {name}']");
        let summary = self
            .client
            .wait()
            .at_most(StdDuration::from_secs(10))
            .for_element(Locator::XPath(&summary))
            .await
            .unwrap();
        summary.click().await.unwrap();
        let link = format!("//details[@open]//a[normalize-space()='{item}']");
        let link = self.client.find(Locator::XPath(&link)).await.unwrap();
        self.navigates(link.click()).await;
    }

    async fn type_into(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        if !text.is_empty() {
            field.send_keys(text).await.unwrap();
        }
    }

    async fn tick(&self, label: &str) {
        let xpath = format!("//label[normalize-space()='{label}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The text of the page now shown (read by a script, so a navigation under way gives
    /// an error, not a stale element).
    async fn text(&self) -> Option<String> {
        let text = "return document.readyState === 'complete' ? document.body.innerText : null;";
        let value = self.client.execute(text, vec![]).await.ok()?;
        value.as_str().map(str::to_owned)
    }

    /// Waits (10 s at most) until the page shows `text`: a click that submits a form
    /// returns before the next page is there.
    async fn sees(&self, text: &str) {
        let mut last = None;
        for _ in 0..400 {
            if let Some(body) = self.text().await {
                if body.contains(text) {
                    return;
                }
                last = Some(body);
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        panic!(
            "the page does not show {text:?}:\n{}",
            last.unwrap_or_default()
        );
    }

    /// Waits (10 s at most) until the page's heading is `title`.
    async fn heading_is(&self, title: &str) {
        let script = "return document.readyState === 'complete' && document.querySelector('h1')
                        ? document.querySelector('h1').innerText : null;";
        let mut last = String::new();
        for _ in 0..400 {
            if let Ok(value) = self.client.execute(script, vec![]).await {
                last = value.as_str().unwrap_or_default().to_owned();
                if last == title {
                    return;
                }
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        panic!("the heading is {last:?}, not {title:?}");
    }

    /// The token on the token page.
    async fn token_shown(&self) -> String {
        let field = self.client.find(Locator::Id("pi-token")).await.unwrap();
        field.prop("value").await.unwrap().expect("a token")
    }

    /// Clicks "Copy" and reads what the clipboard got.
    async fn copy_token(&self) -> String {
        self.click_button("Copy").await;
        self.client
            .wait()
            .at_most(StdDuration::from_secs(10))
            .for_element(Locator::XPath(
                "//p[@id='pi-copied'][contains(., 'copied')]",
            ))
            .await
            .expect("the page says the token was copied");
        self.clipboard().await
    }

    async fn clipboard(&self) -> String {
        let read = "const done = arguments[arguments.length - 1];
                    navigator.clipboard.readText().then(done, e => done('error: ' + e));";
        let value = self.client.execute_async(read, vec![]).await.unwrap();
        value.as_str().unwrap_or_default().to_owned()
    }

    async fn no_alert(&self) {
        assert!(
            self.client.get_alert_text().await.is_err(),
            "a script the page shows ran"
        );
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&self.screenshots).unwrap();
        std::fs::write(self.screenshots.join(format!("settings-{name}.png")), png).unwrap();
    }

    /// axe-core on the screen now shown; its serious and critical violations kept.
    ///
    /// A contrast axe measured but could not be sure of (an "incomplete" result, e.g. text
    /// the same colour as its background: axe suspects hidden text) counts as serious too.
    async fn audit(&mut self, screen: &str) {
        let Some(axe) = &self.axe else { return };
        self.client.execute(axe, vec![]).await.unwrap();
        let run = "const done = arguments[arguments.length - 1];
            const brief = v => ({ id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.any.map(a => a.message).join(' ')) });
            axe.run(document).then(r => done({
                violations: r.violations.map(brief),
                contrast: r.incomplete.filter(v => v.id === 'color-contrast').map(brief),
              }),
              e => done({ violations: [{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }],
                          contrast: [] }));";
        let result = self.client.execute_async(run, vec![]).await.unwrap();
        let mut bad = Vec::new();
        for v in result["violations"].as_array().cloned().unwrap_or_default() {
            let impact = v["impact"].as_str().unwrap_or("");
            let line = format!("{impact} {}: {} {}", v["id"], v["help"], v["nodes"]);
            if matches!(impact, "serious" | "critical") {
                bad.push(line);
            } else {
                eprintln!("axe ({screen}), {line}");
            }
        }
        for v in result["contrast"].as_array().cloned().unwrap_or_default() {
            for node in v["nodes"].as_array().cloned().unwrap_or_default() {
                let node = node.as_str().unwrap_or_default();
                if node.contains("contrast ratio") {
                    bad.push(format!("serious (unsure) color-contrast: {node}"));
                }
            }
        }
        self.audited.push((screen.to_owned(), bad));
    }

    /// Shows the page as on `screen` (the browser's device metrics), or, with `None`, as
    /// the window is again (1280×1000).
    async fn on(&self, screen: Option<Screen>) {
        let (cmd, params) = match screen {
            Some(screen) => (
                "Emulation.setDeviceMetricsOverride",
                json!({
                    "width": screen.width(),
                    "height": if screen == Screen::Phone { 844 } else { 800 },
                    "deviceScaleFactor": 1,
                    "mobile": screen == Screen::Phone,
                }),
            ),
            None => ("Emulation.clearDeviceMetricsOverride", json!({})),
        };
        self.client.issue_cmd(Cdp(cmd, params)).await.unwrap();
    }

    /// The page now shown fits `screen`: the document is no wider than the viewport, the
    /// viewport is the screen's width at scale 1 (so nothing was zoomed out to fit), and
    /// the text is the stylesheet's size.
    async fn fits(&self, screen: Screen, what: &str) {
        let measure = "return {
            scroll: document.documentElement.scrollWidth,
            inner: window.innerWidth,
            scale: window.visualViewport ? window.visualViewport.scale : 1,
            font: getComputedStyle(document.body).fontSize,
            wide: [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
              .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right),
          };";
        let m = self.client.execute(measure, vec![]).await.unwrap();
        let width = json!(screen.width());
        assert_eq!(
            m["inner"], width,
            "{what}: the viewport is the screen's: {m}"
        );
        assert!(
            m["scroll"].as_u64() <= m["inner"].as_u64(),
            "{what}: the document is wider than the screen: {m}"
        );
        assert_eq!(m["scale"], json!(1), "{what}: not zoomed: {m}");
        assert_eq!(m["font"], json!("15px"), "{what}: text at its size: {m}");
    }

    /// Each name link shown (or `selector`'s elements) breaks only between words: every
    /// letter of a word is on the same line.
    async fn names_wrap_at_words(&self, selector: &str) {
        let script = "const broken = [];
            for (const el of document.querySelectorAll(arguments[0])) {
              const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const text = node.textContent;
                const range = document.createRange();
                let top = null;
                for (let i = 0; i < text.length; i++) {
                  if (/\\s/.test(text[i])) { top = null; continue; }
                  range.setStart(node, i); range.setEnd(node, i + 1);
                  const y = range.getBoundingClientRect().top;
                  if (top !== null && Math.abs(y - top) > 1) { broken.push(text); break; }
                  top = y;
                }
              }
            }
            return broken;";
        let broken = self
            .client
            .execute(script, vec![json!(selector)])
            .await
            .unwrap();
        assert_eq!(broken, json!([]), "names broken inside a word");
    }

    /// Opens the three-dot menu of every row of the list now shown (or the one of an
    /// integration's page), and checks each: the menu is whole on the screen, "Delete" is what a click at its centre reaches,
    /// Escape closes it and gives the focus back to its button. Then clicks "Delete" of
    /// the last row through that point: its confirmation opens.
    async fn every_menu_opens_whole(&self, screen: Screen, rows: usize) {
        let summaries = self
            .client
            .find_all(Locator::Css("main details.pi-menu > summary"))
            .await
            .unwrap();
        assert_eq!(summaries.len(), rows, "{screen:?}: one menu a row");
        assert!(rows > 0);
        let probe = "const summary = document.querySelectorAll('main details.pi-menu > summary')[arguments[0]];
            const menu = summary.parentElement;
            if (!menu.open) return { open: false };
            const link = [...menu.querySelectorAll('a')].find(a => a.textContent.trim() === 'Delete');
            // As a person would: scroll until the menu is in sight.
            menu.querySelector('ul').scrollIntoView({ block: 'nearest' });
            const list = menu.querySelector('ul').getBoundingClientRect();
            const r = link.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const hit = document.elementFromPoint(x, y);
            return { open: true, x, y,
              whole: list.left >= -0.5 && list.top >= -0.5 && list.right <= innerWidth + 0.5
                && list.bottom <= innerHeight + 0.5,
              hits: hit === link || link.contains(hit),
              hit: hit ? hit.tagName + '.' + hit.className + ' ' + hit.textContent.trim().slice(0, 40) : null,
              scroll: document.documentElement.scrollWidth, inner: innerWidth,
              list: [list.left, list.top, list.right, list.bottom, innerHeight] };";
        for (i, summary) in summaries.iter().enumerate() {
            summary
                .clone()
                .click()
                .await
                .unwrap_or_else(|e| panic!("{screen:?}: the menu of row {i} opens: {e}"));
            let m = self.client.execute(probe, vec![json!(i)]).await.unwrap();
            assert_eq!(m["open"], json!(true), "{screen:?} row {i}: {m}");
            assert_eq!(
                m["whole"],
                json!(true),
                "{screen:?} row {i}: the menu is whole: {m}"
            );
            assert_eq!(
                m["hits"],
                json!(true),
                "{screen:?} row {i}: Delete is under the pointer: {m}"
            );
            assert!(
                m["scroll"].as_u64() <= m["inner"].as_u64(),
                "{screen:?} row {i}: {m}"
            );
            // Escape, from the menu's link: closed, the focus on its button.
            self.client
                .execute(
                    "document.querySelectorAll('main details.pi-menu[open] a')[1].focus();",
                    vec![],
                )
                .await
                .unwrap();
            let focused = self.client.active_element().await.unwrap();
            focused.send_keys(&Key::Escape.to_string()).await.unwrap();
            let after = "const summary = document.querySelectorAll('main details.pi-menu > summary')[arguments[0]];
                return { open: summary.parentElement.open, focus: document.activeElement === summary,
                         others: document.querySelectorAll('details.pi-menu[open]').length };";
            let a = self.client.execute(after, vec![json!(i)]).await.unwrap();
            assert_eq!(
                a,
                json!({"open": false, "focus": true, "others": 0}),
                "{screen:?} row {i}: Escape closes the menu, focus on its button"
            );
        }
        // The last row's "Delete", clicked where it is drawn.
        let last = summaries.last().unwrap().clone();
        let name = last.attr("aria-label").await.unwrap().unwrap_or_default();
        last.click().await.unwrap();
        let m = self
            .client
            .execute(probe, vec![json!(rows - 1)])
            .await
            .unwrap();
        let click = "document.elementFromPoint(arguments[0], arguments[1]).click();";
        let args = vec![m["x"].clone(), m["y"].clone()];
        self.navigates(async { self.client.execute(click, args).await.map(drop) })
            .await;
        self.sees("Every token of this Private Integration stops working at once")
            .await;
        let integration = name.trim_start_matches("Actions for ");
        self.sees(integration).await;
    }

    /// The page's text does not hold `token`.
    async fn does_not_show(&self, token: &str) {
        let text = self.text().await.unwrap_or_default();
        let source = self.client.source().await.unwrap();
        assert!(
            !text.contains(token) && !source.contains(token),
            "the page shows the token again"
        );
    }

    async fn current_path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        url.path().to_owned()
    }
}

/// axe-core's script: `AXE_CORE_JS`, or `target/axe-core/`, installed with npm if missing.
fn axe_source() -> Option<String> {
    if let Ok(path) = std::env::var("AXE_CORE_JS") {
        return Some(std::fs::read_to_string(path).expect("AXE_CORE_JS is readable"));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe-core");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if !script.is_file() {
        let _ = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&dir)
            .arg("axe-core@4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    std::fs::read_to_string(script).ok()
}

/// A move through the browser's history.
#[derive(Debug, Clone, Copy)]
enum History {
    Reload,
    Back,
    Forward,
}

// ---------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_in_a_real_browser() {
    let Some((driver, port, chromium)) = start_driver() else {
        assert!(
            !support::in_ci(),
            "CI=true: chromium and chromium-driver must be installed (.ci/run installs them)"
        );
        eprintln!("SKIPPED: no chromium/chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    let axe = axe_source();
    if axe.is_none() {
        assert!(
            !support::in_ci(),
            "CI=true: axe-core must be installed (.ci/run installs it)"
        );
        eprintln!(
            "axe-core not found (npm install axe-core): the accessibility checks are skipped"
        );
    }
    let server = Server::start().await;
    let client = connect(port, &chromium, &driver.profile, true).await;
    let screenshots = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
    };
    let mut person = Person {
        client,
        server: &server,
        screenshots,
        axe,
        audited: Vec::new(),
    };

    the_admins_story(&mut person).await;
    create_with_the_keyboard_alone(&mut person).await;
    a_form_sent_twice(&mut person).await;
    every_screen_on_a_phone(&mut person).await;
    menus_open_whole_everywhere(&mut person).await;
    uses_during_a_rotation(&mut person).await;

    let no_js = connect(port, &chromium, &driver.profile.join("no-js"), false).await;
    let mut without = Person {
        client: no_js,
        server: &server,
        screenshots: person.screenshots.clone(),
        axe: None,
        audited: Vec::new(),
    };
    with_javascript_off(&mut without).await;
    without.client.close().await.unwrap();

    let failures: Vec<String> = person
        .audited
        .iter()
        .filter(|(_, bad)| !bad.is_empty())
        .map(|(screen, bad)| format!("{screen}:\n  {}", bad.join("\n  ")))
        .collect();
    if person.axe.is_some() {
        eprintln!("axe-core checked {} screens", person.audited.len());
    }
    person.client.close().await.unwrap();
    drop(driver);
    assert!(
        failures.is_empty(),
        "axe-core found serious or critical violations:\n{}",
        failures.join("\n")
    );
}

async fn the_admins_story(p: &mut Person<'_>) {
    let server = p.server;
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));

    // Log in (the example's stand-in); no integration yet.
    p.open("/settings/private-integrations").await;
    assert_eq!(
        p.current_path().await,
        "/login",
        "the host's login comes first"
    );
    // The clipboard, for this origin (the WebDriver permissions extension).
    for permission in ["clipboard-read", "clipboard-write"] {
        p.client.issue_cmd(SetPermission(permission)).await.unwrap();
    }
    p.log_in("u_admin", "admin").await;
    p.sees("No Private Integrations yet").await;
    p.audit("the empty list").await;

    // Step 1: "Create new Integration". Step 2: name and description, "Next" (refused
    // without a name, then with one).
    p.go("Create new Integration").await;
    p.sees("Give a name and description to your Private Integration")
        .await;
    p.type_into("pi-name", "Zapier sync").await;
    p.type_into("pi-description", "Pushes new contacts to the CRM")
        .await;
    p.screenshot("create-details").await;
    p.audit("create: details").await;
    p.type_into("pi-name", "").await;
    p.go("Next").await;
    p.sees("The name must not be empty.").await;
    let description = p.client.find(Locator::Id("pi-description")).await.unwrap();
    assert_eq!(
        description.prop("value").await.unwrap().as_deref(),
        Some("Pushes new contacts to the CRM"),
        "the form kept as typed"
    );
    p.audit("create: details, refused").await;
    p.type_into("pi-name", "Zapier sync").await;
    p.go("Next").await;

    // Step 3: the scopes, with the host's labels and descriptions ("Create" refused
    // without one, then with one).
    p.sees("Make sure to select only the necessary scopes for better data security.")
        .await;
    p.sees("Read the account's contacts: names, emails and phone numbers.")
        .await;
    p.tick("View contacts").await;
    p.screenshot("create-scopes").await;
    p.audit("create: scopes").await;
    p.tick("View contacts").await;
    p.go("Create").await;
    p.sees("Select at least one scope.").await;
    p.audit("create: scopes, refused").await;
    p.tick("View contacts").await;
    p.go("Create").await;

    // Step 4: copy the token (shown once), with the article's warning.
    p.heading_is("Copy your token").await;
    p.sees("Make sure to share the token only with trusted parties. Do not share it publicly.")
        .await;
    p.sees("Note: Do not forget to copy the generated token, as you will not be able to do so again later.").await;
    let token = p.token_shown().await;
    let copied = p.copy_token().await;
    assert_eq!(
        copied, token,
        "the copy button puts the token on the clipboard"
    );
    p.screenshot("token").await;
    p.audit("the token").await;
    // The third party calls the API with it.
    assert_eq!(server.call_api(Method::GET, &copied).await, StatusCode::OK);
    assert_eq!(
        server.call_api(Method::POST, &copied).await,
        StatusCode::FORBIDDEN
    );

    // The integration's page; then "Edit" from the three-dot menu: details, "Next",
    // scopes, "Update". The token keeps working, with the new scope.
    p.go("Done").await;
    p.sees("Token issued").await;
    p.sees("March 1, 2026 at 09:00 UTC").await;
    p.audit("the integration").await;
    p.menu("Zapier sync", "Edit").await;
    p.type_into("pi-name", "Zapier sync (EU)").await;
    p.audit("edit: details").await;
    p.go("Next").await;
    p.sees("Note: Updating the Private Integration details does not generate a new token. The existing token will continue to work.").await;
    p.tick("Edit contacts").await;
    p.audit("edit: scopes").await;
    p.go("Update").await;
    p.sees("Private Integration updated.").await;
    p.heading_is("Zapier sync (EU)").await;
    assert_eq!(
        server.call_api(Method::POST, &token).await,
        StatusCode::CREATED
    );

    // "Rotate and expire this token later": the warning, "Continue", the new token, and
    // the 7-day window with its exact end.
    p.go("Rotate and expire this token later").await;
    p.sees("You will have a 7-day window where both the old and new tokens will continue to work.")
        .await;
    p.screenshot("rotate-warning").await;
    p.audit("rotate later: warning").await;
    p.go("Continue").await;
    p.heading_is("Copy the new token").await;
    p.sees("After 7 days, the old token will expire: on March 8, 2026 at 09:00 UTC.")
        .await;
    p.sees("Note: Don't forget to copy the generated token, as you won't be able to do it again later.").await;
    p.audit("the new token").await;
    let new = p.copy_token().await;
    assert!(
        server.works(&token).await && server.works(&new).await,
        "both work in the window"
    );
    p.go("Done").await;
    p.sees("Token rotation in progress").await;
    p.sees("Both the old and the new token work until March 8, 2026 at 09:00 UTC.")
        .await;
    p.screenshot("rotation-window").await;
    p.audit("the integration, rotating").await;

    // "Cancel rotation": the new token stops, the old one keeps working.
    p.go("Cancel rotation").await;
    p.sees("Rotation cancelled.").await;
    assert!(server.works(&token).await);
    assert!(!server.works(&new).await);

    // Again, then "Expire now": the old token stops, the new one stays.
    p.go("Rotate and expire this token later").await;
    p.go("Continue").await;
    let newer = p.token_shown().await;
    p.go("Done").await;
    p.go("Expire now").await;
    p.sees("The old token has expired.").await;
    assert!(!server.works(&token).await);
    assert!(server.works(&newer).await);

    // "Rotate and expire this token now": every older token stops at once.
    p.go("Rotate and expire this token now").await;
    p.sees("the current token will stop working immediately")
        .await;
    p.audit("rotate now: warning").await;
    p.go("Continue").await;
    let newest = p.token_shown().await;
    p.sees("The old token has stopped working.").await;
    assert!(!server.works(&newer).await);
    assert!(server.works(&newest).await);
    p.go("Done").await;

    // A colleague's integration, made through the admin API, in its rotation window.
    let ann = Actor::admin(AccountId::new("acct_1"), UserId::new("u_ann"));
    let export = NewIntegration::new("Nightly CRM export")
        .description("Copies contacts to the data warehouse every night")
        .scopes(["contacts.readonly"]);
    let export = server.pi.create(&ann, export).await.unwrap().integration;
    server
        .pi
        .rotate(&ann, export.id(), RotationMode::ExpireLater)
        .await
        .unwrap();
    p.open("/settings/private-integrations").await;
    p.sees("Nightly CRM export").await;
    p.sees("Old token expires March 8, 2026 at 09:00 UTC").await;
    p.screenshot("list").await;
    p.audit("the list").await;
    p.on(Some(Screen::Phone)).await;
    p.fits(Screen::Phone, "the list").await;
    p.names_wrap_at_words("td.pi-name a, td.pi-name .pi-hint")
        .await;
    p.screenshot("list-phone").await;
    p.on(None).await;

    // A member may not manage integrations until an admin allows it.
    p.log_in("u_bob", "member").await;
    p.sees("You don't have permission to manage Private Integrations.")
        .await;
    p.audit("no permission").await;
    p.log_in("u_admin", "admin").await;
    p.go("Team permissions").await;
    p.sees("Bob Member").await;
    p.sees("Cannot manage (member)").await;
    let bob = p
        .client
        .find(Locator::XPath(
            "//select[@id=//label[normalize-space()='Permission of Bob Member']/@for]",
        ))
        .await
        .unwrap();
    bob.select_by_value("allow").await.unwrap();
    let save = p.client.find(Locator::XPath("//tr[.//label[normalize-space()='Permission of Bob Member']]//button[normalize-space()='Save']")).await.unwrap();
    p.navigates(save.click()).await;
    p.sees("Permission saved.").await;
    p.screenshot("team").await;
    p.audit("team permissions").await;
    p.log_in("u_bob", "member").await;
    p.sees("Zapier sync (EU)").await;
    p.sees("Create new Integration").await;
    let tabs = p
        .client
        .find(Locator::Css("nav.pi-tabs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !tabs.contains("Team permissions") && !tabs.contains("Labs"),
        "{tabs}"
    );

    // Labs: the feature switched off, for everyone; tokens keep working.
    p.log_in("u_admin", "admin").await;
    p.go("Labs").await;
    p.go("Switch off").await;
    p.sees("Private Integrations are switched off.").await;
    p.screenshot("labs").await;
    p.audit("labs").await;
    p.log_in("u_bob", "member").await;
    p.sees("Private Integrations are switched off for this account.")
        .await;
    assert!(server.works(&newest).await);
    p.log_in("u_admin", "admin").await;
    p.go("Labs").await;
    p.go("Switch on").await;
    p.sees("Private Integrations are switched on.").await;

    // 91 days on, the token is due for rotation.
    server.clock.advance(time::Duration::days(91));
    p.open("/settings/private-integrations").await;
    p.sees("Rotation due").await;
    p.go("Zapier sync (EU)").await;
    p.sees("This token is due for rotation.").await;
    p.screenshot("integration").await;
    p.audit("the integration, due").await;
    p.on(Some(Screen::Phone)).await;
    p.fits(Screen::Phone, "the integration").await;
    p.screenshot("integration-phone").await;
    p.on(None).await;

    // The audit log: every step above, newest first.
    p.go("Audit log").await;
    p.sees("set Bob Member's Private Integrations permission: allowed")
        .await;
    p.sees("cancelled the rotation").await;
    p.screenshot("audit-log").await;
    p.audit("the audit log").await;
    p.on(Some(Screen::Phone)).await;
    p.fits(Screen::Phone, "the audit log").await;
    p.names_wrap_at_words("td a.pi-name").await;
    p.screenshot("audit-log-phone").await;
    p.on(None).await;

    // "Delete" from the three-dot menu, behind a confirmation.
    p.open("/settings/private-integrations").await;
    p.menu("Zapier sync (EU)", "Delete").await;
    p.sees("Every token of this Private Integration stops working at once")
        .await;
    p.audit("delete: confirmation").await;
    p.go("Delete").await;
    p.sees("Private Integration deleted.").await;
    assert!(!server.works(&newest).await);
    p.go("Audit log").await;
    p.sees("deleted the integration").await;
    p.sees("Deleted").await;
    let events = server.pi.audit_log(&admin).await.unwrap();
    assert!(events.len() >= 12, "{events:?}");

    // Names typed as attacks show as typed and run nothing.
    p.open("/settings/private-integrations/new").await;
    p.type_into("pi-name", SCRIPT_NAME).await;
    p.type_into("pi-description", IMG_NAME).await;
    p.go("Next").await;
    p.no_alert().await;
    p.tick("View contacts").await;
    p.go("Create").await;
    p.no_alert().await;
    p.go("Done").await;
    p.heading_is(SCRIPT_NAME).await;
    p.sees(IMG_NAME).await;
    p.no_alert().await;
    p.open("/settings/private-integrations").await;
    p.no_alert().await;
    let link = p.client.find(Locator::LinkText(SCRIPT_NAME)).await.unwrap();
    assert_eq!(link.text().await.unwrap(), SCRIPT_NAME);
    let images = p.client.find_all(Locator::Css("img")).await.unwrap();
    assert!(images.is_empty(), "no <img> came from what was typed");
    p.audit("the list, with names typed as attacks").await;
    p.go("Audit log").await;
    p.no_alert().await;
    assert!(
        p.client
            .find_all(Locator::Css("img"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// "Create new Integration" with the keyboard alone: Tab, type, Enter, Space.
async fn create_with_the_keyboard_alone(p: &mut Person<'_>) {
    p.open("/settings/private-integrations").await;
    let press = |key: Key| {
        let client = p.client.clone();
        async move {
            let focused = client.active_element().await.unwrap();
            focused.send_keys(&key.to_string()).await.unwrap();
        }
    };
    let focused_text = || {
        let client = p.client.clone();
        async move {
            let focused = client.active_element().await.unwrap();
            focused.text().await.unwrap_or_default()
        }
    };
    let mut tabs = 0;
    while focused_text().await.trim() != "Create new Integration" {
        press(Key::Tab).await;
        tabs += 1;
        assert!(tabs < 30, "Tab never reaches \"Create new Integration\"");
    }
    press(Key::Enter).await;
    // The name has the focus; Tab to the description, Tab to "Next", Enter.
    p.client
        .wait()
        .for_element(Locator::Id("pi-name"))
        .await
        .unwrap();
    p.client
        .active_element()
        .await
        .unwrap()
        .send_keys("Keyboard sync")
        .await
        .unwrap();
    press(Key::Tab).await;
    p.client
        .active_element()
        .await
        .unwrap()
        .send_keys("Typed without a mouse")
        .await
        .unwrap();
    press(Key::Tab).await;
    assert_eq!(focused_text().await, "Next");
    press(Key::Enter).await;
    // The scopes: the first has the focus; Space ticks it, Tab, Tab to "Create", Enter.
    p.client
        .wait()
        .for_element(Locator::Css("fieldset.pi-scopes"))
        .await
        .unwrap();
    press(Key::Space).await;
    press(Key::Tab).await;
    press(Key::Tab).await;
    assert_eq!(focused_text().await, "Create");
    press(Key::Enter).await;
    p.client
        .wait()
        .for_element(Locator::Id("pi-token"))
        .await
        .unwrap();
    p.heading_is("Copy your token").await;
    let token = p.token_shown().await;
    // The focus starts on the token; one Tab to "Copy", Enter: on the clipboard.
    let focused = p.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("pi-token"),
        "the focus starts on the token"
    );
    press(Key::Tab).await;
    assert_eq!(focused_text().await, "Copy", "\"Copy\" is one Tab away");
    press(Key::Enter).await;
    p.client
        .wait()
        .for_element(Locator::XPath(
            "//p[@id='pi-copied'][contains(., 'copied')]",
        ))
        .await
        .unwrap();
    assert_eq!(p.clipboard().await, token);
    let verified = p.server.pi.verify(&token).await.expect("the token works");
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let integration = p
        .server
        .pi
        .get(&admin, verified.integration_id())
        .await
        .unwrap();
    assert_eq!(integration.name(), "Keyboard sync");
    assert!(verified.has_scope("contacts.readonly") && !verified.has_scope("contacts.write"));
}

/// With JavaScript off, every screen still works: create in two steps, the token to
/// select (the copy button stays hidden), the three-dot menu, edit, rotate, cancel,
/// delete.
async fn with_javascript_off(p: &mut Person<'_>) {
    let server = p.server;
    p.open("/login").await;
    p.log_in("u_admin", "admin").await;
    p.go("Create new Integration").await;
    p.type_into("pi-name", "No script").await;
    p.go("Next").await;
    p.tick("Edit contacts").await;
    p.go("Create").await;
    p.heading_is("Copy your token").await;
    let token = p.token_shown().await;
    assert!(server.works_with_scope(&token, "contacts.write").await);
    let copy = p
        .client
        .find(Locator::Css("button[data-copy]"))
        .await
        .unwrap();
    assert!(
        !copy.is_displayed().await.unwrap(),
        "without JavaScript the copy button stays hidden (so the script did not run)"
    );
    p.go("Done").await;
    p.menu("No script", "Edit").await;
    p.type_into("pi-name", "No script, edited").await;
    p.go("Next").await;
    p.go("Update").await;
    p.sees("Private Integration updated.").await;
    p.go("Rotate and expire this token later").await;
    p.go("Continue").await;
    let new = p.token_shown().await;
    p.go("Done").await;
    p.go("Cancel rotation").await;
    p.sees("Rotation cancelled.").await;
    assert!(server.works_with_scope(&token, "contacts.write").await);
    assert!(!server.works(&new).await);
    // On a phone, too: the menu opens with its button, and its "Delete" is clickable
    // where it is drawn (WebDriver's click refuses an element covered by another).
    p.on(Some(Screen::Phone)).await;
    p.open("/settings/private-integrations").await;
    p.fits(Screen::Phone, "the list without JavaScript").await;
    p.menu("No script, edited", "Delete").await;
    p.go("Delete").await;
    p.sees("Private Integration deleted.").await;
    assert!(!server.works(&token).await);
    p.on(None).await;
}

/// A form sent a second time does nothing, and the page says so (with no token): a reload
/// of the token screen (after "Create", "Rotate and expire this token later" and "Rotate
/// and expire this token now"), a double click ("Create", "Continue"), Back then Forward.
/// A token shown to nobody is replaced with "Rotate and expire this token now".
async fn a_form_sent_twice(p: &mut Person<'_>) {
    let server = p.server;
    let posts = &server.posts;

    // "Create", then reload the token screen: Chromium sends the form again, without a
    // prompt; the page says it was already sent. One integration; its token works.
    p.open("/settings/private-integrations/new").await;
    p.type_into("pi-name", "Sent twice").await;
    p.go("Next").await;
    p.tick("View contacts").await;
    let created = p.sends("Create").await;
    p.heading_is("Copy your token").await;
    let token = p.token_shown().await;
    p.reloads_the_answer(&created).await;
    p.sees_already_sent(true).await;
    p.does_not_show(&token).await;
    p.audit("a form sent twice").await;
    let integration = server.only("Sent twice").await;
    assert_eq!(server.issued(&integration).await, 1, "one token issued");
    assert!(server.works(&token).await, "the token shown works");

    // "Rotate and expire this token later", "Continue", reload: rotated once; both
    // tokens work in the window.
    p.go("Open the integration").await;
    p.go("Rotate and expire this token later").await;
    let later_key = p.sends("Continue").await;
    assert_ne!(later_key, created, "a fresh key for each form shown");
    p.heading_is("Copy the new token").await;
    let later = p.token_shown().await;
    p.reloads_the_answer(&later_key).await;
    p.sees_already_sent(true).await;
    p.does_not_show(&later).await;
    let integration = server.only("Sent twice").await;
    assert_eq!(server.issued(&integration).await, 2, "rotated once");
    assert!(server.works(&token).await && server.works(&later).await);
    p.go("Open the integration").await;
    p.go("Expire now").await;
    p.sees("The old token has expired.").await;
    assert!(!server.works(&token).await && server.works(&later).await);

    // "Rotate and expire this token now", "Continue", reload: rotated once; the token
    // before is refused.
    p.go("Rotate and expire this token now").await;
    let now_key = p.sends("Continue").await;
    let now = p.token_shown().await;
    p.sees("The old token has stopped working.").await;
    p.reloads_the_answer(&now_key).await;
    p.sees_already_sent(true).await;
    p.does_not_show(&now).await;
    let integration = server.only("Sent twice").await;
    assert_eq!(server.issued(&integration).await, 3, "rotated once more");
    assert!(!server.works(&later).await, "the token before is refused");
    assert!(server.works(&now).await, "the token shown works");

    // "Continue" clicked twice, the second click while the server is slow to answer the
    // first: both reach the server with one key; rotated once. The token went to the
    // first answer, which the browser dropped: nobody saw it, and "Rotate and expire this
    // token now" on the page issues one that is seen.
    p.go("Open the integration").await;
    p.go("Rotate and expire this token later").await;
    let mark = posts.count();
    p.clicks_twice("Continue").await;
    p.sees_already_sent(true).await;
    let sent = posts.since(mark);
    assert_eq!(sent.len(), 2, "both clicks reached the server: {sent:?}");
    assert!(
        sent[0].once.is_some() && sent[0] == sent[1],
        "one form, one key: {sent:?}"
    );
    let integration = server.only("Sent twice").await;
    assert_eq!(server.issued(&integration).await, 4, "rotated once");
    assert!(
        server.works(&now).await,
        "the old token works in the window"
    );
    p.go("Rotate and expire this token now").await;
    p.sees("the current token will stop working immediately")
        .await;
    p.sends("Continue").await;
    let fresh = p.token_shown().await;
    let integration = server.only("Sent twice").await;
    assert_eq!(server.issued(&integration).await, 5);
    assert!(server.works(&fresh).await && !server.works(&now).await);

    // "Create" clicked twice: one integration, one token.
    p.open("/settings/private-integrations/new").await;
    p.type_into("pi-name", "Clicked twice").await;
    p.go("Next").await;
    p.tick("View contacts").await;
    let mark = posts.count();
    p.clicks_twice("Create").await;
    p.sees_already_sent(true).await;
    let sent = posts.since(mark);
    assert_eq!(sent.len(), 2, "both clicks reached the server: {sent:?}");
    assert!(
        sent[0].once.is_some() && sent[0] == sent[1],
        "one form, one key: {sent:?}"
    );
    let integration = server.only("Clicked twice").await;
    assert_eq!(server.issued(&integration).await, 1, "one token issued");
    p.go("Rotate and expire this token now").await;
    p.sends("Continue").await;
    assert!(server.works(&p.token_shown().await).await);

    // Back, then Forward, from the token screen. The answer to a POST is not stored
    // (no-store): Chromium shows its "Confirm Form Resubmission" page and sends nothing
    // until reloaded; reloaded, the page says the form was already sent. (A browser that
    // kept the token screen would show it again as it was: the same token.)
    p.open("/settings/private-integrations/new").await;
    p.type_into("pi-name", "Back and forward").await;
    p.go("Next").await;
    p.tick("View contacts").await;
    let created = p.sends("Create").await;
    p.heading_is("Copy your token").await;
    let token = p.token_shown().await;
    let mark = posts.count();
    p.moves_through_history(History::Back).await;
    p.moves_through_history(History::Forward).await;
    let forward = p.text().await.unwrap_or_default();
    if forward.contains("Confirm Form Resubmission") {
        assert!(
            posts.since(mark).is_empty(),
            "nothing sent before the reload"
        );
        p.moves_through_history(History::Reload).await;
    }
    let shown = p.client.find_all(Locator::Id("pi-token")).await.unwrap();
    if shown.is_empty() {
        p.sees_already_sent(true).await;
        p.does_not_show(&token).await;
    } else {
        assert_eq!(p.token_shown().await, token, "the token screen as it was");
    }
    for post in posts.since(mark) {
        assert_eq!(post.once.as_deref(), Some(created.as_str()), "{post:?}");
    }
    let integration = server.only("Back and forward").await;
    assert_eq!(server.issued(&integration).await, 1, "one token issued");
    assert!(server.works(&token).await, "the token first shown works");
}

/// At 390×844, every screen fits the phone's width at scale 1, with the text at its
/// size, and passes axe: the list, create (details, scopes, the token), the integration
/// (with its rotation), both rotation warnings (and rotate later during a rotation),
/// edit, delete, team permissions, Labs, the audit log (all and one integration's), a
/// page that does not exist. The page's icon is served; the mount point with a slash
/// leads to the list.
async fn every_screen_on_a_phone(p: &mut Person<'_>) {
    const PHONE: Screen = Screen::Phone;
    p.on(Some(PHONE)).await;
    p.log_in("u_admin", "admin").await;
    p.open("/settings/private-integrations/").await;
    p.sees("Create new Integration").await;
    assert_eq!(p.current_path().await, "/settings/private-integrations");
    p.fits(PHONE, "the list").await;
    p.names_wrap_at_words("td.pi-name a, td.pi-name .pi-hint")
        .await;
    p.audit("phone: the list").await;
    // The icon loads as an image (the page's CSP allows images of its own origin only).
    let icon = "const done = arguments[arguments.length - 1];
        const img = new Image();
        img.onload = () => done(img.naturalWidth > 0);
        img.onerror = () => done('no icon');
        img.src = document.querySelector('link[rel=icon]').href;";
    assert_eq!(
        p.client.execute_async(icon, vec![]).await.unwrap(),
        json!(true),
        "the page's icon"
    );

    p.go("Create new Integration").await;
    p.type_into("pi-name", "Phone sync for the warehouse team")
        .await;
    p.fits(PHONE, "create: details").await;
    p.audit("phone: create: details").await;
    p.go("Next").await;
    p.fits(PHONE, "create: scopes").await;
    p.audit("phone: create: scopes").await;
    p.tick("View contacts").await;
    p.go("Create").await;
    p.heading_is("Copy your token").await;
    p.fits(PHONE, "the token").await;
    p.audit("phone: the token").await;
    let focused = p.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("pi-token")
    );
    p.go("Done").await;
    p.fits(PHONE, "the integration").await;
    p.audit("phone: the integration").await;
    let integration = p.current_path().await;

    p.go("Rotate and expire this token later").await;
    p.fits(PHONE, "rotate later: warning").await;
    p.audit("phone: rotate later: warning").await;
    p.go("Continue").await;
    p.fits(PHONE, "the new token").await;
    p.go("Done").await;
    p.sees("Token rotation in progress").await;
    p.fits(PHONE, "the integration, rotating").await;
    p.audit("phone: the integration, rotating").await;
    // An old link to rotate later, during the rotation: it says it cannot be done.
    p.open(&format!("{integration}/rotate/later")).await;
    p.sees("is already in progress.").await;
    assert!(
        p.client
            .find_all(Locator::XPath("//button[normalize-space()='Continue']"))
            .await
            .unwrap()
            .is_empty(),
        "no Continue during a rotation"
    );
    p.fits(PHONE, "rotate later during a rotation").await;
    p.audit("phone: rotate later during a rotation").await;
    p.go("Expire now").await;
    p.sees("The old token has expired.").await;
    p.go("Rotate and expire this token now").await;
    p.fits(PHONE, "rotate now: warning").await;
    p.audit("phone: rotate now: warning").await;

    // A token found in a public place, at a long address: the red banner fits, and the
    // list's mark.
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let leaky = p
        .server
        .pi
        .create(
            &admin,
            NewIntegration::new("Leaky deploy script").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let url = format!(
        "https://github.com/octo-org/a-rather-long-repository-name/blob/{}/config/.env.production",
        "0123456789abcdef".repeat(3)
    );
    p.server
        .pi
        .report_leak(
            &UserId::new("github-secret-scanning"),
            leaky.token.expose_secret(),
            &url,
        )
        .await
        .unwrap();
    p.open(&format!(
        "/settings/private-integrations/{}",
        leaky.integration.id()
    ))
    .await;
    p.sees("This token was found in a public place").await;
    p.fits(PHONE, "the integration, leaked").await;
    p.audit("phone: the integration, leaked").await;
    p.open("/settings/private-integrations").await;
    p.sees("Revoked: rotate to issue a new token").await;
    p.fits(PHONE, "the list, with a leaked token").await;
    p.audit("phone: the list, with a leaked token").await;

    p.open(&format!("{integration}/edit")).await;
    p.fits(PHONE, "edit: details").await;
    p.audit("phone: edit: details").await;
    p.go("Next").await;
    p.fits(PHONE, "edit: scopes").await;
    p.audit("phone: edit: scopes").await;
    p.open(&format!("{integration}/delete")).await;
    p.fits(PHONE, "delete: confirmation").await;
    p.audit("phone: delete: confirmation").await;

    for (path, what) in [
        ("/settings/private-integrations/team", "team permissions"),
        ("/settings/private-integrations/labs", "labs"),
        ("/settings/private-integrations/audit-log", "the audit log"),
        (
            "/settings/private-integrations/no/such/page",
            "no such page",
        ),
    ] {
        p.open(path).await;
        p.fits(PHONE, what).await;
        p.audit(&format!("phone: {what}")).await;
    }
    p.names_wrap_at_words("main a.pi-name, main strong.pi-name")
        .await;
    p.open(&format!(
        "/settings/private-integrations/audit-log?integration={}",
        integration.rsplit('/').next().unwrap()
    ))
    .await;
    p.sees("Activity of").await;
    p.fits(PHONE, "one integration's audit log").await;
    p.audit("phone: one integration's audit log").await;
    p.on(None).await;
}

/// The three-dot menu of every row, on a one-row list and a 30-row list (25 on the first
/// page, 5 on the next), and on an integration's page, on a laptop and on a phone: whole on the screen, "Delete" under
/// the pointer where it is drawn, Escape closes it with the focus back on its button.
async fn menus_open_whole_everywhere(p: &mut Person<'_>) {
    let server = p.server;
    let one = Actor::admin(AccountId::new("acct_one"), UserId::new("u_admin"));
    let new = NewIntegration::new("Zapier sync")
        .description("Pushes new contacts to the CRM")
        .scopes(["contacts.readonly"]);
    server.pi.create(&one, new).await.unwrap();
    let many = Actor::admin(AccountId::new("acct_many"), UserId::new("u_admin"));
    for n in 1..=30 {
        let new = NewIntegration::new(format!("Nightly export number {n:02}"))
            .description("Copies contacts to the data warehouse every night")
            .scopes(["contacts.readonly"]);
        server.pi.create(&many, new).await.unwrap();
    }
    for screen in [Screen::Laptop, Screen::Phone] {
        p.on(Some(screen)).await;
        p.log_in_to("acct_one", "u_admin", "admin").await;
        p.fits(screen, "a one-row list").await;
        p.every_menu_opens_whole(screen, 1).await;
        // The integration's own page, too.
        p.open("/settings/private-integrations").await;
        p.go("Zapier sync").await;
        p.fits(screen, "the integration").await;
        p.every_menu_opens_whole(screen, 1).await;
        p.log_in_to("acct_many", "u_admin", "admin").await;
        p.sees("30 integrations").await;
        p.fits(screen, "a 30-row list").await;
        p.every_menu_opens_whole(screen, 25).await;
        p.open("/settings/private-integrations").await;
        p.go("More integrations →").await;
        p.fits(screen, "a 30-row list, page 2").await;
        p.every_menu_opens_whole(screen, 5).await;
    }
    p.on(None).await;
}

/// An integration in its rotation window whose old token the third party still calls:
/// the chart of the last 30 days (the old token's uses striped, above the new one's),
/// "Show as a table", the banner's "last used", and the list's mark, on a laptop and a
/// phone. The counts of the days gone by are written to storage as the last-used writer
/// writes them (one token, one hour, a number of uses).
async fn uses_during_a_rotation(p: &mut Person<'_>) {
    let server = p.server;
    let admin = Actor::admin(AccountId::new("acct_usage"), UserId::new("u_admin"));
    let new = NewIntegration::new("Nightly CRM export")
        .description("Copies contacts to the data warehouse every night")
        .scopes(["contacts.readonly"]);
    let created = server.pi.create(&admin, new).await.unwrap();
    let id = created.integration.id().clone();
    let old = *created.token.token_id();
    let first_day = server.pi.now();
    // 24 days of calls with the first token, then a rotation; 5 days and 8 hours later
    // the window ends in 40 hours and both tokens are called.
    server.clock.advance(time::Duration::days(24));
    let rotated = server
        .pi
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await
        .unwrap();
    let current = *rotated.token.token_id();
    server
        .clock
        .advance(time::Duration::days(5) + time::Duration::hours(8));
    let now = server.pi.now();
    let noon = |day: i64| first_day + time::Duration::days(day) + time::Duration::hours(3);
    let mut counts = Vec::new();
    for day in 0..24 {
        // Fewer calls at weekends.
        let uses = if day % 7 >= 5 {
            380
        } else {
            1_150 + 37 * (day % 5) as u64
        };
        counts.push(storage::TokenUses::new(old, noon(day), uses));
    }
    for (day, old_uses, new_uses) in [
        (24, 900, 260),
        (25, 610, 540),
        (26, 320, 830),
        (27, 150, 1_010),
        (28, 90, 1_080),
    ] {
        counts.push(storage::TokenUses::new(old, noon(day), old_uses));
        counts.push(storage::TokenUses::new(current, noon(day), new_uses));
    }
    // Today, up to now.
    counts.push(storage::TokenUses::new(
        old,
        now - time::Duration::hours(2),
        37,
    ));
    counts.push(storage::TokenUses::new(
        current,
        now - time::Duration::hours(2),
        604,
    ));
    server.storage.record_token_uses(&counts).await.unwrap();
    let last_used = [
        storage::LastUse {
            token_id: old,
            at: now - time::Duration::minutes(3),
        },
        storage::LastUse {
            token_id: current,
            at: now - time::Duration::minutes(1),
        },
    ];
    server.storage.record_last_used(&last_used).await.unwrap();

    p.log_in_to("acct_usage", "u_admin", "admin").await;
    p.sees("Old token still in use").await;
    p.sees("Old token last used 3 minutes ago").await;
    p.audit("the list, an old token still in use").await;
    p.go("Nightly CRM export").await;
    p.sees("The old token was last used 3 minutes ago (37 uses in the last 24 hours).")
        .await;
    p.sees("uses in the last 30 days").await;
    let chart = p
        .client
        .find(Locator::Css("main .pi-chart svg"))
        .await
        .unwrap();
    let bars = chart
        .find_all(Locator::Css("rect.pi-chart-old"))
        .await
        .unwrap();
    assert_eq!(
        bars.len(),
        30,
        "a striped part on each day the old token was called"
    );
    // The table opens without a script (a <details>), and says the days in words.
    show_as_a_table(p).await;
    p.sees("Date (UTC)").await;
    p.audit("the integration, its uses").await;
    // A taller window, so that the banner and the chart are in one picture.
    p.client
        .issue_cmd(Cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 1500, "deviceScaleFactor": 1, "mobile": false }),
        ))
        .await
        .unwrap();
    p.open(&format!("/settings/private-integrations/{id}"))
        .await;
    p.sees("uses in the last 30 days").await;
    p.screenshot("usage").await;
    for screen in [Screen::Laptop, Screen::Phone] {
        p.on(Some(screen)).await;
        p.open(&format!("/settings/private-integrations/{id}"))
            .await;
        show_as_a_table(p).await;
        p.fits(screen, "the integration, its uses").await;
        p.audit(&format!("{screen:?}: the integration, its uses"))
            .await;
        if screen == Screen::Phone {
            let top = "document.getElementById('pi-usage-title').scrollIntoView();";
            p.client.execute(top, vec![]).await.unwrap();
            p.screenshot("usage-phone").await;
        }
        p.open("/settings/private-integrations").await;
        p.sees("Old token still in use").await;
        p.fits(screen, "the list, an old token still in use").await;
    }
    p.on(None).await;
}

/// Opens "Show as a table" under the chart of uses.
async fn show_as_a_table(p: &Person<'_>) {
    let summary = p
        .client
        .find(Locator::XPath(
            "//summary[normalize-space()='Show as a table']",
        ))
        .await
        .unwrap();
    summary.click().await.unwrap();
}
