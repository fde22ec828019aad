//! The token parser: `TokenFormat::new`, `TokenFormat::parse`, `looks_like_token`, the
//! secret-scanning regex and the id parsers, on arbitrary text and on tokens built from
//! fuzzed parts with a correct checksum (so the fuzzer reaches past the CRC).
//!
//! Checked: nothing panics; `parse` agrees with a reference parser written from DESIGN
//! §3; a parsed token has exactly `token_len` bytes, its id and secret are the right
//! slices, parsing again gives the same id, and the scanning regex matches it whole and
//! finds it inside a `.env` line; any one-byte change to a well-formed token is refused.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use private_integrations::{IntegrationId, TokenFormat, TokenId, looks_like_token, token_regex};
use private_integrations_fuzz::{BASE62, reference_parse, reference_prefix_ok, sign};
use regex::Regex;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Any text, parsed with the default format and with the format of `prefix`.
    Raw { prefix: String, text: String },
    /// A token of `prefix` (or the default) built from fuzzed parts with a correct
    /// checksum, then perhaps edited at one byte.
    Built {
        prefix: String,
        id: [u8; 16],
        secret: [u8; 43],
        /// Map every part byte into base62 (else keep raw bytes, which may not be ASCII).
        base62: bool,
        edit: Option<(u8, u8)>,
        /// Recompute the checksum after the edit.
        resign: bool,
    },
}

thread_local! {
    /// Compiled scanning regexes by prefix (bounded: cleared when it grows).
    static REGEXES: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn with_regex<T>(format: &TokenFormat, f: impl FnOnce(&Regex) -> T) -> T {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 256 {
            cache.clear();
        }
        let re = cache
            .entry(format.prefix().to_owned())
            .or_insert_with(|| Regex::new(&format.regex()).expect("the scanning regex compiles"));
        f(re)
    })
}

/// Every property of one (format, text) pair.
fn check(format: &TokenFormat, text: &str) {
    let parsed = format.parse(text);
    let reference = reference_parse(format.prefix(), text);
    assert_eq!(
        parsed.is_ok(),
        reference.is_some(),
        "parse disagrees with the reference on {text:?}"
    );
    assert_eq!(format.looks_like_token(text), parsed.is_ok());
    if *format == TokenFormat::default() {
        assert_eq!(looks_like_token(text), parsed.is_ok());
    }
    let Ok(parsed) = parsed else { return };
    let (id, secret) = reference.expect("checked above");

    assert_eq!(text.len(), format.token_len());
    assert_eq!(parsed.id.as_str(), id);
    assert_eq!(&parsed.secret[..], secret.as_bytes());
    // Stable: parsing again gives the same id, and the id parses on its own.
    assert_eq!(format.parse(text).map(|p| p.id).ok(), Some(parsed.id));
    assert_eq!(TokenId::parse(id).ok(), Some(parsed.id));
    // The Debug form never shows the secret.
    assert!(!format!("{parsed:?}").contains(secret));

    with_regex(format, |re| {
        let whole = re.find(text).map(|m| m.range());
        assert_eq!(
            whole,
            Some(0..text.len()),
            "the regex does not match {text:?} whole"
        );
        let line = format!("export TOKEN={text}\n");
        assert_eq!(re.find(&line).map(|m| m.as_str()), Some(text));
        // Not inside a longer alphanumeric run.
        assert!(!re.is_match(&format!("x{text}")));
        assert!(!re.is_match(&format!("{text}0")));
    });
}

fn format_for(prefix: &str) -> Option<TokenFormat> {
    let format = TokenFormat::new(prefix);
    assert_eq!(
        format.is_ok(),
        reference_prefix_ok(prefix),
        "prefix {prefix:?}"
    );
    assert_eq!(
        token_regex(prefix).ok(),
        format.as_ref().ok().map(TokenFormat::regex)
    );
    let format = format.ok()?;
    assert_eq!(format.prefix(), prefix);
    assert_eq!(format.token_len(), prefix.len() + 67);
    Some(format)
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw { prefix, text } => {
            check(&TokenFormat::default(), &text);
            if let Some(format) = format_for(&prefix) {
                check(&format, &text);
            }
            // The id parsers: exactly 16 ASCII alphanumerics.
            let id_ok = text.len() == 16 && text.bytes().all(|b| b.is_ascii_alphanumeric());
            assert_eq!(TokenId::parse(&text).is_ok(), id_ok);
            assert_eq!(
                IntegrationId::parse(&text).map(|id| id.to_string()).ok(),
                id_ok.then(|| text.clone())
            );
        }
        Input::Built {
            prefix,
            id,
            secret,
            base62,
            edit,
            resign,
        } => {
            let format = format_for(&prefix).unwrap_or_default();
            let part = |bytes: &[u8]| -> Vec<u8> {
                if base62 {
                    bytes.iter().map(|b| BASE62[usize::from(*b % 62)]).collect()
                } else {
                    bytes.to_vec()
                }
            };
            let mut body = format.prefix().as_bytes().to_vec();
            body.push(b'_');
            body.extend(part(&id));
            body.push(b'_');
            body.extend(part(&secret));
            let good = sign(body);
            if let Ok(text) = std::str::from_utf8(&good) {
                check(&format, text);
                if base62 {
                    assert!(
                        format.parse(text).is_ok(),
                        "a built token is refused: {text:?}"
                    );
                }
            }
            let Some((at, byte)) = edit else { return };
            let at = usize::from(at) % good.len();
            if good[at] == byte {
                return;
            }
            let mut edited = good.clone();
            edited[at] = byte;
            if resign {
                edited.truncate(edited.len() - 6);
                edited = sign(edited);
            }
            if let Ok(text) = std::str::from_utf8(&edited) {
                check(&format, text);
                if !resign {
                    // CRC32 catches every single-byte change; a changed checksum digit no
                    // longer encodes the CRC.
                    assert!(
                        format.parse(text).is_err(),
                        "a one-byte edit passed: {text:?}"
                    );
                }
            }
        }
    }
});
