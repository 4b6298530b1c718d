//! The DR peer's word, sealed: what only the DR peer may say (its login presence, and the
//! call UUID, UserData, ConnID and Routing Point it sends with a call) carries
//! `X-Tandem-Seal: t=<unix secs>;mac=<hex>`, an HMAC-SHA256 with the secret both sites
//! share (`peer_secret`) over the method, Call-ID, those headers and the body, and over
//! who sealed it for whom: `from=<sending site>;by=<its incarnation>;to=<receiving site>`.
//! A copy sent back to the process that sealed it (a reflection: it arrives from the
//! peer's address, sealed with the pair's secret) carries that process's own incarnation
//! (random per start, so two sites that happen to share a name still differ) and is
//! refused, as is one naming a third site as sender or another site as receiver. A seal
//! older than [`WINDOW_SECS`] (or from further in the future) is refused, so a copy cannot
//! be replayed later; within the window presence carries its own sequence number and a
//! replayed INVITE meets its Call-ID already in use.
//!
//! The `x-dr-fwd` marker of a 302 to the peer travels through the gateway, so it is
//! sealed in the URI parameter itself: `x-dr-fwd=<t>.<mac over the DN and t>`.

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use sipmsg::{Message, Method};

use crate::auth::constant_time_eq;

/// The header carrying a seal.
pub const SEAL_HEADER: &str = "X-Tandem-Seal";
/// The headers a seal covers (absent ones count as empty).
pub const SEALED_HEADERS: [&str; 4] =
    ["X-Genesys-CallUUID", "X-Tandem-UserData", "X-Tandem-ConnID", "X-Tandem-Routed-From"];
/// How old (or how far ahead) a seal may be, in seconds: the two sites' clocks must
/// agree within it (NTP does far better).
pub const WINDOW_SECS: u64 = 30;
/// Bytes of MAC kept (128 bits).
const MAC_BYTES: usize = 16;

/// Seals and checks with the pair's secret at one wall-clock second, for one site.
#[derive(Debug, Clone, Copy)]
pub struct Sealer<'a> {
    /// `peer_secret`.
    pub secret: &'a [u8],
    /// Unix seconds now.
    pub unix_now: u64,
    /// Our site's name: the sender of what we seal, the receiver of what we check.
    pub site: &'a str,
    /// The DR peer's site name, when the deployment knows it (the `dr-peer-trunk`'s
    /// contact is a site of the file): then only a seal naming it as sender passes, and
    /// ours name it as receiver. Unknown, ours name no receiver (`to=`).
    pub peer: Option<&'a str>,
    /// This process's incarnation (random per start): what we seal carries it, and a
    /// seal carrying it is ours coming back.
    pub incarnation: u64,
}

/// What a checked seal says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealFrom {
    /// The sending site, as the MAC proves.
    pub site: String,
}

