//! Identifiers: the host's accounts and users, and the ids this crate generates.

use std::fmt;
use std::sync::Arc;

use rand::TryCryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::InvalidInput;

/// The longest account or user id accepted, in bytes.
///
/// # Example
///
/// ```
/// use private_integrations::{AccountId, domain::ids::MAX_HOST_ID_LEN};
/// assert!(AccountId::try_new("a".repeat(MAX_HOST_ID_LEN)).is_ok());
/// assert!(AccountId::try_new("a".repeat(MAX_HOST_ID_LEN + 1)).is_err());
/// ```
pub const MAX_HOST_ID_LEN: usize = 255;

fn validate_host_id(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    if value.is_empty() {
        return Err(InvalidInput::Empty { field });
    }
    if value.len() > MAX_HOST_ID_LEN {
        return Err(InvalidInput::TooLong {
            field,
            max: MAX_HOST_ID_LEN,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::ControlCharacter { field });
    }
    Ok(())
}

/// The longest account or user id kept inline: 24 bytes (an integer, a prefixed id such
/// as `acct_1Nv0FGQ9RKHgCVdK`, a 24-digit hex object id). An id of 32 bytes (room for a
/// UUID) would add 16 bytes to every stored record and audit event of `MemoryStorage`,
/// past its memory aim; a longer id is shared behind a reference count instead.
pub(crate) const INLINE_HOST_ID: usize = 24;

/// An account or user id: kept inline when it is at most [`INLINE_HOST_ID`] bytes long,
/// so that a clone copies it and touches no memory shared with other clones; a longer one
/// is shared behind a reference count.
///
/// Verification hands out copies of the account id ([`Verified`](crate::Verified)); kept
/// inline, a token verified on every core at once writes to no shared cache line.
#[derive(Clone)]
pub(crate) enum HostStr {
    Inline(arrayvec::ArrayString<INLINE_HOST_ID>),
    Shared(Arc<str>),
}

impl HostStr {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Inline(s) => s.as_str(),
            Self::Shared(s) => s,
        }
    }
}

impl From<String> for HostStr {
    fn from(s: String) -> Self {
        match arrayvec::ArrayString::from(&s) {
            Ok(inline) => Self::Inline(inline),
            Err(_) => Self::Shared(Arc::from(s)),
        }
    }
}

// By content: which form a string takes depends on its length alone, but the order of
// the forms is not the order of the strings.
impl PartialEq for HostStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for HostStr {}

impl std::hash::Hash for HostStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for HostStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HostStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for HostStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

macro_rules! host_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $example:literal) => {
        $(#[$doc])*
        ///
        /// The value comes from the host application. It must be non-empty, at most
        /// [`MAX_HOST_ID_LEN`] bytes long and free of control characters. Cloning is
        /// cheap: an id of up to 24 bytes is kept inline and copied, a longer one (a
        /// UUID) is shared behind a reference count.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(HostStr);

        impl $name {
            /// Wraps a trusted id of the host application, such as a literal or a value
            /// read from the host's own database.
            ///
            /// # Panics
            ///
            /// Panics if the id is empty, longer than [`MAX_HOST_ID_LEN`] bytes or holds a
            /// control character. Use [`try_new`](Self::try_new) for ids that come from
            /// outside (a request path, a form).
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use private_integrations::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::new(\"", $example, "\");")]
            #[doc = concat!("assert_eq!(id.as_str(), \"", $example, "\");")]
            /// ```
            #[track_caller]
            pub fn new(id: impl Into<String>) -> Self {
                match Self::try_new(id) {
                    Ok(id) => id,
                    Err(err) => panic!("invalid {}: {err}", $field),
                }
            }

            /// Validates and wraps an id.
            ///
            /// # Errors
            ///
            /// [`InvalidInput`] if the id is empty, too long or holds a control character.
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use private_integrations::", stringify!($name), ";")]
            #[doc = concat!("assert!(", stringify!($name), "::try_new(\"", $example, "\").is_ok());")]
            #[doc = concat!("assert!(", stringify!($name), "::try_new(\"\").is_err());")]
            #[doc = concat!("assert!(", stringify!($name), "::try_new(\"a\\nb\").is_err());")]
            /// ```
            pub fn try_new(id: impl Into<String>) -> Result<Self, InvalidInput> {
                let id = id.into();
                validate_host_id($field, &id)?;
                Ok(Self(HostStr::from(id)))
            }

            /// The id as the host gave it.
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use private_integrations::", stringify!($name), ";")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::new(\"", $example, "\").as_str(), \"", $example, "\");")]
            /// ```
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.as_str()).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::try_new(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

host_id!(
    /// The host application's id of an account (a tenant). Every integration belongs to
    /// exactly one account, and management calls only ever see their own account's.
    AccountId,
    "account id",
    "acct_1"
);

host_id!(
    /// The host application's id of a user who acts on an account.
    UserId,
    "user id",
    "u_admin"
);

/// The alphabet of every generated id, token and checksum: `0-9A-Za-z`.
pub(crate) const BASE62: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills `out` with uniformly random base62 characters from a cryptographic RNG.
///
/// Each random byte below 248 (= 4 × 62) gives one character (`byte % 62`); the rest
/// are rejected, so every character is uniform and carries log2(62) ≈ 5.95 bits.
pub(crate) fn fill_base62<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    out: &mut [u8],
) -> Result<(), R::Error> {
    let mut filled = 0;
    let mut pool = [0u8; 64];
    while filled < out.len() {
        rng.try_fill_bytes(&mut pool)?;
        for &byte in &pool {
            if filled == out.len() {
                break;
            }
            if byte < 248 {
                out[filled] = BASE62[usize::from(byte % 62)];
                filled += 1;
            }
        }
    }
    pool.fill(0);
    Ok(())
}

