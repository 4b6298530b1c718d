//! B2BUA call delivery through the node's wire interface: a gateway on one address,
//! phones on others, every message checked as it crosses.

mod common;

use std::time::Duration;

use common::{register, Sent, Site};
use sipmsg::{Framing, HeaderName, Message, MessageBuilder, Method, ViaStamp};

const GW: &str = "127.0.0.1:5080";
const PHONE_A: &str = "127.0.0.1:6001";
const PHONE_B: &str = "127.0.0.1:6002";
const SDP_OFFER: &str =
    "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n";
const SDP_ANSWER: &str =
    "v=0\r\no=ph 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";

fn invite(dn: &str, call: &str) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::Invite, &format!("sip:{dn}@127.0.0.1:5060"));
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {GW};branch=z9hG4bK{call}"));
    b.header("Max-Forwards", "70");
    b.header("From", "\"PSTN\" <sip:+12025550147@127.0.0.1:5080>;tag=gw1");
    b.header_fmt("To", format_args!("<sip:{dn}@127.0.0.1:5060>"));
    b.header_fmt("Call-ID", format_args!("{call}@gw"));
    b.header("CSeq", "1 INVITE");
    b.header("Contact", "<sip:gw@127.0.0.1:5080>");
    b.finish(Some("application/sdp"), SDP_OFFER.as_bytes())
}

fn registered(site: &mut Site, dn: &str, phone: &str) {
    let contact = format!("<sip:{dn}@{phone}>");
    let out = site.send(&register(dn, &format!("reg-{dn}-{phone}"), 1, &contact, Some(3600)));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
}

/// A phone's answer to the INVITE the node sent it.
fn answer(to: &Sent, code: u16, tag: &str, sdp: Option<&str>) -> Vec<u8> {
    let req = to.msg();
    let mut b = MessageBuilder::response_to(&req, code, "Phone", Some(tag), &ViaStamp::default());
    b.header("Contact", &format!("<sip:phone@{}>", to.to));
    match sdp {
        Some(sdp) => b.finish(Some("application/sdp"), sdp.as_bytes()),
        None => b.finish(None, b""),
    }
}

/// An in-dialog request from the gateway using what the node's response taught it.
fn gw_in_dialog(method: Method<'_>, ok: &Sent, cseq: u32, branch: &str) -> Vec<u8> {
    let resp = ok.msg();
    let mut b = MessageBuilder::request(method, "sip:tandem@127.0.0.1:5060");
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {GW};branch=z9hG4bK{branch}"));
    b.header("From", resp.header(HeaderName::From).expect("from"));
    b.header("To", resp.header(HeaderName::To).expect("to"));
    b.header("Call-ID", resp.call_id().expect("call-id"));
    b.header_fmt("CSeq", format_args!("{cseq} {method}"));
    b.finish(None, b"")
}

/// An in-dialog request from the phone, built from the INVITE it received.
fn phone_in_dialog(method: Method<'_>, inv: &Sent, phone_tag: &str, cseq: u32) -> Vec<u8> {
    let req = inv.msg();
    let mut b = MessageBuilder::request(method, "sip:tandem@127.0.0.1:5060");
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {};branch=z9hG4bKph{cseq}{method}", inv.to));
    b.header_fmt("From", format_args!("{};tag={phone_tag}", req.header(HeaderName::To).expect("to")));
    b.header("To", req.header(HeaderName::From).expect("from"));
    b.header("Call-ID", req.call_id().expect("call-id"));
    b.header_fmt("CSeq", format_args!("{cseq} {method}"));
    b.finish(None, b"")
}

/// The gateway's CANCEL of its INVITE `invite(dn, call)`.
fn caller_cancel(dn: &str, call: &str) -> Vec<u8> {
    let inv = invite(dn, call);
    let inv = Message::parse(&inv, Framing::Datagram).expect("valid");
    let mut b = MessageBuilder::request(Method::Cancel, inv.request_uri().expect("uri"));
    b.header("Via", inv.header(HeaderName::Via).expect("via"));
    b.header("From", inv.header(HeaderName::From).expect("from"));
    b.header("To", inv.header(HeaderName::To).expect("to"));
    b.header("Call-ID", inv.call_id().expect("call-id"));
    b.header("CSeq", "1 CANCEL");
    b.finish(None, b"")
}

