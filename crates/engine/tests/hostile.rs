//! Input a hostile peer could send: fields that the parser accepts but that would break
//! the messages Tandem derives from them (B-leg INVITE, CANCEL, responses), in every
//! order with CANCEL and the no-answer timer. The site must answer with a 4xx, keep
//! working, and send only messages that parse.

mod common;

use std::time::Duration;

use common::{register, Sent, Site};

const GW: &str = "127.0.0.1:5080";
const PHONE: &str = "127.0.0.1:6001";

/// The fields of a gateway INVITE, any of which a test may make huge.
struct Invite {
    uri: String,
    via_host: String,
    from: String,
    to: String,
    call_id: String,
    contact: String,
    branch: String,
}

impl Invite {
    fn to(dn: &str) -> Self {
        Self {
            uri: format!("sip:{dn}@127.0.0.1:5060"),
            via_host: GW.to_owned(),
            from: "<sip:+12025550147@127.0.0.1:5080>".to_owned(),
            to: format!("<sip:{dn}@127.0.0.1:5060>"),
            call_id: "hostile-1@gw".to_owned(),
            contact: "<sip:gw@127.0.0.1:5080>".to_owned(),
            branch: "z9hG4bKhostile".to_owned(),
        }
    }

    /// The INVITE, with compact header names (the form that grows when we copy it).
    fn bytes(&self) -> Vec<u8> {
        let sdp = "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 2 RTP/AVP 0\r\n";
        format!(
            "INVITE {} SIP/2.0\r\nv: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\n\
             f: {};tag=gw1\r\nt: {}\r\ni: {}\r\nCSeq: 1 INVITE\r\nm: {}\r\nc: application/sdp\r\n\
             l: {}\r\n\r\n{sdp}",
            self.uri,
            self.via_host,
            self.branch,
            self.from,
            self.to,
            self.call_id,
            self.contact,
            sdp.len()
        )
        .into_bytes()
    }

    /// The gateway's CANCEL for it.
    fn cancel(&self) -> Vec<u8> {
        format!(
            "CANCEL {} SIP/2.0\r\nv: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\n\
             f: {};tag=gw1\r\nt: {}\r\ni: {}\r\nCSeq: 1 CANCEL\r\nl: 0\r\n\r\n",
            self.uri, self.via_host, self.branch, self.from, self.to, self.call_id
        )
        .into_bytes()
    }
}

/// A value that fills a header line to just under the parser's 8,192-byte line limit.
fn near_line_limit(prefix: usize) -> String {
    "a".repeat(8_192 - prefix - 32)
}

fn site_with_phone() -> Site {
    let mut site = Site::new();
    let out = site.send(&register("1000", "reg-1000", 1, &format!("<sip:1000@{PHONE}>"), Some(3600)));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site
}

/// Every message the node sent parses; returns the first lines. A refusal may lack the
/// lines that were too long to echo (the stateless answer leaves them out).
fn lines(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .map(|s| {
            match sipmsg::Message::parse(&s.bytes, sipmsg::Framing::Datagram) {
                Ok(_) => {}
                Err(sipmsg::ParseError::Missing(_)) if s.bytes.starts_with(b"SIP/2.0 4") => {}
                Err(e) => panic!("the node sent invalid SIP ({e:?}): {}", s.first_line()),
            }
            format!("{} {}", s.to, s.first_line())
        })
        .collect()
}

/// After the hostile exchange, an ordinary call still rings the phone.
fn still_delivers(site: &mut Site) {
    let mut ok = Invite::to("1000");
    ok.call_id = "after@gw".to_owned();
    ok.branch = "z9hG4bKafter".to_owned();
    let got = lines(&site.send_from(GW, &ok.bytes()));
    assert!(got.iter().any(|l| l.starts_with(&format!("{PHONE} INVITE"))), "{got:?}");
}

/// Sends the INVITE, then optionally CANCEL, then lets the no-answer timer run out.
fn exchange(site: &mut Site, invite: &Invite, cancel: bool) -> Vec<String> {
    exchange_ringing(site, invite, cancel, false)
}

/// As [`exchange`]; with `ring`, the phone answers its INVITE with 180 first (a CANCEL
/// may only follow a provisional, RFC 3261 section 9.1).
fn exchange_ringing(site: &mut Site, invite: &Invite, cancel: bool, ring: bool) -> Vec<String> {
    let sent = site.send_from(GW, &invite.bytes());
    let mut got = lines(&sent);
    if let Some(b_invite) = sent.iter().find(|s| ring && s.to.to_string() == PHONE && s.bytes.starts_with(b"INVITE")) {
        let req = b_invite.msg();
        let stamp = sipmsg::ViaStamp::default();
        let ringing =
            sipmsg::MessageBuilder::response_to(&req, 180, "Ringing", Some("ph180"), &stamp).finish(None, b"");
        got.extend(lines(&site.send_from(PHONE, &ringing)));
    }
    if cancel {
        got.extend(lines(&site.send_from(GW, &invite.cancel())));
    }
    got.extend(lines(&site.advance_sent(Duration::from_secs(40))));
    got
}

