//! A guest's stdout or stderr, captured in memory up to a stated limit per
//! call (`[guest] output_limit`), and what happened when a call wrote more.
//!
//! wasmtime-wasi's `MemoryOutputPipe` keeps everything a store ever wrote
//! and, past its capacity, answers the guest with an error the guest turns
//! into whatever it likes (a Rust program panics: `wasm trap: unreachable`),
//! with nothing left to say it was the capture. This pipe counts what a call
//! wrote, keeps it up to the limit, refuses the rest the same way, and
//! remembers how many bytes it refused, so the fault can name the limit, the
//! bytes written and the key to raise. Taking a call's output
//! ([`CapturePipe::take`]) empties it: the limit is per call, also in a
//! sandbox that serves many.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// What one stream holds since its output was last taken.
#[derive(Debug, Default)]
struct Held {
    bytes: Vec<u8>,
    /// Bytes the guest tried to write past the limit.
    refused: u64,
}

/// One captured stream. Clones share the buffer (the WASI context holds one,
/// the store's [`super::Output`] the other).
#[derive(Clone, Debug)]
pub struct CapturePipe {
    limit: usize,
    held: Arc<Mutex<Held>>,
}

/// A call's captured output, taken from the pipe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taken {
    /// What the call wrote, up to the limit.
    pub bytes: Vec<u8>,
    /// Bytes it tried to write past the limit (0: all of it was kept).
    pub refused: u64,
}

impl CapturePipe {
    /// An empty pipe keeping up to `limit` bytes per call.
    pub fn new(limit: usize) -> CapturePipe {
        CapturePipe {
            limit,
            held: Arc::new(Mutex::new(Held::default())),
        }
    }

    /// The per-call limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything written since the last take, and empties the pipe.
    pub fn take(&self) -> Taken {
        let mut h = self.held();
        Taken {
            bytes: std::mem::take(&mut h.bytes),
            refused: std::mem::take(&mut h.refused),
        }
    }

    /// Bytes refused since the last take (without taking anything).
    pub fn refused(&self) -> u64 {
        self.held().refused
    }

    /// Keeps what fits of `buf`; returns how much was kept, counting the
    /// rest as refused.
    fn keep(&self, buf: &[u8]) -> usize {
        let mut h = self.held();
        let room = self.limit.saturating_sub(h.bytes.len());
        let n = buf.len().min(room);
        h.bytes.extend_from_slice(&buf[..n]);
        h.refused += (buf.len() - n) as u64;
        n
    }

    /// The error a refused write gets: the guest sees a failed write.
    fn refusal(&self) -> String {
        format!(
            "pooling-lab's output capture is full ([guest] output_limit = {} bytes per call)",
            self.limit
        )
    }
}

impl IsTerminal for CapturePipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturePipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturePipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturePipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        if self.keep(&bytes) < bytes.len() {
            return Err(StreamError::trap(&self.refusal()));
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        let used = self.held().bytes.len();
        if used < self.limit {
            Ok(self.limit - used)
        } else {
            // As MemoryOutputPipe: a full pipe is closed, so a guest that
            // asks before writing never waits for room that cannot come.
            self.held().refused += 1;
            Err(StreamError::Closed)
        }
    }
}

impl tokio::io::AsyncWrite for CapturePipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let kept = self.keep(buf);
        if kept == 0 && !buf.is_empty() {
            return Poll::Ready(Err(io::Error::other(self.refusal())));
        }
        Poll::Ready(Ok(kept))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A bounded, escaped excerpt of captured bytes for a message: text (valid
/// UTF-8 without control characters other than newline and tab) is shown
/// with newlines as `\n` and cut to `max` characters; anything else as hex
/// of its first `max / 2` bytes. Either way it says how long the whole was,
/// and it never holds a raw control byte (a Markdown table or a terminal
/// stays intact).
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let total = bytes.len();
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    match text {
        Some(t) => {
            let shown: String = t.chars().take(max).collect();
            let escaped = shown.escape_debug().to_string().replace('|', "\\|");
            if shown.len() < t.len() {
                format!("\"{escaped}\"... ({total} bytes)")
            } else {
                format!("\"{escaped}\"")
            }
        }
        None => {
            let n = total.min(max / 2);
            let hex: String = bytes[..n].iter().map(|b| format!("{b:02x}")).collect();
            let more = if n < total { "..." } else { "" };
            format!("hex {hex}{more} ({total} bytes, binary)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_keeps_up_to_the_limit_and_counts_what_it_refused() {
        let p = CapturePipe::new(10);
        assert_eq!(p.keep(b"hello "), 6);
        assert_eq!(p.keep(b"world!"), 4);
        assert_eq!(p.refused(), 2);
        let t = p.take();
        assert_eq!(t.bytes, b"hello worl");
        assert_eq!(t.refused, 2);
        // Taking empties it: the next call has the whole limit again.
        assert_eq!(p.keep(b"0123456789"), 10);
        assert_eq!(p.take().refused, 0);
    }

    #[test]
    fn a_p2_write_past_the_limit_fails_and_a_full_pipe_is_closed() {
        let mut p = CapturePipe::new(4);
        assert!(OutputStream::write(&mut p, bytes::Bytes::from_static(b"abc")).is_ok());
        assert_eq!(p.check_write().unwrap(), 1);
        assert!(OutputStream::write(&mut p, bytes::Bytes::from_static(b"de")).is_err());
        assert!(matches!(p.check_write(), Err(StreamError::Closed)));
        assert!(p.refused() >= 1);
    }

    #[test]
    fn an_excerpt_escapes_text_and_shows_binary_as_hex_bounded() {
        assert_eq!(excerpt(b"a|b\nc", 80), "\"a\\|b\\nc\"");
        let long = "x".repeat(500);
        let e = excerpt(long.as_bytes(), 10);
        assert_eq!(e, format!("\"{}\"... (500 bytes)", "x".repeat(10)));
        let png = [0x89u8, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0];
        assert_eq!(excerpt(&png, 8), "hex 89504e47... (10 bytes, binary)");
        // Text with a NUL is binary.
        assert!(excerpt(b"ab\0", 80).starts_with("hex 616200"));
    }
}
