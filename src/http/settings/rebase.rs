//! An edit made from a stale page, re-applied on top of what the integration is now.
//!
//! The edit form carries the values it was opened with (hidden fields), so that after a
//! refused edit (`409`, someone else changed the integration meanwhile) the page can tell
//! three versions apart: what the form was opened with (`base`), what the integration is
//! now (`current`) and what the admin submitted (`typed`). From them it says what the
//! other person changed, starts the form again from the current values, and re-applies
//! the admin's own changes where they do not collide with the other person's:
//!
//! - scopes, one by one: a scope the admin added or removed stays added or removed; every
//!   other scope is as it is now (so a scope someone else removed is not ticked again);
//! - the name and the description, each whole: the admin's value if only they changed it;
//!   the current value if the other person changed it too (differently), with the admin's
//!   value set aside for them to see.
//!
//! No I/O here: the handler reads the current integration and renders the outcome.

use crate::domain::integration::Integration;
use crate::domain::scope::ScopeCatalog;

/// The values of an integration that the edit form changes: name, description, scopes
/// (scopes of the catalog only, in the catalog's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Editable {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) scopes: Vec<&'static str>,
}

impl Editable {
    /// The integration's values as they are.
    pub(super) fn of(integration: &Integration) -> Self {
        Self {
            name: integration.name().to_owned(),
            description: integration.description().to_owned(),
            scopes: integration.scopes().iter().collect(),
        }
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.contains(&scope)
    }
}

/// A text field's change: from one value to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TextChange {
    pub(super) from: String,
    pub(super) to: String,
}

/// What differs from one [`Editable`] to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// Scopes in the second and not the first, in the catalog's order.
    pub(super) added: Vec<&'static str>,
    /// Scopes in the first and not the second, in the catalog's order.
    pub(super) removed: Vec<&'static str>,
    pub(super) name: Option<TextChange>,
    pub(super) description: Option<TextChange>,
}

impl Changes {
    /// From `from` to `to`. Texts are compared as the service stores them (trimmed), and
    /// with line breaks of either kind alike (a browser sends a textarea's as `\r\n`).
    pub(super) fn between(from: &Editable, to: &Editable) -> Self {
        let text = |a: &str, b: &str| {
            (!same_text(a, b)).then(|| TextChange {
                from: a.trim().to_owned(),
                to: b.trim().to_owned(),
            })
        };
        Self {
            added: to.scopes.iter().copied().filter(|s| !from.has(s)).collect(),
            removed: from.scopes.iter().copied().filter(|s| !to.has(s)).collect(),
            name: text(&from.name, &to.name),
            description: text(&from.description, &to.description),
        }
    }

    /// Whether nothing differs.
    pub(super) fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.name.is_none()
            && self.description.is_none()
    }
}

/// Whether two texts are the same once stored: trimmed, line breaks alike.
fn same_text(a: &str, b: &str) -> bool {
    let normal = |t: &str| t.trim().replace("\r\n", "\n");
    normal(a) == normal(b)
}

/// The outcome of re-applying an edit on top of the current values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rebased {
    /// What the form starts from again: the current values with the admin's changes
    /// that do not collide.
    pub(super) values: Editable,
    /// What the other person changed: from the values the form was opened with to the
    /// current ones.
    pub(super) theirs: Changes,
    /// The admin's changes re-applied: from the current values to [`values`](Self::values).
    pub(super) mine: Changes,
    /// The admin's changes not applied, because the other person changed the same text
    /// differently: `from` is the current value (kept), `to` the admin's. Name and
    /// description only (scopes never collide, see the module documentation).
    pub(super) set_aside: Changes,
}

/// Why an edit was refused as stale, as the page explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stale {
    /// What each side changed, and the form rebuilt from the current values.
    Rebased(Box<Rebased>),
    /// The form did not say what it was opened with (or said something the service
    /// could never have stored), so its changes cannot be told from the other person's:
    /// it starts again from the current values, with nothing of the admin's re-applied.
    Unknown,
}

/// Re-applies the change from `base` to `typed` on top of `current`.
pub(super) fn rebase(
    catalog: ScopeCatalog,
    base: &Editable,
    current: &Editable,
    typed: &Editable,
) -> Rebased {
    let own = Changes::between(base, typed);
    let scopes = catalog
        .iter()
        .filter(|s| (current.has(s) || own.added.contains(s)) && !own.removed.contains(s))
        .collect();
    let (name, name_aside) = merge_text(&base.name, &current.name, &typed.name);
    let (description, description_aside) =
        merge_text(&base.description, &current.description, &typed.description);
    let values = Editable {
        name,
        description,
        scopes,
    };
    Rebased {
        theirs: Changes::between(base, current),
        mine: Changes::between(current, &values),
        set_aside: Changes {
            name: name_aside,
            description: description_aside,
            ..Changes::default()
        },
        values,
    }
}

