//! Issue 10's attacks on a site with `[site.auth]`, each failing for the attacker: hijack
//! by REGISTER, `Contact: *` wipe, contact-slot exhaustion, toll fraud by From, a guessing
//! source; and what must still work: phones with passwords, gateways by source address.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{gateway_invite, Sent, Site};
use engine::auth::{authorize, Algorithm, AuthConfig, Throttle, UserHashes};
use engine::{Dn, DnKind, DnOptions, DnRange, Input, NodeConfig, Trunk};
use sipmsg::{HeaderName, MessageBuilder, Method};

const REALM: &str = "tandem";
const PHONE: &str = "127.0.0.1:6001";
const ATTACKER: &str = "127.0.0.66:6666";
const GW: &str = "127.0.0.1:5080";
const OUT_GW: &str = "127.0.0.1:5081";

fn hashes(dn: &str, password: &str) -> UserHashes {
    UserHashes {
        md5: Some(Algorithm::Md5.ha1(dn, REALM, password)),
        sha256: Some(Algorithm::Sha256.ha1(dn, REALM, password)),
    }
}

fn trunk(contact: &str, prefix: &str) -> Dn {
    let t = Trunk::new(contact.parse().expect("addr"), prefix, 1, Duration::ZERO, Duration::ZERO);
    Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(t) }
}

fn site_with(edit: impl FnOnce(&mut NodeConfig)) -> Site {
    let mut c = NodeConfig::for_tests();
    c.dns.singles.insert("gw-in".into(), trunk(GW, "#"));
    c.dns.singles.insert("gw-out".into(), trunk(OUT_GW, "9"));
    let users: BTreeMap<String, UserHashes> =
        [("1001".to_owned(), hashes("1001", "phone-1001")), ("1002".to_owned(), hashes("1002", "phone-1002"))].into();
    c.auth = Some(AuthConfig {
        realm: REALM.into(),
        nonce_secret: b"a secret both peers share".to_vec(),
        users,
        algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        nonce_lifetime: Duration::from_secs(300),
        throttle: Throttle::default(),
        md5_per_mille: 0,
    });
    edit(&mut c);
    let mut site = Site::with_config(c);
    site.node.set_wall_clock(site.now, 1_800_000_000);
    site
}

fn site() -> Site {
    site_with(|_| {})
}

fn register(dn: &str, call: &str, cseq: u32, contact: &str, auth: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::Register, "sip:127.0.0.1:5060");
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {PHONE};branch=z9hG4bK{call}{cseq}"));
    b.header("Max-Forwards", "70");
    b.header_fmt("From", format_args!("<sip:{dn}@127.0.0.1>;tag=r{call}"));
    b.header_fmt("To", format_args!("<sip:{dn}@127.0.0.1>"));
    b.header("Call-ID", call);
    b.header_fmt("CSeq", format_args!("{cseq} REGISTER"));
    b.header("Contact", contact);
    if let Some(auth) = auth {
        b.header("Authorization", auth);
    }
    b.finish(None, b"")
}

fn dial(digits: &str, from_dn: &str, call: &str, cseq: u32, auth: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::Invite, &format!("sip:{digits}@127.0.0.1:5060"));
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {PHONE};branch=z9hG4bK{call}{cseq}"));
    b.header("Max-Forwards", "70");
    b.header_fmt("From", format_args!("<sip:{from_dn}@127.0.0.1:5060>;tag=ph{call}"));
    b.header_fmt("To", format_args!("<sip:{digits}@127.0.0.1:5060>"));
    b.header_fmt("Call-ID", format_args!("{call}@phone"));
    b.header_fmt("CSeq", format_args!("{cseq} INVITE"));
    b.header("Contact", "<sip:phone@127.0.0.1:6001>");
    if let Some(auth) = auth {
        b.header("Proxy-Authorization", auth);
    }
    b.finish(Some("application/sdp"), b"v=0\r\n")
}

