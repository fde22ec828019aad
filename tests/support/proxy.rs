//! A TCP proxy that a test owns, between the library and the database, to break the
//! network the way networks break without touching the shared PostgreSQL server:
//!
//! - [`Proxy::cut`]: stop forwarding in both directions, keeping every socket open. The
//!   library sees silence, not an error: a half-open connection. New connections are
//!   accepted and left silent too.
//! - [`Proxy::reset`]: close every connection at once with a TCP reset.
//! - [`Proxy::restore`]: forward again (also what was held while cut).
//!
//! It listens on `127.0.0.1:0`, runs on the test's tokio runtime, and stops when dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Forwarding or not; and how many resets so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    forwarding: bool,
    resets: u64,
}

/// See the [module documentation](self).
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `upstream`, forwarding.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, _) = watch::channel(Mode {
            forwarding: true,
            resets: 0,
        });
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept(
            listener,
            upstream,
            mode.subscribe(),
            Arc::clone(&accepted),
        ));
        Self {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops forwarding; every socket stays open.
    pub fn cut(&self) {
        self.mode.send_modify(|m| m.forwarding = false);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.send_modify(|m| m.forwarding = true);
    }

    /// Closes every open connection with a TCP reset (new ones are still accepted).
    pub fn reset(&self) {
        self.mode.send_modify(|m| m.resets += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its `JoinSet`, which aborts every connection.
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    accepted: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        connections.spawn(connection(client, upstream, mode.clone()));
        // Reap the ones that ended, so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
}

/// One client connection: silent until forwarding, then both directions pumped, until
/// either side closes or a reset.
async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let resets = mode.borrow().resets;
    if !wait_forwarding(&mut mode, resets).await {
        return reset_all(&[&client]);
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, mode.clone(), resets);
    let down = pump(server_read, client_write, mode.clone(), resets);
    let (mut up, mut down) = (std::pin::pin!(up), std::pin::pin!(down));
    let (mut up_done, mut down_done) = (None, None);
    // Until both directions stop for a reset, or either side closes.
    let closed = std::future::poll_fn(|cx| {
        use std::future::Future;
        use std::task::Poll;
        if up_done.is_none()
            && let Poll::Ready(halves) = up.as_mut().poll(cx)
        {
            match halves {
                None => return Poll::Ready(true),
                some => up_done = some,
            }
        }
        if down_done.is_none()
            && let Poll::Ready(halves) = down.as_mut().poll(cx)
        {
            match halves {
                None => return Poll::Ready(true),
                some => down_done = some,
            }
        }
        if up_done.is_some() && down_done.is_some() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    })
    .await;
    if closed {
        return;
    }
    // A reset: RST on both sockets, not FIN.
    if let (Some((client_read, server_write)), Some((server_read, client_write))) =
        (up_done, down_done)
    {
        for stream in [
            client_read.reunite(client_write),
            server_read.reunite(server_write),
        ]
        .into_iter()
        .flatten()
        {
            let _ = stream.set_zero_linger();
        }
    }
}

/// Copies `from` to `to` while forwarding. Ends with `None` when a side closes, with the
/// halves when a reset is asked (so the caller can reset the socket).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    resets: u64,
) -> Option<(OwnedReadHalf, OwnedWriteHalf)> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_forwarding(&mut mode, resets).await {
            return reset_halves(from, to);
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            changed = mode.changed() => {
                if changed.is_err() {
                    return None;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return None;
            }
            Ok(n) => n,
        };
        // Cut between the read and the write: hold the bytes until restored.
        if !wait_forwarding(&mut mode, resets).await {
            return reset_halves(from, to);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return None;
        }
    }
}

/// Waits until forwarding; `false` if a reset came first (or the proxy is gone).
async fn wait_forwarding(mode: &mut watch::Receiver<Mode>, resets: u64) -> bool {
    loop {
        let now = *mode.borrow_and_update();
        if now.resets != resets {
            return false;
        }
        if now.forwarding {
            return true;
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// A direction stopped for a reset: its halves, for the connection to reset.
fn reset_halves(
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
) -> Option<(OwnedReadHalf, OwnedWriteHalf)> {
    Some((from, to))
}

fn reset_all(streams: &[&TcpStream]) {
    for stream in streams {
        let _ = stream.set_zero_linger();
    }
}
