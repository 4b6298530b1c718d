//! Whole-call scenarios on one site with seeded packet loss, and a seed sweep.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{AgentLogin, Dn, DnKind, DnOptions, NodeConfig};
use netem::LinkConfig;
use sim::{Pickup, Ua, UaEvent, World};

const GW: &str = "127.0.0.1:5080";
const PHONE: &str = "127.0.0.1:6001";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn config() -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.agents.insert("A1001".into(), AgentLogin { id: "A1001".into(), password: None, default_dn: Some("1001".into()) });
    let rp = Dn {
        kind: DnKind::RoutingPoint,
        options: DnOptions { router_timeout: Some(Duration::from_secs(2)), ..DnOptions::default() },
        trunk: None,
    };
    c.dns.singles.insert("5000".into(), rp);
    c.options.default_dn = Some("1001".into());
    c.options.wrap_up_time = Duration::from_secs(3);
    c
}

fn lossy() -> LinkConfig {
    LinkConfig { loss: 0.1, duplicate: 0.05, latency: Duration::from_millis(5), jitter: Duration::from_millis(15) }
}

/// A world with a gateway and a phone for 1001 that answers after `answer`.
fn world(seed: u64, link: LinkConfig, answer: Pickup) -> World {
    let mut w = World::new(seed, config(), link);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE), answer));
    w.register(addr(PHONE));
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.ua(addr(PHONE)).events.last(), Some(&UaEvent::Registered(200)), "seed {seed}: the phone registered");
    w
}

fn finals(w: &mut World, ua: &str) -> Vec<u16> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None })
        .collect()
}

/// Delivery, answer and hang-up under loss, for one seed: every seed ends with one 200
/// for the gateway, a BYE at the phone, and no call or transaction left at the site.
fn answered_call(seed: u64) {
    let mut w = world(seed, lossy(), Pickup::After(Duration::from_millis(300)));
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(40));
    assert_eq!(finals(&mut w, GW), vec![200], "seed {seed}");
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(70));
    assert!(
        w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::ByeReceived { .. })),
        "seed {seed}: the phone got the BYE"
    );
    assert_eq!(w.site().active_calls(), 0, "seed {seed}: the call is gone");
    assert_eq!(w.site().stats().calls_answered, 1, "seed {seed}");
}

#[test]
fn answered_call_survives_loss_across_200_seeds() {
    for seed in 0..200 {
        answered_call(seed);
    }
}

#[test]
fn busy_phone() {
    let mut w = world(1, lossy(), Pickup::Busy);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(40));
    assert_eq!(finals(&mut w, GW), vec![486]);
    assert_eq!(w.site().active_calls(), 0);
}

#[test]
fn no_answer_ends_with_480_and_the_phone_is_cancelled() {
    let mut w = world(2, lossy(), Pickup::Never);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(60));
    assert_eq!(finals(&mut w, GW), vec![480]);
    assert!(w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::Cancelled { .. })));
}

#[test]
fn caller_cancel_reaches_the_phone() {
    let mut w = world(3, lossy(), Pickup::Never);
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(2));
    w.cancel(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(finals(&mut w, GW), vec![487]);
    assert!(w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::Cancelled { .. })));
    assert_eq!(w.site().stats().calls_abandoned, 1);
}

#[test]
fn re_invite_is_relayed_and_answered() {
    let mut w = world(4, lossy(), Pickup::After(Duration::from_millis(100)));
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(40));
    w.re_invite(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert!(w.ua(addr(GW)).events.contains(&UaEvent::ReInviteAnswered { call, code: 200 }));
}

#[test]
fn routed_call_makes_the_agent_busy_then_after_call_work_then_ready() {
    let mut w = world(5, lossy(), Pickup::After(Duration::from_millis(200)));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.desk(1, r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001","AgentWorkMode":"ManualIn"}"#);
    // Nobody routes on 5000: default routing to 1001 after router-timeout (no router watching: at once).
    let call = w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(40));
    assert_eq!(finals(&mut w, GW), vec![200]);
    assert_eq!(w.site().agents_in(cti::AgentState::Busy), 1);
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.site().agents_in(cti::AgentState::AfterCallWork), 1);
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.site().agents_in(cti::AgentState::Ready), 1);
    let names = w.desk_names(1);
    for expected in ["EventAgentLogin", "EventRinging", "EventEstablished", "EventReleased", "EventAgentNotReady"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing in {names:?}");
    }
    assert_eq!(names.last().map(String::as_str), Some("EventAgentReady"));
}

