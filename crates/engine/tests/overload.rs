//! Overload control and capacity caps through the node's wire interface: new work is
//! shed with a stateless 503 and a jittered Retry-After, while work already accepted
//! and the DR peer go on; one source's flood is dropped without hurting others.

mod common;

use std::time::Duration;

use common::{register, Sent, Site};
use engine::{Capacity, Dn, DnKind, DnOptions, Input, NodeConfig, Pressure, Trunk};
use sipmsg::{MessageBuilder, ViaStamp};

const GW: &str = "127.0.0.1:5080";
const PEER: &str = "127.0.0.1:5062";
const PHONE: &str = "127.0.0.1:6001";

fn config(capacity: Capacity) -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.capacity = capacity;
    let trunk = Trunk {
        contact: PEER.parse().expect("addr"),
        prefix: "9902".into(),
        priority: 1,
        oos_check: Duration::ZERO,
        oos_force: Duration::ZERO,
        allow: Vec::new(),
        callers: Vec::new(),
        follows_redirects: true,
        site: None,
    };
    c.dns
        .singles
        .insert("TO_PEER".into(), Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(trunk) });
    c.options.dr_peer_trunk = Some("TO_PEER".into());
    let rp = Dn { kind: DnKind::RoutingPoint, options: DnOptions::default(), trunk: None };
    c.dns.singles.insert("5000".into(), rp);
    c
}

fn invite(dn: &str, call: &str) -> Vec<u8> {
    common::gateway_invite(dn, call)
}

fn first_lines(sent: &[Sent]) -> Vec<String> {
    sent.iter().map(|s| format!("{} {}", s.to, s.first_line())).collect()
}

fn with_phone(capacity: Capacity) -> Site {
    let mut site = Site::with_config(config(capacity));
    let out = site.send_from(PHONE, &register("1000", "reg", 1, &format!("<sip:1000@{PHONE}>"), Some(3600)));
    assert!(out[0].first_line().starts_with("SIP/2.0 200"));
    site
}

fn pressure(site: &mut Site, pressure: Pressure) {
    site.node.handle_input(Input::Pressure { at: site.now, pressure });
}

#[test]
fn under_pressure_new_work_gets_503_while_calls_in_progress_finish() {
    let mut site = with_phone(Capacity::default());
    let out = site.send_from(GW, &invite("1000", "c1"));
    let to_phone = out.iter().find(|s| s.first_line().starts_with("INVITE")).expect("phone rung");
    pressure(&mut site, Pressure::High);

    // New work: a stateless 503 with Retry-After in 2..=7 s (5 s +-50 %), no transaction.
    let mut retry_afters = std::collections::BTreeSet::new();
    for n in 0..40 {
        let out = site.send_from(GW, &invite("1000", &format!("new{n}")));
        assert_eq!(first_lines(&out), vec![format!("{GW} SIP/2.0 503 Service Unavailable")]);
        let text = String::from_utf8_lossy(&out[0].bytes).into_owned();
        let retry: u64 =
            text.lines().find_map(|l| l.strip_prefix("Retry-After: ")).expect("Retry-After").parse().expect("s");
        assert!((2..=7).contains(&retry), "{retry}");
        retry_afters.insert(retry);
    }
    assert!(retry_afters.len() > 2, "jittered: {retry_afters:?}");
    let out = site.send_from(PHONE, &register("1001", "reg2", 1, "<sip:1001@127.0.0.1:6002>", Some(3600)));
    assert_eq!(first_lines(&out), vec![format!("{PHONE} SIP/2.0 503 Service Unavailable")]);

    // Work already accepted goes on: a retransmitted INVITE is absorbed, the phone's 200
    // reaches the caller.
    assert!(first_lines(&site.send_from(GW, &invite("1000", "c1"))).iter().all(|l| !l.contains("503")));
    let ok = MessageBuilder::response_to(&to_phone.msg(), 200, "OK", Some("ph"), &ViaStamp::default());
    let out = site.send_from(PHONE, &ok.finish(Some("application/sdp"), b"v=0\r\n"));
    assert!(first_lines(&out).contains(&format!("{GW} SIP/2.0 200 OK")), "{:?}", first_lines(&out));

    // The DR peer is never shed.
    let out = site.send_from(PEER, &invite("1000", "from-peer"));
    assert!(first_lines(&out).iter().all(|l| !l.contains("503")), "{:?}", first_lines(&out));
    assert_eq!(site.node.stats().overload_rejected, 41);

    // The backlog gone, the limit grows back; a window that refuses nothing lifts it.
    pressure(&mut site, Pressure::Normal);
    site.advance(Duration::from_millis(300));
    site.send_from(GW, &invite("1000", "probe"));
    site.advance(Duration::from_millis(300));
    let out = site.send_from(GW, &invite("1000", "after"));
    assert!(first_lines(&out).iter().any(|l| l.starts_with(&format!("{PHONE} INVITE"))));
}

