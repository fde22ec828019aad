//! An axum service with Private Integrations: the settings page under
//! `/settings/private-integrations`, the admin API under `/admin`, and a contacts API that
//! third-party integrations call with their tokens.
//!
//! Run: `cargo run --example server --features admin-ui` (listens on 127.0.0.1:3000; set
//! `ADDR` to change it; with `--features admin-ui,postgres` and `DATABASE_URL` set, it
//! keeps integrations in PostgreSQL, with the verification cache on unless
//! `PI_VERIFICATION_CACHE=off`). Open http://127.0.0.1:3000/login in a browser, or
//! follow the curl walk-through it prints.
//!
//! Both sit behind STAND-IN logins, NOT FOR PRODUCTION: the settings page believes a
//! cookie set by the `/login` form, the admin API believes the `X-Account-Id`,
//! `X-User-Id` and `X-Role` headers. A real host puts its own login there (see
//! `CookieLogin` and `HeaderLogin` in `examples/server/app.rs`).
//!
//! If the database becomes unreachable, requests get `503` within a few seconds (the
//! pool's acquire timeout, the lookup timeout) instead of hanging, and work again once it
//! is back.
//!
//! It logs through `tracing` to stderr, filtered by `RUST_LOG` (default:
//! `private_integrations=info`), so a lost change listener and its recovery show. With
//! `--features metrics` it also serves the library's metrics at `GET /metrics`, in
//! Prometheus's text format (`metrics-exporter-prometheus`).
//!
//! On Ctrl-C or SIGTERM it stops accepting connections, lets the requests in flight
//! finish, then shuts the service down: the last-used times noted since the last batch
//! are written and the background tasks end.

#[path = "server/app.rs"]
mod app;

use private_integrations::http::{GithubKeys, secret_scanning_router};
use private_integrations::{MemoryStorage, PrivateIntegrations, PrivateIntegrationsBuilder};

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// Where integrations are kept.
async fn storage() -> Result<PrivateIntegrationsBuilder, Box<dyn std::error::Error>> {
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let storage = private_integrations::PostgresStorage::connect(&url).await?;
        storage.migrate().await?;
        let builder = PrivateIntegrations::builder(storage);
        // On PostgreSQL the verification cache is on by default; this turns it off, to
        // compare (BENCHMARKS.md).
        if std::env::var("PI_VERIFICATION_CACHE").as_deref() == Ok("off") {
            println!("Storage: PostgreSQL (DATABASE_URL), no verification cache");
            return Ok(
                builder.verification_cache(private_integrations::VerificationCache::disabled())
            );
        }
        println!("Storage: PostgreSQL (DATABASE_URL), with the verification cache");
        return Ok(builder);
    }
    println!("Storage: in memory (everything is gone when the server stops)");
    Ok(PrivateIntegrations::builder(MemoryStorage::new()))
}

#[tokio::main]
async fn main() -> Outcome {
    // Logs to stderr; `RUST_LOG` overrides the default (this crate at INFO).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "private_integrations=info".into()),
        )
        .init();
    // The recorder first: the service registers its metrics' handles when it is built.
    #[cfg(feature = "metrics")]
    let metrics = metrics_recorder()?;
    let pi = storage().await?.scope_catalog(app::catalog()).build();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    print_walkthrough(&base);
    let router = app::app(pi.clone());
    // GitHub's secret scanning partner endpoint, when PI_GITHUB_KEYS names GitHub's key
    // document (https://api.github.com/meta/public_keys/secret_scanning, saved to a file).
    let router = match std::env::var_os("PI_GITHUB_KEYS") {
        Some(path) => {
            let keys = GithubKeys::from_file(&path)
                .map_err(|err| format!("PI_GITHUB_KEYS ({}): {err}", path.to_string_lossy()))?;
            println!(
                "Secret scanning: GitHub's alerts at POST {base}/secret-scanning/github \
                 (keys {:?} from PI_GITHUB_KEYS; leaked tokens are revoked)",
                keys.key_ids()
            );
            router.nest(
                "/secret-scanning/github",
                secret_scanning_router(pi.clone(), keys),
            )
        }
        None => {
            println!("Secret scanning: off (set PI_GITHUB_KEYS to GitHub's key document file)");
            router
        }
    };
    #[cfg(feature = "metrics")]
    let router = router.route(
        "/metrics",
        axum::routing::get(move || std::future::ready(metrics.render())),
    );
    // Drain the requests in flight first, then stop the service's background work (and
    // write the last-used times it has noted).
    axum::serve(listener, router)
        .with_graceful_shutdown(stop_requested())
        .await?;
    pi.shutdown().await;
    println!("Stopped.");
    Ok(())
}

