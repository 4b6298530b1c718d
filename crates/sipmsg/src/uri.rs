//! SIP and other absolute URIs (RFC 3261 section 19.1, RFC 3986).

use crate::lex::{is_token, parse_decimal};
use crate::Params;

/// A URI as it appears in a Request-URI or a name-addr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// A `sip:` or `sips:` URI, parsed into its parts.
    Sip(SipUri<'a>),
    /// Any other scheme (`tel:`, `http:`, ...), kept opaque.
    Other {
        /// The scheme, without the colon.
        scheme: &'a str,
        /// Everything after the colon.
        rest: &'a str,
    },
}

/// The parts of a `sip:`/`sips:` URI. All fields are raw (escapes not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, if any.
    pub user: Option<&'a str>,
    /// The password part, if any.
    pub password: Option<&'a str>,
    /// Host name, IPv4 address, or bracketed IPv6 reference.
    pub host: &'a str,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// Embedded headers after `?`, raw.
    pub headers: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Parses an absolute URI. Returns `None` for anything malformed: no scheme, white
    /// space or angle brackets, a bad host or port.
    pub fn parse(s: &'a str) -> Option<Self> {
        let colon = s.find(':')?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        if !is_scheme(scheme) || rest.is_empty() || rest.bytes().any(is_forbidden) {
            return None;
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            let secure = scheme.len() == 4;
            return SipUri::parse_after_scheme(rest, secure).map(Uri::Sip);
        }
        Some(Self::Other { scheme, rest })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Self::Sip(sip) => Some(sip),
            Self::Other { .. } => None,
        }
    }

    /// The user part of a SIP URI, or the subscriber of a `tel:` URI.
    pub fn user(&self) -> Option<&'a str> {
        match self {
            Self::Sip(sip) => sip.user,
            Self::Other { scheme, rest } if scheme.eq_ignore_ascii_case("tel") => {
                Some(rest.split(';').next().unwrap_or(rest))
            }
            Self::Other { .. } => None,
        }
    }
}

impl<'a> SipUri<'a> {
    fn parse_after_scheme(rest: &'a str, secure: bool) -> Option<Self> {
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.find(':') {
                Some(c) => (Some(&info[..c]), Some(&info[c + 1..])),
                None => (Some(info), None),
            },
            None => (None, None),
        };
        if user.is_some_and(|u| u.is_empty() || !u.bytes().all(is_user_char)) {
            return None;
        }
        let (hostport, tail) = split_hostport(hostpart);
        let (host, port) = parse_hostport(hostport)?;
        let (params, headers) = split_tail(tail);
        if !params.check() || headers.is_some_and(str::is_empty) {
            return None;
        }
        Some(Self { secure, user, password, host, port, params, headers })
    }
}

fn split_hostport(s: &str) -> (&str, &str) {
    let end = s.find([';', '?']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn parse_hostport(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']')?;
        let after = &s[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (&s[..=close], port)
    } else {
        match s.rfind(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    if !is_host(host) {
        return None;
    }
    let port = match port {
        Some(p) => Some(u16::try_from(parse_decimal(p)?).ok()?),
        None => None,
    };
    Some((host, port))
}

fn split_tail(tail: &str) -> (Params<'_>, Option<&str>) {
    let (params, headers) = match tail.find('?') {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    (Params(params.strip_prefix(';').unwrap_or(params)), headers)
}

fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn is_forbidden(b: u8) -> bool {
    b <= b' ' || matches!(b, b'<' | b'>' | b'"' | 0x7f)
}

fn is_user_char(b: u8) -> bool {
    is_token(b) || matches!(b, b'(' | b')' | b'&' | b'=' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
    }
    !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl Uri<'_> {
    /// Parses `host[:port]` as in a Via sent-by.
    pub(crate) fn parse_host_port(s: &str) -> Option<(&str, Option<u16>)> {
        parse_hostport(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        *Uri::parse(s).and_then(|u| u.as_sip().copied()).as_ref().expect("a SIP URI")
    }

    #[test]
    fn full_sip_uri() {
        let u = sip("sip:alice:secret@[2001:db8::10]:5070;transport=tcp;lr?subject=x");
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.get("transport"), Some(Some("tcp")));
        assert_eq!(u.headers, Some("subject=x"));
    }

    #[test]
    fn unusual_but_legal_userinfo() {
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(u.user, Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
        assert_eq!(u.host, "example.com");
    }

    #[test]
    fn malformed_uris_are_refused() {
        assert!(Uri::parse("<sip:user@example.com>").is_none());
        assert!(Uri::parse("sip:user@example.com; lr").is_none());
        assert!(Uri::parse("sip:user@exa mple.com").is_none());
        assert!(Uri::parse("sip:user@example.com:99999").is_none());
        assert!(Uri::parse("nocolon").is_none());
        assert!(Uri::parse("sip:@example.com").is_none());
    }

    #[test]
    fn other_schemes_stay_opaque() {
        assert!(matches!(Uri::parse("tel:+1-201-555-0123"), Some(Uri::Other { scheme: "tel", .. })));
        assert_eq!(Uri::parse("tel:+12015550123;phone-context=x").and_then(|u| u.user()), Some("+12015550123"));
        assert!(matches!(Uri::parse("soap.beep://192.0.2.103:3002"), Some(Uri::Other { .. })));
    }
}
