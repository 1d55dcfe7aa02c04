//! Bodies on a connection to an app: the request body written out (as sent, or chunked),
//! and the response body read as the client takes it, the connection going back to the pool
//! the moment its last byte is taken.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::AsyncWrite;

use super::conn::{Conn, Stream};
use super::head::{MAX_HEAD_BYTES, RequestFraming, ResponseFraming};
use super::pool::Pool;
use crate::response::{Body, BoxError};

/// Why writing the request stopped.
pub enum WriteError {
    /// The client's body failed (it went away, or passed the app's size limit).
    Body(BoxError),
    /// The socket to the app failed.
    Io(io::Error),
}

/// The request head and body on their way to the app.
pub struct RequestWriter {
    head: Bytes,
    body: Body,
    chunked: bool,
    /// Bytes the declared length still allows.
    declared: Option<u64>,
    queue: VecDeque<Bytes>,
    /// The body has ended, and its end (for chunked) is queued.
    body_done: bool,
    /// Bytes written so far on this connection.
    written: usize,
}

impl RequestWriter {
    pub fn new(head: Bytes, body: Body, framing: RequestFraming) -> Self {
        let (declared, body_done) = match framing {
            RequestFraming::NoBody | RequestFraming::Length(0) => (Some(0), true),
            RequestFraming::Length(n) => (Some(n), false),
            RequestFraming::Chunked => (None, false),
        };
        Self {
            queue: VecDeque::from([head.clone()]),
            head,
            body,
            chunked: framing == RequestFraming::Chunked,
            declared,
            body_done,
            written: 0,
        }
    }

    /// Whether the app cannot have seen a whole request head yet. The body is taken from the
    /// client only after the head went out, so the request can still go again elsewhere.
    pub fn head_unwritten(&self) -> bool {
        self.written < self.head.len()
    }

    /// Starts over, for another connection.
    pub fn restart(&mut self) {
        self.queue.clear();
        self.queue.push_back(self.head.clone());
        self.written = 0;
    }

    /// Writes what it can; `Ready(Ok(()))` once the whole request is out.
    pub fn poll_write(
        &mut self,
        io: &mut Stream,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), WriteError>> {
        loop {
            while !self.queue.is_empty() {
                let n = ready!(write_some(io, &self.queue, cx)).map_err(WriteError::Io)?;
                if n == 0 {
                    return Poll::Ready(Err(WriteError::Io(io::ErrorKind::WriteZero.into())));
                }
                advance(&mut self.queue, n);
                self.written += n;
            }
            if self.body_done {
                return Pin::new(io).poll_flush(cx).map_err(WriteError::Io);
            }
            // Whatever went out waits in no buffer of ours while the client sends more.
            let _ = Pin::new(&mut *io).poll_flush(cx);
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    if self.declared.is_some_and(|left| left > 0) {
                        return Poll::Ready(Err(WriteError::Body(
                            "request body ended early".into(),
                        )));
                    }
                    if self.chunked {
                        self.queue.push_back(Bytes::from_static(b"0\r\n\r\n"));
                    }
                    self.body_done = true;
                }
                Some(Err(e)) => return Poll::Ready(Err(WriteError::Body(e))),
                Some(Ok(frame)) => {
                    // Trailers are not passed on: HTTP/1.1 apps rarely read them.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    if let Some(left) = &mut self.declared {
                        *left = left.checked_sub(data.len() as u64).ok_or_else(|| {
                            WriteError::Body("request body longer than declared".into())
                        })?;
                    }
                    if self.chunked {
                        self.queue
                            .push_back(Bytes::from(format!("{:x}\r\n", data.len())));
                        self.queue.push_back(data);
                        self.queue.push_back(Bytes::from_static(b"\r\n"));
                    } else {
                        self.queue.push_back(data);
                    }
                }
            }
        }
    }
}

/// Writes from the front of `queue`, several pieces in one call where the socket takes them.
fn write_some(
    io: &mut Stream,
    queue: &VecDeque<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if queue.len() > 1 && io.is_write_vectored() {
        let mut slices = [io::IoSlice::new(&[]); 8];
        let mut n = 0;
        for (slot, b) in slices.iter_mut().zip(queue) {
            *slot = io::IoSlice::new(b);
            n += 1;
        }
        return Pin::new(io).poll_write_vectored(cx, &slices[..n]);
    }
    match queue.front() {
        Some(b) => Pin::new(io).poll_write(cx, b),
        None => Poll::Ready(Ok(0)),
    }
}

fn advance(queue: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = queue.front_mut() else {
            return;
        };
        let take = n.min(front.len());
        front.advance(take);
        n -= take;
        if front.is_empty() {
            queue.pop_front();
        }
    }
}

/// Where a response body is in its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Done,
}

/// One step of decoding the buffer.
enum Step {
    Data(Bytes),
    NeedMore,
    End,
}

/// An app's response body, read from its connection as the client takes it.
pub struct ResponseBody {
    /// `None` once the body ended, failed or its connection went back to the pool.
    conn: Option<Conn>,
    decode: Decode,
    /// The connection may carry another request after this body.
    reusable: bool,
    pool: Arc<Pool>,
}

