//! The integration: its input rules, its stored record, and the view admins see.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::credentials::{Credentials, Transition};
use super::ids::{AccountId, IntegrationId, TokenId};
use super::scope::{ScopeCatalog, ScopeSet, StoredScopes};
use super::token::TokenFormat;
use crate::error::{Error, InvalidInput};

/// The longest name, in characters, after trimming.
///
/// # Example
///
/// ```
/// use private_integrations::{NewIntegration, ScopeCatalog};
/// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
/// let too_long = NewIntegration::new("n".repeat(private_integrations::domain::integration::MAX_NAME_CHARS + 1));
/// assert!(too_long.scopes(["contacts.readonly"]).validate(catalog).is_err());
/// # Ok::<(), private_integrations::Error>(())
/// ```
pub const MAX_NAME_CHARS: usize = 100;

/// The longest description, in characters, after trimming.
///
/// # Example
///
/// ```
/// use private_integrations::{NewIntegration, ScopeCatalog};
/// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
/// let long = "d".repeat(private_integrations::domain::integration::MAX_DESCRIPTION_CHARS);
/// assert!(NewIntegration::new("n").description(long).scopes(["contacts.readonly"]).validate(catalog).is_ok());
/// # Ok::<(), private_integrations::Error>(())
/// ```
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// What an admin fills in to create an integration.
///
/// The rules, checked by `create` before anything is written:
/// - name: 1 to [`MAX_NAME_CHARS`] characters after trimming white space, at least one
///   of them visible; no control characters, no bidirectional overrides or isolates, no
///   line or paragraph separators;
/// - description: 0 to [`MAX_DESCRIPTION_CHARS`] characters after trimming; line breaks
///   and tabs are allowed, other control characters and bidirectional overrides are not;
/// - neither holds a token (`{prefix}_{id}_{secret}{checksum}` of any prefix, with a right
///   checksum): names and descriptions are stored and shown as they are, so a token
///   pasted into one would be a secret at rest; [`InvalidInput::HoldsToken`];
/// - scopes: at least one, each in the service's [`ScopeCatalog`]; duplicates are merged.
///
/// # Example
///
/// ```
/// use private_integrations::NewIntegration;
/// let new = NewIntegration::new("Zapier sync")
///     .description("Pushes contacts")
///     .scopes(["contacts.readonly"]);
/// # let _ = new;
/// ```
#[derive(Debug, Clone, Default)]
pub struct NewIntegration {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) scopes: Vec<String>,
}

impl NewIntegration {
    /// Starts with a name, no description and no scopes.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{NewIntegration, ScopeCatalog};
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert!(NewIntegration::new("Zapier sync").scopes(["contacts.readonly"]).validate(catalog).is_ok());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the description.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{NewIntegration, ScopeCatalog};
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// let new = NewIntegration::new("Sync").description("Pushes contacts").scopes(["contacts.readonly"]);
    /// assert!(new.validate(catalog).is_ok());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the scopes (replacing any set before).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{NewIntegration, ScopeCatalog};
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// let new = NewIntegration::new("Sync").scopes(["contacts.readonly", "contacts.write"]);
    /// assert!(new.validate(catalog).is_ok());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Checks every rule against the catalog.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] or [`Error::UnknownScope`] for the first broken rule.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{NewIntegration, ScopeCatalog};
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert!(NewIntegration::new("").scopes(["contacts.readonly"]).validate(catalog).is_err());
    /// assert!(NewIntegration::new("Sync").scopes(["billing.write"]).validate(catalog).is_err());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn validate(&self, catalog: ScopeCatalog) -> Result<ValidIntegrationFields, Error> {
        Ok(ValidIntegrationFields {
            name: validate_name(&self.name)?,
            description: validate_description(&self.description)?,
            scopes: validate_scopes(&self.scopes, catalog)?,
        })
    }
}

/// The fields of a [`NewIntegration`] once every rule holds.
///
/// # Example
///
/// ```
/// use private_integrations::{NewIntegration, ScopeCatalog};
/// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
/// let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
/// # let _ = fields;
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ValidIntegrationFields {
    name: Box<str>,
    description: Box<str>,
    scopes: ScopeSet,
}

/// What an admin changes on an existing integration. Fields left unset keep their value;
/// the token does not change. The same rules as [`NewIntegration`] apply to each field set.
///
/// # Example
///
/// ```
/// use private_integrations::IntegrationUpdate;
/// let update = IntegrationUpdate::new().name("Zapier sync (EU)").scopes(["contacts.write"]);
/// # let _ = update;
/// ```
#[derive(Debug, Clone, Default)]
pub struct IntegrationUpdate {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) expected_version: Option<u64>,
}

