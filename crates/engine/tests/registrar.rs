//! Registrar behaviour (RFC 3261 section 10.3) through the node's wire interface.

mod common;

use std::time::Duration;

use common::{register, status, Site};
use sipmsg::{Framing, HeaderName, Message};

fn contacts(bytes: &[u8]) -> Vec<String> {
    let m = Message::parse(bytes, Framing::Datagram).expect("valid");
    m.values(HeaderName::Contact).map(str::to_owned).collect()
}

#[test]
fn register_binds_and_200_lists_the_binding() {
    let mut site = Site::new();
    let out = site.send(&register("1000", "a", 1, "<sip:1000@127.0.0.1:5070>", Some(600)));
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 200);
    assert_eq!(contacts(&out[0]), vec!["<sip:1000@127.0.0.1:5070>;expires=600"]);
    assert_eq!(site.node.bindings("1000").len(), 1);
    let reply = Message::parse(&out[0], Framing::Datagram).expect("valid");
    let via = reply.top_via().expect("via");
    assert_eq!(via.params.get("rport"), Some(Some("5070")), "rport filled in (RFC 3581)");
}

#[test]
fn unknown_dn_gets_404() {
    let mut site = Site::new();
    let out = site.send(&register("2000", "a", 1, "<sip:2000@127.0.0.1:5070>", None));
    assert_eq!(status(&out[0]), 404);
}

#[test]
fn several_contacts_per_dn_and_refresh_and_remove() {
    let mut site = Site::new();
    site.send(&register("1001", "a", 1, "<sip:1001@10.0.0.1>", Some(300)));
    let out = site.send(&register("1001", "b", 1, "<sip:1001@10.0.0.2>;expires=120", None));
    assert_eq!(contacts(&out[0]).len(), 2);
    // refresh the first with a higher CSeq on the same Call-ID
    let out = site.send(&register("1001", "a", 2, "<sip:1001@10.0.0.1>", Some(900)));
    assert_eq!(status(&out[0]), 200);
    assert!(contacts(&out[0]).contains(&"<sip:1001@10.0.0.1>;expires=900".to_owned()));
    // remove it with expires=0
    let out = site.send(&register("1001", "a", 3, "<sip:1001@10.0.0.1>;expires=0", None));
    assert_eq!(contacts(&out[0]), vec!["<sip:1001@10.0.0.2>;expires=120"]);
}

#[test]
fn expires_param_overrides_header_and_max_is_enforced() {
    let mut site = Site::new();
    let out = site.send(&register("1002", "a", 1, "<sip:1002@10.0.0.1>;expires=100000", Some(60)));
    assert_eq!(contacts(&out[0]), vec!["<sip:1002@10.0.0.1>;expires=3600"]);
}

#[test]
fn too_brief_gets_423_with_min_expires() {
    let mut site = Site::new();
    let out = site.send(&register("1003", "a", 1, "<sip:1003@10.0.0.1>", Some(5)));
    assert_eq!(status(&out[0]), 423);
    let m = Message::parse(&out[0], Framing::Datagram).expect("valid");
    assert_eq!(m.header(HeaderName::MinExpires), Some("60"));
}

#[test]
fn star_removes_all_bindings_only_with_expires_zero() {
    let mut site = Site::new();
    site.send(&register("1004", "a", 1, "<sip:1004@10.0.0.1>", None));
    site.send(&register("1004", "b", 1, "<sip:1004@10.0.0.2>", None));
    let out = site.send(&register("1004", "c", 1, "*", Some(30)));
    assert_eq!(status(&out[0]), 400, "* needs Expires: 0");
    let out = site.send(&register("1004", "c", 2, "*", Some(0)));
    assert_eq!(status(&out[0]), 200);
    assert!(site.node.bindings("1004").is_empty());
}

#[test]
fn bindings_expire_on_the_timer() {
    let mut site = Site::new();
    site.send(&register("1005", "a", 1, "<sip:1005@10.0.0.1>", Some(60)));
    site.advance(Duration::from_secs(59));
    assert_eq!(site.node.bindings("1005").len(), 1);
    site.advance(Duration::from_secs(2));
    assert!(site.node.bindings("1005").is_empty());
    assert_eq!(site.node.stats().bindings, 0);
}

#[test]
fn refreshed_binding_survives_its_first_deadline() {
    let mut site = Site::new();
    site.send(&register("1006", "a", 1, "<sip:1006@10.0.0.1>", Some(60)));
    site.advance(Duration::from_secs(50));
    site.send(&register("1006", "a", 2, "<sip:1006@10.0.0.1>", Some(60)));
    site.advance(Duration::from_secs(20));
    assert_eq!(site.node.bindings("1006").len(), 1);
    site.advance(Duration::from_secs(45));
    assert!(site.node.bindings("1006").is_empty());
}

#[test]
fn older_cseq_on_the_same_call_id_is_refused() {
    let mut site = Site::new();
    site.send(&register("1007", "a", 5, "<sip:1007@10.0.0.1>", None));
    let out = site.send(&register("1007", "a", 4, "<sip:1007@10.0.0.1>", None));
    assert_eq!(status(&out[0]), 500);
}

