//! # private-integrations
//!
//! Private Integrations for any multi-tenant service: an account admin creates an
//! integration with a name, a description and a least-privilege set of scopes, receives
//! a secret token **once**, hands it to a third-party developer, and later edits,
//! rotates or deletes it. The service calls [`PrivateIntegrations::verify`] on every
//! request: constant-time, fail-closed, and with the embedded [`MemoryStorage`] free of
//! locks and heap allocations.
//!
//! ```
//! use private_integrations::*;
//! use time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new(time::OffsetDateTime::now_utc());
//! let pi = PrivateIntegrations::builder(MemoryStorage::new())
//!     .scope_catalog(ScopeCatalog::new(["contacts.readonly", "contacts.write"])?)
//!     .clock(clock.clone())
//!     .build();
//! let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin"));
//!
//! // Create: the token is shown once.
//! let created = pi
//!     .create(&admin, NewIntegration::new("Zapier sync").scopes(["contacts.readonly"]))
//!     .await?;
//! let id = created.integration.id().clone();
//! let old = created.token;
//! pi.verify(old.expose_secret()).await.unwrap().require_scope("contacts.readonly").unwrap();
//!
//! // Rotate, expire the old token later: both work during the grace period.
//! let new = pi.rotate(&admin, &id, RotationMode::ExpireLater).await?.token;
//! clock.advance(Duration::days(6));
//! assert!(pi.verify(old.expose_secret()).await.is_ok());
//! clock.advance(Duration::days(2));
//! assert!(matches!(pi.verify(old.expose_secret()).await, Err(VerifyError::Expired)));
//! assert!(pi.verify(new.expose_secret()).await.is_ok());
//!
//! // Delete: every token stops at once.
//! pi.delete(&admin, &id).await?;
//! assert!(pi.verify(new.expose_secret()).await.is_err());
//! # Ok::<(), Error>(()) }).unwrap();
//! ```
//!
//! ## Where things are
//!
//! - [`domain`]: the pure core — ids, scopes, the integration, the credentials state
//!   machine, the token format and the secret types. No I/O.
//! - [`PrivateIntegrations`]: the service — policy, orchestration, audit.
//! - [`storage`]: the [`Storage`] contract, [`MemoryStorage`], and with their features
//!   `SqliteStorage` (`sqlite`) and `PostgresStorage` (`postgres`); the conformance suite
//!   for any backend (`conformance`).
//! - Many replicas: `PostgresStorage` announces every committed change through
//!   PostgreSQL ([`Storage::watch`], [`storage::ChangeListener`]), and a
//!   [`VerificationCache`] (on by default there) verifies at memory speed and evicts on
//!   every announcement ([`PrivateIntegrationsBuilder::verification_cache`],
//!   [`PrivateIntegrations::cache_stats`]); tokens' last use is
//!   noted on verification and written in batches
//!   ([`PrivateIntegrationsBuilder::last_used_interval`], [`Integration::last_used_at`]);
//!   [`PrivateIntegrations::shutdown`] stops the background work cleanly.
//! - [`Clock`]: [`SystemClock`], and [`ManualClock`] for tests.
//! - `http` (feature `axum`): the `Verified` extractor, the `RequireScope` layer and the
//!   admin router.
//!
//! ## Security promises
//!
//! - No secret is stored, logged, serialized or printed: storage keeps the token id and
//!   `SHA-256` of the secret; [`IssuedToken`] has no `Display`/`Serialize`, redacts its
//!   `Debug`, and is zeroized on drop.
//! - Verification refuses on any doubt, storage errors included.
//! - Digests are compared in constant time on fixed-size values, and an unknown token id
//!   costs the same hashing and comparison as a known one.
//! - Management calls are account-isolated and permission-checked before any write; a
//!   change and its audit event are written atomically, or not at all.
//! - Leaked tokens are easy to find: [`TOKEN_PATTERN`] and [`token_regex`] give secret
//!   scanners a regular expression, and [`looks_like_token`] confirms a match by its
//!   checksum without touching storage.
//! - Management actions (at `INFO`) and refusals (at `DEBUG`; a storage failure during
//!   verification at `WARN`) are reported through [`tracing`] with account, actor,
//!   integration and token ids, never a token or a secret. A successful verification
//!   reports nothing.
//!
//! ## Metrics (feature `metrics`)
//!
//! Through the [`metrics`](https://docs.rs/metrics) facade, to the recorder the host
//! installs before [`PrivateIntegrationsBuilder::build`] (the handles are registered
//! there, once, with static labels only):
//!
//! | name | kind (unit) | labels |
//! |---|---|---|
//! | `private_integrations.verify.count` | counter | `outcome`: `ok`, `invalid`, `expired`, `malformed`, `storage_error` |
//! | `private_integrations.cache.hits`, `.cache.misses` | counter | |
//! | `private_integrations.cache.evictions` | counter | `reason`: `change`, `room` |
//! | `private_integrations.cache.flushes` | counter | |
//! | `private_integrations.listener.connects`, `.listener.losses` | counter | |
//! | `private_integrations.listener.reconnect_delay` | histogram (seconds) | |
//! | `private_integrations.last_used.batches` | counter | `outcome`: `written`, `failed` |
//! | `private_integrations.management.calls` | counter | `operation` (`create`, `update`, `rotate`, …); `outcome`: `ok`, `replayed`, or the error's kind (`permission_denied`, `conflict`, …) |
//!
//! Verification counts its outcome on per-thread stripes (no lock, no allocation, no
//! shared line, nothing formatted); the service's background task adds what moved to the
//! `metrics` counters every second and on [`PrivateIntegrations::shutdown`], with the
//! cache's, the listener's and the last-used writer's counters. Management calls and the
//! listener's reconnect delays are recorded as they happen. The README's "Metrics"
//! section has the full table.
//!
//! The repository's `SECURITY.md` holds the threat model, the tests behind each
//! guarantee, the known limits and what the host application must do itself.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod clock;
pub mod domain;
mod error;
mod housekeeping;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
mod index;
mod last_used;
#[cfg(feature = "metrics")]
mod metrics;
mod service;
pub mod storage;
mod striped;
mod telemetry;
mod use_counts;
mod verify;

