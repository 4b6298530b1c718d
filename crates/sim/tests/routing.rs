//! Routing across both sites (spec flows F7, F9; issue "route calls like a contact
//! center"): ISCC routes to an agent at the other site, reservation, two routers that
//! see both sites, strategies, no-answer handling, overflow, a router dying, and a sweep
//! over 200 seeds with loss and duplication whose invariants are checked as it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use cti::Event;
use netem::LinkConfig;
use routing::stats::StatService;
use routing::{Router, RoutingConfig, RoutingFile};
use sim::{Pickup, StatClient, Ua, UaEvent, World};

const SS1: &str = "127.0.0.1:5060";
const SS2: &str = "127.0.0.1:5062";
const GW: &str = "127.0.0.1:5080";
const URS: u64 = 50;
const ROUTER1: u64 = 100;
const ROUTER2: u64 = 101;
const STATS: u64 = 200;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn phone_addr(dn: &str) -> SocketAddr {
    addr(&format!("127.0.0.1:{}", 6000 + dn[1..].parse::<u16>().expect("dn")))
}

fn link(loss: f64, duplicate: f64) -> LinkConfig {
    LinkConfig { loss, duplicate, latency: Duration::from_millis(5), jitter: Duration::from_millis(5) }
}

/// Agents A1001.. on DNs 1001.. (`count` of them), phones answering by `pickup`,
/// registered at both peers; the pair in BC mode.
fn world(seed: u64, count: usize, pickup: Pickup, net: LinkConfig) -> World {
    let agents: Vec<(String, String)> =
        (1..=count).map(|i| (format!("A{}", 1000 + i), format!("{}", 1000 + i))).collect();
    let refs: Vec<(&str, &str)> = agents.iter().map(|(a, d)| (a.as_str(), d.as_str())).collect();
    let mut c1 = sim::fixtures::bc_peer(addr(SS1), addr(SS2), "TO_SS2", "9902", &refs);
    let mut c2 = sim::fixtures::bc_peer(addr(SS2), addr(SS1), "TO_SS1", "9901", &refs);
    for c in [&mut c1, &mut c2] {
        c.options.no_answer_timeout = Duration::from_secs(4);
        c.options.default_dn = None;
    }
    let mut w = World::new(seed, c1, net);
    w.add_site(c2, seed + 1000);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    for (_, dn) in &agents {
        w.add(Ua::new(dn, phone_addr(dn), pickup));
        let now = w.now;
        w.ua(phone_addr(dn)).register(now, addr(SS1));
        w.ua(phone_addr(dn)).register(now, addr(SS2));
    }
    w.run_for(Duration::from_secs(8));
    w
}

fn login(w: &mut World, site: &str, dn: &str, ready: bool) {
    let agent = format!("A{dn}");
    let mode = if ready { "ManualIn" } else { "AuxWork" };
    w.desk_at(addr(site), 1, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    w.desk_at(
        addr(site),
        1,
        &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"{agent}","AgentWorkMode":"{mode}"}}"#),
    );
}

fn routing_config(toml_text: &str) -> RoutingConfig {
    let file: RoutingFile = toml::from_str(toml_text).expect("routing section");
    file.compile().expect("valid routing")
}

fn router(config: &RoutingConfig, home: usize, dns: usize, seed: u64) -> Box<Router> {
    let monitored = (1..=dns).map(|i| format!("{}", 1000 + i)).collect();
    Box::new(Router::new(config.clone(), home, vec![SS1.into(), SS2.into()], monitored, seed))
}

fn call(w: &mut World, site: &str) -> String {
    let now = w.now;
    w.ua(addr(GW)).call(now, addr(site), "5000")
}

fn finals(w: &mut World) -> BTreeMap<String, u16> {
    w.ua(addr(GW))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { call, code } = e { Some((call.clone(), *code)) } else { None })
        .collect()
}

/// The agent DN whose phone took call `n` (in order of INVITEs received).
fn rang(w: &mut World, dn: &str) -> usize {
    w.ua(phone_addr(dn)).events.iter().filter(|e| matches!(e, UaEvent::Incoming { .. })).count()
}

