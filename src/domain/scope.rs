//! Scopes: the host's catalog of scope names, and sets of them compiled to bitsets.

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::error::{Error, InvalidInput};

/// The most scopes a catalog may hold (the width of a [`ScopeSet`]).
///
/// # Example
///
/// ```
/// use private_integrations::{ScopeCatalog, domain::scope::MAX_SCOPES};
/// let too_many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("scope.{i}")).collect();
/// assert!(ScopeCatalog::new(&too_many).is_err());
/// ```
pub const MAX_SCOPES: usize = 256;

/// The longest scope name accepted, in bytes.
///
/// # Example
///
/// ```
/// use private_integrations::{ScopeCatalog, domain::scope::MAX_SCOPE_NAME_LEN};
/// assert!(ScopeCatalog::new(["a".repeat(MAX_SCOPE_NAME_LEN + 1)]).is_err());
/// ```
pub const MAX_SCOPE_NAME_LEN: usize = 128;

const WORDS: usize = MAX_SCOPES / 64;

struct CatalogInner {
    names: Vec<&'static str>,
    index: HashMap<&'static str, u16, foldhash::fast::FixedState>,
    /// Per scope, in catalog order: what people read for it (see [`ScopeCatalog::labelled`]).
    labels: Vec<Option<ScopeLabel>>,
}

/// What people read for a scope: a short label and a sentence or two.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ScopeLabel {
    label: &'static str,
    description: &'static str,
}

/// The longest scope label accepted, in characters (see [`ScopeCatalog::labelled`]).
///
/// # Example
///
/// ```
/// use private_integrations::{ScopeCatalog, domain::scope::MAX_SCOPE_LABEL_CHARS};
/// let long = "x".repeat(MAX_SCOPE_LABEL_CHARS + 1);
/// assert!(ScopeCatalog::labelled([("contacts.readonly", long.as_str(), "")]).is_err());
/// ```
pub const MAX_SCOPE_LABEL_CHARS: usize = 100;

/// The longest scope description accepted, in characters (see [`ScopeCatalog::labelled`]).
///
/// # Example
///
/// ```
/// use private_integrations::{ScopeCatalog, domain::scope::MAX_SCOPE_DESCRIPTION_CHARS};
/// let long = "x".repeat(MAX_SCOPE_DESCRIPTION_CHARS + 1);
/// assert!(ScopeCatalog::labelled([("contacts.readonly", "View contacts", long.as_str())]).is_err());
/// ```
pub const MAX_SCOPE_DESCRIPTION_CHARS: usize = 500;

/// Every catalog built in this process, so that building the same one twice gives the
/// same `&'static` value. See [`ScopeCatalog`] on why catalogs live for the process.
static INTERNED: Mutex<Vec<&'static CatalogInner>> = Mutex::new(Vec::new());

