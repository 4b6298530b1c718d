//! Outbound calls through trunks (longest prefix, priority, out-of-service skip) and
//! OPTIONS polling of trunks (oos-check / oos-force).

mod common;

use std::time::Duration;

use common::{names, register, Site};
use engine::{Dn, DnKind, DnOptions, NodeConfig, Trunk};
use sipmsg::{MessageBuilder, Method, ViaStamp};

const PHONE: &str = "127.0.0.1:6001";
const GW1: &str = "127.0.0.1:5081";
const GW2: &str = "127.0.0.1:5082";

fn trunk(contact: &str, priority: u32) -> Dn {
    Dn {
        kind: DnKind::Trunk,
        options: DnOptions::default(),
        trunk: Some(Trunk {
            contact: contact.parse().expect("addr"),
            prefix: "9".into(),
            priority,
            oos_check: Duration::from_secs(10),
            oos_force: Duration::from_secs(2),
            allow: Vec::new(),
            callers: Vec::new(),
            follows_redirects: true,
            site: None,
        }),
    }
}

fn site() -> Site {
    let mut c = NodeConfig::for_tests();
    c.dns.singles.insert("gw1".into(), trunk(GW1, 1));
    c.dns.singles.insert("gw2".into(), trunk(GW2, 2));
    let mut site = Site::with_config(c);
    let out = site.send(&register("1001", "r1", 1, &format!("<sip:1001@{PHONE}>"), None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site
}

fn dial(digits: &str, call: &str) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::Invite, &format!("sip:{digits}@127.0.0.1:5060"));
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {PHONE};branch=z9hG4bK{call}"));
    b.header("From", "<sip:1001@127.0.0.1:5060>;tag=ph");
    b.header_fmt("To", format_args!("<sip:{digits}@127.0.0.1:5060>"));
    b.header_fmt("Call-ID", format_args!("{call}@phone"));
    b.header("CSeq", "1 INVITE");
    b.header("Contact", "<sip:1001@127.0.0.1:6001>");
    b.finish(Some("application/sdp"), b"v=0\r\n")
}

#[test]
fn phone_dials_out_through_the_preferred_trunk_and_the_desk_sees_outbound() {
    let mut site = site();
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    site.desk_events();
    let out = site.send_from(PHONE, &dial("912025550147", "o1"));
    let to_gw: Vec<_> = out.iter().filter(|s| s.first_line().starts_with("INVITE")).collect();
    assert_eq!(to_gw.len(), 1);
    assert_eq!(to_gw[0].to.to_string(), GW1, "priority 1 wins among equal prefixes");
    assert_eq!(to_gw[0].first_line(), format!("INVITE sip:912025550147@{GW1} SIP/2.0"));
    let events = site.desk_events();
    assert_eq!(names(&events), vec!["1:EventDialing"]);
    assert!(
        matches!(&events[0].1, cti::Event::EventDialing { call_type: cti::CallType::Outbound, other_dn, .. } if other_dn == "912025550147")
    );
    // Digits no trunk serves, from a local phone: 404.
    let out = site.send_from(PHONE, &dial("812025550147", "o2"));
    assert!(out.iter().any(|s| s.first_line().starts_with("SIP/2.0 404")));
}

#[test]
fn unanswered_polls_take_a_trunk_out_of_service_and_calls_use_the_backup() {
    let mut site = site();
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"gw1"}"#);
    site.desk_events();
    let out = site.advance_sent(Duration::from_millis(10));
    let polls: Vec<_> = out.iter().filter(|s| s.first_line().starts_with("OPTIONS")).collect();
    assert_eq!(polls.len(), 2, "both trunks polled");
    // gw2 answers, gw1 does not.
    let poll2 = polls.iter().find(|s| s.to.to_string() == GW2).expect("gw2 polled");
    let ok = MessageBuilder::response_to(&poll2.msg(), 200, "OK", Some("g2"), &ViaStamp::default()).finish(None, b"");
    site.send_from(GW2, &ok);
    site.advance_sent(Duration::from_millis(2100));
    assert!(site.desk_events().is_empty(), "one unanswered poll is not enough (a lost datagram must not flap)");
    site.advance_sent(Duration::from_millis(10_000)); // the second poll at 10 s goes unanswered too
    let events = site.desk_events();
    assert_eq!(names(&events), vec!["1:EventDNOutOfService"]);
    let out = site.send_from(PHONE, &dial("912025550147", "o3"));
    let invite = out.iter().find(|s| s.first_line().starts_with("INVITE")).expect("an INVITE");
    assert_eq!(invite.to.to_string(), GW2, "the out-of-service trunk is skipped");
    // gw1 answers its next poll (at 20 s): back in service.
    let out = site.advance_sent(Duration::from_secs(8));
    let poll1 = out
        .iter()
        .rev()
        .find(|s| s.first_line().starts_with("OPTIONS") && s.to.to_string() == GW1)
        .expect("gw1 polled again");
    let ok = MessageBuilder::response_to(&poll1.msg(), 200, "OK", Some("g1"), &ViaStamp::default()).finish(None, b"");
    site.send_from(GW1, &ok);
    assert!(names(&site.desk_events()).contains(&"1:EventDNBackInService".to_owned()));
}