impl ResponseBody {
    pub fn new(conn: Conn, framing: ResponseFraming, reusable: bool, pool: Arc<Pool>) -> Self {
        let decode = match framing {
            ResponseFraming::Empty => Decode::Done,
            ResponseFraming::Length(n) => Decode::Length(n),
            ResponseFraming::Chunked => Decode::ChunkSize,
            ResponseFraming::UntilClose => Decode::UntilClose,
        };
        Self {
            conn: Some(conn),
            decode,
            reusable,
            pool,
        }
    }

    /// The body is complete: its connection goes back to the pool if it can.
    fn finish(&mut self) {
        self.decode = Decode::Done;
        if let Some(conn) = self.conn.take()
            && self.reusable
        {
            self.pool.checkin(conn);
        }
    }

    /// Takes the next piece of body out of `conn.buf`.
    fn step(&mut self, conn: &mut Conn) -> Result<Step, BoxError> {
        let buf = &mut conn.buf;
        loop {
            match self.decode {
                Decode::Done => return Ok(Step::End),
                Decode::Length(left) | Decode::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.decode = match (self.decode, left) {
                        (Decode::Length(_), 0) => Decode::Done,
                        (Decode::Length(_), _) => Decode::Length(left),
                        (_, 0) => Decode::ChunkEnd,
                        _ => Decode::ChunkData(left),
                    };
                    return Ok(Step::Data(data));
                }
                Decode::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Decode::ChunkSize => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((len, size))) => {
                        buf.advance(len);
                        self.decode = if size == 0 {
                            Decode::Trailers
                        } else {
                            Decode::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {
                        return Ok(Step::NeedMore);
                    }
                    _ => return Err("app response: bad chunk size".into()),
                },
                Decode::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("app response: chunk not ended by CRLF".into());
                    }
                    buf.advance(2);
                    self.decode = Decode::ChunkSize;
                }
                Decode::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; 32];
                    match httparse::parse_headers(buf, &mut fields) {
                        Ok(httparse::Status::Complete((len, _))) => {
                            buf.advance(len);
                            self.decode = Decode::Done;
                        }
                        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {
                            return Ok(Step::NeedMore);
                        }
                        _ => return Err("app response: bad trailers".into()),
                    }
                }
            }
        }
    }
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(mut conn) = this.conn.take() else {
                return Poll::Ready(None);
            };
            let step = this.step(&mut conn);
            this.conn = Some(conn);
            match step {
                Err(e) => {
                    // A broken body leaves the connection in an unknown state: closed.
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(Step::Data(data)) => {
                    // hyper stops asking once a body of known length is complete: the
                    // connection goes back now, not at a `None` nobody asks for.
                    if this.decode == Decode::Done {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Step::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => {}
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if this.decode == Decode::UntilClose => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err("app closed the connection mid-body".into())));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decode == Decode::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.decode {
            Decode::Length(left) => SizeHint::with_exact(left),
            Decode::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use http_body_util::BodyExt;

    /// The body of `wire` (what follows the head) under `framing`, and whether the
    /// connection went back to the pool. A connected socket pair stands in for the app.
    async fn read(framing: ResponseFraming, wire: &[u8]) -> (Result<Vec<u8>, String>, usize) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (_server, _) = listener.accept().await.expect("accept");
        let mut conn = Conn::new(Stream::Plain(client));
        conn.buf = BytesMut::from(wire);
        let pool = Arc::new(Pool::new(4, std::time::Duration::from_secs(60)));
        let mut body = ResponseBody::new(conn, framing, true, pool.clone());
        let mut out = Vec::new();
        let result = loop {
            match body.frame().await {
                None => break Ok(out),
                Some(Ok(f)) => out.extend_from_slice(&f.into_data().unwrap_or_default()),
                Some(Err(e)) => break Err(e.to_string()),
            }
            if body.is_end_stream() {
                break Ok(out);
            }
        };
        (result, pool.idle_count())
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_and_their_connection_kept() {
        let (body, idle) = read(
            ResponseFraming::Chunked,
            b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nx-trailer: 1\r\n\r\n",
        )
        .await;
        assert_eq!(body.expect("body"), b"hello!");
        assert_eq!(idle, 1);
        let (body, idle) = read(ResponseFraming::Length(3), b"abc").await;
        assert_eq!(body.expect("body"), b"abc");
        assert_eq!(idle, 1);
    }

    #[tokio::test]
    async fn broken_chunking_is_an_error_and_the_connection_dropped() {
        for wire in [
            &b"5\r\nhelloXX0\r\n\r\n"[..],
            b"zz\r\nhello\r\n",
            b"ffffffffffffffffffff\r\n",
        ] {
            let (body, idle) = read(ResponseFraming::Chunked, wire).await;
            assert!(body.is_err(), "{wire:?}");
            assert_eq!(idle, 0);
        }
    }

    #[tokio::test]
    async fn bytes_after_the_body_keep_the_connection_out_of_the_pool() {
        let (body, idle) = read(ResponseFraming::Chunked, b"1\r\na\r\n0\r\n\r\nHTTP/1.1 200").await;
        assert_eq!(body.expect("body"), b"a");
        assert_eq!(
            idle, 0,
            "unasked-for bytes would be read as the next response"
        );
    }
}
