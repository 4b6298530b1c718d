//! Framing one SIP message out of bytes, and the typed checks a server runs on it.

use memchr::memmem;
use smallvec::SmallVec;

use crate::lex::{is_token, is_token_str, parse_decimal, split_list, trim_lws};
use crate::{CSeq, Contact, Header, HeaderName, Limits, Method, NameAddr, ParseError, Uri, Via};

/// How the bytes arrived, which decides what a short body means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One datagram is one message: a body shorter than Content-Length is an error,
    /// extra bytes after the body are ignored (RFC 3261 section 18.3).
    Datagram,
    /// A byte stream (TCP/TLS): Content-Length delimits the message (0 if absent),
    /// and a short buffer is [`ParseError::Incomplete`].
    Stream,
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD Request-URI SIP/2.0`
    Request {
        /// The method.
        method: Method<'a>,
        /// The Request-URI, raw.
        uri: &'a str,
    },
    /// `SIP/2.0 code reason`
    Response {
        /// Status code, 100-699.
        code: u16,
        /// Reason phrase, possibly empty.
        reason: &'a str,
    },
}

/// A framed SIP message borrowing the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    start: StartLine<'a>,
    headers: SmallVec<[Header<'a>; 32]>,
    body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Frames one message with the default [`Limits`].
    pub fn parse(bytes: &'a [u8], framing: Framing) -> Result<Self, ParseError> {
        Self::parse_with(bytes, framing, &Limits::default())
    }

    /// Frames one message. Leading CRLFs (keep-alives) are skipped. Checks the start
    /// line, header-line syntax, limits, Content-Length, duplicate single-valued headers
    /// and the presence of Via, From, To, Call-ID and CSeq. Typed header values are
    /// checked by [`Message::validate`].
    pub fn parse_with(bytes: &'a [u8], framing: Framing, limits: &Limits) -> Result<Self, ParseError> {
        let skipped = bytes.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        let bytes = &bytes[skipped..];
        let Some(head_end) = memmem::find(bytes, b"\r\n\r\n") else {
            return Err(missing_head_end(bytes, framing, limits));
        };
        if head_end + 4 > limits.max_message {
            return Err(ParseError::TooLarge);
        }
        let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| ParseError::Encoding)?;
        let (first_line, header_block) = match head.find("\r\n") {
            Some(i) => (&head[..i], &head[i + 2..]),
            None => (head, ""),
        };
        if first_line.len() > limits.max_line {
            return Err(ParseError::LineTooLong);
        }
        let start = parse_start_line(first_line)?;
        let mut builder = HeaderCollector::default();
        builder.collect(header_block, limits)?;
        builder.require_mandatory()?;
        let body_start = head_end + 4;
        let body = frame_body(&bytes[body_start..], builder.content_length, framing, limits, body_start)?;
        let raw = &bytes[..body_start + body.len()];
        Ok(Self { raw, start, headers: builder.headers, body })
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }

    /// The method of a request; `None` for a response.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response; `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The Request-URI of a request, raw.
    pub fn request_uri(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// All header fields in message order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The raw value of the first header with this name.
    pub fn header(&self, name: HeaderName) -> Option<&'a str> {
        self.headers.iter().find(|h| h.name == name).map(|h| h.value)
    }

    /// All header fields with this name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'a>> + '_ {
        self.headers.iter().filter(move |h| h.name == name)
    }

    /// Every comma-separated value of every header line with this name, in order.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.headers_named(name).flat_map(|h| split_list(h.value))
    }

    /// The body (exactly Content-Length bytes when the header is present).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The bytes of this message, from the start line through the body.
    /// On a stream, its length is how many bytes to consume.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The Call-ID, trimmed.
    pub fn call_id(&self) -> Option<&'a str> {
        self.header(HeaderName::CallId)
    }

    /// The CSeq, parsed.
    pub fn cseq(&self) -> Option<CSeq<'a>> {
        self.header(HeaderName::CSeq).and_then(CSeq::parse)
    }

    /// The topmost Via value, parsed.
    pub fn top_via(&self) -> Option<Via<'a>> {
        self.values(HeaderName::Via).next().and_then(Via::parse)
    }

    /// The From value, parsed.
    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.header(HeaderName::From).and_then(NameAddr::parse)
    }

    /// The To value, parsed.
    pub fn to(&self) -> Option<NameAddr<'a>> {
        self.header(HeaderName::To).and_then(NameAddr::parse)
    }

    /// Max-Forwards, if present and valid.
    pub fn max_forwards(&self) -> Option<u8> {
        self.header(HeaderName::MaxForwards).and_then(parse_decimal).and_then(|v| u8::try_from(v).ok())
    }

    /// The Expires header in seconds, saturating at `u32::MAX`.
    pub fn expires(&self) -> Option<u32> {
        let v = self.header(HeaderName::Expires)?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(parse_decimal(v).map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// Every Contact value, parsed; a malformed one yields `None`.
    pub fn contacts(&self) -> impl Iterator<Item = Option<Contact<'a>>> + '_ {
        self.values(HeaderName::Contact).map(Contact::parse)
    }

    /// The typed checks a server runs before acting: Request-URI, CSeq (range and,
    /// for requests, method match), every Via value, From, To, Call-ID,
    /// Max-Forwards, Expires, Contact values and Date.
    pub fn validate(&self) -> Result<(), ParseError> {
        let cseq = self.cseq().ok_or(ParseError::Header(HeaderName::CSeq))?;
        if let StartLine::Request { method, uri } = self.start {
            let request_uri = Uri::parse(uri).ok_or(ParseError::RequestUri)?;
            if request_uri.as_sip().is_some_and(|u| u.headers.is_some()) {
                return Err(ParseError::RequestUri);
            }
            if cseq.method != method {
                return Err(ParseError::CSeqMethod);
            }
        }
        self.validate_headers()
    }

    fn validate_headers(&self) -> Result<(), ParseError> {
        for header in self.headers.iter() {
            if !header_value_ok(header) {
                return Err(ParseError::Header(header.name));
            }
        }
        Ok(())
    }
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "header names are an open set: every header not named takes the default"
)]
fn header_value_ok(h: &Header<'_>) -> bool {
    match h.name {
        HeaderName::Via => split_list(h.value).all(|v| Via::parse(v).is_some()),
        HeaderName::From | HeaderName::To => NameAddr::parse(h.value).is_some(),
        HeaderName::Contact => split_list(h.value).all(|v| Contact::parse(v).is_some()),
        HeaderName::Route | HeaderName::RecordRoute => split_list(h.value).all(|v| NameAddr::parse(v).is_some()),
        HeaderName::CallId => is_call_id(h.value),
        HeaderName::MaxForwards => parse_decimal(h.value).is_some_and(|v| v <= 255),
        HeaderName::Expires | HeaderName::MinExpires => {
            !h.value.is_empty() && h.value.bytes().all(|b| b.is_ascii_digit())
        }
        HeaderName::Date => h.value.ends_with(" GMT"),
        _ => true,
    }
}