/// The number of base62 characters of an [`IntegrationId`] and a [`TokenId`]
/// (≈ 95 random bits each).
///
/// # Example
///
/// ```
/// use private_integrations::{IntegrationId, domain::ids::ID_LEN};
/// assert!(IntegrationId::parse(&"A".repeat(ID_LEN)).is_ok());
/// ```
pub const ID_LEN: usize = 16;

fn parse_id(field: &'static str, s: &str) -> Result<[u8; ID_LEN], InvalidInput> {
    let bytes: [u8; ID_LEN] = s
        .as_bytes()
        .try_into()
        .map_err(|_| InvalidInput::Malformed { field })?;
    if bytes.iter().all(u8::is_ascii_alphanumeric) {
        Ok(bytes)
    } else {
        Err(InvalidInput::Malformed { field })
    }
}

macro_rules! generated_id {
    ($(#[$doc:meta])* $name:ident, $field:literal $(, $derive:ident)*) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord $(, $derive)*)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// Generates a fresh random id.
            ///
            /// # Errors
            ///
            /// Whatever the random number generator reports.
            ///
            /// # Example
            ///
            /// ```
            /// use private_integrations::IntegrationId;
            /// let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
            /// assert_eq!(id.as_str().len(), 16);
            /// ```
            pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, R::Error> {
                let mut id = [0u8; ID_LEN];
                fill_base62(rng, &mut id)?;
                Ok(Self(id))
            }

            /// Parses the text form (exactly [`ID_LEN`] base62 characters).
            ///
            /// # Errors
            ///
            /// [`InvalidInput::Malformed`] for any other string.
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use private_integrations::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::parse(\"AbCdEfGh12345678\").unwrap();")]
            /// assert_eq!(id.as_str(), "AbCdEfGh12345678");
            #[doc = concat!("assert!(", stringify!($name), "::parse(\"too-short\").is_err());")]
            /// ```
            pub fn parse(s: &str) -> Result<Self, InvalidInput> {
                parse_id($field, s).map(Self)
            }

            /// Builds the id from bytes already checked to be base62.
            pub(crate) fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }

            /// The id's bytes (ASCII base62).
            #[allow(dead_code)]
            pub(crate) fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// The text form.
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use private_integrations::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::parse(\"AbCdEfGh12345678\").unwrap();")]
            /// assert_eq!(id.as_str(), "AbCdEfGh12345678");
            /// ```
            pub fn as_str(&self) -> &str {
                // Every constructor guarantees ASCII alphanumerics.
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.as_str()).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidInput;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

generated_id!(
    /// The id of an integration: 16 random base62 characters, generated on creation.
    /// Not a secret; it appears in admin URLs and the audit log.
    IntegrationId,
    "integration id"
);

generated_id!(
    /// The public part of a token that finds its record in O(1): 16 random base62
    /// characters. Not a secret on its own (the secret part is what authenticates);
    /// storage enforces that it is unique.
    TokenId,
    "token id",
    Copy
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_shared_ids_compare_hash_and_sort_by_content() {
        use std::hash::BuildHasher;
        let short = "a".repeat(INLINE_HOST_ID);
        let long = "a".repeat(INLINE_HOST_ID + 1);
        let (a, b) = (AccountId::new(short.clone()), AccountId::new(long.clone()));
        assert!(matches!(a.0, HostStr::Inline(_)));
        assert!(matches!(b.0, HostStr::Shared(_)));
        assert_eq!((a.as_str(), b.as_str()), (short.as_str(), long.as_str()));
        // The string order, not the order of the two forms.
        let z = AccountId::new("z");
        assert!(a < b && b < z && a < z);
        assert_eq!(a, AccountId::new(short.clone()));
        assert_eq!(b.clone(), b);
        let hasher = std::collections::hash_map::RandomState::new();
        assert_eq!(hasher.hash_one(&b), hasher.hash_one(AccountId::new(long)));
        assert_eq!(format!("{a:?}"), format!("AccountId({short:?})"));
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), b);
    }
}
