//! Character classes and small scanners from the RFC 3261 grammar (section 25.1).

/// `token` characters: alphanum and `-.!%*_+`'~`.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// A non-empty run of token characters.
pub(crate) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

/// Linear white space: SP, HTAB, and the CR/LF of a folded line.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

pub(crate) fn trim_lws_start(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// Parses a run of decimal digits (leading zeros allowed) into a `u64`, refusing overflow.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Byte index just past the quoted string that starts at `s[0] == '"'`.
///
/// Handles `\` quoted-pairs; `None` when the closing quote is missing.
pub(crate) fn quoted_end(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Splits a comma-separated header value into its elements, ignoring commas inside
/// quoted strings and `<...>`. Elements are trimmed of LWS.
pub(crate) fn split_list(value: &str) -> ListIter<'_> {
    ListIter { rest: value, done: false }
}

pub(crate) struct ListIter<'a> {
    rest: &'a str,
    done: bool,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let bytes = self.rest.as_bytes();
        let mut i = 0;
        let mut in_angle = false;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => match quoted_end(&bytes[i..]) {
                    Some(len) => i += len,
                    None => i = bytes.len(),
                },
                b'<' => {
                    in_angle = true;
                    i += 1;
                }
                b'>' => {
                    in_angle = false;
                    i += 1;
                }
                b',' if !in_angle => {
                    let item = &self.rest[..i];
                    self.rest = &self.rest[i + 1..];
                    return Some(trim_lws(item));
                }
                _ => i += 1,
            }
        }
        self.done = true;
        Some(trim_lws(self.rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_refuses_overflow_and_signs() {
        assert_eq!(parse_decimal("0068"), Some(68));
        assert_eq!(parse_decimal("-999"), None);
        assert_eq!(parse_decimal("36893488147419103232"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn list_split_respects_quotes_and_angles() {
        let items: Vec<_> = split_list(r#""a,b" <sip:x;y=1,2>;q=1 , <sip:z>"#).collect();
        assert_eq!(items, vec![r#""a,b" <sip:x;y=1,2>;q=1"#, "<sip:z>"]);
        let items: Vec<_> = split_list("a,,b").collect();
        assert_eq!(items, vec!["a", "", "b"]);
    }
}
