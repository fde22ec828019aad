//! Reports of tokens found in a public place: recognise the token (constant-time, as
//! verification does), apply the service's [`LeakPolicy`], record each place once.

use subtle::ConstantTimeEq;

use crate::domain::access::Actor;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::credentials::TokenRole;
use crate::domain::idempotency::{AlreadyDone, Fingerprint, IdempotencyKey, Outcome};
use crate::domain::ids::{AccountId, IntegrationId, TokenId, UserId};
use crate::domain::integration::IntegrationRecord;
use crate::domain::leak::{Leak, LeakLabel, LeakPolicy, leak_url};
use crate::domain::page::{AuditLogQuery, MAX_PAGE_SIZE, PageRequest};
use crate::error::{Error, StorageError};

use super::PrivateIntegrations;
use super::manage::{Begun, Claim, OnceCall, Pending};

/// How many times a report is tried again after another change of the same integration
/// won the version check (another report of the same token, an admin's edit).
const RETRIES: usize = 8;

/// How many pages of an integration's audit log are read for its earlier reports: 10,000
/// events. Older reports of the same place are not looked for.
const AUDIT_PAGES: usize = 50;

/// What [`PrivateIntegrations::report_leak`] did with a report.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
/// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
/// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
/// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
/// let scanner = UserId::new("github-secret-scanning");
/// let outcome = pi.report_leak(&scanner, token.expose_secret(), "https://gist.github.com/x").await?;
/// assert_eq!(outcome.label, LeakLabel::TruePositive);
/// assert!(outcome.revoked && outcome.recorded);
/// let again = pi.report_leak(&scanner, token.expose_secret(), "https://gist.github.com/x").await?;
/// assert_eq!(again.label, LeakLabel::TruePositive);
/// assert!(!again.revoked && !again.recorded, "the same place twice: nothing more");
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakOutcome {
    /// Whether the token is one of this service's (see [`LeakLabel`]).
    pub label: LeakLabel,
    /// Whether this report revoked it ([`LeakPolicy::Revoke`], the token live until now).
    pub revoked: bool,
    /// Whether this report's place was recorded (`false`: the place was recorded by an
    /// earlier report, or the token is not one of ours).
    pub recorded: bool,
    /// The integration the token belongs to, for a true positive.
    pub integration: Option<IntegrationId>,
}

/// A report's end: done, or an earlier call with the same idempotency key did it.
enum Reported {
    Done(LeakOutcome),
    Replayed(Box<AlreadyDone>),
}

impl LeakOutcome {
    /// The outcome a call with an idempotency key first had, from what was kept of it:
    /// `None` if that call was not a leak report.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// # let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let key = IdempotencyKey::new("report-1")?;
    /// let first = pi.once(&admin, &key).report_leak(token.expose_secret(), "").await?;
    /// let Outcome::AlreadyDone(again) = pi.once(&admin, &key).report_leak(token.expose_secret(), "").await? else {
    ///     panic!("a replay");
    /// };
    /// let Outcome::Done(first) = first else { panic!("the first call") };
    /// assert_eq!(LeakOutcome::replayed(&again).unwrap(), first);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub fn replayed(first: &AlreadyDone) -> Option<Self> {
        match &first.action {
            AuditAction::TokenLeaked { revoked, .. } => Some(Self {
                label: LeakLabel::TruePositive,
                revoked: *revoked,
                recorded: true,
                integration: first.integration.as_ref().map(|i| i.id().clone()),
            }),
            _ => None,
        }
    }

    fn false_positive() -> Self {
        Self {
            label: LeakLabel::FalsePositive,
            revoked: false,
            recorded: false,
            integration: None,
        }
    }
}

impl PrivateIntegrations {
    /// Handles a report that `token` was found in a public place, `url` (a public
    /// repository, a package, a paste; may be empty), made by `reporter` — a secret
    /// scanner (the GitHub endpoint reports as `github-secret-scanning`) or an operator.
    /// A call of the host, not of an account's user: it is not authorised by an
    /// [`Actor`](crate::Actor), and acts in whichever account holds the token. The
    /// admin API's `POST /leaks` is the same call restricted to the caller's account.
    ///
    /// - A token of this service that is live is handled by the [`LeakPolicy`]: revoked
    ///   at once, on every replica ([`LeakPolicy::Revoke`], the default), or left alone
    ///   ([`LeakPolicy::NotifyOnly`]).
    /// - Either way, the place is recorded once, as an audit event
    ///   [`TokenLeaked`](AuditAction::TokenLeaked) of the integration by `reporter`: a
    ///   report repeated (a scanner retrying) changes nothing more, and a token found in
    ///   two places is recorded twice, revoked once. A token that an earlier report
    ///   revoked is still recognised, so its other places are recorded too.
    /// - Anything else — malformed, unknown, a wrong secret, a token that ended for
    ///   another reason — is a [`LeakLabel::FalsePositive`]; nothing is changed or
    ///   recorded, and nothing tells the reporter more.
    ///
    /// The secret is checked as [`verify`](Self::verify) checks it (a digest compared in
    /// constant time), against storage itself rather than a cache.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if storage fails (the report may be sent again: it is safe to
    /// repeat), [`Error::Conflict`] if the integration kept changing under the report.
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
    /// let operator = UserId::new("ops-oncall");
    /// pi.report_leak(&operator, created.token.expose_secret(), "https://pastebin.example/x").await?;
    /// assert!(pi.verify(created.token.expose_secret()).await.is_err());
    /// let log = pi.audit_log(&admin).await?;
    /// assert!(matches!(&log[0].action, AuditAction::TokenLeaked { revoked: true, .. }));
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn report_leak(
        &self,
        reporter: &UserId,
        token: &str,
        url: &str,
    ) -> Result<LeakOutcome, Error> {
        match self
            .report_leak_in(None, reporter, token, url, None)
            .await?
        {
            Reported::Done(outcome) => Ok(outcome),
            Reported::Replayed(_) => Err(Error::Conflict),
        }
    }