fn is_call_id(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b > b' ' && b != 0x7f)
}

fn missing_head_end(bytes: &[u8], framing: Framing, limits: &Limits) -> ParseError {
    if bytes.len() >= limits.max_message {
        return ParseError::TooLarge;
    }
    if longest_line(bytes) > limits.max_line {
        return ParseError::LineTooLong;
    }
    match framing {
        Framing::Stream => ParseError::Incomplete,
        Framing::Datagram if bytes.is_empty() => ParseError::Incomplete,
        Framing::Datagram => ParseError::HeaderLine,
    }
}

fn longest_line(bytes: &[u8]) -> usize {
    let mut longest = 0;
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        longest = longest.max(nl - start);
        start = nl + 1;
    }
    longest.max(bytes.len() - start)
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        return parse_status_line(rest);
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    if !is_token_str(method) || uri.is_empty() || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ParseError::StartLine);
    }
    if version != "SIP/2.0" {
        return Err(if version.starts_with("SIP/") { ParseError::Version } else { ParseError::StartLine });
    }
    Ok(StartLine::Request { method: Method::parse(method), uri })
}

fn parse_status_line(rest: &str) -> Result<StartLine<'_>, ParseError> {
    let rest = rest.strip_prefix("2.0 ").ok_or(ParseError::Version)?;
    let (code, reason) = rest.split_once(' ').ok_or(ParseError::StartLine)?;
    if code.len() != 3 {
        return Err(ParseError::StatusCode);
    }
    let code = parse_decimal(code).ok_or(ParseError::StatusCode)?;
    if !(100..=699).contains(&code) || reason.bytes().any(|b| b < b' ' && b != b'\t') {
        return Err(ParseError::StatusCode);
    }
    Ok(StartLine::Response { code: code as u16, reason })
}

