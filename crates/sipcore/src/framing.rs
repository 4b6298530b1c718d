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
///
/// Bytes that trickle in cost linear work: the search for the end of the head resumes
/// where it stopped, and once the head is there the message is parsed again only when
/// its whole body (by Content-Length) has arrived.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    consumed: usize,
    limits: Limits,
    /// Bytes of the pending message already searched for the end of its head.
    scanned: usize,
    /// The pending message's whole length, once its head is known.
    wanted: Option<usize>,
    /// Full parses tried so far (the work trickling bytes could multiply).
    parses: u64,
}

impl StreamFramer {
    /// A framer with custom limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self { buf: Vec::new(), consumed: 0, limits, scanned: 0, wanted: None, parses: 0 }
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
        if self.scanned == 0 {
            let pending = &self.buf[self.consumed..];
            self.consumed += pending.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        }
        let pending = &self.buf[self.consumed..];
        if pending.is_empty() || !self.complete_enough(pending.len()) {
            return Ok(None);
        }
        self.parses += 1;
        match Message::parse_with(&self.buf[self.consumed..], Framing::Stream, &self.limits) {
            Ok(m) => {
                let len = m.as_bytes().len();
                let start = self.consumed;
                self.consumed += len;
                (self.scanned, self.wanted) = (0, None);
                Ok(Some(&self.buf[start..start + len]))
            }
            Err(ParseError::Incomplete) => {
                // Our Content-Length reading and the parser's disagree: wait for more.
                let len = self.buf.len() - self.consumed;
                self.wanted = Some(self.wanted.map_or(len, |w| w.max(len)) + 1);
                Ok(None)
            }
            Err(e) => Err(StreamError::Malformed(e)),
        }
    }

    /// True when the pending message may be whole: its head has ended and its body is
    /// in, or it is already too long (the parser then says why).
    fn complete_enough(&mut self, len: usize) -> bool {
        if len >= self.limits.max_message {
            return true;
        }
        if let Some(wanted) = self.wanted {
            return len >= wanted;
        }
        let pending = &self.buf[self.consumed..];
        let from = self.scanned.saturating_sub(3);
        let Some(at) = memchr::memmem::find(&pending[from..], b"\r\n\r\n") else {
            self.scanned = len;
            return false;
        };
        let body_start = from + at + 4;
        self.scanned = body_start;
        self.wanted = Some(body_start + content_length(&pending[..body_start]));
        self.wanted.is_some_and(|w| len >= w)
    }

    /// Takes every buffered byte not yet returned (after a framing error, to answer it).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.consumed);
        self.buf.clear();
        (self.consumed, self.scanned, self.wanted) = (0, 0, None);
        rest
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }
}

/// The Content-Length (or `l`) value of a head, 0 if absent or unreadable (the parser
/// has the last word once the bytes are in).
fn content_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .skip(1)
        .find_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = line[..colon].trim_ascii();
            if !name.eq_ignore_ascii_case(b"content-length") && !name.eq_ignore_ascii_case(b"l") {
                return None;
            }
            std::str::from_utf8(line[colon + 1..].trim_ascii()).ok()?.parse::<usize>().ok()
        })
        .unwrap_or(0)
        .min(1 << 20)
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
    fn bytes_trickling_in_one_at_a_time_are_scanned_once() {
        let body = vec![b'x'; 20_000];
        let mut msg = MSG[..MSG.len() - b"Content-Length: 3\r\n\r\nabc".len()].to_vec();
        msg.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        msg.extend_from_slice(&body);
        let mut f = StreamFramer::default();
        let mut framed = 0;
        for b in &msg {
            f.push(std::slice::from_ref(b));
            if let Some(m) = f.next_message().expect("frames") {
                assert_eq!(m, &msg[..]);
                framed += 1;
            }
        }
        assert_eq!(framed, 1);
        assert_eq!(f.parses, 1, "parsed once, when the last byte of the body came");
        assert_eq!(f.buffered(), 0);
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
