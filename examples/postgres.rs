//! The admin's story with Private Integrations on PostgreSQL, as two replicas of a
//! service would live it: one handles the admin, the other verifies tokens.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example postgres --features postgres`.
//!
//! Each replica keeps a verification cache (the default on PostgreSQL): the console
//! replica's changes reach the API replica through PostgreSQL's announcements, so the
//! steps that change a token on one replica wait (at most five seconds) until the other
//! refuses or accepts it, and say how long that took.
//! It works in a fresh schema, `pi_example_<random>`, dropped at the end. Every step
//! checks what it claims and the program exits non-zero if any step behaves otherwise.

use std::str::FromStr;

use private_integrations::storage::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use private_integrations::storage::sqlx::{self, AssertSqlSafe, Connection, PgConnection};
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
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test")?;
    let id = IntegrationId::generate(&mut rand::rngs::SysRng)?;
    let schema = format!("pi_example_{}", id.as_str().to_ascii_lowercase());

    let mut admin_conn = PgConnection::connect(&url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin_conn)
        .await?;
    println!("Working in schema {schema}.");
    let outcome = story(&url, &schema).await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut admin_conn)
        .await?;
    admin_conn.close().await?;
    outcome
}

/// Waits until `holds` (at most five seconds), and says how long it took. For what one
/// replica changes and the other learns from PostgreSQL's announcement.
async fn soon<F, Fut>(holds: F, what: &str) -> Outcome
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if holds().await {
            let after = start.elapsed().as_secs_f64() * 1000.0;
            println!("   ✓ {what} (on the API replica after {after:.1} ms)");
            return Ok(());
        }
        if start.elapsed() > std::time::Duration::from_secs(5) {
            return Err(format!("step failed: {what}").into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A replica of the service: its own pool on the shared schema, the shared clock.
async fn replica(
    url: &str,
    schema: &str,
    clock: &ManualClock,
) -> Result<PrivateIntegrations, Box<dyn std::error::Error>> {
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    let storage = PostgresStorage::new(pool);
    storage.migrate().await?; // every replica may run it at start-up
    Ok(PrivateIntegrations::builder(storage)
        .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
        .clock(clock.clone())
        .build())
}

async fn story(url: &str, schema: &str) -> Outcome {
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    println!("0. Two replicas start and migrate the same database.");
    let console = replica(url, schema, &clock).await?;
    let api = replica(url, schema, &clock).await?;
    let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
    let bob = Actor::member(AccountId::new("acct_1"), UserId::new("u_bob"));
    let works = |token: &IssuedToken| {
        let api = api.clone();
        let text = token.expose_secret().to_owned();
        async move { api.verify(&text).await.is_ok() }
    };

    println!("1. The admin creates an integration on the console replica.");
    let created = console
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

    println!("2. The developer calls the API replica with the token.");
    let verified = api.verify(first.expose_secret()).await?;
    check(
        verified.account() == admin.account() && verified.has_scope("contacts.readonly"),
        "the API replica knows the token, its account and its scope",
    )?;

    println!("3. The admin adds contacts.write.");
    console
        .update(
            &admin,
            &id,
            IntegrationUpdate::new().scopes(["contacts.readonly", "contacts.write"]),
        )
        .await?;
    let can_write = || {
        let (api, text) = (api.clone(), first.expose_secret().to_owned());
        async move {
            api.verify(&text)
                .await
                .is_ok_and(|v| v.has_scope("contacts.write"))
        }
    };
    soon(
        can_write,
        "the same token may now write, on the other replica too",
    )
    .await?;

    println!("4. \"Rotate and expire this token later\".");
    let second = console
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await?
        .token;
    clock.advance(Duration::days(6));
    check(
        works(&first).await && works(&second).await,
        "on day 6 the old and the new token both work",
    )?;
    clock.advance(Duration::days(2));
    soon(
        || async { !works(&first).await },
        "on day 8 the old token is refused",
    )
    .await?;
    check(works(&second).await, "the new token works")?;

    println!("5. Rotate later, then \"Cancel rotation\".");
    let third = console
        .rotate(&admin, &id, RotationMode::ExpireLater)
        .await?
        .token;
    console.cancel_rotation(&admin, &id).await?;
    soon(
        || async { !works(&third).await },
        "the new token stopped working at once",
    )
    .await?;
    check(works(&second).await, "the old token keeps working")?;

    println!("6. \"Rotate and expire this token now\": the token leaked.");
    let fourth = console
        .rotate(&admin, &id, RotationMode::ExpireNow)
        .await?
        .token;
    soon(
        || async { !works(&second).await },
        "the leaked token stopped working at once",
    )
    .await?;
    check(works(&fourth).await, "the new token works")?;

    println!("7. Two admins click at once: one wins, the other is told to retry.");
    let (a, b) = tokio::join!(
        console.update(&admin, &id, IntegrationUpdate::new().name("Zapier (EU)")),
        api.update(&admin, &id, IntegrationUpdate::new().name("Zapier (US)")),
    );
    check(
        matches!(
            (&a, &b),
            (Ok(_), Ok(_)) | (Ok(_), Err(Error::Conflict)) | (Err(Error::Conflict), Ok(_))
        ),
        "no edit is lost: each either landed on the latest version or got Conflict",
    )?;

    println!("8. Bob, a member, is allowed to manage integrations.");
    check(
        matches!(console.list(&bob).await, Err(Error::PermissionDenied)),
        "Bob is denied by default",
    )?;
    console
        .set_permission(&admin, bob.user(), Permission::Allow)
        .await?;
    check(
        api.list(&bob).await.is_ok(),
        "after the admin allows him, he may",
    )?;

    println!("9. The admin deletes the integration.");
    console.delete(&admin, &id).await?;
    soon(
        || async { !works(&fourth).await },
        "its token stopped working at once",
    )
    .await?;

    println!("10. The audit log, newest first, as the API replica reads it:");
    let log = api.audit_log(&admin).await?;
    for event in &log {
        println!("   {}  {} {}", event.at.date(), event.actor, event.action);
    }
    check(
        log.len() >= 9 && log[0].action == AuditAction::Deleted,
        "every change is there, the delete last",
    )?;

    console.shutdown().await;
    api.shutdown().await;
    println!("Done: every step behaved as the product says.");
    Ok(())
}
