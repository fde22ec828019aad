//! Tokens found in a public place: what a service does with one (the policy), what a
//! report is told (the label), and the place as it is recorded.
//!
//! The transitions themselves are [`Credentials::revoke_leaked`](super::credentials::Credentials::revoke_leaked)
//! and [`IntegrationRecord::revoke_leaked`](super::integration::IntegrationRecord::revoke_leaked);
//! the calls are [`PrivateIntegrations::report_leak`](crate::PrivateIntegrations::report_leak).

use serde::{Deserialize, Serialize};

use super::integration::holds_token;

/// What happens to a live token reported found in a public place (a public repository,
/// a package, a paste).
///
/// Either way the report is recorded once per place (an audit event
/// [`TokenLeaked`](super::audit::AuditAction::TokenLeaked)) and shown to the account's
/// admins on the settings page.
///
/// # Example
///
/// ```
/// use private_integrations::{LeakPolicy, MemoryStorage, PrivateIntegrations};
/// assert_eq!(LeakPolicy::default(), LeakPolicy::Revoke);
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(private_integrations::ScopeCatalog::new(["contacts.readonly"])?)
///     .leak_policy(LeakPolicy::NotifyOnly)
///     .build();
/// assert_eq!(pi.leak_policy(), LeakPolicy::NotifyOnly);
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakPolicy {
    /// The leaked token stops verifying at once, on every replica. A leaked previous
    /// token of a rotation expires (the new token lives on); a leaked current token
    /// leaves the integration in place, marked "leaked — rotate to issue a new token",
    /// verifying nothing until an admin rotates.
    #[default]
    Revoke,
    /// Nothing is revoked: the leak is recorded and shown, and the admins decide.
    NotifyOnly,
}

/// What a report of a token is told: whether it was a token of this service, as
/// GitHub's secret scanning feedback labels it.
///
/// # Example
///
/// ```
/// use private_integrations::LeakLabel;
/// assert_eq!(serde_json::to_string(&LeakLabel::TruePositive).unwrap(), r#""true_positive""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakLabel {
    /// A token of this service that was live when reported, or one an earlier report
    /// already recorded (revoked it, or under [`LeakPolicy::NotifyOnly`] noted it); the
    /// secret matched, constant-time, as verification checks it.
    TruePositive,
    /// Anything else: malformed, unknown, a wrong secret, or a token that had ended for
    /// another reason (expired, rotated away, deleted). Nothing was changed or recorded.
    FalsePositive,
}

/// A report that one of an integration's tokens still in use was found in a public
/// place, as [`PrivateIntegrations::leaks`](crate::PrivateIntegrations::leaks) gives it.
/// Holds no secret.
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
/// let scanner = UserId::new("github-secret-scanning");
/// pi.report_leak(&scanner, created.token.expose_secret(), "https://gist.github.com/x").await?;
/// let leaks: Vec<Leak> = pi.leaks(&admin, created.integration.id()).await?;
/// assert_eq!(&*leaks[0].url, "https://gist.github.com/x");
/// assert!(leaks[0].current && leaks[0].revoked);
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leak {
    /// Whether it is the integration's current token (else the previous token of a
    /// rotation).
    pub current: bool,
    /// Where it was found, as recorded (may be empty).
    pub url: Box<str>,
    /// When it was reported.
    pub at: time::OffsetDateTime,
    /// Whether that report revoked it.
    pub revoked: bool,
    /// Who reported it.
    pub reporter: super::ids::UserId,
}

impl Leak {
    /// A report of the current token, revoked at `at`, whose place is not known (its
    /// audit event could not be read): what the settings page shows then.
    #[cfg(feature = "admin-ui")]
    pub(crate) fn unknown_place(at: time::OffsetDateTime) -> Self {
        Self {
            current: true,
            url: "".into(),
            at,
            revoked: true,
            reporter: super::ids::UserId::new("unknown"),
        }
    }
}

/// The longest place recorded, in characters: longer ones are cut.
pub const LEAK_URL_MAX_CHARS: usize = 2048;

