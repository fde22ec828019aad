//! The token format, its strict parser, and the secret types.
//!
//! A token reads `{prefix}_{token_id}_{secret}{checksum}`:
//!
//! | part       | width            | content                                                  |
//! |------------|------------------|----------------------------------------------------------|
//! | `prefix`   | 1–16             | `[a-z][a-z0-9]{0,15}`, default `pit`                     |
//! | `token_id` | [`ID_LEN`] = 16  | random base62, not secret; finds the record in O(1)      |
//! | `secret`   | [`SECRET_LEN`] = 43 | random base62 from the OS CSPRNG: ≥ 256 bits          |
//! | `checksum` | [`CHECKSUM_LEN`] = 6 | CRC32 of everything before it, base62, fixed width   |
//!
//! With the default prefix a token is 70 characters long. Storage keeps the token id and
//! `SHA-256` of the prefix and the 43 secret characters, never the secret.
//!
//! # A token works only for the service that issued it
//!
//! The digest covers the prefix as well as the secret: `SHA-256(tag ‖ secret)`, where the
//! tag is the prefix packed into 11 bytes (one base-37 digit per character, see
//! [`TokenFormat::hash_tag`]). Two services with different prefixes can share one
//! storage: a token of one, its prefix changed and its checksum recomputed, parses for
//! the other but its digest does not match, so it is refused as
//! [`Invalid`](crate::VerifyError::Invalid). The tag is packed so that tag and secret (54
//! bytes) still fit one SHA-256 block: binding the prefix costs verification nothing.

use std::fmt;

use rand::TryCryptoRng;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::ids::{BASE62, ID_LEN, TokenId, fill_base62};
use crate::error::InvalidInput;

/// The number of base62 characters of a token's secret: 43 × log2(62) ≈ 256.03 bits.
///
/// # Example
///
/// ```
/// use private_integrations::{TokenFormat, domain::token::{CHECKSUM_LEN, SECRET_LEN}};
/// let format = TokenFormat::default();
/// assert_eq!(format.token_len(), "pit".len() + 1 + 16 + 1 + SECRET_LEN + CHECKSUM_LEN);
/// ```
pub const SECRET_LEN: usize = 43;

/// The number of base62 characters of a token's checksum (62⁶ > 2³²).
///
/// # Example
///
/// ```
/// use private_integrations::domain::token::CHECKSUM_LEN;
/// assert_eq!(CHECKSUM_LEN, 6);
/// ```
pub const CHECKSUM_LEN: usize = 6;

/// The longest token prefix, in bytes.
///
/// # Example
///
/// ```
/// use private_integrations::{TokenFormat, domain::token::MAX_PREFIX_LEN};
/// assert!(TokenFormat::new(&"a".repeat(MAX_PREFIX_LEN)).is_ok());
/// assert!(TokenFormat::new(&"a".repeat(MAX_PREFIX_LEN + 1)).is_err());
/// ```
pub const MAX_PREFIX_LEN: usize = 16;

/// The default token prefix.
///
/// # Example
///
/// ```
/// use private_integrations::{TokenFormat, domain::token::DEFAULT_PREFIX};
/// assert_eq!(TokenFormat::default().prefix(), DEFAULT_PREFIX);
/// ```
pub const DEFAULT_PREFIX: &str = "pit";

/// The length of a token without its prefix: `_`, id, `_`, secret, checksum.
const BODY_LEN: usize = 1 + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

/// The regular expression of a token with the default prefix (`pit`), for secret
/// scanners: `\bpit_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}\b`.
///
/// It is a **shape pre-filter**: it matches every issued token, and also strings of the
/// same shape whose checksum is wrong. Confirm each match with [`looks_like_token`]
/// (which checks the CRC32 checksum without touching storage) before raising an alert,
/// and with [`PrivateIntegrations::verify`](crate::PrivateIntegrations::verify) before
/// revoking anything. The `\b` anchors find a token inside surrounding text (a `.env`
/// line, JSON, a URL) but not inside a longer run of letters, digits or `_`.
///
/// The same expression for another prefix is [`token_regex`] or [`TokenFormat::regex`].
///
/// # Example
///
/// ```
/// use private_integrations::{TOKEN_PATTERN, TokenFormat};
/// assert_eq!(TOKEN_PATTERN, TokenFormat::default().regex());
/// ```
pub const TOKEN_PATTERN: &str = r"\bpit_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}\b";

