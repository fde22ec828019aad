//! `NewIntegration::validate` and `IntegrationUpdate::apply` on arbitrary names,
//! descriptions and scopes.
//!
//! Checked: nothing panics; each accepts exactly what the reference rules of DESIGN §1
//! accept, with the same error for the first broken rule (name, then description, then
//! scopes); what is stored obeys the rules: trimmed, within the length limits, free of
//! control characters (line breaks and tabs allowed in a description), bidi overrides
//! and isolates, and (in a name) line separators, a name with a visible character, no
//! token in either, at least one scope of the catalog; an update changes only the fields it sets, bumps the version by
//! one and keeps the credentials; the admin's view serializes.
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use private_integrations::domain::credentials::{Credentials, TokenCredential};
use private_integrations::storage::IntegrationRecord;
use private_integrations::{
    AccountId, Error, Integration, IntegrationId, IntegrationUpdate, InvalidInput, NewIntegration,
    ScopeCatalog, TokenHash, TokenId,
};
use private_integrations_fuzz::{
    BASE62, Outcome, is_bidi_override_or_isolate, is_control, is_line_separator, is_visible,
    reference_description, reference_holds_token, reference_name, sign, trim,
};
use time::{Duration, OffsetDateTime};

const SCOPES: [&str; 3] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.write",
];

#[derive(Arbitrary, Debug)]
enum Scope {
    Known(u8),
    Raw(String),
}

impl Scope {
    fn text(&self) -> String {
        match self {
            Scope::Known(i) => SCOPES[usize::from(*i) % SCOPES.len()].to_owned(),
            Scope::Raw(s) => s.clone(),
        }
    }
}

/// Characters the rules single out: invisible ones, white space, bidi controls and
/// isolates, line separators, controls, a combining mark, an emoji.
const SPECIAL: [char; 22] = [
    '\u{200f}',
    '\u{200e}',
    '\u{200b}',
    '\u{200d}',
    '\u{2060}',
    '\u{feff}',
    '\u{2028}',
    '\u{2029}',
    '\u{202e}',
    '\u{202a}',
    '\u{2066}',
    '\u{2069}',
    '\u{85}',
    '\u{a0}',
    '\u{3000}',
    '\t',
    '\n',
    '\r',
    ' ',
    '\u{301}',
    'a',
    '\u{1f600}',
];

/// A piece of a name or description.
#[derive(Arbitrary, Debug)]
enum Piece {
    Raw(String),
    Special(u8),
    /// A token with a right checksum, of a prefix and a body drawn from the seed.
    Token {
        prefix: u8,
        seed: u64,
    },
}

/// A name or description: its pieces, concatenated.
#[derive(Arbitrary, Debug)]
struct Text(Vec<Piece>);

impl Text {
    fn text(&self) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Raw(s) => out.push_str(s),
                Piece::Special(i) => out.push(SPECIAL[usize::from(*i) % SPECIAL.len()]),
                Piece::Token { prefix, seed } => {
                    let prefixes = ["pit", "x", "sk9", "abcdefghijklmnop"];
                    let mut body = prefixes[usize::from(*prefix) % prefixes.len()]
                        .as_bytes()
                        .to_vec();
                    let mut state = *seed | 1;
                    body.push(b'_');
                    for n in 0..(16 + 1 + 43) {
                        if n == 16 {
                            body.push(b'_');
                            continue;
                        }
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        body.push(BASE62[(state % 62) as usize]);
                    }
                    out.push_str(std::str::from_utf8(&sign(body)).unwrap());
                }
            }
        }
        out
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    name: Text,
    description: Option<Text>,
    scopes: Vec<Scope>,
    update_name: Option<Text>,
    update_description: Option<Text>,
    update_scopes: Option<Vec<Scope>>,
}

/// The input with its texts put together.
struct Texts {
    name: String,
    description: Option<String>,
    update_name: Option<String>,
    update_description: Option<String>,
}

fn outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::InvalidInput(e)) => Outcome::Invalid(e.clone()),
        Err(Error::UnknownScope(s)) => Outcome::UnknownScope(s.clone()),
        Err(other) => panic!("validation gave a non-input error: {other:?}"),
    }
}

fn reference_scopes(scopes: &[String]) -> Result<BTreeSet<String>, Outcome> {
    match private_integrations_fuzz::reference_scopes(&SCOPES, scopes) {
        Outcome::Ok => Ok(scopes.iter().cloned().collect()),
        refused => Err(refused),
    }
}

fn catalog() -> ScopeCatalog {
    static CATALOG: OnceLock<ScopeCatalog> = OnceLock::new();
    *CATALOG.get_or_init(|| ScopeCatalog::new(SCOPES).unwrap())
}

const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

fn record(
    fields: private_integrations::domain::integration::ValidIntegrationFields,
) -> IntegrationRecord {
    let credential = TokenCredential {
        id: TokenId::parse("TokenTokenToken1").unwrap(),
        hash: TokenHash::from_bytes([1; 32]),
        issued_at: T0,
    };
    IntegrationRecord::create(
        IntegrationId::parse("Integration00001").unwrap(),
        AccountId::new("acct_1"),
        fields,
        Credentials::new(credential),
        T0,
    )
}

