//! No secret reaches `Debug`, `Display`, an error or serde output (DESIGN §6.1). What
//! `tracing` sees is checked in `tests/tracing.rs`, a process of its own.
//!
//! "A secret" is any issued token, its 43-character secret part, or any 12-character
//! window of that secret part. The public token id may appear (operators correlate by
//! it), and the tests check that it does where it should.

mod support;

use private_integrations::*;
use support::faults::{Faults, FaultyStorage};
use support::*;

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
