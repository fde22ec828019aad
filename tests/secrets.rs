//! No secret reaches `Debug`, `Display`, an error, serde output or a `tracing` event or
//! span (DESIGN §6.1).
//!
//! "A secret" is any issued token, its 43-character secret part, or any 12-character
//! window of that secret part. The public token id may appear (operators correlate by
//! it), and the tests check that it does where it should.

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

/// Fails if any output holds a token, its secret part, or a 12-character window of it.
fn assert_no_secret(outputs: &[String], tokens: &[&IssuedToken]) {
    assert!(!outputs.is_empty() && !tokens.is_empty());
    for token in tokens {
        let text = token.expose_secret();
        // `{prefix}_{id}_` precedes the secret; the checksum follows it.
        let start = text.len() - 6 - 43;
        let secret = &text[start..text.len() - 6];
        assert_eq!(secret.len(), 43);
        for output in outputs {
            assert!(!output.contains(text), "whole token in {output}");
            for window in secret.as_bytes().windows(12) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(!output.contains(piece), "secret piece {piece} in {output}");
            }
        }
    }
}

#[tokio::test]
async fn no_public_output_contains_a_secret() {
    let h = Harness::new(MemoryStorage::new());
    let created =
        h.pi.create(
            &h.admin,
            NewIntegration::new("Zapier").scopes(["contacts.readonly"]),
        )
        .await
        .unwrap();
    let id = created.integration.id().clone();
    let rotated =
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap();
    let verified = h.verify(&rotated.token).await.unwrap();
    let scope_error = verified.require_scope("contacts.write").unwrap_err();
    let refused =
        h.pi.verify(&wrong_secret(created.token.expose_secret()))
            .await
            .unwrap_err();
    let malformed =
        h.pi.verify(&created.token.expose_secret()[1..])
            .await
            .unwrap_err();
    let integrations = h.pi.list(&h.admin).await.unwrap();
    let log = h.pi.audit_log(&h.admin).await.unwrap();
    let format = h.pi.token_format();
    let parsed = format.parse(rotated.token.expose_secret()).unwrap();
    let storage = MemoryStorage::new();
    let faulty = FaultyStorage::new(storage.clone(), Faults::new());
    let storage_error = StorageError::backend("connection reset");
    let verify_storage = VerifyError::Storage(StorageError::backend("timeout"));

    let mut outputs = vec![
        format!("{created:?}"),
        format!("{created:#?}"),
        format!("{rotated:?}"),
        format!("{rotated:#?}"),
        format!("{:?}", created.token),
        format!("{verified:?}"),
        format!("{verified:#?}"),
        format!("{scope_error:?} {scope_error}"),
        format!("{refused:?} {refused}"),
        format!("{malformed:?} {malformed}"),
        format!("{integrations:?}"),
        format!("{integrations:#?}"),
        format!("{log:?}"),
        format!("{:?}", h.pi),
        format!("{:#?}", h.pi),
        format!("{format:?} {parsed:?} {parsed:#?}"),
        format!("{storage:?} {faulty:?}"),
        format!("{storage_error:?} {storage_error}"),
        format!("{verify_storage:?} {verify_storage}"),
        format!("{:?}", h.pi.scope_catalog()),
        serde_json::to_string(&integrations).unwrap(),
        serde_json::to_string_pretty(&integrations).unwrap(),
        serde_json::to_string(&log).unwrap(),
        serde_json::to_string(verified.scopes()).unwrap(),
        serde_json::to_string(&created.integration.pending_rotation()).unwrap(),
    ];
    outputs.push(format!("{:?}", created.integration.pending_rotation()));
    outputs.extend(log.iter().map(|event| event.action.to_string()));
    // Every management error, as Debug and Display.
    let errors: Vec<Error> = vec![
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap_err(),
        h.pi.get(&h.other_admin, &id).await.unwrap_err(),
        h.pi.list(&h.member).await.unwrap_err(),
        h.pi.update(&h.admin, &id, IntegrationUpdate::new())
            .await
            .unwrap_err(),
        Error::Storage(StorageError::backend("disk full")),
    ];
    outputs.extend(errors.iter().map(|e| format!("{e:?} {e}")));

    assert_no_secret(&outputs, &[&created.token, &rotated.token]);
    // The public token id may appear (it is how operators correlate); the redaction
    // marker must.
    assert!(outputs[0].contains("[redacted]"));
    assert!(outputs[0].contains(created.token.token_id().as_str()));
}

/// The stored record of an integration, read straight from storage: token ids and
/// hashes, and its `Debug` shows neither a secret nor a digest.
#[tokio::test]
async fn stored_records_hold_no_secret() {
    let storage = MemoryStorage::new();
    let h = Harness::new(storage.clone());
    let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
    let rotated =
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap()
            .token;
    let record = storage.get(h.admin.account(), &id).await.unwrap().unwrap();
    let outputs = vec![format!("{record:?}"), format!("{record:#?}")];
    assert_no_secret(&outputs, &[&token, &rotated]);
    assert!(outputs[0].contains(token.token_id().as_str()));
    assert!(outputs[0].contains("TokenHash([redacted])"));
}

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
#[tokio::test]
async fn tracing_never_sees_a_secret() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

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
