//! The storage conformance suite (`storage::conformance`) against every backend of this
//! crate: the reference `MemoryStorage`, `SqliteStorage` in memory and on a file, and
//! `PostgresStorage` (skipped without `DATABASE_URL`, except under `CI=true`).
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