impl IntegrationUpdate {
    /// An update that changes nothing yet.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationUpdate;
    /// let update = IntegrationUpdate::new().description("Now writes too");
    /// # let _ = update;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a new name.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let renamed = pi.update(&admin, integration.id(), IntegrationUpdate::new().name("Zapier (EU)")).await?;
    /// assert_eq!(renamed.name(), "Zapier (EU)");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets a new description.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let edited = pi.update(&admin, integration.id(), IntegrationUpdate::new().description("")).await?;
    /// assert_eq!(edited.description(), "");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Replaces the scopes.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let edited = pi.update(&admin, integration.id(), IntegrationUpdate::new().scopes(["contacts.write"])).await?;
    /// assert!(edited.scopes().contains("contacts.write"));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Applies the update only if the integration is still at `version`, the version the
    /// edit was made from (what [`Integration::version`] showed when the admin opened the
    /// form): if anyone changed it since, the update is [`Error::Conflict`] and nothing
    /// changes, so an edit made from an old copy never silently undoes a newer one.
    ///
    /// Without it an update applies to whatever is stored when it runs (it still never
    /// overwrites a change made between its own read and write). Over HTTP this is the
    /// integration's `ETag` sent back as `If-Match`.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let seen = pi
    ///     .create(&admin, NewIntegration::new("Zapier").scopes(["contacts.readonly", "contacts.write"]))
    ///     .await?
    ///     .integration;
    /// // Someone else narrows the scopes meanwhile.
    /// pi.update(&admin, seen.id(), IntegrationUpdate::new().scopes(["contacts.readonly"])).await?;
    /// // An edit made from what was seen before is refused.
    /// let stale = IntegrationUpdate::new().name("Zapier (EU)").expect_version(seen.version());
    /// assert!(matches!(pi.update(&admin, seen.id(), stale).await, Err(Error::Conflict)));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn expect_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// The version the edit was made from, if it names one.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationUpdate;
    /// assert_eq!(IntegrationUpdate::new().expected_version(), None);
    /// assert_eq!(IntegrationUpdate::new().expect_version(3).expected_version(), Some(3));
    /// ```
    pub fn expected_version(&self) -> Option<u64> {
        self.expected_version
    }

    /// Applies the update to a record, producing its next version.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::EmptyUpdate`] if nothing is set; as [`NewIntegration::validate`]
    /// for a field set; then [`Error::Conflict`] if the update names a version
    /// ([`expect_version`](Self::expect_version)) other than the record's.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
    /// let now = time::OffsetDateTime::now_utc();
    /// let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
    /// let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
    /// let next = IntegrationUpdate::new().name("Renamed").apply(&record, catalog, now)?;
    /// assert_eq!((&*next.name, next.version), ("Renamed", 2));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn apply(
        &self,
        record: &IntegrationRecord,
        catalog: ScopeCatalog,
        now: OffsetDateTime,
    ) -> Result<IntegrationRecord, Error> {
        if self.name.is_none() && self.description.is_none() && self.scopes.is_none() {
            return Err(InvalidInput::EmptyUpdate.into());
        }
        let name = self.name.as_deref().map(validate_name).transpose()?;
        let description = self
            .description
            .as_deref()
            .map(validate_description)
            .transpose()?;
        let scopes = match &self.scopes {
            Some(scopes) => Some(stored(&validate_scopes(scopes, catalog)?)),
            None => None,
        };
        // Last, as HTTP evaluates `If-Match` (RFC 9110 §13.2.2): an edit that would be
        // refused anyway says why, whatever version it was made from.
        if self
            .expected_version
            .is_some_and(|expected| expected != record.version)
        {
            return Err(Error::Conflict);
        }
        let mut next = record.next_version(now);
        if let Some(name) = name {
            next.name = name;
        }
        if let Some(description) = description {
            next.description = description;
        }
        if let Some(scopes) = scopes {
            next.scopes = scopes;
        }
        Ok(next)
    }
}

/// Whether `text` holds a token of any service made with this crate: a
/// `{prefix}_{id}_{secret}{checksum}` whose checksum is right. Names and descriptions are
/// no secrets (they are stored as they are, listed, logged by hosts), so a token pasted
/// into one would be a secret at rest in plain text; it is refused instead.
pub(crate) fn holds_token(text: &str) -> bool {
    const ID: usize = 16;
    const TAIL: usize = 49;
    let bytes = text.as_bytes();
    let base62 = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_alphanumeric))
    };
    (0..bytes.len()).any(|at| {
        // `at` is the `_` after the prefix.
        if bytes[at] != b'_'
            || bytes.get(at + 1 + ID) != Some(&b'_')
            || !base62(at + 1..at + 1 + ID)
            || !base62(at + 2 + ID..at + 2 + ID + TAIL)
        {
            return false;
        }
        let end = at + 2 + ID + TAIL;
        (1..=at.min(16)).any(|len| {
            let start = at - len;
            let prefix = &bytes[start..at];
            prefix[0].is_ascii_lowercase()
                && prefix
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && std::str::from_utf8(prefix)
                    .ok()
                    .and_then(|prefix| TokenFormat::new(prefix).ok())
                    .is_some_and(|format| format.looks_like_token(&text[start..end]))
        })
    })
}

fn validate_name(name: &str) -> Result<Box<str>, InvalidInput> {
    const FIELD: &str = "name";
    let name = name.trim();
    if name.is_empty() {
        return Err(InvalidInput::Empty { field: FIELD });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidInput::TooLong {
            field: FIELD,
            max: MAX_NAME_CHARS,
        });
    }
    if name
        .chars()
        .any(|c| c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(InvalidInput::ControlCharacter { field: FIELD });
    }
    if name.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(InvalidInput::Empty { field: FIELD });
    }
    if holds_token(name) {
        return Err(InvalidInput::HoldsToken { field: FIELD });
    }
    Ok(name.into())
}

/// Characters that reorder the text around them (U+202A–U+202E, U+2066–U+2069): in a
/// name or description they can make `evil\u{202E}gnp.exe` read as `evilexe.png`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: zero-width spaces and joiners, directional marks, word
/// joiners, the byte-order mark. Allowed inside a name (joiners are part of emoji and of
/// some scripts), but a name of nothing else would look empty.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