/// Installs the Prometheus recorder as the process's `metrics` recorder, with its upkeep
/// (draining histograms) every 5 seconds; its handle renders `GET /metrics`.
#[cfg(feature = "metrics")]
fn metrics_recorder()
-> Result<metrics_exporter_prometheus::PrometheusHandle, Box<dyn std::error::Error>> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Ctrl-C, or SIGTERM (what a container runtime sends).
async fn stop_requested() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    println!("Stopping: finishing the requests in flight…");
}

fn print_walkthrough(base: &str) {
    let admin = "-H 'X-Account-Id: acct_1' -H 'X-User-Id: u_admin' -H 'X-Role: admin'";
    let json = "-H 'Content-Type: application/json'";
    println!(
        r#"Listening on {base}

The settings page: open {base}/login in a browser, pick a user, and you land on
{base}/settings/private-integrations

WARNING: the settings page believes the cookie the /login form sets, and the admin API
trusts the X-Account-Id, X-User-Id and X-Role headers. Those are STAND-INS for your own
login, NOT FOR PRODUCTION.

The admin's story (needs curl and jq):

1. Create an integration. The token is shown once: copy it now.
   curl -s -X POST {base}/admin/integrations {admin} {json} \
     -d '{{"name":"Zapier sync","description":"Pushes contacts","scopes":["contacts.readonly"]}}' | tee created.json
   TOKEN=$(jq -r .token created.json); ID=$(jq -r .integration.id created.json)

2. The third party calls the API with it.
   curl -s {base}/v1/contacts -H "Authorization: Bearer $TOKEN"                       # 200
   curl -si -X POST {base}/v1/contacts -H "Authorization: Bearer $TOKEN" {json} -d '{{"name":"Ada"}}'   # 403 insufficient_scope

3. Grant contacts.write: the same token may now write.
   curl -s -X PATCH {base}/admin/integrations/$ID {admin} {json} -d '{{"scopes":["contacts.readonly","contacts.write"]}}'
   curl -s -X POST {base}/v1/contacts -H "Authorization: Bearer $TOKEN" {json} -d '{{"name":"Ada"}}'    # 201

4. Rotate, expire the old token later: both work for 7 days.
   NEW=$(curl -s -X POST {base}/admin/integrations/$ID/rotate {admin} {json} -d '{{"mode":"expire_later"}}' | jq -r .token)
   curl -s {base}/v1/contacts -H "Authorization: Bearer $TOKEN"; curl -s {base}/v1/contacts -H "Authorization: Bearer $NEW"
   curl -s -X POST {base}/admin/integrations/$ID/rotation/expire-previous {admin}      # or .../rotation/cancel
   curl -si {base}/v1/contacts -H "Authorization: Bearer $TOKEN"                       # 401 invalid_token

5. More: list, permissions, the feature switch, the reminder, the audit log, delete.
   curl -s {base}/admin/integrations {admin}
   curl -s -X PUT {base}/admin/users/u_bob/permission {admin} {json} -d '{{"permission":"allow"}}'
   curl -s -X PUT {base}/admin/feature {admin} {json} -d '{{"enabled":true}}'
   curl -s {base}/admin/rotation-due {admin}
   curl -s "{base}/admin/audit-log?limit=20&integration=$ID" {admin}                 # a page; follow next_cursor
   curl -s -X DELETE {base}/admin/integrations/$ID {admin}
   curl -si {base}/v1/contacts -H "Authorization: Bearer $NEW"                         # 401

6. A token pasted in a public place: report it, and it is revoked at once.
   LEAKED=$(curl -s -X POST {base}/admin/integrations {admin} {json} -d '{{"name":"Leaky","scopes":["contacts.readonly"]}}' | jq -r .token)
   curl -s -X POST {base}/admin/leaks {admin} {json} -d "{{\"token\":\"$LEAKED\",\"url\":\"https://github.com/octo/app/blob/main/.env\"}}"
   curl -si {base}/v1/contacts -H "Authorization: Bearer $LEAKED"                      # 401

Stop with Ctrl-C (or SIGTERM): requests in flight finish, then last-used times are written."#
    );
    #[cfg(feature = "metrics")]
    println!("\nMetrics, in Prometheus's text format:\n   curl -s {base}/metrics");
}