/// The service's list of scope names, such as `contacts.readonly` or
/// `calendars/events.write`.
///
/// A name is 1 to [`MAX_SCOPE_NAME_LEN`] bytes of ASCII letters, digits and `. _ - / :`.
/// A catalog holds 1 to [`MAX_SCOPES`] distinct names; their order is the order given.
///
/// Catalogs are interned: a catalog lives for the rest of the process, and building an
/// equal catalog again returns the same one. A service builds its catalog once at start-up,
/// and this lets every [`ScopeSet`] (and so every verified token) point at its catalog
/// without reference counting on the verification path. `ScopeCatalog` is `Copy`.
///
/// # Example
///
/// ```
/// use private_integrations::ScopeCatalog;
///
/// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
/// assert!(catalog.contains("contacts.write"));
/// assert_eq!(catalog.len(), 2);
/// assert!(ScopeCatalog::new(["contacts.readonly", "contacts.readonly"]).is_err());
/// assert!(ScopeCatalog::new(["has space"]).is_err());
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct ScopeCatalog(&'static CatalogInner);

impl ScopeCatalog {
    /// Builds (or finds) the catalog with these names.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the list is empty or too long, a name is malformed, or
    /// a name appears twice.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert_eq!(catalog, ScopeCatalog::new(["contacts.readonly", "contacts.write"])?);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn new<I, S>(names: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut owned: Vec<(String, Option<(String, String)>)> = Vec::new();
        for name in names {
            push_scope(&mut owned, name.as_ref(), None)?;
        }
        Self::intern(owned)
    }

    /// Builds (or finds) a catalog whose scopes carry what people read: a label (1 to
    /// [`MAX_SCOPE_LABEL_CHARS`] characters) and a description (up to
    /// [`MAX_SCOPE_DESCRIPTION_CHARS`], may be empty), given as `(name, label,
    /// description)`. The settings page shows them on its scopes step.
    ///
    /// Labels change nothing about what a scope grants: tokens, stored scopes and
    /// verification only ever use the names. Catalogs with the same names and different
    /// labels are different catalogs (each interned on its own).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`Error::InvalidInput`] for an empty or too long label,
    /// a too long description, or a control character in either.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::labelled([
    ///     ("contacts.readonly", "View contacts", "Read the account's contacts."),
    ///     ("contacts.write", "Edit contacts", "Create and change contacts."),
    /// ])?;
    /// assert_eq!(catalog.label("contacts.write"), Some("Edit contacts"));
    /// assert_eq!(catalog.description("contacts.readonly"), Some("Read the account's contacts."));
    /// assert!(catalog.contains("contacts.readonly"));
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn labelled<I, N, L, D>(scopes: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (N, L, D)>,
        N: AsRef<str>,
        L: AsRef<str>,
        D: AsRef<str>,
    {
        let mut owned: Vec<(String, Option<(String, String)>)> = Vec::new();
        for (name, label, description) in scopes {
            let label = validate_label(label.as_ref())?;
            let description = validate_scope_description(description.as_ref())?;
            push_scope(&mut owned, name.as_ref(), Some((label, description)))?;
        }
        Self::intern(owned)
    }

    /// The catalog with these (already checked) scopes: the one already built, or a new
    /// one that lives for the rest of the process.
    fn intern(owned: Vec<(String, Option<(String, String)>)>) -> Result<Self, Error> {
        if owned.is_empty() {
            return Err(InvalidInput::Empty {
                field: "scope catalog",
            }
            .into());
        }

        let mut interned = INTERNED.lock().unwrap_or_else(|poison| poison.into_inner());
        let same = |c: &CatalogInner| {
            c.names.len() == owned.len()
                && c.names.iter().zip(&c.labels).zip(&owned).all(
                    |((name, label), (owned_name, owned_label))| {
                        name == owned_name
                            && match (label, owned_label) {
                                (None, None) => true,
                                (Some(l), Some((label, description))) => {
                                    l.label == label && l.description == description
                                }
                                _ => false,
                            }
                    },
                )
        };
        if let Some(existing) = interned.iter().find(|c| same(c)) {
            return Ok(Self(existing));
        }
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let mut names = Vec::with_capacity(owned.len());
        let mut labels = Vec::with_capacity(owned.len());
        for (name, label) in owned {
            names.push(leak(name));
            labels.push(label.map(|(label, description)| ScopeLabel {
                label: leak(label),
                description: leak(description),
            }));
        }
        let index = names
            .iter()
            .enumerate()
            .map(|(bit, name)| (*name, bit as u16))
            .collect();
        let inner: &'static CatalogInner = Box::leak(Box::new(CatalogInner {
            names,
            index,
            labels,
        }));
        interned.push(inner);
        Ok(Self(inner))
    }

    /// The label of a scope, if the catalog was built with labels
    /// ([`labelled`](Self::labelled)) and holds the scope.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let plain = ScopeCatalog::new(["contacts.readonly"])?;
    /// assert_eq!(plain.label("contacts.readonly"), None);
    /// let labelled = ScopeCatalog::labelled([("contacts.readonly", "View contacts", "")])?;
    /// assert_eq!(labelled.label("contacts.readonly"), Some("View contacts"));
    /// assert_eq!(labelled.label("billing.write"), None);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn label(&self, name: &str) -> Option<&'static str> {
        self.scope_label(name).map(|l| l.label)
    }

    /// The description of a scope, if the catalog was built with labels
    /// ([`labelled`](Self::labelled)), holds the scope, and its description is not empty.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::labelled([
    ///     ("contacts.readonly", "View contacts", "Read the account's contacts."),
    ///     ("contacts.write", "Edit contacts", ""),
    /// ])?;
    /// assert_eq!(catalog.description("contacts.readonly"), Some("Read the account's contacts."));
    /// assert_eq!(catalog.description("contacts.write"), None);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn description(&self, name: &str) -> Option<&'static str> {
        self.scope_label(name)
            .map(|l| l.description)
            .filter(|d| !d.is_empty())
    }

    fn scope_label(&self, name: &str) -> Option<ScopeLabel> {
        let bit = self.bit(name)?;
        self.0.labels.get(usize::from(bit)).copied().flatten()
    }

    /// Whether the catalog holds this scope name.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert!(catalog.contains("contacts.readonly") && !catalog.contains("billing.write"));
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.0.index.contains_key(name)
    }

    /// The number of scopes.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert_eq!(catalog.len(), 2);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.0.names.len()
    }

    /// Always false: a catalog holds at least one scope.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert!(!catalog.is_empty());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.names.is_empty()
    }

    /// The scope names, in catalog order.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["b.read", "a.read"])?;
    /// assert_eq!(catalog.iter().collect::<Vec<_>>(), ["b.read", "a.read"]);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static str> + '_ {
        self.0.names.iter().copied()
    }

    /// Compiles scope names into a set, rejecting any name outside the catalog.
    /// Duplicates are merged.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownScope`] for the first name not in the catalog.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// let set = catalog.scope_set(["contacts.write"])?;
    /// assert!(set.contains("contacts.write") && !set.contains("contacts.readonly"));
    /// assert!(catalog.scope_set(["billing.write"]).is_err());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn scope_set<I, S>(&self, names: I) -> Result<ScopeSet, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = ScopeSet::empty(*self);
        for name in names {
            let name = name.as_ref();
            let bit = self
                .bit(name)
                .ok_or_else(|| Error::UnknownScope(name.to_owned()))?;
            set.insert_bit(bit);
        }
        Ok(set)
    }

    /// Compiles stored scope names, silently dropping names the catalog no longer holds
    /// (a scope the host removed is no longer granted: fail closed). Allocation-free.
    fn granted<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> ScopeSet {
        let mut set = ScopeSet::empty(*self);
        for name in names {
            if let Some(bit) = self.bit(name) {
                set.insert_bit(bit);
            }
        }
        set
    }

    fn bit(&self, name: &str) -> Option<u16> {
        self.0.index.get(name).copied()
    }
}

