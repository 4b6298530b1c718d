//! The Network SIP Server (spec 3.9, BC-50..52, flows F10, F11; issue "pre-route across
//! sites and peer groups"): a carrier's INVITE gets a 302 to the site the policy or a
//! router picks, the carrier re-sends it there, the NSS keeps nothing of the call; out of
//! service sites are skipped; default routing when the router is silent; several seeds
//! with loss.

use std::net::SocketAddr;
use std::time::Duration;

use cti::Event;
use engine::nss::Policy;
use netem::LinkConfig;
use routing::stats::StatService;
use routing::{RoutingConfig, RoutingFile};
use sim::{Pickup, StatClient, Ua, UaEvent, World};

const SS1: &str = "127.0.0.1:5060";
const SS2: &str = "127.0.0.1:5062";
const SS3: &str = "127.0.0.1:5064";
const SS4: &str = "127.0.0.1:5066";
const NSS: &str = "127.0.0.1:5090";
const GW: &str = "127.0.0.1:5080";
const STATS: u64 = 200;
const ROUTER: u64 = 300;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn link(loss: f64) -> LinkConfig {
    LinkConfig { loss, duplicate: 0.0, latency: Duration::from_millis(5), jitter: Duration::from_millis(2) }
}

fn routing_config() -> RoutingConfig {
    let file: RoutingFile = toml::from_str(
        r#"
        [[agent]]
        id = "A1001"
        groups = ["sales"]
        [[point]]
        dn = "5000"
        [[point]]
        dn = "5001"
        target = "group:sales"
        "#,
    )
    .expect("routing section");
    file.compile().expect("valid routing")
}

const AGENTS: [(&str, &str); 6] =
    [("A1001", "1001"), ("A1002", "1002"), ("A1003", "1003"), ("A1004", "1004"), ("A1005", "1005"), ("A1006", "1006")];

/// Sites named ss1.. at SS1.. (pairs ss1/ss2 "east", ss3/ss4 "west"), an NSS in front of
/// them by `policy`, a carrier gateway, and a stat service on every site whose figures the
/// NSS gets after each step ([`run`]).
fn world(seed: u64, pairs: usize, policy: Policy, net: LinkConfig) -> World {
    let mut c1 = sim::fixtures::bc_peer(addr(SS1), addr(SS2), "TO_SS2", "9902", &AGENTS);
    let mut c2 = sim::fixtures::bc_peer(addr(SS2), addr(SS1), "TO_SS1", "9901", &AGENTS);
    let mut c3 = sim::fixtures::bc_peer(addr(SS3), addr(SS4), "TO_SS4", "9904", &AGENTS);
    let mut c4 = sim::fixtures::bc_peer(addr(SS4), addr(SS3), "TO_SS3", "9903", &AGENTS);
    for c in [&mut c1, &mut c2, &mut c3, &mut c4] {
        c.dns.singles.insert("5001".into(), c.dns.singles["5000"].clone());
    }
    let mut sites = vec![("ss1", &c1, "east"), ("ss2", &c2, "east")];
    if pairs == 2 {
        sites.extend([("ss3", &c3, "west"), ("ss4", &c4, "west")]);
    }
    let mut nss = sim::fixtures::nss(addr(NSS), &sites, policy);
    if let Some(n) = nss.nss.as_mut() {
        n.default_sites = vec!["ss1".into()];
    }
    nss.options.router_timeout = Duration::from_secs(2);
    let mut w = World::new(seed, c1.clone(), net);
    w.add_site(c2.clone(), seed + 1);
    if pairs == 2 {
        w.add_site(c3.clone(), seed + 2);
        w.add_site(c4.clone(), seed + 3);
    }
    w.add_site(nss, seed + 9);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    let names: Vec<String> = site_names(pairs).iter().map(|s| (*s).to_owned()).collect();
    let monitored = AGENTS.iter().map(|(_, dn)| (*dn).to_owned()).collect();
    let service = StatService::new(w.now, routing_config(), names, monitored);
    w.add_client(STATS, Box::new(StatClient { service, changed: Vec::new() }));
    run(&mut w, Duration::from_secs(3));
    w
}

fn site_names(pairs: usize) -> Vec<&'static str> {
    if pairs == 2 {
        vec!["ss1", "ss2", "ss3", "ss4", "nss"]
    } else {
        vec!["ss1", "ss2", "nss"]
    }
}

