//! The pure core: types and rules with no I/O, no async and no clock of their own.
//!
//! Every lifecycle rule lives here as a function of (state, action, now); the service
//! loads, applies one of these functions, and writes the result with compare-and-swap.

pub mod access;
pub mod audit;
pub mod credentials;
pub mod idempotency;
pub mod ids;
pub mod integration;
pub mod leak;
pub mod listing;
pub mod page;
pub mod scope;
pub mod token;
pub mod usage;