/// The rules every stored record obeys, whatever the input was.
fn assert_well_formed(record: &IntegrationRecord) {
    let name = &*record.name;
    assert_eq!(name, trim(name));
    assert!((1..=100).contains(&name.chars().count()), "{name:?}");
    assert!(
        !name
            .chars()
            .any(|c| is_control(c) || is_bidi_override_or_isolate(c) || is_line_separator(c)),
        "{name:?}"
    );
    assert!(name.chars().any(is_visible), "{name:?}");
    assert!(!reference_holds_token(name), "{name:?}");
    let description = &*record.description;
    assert_eq!(description, trim(description));
    assert!(description.chars().count() <= 1000);
    assert!(!description.chars().any(|c| {
        (is_control(c) && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_override_or_isolate(c)
    }));
    assert!(!reference_holds_token(description));
    let names: Vec<&str> = record.scopes.names().collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| SCOPES.contains(n)));
    let view = Integration::from_record(record, catalog(), T0);
    assert_eq!(view.name(), name);
    assert_eq!(view.scopes().len(), names.len());
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["name"], serde_json::json!(name));
}

fuzz_target!(|raw: Input| {
    let input = Texts {
        name: raw.name.text(),
        description: raw.description.as_ref().map(Text::text),
        update_name: raw.update_name.as_ref().map(Text::text),
        update_description: raw.update_description.as_ref().map(Text::text),
    };
    let scopes: Vec<String> = raw.scopes.iter().map(Scope::text).collect();
    let mut new = NewIntegration::new(input.name.clone()).scopes(scopes.clone());
    if let Some(description) = &input.description {
        new = new.description(description.clone());
    }
    let description = input.description.as_deref().unwrap_or("");
    let validated = new.validate(catalog());
    let expected = reference_name(&input.name)
        .map_err(Outcome::Invalid)
        .and_then(|name| {
            Ok((
                name,
                reference_description(description).map_err(Outcome::Invalid)?,
            ))
        })
        .and_then(|(name, description)| Ok((name, description, reference_scopes(&scopes)?)));
    let fields = match (validated, expected) {
        (Ok(fields), Ok(expected)) => (fields, expected),
        (got, Err(expected)) => return assert_eq!(outcome(&got), expected),
        (Err(got), Ok(_)) => panic!("refused valid input: {got:?}"),
    };
    let (fields, (name, description, scope_set)) = fields;
    let base = record(fields);
    assert_well_formed(&base);
    assert_eq!(&*base.name, name);
    assert_eq!(&*base.description, description);
    assert_eq!(
        base.scopes
            .names()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        scope_set
    );

    // An update of the stored record.
    let mut update = IntegrationUpdate::new();
    let update_scopes: Option<Vec<String>> = raw
        .update_scopes
        .as_ref()
        .map(|s| s.iter().map(Scope::text).collect());
    if let Some(name) = &input.update_name {
        update = update.name(name.clone());
    }
    if let Some(description) = &input.update_description {
        update = update.description(description.clone());
    }
    if let Some(scopes) = &update_scopes {
        update = update.scopes(scopes.clone());
    }
    let now = T0 + Duration::hours(1);
    let applied = update.apply(&base, catalog(), now);
    let nothing_set = input.update_name.is_none()
        && input.update_description.is_none()
        && update_scopes.is_none();
    let expected: Result<(), Outcome> = if nothing_set {
        Err(Outcome::Invalid(InvalidInput::EmptyUpdate))
    } else {
        input
            .update_name
            .as_deref()
            .map_or(Ok(()), |n| {
                reference_name(n).map(drop).map_err(Outcome::Invalid)
            })
            .and_then(|()| {
                input.update_description.as_deref().map_or(Ok(()), |d| {
                    reference_description(d).map(drop).map_err(Outcome::Invalid)
                })
            })
            .and_then(|()| {
                update_scopes
                    .as_deref()
                    .map_or(Ok(()), |s| reference_scopes(s).map(drop))
            })
    };
    let next = match (applied, expected) {
        (Ok(next), Ok(())) => next,
        (got, Err(expected)) => return assert_eq!(outcome(&got), expected),
        (Err(got), Ok(())) => panic!("refused a valid update: {got:?}"),
    };
    assert_well_formed(&next);
    assert_eq!(next.version, base.version + 1);
    assert_eq!((next.created_at, next.updated_at), (T0, now));
    assert_eq!(next.id, base.id);
    assert_eq!(next.account, base.account);
    assert!(
        next.credentials
            .token_ids()
            .eq(base.credentials.token_ids())
    );
    let expected_name = input
        .update_name
        .as_deref()
        .map_or(name, |n| reference_name(n).unwrap());
    assert_eq!(&*next.name, expected_name);
    let expected_description = input
        .update_description
        .as_deref()
        .map_or(description, |d| reference_description(d).unwrap());
    assert_eq!(&*next.description, expected_description);
    let expected_scopes = update_scopes.map_or(scope_set, |s| s.into_iter().collect());
    assert_eq!(
        next.scopes
            .names()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        expected_scopes
    );
});
