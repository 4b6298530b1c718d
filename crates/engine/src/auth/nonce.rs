//! Stateless nonces: `time . random . HMAC(secret, time . random . realm . site . DN .
//! source address)` in hex, so a site keeps nothing per challenge. A nonce is good only
//! at the site that issued it, for the DN it challenged and from the address it was sent
//! to: credentials captured at one site replay at no other, a spoofed source cannot use a
//! nonce it was never sent (so it cannot earn strikes for its victim), and a phone that
//! moves is simply challenged again. Only the nonce-count check (the guard's `counts`)
//! keeps state, for nonces that were used.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::digest::hex;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Hex digits of the issue time, of the random part and of the MAC.
const TIME_DIGITS: usize = 12;
const RANDOM_DIGITS: usize = 16;
const MAC_BYTES: usize = 16;
/// Length of a nonce Tandem issues.
pub(crate) const NONCE_LEN: usize = TIME_DIGITS + RANDOM_DIGITS + 2 * MAC_BYTES;

/// What a nonce is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The realm of the challenge.
    pub(crate) realm: &'a str,
    /// The site that issued it.
    pub(crate) site: &'a str,
    /// The DN it challenged (the To user of a REGISTER, the From user otherwise).
    pub(crate) dn: &'a str,
    /// The address it was sent to.
    pub(crate) source: std::net::IpAddr,
}

/// A nonce issued at `unix_secs` with `random` bits, bound to `scope`.
pub(crate) fn mint(secret: &[u8], scope: &Scope<'_>, unix_secs: u64, random: u64) -> String {
    let head = format!("{unix_secs:0TIME_DIGITS$x}{random:0RANDOM_DIGITS$x}");
    let mac = mac(secret, scope, &head);
    head + &hex(&mac[..MAC_BYTES])
}

/// A number 0..1000 that `secret` and `dn` alone fix: the same at every challenge and at
/// both sites, unpredictable without the secret.
pub(crate) fn draw_per_mille(secret: &[u8], dn: &str) -> u16 {
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else { return 0 }; // HMAC takes any key
    mac.update(b"dn-draw\0");
    mac.update(dn.as_bytes());
    let bytes = mac.finalize().into_bytes();
    u16::from_be_bytes([bytes[0], bytes[1]]) % 1000
}

/// The smallest nonce issued at `unix_secs` or later (nonces sort by issue time).
pub(crate) fn floor(unix_secs: u64) -> String {
    format!("{unix_secs:0TIME_DIGITS$x}")
}

/// What a nonce is, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Issued by a site with our secret, `unix_secs` ago at most `lifetime`.
    Fresh {
        /// When it was issued.
        issued: u64,
    },
    /// Ours, but older than the lifetime: challenge again with `stale=true`.
    Stale,
    /// Not ours (forged, altered, another realm, from the future).
    Invalid,
}

/// Checks `nonce` for `scope` at `unix_now`.
pub(crate) fn check(secret: &[u8], scope: &Scope<'_>, nonce: &str, unix_now: u64, lifetime_secs: u64) -> NonceCheck {
    if nonce.len() != NONCE_LEN || !nonce.is_ascii() {
        return NonceCheck::Invalid;
    }
    let (head, tag) = nonce.split_at(TIME_DIGITS + RANDOM_DIGITS);
    let Some(tag) = unhex(tag) else {
        return NonceCheck::Invalid;
    };
    if !constant_time_eq(&mac(secret, scope, head)[..MAC_BYTES], &tag) {
        return NonceCheck::Invalid;
    }
    let Ok(issued) = u64::from_str_radix(&head[..TIME_DIGITS], 16) else {
        return NonceCheck::Invalid;
    };
    match unix_now.checked_sub(issued) {
        None if issued > unix_now + 5 => NonceCheck::Invalid,
        Some(age) if age > lifetime_secs => NonceCheck::Stale,
        _ => NonceCheck::Fresh { issued },
    }
}

/// HMAC-SHA256(secret, head . realm . site . dn . source), each part after the head
/// length-prefixed; HMAC takes a key of any length, so the error arm is never taken.
fn mac(secret: &[u8], scope: &Scope<'_>, head: &str) -> Vec<u8> {
    let Ok(mut m) = HmacSha256::new_from_slice(secret) else {
        return vec![0; 32];
    };
    m.update(head.as_bytes());
    let source = scope.source.to_string();
    for part in [scope.realm, scope.site, scope.dn, source.as_str()] {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part.as_bytes());
    }
    m.finalize().into_bytes().to_vec()
}

/// Equal contents, compared in time that depends on the length only (secrets: nonce
/// MACs, seals, CTI tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(realm: &'a str, site: &'a str, dn: &'a str, source: &str) -> Scope<'a> {
        Scope { realm, site, dn, source: source.parse().expect("ip") }
    }

    #[test]
    fn a_nonce_verifies_with_the_same_secret_and_scope_only_and_goes_stale() {
        let ours = scope("tandem", "site1", "1001", "192.0.2.1");
        let nonce = mint(b"pair-secret", &ours, 1_000, 42);
        assert_eq!(nonce.len(), NONCE_LEN);
        assert_eq!(check(b"pair-secret", &ours, &nonce, 1_010, 300), NonceCheck::Fresh { issued: 1_000 });
        assert_eq!(check(b"pair-secret", &ours, &nonce, 1_301, 300), NonceCheck::Stale);
        assert_eq!(check(b"other-secret", &ours, &nonce, 1_010, 300), NonceCheck::Invalid);
        for (what, other) in [
            ("realm", scope("other", "site1", "1001", "192.0.2.1")),
            ("site", scope("tandem", "site2", "1001", "192.0.2.1")),
            ("DN", scope("tandem", "site1", "1002", "192.0.2.1")),
            ("source", scope("tandem", "site1", "1001", "192.0.2.2")),
        ] {
            assert_eq!(check(b"pair-secret", &other, &nonce, 1_010, 300), NonceCheck::Invalid, "another {what}");
        }
        assert_eq!(check(b"pair-secret", &ours, &nonce, 900, 300), NonceCheck::Invalid, "from the future");
        let mut altered = nonce.clone().into_bytes();
        altered[3] = if altered[3] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).expect("ascii");
        assert_eq!(check(b"pair-secret", &ours, &altered, 1_010, 300), NonceCheck::Invalid);
        assert_eq!(check(b"pair-secret", &ours, "short", 1_010, 300), NonceCheck::Invalid);
        assert!(floor(1_000) <= nonce && floor(1_001) > nonce);
    }
}
