//! The CSeq header (RFC 3261 section 20.16).

use crate::lex::{is_lws, is_token_str, parse_decimal, trim_lws};
use crate::Method;

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number, at most 2^32 - 1.
    pub seq: u32,
    /// The method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value; refuses numbers above 2^32 - 1 and non-token methods.
    pub fn parse(s: &'a str) -> Option<Self> {
        let s = trim_lws(s);
        let split = s.find(|c: char| c.is_ascii() && is_lws(c as u8))?;
        let seq = u32::try_from(parse_decimal(&s[..split])?).ok()?;
        let method = trim_lws(&s[split..]);
        is_token_str(method).then(|| Self { seq, method: Method::parse(method) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_and_folding() {
        let c = CSeq::parse("0009\r\n  INVITE").expect("valid");
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::Invite);
    }

    #[test]
    fn out_of_range_is_refused() {
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_none());
        assert!(CSeq::parse("4294967296 REGISTER").is_none());
        assert!(CSeq::parse("4294967295 REGISTER").is_some());
        assert!(CSeq::parse("1").is_none());
    }
}
