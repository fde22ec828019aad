//! No secret reaches `Debug`, `Display`, an error or serde output (DESIGN §6.1).

mod support;

use private_integrations::*;
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

    let mut outputs = vec![
        format!("{created:?}"),
        format!("{rotated:?}"),
        format!("{verified:?}"),
        format!("{scope_error:?} {scope_error}"),
        format!("{refused:?} {refused}"),
        format!("{malformed:?} {malformed}"),
        format!("{integrations:?}"),
        format!("{log:?}"),
        format!("{:?}", h.pi),
        format!("{:#?}", h.pi),
        serde_json::to_string(&integrations).unwrap(),
        serde_json::to_string(&log).unwrap(),
        serde_json::to_string(verified.scopes()).unwrap(),
    ];
    outputs.push(format!("{:?}", created.integration.pending_rotation()));

    for token in [&created.token, &rotated.token] {
        let text = token.expose_secret();
        // The secret part alone, and any long-enough piece of it, must not appear.
        let secret = &text[21..64];
        for output in &outputs {
            assert!(!output.contains(text), "whole token in {output}");
            for window in secret.as_bytes().windows(12) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(!output.contains(piece), "secret piece {piece} in {output}");
            }
        }
    }
    // The public token id may appear (it is how operators correlate); the redaction
    // marker must.
    assert!(outputs[0].contains("[redacted]"));
    assert!(outputs[0].contains(created.token.token_id().as_str()));
}
