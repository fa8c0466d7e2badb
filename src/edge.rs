//! The HTTP server's outer defences, which poem 3.1 does not offer: it builds hyper's
//! connection itself without a timer, so hyper's own header read timeout never runs, and it
//! exposes no header size limit below hyper's ~400 KiB buffer.
//!
//! - [`HeaderTimeoutAcceptor`] cuts a connection whose request head (request line and
//!   headers) is not complete within the timeout of its first byte (or of the connection
//!   opening), so a client dribbling one header line every few seconds cannot hold a
//!   connection for ever. HTTP/2 connections (prior knowledge) are left to hyper's h2.
//! - [`HeaderLimits`] answers 431 (problem+json) to a request whose headers, or whose bearer
//!   token, are larger than allowed, before any token is verified.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{http::StatusCode, Endpoint, IntoResponse, Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Wraps an acceptor so each connection must deliver every request head in time.
pub struct HeaderTimeoutAcceptor<A> {
    inner: A,
    timeout: Duration,
}

impl<A> HeaderTimeoutAcceptor<A> {
    /// Request heads on `inner`'s connections must arrive within `timeout`.
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<A: Acceptor> Acceptor for HeaderTimeoutAcceptor<A> {
    type Io = HeaderTimeout<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((HeaderTimeout::new(io, self.timeout), local, remote, scheme))
    }
}

/// Where a connection is in its request/response cycle, as far as the bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading a request head; `newlines` counts consecutive line ends (a blank line ends it).
    Head { newlines: u8 },
    /// The head is in; the body and the response follow.
    Body,
    /// The response started; the next byte read begins the next request head.
    Idle,
    /// HTTP/2 (prior knowledge): binary frames, whose header limits hyper's h2 enforces.
    Http2,
}

/// A connection whose request heads must arrive in time; past the deadline, reads fail
/// with `TimedOut` and hyper closes the connection.
pub struct HeaderTimeout<Io> {
    io: Io,
    timeout: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    first_read: bool,
}

impl<Io> HeaderTimeout<Io> {
    fn new(io: Io, timeout: Duration) -> Self {
        Self {
            io,
            timeout,
            phase: Phase::Head { newlines: 0 },
            deadline: Box::pin(tokio::time::sleep(timeout)),
            first_read: true,
        }
    }

    /// Follows the head through `bytes`, just read.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.first_read) && bytes.starts_with(b"PRI * HTTP/2") {
            self.phase = Phase::Http2;
        }
        if self.phase == Phase::Idle {
            self.phase = Phase::Head { newlines: 0 };
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
        }
        let Phase::Head { mut newlines } = self.phase else {
            return;
        };
        for &byte in bytes {
            match byte {
                b'\n' => newlines += 1,
                b'\r' => {}
                _ => newlines = 0,
            }
            if newlines == 2 {
                self.phase = Phase::Body;
                return;
            }
        }
        self.phase = Phase::Head { newlines };
    }
}

impl<Io> HeaderTimeout<Io> {
    /// Follows the server's answer: once it responds, whatever the client sends next starts
    /// a new head (hyper answers only complete heads, or refuses and closes). A `100
    /// Continue` is no answer: the body follows it.
    fn wrote(&mut self, bytes: &[u8]) {
        match self.phase {
            Phase::Http2 => {}
            Phase::Body if bytes.starts_with(b"HTTP/1.1 1") => {}
            _ => self.phase = Phase::Idle,
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for HeaderTimeout<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if matches!(this.phase, Phase::Head { .. }) && this.deadline.as_mut().poll(cx).is_ready() {
            metrics::counter!("eats_http_header_timeouts_total").increment(1);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.saw(&buf.filled()[before..]);
        }
        polled
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for HeaderTimeout<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.wrote(buf);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Size caps on what a request carries before its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderLimits {
    /// Request line plus all headers, in bytes.
    pub max_header_bytes: usize,
    /// The `Authorization` header's token, in bytes.
    pub max_token_bytes: usize,
}

impl HeaderLimits {
    /// The 431 problem for `request`, if it is over a cap.
    pub fn refuse(&self, request: &Request) -> Option<Response> {
        let token = request
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .map(|value| value.len().saturating_sub("Bearer ".len()))
            .unwrap_or(0);
        if token > self.max_token_bytes {
            return Some(too_large(
                "token-too-large",
                format!(
                    "the bearer token has {token} bytes; at most {} are accepted",
                    self.max_token_bytes
                ),
            ));
        }
        let line = request.method().as_str().len() + request.uri().to_string().len() + 11;
        let headers: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if line + headers > self.max_header_bytes {
            return Some(too_large(
                "headers-too-large",
                format!(
                    "the request line and headers have {} bytes; at most {} are accepted",
                    line + headers,
                    self.max_header_bytes
                ),
            ));
        }
        None
    }

    /// Wraps `endpoint` so requests over a cap are answered with 431 before it runs.
    pub fn around<E>(self, endpoint: E) -> impl Endpoint<Output = Response>
    where
        E: Endpoint + 'static,
    {
        poem::EndpointExt::around(endpoint, move |inner, request| async move {
            if let Some(refused) = self.refuse(&request) {
                return Ok(refused);
            }
            inner.call(request).await.map(IntoResponse::into_response)
        })
    }
}

fn too_large(slug: &'static str, detail: String) -> Response {
    metrics::counter!("eats_http_headers_too_large_total", "kind" => slug).increment(1);
    let problem = eats_api::Problem::new(
        eats_api::ProblemKind {
            status: 431,
            slug,
            title: "Request header fields too large",
            field: None,
        },
        detail,
    );
    let mut response = poem::web::Json(problem).into_response();
    response.set_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    response.headers_mut().insert(
        poem::http::header::CONTENT_TYPE,
        poem::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_head_ends_at_the_first_blank_line_with_or_without_carriage_returns() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\n\n",
        ] {
            let mut io = HeaderTimeout::new(tokio::io::empty(), Duration::from_secs(1));
            let (first, rest) = head.split_at(9);
            io.saw(first);
            assert!(matches!(io.phase, Phase::Head { .. }));
            io.saw(rest);
            assert_eq!(io.phase, Phase::Body);
        }
    }

    #[tokio::test]
    async fn a_body_after_100_continue_is_not_taken_for_the_next_head() {
        let mut io = HeaderTimeout::new(tokio::io::empty(), Duration::from_secs(1));
        io.saw(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        io.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        io.saw(b"{\"reason\": \"late\"}");
        assert_eq!(io.phase, Phase::Body);
        io.wrote(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(io.phase, Phase::Idle);
        io.saw(b"GET / HTTP/1.1\r\n");
        assert!(matches!(io.phase, Phase::Head { .. }));
    }

    #[tokio::test]
    async fn http2_prior_knowledge_is_left_to_hyper() {
        let mut io = HeaderTimeout::new(tokio::io::empty(), Duration::from_secs(1));
        io.saw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00");
        assert_eq!(io.phase, Phase::Http2);
    }
}
