//! Building responses: from a parsed request, or statelessly from the raw bytes of a
//! request too malformed to parse (so the sender still learns what was wrong).

use std::io::Write as _;
use std::net::SocketAddr;

use sipmsg::{HeaderName, Message, Via, ViaStamp};

/// What the transport saw of `source`, for the response's top Via
/// (RFC 3261 section 18.2.1 `received`, RFC 3581 `rport`).
pub(crate) fn stamp_for(via: Option<&Via<'_>>, source: SocketAddr, ip_text: &mut String) -> (bool, Option<u16>) {
    ip_text.clear();
    let _ = std::fmt::Write::write_fmt(ip_text, format_args!("{}", source.ip()));
    let Some(via) = via else { return (false, None) };
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let differs = host != ip_text.as_str();
    let rport = via.has_rport().then_some(source.port());
    (differs || rport.is_some(), rport)
}

/// Builds our answer `status` to `req` with the node's To tag and the Via stamp.
pub(crate) fn reply_with(
    req: &Message<'_>,
    status: crate::Status,
    tag: &str,
    source: SocketAddr,
) -> sipmsg::MessageBuilder {
    let (code, reason) = status.wire();
    response(req, code, reason, tag, source)
}

/// Builds a response to `req` with the node's To tag and the Via stamp; `code` and
/// `reason` as given (a relayed answer keeps the callee's reason phrase).
pub(crate) fn response(
    req: &Message<'_>,
    code: u16,
    reason: &str,
    tag: &str,
    source: SocketAddr,
) -> sipmsg::MessageBuilder {
    let mut ip = String::with_capacity(40);
    let via = req.top_via();
    let (received, rport) = stamp_for(via.as_ref(), source, &mut ip);
    let stamp = ViaStamp { received: received.then_some(ip.as_str()), rport };
    let tag = (code > 100).then_some(tag);
    sipmsg::MessageBuilder::response_to(req, code, reason, tag, &stamp)
}

/// A 4xx for bytes that did not parse as a message, built from whatever Via, From, To,
/// Call-ID and CSeq lines can be found. `None` for responses, ACKs, and requests
/// without a Via (nowhere to send the answer).
pub(crate) fn stateless_reject(bytes: &[u8], code: u16, reason: &str, tag: &str) -> Option<Vec<u8>> {
    stateless_reject_with(bytes, code, reason, tag, "")
}

/// [`stateless_reject`] with `extra` header lines (each ending in CRLF) before the end.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "header names are an open set: every header not named takes the default"
)]
pub(crate) fn stateless_reject_with(bytes: &[u8], code: u16, reason: &str, tag: &str, extra: &str) -> Option<Vec<u8>> {
    let head_end = memchr_crlfcrlf(bytes).unwrap_or(bytes.len());
    let head = &bytes[..head_end];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    if first.starts_with(b"SIP/") || first.starts_with(b"ACK ") || first.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
    let (mut have_via, mut have_to) = (false, false);
    let mut seen = 0u8;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        let name = HeaderName::from_name(name.trim_end());
        let bit = match name {
            HeaderName::Via => 0,
            HeaderName::From => 1,
            HeaderName::To => 2,
            HeaderName::CallId => 3,
            HeaderName::CSeq => 4,
            _ => continue,
        };
        if name != HeaderName::Via && seen & (1 << bit) != 0 {
            continue;
        }
        if line.len() > 1024 || line.iter().any(|&b| b < b' ' && b != b'\t') || std::str::from_utf8(line).is_err() {
            continue;
        }
        seen |= 1 << bit;
        let value = trim(&line[colon + 1..]);
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        if name == HeaderName::To && !contains(value, b";tag=") {
            let _ = write!(out, ";tag={tag}");
            have_to = true;
        }
        have_via |= name == HeaderName::Via;
        out.extend_from_slice(b"\r\n");
    }
    let _ = have_to;
    if !have_via {
        return None;
    }
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

fn memchr_crlfcrlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &v[start..end]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_request_with_duplicate_call_id() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let out = stateless_reject(raw, 400, "Bad Request - Duplicate Call-ID", "t1").expect("answerable");
        let m = Message::parse(&out, sipmsg::Framing::Datagram).expect("our 400 parses");
        assert_eq!(m.status(), Some(400));
        assert_eq!(m.call_id(), Some("x"));
        assert_eq!(m.to().and_then(|t| t.tag()), Some("t1"));
    }

    #[test]
    fn no_answer_without_via_or_for_responses() {
        assert!(stateless_reject(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n", 400, "x", "t").is_none());
        assert!(stateless_reject(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "x", "t").is_none());
        assert!(stateless_reject(b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "x", "t").is_none());
    }
}
