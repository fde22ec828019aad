//! What the integration tests share: a service on a manual clock, actors, and helpers
//! that forge tokens of the right shape.
#![allow(dead_code)]

use private_integrations::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);
pub const GRACE: Duration = Duration::days(7);
pub const SCOPES: [&str; 3] = [
    "contacts.readonly",
    "contacts.write",
    "calendars/events.write",
];

/// A service on `storage` with a manual clock at [`T0`] and the default settings.
pub struct Harness {
    pub pi: PrivateIntegrations,
    pub clock: ManualClock,
    pub admin: Actor,
    pub member: Actor,
    pub other_admin: Actor,
}

impl Harness {
    pub fn new(storage: impl Storage) -> Self {
        let clock = ManualClock::new(T0);
        let pi = PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(clock.clone())
            .build();
        Self {
            pi,
            clock,
            admin: Actor::admin(AccountId::new("acct_1"), UserId::new("u_admin")),
            member: Actor::member(AccountId::new("acct_1"), UserId::new("u_bob")),
            other_admin: Actor::admin(AccountId::new("acct_2"), UserId::new("u_eve")),
        }
    }

    pub async fn create(&self, name: &str, scopes: &[&str]) -> (IntegrationId, IssuedToken) {
        let created = self
            .pi
            .create(
                &self.admin,
                NewIntegration::new(name).scopes(scopes.iter().copied()),
            )
            .await
            .expect("create");
        (created.integration.id().clone(), created.token)
    }

    pub async fn verifies(&self, token: &IssuedToken) -> bool {
        self.pi.verify(token.expose_secret()).await.is_ok()
    }

    pub async fn verify(&self, token: &IssuedToken) -> Result<Verified, VerifyError> {
        self.pi.verify(token.expose_secret()).await
    }

    /// What an observer can see of the account: every integration and the audit log.
    pub async fn snapshot(&self) -> (Vec<Integration>, Vec<AuditEvent>) {
        (
            self.pi.list(&self.admin).await.unwrap(),
            self.pi.audit_log(&self.admin).await.unwrap(),
        )
    }
}

/// `token` with its checksum recomputed after `edit` changed it: a token that passes the
/// parser, so only storage can refuse it.
pub fn forge(token: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut body = token.as_bytes()[..token.len() - 6].to_vec();
    edit(&mut body);
    let mut crc = crc32fast::hash(&body);
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut checksum = [b'0'; 6];
    for digit in checksum.iter_mut().rev() {
        *digit = alphabet[(crc % 62) as usize];
        crc /= 62;
    }
    body.extend_from_slice(&checksum);
    String::from_utf8(body).unwrap()
}

/// The same token id with another secret.
pub fn wrong_secret(token: &str) -> String {
    forge(token, |body| {
        let last = body.len() - 1;
        body[last] = if body[last] == b'a' { b'b' } else { b'a' };
    })
}

/// An id that was never issued, with a well-formed secret.
pub fn unknown_id(token: &str) -> String {
    forge(token, |body| {
        let start = body.iter().position(|b| *b == b'_').unwrap() + 1;
        body[start..start + 16].copy_from_slice(b"ZZZZZZZZZZZZZZZZ");
    })
}

pub mod faults;