fn validate_description(description: &str) -> Result<Box<str>, InvalidInput> {
    const FIELD: &str = "description";
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(InvalidInput::TooLong {
            field: FIELD,
            max: MAX_DESCRIPTION_CHARS,
        });
    }
    if description
        .chars()
        .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c))
    {
        return Err(InvalidInput::ControlCharacter { field: FIELD });
    }
    if holds_token(description) {
        return Err(InvalidInput::HoldsToken { field: FIELD });
    }
    Ok(description.into())
}

fn validate_scopes(scopes: &[String], catalog: ScopeCatalog) -> Result<ScopeSet, Error> {
    if scopes.is_empty() {
        return Err(InvalidInput::NoScopes.into());
    }
    catalog.scope_set(scopes)
}

fn stored(scopes: &ScopeSet) -> StoredScopes {
    StoredScopes::new(scopes.iter())
}

/// An integration as storage keeps it. No secret: credentials hold token ids and hashes.
///
/// Scopes are kept by name, so a stored record does not depend on the order of the
/// service's catalog; a name the catalog no longer holds is not granted.
///
/// `version` starts at 1 and grows by one with every change; storage writes are
/// compare-and-swap on it.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # use private_integrations::storage::*;
/// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
/// let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
/// let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
/// let now = time::OffsetDateTime::now_utc();
/// let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
/// let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
/// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
/// assert_eq!(record.version, 1);
/// assert_eq!(record.scopes.names().collect::<Vec<_>>(), ["contacts.readonly"]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
// Field order is memory order: what verification reads comes first, in three cache
// lines once behind a 16-byte header (a token index slot's key, an `Arc`'s counts): the
// id and account it copies, the cached scope set, then the current token's id and hash.
// A lookup among a million records touches as few lines as it can.
#[repr(C)]
pub struct IntegrationRecord {
    /// The integration id.
    pub id: IntegrationId,
    /// The owning account.
    pub account: AccountId,
    /// The granted scope names, in catalog order at the time of writing.
    pub scopes: StoredScopes,
    /// The token state.
    pub credentials: Credentials,
    /// The compare-and-swap version.
    pub version: u64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// The name (trimmed).
    pub name: Box<str>,
    /// The description (trimmed; may be empty).
    pub description: Box<str>,
    /// When its tokens were last used, as storage last recorded it
    /// ([`Storage::record_last_used`](crate::Storage::record_last_used)).
    ///
    /// Not part of the versioned state: storage keeps these times itself, per token id,
    /// and fills them on [`get`](crate::Storage::get) and [`list`](crate::Storage::list);
    /// an `insert` or `update` never writes them, and
    /// [`find_by_token`](crate::Storage::find_by_token) may leave them empty.
    pub last_used: LastUsedTimes,
}

/// When an integration's tokens were last used: at most one time per token id, for the
/// two tokens a record can hold (the current one and, during a rotation, the previous).
///
/// Kept apart from the versioned state of the record, so recording a use never
/// conflicts with an admin's change. Empty takes no heap memory.
///
/// # Example
///
/// ```
/// use private_integrations::TokenId;
/// use private_integrations::domain::integration::LastUsedTimes;
/// use time::macros::datetime;
///
/// let token = TokenId::parse("AbCdEfGh12345678")?;
/// let mut times = LastUsedTimes::new();
/// assert_eq!(times.get(&token), None);
/// times.set(token, datetime!(2026-01-01 10:00 UTC));
/// times.set(token, datetime!(2026-01-01 09:00 UTC)); // an earlier use changes nothing
/// assert_eq!(times.get(&token), Some(datetime!(2026-01-01 10:00 UTC)));
/// # Ok::<(), private_integrations::InvalidInput>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastUsedTimes(Option<Box<[Option<LastUse>; 2]>>);

/// A token id and when it was last used.
type LastUse = (TokenId, OffsetDateTime);

impl LastUsedTimes {
    /// No use recorded.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::domain::integration::LastUsedTimes;
    /// assert_eq!(LastUsedTimes::new().iter().count(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// When `token_id` was last used, if a use was recorded.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenId;
    /// use private_integrations::domain::integration::LastUsedTimes;
    /// let never = TokenId::parse("AbCdEfGh12345678")?;
    /// assert!(LastUsedTimes::new().get(&never).is_none());
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn get(&self, token_id: &TokenId) -> Option<OffsetDateTime> {
        self.iter()
            .find_map(|(id, at)| (id == *token_id).then_some(at))
    }

    /// Records a use of `token_id` at `at`, keeping the later of it and a time already
    /// held. Holds two tokens, as a record does: a third token replaces the one used
    /// longest ago.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenId;
    /// use private_integrations::domain::integration::LastUsedTimes;
    /// use time::macros::datetime;
    /// let (a, b) = (TokenId::parse("AAAAAAAAAAAAAAAA")?, TokenId::parse("BBBBBBBBBBBBBBBB")?);
    /// let mut times = LastUsedTimes::new();
    /// times.set(a, datetime!(2026-01-01 9:00 UTC));
    /// times.set(b, datetime!(2026-01-01 10:00 UTC));
    /// assert_eq!(times.iter().count(), 2);
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn set(&mut self, token_id: TokenId, at: OffsetDateTime) {
        let slots = self.0.get_or_insert_with(Box::default);
        if let Some((_, held)) = slots.iter_mut().flatten().find(|(id, _)| *id == token_id) {
            *held = (*held).max(at);
            return;
        }
        let slot = match **slots {
            [None, _] => 0,
            [_, None] => 1,
            [Some((_, first)), Some((_, second))] => usize::from(second < first),
        };
        slots[slot] = Some((token_id, at));
    }

