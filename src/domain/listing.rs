//! What a listing of many integrations asks for ([`IntegrationQuery`]): which page, in
//! which order, only those whose name contains some text, only those in some
//! [`IntegrationState`].
//!
//! # Case-insensitive, the same everywhere
//!
//! "Name contains" compares *folded* text: each character replaced by its Unicode
//! lowercase mapping ([`char::to_lowercase`]), on both the name and the search text, then
//! a plain substring test. The fold is done in Rust, never by a database's `lower()`
//! (SQLite's folds ASCII only, PostgreSQL's follows the database's locale): the SQL
//! backends store each name's fold beside it, written with the name, so every backend
//! finds the same integrations. `%`, `_` and `\` in the search text are plain
//! characters.

use time::{Duration, OffsetDateTime};

use super::integration::{IntegrationRecord, MAX_NAME_CHARS};
use super::page::{ListOrder, PageRequest};
use crate::error::InvalidInput;

/// The longest search text, in characters: 100, as a name.
///
/// # Example
///
/// ```
/// use private_integrations::{IntegrationQuery, MAX_SEARCH_CHARS};
/// assert!(IntegrationQuery::new().name_contains("z".repeat(MAX_SEARCH_CHARS)).validate().is_ok());
/// assert!(IntegrationQuery::new().name_contains("z".repeat(MAX_SEARCH_CHARS + 1)).validate().is_err());
/// ```
pub const MAX_SEARCH_CHARS: usize = MAX_NAME_CHARS;

/// Where an integration's tokens stand at some instant, as the list shows it: exactly
/// one of the three.
///
/// - [`Rotating`](Self::Rotating): a rotation is under way, its previous token still
///   works (`now < previous_expires_at`);
/// - [`RotationDue`](Self::RotationDue): no rotation under way, and the current token has
///   reached the rotation interval (as [`Integration::rotation_due`]);
/// - [`Active`](Self::Active): neither.
///
/// [`Integration::rotation_due`]: crate::Integration::rotation_due
///
/// # Example
///
/// ```
/// use private_integrations::IntegrationState;
/// assert_eq!(IntegrationState::parse("rotation_due"), Some(IntegrationState::RotationDue));
/// assert_eq!(IntegrationState::Rotating.as_str(), "rotating");
/// assert_eq!(IntegrationState::parse("Rotating"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationState {
    /// No rotation under way, and the token is younger than the rotation interval.
    Active,
    /// A rotation is under way: the previous token still works.
    Rotating,
    /// No rotation under way, and the token has reached the rotation interval.
    RotationDue,
}

impl IntegrationState {
    /// Every state, in the order a screen offers them.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationState;
    /// assert_eq!(IntegrationState::ALL.len(), 3);
    /// ```
    pub const ALL: [IntegrationState; 3] = [Self::Active, Self::Rotating, Self::RotationDue];

    /// The state of `record` at `now`, with tokens due for rotation at `rotation_interval`.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let storage = MemoryStorage::new();
    /// # let pi = PrivateIntegrations::builder(storage.clone())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let id = pi.create(&admin, NewIntegration::new("Zapier").scopes(["contacts.readonly"])).await?
    ///     .integration.id().clone();
    /// let record = storage.get(admin.account(), &id).await?.unwrap();
    /// let (now, interval) = (pi.now(), pi.rotation_interval());
    /// assert_eq!(IntegrationState::of(&record, now, interval), IntegrationState::Active);
    /// assert_eq!(IntegrationState::of(&record, now + interval, interval), IntegrationState::RotationDue);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn of(
        record: &IntegrationRecord,
        now: OffsetDateTime,
        rotation_interval: Duration,
    ) -> Self {
        let credentials = &record.credentials;
        if credentials
            .previous()
            .is_some_and(|(_, expires)| now < expires)
        {
            Self::Rotating
        } else if now - credentials.current().issued_at >= rotation_interval {
            Self::RotationDue
        } else {
            Self::Active
        }
    }

    /// The state's name in the admin API and the settings page's address: `active`,
    /// `rotating`, `rotation_due`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationState;
    /// assert_eq!(IntegrationState::RotationDue.as_str(), "rotation_due");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotating => "rotating",
            Self::RotationDue => "rotation_due",
        }
    }

    /// The state named `text` ([`as_str`](Self::as_str)), if it is one.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationState;
    /// assert_eq!(IntegrationState::parse("active"), Some(IntegrationState::Active));
    /// assert_eq!(IntegrationState::parse("due"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// Which integrations to list, and which page: newest first unless told otherwise, all
