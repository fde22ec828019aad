//! Pages of a listing: what a caller asks for ([`PageRequest`], [`AuditLogQuery`]), what
//! it gets ([`Page`]), and the [`Cursor`] that says where the next page starts.
//!
//! # Keyset pagination
//!
//! A page is never "items 50 to 99": it is "the next items after this one", the one the
//! cursor names, in a fixed order of keys that never change once an item is written:
//!
//! - integrations, oldest first: by creation time, then id (both unique together, and
//!   neither changes in an integration's life);
//! - audit events, newest first: by time, then by the event's position among the events
//!   of the same instant (in the SQL backends, the table's sequence number; in memory,
//!   the order of writing).
//!
//! So a page boundary neither repeats nor skips an item, whatever is written meanwhile:
//! each item of the listing has one key that sorts it once, and a page holds the items
//! that sort strictly after the cursor. An item that existed when the first page was
//! read is on exactly one page. An item written during the read shows up on a later page
//! if its key sorts after the cursor, and otherwise on the next read from the start,
//! like anything written after the read began. That holds when writers commit out of
//! order too (PostgreSQL hands out sequence numbers when a row is inserted, so a
//! transaction can commit after one that took a higher number): the late event's key is
//! fixed, and it lands where that key sorts, never under the cursor of an item already
//! read. An integration deleted meanwhile is simply not on its page.
//!
//! A cursor is opaque: its text encodes the key of the last item of a page, and only the
//! listing that made it takes it back. It is not a secret and
//! not a capability: it names a position, and every page is read with the caller's own
//! account and permissions.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::ids::IntegrationId;
use crate::error::InvalidInput;

/// The page size when none is asked for: 50.
///
/// # Example
///
/// ```
/// use private_integrations::{DEFAULT_PAGE_SIZE, PageRequest};
/// assert_eq!(PageRequest::new().page_size(), DEFAULT_PAGE_SIZE);
/// ```
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// The largest page size: 200. A larger one is [`InvalidInput::OutOfRange`], not cut
/// down silently.
///
/// # Example
///
/// ```
/// use private_integrations::{MAX_PAGE_SIZE, PageRequest};
/// assert!(PageRequest::new().limit(MAX_PAGE_SIZE).validate().is_ok());
/// assert!(PageRequest::new().limit(MAX_PAGE_SIZE + 1).validate().is_err());
/// ```
pub const MAX_PAGE_SIZE: usize = 200;

/// The two forms of a cursor's text: a letter for the listing, the key's time as 32
/// hexadecimal digits (nanoseconds since the Unix epoch, two's complement, big-endian),
/// then the integration id or the event's position (16 hexadecimal digits).
const INTEGRATION_CURSOR: u8 = b'i';
const NEWEST_INTEGRATION_CURSOR: u8 = b'n';
const AUDIT_CURSOR: u8 = b'a';
const CURSOR_LEN: usize = 1 + 32 + 16;

/// Where a cursor points: after this item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Integration {
        order: ListOrder,
        created_at: OffsetDateTime,
        id: IntegrationId,
    },
    AuditEvent {
        at: OffsetDateTime,
        position: u64,
    },
}

/// Where the next page of a listing starts: after the last item of the page before.
///
/// Made by the listing (see [`Page::next`]); text for the caller to hand back, 49 ASCII
/// characters: `i` (integrations, oldest first), `n` (integrations, newest first) or
/// `a` (audit events), 32 lower-case hexadecimal
/// digits, then 16 base62 characters (an integration id) or 16 lower-case hexadecimal
/// digits. It encodes the key of the last item of a page; [`parse`](Self::parse) refuses
/// any other text, and a listing refuses a cursor of the other one
/// ([`Error::InvalidInput`]). Every text of the right form names some position, so a
/// made-up cursor can only start a page somewhere in the caller's own listing. A cursor
/// is opaque, not secret: do not build or read one, and do not rely on its form across
/// versions of this crate.
///
/// [`Error::InvalidInput`]: crate::Error::InvalidInput
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// for name in ["One", "Two", "Three"] {
///     pi.create(&admin, NewIntegration::new(name).scopes(["contacts.readonly"])).await?;
/// }
/// let first = pi.list_page(&admin, PageRequest::new().limit(2)).await?;
/// let cursor: Cursor = first.next.expect("a third integration");
/// // The text goes to the client and comes back in its next request.
/// let again = Cursor::parse(cursor.as_str())?;
/// let second = pi.list_page(&admin, PageRequest::new().limit(2).after(again)).await?;
/// assert_eq!(second.items[0].name(), "Three");
/// assert!(second.next.is_none());
/// assert!(Cursor::parse("not a cursor").is_err());
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    text: Box<str>,
    key: Key,
}