impl PartialEq for ScopeCatalog {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for ScopeCatalog {}

impl fmt::Debug for ScopeCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopeCatalog").field(&self.0.names).finish()
    }
}

/// Checks `name` and appends it to the catalog being built.
fn push_scope(
    owned: &mut Vec<(String, Option<(String, String)>)>,
    name: &str,
    label: Option<(String, String)>,
) -> Result<(), Error> {
    validate_scope_name(name)?;
    if owned.iter().any(|(seen, _)| seen == name) {
        return Err(InvalidInput::DuplicateScope(name.to_owned()).into());
    }
    if owned.len() == MAX_SCOPES {
        return Err(InvalidInput::TooManyScopes { max: MAX_SCOPES }.into());
    }
    owned.push((name.to_owned(), label));
    Ok(())
}

fn validate_label(label: &str) -> Result<String, InvalidInput> {
    const FIELD: &str = "scope label";
    let label = label.trim();
    if label.is_empty() {
        return Err(InvalidInput::Empty { field: FIELD });
    }
    if label.chars().count() > MAX_SCOPE_LABEL_CHARS {
        return Err(InvalidInput::TooLong {
            field: FIELD,
            max: MAX_SCOPE_LABEL_CHARS,
        });
    }
    if label.chars().any(char::is_control) {
        return Err(InvalidInput::ControlCharacter { field: FIELD });
    }
    Ok(label.to_owned())
}

fn validate_scope_description(description: &str) -> Result<String, InvalidInput> {
    const FIELD: &str = "scope description";
    let description = description.trim();
    if description.chars().count() > MAX_SCOPE_DESCRIPTION_CHARS {
        return Err(InvalidInput::TooLong {
            field: FIELD,
            max: MAX_SCOPE_DESCRIPTION_CHARS,
        });
    }
    if description.chars().any(char::is_control) {
        return Err(InvalidInput::ControlCharacter { field: FIELD });
    }
    Ok(description.to_owned())
}

