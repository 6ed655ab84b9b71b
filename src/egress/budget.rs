//! A byte budget on what one connection may read from a target. A server decides
//! how much it sends (rows without end, a message header claiming gigabytes that it
//! then fills); the drivers read what they are sent. Reading stops at the budget,
//! with an error naming it, and the job fails instead of the worker's memory.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one connection reads unless the operator says otherwise.
pub const DEFAULT_READ_BUDGET_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug)]
pub struct Budgeted<S> {
    inner: S,
    left: usize,
    limit: usize,
}

impl<S> Budgeted<S> {
    pub fn new(inner: S, limit: usize) -> Budgeted<S> {
        Budgeted {
            inner,
            left: limit,
            limit,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The same budget over a wrapper of the stream.
    pub fn map<T>(self, wrap: impl FnOnce(S) -> T) -> Budgeted<T> {
        Budgeted {
            inner: wrap(self.inner),
            left: self.left,
            limit: self.limit,
        }
    }
}

/// The error a driver reports when a budget runs out.
pub fn exhausted(limit: usize) -> io::Error {
    io::Error::other(format!(
        "the server sent more than {limit} bytes on one connection, the limit (target_read_max_bytes)"
    ))
}

impl<S: AsyncRead + Unpin> AsyncRead for Budgeted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(exhausted(self.limit)));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = buf.filled().len() - before;
            self.left = self.left.saturating_sub(read);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Budgeted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reading_stops_at_the_budget_with_an_error_naming_it() {
        let data = vec![7u8; 10_000];
        let mut b = Budgeted::new(&data[..], 4096);
        let mut out = Vec::new();
        let e = b.read_to_end(&mut out).await.unwrap_err();
        assert!(e.to_string().contains("target_read_max_bytes"), "{e}");
        assert!(out.len() <= 4096 + 8192, "{}", out.len());
        let mut small = Budgeted::new(&data[..100], 4096);
        let mut out = Vec::new();
        small.read_to_end(&mut out).await.unwrap();
        assert_eq!(out.len(), 100);
    }
}
