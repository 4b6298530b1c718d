//! The session descriptions a scripted UA offers and answers: its one audio stream, and
//! the direction attributes of hold (RFC 3264 sections 5.1, 6.1 and 8.4).

pub(crate) const SDP: &[u8] =
    b"v=0\r\no=ua 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// This UA's session description with a direction attribute (and a later version).
pub(crate) fn sdp_with(direction: &str) -> Vec<u8> {
    format!(
        "v=0\r\no=ua 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na={direction}\r\n"
    )
    .into_bytes()
}

/// The media direction a session description offers (RFC 3264 section 5.1).
pub(crate) fn direction_of(body: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(body).ok().filter(|t| t.starts_with("v="))?;
    let found = ["sendonly", "recvonly", "inactive"].into_iter().find(|d| text.contains(&format!("a={d}")));
    Some(found.unwrap_or("sendrecv"))
}

/// What a UA answers to an offer in `direction` (RFC 3264 section 6.1).
pub(crate) fn answer_to(direction: Option<&str>) -> &'static str {
    match direction {
        Some("sendonly") => "recvonly",
        Some("recvonly") => "sendonly",
        Some("inactive") => "inactive",
        _ => "sendrecv",
    }
}