impl Cursor {
    /// The cursor after an integration created at `created_at` with id `id`, for
    /// integration listings (oldest first). For storage backends.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, IntegrationId};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// let at = time::OffsetDateTime::UNIX_EPOCH;
    /// let cursor = Cursor::after_integration(at, &id);
    /// assert_eq!(cursor.integration_key(), Some((at, &id)));
    /// assert_eq!(cursor.audit_event_key(), None);
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn after_integration(created_at: OffsetDateTime, id: &IntegrationId) -> Self {
        Self::after_integration_in(ListOrder::OldestFirst, created_at, id)
    }

    /// The cursor after an integration created at `created_at` with id `id`, for
    /// integration listings in `order`. For storage backends: the cursor remembers the
    /// order, and a listing in the other order refuses it.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, IntegrationId, ListOrder};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// let at = time::OffsetDateTime::UNIX_EPOCH;
    /// let cursor = Cursor::after_integration_in(ListOrder::NewestFirst, at, &id);
    /// assert_eq!(cursor.integration_key_in(ListOrder::NewestFirst), Some((at, &id)));
    /// assert_eq!(cursor.integration_key_in(ListOrder::OldestFirst), None);
    /// assert_eq!(cursor.integration_key(), None);
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn after_integration_in(
        order: ListOrder,
        created_at: OffsetDateTime,
        id: &IntegrationId,
    ) -> Self {
        Self::from_key(Key::Integration {
            order,
            created_at,
            id: id.clone(),
        })
    }

    /// The cursor after an audit event of time `at`, at `position` among the events of
    /// that instant, for audit logs (newest first). For storage backends: `position` is
    /// what orders events of one instant (the SQL backends' sequence number; see
    /// [`Storage::audit_log_page`](crate::Storage::audit_log_page)).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Cursor;
    /// let at = time::OffsetDateTime::UNIX_EPOCH;
    /// let cursor = Cursor::after_audit_event(at, 42);
    /// assert_eq!(cursor.audit_event_key(), Some((at, 42)));
    /// assert_eq!(cursor.integration_key(), None);
    /// ```
    pub fn after_audit_event(at: OffsetDateTime, position: u64) -> Self {
        Self::from_key(Key::AuditEvent { at, position })
    }