    /// Every recorded (token id, time).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::TokenId;
    /// use private_integrations::domain::integration::LastUsedTimes;
    /// let token = TokenId::parse("AbCdEfGh12345678")?;
    /// let mut times = LastUsedTimes::new();
    /// times.set(token, time::OffsetDateTime::UNIX_EPOCH);
    /// assert_eq!(times.iter().collect::<Vec<_>>(), [(token, time::OffsetDateTime::UNIX_EPOCH)]);
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (TokenId, OffsetDateTime)> + '_ {
        self.0
            .iter()
            .flat_map(|slots| slots.iter().flatten().copied())
    }
}

impl IntegrationRecord {
    /// A new record at version 1.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
    /// let now = time::OffsetDateTime::now_utc();
    /// let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
    /// let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
    /// assert_eq!(record.created_at, now);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn create(
        id: IntegrationId,
        account: AccountId,
        fields: ValidIntegrationFields,
        credentials: Credentials,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            account,
            name: fields.name,
            description: fields.description,
            scopes: stored(&fields.scopes),
            credentials,
            created_at: now,
            updated_at: now,
            version: 1,
            last_used: LastUsedTimes::new(),
        }
    }

    /// The record after a credentials transition at `now`: the next version.
    ///
    /// # Errors
    ///
    /// As [`Credentials::apply`].
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
    /// let now = time::OffsetDateTime::now_utc();
    /// let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
    /// let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
    /// use private_integrations::domain::credentials::Transition;
    /// let err = record.transition(Transition::ExpirePreviousNow, now).unwrap_err();
    /// assert!(matches!(err, Error::NoRotationInProgress));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn transition(&self, transition: Transition, now: OffsetDateTime) -> Result<Self, Error> {
        let mut next = self.next_version(now);
        next.credentials = self.credentials.apply(transition, now)?;
        Ok(next)
    }

    /// The record after its live token `leaked` was revoked at `now`, because it was
    /// found in a public place ([`Credentials::revoke_leaked`]): the next version. `None`
    /// if `leaked` is not live at `now`.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// # let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// # let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// # let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
    /// # let now = time::OffsetDateTime::now_utc();
    /// # let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
    /// # let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
    /// let revoked = record.revoke_leaked(&token_id, now).unwrap();
    /// assert_eq!((revoked.version, revoked.credentials.revoked_at()), (2, Some(now)));
    /// assert!(revoked.revoke_leaked(&token_id, now).is_none());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn revoke_leaked(&self, leaked: &TokenId, now: OffsetDateTime) -> Option<Self> {
        let credentials = self.credentials.revoke_leaked(leaked, now)?;
        Some(Self {
            credentials,
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        })
    }

    /// The record with the next version and nothing else changed (not even
    /// `updated_at`): how a report of a leak that revokes nothing (the policy only
    /// notifies, or an earlier report revoked the token) is written, so that racing
    /// reports of one token are ordered by the version check like any change.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// # let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// # let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// # let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
    /// # let now = time::OffsetDateTime::now_utc();
    /// # let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
    /// # let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
    /// let noted = record.noting_leak();
    /// assert_eq!((noted.version, noted.updated_at), (2, record.updated_at));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn noting_leak(&self) -> Self {
        Self {
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The record after a rotation finished itself at `now`: the previous token expires,
    /// exactly as [`Transition::ExpirePreviousNow`] ("Expire now") has it, the next
    /// version. The rule of
    /// [`finish_rotation_when_silent`](crate::PrivateIntegrationsBuilder::finish_rotation_when_silent);
    /// it applies if and only if, at `now`:
    ///
    /// - a rotation is under way: the record has a previous token that has not expired
    ///   (a rotation whose window has passed, a cancelled one, a revoked token — a leak —
    ///   never finish this way);
    /// - the new (current) token has been used: [`last_used`](Self::last_used) holds a
    ///   use of it;
    /// - the previous token has not been used for at least `silent_for`: its last recorded
    ///   use — or, if it has none, the start of the rotation (when the current token was
    ///   issued) — is `silent_for` or more before `now`. A use recorded after `now` (a
    ///   replica whose clock runs ahead) is not silence.
    ///
    /// `None` otherwise. Last-used times are written in batches, so they lag by up to the
    /// last-used interval: `silent_for` should be well above it.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// # use private_integrations::domain::credentials::Transition;
    /// use time::Duration;
    /// # let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// # let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// # let format = TokenFormat::default();
    /// # let (old, hash, _token) = format.issue(&mut rand::rngs::SysRng).unwrap();
    /// # let (new, new_hash, _new_token) = format.issue(&mut rand::rngs::SysRng).unwrap();
    /// let t0 = time::macros::datetime!(2026-03-01 09:00 UTC);
    /// # let credentials = Credentials::new(TokenCredential { id: old, hash, issued_at: t0 });
    /// # let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, t0);
    /// let new_token = TokenCredential { id: new, hash: new_hash, issued_at: t0 };
    /// let rotate = Transition::Rotate { mode: RotationMode::ExpireLater, new: new_token, grace: Duration::days(7) };
    /// let mut rotating = record.transition(rotate, t0)?;
    /// let day = Duration::hours(24);
    /// // The new token has not been used yet: the rotation goes on.
    /// assert!(rotating.finish_when_silent(t0 + Duration::days(2), day).is_none());
    /// rotating.last_used.set(new, t0 + Duration::hours(1));
    /// rotating.last_used.set(old, t0 + Duration::hours(2));
    /// assert!(rotating.finish_when_silent(t0 + Duration::hours(25), day).is_none());
    /// let finished = rotating.finish_when_silent(t0 + Duration::hours(26), day).unwrap();
    /// assert!(finished.credentials.previous().is_none());
    /// assert_eq!(finished.version, rotating.version + 1);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn finish_when_silent(&self, now: OffsetDateTime, silent_for: Duration) -> Option<Self> {
        let Credentials::Rotating {
            current, previous, ..
        } = self.credentials.settle(now)
        else {
            return None;
        };
        self.last_used.get(&current.id)?;
        let silent_since = self
            .last_used
            .get(&previous.id)
            .unwrap_or(current.issued_at);
        if now - silent_since < silent_for {
            return None;
        }
        self.transition(Transition::ExpirePreviousNow, now).ok()
    }

    fn next_version(&self, now: OffsetDateTime) -> Self {
        Self {
            credentials: self.credentials.settle(now),
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// A rotation under way: the previous token still works until
/// [`previous_expires_at`](Self::previous_expires_at).
///
/// # Example
///
/// ```
/// # use private_integrations::Integration;
/// fn describe(integration: &Integration) -> String {
///     match integration.pending_rotation() {
///         Some(p) => format!("old token works until {}", p.previous_expires_at()),
///         None => "one token".into(),
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PendingRotation {
    #[serde(with = "time::serde::rfc3339")]
    previous_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    previous_issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    previous_last_used_at: Option<OffsetDateTime>,
}

impl PendingRotation {
    /// When the previous token stops working.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let rotated = pi.rotate(&admin, integration.id(), RotationMode::ExpireLater).await?.integration;
    /// let pending = rotated.pending_rotation().unwrap();
    /// assert_eq!(pending.previous_expires_at(), rotated.token_issued_at() + time::Duration::days(7));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn previous_expires_at(&self) -> OffsetDateTime {
        self.previous_expires_at
    }

    /// When the previous token was issued.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let rotated = pi.rotate(&admin, integration.id(), RotationMode::ExpireLater).await?.integration;
    /// assert_eq!(rotated.pending_rotation().unwrap().previous_issued_at(), integration.token_issued_at());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn previous_issued_at(&self) -> OffsetDateTime {
        self.previous_issued_at
    }

    /// When the previous token was last used, as far as recorded: whether the third
    /// party still calls with the old token during the grace period. `None` if no use was
    /// recorded. Uses are written in batches, once per last-used interval (one minute
    /// by default), so this lags by up to that interval.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let rotated = pi.rotate(&admin, integration.id(), RotationMode::ExpireLater).await?.integration;
    /// assert_eq!(rotated.pending_rotation().unwrap().previous_last_used_at(), None); // never used
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn previous_last_used_at(&self) -> Option<OffsetDateTime> {
        self.previous_last_used_at
    }
}