/// Issue 8 (cheaper refusals): while the site sheds, a new INVITE from a gateway is refused
/// from its raw head (no parse, no transaction) with the same answer the full path gives,
/// a To tag that marks it as a refusal, and the ACK of that 503 is dropped unparsed.
#[test]
fn a_refusal_is_answered_from_the_raw_head_and_its_ack_costs_no_parse() {
    let mut site = with_phone(Capacity::default());
    pressure(&mut site, Pressure::High);
    let live = site.node.stats().transactions.live;
    let out = site.send_from(GW, &invite("1000", "raw1"));
    assert_eq!(first_lines(&out), vec![format!("{GW} SIP/2.0 503 Service Unavailable")]);
    let refusal = out[0].msg();
    assert_eq!(refusal.call_id(), Some("raw1@gw"));
    assert_eq!(refusal.top_via().and_then(|v| v.branch()), Some("z9hG4bKraw1"));
    assert_eq!(refusal.cseq().map(|c| (c.seq, c.method.as_str().to_owned())), Some((1, "INVITE".to_owned())));
    assert_eq!(refusal.from().and_then(|f| f.tag()), Some("gw"));
    let tag = refusal.to().and_then(|t| t.tag()).expect("To tag").to_owned();
    assert!(tag.starts_with("shed") && tag.len() == 12, "{tag}");
    assert!(String::from_utf8_lossy(&out[0].bytes).contains("\r\nRetry-After: "), "Retry-After");
    let stats = site.node.stats();
    assert_eq!((stats.transactions.live, stats.overload_rejected_unparsed), (live, 1), "no transaction kept");

    let ack = format!(
        "ACK sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKraw1\r\nMax-Forwards: 70\r\n\
         From: <sip:+12025550147@127.0.0.1:5080>;tag=gw\r\nTo: <sip:1000@127.0.0.1:5060>;tag={tag}\r\n\
         Call-ID: raw1@gw\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(site.send_from(GW, ack.as_bytes()).is_empty());
    assert_eq!(site.node.stats().refusal_acks_absorbed, 1);

    // Work the raw look is unsure of takes the full path and is refused the same way.
    let folded = String::from_utf8_lossy(&invite("1000", "raw2")).replace("To: <", "To:\r\n <");
    let out = site.send_from(GW, folded.as_bytes());
    assert_eq!(first_lines(&out), vec![format!("{GW} SIP/2.0 503 Service Unavailable")]);
    let stats = site.node.stats();
    assert_eq!((stats.overload_rejected, stats.overload_rejected_unparsed), (2, 1));
}

#[test]
fn capacity_caps_give_503() {
    let mut site = with_phone(Capacity { max_calls: 2, max_parked_per_rp: 1, ..Capacity::default() });
    site.send_from(GW, &invite("1000", "a"));
    site.send_from(GW, &invite("1000", "b"));
    let out = site.send_from(GW, &invite("1000", "c"));
    assert_eq!(first_lines(&out), vec![format!("{GW} SIP/2.0 503 Service Unavailable")]);

    let mut site = with_phone(Capacity { max_parked_per_rp: 1, ..Capacity::default() });
    site.send_from(GW, &invite("5000", "q1"));
    let out = site.send_from(GW, &invite("5000", "q2"));
    assert!(first_lines(&out).contains(&format!("{GW} SIP/2.0 503 Service Unavailable - Queue Full")));

    let mut c = config(Capacity::default());
    c.registrar.max_bindings = 2;
    let mut site = Site::with_config(c);
    for (dn, expect) in [("1000", "200"), ("1001", "200"), ("1002", "503"), ("1000", "200")] {
        let out = site.send(&register(dn, &format!("r{dn}"), 2, &format!("<sip:{dn}@10.0.0.1>"), Some(600)));
        assert!(String::from_utf8_lossy(&out[0]).starts_with(&format!("SIP/2.0 {expect}")), "{dn}");
    }
}

#[test]
fn one_sources_flood_is_dropped_and_others_are_served() {
    let mut site = Site::with_config(config(Capacity { per_source_rate: 50, ..Capacity::default() }));
    let (mut flood_answered, mut other_answered) = (0, 0);
    for n in 0..500u32 {
        let out =
            site.send_from("127.0.0.2:5060", &register("1000", "flood", n + 1, "<sip:1000@127.0.0.2>", Some(600)));
        flood_answered += out.iter().filter(|s| s.to.to_string() == "127.0.0.2:5060").count();
        if n % 10 == 0 {
            let out =
                site.send_from("127.0.0.3:5060", &register("1001", "ok", n + 1, "<sip:1001@127.0.0.3>", Some(600)));
            other_answered += out.iter().filter(|s| s.to.to_string() == "127.0.0.3:5060").count();
        }
        site.now += Duration::from_millis(1);
    }
    // 0.5 s at 50/s with a one-second burst: about 75 get through.
    assert!((50..=80).contains(&flood_answered), "{flood_answered}");
    assert_eq!(other_answered, 50);
    assert_eq!(site.node.stats().flood_dropped, 500 - flood_answered as u64);
    // The DR peer (a trunk) is not limited.
    for n in 0..200 {
        let out = site.send_from(PEER, &invite("77777", &format!("p{n}")));
        assert_eq!(out.iter().filter(|s| s.to.to_string() == PEER).count(), 1);
    }
}

#[test]
fn the_pressure_level_is_in_the_stats_and_a_draining_backlog_sheds_at_the_limit_held() {
    let mut site = with_phone(Capacity::default());
    assert_eq!(site.node.stats().input_pressure, 1, "normal");
    pressure(&mut site, Pressure::High);
    assert_eq!(site.node.stats().input_pressure, 3);
    let limit = site.node.stats().new_work_limit;
    assert!(limit > 0, "a limit in force");
    pressure(&mut site, Pressure::Draining);
    assert_eq!(site.node.stats().input_pressure, 2);
    let out = site.send_from(GW, &invite("1000", "while-draining"));
    assert_eq!(first_lines(&out), vec![format!("{GW} SIP/2.0 503 Service Unavailable")], "still shedding");
    assert_eq!(site.node.stats().new_work_limit, limit, "held, not cut");
    pressure(&mut site, Pressure::Severe);
    assert_eq!(site.node.stats().input_pressure, 4);
    pressure(&mut site, Pressure::Spare);
    assert_eq!(site.node.stats().input_pressure, 0);
}
