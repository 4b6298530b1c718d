//! Why a message was refused, and what the sender is told.

use crate::HeaderName;

/// A message that could not be framed or failed validation.
///
/// Every variant is the sender's fault (a peer that misbehaved) except
/// [`ParseError::Incomplete`], which on a stream only means "read more bytes".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Stream framing: the buffer holds only part of a message.
    #[error("incomplete message")]
    Incomplete,
    /// Larger than [`crate::Limits::max_message`].
    #[error("message too large")]
    TooLarge,
    /// A line longer than [`crate::Limits::max_line`].
    #[error("line too long")]
    LineTooLong,
    /// More header lines than [`crate::Limits::max_headers`].
    #[error("too many headers")]
    TooManyHeaders,
    /// More Via values than [`crate::Limits::max_vias`].
    #[error("too many Via values")]
    TooManyVias,
    /// The request or status line does not follow RFC 3261 section 7.1/7.2.
    #[error("malformed start line")]
    StartLine,
    /// A SIP version other than SIP/2.0.
    #[error("unsupported SIP version")]
    Version,
    /// A status code outside 100-699.
    #[error("status code out of range")]
    StatusCode,
    /// A header line without a colon, or a name that is not a token.
    #[error("malformed header line")]
    HeaderLine,
    /// Bytes that are not UTF-8 in the start line or headers.
    #[error("non UTF-8 bytes in headers")]
    Encoding,
    /// A known header whose value does not parse.
    #[error("malformed {0} header")]
    Header(HeaderName),
    /// A header every request and response must carry is absent.
    #[error("missing {0} header")]
    Missing(HeaderName),
    /// A header that may appear once appears twice (or Content-Length disagrees).
    #[error("duplicate {0} header")]
    Duplicate(HeaderName),
    /// Content-Length that is not a non-negative decimal number.
    #[error("malformed Content-Length")]
    ContentLength,
    /// A datagram whose body is shorter than its Content-Length.
    #[error("body shorter than Content-Length")]
    BodyTruncated,
    /// The Request-URI is not a valid absolute URI for a request.
    #[error("malformed Request-URI")]
    RequestUri,
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
}

impl ParseError {
    /// The status code and reason phrase to answer a request that failed this way.
    ///
    /// The reason phrase names the fault so a gateway engineer reading a trace sees
    /// what to fix. Responses that fail to parse are dropped, never answered.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Self::Incomplete => (400, "Bad Request - Incomplete Message"),
            Self::TooLarge => (513, "Message Too Large"),
            Self::LineTooLong => (400, "Bad Request - Line Too Long"),
            Self::TooManyHeaders => (400, "Bad Request - Too Many Headers"),
            Self::TooManyVias => (400, "Bad Request - Too Many Via Values"),
            Self::StartLine => (400, "Bad Request - Malformed Request Line"),
            Self::Version => (505, "Version Not Supported"),
            Self::StatusCode => (400, "Bad Request - Bad Status Code"),
            Self::HeaderLine => (400, "Bad Request - Malformed Header Line"),
            Self::Encoding => (400, "Bad Request - Invalid UTF-8"),
            Self::Header(name) => (400, name.malformed_reason()),
            Self::Missing(name) => (400, name.missing_reason()),
            Self::Duplicate(name) => (400, name.duplicate_reason()),
            Self::ContentLength => (400, "Bad Request - Bad Content-Length"),
            Self::BodyTruncated => (400, "Bad Request - Body Shorter Than Content-Length"),
            Self::RequestUri => (400, "Bad Request - Malformed Request-URI"),
            Self::CSeqMethod => (400, "Bad Request - CSeq Method Mismatch"),
        }
    }

    /// A short stable label for metrics (`parse_errors_total{kind=...}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::TooLarge => "too_large",
            Self::LineTooLong => "line_too_long",
            Self::TooManyHeaders => "too_many_headers",
            Self::TooManyVias => "too_many_vias",
            Self::StartLine => "start_line",
            Self::Version => "version",
            Self::StatusCode => "status_code",
            Self::HeaderLine => "header_line",
            Self::Encoding => "encoding",
            Self::Header(_) => "bad_header",
            Self::Missing(_) => "missing_header",
            Self::Duplicate(_) => "duplicate_header",
            Self::ContentLength => "content_length",
            Self::BodyTruncated => "body_truncated",
            Self::RequestUri => "request_uri",
            Self::CSeqMethod => "cseq_method",
        }
    }
}