impl Sealer<'_> {
    /// The seal header value for a request with these parts, from us to the peer.
    pub fn seal(&self, method: &str, call_id: &str, headers: [Option<&str>; 4], body: &[u8]) -> String {
        let (from, to, by) = (self.site, self.peer.unwrap_or(""), format!("{:016x}", self.incarnation));
        let mac = self.mac(self.unix_now, &parts(&[from, &by, to], method, call_id, headers, body));
        format!("t={};from={from};by={by};to={to};mac={}", self.unix_now, crate::auth::hex(&mac[..MAC_BYTES]))
    }

    /// True when `req` carries a seal of ours, within the window, over what it says, made
    /// by the peer for us (see [`Sealer::opened`]).
    pub fn check(&self, req: &Message<'_>) -> bool {
        self.opened(req).is_some()
    }

    /// The sender of `req`'s seal when the seal is good: our secret, within the window,
    /// over what it says, sealed by another process than ours (by the DR peer's name when
    /// we know it) for us (or for no named site).
    pub fn opened(&self, req: &Message<'_>) -> Option<SealFrom> {
        let header = |name: &str| req.headers().iter().find(|h| h.raw_name.eq_ignore_ascii_case(name)).map(|h| h.value);
        let seal = header(SEAL_HEADER).and_then(parse_seal)?;
        let method = req.method().map_or("", |m: Method<'_>| m.as_str());
        let headers = SEALED_HEADERS.map(header);
        let ends = [seal.from, seal.by, seal.to];
        let expected = self.mac(seal.t, &parts(&ends, method, req.call_id().unwrap_or(""), headers, req.body()));
        let authentic = self.in_window(seal.t) && constant_time_eq(&expected[..MAC_BYTES], &seal.mac);
        let ours = u64::from_str_radix(seal.by, 16).is_ok_and(|by| by == self.incarnation);
        let from_peer = !ours && self.peer.is_none_or(|p| p == seal.from);
        let for_us = seal.to.is_empty() || seal.to == self.site;
        (authentic && from_peer && for_us).then(|| SealFrom { site: seal.from.to_owned() })
    }

    /// The value of the `x-dr-fwd` marker for a 302 sending `dn`'s call to the peer.
    pub fn mark(&self, dn: &str) -> String {
        let mac = self.mac(self.unix_now, &[b"x-dr-fwd", dn.as_bytes()]);
        format!("{}.{}", self.unix_now, crate::auth::hex(&mac[..MAC_BYTES]))
    }

    /// True when `value` is a marker the peer made for `dn` within the window.
    pub fn mark_ok(&self, dn: &str, value: &str) -> bool {
        let Some((t, mac)) = value.split_once('.').and_then(|(t, m)| Some((t.parse::<u64>().ok()?, unhex(m)?))) else {
            return false;
        };
        let expected = self.mac(t, &[b"x-dr-fwd", dn.as_bytes()]);
        self.in_window(t) && constant_time_eq(&expected[..MAC_BYTES], &mac)
    }

    fn in_window(&self, t: u64) -> bool {
        self.unix_now.abs_diff(t) <= WINDOW_SECS
    }

    /// HMAC-SHA256 over `t` and each part, each length-prefixed (so parts cannot shift).
    fn mac(&self, t: u64, parts: &[&[u8]]) -> Vec<u8> {
        let Ok(mut m) = hmac::Hmac::<Sha256>::new_from_slice(self.secret) else {
            return vec![0; 32]; // HMAC takes a key of any length: never taken
        };
        m.update(&t.to_be_bytes());
        for part in parts {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        m.finalize().into_bytes().to_vec()
    }
}

/// The Contact of a 302 sending `dn`'s call to the DR peer at `to`, with the `x-dr-fwd`
/// marker: sealed with `seal`, or the plain `1` without `peer_secret`.
pub(crate) fn forward_contact(seal: Option<Sealer<'_>>, dn: &str, to: std::net::SocketAddr) -> String {
    let mark = seal.map_or_else(|| "1".to_owned(), |s| s.mark(dn));
    format!("<sip:{dn}@{to};x-dr-fwd={mark}>")
}

fn parts<'a>(
    ends: &[&'a str; 3],
    method: &'a str,
    call_id: &'a str,
    headers: [Option<&'a str>; 4],
    body: &'a [u8],
) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = ends.iter().map(|e| e.as_bytes()).collect();
    out.extend([method.as_bytes(), call_id.as_bytes()]);
    out.extend(headers.iter().map(|h| h.unwrap_or("").trim().as_bytes()));
    out.push(body);
    out
}

/// A seal header's fields.
struct Seal<'a> {
    t: u64,
    from: &'a str,
    by: &'a str,
    to: &'a str,
    mac: Vec<u8>,
}