    /// Reads the text of a cursor.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::Malformed`] (field `cursor`) for any text not of a cursor's form
    /// (length, kind letter, alphabet). The error never repeats the text.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, InvalidInput};
    /// let cursor = Cursor::after_audit_event(time::OffsetDateTime::UNIX_EPOCH, 7);
    /// assert_eq!(Cursor::parse(cursor.as_str()).unwrap(), cursor);
    /// assert_eq!(Cursor::parse(&cursor.as_str().to_uppercase()), Err(InvalidInput::Malformed { field: "cursor" }));
    /// ```
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        Self::decode(text).ok_or(InvalidInput::Malformed { field: "cursor" })
    }

    /// The text to hand to the client.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Cursor;
    /// let cursor = Cursor::after_audit_event(time::OffsetDateTime::UNIX_EPOCH, 7);
    /// assert!(cursor.as_str().starts_with('a'));
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The creation time and id of the integration this cursor follows, if it is a
    /// cursor of an integration listing oldest first (as [`Cursor::after_integration`]
    /// makes; see [`integration_key_in`](Self::integration_key_in) for either order).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, IntegrationId};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// let cursor = Cursor::after_integration(time::OffsetDateTime::UNIX_EPOCH, &id);
    /// assert_eq!(cursor.integration_key().map(|(_, id)| id.as_str()), Some("AbCdEfGh12345678"));
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn integration_key(&self) -> Option<(OffsetDateTime, &IntegrationId)> {
        self.integration_key_in(ListOrder::OldestFirst)
    }

    /// The creation time and id of the integration this cursor follows, if it is a
    /// cursor of an integration listing in `order`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, IntegrationId, ListOrder};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// let cursor = Cursor::after_integration(time::OffsetDateTime::UNIX_EPOCH, &id);
    /// assert!(cursor.integration_key_in(ListOrder::OldestFirst).is_some());
    /// assert!(cursor.integration_key_in(ListOrder::NewestFirst).is_none());
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn integration_key_in(&self, order: ListOrder) -> Option<(OffsetDateTime, &IntegrationId)> {
        match &self.key {
            Key::Integration {
                order: own,
                created_at,
                id,
            } if *own == order => Some((*created_at, id)),
            _ => None,
        }
    }

    /// The order of the integration listing this cursor belongs to, if it is a cursor of
    /// an integration listing.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, IntegrationId, ListOrder};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// let at = time::OffsetDateTime::UNIX_EPOCH;
    /// let cursor = Cursor::after_integration_in(ListOrder::NewestFirst, at, &id);
    /// assert_eq!(cursor.integration_order(), Some(ListOrder::NewestFirst));
    /// assert_eq!(Cursor::after_audit_event(at, 1).integration_order(), None);
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn integration_order(&self) -> Option<ListOrder> {
        match &self.key {
            Key::Integration { order, .. } => Some(*order),
            Key::AuditEvent { .. } => None,
        }
    }

    /// The time and position of the audit event this cursor follows, if it is a cursor
    /// of an audit log.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Cursor;
    /// let cursor = Cursor::after_audit_event(time::OffsetDateTime::UNIX_EPOCH, 7);
    /// assert_eq!(cursor.audit_event_key().map(|(_, position)| position), Some(7));
    /// ```
    pub fn audit_event_key(&self) -> Option<(OffsetDateTime, u64)> {
        match self.key {
            Key::AuditEvent { at, position } => Some((at, position)),
            Key::Integration { .. } => None,
        }
    }

    fn from_key(key: Key) -> Self {
        let mut text = String::with_capacity(CURSOR_LEN);
        let (kind, at) = match &key {
            Key::Integration {
                order: ListOrder::OldestFirst,
                created_at,
                ..
            } => (INTEGRATION_CURSOR, created_at),
            Key::Integration {
                order: ListOrder::NewestFirst,
                created_at,
                ..
            } => (NEWEST_INTEGRATION_CURSOR, created_at),
            Key::AuditEvent { at, .. } => (AUDIT_CURSOR, at),
        };
        text.push(char::from(kind));
        push_hex(&mut text, &at.unix_timestamp_nanos().to_be_bytes());
        match &key {
            Key::Integration { id, .. } => text.push_str(id.as_str()),
            Key::AuditEvent { position, .. } => push_hex(&mut text, &position.to_be_bytes()),
        }
        Self {
            text: text.into(),
            key,
        }
    }

    /// Any text of the right form is a cursor: every one names a position (a time out of
    /// the range of [`OffsetDateTime`] is taken as its nearest end), so the form, which a
    /// pattern states, is the whole rule.
    fn decode(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != CURSOR_LEN {
            return None;
        }
        let nanos = i128::from_be_bytes(unhex(&bytes[1..33])?.try_into().ok()?);
        let time = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if nanos < 0 {
            time::PrimitiveDateTime::MIN.assume_utc()
        } else {
            time::PrimitiveDateTime::MAX.assume_utc()
        });
        let rest = &text[33..];
        let key = match bytes[0] {
            kind @ (INTEGRATION_CURSOR | NEWEST_INTEGRATION_CURSOR) => Key::Integration {
                order: if kind == INTEGRATION_CURSOR {
                    ListOrder::OldestFirst
                } else {
                    ListOrder::NewestFirst
                },
                created_at: time,
                id: IntegrationId::parse(rest).ok()?,
            },
            AUDIT_CURSOR => Key::AuditEvent {
                at: time,
                position: u64::from_be_bytes(unhex(rest.as_bytes())?.try_into().ok()?),
            },
            _ => return None,
        };
        Some(Self {
            text: text.into(),
            key,
        })
    }
}

