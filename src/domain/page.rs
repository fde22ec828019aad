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
//! A cursor is opaque: its text encodes the key of the last item of a page, with a
//! checksum, and only the listing that made it takes it back. It is not a secret and
//! not a capability: it names a position, and every page is read with the caller's own
//! account and permissions.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::ids::{ID_LEN, IntegrationId};
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

/// The length of a cursor's text, in bytes: its two forms.
const INTEGRATION_CURSOR_LEN: usize = 2 * (1 + 16 + ID_LEN + 4);
const AUDIT_CURSOR_LEN: usize = 2 * (1 + 16 + 8 + 4);

const INTEGRATION_KIND: u8 = 1;
const AUDIT_KIND: u8 = 2;

/// Where a cursor points: after this item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Integration {
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
/// Made by the listing (see [`Page::next`]); text for the caller to hand back, at most
/// 74 lower-case hexadecimal characters. It encodes the key of an item and a checksum;
/// [`parse`](Self::parse) refuses anything else. A cursor is opaque, not secret: do not
/// build or read one, and do not rely on its form across versions of this crate. A
/// cursor of one listing is refused by another ([`Error::InvalidInput`]).
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
        Self::from_key(Key::Integration {
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
    /// [`InvalidInput::Malformed`] (field `cursor`) for any text that no listing made:
    /// wrong length or alphabet, a checksum that does not match, a key out of range. The
    /// error never repeats the text.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{Cursor, InvalidInput};
    /// let cursor = Cursor::after_audit_event(time::OffsetDateTime::UNIX_EPOCH, 7);
    /// assert_eq!(Cursor::parse(cursor.as_str()).unwrap(), cursor);
    /// let mut tampered = cursor.as_str().to_owned();
    /// tampered.replace_range(20..21, if &tampered[20..21] == "0" { "1" } else { "0" });
    /// assert_eq!(Cursor::parse(&tampered), Err(InvalidInput::Malformed { field: "cursor" }));
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
    /// assert!(cursor.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The creation time and id of the integration this cursor follows, if it is a
    /// cursor of an integration listing.
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
        match &self.key {
            Key::Integration { created_at, id } => Some((*created_at, id)),
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
        let mut bytes = Vec::with_capacity(INTEGRATION_CURSOR_LEN / 2);
        match &key {
            Key::Integration { created_at, id } => {
                bytes.push(INTEGRATION_KIND);
                bytes.extend_from_slice(&created_at.unix_timestamp_nanos().to_be_bytes());
                bytes.extend_from_slice(id.as_str().as_bytes());
            }
            Key::AuditEvent { at, position } => {
                bytes.push(AUDIT_KIND);
                bytes.extend_from_slice(&at.unix_timestamp_nanos().to_be_bytes());
                bytes.extend_from_slice(&position.to_be_bytes());
            }
        }
        let checksum = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&checksum.to_be_bytes());
        let mut text = String::with_capacity(bytes.len() * 2);
        for byte in bytes {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Self {
            text: text.into(),
            key,
        }
    }

    fn decode(text: &str) -> Option<Self> {
        if text.len() != INTEGRATION_CURSOR_LEN && text.len() != AUDIT_CURSOR_LEN {
            return None;
        }
        let bytes = text
            .as_bytes()
            .chunks_exact(2)
            .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
            .collect::<Option<Vec<u8>>>()?;
        let (body, checksum) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_be_bytes() != checksum {
            return None;
        }
        let (&kind, rest) = body.split_first()?;
        let (nanos, rest) = rest.split_at_checked(16)?;
        let time =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from_be_bytes(nanos.try_into().ok()?))
                .ok()?;
        let key = match kind {
            INTEGRATION_KIND if rest.len() == ID_LEN => Key::Integration {
                created_at: time,
                id: IntegrationId::parse(std::str::from_utf8(rest).ok()?).ok()?,
            },
            AUDIT_KIND if rest.len() == 8 => Key::AuditEvent {
                at: time,
                position: u64::from_be_bytes(rest.try_into().ok()?),
            },
            _ => return None,
        };
        Some(Self {
            text: text.into(),
            key,
        })
    }
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
        Self { items, next }
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
                assert!(cursor.as_str().len() <= 74);
            }
        }
    }

    #[test]
    fn anything_a_listing_did_not_make_is_malformed() {
        let good = Cursor::after_integration(OffsetDateTime::UNIX_EPOCH, &id());
        let text = good.as_str();
        let mut cases: Vec<String> = vec![
            String::new(),
            "0".repeat(74),
            "0".repeat(58),
            text.to_uppercase(),
            format!("{text}0"),
            text[..72].to_owned(),
            text.replacen(&text[10..11], "g", 1),
        ];
        // Every one-character change breaks the checksum.
        for at in 0..text.len() {
            let mut changed = text.to_owned().into_bytes();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            cases.push(String::from_utf8(changed).unwrap());
        }
        // A correct checksum over a key no listing makes: an unknown kind, a time out of
        // range, an id that is not base62.
        let forge = |body: &[u8]| {
            let mut bytes = body.to_vec();
            bytes.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let mut body = vec![3u8];
        body.extend_from_slice(&[0; 24]);
        cases.push(forge(&body));
        let mut body = vec![AUDIT_KIND];
        body.extend_from_slice(&i128::MAX.to_be_bytes());
        body.extend_from_slice(&[0; 8]);
        cases.push(forge(&body));
        let mut body = vec![INTEGRATION_KIND];
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(b"AbCdEfGh1234567-");
        cases.push(forge(&body));
        for case in cases {
            assert_eq!(
                Cursor::parse(&case),
                Err(InvalidInput::Malformed { field: "cursor" }),
                "{case}"
            );
            assert!(serde_json::from_str::<Cursor>(&format!("\"{case}\"")).is_err());
        }
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
