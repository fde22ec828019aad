//! Reference models ("oracles") of the crate's documented input rules, written from the
//! rustdoc (`NewIntegration`, `IntegrationUpdate`, `UserId`, `ScopeCatalog`, DESIGN §1
//! and §3) and from `openapi.yaml`'s `Name` and `Description` schemas, not from the
//! crate's code.
//!
//! Pure functions with no dependency but `crc32fast` and the crate's `InvalidInput`, so
//! that the main crate's `tests/fuzz_models.rs` compiles this very file
//! (`#[path = "../fuzz/src/models.rs"]`) and the fuzz targets and the test suite check
//! the library against the same text.

use private_integrations::InvalidInput;

/// The base62 alphabet of ids, secrets and checksums.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The longest name, in characters (Unicode scalar values) after trimming.
pub const NAME_MAX: usize = 100;
/// The longest description, in characters after trimming.
pub const DESCRIPTION_MAX: usize = 1000;
/// The longest account or user id, in bytes.
pub const HOST_ID_MAX: usize = 255;

/// The checksum of DESIGN §3 for `signed` (everything before the checksum): CRC32 as six
/// base62 digits, most significant first.
pub fn checksum(signed: &[u8]) -> [u8; 6] {
    let mut crc = crc32fast::hash(signed);
    let mut out = [b'0'; 6];
    for digit in out.iter_mut().rev() {
        *digit = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    out
}

/// `body` (a token without its checksum) with its checksum appended.
pub fn sign(mut body: Vec<u8>) -> Vec<u8> {
    let digits = checksum(&body);
    body.extend_from_slice(&digits);
    body
}

/// The reference parser of DESIGN §3: `Some((id, secret))` if `text` is a well-formed
/// token with this prefix.
pub fn reference_parse<'a>(prefix: &str, text: &'a str) -> Option<(&'a str, &'a str)> {
    let bytes = text.as_bytes();
    let p = prefix.len();
    if !text.starts_with(prefix) || !token_shape(bytes, p) {
        return None;
    }
    Some((&text[p + 1..p + 17], &text[p + 18..p + 61]))
}

/// Whether `bytes` is `{p bytes}_{16 base62}_{43 base62}{6 base62}` with a right checksum
/// (the first `p` bytes are not looked at).
fn token_shape(bytes: &[u8], p: usize) -> bool {
    if bytes.len() != p + 1 + 16 + 1 + 43 + 6 || bytes[p] != b'_' || bytes[p + 17] != b'_' {
        return false;
    }
    let base62 = |s: &[u8]| s.iter().all(u8::is_ascii_alphanumeric);
    base62(&bytes[p + 1..p + 17])
        && base62(&bytes[p + 18..])
        && checksum(&bytes[..p + 61]) == bytes[p + 61..]
}

/// The reference rule for a token prefix: `[a-z][a-z0-9]{0,15}`.
pub fn reference_prefix_ok(prefix: &str) -> bool {
    reference_prefix_bytes_ok(prefix.as_bytes())
}

fn reference_prefix_bytes_ok(b: &[u8]) -> bool {
    (1..=16).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `text` holds a token of any prefix with a right checksum, anywhere in it
/// (`NewIntegration`: "neither holds a token (`{prefix}_{id}_{secret}{checksum}` of any
/// prefix, with a right checksum)"). Every start and every prefix length is tried, so a
/// token glued to the text before it (`xpit_…`) counts too: its tail is a token of a
/// shorter prefix.
pub fn reference_holds_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|start| {
        (1..=16).any(|p| {
            let end = start + p + 67;
            end <= bytes.len()
                && reference_prefix_bytes_ok(&bytes[start..start + p])
                && token_shape(&bytes[start..end], p)
        })
    })
}

