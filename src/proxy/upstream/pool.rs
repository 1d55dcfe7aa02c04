//! Idle upstream connections, kept per worker thread, newest first.
//!
//! A connection here belongs to no task: the request that takes it out writes and reads it,
//! and its response body puts it back. An idle connection is checked when it is taken out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::task::Context;
use std::time::{Duration, Instant};

use super::conn::Conn;

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

    /// The most recently used connection that is still open and has nothing unread.
    /// Reading each candidate once is what notices that the app closed it meanwhile.
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
            if conn.still_open(cx) {
                return Some(conn);
            }
        }
    }

    /// Keeps a connection whose last exchange is complete. One with bytes left over is
    /// dropped: they would be read as the answer to the next request.
    pub fn checkin(&self, mut conn: Conn) {
        if !conn.buf.is_empty() || self.max_idle == 0 {
            return;
        }
        conn.shrink();
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
        idle.push_back(conn);
    }

    /// Idle connections on this thread.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.idle.get().map_or(0, |q| q.borrow().len())
    }
}