/// of them unless a search text or a state narrows them.
///
/// Read with [`PrivateIntegrations::list_query`](crate::PrivateIntegrations::list_query),
/// which also counts them ([`Page::total`](crate::Page::total)). A cursor belongs to its
/// order: the next page must be asked in the same order (a cursor of the other order is
/// [`InvalidInput::Malformed`]). The search text and state may change between pages:
/// the cursor names a position in the order, and the next page holds what matches after
/// it.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// for name in ["Zapier sync", "Mailer", "ZAPIER backup"] {
///     pi.create(&admin, NewIntegration::new(name).scopes(["contacts.readonly"])).await?;
/// }
/// let query = IntegrationQuery::new()
///     .name_contains("zap")
///     .state(IntegrationState::Active)
///     .page(PageRequest::new().limit(10));
/// let page = pi.list_query(&admin, query).await?;
/// let names: Vec<&str> = page.items.iter().map(|i| i.name()).collect();
/// assert_eq!(names, ["ZAPIER backup", "Zapier sync"]);
/// assert_eq!(page.total, Some(2));
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationQuery {
    page: PageRequest,
    order: ListOrder,
    name_contains: Option<String>,
    state: Option<IntegrationState>,
}

impl IntegrationQuery {
    /// Every integration, newest first, the first page of
    /// [`DEFAULT_PAGE_SIZE`](crate::DEFAULT_PAGE_SIZE).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, ListOrder};
    /// let query = IntegrationQuery::new();
    /// assert_eq!(query.list_order(), ListOrder::NewestFirst);
    /// assert!(query.search().is_none() && query.state_filter().is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Which page.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, PageRequest};
    /// let query = IntegrationQuery::new().page(PageRequest::new().limit(5));
    /// assert_eq!(query.page_request().page_size(), 5);
    /// ```
    pub fn page(mut self, page: PageRequest) -> Self {
        self.page = page;
        self
    }

    /// In this order.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, ListOrder};
    /// assert_eq!(IntegrationQuery::new().order(ListOrder::OldestFirst).list_order(), ListOrder::OldestFirst);
    /// ```
    pub fn order(mut self, order: ListOrder) -> Self {
        self.order = order;
        self
    }

    /// The most recently created first (the default).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, ListOrder};
    /// assert_eq!(IntegrationQuery::new().newest_first().list_order(), ListOrder::NewestFirst);
    /// ```
    pub fn newest_first(self) -> Self {
        self.order(ListOrder::NewestFirst)
    }

    /// The first created first.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, ListOrder};
    /// assert_eq!(IntegrationQuery::new().oldest_first().list_order(), ListOrder::OldestFirst);
    /// ```
    pub fn oldest_first(self) -> Self {
        self.order(ListOrder::OldestFirst)
    }

    /// Only integrations whose name contains `text`, ignoring case (see the
    /// [module documentation](self)). White space around it is ignored; an empty text
    /// (after trimming) searches nothing: every name matches. At most
    /// [`MAX_SEARCH_CHARS`] characters, none a control character (checked when the page
    /// is read).
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationQuery;
    /// assert_eq!(IntegrationQuery::new().name_contains("  Zap ").search(), Some("Zap"));
    /// assert_eq!(IntegrationQuery::new().name_contains("   ").search(), None);
    /// ```
    pub fn name_contains(mut self, text: impl AsRef<str>) -> Self {
        let text = text.as_ref().trim();
        self.name_contains = (!text.is_empty()).then(|| text.to_owned());
        self
    }

    /// Only integrations in `state` at the time of reading.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, IntegrationState};
    /// let query = IntegrationQuery::new().state(IntegrationState::Rotating);
    /// assert_eq!(query.state_filter(), Some(IntegrationState::Rotating));
    /// ```
    pub fn state(mut self, state: IntegrationState) -> Self {
        self.state = Some(state);
        self
    }

    /// The page asked for.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{DEFAULT_PAGE_SIZE, IntegrationQuery};
    /// assert_eq!(IntegrationQuery::new().page_request().page_size(), DEFAULT_PAGE_SIZE);
    /// ```
    pub fn page_request(&self) -> &PageRequest {
        &self.page
    }

    /// The order asked for.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, ListOrder};
    /// assert_eq!(IntegrationQuery::new().list_order(), ListOrder::NewestFirst);
    /// ```
    pub fn list_order(&self) -> ListOrder {
        self.order
    }

    /// The search text (trimmed), if any.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationQuery;
    /// assert_eq!(IntegrationQuery::new().search(), None);
    /// ```
    pub fn search(&self) -> Option<&str> {
        self.name_contains.as_deref()
    }