/// Control characters: Unicode general category Cc (U+0000–U+001F, U+007F–U+009F), as
/// `openapi.yaml`'s patterns list them.
pub fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Bidirectional embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069),
/// refused in names and descriptions.
pub fn is_bidi_override_or_isolate(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The line and paragraph separators U+2028 and U+2029, refused in names.
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// White space as Unicode's White_Space property lists it (what trimming removes).
pub fn is_white_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Characters that show nothing and are no white space: zero-width space, joiners and
/// directional marks (U+200B–U+200F), word joiner and invisible operators
/// (U+2060–U+2064), the byte-order mark (U+FEFF): `openapi.yaml`'s `Name` pattern does
/// not count them as the visible character a name needs.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// A character that counts as the visible one a name needs.
pub fn is_visible(c: char) -> bool {
    !is_white_space(c) && !is_invisible(c)
}

/// `text` without white space at either end.
pub fn trim(text: &str) -> &str {
    text.trim_matches(is_white_space)
}

/// The reference rule for a name (`NewIntegration`, `openapi.yaml` `Name`), checked in
/// this order, the first broken rule giving the error:
///
/// 1. trimmed of white space, empty: `Empty`;
/// 2. more than 100 characters after trimming: `TooLong { max: 100 }`;
/// 3. a control character, a bidi override or isolate, or a line or paragraph separator
///    anywhere: `ControlCharacter`;
/// 4. no visible character (only white space and invisible characters such as U+200F
///    RIGHT-TO-LEFT MARK or U+200B ZERO WIDTH SPACE): `Empty`;
/// 5. holds a token: `HoldsToken`.
///
/// Returns the stored value (trimmed).
pub fn reference_name(name: &str) -> Result<String, InvalidInput> {
    let field = "name";
    let name = trim(name);
    if name.is_empty() {
        return Err(InvalidInput::Empty { field });
    }
    if name.chars().count() > NAME_MAX {
        return Err(InvalidInput::TooLong {
            field,
            max: NAME_MAX,
        });
    }
    if name
        .chars()
        .any(|c| is_control(c) || is_bidi_override_or_isolate(c) || is_line_separator(c))
    {
        return Err(InvalidInput::ControlCharacter { field });
    }
    if !name.chars().any(is_visible) {
        return Err(InvalidInput::Empty { field });
    }
    if reference_holds_token(name) {
        return Err(InvalidInput::HoldsToken { field });
    }
    Ok(name.to_owned())
}

/// The reference rule for a description (`NewIntegration`, `openapi.yaml`
/// `Description`), in this order:
///
/// 1. more than 1000 characters after trimming: `TooLong { max: 1000 }` (empty is fine);
/// 2. a control character other than LF, CR and TAB, or a bidi override or isolate:
///    `ControlCharacter` (line and paragraph separators are allowed);
/// 3. holds a token: `HoldsToken`.
///
/// Returns the stored value (trimmed).
pub fn reference_description(description: &str) -> Result<String, InvalidInput> {
    let field = "description";
    let description = trim(description);
    if description.chars().count() > DESCRIPTION_MAX {
        return Err(InvalidInput::TooLong {
            field,
            max: DESCRIPTION_MAX,
        });
    }
    if description.chars().any(|c| {
        (is_control(c) && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_override_or_isolate(c)
    }) {
        return Err(InvalidInput::ControlCharacter { field });
    }
    if reference_holds_token(description) {
        return Err(InvalidInput::HoldsToken { field });
    }
    Ok(description.to_owned())
}

/// The reference rule for an account or user id (`UserId::try_new`, `AccountId::try_new`;
/// `field` is `"user id"` or `"account id"`): not trimmed; empty: `Empty`; more than 255
/// bytes: `TooLong { max: 255 }`; a control character: `ControlCharacter`.
pub fn reference_host_id(field: &'static str, id: &str) -> Result<(), InvalidInput> {
    if id.is_empty() {
        return Err(InvalidInput::Empty { field });
    }
    if id.len() > HOST_ID_MAX {
        return Err(InvalidInput::TooLong {
            field,
            max: HOST_ID_MAX,
        });
    }
    if id.chars().any(is_control) {
        return Err(InvalidInput::ControlCharacter { field });
    }
    Ok(())
}

/// The reference rule for a scope name: 1..=128 bytes of `[A-Za-z0-9._\-/:]`.
pub fn reference_scope_name(name: &str) -> Result<(), InvalidInput> {
    let field = "scope name";
    if name.is_empty() {
        return Err(InvalidInput::Empty { field });
    }
    if name.len() > 128 {
        return Err(InvalidInput::TooLong { field, max: 128 });
    }
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':');
    if name.bytes().all(allowed) {
        Ok(())
    } else {
        Err(InvalidInput::Malformed { field })
    }
}

/// The reference rule for a scope catalog: 1..=256 distinct well-formed names; the first
/// broken rule in the order the names are given.
pub fn reference_catalog(names: &[String]) -> Result<(), InvalidInput> {
    for (n, name) in names.iter().enumerate() {
        reference_scope_name(name)?;
        if names[..n].contains(name) {
            return Err(InvalidInput::DuplicateScope(name.clone()));
        }
        if n == 256 {
            return Err(InvalidInput::TooManyScopes { max: 256 });
        }
    }
    if names.is_empty() {
        return Err(InvalidInput::Empty {
            field: "scope catalog",
        });
    }
    Ok(())
}

/// What validating an integration's fields gives, comparably: the library's
/// `Result<_, Error>` and the model's both map to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted.
    Ok,
    /// `Error::InvalidInput`.
    Invalid(InvalidInput),
    /// `Error::UnknownScope`.
    UnknownScope(String),
}