#[derive(Default)]
struct HeaderCollector<'a> {
    headers: SmallVec<[Header<'a>; 32]>,
    seen: u64,
    content_length: Option<usize>,
    vias: usize,
}

impl<'a> HeaderCollector<'a> {
    fn collect(&mut self, block: &'a str, limits: &Limits) -> Result<(), ParseError> {
        let mut rest = block;
        while !rest.is_empty() {
            let (field, tail) = next_field(rest, limits)?;
            rest = tail;
            self.push(field, limits)?;
        }
        Ok(())
    }

    fn push(&mut self, field: &'a str, limits: &Limits) -> Result<(), ParseError> {
        if self.headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        let colon = field.find(':').ok_or(ParseError::HeaderLine)?;
        let raw_name = field[..colon].trim_end_matches([' ', '\t']);
        if raw_name.is_empty() || !raw_name.bytes().all(is_token) {
            return Err(ParseError::HeaderLine);
        }
        let value = trim_lws(&field[colon + 1..]);
        let name = HeaderName::from_name(raw_name);
        self.note(name, value, limits)?;
        self.headers.push(Header { name, raw_name, value });
        Ok(())
    }

    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "header names are an open set: every header not named takes the default"
    )]
    fn note(&mut self, name: HeaderName, value: &str, limits: &Limits) -> Result<(), ParseError> {
        match name {
            HeaderName::ContentLength => self.note_content_length(value)?,
            HeaderName::Via => {
                self.vias += 1 + memchr::memchr_iter(b',', value.as_bytes()).count();
                if self.vias > limits.max_vias {
                    return Err(ParseError::TooManyVias);
                }
            }
            _ => {}
        }
        if name.is_single() && self.seen & name.bit() != 0 {
            return Err(ParseError::Duplicate(name));
        }
        if name != HeaderName::Other {
            self.seen |= name.bit();
        }
        Ok(())
    }

    fn note_content_length(&mut self, value: &str) -> Result<(), ParseError> {
        let len = parse_decimal(value).ok_or(ParseError::ContentLength)?;
        let len = usize::try_from(len).map_err(|_| ParseError::ContentLength)?;
        match self.content_length {
            Some(previous) if previous != len => Err(ParseError::Duplicate(HeaderName::ContentLength)),
            _ => {
                self.content_length = Some(len);
                Ok(())
            }
        }
    }

    fn require_mandatory(&self) -> Result<(), ParseError> {
        for name in [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq] {
            if self.seen & name.bit() == 0 {
                return Err(ParseError::Missing(name));
            }
        }
        Ok(())
    }
}

