//! `name-addr` / `addr-spec` values of From, To, Contact, Route and Record-Route.

use crate::lex::{is_lws, is_token, quoted_end, trim_lws, trim_lws_start};
use crate::{Params, Uri};

/// A display name (optional), a URI and header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: a quoted string with its quotes, or tokens.
    pub display: Option<&'a str>,
    /// The URI, as written between `<` and `>` (or the bare addr-spec).
    pub uri_text: &'a str,
    /// The parsed URI.
    pub uri: Uri<'a>,
    /// Header parameters after the URI (`;tag=...;expires=...`).
    pub params: Params<'a>,
}

/// One Contact value: `*` (remove all bindings) or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *`
    Star,
    /// `Contact: <sip:...>;expires=...`
    Address(NameAddr<'a>),
}

impl<'a> NameAddr<'a> {
    /// Parses one name-addr or addr-spec with its header parameters.
    pub fn parse(s: &'a str) -> Option<Self> {
        let s = trim_lws(s);
        let bytes = s.as_bytes();
        let (display, after_display) = if bytes.first() == Some(&b'"') {
            let end = quoted_end(bytes)?;
            (Some(&s[..end]), trim_lws_start(&s[end..]))
        } else {
            match display_tokens_end(bytes) {
                Some(end) => {
                    let name = trim_lws(&s[..end]);
                    ((!name.is_empty()).then_some(name), &s[end..])
                }
                None => return Self::parse_addr_spec(s),
            }
        };
        let inner = after_display.strip_prefix('<')?;
        let close = inner.find('>')?;
        let uri_text = &inner[..close];
        let uri = Uri::parse(uri_text)?;
        let params = header_params(&inner[close + 1..])?;
        Some(Self { display, uri_text, uri, params })
    }

    /// The `tag` parameter of a From or To value.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }

    /// The addr-spec form: no display name, no brackets; parameters after the first
    /// `;` belong to the header, and an addr-spec may not carry `?headers` or commas.
    fn parse_addr_spec(s: &'a str) -> Option<Self> {
        let end = s.find(';').unwrap_or(s.len());
        let uri_text = trim_lws(&s[..end]);
        if uri_text.contains(['?', ',']) {
            return None;
        }
        let uri = Uri::parse(uri_text)?;
        let params = header_params(&s[end..])?;
        Some(Self { display: None, uri_text, uri, params })
    }
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(s: &'a str) -> Option<Self> {
        if trim_lws(s) == "*" {
            return Some(Self::Star);
        }
        NameAddr::parse(s).map(Self::Address)
    }

    /// The `expires` parameter, saturating at `u32::MAX`; `None` if absent or not a number.
    pub fn expires(&self) -> Option<u32> {
        let Self::Address(addr) = self else {
            return None;
        };
        let value = addr.params.get("expires").flatten()?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(value.parse::<u64>().map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)))
    }

    /// The `q` parameter in thousandths (`q=0.7` is 700); 1000 when absent or malformed.
    pub fn q(&self) -> u16 {
        let Self::Address(addr) = self else {
            return 1000;
        };
        addr.params.get("q").flatten().and_then(parse_q).unwrap_or(1000)
    }
}

/// If `bytes` starts with a display name made of tokens and LWS followed by `<`,
/// returns the index of the `<`.
fn display_tokens_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| !(is_token(b) || is_lws(b))).filter(|&i| bytes[i] == b'<')
}

fn header_params(rest: &str) -> Option<Params<'_>> {
    let rest = trim_lws_start(rest);
    if rest.is_empty() {
        return Some(Params::default());
    }
    let params = Params(rest.strip_prefix(';')?);
    params.check().then_some(params)
}

fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let int: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = int + thousandths;
    (q <= 1000).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_name_with_escapes() {
        let a = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8"#,
        )
        .expect("valid");
        assert_eq!(a.display, Some(r#""J Rosenberg \\\"""#));
        assert_eq!(a.tag(), Some("98asjd8"));
    }

    #[test]
    fn token_display_name_without_space_before_angle() {
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").expect("valid");
        assert_eq!(a.display, Some("caller"));
        assert_eq!(a.tag(), Some("323"));
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let c = Contact::parse("sip:+19725552222@gw1.example.net;unknownparam;expires=60").expect("valid");
        let Contact::Address(a) = c else { panic!("address expected") };
        assert!(a.params.contains("unknownparam"));
        assert_eq!(c.expires(), Some(60));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_none());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_none());
        assert!(NameAddr::parse("Watson, Thomas <sip:t.watson@example.org>").is_none());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_none());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_none());
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("0.33"), Some(330));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("2"), None);
    }

    #[test]
    fn huge_expires_saturates() {
        let c = Contact::parse("<sip:user@host129.example.com>\r\n  ;expires=280297596632815").expect("valid");
        assert_eq!(c.expires(), Some(u32::MAX));
    }
}
