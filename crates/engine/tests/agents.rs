//! Agents and desktops over CTI: registration, login rules, agent states, call events,
//! Routing Points and default routing, AfterCallWork.

mod common;

use std::time::Duration;

use common::{names, register, Sent, Site};
use cti::Event;
use engine::{AgentLogin, Dn, DnKind, DnOptions, NodeConfig};
use sipmsg::{MessageBuilder, ViaStamp};

const GW: &str = "127.0.0.1:5080";
const PHONE: &str = "127.0.0.1:6001";

fn config() -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    for (id, dn, password) in [("A1001", "1001", None), ("A1002", "1002", Some("pw"))] {
        c.agents.insert(
            id.into(),
            AgentLogin { id: id.into(), password: password.map(String::from), default_dn: Some(dn.into()) },
        );
    }
    let rp = Dn {
        kind: DnKind::RoutingPoint,
        options: DnOptions { router_timeout: Some(Duration::from_secs(2)), ..DnOptions::default() },
        trunk: None,
    };
    c.dns.singles.insert("5000".into(), rp);
    c.options.default_dn = Some("1999".into());
    c.options.wrap_up_time = Duration::from_secs(5);
    c
}

fn invite(dn: &str, call: &str) -> Vec<u8> {
    common::gateway_invite(dn, call)
}

fn answer(inv: &Sent, code: u16) -> Vec<u8> {
    let mut b = MessageBuilder::response_to(&inv.msg(), code, "Phone", Some("ph"), &ViaStamp::default());
    b.header("Contact", "<sip:phone@127.0.0.1:6001>");
    b.finish(Some("application/sdp"), b"v=0\r\n")
}

