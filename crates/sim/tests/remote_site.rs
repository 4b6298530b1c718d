//! The remote site (spec 3.10, BC-53, flow F15): a third Tandem site with phones and a
//! gateway but no agents, with trunks to both peers of a pair (priorities 1 and 2). A call
//! for an agent goes by ISCC to the peer the router names; with that trunk out of service
//! the next priority is used; a wrong guess is corrected by the receiving peer, which
//! carries the call over the peer trunk (the remote site does not follow 302s), never
//! sending it back.

use std::net::SocketAddr;
use std::time::Duration;

use cti::Event;
use engine::{Dn, DnKind, DnOptions, DnPlan, DnRange, NodeConfig, Trunk};
use netem::LinkConfig;
use sim::{Pickup, Ua, UaEvent, World};

const SS1: &str = "127.0.0.1:5060";
const SS2: &str = "127.0.0.1:5062";
const SS3: &str = "127.0.0.1:5064";
const GW: &str = "127.0.0.1:5080";
const PH1002: &str = "127.0.0.1:6002";
const PH3001: &str = "127.0.0.1:6301";
const URS: u64 = 50;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn trunk(contact: &str, prefix: &str, priority: u32, site: &str, follows_redirects: bool) -> Dn {
    let mut t = Trunk::new(addr(contact), prefix, priority, Duration::from_secs(2), Duration::from_secs(1));
    t.follows_redirects = follows_redirects;
    t.site = Some(site.into());
    Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(t) }
}

/// SS3: extensions 3000-3999, Routing Point 5000, trunks to SS1 (priority 1) and SS2
/// (priority 2) for the pair's DNs (prefix 1).
fn remote_site() -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.site = "ss3".into();
    c.local = addr(SS3);
    let phones = DnRange { first: 3000, last: 3999, width: 4, kind: DnKind::Extension };
    c.dns = DnPlan { ranges: vec![phones], ..DnPlan::default() };
    c.dns.singles.insert("TO_SS1".into(), trunk(SS1, "1", 1, "ss1", true));
    c.dns.singles.insert("TO_SS2".into(), trunk(SS2, "1", 2, "ss2", true));
    c.dns.singles.insert("5000".into(), Dn { kind: DnKind::RoutingPoint, options: DnOptions::default(), trunk: None });
    c
}

fn world(seed: u64) -> World {
    let agents = [("A1002", "1002")];
    let mut c1 = sim::fixtures::bc_peer(addr(SS1), addr(SS2), "TO_SS2", "9902", &agents);
    let mut c2 = sim::fixtures::bc_peer(addr(SS2), addr(SS1), "TO_SS1", "9901", &agents);
    for c in [&mut c1, &mut c2] {
        // The remote site's calls come in on this trunk; it does not follow 302s.
        c.dns.singles.insert("FROM_SS3".into(), trunk(SS3, "3", 1, "ss3", false));
    }
    let net =
        LinkConfig { loss: 0.0, duplicate: 0.0, latency: Duration::from_millis(5), jitter: Duration::from_millis(2) };
    let mut w = World::new(seed, c1, net);
    w.add_site(c2, seed + 1);
    w.add_site(remote_site(), seed + 2);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1002", addr(PH1002), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("3001", addr(PH3001), Pickup::Never));
    let now = w.now;
    w.ua(addr(PH1002)).register(now, addr(SS1));
    w.ua(addr(PH1002)).register(now, addr(SS2));
    w.ua(addr(PH3001)).register(now, addr(SS3));
    w.run_for(Duration::from_secs(4));
    // A1002 logs in at SS2.
    w.desk_at(addr(SS2), 1, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.desk_at(
        addr(SS2),
        1,
        r#"{"message":"RequestAgentLogin","ThisDN":"1002","AgentID":"A1002","AgentWorkMode":"ManualIn"}"#,
    );
    w.run_for(Duration::from_secs(6)); // presence reaches SS1
    w
}

fn incoming(w: &mut World, phone: &str) -> usize {
    w.ua(addr(phone)).events.iter().filter(|e| matches!(e, UaEvent::Incoming { .. })).count()
}

fn finals(w: &mut World, ua: &str) -> Vec<u16> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None })
        .collect()
}