fn push_hex(text: &mut String, bytes: &[u8]) {
    for byte in bytes {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some((hex_digit(pair[0])? << 4) | hex_digit(pair[1])?))
        .collect()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cursor").field(&&*self.text).finish()
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Cursor {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Which page of a listing to read: how many items at most, and after which cursor.
///
/// The size is checked when the page is read: 1 to [`MAX_PAGE_SIZE`], by default
/// [`DEFAULT_PAGE_SIZE`]. Without a cursor, the first page.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// // Every integration of the account, ten at a time.
/// let mut request = PageRequest::new().limit(10);
/// let mut all = Vec::new();
/// loop {
///     let page = pi.list_page(&admin, request.clone()).await?;
///     all.extend(page.items);
///     match page.next {
///         Some(cursor) => request = request.after(cursor),
///         None => break,
///     }
/// }
/// assert_eq!(all, pi.list(&admin).await?);
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: usize,
    after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl PageRequest {
    /// The first page, of [`DEFAULT_PAGE_SIZE`] items.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PageRequest;
    /// assert!(PageRequest::new().cursor().is_none());
    /// ```
    pub fn new() -> Self {
        Self {
            limit: DEFAULT_PAGE_SIZE,
            after: None,
        }
    }

    /// At most `limit` items (1 to [`MAX_PAGE_SIZE`]; checked when the page is read).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PageRequest;
    /// assert_eq!(PageRequest::new().limit(10).page_size(), 10);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The page after `cursor`, which the page before gave ([`Page::next`]).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, PageRequest};
    /// let cursor = Cursor::after_audit_event(time::OffsetDateTime::UNIX_EPOCH, 1);
    /// assert_eq!(PageRequest::new().after(cursor.clone()).cursor(), Some(&cursor));
    /// ```
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// How many items at most.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{DEFAULT_PAGE_SIZE, PageRequest};
    /// assert_eq!(PageRequest::new().page_size(), DEFAULT_PAGE_SIZE);
    /// ```
    pub fn page_size(&self) -> usize {
        self.limit
    }

    /// Where the page starts: after this cursor, or at the beginning.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::PageRequest;
    /// assert_eq!(PageRequest::new().cursor(), None);
    /// ```
    pub fn cursor(&self) -> Option<&Cursor> {
        self.after.as_ref()
    }

    /// Checks the page size.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::OutOfRange`] (field `page size`) unless it is 1 to
    /// [`MAX_PAGE_SIZE`].
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{InvalidInput, PageRequest};
    /// assert!(PageRequest::new().limit(1).validate().is_ok());
    /// assert_eq!(
    ///     PageRequest::new().limit(0).validate(),
    ///     Err(InvalidInput::OutOfRange { field: "page size", min: 1, max: 200 })
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if (1..=MAX_PAGE_SIZE).contains(&self.limit) {
            Ok(())
        } else {
            Err(InvalidInput::OutOfRange {
                field: "page size",
                min: 1,
                max: MAX_PAGE_SIZE,
            })
        }
    }
}

/// Which audit events to read: one integration's or the whole account's, and which page.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let zapier = pi.create(&admin, NewIntegration::new("Zapier").scopes(["contacts.readonly"])).await?;
/// pi.create(&admin, NewIntegration::new("Other").scopes(["contacts.readonly"])).await?;
/// let id = zapier.integration.id().clone();
/// pi.rotate(&admin, &id, RotationMode::ExpireNow).await?;
///
/// let query = AuditLogQuery::new().integration(id.clone()).page(PageRequest::new().limit(10));
/// let page = pi.audit_log_page(&admin, query).await?;
/// let actions: Vec<String> = page.items.iter().map(|e| e.action.to_string()).collect();
/// assert_eq!(actions, ["rotated the token, the old one expired now", "created the integration"]);
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditLogQuery {
    integration: Option<IntegrationId>,
    page: PageRequest,
}

impl AuditLogQuery {
    /// The whole account's log, first page of [`DEFAULT_PAGE_SIZE`] events.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::AuditLogQuery;
    /// assert!(AuditLogQuery::new().integration_id().is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the events of integration `id` (those of a deleted integration too). An id
    /// the account never had gives an empty log, not an error.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AuditLogQuery, IntegrationId};
    /// let id = IntegrationId::parse("AbCdEfGh12345678")?;
    /// assert_eq!(AuditLogQuery::new().integration(id.clone()).integration_id(), Some(&id));
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn integration(mut self, id: IntegrationId) -> Self {
        self.integration = Some(id);
        self
    }

    /// Which page.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AuditLogQuery, PageRequest};
    /// let query = AuditLogQuery::new().page(PageRequest::new().limit(5));
    /// assert_eq!(query.page_request().page_size(), 5);
    /// ```
    pub fn page(mut self, page: PageRequest) -> Self {
        self.page = page;
        self
    }

    /// The integration whose events are read, if only one's.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::AuditLogQuery;
    /// assert_eq!(AuditLogQuery::new().integration_id(), None);
    /// ```
    pub fn integration_id(&self) -> Option<&IntegrationId> {
        self.integration.as_ref()
    }

    /// The page asked for.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{AuditLogQuery, DEFAULT_PAGE_SIZE};
    /// assert_eq!(AuditLogQuery::new().page_request().page_size(), DEFAULT_PAGE_SIZE);
    /// ```
    pub fn page_request(&self) -> &PageRequest {
        &self.page
    }
}

/// The order of an integration listing: by creation time, then id, one way or the other.
///
/// An [`IntegrationQuery`](crate::IntegrationQuery) lists newest first unless told
/// otherwise; [`list`](crate::PrivateIntegrations::list) and
/// [`list_page`](crate::PrivateIntegrations::list_page) list oldest first. A cursor
/// remembers the order of its listing ([`Cursor::integration_order`]).
///
/// # Example
///
/// ```
/// use private_integrations::{IntegrationQuery, ListOrder};
/// assert_eq!(ListOrder::default(), ListOrder::NewestFirst);
/// assert_eq!(IntegrationQuery::new().oldest_first().list_order(), ListOrder::OldestFirst);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ListOrder {
    /// The most recently created first (by creation time, then id, both descending).
    #[default]
    NewestFirst,
    /// The first created first (by creation time, then id).
    OldestFirst,
}