/// The one response sent to `to`, and its challenge (the first WWW-/Proxy-Authenticate).
fn reply<'a>(sent: &'a [Sent], to: &str) -> &'a Sent {
    let replies: Vec<&Sent> =
        sent.iter().filter(|s| s.to.to_string() == to && s.first_line().starts_with("SIP/2.0")).collect();
    let finals: Vec<&&Sent> = replies.iter().filter(|s| !s.first_line().starts_with("SIP/2.0 100")).collect();
    assert_eq!(
        finals.len(),
        1,
        "one final answer to {to}: {:?}",
        sent.iter().map(Sent::first_line).collect::<Vec<_>>()
    );
    finals[0]
}

fn challenge(sent: &Sent) -> String {
    let msg = sent.msg();
    let name = if msg.status() == Some(401) { HeaderName::WwwAuthenticate } else { HeaderName::ProxyAuthenticate };
    msg.header(name).expect("a challenge").to_owned()
}

/// Registers `dn` at `contact` with its password, through the challenge.
fn register_with_password(site: &mut Site, dn: &str, password: &str, contact: &str) {
    let first = site.send_from(PHONE, &register(dn, &format!("reg-{dn}"), 1, contact, None));
    let ch = challenge(reply(&first, PHONE));
    let auth = authorize(&ch, "REGISTER", "sip:127.0.0.1:5060", dn, password, 1).expect("digest");
    let second = site.send_from(PHONE, &register(dn, &format!("reg-{dn}"), 2, contact, Some(&auth)));
    assert_eq!(reply(&second, PHONE).first_line(), "SIP/2.0 200 OK");
}

#[test]
fn a_register_without_credentials_is_challenged_sha256_first_and_binds_nothing() {
    let mut site = site();
    let sent = site.send_from(ATTACKER, &register("1001", "hijack", 1, "<sip:evil@127.0.0.66:6666>", None));
    let answer = reply(&sent, ATTACKER).msg();
    assert_eq!(answer.status(), Some(401));
    let challenges: Vec<&str> = answer.headers_named(HeaderName::WwwAuthenticate).map(|h| h.value).collect();
    assert_eq!(challenges.len(), 1, "1001 has a SHA-256 hash: no MD5 offered (no downgrade)");
    assert!(challenges[0].contains("algorithm=SHA-256"));
    assert!(site.node.bindings("1001").is_empty());
}

#[test]
fn hijack_with_a_guessed_password_is_refused_and_the_right_one_binds() {
    let mut site = site();
    let first = site.send_from(ATTACKER, &register("1001", "hijack", 1, "<sip:evil@127.0.0.66:6666>", None));
    let ch = challenge(reply(&first, ATTACKER));
    let guess = authorize(&ch, "REGISTER", "sip:127.0.0.1:5060", "1001", "1234", 1).expect("digest");
    let sent = site.send_from(ATTACKER, &register("1001", "hijack", 2, "<sip:evil@127.0.0.66:6666>", Some(&guess)));
    assert_eq!(reply(&sent, ATTACKER).first_line(), "SIP/2.0 403 Forbidden - Bad Credentials");
    // Its own password, but for another DN's registration.
    let as_1002 = authorize(&ch, "REGISTER", "sip:127.0.0.1:5060", "1002", "phone-1002", 1).expect("digest");
    let sent = site.send_from(ATTACKER, &register("1001", "hijack", 3, "<sip:evil@127.0.0.66:6666>", Some(&as_1002)));
    assert_eq!(reply(&sent, ATTACKER).msg().status(), Some(403));
    assert!(site.node.bindings("1001").is_empty());
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    assert_eq!(site.node.bindings("1001").len(), 1);
    assert_eq!(site.node.stats().auth.failures, 2);
}

#[test]
fn contact_star_wipe_and_slot_exhaustion_need_credentials() {
    let mut site = site();
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    let mut wipe = String::from_utf8(register("1001", "wipe", 1, "*", None)).expect("utf8");
    wipe = wipe.replace("Content-Length: 0", "Expires: 0\r\nContent-Length: 0");
    let sent = site.send_from(ATTACKER, wipe.as_bytes());
    assert_eq!(reply(&sent, ATTACKER).msg().status(), Some(401));
    for slot in 0..12 {
        let contact = format!("<sip:evil{slot}@127.0.0.66:6666>");
        let sent = site.send_from(ATTACKER, &register("1001", &format!("slot{slot}"), 1, &contact, None));
        assert_eq!(reply(&sent, ATTACKER).msg().status(), Some(401));
    }
    assert_eq!(site.node.bindings("1001").len(), 1, "only the real phone");
    // The phone's refresh still gets in.
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
}

