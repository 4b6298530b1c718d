//! The little Tandem reads and changes in a session description (RFC 4566): the media
//! direction (hold and retrieve, RFC 3264 section 8.4 and RFC 6337) and the `o=` version
//! (which must rise with every change a dialog sees, RFC 3264 section 8).
//!
//! Tandem is signalling-only and passes SDP through; only hold, retrieve and transfers
//! make it write one. The edits are line by line and keep every other byte as the phone
//! wrote it (a parse-and-serialise SDP crate such as `sdp` would re-order and re-format
//! attributes it does not model, and phones compare what they sent).

/// A media direction attribute (RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "a=sendrecv",
            Self::SendOnly => "a=sendonly",
            Self::RecvOnly => "a=recvonly",
            Self::Inactive => "a=inactive",
        }
    }

    fn of_line(line: &str) -> Option<Self> {
        match line.trim_end() {
            "a=sendrecv" => Some(Self::SendRecv),
            "a=sendonly" => Some(Self::SendOnly),
            "a=recvonly" => Some(Self::RecvOnly),
            "a=inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// True when a party offering this sends nothing we could hear: it holds the call.
    pub(crate) fn holds(self) -> bool {
        matches!(self, Self::SendOnly | Self::Inactive)
    }
}

/// The direction of a session description's media as a whole: the first media stream's
/// attribute, else the session-level one, else `sendrecv` (RFC 4566 section 6). A
/// connection address of `0.0.0.0` (the RFC 2543 way to hold, still sent by phones)
/// counts as `inactive`.
pub(crate) fn direction(sdp: &[u8]) -> Option<Direction> {
    let text = std::str::from_utf8(sdp).ok()?;
    if !text.starts_with("v=") {
        return None;
    }
    let (mut session, mut media, mut in_media, mut null_address) = (None, None, false, false);
    for line in text.lines() {
        if line.starts_with("m=") {
            if in_media {
                break; // the first stream decides
            }
            in_media = true;
        } else if line.trim_end().ends_with(" 0.0.0.0") && line.starts_with("c=") {
            null_address = true;
        } else if let Some(d) = Direction::of_line(line) {
            *(if in_media { &mut media } else { &mut session }) = Some(d);
        }
    }
    Some(if null_address { Direction::Inactive } else { media.or(session).unwrap_or(Direction::SendRecv) })
}

/// The `o=` line's session version, if the description has one.
pub(crate) fn version(sdp: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(sdp).ok()?;
    let origin = text.lines().find(|l| l.starts_with("o="))?;
    origin.split(' ').nth(2)?.parse().ok()
}

/// `sdp` with every direction attribute set to `direction` (one per media stream, none at
/// session level) and the `o=` version set to `version`. `None` when `sdp` is not a
/// session description (not UTF-8, no `v=` or `o=` line).
/// The answer of a silent party that takes `offer`'s media (its codecs, one stream each)
/// at the discard port of the partner's own host: what a waiting caller is paired with
/// at the media partner while a treatment plays to it. Plain RTP: ICE, keys and
/// fingerprints are left out.
pub(crate) fn sink_for(offer: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(offer).ok().filter(|t| t.starts_with("v="))?;
    let mut out = String::from("v=0\r\no=tandem 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n");
    let mut streams = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("m=") {
            let mut words = rest.splitn(3, ' ');
            let (media, _port, rest) = (words.next()?, words.next()?, words.next().unwrap_or(""));
            out.push_str(&format!("m={media} 9 {rest}\r\na=sendrecv\r\n"));
            streams += 1;
        } else if streams > 0 && (line.starts_with("a=rtpmap:") || line.starts_with("a=fmtp:")) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    (streams > 0).then(|| out.into_bytes())
}

/// Where a description's first audio stream receives RTP: its `c=` address (the
/// stream's own, else the session's) and the `m=audio` port. None without one, or for
/// a held stream's `0.0.0.0`.
pub(crate) fn audio_address(sdp: &[u8]) -> Option<std::net::SocketAddr> {
    let text = std::str::from_utf8(sdp).ok()?;
    let connection = |line: &str| -> Option<std::net::IpAddr> {
        let rest = line.strip_prefix("c=IN IP4 ").or_else(|| line.strip_prefix("c=IN IP6 "))?;
        rest.trim().split('/').next()?.parse().ok()
    };
    let (mut session, mut port, mut media) = (None, None, None);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break;
            }
            port = rest.strip_prefix("audio ").and_then(|r| r.split(' ').next()).and_then(|p| p.parse::<u16>().ok());
        } else if port.is_none() && media.is_none() {
            session = session.or_else(|| connection(line));
        } else if port.is_some() {
            media = media.or_else(|| connection(line));
        }
    }
    let ip = media.or(session).filter(|ip| !ip.is_unspecified())?;
    Some(std::net::SocketAddr::new(ip, port.filter(|p| *p != 0)?))
}

