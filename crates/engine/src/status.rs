//! Every SIP answer Tandem gives, named by what it means, and the one table that writes
//! it on the wire ([`Status::wire`]). Callers say `Status::QueueFull`, never
//! `(503, "Service Unavailable - Queue Full")`.

/// A final or provisional answer of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 100: the request is being worked on.
    Trying,
    /// 200.
    Ok,
    /// 302: try the DR peer (or the Contact given).
    MovedTemporarily,
    /// 400: malformed, or missing what we need.
    BadRequest,
    /// 400: a REGISTER Contact we cannot read.
    MalformedContact,
    /// 400: a header value too long to copy into what we would build.
    HeaderTooLong,
    /// 400: a Call-ID already in use for another call.
    DuplicateCallId,
    /// 401: credentials needed (REGISTER), with `WWW-Authenticate`.
    Unauthorized,
    /// 407: credentials needed (other requests), with `Proxy-Authenticate`.
    ProxyAuthenticationRequired,
    /// 403: credentials that are wrong, for another user, or for a DN without any.
    BadCredentials,
    /// 403: guesses at this DN's password wait (too many failures lately from other
    /// addresses than this one).
    TooManyFailures,
    /// 403: a caller not allowed to use the trunk the digits lead to.
    TrunkNotAllowed,
    /// 403: more contacts for a DN than `max-contacts`.
    TooManyContacts,
    /// 403: a MESSAGE only the DR peer may send.
    NotFromDrPeer,
    /// 404: no such DN and no trunk for the digits.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 406: a body type we cannot pass on.
    NotAcceptable,
    /// 488: the media partner refused the session description.
    NotAcceptableHere,
    /// 408: nobody answered in time.
    RequestTimeout,
    /// 414.
    RequestUriTooLong,
    /// 415.
    UnsupportedMediaType,
    /// 416: not a sip:/sips: URI.
    UnsupportedUriScheme,
    /// 420: a `Require` we do not support.
    BadExtension,
    /// 423: an expiry under `min-expires`.
    IntervalTooBrief,
    /// 480: the DN cannot take the call now.
    TemporarilyUnavailable,
    /// 480: released from CTI before the answer.
    Released,
    /// 480: waited `queue-max-wait` on a Routing Point with nowhere to go.
    QueueTimeout,
    /// 480: rang `no-answer-timeout` without an answer.
    NoAnswer,
    /// 481.
    NoSuchTransaction,
    /// 483: Max-Forwards ran out.
    TooManyHops,
    /// 486.
    BusyHere,
    /// 487: the caller cancelled.
    RequestTerminated,
    /// 491.
    RequestPending,
    /// 500: a fault of ours (logged).
    ServerError,
    /// 500: a CSeq lower than the dialog's.
    CSeqOutOfOrder,
    /// 501.
    NotImplemented,
    /// 503: overloaded (with Retry-After).
    ServiceUnavailable,
    /// 503: the Routing Point holds as many calls as it may.
    QueueFull,
    /// 503: the registrar holds as many bindings as it may.
    RegistrarFull,
    /// 513.
    MessageTooLarge,
    /// 603.
    Decline,
    /// 603: shutting down with nowhere to redirect.
    DeclineShuttingDown,
    /// `shutdown-sip-reject-code` during a graceful shutdown (configurable).
    ShuttingDown(u16),
    /// A callee's final status, passed on to the caller.
    Relayed(u16),
    /// The origin phone of a MakeCall refused with this status.
    OriginRefused(u16),
    /// A request the parser refused after all (a missing or bad header); its code and
    /// reason come from the parser's own table, `sipmsg::ParseError::status`.
    Invalid(u16, &'static str),
}