/// `t=<secs>;from=<site>;by=<hex>;to=<site>;mac=<hex>`, in that order.
fn parse_seal(value: &str) -> Option<Seal<'_>> {
    let mut fields = value.trim().split(';').map(str::trim);
    let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=');
    let t = field("t")?.parse().ok()?;
    let (from, by, to) = (field("from")?, field("by")?, field("to")?);
    let mac = unhex(field("mac")?)?;
    Some(Seal { t, from, by, to, mac })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 2 * MAC_BYTES {
        return None;
    }
    crate::auth::unhex(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipmsg::Framing;

    fn message(seal: &str, user_data: &str) -> String {
        format!(
            "MESSAGE sip:presence@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKp1\r\n\
             From: <sip:site2@127.0.0.1:5062>;tag=1\r\nTo: <sip:presence@127.0.0.1:5060>\r\nCall-ID: p1\r\n\
             CSeq: 1 MESSAGE\r\nX-Tandem-UserData: {user_data}\r\nX-Tandem-Seal: {seal}\r\nContent-Length: 2\r\n\r\n{{}}"
        )
    }

    #[test]
    fn a_seal_covers_headers_and_body_and_expires() {
        let at_site2 =
            Sealer { secret: b"pair secret", unix_now: 1_000, site: "site2", peer: Some("site1"), incarnation: 2 };
        let s = Sealer { site: "site1", peer: Some("site2"), incarnation: 1, ..at_site2 };
        let seal = at_site2.seal("MESSAGE", "p1", [None, Some("{\"a\":1}"), None, None], b"{}");
        let text = message(&seal, "{\"a\":1}");
        let msg = Message::parse(text.as_bytes(), Framing::Datagram).expect("parsed");
        assert!(s.check(&msg));
        assert_eq!(s.opened(&msg), Some(SealFrom { site: "site2".into() }));
        assert!(Sealer { unix_now: 1_030, ..s }.check(&msg), "within the window");
        assert!(!Sealer { unix_now: 1_031, ..s }.check(&msg), "replayed too late");
        assert!(!Sealer { secret: b"guessed", ..s }.check(&msg), "another secret");
        let altered = message(&seal, "{\"a\":2}");
        let msg = Message::parse(altered.as_bytes(), Framing::Datagram).expect("parsed");
        assert!(!s.check(&msg), "UserData changed");
        let bare = message("t=1000;mac=00", "{\"a\":1}");
        assert!(!s.check(&Message::parse(bare.as_bytes(), Framing::Datagram).expect("parsed")));
    }

    #[test]
    fn a_seal_sent_back_to_its_sealer_or_to_a_third_site_is_refused() {
        let site1 =
            Sealer { secret: b"pair secret", unix_now: 1_000, site: "site1", peer: Some("site2"), incarnation: 1 };
        let site2 = Sealer { site: "site2", peer: Some("site1"), incarnation: 2, ..site1 };
        let parse = |seal: &str| message(seal, "");
        let ours = parse(&site1.seal("MESSAGE", "p1", [None; 4], b"{}"));
        let ours = Message::parse(ours.as_bytes(), Framing::Datagram).expect("parsed");
        assert!(site2.check(&ours), "site1 -> site2 passes at site2");
        assert!(!site1.check(&ours), "reflected back to site1");
        let unnamed = Sealer { peer: None, ..site1 };
        assert!(!unnamed.check(&ours), "reflected, even where the peer's name is unknown");
        // Two processes that share a site name (each file names its own site `s1`) still
        // tell their own seals from the peer's.
        let twin1 = Sealer { site: "s1", peer: None, incarnation: 11, ..site1 };
        let twin2 = Sealer { site: "s1", peer: None, incarnation: 12, ..site1 };
        let from_twin1 = parse(&twin1.seal("MESSAGE", "p1", [None; 4], b"{}"));
        let from_twin1 = Message::parse(from_twin1.as_bytes(), Framing::Datagram).expect("parsed");
        assert!(twin2.check(&from_twin1) && !twin1.check(&from_twin1));
        let site3 = Sealer { site: "site3", peer: None, incarnation: 3, ..site1 };
        assert!(!site3.check(&ours), "for site2, not site3");
        let site4 = Sealer { site: "site4", peer: Some("site3"), incarnation: 4, ..site1 };
        let from4 = parse(&site4.seal("MESSAGE", "p1", [None; 4], b"{}"));
        let from4 = Message::parse(from4.as_bytes(), Framing::Datagram).expect("parsed");
        assert!(!site2.check(&from4), "sealed by another site of the same secret");
        let forged = parse(&format!("t=1000;from=site2;by=0000000000000002;to=site1;mac={}", "0".repeat(32)));
        let forged = Message::parse(forged.as_bytes(), Framing::Datagram).expect("parsed");
        assert!(!site1.check(&forged), "a rewritten sender breaks the MAC");
    }

    #[test]
    fn a_forwarding_mark_is_for_one_dn_and_a_short_while() {
        let s = Sealer { secret: b"pair secret", unix_now: 1_000, site: "site1", peer: None, incarnation: 1 };
        let mark = s.mark("1001");
        assert!(s.mark_ok("1001", &mark));
        assert!(!s.mark_ok("1002", &mark));
        assert!(!Sealer { unix_now: 1_100, ..s }.mark_ok("1001", &mark));
        assert!(!s.mark_ok("1001", "1"), "the unsealed marker");
    }
}