fn only<'a>(sent: &'a [Sent], to: &str, line: &str) -> &'a Sent {
    let found: Vec<&Sent> =
        sent.iter().filter(|s| s.to.to_string() == to && s.first_line().starts_with(line)).collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one `{line}` to {to}; sent: {:?}",
        sent.iter().map(|s| (s.to, s.first_line())).collect::<Vec<_>>()
    );
    found[0]
}

#[test]
fn call_is_delivered_answered_and_released_by_the_caller() {
    let mut site = Site::new();
    registered(&mut site, "1001", PHONE_A);
    let out = site.send_from(GW, &invite("1001", "c1"));
    only(&out, GW, "SIP/2.0 100");
    let b_invite = only(&out, PHONE_A, "INVITE sip:1001@127.0.0.1:6001");
    let b = b_invite.msg();
    assert_eq!(b.body(), SDP_OFFER.as_bytes(), "SDP passes untouched");
    assert_ne!(b.call_id(), Some("c1@gw"), "the B-leg is its own dialog");
    assert!(b.headers().iter().any(|h| h.raw_name == "X-Genesys-CallUUID"), "call UUID for correlation (BC-68)");

    let out = site.send_from(PHONE_A, &answer(b_invite, 180, "ph1", None));
    let ringing = only(&out, GW, "SIP/2.0 180");
    let gw_tag = ringing.msg().to().and_then(|t| t.tag().map(str::to_owned)).expect("our tag on the A-leg");

    let out = site.send_from(PHONE_A, &answer(b_invite, 200, "ph1", Some(SDP_ANSWER)));
    only(&out, PHONE_A, "ACK sip:phone@127.0.0.1:6001");
    let ok = only(&out, GW, "SIP/2.0 200");
    assert_eq!(ok.msg().body(), SDP_ANSWER.as_bytes());
    assert_eq!(ok.msg().to().and_then(|t| t.tag().map(str::to_owned)), Some(gw_tag), "one To tag for 180 and 200");
    assert_eq!(site.node.active_calls(), 1);

    let out = site.send_from(GW, &gw_in_dialog(Method::Ack, ok, 1, "ack1"));
    assert!(out.is_empty(), "the ACK is absorbed");
    assert!(site.advance_sent(Duration::from_secs(10)).is_empty(), "no 2xx retransmission after the ACK");

    let out = site.send_from(GW, &gw_in_dialog(Method::Bye, ok, 2, "bye1"));
    only(&out, GW, "SIP/2.0 200");
    only(&out, PHONE_A, "BYE sip:phone@127.0.0.1:6001");
    assert_eq!(site.node.active_calls(), 0);
}

#[test]
fn callee_hangs_up_and_the_caller_gets_a_bye() {
    let mut site = Site::new();
    registered(&mut site, "1002", PHONE_A);
    let out = site.send_from(GW, &invite("1002", "c2"));
    let b_invite = only(&out, PHONE_A, "INVITE").bytes.clone();
    let b_invite = Sent { to: PHONE_A.parse().expect("addr"), bytes: b_invite };
    let out = site.send_from(PHONE_A, &answer(&b_invite, 200, "ph2", Some(SDP_ANSWER)));
    let ok = only(&out, GW, "SIP/2.0 200");
    site.send_from(GW, &gw_in_dialog(Method::Ack, ok, 1, "ack2"));
    let out = site.send_from(PHONE_A, &phone_in_dialog(Method::Bye, &b_invite, "ph2", 2));
    only(&out, PHONE_A, "SIP/2.0 200");
    let bye = only(&out, GW, "BYE sip:gw@127.0.0.1:5080");
    assert_eq!(bye.msg().call_id(), Some("c2@gw"));
    assert_eq!(site.node.active_calls(), 0);
}

#[test]
fn busy_phone_gives_the_caller_486_and_the_node_acks_the_phone() {
    let mut site = Site::new();
    registered(&mut site, "1003", PHONE_A);
    let out = site.send_from(GW, &invite("1003", "c3"));
    let b_invite = only(&out, PHONE_A, "INVITE");
    let out = site.send_from(PHONE_A, &answer(b_invite, 486, "ph3", None));
    only(&out, PHONE_A, "ACK");
    only(&out, GW, "SIP/2.0 486");
    assert_eq!(site.node.active_calls(), 0);
}

