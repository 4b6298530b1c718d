//! Routing support at one site: agent reservation (BC-43..46, flow F9), a routed call
//! that is not answered going back to its Routing Point, monitor-mode registrations that
//! do not count as routers, and ISCC route errors.

mod common;

use std::time::Duration;

use common::{names, register, Sent, Site};
use cti::{ErrorCode, Event};
use engine::{AgentLogin, Dn, DnKind, DnOptions, NodeConfig};
use sipmsg::{MessageBuilder, ViaStamp};

const GW: &str = "127.0.0.1:5080";
const PHONE: &str = "127.0.0.1:6001";

fn config() -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    for (id, dn) in [("A1001", "1001"), ("A1002", "1002")] {
        c.agents.insert(id.into(), AgentLogin { id: id.into(), password: None, default_dn: Some(dn.into()) });
    }
    let rp = Dn {
        kind: DnKind::RoutingPoint,
        options: DnOptions { router_timeout: Some(Duration::from_secs(5)), ..DnOptions::default() },
        trunk: None,
    };
    c.dns.singles.insert("5000".into(), rp);
    c.options.default_dn = Some("1999".into());
    c
}

fn ready_agent(site: &mut Site, desk: u64, dn: &str, agent: &str) {
    let out = site.send(&register(dn, &format!("reg{dn}"), 1, &format!("<sip:{dn}@{PHONE}>"), None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site.desk(desk, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    site.desk(
        desk,
        &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"{agent}","AgentWorkMode":"ManualIn"}}"#),
    );
}

fn reserve(desk_ref: u64, dn: &str, priority: i32, duration: i64) -> String {
    format!(
        r#"{{"message":"RequestReserveAgent","ReferenceID":{desk_ref},"ThisDN":"{dn}","Priority":{priority},"Duration":{duration}}}"#
    )
}

fn error_code(events: &[(u64, Event)]) -> Option<ErrorCode> {
    events.iter().find_map(|(_, e)| match e {
        Event::EventError { error_code, .. } => Some(*error_code),
        _ => None,
    })
}

fn answer(inv: &Sent, code: u16) -> Vec<u8> {
    let mut b = MessageBuilder::response_to(&inv.msg(), code, "Phone", Some("ph"), &ViaStamp::default());
    b.header("Contact", "<sip:phone@127.0.0.1:6001>");
    b.finish(Some("application/sdp"), b"v=0\r\n")
}

/// Parks a gateway call on 5000 with desk 1 as its router; returns the ConnID.
fn parked_call(site: &mut Site, call: &str) -> String {
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    site.desk_events();
    site.send_from(GW, &common::gateway_invite("5000", call));
    let events = site.desk_events();
    let Some(Event::EventRouteRequest { conn_id, .. }) =
        events.iter().map(|(_, e)| e).find(|e| matches!(e, Event::EventRouteRequest { .. }))
    else {
        panic!("no EventRouteRequest in {events:?}");
    };
    conn_id.clone()
}

fn route_call(conn_id: &str, target: &str) -> String {
    format!(
        r#"{{"message":"RequestRouteCall","ReferenceID":9,"ThisDN":"5000","ConnID":"{conn_id}","OtherDN":"{target}"}}"#
    )
}

#[test]
fn f9_two_requests_in_one_window_one_wins_a_third_is_refused_and_expiry_frees_the_agent() {
    let mut site = Site::with_config(config());
    ready_agent(&mut site, 1, "1002", "A1002");
    site.desk_events();
    assert!(site.desk(7, &reserve(71, "1002", 1, -1)).is_empty(), "collected, not answered yet");
    site.advance(Duration::from_millis(40));
    assert!(site.desk(8, &reserve(81, "1002", 1, -1)).is_empty());
    site.advance(Duration::from_millis(59));
    assert!(site.desk_events().is_empty(), "the 100 ms window is still open");
    site.advance(Duration::from_millis(2));
    let events = site.desk_events();
    let won: Vec<u64> = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::EventAgentReserved { duration: 10, agent_id, .. } if agent_id == "A1002"))
        .map(|(d, _)| *d)
        .collect();
    let lost: Vec<u64> = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::EventError { error_code: ErrorCode::AgentReserved, .. }))
        .map(|(d, _)| *d)
        .collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{events:?}");
    assert_ne!(won[0], lost[0]);
    assert_eq!(error_code(&site.desk(9, &reserve(91, "1002", 5, -1))), Some(ErrorCode::AgentReserved));
    // reservation-time (10 s) passes: the agent is free again.
    site.advance(Duration::from_secs(10));
    site.desk(9, &reserve(92, "1002", 5, 3));
    site.advance(Duration::from_millis(101));
    assert!(site
        .desk_events()
        .iter()
        .any(|(d, e)| *d == 9 && matches!(e, Event::EventAgentReserved { duration: 3, .. })));
}

