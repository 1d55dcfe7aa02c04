//! Idle upstream connections, kept per worker thread, newest first.
//!
//! A connection here is not a task of its own: whoever uses it drives it (see
//! [`Conn::drive`]), so a request, its upstream exchange and its response body all run in
//! the client connection's task, with no hand-off through a channel to a pool task and
//! back. An idle connection is driven by nobody; it is checked when it is taken out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

use crate::response::Body;

/// hyper's connection state machine: reads and writes the socket when polled, and ends when
/// the connection closes (or hands its socket to an upgrade).
pub type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send + Sync>>;

/// One HTTP/1.1 connection to an app.
pub struct Conn {
    pub sender: SendRequest<Body>,
    driver: Driver,
    /// The driver finished. It must not be polled again: hyper panics when an upgraded
    /// connection is polled after handing its socket over.
    ended: bool,
    idle_since: Instant,
}

impl Conn {
    pub fn new(sender: SendRequest<Body>, driver: Driver) -> Self {
        Self {
            sender,
            driver,
            ended: false,
            idle_since: Instant::now(),
        }
    }

    /// Lets the connection do whatever it can now (write the request, read the response,
    /// feed the body). Returns `true` once the connection has ended.
    pub fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.ended {
            self.ended = self.driver.as_mut().poll(cx).is_ready();
        }
        self.ended
    }

    /// The connection as a future of its own, for a socket that must go on without this
    /// task (an upgrade: hyper hands the socket over only while it is driven); `None` when
    /// it already finished (usually the upgrade was handed over in the same turn).
    pub fn into_driver(self) -> Option<Driver> {
        (!self.ended).then_some(self.driver)
    }
}

/// Idle connections of one app, per thread (with one runtime per worker thread, the thread
/// that returns a connection is the one that will use it next).
pub struct Pool {
    idle: thread_local::ThreadLocal<RefCell<VecDeque<Conn>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: thread_local::ThreadLocal::new(),
            max_idle,
            idle_timeout,
        }
    }

    /// The most recently used connection that is still open and ready for a request.
    /// Driving each candidate once is what notices that the app closed it meanwhile.
    pub fn checkout(&self, cx: &mut Context<'_>) -> Option<Conn> {
        loop {
            let mut conn = {
                let mut idle = self.idle.get_or_default().borrow_mut();
                let conn = idle.pop_back()?;
                if conn.idle_since.elapsed() > self.idle_timeout {
                    // Newest first: if this one is too old, so are all below it.
                    idle.clear();
                    return None;
                }
                conn
            };
            // Driven outside the borrow: hyper's code runs here, and nothing it might drop
            // should find the pool borrowed.
            if !conn.drive(cx) && conn.sender.is_ready() {
                return Some(conn);
            }
        }
    }

    /// Keeps a connection whose last exchange is complete, if it can take another request.
    fn checkin(&self, mut conn: Conn) {
        if !conn.sender.is_ready() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle.get_or_default().borrow_mut();
        // The oldest go first: past the idle timeout, or to make room.
        while idle
            .front()
            .is_some_and(|c| c.idle_since.elapsed() > self.idle_timeout)
            || idle.len() >= self.max_idle
        {
            idle.pop_front();
        }
        if self.max_idle > 0 {
            idle.push_back(conn);
        }
    }

    /// Finishes with a connection from inside a poll: one more turn lets hyper see the
    /// exchange complete and ask for the next request; then it goes back to the pool.
    pub fn finish(&self, mut conn: Conn, cx: &mut Context<'_>) {
        if !conn.drive(cx) {
            self.checkin(conn);
        }
    }
}

/// Drives `conn` while waiting for `response`: the request goes out and the answer comes in
/// within this task.
pub fn drive_until<F, T>(conn: &mut Conn, response: &mut F, cx: &mut Context<'_>) -> Poll<T>
where
    F: Future<Output = T> + Unpin,
{
    // The connection first: it writes the request and reads the response the future waits on.
    conn.drive(cx);
    Pin::new(response).poll(cx)
}