/// A reported place as it is recorded: at most [`LEAK_URL_MAX_CHARS`] characters, without
/// control characters or bidirectional controls, and with any token of this crate's format in it replaced by
/// `[token]` (a place is shown to admins and logged; it must not carry a secret).
///
/// # Example
///
/// ```
/// use private_integrations::domain::leak::leak_url;
/// assert_eq!(&*leak_url(" https://github.com/o/r/blob/x/.env\n"), "https://github.com/o/r/blob/x/.env");
/// assert_eq!(leak_url(&"a".repeat(5000)).chars().count(), 2048);
/// ```
pub fn leak_url(reported: &str) -> Box<str> {
    let cleaned: String = reported
        .trim()
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    // Redacted whole, then cut: a token across the cut would lose its checksum and no
    // longer be recognised, yet hold its secret.
    let redacted = if holds_token(&cleaned) {
        redact_tokens(&cleaned)
    } else {
        cleaned
    };
    let mut cut: String = redacted.chars().take(LEAK_URL_MAX_CHARS).collect();
    // A token the cut went through leaves its head at the end: dropped, once it holds
    // part of the secret (`_<16-character id>_` and more).
    if redacted.chars().count() > LEAK_URL_MAX_CHARS {
        let run = cut
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count();
        let start = cut.chars().count() - run;
        let tail: String = cut.chars().skip(start).collect();
        if holds_token_head(&tail) {
            cut = cut.chars().take(start).collect();
        }
    }
    cut.into_boxed_str()
}

/// Whether `run` holds `_<16 letters or digits>_` followed by at least one more: the head
/// of a token, with part of its secret.
fn holds_token_head(run: &str) -> bool {
    let bytes = run.as_bytes();
    (17..bytes.len().saturating_sub(1)).any(|at| {
        bytes[at] == b'_'
            && bytes[at - 17] == b'_'
            && bytes[at - 16..at].iter().all(u8::is_ascii_alphanumeric)
    })
}

/// The characters that reorder text on screen (embeddings, overrides, isolates, marks):
/// a place shown to an admin must read as it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each run of token characters (letters, digits, `_`) that holds a token
/// replaced by `[token]`.
fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if holds_token(run) {
            out.push_str("[token]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::TokenFormat;

    #[test]
    fn a_place_never_carries_a_token_or_a_control_character() {
        let (_, _, token) = TokenFormat::default()
            .issue(&mut rand::rngs::SysRng)
            .unwrap();
        let secret = token.expose_secret();
        let url = format!("https://example.com/x?key={secret}&a=1\u{7}");
        let recorded = leak_url(&url);
        assert!(!recorded.contains(secret));
        assert_eq!(&*recorded, "https://example.com/x?key=[token]&a=1");
        assert_eq!(&*leak_url(""), "");
        assert_eq!(
            &*leak_url("https://a.example/\u{202e}gpj.exe"),
            "https://a.example/gpj.exe"
        );
    }
    #[test]
    fn a_token_across_the_cut_leaves_no_part_of_its_secret() {
        let (_, _, token) = TokenFormat::default()
            .issue(&mut rand::rngs::SysRng)
            .unwrap();
        let secret = token.expose_secret();
        for pad in (1990..2048).step_by(3) {
            let url = format!("{}/{secret}", "a".repeat(pad));
            let recorded = leak_url(&url);
            assert!(recorded.chars().count() <= LEAK_URL_MAX_CHARS);
            // The secret (after `pit_<id>_`): no piece of 6 characters of it kept.
            let hidden = &secret[21..];
            for start in 0..hidden.len() - 6 {
                assert!(
                    !recorded.contains(&hidden[start..start + 6]),
                    "part of the secret kept ({pad}, {start})"
                );
            }
        }
        // A long run of letters that is no token is cut, not dropped.
        assert_eq!(
            leak_url(&"a".repeat(5000)).chars().count(),
            LEAK_URL_MAX_CHARS
        );
    }
}