#[test]
fn f7_a_call_routed_to_an_agent_at_the_other_site_goes_over_the_trunk_with_its_conn_id() {
    let mut w = world(1, 2, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    login(&mut w, SS2, "1002", true);
    w.desk_at(addr(SS1), URS, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    w.run_for(Duration::from_secs(1));
    call(&mut w, SS1);
    w.run_for(Duration::from_millis(100));
    let conn = w.desks[&(addr(SS1), URS)]
        .iter()
        .find_map(|e| if let Event::EventRouteRequest { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("EventRouteRequest at SS1");
    w.desk_at(
        addr(SS1),
        URS,
        &format!(
            r#"{{"message":"RequestRouteCall","ReferenceID":7,"ThisDN":"5000","ConnID":"{conn}","OtherDN":"1002","Location":"{SS2}"}}"#
        ),
    );
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w).into_values().collect::<Vec<_>>(), vec![200]);
    let at_ss2 = &w.desks[&(addr(SS2), 1)];
    let ringing = at_ss2.iter().find_map(|e| match e {
        Event::EventRinging { this_dn, conn_id, call_type, .. } if this_dn == "1002" => {
            Some((conn_id.clone(), *call_type))
        }
        _ => None,
    });
    assert_eq!(ringing, Some((conn.clone(), cti::CallType::Inbound)), "rings at SS2 with the same ConnID");
    assert_eq!(w.site_ref(addr(SS2)).agents_in(cti::AgentState::Busy), 1, "an ACD call at SS2");
    let names = w.desk_names_at(addr(SS1), URS);
    for expected in ["EventRouteUsed", "EventRemoteConnectionSuccess"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing at SS1: {names:?}");
    }
}

#[test]
fn f7_when_the_other_site_cannot_deliver_the_call_comes_back_to_the_routing_point() {
    let mut w = world(2, 2, Pickup::Busy, link(0.0, 0.0));
    login(&mut w, SS2, "1002", true);
    w.desk_at(addr(SS1), URS, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    call(&mut w, SS1);
    w.run_for(Duration::from_millis(100));
    let conn = w.desks[&(addr(SS1), URS)]
        .iter()
        .find_map(|e| if let Event::EventRouteRequest { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("EventRouteRequest");
    w.desk_at(
        addr(SS1),
        URS,
        &format!(
            r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1002","Location":"TO_SS2"}}"#
        ),
    );
    w.run_for(Duration::from_secs(1));
    let names = w.desk_names_at(addr(SS1), URS);
    let failure = names.iter().position(|n| n == "EventRemoteConnectionFailure").expect("failure reported");
    assert!(names[failure..].iter().any(|n| n == "EventRouteRequest"), "back on 5000: {names:?}");
    assert!(finals(&mut w).is_empty(), "the caller still waits");
    assert_eq!(w.site_ref(addr(SS2)).agents_in(cti::AgentState::Ready), 1, "a busy phone leaves the agent Ready");
}

#[test]
fn f9_only_the_site_holding_the_login_reserves_the_agent() {
    let mut w = world(3, 2, Pickup::Never, link(0.0, 0.0));
    login(&mut w, SS2, "1002", true);
    w.run_for(Duration::from_secs(1));
    let ask = r#"{"message":"RequestReserveAgent","ReferenceID":5,"ThisDN":"1002","AgentID":"A1002","Priority":1,"Duration":-1}"#;
    w.desk_at(addr(SS1), 7, ask);
    w.desk_at(addr(SS2), 7, ask);
    w.run_for(Duration::from_millis(200));
    assert!(matches!(
        w.desks[&(addr(SS1), 7)].as_slice(),
        [Event::EventError { error_code: cti::ErrorCode::NoAgentLoggedIn, .. }]
    ));
    assert!(matches!(w.desks[&(addr(SS2), 7)].as_slice(), [Event::EventAgentReserved { duration: 10, .. }]));
}

const TWO_GROUPS: &str = r#"
no-answer-limit = 2
[[agent]]
id = "A1001"
skills = { sales = 5 }
groups = ["sales"]
[[agent]]
id = "A1002"
skills = { sales = 3 }
groups = ["sales"]
[[agent]]
id = "A1003"
skills = { support = 5 }
groups = ["support"]
[[agent]]
id = "A1004"
skills = { sales = 5 }
groups = ["sales"]
[[point]]
dn = "5000"
target = "sales >= 4"
tiers = [{ after = 30, target = "sales >= 1" }]
"#;

#[test]
fn two_routers_send_calls_at_either_site_to_the_longest_idle_admitted_agent_at_either_site() {
    let config = routing_config(TWO_GROUPS);
    let mut w = world(4, 4, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    // A1004 (SS2) is Ready first, then A1001 (SS1); A1002 is not skilled enough, A1003 not sales.
    login(&mut w, SS2, "1004", true);
    w.run_for(Duration::from_secs(1));
    login(&mut w, SS1, "1001", true);
    login(&mut w, SS1, "1002", true);
    login(&mut w, SS2, "1003", true);
    w.add_client(ROUTER1, router(&config, 0, 4, 1));
    w.add_client(ROUTER2, router(&config, 1, 4, 2));
    w.run_for(Duration::from_secs(1));
    call(&mut w, SS1);
    w.run_for(Duration::from_secs(2));
    assert_eq!(rang(&mut w, "1004"), 1, "the longest idle admitted agent, at the other site");
    call(&mut w, SS2);
    w.run_for(Duration::from_secs(2));
    assert_eq!(rang(&mut w, "1001"), 1, "the next one, at the other site again");
    call(&mut w, SS1);
    w.run_for(Duration::from_secs(5));
    assert_eq!((rang(&mut w, "1002"), rang(&mut w, "1003")), (0, 0), "not admitted before the tier widens");
    w.run_for(Duration::from_secs(30));
    assert_eq!(rang(&mut w, "1002"), 1, "sales >= 1 after 30 s");
    assert_eq!(rang(&mut w, "1003"), 0, "never: no sales skill");
    assert!(finals(&mut w).values().all(|c| *c == 200));
}

#[test]
fn an_agent_turning_ready_takes_the_longest_waiting_call_at_once() {
    let config = routing_config(TWO_GROUPS);
    let mut w = world(5, 4, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    w.add_client(ROUTER1, router(&config, 0, 4, 1));
    w.add_client(ROUTER2, router(&config, 1, 4, 2));
    login(&mut w, SS1, "1001", false);
    let first = call(&mut w, SS2);
    w.run_for(Duration::from_secs(3));
    let second = call(&mut w, SS1);
    w.run_for(Duration::from_secs(3));
    assert!(finals(&mut w).is_empty(), "nobody Ready yet");
    w.desk_at(addr(SS1), 1, r#"{"message":"RequestAgentReady","ThisDN":"1001"}"#);
    w.run_for(Duration::from_millis(800));
    let f = finals(&mut w);
    assert_eq!(f.get(&first), Some(&200), "the longest waiting call, from the other site: {f:?}");
    assert_eq!(f.get(&second), None);
}

#[test]
fn an_agent_who_leaves_routed_calls_unanswered_is_made_not_ready_and_the_call_goes_on() {
    let config = routing_config(TWO_GROUPS);
    let mut w = world(6, 4, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    w.ua(phone_addr("1001")).answer = Pickup::Never;
    login(&mut w, SS1, "1001", true);
    w.run_for(Duration::from_secs(1));
    login(&mut w, SS1, "1004", true);
    w.add_client(ROUTER1, router(&config, 0, 4, 1));
    let c = call(&mut w, SS1);
    w.run_for(Duration::from_secs(6));
    assert_eq!(finals(&mut w).get(&c), Some(&200), "after 1001's no-answer, 1004 took it");
    let second = call(&mut w, SS1);
    w.run_for(Duration::from_secs(1));
    // 1004 is on the first call: 1001 rings out again, its second miss.
    w.run_for(Duration::from_secs(5));
    let names = w.desk_names_at(addr(SS1), 1);
    assert!(names.iter().any(|n| n == "EventAgentNotReady"), "made NotReady after 2 misses: {names:?}");
    assert!(!finals(&mut w).contains_key(&second), "still waiting for an agent");
    assert_eq!(w.site().agents_in(cti::AgentState::NotReady), 1);
}

#[test]
fn after_max_wait_the_call_overflows() {
    let config = routing_config(
        r#"
[[point]]
dn = "5000"
target = "group:nobody"
max-wait = 10
overflow = "1003"
"#,
    );
    let mut w = world(7, 3, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    w.add_client(ROUTER1, router(&config, 0, 3, 1));
    let c = call(&mut w, SS1);
    w.run_for(Duration::from_secs(9));
    assert!(finals(&mut w).is_empty(), "router-timeout does not cut in: the router treated the call");
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w).get(&c), Some(&200));
    assert_eq!(rang(&mut w, "1003"), 1);
}

#[test]
fn when_one_router_dies_the_other_takes_over_its_calls() {
    let config = routing_config(TWO_GROUPS);
    let mut w = world(8, 4, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    w.add_client(ROUTER1, router(&config, 0, 4, 1));
    w.add_client(ROUTER2, router(&config, 1, 4, 2));
    let c = call(&mut w, SS1);
    w.run_for(Duration::from_secs(1));
    w.remove_client(ROUTER1);
    login(&mut w, SS2, "1004", true);
    w.run_for(Duration::from_secs(3));
    assert_eq!(finals(&mut w).get(&c), Some(&200), "ROUTER2 routed SS1's call");
}

#[test]
fn the_stat_service_counts_an_agent_once_and_follows_the_queue() {
    let config = routing_config(TWO_GROUPS);
    let mut w = world(9, 4, Pickup::After(Duration::from_millis(300)), link(0.0, 0.0));
    let now = w.now;
    let stats = StatService::new(now, config.clone(), vec![SS1.into(), SS2.into()], vec!["1001".into(), "1004".into()]);
    w.add_client(STATS, Box::new(StatClient { service: stats, changed: Vec::new() }));
    login(&mut w, SS1, "1001", true);
    login(&mut w, SS2, "1004", false);
    w.add_client(ROUTER1, router(&config, 0, 4, 1));
    w.run_for(Duration::from_secs(1));
    let c = call(&mut w, SS2);
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w).get(&c), Some(&200));
    let now = w.now;
    let client = w.client(STATS).and_then(|c| c.as_any().downcast_ref::<StatClient>()).expect("stat client");
    let total = client.service.value(now, "total").expect("total");
    assert_eq!(total["agents"]["logged_in"], 2, "{total}");
    assert_eq!(total["agents"]["busy"], 1, "{total}");
    assert_eq!(total["agents"]["not_ready"], 1, "{total}");
    let ss2 = client.service.value(now, &format!("site/{SS2}")).expect("site");
    assert_eq!(ss2["agents"]["logged_in"], 1);
    let rp = client.service.value(now, "rp/5000").expect("rp");
    assert_eq!((rp["offered"].as_u64(), rp["answered"].as_u64()), (Some(1), Some(1)), "{rp}");
    assert_eq!(rp["default_routed"].as_u64(), Some(0), "routed by the router, not by default: {rp}");
    let agent = client.service.value(now, "agent/A1001").expect("agent");
    assert_eq!(agent["state"], "Busy");
    assert_eq!(agent["site"], SS1);
    assert!(client.changed.iter().any(|n| n == "agent/A1001") && client.changed.iter().any(|n| n == "rp/5000"));
}

/// The sweep: 6 agents over both sites, two routers, 12 calls at random sites and times,
/// with loss and duplication; after every 20 ms of virtual time no phone has two calls;
/// at the end every call was answered and nothing is left on either site.
#[test]
fn routing_sweep_over_200_seeds_keeps_its_invariants() {
    let config = routing_config(
        r#"
[[agent]]
id = "A1001"
skills = { sales = 1 }
[[agent]]
id = "A1002"
skills = { sales = 1 }
[[agent]]
id = "A1003"
skills = { sales = 1 }
[[agent]]
id = "A1004"
skills = { sales = 1 }
[[agent]]
id = "A1005"
skills = { sales = 1 }
[[agent]]
id = "A1006"
skills = { sales = 1 }
[[point]]
dn = "5000"
target = "sales"
"#,
    );
    for seed in 0..200u64 {
        let mut w = world(seed, 6, Pickup::After(Duration::from_millis(200 + seed % 300)), link(0.02, 0.01));
        for i in 1..=6 {
            login(&mut w, if i % 2 == 0 { SS2 } else { SS1 }, &format!("{}", 1000 + i), true);
        }
        w.add_client(ROUTER1, router(&config, 0, 6, seed));
        w.add_client(ROUTER2, router(&config, 1, 6, seed + 1));
        let monitored = (1001..=1006).map(|d| d.to_string()).collect();
        let stats = StatService::new(w.now, config.clone(), vec![SS1.into(), SS2.into()], monitored);
        w.add_client(STATS, Box::new(StatClient { service: stats, changed: Vec::new() }));
        let mut calls = Vec::new();
        let mut sites = BTreeMap::new();
        let mut answered_at: BTreeMap<String, std::time::Instant> = BTreeMap::new();
        for tick in 0..1500u64 {
            if tick % 25 == 0 && calls.len() < 12 {
                let site = if (seed + tick / 25) % 3 == 0 { SS2 } else { SS1 };
                let c = call(&mut w, site);
                sites.insert(c.clone(), addr(site));
                calls.push(c);
            }
            w.run_for(Duration::from_millis(20));
            // No agent ever has two calls, counted as the sites see them (a phone may
            // still ring a call whose CANCEL or BYE the network lost).
            for dn in 1001..=1006 {
                let dn = dn.to_string();
                let calls = w.site_ref(addr(SS1)).calls_on(&dn) + w.site_ref(addr(SS2)).calls_on(&dn);
                assert!(calls <= 1, "seed {seed}: agent {dn} has {calls} calls at {:?}", w.elapsed());
            }
            let now = w.now;
            for (c, code) in finals(&mut w) {
                if code == 200 && !answered_at.contains_key(&c) {
                    answered_at.insert(c, now);
                }
            }
            // Talk for 1 s, then the caller hangs up.
            let done: Vec<String> = answered_at
                .iter()
                .filter(|(_, at)| now.duration_since(**at) >= Duration::from_secs(1))
                .map(|(c, _)| c.clone())
                .collect();
            for c in done {
                w.ua(addr(GW)).hang_up(now, sites[&c], &c);
                answered_at.insert(c, now + Duration::from_secs(3600));
            }
        }
        w.run_for(Duration::from_secs(40));
        let f = finals(&mut w);
        let unanswered: BTreeSet<&String> = calls.iter().filter(|c| f.get(*c) != Some(&200)).collect();
        assert!(unanswered.is_empty(), "seed {seed}: calls not answered: {unanswered:?} (finals {f:?})");
        for site in [SS1, SS2] {
            assert_eq!(w.site_ref(addr(site)).active_calls(), 0, "seed {seed}: calls left at {site}");
        }
        check_stats_against_a_recount(&w, seed);
    }
}

/// The stat service's figures equal a recount from the raw events its desks received.
fn check_stats_against_a_recount(w: &World, seed: u64) {
    let log: Vec<&Event> =
        [SS1, SS2].iter().flat_map(|s| w.desks.get(&(addr(s), STATS)).into_iter().flatten()).collect();
    let offered: BTreeSet<&String> = log
        .iter()
        .filter_map(|e| if let Event::EventRouteRequest { conn_id, .. } = e { Some(conn_id) } else { None })
        .collect();
    let answered: BTreeSet<&String> = log
        .iter()
        .filter_map(|e| if let Event::EventEstablished { conn_id, .. } = e { Some(conn_id) } else { None })
        .filter(|c| offered.contains(c))
        .collect();
    let mut logged_in: BTreeMap<&String, bool> = BTreeMap::new();
    for e in &log {
        match e {
            Event::EventRegistered { agent_id: Some(a), .. } | Event::EventAgentLogin { agent_id: a, .. } => {
                logged_in.insert(a, true);
            }
            Event::EventAgentLogout { agent_id: a, .. } => {
                logged_in.insert(a, false);
            }
            _ => {}
        }
    }
    let client = w.client(STATS).and_then(|c| c.as_any().downcast_ref::<StatClient>()).expect("stat client");
    let rp = client.service.value(w.now, "rp/5000").expect("rp");
    assert_eq!(rp["offered"].as_u64(), Some(offered.len() as u64), "seed {seed}: {rp}");
    assert_eq!(rp["answered"].as_u64(), Some(answered.len() as u64), "seed {seed}: {rp}");
    assert_eq!(rp["calls_waiting"].as_u64(), Some(0), "seed {seed}: {rp}");
    let total = client.service.value(w.now, "total").expect("total");
    let recount = logged_in.values().filter(|l| **l).count() as u64;
    assert_eq!(total["agents"]["logged_in"].as_u64(), Some(recount), "seed {seed}: {total}");
    assert_eq!(total["agents"]["ready"].as_u64(), Some(recount), "seed {seed}: all back to Ready: {total}");
}