#[test]
fn a_forged_from_cannot_call_out_but_the_authenticated_phone_can() {
    let mut site = site();
    // Claiming to be 1001 from an unknown address: challenged, nothing goes out.
    let sent = site.send_from(ATTACKER, &dial("912025550147", "1001", "fraud", 1, None));
    assert_eq!(reply(&sent, ATTACKER).msg().status(), Some(407));
    assert!(!sent.iter().any(|s| s.to.to_string() == OUT_GW), "nothing reached the gateway");
    // Claiming 1001 from the inbound gateway's address: a trunk's caller is never local.
    let mut from_gw = String::from_utf8(dial("912025550147", "1001", "fraud2", 1, None)).expect("utf8");
    from_gw = from_gw.replace(PHONE, GW);
    let sent = site.send_from(GW, from_gw.as_bytes());
    assert_eq!(reply(&sent, GW).first_line(), "SIP/2.0 403 Forbidden - Trunk Not Allowed");
    // The real 1001 with its password.
    let first = site.send_from(PHONE, &dial("912025550147", "1001", "out", 1, None));
    let ch = challenge(reply(&first, PHONE));
    let auth = authorize(&ch, "INVITE", "sip:912025550147@127.0.0.1:5060", "1001", "phone-1001", 1).expect("digest");
    let sent = site.send_from(PHONE, &dial("912025550147", "1001", "out", 2, Some(&auth)));
    let out: Vec<&Sent> = sent.iter().filter(|s| s.to.to_string() == OUT_GW).collect();
    assert_eq!(out.len(), 1, "the authenticated call leaves by the trunk");
    assert!(out[0].first_line().starts_with("INVITE sip:912025550147@"));
}

#[test]
fn a_trunk_open_to_some_callers_refuses_the_others() {
    let mut site = site_with(|c| {
        let range = DnRange { first: 1002, last: 1002, width: 4, kind: DnKind::Extension };
        if let Some(t) = c.dns.singles.get_mut("gw-out").and_then(|d| d.trunk.as_mut()) {
            t.callers = vec![range];
        }
    });
    let first = site.send_from(PHONE, &dial("912025550147", "1001", "out", 1, None));
    let ch = challenge(reply(&first, PHONE));
    let auth = authorize(&ch, "INVITE", "sip:912025550147@127.0.0.1:5060", "1001", "phone-1001", 1).expect("digest");
    let sent = site.send_from(PHONE, &dial("912025550147", "1001", "out", 2, Some(&auth)));
    assert_eq!(reply(&sent, PHONE).first_line(), "SIP/2.0 403 Forbidden - Trunk Not Allowed");
    assert!(!sent.iter().any(|s| s.to.to_string() == OUT_GW));
}

#[test]
fn gateways_are_known_by_address_or_allow_list_and_not_challenged() {
    let mut site = site_with(|c| {
        if let Some(t) = c.dns.singles.get_mut("gw-in").and_then(|d| d.trunk.as_mut()) {
            t.allow = vec![engine::Allow::net("10.1.2.0/24".parse().expect("net"))];
        }
    });
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    let sent = site.send_from(GW, &gateway_invite("1001", "in1"));
    assert!(sent.iter().any(|s| s.to.to_string() == PHONE && s.first_line().starts_with("INVITE")), "rings the phone");
    let mut via_sbc = String::from_utf8(gateway_invite("1001", "in2")).expect("utf8");
    via_sbc = via_sbc.replace(GW, "10.1.2.9:5060");
    let sent = site.send_from("10.1.2.9:5060", via_sbc.as_bytes());
    assert!(sent.iter().any(|s| s.to.to_string() == PHONE && s.first_line().starts_with("INVITE")), "allow-listed");
    let mut stranger = String::from_utf8(gateway_invite("1001", "in3")).expect("utf8");
    stranger = stranger.replace(GW, "10.1.3.9:5060");
    let sent = site.send_from("10.1.3.9:5060", stranger.as_bytes());
    assert_eq!(reply(&sent, "10.1.3.9:5060").msg().status(), Some(407), "an unknown source must authenticate");
}