/// One text, three versions: the admin's if only they changed it, the current one
/// otherwise; and the admin's value set aside when both changed it differently.
fn merge_text(base: &str, current: &str, typed: &str) -> (String, Option<TextChange>) {
    if same_text(typed, base) || same_text(typed, current) {
        (current.to_owned(), None)
    } else if same_text(current, base) {
        (typed.trim().to_owned(), None)
    } else {
        let aside = TextChange {
            from: current.to_owned(),
            to: typed.trim().to_owned(),
        };
        (current.to_owned(), Some(aside))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "contacts.readonly";
    const WRITE: &str = "contacts.write";
    const EVENTS: &str = "calendars/events.write";

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::new([READ, WRITE, EVENTS]).unwrap()
    }

    fn values(name: &str, description: &str, scopes: &[&'static str]) -> Editable {
        Editable {
            name: name.to_owned(),
            description: description.to_owned(),
            scopes: scopes.to_vec(),
        }
    }

    #[test]
    fn a_scope_someone_else_removed_stays_removed() {
        let base = values("Sync", "", &[READ, WRITE]);
        let current = values("Sync", "", &[READ]);
        // The admin left WRITE ticked and added EVENTS.
        let typed = values("Sync", "", &[READ, WRITE, EVENTS]);
        let rebased = rebase(catalog(), &base, &current, &typed);
        assert_eq!(rebased.values.scopes, [READ, EVENTS]);
        assert_eq!(rebased.theirs.removed, [WRITE]);
        assert!(rebased.theirs.added.is_empty());
        assert_eq!(rebased.mine.added, [EVENTS]);
        assert!(rebased.mine.removed.is_empty());
        assert!(rebased.set_aside.is_empty());
    }

    #[test]
    fn the_admins_own_scope_changes_are_kept_on_top_of_theirs() {
        let base = values("Sync", "", &[READ]);
        let current = values("Sync", "", &[READ, EVENTS]);
        let typed = values("Sync", "", &[WRITE]);
        let rebased = rebase(catalog(), &base, &current, &typed);
        assert_eq!(rebased.values.scopes, [WRITE, EVENTS], "catalog order");
        assert_eq!(rebased.theirs.added, [EVENTS]);
        assert_eq!(rebased.mine.added, [WRITE]);
        assert_eq!(rebased.mine.removed, [READ]);
    }

    #[test]
    fn the_same_change_on_both_sides_is_not_the_admins_any_more() {
        let base = values("Sync", "", &[READ, WRITE]);
        let current = values("Sync", "", &[READ]);
        let typed = values("Sync", "", &[READ]);
        let rebased = rebase(catalog(), &base, &current, &typed);
        assert_eq!(rebased.values, current);
        assert!(rebased.mine.is_empty());
        assert_eq!(rebased.theirs.removed, [WRITE]);
    }

    #[test]
    fn texts_merge_whole_and_a_collision_keeps_theirs() {
        let base = values("Sync", "Old", &[READ]);
        // Only the admin renamed; both changed the description, differently.
        let current = values("Sync", "Theirs", &[READ]);
        let typed = values("My sync ", "Mine", &[READ]);
        let rebased = rebase(catalog(), &base, &current, &typed);
        assert_eq!(rebased.values.name, "My sync");
        assert_eq!(rebased.values.description, "Theirs");
        assert_eq!(
            rebased.mine.name,
            Some(TextChange {
                from: "Sync".into(),
                to: "My sync".into()
            })
        );
        assert_eq!(rebased.mine.description, None);
        assert_eq!(
            rebased.set_aside.description,
            Some(TextChange {
                from: "Theirs".into(),
                to: "Mine".into()
            })
        );
        assert_eq!(
            rebased.theirs.description,
            Some(TextChange {
                from: "Old".into(),
                to: "Theirs".into()
            })
        );
        // Only they renamed: theirs, and nothing set aside.
        let current = values("Their sync", "Old", &[READ]);
        let typed = values("Sync", "Old", &[READ]);
        let rebased = rebase(catalog(), &base, &current, &typed);
        assert_eq!(rebased.values, current);
        assert!(rebased.mine.is_empty() && rebased.set_aside.is_empty());
    }

    #[test]
    fn line_breaks_and_outer_spaces_are_no_change() {
        let base = values("Sync", "one\ntwo", &[READ]);
        let typed = values(" Sync", "one\r\ntwo\r\n", &[READ]);
        assert!(Changes::between(&base, &typed).is_empty());
    }
}
