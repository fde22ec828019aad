//! Scope catalogs and scope sets: `ScopeCatalog::new` on arbitrary name lists,
//! `ScopeCatalog::scope_set` and `StoredScopes::granted` on arbitrary names.
//!
//! Checked: nothing panics; `ScopeCatalog::new` accepts exactly what a reference
//! implementation of the rules accepts, with the same error for the first broken rule;
//! building an equal catalog again gives the same (interned) catalog; a scope set holds
//! exactly the distinct names asked for, lists them in catalog order, serializes to that
//! list, and `scope_set` refuses the first name outside the catalog.
//!
//! `ScopeCatalog::new` interns every distinct catalog for the life of the process (a
//! service builds one at start-up), so this target builds at most [`MAX_NOVEL`] distinct
//! valid catalogs per process and then checks the others against the reference only.
//! Invalid catalogs are never interned and are checked without limit.
#![no_main]

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use private_integrations::storage::StoredScopes;
use private_integrations::{Error, ScopeCatalog};
use private_integrations_fuzz::reference_catalog;

const MAX_NOVEL: usize = 5_000;

/// Names the fuzzer can pick by index, so valid and colliding names are easy to reach.
const POOL: [&str; 12] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.write",
    "urn:x-y_z",
    "a",
    "A",
    "s255",
    "has space",
    "",
    "é",
    "contacts.readonly\n",
    "tab\there",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Pool(u8),
    Raw(String),
    /// `s0` … `s299`: names of the full 256-scope catalog and just past it.
    Numbered(u16),
}

impl Name {
    fn text(&self) -> String {
        match self {
            Name::Pool(i) => POOL[usize::from(*i) % POOL.len()].to_owned(),
            Name::Raw(s) => s.clone(),
            Name::Numbered(n) => format!("s{}", n % 300),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    catalog: Vec<Name>,
    /// Prepend `s0` … `s{n}` to the catalog, to reach the 256-name limit.
    numbered_prefix: Option<u16>,
    sets: Vec<Vec<Name>>,
}

thread_local! {
    static BUILT: RefCell<HashSet<Vec<String>>> = RefCell::new(HashSet::new());
}

fn fixed() -> [ScopeCatalog; 2] {
    static FIXED: OnceLock<[ScopeCatalog; 2]> = OnceLock::new();
    *FIXED.get_or_init(|| {
        let full: Vec<String> = (0..256).map(|i| format!("s{i}")).collect();
        [
            ScopeCatalog::new([
                "contacts.readonly",
                "contacts.write",
                "calendars/events.write",
            ])
            .unwrap(),
            ScopeCatalog::new(&full).unwrap(),
        ]
    })
}

fn check_catalog(names: &[String]) -> Option<ScopeCatalog> {
    let reference = reference_catalog(names);
    let novel = BUILT.with(|built| {
        let built = built.borrow();
        !built.contains(names) && built.len() >= MAX_NOVEL
    });
    if reference.is_ok() && novel {
        return None;
    }
    let built = ScopeCatalog::new(names);
    match (&built, &reference) {
        (Ok(catalog), Ok(())) => {
            assert_eq!(catalog.len(), names.len());
            assert!(!catalog.is_empty());
            assert!(catalog.iter().eq(names.iter().map(String::as_str)));
            assert!(names.iter().all(|n| catalog.contains(n)));
            assert_eq!(
                ScopeCatalog::new(names).ok(),
                Some(*catalog),
                "not interned"
            );
            BUILT.with(|b| b.borrow_mut().insert(names.to_vec()));
        }
        (Err(Error::InvalidInput(got)), Err(expected)) => assert_eq!(got, expected),
        _ => panic!("ScopeCatalog::new({names:?}) = {built:?}, the reference says {reference:?}"),
    }
    built.ok()
}

fn check_set(catalog: ScopeCatalog, names: &[String]) {
    let result = catalog.scope_set(names);
    let first_unknown = names.iter().find(|n| !catalog.contains(n));
    let set = match (result, first_unknown) {
        (Err(Error::UnknownScope(got)), Some(expected)) => {
            assert_eq!(&got, expected);
            return;
        }
        (Ok(set), None) => set,
        (result, expected) => {
            panic!("scope_set({names:?}) = {result:?}, first unknown {expected:?}")
        }
    };
    let distinct: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(set.len(), distinct.len());
    assert_eq!(set.is_empty(), distinct.is_empty());
    assert!(distinct.iter().all(|n| set.contains(n)));
    let listed: Vec<&str> = set.iter().collect();
    let in_catalog_order: Vec<&str> = catalog.iter().filter(|n| distinct.contains(n)).collect();
    assert_eq!(listed, in_catalog_order);
    assert_eq!(set.catalog(), catalog);
    assert_eq!(
        serde_json::to_value(set).unwrap(),
        serde_json::json!(listed)
    );
    // Stored names compile back to the same set; names outside the catalog are dropped.
    let stored = StoredScopes::new(names.iter().map(String::as_str));
    assert_eq!(stored.granted(catalog), set);
    if catalog.len() <= 16 {
        let everything = catalog.scope_set(catalog.iter()).unwrap();
        assert!(everything.is_superset(&set));
        assert_eq!(set.is_superset(&everything), set.len() == catalog.len());
    }
}

fuzz_target!(|input: Input| {
    let mut names: Vec<String> = Vec::new();
    if let Some(n) = input.numbered_prefix {
        names.extend((0..=(n % 300)).map(|i| format!("s{i}")));
    }
    names.extend(input.catalog.iter().map(Name::text));
    let built = check_catalog(&names);

    for set in input.sets.iter().take(8) {
        let set: Vec<String> = set.iter().map(Name::text).collect();
        for catalog in built.into_iter().chain(fixed()) {
            check_set(catalog, &set);
        }
        // Granted names outside any catalog are silently dropped, never an error.
        let granted = StoredScopes::new(set.iter().map(String::as_str)).granted(fixed()[0]);
        assert!(granted.iter().all(|n| set.iter().any(|s| s == n)));
    }
});
