//! What `tracing` is shown: every management action and every refusal is reported, and
//! nothing reported holds a secret (DESIGN §6.1).
//!
//! # One test, one process, a global subscriber
//!
//! This file must hold exactly **one** test, and that test installs its subscriber with
//! `set_global_default` before any event fires. `tracing-core` caches each callsite's
//! interest process-wide the first time any thread reaches it: had a sibling test in the
//! same binary reached, say, the service's refusal event first on a thread with no
//! subscriber, the interest would be cached as "never", and a thread-local subscriber
//! (`set_default`) installed later would silently miss that event. Cargo runs each file
//! under `tests/` as its own process, so with one test here no other test shares the
//! callsite cache, and the global subscriber sees every thread, the runtime's included.

mod support;

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use private_integrations::*;
use support::faults::{Fault, Faults, FaultyStorage, Method};
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Everything a `tracing` subscriber is shown, formatted as a log line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

/// Formats every field, errors with their whole source chain.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        write!(self.0, " {}={value:?}", field.name()).unwrap();
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        write!(self.0, " {}={value} ({value:?})", field.name()).unwrap();
        let mut source = value.source();
        while let Some(cause) = source {
            write!(self.0, ": {cause}").unwrap();
            source = cause.source();
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(format!(
            "span {} {}",
            attrs.metadata().target(),
            attrs.metadata().name()
        ));
        attrs.record(&mut fields);
        self.push(fields.0);
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut fields = Fields("span record".into());
        values.record(&mut fields);
        self.push(fields.0);
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields(format!("{} {}", meta.level(), meta.target()));
        event.record(&mut fields);
        self.push(fields.0);
    }
}

/// The whole story with a subscriber capturing every event and span at TRACE: every
/// action is reported, and nothing reported holds a secret.
#[test]
fn tracing_never_sees_a_secret() {
    // Global, and installed before the runtime or the service exists: see the module
    // documentation for why.
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(story(captured));
}

async fn story(captured: Captured) {
    let faults = Faults::new();
    let h = Harness::new(FaultyStorage::new(MemoryStorage::new(), faults.clone()));
    let a = &h.admin;
    let (id, first) = h.create("Zapier", &["contacts.readonly"]).await;
    h.pi.update(a, &id, IntegrationUpdate::new().scopes(["contacts.write"]))
        .await
        .unwrap();
    let second =
        h.pi.rotate(a, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    assert!(h.verifies(&first).await && h.verifies(&second).await);
    h.pi.cancel_rotation(a, &id).await.unwrap();
    let third =
        h.pi.rotate(a, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    h.pi.expire_previous_now(a, &id).await.unwrap();
    let fourth =
        h.pi.rotate(a, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    h.clock.advance(GRACE);
    // Refusals of every kind: expired, invalid, unknown id, malformed, storage failure.
    assert!(matches!(h.verify(&third).await, Err(VerifyError::Expired)));
    assert!(matches!(h.verify(&second).await, Err(VerifyError::Invalid)));
    for text in [
        wrong_secret(fourth.expose_secret()),
        unknown_id(fourth.expose_secret()),
    ] {
        assert!(matches!(
            h.pi.verify(&text).await,
            Err(VerifyError::Invalid)
        ));
    }
    let typo = &fourth.expose_secret()[..fourth.expose_secret().len() - 1];
    assert!(matches!(
        h.pi.verify(typo).await,
        Err(VerifyError::Malformed)
    ));
    assert!(matches!(
        h.pi.verify(&format!("Bearer {}", fourth.expose_secret()))
            .await,
        Err(VerifyError::Malformed)
    ));
    faults.on_next(Method::FindByToken, Fault::FailBefore);
    assert!(matches!(
        h.verify(&fourth).await,
        Err(VerifyError::Storage(_))
    ));
    let fifth =
        h.pi.rotate(a, &id, RotationMode::ExpireNow)
            .await
            .unwrap()
            .token;
    assert!(h.verifies(&fifth).await);
    // Refused management calls, permission and feature changes, reads.
    assert!(h.pi.list(&h.member).await.is_err());
    assert!(h.pi.set_feature_enabled(&h.member, false).await.is_err());
    h.pi.set_permission(a, h.member.user(), Permission::Allow)
        .await
        .unwrap();
    h.pi.set_feature_enabled(a, false).await.unwrap();
    assert!(h.pi.list(a).await.is_err());
    h.pi.set_feature_enabled(a, true).await.unwrap();
    h.pi.get(a, &id).await.unwrap();
    h.pi.rotation_due(a).await.unwrap();
    h.pi.audit_log(a).await.unwrap();
    h.pi.delete(a, &id).await.unwrap();
    assert!(matches!(h.verify(&fifth).await, Err(VerifyError::Invalid)));

    let lines = captured.lines();
    let joined = lines.join("\n");
    // Not vacuous: every management action and every refusal was reported.
    for action in [
        "created",
        "updated",
        "rotated",
        "rotation_cancelled",
        "previous_expired",
        "deleted",
        "permission_changed",
        "feature_switched",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("INFO") && l.contains(&format!("action=\"{action}\""))),
            "no INFO event for {action}:\n{joined}"
        );
    }
    for reason in ["expired", "invalid", "malformed"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("DEBUG") && l.contains(&format!("reason=\"{reason}\""))),
            "no refusal {reason}:\n{joined}"
        );
    }
    for reason in [
        "permission denied",
        "feature disabled",
        "admin role required",
    ] {
        assert!(
            joined.contains(reason),
            "no refused call {reason}:\n{joined}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("injected fault")),
        "no storage failure:\n{joined}"
    );
    // Refusals name the public token id, so operators can correlate.
    assert!(joined.contains(third.token_id().as_str()));
    assert!(lines.len() >= 20, "only {} lines:\n{joined}", lines.len());

    assert_no_secret(&lines, &[&first, &second, &third, &fourth, &fifth]);
}
