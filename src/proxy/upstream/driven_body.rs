//! An app's response body that drives its own upstream connection while it is read, and
//! returns the connection to the pool the moment the last byte has been taken.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use super::pool::{Conn, Pool};

pub struct DrivenBody {
    inner: Incoming,
    /// `None` once the connection ended or went back to the pool.
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl DrivenBody {
    pub fn new(inner: Incoming, conn: Conn, pool: Arc<Pool>) -> Self {
        Self {
            inner,
            conn: Some(conn),
            pool,
        }
    }

    fn finish(&mut self, cx: &mut Context<'_>) {
        if let Some(conn) = self.conn.take() {
            self.pool.finish(conn, cx);
        }
    }
}

impl HttpBody for DrivenBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        // Read from the socket into the body channel, then take what arrived. A connection
        // that ended has handed over all it read, or an error the body reports.
        if let Some(conn) = &mut this.conn
            && conn.drive(cx)
        {
            this.conn = None;
        }
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        match &frame {
            // hyper stops asking for frames once a body of known length is complete, so
            // the end is recognised here, not only at `None`.
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.finish(cx),
            Poll::Ready(None) => this.finish(cx),
            // A broken body leaves the connection in an unknown state: it is not reused.
            Poll::Ready(Some(Err(_))) => this.conn = None,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