    /// [`report_leak`](Self::report_leak) by a user of an account, through the admin
    /// API's `POST /leaks` or a host's own screen: authorised like any management call
    /// (a user who may manage Private Integrations; a Deny means no), and for the tokens
    /// of the actor's account only — a token of another account is a false positive,
    /// and nothing is done to it. The actor is recorded as the reporter.
    ///
    /// # Errors
    ///
    /// As [`report_leak`](Self::report_leak), plus [`Error::PermissionDenied`] and
    /// [`Error::FeatureDisabled`].
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let pi = PrivateIntegrations::builder(MemoryStorage::new())
    /// #     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?).build();
    /// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    /// let other = Actor::admin(AccountId::new("acct_2"), UserId::new("u_other"));
    /// let token = pi.create(&admin, NewIntegration::new("Sync").scopes(["contacts.readonly"])).await?.token;
    /// let elsewhere = pi.report_leak_as(&other, token.expose_secret(), "").await?;
    /// assert_eq!(elsewhere.label, LeakLabel::FalsePositive);
    /// assert!(pi.verify(token.expose_secret()).await.is_ok(), "not theirs to revoke");
    /// let own = pi.report_leak_as(&admin, token.expose_secret(), "").await?;
    /// assert!(own.revoked);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn report_leak_as(
        &self,
        actor: &Actor,
        token: &str,
        url: &str,
    ) -> Result<LeakOutcome, Error> {
        match self.report_leak_once(actor, token, url, None).await? {
            Outcome::Done(outcome) => Ok(outcome),
            Outcome::AlreadyDone(_) => Err(Error::Conflict),
        }
    }

    /// [`report_leak_as`](Self::report_leak_as), under an idempotency key if given.
    pub(crate) async fn report_leak_once(
        &self,
        actor: &Actor,
        token: &str,
        url: &str,
        key: Option<&IdempotencyKey>,
    ) -> Result<Outcome<LeakOutcome>, Error> {
        self.authorize(actor).await?;
        let fingerprint = || Fingerprint::of_report_leak(token, url);
        let call = match self.begin_once(actor, key, fingerprint).await? {
            Begun::Fresh(call) => call,
            Begun::Replayed(first) => return Ok(Outcome::AlreadyDone(Box::new(first))),
        };
        let reported = self
            .report_leak_in(Some(actor.account()), actor.user(), token, url, call)
            .await?;
        Ok(match reported {
            Reported::Done(outcome) => Outcome::Done(outcome),
            Reported::Replayed(first) => Outcome::AlreadyDone(first),
        })
    }

    /// [`report_leak`](Self::report_leak), for the tokens of `account` only when given
    /// (a token of another account is a false positive), its write under `call`'s key.
    async fn report_leak_in(
        &self,
        account: Option<&AccountId>,
        reporter: &UserId,
        token: &str,
        url: &str,
        mut call: Option<(OnceCall, Claim)>,
    ) -> Result<Reported, Error> {
        // The call under the key, for every attempt: a write that loses the version check
        // stores nothing and ends the first attempt's claim, so the next one claims again.
        let once = call.as_ref().map(|(once, _)| once.clone());
        let verifier = &self.inner.verifier;
        let Ok(parsed) = verifier.format.parse(token) else {
            return Ok(Reported::Done(LeakOutcome::false_positive()));
        };
        let id = parsed.id;
        let presented = verifier.format.hash(parsed.secret);
        let url = leak_url(url);
        for attempt in 0..RETRIES {
            if attempt > 0
                && let Some(once) = &once
            {
                call = Some((once.clone(), Claim::take(&self.inner.in_flight, once)?));
            }
            let Some(record) = verifier.storage.find_by_token(&id).await? else {
                return Ok(Reported::Done(LeakOutcome::false_positive()));
            };
            let Some((credential, role)) = record.credentials.find(&id) else {
                return Ok(Reported::Done(LeakOutcome::false_positive()));
            };
            let matches = bool::from(presented.ct_eq(&credential.hash));
            if !matches || account.is_some_and(|account| *account != record.account) {
                return Ok(Reported::Done(LeakOutcome::false_positive()));
            }
            let now = self.now();
            let live = match role {
                TokenRole::Current => true,
                TokenRole::Previous { expires_at } => now < expires_at,
                TokenRole::Revoked => false,
            };
            let revoke = live && self.inner.leak_policy == LeakPolicy::Revoke;
            // A token an earlier report found is revoked, unless the policy only
            // notifies: a live token to revoke has no earlier places to look for.
            let places = match revoke {
                true => None,
                false => self.leaked_places(&record, &id).await?,
            };
            if !live && places.is_none() {
                // Ended for another reason (expired, rotated away): not ours to act on.
                return Ok(Reported::Done(LeakOutcome::false_positive()));
            }
            let outcome = |revoked, recorded| LeakOutcome {
                label: LeakLabel::TruePositive,
                revoked,
                recorded,
                integration: Some(record.id.clone()),
            };
            if places.as_ref().is_some_and(|places| places.contains(&url)) {
                return Ok(Reported::Done(outcome(false, false)));
            }
            let next = match revoke {
                true => record.revoke_leaked(&id, now),
                false => None,
            };
            let revoked = next.is_some();
            let next = next.unwrap_or_else(|| record.noting_leak());
            let event = AuditEvent {
                account: record.account.clone(),
                actor: reporter.clone(),
                integration: Some(record.id.clone()),
                action: AuditAction::TokenLeaked {
                    token: id,
                    url: url.clone(),
                    revoked,
                },
                at: now,
            };
            match self
                .commit(Pending::update(&record, next, event, call.take()))
                .await
            {
                Ok(None) => return Ok(Reported::Done(outcome(revoked, true))),
                Ok(Some(first)) => return Ok(Reported::Replayed(Box::new(first))),
                // Another change of the integration won: read it again and decide anew.
                Err(Error::Conflict | Error::NotFound) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(Error::Conflict)
    }

    /// The reports of the integration's tokens still in use (its current token, and the
    /// previous token of a rotation while the record keeps it), newest first: what the
    /// settings page shows on the integration. A token replaced since is no longer
    /// listed. Authorised like [`get`](Self::get).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
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
    /// let id = created.integration.id();
    /// pi.report_leak(&UserId::new("ops"), created.token.expose_secret(), "").await?;
    /// assert_eq!(pi.leaks(&admin, id).await?.len(), 1);
    /// pi.rotate(&admin, id, RotationMode::ExpireNow).await?;
    /// assert!(pi.leaks(&admin, id).await?.is_empty(), "the leaked token was replaced");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn leaks(&self, actor: &Actor, id: &IntegrationId) -> Result<Vec<Leak>, Error> {
        self.authorize(actor).await?;
        let record = self.load(actor, id).await?;
        let current = record.credentials.current().id;
        let held: Vec<TokenId> = record.credentials.token_ids().collect();
        let reports = self.leak_reports(&record).await?;
        Ok(reports
            .into_iter()
            .filter(|(token, _)| held.contains(token))
            .map(|(token, leak)| Leak {
                current: token == current,
                ..leak
            })
            .collect())
    }

    /// The places recorded for earlier reports of `token`, or `None` if there was none.
    async fn leaked_places(
        &self,
        record: &IntegrationRecord,
        token: &TokenId,
    ) -> Result<Option<Vec<Box<str>>>, StorageError> {
        let places: Vec<Box<str>> = self
            .leak_reports(record)
            .await?
            .into_iter()
            .filter(|(leaked, _)| leaked == token)
            .map(|(_, leak)| leak.url)
            .collect();
        Ok((!places.is_empty()).then_some(places))
    }

    /// Every `TokenLeaked` event of the integration, newest first (its newest
    /// [`AUDIT_PAGES`] pages of events), with the token each names (`current` unset).
    async fn leak_reports(
        &self,
        record: &IntegrationRecord,
    ) -> Result<Vec<(TokenId, Leak)>, StorageError> {
        let storage = &self.inner.verifier.storage;
        let mut reports = Vec::new();
        let mut page = PageRequest::new().limit(MAX_PAGE_SIZE);
        for _ in 0..AUDIT_PAGES {
            let query = AuditLogQuery::new()
                .integration(record.id.clone())
                .page(page.clone());
            let events = storage.audit_log_page(&record.account, &query).await?;
            for event in events.items {
                if let AuditAction::TokenLeaked {
                    token,
                    url,
                    revoked,
                } = event.action
                {
                    let leak = Leak {
                        current: false,
                        url,
                        at: event.at,
                        revoked,
                        reporter: event.actor,
                    };
                    reports.push((token, leak));
                }
            }
            match events.next {
                Some(next) => page = PageRequest::new().limit(MAX_PAGE_SIZE).after(next),
                None => break,
            }
        }
        Ok(reports)
    }
}
