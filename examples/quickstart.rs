//! The admin's whole story with Private Integrations, on the embedded default storage
//! and a clock we move by hand.
//!
//! Run: `cargo run --example quickstart`. Every step checks what it claims and the
//! program exits non-zero if any step behaves otherwise.

use private_integrations::*;
use time::{Duration, OffsetDateTime};

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// Fails the run, with the step's words, if `holds` is false.
fn check(holds: bool, what: &str) -> Outcome {
    if holds {
        println!("   ✓ {what}");
        Ok(())
    } else {
        Err(format!("step failed: {what}").into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Outcome {
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let pi = PrivateIntegrations::builder(MemoryStorage::new())
        .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
        .clock(clock.clone())
        .grace_period(Duration::days(7))
        .rotation_interval(Duration::days(90))
        .build();
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let bob = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    let works = |token: &IssuedToken| {
        let pi = pi.clone();
        let text = token.expose_secret().to_owned();
        async move { pi.verify(&text).await.is_ok() }
    };

    println!("1. The admin clicks \"Create new Integration\": name, description, scopes.");
    let created = pi
        .create(
            &admin,
            NewIntegration::new("Zapier sync")
                .description("Pushes new contacts to the CRM")
                .scopes(["contacts.readonly"]),
        )
        .await?;
    let id = created.integration.id().clone();
    let first = created.token;
    println!("   Copy this token now, it will not be shown again:");
    println!("   {}", first.expose_secret());

    println!("2. The developer calls the API with the token.");
    let verified = pi.verify(first.expose_secret()).await?;
    check(
        verified.account() == admin.account(),
        "the token acts for the admin's account",
    )?;
    check(
        verified.has_scope("contacts.readonly"),
        "it may read contacts",
    )?;
    check(
        !verified.has_scope("contacts.write"),
        "it may not write contacts",
    )?;

    println!("3. The admin edits the integration to add contacts.write.");
    pi.update(
        &admin,
        &id,
        IntegrationUpdate::new().scopes(["contacts.readonly", "contacts.write"]),
    )
    .await?;
    let verified = pi.verify(first.expose_secret()).await?;
    check(
        verified.has_scope("contacts.write"),
        "the same token works and may now write",
    )?;

    println!("4. \"Rotate and expire this token later\".");
    let second = pi
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await?
        .token;
    clock.advance(Duration::days(6));
    check(
        works(&first).await && works(&second).await,
        "on day 6 the old and the new token both work",
    )?;
    clock.advance(Duration::days(2));
    check(!works(&first).await, "on day 8 the old token is refused")?;
    check(works(&second).await, "the new token works")?;

    println!("5. Rotate later, then \"Cancel rotation\": the developer needs more time.");
    let third = pi
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await?
        .token;
    pi.cancel_rotation(&admin, &id).await?;
    check(
        !works(&third).await,
        "the new token stopped working at once",
    )?;
    clock.advance(Duration::days(30));
    check(
        works(&second).await,
        "the old token keeps working, with no expiry",
    )?;

    println!("6. Rotate later, then \"Expire now\": the app already uses the new token.");
    let fourth = pi
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await?
        .token;
    pi.expire_previous_now(&admin, &id).await?;
    check(
        !works(&second).await,
        "the old token stopped working at once",
    )?;
    check(works(&fourth).await, "the new token works")?;

    println!("7. \"Rotate and expire this token now\": the token leaked.");
    let fifth = pi.rotate(&admin, &id, RotationMode::ExpireNow).await?.token;
    check(
        !works(&fourth).await,
        "the leaked token stopped working at once",
    )?;
    check(works(&fifth).await, "the new token works")?;

    println!("8. Bob, a member, tries to manage integrations.");
    check(
        matches!(pi.list(&bob).await, Err(Error::PermissionDenied)),
        "Bob is denied by default",
    )?;
    pi.set_permission(&admin, bob.user(), Permission::Allow)
        .await?;
    check(
        pi.list(&bob).await.is_ok(),
        "after the admin allows him, Bob may manage them",
    )?;

    println!("9. The admin deletes the integration.");
    let (spare_id, spare) = {
        let c = pi
            .create(
                &admin,
                NewIntegration::new("Reporting").scopes(["contacts.readonly"]),
            )
            .await?;
        (c.integration.id().clone(), c.token)
    };
    pi.delete(&admin, &id).await?;
    check(!works(&fifth).await, "its token stopped working at once")?;
    check(works(&spare).await, "other integrations are untouched")?;

    println!("10. The audit log, newest first:");
    for event in pi.audit_log(&admin).await? {
        let on = event
            .integration
            .as_ref()
            .map(|i| format!(" on {i}"))
            .unwrap_or_default();
        println!(
            "   {}  {} {}{on}",
            event.at.date(),
            event.actor,
            event.action
        );
    }

    println!("11. The rotation reminder, 91 days later:");
    clock.advance(Duration::days(91));
    let due = pi.rotation_due(&admin).await?;
    for integration in &due {
        println!(
            "   \"{}\" should be rotated (token issued {})",
            integration.name(),
            integration.token_issued_at().date()
        );
    }
    check(
        due.len() == 1 && *due[0].id() == spare_id,
        "the 91-day-old token is due for rotation",
    )?;

    println!("Done: every step behaved as the product says.");
    Ok(())
}