/// Issue 21, finding 9: a trunk whose `allow` rule names TLS is not met by a datagram
/// from the same network (spoofable): that INVITE is challenged, not rung through as a
/// gateway's ("CEO Bank Security" <1001> rang an agent that way).
#[test]
fn an_allow_rule_naming_a_transport_is_not_met_by_a_spoofed_datagram() {
    let mut site = site_with(|c| {
        if let Some(t) = c.dns.singles.get_mut("gw-in").and_then(|d| d.trunk.as_mut()) {
            t.allow = vec![engine::Allow {
                net: "10.1.2.0/24".parse().expect("net"),
                port: None,
                transport: Some(engine::Transport::Tls),
                cert: None,
            }];
        }
    });
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    let spoofed = String::from_utf8(gateway_invite("1001", "sp1")).expect("utf8").replace(GW, "10.1.2.9:5060");
    let sent = site.send_from("10.1.2.9:5060", spoofed.as_bytes());
    assert_eq!(reply(&sent, "10.1.2.9:5060").msg().status(), Some(407), "UDP does not meet a TLS rule");
    assert!(!sent.iter().any(|s| s.to.to_string() == PHONE), "the phone does not ring");
}

/// Issue 21, finding 9: a trunk known by its client certificate. Over TLS from the trunk's
/// network, only a connection whose certificate was verified for the rule's name is the
/// trunk; any other TLS client there (another certificate, none) is challenged.
#[test]
fn an_allow_rule_naming_a_certificate_is_met_only_by_a_client_that_proved_it() {
    let mut site = site_with(|c| {
        c.dns.cert_names = vec!["other.example".into(), "gw1.example".into()];
        if let Some(t) = c.dns.singles.get_mut("gw-in").and_then(|d| d.trunk.as_mut()) {
            let net = "10.1.2.0/24".parse().expect("net");
            t.allow = vec![engine::Allow { net, port: None, transport: Some(engine::Transport::Tls), cert: Some(1) }];
        }
    });
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    let remote: std::net::SocketAddr = "10.1.2.9:5061".parse().expect("addr");
    let mut invite_with = |certified: u64, n: u64| {
        let text = String::from_utf8(gateway_invite("1001", &format!("cert{n}"))).expect("utf8");
        let bytes = text.replace("SIP/2.0/UDP", "SIP/2.0/TLS").replace(GW, "10.1.2.9:5061");
        let (at, transport, conn) = (site.now, engine::Transport::Tls, engine::ConnId(n));
        site.node.handle_input(Input::Stream { at, transport, conn, remote, certified, bytes: bytes.as_bytes() });
        let mut sent = Vec::new();
        while let Some(t) = site.node.poll_transmit() {
            sent.push(String::from_utf8_lossy(&t.bytes).into_owned());
        }
        sent
    };
    for (certified, n) in [(0, 1), (0b01, 2)] {
        let sent = invite_with(certified, n);
        assert!(sent.iter().any(|m| m.starts_with("SIP/2.0 407")), "certified {certified:b}: challenged: {sent:?}");
    }
    let sent = invite_with(0b10, 3);
    assert!(!sent.iter().any(|m| m.starts_with("SIP/2.0 407")), "gw1.example's certificate: the trunk: {sent:?}");
    assert!(sent.iter().any(|m| m.starts_with("INVITE sip:1001@")), "and 1001 rings: {sent:?}");
}

