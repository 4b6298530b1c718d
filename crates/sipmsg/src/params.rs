//! `;name=value` parameter lists of URIs and header values.

use crate::lex::{is_token, is_token_str, quoted_end, trim_lws};

/// A raw parameter list, starting just after the first `;` (or empty).
///
/// Validated once by [`Params::check`]; the accessors never panic on bad input,
/// they only return what they can find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a>(pub(crate) &'a str);

impl<'a> Params<'a> {
    /// The raw text after the first `;`.
    pub fn raw(&self) -> &'a str {
        self.0
    }

    /// Iterates `(name, value)` pairs; a value-less parameter yields `None`.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.0 }
    }

    /// Looks a parameter up by name, case-insensitively.
    /// `Some(None)` means present without a value (`;lr`).
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// True if the parameter is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Checks `generic-param` syntax: token names, token / host / quoted-string values,
    /// LWS allowed around `;` and `=`, no empty parameters.
    pub fn check(&self) -> bool {
        if self.0.is_empty() {
            return true;
        }
        split_params(self.0).all(|p| {
            let (name, value) = split_pair(p);
            is_token_str(name) && value.is_none_or(is_param_value)
        })
    }
}

/// Iterator over `(name, value)` pairs of a [`Params`].
pub struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (item, rest) = next_param(self.rest);
        self.rest = rest;
        Some(split_pair(item))
    }
}

/// Splits off the first parameter of `s` at a `;` outside quotes.
fn next_param(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i += quoted_end(&bytes[i..]).unwrap_or(bytes.len() - i),
            b';' => return (&s[..i], &s[i + 1..]),
            _ => i += 1,
        }
    }
    (s, "")
}

fn split_params(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let current = rest?;
        let (item, tail) = next_param(current);
        rest = (item.len() < current.len()).then_some(tail);
        Some(item)
    })
}

fn split_pair(p: &str) -> (&str, Option<&str>) {
    match p.find('=') {
        Some(eq) => (trim_lws(&p[..eq]), Some(trim_lws(&p[eq + 1..]))),
        None => (trim_lws(p), None),
    }
}

fn is_param_value(v: &str) -> bool {
    let bytes = v.as_bytes();
    if bytes.first() == Some(&b'"') {
        return quoted_end(bytes) == Some(bytes.len());
    }
    !v.is_empty() && v.bytes().all(|b| is_token(b) || matches!(b, b'[' | b']' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_around_separators_is_accepted() {
        let p = Params("   tag    = 1918181833n");
        assert!(p.check());
        assert_eq!(p.get("tag"), Some(Some("1918181833n")));
    }

    #[test]
    fn valueless_and_quoted_values() {
        let p = Params("lr;x=\"a;b\";q=0.5");
        assert!(p.check());
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.get("x"), Some(Some("\"a;b\"")));
        assert_eq!(p.get("Q"), Some(Some("0.5")));
        assert_eq!(p.get("missing"), None);
    }

    #[test]
    fn empty_parameters_are_refused() {
        assert!(!Params(";;").check());
        assert!(!Params("a=1;").check());
        assert!(!Params("a=").check());
    }
}
