//! The storage conformance suite (`storage::conformance`) against every backend of this
//! crate: the reference `MemoryStorage`, `SqliteStorage` in memory and on a file, and
//! `PostgresStorage` (skipped without `DATABASE_URL`, except under `CI=true`); and a
//! backend that implements only the required methods, so the trait's default paged
//! methods are held to the same cases.
#![cfg(feature = "conformance")]

mod support;

mod memory {
    private_integrations::storage_conformance_tests!(private_integrations::MemoryStorage::new());
}

mod shared_arc {
    // A backend behind `Arc<dyn Storage>`, as the service holds it.
    private_integrations::storage_conformance_tests!(std::sync::Arc::new(
        private_integrations::MemoryStorage::new()
    )
        as std::sync::Arc<dyn private_integrations::Storage>);
}

#[cfg(feature = "sqlite")]
mod sqlite_in_memory {
    private_integrations::storage_conformance_tests!(crate::support::sqlite_in_memory().await);
}

#[cfg(feature = "sqlite")]
mod sqlite_file {
    private_integrations::storage_conformance_tests!(crate::support::sqlite_file().await.0);
}

#[cfg(feature = "postgres")]
mod postgres {
    private_integrations::storage_conformance_tests!(crate::postgres_or_skip!());
}

mod default_paging {
    //! `MemoryStorage` behind a wrapper that forwards only the methods a backend must
    //! write, `record_last_used` (which the last-used cases hold) and the use counts'
    //! three (which the use-count cases hold): `list_page` and `audit_log_page` are the
    //! trait's defaults.
    use async_trait::async_trait;
    use private_integrations::storage::{
        AccessSettings, IntegrationRecord, TokenLookup, TokenUses,
    };
    use private_integrations::*;

    #[derive(Debug, Default)]
    pub struct Minimal(MemoryStorage);

    #[async_trait]
    impl Storage for Minimal {
        async fn insert(
            &self,
            record: &IntegrationRecord,
            event: storage::Change<'_>,
        ) -> Result<(), StorageError> {
            self.0.insert(record, event).await
        }
        async fn update(
            &self,
            record: &IntegrationRecord,
            expected_version: u64,
            event: storage::Change<'_>,
        ) -> Result<(), StorageError> {
            self.0.update(record, expected_version, event).await
        }
        async fn delete(
            &self,
            account: &AccountId,
            id: &IntegrationId,
            expected_version: u64,
            event: storage::Change<'_>,
        ) -> Result<(), StorageError> {
            self.0.delete(account, id, expected_version, event).await
        }
        async fn get(
            &self,
            account: &AccountId,
            id: &IntegrationId,
        ) -> Result<Option<IntegrationRecord>, StorageError> {
            self.0.get(account, id).await
        }
        async fn list(&self, account: &AccountId) -> Result<Vec<IntegrationRecord>, StorageError> {
            self.0.list(account).await
        }
        async fn rotating_integrations(
            &self,
            now: time::OffsetDateTime,
            after: Option<(time::OffsetDateTime, &IntegrationId)>,
            limit: usize,
        ) -> Result<Vec<IntegrationRecord>, StorageError> {
            self.0.rotating_integrations(now, after, limit).await
        }
        fn find_by_token(&self, token_id: &TokenId) -> TokenLookup<'_> {
            self.0.find_by_token(token_id)
        }
        async fn access(
            &self,
            account: &AccountId,
            user: &UserId,
        ) -> Result<AccessSettings, StorageError> {
            self.0.access(account, user).await
        }
        async fn set_permission(
            &self,
            account: &AccountId,
            user: &UserId,
            permission: Permission,
            event: storage::Change<'_>,
        ) -> Result<(), StorageError> {
            self.0
                .set_permission(account, user, permission, event)
                .await
        }
        async fn set_feature_enabled(
            &self,
            account: &AccountId,
            enabled: bool,
            event: storage::Change<'_>,
        ) -> Result<(), StorageError> {
            self.0.set_feature_enabled(account, enabled, event).await
        }
        async fn audit_log(&self, account: &AccountId) -> Result<Vec<AuditEvent>, StorageError> {
            self.0.audit_log(account).await
        }
        async fn idempotency_record(
            &self,
            account: &AccountId,
            user: &UserId,
            key: &IdempotencyKey,
        ) -> Result<Option<IdempotencyRecord>, StorageError> {
            self.0.idempotency_record(account, user, key).await
        }
        async fn remove_idempotency_records(
            &self,
            made_before: time::OffsetDateTime,
            limit: usize,
        ) -> Result<usize, StorageError> {
            self.0.remove_idempotency_records(made_before, limit).await
        }
        async fn remove_audit_events(
            &self,
            before: time::OffsetDateTime,
            limit: usize,
        ) -> Result<usize, StorageError> {
            self.0.remove_audit_events(before, limit).await
        }
        async fn record_last_used(
            &self,
            uses: &[private_integrations::storage::LastUse],
        ) -> Result<(), StorageError> {
            self.0.record_last_used(uses).await
        }
        async fn record_token_uses(&self, uses: &[TokenUses]) -> Result<(), StorageError> {
            self.0.record_token_uses(uses).await
        }
        async fn token_uses(
            &self,
            account: &AccountId,
            id: &IntegrationId,
            since: time::OffsetDateTime,
        ) -> Result<Vec<TokenUses>, StorageError> {
            self.0.token_uses(account, id, since).await
        }
        async fn remove_token_uses(
            &self,
            before: time::OffsetDateTime,
            limit: usize,
        ) -> Result<usize, StorageError> {
            self.0.remove_token_uses(before, limit).await
        }
    }

    private_integrations::storage_conformance_tests!(Minimal::default());
}
