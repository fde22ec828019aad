//! The fuzz crate's reference models (`fuzz/src/models.rs`, compiled here as it is) agree
//! with the library on the inputs the fuzzers found interesting: the crash of issue 24
//! (a name of U+200F RIGHT-TO-LEFT MARK alone, with empty scope strings), invisible-only
//! names, bidi controls and isolates, line separators, combining marks, the length limits
//! at their edges, line breaks in descriptions, tokens pasted into either, user ids and
//! scope catalogs.
//!
//! Each crash a fuzz target finds becomes a case here (see SECURITY.md, "Fuzzing").

#[path = "../fuzz/src/models.rs"]
#[allow(dead_code)]
mod models;

use models::{
    Outcome, reference_catalog, reference_host_id, reference_new_integration, reference_parse, sign,
};
use private_integrations::{
    Error, IntegrationUpdate, InvalidInput, NewIntegration, ScopeCatalog, TokenFormat, UserId,
};

const SCOPES: [&str; 3] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.write",
];

fn catalog() -> ScopeCatalog {
    ScopeCatalog::new(SCOPES).unwrap()
}

fn outcome<T>(result: Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::InvalidInput(e)) => Outcome::Invalid(e),
        Err(Error::UnknownScope(s)) => Outcome::UnknownScope(s),
        Err(other) => panic!("validation gave a non-input error: {other:?}"),
    }
}

/// A token with a right checksum (`pit_` prefix), to paste into names and descriptions.
fn token() -> String {
    let body = format!("pit_{}_{}", "A".repeat(16), "b".repeat(43));
    let token = String::from_utf8(sign(body.into_bytes())).unwrap();
    assert!(reference_parse("pit", &token).is_some());
    assert!(TokenFormat::default().looks_like_token(&token));
    token
}