pub use cache::{CacheStats, VerificationCache};
pub use clock::{Clock, ManualClock, SystemClock};
pub use domain::access::{Actor, Permission, Role};
pub use domain::audit::{AUTOMATIC_ACTOR, AuditAction, AuditEvent};
pub use domain::credentials::RotationMode;
pub use domain::idempotency::{
    AlreadyDone, Fingerprint, IDEMPOTENCY_KEY_RETENTION, IdempotencyKey, IdempotencyRecord,
    MAX_IDEMPOTENCY_KEY_LEN, Outcome,
};
pub use domain::ids::{AccountId, IntegrationId, TokenId, UserId};
pub use domain::integration::{Integration, IntegrationUpdate, NewIntegration, PendingRotation};
pub use domain::leak::{Leak, LeakLabel, LeakPolicy};
pub use domain::listing::{IntegrationQuery, IntegrationState, MAX_SEARCH_CHARS};
pub use domain::page::{
    AuditLogQuery, Cursor, DEFAULT_PAGE_SIZE, ListOrder, MAX_PAGE_SIZE, Page, PageRequest,
};
pub use domain::scope::{ScopeCatalog, ScopeSet};
pub use domain::token::{
    IssuedToken, TOKEN_PATTERN, TokenFormat, TokenHash, looks_like_token, token_regex,
};
pub use domain::usage::{DEFAULT_USAGE_RETENTION, Usage, UsageDay, UseTotals};
pub use error::{Error, InvalidInput, StorageError, VerifyError};
pub use last_used::{DEFAULT_LAST_USED_INTERVAL, LastUsedStats};
pub use service::Once;
pub use service::{
    Created, DEFAULT_GRACE_PERIOD, DEFAULT_ROTATION_INTERVAL, LeakOutcome, MissingCatalog,
    PrivateIntegrations, PrivateIntegrationsBuilder, Rotated,
};
#[cfg(feature = "postgres")]
pub use storage::PostgresStorage;
#[cfg(feature = "sqlite")]
pub use storage::SqliteStorage;
pub use storage::{MemoryStorage, Storage};
pub use verify::Verified;

/// The `time` crate this one is built on: durations (`time::Duration`) and timestamps
/// (`time::OffsetDateTime`) in its API are this crate's types, so a host needs no
/// `time` dependency of its own to configure a service.
///
/// # Example
///
/// ```
/// use private_integrations::{MemoryStorage, PrivateIntegrations, ScopeCatalog, time::Duration};
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .grace_period(Duration::days(14))
///     .build();
/// # let _ = pi;
/// # Ok::<(), private_integrations::Error>(())
/// ```
#[doc(no_inline)]
pub use time;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
