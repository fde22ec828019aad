//! Property test: random sequences of lifecycle actions and clock jumps, checked step by
//! step against a small reference model of DESIGN §2.
//!
//! After every step, exactly the tokens the model says are live verify (for the right
//! integration), every other token issued so far is refused, and `get` reports the
//! model's state: version, current token age, pending rotation.

mod support;

use private_integrations::*;
use proptest::prelude::*;
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
    Advance(Duration),
}

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
        3 => jump.prop_map(Op::Advance),
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
            && (token == self.current
                || matches!(self.previous, Some((p, expires_at)) if p == token && now < expires_at))
    }
}

/// What the model expects of an action: success, or this error.
#[derive(Debug, PartialEq)]
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

async fn run(h: Harness, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut models: Vec<Model> = Vec::new();
    // Every token issued so far, with its integration and issue time.
    let mut tokens: Vec<(IssuedToken, usize, OffsetDateTime)> = Vec::new();

    for op in ops {
        let now = h.clock.now();
        models.iter_mut().for_each(|m| m.settle(now));
        let target = |i: usize| (!models.is_empty()).then(|| i % models.len());
        match op {
            Op::Create => {
                let created =
                    h.pi.create(
                        &h.admin,
                        NewIntegration::new("Model").scopes(["contacts.readonly"]),
                    )
                    .await
                    .unwrap();
                tokens.push((created.token, models.len(), now));
                models.push(Model {
                    id: created.integration.id().clone(),
                    alive: true,
                    current: tokens.len() - 1,
                    previous: None,
                    version: 1,
                });
            }
            Op::Advance(by) => h.clock.advance(by),
            Op::Edit(i)
            | Op::Rotate(i, _)
            | Op::Cancel(i)
            | Op::ExpirePrevious(i)
            | Op::Delete(i) => {
                let Some(i) = target(i) else { continue };
                let m = &mut models[i];
                let (expected, got) = match op {
                    Op::Edit(_) => {
                        let update = IntegrationUpdate::new().name(format!("v{}", m.version + 1));
                        let got = outcome(&h.pi.update(&h.admin, &m.id, update).await);
                        let expected = if m.alive {
                            Expect::Ok
                        } else {
                            Expect::NotFound
                        };
                        (expected, got)
                    }
                    Op::Rotate(_, mode) => {
                        let result = h.pi.rotate(&h.admin, &m.id, mode).await;
                        let got = outcome(&result);
                        let expected = match (m.alive, mode, m.previous) {
                            (false, ..) => Expect::NotFound,
                            (true, RotationMode::ExpireLater, Some(_)) => {
                                Expect::RotationInProgress
                            }
                            _ => Expect::Ok,
                        };
                        if let (Ok(rotated), Expect::Ok) = (result, &expected) {
                            tokens.push((rotated.token, i, now));
                            let new = tokens.len() - 1;
                            m.previous = match mode {
                                RotationMode::ExpireLater => Some((m.current, now + GRACE)),
                                RotationMode::ExpireNow => None,
                            };
                            m.current = new;
                        }
                        (expected, got)
                    }
                    Op::Cancel(_) | Op::ExpirePrevious(_) => {
                        let result = if matches!(op, Op::Cancel(_)) {
                            h.pi.cancel_rotation(&h.admin, &m.id).await
                        } else {
                            h.pi.expire_previous_now(&h.admin, &m.id).await
                        };
                        let expected = match (m.alive, m.previous) {
                            (false, _) => Expect::NotFound,
                            (true, None) => Expect::NoRotationInProgress,
                            (true, Some((previous, _))) => {
                                if matches!(op, Op::Cancel(_)) {
                                    m.current = previous;
                                }
                                m.previous = None;
                                Expect::Ok
                            }
                        };
                        (expected, outcome(&result))
                    }
                    Op::Delete(_) => {
                        let got = outcome(&h.pi.delete(&h.admin, &m.id).await);
                        let expected = if m.alive {
                            Expect::Ok
                        } else {
                            Expect::NotFound
                        };
                        m.alive = false;
                        (expected, got)
                    }
                    Op::Create | Op::Advance(_) => unreachable!(),
                };
                if expected == Expect::Ok && !matches!(op, Op::Delete(_)) {
                    m.version += 1;
                }
                prop_assert_eq!(got, expected, "{:?}", op);
            }
        }

        // Check every token issued so far, and every integration's state.
        let now = h.clock.now();
        for (n, (token, owner, _)) in tokens.iter().enumerate() {
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
    }
    Ok(())
}

macro_rules! model_test {
    ($backend:ident, $cases:expr, $storage:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]
            #[test]
            fn $backend(ops in prop::collection::vec(op(), 1..40)) {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async { run(Harness::new($storage), ops).await })?;
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