fn validate_scope_name(name: &str) -> Result<(), InvalidInput> {
    const FIELD: &str = "scope name";
    if name.is_empty() {
        return Err(InvalidInput::Empty { field: FIELD });
    }
    if name.len() > MAX_SCOPE_NAME_LEN {
        return Err(InvalidInput::TooLong {
            field: FIELD,
            max: MAX_SCOPE_NAME_LEN,
        });
    }
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':');
    if name.bytes().all(allowed) {
        Ok(())
    } else {
        Err(InvalidInput::Malformed { field: FIELD })
    }
}

/// A set of scopes of one [`ScopeCatalog`], as a fixed-size bitset: membership tests are
/// O(1) and nothing allocates. `Copy`.
///
/// Serializes as the list of scope names in catalog order.
///
/// # Example
///
/// ```
/// use private_integrations::ScopeCatalog;
/// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write", "calendars/events.write"])?;
/// let set = catalog.scope_set(["calendars/events.write", "contacts.readonly"])?;
/// assert_eq!(set.len(), 2);
/// assert_eq!(set.iter().collect::<Vec<_>>(), ["contacts.readonly", "calendars/events.write"]);
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ScopeSet {
    bits: [u64; WORDS],
    catalog: ScopeCatalog,
}

impl ScopeSet {
    fn empty(catalog: ScopeCatalog) -> Self {
        Self {
            bits: [0; WORDS],
            catalog,
        }
    }

    fn insert_bit(&mut self, bit: u16) {
        self.bits[usize::from(bit / 64)] |= 1 << (bit % 64);
    }

    fn has_bit(&self, bit: u16) -> bool {
        self.bits[usize::from(bit / 64)] & (1 << (bit % 64)) != 0
    }

