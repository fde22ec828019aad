//! The whole service, driven by arbitrary sequences of management calls, clock jumps and
//! verifications on `MemoryStorage` and a `ManualClock`, with two accounts, an admin and
//! a member in each.
//!
//! A reference model predicts every call's outcome (permission, feature switch, account
//! isolation, input rules, lifecycle state) and, after every step, the invariants of
//! DESIGN §6 are checked against it and against storage read directly:
//!
//! - every token issued so far verifies exactly when the model says it is live (current,
//!   or previous within its grace period, of an integration that is not deleted), for
//!   the right account, integration and scopes; a deleted integration's tokens never do;
//! - a failed call, or a read-only one, changes nothing: every account's records,
//!   settings and audit log read back the same; a successful change adds exactly one
//!   audit event, in the actor's account only;
//! - an actor only ever sees its own account (another account's integration is
//!   `NotFound`, lists and logs hold only its own);
//! - every refusal is the typed error the model predicts; nothing panics;
//! - arbitrary or edited token text never verifies.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use private_integrations::storage::IntegrationRecord;
use private_integrations::*;
use private_integrations_fuzz::{ready, sign};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);
const GRACE: Duration = Duration::days(7);
const INTERVAL: Duration = Duration::days(90);
const SCOPES: [&str; 3] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.write",
];
const NAMES: [&str; 6] = ["Zapier", "  padded  ", "", "a\u{7}b", "é", "Sync\tEU"];

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
    Admin1,
    Member1,
    Admin2,
    Member2,
}

impl Who {
    fn account(self) -> usize {
        match self {
            Who::Admin1 | Who::Member1 => 0,
            Who::Admin2 | Who::Member2 => 1,
        }
    }
    fn user(self) -> usize {
        self as usize
    }
    fn actor(self) -> Actor {
        let account = AccountId::new(["acct_1", "acct_2"][self.account()]);
        let user = user_id(self.user());
        match self {
            Who::Admin1 | Who::Admin2 => Actor::admin(account, user),
            Who::Member1 | Who::Member2 => Actor::member(account, user),
        }
    }
}

fn user_id(n: usize) -> UserId {
    UserId::new(["u_admin", "u_bob", "u_eve", "u_mal"][n])
}

#[derive(Arbitrary, Debug, Clone)]
enum Text {
    Pick(u8),
    Raw(String),
}