/// Splits the next header field (with its folded continuation lines) off `block`.
fn next_field<'a>(block: &'a str, limits: &Limits) -> Result<(&'a str, &'a str), ParseError> {
    let bytes = block.as_bytes();
    let mut line_start = 0;
    loop {
        // Lines end in CRLF; `head` never contains the final empty line.
        let newline = memchr::memchr(b'\n', &bytes[line_start..]).map(|i| line_start + i);
        let line_end = newline.map_or(bytes.len(), |nl| if nl > 0 && bytes[nl - 1] == b'\r' { nl - 1 } else { nl });
        if line_end - line_start > limits.max_line {
            return Err(ParseError::LineTooLong);
        }
        let Some(nl) = newline else {
            return Ok((&block[..line_end], ""));
        };
        let next = nl + 1;
        if !matches!(bytes.get(next), Some(b' ' | b'\t')) {
            return Ok((&block[..line_end], &block[next..]));
        }
        line_start = next;
    }
}

fn frame_body<'a>(
    after_head: &'a [u8],
    content_length: Option<usize>,
    framing: Framing,
    limits: &Limits,
    head_len: usize,
) -> Result<&'a [u8], ParseError> {
    let len = match (content_length, framing) {
        (Some(len), _) => len,
        (None, Framing::Stream) => 0,
        (None, Framing::Datagram) => after_head.len(),
    };
    if head_len.saturating_add(len) > limits.max_message {
        return Err(ParseError::TooLarge);
    }
    match after_head.get(..len) {
        Some(body) => Ok(body),
        None if framing == Framing::Stream => Err(ParseError::Incomplete),
        None => Err(ParseError::BodyTruncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\n\
From: <sip:probe@127.0.0.1>;tag=1\r\n\
To: <sip:1000@127.0.0.1>\r\n\
Call-ID: abc@127.0.0.1\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn parses_a_plain_request() {
        let m = Message::parse(OPTIONS, Framing::Datagram).expect("valid");
        assert_eq!(m.method(), Some(Method::Options));
        assert_eq!(m.call_id(), Some("abc@127.0.0.1"));
        assert_eq!(m.top_via().and_then(|v| v.branch()), Some("z9hG4bK1"));
        assert_eq!(m.as_bytes(), OPTIONS);
        m.validate().expect("valid");
    }

    #[test]
    fn stream_framing_needs_the_whole_body() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..msg.len() {
            assert_eq!(Message::parse(&msg[..cut], Framing::Stream).err(), Some(ParseError::Incomplete), "cut {cut}");
        }
        let mut two = msg.to_vec();
        two.extend_from_slice(msg);
        let first = Message::parse(&two, Framing::Stream).expect("complete");
        assert_eq!(first.as_bytes().len(), msg.len());
        assert_eq!(first.body(), b"hello");
    }

    #[test]
    fn keepalive_crlfs_are_skipped() {
        let mut buf = b"\r\n\r\n".to_vec();
        buf.extend_from_slice(OPTIONS);
        assert!(Message::parse(&buf, Framing::Datagram).is_ok());
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_headers: 3, ..Limits::default() };
        assert_eq!(Message::parse_with(OPTIONS, Framing::Datagram, &limits).err(), Some(ParseError::TooManyHeaders));
        let limits = Limits { max_message: 100, ..Limits::default() };
        assert_eq!(Message::parse_with(OPTIONS, Framing::Datagram, &limits).err(), Some(ParseError::TooLarge));
    }

    #[test]
    fn status_line_checks() {
        assert_eq!(parse_start_line("SIP/2.0 100 "), Ok(StartLine::Response { code: 100, reason: "" }));
        assert_eq!(parse_start_line("SIP/2.0 4294967301 x"), Err(ParseError::StatusCode));
        assert_eq!(parse_start_line("SIP/2.0 099 x"), Err(ParseError::StatusCode));
        assert_eq!(parse_start_line("SIP/7.0 200 OK"), Err(ParseError::Version));
        assert_eq!(parse_start_line("OPTIONS sip:a@b SIP/7.0"), Err(ParseError::Version));
        assert_eq!(parse_start_line("INVITE  sip:a@b  SIP/2.0"), Err(ParseError::StartLine));
    }
}
