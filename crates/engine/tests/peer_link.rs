//! Issue 10's attacks on the DR peer link, each failing with `peer_secret` set: spoofed
//! and replayed presence, presence while the peer trunk is out of service, injected
//! UserData and ConnID, a forged `x-dr-fwd` marker; the sealed originals still work.

mod common;

use std::time::Duration;

use common::{gateway_invite, register, Sent, Site};
use engine::peer_seal::Sealer;
use engine::{AgentLogin, Dn, DnKind, DnOptions, DrForward, NodeConfig, Trunk};

const PEER: &str = "127.0.0.1:5062";
const GW: &str = "127.0.0.1:5080";
const SECRET: &[u8] = b"the pair's shared secret";
const UNIX: u64 = 1_800_000_000;

fn site(oos_check: Duration) -> Site {
    site_with(oos_check, Some(SECRET))
}

fn site_without_secret() -> Site {
    site_with(Duration::from_secs(5), None)
}

fn site_with(oos_check: Duration, secret: Option<&[u8]>) -> Site {
    let mut c = NodeConfig::for_tests();
    let trunk = Trunk::new(PEER.parse().expect("addr"), "9902", 1, oos_check, Duration::from_secs(1));
    c.dns
        .singles
        .insert("TO_SS2".into(), Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(trunk) });
    let gw = Trunk::new(GW.parse().expect("addr"), "#", 1, Duration::ZERO, Duration::ZERO);
    c.dns.singles.insert("gw".into(), Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(gw) });
    c.options.dr_peer_trunk = Some("TO_SS2".into());
    c.options.dr_forward = DrForward::NoAgent;
    c.agents.insert("A1001".into(), AgentLogin { id: "A1001".into(), password: None, default_dn: Some("1001".into()) });
    c.peer_secret = secret.map(<[u8]>::to_vec);
    let mut site = Site::with_config(c);
    site.node.set_wall_clock(site.now, UNIX);
    let out = site.send(&register("1001", "r1", 1, "<sip:1001@127.0.0.1:6001>", None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site
}

fn sealer(at: u64) -> Sealer<'static> {
    Sealer { secret: SECRET, unix_now: at, site: "site2", peer: None, incarnation: 2 }
}

