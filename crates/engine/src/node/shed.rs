//! Shedding before the parse (issue 8): under overload most of what arrives is new INVITEs
//! that will be refused and the ACKs of those refusals, two messages per refused call. A
//! full parse of each cost as much as the rest of the refusal, so while the site sheds,
//! both are recognised from their raw head instead: the first line, the top Via's branch
//! and the To tag. Anything the quick look is unsure of (folded lines, a second To, no
//! RFC 3261 branch, a To tag on an INVITE) takes the full path, which decides the same.
//!
//! The refusal's To tag starts with [`REFUSAL_TAG`], which no tag of ours otherwise does
//! (those are hex digits), so its ACK is known by that alone and dropped unparsed.

use std::time::Instant;

use sipcore::Peer;

use super::Node;
use crate::Pressure;

/// How the To tag of an overload 503 starts (not a hex digit: no dialog tag of ours does).
pub(super) const REFUSAL_TAG: &str = "shed";

/// What the quick look found in a request's head.
#[derive(Debug, Default, PartialEq, Eq)]
struct RawHead<'a> {
    /// The top Via's `branch` parameter.
    branch: Option<&'a str>,
    /// The To header's `tag` parameter.
    to_tag: Option<&'a str>,
}

/// Scans the head (up to the blank line) for the top Via's branch and the To tag. `None`
/// when it cannot tell for sure: a folded line, a second To, a head with no end.
fn scan(bytes: &[u8]) -> Option<RawHead<'_>> {
    let head_len = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..head_len]).ok()?;
    let mut found = RawHead::default();
    let (mut via_seen, mut to_seen) = (false, false);
    for line in head.split("\r\n").skip(1) {
        if line.starts_with([' ', '\t']) {
            return None; // folded: leave it to the parser
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim_end();
        if !via_seen && (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v")) {
            via_seen = true;
            let first = value.split(',').next().unwrap_or("");
            found.branch = param(first, "branch");
        } else if name.eq_ignore_ascii_case("to") || name.eq_ignore_ascii_case("t") {
            if to_seen {
                return None;
            }
            to_seen = true;
            // Parameters after the name-addr's `>` (or all of it for a bare URI, whose
            // own parameters would be the To's: RFC 3261 section 20.10).
            let params = value.rsplit_once('>').map_or(value, |(_, after)| after);
            found.to_tag = param(params, "tag");
        }
    }
    (via_seen && to_seen).then_some(found)
}