    /// Whether the set holds the scope. A name outside the catalog is never held.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// let set = catalog.scope_set(["contacts.write"])?;
    /// assert!(set.contains("contacts.write") && !set.contains("nope"));
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.catalog.bit(name).is_some_and(|bit| self.has_bit(bit))
    }

    /// Whether every scope of `other` is in this set.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// let both = catalog.scope_set(["contacts.readonly", "contacts.write"])?;
    /// assert!(both.is_superset(&catalog.scope_set(["contacts.write"])?));
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn is_superset(&self, other: &ScopeSet) -> bool {
        self.catalog == other.catalog && self.bits.iter().zip(&other.bits).all(|(a, b)| b & !a == 0)
    }

    /// The number of scopes in the set.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert_eq!(catalog.scope_set(["contacts.write", "contacts.write"])?.len(), 1);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert!(!catalog.scope_set(["contacts.write"])?.is_empty());
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// The scope names, in catalog order.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// let set = catalog.scope_set(["contacts.write", "contacts.readonly"])?;
    /// assert_eq!(set.iter().collect::<Vec<_>>(), ["contacts.readonly", "contacts.write"]);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        let catalog = self.catalog.0;
        catalog
            .names
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.has_bit(*bit as u16))
            .map(|(_, name)| *name)
    }

    /// The catalog the set belongs to.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::ScopeCatalog;
    /// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
    /// assert_eq!(catalog.scope_set(["contacts.write"])?.catalog(), catalog);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn catalog(&self) -> ScopeCatalog {
        self.catalog
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for name in self.iter() {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

/// The scope names of a stored integration, as storage keeps them, with the compiled
/// [`ScopeSet`] cached for the verifier.
///
/// Names, not bits, are what storage keeps, so a record does not depend on the order of
/// the service's catalog. The verifier compiles them against its catalog once per record
/// version and keeps the set here, so verifying a token costs no scope lookups on an
/// in-process backend. A name the catalog no longer holds is not granted.
///
/// # Example
///
/// ```
/// use private_integrations::{ScopeCatalog, storage::StoredScopes};
/// let stored = StoredScopes::new(["contacts.write", "removed.scope"]);
/// assert_eq!(stored.names().collect::<Vec<_>>(), ["contacts.write", "removed.scope"]);
/// let catalog = ScopeCatalog::new(["contacts.readonly", "contacts.write"])?;
/// assert_eq!(stored.granted(catalog).iter().collect::<Vec<_>>(), ["contacts.write"]);
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct StoredScopes {
    /// Every name, each after its length in bytes and a colon
    /// (`17:contacts.readonly5:a.b.c`): one allocation for all the names, whatever they
    /// hold.
    packed: Box<str>,
    compiled: OnceLock<ScopeSet>,
}

/// The first name of a packed list, and the rest of the list.
fn unpack(packed: &str) -> Option<(&str, &str)> {
    let (len, rest) = packed.split_once(':')?;
    let len: usize = len.parse().ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// The names of a [`StoredScopes`], in order.
struct Names<'a> {
    rest: &'a str,
    left: usize,
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (name, rest) = unpack(self.rest)?;
        self.rest = rest;
        self.left -= 1;
        Some(name)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Names<'_> {}

impl StoredScopes {
    /// Wraps stored scope names.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::storage::StoredScopes;
    /// let stored = StoredScopes::new(["contacts.readonly"]);
    /// assert_eq!(stored.names().len(), 1);
    /// ```
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        let mut packed = String::new();
        for name in names {
            let name: Box<str> = name.into();
            // Writing to a `String` cannot fail.
            let _ = write!(packed, "{}:{name}", name.len());
        }
        Self {
            packed: packed.into_boxed_str(),
            compiled: OnceLock::new(),
        }
    }

    /// The stored names.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::storage::StoredScopes;
    /// let stored = StoredScopes::from(vec!["a.read".to_owned(), "b.read".to_owned()]);
    /// assert_eq!(stored.names().collect::<Vec<_>>(), ["a.read", "b.read"]);
    /// ```
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        let left = std::iter::successors(unpack(&self.packed), |(_, rest)| unpack(rest)).count();
        Names {
            rest: &self.packed,
            left,
        }
    }

    /// The names `catalog` grants, as a set. Allocation-free; computed once per value
    /// for the catalog it is first asked with.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{ScopeCatalog, storage::StoredScopes};
    /// let catalog = ScopeCatalog::new(["a.read"])?;
    /// assert_eq!(StoredScopes::new(["a.read", "gone.read"]).granted(catalog).len(), 1);
    /// # Ok::<(), private_integrations::Error>(())
    /// ```
    pub fn granted(&self, catalog: ScopeCatalog) -> ScopeSet {
        let compile = || catalog.granted(self.names());
        let cached = self.compiled.get_or_init(compile);
        if cached.catalog() == catalog {
            *cached
        } else {
            compile()
        }
    }
}

impl From<Vec<String>> for StoredScopes {
    fn from(names: Vec<String>) -> Self {
        Self::new(names)
    }
}

impl PartialEq for StoredScopes {
    fn eq(&self, other: &Self) -> bool {
        self.packed == other.packed
    }
}

impl Eq for StoredScopes {}