#[test]
fn unknown_and_unregistered_dns() {
    let mut site = Site::new();
    let out = site.send_from(GW, &invite("2999", "c4"));
    only(&out, GW, "SIP/2.0 404");
    let out = site.send_from(GW, &invite("1004", "c5"));
    only(&out, GW, "SIP/2.0 480");
}

#[test]
fn no_answer_cancels_the_phone_and_tells_the_caller_480() {
    let mut site = Site::new();
    registered(&mut site, "1005", PHONE_A);
    let out = site.send_from(GW, &invite("1005", "c6"));
    let b_invite = only(&out, PHONE_A, "INVITE");
    site.send_from(PHONE_A, &answer(b_invite, 180, "ph6", None));
    let out = site.advance_sent(Duration::from_millis(20_200));
    only(&out, PHONE_A, "CANCEL");
    only(&out, GW, "SIP/2.0 480");
    assert_eq!(site.node.active_calls(), 0);
}

#[test]
fn caller_cancel_gives_487_and_cancels_the_phone() {
    let mut site = Site::new();
    registered(&mut site, "1006", PHONE_A);
    let out = site.send_from(GW, &invite("1006", "c7"));
    let b_invite = Sent { to: PHONE_A.parse().expect("addr"), bytes: only(&out, PHONE_A, "INVITE").bytes.clone() };
    site.send_from(PHONE_A, &answer(&b_invite, 180, "ph7", None));
    let out = site.send_from(GW, &caller_cancel("1006", "c7"));
    only(&out, GW, "SIP/2.0 200");
    only(&out, GW, "SIP/2.0 487");
    only(&out, PHONE_A, "CANCEL");
    assert_eq!(site.node.active_calls(), 0);
}

/// The caller cancels before the phone said anything: the call ends at once (487), and
/// the phone's CANCEL waits for its first provisional, after the call is gone.
#[test]
fn a_cancel_owed_to_a_silent_phone_outlives_the_call() {
    let mut site = Site::new();
    registered(&mut site, "1006", PHONE_A);
    let out = site.send_from(GW, &invite("1006", "c7b"));
    let b_invite = Sent { to: PHONE_A.parse().expect("addr"), bytes: only(&out, PHONE_A, "INVITE").bytes.clone() };
    let out = site.send_from(GW, &caller_cancel("1006", "c7b"));
    only(&out, GW, "SIP/2.0 487");
    assert!(out.iter().all(|s| !s.first_line().starts_with("CANCEL")), "not before the phone's provisional");
    assert_eq!(site.node.active_calls(), 0);
    let out = site.send_from(PHONE_A, &answer(&b_invite, 180, "ph7b", None));
    only(&out, PHONE_A, "CANCEL");
}

#[test]
fn two_contacts_ring_in_parallel_and_the_loser_is_cancelled() {
    let mut site = Site::new();
    registered(&mut site, "1007", PHONE_A);
    registered(&mut site, "1007", PHONE_B);
    let out = site.send_from(GW, &invite("1007", "c8"));
    let b1 = Sent { to: PHONE_A.parse().expect("addr"), bytes: only(&out, PHONE_A, "INVITE").bytes.clone() };
    let b2 = only(&out, PHONE_B, "INVITE");
    site.send_from(PHONE_A, &answer(&b1, 180, "ph8a", None));
    let out = site.send_from(PHONE_B, &answer(b2, 200, "ph8", Some(SDP_ANSWER)));
    only(&out, PHONE_A, "CANCEL");
    only(&out, PHONE_B, "ACK");
    only(&out, GW, "SIP/2.0 200");
}

/// RFC 3261 section 9.1: no CANCEL before the callee's first provisional (a CANCEL that
/// overtakes its INVITE finds no transaction, and the phone rings on). It goes out when
/// the provisional comes, even after the call itself has ended.
#[test]
fn a_leg_that_has_not_rung_yet_is_cancelled_when_its_first_provisional_comes() {
    let mut site = Site::new();
    registered(&mut site, "1007", PHONE_A);
    registered(&mut site, "1007", PHONE_B);
    let out = site.send_from(GW, &invite("1007", "c8b"));
    let b1 = Sent { to: PHONE_A.parse().expect("addr"), bytes: only(&out, PHONE_A, "INVITE").bytes.clone() };
    let b2 = only(&out, PHONE_B, "INVITE");
    let out = site.send_from(PHONE_B, &answer(b2, 200, "ph8b", Some(SDP_ANSWER)));
    assert!(out.iter().all(|s| !s.first_line().starts_with("CANCEL")), "no CANCEL before a provisional");
    let out = site.send_from(PHONE_A, &answer(&b1, 180, "ph8c", None));
    only(&out, PHONE_A, "CANCEL");
    let out = site.send_from(PHONE_A, &answer(&b1, 183, "ph8c", None));
    assert!(out.iter().all(|s| !s.first_line().starts_with("CANCEL")), "one CANCEL");
    assert!(out.iter().all(|s| s.to.to_string() != GW), "nothing relayed to the caller after the answer");
}

