//! HTTP Digest as SIP uses it (RFC 3261 section 22.4, RFC 8760 for SHA-256): the
//! credentials a request carries in `Authorization`/`Proxy-Authorization`, parsed
//! without copying, and the `response` a server expects for them.

use md5::Md5;
use sha2::Sha256;

/// A digest algorithm Tandem offers, strongest first in a challenge (RFC 8760 section 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// `SHA-256` (RFC 8760).
    Sha256,
    /// `MD5` (RFC 2617): what most phones still speak.
    Md5,
}

impl Algorithm {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Md5 => "MD5",
        }
    }

    /// The algorithm a credentials' `algorithm=` names (absent means MD5, RFC 2617).
    pub fn from_name(name: Option<&str>) -> Option<Self> {
        match name {
            None => Some(Self::Md5),
            Some(n) if n.eq_ignore_ascii_case("MD5") => Some(Self::Md5),
            Some(n) if n.eq_ignore_ascii_case("SHA-256") => Some(Self::Sha256),
            Some(_) => None,
        }
    }

    /// Lowercase hex of the hash of `parts` joined by `:`.
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(part);
            }
            hex(&d.finalize())
        }
        match self {
            Self::Sha256 => run::<Sha256>(parts),
            Self::Md5 => run::<Md5>(parts),
        }
    }

    /// HA1 = H(username:realm:password): what the configuration stores instead of a password.
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hash_hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The fields of one `Digest` credentials header, borrowed from the message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `username`.
    pub username: &'a str,
    /// `realm`.
    pub realm: &'a str,
    /// `nonce`.
    pub nonce: &'a str,
    /// `uri` (the Request-URI as the client saw it).
    pub uri: &'a str,
    /// `response`: the hex digest to check.
    pub response: &'a str,
    /// `algorithm`, as written.
    pub algorithm: Option<&'a str>,
    /// `cnonce`.
    pub cnonce: &'a str,
    /// `qop`.
    pub qop: Option<&'a str>,
    /// `nc`, as written (8 hex digits).
    pub nc: &'a str,
}

impl<'a> Credentials<'a> {
    /// Parses `Digest k=v, k="v", ...`; None for another scheme or a malformed list.
    pub fn parse(value: &'a str) -> Option<Self> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut creds = Self::default();
        for (name, value) in params(rest)? {
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => &mut creds.username,
                "realm" => &mut creds.realm,
                "nonce" => &mut creds.nonce,
                "uri" => &mut creds.uri,
                "response" => &mut creds.response,
                "cnonce" => &mut creds.cnonce,
                "nc" => &mut creds.nc,
                "algorithm" => {
                    creds.algorithm = Some(value);
                    continue;
                }
                "qop" => {
                    creds.qop = Some(value);
                    continue;
                }
                _ => continue,
            };
            *slot = value;
        }
        Some(creds)
    }

    /// The `nc` value, when it is the 8 hex digits RFC 2617 asks for.
    pub fn nonce_count(&self) -> Option<u32> {
        (self.nc.len() == 8).then(|| u32::from_str_radix(self.nc, 16).ok()).flatten()
    }

    /// The response a client knowing `ha1` computes for `method` (qop=auth, RFC 2617
    /// section 3.2.2.1).
    pub fn expected_response(&self, algorithm: Algorithm, ha1: &str, method: &str) -> String {
        let ha2 = algorithm.hash_hex(&[method.as_bytes(), self.uri.as_bytes()]);
        algorithm.hash_hex(&[
            ha1.as_bytes(),
            self.nonce.as_bytes(),
            self.nc.as_bytes(),
            self.cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ])
    }
}

/// The client side, for simulated phones and tests: the `Authorization` value answering
/// `challenge` (a `WWW-Authenticate`/`Proxy-Authenticate` value) for `method` on `uri`
/// with nonce-count `nc`. None when the challenge is no digest or names an algorithm we
/// do not know.
pub fn authorize(challenge: &str, method: &str, uri: &str, username: &str, password: &str, nc: u32) -> Option<String> {
    let c = Credentials::parse(challenge)?;
    let algorithm = Algorithm::from_name(c.algorithm)?;
    let ha1 = algorithm.ha1(username, c.realm, password);
    let nc = format!("{nc:08x}");
    let cnonce = algorithm.hash_hex(&[c.nonce.as_bytes(), nc.as_bytes()])[..16].to_owned();
    let creds = Credentials { username, uri, nc: &nc, cnonce: &cnonce, qop: Some("auth"), ..c };
    let response = creds.expected_response(algorithm, &ha1, method);
    Some(format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", \
         algorithm={}, qop=auth, nc={nc}, cnonce=\"{cnonce}\"",
        c.realm,
        c.nonce,
        algorithm.name()
    ))
}

/// Splits `k=v, k="v, quoted"` into pairs; None when a pair has no `=` or a quote is open.
fn params(mut rest: &str) -> Option<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() || out.len() >= 32 {
            return Some(out);
        }
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim_end(), &after[end..])
        };
        out.push((name.trim(), value));
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 section 3.5's example, with its HA2 method GET.
    #[test]
    fn rfc_2617_md5_example() {
        let creds = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("parsed");
        let ha1 = Algorithm::Md5.ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(creds.expected_response(Algorithm::Md5, &ha1, "GET"), creds.response);
        assert_eq!(creds.nonce_count(), Some(1));
    }

    /// RFC 7616 section 3.9.1's SHA-256 example (the algorithm RFC 8760 brings to SIP).
    #[test]
    fn rfc_7616_sha256_example() {
        let creds = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .expect("parsed");
        assert_eq!(Algorithm::from_name(creds.algorithm), Some(Algorithm::Sha256));
        let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(creds.expected_response(Algorithm::Sha256, &ha1, "GET"), creds.response);
    }

    #[test]
    fn other_schemes_and_open_quotes_are_not_credentials() {
        assert_eq!(Credentials::parse("Basic dXNlcjpwYXNz"), None);
        assert_eq!(Credentials::parse("Digest username=\"open"), None);
        assert_eq!(Credentials::parse("Digest novalue"), None);
        let creds = Credentials::parse("digest  username = 1001 ,nc=zz").expect("parsed");
        assert_eq!(creds.username, "1001");
        assert_eq!(creds.nonce_count(), None);
        assert_eq!(Algorithm::from_name(Some("SHA-512-256")), None);
    }
}