impl fmt::Debug for StoredScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_come_back_whatever_they_hold() {
        let odd = ["", "12:x", "a:b", "é.ü", "contacts.readonly", "\n:"];
        let stored = StoredScopes::new(odd);
        assert_eq!(stored.names().len(), odd.len());
        assert_eq!(stored.names().collect::<Vec<_>>(), odd);
        assert_eq!(StoredScopes::default().names().len(), 0);
        assert_ne!(StoredScopes::new(["a", "b"]), StoredScopes::new(["a:b"]));
        assert_ne!(StoredScopes::new(["ab"]), StoredScopes::new(["a", "b"]));
    }

    #[test]
    fn catalogs_are_interned() {
        let a = ScopeCatalog::new(["interned.a", "interned.b"]).unwrap();
        let b =
            ScopeCatalog::new(vec!["interned.a".to_string(), "interned.b".to_string()]).unwrap();
        let c = ScopeCatalog::new(["interned.b", "interned.a"]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_catalogs_are_refused() {
        let empty: [&str; 0] = [];
        assert!(matches!(
            ScopeCatalog::new(empty),
            Err(Error::InvalidInput(InvalidInput::Empty { .. }))
        ));
        let too_many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(matches!(
            ScopeCatalog::new(&too_many),
            Err(Error::InvalidInput(InvalidInput::TooManyScopes {
                max: 256
            }))
        ));
        let exactly: Vec<String> = (0..MAX_SCOPES).map(|i| format!("s{i}")).collect();
        let full = ScopeCatalog::new(&exactly).unwrap();
        let all = full.scope_set(&exactly).unwrap();
        assert_eq!(all.len(), MAX_SCOPES);
        assert!(all.contains("s255") && all.contains("s0"));
        for bad in ["", "a b", "é", "x\n", &"a".repeat(MAX_SCOPE_NAME_LEN + 1)] {
            assert!(ScopeCatalog::new([bad]).is_err(), "{bad:?} accepted");
        }
        assert!(ScopeCatalog::new(["calendars/events.write", "urn:x-y_z"]).is_ok());
    }

    #[test]
    fn granted_drops_names_outside_the_catalog() {
        let catalog = ScopeCatalog::new(["granted.a", "granted.b"]).unwrap();
        let stored = StoredScopes::new(["granted.b", "removed.scope"]);
        let set = stored.granted(catalog);
        assert_eq!(set.iter().collect::<Vec<_>>(), ["granted.b"]);
        assert!(!set.contains("removed.scope"));
    }

    #[test]
    fn the_cache_follows_the_catalog() {
        let wide = ScopeCatalog::new(["cache.a", "cache.b"]).unwrap();
        let narrow = ScopeCatalog::new(["cache.a"]).unwrap();
        let stored = StoredScopes::new(["cache.a", "cache.b"]);
        assert_eq!(stored.granted(wide).len(), 2);
        assert_eq!(
            stored.granted(narrow).len(),
            1,
            "a cached set of another catalog is not reused"
        );
        assert_eq!(stored.granted(wide).len(), 2);
        let cloned = stored.clone();
        assert_eq!(cloned, stored);
        assert_eq!(format!("{stored:?}"), r#"["cache.a", "cache.b"]"#);
    }

    #[test]
    fn labelled_catalogs() {
        let plain = ScopeCatalog::new(["label.a", "label.b"]).unwrap();
        let labelled = ScopeCatalog::labelled([
            ("label.a", " Read A ", "Reads A."),
            ("label.b", "Write B", ""),
        ])
        .unwrap();
        assert_ne!(plain, labelled, "labels make another catalog");
        assert_eq!(
            labelled,
            ScopeCatalog::labelled([
                ("label.a", "Read A", "Reads A."),
                ("label.b", "Write B", "")
            ])
            .unwrap(),
            "labelled catalogs are interned too"
        );
        assert_ne!(
            labelled,
            ScopeCatalog::labelled([("label.a", "Read A", "Reads A."), ("label.b", "Write", "")])
                .unwrap()
        );
        assert_eq!(labelled.label("label.a"), Some("Read A"));
        assert_eq!(labelled.description("label.a"), Some("Reads A."));
        assert_eq!(labelled.description("label.b"), None);
        assert_eq!(plain.label("label.a"), None);
        assert_eq!(labelled.label("label.c"), None);
        assert!(labelled.scope_set(["label.b"]).unwrap().contains("label.b"));
        for bad in [
            ("label.a", "", ""),
            ("label.a", "a\nb", ""),
            ("label.a", "A", "x\u{7}"),
        ] {
            assert!(ScopeCatalog::labelled([bad]).is_err(), "{bad:?} accepted");
        }
        assert!(ScopeCatalog::labelled([("label.a", "A", ""), ("label.a", "B", "")]).is_err());
    }

    #[test]
    fn superset() {
        let catalog = ScopeCatalog::new(["sup.a", "sup.b"]).unwrap();
        let both = catalog.scope_set(["sup.a", "sup.b"]).unwrap();
        let one = catalog.scope_set(["sup.b"]).unwrap();
        assert!(both.is_superset(&one));
        assert!(!one.is_superset(&both));
    }

    #[test]
    fn serializes_as_names() {
        let catalog = ScopeCatalog::new(["ser.a", "ser.b"]).unwrap();
        let set = catalog.scope_set(["ser.b"]).unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["ser.b"]"#);
        assert_eq!(format!("{set:?}"), r#"{"ser.b"}"#);
    }
}
