//! What the fuzz targets share: a poll-once executor, and (in [`models`], re-exported
//! here) a reference checksum and reference implementations ("oracles") of the
//! documented input rules, written independently of the crate so that each target can
//! compare the two.

pub mod http;
pub mod models;

pub use models::*;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future that completes without waiting, as every `MemoryStorage` call does.
///
/// # Panics
///
/// If the future is still pending after one poll.
pub fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future)
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a MemoryStorage call did not complete at once"),
    }
}