/// The regular expression of tokens with this prefix, for secret scanners: the same as
/// [`TokenFormat::regex`], and for `"pit"` the same as [`TOKEN_PATTERN`]. A shape
/// pre-filter: confirm a match with [`TokenFormat::looks_like_token`].
///
/// # Errors
///
/// [`InvalidInput::Malformed`] if the prefix is not `[a-z][a-z0-9]{0,15}`.
///
/// # Example
///
/// ```
/// use private_integrations::token_regex;
/// assert_eq!(token_regex("acme")?, r"\bacme_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}\b");
/// assert!(token_regex("Acme").is_err());
/// # Ok::<(), private_integrations::InvalidInput>(())
/// ```
pub fn token_regex(prefix: &str) -> Result<String, InvalidInput> {
    Ok(TokenFormat::new(prefix)?.regex())
}

/// Whether `text` is a well-formed token with the default prefix (`pit`): exact length,
/// prefix, separators, alphabet and CRC32 checksum. Touches no storage and says nothing
/// about whether the token was ever issued or still works; for secret scanners, log
/// filters and "did you paste the right thing?" checks. For another prefix use
/// [`TokenFormat::looks_like_token`].
///
/// # Example
///
/// ```
/// use private_integrations::{TokenFormat, looks_like_token};
/// let (_, _, token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
/// assert!(looks_like_token(token.expose_secret()));
/// // The right shape, but a random checksum: refused.
/// let typo = format!("pit_{}_{}", "A".repeat(16), "b".repeat(49));
/// assert!(!looks_like_token(&typo));
/// assert!(!looks_like_token("pit_not_a_token"));
/// ```
pub fn looks_like_token(text: &str) -> bool {
    TokenFormat::default().looks_like_token(text)
}

/// The shape of this service's tokens: the prefix, and through it the exact length.
///
/// # Example
///
/// ```
/// use private_integrations::TokenFormat;
///
/// let format = TokenFormat::new("acme")?;
/// assert_eq!(format.prefix(), "acme");
/// assert_eq!(format.token_len(), 71);
/// assert!(TokenFormat::new("Acme").is_err());
/// # Ok::<(), private_integrations::InvalidInput>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenFormat {
    prefix: [u8; MAX_PREFIX_LEN],
    prefix_len: u8,
    /// The prefix as the digest sees it: [`TokenFormat::hash_tag`].
    tag: [u8; HASH_TAG_LEN],
}

/// The length of [`TokenFormat::hash_tag`]: 37¹⁶ < 2⁸⁸, so every prefix packs into 11
/// bytes, and with the 43 secret characters the input to `SHA-256` is 54 bytes, within
/// the 55 of one compression block.
///
/// # Example
///
/// ```
/// use private_integrations::{TokenFormat, domain::token::HASH_TAG_LEN};
/// assert_eq!(TokenFormat::default().hash_tag().len(), HASH_TAG_LEN);
/// ```
pub const HASH_TAG_LEN: usize = 11;

/// The prefix packed into [`HASH_TAG_LEN`] bytes, injectively: each character is one
/// base-37 digit (`a`–`z` are 1–26, `0`–`9` are 27–36), the absent characters of a
/// shorter prefix are 0, so two different prefixes never share a tag.
fn hash_tag(prefix: &[u8]) -> [u8; HASH_TAG_LEN] {
    let mut value: u128 = 0;
    for i in 0..MAX_PREFIX_LEN {
        let digit = match prefix.get(i) {
            Some(&c @ b'a'..=b'z') => c - b'a' + 1,
            Some(&c @ b'0'..=b'9') => c - b'0' + 27,
            _ => 0,
        };
        value = value * 37 + u128::from(digit);
    }
    let bytes = value.to_be_bytes();
    let mut tag = [0u8; HASH_TAG_LEN];
    tag.copy_from_slice(&bytes[bytes.len() - HASH_TAG_LEN..]);
    tag
}

impl Default for TokenFormat {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX).unwrap_or_else(|_| unreachable!("the default prefix is valid"))
    }
}

impl fmt::Debug for TokenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFormat")
            .field("prefix", &self.prefix())
            .finish()
    }
}