/// Runs one case through the library and the model and asserts they agree; returns the
/// outcome so a case can also pin it.
fn check(name: &str, description: &str, scopes: &[&str]) -> Outcome {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let got = outcome(
        NewIntegration::new(name)
            .description(description)
            .scopes(scopes.clone())
            .validate(catalog()),
    );
    let expected = reference_new_integration(&SCOPES, name, description, &scopes);
    assert_eq!(
        got, expected,
        "name {name:?}, description {description:?}, scopes {scopes:?}"
    );
    // The same fields as an update of an existing record agree too (same rules, same
    // order), checked through the model's outcome on the update's fields.
    let update = IntegrationUpdate::new()
        .name(name)
        .description(description)
        .scopes(scopes.clone());
    let fields = NewIntegration::new("Base")
        .scopes(["contacts.readonly"])
        .validate(catalog())
        .unwrap();
    let record = private_integrations::storage::IntegrationRecord::create(
        private_integrations::IntegrationId::parse("Integration00001").unwrap(),
        private_integrations::AccountId::new("acct_1"),
        fields,
        private_integrations::domain::credentials::Credentials::new(
            private_integrations::domain::credentials::TokenCredential {
                id: private_integrations::TokenId::parse("TokenTokenToken1").unwrap(),
                hash: private_integrations::TokenHash::from_bytes([1; 32]),
                issued_at: time::OffsetDateTime::UNIX_EPOCH,
            },
        ),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    let applied = outcome(update.apply(&record, catalog(), time::OffsetDateTime::UNIX_EPOCH));
    assert_eq!(applied, expected, "update of {name:?} / {description:?}");
    got
}

fn invalid(e: InvalidInput) -> Outcome {
    Outcome::Invalid(e)
}

const NAME_EMPTY: InvalidInput = InvalidInput::Empty { field: "name" };
const NAME_CONTROL: InvalidInput = InvalidInput::ControlCharacter { field: "name" };
const DESCRIPTION_CONTROL: InvalidInput = InvalidInput::ControlCharacter {
    field: "description",
};

/// Issue 24's crash: `validation` after about 405,000 units, `left: Invalid(Empty { field:
/// "name" })`, `right: UnknownScope("")`. The model was stale (trim, length, controls
/// only); the library is right: a name of invisible characters alone is empty.
#[test]
fn crash_rlm_only_name_with_empty_scopes() {
    assert_eq!(check("\u{200f}", "", &["", ""]), invalid(NAME_EMPTY));
    assert_eq!(check("\u{200f}", "", &[""]), invalid(NAME_EMPTY));
    assert_eq!(check("\u{200f}", "", &[]), invalid(NAME_EMPTY));
}

#[test]
fn invisible_only_names_are_empty() {
    for name in [
        "\u{200b}",
        "\u{200b}\u{200c}\u{200d}",
        "\u{200e}",
        "\u{2060}\u{2061}\u{2064}",
        "\u{feff}",
        " \u{200b} ",
        "\u{a0}\u{200f}\u{3000}",
    ] {
        assert_eq!(
            check(name, "", &["contacts.readonly"]),
            invalid(NAME_EMPTY),
            "{name:?}"
        );
    }
    // One visible character among them is enough; joiners inside a name are allowed.
    for name in [
        "\u{200b}a",
        "a\u{200d}b",
        "\u{1f468}\u{200d}\u{1f469}",
        "\u{feff}x",
    ] {
        assert_eq!(
            check(name, "", &["contacts.readonly"]),
            Outcome::Ok,
            "{name:?}"
        );
    }
}

#[test]
fn white_space_only_names_are_empty() {
    for name in [
        "",
        " ",
        "\t\n",
        "\u{a0}",
        "\u{3000}\u{2003}",
        "\u{2028}",
        "\u{85}",
    ] {
        assert_eq!(
            check(name, "", &["contacts.readonly"]),
            invalid(NAME_EMPTY),
            "{name:?}"
        );
    }
}

#[test]
fn bidi_controls_and_isolates_are_refused() {
    for c in [
        '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}',
    ] {
        let text = format!("evil{c}gnp.exe");
        assert_eq!(
            check(&text, "", &["contacts.readonly"]),
            invalid(NAME_CONTROL)
        );
        assert_eq!(
            check("ok", &text, &["contacts.readonly"]),
            invalid(DESCRIPTION_CONTROL)
        );
        // An isolate alone is a control first, not an empty name.
        assert_eq!(
            check(&c.to_string(), "", &["contacts.readonly"]),
            invalid(NAME_CONTROL)
        );
    }
    // Directional marks are invisible, not controls: allowed beside visible text.
    assert_eq!(check("a\u{200f}b", "", &["contacts.readonly"]), Outcome::Ok);
    assert_eq!(
        check("a", "x\u{200f}y", &["contacts.readonly"]),
        Outcome::Ok
    );
}

#[test]
fn line_separators_in_names_not_in_descriptions() {
    assert_eq!(
        check("a\u{2028}b", "", &["contacts.readonly"]),
        invalid(NAME_CONTROL)
    );
    assert_eq!(
        check("a\u{2029}b", "", &["contacts.readonly"]),
        invalid(NAME_CONTROL)
    );
    // At either end a separator is white space, trimmed off.
    assert_eq!(check("a\u{2028}", "", &["contacts.readonly"]), Outcome::Ok);
    assert_eq!(
        check("a", "x\u{2028}y\u{2029}z", &["contacts.readonly"]),
        Outcome::Ok
    );
}

#[test]
fn combining_marks_alone_are_visible() {
    assert_eq!(check("\u{301}", "", &["contacts.readonly"]), Outcome::Ok);
    assert_eq!(
        check("\u{301}\u{302}\u{200b}", "", &["contacts.readonly"]),
        Outcome::Ok
    );
}

#[test]
fn length_limits_after_trimming() {
    let too_long = |field, max| invalid(InvalidInput::TooLong { field, max });
    let hundred = "n".repeat(100);
    assert_eq!(check(&hundred, "", &["contacts.readonly"]), Outcome::Ok);
    assert_eq!(
        check(
            &format!("  {hundred}\u{3000}\n"),
            "",
            &["contacts.readonly"]
        ),
        Outcome::Ok
    );
    assert_eq!(
        check(&"n".repeat(101), "", &["contacts.readonly"]),
        too_long("name", 100)
    );
    // Characters, not bytes.
    assert_eq!(
        check(&"é".repeat(100), "", &["contacts.readonly"]),
        Outcome::Ok
    );
    assert_eq!(
        check(&"\u{200b}".repeat(101), "", &["contacts.readonly"]),
        too_long("name", 100)
    );
    let thousand = "d".repeat(1000);
    assert_eq!(check("n", &thousand, &["contacts.readonly"]), Outcome::Ok);
    assert_eq!(
        check("n", &format!("\n{thousand} \t"), &["contacts.readonly"]),
        Outcome::Ok
    );
    assert_eq!(
        check("n", &"d".repeat(1001), &["contacts.readonly"]),
        too_long("description", 1000)
    );
    // Length before characters: a long name of controls is too long.
    assert_eq!(
        check(&"\u{1}".repeat(101), "", &["contacts.readonly"]),
        too_long("name", 100)
    );
}

#[test]
fn line_breaks_and_tabs_in_descriptions() {
    assert_eq!(
        check("n", "a\r\nb\tc\nd", &["contacts.readonly"]),
        Outcome::Ok
    );
    assert_eq!(
        check("n", "a\u{0}b", &["contacts.readonly"]),
        invalid(DESCRIPTION_CONTROL)
    );
    assert_eq!(
        check("n", "a\u{b}b", &["contacts.readonly"]),
        invalid(DESCRIPTION_CONTROL)
    );
    assert_eq!(
        check("n", "a\u{85}b", &["contacts.readonly"]),
        invalid(DESCRIPTION_CONTROL)
    );
    assert_eq!(
        check("a\tb", "", &["contacts.readonly"]),
        invalid(NAME_CONTROL)
    );
    assert_eq!(
        check("a\nb", "", &["contacts.readonly"]),
        invalid(NAME_CONTROL)
    );
    assert_eq!(
        check("a\u{7f}b", "", &["contacts.readonly"]),
        invalid(NAME_CONTROL)
    );
}

#[test]
fn tokens_in_names_and_descriptions() {
    let token = token();
    let holds = |field| invalid(InvalidInput::HoldsToken { field });
    assert_eq!(check(&token, "", &["contacts.readonly"]), holds("name"));
    assert_eq!(
        check("n", &format!("key: {token}."), &["contacts.readonly"]),
        holds("description")
    );
    // Glued to the text before it, it still holds a token (of a shorter prefix's view).
    assert_eq!(
        check(&format!("x{token}"), "", &["contacts.readonly"]),
        holds("name")
    );
    // One character changed: the checksum is wrong, no token.
    let broken = token.replacen('A', "B", 1);
    assert_eq!(check(&broken, "", &["contacts.readonly"]), Outcome::Ok);
}

#[test]
fn order_of_checks() {
    // Name before description before scopes.
    assert_eq!(check("", "\u{202e}", &["nope"]), invalid(NAME_EMPTY));
    assert_eq!(
        check("n", "\u{202e}", &["nope"]),
        invalid(DESCRIPTION_CONTROL)
    );
    assert_eq!(
        check("n", "", &["contacts.readonly", "nope", ""]),
        Outcome::UnknownScope("nope".into())
    );
    assert_eq!(check("n", "", &[]), invalid(InvalidInput::NoScopes));
    // Controls before the visible-character rule.
    assert_eq!(
        check("\u{200b}\u{1}", "", &["contacts.readonly"]),
        invalid(NAME_CONTROL)
    );
    // Duplicates merge.
    assert_eq!(
        check("n", "", &["contacts.write", "contacts.write"]),
        Outcome::Ok
    );
}

#[test]
fn user_ids_agree() {
    let long = "u".repeat(256);
    for id in [
        "",
        "u_admin",
        " padded ",
        "a\nb",
        "\u{85}",
        "\u{200f}",
        "\u{202e}",
        "é",
        &long,
        &long[..255],
        &"é".repeat(128),
    ] {
        assert_eq!(
            UserId::try_new(id).map(drop),
            reference_host_id("user id", id),
            "{id:?}"
        );
        assert_eq!(
            private_integrations::AccountId::try_new(id).map(drop),
            reference_host_id("account id", id),
            "{id:?}"
        );
    }
}

#[test]
fn scope_catalogs_agree() {
    let long = "s".repeat(129);
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec![""],
        vec!["a", "a"],
        vec!["has space"],
        vec!["ok", "bad!"],
        vec![&long],
        vec![&long[..128]],
        vec!["contacts.readonly", "calendars/events.write", "a:b_c-d"],
    ];
    for names in cases {
        let owned: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let got = match ScopeCatalog::new(names.clone()) {
            Ok(_) => Ok(()),
            Err(Error::InvalidInput(e)) => Err(e),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(got, reference_catalog(&owned), "{names:?}");
    }
}

/// The reference reading of `Authorization` (the model `http_bearer` checks the extractor
/// against) agrees with the `Verified` extractor on the documented cases and the
/// interesting ones: schemes in any case, tabs, white space inside, two headers, the
/// length limit, bytes that are no UTF-8.
#[cfg(feature = "axum")]
#[tokio::test]
async fn bearer_reading_agrees() {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderValue, Request};
    use axum::routing::get;
    use models::{Bearer, reference_bearer};
    use private_integrations::{AccountId, Actor, MemoryStorage, PrivateIntegrations, Verified};
    use tower::ServiceExt;

    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(catalog())
        .build();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let created = pi
        .create(
            &admin,
            NewIntegration::new("n").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let live = created.token.expose_secret().to_owned();
    let long = format!("Bearer {live}{}", " ".repeat(1024));
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![],
        vec![format!("Bearer {live}").into_bytes()],
        vec![format!("bEaReR \t {live}  ").into_bytes()],
        vec![format!("\tBearer\t{live}").into_bytes()],
        vec![format!("Bearer{live}").into_bytes()],
        vec![format!("Basic {live}").into_bytes()],
        vec![b"Bearer".to_vec()],
        vec![b"Bearer   ".to_vec()],
        vec![b"Bearer a b".to_vec()],
        vec![b"Bearer \xff\xfe".to_vec()],
        vec![long.into_bytes()],
        vec![format!("Bearer {live}").into_bytes(), b"Basic x".to_vec()],
        vec![token().into_bytes()],
        vec![format!("Bearer {}", token()).into_bytes()],
    ];
    for values in cases {
        let mut req = Request::builder().uri("/").body(Body::empty()).unwrap();
        for v in &values {
            req.headers_mut()
                .append("authorization", HeaderValue::from_bytes(v).unwrap());
        }
        let router = Router::new()
            .route("/", get(|_: Verified| async { "ok" }))
            .with_state(pi.clone());
        let response = router.oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let invalid = Some(r#"Bearer realm="api", error="invalid_token""#.to_owned());
        let expected = match reference_bearer(&refs) {
            Bearer::Missing => (401, Some(r#"Bearer realm="api""#.to_owned())),
            Bearer::Ambiguous => (
                400,
                Some(r#"Bearer realm="api", error="invalid_request""#.to_owned()),
            ),
            Bearer::Token(t) if t == live => (200, None),
            Bearer::Invalid | Bearer::Token(_) => (401, invalid),
        };
        let status = (status, challenge);
        assert_eq!(status, expected, "{values:?}");
    }
    pi.shutdown().await;
}