#[test]
fn a_guessing_source_is_slowed_then_blocked_and_counted() {
    let mut site = site();
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    let first = site.send_from(ATTACKER, &register("1001", "guess", 1, "<sip:evil@127.0.0.66:6666>", None));
    let ch = challenge(reply(&first, ATTACKER));
    let mut refused = 0;
    let mut silent = 0;
    for i in 0..40u32 {
        let guess =
            authorize(&ch, "REGISTER", "sip:127.0.0.1:5060", "1001", &format!("pin{i}"), i + 1).expect("digest");
        let sent =
            site.send_from(ATTACKER, &register("1001", "guess", i + 2, "<sip:evil@127.0.0.66:6666>", Some(&guess)));
        if sent.is_empty() {
            silent += 1;
        } else {
            assert_eq!(reply(&sent, ATTACKER).msg().status(), Some(403));
            refused += 1;
        }
        site.advance(Duration::from_millis(1100));
    }
    let stats = site.node.stats().auth;
    assert_eq!(refused, 20, "20 failures, then blocked");
    assert_eq!(silent, 20);
    assert_eq!(stats.sources_blocked, 1);
    assert_eq!(stats.throttled, 20);
    assert_eq!(stats.dns_blocked, 1, "the DN guessed at is blocked for new addresses too");
    // The phone that proved the password, at another address, is not affected.
    let contact = "<sip:1001@127.0.0.1:6001>";
    let first = site.send_from(PHONE, &register("1001", "again", 1, contact, None));
    let ch = challenge(reply(&first, PHONE));
    let auth = authorize(&ch, "REGISTER", "sip:127.0.0.1:5060", "1001", "phone-1001", 1).expect("digest");
    let second = site.send_from(PHONE, &register("1001", "again", 2, contact, Some(&auth)));
    assert_eq!(reply(&second, PHONE).first_line(), "SIP/2.0 200 OK");
}

/// Issue 21, finding 6: a REGISTER (or `Contact: *`) spoofed from the DR peer's address
/// is challenged like anyone's, not let through as the peer's.
#[test]
fn a_register_from_the_dr_peers_address_is_challenged() {
    const PEER: &str = "127.0.0.1:5062";
    let mut site = site_with(|c| {
        c.dns.singles.insert("TO_SS2".into(), trunk(PEER, "9902"));
        c.options.dr_peer_trunk = Some("TO_SS2".into());
    });
    register_with_password(&mut site, "1001", "phone-1001", "<sip:1001@127.0.0.1:6001>");
    let mut b = MessageBuilder::request(Method::Register, "sip:127.0.0.1:5060");
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {PEER};branch=z9hG4bKwipe"));
    b.header("From", "<sip:1001@127.0.0.1>;tag=w");
    b.header("To", "<sip:1001@127.0.0.1>");
    b.header("Call-ID", "wipe");
    b.header("CSeq", "1 REGISTER");
    b.header("Contact", "*");
    b.header("Expires", "0");
    let sent = site.send_from(PEER, &b.finish(None, b""));
    assert_eq!(reply(&sent, PEER).msg().status(), Some(401));
    assert_eq!(site.node.bindings("1001").len(), 1, "nothing wiped");
    let hijack = site.send_from(PEER, &register("1001", "hj", 1, "<sip:evil@127.0.0.1:5062>", None));
    assert_eq!(reply(&hijack, PEER).msg().status(), Some(401));
}

/// Issue 21, finding 9 (amplification): a spoofed INVITE draws one 407, not one every
/// timer G for 32 s; a retransmitted INVITE gets it again (a real caller loses nothing).
#[test]
fn a_challenge_to_an_unverified_invite_is_sent_once_and_again_only_on_a_retransmission() {
    let mut site = site();
    let invite = dial("1002", "1001", "amp", 1, None);
    let sent = site.send_from(ATTACKER, &invite);
    assert_eq!(reply(&sent, ATTACKER).msg().status(), Some(407));
    let later = site.advance_sent(Duration::from_secs(40));
    assert!(later.iter().all(|s| s.to.to_string() != ATTACKER), "no timer-G retransmissions: {}", later.len());
    let again = site.send_from(ATTACKER, &invite);
    assert_eq!(reply(&again, ATTACKER).msg().status(), Some(407), "answered again when the INVITE comes again");
}