/// A token that passed [`TokenFormat::parse`]: its id, and the secret characters to hash.
///
/// # Example
///
/// ```
/// use private_integrations::TokenFormat;
/// let format = TokenFormat::default();
/// let (id, _, token) = format.issue(&mut rand::rngs::SysRng).unwrap();
/// let parsed = format.parse(token.expose_secret()).unwrap();
/// assert_eq!(parsed.id, id);
/// ```
pub struct ParsedToken<'a> {
    /// The token id.
    pub id: TokenId,
    /// The secret characters (borrowed from the presented token).
    pub secret: &'a [u8; SECRET_LEN],
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl TokenFormat {
    /// A format with this prefix: `[a-z][a-z0-9]{0,15}`.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::Malformed`] for any other prefix.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// assert_eq!(TokenFormat::new("acme").unwrap().prefix(), "acme");
    /// assert!(TokenFormat::new("ACME").is_err());
    /// ```
    pub fn new(prefix: &str) -> Result<Self, InvalidInput> {
        let bytes = prefix.as_bytes();
        let well_formed = matches!(bytes.first(), Some(b'a'..=b'z'))
            && bytes.len() <= MAX_PREFIX_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !well_formed {
            return Err(InvalidInput::Malformed {
                field: "token prefix",
            });
        }
        let mut stored = [0u8; MAX_PREFIX_LEN];
        stored[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            prefix: stored,
            prefix_len: bytes.len() as u8,
            tag: hash_tag(bytes),
        })
    }

    /// The prefix as the token digest covers it: packed injectively into
    /// [`HASH_TAG_LEN`] bytes, so that a token's digest is bound to the service that
    /// issued it at no extra cost (see the [module documentation](self)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// let (test, live) = (TokenFormat::new("test")?, TokenFormat::new("live")?);
    /// assert_ne!(test.hash_tag(), live.hash_tag());
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn hash_tag(&self) -> &[u8; HASH_TAG_LEN] {
        &self.tag
    }

    /// The digest storage keeps for a secret of this format: `SHA-256(tag ‖ secret)`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// use subtle::ConstantTimeEq;
    /// let format = TokenFormat::default();
    /// let (_, stored, token) = format.issue(&mut rand::rngs::SysRng).unwrap();
    /// let parsed = format.parse(token.expose_secret()).unwrap();
    /// assert!(bool::from(format.hash(parsed.secret).ct_eq(&stored)));
    /// ```
    pub fn hash(&self, secret: &[u8; SECRET_LEN]) -> TokenHash {
        TokenHash::of(&self.tag, secret)
    }

    /// The prefix.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// let format = TokenFormat::default();
    /// assert_eq!(format.prefix(), "pit");
    /// ```
    pub fn prefix(&self) -> &str {
        std::str::from_utf8(self.prefix_bytes()).unwrap_or_default()
    }

    fn prefix_bytes(&self) -> &[u8] {
        &self.prefix[..usize::from(self.prefix_len)]
    }

    /// The exact length of every token of this format.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// let format = TokenFormat::default();
    /// assert_eq!(format.token_len(), 70);
    /// ```
    pub fn token_len(&self) -> usize {
        usize::from(self.prefix_len) + BODY_LEN
    }

    /// A regular expression matching the shape of this format's tokens (the checksum is
    /// not checked by a regex; [`TokenFormat::parse`] checks it). For secret scanners.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// assert_eq!(
    ///     TokenFormat::default().regex(),
    ///     r"\bpit_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}\b"
    /// );
    /// ```
    pub fn regex(&self) -> String {
        format!(
            r"\b{}_[0-9A-Za-z]{{{ID_LEN}}}_[0-9A-Za-z]{{{}}}\b",
            self.prefix(),
            SECRET_LEN + CHECKSUM_LEN
        )
    }

    /// Strictly parses a presented token, without touching storage.
    ///
    /// The length is checked first, so any input of the wrong size (a 1 MB header, say)
    /// costs one comparison. Then the prefix, the separators, the alphabet and the
    /// checksum. Never panics.
    ///
    /// # Errors
    ///
    /// [`Malformed`] on any deviation.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// let format = TokenFormat::default();
    /// let (_, _, token) = format.issue(&mut rand::rngs::SysRng).unwrap();
    /// assert!(format.parse(token.expose_secret()).is_ok());
    /// assert!(format.parse(&"x".repeat(1 << 20)).is_err());
    /// ```
    pub fn parse<'a>(&self, token: &'a str) -> Result<ParsedToken<'a>, Malformed> {
        let bytes = token.as_bytes();
        if bytes.len() != self.token_len() {
            return Err(Malformed);
        }
        // The prefix as one 128-bit compare: every token is longer than 16 bytes.
        let head: &[u8; MAX_PREFIX_LEN] =
            bytes[..MAX_PREFIX_LEN].try_into().map_err(|_| Malformed)?;
        let mask = u128::MAX >> (8 * (MAX_PREFIX_LEN - usize::from(self.prefix_len)));
        let prefix_matches = u128::from_le_bytes(*head) & mask == u128::from_le_bytes(self.prefix);
        let body: &[u8; BODY_LEN] = bytes[usize::from(self.prefix_len)..]
            .try_into()
            .map_err(|_| Malformed)?;
        if !prefix_matches || body[0] != b'_' || body[1 + ID_LEN] != b'_' {
            return Err(Malformed);
        }
        let (id, rest) = body[1..].split_at(ID_LEN);
        let (secret, checksum) = rest[1..].split_at(SECRET_LEN);
        let id: &[u8; ID_LEN] = id.try_into().map_err(|_| Malformed)?;
        let secret: &[u8; SECRET_LEN] = secret.try_into().map_err(|_| Malformed)?;
        let checksum: &[u8; CHECKSUM_LEN] = checksum.try_into().map_err(|_| Malformed)?;
        // `&`, not `&&`: no early exit, so each check compiles to a few SIMD compares.
        if !(all_base62(id) & all_base62(secret) & all_base62(checksum)) {
            return Err(Malformed);
        }
        let signed = &bytes[..bytes.len() - CHECKSUM_LEN];
        if decode_checksum(checksum) != u64::from(crc32fast::hash(signed)) {
            return Err(Malformed);
        }
        Ok(ParsedToken {
            id: TokenId::from_bytes(*id),
            secret,
        })
    }

    /// Whether `token` is a well-formed token of this format, checksum included. Touches
    /// no storage: for secret scanners and log filters.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// assert!(!TokenFormat::default().looks_like_token("pit_not_a_token"));
    /// ```
    pub fn looks_like_token(&self, token: &str) -> bool {
        self.parse(token).is_ok()
    }

    /// Issues a fresh token: a random id and secret, and the hash to store.
    ///
    /// # Errors
    ///
    /// Whatever the random number generator reports.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenFormat;
    /// let format = TokenFormat::default();
    /// let (id, _hash, token) = format.issue(&mut rand::rngs::SysRng).unwrap();
    /// assert_eq!(token.token_id(), &id);
    /// ```
    pub fn issue<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<(TokenId, TokenHash, IssuedToken), R::Error> {
        let id = TokenId::generate(rng)?;
        let mut secret = [0u8; SECRET_LEN];
        fill_base62(rng, &mut secret)?;
        let hash = self.hash(&secret);

        let mut text = String::with_capacity(self.token_len());
        text.push_str(self.prefix());
        text.push('_');
        text.push_str(id.as_str());
        text.push('_');
        // `secret` holds base62 ASCII only.
        text.extend(secret.iter().map(|&b| char::from(b)));
        let checksum = encode_checksum(crc32fast::hash(text.as_bytes()));
        text.extend(checksum.iter().map(|&b| char::from(b)));
        secret.zeroize();
        Ok((id, hash, IssuedToken { token_id: id, text }))
    }
}

