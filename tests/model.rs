//! Property test: random sequences of lifecycle actions and clock jumps, checked step by
//! step against a small reference model of DESIGN §2.
//!
//! After every step, exactly the tokens the model says are live verify (for the right
//! integration), every other token issued so far is refused, and `get` reports the
//! model's state: version, current token age, pending rotation.
//!
//! The services of these runs finish a rotation by themselves once its new token was used
//! and its old one was silent for a day (`finish_rotation_when_silent`): the sequences
//! record uses of live tokens and run that pass, and the model says which rotations it
//! finishes.
//!
//! The second test runs the same model through a `FaultyStorage` injecting random
//! failures and delays: a call that fails changes nothing, or (a lost acknowledgment)
//! changes exactly what a success would, with its audit event; verification refuses
//! whenever its lookup fails; after faults stop, everything works again.

mod support;

use private_integrations::*;
use proptest::prelude::*;
use support::faults::*;
use support::*;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone)]
enum Op {
    Create,
    Edit(usize),
    Rotate(usize, RotationMode),
    Cancel(usize),
    ExpirePrevious(usize),
    Delete(usize),
    /// A report that the integration's current token (`false`) or previous token
    /// (`true`) was found in a public place.
    Leak(usize, bool),
    /// A use of the integration's current token (`false`) or previous token (`true`),
    /// written as the last-used writer writes it (live tokens only: only they verify).
    Use(usize, bool),
    /// One pass of the rotations that finish themselves (`finish_silent_rotations`).
    Finish,
    Advance(Duration),
}

/// How long an old token must be silent, once the new one was used, for its rotation to
/// finish by itself.
const SILENCE: Duration = Duration::days(1);

fn op() -> impl Strategy<Value = Op> {
    let pick = any::<usize>();
    let jump = prop::sample::select(vec![
        Duration::SECOND,
        Duration::hours(1),
        Duration::days(1),
        Duration::days(3),
        GRACE - Duration::SECOND,
        GRACE,
        Duration::days(8),
    ]);
    prop_oneof![
        2 => Just(Op::Create),
        1 => pick.prop_map(Op::Edit),
        3 => (pick, prop_oneof![Just(RotationMode::ExpireLater), Just(RotationMode::ExpireNow)])
            .prop_map(|(i, m)| Op::Rotate(i, m)),
        2 => pick.prop_map(Op::Cancel),
        2 => pick.prop_map(Op::ExpirePrevious),
        1 => pick.prop_map(Op::Delete),
        2 => (pick, any::<bool>()).prop_map(|(i, previous)| Op::Leak(i, previous)),
        3 => (pick, any::<bool>()).prop_map(|(i, previous)| Op::Use(i, previous)),
        2 => Just(Op::Finish),
        3 => jump.prop_map(Op::Advance),
    ]
}

/// Sequences around rotations that finish themselves: rotations with grace, uses of
/// both tokens, passes, jumps about the silence, and what else ends a rotation.
fn finishing_op() -> impl Strategy<Value = Op> {
    let pick = 0..3usize;
    let jump = prop::sample::select(vec![
        Duration::SECOND,
        Duration::hours(1),
        SILENCE - Duration::SECOND,
        SILENCE,
        Duration::days(3),
        GRACE,
    ]);
    prop_oneof![
        1 => Just(Op::Create),
        3 => pick.clone().prop_map(|i| Op::Rotate(i, RotationMode::ExpireLater)),
        1 => pick.clone().prop_map(|i| Op::Rotate(i, RotationMode::ExpireNow)),
        1 => pick.clone().prop_map(Op::Cancel),
        1 => pick.clone().prop_map(Op::ExpirePrevious),
        1 => (pick.clone(), any::<bool>()).prop_map(|(i, previous)| Op::Leak(i, previous)),
        5 => (pick, any::<bool>()).prop_map(|(i, previous)| Op::Use(i, previous)),
        3 => Just(Op::Finish),
        4 => jump.prop_map(Op::Advance),
    ]
}

/// The reference model of one integration.
#[derive(Debug)]
struct Model {
    id: IntegrationId,
    alive: bool,
    /// Indexes into the list of issued tokens.
    current: usize,
    previous: Option<(usize, OffsetDateTime)>,
    /// The current token was reported leaked and revoked: nothing verifies.
    revoked: bool,
    version: u64,
}

impl Model {
    fn settle(&mut self, now: OffsetDateTime) {
        if matches!(self.previous, Some((_, expires_at)) if now >= expires_at) {
            self.previous = None;
        }
    }

