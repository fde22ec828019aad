//! What the fuzz targets share: a poll-once executor, a reference checksum, and
//! reference implementations ("oracles") of the input rules of DESIGN §1, written
//! independently of the crate so that each target can compare the two.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use private_integrations::InvalidInput;

/// The base62 alphabet of ids, secrets and checksums.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Runs a future that completes without waiting, as every `MemoryStorage` call does.
///
/// # Panics
///
/// If the future is still pending after one poll.
pub fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future)
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a MemoryStorage call did not complete at once"),
    }
}

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
    if bytes.len() != p + 1 + 16 + 1 + 43 + 6 || !text.starts_with(prefix) {
        return None;
    }
    if bytes[p] != b'_' || bytes[p + 17] != b'_' {
        return None;
    }
    let id = &text[p + 1..p + 17];
    let secret = &text[p + 18..p + 61];
    let digits = &bytes[p + 61..];
    let base62 = |s: &[u8]| s.iter().all(u8::is_ascii_alphanumeric);
    if !(base62(id.as_bytes()) && base62(secret.as_bytes()) && base62(digits)) {
        return None;
    }
    (checksum(&bytes[..p + 61]) == digits).then_some((id, secret))
}

/// The reference rule for a token prefix: `[a-z][a-z0-9]{0,15}`.
pub fn reference_prefix_ok(prefix: &str) -> bool {
    let b = prefix.as_bytes();
    (1..=16).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The reference rule for a name (DESIGN §1): 1..=100 characters after trimming, no
/// control characters. Returns the stored value.
pub fn reference_name(name: &str) -> Result<String, InvalidInput> {
    let name = name.trim();
    if name.is_empty() {
        return Err(InvalidInput::Empty { field: "name" });
    }
    if name.chars().count() > 100 {
        return Err(InvalidInput::TooLong {
            field: "name",
            max: 100,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidInput::ControlCharacter { field: "name" });
    }
    Ok(name.to_owned())
}

/// The reference rule for a description: at most 1000 characters after trimming, no
/// control characters but line breaks and tabs. Returns the stored value.
pub fn reference_description(description: &str) -> Result<String, InvalidInput> {
    let description = description.trim();
    if description.chars().count() > 1000 {
        return Err(InvalidInput::TooLong {
            field: "description",
            max: 1000,
        });
    }
    if description
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(InvalidInput::ControlCharacter {
            field: "description",
        });
    }
    Ok(description.to_owned())
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