fn refused_with(got: &[String], status: &str) {
    assert!(got.iter().any(|l| l == &format!("{GW} SIP/2.0 {status}")), "expected {status}: {got:?}");
    assert!(!got.iter().any(|l| l.starts_with(&format!("{PHONE} INVITE"))), "nothing rings: {got:?}");
}

#[test]
fn an_invite_whose_from_fills_a_line_is_refused_then_its_cancel_finds_nothing() {
    for cancel in [true, false] {
        let mut site = site_with_phone();
        let mut invite = Invite::to("1000");
        invite.from = format!("<sip:{}@gw>", near_line_limit(3));
        let got = exchange(&mut site, &invite, cancel);
        refused_with(&got, "400 Bad Request - Header Too Long");
        assert_eq!(site.node.active_calls(), 0);
        still_delivers(&mut site);
    }
}

#[test]
fn every_copied_field_is_checked_at_intake() {
    type Grow = fn(&mut Invite);
    let cases: [(&str, Grow, &str); 5] = [
        ("To", |i| i.to = format!("<sip:1000@{}>", near_line_limit(3)), "400 Bad Request - Header Too Long"),
        ("Call-ID", |i| i.call_id = near_line_limit(3), "400 Bad Request - Header Too Long"),
        ("Contact", |i| i.contact = format!("<sip:gw@{}>", near_line_limit(3)), "400 Bad Request - Header Too Long"),
        ("Via", |i| i.via_host = format!("{}.example", near_line_limit(40)), "400 Bad Request - Header Too Long"),
        (
            "Request-URI",
            |i| i.uri = format!("sip:1000@{};x={}", "127.0.0.1:5060", near_line_limit(40)),
            "414 Request-URI Too Long",
        ),
    ];
    for (field, grow, status) in cases {
        for cancel in [true, false] {
            let mut site = site_with_phone();
            let mut invite = Invite::to("1000");
            grow(&mut invite);
            let got = exchange(&mut site, &invite, cancel);
            if field == "Via" {
                // No Via we could answer to: dropped, not answered.
                assert!(!got.iter().any(|l| l.contains(" INVITE")), "{field}: {got:?}");
            } else {
                refused_with(&got, status);
            }
            assert_eq!(site.node.active_calls(), 0, "{field}");
            still_delivers(&mut site);
        }
    }
}

#[test]
fn a_contact_too_long_to_call_is_not_bound() {
    let mut site = Site::new();
    let contact = format!("<sip:1000@127.0.0.1:6001;x={}>", near_line_limit(12));
    let out = site.send(&register("1000", "reg-long", 1, &contact, Some(3600)));
    assert!(out[0].starts_with(b"SIP/2.0 400"), "{}", String::from_utf8_lossy(&out[0][..40]));
    assert!(site.node.bindings("1000").is_empty());
    // The call then finds no phone, and the no-answer timer has nothing to cancel.
    let got = exchange(&mut site, &Invite::to("1000"), false);
    assert!(got.iter().any(|l| l == &format!("{GW} SIP/2.0 480 Temporarily Unavailable")), "{got:?}");
}

#[test]
fn long_but_acceptable_fields_make_a_call_whose_every_message_parses() {
    for cancel in [true, false] {
        let mut site = site_with_phone();
        let mut invite = Invite::to("1000");
        invite.from = format!("<sip:{}@gw>", "b".repeat(4_000));
        invite.call_id = "c".repeat(4_000);
        let got = exchange_ringing(&mut site, &invite, cancel, true);
        assert!(got.iter().any(|l| l.starts_with(&format!("{PHONE} INVITE"))), "{got:?}");
        assert!(got.iter().any(|l| l.starts_with(&format!("{PHONE} CANCEL"))), "{got:?}");
        let caller_hears = if cancel { "487 Request Terminated" } else { "480 Temporarily Unavailable - No Answer" };
        assert!(got.iter().any(|l| l == &format!("{GW} SIP/2.0 {caller_hears}")), "{got:?}");
        assert_eq!(site.node.active_calls(), 0);
    }
}

#[test]
fn a_response_with_a_huge_contact_is_dropped_as_if_lost() {
    let mut site = site_with_phone();
    let out = site.send_from(GW, &Invite::to("1000").bytes());
    let to_phone = out.iter().find(|s| s.first_line().starts_with("INVITE")).expect("phone rung");
    let inv = to_phone.msg();
    let mut b = sipmsg::MessageBuilder::response_to(&inv, 180, "Ringing", Some("ph"), &Default::default());
    b.header("Contact", &format!("<sip:1000@{}>", near_line_limit(12)));
    let ringing = b.finish(None, b"");
    let got = lines(&site.send_from(PHONE, &ringing));
    assert!(got.is_empty(), "nothing relayed: {got:?}");
    assert_eq!(site.node.stats().parse_errors.get("header_too_long_to_relay"), Some(&1));
}
