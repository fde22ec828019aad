//! Fault injection (DESIGN §6.2, §6.5, §6.6): the service over a [`FaultyStorage`]
//! that fails or delays chosen storage calls.
//!
//! - Every storage call of every step of the admin's story fails once, before reaching
//!   storage: the step reports [`Error::Storage`], storage (read through a second,
//!   unwrapped handle) is exactly as before, issued tokens keep their state, and the
//!   same step then succeeds once faults stop.
//! - A write whose acknowledgment is lost (the change happened, the caller got an
//!   error): the change stands, its audit event is there, and the audit log keeps
//!   matching the state; the admin can see and recover from it.
//! - A failed token lookup refuses every token ([`VerifyError::Storage`]); a malformed
//!   token is refused without any storage call; delays change nothing.
//!
//! Every case runs on every backend (`fault_tests!`): memory, SQLite and PostgreSQL, with
//! their features. The reference-model property test under random faults is in
//! `tests/model.rs`.

mod support;

/// Runs every fault case against a backend.
macro_rules! fault_tests {
    ($backend:ident, $storage:expr) => {
        mod $backend {
            // The storage expression may name items of the parent module.
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_storage_call_of_every_step_can_fail_and_the_step_changes_nothing() {
                super::every_storage_call_of_every_step_can_fail_and_the_step_changes_nothing(
                    $storage,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_lost_acknowledgment_leaves_the_change_and_its_audit_event() {
                super::a_lost_acknowledgment_leaves_the_change_and_its_audit_event($storage).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn verification_fails_closed_when_the_lookup_fails() {
                super::verification_fails_closed_when_the_lookup_fails($storage).await;
            }
        }
    };
}

fault_tests!(memory, MemoryStorage::new());
#[cfg(feature = "sqlite")]
fault_tests!(sqlite, sqlite_in_memory().await);
// Skipped (with a message) without DATABASE_URL, except under CI=true.
#[cfg(feature = "postgres")]
fault_tests!(postgres, crate::postgres_or_skip!());

use private_integrations::*;
use support::faults::*;
use support::*;

/// A harness whose service goes through a [`FaultyStorage`], and a way around it.
struct Rig<S> {
    h: Harness,
    faults: Faults,
    inner: S,
    accounts: [AccountId; 2],
    users: [UserId; 3],
}

impl<S: Storage + Clone> Rig<S> {
    fn new(inner: S) -> Self {
        let faults = Faults::new();
        let h = Harness::new(FaultyStorage::new(inner.clone(), faults.clone()));
        let accounts = [h.admin.account().clone(), h.other_admin.account().clone()];
        let users = [
            h.admin.user().clone(),
            h.member.user().clone(),
            h.other_admin.user().clone(),
        ];
        Self {
            h,
            faults,
            inner,
            accounts,
            users,
        }
    }

    /// Everything stored, read through the unwrapped handle.
    async fn snapshot(&self) -> Vec<(Vec<String>, Vec<AuditEvent>, Vec<AccessSettings>)> {
        let accounts: Vec<&AccountId> = self.accounts.iter().collect();
        let users: Vec<&UserId> = self.users.iter().collect();
        snapshot(&self.inner, &accounts, &users).await
    }

    /// The account's audit actions, oldest first, read through the unwrapped handle.
    async fn audit_actions(&self) -> Vec<AuditAction> {
        let mut log = self.inner.audit_log(&self.accounts[0]).await.unwrap();
        log.reverse();
        log.into_iter().map(|e| e.action).collect()
    }

    /// The integration as stored, read through the unwrapped handle.
    async fn stored(&self, id: &IntegrationId) -> Option<storage::IntegrationRecord> {
        self.inner.get(&self.accounts[0], id).await.unwrap()
    }
}

use private_integrations::storage::AccessSettings;

/// The admin's story, one step at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Edit,
    RotateLater,
    Cancel,
    ExpirePrevious,
    RotateNow,
    AllowMember,
    FeatureOff,
    FeatureOn,
    Get,
    List,
    RotationDue,
    AuditLog,
    Delete,
}

const STORY: [Step; 16] = [
    Step::Create,
    Step::Edit,
    Step::RotateLater,
    Step::Cancel,
    Step::RotateLater,
    Step::ExpirePrevious,
    Step::RotateNow,
    Step::AllowMember,
    Step::FeatureOff,
    Step::FeatureOn,
    Step::Get,
    Step::List,
    Step::RotationDue,
    Step::AuditLog,
    Step::RotateLater,
    Step::Delete,
];

/// What the story has issued: tokens that must verify, and tokens that must not.
#[derive(Default)]
struct Story {
    id: Option<IntegrationId>,
    live: Vec<IssuedToken>,
    dead: Vec<IssuedToken>,
}

impl Story {
    fn id(&self) -> &IntegrationId {
        self.id.as_ref().expect("created")
    }

    /// Every live token verifies and every dead one is refused (faults must be off).
    async fn check(&self, h: &Harness) {
        for token in &self.live {
            assert!(h.verifies(token).await, "a live token is refused");
        }
        for token in &self.dead {
            assert!(matches!(h.verify(token).await, Err(VerifyError::Invalid)));
        }
    }
}

/// Performs a step; changes `story` only if the step succeeded.
async fn perform(h: &Harness, step: Step, story: &mut Story) -> Result<(), Error> {
    let a = &h.admin;
    match step {
        Step::Create => {
            let new = NewIntegration::new("Zapier").scopes(["contacts.readonly"]);
            let created = h.pi.create(a, new).await?;
            story.id = Some(created.integration.id().clone());
            story.live.push(created.token);
        }
        Step::Edit => {
            let update = IntegrationUpdate::new().name("Zapier (EU)");
            h.pi.update(a, story.id(), update).await?;
        }
        Step::RotateLater => {
            let rotated =
                h.pi.rotate(a, story.id(), RotationMode::ExpireLater)
                    .await?;
            story.live.push(rotated.token);
        }
        Step::Cancel => {
            h.pi.cancel_rotation(a, story.id()).await?;
            let new = story.live.pop().unwrap();
            story.dead.push(new);
        }
        Step::ExpirePrevious => {
            h.pi.expire_previous_now(a, story.id()).await?;
            let old = story.live.remove(0);
            story.dead.push(old);
        }
        Step::RotateNow => {
            let rotated = h.pi.rotate(a, story.id(), RotationMode::ExpireNow).await?;
            story.dead.append(&mut story.live);
            story.live.push(rotated.token);
        }
        Step::AllowMember => {
            h.pi.set_permission(a, h.member.user(), Permission::Allow)
                .await?
        }
        Step::FeatureOff => h.pi.set_feature_enabled(a, false).await?,
        Step::FeatureOn => h.pi.set_feature_enabled(a, true).await?,
        Step::Get => drop(h.pi.get(a, story.id()).await?),
        Step::List => drop(h.pi.list(a).await?),
        Step::RotationDue => drop(h.pi.rotation_due(a).await?),
        Step::AuditLog => drop(h.pi.audit_log(a).await?),
        Step::Delete => {
            h.pi.delete(a, story.id()).await?;
            story.dead.append(&mut story.live);
        }
    }
    Ok(())
}

async fn every_storage_call_of_every_step_can_fail_and_the_step_changes_nothing(
    inner: impl Storage + Clone,
) {
    let rig = Rig::new(inner);
    let mut story = Story::default();
    let mut failures = 0;
    for step in STORY {
        // Fail the step's first call, then its second, … until it makes no more calls.
        for k in 0.. {
            let before = rig.snapshot().await;
            let injected_before = rig.faults.injected().len();
            rig.faults.after_calls(k, Fault::FailBefore);
            let result = perform(&rig.h, step, &mut story).await;
            let fired = rig.faults.injected().len() > injected_before;
            rig.faults.stop();
            if !fired {
                result.unwrap_or_else(|e| panic!("{step:?} failed without a fault: {e:?}"));
                assert!(k > 0, "{step:?} made no storage call");
                break;
            }
            let err = result.expect_err("a failed storage call must fail the step");
            assert!(
                matches!(&err, Error::Storage(e) if is_injected(e)),
                "{step:?}, call {k}: {err:?}"
            );
            assert_eq!(
                rig.snapshot().await,
                before,
                "{step:?}, call {k}: changed storage"
            );
            // Nothing changed for the tokens either, and nothing is stuck: with the
            // faults gone, the story goes on.
            story.check(&rig.h).await;
            failures += 1;
        }
    }
    // Every step failed at least once, most at several calls.
    assert!(
        failures >= STORY.len() * 2,
        "only {failures} failures injected"
    );
    story.check(&rig.h).await;
    assert!(story.live.is_empty() && story.dead.len() == 5);
}

fn lost(err: Error) {
    assert!(
        matches!(&err, Error::Storage(StorageError::Backend(source)) if source.to_string().contains("after it reached storage")),
        "{err:?}"
    );
}

async fn a_lost_acknowledgment_leaves_the_change_and_its_audit_event(inner: impl Storage + Clone) {
    let rig = Rig::new(inner);
    let (h, faults) = (&rig.h, &rig.faults);
    let a = &h.admin;
    let mut expected_log = Vec::new();

    // Create: the integration exists, but the admin never saw its token.
    faults.on_next(Method::Insert, Fault::FailAfter);
    let new = NewIntegration::new("Zapier").scopes(["contacts.readonly"]);
    lost(h.pi.create(a, new).await.unwrap_err());
    expected_log.push(AuditAction::Created);
    assert_eq!(rig.audit_actions().await, expected_log);
    let listed = h.pi.list(a).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the admin sees the integration and can recover"
    );
    let id = listed[0].id().clone();
    // Recovery: rotating with ExpireNow issues a token the admin does see.
    let token =
        h.pi.rotate(a, &id, RotationMode::ExpireNow)
            .await
            .unwrap()
            .token;
    expected_log.push(AuditAction::Rotated {
        mode: RotationMode::ExpireNow,
    });
    assert!(h.verifies(&token).await);

    // Edit: the edit stands.
    faults.on_next(Method::Update, Fault::FailAfter);
    let update = IntegrationUpdate::new().name("Zapier (EU)");
    lost(h.pi.update(a, &id, update).await.unwrap_err());
    expected_log.push(AuditAction::Updated);
    let stored = rig.stored(&id).await.unwrap();
    assert_eq!((&*stored.name, stored.version), ("Zapier (EU)", 3));
    assert_eq!(rig.audit_actions().await, expected_log);
    assert!(h.verifies(&token).await, "an edit keeps the token");

    // Rotate, expire later: a new token is stored that nobody has; the old one keeps
    // working, the admin sees the pending rotation and cancels it.
    faults.on_next(Method::Update, Fault::FailAfter);
    lost(
        h.pi.rotate(a, &id, RotationMode::ExpireLater)
            .await
            .unwrap_err(),
    );
    expected_log.push(AuditAction::Rotated {
        mode: RotationMode::ExpireLater,
    });
    assert!(h.pi.get(a, &id).await.unwrap().pending_rotation().is_some());
    assert!(h.verifies(&token).await);
    assert_eq!(rig.audit_actions().await, expected_log);
    h.pi.cancel_rotation(a, &id).await.unwrap();
    expected_log.push(AuditAction::RotationCancelled);
    assert!(h.verifies(&token).await);

    // Rotate, expire now: the old token is dead even though the caller saw an error (a
    // lost acknowledgment never leaves alive a token the admin meant to kill); the new
    // one is lost, so the admin rotates again.
    faults.on_next(Method::Update, Fault::FailAfter);
    lost(
        h.pi.rotate(a, &id, RotationMode::ExpireNow)
            .await
            .unwrap_err(),
    );
    expected_log.push(AuditAction::Rotated {
        mode: RotationMode::ExpireNow,
    });
    assert!(matches!(h.verify(&token).await, Err(VerifyError::Invalid)));
    assert_eq!(rig.audit_actions().await, expected_log);
    let token =
        h.pi.rotate(a, &id, RotationMode::ExpireNow)
            .await
            .unwrap()
            .token;
    expected_log.push(AuditAction::Rotated {
        mode: RotationMode::ExpireNow,
    });

    // Permission and feature switch: the setting stands.
    let bob = h.member.user().clone();
    faults.on_next(Method::SetPermission, Fault::FailAfter);
    lost(
        h.pi.set_permission(a, &bob, Permission::Allow)
            .await
            .unwrap_err(),
    );
    expected_log.push(AuditAction::PermissionChanged {
        user: bob.clone(),
        permission: Permission::Allow,
    });
    assert!(h.pi.list(&h.member).await.is_ok(), "the permission stands");
    faults.on_next(Method::SetFeatureEnabled, Fault::FailAfter);
    lost(h.pi.set_feature_enabled(a, false).await.unwrap_err());
    expected_log.push(AuditAction::FeatureSwitched { enabled: false });
    assert!(matches!(h.pi.list(a).await, Err(Error::FeatureDisabled)));
    h.pi.set_feature_enabled(a, true).await.unwrap();
    expected_log.push(AuditAction::FeatureSwitched { enabled: true });
    assert_eq!(rig.audit_actions().await, expected_log);

    // Delete: the integration is gone and its token dead; a retry says NotFound.
    faults.on_next(Method::Delete, Fault::FailAfter);
    lost(h.pi.delete(a, &id).await.unwrap_err());
    expected_log.push(AuditAction::Deleted);
    assert!(matches!(h.verify(&token).await, Err(VerifyError::Invalid)));
    assert!(matches!(h.pi.delete(a, &id).await, Err(Error::NotFound)));
    assert!(rig.stored(&id).await.is_none());

    // Every change that reached storage, lost answer or not, is in the log exactly once,
    // in order, and nothing else is.
    assert_eq!(rig.audit_actions().await, expected_log);
    assert_eq!(faults.injected().len(), 7);
}

async fn verification_fails_closed_when_the_lookup_fails(inner: impl Storage + Clone) {
    let rig = Rig::new(inner);
    let (h, faults) = (&rig.h, &rig.faults);
    let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
    let new =
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    let (gone, gone_token) = h.create("Gone", &["contacts.readonly"]).await;
    h.pi.delete(&h.admin, &gone).await.unwrap();
    let texts = [
        old.expose_secret().to_owned(),
        new.expose_secret().to_owned(),
        gone_token.expose_secret().to_owned(),
        wrong_secret(new.expose_secret()),
        unknown_id(new.expose_secret()),
    ];

    for fault in [Fault::FailBefore, Fault::FailAfter] {
        for text in &texts {
            faults.on_next(Method::FindByToken, fault);
            match h.pi.verify(text).await {
                Err(VerifyError::Storage(err)) => assert!(is_injected(&err)),
                other => panic!("{fault:?}: a failed lookup gave {other:?}"),
            }
        }
    }
    // A malformed token is refused before any storage call.
    let calls = faults.calls();
    faults.on_next(Method::FindByToken, Fault::FailBefore);
    assert!(matches!(
        h.pi.verify(&new.expose_secret()[1..]).await,
        Err(VerifyError::Malformed)
    ));
    assert_eq!(faults.calls(), calls, "a malformed token reached storage");
    faults.stop();

    // A slow lookup changes nothing but the time.
    for _ in 0..2 {
        faults.on_next(
            Method::FindByToken,
            Fault::Delay(std::time::Duration::from_millis(5)),
        );
    }
    assert!(h.verifies(&old).await && h.verifies(&new).await);

    // With the faults gone, every token is back to what its state says.
    for (text, ok) in texts.iter().zip([true, true, false, false, false]) {
        assert_eq!(h.pi.verify(text).await.is_ok(), ok);
    }
    assert_eq!(faults.injected().len(), 2 * texts.len() + 2);
}