/// The reference rule for an integration's scopes against a catalog: none is `NoScopes`;
/// else the first one not in the catalog is `UnknownScope`; duplicates merge.
pub fn reference_scopes(catalog: &[&str], scopes: &[String]) -> Outcome {
    if scopes.is_empty() {
        return Outcome::Invalid(InvalidInput::NoScopes);
    }
    match scopes.iter().find(|s| !catalog.contains(&s.as_str())) {
        Some(unknown) => Outcome::UnknownScope(unknown.clone()),
        None => Outcome::Ok,
    }
}

/// The reference rule for `NewIntegration::validate`: the name, then the description,
/// then the scopes; the first broken rule wins.
pub fn reference_new_integration(
    catalog: &[&str],
    name: &str,
    description: &str,
    scopes: &[String],
) -> Outcome {
    if let Err(e) = reference_name(name) {
        return Outcome::Invalid(e);
    }
    if let Err(e) = reference_description(description) {
        return Outcome::Invalid(e);
    }
    reference_scopes(catalog, scopes)
}

/// What the documented `Authorization` rules (`http::BearerError`, the bearer parser's
/// rustdoc in `src/http/bearer.rs`) make of a request's `Authorization` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No header, or another scheme: 401 with a bare challenge.
    Missing,
    /// Two or more headers: 400 `invalid_request`.
    Ambiguous,
    /// Malformed: 401 `invalid_token`.
    Invalid,
    /// The token to verify.
    Token(&'a str),
}

/// The longest `Authorization` value looked at, in bytes.
pub const MAX_AUTHORIZATION: usize = 1024;

/// The reference reading of `Authorization` values: none is `Missing`; two or more
/// `Ambiguous`; one longer than 1024 bytes `Invalid`; else, white space (spaces, tabs)
/// around it ignored, the scheme (up to the first space or tab) must be `Bearer` in any
/// case (else `Missing`), followed by one or more spaces or tabs and a token that is
/// non-empty, UTF-8 and free of white space (else `Invalid`).
pub fn reference_bearer<'a>(values: &[&'a [u8]]) -> Bearer<'a> {
    let value = match values {
        [] => return Bearer::Missing,
        [one] => *one,
        _ => return Bearer::Ambiguous,
    };
    if value.len() > MAX_AUTHORIZATION {
        return Bearer::Invalid;
    }
    let white = |b: &u8| b.is_ascii_whitespace();
    let start = value.iter().position(|b| !white(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !white(b))
        .map_or(start, |at| at + 1);
    let value = &value[start..end];
    let scheme_end = value
        .iter()
        .position(|b| matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Bearer::Missing;
    }
    let rest = &value[scheme_end..];
    let token = &rest[rest.iter().take_while(|b| white(b)).count()..];
    if token.is_empty() || token.iter().any(white) {
        return Bearer::Invalid;
    }
    std::str::from_utf8(token).map_or(Bearer::Invalid, Bearer::Token)
}
