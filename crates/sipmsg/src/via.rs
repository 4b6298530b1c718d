//! Via header values (RFC 3261 section 20.42).

use crate::lex::{is_lws, is_token};
use crate::Params;

/// The RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The transport token (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...), as written.
    pub transport: &'a str,
    /// sent-by host.
    pub host: &'a str,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// via-params.
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parses one Via value. LWS is allowed around the `/` separators and before `;`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut cur = Cursor { s, i: 0 };
        cur.skip_lws();
        if !cur.take_token()?.eq_ignore_ascii_case("SIP") {
            return None;
        }
        cur.expect(b'/')?;
        if cur.take_token()? != "2.0" {
            return None;
        }
        cur.expect(b'/')?;
        let transport = cur.take_token()?;
        cur.skip_lws();
        let rest = &s[cur.i..];
        let end = rest.find(';').unwrap_or(rest.len());
        let sent_by = rest[..end].trim_end_matches(|c: char| c.is_ascii() && is_lws(c as u8));
        let (host, port) = parse_sent_by(sent_by)?;
        let params = Params(rest.get(end + 1..).unwrap_or(""));
        if end < rest.len() && !params.check() {
            return None;
        }
        Some(Self { transport, host, port, params })
    }

    /// The branch parameter, if present with a value.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// True when the sender asked for symmetric response routing (RFC 3581 `rport`).
    pub fn has_rport(&self) -> bool {
        self.params.contains("rport")
    }

    /// True for a transport that is not reliable (UDP), so timers retransmit.
    pub fn is_unreliable(&self) -> bool {
        self.transport.eq_ignore_ascii_case("UDP")
    }
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn skip_lws(&mut self) {
        let bytes = self.s.as_bytes();
        while self.i < bytes.len() && is_lws(bytes[self.i]) {
            self.i += 1;
        }
    }

    fn take_token(&mut self) -> Option<&'a str> {
        self.skip_lws();
        let bytes = self.s.as_bytes();
        let start = self.i;
        while self.i < bytes.len() && is_token(bytes[self.i]) {
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.skip_lws();
        (self.s.as_bytes().get(self.i) == Some(&b)).then(|| self.i += 1)
    }
}

fn parse_sent_by(s: &str) -> Option<(&str, Option<u16>)> {
    if s.is_empty() || s.bytes().any(|b| is_lws(b) || b == b',') {
        return None;
    }
    let uri_like = crate::Uri::parse_host_port(s)?;
    Some(uri_like)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;rport;branch=390skdjuw").expect("valid");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(v.has_rport());
    }

    #[test]
    fn port_and_received() {
        let v = Via::parse("SIP/2.0/TCP host.example.com:5061;received=192.0.2.5;branch=z9hG4bKx").expect("valid");
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.params.get("received"), Some(Some("192.0.2.5")));
    }

    #[test]
    fn malformed_vias_are_refused() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_none());
        assert!(Via::parse("SIP/3.0/UDP host").is_none());
        assert!(Via::parse("SIP/2.0/UDP").is_none());
        assert!(Via::parse("").is_none());
        assert!(Via::parse("SIP/2.0/UDP host:70000").is_none());
    }
}