#[test]
fn re_invite_from_the_caller_is_relayed_to_the_callee() {
    let mut site = Site::new();
    registered(&mut site, "1008", PHONE_A);
    let out = site.send_from(GW, &invite("1008", "c9"));
    let b_invite = only(&out, PHONE_A, "INVITE").bytes.clone();
    let b_invite = Sent { to: PHONE_A.parse().expect("addr"), bytes: b_invite };
    let out = site.send_from(PHONE_A, &answer(&b_invite, 200, "ph9", Some(SDP_ANSWER)));
    let ok = Sent { to: GW.parse().expect("addr"), bytes: only(&out, GW, "SIP/2.0 200").bytes.clone() };
    site.send_from(GW, &gw_in_dialog(Method::Ack, &ok, 1, "ack9"));
    let out = site.send_from(GW, &gw_in_dialog(Method::Invite, &ok, 2, "reinv9"));
    let relayed = only(&out, PHONE_A, "INVITE sip:phone@127.0.0.1:6001");
    assert_eq!(relayed.msg().to().and_then(|t| t.tag()), Some("ph9"), "sent inside the B-leg dialog");
    let out = site.send_from(PHONE_A, &answer(relayed, 200, "ph9", Some(SDP_ANSWER)));
    only(&out, PHONE_A, "ACK");
    let back = only(&out, GW, "SIP/2.0 200");
    assert_eq!(back.msg().cseq().map(|c| c.seq), Some(2));
}

#[test]
fn unanswered_2xx_is_retransmitted_then_the_call_is_torn_down() {
    let mut site = Site::new();
    registered(&mut site, "1009", PHONE_A);
    let out = site.send_from(GW, &invite("1009", "c10"));
    let b_invite = only(&out, PHONE_A, "INVITE");
    site.send_from(PHONE_A, &answer(b_invite, 200, "ph10", Some(SDP_ANSWER)));
    let out = site.advance_sent(Duration::from_secs(40));
    let retransmits =
        out.iter().filter(|s| s.first_line().starts_with("SIP/2.0 200") && s.to.to_string() == GW).count();
    assert!(retransmits >= 7, "2xx retransmitted T1, 2T1, ... capped at T2: {retransmits}");
    assert!(out.iter().any(|s| s.first_line().starts_with("BYE") && s.to.to_string() == PHONE_A), "callee hung up");
    assert_eq!(site.node.active_calls(), 0);
}

/// Loops end even when the configuration makes one (issue 4: hop budget): every B-leg
/// carries the caller's Max-Forwards minus one, and an INVITE with none left gets 483.
#[test]
fn max_forwards_is_spent_per_hop_and_an_exhausted_invite_gets_483() {
    let mut site = Site::new();
    registered(&mut site, "1001", PHONE_A);
    let out = site.send_from(GW, &invite("1001", "hop1"));
    assert_eq!(only(&out, PHONE_A, "INVITE").msg().max_forwards(), Some(69));

    let text = String::from_utf8(invite("1001", "hop2")).expect("utf-8").replace("Max-Forwards: 70", "Max-Forwards: 0");
    let out = site.send_from(GW, text.as_bytes());
    only(&out, GW, "SIP/2.0 483");
    assert!(out.iter().all(|s| s.to.to_string() != PHONE_A), "nothing rings");
}