impl Status {
    /// The status code and reason phrase on the wire.
    pub fn wire(self) -> (u16, &'static str) {
        match self {
            Self::Trying => (100, "Trying"),
            Self::Ok => (200, "OK"),
            Self::MovedTemporarily => (302, "Moved Temporarily"),
            Self::BadRequest => (400, "Bad Request"),
            Self::MalformedContact => (400, "Bad Request - Malformed Contact"),
            Self::HeaderTooLong => (400, "Bad Request - Header Too Long"),
            Self::DuplicateCallId => (400, "Bad Request - Duplicate Call-ID"),
            Self::Unauthorized => (401, "Unauthorized"),
            Self::ProxyAuthenticationRequired => (407, "Proxy Authentication Required"),
            Self::BadCredentials => (403, "Forbidden - Bad Credentials"),
            Self::TooManyFailures => (403, "Forbidden - Too Many Failed Attempts"),
            Self::TrunkNotAllowed => (403, "Forbidden - Trunk Not Allowed"),
            Self::TooManyContacts => (403, "Forbidden - Too Many Contacts"),
            Self::NotFromDrPeer => (403, "Forbidden - Not From The DR Peer"),
            Self::NotFound => (404, "Not Found"),
            Self::MethodNotAllowed => (405, "Method Not Allowed"),
            Self::NotAcceptable => (406, "Not Acceptable"),
            Self::RequestTimeout => (408, "Request Timeout"),
            Self::NotAcceptableHere => (488, "Not Acceptable Here"),
            Self::RequestUriTooLong => (414, "Request-URI Too Long"),
            Self::UnsupportedMediaType => (415, "Unsupported Media Type"),
            Self::UnsupportedUriScheme => (416, "Unsupported URI Scheme"),
            Self::BadExtension => (420, "Bad Extension"),
            Self::IntervalTooBrief => (423, "Interval Too Brief"),
            Self::TemporarilyUnavailable => (480, "Temporarily Unavailable"),
            Self::Released => (480, "Temporarily Unavailable - Released"),
            Self::QueueTimeout => (480, "Temporarily Unavailable - Queue Timeout"),
            Self::NoAnswer => (480, "Temporarily Unavailable - No Answer"),
            Self::NoSuchTransaction => (481, "Call/Transaction Does Not Exist"),
            Self::TooManyHops => (483, "Too Many Hops"),
            Self::BusyHere => (486, "Busy Here"),
            Self::RequestTerminated => (487, "Request Terminated"),
            Self::RequestPending => (491, "Request Pending"),
            Self::ServerError => (500, "Server Internal Error"),
            Self::CSeqOutOfOrder => (500, "Server Internal Error - CSeq Out Of Order"),
            Self::NotImplemented => (501, "Not Implemented"),
            Self::ServiceUnavailable => (503, "Service Unavailable"),
            Self::QueueFull => (503, "Service Unavailable - Queue Full"),
            Self::RegistrarFull => (503, "Service Unavailable - Registrar Full"),
            Self::MessageTooLarge => (513, "Message Too Large"),
            Self::Decline => (603, "Decline"),
            Self::DeclineShuttingDown => (603, "Decline - Shutting Down"),
            Self::ShuttingDown(code) => (code, "Shutting Down"),
            Self::Relayed(code) => (code, "Relayed"),
            Self::OriginRefused(code) => (code, "Origin Refused"),
            Self::Invalid(code, reason) => (code, reason),
        }
    }

    /// The status code.
    pub fn code(self) -> u16 {
        self.wire().0
    }

    /// What a caller hears when the callees failed with `code` (one place for the
    /// mapping: busy stays busy, a server failure becomes 503, anything odd 480).
    pub fn for_caller(code: u16) -> Self {
        match code {
            486 | 600 => Self::BusyHere,
            487 => Self::RequestTerminated,
            603 => Self::Decline,
            404 | 604 => Self::NotFound,
            500..=599 => Self::ServiceUnavailable,
            _ => Self::TemporarilyUnavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons_come_from_one_table() {
        assert_eq!(Status::QueueFull.wire(), (503, "Service Unavailable - Queue Full"));
        assert_eq!(Status::ShuttingDown(480).wire(), (480, "Shutting Down"));
        assert_eq!(Status::Trying.code(), 100);
    }

    #[test]
    fn callers_hear_a_mapped_failure() {
        for (callee, caller) in [(600, 486), (486, 486), (408, 480), (302, 480), (502, 503), (604, 404), (603, 603)] {
            assert_eq!(Status::for_caller(callee).code(), caller, "{callee}");
        }
    }
}