/// One page of a listing: its items, and the cursor of the next page if there may be more.
///
/// `next` is `None` on the last page; otherwise hand it to
/// [`PageRequest::after`] for the next one. A full page may be the last one, with an
/// empty page after it, if items were deleted meanwhile.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// pi.create(&admin, NewIntegration::new("Zapier").scopes(["contacts.readonly"])).await?;
/// let page: Page<Integration> = pi.list_page(&admin, PageRequest::new()).await?;
/// assert_eq!(page.items.len(), 1);
/// assert!(page.next.is_none());
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` if this is the last page.
    pub next: Option<Cursor>,
    /// How many items the whole listing holds under the same filter (every page, not
    /// this one), if the listing counts them: an [`IntegrationQuery`](crate::IntegrationQuery) does (the
    /// database counts them, with a second query beside the page's); `list_page` and
    /// audit log pages do not (`None`).
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// A page of `items`, with the cursor of the next page. For storage backends.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Page;
    /// let page = Page::new(vec![1, 2], None);
    /// assert_eq!(page.items, [1, 2]);
    /// ```
    pub fn new(items: Vec<T>, next: Option<Cursor>) -> Self {
        Self {
            items,
            next,
            total: None,
        }
    }

    /// The same page, saying how many items the whole listing holds. For storage
    /// backends.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Page;
    /// assert_eq!(Page::new(vec![1, 2], None).with_total(2).total, Some(2));
    /// ```
    pub fn with_total(mut self, total: u64) -> Self {
        self.total = Some(total);
        self
    }

    /// The same page with each item turned into another.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::Page;
    /// assert_eq!(Page::new(vec![1, 2], None).map(|n| n * 10).items, [10, 20]);
    /// ```
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn id() -> IntegrationId {
        IntegrationId::parse("AbCdEfGh12345678").unwrap()
    }

    #[test]
    fn cursors_round_trip_through_their_text() {
        let times = [
            OffsetDateTime::UNIX_EPOCH,
            OffsetDateTime::UNIX_EPOCH - Duration::days(400) + Duration::nanoseconds(1),
            time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC),
            time::macros::datetime!(-9999-01-01 00:00 UTC),
        ];
        for at in times {
            for cursor in [
                Cursor::after_integration(at, &id()),
                Cursor::after_audit_event(at, 0),
                Cursor::after_audit_event(at, u64::MAX),
            ] {
                let parsed = Cursor::parse(cursor.as_str()).unwrap();
                assert_eq!(parsed, cursor);
                assert_eq!(parsed.integration_key(), cursor.integration_key());
                assert_eq!(parsed.audit_event_key(), cursor.audit_event_key());
                let json = serde_json::to_string(&cursor).unwrap();
                assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), cursor);
                assert_eq!(cursor.as_str().len(), CURSOR_LEN);
            }
        }
    }

    #[test]
    fn anything_not_of_a_cursors_form_is_malformed() {
        let good = Cursor::after_integration(OffsetDateTime::UNIX_EPOCH, &id());
        let text = good.as_str();
        assert_eq!(text.len(), CURSOR_LEN);
        let audit = Cursor::after_audit_event(OffsetDateTime::UNIX_EPOCH, 9);
        for case in [
            String::new(),
            "0".repeat(CURSOR_LEN),
            text.to_uppercase(),
            format!("{text}0"),
            text[..CURSOR_LEN - 1].to_owned(),
            format!("x{}", &text[1..]),
            format!("i{}", &audit.as_str()[1..]).replacen('0', "-", 1),
            format!("a{}", &text[1..]),
            text.replacen('0', "g", 1),
            text.replacen('0', "é", 1),
        ] {
            assert_eq!(
                Cursor::parse(&case),
                Err(InvalidInput::Malformed { field: "cursor" }),
                "{case}"
            );
            assert!(serde_json::from_str::<Cursor>(&format!("\"{case}\"")).is_err());
        }
        // Any text of the form is some position; a time out of range is its nearest end.
        let far = format!("a{}{}", "7".repeat(32), "0".repeat(16));
        let (at, position) = Cursor::parse(&far).unwrap().audit_event_key().unwrap();
        assert_eq!((at.year(), position), (9999, 0));
        let early = format!("i{}AbCdEfGh12345678", "f0".repeat(16));
        let (at, _) = Cursor::parse(&early).unwrap().integration_key().unwrap();
        assert_eq!(at.year(), -9999);
    }

    #[test]
    fn page_sizes() {
        assert_eq!(PageRequest::new().page_size(), DEFAULT_PAGE_SIZE);
        for ok in [1, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE] {
            assert_eq!(PageRequest::new().limit(ok).validate(), Ok(()));
        }
        for bad in [0, MAX_PAGE_SIZE + 1, usize::MAX] {
            assert!(PageRequest::new().limit(bad).validate().is_err(), "{bad}");
        }
    }
}