#[test]
fn f15_a_wrong_guess_is_corrected_by_the_receiving_peer_over_its_peer_trunk() {
    let mut w = world(1);
    let now = w.now;
    // 3001 dials 1002: the digits take TO_SS1 (priority 1), but A1002 is at SS2.
    w.ua(addr(PH3001)).call(now, addr(SS3), "1002");
    w.run_for(Duration::from_secs(2));
    assert_eq!(incoming(&mut w, PH1002), 1, "1002's phone rings once");
    assert_eq!(finals(&mut w, PH3001), vec![200], "answered, no 302 reached the remote site");
    assert_eq!(w.site_ref(addr(SS1)).stats().calls_redirected, 0, "SS1 carried it (BC-29), no 302");
    assert_eq!(w.site_ref(addr(SS1)).active_calls(), 1, "SS1 stays in the path");
    assert_eq!(w.site_ref(addr(SS2)).active_calls(), 1);
}

#[test]
fn f15_with_the_first_trunk_out_of_service_the_next_priority_is_used() {
    let mut w = world(2);
    w.net.set_blocked(addr(SS3), addr(SS1), true);
    w.run_for(Duration::from_secs(6)); // TO_SS1 fails its polls
    let now = w.now;
    w.ua(addr(PH3001)).call(now, addr(SS3), "1002");
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w, PH3001), vec![200]);
    assert_eq!(w.site_ref(addr(SS1)).active_calls(), 0, "SS1 is not in the path");
    assert_eq!(w.site_ref(addr(SS2)).active_calls(), 1, "straight to SS2 over TO_SS2");
}

/// The router at the remote site routes a Routing Point call with `Location` naming the
/// agent's site: the call goes over the trunk to that site.
fn iscc_route(w: &mut World) -> Vec<String> {
    w.desk_at(addr(SS3), URS, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    w.run_for(Duration::from_millis(300));
    let now = w.now;
    w.ua(addr(GW)).call(now, addr(SS3), "5000");
    w.run_for(Duration::from_millis(300));
    let conn = w.desks[&(addr(SS3), URS)]
        .iter()
        .find_map(|e| if let Event::EventRouteRequest { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("EventRouteRequest at SS3");
    let route = format!(
        r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1002","Location":"ss2","ReferenceID":3}}"#
    );
    w.desk_at(addr(SS3), URS, &route);
    w.run_for(Duration::from_secs(2));
    w.desk_names_at(addr(SS3), URS)
}

#[test]
fn f15_an_iscc_route_with_location_reaches_the_agents_site_directly() {
    let mut w = world(3);
    let names = iscc_route(&mut w);
    assert!(names.contains(&"EventRemoteConnectionSuccess".to_owned()), "{names:?}");
    assert_eq!(incoming(&mut w, PH1002), 1);
    assert_eq!(w.site_ref(addr(SS1)).active_calls(), 0, "SS1 is not in the path");
    assert_eq!(finals(&mut w, GW), vec![200]);
}

#[test]
fn f15_an_iscc_route_to_a_site_whose_trunk_is_out_of_service_takes_the_next_and_is_corrected() {
    let mut w = world(4);
    w.net.set_blocked(addr(SS3), addr(SS2), true);
    w.run_for(Duration::from_secs(6)); // TO_SS2 fails its polls
    let names = iscc_route(&mut w);
    assert!(names.contains(&"EventRemoteConnectionSuccess".to_owned()), "{names:?}");
    assert_eq!(incoming(&mut w, PH1002), 1, "rang once: SS1 carried it on to SS2, no loop");
    assert_eq!(w.site_ref(addr(SS1)).active_calls(), 1, "via SS1");
    assert_eq!(finals(&mut w, GW), vec![200]);
}