pub(crate) fn rewrite(sdp: &[u8], direction: Direction, version: u64) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(sdp).ok()?;
    if !text.starts_with("v=") || !text.lines().any(|l| l.starts_with("o=")) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_media = false;
    for line in text.lines() {
        if Direction::of_line(line).is_some() {
            continue;
        }
        if line.starts_with("m=") {
            if in_media {
                out.push_str(direction.attribute());
                out.push_str("\r\n");
            }
            in_media = true;
        }
        if line.starts_with("o=") {
            out.push_str(&with_version(line, version));
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    if in_media {
        out.push_str(direction.attribute());
        out.push_str("\r\n");
    }
    Some(out.into_bytes())
}

/// `sdp` with its `o=` version set to `version`, every other byte kept.
pub(crate) fn with_new_version(sdp: &[u8], version: u64) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(sdp).ok()?;
    let start = text.find("\no=").map(|i| i + 1).or_else(|| text.starts_with("o=").then_some(0))?;
    let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
    let line = text[start..end].trim_end_matches('\r');
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..start]);
    out.push_str(&with_version(line, version));
    out.push_str(&text[start + line.len()..]);
    Some(out.into_bytes())
}

/// An `o=` line with its third field (the session version) replaced.
fn with_version(origin: &str, version: u64) -> String {
    let fields: Vec<&str> = origin.split(' ').collect();
    if fields.len() < 3 {
        return origin.to_owned();
    }
    let version = version.to_string();
    let mut fields = fields;
    fields[2] = &version;
    fields.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &[u8] = b"v=0\r\no=phone 7 7 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\nm=video 4002 RTP/AVP 96\r\n\
        a=rtpmap:96 H264/90000\r\n";

    #[test]
    fn the_first_stream_decides_the_direction_and_null_addresses_hold() {
        assert_eq!(direction(PHONE), Some(Direction::SendRecv));
        let held = b"v=0\r\no=x 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n";
        assert_eq!(direction(held), Some(Direction::Inactive));
        let session_level = b"v=0\r\no=x 1 2 IN IP4 1.2.3.4\r\ns=-\r\na=sendonly\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n";
        assert_eq!(direction(session_level), Some(Direction::SendOnly));
        assert!(Direction::SendOnly.holds() && Direction::Inactive.holds() && !Direction::RecvOnly.holds());
        assert_eq!(direction(b"not sdp"), None);
        assert_eq!(direction(&[0xff, 0xfe]), None);
    }

    #[test]
    fn a_rewrite_sets_every_stream_and_the_version_and_keeps_the_rest() {
        let held = rewrite(PHONE, Direction::SendOnly, 9).expect("an sdp");
        let text = String::from_utf8(held.clone()).expect("utf-8");
        assert_eq!(text.matches("a=sendonly").count(), 2, "{text}");
        assert!(!text.contains("a=sendrecv"));
        assert!(text.contains("o=phone 7 9 IN IP4 10.0.0.5\r\n"));
        assert!(text.contains("a=rtpmap:96 H264/90000\r\na=sendonly\r\n"), "{text}");
        assert_eq!(direction(&held), Some(Direction::SendOnly));
        assert_eq!(version(&held), Some(9));
        let back = rewrite(&held, Direction::SendRecv, 10).expect("an sdp");
        assert_eq!(direction(&back), Some(Direction::SendRecv));
        assert_eq!(rewrite(b"hello", Direction::Inactive, 1), None);
    }

    #[test]
    fn a_new_version_changes_only_the_origin_line() {
        let out = with_new_version(PHONE, 42).expect("an sdp");
        assert_eq!(version(&out), Some(42));
        assert_eq!(out.len(), PHONE.len() + 1);
        assert_eq!(with_new_version(b"v=0\r\ns=-\r\n", 1), None);
    }

    #[test]
    fn a_sink_takes_the_offers_codecs_at_the_discard_port() {
        let offer = b"v=0\r\no=gw 1 1 IN IP4 198.51.100.4\r\ns=-\r\nc=IN IP4 198.51.100.4\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\na=crypto:1 x\r\n";
        let sink = String::from_utf8(sink_for(offer).expect("a sink")).expect("utf-8");
        assert!(sink.contains("c=IN IP4 127.0.0.1\r\n") && sink.contains("m=audio 9 RTP/AVP 0 101\r\na=sendrecv\r\n"));
        assert!(sink.contains("a=rtpmap:101 telephone-event/8000") && sink.contains("a=fmtp:101 0-15"));
        assert!(!sink.contains("crypto") && !sink.contains("sendonly") && !sink.contains("198.51.100.4"));
        assert_eq!(sink_for(b"not sdp"), None);
    }

    #[test]
    fn the_audio_address_is_the_streams_connection_or_the_sessions() {
        let session =
            b"v=0\r\no=a 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(audio_address(session), Some("192.0.2.1:4000".parse().expect("addr")));
        let own = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4002 RTP/AVP 0\r\nc=IN IP4 192.0.2.9\r\n";
        assert_eq!(audio_address(own), Some("192.0.2.9:4002".parse().expect("addr")));
        assert_eq!(audio_address(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n"), None, "held");
        assert_eq!(audio_address(b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=video 4000 RTP/AVP 96\r\n"), None);
        assert_eq!(audio_address(b"\xff"), None);
    }
}