/// Issue 21, finding 11: an agent's own call that fails (the far end answers 486 after
/// ringing) releases the caller's DN too, so routers no longer see that agent Busy.
#[test]
fn a_failed_outbound_call_releases_the_callers_dn() {
    let mut site = Site::new();
    registered(&mut site, "1001", PHONE_A);
    registered(&mut site, "1003", PHONE_B);
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    let mut b = MessageBuilder::request(Method::Invite, "sip:1003@127.0.0.1:5060");
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {PHONE_A};branch=z9hG4bKout1"));
    b.header("Max-Forwards", "70");
    b.header_fmt("From", format_args!("<sip:1001@{PHONE_A}>;tag=a1"));
    b.header("To", "<sip:1003@127.0.0.1:5060>");
    b.header("Call-ID", "out1@phone");
    b.header("CSeq", "1 INVITE");
    b.header_fmt("Contact", format_args!("<sip:1001@{PHONE_A}>"));
    let out = site.send_from(PHONE_A, &b.finish(Some("application/sdp"), SDP_OFFER.as_bytes()));
    let b_invite = only(&out, PHONE_B, "INVITE");
    site.send_from(PHONE_B, &answer(b_invite, 180, "pb", None));
    let dialing = common::names(&site.desk_events());
    assert!(dialing.contains(&"1:EventDialing".to_owned()), "{dialing:?}");
    let out = site.send_from(PHONE_B, &answer(b_invite, 486, "pb", None));
    only(&out, PHONE_A, "SIP/2.0 486");
    let released: Vec<_> = site
        .desk_events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            cti::Event::EventReleased { this_dn, .. } => Some(this_dn),
            _ => None,
        })
        .collect();
    assert_eq!(released, vec!["1001".to_owned()], "the caller's desk hears its line is free");
}

/// `invite(dn, call)` without a session description (a late offer, RFC 3261 section
/// 13.2.1: the callee's 2xx then offers, and the caller's ACK answers).
fn late_offer_invite(dn: &str, call: &str) -> Vec<u8> {
    let inv = invite(dn, call);
    let inv = Message::parse(&inv, Framing::Datagram).expect("valid");
    let mut b = MessageBuilder::request(Method::Invite, inv.request_uri().expect("uri"));
    for h in inv.headers().iter().filter(|h| !h.raw_name.eq_ignore_ascii_case("content-type")) {
        if !h.raw_name.eq_ignore_ascii_case("content-length") {
            b.header(h.raw_name, h.value);
        }
    }
    b.finish(None, b"")
}

#[test]
fn a_late_offer_is_answered_in_the_callers_ack_and_the_callee_gets_it_in_ours() {
    let mut site = Site::new();
    registered(&mut site, "1001", PHONE_A);
    let out = site.send_from(GW, &late_offer_invite("1001", "late1"));
    let b_invite = only(&out, PHONE_A, "INVITE sip:1001@127.0.0.1:6001");
    assert!(b_invite.msg().body().is_empty(), "the callee is asked for the offer too");
    let ok_from_phone = answer(b_invite, 200, "ph1", Some(SDP_ANSWER));
    let out = site.send_from(PHONE_A, &ok_from_phone);
    assert!(!out.iter().any(|s| s.first_line().starts_with("ACK")), "our ACK must carry the answer: it waits");
    let ok = only(&out, GW, "SIP/2.0 200");
    assert_eq!(ok.msg().body(), SDP_ANSWER.as_bytes(), "the caller gets the callee's offer");
    let out = site.send_from(PHONE_A, &ok_from_phone);
    assert!(out.is_empty(), "a retransmitted 2xx while the caller has not answered: nothing yet");

    let mut b = MessageBuilder::request(Method::Ack, "sip:tandem@127.0.0.1:5060");
    let resp = ok.msg();
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {GW};branch=z9hG4bKlateack"));
    b.header("From", resp.header(HeaderName::From).expect("from"));
    b.header("To", resp.header(HeaderName::To).expect("to"));
    b.header("Call-ID", resp.call_id().expect("call-id"));
    b.header("CSeq", "1 ACK");
    let out = site.send_from(GW, &b.finish(Some("application/sdp"), SDP_OFFER.as_bytes()));
    let ack = only(&out, PHONE_A, "ACK sip:phone@127.0.0.1:6001");
    assert_eq!(ack.msg().body(), SDP_OFFER.as_bytes(), "the callee's offer is answered in our ACK");
    assert!(ack.first_line().starts_with("ACK") && ack.msg().header(HeaderName::ContentType).is_some());
    let out = site.send_from(PHONE_A, &ok_from_phone);
    assert_eq!(out.len(), 1, "from now on a retransmitted 2xx is ACKed again");
    assert_eq!(out[0].msg().body(), SDP_OFFER.as_bytes());

    let out = site.send_from(GW, &gw_in_dialog(Method::Bye, ok, 2, "latebye"));
    only(&out, PHONE_A, "BYE sip:phone@127.0.0.1:6001");
    assert_eq!(site.node.active_calls(), 0);
}