impl Text {
    fn text(&self) -> String {
        match self {
            Text::Pick(i) => NAMES[usize::from(*i) % NAMES.len()].to_owned(),
            Text::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
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

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Target {
    /// One of the integrations created so far (in any account, deleted or not).
    Known(u8),
    /// An id never issued.
    Never,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Jump {
    Second,
    Hour,
    Day,
    GraceLessASecond,
    Grace,
    Interval,
    Seconds(u32),
}

impl Jump {
    fn duration(self) -> Duration {
        match self {
            Jump::Second => Duration::SECOND,
            Jump::Hour => Duration::HOUR,
            Jump::Day => Duration::DAY,
            Jump::GraceLessASecond => GRACE - Duration::SECOND,
            Jump::Grace => GRACE,
            Jump::Interval => INTERVAL,
            Jump::Seconds(s) => Duration::seconds(i64::from(s % (400 * 86_400))),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Action {
    Create {
        who: Who,
        name: Text,
        description: Option<Text>,
        scopes: Vec<Scope>,
    },
    Update {
        who: Who,
        target: Target,
        name: Option<Text>,
        description: Option<Text>,
        scopes: Option<Vec<Scope>>,
    },
    Rotate {
        who: Who,
        target: Target,
        now: bool,
    },
    Cancel {
        who: Who,
        target: Target,
    },
    ExpirePrevious {
        who: Who,
        target: Target,
    },
    Delete {
        who: Who,
        target: Target,
    },
    Get {
        who: Who,
        target: Target,
    },
    List {
        who: Who,
    },
    RotationDue {
        who: Who,
    },
    AuditLog {
        who: Who,
    },
    SetPermission {
        who: Who,
        user: Who,
        permission: u8,
    },
    SetFeature {
        who: Who,
        enabled: bool,
    },
    Advance(Jump),
    VerifyText(String),
    VerifyEdited {
        token: u8,
        at: u8,
        byte: u8,
        resign: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    custom_prefix: bool,
    actions: Vec<Action>,
}

/// The reference model of one integration, as stored (not settled).
#[derive(Debug)]
struct Model {
    id: IntegrationId,
    account: usize,
    alive: bool,
    /// Index into the issued tokens.
    current: usize,
    previous: Option<(usize, OffsetDateTime)>,
    version: u64,
    scopes: BTreeSet<String>,
}

impl Model {
    /// The previous token still within its grace period at `now`: what the next action
    /// sees. The stored state is only settled by a write.
    fn pending(&self, now: OffsetDateTime) -> Option<(usize, OffsetDateTime)> {
        self.previous.filter(|(_, expires_at)| now < *expires_at)
    }
}

/// An outcome, comparably.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    PermissionDenied,
    FeatureDisabled,
    InvalidInput(InvalidInput),
    UnknownScope(String),
    RotationInProgress,
    NoRotationInProgress,
}

fn outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::NotFound) => Outcome::NotFound,
        Err(Error::PermissionDenied) => Outcome::PermissionDenied,
        Err(Error::FeatureDisabled) => Outcome::FeatureDisabled,
        Err(Error::InvalidInput(e)) => Outcome::InvalidInput(e.clone()),
        Err(Error::UnknownScope(s)) => Outcome::UnknownScope(s.clone()),
        Err(Error::RotationInProgress) => Outcome::RotationInProgress,
        Err(Error::NoRotationInProgress) => Outcome::NoRotationInProgress,
        // Conflict, Storage, Randomness: none can happen on one task over MemoryStorage.
        Err(other) => panic!("unexpected error: {other:?} ({other})"),
    }
}

fn validation(result: Result<impl Sized, Error>) -> Outcome {
    outcome(&result)
}

/// Everything storage holds, read directly: each account's records, audit log, feature
/// switch and users' permissions.
type Snapshot = Vec<(Vec<String>, Vec<AuditEvent>, Vec<AccessSettings>)>;

use private_integrations::storage::AccessSettings;

struct World {
    pi: PrivateIntegrations,
    storage: MemoryStorage,
    clock: ManualClock,
    catalog: ScopeCatalog,
    format: TokenFormat,
    models: Vec<Model>,
    /// Every token issued so far: the token, its integration, when it was issued.
    tokens: Vec<(IssuedToken, usize, OffsetDateTime)>,
    permissions: [[Permission; 4]; 2],
    feature: [bool; 2],
}

impl World {
    fn snapshot(&self) -> Snapshot {
        (0..2)
            .map(|a| {
                let account = AccountId::new(["acct_1", "acct_2"][a]);
                let records = ready(self.storage.list(&account)).unwrap();
                let records = records.iter().map(|r| format!("{r:?}")).collect();
                let log = ready(self.storage.audit_log(&account)).unwrap();
                let access = (0..4)
                    .map(|u| ready(self.storage.access(&account, &user_id(u))).unwrap())
                    .collect();
                (records, log, access)
            })
            .collect()
    }

    fn audit_len(&self, account: usize) -> usize {
        let account = AccountId::new(["acct_1", "acct_2"][account]);
        ready(self.storage.audit_log(&account)).unwrap().len()
    }

    /// Permission, then the feature switch, as the service checks them.
    fn authorized(&self, who: Who) -> Outcome {
        let actor = who.actor();
        if !actor.may_manage(self.permissions[who.account()][who.user()]) {
            Outcome::PermissionDenied
        } else if !self.feature[who.account()] {
            Outcome::FeatureDisabled
        } else {
            Outcome::Ok
        }
    }

    /// The model an action on `target` by `who` reaches, if it exists in `who`'s account.
    fn resolve(&self, who: Who, target: Target) -> (IntegrationId, Option<usize>) {
        match target {
            Target::Known(i) if !self.models.is_empty() => {
                let i = usize::from(i) % self.models.len();
                let m = &self.models[i];
                let visible = m.alive && m.account == who.account();
                (m.id.clone(), visible.then_some(i))
            }
            _ => (IntegrationId::parse("NeverNeverNever0").unwrap(), None),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Checks every issued token and every integration against the model.
    fn check_invariants(&self) {
        let now = self.now();
        for (n, (token, owner, _)) in self.tokens.iter().enumerate() {
            let m = &self.models[*owner];
            let is_current = m.current == n;
            let previous = m.previous.filter(|(p, _)| *p == n);
            let live =
                m.alive && (is_current || previous.is_some_and(|(_, expires_at)| now < expires_at));
            match ready(self.pi.verify(token.expose_secret())) {
                Ok(verified) => {
                    assert!(
                        live,
                        "token {n} verifies but the model says it is dead: {m:?}"
                    );
                    assert_eq!(verified.integration_id(), &m.id);
                    assert_eq!(verified.account().as_str(), ["acct_1", "acct_2"][m.account]);
                    let scopes: BTreeSet<String> =
                        verified.scopes().iter().map(str::to_owned).collect();
                    assert_eq!(scopes, m.scopes);
                }
                Err(VerifyError::Expired) => {
                    assert!(
                        m.alive && previous.is_some() && !live,
                        "token {n} Expired: {m:?}"
                    )
                }
                Err(VerifyError::Invalid) => {
                    assert!(
                        !live,
                        "token {n} refused but the model says it is live: {m:?}"
                    );
                    assert!(
                        !(m.alive && previous.is_some()),
                        "a stored previous token is Expired, not Invalid"
                    );
                }
                Err(other) => panic!("unexpected verification error {other:?}"),
            }
        }
        // Storage holds exactly the live integrations of each account, as the model has
        // them.
        for account in 0..2 {
            let id = AccountId::new(["acct_1", "acct_2"][account]);
            let stored = ready(self.storage.list(&id)).unwrap();
            let expected: BTreeSet<&IntegrationId> = self
                .models
                .iter()
                .filter(|m| m.alive && m.account == account)
                .map(|m| &m.id)
                .collect();
            assert_eq!(
                stored.iter().map(|r| &r.id).collect::<BTreeSet<_>>(),
                expected
            );
            for record in &stored {
                assert_eq!(record.account, id);
                let m = self.models.iter().find(|m| m.id == record.id).unwrap();
                self.check_record(record, m);
            }
        }
    }

    fn check_record(&self, record: &IntegrationRecord, m: &Model) {
        let now = self.now();
        assert_eq!(record.version, m.version);
        let view = Integration::from_record(record, self.catalog, now);
        let current = self.tokens[m.current].0.token_id();
        assert_eq!(&record.credentials.current().id, current);
        assert_eq!(view.token_issued_at(), self.tokens[m.current].2);
        let stored_previous = record.credentials.previous().map(|(p, at)| (p.id, at));
        let model_previous = m.previous.map(|(p, at)| (*self.tokens[p].0.token_id(), at));
        assert_eq!(stored_previous, model_previous);
        assert_eq!(
            view.pending_rotation().map(|p| p.previous_expires_at()),
            m.previous.map(|(_, at)| at).filter(|at| now < *at)
        );
        let scopes: BTreeSet<String> = view.scopes().iter().map(str::to_owned).collect();
        assert_eq!(scopes, m.scopes);
    }

    fn issue(&mut self, token: IssuedToken, owner: usize) -> usize {
        assert!(self.format.looks_like_token(token.expose_secret()));
        self.tokens.push((token, owner, self.now()));
        self.tokens.len() - 1
    }

    /// Runs one action; returns whether it should have changed storage (and in which
    /// account), after checking its outcome against the model.
    fn step(
        &mut self,
        action: &Action,
    ) -> Option<(usize, Who, AuditAction, Option<IntegrationId>)> {
        let now = self.now();
        match action {
            Action::Create {
                who,
                name,
                description,
                scopes,
            } => {
                let scopes: Vec<String> = scopes.iter().map(Scope::text).collect();
                let mut new = NewIntegration::new(name.text()).scopes(scopes.clone());
                if let Some(d) = description {
                    new = new.description(d.text());
                }
                let mut expected = self.authorized(*who);
                if expected == Outcome::Ok {
                    expected = validation(new.validate(self.catalog));
                }
                let result = ready(self.pi.create(&who.actor(), new));
                assert_eq!(outcome(&result), expected, "{action:?}");
                let created = result.ok()?;
                let integration = created.integration;
                assert_eq!(integration.account(), who.actor().account());
                assert_eq!((integration.version(), integration.created_at()), (1, now));
                let owner = self.models.len();
                let current = self.issue(created.token, owner);
                self.models.push(Model {
                    id: integration.id().clone(),
                    account: who.account(),
                    alive: true,
                    current,
                    previous: None,
                    version: 1,
                    scopes: scopes.into_iter().collect(),
                });
                Some((
                    who.account(),
                    *who,
                    AuditAction::Created,
                    Some(integration.id().clone()),
                ))
            }
            Action::Update {
                who,
                target,
                name,
                description,
                scopes,
            } => {
                let (id, model) = self.resolve(*who, *target);
                let mut update = IntegrationUpdate::new();
                if let Some(n) = name {
                    update = update.name(n.text());
                }
                if let Some(d) = description {
                    update = update.description(d.text());
                }
                let scopes: Option<Vec<String>> =
                    scopes.as_ref().map(|s| s.iter().map(Scope::text).collect());
                if let Some(s) = &scopes {
                    update = update.scopes(s.clone());
                }
                let mut expected = self.authorized(*who);
                if expected == Outcome::Ok {
                    expected = match model {
                        None => Outcome::NotFound,
                        Some(i) => {
                            let record = ready(
                                self.storage
                                    .get(&who.actor().account().clone(), &self.models[i].id),
                            )
                            .unwrap()
                            .unwrap();
                            validation(update.apply(&record, self.catalog, now))
                        }
                    };
                }
                let result = ready(self.pi.update(&who.actor(), &id, update));
                assert_eq!(outcome(&result), expected, "{action:?}");
                let updated = result.ok()?;
                let m = &mut self.models[model.unwrap()];
                m.previous = m.pending(now);
                m.version += 1;
                if let Some(s) = scopes {
                    m.scopes = s.into_iter().collect();
                }
                assert_eq!(updated.version(), m.version);
                assert_eq!(updated.updated_at(), now);
                Some((who.account(), *who, AuditAction::Updated, Some(id)))
            }
            Action::Rotate {
                who,
                target,
                now: expire_now,
            } => {
                let mode = if *expire_now {
                    RotationMode::ExpireNow
                } else {
                    RotationMode::ExpireLater
                };
                let (id, model) = self.resolve(*who, *target);
                let mut expected = self.authorized(*who);
                if expected == Outcome::Ok {
                    expected = match model {
                        None => Outcome::NotFound,
                        Some(i) => match (mode, self.models[i].pending(now)) {
                            (RotationMode::ExpireLater, Some(_)) => Outcome::RotationInProgress,
                            _ => Outcome::Ok,
                        },
                    };
                }
                let result = ready(self.pi.rotate(&who.actor(), &id, mode));
                assert_eq!(outcome(&result), expected, "{action:?}");
                let rotated = result.ok()?;
                let i = model.unwrap();
                let new = self.issue(rotated.token, i);
                let m = &mut self.models[i];
                m.previous = match mode {
                    RotationMode::ExpireLater => Some((m.current, now + GRACE)),
                    RotationMode::ExpireNow => None,
                };
                m.current = new;
                m.version += 1;
                assert_eq!(rotated.integration.version(), m.version);
                assert_eq!(rotated.integration.token_issued_at(), now);
                Some((who.account(), *who, AuditAction::Rotated { mode }, Some(id)))
            }
            Action::Cancel { who, target } | Action::ExpirePrevious { who, target } => {
                let cancel = matches!(action, Action::Cancel { .. });
                let (id, model) = self.resolve(*who, *target);
                let mut expected = self.authorized(*who);
                if expected == Outcome::Ok {
                    expected = match model {
                        None => Outcome::NotFound,
                        Some(i) => {
                            if self.models[i].pending(now).is_some() {
                                Outcome::Ok
                            } else {
                                Outcome::NoRotationInProgress
                            }
                        }
                    };
                }
                let result = if cancel {
                    ready(self.pi.cancel_rotation(&who.actor(), &id))
                } else {
                    ready(self.pi.expire_previous_now(&who.actor(), &id))
                };
                assert_eq!(outcome(&result), expected, "{action:?}");
                let integration = result.ok()?;
                let m = &mut self.models[model.unwrap()];
                let (previous, _) = m.previous.take().unwrap();
                if cancel {
                    m.current = previous;
                }
                m.version += 1;
                assert_eq!(integration.version(), m.version);
                assert!(integration.pending_rotation().is_none());
                let action = if cancel {
                    AuditAction::RotationCancelled
                } else {
                    AuditAction::PreviousExpired
                };
                Some((who.account(), *who, action, Some(id)))
            }
            Action::Delete { who, target } => {
                let (id, model) = self.resolve(*who, *target);
                let mut expected = self.authorized(*who);
                if expected == Outcome::Ok && model.is_none() {
                    expected = Outcome::NotFound;
                }
                let result = ready(self.pi.delete(&who.actor(), &id));
                assert_eq!(outcome(&result), expected, "{action:?}");
                result.ok()?;
                self.models[model.unwrap()].alive = false;
                Some((who.account(), *who, AuditAction::Deleted, Some(id)))
            }
            Action::Get { who, target } => {
                let (id, model) = self.resolve(*who, *target);
                let mut expected = self.authorized(*who);
                if expected == Outcome::Ok && model.is_none() {
                    expected = Outcome::NotFound;
                }
                let result = ready(self.pi.get(&who.actor(), &id));
                assert_eq!(outcome(&result), expected, "{action:?}");
                if let Ok(integration) = result {
                    let m = &self.models[model.unwrap()];
                    assert_eq!(integration.id(), &m.id);
                    assert_eq!(integration.account(), who.actor().account());
                    assert_eq!(integration.version(), m.version);
                }
                None
            }
            Action::List { who } | Action::RotationDue { who } => {
                let due = matches!(action, Action::RotationDue { .. });
                let expected = self.authorized(*who);
                let result = if due {
                    ready(self.pi.rotation_due(&who.actor()))
                } else {
                    ready(self.pi.list(&who.actor()))
                };
                assert_eq!(outcome(&result), expected, "{action:?}");
                if let Ok(listed) = result {
                    let got: BTreeSet<&IntegrationId> =
                        listed.iter().map(Integration::id).collect();
                    let want: BTreeSet<&IntegrationId> = self
                        .models
                        .iter()
                        .filter(|m| m.alive && m.account == who.account())
                        .filter(|m| !due || now - self.tokens[m.current].2 >= INTERVAL)
                        .map(|m| &m.id)
                        .collect();
                    assert_eq!(got, want, "{action:?}");
                    assert!(listed.iter().all(|i| i.account() == who.actor().account()));
                }
                None
            }
            Action::AuditLog { who } => {
                let expected = self.authorized(*who);
                let result = ready(self.pi.audit_log(&who.actor()));
                assert_eq!(outcome(&result), expected, "{action:?}");
                if let Ok(log) = result {
                    assert!(log.iter().all(|e| &e.account == who.actor().account()));
                    assert!(log.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
                }
                None
            }
            Action::SetPermission {
                who,
                user,
                permission,
            } => {
                let permission = [Permission::Allow, Permission::Deny, Permission::RoleDefault]
                    [usize::from(*permission) % 3];
                // The user is named in the actor's account, whoever it is elsewhere.
                let user_id = user_id(user.user());
                // Admins only, not denied themselves (a deny means no), and never on
                // themselves (another admin sets and lifts a deny on an admin).
                let denied = self.permissions[who.account()][who.user()] == Permission::Deny;
                let expected =
                    if who.actor().is_admin() && !denied && user_id != *who.actor().user() {
                        Outcome::Ok
                    } else {
                        Outcome::PermissionDenied
                    };
                let result = ready(self.pi.set_permission(&who.actor(), &user_id, permission));
                assert_eq!(outcome(&result), expected, "{action:?}");
                result.ok()?;
                self.permissions[who.account()][user.user()] = permission;
                let action = AuditAction::PermissionChanged {
                    user: user_id,
                    permission,
                };
                Some((who.account(), *who, action, None))
            }
            Action::SetFeature { who, enabled } => {
                // Admins who are not denied (a deny means no).
                let denied = self.permissions[who.account()][who.user()] == Permission::Deny;
                let expected = if who.actor().is_admin() && !denied {
                    Outcome::Ok
                } else {
                    Outcome::PermissionDenied
                };
                let result = ready(self.pi.set_feature_enabled(&who.actor(), *enabled));
                assert_eq!(outcome(&result), expected, "{action:?}");
                result.ok()?;
                self.feature[who.account()] = *enabled;
                Some((
                    who.account(),
                    *who,
                    AuditAction::FeatureSwitched { enabled: *enabled },
                    None,
                ))
            }
            Action::Advance(jump) => {
                self.clock.advance(jump.duration());
                None
            }
            Action::VerifyText(text) => {
                let result = ready(self.pi.verify(text));
                match result {
                    Ok(_) => assert!(
                        self.tokens.iter().any(|(t, ..)| t.expose_secret() == text),
                        "a text never issued verifies"
                    ),
                    Err(VerifyError::Malformed) => assert!(!self.format.looks_like_token(text)),
                    Err(VerifyError::Invalid | VerifyError::Expired) => {
                        assert!(self.format.looks_like_token(text))
                    }
                    Err(other) => panic!("unexpected verification error {other:?}"),
                }
                None
            }
            Action::VerifyEdited {
                token,
                at,
                byte,
                resign,
            } => {
                if self.tokens.is_empty() {
                    return None;
                }
                let (issued, ..) = &self.tokens[usize::from(*token) % self.tokens.len()];
                let mut bytes = issued.expose_secret().as_bytes().to_vec();
                let at = usize::from(*at) % bytes.len();
                if bytes[at] == *byte {
                    return None;
                }
                bytes[at] = *byte;
                if *resign {
                    bytes.truncate(bytes.len() - 6);
                    bytes = sign(bytes);
                }
                let Ok(text) = String::from_utf8(bytes) else {
                    return None;
                };
                if self.tokens.iter().any(|(t, ..)| t.expose_secret() == text) {
                    return None;
                }
                match ready(self.pi.verify(&text)) {
                    Err(VerifyError::Malformed) => {}
                    Err(VerifyError::Invalid) => assert!(*resign, "an edited checksum passed"),
                    other => panic!("an edited token gave {other:?}"),
                }
                None
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(T0);
    let catalog = ScopeCatalog::new(SCOPES).unwrap();
    let prefix = if input.custom_prefix { "acme" } else { "pit" };
    let pi = PrivateIntegrations::builder(storage.clone())
        .scope_catalog(catalog)
        .clock(clock.clone())
        .grace_period(GRACE)
        .rotation_interval(INTERVAL)
        .token_prefix(prefix)
        .unwrap()
        .build();
    let mut world = World {
        format: pi.token_format(),
        pi,
        storage,
        clock,
        catalog,
        models: Vec::new(),
        tokens: Vec::new(),
        permissions: [[Permission::RoleDefault; 4]; 2],
        feature: [true; 2],
    };
    for action in input.actions.iter().take(64) {
        let before = world.snapshot();
        let audit_before = [world.audit_len(0), world.audit_len(1)];
        let changed = world.step(action);
        let after = world.snapshot();
        match changed {
            // Failed and read-only calls change nothing, anywhere.
            None => assert_eq!(before, after, "{action:?} changed storage"),
            Some((account, who, audit_action, integration)) => {
                // One event, in the actor's account, saying what happened; the other
                // account is untouched.
                let other = 1 - account;
                assert_eq!(
                    before[other], after[other],
                    "{action:?} touched another account"
                );
                assert_eq!(world.audit_len(account), audit_before[account] + 1);
                let event = &after[account].1[0];
                assert_eq!(event.actor, user_id(who.user()));
                assert_eq!(event.action, audit_action);
                assert_eq!(event.integration, integration);
                assert_eq!(event.at, world.now());
            }
        }
        world.check_invariants();
    }
});
