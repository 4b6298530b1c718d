//! Content-Length framing of SIP over a byte stream (RFC 3261 section 18.3).

use sipmsg::{Framing, Limits, Message, ParseError};

/// A framing failure on a stream. The connection cannot be resynchronised after
/// one, so the shell answers (if it can) and closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The buffered bytes are not a SIP message.
    #[error("stream framing failed: {0}")]
    Malformed(ParseError),
}

/// Accumulates bytes from one stream connection and yields whole messages.
///
/// ```
/// use sipcore::StreamFramer;
/// let mut framer = StreamFramer::default();
/// framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n");
/// assert!(framer.next_message().unwrap().is_none()); // need more bytes
/// framer.push(b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
/// assert!(framer.next_message().unwrap().is_some());
/// ```
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    consumed: usize,
    limits: Limits,
}

impl StreamFramer {
    /// A framer with custom limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self { buf: Vec::new(), consumed: 0, limits }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, as bytes, or `None` when more bytes are needed.
    /// Keep-alive CRLFs between messages are consumed silently.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, StreamError> {
        let pending = &self.buf[self.consumed..];
        let skip = pending.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        self.consumed += skip;
        let pending = &self.buf[self.consumed..];
        if pending.is_empty() {
            return Ok(None);
        }
        match Message::parse_with(pending, Framing::Stream, &self.limits) {
            Ok(m) => {
                let len = m.as_bytes().len();
                let start = self.consumed;
                self.consumed += len;
                Ok(Some(&self.buf[start..start + len]))
            }
            Err(ParseError::Incomplete) => Ok(None),
            Err(e) => Err(StreamError::Malformed(e)),
        }
    }

    /// Takes every buffered byte not yet returned (after a framing error, to answer it).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.consumed);
        self.buf.clear();
        self.consumed = 0;
        rest
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn messages_split_at_every_byte_are_reassembled() {
        for cut in 0..MSG.len() {
            let mut f = StreamFramer::default();
            f.push(&MSG[..cut]);
            assert_eq!(f.next_message(), Ok(None), "cut {cut}");
            f.push(&MSG[cut..]);
            f.push(b"\r\n");
            f.push(MSG);
            assert_eq!(f.next_message(), Ok(Some(MSG)));
            assert_eq!(f.next_message(), Ok(Some(MSG)));
            assert_eq!(f.next_message(), Ok(None));
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn garbage_is_a_framing_error() {
        let mut f = StreamFramer::default();
        f.push(b"HELLO\r\n\r\n");
        assert!(f.next_message().is_err());
        let mut f = StreamFramer::default();
        f.push(&vec![b'a'; 70_000]);
        assert!(f.next_message().is_err());
    }
}