/// The token is not of this service's format. Carries nothing of the input.
///
/// # Example
///
/// ```
/// use private_integrations::TokenFormat;
/// let format = TokenFormat::default();
/// assert_eq!(format.parse("pit_nope").unwrap_err(), private_integrations::domain::token::Malformed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Whether every byte is in `0-9A-Za-z`. Written without branches so that it vectorizes.
#[inline]
fn all_base62<const N: usize>(bytes: &[u8; N]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        // `b | 0x20` folds `A-Z` onto `a-z` (and nothing else onto it).
        ok & ((b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 26))
    })
}

/// The value of each base62 digit (only meaningful for bytes that pass [`all_base62`]).
const BASE62_VALUE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < BASE62.len() {
        table[BASE62[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The checksum digits as a number (up to 62⁶ - 1, so never equal to a CRC32 that the
/// digits do not encode).
#[inline]
fn decode_checksum(digits: &[u8; CHECKSUM_LEN]) -> u64 {
    digits.iter().fold(0, |value, &d| {
        value * 62 + u64::from(BASE62_VALUE[usize::from(d)])
    })
}

/// The CRC32 as exactly [`CHECKSUM_LEN`] base62 digits, most significant first.
fn encode_checksum(mut crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for digit in out.iter_mut().rev() {
        *digit = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    out
}

/// `SHA-256` of a token's prefix tag and secret characters
/// ([`TokenFormat::hash`]). What storage keeps instead of the secret.
///
/// Equality is constant-time ([`ConstantTimeEq`]); `Debug` does not print the digest.
///
/// # Example
///
/// ```
/// use private_integrations::TokenHash;
/// use subtle::ConstantTimeEq;
/// let a = TokenHash::from_bytes([1; 32]);
/// assert!(bool::from(a.ct_eq(&TokenHash::from_bytes([1; 32]))));
/// assert_eq!(format!("{a:?}"), "TokenHash([redacted])");
/// ```
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a prefix tag and secret characters: 54 bytes, one SHA-256 block.
    fn of(tag: &[u8; HASH_TAG_LEN], secret: &[u8; SECRET_LEN]) -> Self {
        Self(
            Sha256::new()
                .chain_update(tag)
                .chain_update(secret)
                .finalize()
                .into(),
        )
    }

    /// Wraps a digest read back from storage.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenHash;
    /// let hash = TokenHash::from_bytes([7; 32]);
    /// assert_eq!(hash.as_bytes(), &[7; 32]);
    /// ```
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest, for storage.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenHash;
    /// assert_eq!(TokenHash::from_bytes([9; 32]).as_bytes(), &[9; 32]);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn words(&self) -> [u64; 4] {
        let mut words = [0u64; 4];
        for (word, chunk) in words.iter_mut().zip(self.0.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_ne_bytes(bytes);
        }
        words
    }
}

impl ConstantTimeEq for TokenHash {
    /// Compares the digests as four `u64` words: the same constant-time guarantee as a
    /// byte-wise compare, with a quarter of the work.
    fn ct_eq(&self, other: &Self) -> Choice {
        let (a, b) = (self.words(), other.words());
        a[0].ct_eq(&b[0]) & a[1].ct_eq(&b[1]) & a[2].ct_eq(&b[2]) & a[3].ct_eq(&b[3])
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash([redacted])")
    }
}

/// A freshly issued token, the only time its text exists outside the third party's hands.
///
/// Show it to the admin once, then drop it: it cannot be retrieved again. It has no
/// `Display`, no `Serialize` and no `Clone`; `Debug` shows only the public token id; the
/// text is zeroized when the value is dropped.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio_test(async {
/// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
/// let pi = PrivateIntegrations::builder(MemoryStorage::new()).scope_catalog(catalog).build();
/// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let created = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
/// let token: IssuedToken = created.token;
/// assert!(token.expose_secret().starts_with("pit_"));
/// assert!(!format!("{token:?}").contains(token.expose_secret()));
/// # Ok(()) });
/// # fn tokio_test<F: std::future::Future<Output = Result<(), Error>>>(f: F) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f).unwrap()
/// # }
/// ```
pub struct IssuedToken {
    token_id: TokenId,
    text: String,
}

impl IssuedToken {
    /// The whole token text, to hand to the third party.
    ///
    /// # Security Warning
    ///
    /// This is the secret. Show it once, over a secure channel, and never log, store or
    /// serialize it; keep the borrow short so no copy outlives this value.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// println!("Copy this token now, it will not be shown again: {}", token.expose_secret());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// The public id part of the token (safe to log).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// assert!(token.expose_secret().contains(token.token_id().as_str()));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn token_id(&self) -> &TokenId {
        &self.token_id
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token_id", &self.token_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl Drop for IssuedToken {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

impl ZeroizeOnDrop for IssuedToken {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn issue(format: &TokenFormat) -> IssuedToken {
        format.issue(&mut StdRng::seed_from_u64(7)).unwrap().2
    }

    #[test]
    fn issued_tokens_parse_back() {
        let format = TokenFormat::default();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let (id, hash, token) = format.issue(&mut rng).unwrap();
            let text = token.expose_secret();
            assert_eq!(text.len(), 70);
            let parsed = format.parse(text).unwrap();
            assert_eq!(parsed.id, id);
            assert!(bool::from(format.hash(parsed.secret).ct_eq(&hash)));
            assert!(format.looks_like_token(text));
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let format = TokenFormat::default();
        let token = issue(&format);
        let good = token.expose_secret();
        let mut cases: Vec<String> = vec![
            String::new(),
            "pit_".into(),
            good[..good.len() - 1].into(),
            format!("{good}0"),
            good.replacen("pit_", "pat_", 1),
            good.replacen("pit_", "PIT_", 1),
            "x".repeat(1 << 20),
            // Same length, one character outside the alphabet.
            format!("{}-{}", &good[..30], &good[31..]),
            // Non-ASCII of the same byte length.
            format!("{}é{}", &good[..30], &good[32..]),
            // Separator moved.
            format!("{}{}", &good[..4].replace('_', "0"), &good[4..]),
        ];
        // Every single-character change breaks the checksum.
        for i in [4, 10, 21, 40, 63, 65, 69] {
            let mut bytes = good.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            cases.push(String::from_utf8(bytes).unwrap());
        }
        for case in &cases {
            assert!(format.parse(case).is_err(), "accepted {case:?}");
        }
        assert!(TokenFormat::new("acme").unwrap().parse(good).is_err());
    }

    #[test]
    fn prefixes() {
        for ok in ["pit", "a", "acme2", "abcdefghijklmnop"] {
            assert!(TokenFormat::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2ac",
            "Acme",
            "ac-me",
            "ac_me",
            "abcdefghijklmnopq",
            "é",
        ] {
            assert!(TokenFormat::new(bad).is_err(), "{bad}");
        }
        let format = TokenFormat::new("acme").unwrap();
        let token = issue(&format);
        assert!(token.expose_secret().starts_with("acme_"));
        assert!(format.parse(token.expose_secret()).is_ok());
    }

    #[test]
    fn hash_tags_are_distinct_and_bind_the_digest() {
        let prefixes = [
            "a", "b", "z", "a0", "a9", "aa", "pit", "pit0", "test", "live",
        ];
        let mut tags: Vec<_> = prefixes
            .iter()
            .map(|p| *TokenFormat::new(p).unwrap().hash_tag())
            .collect();
        let longest = "z9".repeat(MAX_PREFIX_LEN / 2);
        tags.push(*TokenFormat::new(&longest).unwrap().hash_tag());
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), prefixes.len() + 1);
        // The largest prefix still fits: 37^16 - 1 < 2^88.
        assert!(37u128.pow(16) - 1 < 1 << (8 * HASH_TAG_LEN));

        let (test, live) = (
            TokenFormat::new("test").unwrap(),
            TokenFormat::new("live").unwrap(),
        );
        let secret = [b'k'; SECRET_LEN];
        assert!(!bool::from(test.hash(&secret).ct_eq(&live.hash(&secret))));
        assert!(bool::from(test.hash(&secret).ct_eq(&test.hash(&secret))));
    }

    #[test]
    fn debug_is_redacted() {
        let format = TokenFormat::default();
        let (_, hash, token) = format.issue(&mut StdRng::seed_from_u64(3)).unwrap();
        let secret_part = &token.expose_secret()[21..64];
        let debug = format!(
            "{token:?} {hash:?} {:?}",
            format.parse(token.expose_secret())
        );
        assert!(!debug.contains(secret_part), "{debug}");
        assert_eq!(
            format!("{token:?}"),
            format!(
                "IssuedToken {{ token_id: TokenId({:?}), secret: \"[redacted]\" }}",
                token.token_id().as_str()
            )
        );
        assert_eq!(format!("{hash:?}"), "TokenHash([redacted])");
    }

    #[test]
    fn checksum_is_fixed_width_and_decodes_back() {
        assert_eq!(&encode_checksum(0), b"000000");
        assert_eq!(&encode_checksum(u32::MAX), b"4gfFC3");
        for crc in [0, 1, 61, 62, 12_345_678, u32::MAX - 1, u32::MAX] {
            assert_eq!(decode_checksum(&encode_checksum(crc)), u64::from(crc));
        }
        // Digits beyond any CRC32 never match one.
        assert!(decode_checksum(b"zzzzzz") > u64::from(u32::MAX));
    }

    #[test]
    fn alphabet_check_is_exact() {
        for b in 0..=255u8 {
            assert_eq!(all_base62(&[b]), b.is_ascii_alphanumeric(), "byte {b}");
        }
    }
}
