//! The router on its own, fed CTI events by hand: what it asks of each site.
#![allow(clippy::disallowed_methods)] // tests pick their own starting instant

use std::time::{Duration, Instant};

use cti::{AgentWorkMode, Event, Request};
use routing::{Router, RoutingFile};

fn router() -> Router {
    let file: RoutingFile = toml::from_str(
        r#"
[[agent]]
id = "A1"
skills = { sales = 1 }
[[agent]]
id = "A2"
skills = { sales = 1 }
[[point]]
dn = "5000"
target = "sales"
"#,
    )
    .expect("toml");
    Router::new(file.compile().expect("valid"), 0, vec!["s1".into(), "s2".into()], vec![], 1)
}

fn ready(r: &mut Router, at: Instant, site: usize, dn: &str, agent: &str) {
    r.on_event(at, site, &Event::EventAgentLogin { reference_id: None, this_dn: dn.into(), agent_id: agent.into() });
    r.on_event(
        at,
        site,
        &Event::EventAgentReady {
            reference_id: None,
            this_dn: dn.into(),
            agent_id: agent.into(),
            work_mode: AgentWorkMode::ManualIn,
        },
    );
}

fn route_request(conn: &str) -> Event {
    Event::EventRouteRequest {
        this_dn: "5000".into(),
        this_queue: "5000".into(),
        other_dn: "gw".into(),
        conn_id: conn.into(),
        call_type: cti::CallType::Inbound,
        server: "s1".into(),
    }
}

fn requests(r: &mut Router) -> Vec<(usize, Request)> {
    std::iter::from_fn(|| r.poll_request()).collect()
}

fn reservation(reqs: &[(usize, Request)]) -> Option<(u64, String)> {
    reqs.iter().find_map(|(_, q)| match q {
        Request::RequestReserveAgent { reference_id: Some(r), this_dn, duration, .. } if *duration > 0 => {
            Some((*r, this_dn.clone()))
        }
        _ => None,
    })
}

/// Site 0 grants reservation `reference` of A1 on 1001.
fn granted(reference: u64) -> Event {
    Event::EventAgentReserved {
        reference_id: Some(reference),
        this_dn: "1001".into(),
        agent_id: "A1".into(),
        duration: 5,
    }
}

/// Grants reservation `reference`; returns the ConnID the router then routes.
fn grant_and_route(r: &mut Router, at: Instant, reference: u64) -> Option<String> {
    r.on_event(at, 0, &granted(reference));
    requests(r).into_iter().find_map(|(_, q)| match q {
        Request::RequestRouteCall { conn_id, .. } => Some(conn_id),
        _ => None,
    })
}

#[test]
fn a_reserved_agent_who_took_another_call_meanwhile_is_given_back_and_the_call_gets_the_next_agent() {
    let t0 = Instant::now();
    let mut r = router();
    ready(&mut r, t0, 0, "1001", "A1");
    requests(&mut r);
    r.on_event(t0, 0, &route_request("c1"));
    let (reference, dn) = reservation(&requests(&mut r)).expect("reserves A1");
    assert_eq!(dn, "1001");
    // Another router's call rings 1001 before our reservation is granted.
    let ringing = Event::EventRinging {
        this_dn: "1001".into(),
        other_dn: "gw".into(),
        conn_id: "other".into(),
        call_type: cti::CallType::Inbound,
        user_data: None,
        third_party_dn: None,
    };
    r.on_event(t0, 0, &ringing);
    r.on_event(t0 + Duration::from_millis(100), 0, &granted(reference));
    let reqs = requests(&mut r);
    assert!(
        reqs.iter().any(|(_, q)| matches!(q, Request::RequestReserveAgent { duration: 0, .. })),
        "given back: {reqs:?}"
    );
    assert!(!reqs.iter().any(|(_, q)| matches!(q, Request::RequestRouteCall { .. })), "not routed to a busy agent");
    // A2 turns Ready: the call gets it at once.
    ready(&mut r, t0 + Duration::from_millis(200), 1, "1002", "A2");
    let (_, dn) = reservation(&requests(&mut r)).expect("the waiting call reserves A2");
    assert_eq!(dn, "1002");
}

#[test]
fn an_agent_whose_phone_is_not_registered_at_its_site_is_never_chosen() {
    let t0 = Instant::now();
    let mut r = router();
    ready(&mut r, t0, 0, "1001", "A1");
    r.on_event(t0, 0, &Event::EventDNOutOfService { this_dn: "1001".into() });
    r.on_event(t0, 0, &route_request("c1"));
    assert_eq!(reservation(&requests(&mut r)), None, "A1's phone is gone");
    r.on_event(t0, 0, &Event::EventDNBackInService { this_dn: "1001".into() });
    assert_eq!(reservation(&requests(&mut r)).map(|(_, dn)| dn).as_deref(), Some("1001"), "back: at once");
}

fn route_request_on(rp: &str, conn: &str) -> Event {
    Event::EventRouteRequest {
        this_dn: rp.into(),
        this_queue: rp.into(),
        other_dn: "gw".into(),
        conn_id: conn.into(),
        call_type: cti::CallType::Inbound,
        server: "s1".into(),
    }
}

#[test]
fn the_longest_waiting_caller_across_routing_points_goes_first_and_priority_counts_as_waiting_time() {
    let file: RoutingFile = toml::from_str(
        r#"
[[agent]]
id = "A1"
[[point]]
dn = "5000"
[[point]]
dn = "5001"
[[point]]
dn = "5002"
priority = 30
"#,
    )
    .expect("toml");
    let mut r = Router::new(file.compile().expect("valid"), 0, vec!["s1".into()], vec![], 1);
    let t0 = Instant::now();
    r.on_event(t0, 0, &route_request_on("5001", "early"));
    r.on_event(t0 + Duration::from_secs(5), 0, &route_request_on("5000", "later"));
    requests(&mut r);
    ready(&mut r, t0 + Duration::from_secs(10), 0, "1001", "A1");
    let reqs = requests(&mut r);
    let asked = reqs.iter().filter(|(_, q)| matches!(q, Request::RequestReserveAgent { .. })).count();
    assert_eq!(asked, 1, "one agent, one reservation: {reqs:?}");
    // Which call it was for shows when the reservation is granted: the route names it.
    let (reference, _) = reservation(&reqs).expect("reserved");
    let routed = grant_and_route(&mut r, t0 + Duration::from_secs(10), reference);
    assert_eq!(routed.as_deref(), Some("early"), "the call waiting longest, on the other Routing Point");

    // Priority 30 s on 5002: a call arriving 20 s after another still goes first.
    let mut r = Router::new(
        toml::from_str::<RoutingFile>(
            "[[agent]]\nid = \"A1\"\n[[point]]\ndn = \"5000\"\n[[point]]\ndn = \"5002\"\npriority = 30\n",
        )
        .expect("toml")
        .compile()
        .expect("valid"),
        0,
        vec!["s1".into()],
        vec![],
        1,
    );
    r.on_event(t0, 0, &route_request_on("5000", "plain"));
    r.on_event(t0 + Duration::from_secs(20), 0, &route_request_on("5002", "vip"));
    requests(&mut r);
    ready(&mut r, t0 + Duration::from_secs(21), 0, "1001", "A1");
    let (reference, _) = reservation(&requests(&mut r)).expect("reserved");
    let routed = grant_and_route(&mut r, t0 + Duration::from_secs(21), reference);
    assert_eq!(routed.as_deref(), Some("vip"));
}