/// An integration as an admin sees it, settled at the moment it was read. Holds no
/// secret and no token hash; serializes to the fields of its accessors.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
/// let pi = PrivateIntegrations::builder(MemoryStorage::new()).scope_catalog(catalog).build();
/// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let created = pi.create(&admin, NewIntegration::new(" Sync ").scopes(["contacts.readonly"])).await?;
/// let integration: Integration = created.integration;
/// assert_eq!(integration.name(), "Sync");
/// assert_eq!(integration.version(), 1);
/// assert!(integration.pending_rotation().is_none());
/// let json = serde_json::to_value(&integration).unwrap();
/// assert_eq!(json["scopes"], serde_json::json!(["contacts.readonly"]));
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integration {
    id: IntegrationId,
    account: AccountId,
    name: String,
    description: String,
    scopes: ScopeSet,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    token_issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    pending_rotation: Option<PendingRotation>,
    #[serde(with = "time::serde::rfc3339::option")]
    token_revoked_at: Option<OffsetDateTime>,
    version: u64,
}

impl Integration {
    /// The admin's view of a record at `now`.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # use private_integrations::storage::*;
    /// let catalog = ScopeCatalog::new(["contacts.readonly"])?;
    /// let fields = NewIntegration::new("Sync").scopes(["contacts.readonly"]).validate(catalog)?;
    /// let (token_id, hash, _token) = TokenFormat::default().issue(&mut rand::rngs::SysRng).unwrap();
    /// let now = time::OffsetDateTime::now_utc();
    /// let credentials = Credentials::new(TokenCredential { id: token_id, hash, issued_at: now });
    /// let id = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
    /// let record = IntegrationRecord::create(id, AccountId::new("acct_1"), fields, credentials, now);
    /// let view = Integration::from_record(&record, catalog, now);
    /// assert_eq!(view.name(), "Sync");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_record(
        record: &IntegrationRecord,
        catalog: ScopeCatalog,
        now: OffsetDateTime,
    ) -> Self {
        let credentials = record.credentials.settle(now);
        Self {
            id: record.id.clone(),
            account: record.account.clone(),
            name: record.name.to_string(),
            description: record.description.to_string(),
            scopes: record.scopes.granted(catalog),
            created_at: record.created_at,
            updated_at: record.updated_at,
            token_issued_at: credentials.current().issued_at,
            last_used_at: record.last_used.get(&credentials.current().id),
            pending_rotation: credentials.previous().map(|(previous, expires_at)| {
                PendingRotation {
                    previous_expires_at: expires_at,
                    previous_issued_at: previous.issued_at,
                    previous_last_used_at: record.last_used.get(&previous.id),
                }
            }),
            token_revoked_at: credentials.revoked_at(),
            version: record.version,
        }
    }

    /// The integration id.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(pi.get(&admin, integration.id()).await?.id(), integration.id());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn id(&self) -> &IntegrationId {
        &self.id
    }

    /// The owning account.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.account().as_str(), "acct_1");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The name.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.name(), "Zapier sync");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description (may be empty).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.description(), "Pushes contacts");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The granted scopes.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.scopes().iter().collect::<Vec<_>>(), ["contacts.readonly"]);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// When it was created.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.created_at(), integration.updated_at());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// When it last changed.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let edited = pi.update(&admin, integration.id(), IntegrationUpdate::new().name("New")).await?;
    /// assert!(edited.updated_at() >= integration.updated_at());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    /// When the current token was issued (what the rotation reminder looks at).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.token_issued_at(), integration.created_at());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn token_issued_at(&self) -> OffsetDateTime {
        self.token_issued_at
    }

    /// When the current token was last used, as far as recorded; `None` if no use was
    /// recorded. Uses are written in batches, once per last-used interval (one minute by
    /// default, see `PrivateIntegrationsBuilder::last_used_interval`), so this lags by up
    /// to that interval and is accurate to it. The previous token of a rotation has its
    /// own: [`PendingRotation::previous_last_used_at`].
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let storage = MemoryStorage::new();
    /// let pi = PrivateIntegrations::builder(storage.clone())
    ///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
    ///     .build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let created = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
    /// assert_eq!(created.integration.last_used_at(), None);
    /// pi.verify(created.token.expose_secret()).await.unwrap();
    /// pi.shutdown().await; // writes the uses noted so far
    /// let again = PrivateIntegrations::builder(storage).scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// assert!(again.get(&admin, created.integration.id()).await?.last_used_at().is_some());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn last_used_at(&self) -> Option<OffsetDateTime> {
        self.last_used_at
    }

    /// The rotation under way, if its grace period has not ended.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert!(integration.pending_rotation().is_none());
    /// let rotated = pi.rotate(&admin, integration.id(), RotationMode::ExpireLater).await?.integration;
    /// assert!(rotated.pending_rotation().is_some());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn pending_rotation(&self) -> Option<PendingRotation> {
        self.pending_rotation
    }

    /// When its current token was revoked because it was found in a public place
    /// ([`LeakPolicy::Revoke`](crate::LeakPolicy::Revoke)): from then on no token
    /// verifies until an admin rotates. `None` for an integration whose token is live.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let created = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?;
    /// assert_eq!(created.integration.token_revoked_at(), None);
    /// let scanner = UserId::new("github-secret-scanning");
    /// pi.report_leak(&scanner, created.token.expose_secret(), "https://github.com/o/r/blob/1/.env").await?;
    /// let leaked = pi.get(&admin, created.integration.id()).await?;
    /// assert!(leaked.token_revoked_at().is_some());
    /// assert!(pi.verify(created.token.expose_secret()).await.is_err());
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn token_revoked_at(&self) -> Option<OffsetDateTime> {
        self.token_revoked_at
    }

    /// The version: 1 on creation, one more with every change.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Zapier sync").description("Pushes contacts").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// assert_eq!(integration.version(), 1);
    /// let edited = pi.update(&admin, integration.id(), IntegrationUpdate::new().name("New")).await?;
    /// assert_eq!(edited.version(), 2);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the current token is due for rotation at `now`: its age has reached
    /// `interval` (90 days by default).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let integration = pi
    ///     .create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"]))
    ///     .await?
    ///     .integration;
    /// let issued = integration.token_issued_at();
    /// let interval = time::Duration::days(90);
    /// assert!(!integration.rotation_due(issued + time::Duration::days(89), interval));
    /// assert!(integration.rotation_due(issued + interval, interval));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn rotation_due(&self, now: OffsetDateTime, interval: Duration) -> bool {
        now - self.token_issued_at >= interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::new(["rules.read", "rules.write"]).unwrap()
    }

    fn invalid(new: NewIntegration) -> Error {
        new.validate(catalog()).unwrap_err()
    }

    #[test]
    fn names() {
        let ok = NewIntegration::new("  Zapier  ").scopes(["rules.read"]);
        assert_eq!(ok.validate(catalog()).unwrap().name.as_ref(), "Zapier");
        let hundred = "é".repeat(100);
        assert!(
            NewIntegration::new(&hundred)
                .scopes(["rules.read"])
                .validate(catalog())
                .is_ok()
        );
        for (name, expected) in [
            ("", InvalidInput::Empty { field: "name" }),
            ("  \t ", InvalidInput::Empty { field: "name" }),
            (
                &"é".repeat(101),
                InvalidInput::TooLong {
                    field: "name",
                    max: 100,
                },
            ),
            ("a\u{7}b", InvalidInput::ControlCharacter { field: "name" }),
            ("a\nb", InvalidInput::ControlCharacter { field: "name" }),
            (
                "evil\u{202E}gnp.exe",
                InvalidInput::ControlCharacter { field: "name" },
            ),
            (
                "line\u{2028}break",
                InvalidInput::ControlCharacter { field: "name" },
            ),
            ("\u{200B}", InvalidInput::Empty { field: "name" }),
            ("\u{FEFF}\u{200D} ", InvalidInput::Empty { field: "name" }),
        ] {
            let err = invalid(NewIntegration::new(name).scopes(["rules.read"]));
            assert!(
                matches!(&err, Error::InvalidInput(e) if *e == expected),
                "{name:?}: {err:?}"
            );
        }
    }

    #[test]
    fn a_token_pasted_into_a_name_or_description_is_refused() {
        let (_, _, token) = TokenFormat::default()
            .issue(&mut rand::rngs::SysRng)
            .unwrap();
        let (_, _, acme) = TokenFormat::new("acme")
            .unwrap()
            .issue(&mut rand::rngs::SysRng)
            .unwrap();
        for token in [token.expose_secret(), acme.expose_secret()] {
            for text in [
                token.to_owned(),
                format!("Sync (token {token})"),
                format!("x{token}"),
                format!("{token}y"),
            ] {
                assert!(holds_token(&text), "{text}");
                let name = invalid(NewIntegration::new(&text).scopes(["rules.read"]));
                assert!(
                    matches!(
                        name,
                        Error::InvalidInput(InvalidInput::HoldsToken { field: "name" })
                    ),
                    "{name:?}"
                );
                let description = invalid(
                    NewIntegration::new("n")
                        .description(format!("line\n{text}"))
                        .scopes(["rules.read"]),
                );
                assert!(matches!(
                    description,
                    Error::InvalidInput(InvalidInput::HoldsToken {
                        field: "description"
                    })
                ));
            }
            // A typo breaks the checksum: no longer a token, an ordinary (odd) name.
            let mut typo = token.to_owned().into_bytes();
            let last = typo.len() - 1;
            typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
            assert!(!holds_token(std::str::from_utf8(&typo).unwrap()));
        }
        for ordinary in ["", "_", "Zapier sync", "pit_", "a_b_c", &"_".repeat(200)] {
            assert!(!holds_token(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn descriptions() {
        let multi_line = NewIntegration::new("n")
            .description("line 1\nline 2\tok")
            .scopes(["rules.read"]);
        assert!(multi_line.validate(catalog()).is_ok());
        let long = NewIntegration::new("n")
            .description("x".repeat(1001))
            .scopes(["rules.read"]);
        assert!(matches!(
            invalid(long),
            Error::InvalidInput(InvalidInput::TooLong {
                field: "description",
                max: 1000
            })
        ));
        let bell = NewIntegration::new("n")
            .description("a\u{0}b")
            .scopes(["rules.read"]);
        assert!(matches!(
            invalid(bell),
            Error::InvalidInput(InvalidInput::ControlCharacter { .. })
        ));
    }

    #[test]
    fn an_update_made_from_another_version_is_a_conflict() {
        use crate::domain::credentials::{Credentials, TokenCredential};
        use crate::domain::token::TokenFormat;
        let fields = NewIntegration::new("n")
            .scopes(["rules.read"])
            .validate(catalog())
            .unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let (id, hash, _token) = TokenFormat::default()
            .issue(&mut rand::rngs::SysRng)
            .unwrap();
        let credentials = Credentials::new(TokenCredential {
            id,
            hash,
            issued_at: now,
        });
        let integration = IntegrationId::generate(&mut rand::rngs::SysRng).unwrap();
        let v1 =
            IntegrationRecord::create(integration, AccountId::new("a"), fields, credentials, now);
        let rename = IntegrationUpdate::new().name("m");
        let v2 = rename
            .clone()
            .expect_version(1)
            .apply(&v1, catalog(), now)
            .unwrap();
        assert_eq!((&*v2.name, v2.version), ("m", 2));
        for stale in [0, 2, u64::MAX] {
            let err = rename
                .clone()
                .expect_version(stale)
                .apply(&v1, catalog(), now)
                .unwrap_err();
            assert!(matches!(err, Error::Conflict), "{stale}: {err:?}");
        }
        // The version is checked last: an edit that is refused anyway says why.
        let stale_and_empty = IntegrationUpdate::new().expect_version(2);
        assert!(matches!(
            stale_and_empty.apply(&v1, catalog(), now),
            Err(Error::InvalidInput(InvalidInput::EmptyUpdate))
        ));
        let stale_and_unknown = IntegrationUpdate::new()
            .scopes(["rules.delete"])
            .expect_version(2);
        assert!(matches!(
            stale_and_unknown.apply(&v1, catalog(), now),
            Err(Error::UnknownScope(_))
        ));
    }

    /// A record rotated (with grace) at `t0`: the old token `cred(1)` issued a month
    /// before, the new one `cred(2)` at `t0`, the old one kept until `t0 + 7 days`.
    fn rotating_at(t0: OffsetDateTime) -> IntegrationRecord {
        use crate::domain::credentials::{Credentials, RotationMode, TokenCredential};
        use crate::domain::token::TokenHash;
        let fields = NewIntegration::new("n")
            .scopes(["rules.read"])
            .validate(catalog())
            .unwrap();
        let issued = t0 - Duration::days(30);
        let old = TokenCredential {
            id: cred(1),
            hash: TokenHash::from_bytes([1; 32]),
            issued_at: issued,
        };
        let new = TokenCredential {
            id: cred(2),
            hash: TokenHash::from_bytes([2; 32]),
            issued_at: t0,
        };
        let id = IntegrationId::parse("Integration00001").unwrap();
        let record = IntegrationRecord::create(
            id,
            AccountId::new("a"),
            fields,
            Credentials::new(old),
            issued,
        );
        let rotate = Transition::Rotate {
            mode: RotationMode::ExpireLater,
            new,
            grace: Duration::days(7),
        };
        record.transition(rotate, t0).unwrap()
    }

    fn cred(n: u8) -> TokenId {
        TokenId::parse(&format!("{n:0>16}")).unwrap()
    }

    #[test]
    fn a_rotation_finishes_itself_once_the_new_token_is_used_and_the_old_one_silent() {
        let t0 = time::macros::datetime!(2026-03-01 09:00 UTC);
        let day = Duration::hours(24);
        let (old, new) = (cred(1), cred(2));
        let rotating = rotating_at(t0);
        let finished_at = |record: &IntegrationRecord, now| record.finish_when_silent(now, day);

        // The new token never used: the rotation goes on, however long the old one is
        // silent, until its window passes.
        assert!(finished_at(&rotating, t0 + Duration::days(6)).is_none());

        // The new token used; the old one never: silence counts from the rotation's start.
        let mut used = rotating.clone();
        used.last_used.set(new, t0 + Duration::hours(1));
        assert!(finished_at(&used, t0 + day - Duration::microseconds(1)).is_none());
        let finished = finished_at(&used, t0 + day).expect("silent for exactly 24 hours");
        let expired = used
            .transition(Transition::ExpirePreviousNow, t0 + day)
            .unwrap();
        assert_eq!(finished.credentials.token_ids().collect::<Vec<_>>(), [new]);
        assert_eq!(
            (finished.version, finished.updated_at),
            (expired.version, expired.updated_at)
        );
        assert_eq!(finished.version, used.version + 1);
        assert_eq!(
            finished.last_used, used.last_used,
            "last use is not the rule's to change"
        );

        // The old token used during the rotation: silence counts from that use.
        let mut both = used.clone();
        both.last_used.set(old, t0 + Duration::hours(5));
        let since = t0 + Duration::hours(5);
        assert!(finished_at(&both, since + day - Duration::microseconds(1)).is_none());
        assert!(finished_at(&both, since + day).is_some());

        // The old token last used before the rotation: that use is its silence's start.
        let mut before = used.clone();
        before.last_used.set(old, t0 - Duration::days(3));
        assert!(finished_at(&before, t0 + Duration::hours(2)).is_some());

        // A use recorded after `now` (a replica's clock ahead) is no silence.
        let mut ahead = used.clone();
        ahead.last_used.set(old, t0 + Duration::days(3));
        assert!(finished_at(&ahead, t0 + Duration::days(2)).is_none());

        // The window passed: nothing left to finish.
        assert!(finished_at(&both, t0 + Duration::days(7)).is_none());
        assert!(finished_at(&both, t0 + Duration::days(7) - Duration::SECOND).is_some());
        // A silence longer than the window is never reached.
        assert!(
            both.finish_when_silent(t0 + Duration::days(7) - Duration::SECOND, Duration::days(8))
                .is_none()
        );
        // Finished once: nothing more to finish.
        assert!(finished_at(&finished, t0 + Duration::days(3)).is_none());
    }

    #[test]
    fn a_rotation_cancelled_expired_or_revoked_never_finishes_itself() {
        let t0 = time::macros::datetime!(2026-03-01 09:00 UTC);
        let day = Duration::hours(24);
        let (old, new) = (cred(1), cred(2));
        let mut rotating = rotating_at(t0);
        rotating.last_used.set(new, t0 + Duration::hours(1));
        let later = t0 + Duration::days(3);
        assert!(rotating.finish_when_silent(later, day).is_some());

        let mut never_rotated = rotating_at(t0);
        never_rotated.credentials = never_rotated
            .credentials
            .apply(Transition::CancelRotation, t0)
            .unwrap();
        never_rotated.last_used.set(old, t0);
        assert!(
            never_rotated.finish_when_silent(later, day).is_none(),
            "active"
        );

        let cancelled = rotating
            .transition(Transition::CancelRotation, t0 + Duration::hours(2))
            .unwrap();
        assert!(
            cancelled.finish_when_silent(later, day).is_none(),
            "cancelled"
        );

        let expired = rotating
            .transition(Transition::ExpirePreviousNow, t0 + Duration::hours(2))
            .unwrap();
        assert!(
            expired.finish_when_silent(later, day).is_none(),
            "expired now"
        );

        // A leak: of the new token (revoked, nothing verifies), of the old one (expired).
        let leaked_new = rotating
            .revoke_leaked(&new, t0 + Duration::hours(2))
            .unwrap();
        assert!(leaked_new.credentials.revoked_at().is_some());
        assert!(
            leaked_new.finish_when_silent(later, day).is_none(),
            "revoked"
        );
        let leaked_old = rotating
            .revoke_leaked(&old, t0 + Duration::hours(2))
            .unwrap();
        assert!(
            leaked_old.finish_when_silent(later, day).is_none(),
            "old leaked"
        );
    }

    #[test]
    fn scopes() {
        assert!(matches!(
            invalid(NewIntegration::new("n")),
            Error::InvalidInput(InvalidInput::NoScopes)
        ));
        assert!(matches!(
            invalid(NewIntegration::new("n").scopes(["rules.read", "rules.delete"])),
            Error::UnknownScope(s) if s == "rules.delete"
        ));
        let dup = NewIntegration::new("n").scopes(["rules.write", "rules.read", "rules.write"]);
        assert_eq!(dup.validate(catalog()).unwrap().scopes.len(), 2);
    }
}