#[test]
fn query_without_contact_lists_bindings() {
    let mut site = Site::new();
    site.send(&register("1008", "a", 1, "<sip:1008@10.0.0.1>", None));
    let query = String::from_utf8(register("1008", "q", 1, "x", None)).expect("utf8").replace("Contact: x\r\n", "");
    let out = site.send(query.as_bytes());
    assert_eq!(status(&out[0]), 200);
    assert_eq!(contacts(&out[0]).len(), 1);
}

#[test]
fn retransmitted_register_gets_the_same_answer_without_rebinding() {
    let mut site = Site::new();
    let req = register("1009", "a", 1, "<sip:1009@10.0.0.1>", None);
    let first = site.send(&req);
    let again = site.send(&req);
    assert_eq!(first, again, "the transaction resends its final response");
    assert_eq!(site.node.stats().transactions.server_created, 1);
}

#[test]
fn options_methods_and_malformed_requests() {
    let mut site = Site::new();
    let options = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKo1\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(status(&site.send(options)[0]), 200);
    let bye = String::from_utf8_lossy(options).replace("OPTIONS", "BYE").replace("o1", "b1");
    assert_eq!(status(&site.send(bye.as_bytes())[0]), 481, "BYE outside any dialog");
    let subscribe = String::from_utf8_lossy(options).replace("OPTIONS", "SUBSCRIBE").replace("o1", "s1");
    assert_eq!(status(&site.send(subscribe.as_bytes())[0]), 405);
    let foo = String::from_utf8_lossy(options).replace("OPTIONS", "FOO").replace("o1", "f1");
    assert_eq!(status(&site.send(foo.as_bytes())[0]), 501);
    let bad = String::from_utf8_lossy(options).replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS").replace("o1", "m1");
    let out = site.send(bad.as_bytes());
    assert_eq!(status(&out[0]), 400);
    assert!(String::from_utf8_lossy(&out[0]).starts_with("SIP/2.0 400 Bad Request - Malformed CSeq"));
    assert_eq!(site.node.stats().parse_errors.values().sum::<u64>(), 1);
}

#[test]
fn reconfigure_keeps_bindings_of_remaining_dns_and_applies_new_limits() {
    let mut site = Site::new();
    site.send(&register("1010", "r1010", 1, "<sip:1010@10.0.0.1>", None));
    site.send(&register("1500", "r1500", 1, "<sip:1500@10.0.0.1>", None));
    let mut config = engine::NodeConfig::for_tests();
    config.dns.ranges[0].last = 1099;
    config.registrar.min_expires = Duration::from_secs(120);
    let dropped = site.node.reconfigure(site.now, config);
    assert_eq!(dropped, 1);
    assert_eq!(site.node.bindings("1010").len(), 1, "kept");
    assert!(site.node.bindings("1500").is_empty(), "no longer provisioned");
    let out = site.send(&register("1500", "s1500", 1, "<sip:1500@10.0.0.1>", None));
    assert_eq!(status(&out[0]), 404);
    let out = site.send(&register("1011", "s1011", 1, "<sip:1011@10.0.0.1>", Some(90)));
    assert_eq!(status(&out[0]), 423, "the new min-expires applies to the next request");
}

#[test]
fn refreshes_keep_one_expiry_entry_per_binding() {
    let mut site = Site::new();
    let contact = format!("<sip:1004@10.0.0.1;pad={}>", "p".repeat(4_000));
    for cseq in 1..=100_000 {
        let out = site.send(&register("1004", "refresh", cseq, &contact, Some(3600)));
        assert_eq!(status(&out[0]), 200);
        // A second binding refreshed now and then, and removed and re-added.
        if cseq % 1_000 == 0 {
            site.send(&register(
                "1005",
                "other",
                cseq,
                "<sip:1005@10.0.0.2>",
                Some(if cseq % 2_000 == 0 { 0 } else { 600 }),
            ));
        }
    }
    let stats = site.node.stats();
    assert_eq!(stats.bindings, 1, "1005 was removed last");
    assert_eq!(stats.binding_expiry_entries, stats.bindings);
    // The one binding still lapses on time.
    site.advance(Duration::from_secs(3601));
    assert_eq!(site.node.stats().bindings, 0);
    assert_eq!(site.node.stats().binding_expiry_entries, 0);
}

#[test]
fn the_engine_says_whose_deadline_wakes_it() {
    let mut site = Site::with_config(engine::NodeConfig::for_tests());
    assert_eq!(site.node.next_deadline(), None, "an idle site sleeps");
    let out = site.send(&register("1001", "reg1", 1, "<sip:1001@127.0.0.1:6001>", Some(60)));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    let (_, first) = site.node.next_deadline().expect("a deadline");
    assert_eq!(first, engine::Wake::Transaction, "timer J of the REGISTER comes first (32 s)");
    site.advance(Duration::from_secs(33));
    let (at, next) = site.node.next_deadline().expect("a deadline");
    assert_eq!(next, engine::Wake::Registration);
    assert_eq!(at.saturating_duration_since(site.now), Duration::from_secs(27), "60 s after the REGISTER");
}