    fn live(&self, token: usize, now: OffsetDateTime) -> bool {
        self.alive
            && ((token == self.current && !self.revoked)
                || matches!(self.previous, Some((p, expires_at)) if p == token && now < expires_at))
    }
}

/// What the model expects of an action: success, or this error.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Ok,
    NotFound,
    RotationInProgress,
    NoRotationInProgress,
}

fn outcome<T>(result: &Result<T, Error>) -> Expect {
    match result {
        Ok(_) => Expect::Ok,
        Err(Error::NotFound) => Expect::NotFound,
        Err(Error::RotationInProgress) => Expect::RotationInProgress,
        Err(Error::NoRotationInProgress) => Expect::NoRotationInProgress,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// Fault injection for a run: the plan, and the storage behind the faulty wrapper.
struct Rig {
    faults: Faults,
    inner: MemoryStorage,
}

type Snapshot = Vec<(Vec<String>, Vec<AuditEvent>, Vec<storage::AccessSettings>)>;

impl Rig {
    async fn snapshot(&self, h: &Harness) -> Snapshot {
        snapshot(&self.inner, &[h.admin.account()], &[h.admin.user()]).await
    }
}

/// What a management call did, as the model sees it.
enum Did<T> {
    /// No injected failure: the service's own answer.
    Answer(Result<T, Error>),
    /// An injected failure, and storage is exactly as before.
    Failed,
    /// An injected failure after the write reached storage: the change stands (with its
    /// audit event), the answer was lost.
    Lost,
}

async fn classify<T>(
    rig: Option<&Rig>,
    h: &Harness,
    before: &Option<Snapshot>,
    result: Result<T, Error>,
) -> Result<Did<T>, TestCaseError> {
    let (Some(rig), Some(before)) = (rig, before) else {
        return Ok(Did::Answer(result));
    };
    match result {
        Err(Error::Storage(err)) if is_injected(&err) => {
            let after = rig.snapshot(h).await;
            if after == *before {
                return Ok(Did::Failed);
            }
            // A lost acknowledgment: exactly one more audit event, for the change.
            prop_assert_eq!(after[0].1.len(), before[0].1.len() + 1);
            prop_assert!(
                err.to_string() == "storage backend error"
                    && rig
                        .faults
                        .injected()
                        .last()
                        .is_some_and(|i| i.fault == Fault::FailAfter),
                "storage changed under a failure injected before the call"
            );
            Ok(Did::Lost)
        }
        other => Ok(Did::Answer(other)),
    }
}

/// How often injected faults showed, so a test can tell they did.
#[derive(Debug, Default)]
struct Seen {
    failed: usize,
    lost: usize,
    refused_lookups: usize,
}

async fn run(h: Harness, ops: Vec<Op>, rig: Option<Rig>) -> Result<Seen, TestCaseError> {
    let rig = rig.as_ref();
    let mut seen = Seen::default();
    let mut models: Vec<Model> = Vec::new();
    // Every token issued so far, with its integration and issue time; `None` for a
    // token whose answer an injected fault lost (it is stored, but nobody has it).
    let mut tokens: Vec<(Option<IssuedToken>, usize, OffsetDateTime)> = Vec::new();
    // When each token (by its index in `tokens`) was last used, as storage records it.
    let mut uses: std::collections::HashMap<usize, OffsetDateTime> = Default::default();

    for op in ops {
        let now = h.clock.now();
        models.iter_mut().for_each(|m| m.settle(now));
        let target = |i: usize| (!models.is_empty()).then(|| i % models.len());
        let before = match rig {
            Some(rig) => Some(rig.snapshot(&h).await),
            None => None,
        };
        match op {
            Op::Create => {
                let new = NewIntegration::new("Model").scopes(["contacts.readonly"]);
                let result = h.pi.create(&h.admin, new).await;
                let (id, token) = match classify(rig, &h, &before, result).await? {
                    Did::Answer(result) => {
                        let created = result.unwrap();
                        (created.integration.id().clone(), Some(created.token))
                    }
                    Did::Failed => {
                        seen.failed += 1;
                        continue;
                    }
                    Did::Lost => {
                        seen.lost += 1;
                        // The admin finds the integration in the list.
                        let stored = rig.unwrap().inner.list(h.admin.account()).await.unwrap();
                        let id = stored
                            .iter()
                            .map(|r| &r.id)
                            .find(|id| models.iter().all(|m| m.id != **id))
                            .unwrap()
                            .clone();
                        (id, None)
                    }
                };
                tokens.push((token, models.len(), now));
                models.push(Model {
                    id,
                    alive: true,
                    current: tokens.len() - 1,
                    previous: None,
                    revoked: false,
                    version: 1,
                });
            }
            Op::Advance(by) => h.clock.advance(by),
            // Uses and the pass are modelled without faults (the faulty runs' service
            // does not finish rotations).
            Op::Use(..) | Op::Finish if rig.is_some() => continue,
            Op::Use(i, previous) => {
                let Some(i) = target(i) else { continue };
                let m = &models[i];
                let index = match (previous, m.previous) {
                    (false, _) => m.current,
                    (true, Some((p, _))) => p,
                    (true, None) => continue,
                };
                let Some(token) = tokens[index].0.as_ref() else {
                    continue;
                };
                if !m.live(index, now) {
                    continue;
                }
                let used = storage::LastUse {
                    token_id: *token.token_id(),
                    at: now,
                };
                h.storage.record_last_used(&[used]).await.unwrap();
                let at = uses.entry(index).or_insert(now);
                *at = (*at).max(now);
            }
            Op::Finish => {
                let finished = h.pi.finish_silent_rotations().await.unwrap();
                // The rule: a rotation under way whose new token was used, and whose old
                // token was silent (since its last use, or the rotation) for SILENCE.
                let mut expected = 0;
                for m in models.iter_mut().filter(|m| m.alive) {
                    let Some((previous, expires_at)) = m.previous else {
                        continue;
                    };
                    let silent_since = uses.get(&previous).copied().unwrap_or(tokens[m.current].2);
                    if now < expires_at
                        && uses.contains_key(&m.current)
                        && now - silent_since >= SILENCE
                    {
                        m.previous = None;
                        m.version += 1;
                        expected += 1;
                    }
                }
                prop_assert_eq!(finished, expected, "{:?}", op);
            }
            Op::Leak(i, previous) => {
                let Some(i) = target(i) else { continue };
                let m = &mut models[i];
                let index = match (previous, m.previous) {
                    (false, _) => m.current,
                    (true, Some((p, _))) => p,
                    (true, None) => continue,
                };
                let Some(secret) = tokens[index]
                    .0
                    .as_ref()
                    .map(|t| t.expose_secret().to_owned())
                else {
                    continue;
                };
                let live = m.live(index, now);
                let scanner = UserId::new("scanner");
                let result =
                    h.pi.report_leak(&scanner, &secret, "https://a.example/")
                        .await;
                match classify(rig, &h, &before, result).await? {
                    Did::Failed => {
                        seen.failed += 1;
                        continue;
                    }
                    Did::Lost => {
                        seen.lost += 1;
                        prop_assert!(live, "a report of a dead token changed storage");
                    }
                    Did::Answer(result) => {
                        let outcome = result.unwrap();
                        prop_assert_eq!(outcome.revoked, live, "{:?}", op);
                        if live {
                            prop_assert_eq!(outcome.label, LeakLabel::TruePositive);
                            prop_assert_eq!(outcome.integration.as_ref(), Some(&m.id));
                        } else {
                            // Dead: a false positive, or (reported before, at the
                            // same place) a true positive that records nothing.
                            prop_assert!(!outcome.recorded);
                        }
                    }
                }
                if live {
                    if index == m.current {
                        m.revoked = true;
                    }
                    m.previous = None;
                    m.version += 1;
                }
            }
            Op::Edit(i)
            | Op::Rotate(i, _)
            | Op::Cancel(i)
            | Op::ExpirePrevious(i)
            | Op::Delete(i) => {
                let Some(i) = target(i) else { continue };
                let m = &mut models[i];
                let expected = match op {
                    _ if !m.alive => Expect::NotFound,
                    Op::Rotate(_, RotationMode::ExpireLater) if m.previous.is_some() => {
                        Expect::RotationInProgress
                    }
                    Op::Cancel(_) | Op::ExpirePrevious(_) if m.previous.is_none() => {
                        Expect::NoRotationInProgress
                    }
                    _ => Expect::Ok,
                };
                // The call, its outcome, and the token it issued (if it did).
                let (did, token) = match op {
                    Op::Edit(_) => {
                        let update = IntegrationUpdate::new().name(format!("v{}", m.version + 1));
                        let result = h.pi.update(&h.admin, &m.id, update).await;
                        (classify(rig, &h, &before, result.map(drop)).await?, None)
                    }
                    Op::Rotate(_, mode) => {
                        let result = h.pi.rotate(&h.admin, &m.id, mode).await;
                        let did = classify(rig, &h, &before, result).await?;
                        match did {
                            Did::Answer(Ok(rotated)) => {
                                (Did::Answer(Ok(())), Some(Some(rotated.token)))
                            }
                            Did::Answer(Err(e)) => (Did::Answer(Err(e)), None),
                            Did::Failed => (Did::Failed, None),
                            Did::Lost => (Did::Lost, Some(None)),
                        }
                    }
                    Op::Cancel(_) => {
                        let result = h.pi.cancel_rotation(&h.admin, &m.id).await;
                        (classify(rig, &h, &before, result.map(drop)).await?, None)
                    }
                    Op::ExpirePrevious(_) => {
                        let result = h.pi.expire_previous_now(&h.admin, &m.id).await;
                        (classify(rig, &h, &before, result.map(drop)).await?, None)
                    }
                    Op::Delete(_) => {
                        let result = h.pi.delete(&h.admin, &m.id).await;
                        (classify(rig, &h, &before, result).await?, None)
                    }
                    Op::Create | Op::Advance(_) | Op::Leak(..) | Op::Use(..) | Op::Finish => {
                        unreachable!()
                    }
                };
                match did {
                    Did::Failed => {
                        seen.failed += 1;
                        continue;
                    }
                    Did::Answer(result) => prop_assert_eq!(outcome(&result), expected, "{:?}", op),
                    Did::Lost => {
                        seen.lost += 1;
                        prop_assert_eq!(Expect::Ok, expected, "{:?} landed", op)
                    }
                }
                if expected != Expect::Ok {
                    continue;
                }
                // The change happened (answered or not): apply it to the model.
                match op {
                    Op::Rotate(_, mode) => {
                        tokens.push((token.unwrap(), i, now));
                        // A revoked token gets no grace period.
                        m.previous = match mode {
                            RotationMode::ExpireLater if !m.revoked => {
                                Some((m.current, now + GRACE))
                            }
                            _ => None,
                        };
                        m.revoked = false;
                        m.current = tokens.len() - 1;
                    }
                    Op::Cancel(_) => {
                        m.current = m.previous.take().unwrap().0;
                    }
                    Op::ExpirePrevious(_) => m.previous = None,
                    Op::Delete(_) => m.alive = false,
                    _ => {}
                }
                if !matches!(op, Op::Delete(_)) {
                    m.version += 1;
                }
            }
        }

        // Verification fails closed: with faults on, a token either gets the answer its
        // state gives, or a storage refusal when its lookup was the one that failed.
        if let (Some(rig), Some((Some(token), owner, _))) = (rig, tokens.last()) {
            let injected = rig.faults.injected().len();
            let result = h.pi.verify(token.expose_secret()).await;
            let failed = rig.faults.injected()[injected..]
                .iter()
                .any(|i| matches!(i.fault, Fault::FailBefore | Fault::FailAfter));
            match result {
                Err(VerifyError::Storage(err)) => {
                    seen.refused_lookups += 1;
                    prop_assert!(failed && is_injected(&err))
                }
                other => {
                    prop_assert!(!failed, "a failed lookup gave {:?}", other);
                    let live = models[*owner].live(tokens.len() - 1, h.clock.now());
                    prop_assert_eq!(other.is_ok(), live);
                }
            }
        }

        // Check every token issued so far, and every integration's state, with faults
        // paused: after a failure everything works again.
        if let Some(rig) = rig {
            rig.faults.pause();
        }
        let now = h.clock.now();
        for (n, (token, owner, _)) in tokens.iter().enumerate() {
            let Some(token) = token else { continue };
            let expected = models[*owner].live(n, now);
            match h.pi.verify(token.expose_secret()).await {
                Ok(verified) => {
                    prop_assert!(expected, "token {} verifies but should not", n);
                    prop_assert_eq!(verified.integration_id(), &models[*owner].id);
                }
                Err(VerifyError::Invalid | VerifyError::Expired) => {
                    prop_assert!(!expected, "token {} refused but should verify", n)
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        for m in &models {
            match h.pi.get(&h.admin, &m.id).await {
                Ok(integration) => {
                    prop_assert!(m.alive);
                    prop_assert_eq!(integration.version(), m.version);
                    prop_assert_eq!(integration.token_issued_at(), tokens[m.current].2);
                    prop_assert_eq!(integration.token_revoked_at().is_some(), m.revoked);
                    let settled = m.previous.filter(|(_, expires_at)| now < *expires_at);
                    prop_assert_eq!(
                        integration
                            .pending_rotation()
                            .map(|p| (p.previous_expires_at(), p.previous_issued_at())),
                        settled.map(|(p, expires_at)| (expires_at, tokens[p].2))
                    );
                }
                Err(Error::NotFound) => prop_assert!(!m.alive),
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        if let Some(rig) = rig {
            // The audit log matches the state: one event per change that reached storage.
            let log = rig.inner.audit_log(h.admin.account()).await.unwrap();
            let changes: u64 = models.iter().map(|m| m.version + u64::from(!m.alive)).sum();
            prop_assert_eq!(log.len() as u64, changes);
            rig.faults.resume();
        }
    }

    // Once faults stop, every action works again.
    if let Some(rig) = rig {
        rig.faults.stop();
        for m in models.iter().filter(|m| m.alive) {
            let rotated = h.pi.rotate(&h.admin, &m.id, RotationMode::ExpireNow).await;
            prop_assert!(
                h.pi.verify(rotated.unwrap().token.expose_secret())
                    .await
                    .is_ok()
            );
        }
        let new = NewIntegration::new("After").scopes(["contacts.readonly"]);
        prop_assert!(h.pi.create(&h.admin, new).await.is_ok());
    }
    Ok(seen)
}

macro_rules! model_test {
    ($backend:ident, $cases:expr, $storage:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]
            #[test]
            fn $backend(ops in prop::collection::vec(op(), 1..40)) {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    let h = Harness::new($storage).finishing_rotations(SILENCE);
                    run(h, ops, None).await.map(drop)
                })?;
            }
        }
    };
}

model_test!(memory_matches_the_model, 1000, MemoryStorage::new());
// The SQL backends run fewer cases (each case opens a database and migrates it): 64 on
// SQLite, 32 on PostgreSQL, each case in a fresh in-memory database or schema.
#[cfg(feature = "sqlite")]
model_test!(sqlite_matches_the_model, 64, sqlite_in_memory().await);
#[cfg(feature = "postgres")]
model_test!(
    postgres_matches_the_model,
    32,
    crate::postgres_or_skip!(Ok(()))
);

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
    /// The model, on sequences that make rotations finish themselves (or not) often.
    #[test]
    fn memory_matches_the_model_when_rotations_finish_themselves(
        ops in prop::collection::vec(finishing_op(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let h = Harness::new(MemoryStorage::new()).finishing_rotations(SILENCE);
            run(h, std::iter::once(Op::Create).chain(ops).collect(), None).await.map(drop)
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    /// The same model, through a [`FaultyStorage`] that fails about one storage call in
    /// seven (before or after it reaches storage) and delays one in twenty, from a
    /// seeded RNG.
    #[test]
    fn memory_matches_the_model_under_random_faults(
        ops in prop::collection::vec(op(), 1..40),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let inner = MemoryStorage::new();
        let faults = Faults::new();
        faults.random(seed, Rates {
            fail_before: 0.10,
            fail_after: 0.05,
            delay: 0.05,
            max_delay: std::time::Duration::from_micros(200),
        });
        let h = Harness::new(FaultyStorage::new(inner.clone(), faults.clone()));
        runtime.block_on(async { run(h, ops, Some(Rig { faults, inner })).await })?;
    }
}

/// The random faults do fire, in every way: one long fixed run sees refused calls,
/// lost acknowledgments and refused lookups (so the property above is not vacuous).
#[test]
fn random_faults_fire_in_every_way() {
    let pattern = [
        Op::Create,
        Op::Rotate(0, RotationMode::ExpireLater),
        Op::Edit(1),
        Op::Advance(Duration::days(1)),
        Op::Cancel(0),
        Op::Rotate(1, RotationMode::ExpireNow),
        Op::ExpirePrevious(2),
        Op::Rotate(2, RotationMode::ExpireLater),
        Op::Advance(GRACE),
        Op::Delete(3),
    ];
    let ops: Vec<Op> = pattern.iter().cycle().take(400).cloned().collect();
    let inner = MemoryStorage::new();
    let faults = Faults::new();
    faults.random(
        7,
        Rates {
            fail_before: 0.08,
            fail_after: 0.12,
            ..Rates::default()
        },
    );
    let h = Harness::new(FaultyStorage::new(inner.clone(), faults.clone()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = runtime
        .block_on(async { run(h, ops, Some(Rig { faults, inner })).await })
        .unwrap();
    assert!(
        seen.failed > 10 && seen.lost > 3 && seen.refused_lookups > 5,
        "{seen:?}"
    );
}