#[test]
fn the_higher_priority_wins_and_cancel_needs_a_reservation() {
    let mut site = Site::with_config(config());
    ready_agent(&mut site, 1, "1002", "A1002");
    site.desk(7, &reserve(71, "1002", 1, -1));
    site.desk(8, &reserve(81, "1002", 2, -1));
    site.advance(Duration::from_millis(101));
    let events = site.desk_events();
    assert!(events.iter().any(|(d, e)| *d == 8 && matches!(e, Event::EventAgentReserved { .. })), "{events:?}");
    assert_eq!(error_code(&site.desk(7, &reserve(72, "1002", 1, 0))), Some(ErrorCode::InvalidState));
    let events = site.desk(8, &reserve(82, "1002", 1, 0));
    assert!(matches!(&events[0].1, Event::EventAgentReserved { duration: 0, .. }), "cancelled: {events:?}");
    site.desk(7, &reserve(73, "1002", 1, -1));
    site.advance(Duration::from_millis(101));
    assert!(site.desk_events().iter().any(|(d, e)| *d == 7 && matches!(e, Event::EventAgentReserved { .. })));
}

#[test]
fn an_agent_not_logged_in_here_cannot_be_reserved_here() {
    let mut site = Site::with_config(config());
    let events = site.desk(7, &reserve(71, "1001", 1, -1));
    assert_eq!(error_code(&events), Some(ErrorCode::NoAgentLoggedIn));
}

