//! Noticing a client that hangs up while its response is still streaming.
//!
//! hyper (under poem) learns that an HTTP/1 client has gone only when it next writes to the
//! socket, so a live stream with nothing to send would hold its slot, its follower and its
//! connection until the next heartbeat. This acceptor's sockets also watch for the peer's
//! FIN each time hyper flushes: the flush fails, hyper ends the connection and drops the
//! response stream at once. A client that half-closes (shuts its sending side while still
//! reading) is treated as gone, as hyper itself does by default.
//!
//! Its sockets also send without Nagle's delay (`TCP_NODELAY`; poem's acceptor leaves it
//! off). A live stream writes small events one at a time; with Nagle's algorithm an event
//! written while the one before is unacknowledged waits for the client's delayed ACK, up to
//! 40 ms. A rider's jobs stream showed a new job 25-30 ms late at any load that way: the
//! stream's first snapshot and the job arrived together.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Wraps a TCP acceptor so every connection notices a hang-up within one wake-up.
pub struct HangupAware<A>(pub A);

impl<A: Acceptor<Io = TcpStream>> Acceptor for HangupAware<A> {
    type Io = HangupStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        if let Err(error) = io.set_nodelay(true) {
            // The connection still works, its small writes only later: serve it.
            tracing::warn!(%error, %remote, "could not turn off Nagle's algorithm on a connection");
        }
        Ok((HangupStream(io), local, remote, scheme))
    }
}

/// A TCP connection whose flush fails once the peer has closed its side.
pub struct HangupStream(TcpStream);

impl AsyncRead for HangupStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for HangupStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    /// Peeks one byte without consuming it: end of stream means the client left. When
    /// nothing has arrived, the peek registers this task for readability, so the FIN wakes
    /// hyper, whose next flush lands here and fails.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut probe = [0_u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        match self.0.poll_peek(cx, &mut probe) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
            Poll::Ready(Err(reset)) => return Poll::Ready(Err(reset)),
            // Bytes waiting (a pipelined request) or nothing yet: the client is still there.
            Poll::Ready(Ok(_)) | Poll::Pending => {}
        }
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use poem::listener::{Listener, TcpListener};

    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_nagles_delay() {
        let mut acceptor = HangupAware(
            TcpListener::bind("127.0.0.1:0")
                .into_acceptor()
                .await
                .expect("bind"),
        );
        let addr = *acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("a socket address");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (accepted, ..) = acceptor.accept().await.expect("accept");
        assert!(accepted.0.nodelay().expect("read TCP_NODELAY"));
    }
}
