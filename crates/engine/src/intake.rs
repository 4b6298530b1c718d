//! Size checks at intake on what Tandem copies from the network into messages it builds.
//!
//! A B-leg INVITE carries the caller's From and body, a response echoes Via, From, To,
//! Call-ID and CSeq with a tag added, a REGISTER's Contact becomes the Request-URI of
//! later INVITEs, a phone's Contact the Request-URI of its BYE. Each copy can grow a line
//! (a compact `f:` becomes `From:`, a `;tag=` is appended, our own headers are added), so
//! an input that is just within the parser's [`sipmsg::Limits`] could make us build a
//! message that no SIP parser (ours included) accepts. Checking once here, with room to
//! spare, keeps every derived message within the limits; nothing downstream re-checks.

use crate::Status;
use sipmsg::{Limits, Message};

/// Longest header value (or Request-URI) we accept in anything we may copy: half a line
/// of the parser's limit, far above any real phone or gateway (a few hundred bytes).
pub(crate) const MAX_COPIED_FIELD: usize = 4_096;

/// True when UserData fits in the one header line that carries it to the DR peer, which
/// refuses values over [`MAX_COPIED_FIELD`] (one rule for every request that sets it).
pub(crate) fn user_data_fits(data: &cti::KvList) -> bool {
    serde_json::to_vec(data).is_ok_and(|json| json.len() <= MAX_COPIED_FIELD)
}

/// Room we keep for the headers we add to a message whose body we pass on.
const HEADROOM: usize = 4_096;

/// Why an input cannot be taken as it is; each maps to the 4xx that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversized {
    /// 414: the Request-URI is longer than [`MAX_COPIED_FIELD`].
    RequestUri,
    /// 400: a header value is longer than [`MAX_COPIED_FIELD`].
    Header,
    /// 513: with our headers added, the message would pass the parser's size limit.
    Message,
}

impl Oversized {
    /// The answer on the wire.
    pub(crate) fn status(self) -> Status {
        match self {
            Self::RequestUri => Status::RequestUriTooLong,
            Self::Header => Status::HeaderTooLong,
            Self::Message => Status::MessageTooLarge,
        }
    }

    /// Counter label.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::RequestUri => "uri_too_long_to_relay",
            Self::Header => "header_too_long_to_relay",
            Self::Message => "message_too_large_to_relay",
        }
    }
}

/// Checks a request or response before anything of it is stored or copied.
pub(crate) fn check(msg: &Message<'_>) -> Result<(), Oversized> {
    if msg.as_bytes().len() + HEADROOM > Limits::default().max_message {
        return Err(Oversized::Message);
    }
    if msg.request_uri().is_some_and(|uri| uri.len() > MAX_COPIED_FIELD) {
        return Err(Oversized::RequestUri);
    }
    if msg.headers().iter().any(|h| h.value.len() > MAX_COPIED_FIELD) {
        return Err(Oversized::Header);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipmsg::Framing;

    fn request(from: &str, uri: &str, body: usize) -> Vec<u8> {
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nf: {from};tag=1\r\n\
             To: <sip:1000@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: {body}\r\n\r\n{}",
            "x".repeat(body)
        )
        .into_bytes()
    }

    fn checked(bytes: &[u8]) -> Result<(), Oversized> {
        check(&Message::parse(bytes, Framing::Datagram).expect("the parser takes it"))
    }

    #[test]
    fn fields_a_real_peer_sends_pass() {
        assert_eq!(checked(&request("<sip:1001@h>", "sip:1000@h", 300)), Ok(()));
        assert_eq!(checked(&request(&"a".repeat(MAX_COPIED_FIELD - 8), "sip:1000@h", 0)), Ok(()));
    }

    #[test]
    fn what_the_parser_takes_but_a_copy_would_break_is_refused() {
        assert_eq!(checked(&request(&"a".repeat(8_180), "sip:1000@h", 0)), Err(Oversized::Header));
        let uri = format!("sip:{}@h", "1".repeat(8_000));
        assert_eq!(checked(&request("<sip:1@h>", &uri, 0)), Err(Oversized::RequestUri));
        assert_eq!(checked(&request("<sip:1@h>", "sip:1000@h", 63_000)), Err(Oversized::Message));
    }
}