fn registered_phone(site: &mut Site, dn: &str) {
    let out = site.send(&register(dn, &format!("reg{dn}"), 1, &format!("<sip:{dn}@{PHONE}>"), None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
}

fn login(site: &mut Site, desk: u64, dn: &str, agent: &str) -> Vec<(u64, Event)> {
    site.desk(desk, &format!(r#"{{"message":"RequestRegisterAddress","ReferenceID":1,"ThisDN":"{dn}"}}"#));
    site.desk(
        desk,
        &format!(r#"{{"message":"RequestAgentLogin","ReferenceID":2,"ThisDN":"{dn}","AgentID":"{agent}"}}"#),
    )
}

fn error_code(events: &[(u64, Event)]) -> Option<cti::ErrorCode> {
    events.iter().find_map(|(_, e)| match e {
        Event::EventError { error_code, .. } => Some(*error_code),
        _ => None,
    })
}

#[test]
fn register_reports_service_state_and_login_follows_the_rules() {
    let mut site = Site::with_config(config());
    let events = site.desk(1, r#"{"message":"RequestRegisterAddress","ReferenceID":9,"ThisDN":"1001"}"#);
    assert!(matches!(&events[0].1, Event::EventRegistered { reference_id: Some(9), in_service: false, .. }));
    registered_phone(&mut site, "1001");
    let events = site.desk_events();
    assert_eq!(names(&events), vec!["1:EventDNBackInService"]);

    let events = site.desk(1, r#"{"message":"RequestAgentLogin","ReferenceID":3,"ThisDN":"1001","AgentID":"A1001"}"#);
    assert_eq!(names(&events), vec!["1:EventAgentLogin", "1:EventAgentNotReady"]);
    assert!(matches!(&events[0].1, Event::EventAgentLogin { reference_id: Some(3), .. }));
    assert_eq!(site.node.agent_on("1001"), Some("A1001"));

    // The same agent elsewhere, another agent here, a wrong password, an unknown agent.
    assert_eq!(error_code(&login(&mut site, 2, "1003", "A1001")), Some(cti::ErrorCode::AgentAlreadyLoggedIn));
    assert_eq!(error_code(&login(&mut site, 2, "1001", "A1003")), Some(cti::ErrorCode::UnknownAgent));
    assert_eq!(error_code(&login(&mut site, 2, "1002", "A1002")), Some(cti::ErrorCode::BadPassword));
    let events = site.desk(2, r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1002","Password":"pw"}"#);
    assert_eq!(error_code(&events), Some(cti::ErrorCode::DNInUse));
    let events = site.desk(3, r#"{"message":"RequestAgentReady","ThisDN":"1001"}"#);
    assert_eq!(error_code(&events), Some(cti::ErrorCode::NotRegistered), "a desk sees only what it registered");
}

#[test]
fn ready_not_ready_logout_and_reconnect() {
    let mut site = Site::with_config(config());
    login(&mut site, 1, "1001", "A1001");
    site.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    let events =
        site.desk(1, r#"{"message":"RequestAgentReady","ReferenceID":5,"ThisDN":"1001","AgentWorkMode":"ManualIn"}"#);
    assert_eq!(names(&events), vec!["2:EventAgentReady", "1:EventAgentReady"], "both desks on the DN hear it");
    assert!(matches!(&events[1].1, Event::EventAgentReady { reference_id: Some(5), .. }));
    assert!(matches!(&events[0].1, Event::EventAgentReady { reference_id: None, .. }));
    assert_eq!(site.node.agents_in(cti::AgentState::Ready), 1);
    let events = site.desk(1, r#"{"message":"RequestAgentNotReady","ThisDN":"1001","AgentWorkMode":"AuxWork","Reasons":{"ReasonCode":"Lunch"}}"#);
    assert!(events.iter().any(|(_, e)| matches!(
        e,
        Event::EventAgentNotReady { work_mode: cti::AgentWorkMode::AuxWork, reasons: Some(_), .. }
    )));

    // The desktop reconnects: the agent is still logged in and NotReady.
    site.node.handle_input(engine::Input::DeskClosed { at: site.now, desk: engine::DeskId(1) });
    let events = site.desk(7, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    assert!(
        matches!(&events[0].1, Event::EventRegistered { agent_state: Some(cti::AgentState::NotReady), agent_id: Some(a), .. } if a == "A1001")
    );

    let events = site.desk(7, r#"{"message":"RequestAgentLogout","ThisDN":"1001"}"#);
    assert!(events.iter().any(|(d, e)| *d == 7 && matches!(e, Event::EventAgentLogout { .. })));
    assert_eq!(site.node.agent_on("1001"), None);
}

#[test]
fn call_events_reach_only_the_desks_registered_on_the_dn() {
    let mut site = Site::with_config(config());
    registered_phone(&mut site, "1001");
    login(&mut site, 1, "1001", "A1001");
    site.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    site.desk_events();
    let out = site.send_from(GW, &invite("1001", "e1"));
    let b = Sent {
        to: PHONE.parse().expect("addr"),
        bytes: out.iter().find(|s| s.first_line().starts_with("INVITE")).expect("b-leg").bytes.clone(),
    };
    let events = site.desk_events();
    assert_eq!(names(&events), vec!["1:EventRinging"]);
    let Event::EventRinging { other_dn, call_type, conn_id, .. } = &events[0].1 else { panic!() };
    assert_eq!((other_dn.as_str(), *call_type), ("+12025550147", cti::CallType::Inbound));
    assert_eq!(conn_id.len(), 16);
    site.send_from(PHONE, &answer(&b, 200));
    assert_eq!(names(&site.desk_events()), vec!["1:EventEstablished"]);
    // Release from the desktop (RequestReleaseCall).
    let json = format!(r#"{{"message":"RequestReleaseCall","ReferenceID":4,"ThisDN":"1001","ConnID":"{conn_id}"}}"#);
    let events = site.desk(1, &json);
    assert_eq!(names(&events), vec!["1:EventReleased"]);
    assert_eq!(site.node.active_calls(), 0);
    let events = site.desk(1, &json);
    assert_eq!(error_code(&events), Some(cti::ErrorCode::NoSuchCall));
}

#[test]
fn routing_point_route_request_route_call_and_acd_busy_then_ready_when_not_taken() {
    let mut site = Site::with_config(config());
    registered_phone(&mut site, "1002");
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    site.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    site.desk(2, r#"{"message":"RequestAgentLogin","ThisDN":"1002","AgentID":"A1002","Password":"pw","AgentWorkMode":"ManualIn"}"#);
    site.desk_events();
    let out = site.send_from(GW, &invite("5000", "r1"));
    assert!(out.iter().all(|s| !s.first_line().starts_with("INVITE")), "nothing rings while the call waits");
    let events = site.desk_events();
    assert_eq!(names(&events), vec!["1:EventRouteRequest"]);
    let Event::EventRouteRequest { conn_id, this_queue, .. } = &events[0].1 else { panic!() };
    assert_eq!(this_queue, "5000");
    let json = format!(
        r#"{{"message":"RequestRouteCall","ReferenceID":8,"ThisDN":"5000","ConnID":"{conn_id}","OtherDN":"1002","RouteType":"Default"}}"#
    );
    let events = site.desk(1, &json);
    assert_eq!(names(&events), vec!["1:EventRouteUsed", "2:EventRinging"]);
    assert!(
        matches!(&events[0].1, Event::EventRouteUsed { reference_id: Some(8), other_dn, .. } if other_dn == "1002")
    );
    assert_eq!(site.node.agents_in(cti::AgentState::Busy), 1, "an ACD call makes the agent busy");
    assert!(
        site.drain_sent().iter().any(|s| s.first_line().starts_with("INVITE sip:1002@")),
        "the routed call rings 1002"
    );
    // Released while ringing: a call never taken leaves no wrap-up, the agent is Ready at
    // once (AfterCallWork after an answered ACD call: sim `routed_call_makes_the_agent_busy...`).
    let json = format!(r#"{{"message":"RequestReleaseCall","ThisDN":"1002","ConnID":"{conn_id}"}}"#);
    let events = site.desk(2, &json);
    assert_eq!(site.node.agents_in(cti::AgentState::Ready), 1);
    assert_eq!(site.node.agents_in(cti::AgentState::AfterCallWork), 0);
    assert!(names(&events).contains(&"2:EventAgentReady".to_owned()), "{events:?}");
}

#[test]
fn router_timeout_default_routes_and_no_router_routes_at_once() {
    let mut site = Site::with_config(config());
    registered_phone(&mut site, "1999");
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    site.send_from(GW, &invite("5000", "t1"));
    assert_eq!(names(&site.desk_events()), vec!["1:EventRouteRequest"]);
    let out = site.advance_sent(Duration::from_millis(1900));
    assert!(out.iter().all(|s| !s.first_line().starts_with("INVITE")));
    let out = site.advance_sent(Duration::from_millis(200));
    assert!(
        out.iter().any(|s| s.first_line().starts_with("INVITE sip:1999@")),
        "default-dn rings after router-timeout"
    );
    assert!(
        matches!(&site.desk_events()[0].1, Event::EventRouteUsed { reference_id: None, default_routed: true, other_dn, .. } if other_dn == "1999")
    );

    // Nobody watches the Routing Point: default routing at once.
    site.node.handle_input(engine::Input::DeskClosed { at: site.now, desk: engine::DeskId(1) });
    let out = site.send_from(GW, &invite("5000", "t2"));
    assert!(out.iter().any(|s| s.first_line().starts_with("INVITE sip:1999@")));
}

#[test]
fn make_call_rings_the_origin_then_calls_the_target_with_its_offer() {
    let mut site = Site::with_config(config());
    registered_phone(&mut site, "1001");
    let out = site.send(&register("1002", "reg1002", 1, "<sip:1002@127.0.0.1:6002>", None));
    assert!(out[0].starts_with(b"SIP/2.0 200"));
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    site.desk_events();
    let events = site.desk(1, r#"{"message":"RequestMakeCall","ReferenceID":3,"ThisDN":"1001","OtherDN":"1002"}"#);
    assert!(events.is_empty(), "no error: {events:?}");
    let out = site.drain_sent();
    let to_origin = out.iter().find(|s| s.first_line().starts_with("INVITE")).expect("the origin phone rings");
    assert_eq!(to_origin.to.to_string(), PHONE);
    assert!(to_origin.msg().body().is_empty(), "no offer: the origin phone makes it");
    let offer = b"v=0\r\no=origin 1 1 IN IP4 127.0.0.1\r\n";
    let mut b = MessageBuilder::response_to(&to_origin.msg(), 200, "OK", Some("org"), &ViaStamp::default());
    b.header("Contact", "<sip:1001@127.0.0.1:6001>");
    let out = site.send_from(PHONE, &b.finish(Some("application/sdp"), offer));
    let to_target = out.iter().find(|s| s.first_line().starts_with("INVITE")).expect("then the target rings");
    assert_eq!(to_target.to.to_string(), "127.0.0.1:6002");
    assert_eq!(to_target.msg().body(), offer, "the target gets the origin's offer");
    assert_eq!(to_target.msg().from().and_then(|f| f.uri.user()), Some("1001"));
    let events = site.desk_events();
    assert!(
        matches!(&events[0].1, Event::EventDialing { other_dn, call_type: cti::CallType::Internal, .. } if other_dn == "1002"),
        "{events:?}"
    );
    let answer = b"v=0\r\no=target 2 2 IN IP4 127.0.0.1\r\n";
    let mut b = MessageBuilder::response_to(&to_target.msg(), 200, "OK", Some("tgt"), &ViaStamp::default());
    b.header("Contact", "<sip:1002@127.0.0.1:6002>");
    let out = site.send_from("127.0.0.1:6002", &b.finish(Some("application/sdp"), answer));
    let acks: Vec<_> = out.iter().filter(|s| s.first_line().starts_with("ACK")).collect();
    assert_eq!(acks.len(), 2, "both legs ACKed");
    let origin_ack = acks.iter().find(|s| s.to.to_string() == PHONE).expect("ACK to the origin");
    assert_eq!(origin_ack.msg().body(), answer, "the origin gets the target's answer in the ACK");
    assert!(names(&site.desk_events()).contains(&"1:EventEstablished".to_owned()));
    assert_eq!(site.node.active_calls(), 1);
    // A MakeCall from a DN without a phone is refused.
    let events = site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1003"}"#);
    assert!(matches!(&events[0].1, Event::EventRegistered { .. }));
    let events = site.desk(1, r#"{"message":"RequestMakeCall","ThisDN":"1003","OtherDN":"1002"}"#);
    assert_eq!(error_code(&events), Some(cti::ErrorCode::InvalidState));
}

#[test]
fn make_call_with_user_data_or_a_number_too_long_for_sip_is_refused_and_nothing_is_sent() {
    let mut site = Site::with_config(config());
    registered_phone(&mut site, "1001");
    site.send(&register("1002", "reg1002", 1, "<sip:1002@127.0.0.1:6002>", None));
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    site.desk_events();
    site.drain_sent();
    let make_call = |other: &str, data: usize| {
        format!(
            r#"{{"message":"RequestMakeCall","ThisDN":"1001","OtherDN":"{other}","UserData":{{"note":"{}"}}}}"#,
            "x".repeat(data)
        )
    };
    for request in [make_call("1002", 5_000), make_call(&"9".repeat(200), 10)] {
        let events = site.desk(1, &request);
        assert_eq!(error_code(&events), Some(cti::ErrorCode::InvalidRequest), "{events:?}");
        assert!(site.drain_sent().is_empty(), "nothing sent");
    }
    let events = site.desk(1, &make_call("1002", 4_000));
    assert!(events.is_empty(), "4,000 bytes of UserData fit: {events:?}");
    assert!(site.drain_sent().iter().any(|s| s.first_line().starts_with("INVITE")));
}

/// A Routing Point with no default target and a 30 s maximum wait.
fn config_without_default() -> NodeConfig {
    let mut c = config();
    c.options.default_dn = None;
    c.options.queue_max_wait = Duration::from_secs(30);
    c
}

#[test]
fn a_call_nobody_routes_gets_480_at_queue_max_wait() {
    for router in [false, true] {
        let mut site = Site::with_config(config_without_default());
        if router {
            site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
        }
        let out = site.send_from(GW, &invite("5000", "w1"));
        assert!(out.iter().any(|s| s.first_line().starts_with("SIP/2.0 100")));
        let out = site.advance_sent(Duration::from_secs(29));
        assert!(out.iter().all(|s| !s.first_line().starts_with("SIP/2.0 4")), "still waiting at 29 s");
        assert_eq!(site.node.active_calls(), 1);
        let out = site.advance_sent(Duration::from_secs(2));
        assert!(
            out.iter().any(|s| s.first_line() == "SIP/2.0 480 Temporarily Unavailable - Queue Timeout"),
            "router={router}"
        );
        assert_eq!(site.node.active_calls(), 0);
        assert_eq!(site.node.stats().calls_failed.get(&480), Some(&1));
    }
}

#[test]
fn a_call_routed_within_queue_max_wait_is_not_cut_by_it() {
    let mut site = Site::with_config(config_without_default());
    registered_phone(&mut site, "1002");
    site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    site.send_from(GW, &invite("5000", "w2"));
    let events = site.desk_events();
    let Event::EventRouteRequest { conn_id, .. } = &events[0].1 else { panic!("route request expected") };
    site.advance(Duration::from_secs(20));
    let json = format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn_id}","OtherDN":"1002"}}"#);
    site.desk(1, &json);
    let out = site.drain_sent();
    let ringing = out.iter().find(|s| s.first_line().starts_with("INVITE sip:1002@")).expect("routed to 1002");
    site.send_from(PHONE, &answer(ringing, 200));
    // Past the 30 s maximum wait (and before the unACKed 2xx gives up at 20 + 32 s).
    let out = site.advance_sent(Duration::from_secs(11));
    assert!(out.iter().all(|s| !s.first_line().contains("Queue Timeout")));
    assert_eq!(site.node.active_calls(), 1, "the answered call goes on");
    assert_eq!(site.node.stats().calls_answered, 1);
}

#[test]
fn logging_in_again_on_the_same_dn_keeps_the_agents_state() {
    let mut site = Site::with_config(config());
    login(&mut site, 1, "1001", "A1001");
    site.desk(1, r#"{"message":"RequestAgentReady","ThisDN":"1001"}"#);
    site.desk_events();
    let events = site.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    assert_eq!(names(&events), vec!["2:EventRegistered"]);
    let events = site.desk(2, r#"{"message":"RequestAgentLogin","ReferenceID":5,"ThisDN":"1001","AgentID":"A1001"}"#);
    assert_eq!(names(&events), vec!["2:EventAgentLogin", "2:EventAgentReady"], "confirmed, still Ready");
    assert_eq!(site.node.agents_in(cti::AgentState::Ready), 1);
}

/// EventRegistered and EventAddressInfo carry an AgentState for agent lines (LoggedOut
/// when nobody is logged in) and none for a Routing Point, where no agent logs in.
#[test]
fn a_routing_point_is_registered_without_an_agent_state() {
    let mut site = Site::with_config(config());
    let events = site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    assert!(matches!(&events[0].1, Event::EventRegistered { agent_state: None, agent_id: None, .. }), "{events:?}");
    let json = serde_json::to_string(&events[0].1).expect("json");
    assert!(!json.contains("AgentState"), "{json}");
    let events = site.desk(1, r#"{"message":"RequestQueryAddress","ThisDN":"5000"}"#);
    assert!(matches!(&events[0].1, Event::EventAddressInfo { agent_state: None, .. }), "{events:?}");
    let events = site.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    assert!(matches!(&events[0].1, Event::EventRegistered { agent_state: Some(cti::AgentState::LoggedOut), .. }));
}