#[test]
fn third_party_make_call_connects_two_phones_under_loss() {
    for seed in 0..50 {
        let mut w = world(seed, lossy(), Pickup::After(Duration::from_millis(100)));
        w.add(Ua::new("1002", addr("127.0.0.1:6002"), Pickup::After(Duration::from_millis(200))));
        w.register(addr("127.0.0.1:6002"));
        w.run_for(Duration::from_secs(40));
        w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
        w.desk(1, r#"{"message":"RequestMakeCall","ThisDN":"1001","OtherDN":"1002"}"#);
        w.run_for(Duration::from_secs(40));
        assert!(
            w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::Incoming { .. })),
            "seed {seed}: origin rang"
        );
        assert!(
            w.ua(addr("127.0.0.1:6002")).events.iter().any(|e| matches!(e, UaEvent::Incoming { .. })),
            "seed {seed}: target rang"
        );
        assert_eq!(w.site().stats().calls_answered, 1, "seed {seed}");
        let names = w.desk_names(1);
        assert!(
            names.iter().any(|n| n == "EventDialing") && names.iter().any(|n| n == "EventEstablished"),
            "seed {seed}: {names:?}"
        );
    }
}

#[test]
fn answer_call_from_the_desktop_answers_the_ringing_phone() {
    let mut w = world(9, lossy(), Pickup::Never);
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(2));
    let conn = Some(w.desk_events(1))
        .and_then(|events| {
            events.iter().find_map(|e| {
                if let cti::Event::EventRinging { conn_id, .. } = e {
                    Some(conn_id.clone())
                } else {
                    None
                }
            })
        })
        .expect("the desktop saw the call ring");
    w.desk(1, &format!(r#"{{"message":"RequestAnswerCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(10));
    assert!(w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::TalkRequested { .. })));
    assert_eq!(finals(&mut w, GW), vec![200], "the caller is connected");
    assert!(w.desk_names(1).iter().any(|n| n == "EventEstablished"));
}

/// A DN with two phones: both ring, the first answer wins and the other phone is
/// cancelled; the gateway hears one 200 and no provisional after it (a cancelled fork's
/// late 180, duplicated or delayed by the network, is not relayed after the answer).
#[test]
fn two_phones_on_one_dn_ring_together_and_the_first_answer_wins_under_loss() {
    const SECOND: &str = "127.0.0.1:6002";
    for seed in 0..50 {
        let mut w = world(seed, lossy(), Pickup::After(Duration::from_millis(300)));
        w.add(Ua::new("1001", addr(SECOND), Pickup::Never));
        w.register(addr(SECOND));
        w.run_for(Duration::from_secs(40));
        assert_eq!(w.site().bindings("1001").len(), 2, "seed {seed}: both phones registered");
        let call = w.call(addr(GW), "1001");
        w.run_for(Duration::from_secs(40));
        assert_eq!(finals(&mut w, GW), vec![200], "seed {seed}");
        let events = &w.ua(addr(GW)).events;
        let answered_at = events.iter().position(|e| matches!(e, UaEvent::Final { .. }));
        let late = events.iter().skip(answered_at.unwrap_or(0)).any(|e| matches!(e, UaEvent::Provisional { .. }));
        assert!(!late, "seed {seed}: a provisional after the answer: {events:?}");
        // The other phone rang and was cancelled (or, its INVITE lost, never rang).
        let second = &w.ua(addr(SECOND)).events;
        let rang = second.iter().any(|e| matches!(e, UaEvent::Incoming { .. }));
        let cancelled = second.iter().any(|e| matches!(e, UaEvent::Cancelled { .. }));
        assert!(!rang || cancelled, "seed {seed}: the other phone rang on: {second:?}");
        w.hang_up(addr(GW), &call);
        w.run_for(Duration::from_secs(70));
        assert_eq!(w.site().active_calls(), 0, "seed {seed}: the call is gone");
    }
}