/// Runs the world in 100 ms steps, giving the NSS the stat service's figures after each
/// (as the `tandem nss` shell does on every change).
fn run(w: &mut World, span: Duration) {
    let steps = span.as_millis() / 100;
    let pairs = if w.sites.len() == 5 { 2 } else { 1 };
    for _ in 0..steps {
        w.run_for(Duration::from_millis(100));
        let names = site_names(pairs);
        let sites = &names[..names.len() - 1];
        let figures = w
            .client(STATS)
            .and_then(|c| c.as_any().downcast_ref::<StatClient>())
            .map(|c| sim::fixtures::nss_figures(c.service.model(), &routing_config(), sites));
        w.site_at(addr(NSS)).set_nss_figures(figures);
    }
}

fn login(w: &mut World, site: &str, dn: &str, ready: bool) {
    let mode = if ready { "ManualIn" } else { "AuxWork" };
    w.desk_at(addr(site), 1, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    w.desk_at(
        addr(site),
        1,
        &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"A{dn}","AgentWorkMode":"{mode}"}}"#),
    );
}

/// The carrier calls `dn` at the NSS; returns the Call-ID.
fn call(w: &mut World, dn: &str) -> String {
    let now = w.now;
    w.ua(addr(GW)).call(now, addr(NSS), dn)
}

/// Where the carrier was sent for `call` (the 302's Contact), if it was.
fn redirected_to(w: &mut World, call: &str) -> Option<String> {
    w.ua(addr(GW)).events.iter().find_map(|e| match e {
        UaEvent::Redirected { call: c, to, .. } if c == call => Some(to.clone()),
        _ => None,
    })
}

#[test]
fn f10_the_call_goes_to_the_site_with_more_logged_in_agents_and_the_nss_keeps_nothing() {
    let mut w = world(1, 1, Policy::MostLoggedIn, link(0.0));
    login(&mut w, SS1, "1001", true);
    for dn in ["1002", "1003", "1004"] {
        login(&mut w, SS2, dn, false);
    }
    run(&mut w, Duration::from_secs(1));
    let c = call(&mut w, "5000");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:5000@127.0.0.1:5062"), "302 to SS2 (3 agents vs 1)");
    assert_eq!(w.site_ref(addr(SS2)).active_calls(), 1, "the carrier's new INVITE reached SS2");
    assert_eq!(w.site_ref(addr(SS1)).active_calls(), 0);
    let nss = w.site_ref(addr(NSS));
    assert_eq!(nss.active_calls(), 0, "the NSS stays in no call");
    assert_eq!(nss.stats().nss.by_policy, 1);
    assert_eq!(nss.stats().calls_redirected, 1);
}

#[test]
fn most_ready_wins_over_most_logged_in_and_a_routing_point_counts_only_its_target() {
    let mut w = world(2, 1, Policy::MostReady, link(0.0));
    login(&mut w, SS1, "1001", true); // A1001: the only sales agent, Ready at SS1
    login(&mut w, SS2, "1002", true);
    login(&mut w, SS2, "1003", true);
    login(&mut w, SS2, "1004", false);
    run(&mut w, Duration::from_secs(1));
    let any = call(&mut w, "5000");
    let sales = call(&mut w, "5001");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &any).as_deref(), Some("sip:5000@127.0.0.1:5062"), "2 ready at SS2, 1 at SS1");
    assert_eq!(redirected_to(&mut w, &sales).as_deref(), Some("sip:5001@127.0.0.1:5060"), "sales is at SS1");
}

