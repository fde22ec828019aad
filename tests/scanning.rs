//! Secret scanning support: the documented regular expression ([`TOKEN_PATTERN`],
//! [`token_regex`], [`TokenFormat::regex`]) and [`looks_like_token`].
//!
//! Every issued token matches the regex and passes `looks_like_token`; a string of the
//! same shape with a wrong checksum matches the regex (a shape pre-filter) but fails
//! `looks_like_token`; the regex finds tokens inside surrounding text but not inside
//! longer alphanumeric runs.

mod support;

use private_integrations::*;
use regex::Regex;
use support::*;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` tokens issued by a service with this prefix.
async fn issue(prefix: &str, n: usize) -> Vec<IssuedToken> {
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
        .token_prefix(prefix)
        .unwrap()
        .build();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let mut tokens = Vec::with_capacity(n);
    let created = pi
        .create(
            &admin,
            NewIntegration::new("Scan").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let id = created.integration.id().clone();
    tokens.push(created.token);
    while tokens.len() < n {
        let rotated = pi
            .rotate(&admin, &id, RotationMode::ExpireNow)
            .await
            .unwrap();
        tokens.push(rotated.token);
    }
    tokens
}

/// `token` with one secret character changed and the checksum left as it was.
fn bad_checksum(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn the_pattern_is_the_default_formats_regex() {
    assert_eq!(TOKEN_PATTERN, TokenFormat::default().regex());
    assert_eq!(token_regex("pit").unwrap(), TOKEN_PATTERN);
    assert_eq!(
        token_regex("acme2").unwrap(),
        TokenFormat::new("acme2").unwrap().regex()
    );
    for bad in ["", "Pit", "p-t", "abcdefghijklmnopq"] {
        assert!(token_regex(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn every_issued_token_matches_and_looks_like_a_token() {
    for (prefix, n) in [
        ("pit", 3000),
        ("acme", 1000),
        ("x", 500),
        ("abcdefghijklmnop", 500),
    ] {
        let format = TokenFormat::new(prefix).unwrap();
        let re = Regex::new(&format!("^(?:{})$", format.regex())).unwrap();
        let tokens = issue(prefix, n).await;
        for token in &tokens {
            let text = token.expose_secret();
            assert!(
                re.is_match(text),
                "{prefix}: the regex misses an issued token"
            );
            assert!(format.looks_like_token(text));
            assert_eq!(looks_like_token(text), prefix == "pit");
            // A wrong checksum keeps the shape: the regex still matches, the checksum
            // check does not.
            let typo = bad_checksum(text);
            assert!(re.is_match(&typo));
            assert!(
                !format.looks_like_token(&typo),
                "{prefix}: a bad checksum passed"
            );
            assert!(!looks_like_token(&typo));
        }
        assert_eq!(tokens.len(), n);
    }
}

#[test]
fn random_strings_of_the_right_shape_fail_the_checksum() {
    // A random string of the right shape passes a CRC32 check with odds of 1 in 2³²;
    // none of 20,000 should.
    let re = Regex::new(&format!("^(?:{TOKEN_PATTERN})$")).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        BASE62[(state % 62) as usize] as char
    };
    for _ in 0..20_000 {
        let id: String = (0..16).map(|_| next()).collect();
        let rest: String = (0..49).map(|_| next()).collect();
        let text = format!("pit_{id}_{rest}");
        assert!(re.is_match(&text));
        assert!(!looks_like_token(&text), "{text}");
    }
}

#[tokio::test]
async fn the_regex_finds_tokens_in_text_but_not_in_longer_runs() {
    let token = issue("pit", 1).await.remove(0);
    let t = token.expose_secret();
    let re = Regex::new(TOKEN_PATTERN).unwrap();
    let found = |haystack: &str| -> Vec<String> {
        re.find_iter(haystack)
            .map(|m| m.as_str().to_owned())
            .collect()
    };

    let embedded = [
        format!("PIT_TOKEN={t}\n"),
        format!("export PIT_TOKEN=\"{t}\""),
        format!(r#"{{"token": "{t}", "name": "Zapier"}}"#),
        format!("Authorization: Bearer {t}\r\n"),
        format!("https://api.example.com/hook?token={t}&x=1"),
        t.to_owned(),
        format!("first {t} and again: {t}."),
        format!("'{t}'"),
    ];
    for text in &embedded {
        let matches = found(text);
        assert!(!matches.is_empty(), "not found in {text:?}");
        assert!(matches.iter().all(|m| m == t && looks_like_token(m)));
    }
    assert_eq!(found(&embedded[6]).len(), 2);

    let longer_runs = [
        format!("x{t}"),
        format!("{t}0"),
        format!("9{t}Z"),
        format!("_{t}"),
        format!("{t}_suffix"),
        format!("apit_{}", &t[4..]),
        // Too short or too long a body is not a token either.
        t[..t.len() - 1].to_owned(),
        format!("{}{}", &t[..30], &t[29..]),
    ];
    for text in &longer_runs {
        assert!(
            found(text).is_empty(),
            "matched inside a longer run: {text:?}"
        );
    }
}