#[test]
fn a_reserved_agent_is_routed_to_only_by_its_holder_and_the_ringing_call_uses_the_reservation() {
    let mut site = Site::with_config(config());
    ready_agent(&mut site, 2, "1002", "A1002");
    let conn_id = parked_call(&mut site, "rv1");
    site.desk(3, &reserve(31, "1002", 1, -1));
    site.advance(Duration::from_millis(101));
    site.desk_events();
    let events = site.desk(1, &route_call(&conn_id, "1002"));
    assert_eq!(error_code(&events), Some(ErrorCode::AgentReserved), "desk 1 does not hold A1002");
    site.desk(3, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    let events = site.desk(3, &route_call(&conn_id, "1002"));
    assert!(names(&events).contains(&"3:EventRouteUsed".to_owned()), "{events:?}");
    // The ACD call rang: the reservation is spent, another client may reserve the agent.
    site.desk(4, &reserve(41, "1002", 1, -1));
    site.advance(Duration::from_millis(101));
    assert!(site.desk_events().iter().any(|(d, e)| *d == 4 && matches!(e, Event::EventAgentReserved { .. })));
}

#[test]
fn a_routed_call_the_agent_does_not_take_goes_back_to_its_routing_point() {
    let mut site = Site::with_config(config());
    ready_agent(&mut site, 2, "1002", "A1002");
    let conn_id = parked_call(&mut site, "rq1");
    site.desk(1, &route_call(&conn_id, "1002"));
    let out = site.drain_sent();
    let ringing = out.iter().find(|s| s.first_line().starts_with("INVITE sip:1002@")).expect("rings 1002");
    assert_eq!(site.node.agents_in(cti::AgentState::Busy), 1);
    let out = site.send_from(PHONE, &answer(ringing, 486));
    assert!(
        out.iter().all(|s| !s.first_line().starts_with("SIP/2.0 4")),
        "the caller hears no failure: {:?}",
        out.iter().map(Sent::first_line).collect::<Vec<_>>()
    );
    let events = site.desk_events();
    let names = names(&events);
    for expected in ["2:EventReleased", "2:EventAgentReady", "1:EventRouteRequest"] {
        assert!(names.contains(&expected.to_owned()), "{expected} missing in {names:?}");
    }
    let again = events.iter().find_map(|(_, e)| match e {
        Event::EventRouteRequest { conn_id, .. } => Some(conn_id.clone()),
        _ => None,
    });
    assert_eq!(again, Some(conn_id.clone()), "the same call, same ConnID");
    assert_eq!(site.node.agents_in(cti::AgentState::Ready), 1);
    assert_eq!(site.node.active_calls(), 1);
    // Routed again, answered this time.
    site.desk(1, &route_call(&conn_id, "1002"));
    let out = site.drain_sent();
    let ringing = out.iter().find(|s| s.first_line().starts_with("INVITE sip:1002@")).expect("rings again");
    let out = site.send_from(PHONE, &answer(ringing, 200));
    assert!(out.iter().any(|s| s.first_line().starts_with("SIP/2.0 200")));
}

#[test]
fn a_routed_call_that_rings_out_goes_back_and_queue_max_wait_counts_from_arrival() {
    let mut c = config();
    c.options.no_answer_timeout = Duration::from_secs(20);
    c.options.queue_max_wait = Duration::from_secs(30);
    c.options.default_dn = None;
    let mut site = Site::with_config(c);
    ready_agent(&mut site, 2, "1002", "A1002");
    let conn_id = parked_call(&mut site, "rq2");
    site.advance(Duration::from_secs(5));
    site.desk(1, &route_call(&conn_id, "1002"));
    site.desk_events();
    site.advance(Duration::from_secs(20));
    assert!(names(&site.desk_events()).contains(&"1:EventRouteRequest".to_owned()), "back after no-answer");
    let out = site.advance_sent(Duration::from_secs(6));
    assert!(
        out.iter().any(|s| s.first_line() == "SIP/2.0 480 Temporarily Unavailable - Queue Timeout"),
        "30 s after arrival, not after the return"
    );
}

#[test]
fn a_monitor_registration_is_not_a_router() {
    let mut site = Site::with_config(config());
    let out = site.send(&register("1999", "reg1999", 1, &format!("<sip:1999@{PHONE}>"), None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000","RegisterMode":"ModeMonitor"}"#);
    site.send_from(GW, &common::gateway_invite("5000", "m1"));
    let names = names(&site.desk_events());
    assert_eq!(names, vec!["1:EventRouteRequest", "1:EventRouteUsed"], "default-routed at once, and seen");
}

#[test]
fn an_iscc_route_without_a_dr_peer_is_refused_and_the_call_stays() {
    let mut site = Site::with_config(config());
    let conn_id = parked_call(&mut site, "is1");
    let json = format!(
        r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn_id}","OtherDN":"1002","Location":"site2"}}"#
    );
    assert_eq!(error_code(&site.desk(1, &json)), Some(ErrorCode::InvalidState));
    assert_eq!(site.node.active_calls(), 1);
}

#[test]
fn apply_treatment_stops_router_timeout_but_not_queue_max_wait() {
    let mut c = config();
    c.options.queue_max_wait = Duration::from_secs(30);
    let mut site = Site::with_config(c);
    let out = site.send(&register("1999", "reg1999", 1, &format!("<sip:1999@{PHONE}>"), None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    let conn_id = parked_call(&mut site, "tr1");
    let json = format!(
        r#"{{"message":"RequestApplyTreatment","ReferenceID":4,"ThisDN":"5000","ConnID":"{conn_id}","TreatmentType":"Music"}}"#
    );
    let events = site.desk(1, &json);
    assert!(matches!(&events[0].1, Event::EventTreatmentApplied { reference_id: Some(4), .. }), "{events:?}");
    let out = site.advance_sent(Duration::from_secs(10));
    assert!(
        out.iter().all(|s| !s.first_line().starts_with("INVITE sip:1999@")),
        "router-timeout (5 s) no longer applies"
    );
    let out = site.advance_sent(Duration::from_secs(21));
    assert!(out.iter().any(|s| s.first_line().starts_with("INVITE sip:1999@")), "queue-max-wait: default routing");
    let bad = r#"{"message":"RequestApplyTreatment","ThisDN":"5000","ConnID":"00000000000000ff"}"#;
    assert_eq!(error_code(&site.desk(1, bad)), Some(ErrorCode::NoSuchCall));
}

#[test]
fn when_the_last_router_leaves_its_treated_calls_are_default_routed_at_once() {
    let mut site = Site::with_config(config());
    let out = site.send(&register("1999", "reg1999", 1, &format!("<sip:1999@{PHONE}>"), None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"5000","RegisterMode":"ModeMonitor"}"#);
    let conn_id = parked_call(&mut site, "gone1");
    let json = format!(r#"{{"message":"RequestApplyTreatment","ThisDN":"5000","ConnID":"{conn_id}"}}"#);
    site.desk(1, &json);
    let out = site.advance_sent(Duration::from_secs(1));
    assert!(out.iter().all(|s| !s.first_line().starts_with("INVITE")), "in the router's hands");
    site.node.handle_input(engine::Input::DeskClosed { at: site.now, desk: engine::DeskId(1) });
    let out = site.drain_sent();
    assert!(
        out.iter().any(|s| s.first_line().starts_with("INVITE sip:1999@")),
        "no router left (a monitor is none): default-dn at once"
    );
}

#[test]
fn a_router_that_registers_late_hears_of_the_calls_already_waiting() {
    let mut site = Site::with_config(config());
    let conn_id = parked_call(&mut site, "late1");
    let events = site.desk(9, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    assert_eq!(names(&events), vec!["9:EventRegistered", "9:EventRouteRequest"]);
    assert!(matches!(&events[1].1, Event::EventRouteRequest { conn_id: c, .. } if *c == conn_id));
}