    /// The search text folded ([`fold_case`]), as a backend compares it with folded
    /// names.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationQuery;
    /// assert_eq!(IntegrationQuery::new().name_contains("ZAP").folded_search().as_deref(), Some("zap"));
    /// ```
    pub fn folded_search(&self) -> Option<String> {
        self.search().map(fold_case)
    }

    /// The state asked for, if any.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::IntegrationQuery;
    /// assert_eq!(IntegrationQuery::new().state_filter(), None);
    /// ```
    pub fn state_filter(&self) -> Option<IntegrationState> {
        self.state
    }

    /// Whether `record` is one of the integrations asked for (its name and its state at
    /// `now`; not the page): what a backend's filter must agree with.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let storage = MemoryStorage::new();
    /// # let pi = PrivateIntegrations::builder(storage.clone())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let id = pi.create(&admin, NewIntegration::new("Zapier 100%").scopes(["contacts.readonly"])).await?
    ///     .integration.id().clone();
    /// let record = storage.get(admin.account(), &id).await?.unwrap();
    /// let (now, interval) = (pi.now(), pi.rotation_interval());
    /// assert!(IntegrationQuery::new().name_contains("PIER 100%").matches(&record, now, interval));
    /// assert!(!IntegrationQuery::new().name_contains("zapier_").matches(&record, now, interval));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn matches(
        &self,
        record: &IntegrationRecord,
        now: OffsetDateTime,
        rotation_interval: Duration,
    ) -> bool {
        let state_ok = self
            .state
            .is_none_or(|state| IntegrationState::of(record, now, rotation_interval) == state);
        state_ok
            && self
                .folded_search()
                .is_none_or(|text| fold_case(&record.name).contains(&text))
    }

    /// Checks the page and the search text.
    ///
    /// # Errors
    ///
    /// As [`PageRequest::validate`]; [`InvalidInput::TooLong`] (field `search`) for a
    /// search text of more than [`MAX_SEARCH_CHARS`] characters,
    /// [`InvalidInput::ControlCharacter`] (field `search`) for one with a control
    /// character, [`InvalidInput::HoldsToken`] (field `search`) for one holding a token of
    /// this crate's format (a secret pasted in the wrong place). No error repeats the
    /// text.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{IntegrationQuery, InvalidInput};
    /// assert_eq!(
    ///     IntegrationQuery::new().name_contains("a\u{7}b").validate(),
    ///     Err(InvalidInput::ControlCharacter { field: "search" })
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), InvalidInput> {
        self.page.validate()?;
        if let Some(text) = self.search() {
            if text.chars().count() > MAX_SEARCH_CHARS {
                return Err(InvalidInput::TooLong {
                    field: "search",
                    max: MAX_SEARCH_CHARS,
                });
            }
            if text.chars().any(char::is_control) {
                return Err(InvalidInput::ControlCharacter { field: "search" });
            }
            // A token pasted into the search box is a secret: refused, never searched for,
            // shown back or kept in a page's links.
            if super::integration::holds_token(text) {
                return Err(InvalidInput::HoldsToken { field: "search" });
            }
        }
        Ok(())
    }
}

/// `text` with each character replaced by its Unicode lowercase mapping: how names and
/// search texts are compared (see the [module documentation](self)). The SQL backends
/// store each name's fold.
///
/// # Example
///
/// ```
/// use private_integrations::domain::listing::fold_case;
/// assert_eq!(fold_case("ÉCOLE Zapier"), "école zapier");
/// assert_eq!(fold_case("ΣΑΣ"), "σασ");
/// ```
pub fn fold_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in IntegrationState::ALL {
            assert_eq!(IntegrationState::parse(state.as_str()), Some(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state.as_str())
            );
        }
    }

    #[test]
    fn search_texts_are_checked_without_being_repeated() {
        let long = IntegrationQuery::new().name_contains("é".repeat(101));
        assert_eq!(
            long.validate(),
            Err(InvalidInput::TooLong {
                field: "search",
                max: 100
            })
        );
        assert!(
            IntegrationQuery::new()
                .name_contains("é".repeat(100))
                .validate()
                .is_ok()
        );
        let control = IntegrationQuery::new().name_contains("a\nb");
        assert_eq!(
            control.validate(),
            Err(InvalidInput::ControlCharacter { field: "search" })
        );
    }

    #[test]
    fn folding_is_per_character() {
        assert_eq!(fold_case("İ"), "i\u{307}");
        assert_eq!(fold_case("100%_\\"), "100%_\\");
    }
}
