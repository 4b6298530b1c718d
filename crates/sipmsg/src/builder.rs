//! Printing messages: a small writer that appends lines to one buffer.

use std::fmt;
use std::io::Write as _;

use crate::{HeaderName, Message, Method};

/// Builds a request or response into one `Vec<u8>`.
///
/// Headers are written in the order they are added; [`MessageBuilder::finish`] adds
/// `Content-Length` and the body. The builder never validates what it is given: the
/// caller owns correctness, and the property tests check that what it prints parses.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    /// Starts a request: `METHOD uri SIP/2.0`.
    pub fn request(method: Method<'_>, uri: &str) -> Self {
        let mut buf = Vec::with_capacity(512);
        let _ = write!(buf, "{} {} SIP/2.0\r\n", method.as_str(), uri);
        Self { buf }
    }

    /// Starts a response: `SIP/2.0 code reason`.
    pub fn response(code: u16, reason: &str) -> Self {
        let mut buf = Vec::with_capacity(512);
        let _ = write!(buf, "SIP/2.0 {code} {reason}\r\n");
        Self { buf }
    }

    /// Starts a response to `request`, copying its Via values, From, To, Call-ID and
    /// CSeq (RFC 3261 section 8.2.6.2). `to_tag` is added to To when To has no tag.
    /// `stamp` records where the request really came from in the topmost Via
    /// (RFC 3261 section 18.2.1 `received`, RFC 3581 `rport`).
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "header names are an open set: every header not named takes the default"
    )]
    pub fn response_to(
        request: &Message<'_>,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        stamp: &ViaStamp<'_>,
    ) -> Self {
        let mut b = Self::response(code, reason);
        let mut first_via = true;
        for h in request.headers() {
            match h.name {
                HeaderName::Via if first_via => {
                    first_via = false;
                    b.stamped_top_via(h.value, stamp);
                }
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    b.header(h.name.as_str(), h.value);
                }
                HeaderName::To => b.write_to_with_tag(h.value, to_tag),
                _ => {}
            }
        }
        b
    }

    /// Appends `Name: value`.
    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Appends `Name: <formatted value>` without an intermediate `String`.
    pub fn header_fmt(&mut self, name: &str, value: fmt::Arguments<'_>) -> &mut Self {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        let _ = self.buf.write_fmt(value);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Adds Content-Length (and Content-Type when there is a body) and the body; returns the bytes.
    pub fn finish(mut self, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
        if let Some(ct) = content_type.filter(|_| !body.is_empty()) {
            self.header("Content-Type", ct);
        }
        let _ = write!(self.buf, "Content-Length: {}\r\n\r\n", body.len());
        self.buf.extend_from_slice(body);
        self.buf
    }

    fn stamped_top_via(&mut self, value: &str, stamp: &ViaStamp<'_>) {
        let end = value.find(',').unwrap_or(value.len());
        let (first, others) = value.split_at(end);
        let (first, had_rport) = strip_valueless_rport(first);
        self.buf.extend_from_slice(b"Via: ");
        self.buf.extend_from_slice(first.0.as_bytes());
        self.buf.extend_from_slice(first.1.as_bytes());
        if let Some(received) = stamp.received {
            let _ = write!(self.buf, ";received={received}");
        }
        if let (true, Some(port)) = (had_rport, stamp.rport) {
            let _ = write!(self.buf, ";rport={port}");
        }
        self.buf.extend_from_slice(others.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn write_to_with_tag(&mut self, value: &str, tag: Option<&str>) {
        let has_tag = crate::NameAddr::parse(value).is_some_and(|a| a.tag().is_some());
        match tag {
            Some(tag) if !has_tag => {
                self.header_fmt("To", format_args!("{value};tag={tag}"));
            }
            _ => {
                self.header("To", value);
            }
        }
    }
}

/// What the transport saw of a request's source, to be written into the response's
/// topmost Via.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViaStamp<'a> {
    /// Source IP, when it differs from the Via sent-by host.
    pub received: Option<&'a str>,
    /// Source port, written only when the request carried a valueless `rport`.
    pub rport: Option<u16>,
}

/// Removes a valueless `;rport` parameter from one Via value, returning the text before
/// and after it, and whether it was there.
fn strip_valueless_rport(value: &str) -> ((&str, &str), bool) {
    let mut search = 0;
    while let Some(found) = value[search..].find(";rport") {
        let at = search + found;
        let after = at + ";rport".len();
        match value.as_bytes().get(after) {
            None | Some(b';' | b' ' | b'\t' | b'\r' | b'\n') => return ((&value[..at], &value[after..]), true),
            _ => search = after,
        }
    }
    ((value, ""), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Framing;

    #[test]
    fn response_copies_dialog_headers_and_adds_tag() {
        let req = b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\nFrom: <sip:1000@127.0.0.1>;tag=a\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let req = Message::parse(req, Framing::Datagram).expect("valid");
        let bytes = MessageBuilder::response_to(
            &req,
            200,
            "OK",
            Some("srv"),
            &ViaStamp { received: Some("127.0.0.2"), rport: Some(5070) },
        )
        .finish(None, b"");
        let resp = Message::parse(&bytes, Framing::Datagram).expect("what we print parses");
        resp.validate().expect("and validates");
        assert_eq!(resp.status(), Some(200));
        assert_eq!(resp.to().and_then(|t| t.tag()), Some("srv"));
        assert_eq!(resp.top_via().and_then(|v| v.params.get("rport")), Some(Some("5070")));
        assert_eq!(resp.top_via().and_then(|v| v.params.get("received")), Some(Some("127.0.0.2")));
        assert_eq!(resp.top_via().and_then(|v| v.branch()), Some("z9hG4bK1"));
        assert_eq!(resp.values(HeaderName::Via).count(), 2);
        assert_eq!(resp.cseq().map(|c| c.seq), Some(7));
    }
}