#[test]
fn a_late_offer_whose_caller_never_acks_leaves_the_callee_acked_and_hung_up() {
    let mut site = Site::new();
    registered(&mut site, "1001", PHONE_A);
    let out = site.send_from(GW, &late_offer_invite("1001", "late2"));
    let b_invite = only(&out, PHONE_A, "INVITE sip:1001@127.0.0.1:6001");
    site.send_from(PHONE_A, &answer(b_invite, 200, "ph1", Some(SDP_ANSWER)));
    let out = site.advance_sent(Duration::from_secs(40));
    only(&out, PHONE_A, "ACK sip:phone@127.0.0.1:6001");
    let ack_at = out.iter().position(|s| s.first_line().starts_with("ACK")).expect("ack");
    let bye_at = out.iter().position(|s| s.first_line().starts_with("BYE sip:phone")).expect("the callee's BYE");
    assert!(ack_at < bye_at, "the 2xx is ACKed before the BYE");
    assert_eq!(site.node.active_calls(), 0);
}

/// The partner's rewriting of a description: the same with its address.
const PARTNER_SDP: &str =
    "v=0\r\no=rtpengine 9 9 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// Answers the one media command out with `PARTNER_SDP`; the command.
fn partner_answers(site: &mut Site) -> engine::media::MediaOp {
    let cmd = site.node.poll_media().expect("a media command");
    assert!(site.node.poll_media().is_none(), "one at a time");
    let reply = engine::media::MediaReply::Sdp(PARTNER_SDP.as_bytes().to_vec());
    site.node.handle_input(engine::Input::Media { at: site.now, id: cmd.id, reply: &reply });
    cmd.op
}

#[test]
fn an_anchored_late_offer_is_offered_by_the_callee_and_answered_by_the_caller_at_the_partner() {
    let mut config = engine::NodeConfig::for_tests();
    config.media = Some(engine::media::MediaConfig::default());
    let mut site = Site::with_config(config);
    registered(&mut site, "1001", PHONE_A);
    let out = site.send_from(GW, &late_offer_invite("1001", "late3"));
    assert!(site.node.poll_media().is_none(), "no offer to anchor yet");
    let b_invite = only(&out, PHONE_A, "INVITE sip:1001@127.0.0.1:6001");
    site.send_from(PHONE_A, &answer(b_invite, 200, "ph1", Some(SDP_ANSWER)));
    let engine::media::MediaOp::Offer { from, to, sdp, .. } = partner_answers(&mut site) else {
        panic!("the callee's 2xx offers")
    };
    assert_eq!((from.as_str(), to.as_deref(), &sdp[..]), ("b0", Some("a"), SDP_ANSWER.as_bytes()));
    let out = site.drain_sent();
    let ok = only(&out, GW, "SIP/2.0 200");
    assert_eq!(ok.msg().body(), PARTNER_SDP.as_bytes(), "the caller is offered the partner's address");

    let mut b = MessageBuilder::request(Method::Ack, "sip:tandem@127.0.0.1:5060");
    let resp = ok.msg();
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {GW};branch=z9hG4bKlateack3"));
    b.header("From", resp.header(HeaderName::From).expect("from"));
    b.header("To", resp.header(HeaderName::To).expect("to"));
    b.header("Call-ID", resp.call_id().expect("call-id"));
    b.header("CSeq", "1 ACK");
    let out = site.send_from(GW, &b.finish(Some("application/sdp"), SDP_OFFER.as_bytes()));
    assert!(out.is_empty(), "our ACK waits for the partner");
    let engine::media::MediaOp::Answer { from, to, sdp, .. } = partner_answers(&mut site) else {
        panic!("the caller's ACK answers")
    };
    assert_eq!((from.as_str(), to.as_str(), &sdp[..]), ("b0", "a", SDP_OFFER.as_bytes()));
    let out = site.drain_sent();
    let ack = only(&out, PHONE_A, "ACK sip:phone@127.0.0.1:6001");
    assert_eq!(ack.msg().body(), PARTNER_SDP.as_bytes(), "the callee gets the partner's address in our ACK");
}