#[test]
fn a_call_for_an_agents_dn_goes_straight_to_the_site_where_the_agent_is_logged_in() {
    let mut w = world(3, 1, Policy::MostReady, link(0.0));
    for dn in ["1001", "1003", "1004"] {
        login(&mut w, SS1, dn, true);
    }
    login(&mut w, SS2, "1002", false);
    run(&mut w, Duration::from_secs(1));
    let c = call(&mut w, "1002");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:1002@127.0.0.1:5062"));
    assert_eq!(w.site_ref(addr(NSS)).stats().nss.to_agent, 1);
    assert_eq!(w.ua(addr(GW)).events.iter().filter(|e| matches!(e, UaEvent::Redirected { .. })).count(), 1, "no chain");
    let unknown = call(&mut w, "777");
    run(&mut w, Duration::from_secs(1));
    let finals: Vec<u16> = w
        .ua(addr(GW))
        .events
        .iter()
        .filter_map(|e| match e {
            UaEvent::Final { call, code } if *call == unknown => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(finals, vec![404], "no site knows 777");
}

#[test]
fn bc50_a_router_on_the_nss_routing_point_names_the_site_and_the_nss_never_rings() {
    let mut w = world(4, 1, Policy::MostReady, link(0.0));
    login(&mut w, SS1, "1001", true);
    w.desk_at(addr(NSS), ROUTER, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    run(&mut w, Duration::from_millis(500));
    let c = call(&mut w, "5000");
    run(&mut w, Duration::from_millis(300));
    let conn = w.desks[&(addr(NSS), ROUTER)]
        .iter()
        .find_map(|e| if let Event::EventRouteRequest { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("EventRouteRequest at the NSS");
    assert_eq!(redirected_to(&mut w, &c), None, "parked for the router");
    w.desk_at(
        addr(NSS),
        ROUTER,
        &format!(
            r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"ss2","ReferenceID":7}}"#
        ),
    );
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:5000@127.0.0.1:5062"), "where the router said");
    let names = w.desk_names_at(addr(NSS), ROUTER);
    assert!(names.contains(&"EventRouteUsed".to_owned()), "{names:?}");
    for never in ["EventRinging", "EventEstablished", "EventDialing"] {
        assert!(!names.contains(&never.to_owned()), "the NSS stays out of the call: {names:?}");
    }
    assert_eq!(w.site_ref(addr(NSS)).active_calls(), 0);
    assert_eq!(w.site_ref(addr(SS2)).active_calls(), 1);
}

#[test]
fn f11_a_silent_router_means_default_routing_after_router_timeout() {
    let mut w = world(5, 1, Policy::MostReady, link(0.0));
    for dn in ["1002", "1003"] {
        login(&mut w, SS2, dn, true);
    }
    w.desk_at(addr(NSS), ROUTER, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    run(&mut w, Duration::from_millis(500));
    let c = call(&mut w, "5000");
    run(&mut w, Duration::from_millis(1500));
    assert_eq!(redirected_to(&mut w, &c), None, "router-timeout is 2 s");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:5000@127.0.0.1:5060"), "default site ss1");
    assert!(w.desk_names_at(addr(NSS), ROUTER).contains(&"EventRouteUsed".to_owned()));
    assert_eq!(w.site_ref(addr(NSS)).stats().nss.by_default, 1);
}

#[test]
fn a_site_out_of_service_is_skipped_until_it_answers_again() {
    let mut w = world(6, 1, Policy::MostReady, link(0.0));
    login(&mut w, SS1, "1001", true);
    for dn in ["1002", "1003"] {
        login(&mut w, SS2, dn, true);
    }
    run(&mut w, Duration::from_secs(1));
    w.net.set_blocked(addr(NSS), addr(SS2), true);
    run(&mut w, Duration::from_secs(6)); // two polls unanswered
    let c = call(&mut w, "5000");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:5000@127.0.0.1:5060"), "SS2 is out of service");
    w.net.set_blocked(addr(NSS), addr(SS2), false);
    run(&mut w, Duration::from_secs(3));
    let c = call(&mut w, "5000");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:5000@127.0.0.1:5062"), "back in service");
}

#[test]
fn two_peer_groups_the_group_with_more_ready_agents_then_its_site() {
    let mut w = world(7, 2, Policy::MostReady, link(0.0));
    login(&mut w, SS1, "1001", true);
    login(&mut w, SS2, "1002", true);
    login(&mut w, SS3, "1003", false);
    login(&mut w, SS4, "1004", true);
    login(&mut w, SS3, "1005", true);
    login(&mut w, SS4, "1006", true);
    run(&mut w, Duration::from_secs(1));
    // east 1+1 ready, west 1+2: west, then SS4.
    let c = call(&mut w, "5000");
    run(&mut w, Duration::from_secs(1));
    assert_eq!(redirected_to(&mut w, &c).as_deref(), Some("sip:5000@127.0.0.1:5066"));
}

#[test]
fn with_loss_every_call_is_sent_on_and_the_nss_ends_with_nothing_kept() {
    for seed in 0..12 {
        let mut w = world(100 + seed, 2, Policy::MostReady, link(0.05));
        login(&mut w, SS1, "1001", true);
        login(&mut w, SS4, "1004", true);
        run(&mut w, Duration::from_secs(1));
        let calls: Vec<String> = (0..20).map(|_| call(&mut w, "5000")).collect();
        run(&mut w, Duration::from_secs(40));
        for c in &calls {
            let to = redirected_to(&mut w, c);
            assert!(
                matches!(to.as_deref(), Some("sip:5000@127.0.0.1:5060" | "sip:5000@127.0.0.1:5066")),
                "seed {seed}: call {c} went to {to:?}"
            );
        }
        let nss = w.site_ref(addr(NSS));
        assert_eq!(nss.active_calls(), 0, "seed {seed}");
        let parked: u64 = [SS1, SS2, SS3, SS4].iter().map(|s| w.site_ref(addr(s)).active_calls() as u64).sum();
        assert_eq!(parked, 20, "seed {seed}: every call reached a site");
    }
}