/// The value of `;name=value` in a header value's parameters.
fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (key, v) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Node {
    /// Deals with a request from its raw bytes when that is safe and the site sheds:
    /// the ACK of an overload 503 is dropped, a new INVITE that would be refused gets its
    /// 503. True when the message was dealt with; false sends it down the full path.
    pub(super) fn shed_unparsed(&mut self, now: Instant, peer: Peer, bytes: &[u8]) -> bool {
        if bytes.starts_with(b"ACK ") {
            if !self.admission.refused_lately(now) {
                return false; // no refusal of ours can be waiting for its ACK
            }
            let refused = scan(bytes).and_then(|h| h.to_tag).is_some_and(|t| t.starts_with(REFUSAL_TAG));
            if refused {
                self.stats.requests_in += 1;
                self.stats.refusal_acks_absorbed += 1;
            }
            return refused;
        }
        if !bytes.starts_with(b"INVITE ") || !self.sheds_raw_invites_from(peer) {
            return false;
        }
        let Some(head) = scan(bytes) else { return false };
        let Some(branch) = head.branch.filter(|b| b.starts_with("z9hG4bK") && b.len() > 7) else { return false };
        if head.to_tag.is_some() || self.transactions.knows_server_branch(branch, sipmsg::Method::Invite) {
            return false;
        }
        let full = self.at_a_cap();
        if !full && !self.admission.refuse_new_work(now) {
            return false; // there is room: the full path admits it
        }
        self.stats.requests_in += 1;
        let retry_after = self.retry_after();
        self.new_refusal_tag();
        let extra = format!("Retry-After: {retry_after}\r\n");
        match crate::reply::stateless_reject_with(bytes, 503, "Service Unavailable", &self.tag, &extra) {
            Some(out) => {
                self.transmits.push_back(sipcore::Transmit { to: peer, bytes: out.into() });
                *self.stats.responses_out.entry(503).or_default() += 1;
                self.stats.overload_rejected += 1;
                self.stats.overload_rejected_unparsed += 1;
                self.admission.note_refusal(now);
            }
            None => self.stats.dropped += 1,
        }
        true
    }

    /// Whether a new INVITE from `peer` may be refused from its raw head: only while the
    /// site sheds, never from the DR peer, and only from sources the full path would not
    /// first hold to a rate or ask for credentials (trunks always qualify).
    fn sheds_raw_invites_from(&self, peer: Peer) -> bool {
        let shedding = self.admission.pressure() > Pressure::Normal
            || self.admission.new_work_limit().is_some()
            || self.at_a_cap();
        if !shedding || self.config.is_dr_peer(peer.addr) {
            return false;
        }
        let checked_first = self.config.capacity.per_source_rate > 0 || self.config.auth.is_some();
        !checked_first || self.config.dns.trunk_from(&peer).is_some()
    }

    /// Calls or transactions at their cap: every new INVITE is refused.
    pub(super) fn at_a_cap(&self) -> bool {
        self.b2bua.len() >= self.config.capacity.max_calls
            || self.transactions.stats().live >= self.config.capacity.max_transactions as u64
    }

    /// A refusal's `Retry-After`: the configured base jittered by +-50 % so refused
    /// callers do not all come back at once (RFC 3261 section 21.5.4, RFC 6357 section 4).
    pub(super) fn retry_after(&mut self) -> u64 {
        use rand::Rng as _;
        let base = self.config.capacity.retry_after.as_secs().max(2);
        self.rng.gen_range(base / 2..=base + base / 2)
    }

    /// A fresh To tag for an overload 503: [`REFUSAL_TAG`] and 8 hex digits.
    pub(super) fn new_refusal_tag(&mut self) {
        use rand::Rng as _;
        use std::fmt::Write as _;
        self.tag.clear();
        let _ = write!(self.tag, "{REFUSAL_TAG}{:08x}", self.rng.gen::<u32>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1000@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-a1;rport, SIP/2.0/UDP x;branch=z9hG4bK-b\r\nv: SIP/2.0/UDP y;branch=z9hG4bK-c\r\nFrom: <sip:a@h>;tag=f1\r\nTo: \"Bob;tag=no\" <sip:1000@h;tag=no>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn the_top_via_branch_and_the_to_tag_are_found_where_the_parser_finds_them() {
        let head = scan(INVITE.as_bytes()).expect("scanned");
        assert_eq!(
            head,
            RawHead { branch: Some("z9hG4bK-a1"), to_tag: None },
            "URI and display-name params are not the To's"
        );
        let parsed = sipmsg::Message::parse(INVITE.as_bytes(), sipmsg::Framing::Datagram).expect("parses");
        assert_eq!(parsed.top_via().and_then(|v| v.branch()), head.branch);
        assert_eq!(parsed.to().and_then(|t| t.tag()), head.to_tag);
        let acked = INVITE.replace("To: \"Bob;tag=no\" <sip:1000@h;tag=no>", "t: <sip:1000@h>;Tag=shed0a1b2c3d");
        assert_eq!(scan(acked.as_bytes()).and_then(|h| h.to_tag), Some("shed0a1b2c3d"));
        let bare = INVITE.replace("To: \"Bob;tag=no\" <sip:1000@h;tag=no>", "To: sip:1000@h;tag=t9");
        assert_eq!(scan(bare.as_bytes()).and_then(|h| h.to_tag), Some("t9"));
    }

    #[test]
    fn an_unsure_head_is_left_to_the_parser() {
        let folded = INVITE.replace("To: \"Bob", "To:\r\n \"Bob");
        assert_eq!(scan(folded.as_bytes()), None, "folded line");
        let two = INVITE.replace("Call-ID: c\r\n", "Call-ID: c\r\nTo: <sip:x@h>;tag=shed1\r\n");
        assert_eq!(scan(two.as_bytes()), None, "a second To");
        assert_eq!(scan(&INVITE.as_bytes()[..60]), None, "no end of head");
        let no_via = INVITE.lines().filter(|l| !l.starts_with("Via") && !l.starts_with("v:")).collect::<Vec<_>>();
        assert_eq!(scan(format!("{}\r\n", no_via.join("\r\n")).as_bytes()), None, "no Via");
    }
}