/// The peer's presence MESSAGE saying `agent` is on `dn` there, sealed at `sealed_at`
/// (None: no seal).
fn presence(seq: u64, dn: &str, agent: &str, sealed_at: Option<u64>) -> Vec<u8> {
    let body = format!(
        r#"{{"age_ms":{{"{dn}":1000}},"agents":{{"{dn}":"{agent}"}},"boot":7,"seq":{seq},"site":"site2","yielded":[]}}"#
    );
    let call_id = format!("p{seq}@tandem");
    let seal = sealed_at
        .map(|t| format!("X-Tandem-Seal: {}\r\n", sealer(t).seal("MESSAGE", &call_id, [None; 4], body.as_bytes())))
        .unwrap_or_default();
    format!(
        "MESSAGE sip:presence@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKp{seq}\r\nMax-Forwards: 70\r\n\
         From: <sip:site2@{PEER}>;tag=s2\r\nTo: <sip:presence@127.0.0.1:5060>\r\nCall-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\n\
         Content-Type: application/vnd.tandem.presence+json\r\n{seal}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn status_to(sent: &[Sent], to: &str) -> Option<u16> {
    sent.iter().filter(|s| s.to.to_string() == to).find_map(|s| s.msg().status().filter(|c| *c >= 200))
}

/// Logs A1001 in here from a desk: what the site says.
fn login_here(site: &mut Site) -> Vec<String> {
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    common::names(&site.desk(1, r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001"}"#))
}

#[test]
fn spoofed_presence_is_refused_and_cannot_block_a_login() {
    let mut site = site(Duration::ZERO);
    let sent = site.send_from(PEER, &presence(1, "1001", "A1001", None));
    assert_eq!(status_to(&sent, PEER), Some(403));
    let sent = site.send_from(PEER, &presence(2, "1001", "A1001", Some(UNIX + 99)));
    assert_eq!(status_to(&sent, PEER), Some(403), "a seal from outside the window");
    assert_eq!(site.node.stats().peer_refused, 2);
    assert!(login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()), "not blocked by a fake login at the peer");
}

#[test]
fn sealed_presence_is_accepted_and_a_late_replay_is_not() {
    let mut site = site(Duration::ZERO);
    let original = presence(1, "1001", "A1001", Some(UNIX));
    assert_eq!(status_to(&site.send_from(PEER, &original), PEER), Some(200));
    let names = login_here(&mut site);
    assert!(!names.contains(&"1:EventAgentLogin".to_owned()), "the agent is at the peer: {names:?}");
    site.advance(Duration::from_secs(31));
    let mut replayed = String::from_utf8(original).expect("utf-8");
    replayed = replayed.replace("branch=z9hG4bKp1", "branch=z9hG4bKreplay");
    assert_eq!(status_to(&site.send_from(PEER, replayed.as_bytes()), PEER), Some(403), "replayed 31 s later");
}

#[test]
fn presence_while_the_peer_trunk_is_out_of_service_is_ignored() {
    let mut site = site(Duration::from_secs(2));
    site.advance(Duration::from_secs(5)); // polls unanswered: out of service
    let at = UNIX + 5;
    assert_eq!(status_to(&site.send_from(PEER, &presence(1, "1001", "A1001", Some(at))), PEER), Some(480));
    assert_eq!(site.node.stats().peer_refused, 1);
    assert!(login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()));
}

/// An INVITE from the peer's address for `dn` with `user_data`, sealed over `sealed_data`.
fn peer_invite(call: &str, user_data: &str, sealed_data: Option<&str>) -> Vec<u8> {
    let call_id = format!("{call}@tandem");
    let body = "v=0\r\n";
    let seal = sealed_data
        .map(|d| {
            let headers = [Some("uuid-1"), Some(d), Some("0000000000000abc"), None];
            format!("X-Tandem-Seal: {}\r\n", sealer(UNIX).seal("INVITE", &call_id, headers, body.as_bytes()))
        })
        .unwrap_or_default();
    format!(
        "INVITE sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bK{call}\r\nMax-Forwards: 70\r\n\
         From: <sip:2002@{PEER}>;tag=a{call}\r\nTo: <sip:1001@127.0.0.1:5060>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:tandem@{PEER}>\r\nX-Genesys-CallUUID: uuid-1\r\nX-Tandem-UserData: {user_data}\r\n\
         X-Tandem-ConnID: 0000000000000abc\r\n{seal}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn injected_user_data_is_refused_and_sealed_user_data_rings() {
    let mut site = site(Duration::ZERO);
    let phone = "127.0.0.1:6001";
    let rings = |sent: &[Sent]| sent.iter().any(|s| s.to.to_string() == phone && s.first_line().starts_with("INVITE"));
    let sent = site.send_from(PEER, &peer_invite("c1", r#"{"vip":"yes"}"#, None));
    assert_eq!(status_to(&sent, PEER), Some(403), "no seal");
    assert!(!rings(&sent));
    let sent = site.send_from(PEER, &peer_invite("c2", r#"{"vip":"yes"}"#, Some(r#"{"vip":"no"}"#)));
    assert_eq!(status_to(&sent, PEER), Some(403), "UserData changed after sealing");
    let sent = site.send_from(PEER, &peer_invite("c3", r#"{"vip":"no"}"#, Some(r#"{"vip":"no"}"#)));
    assert!(rings(&sent), "the sealed call rings the phone");
    assert_eq!(site.node.stats().peer_refused, 2);
}

#[test]
fn a_forged_forwarding_marker_is_not_believed_and_the_peers_own_is() {
    let mut site = site(Duration::ZERO);
    assert_eq!(status_to(&site.send_from(PEER, &presence(1, "1001", "A1001", Some(UNIX))), PEER), Some(200));
    let invite = |call: &str, mark: &str| {
        String::from_utf8(gateway_invite("1001", call)).expect("utf-8").replacen(
            "INVITE sip:1001@127.0.0.1:5060 ",
            &format!("INVITE sip:1001@127.0.0.1:5060;x-dr-fwd={mark} "),
            1,
        )
    };
    let sent = site.send_from(GW, invite("f1", "1").as_bytes());
    assert_eq!(status_to(&sent, GW), Some(302), "the forged marker: sent to the agent's site as usual");
    let redirect = sent.iter().find(|s| s.to.to_string() == GW).expect("302").msg();
    let contact = redirect.header(sipmsg::HeaderName::Contact).expect("contact").to_owned();
    let mark = contact.split("x-dr-fwd=").nth(1).and_then(|m| m.strip_suffix('>')).expect("a sealed mark");
    assert!(sealer(UNIX).mark_ok("1001", mark), "our own 302 carries a sealed marker: {contact}");
    let sent = site.send_from(GW, invite("f2", &sealer(UNIX).mark("1001")).as_bytes());
    assert!(sent.iter().any(|s| s.to.to_string() == "127.0.0.1:6001"), "the peer's marker: delivered here");
}

#[test]
fn a_refused_datagram_with_no_probe_answered_splits_the_pair_and_the_peers_agents_may_log_in_here() {
    let mut site = site(Duration::from_secs(10));
    assert_eq!(status_to(&site.send_from(PEER, &presence(1, "1001", "A1001", Some(UNIX))), PEER), Some(200));
    assert!(!login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()), "logged in at the peer");
    // Before the peer ever answered a poll, a refusal is a peer not started yet: no split.
    site.node.handle_input(engine::Input::PeerRefused { at: site.now });
    site.drain();
    assert!(!login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()), "still the peer's");
    answer_poll(&mut site);
    site.node.handle_input(engine::Input::PeerRefused { at: site.now });
    let probes = site.drain_sent();
    assert!(probes.iter().any(|s| s.to.to_string() == PEER && s.first_line().starts_with("OPTIONS")), "probed at once");
    assert!(!login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()), "not split by a refusal alone");
    let later = site.advance_sent(Duration::from_millis(400));
    let probes = later.iter().filter(|s| s.to.to_string() == PEER && s.first_line().starts_with("OPTIONS")).count();
    assert!(probes >= 2, "more probes while confirming: {probes}");
    assert!(login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()), "the peer is gone: standalone");
    // Keep-alives are not SIP and get no answer.
    assert!(site.send_from(PEER, b"\r\n\r\n").is_empty());
}

/// Issue 21, finding 2: a forged ICMP port unreachable (off the path, one packet a
/// second) no longer splits the pair: the refusal's probe is answered by the live peer.
#[test]
fn forged_refusals_with_the_peer_alive_never_split_the_pair() {
    let mut site = site(Duration::from_secs(10));
    answer_poll(&mut site);
    assert_eq!(status_to(&site.send_from(PEER, &presence(1, "1001", "A1001", Some(UNIX))), PEER), Some(200));
    for second in 0..5 {
        site.node.handle_input(engine::Input::PeerRefused { at: site.now });
        let probe = site.drain_sent();
        let probe = probe.iter().find(|s| s.first_line().starts_with("OPTIONS")).expect("a probe at once");
        let ok = sipmsg::MessageBuilder::response_to(&probe.msg(), 200, "OK", Some("p"), &sipmsg::ViaStamp::default())
            .finish(None, b"");
        site.send_from(PEER, &ok);
        site.advance(Duration::from_secs(1));
        assert!(!login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()), "second {second}: still a pair");
    }
    let presence_again = presence(2, "1001", "A1001", Some(UNIX + 5));
    assert_eq!(status_to(&site.send_from(PEER, &presence_again), PEER), Some(200), "the link is in service");
}

/// Answers the site's next OPTIONS poll of the peer trunk with 200: BC mode holds.
fn answer_poll(site: &mut Site) {
    let polls = site.advance_sent(Duration::from_millis(10));
    let poll =
        polls.iter().find(|s| s.to.to_string() == PEER && s.first_line().starts_with("OPTIONS")).expect("a poll");
    let ok = sipmsg::MessageBuilder::response_to(&poll.msg(), 200, "OK", Some("p"), &sipmsg::ViaStamp::default())
        .finish(None, b"");
    site.send_from(PEER, &ok);
}

/// Issue 21, finding 1: a presence MESSAGE this site sealed for its peer, sent back to it
/// from the peer's address (a reflection), is refused: the seal names this site as its
/// sender. Before, it logged out every agent whose DN the snapshot named.
#[test]
fn our_own_presence_reflected_back_is_refused_and_logs_nobody_out() {
    let mut site = site(Duration::from_secs(5));
    answer_poll(&mut site);
    assert!(login_here(&mut site).contains(&"1:EventAgentLogin".to_owned()));
    let out = site.drain_sent();
    let ours = out.iter().find(|s| s.first_line().starts_with("MESSAGE")).expect("presence sent to the peer");
    assert!(ours.msg().body().windows(5).any(|w| w == b"A1001"), "the snapshot names the login");
    let sent = site.send_from(PEER, &ours.bytes);
    assert_eq!(status_to(&sent, PEER), Some(403), "our own seal, coming back");
    assert!(!common::names(&site.desk_events()).iter().any(|n| n.contains("Logout")), "nobody logged out");
    // An unsealed-pair site (no peer_secret) still refuses a snapshot naming itself.
    let mut open = site_without_secret();
    answer_poll(&mut open);
    assert!(login_here(&mut open).contains(&"1:EventAgentLogin".to_owned()));
    let out = open.drain_sent();
    let ours = out.iter().find(|s| s.first_line().starts_with("MESSAGE")).expect("presence sent to the peer");
    let sent = open.send_from(PEER, &ours.bytes);
    assert_eq!(status_to(&sent, PEER), Some(415), "a snapshot naming this site is no snapshot from the peer");
    assert!(!common::names(&open.desk_events()).iter().any(|n| n.contains("Logout")), "nobody logged out");
}
