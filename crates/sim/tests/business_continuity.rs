//! Two sites as one (spec flows F3, F4, F5, F14 and BC-15): DR forwarding by 302 with
//! loop prevention, login presence over the peer trunk, standalone fallback when the link
//! is lost, login exclusivity.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{AgentLogin, Dn, DnKind, DnOptions, DrForward, NodeConfig};
use netem::LinkConfig;
use sim::{Pickup, Ua, UaEvent, World};

const SS1: &str = "127.0.0.1:5060";
const SS2: &str = "127.0.0.1:5062";
const GW: &str = "127.0.0.1:5080";
const PH1001: &str = "127.0.0.1:6001";
const PH1002: &str = "127.0.0.1:6002";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// One peer: DNs 1000-1999, agents A1001/A1002, a trunk to the other peer named by
/// `dr-peer-trunk`, `dr-forward=no-agent`, and DN 1002 with `dr-forward=oos`.
fn peer(local: &str, other: &str, trunk: &str, prefix: &str) -> NodeConfig {
    let mut c =
        sim::fixtures::bc_peer(addr(local), addr(other), trunk, prefix, &[("A1001", "1001"), ("A1002", "1002")]);
    c.dns.singles.insert(
        "1002".into(),
        Dn {
            kind: DnKind::Extension,
            options: DnOptions { dr_forward: Some(DrForward::Oos), ..DnOptions::default() },
            trunk: None,
        },
    );
    c
}

fn link() -> LinkConfig {
    LinkConfig { loss: 0.02, duplicate: 0.0, latency: Duration::from_millis(5), jitter: Duration::from_millis(5) }
}

/// Both peers, a gateway, phone 1001 registered at both, phone 1002 at SS1 only.
fn world(seed: u64) -> World {
    let mut w = World::new(seed, peer(SS1, SS2, "TO_SS2", "9902"), link());
    w.add_site(peer(SS2, SS1, "TO_SS1", "9901"), seed + 1000);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PH1001), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("1002", addr(PH1002), Pickup::After(Duration::from_millis(200))));
    let now = w.now;
    w.ua(addr(PH1001)).register(now, addr(SS1));
    w.ua(addr(PH1001)).register(now, addr(SS2));
    w.ua(addr(PH1002)).register(now, addr(SS1));
    w.run_for(Duration::from_secs(10));
    for site in [SS1, SS2] {
        w.desk_at(addr(site), 9, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    }
    w
}

/// The pair's sealer at the world's time (the sites' wall clocks start at 0).
fn sealer(w: &World) -> engine::peer_seal::Sealer<'static> {
    engine::peer_seal::Sealer {
        secret: sim::fixtures::PAIR_SECRET,
        unix_now: w.elapsed().as_secs(),
        site: "sim",
        peer: None,
        incarnation: 0,
    }
}

fn login(w: &mut World, site: &str, dn: &str, agent: &str) -> Vec<String> {
    let before = w.desk_names_at(addr(site), 1).len();
    w.desk_at(addr(site), 1, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    w.desk_at(addr(site), 1, &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"{agent}"}}"#));
    w.desk_names_at(addr(site), 1)[before..].to_vec()
}

fn call_from_gw(w: &mut World, site: &str, uri: &str) -> String {
    let now = w.now;
    w.ua(addr(GW)).call_uri(now, addr(site), uri)
}

fn finals(w: &mut World) -> Vec<u16> {
    w.ua(addr(GW))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None })
        .collect()
}

fn rang_at(w: &World, site: &str) -> bool {
    w.desk_names_at(addr(site), 9).iter().any(|n| n == "EventRinging")
}

/// F1: the phone registers at both peers, the desktop registers 1001 at both; the agent
/// logs in at SS1 only: agent events on SS1, none on SS2; each site counts it once.
#[test]
fn f1_dual_registration_and_a_login_at_one_peer() {
    let mut w = world(3);
    for site in [SS1, SS2] {
        assert_eq!(w.site_at(addr(site)).bindings("1001").len(), 1, "PH1001 registered at {site}");
        assert_eq!(w.desk_names_at(addr(site), 9), vec!["EventRegistered".to_owned()]);
    }
    let events = login(&mut w, SS1, "1001", "A1001");
    assert_eq!(events, vec!["EventRegistered", "EventAgentLogin", "EventAgentNotReady"]);
    w.desk_at(addr(SS1), 1, r#"{"message":"RequestAgentReady","ThisDN":"1001","AgentWorkMode":"ManualIn"}"#);
    w.run_for(Duration::from_secs(6));
    assert_eq!(w.desk_names_at(addr(SS1), 1).last().map(String::as_str), Some("EventAgentReady"));
    assert_eq!(w.desk_names_at(addr(SS2), 9), vec!["EventRegistered".to_owned()], "no agent event on SS2");
    assert_eq!(w.site_at(addr(SS1)).agents_in(cti::AgentState::Ready), 1);
    assert_eq!(w.site_at(addr(SS2)).agents_in(cti::AgentState::Ready), 0, "counted once, at SS1");
}

/// F2: a call for the agent at SS1 arriving at SS1 is delivered there (no 302), Inbound.
#[test]
fn f2_local_delivery_at_the_agents_peer() {
    let mut w = world(5);
    login(&mut w, SS1, "1001", "A1001");
    w.run_for(Duration::from_secs(6));
    call_from_gw(&mut w, SS1, "sip:1001@127.0.0.1:5060");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200]);
    let ringing = w.desks.get(&(addr(SS1), 9)).and_then(|events| {
        events
            .iter()
            .find_map(|e| if let cti::Event::EventRinging { call_type, .. } = e { Some(*call_type) } else { None })
    });
    assert_eq!(ringing, Some(cti::CallType::Inbound));
    assert!(w.desk_names_at(addr(SS1), 9).contains(&"EventEstablished".to_owned()));
    assert!(!rang_at(&w, SS2));
    assert_eq!(w.site_at(addr(SS1)).stats().calls_redirected + w.site_at(addr(SS2)).stats().calls_redirected, 0);
}

/// F3: the agent is at SS1; a direct call reaching SS2 is redirected there by 302 with
/// the marker, the gateway follows it, and only SS1 reports the call.
#[test]
fn f3_direct_call_at_the_wrong_peer_is_redirected_to_the_agents_peer() {
    for seed in 0..20 {
        let mut w = world(seed);
        assert!(login(&mut w, SS1, "1001", "A1001").contains(&"EventAgentLogin".to_owned()));
        w.run_for(Duration::from_secs(6)); // presence reaches SS2
        call_from_gw(&mut w, SS2, "sip:1001@127.0.0.1:5062");
        w.run_for(Duration::from_secs(30));
        assert_eq!(finals(&mut w), vec![302, 200], "seed {seed}");
        let redirect = w.ua(addr(GW)).events.iter().find_map(|e| {
            if let UaEvent::Redirected { to, .. } = e {
                Some(to.clone())
            } else {
                None
            }
        });
        let mark = redirect.as_deref().and_then(|r| r.strip_prefix("sip:1001@127.0.0.1:5060;x-dr-fwd="));
        assert!(sealer(&w).mark_ok("1001", mark.unwrap_or("")), "seed {seed}: a sealed marker, {redirect:?}");
        assert!(!rang_at(&w, SS2), "seed {seed}: no CTI event on the redirecting peer (OQ-13)");
        assert!(rang_at(&w, SS1), "seed {seed}");
        assert_eq!(w.site_at(addr(SS2)).stats().calls_redirected, 1);
        assert_eq!(w.site_at(addr(SS1)).stats().calls_redirected, 0);
    }
}

/// F4: a call carrying the marker is never forwarded again, even when the forwarding
/// condition holds on this peer too; without the marker the same call would be.
#[test]
fn f4_a_forwarded_call_is_never_sent_back() {
    let mut w = world(7);
    login(&mut w, SS2, "1001", "A1001");
    w.run_for(Duration::from_secs(6));
    let mark = sealer(&w).mark("1001");
    call_from_gw(&mut w, SS1, &format!("sip:1001@127.0.0.1:5060;x-dr-fwd={mark}"));
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200], "delivered locally, not redirected");
    assert!(rang_at(&w, SS1));
    call_from_gw(&mut w, SS1, "sip:1001@127.0.0.1:5060");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200, 302, 200], "without the marker: one 302, then delivered at SS2");
    call_from_gw(&mut w, SS1, "sip:1001@127.0.0.1:5060;x-dr-fwd=1");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200, 302, 200, 302, 200], "a forged marker is not believed");
    let total = w.site_at(addr(SS1)).stats().calls_redirected + w.site_at(addr(SS2)).stats().calls_redirected;
    assert_eq!(total, 2, "one 302 per call");
}

/// F5: `dr-forward=oos` on DN 1002 (phone at SS1 only) redirects from SS2; switched to
/// `off` at runtime, the next call gets 480 at SS2 with no 302 (BC-7, BC-18).
#[test]
fn f5_oos_mode_and_a_runtime_switch_to_off() {
    let mut w = world(11);
    call_from_gw(&mut w, SS2, "sip:1002@127.0.0.1:5062");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![302, 200]);
    let mut off = peer(SS2, SS1, "TO_SS1", "9901");
    if let Some(dn) = off.dns.singles.get_mut("1002") {
        dn.options.dr_forward = Some(DrForward::Off);
    }
    let now = w.now;
    w.site_at(addr(SS2)).reconfigure(now, off);
    call_from_gw(&mut w, SS2, "sip:1002@127.0.0.1:5062");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![302, 200, 480]);
}

/// F14 and BC-15: with the link between the peers cut, each works standalone (no 302,
/// local delivery, logins accepted); when it returns, forwarding resumes on the next call.
#[test]
fn f14_link_loss_means_standalone_and_forwarding_resumes_after() {
    let mut w = world(13);
    login(&mut w, SS1, "1001", "A1001");
    w.run_for(Duration::from_secs(6));
    let refused = login(&mut w, SS2, "1002", "A1001");
    assert!(
        refused.contains(&"EventError".to_owned()),
        "the same agent at the other peer is refused while the link is up: {refused:?}"
    );
    w.net.set_blocked(addr(SS1), addr(SS2), true);
    w.run_for(Duration::from_secs(6)); // OPTIONS unanswered: peer trunk out of service
    call_from_gw(&mut w, SS2, "sip:1001@127.0.0.1:5062");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200], "delivered locally at SS2 while the peer is unreachable");
    assert!(rang_at(&w, SS2));
    w.net.set_blocked(addr(SS1), addr(SS2), false);
    w.run_for(Duration::from_secs(10)); // polls answered again, presence resent
    call_from_gw(&mut w, SS2, "sip:1001@127.0.0.1:5062");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200, 302, 200], "forwarding resumes once the link is back");
}

/// OQ-3: during a link split A1001 logs in at SS2 too (accepted: disaster recovery); when
/// the link returns the older login (SS1) is logged out, SS2's stays, and both desktops
/// are told (EventAgentLogout with a reason at SS1, EventPrivateInfo at SS2).
#[test]
fn oq3_a_double_login_made_during_a_split_keeps_the_newer_one_when_the_link_returns() {
    for seed in 0..20 {
        let mut w = world(700 + seed);
        login(&mut w, SS1, "1001", "A1001");
        w.run_for(Duration::from_secs(6));
        w.net.set_blocked(addr(SS1), addr(SS2), true);
        w.run_for(Duration::from_secs(6));
        assert!(login(&mut w, SS2, "1002", "A1001").contains(&"EventAgentLogin".to_owned()), "seed {seed}");
        assert_eq!(w.site_at(addr(SS1)).agent_on("1001"), Some("A1001"), "both logins stand during the split");
        w.net.set_blocked(addr(SS1), addr(SS2), false);
        w.run_for(Duration::from_secs(15));
        assert_eq!(w.site_at(addr(SS1)).agent_on("1001"), None, "seed {seed}: the older login goes");
        assert_eq!(w.site_at(addr(SS2)).agent_on("1002"), Some("A1001"), "seed {seed}: the newer one stays");
        let at_ss1 = w.desk_names_at(addr(SS1), 1);
        let at_ss2 = w.desk_names_at(addr(SS2), 1);
        assert_eq!(at_ss1.iter().filter(|n| *n == "EventAgentLogout").count(), 1, "seed {seed}: {at_ss1:?}");
        assert!(at_ss2.contains(&"EventPrivateInfo".to_owned()), "seed {seed}: {at_ss2:?}");
        assert!(!at_ss2.contains(&"EventAgentLogout".to_owned()), "seed {seed}: {at_ss2:?}");
    }
}

/// F6: an internal call from an agent at SS2 to a DN whose agent is at SS1 goes over the
/// inter-site trunk with SS2 in the path: Outbound with the access number on SS2, Inbound
/// on SS1; a BYE from either end releases both legs.
#[test]
fn f6_internal_call_across_peers_goes_over_the_trunk() {
    let mut w = world(17);
    login(&mut w, SS1, "1001", "A1001");
    w.desk_at(addr(SS2), 2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(6));
    let now = w.now;
    let call = w.ua(addr(PH1002)).call(now, addr(SS2), "1001");
    w.run_for(Duration::from_secs(30));
    let answered = w.ua(addr(PH1002)).events.iter().any(|e| matches!(e, UaEvent::Final { code: 200, .. }));
    assert!(answered, "the call was answered: {:?}", w.ua(addr(PH1002)).events);
    assert!(w.ua(addr(PH1001)).events.iter().any(|e| matches!(e, UaEvent::Incoming { .. })));
    let dialing = w.desks.get(&(addr(SS2), 2)).and_then(|events| {
        events.iter().find_map(|e| {
            if let cti::Event::EventDialing { other_dn, call_type, .. } = e {
                Some((other_dn.clone(), *call_type))
            } else {
                None
            }
        })
    });
    assert_eq!(dialing, Some(("99011001".to_owned(), cti::CallType::Outbound)), "BC-30 on the originating peer");
    let ringing = w.desks.get(&(addr(SS1), 9)).and_then(|events| {
        events
            .iter()
            .find_map(|e| if let cti::Event::EventRinging { call_type, .. } = e { Some(*call_type) } else { None })
    });
    assert_eq!(ringing, Some(cti::CallType::Inbound), "BC-31 on the agent's peer");
    assert_eq!(w.site_at(addr(SS2)).stats().calls_redirected, 0, "no 302 for an internal call");
    let now = w.now;
    w.ua(addr(PH1002)).hang_up(now, addr(SS2), &call);
    w.run_for(Duration::from_secs(30));
    assert!(w.ua(addr(PH1001)).events.iter().any(|e| matches!(e, UaEvent::ByeReceived { .. })), "both legs released");
    assert_eq!(w.site_at(addr(SS1)).active_calls() + w.site_at(addr(SS2)).active_calls(), 0);
}

/// Issue 4 item 3: a RequestMakeCall at SS2 from 1002 to 1001, whose agent is at SS1, goes
/// over the peer trunk, and its UserData arrives with it: SS1's EventRinging carries it.
#[test]
fn make_call_to_an_agent_at_the_peer_goes_over_the_trunk_with_its_user_data() {
    let mut w = world(29);
    login(&mut w, SS1, "1001", "A1001");
    let now = w.now;
    w.ua(addr(PH1002)).register(now, addr(SS2));
    w.desk_at(addr(SS2), 2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(6));
    w.desk_at(
        addr(SS2),
        2,
        r#"{"message":"RequestMakeCall","ThisDN":"1002","OtherDN":"1001","UserData":{"CaseID":"42","Lang":"fr"}}"#,
    );
    w.run_for(Duration::from_secs(30));
    assert!(w.ua(addr(PH1001)).events.iter().any(|e| matches!(e, UaEvent::Incoming { .. })), "1001 rang");
    let ringing = w.desks.get(&(addr(SS1), 9)).and_then(|events| {
        events.iter().find_map(|e| match e {
            cti::Event::EventRinging { call_type, user_data, .. } => Some((*call_type, user_data.clone())),
            _ => None,
        })
    });
    let expected: cti::KvList =
        [("CaseID".to_owned(), "42".into()), ("Lang".to_owned(), "fr".into())].into_iter().collect();
    assert_eq!(ringing, Some((cti::CallType::Inbound, Some(expected))), "SS1 reports the call with its UserData");
    assert_eq!(w.site_at(addr(SS2)).stats().calls_redirected, 0);
}

/// F12: graceful shutdown of SS2 with `shutdown-sip-reject-code=302`: idle agents out at
/// once, the agent on a call NotReady and out when it ends, new calls redirected to SS1,
/// new CTI calls refused, the established call untouched, drained at the end.
#[test]
fn f12_graceful_shutdown_redirects_new_calls_and_keeps_the_established_one() {
    let mut w = World::new(19, peer(SS1, SS2, "TO_SS2", "9902"), link());
    let mut ss2 = peer(SS2, SS1, "TO_SS1", "9901");
    ss2.options.shutdown_sip_reject_code = 302;
    w.add_site(ss2, 1019);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PH1001), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("1002", addr(PH1002), Pickup::After(Duration::from_millis(200))));
    let now = w.now;
    w.ua(addr(PH1001)).register(now, addr(SS2));
    w.ua(addr(PH1002)).register(now, addr(SS1));
    w.run_for(Duration::from_secs(5));
    login(&mut w, SS2, "1001", "A1001");
    login(&mut w, SS2, "1002", "A1002");
    let call = call_from_gw(&mut w, SS2, "sip:1001@127.0.0.1:5062");
    w.run_for(Duration::from_secs(10));
    assert_eq!(finals(&mut w), vec![200]);
    w.desk_at(addr(SS2), 1, r#"{"message":"RequestPrivateService","ReferenceID":5,"ServiceID":3019}"#);
    let events = w.desks.get(&(addr(SS2), 1)).cloned().unwrap_or_default();
    assert!(events
        .iter()
        .any(|e| matches!(e, cti::Event::EventPrivateInfo { reference_id: Some(5), service_id: 3019, .. })));
    assert!(
        events.iter().any(|e| matches!(e, cti::Event::EventAgentLogout { agent_id, .. } if agent_id == "A1002")),
        "idle agent out at once"
    );
    assert!(
        events.iter().any(|e| matches!(e, cti::Event::EventAgentNotReady { agent_id, .. } if agent_id == "A1001")),
        "busy agent NotReady"
    );
    assert_eq!(w.site_at(addr(SS2)).agent_on("1001"), Some("A1001"), "still logged in during its call");
    call_from_gw(&mut w, SS2, "sip:1002@127.0.0.1:5062");
    w.run_for(Duration::from_secs(10));
    assert_eq!(finals(&mut w), vec![200, 302, 200], "new call redirected to SS1 and answered there");
    w.desk_at(addr(SS2), 1, r#"{"message":"RequestMakeCall","ThisDN":"1001","OtherDN":"1002"}"#);
    let last = w.desks.get(&(addr(SS2), 1)).and_then(|e| e.last().cloned());
    assert!(matches!(last, Some(cti::Event::EventError { error_code: cti::ErrorCode::ShuttingDown, .. })));
    assert!(!w.site_at(addr(SS2)).is_drained(), "the established call goes on");
    let now = w.now;
    w.ua(addr(GW)).hang_up(now, addr(SS2), &call);
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.site_at(addr(SS2)).agent_on("1001"), None, "logged out when the call ended");
    assert!(w.site_at(addr(SS2)).is_drained());
}

/// F13: SS1 dies (no packet reaches or leaves it). SS2 sees its peer trunk go out of
/// service, works standalone, delivers new calls for SS1's agent locally (the phone is
/// registered at both) and accepts that agent's login, with no stale presence conflict.
#[test]
fn f13_site_failure_the_survivor_takes_new_calls_and_the_failed_sites_agents() {
    let mut w = world(23);
    login(&mut w, SS1, "1001", "A1001");
    w.run_for(Duration::from_secs(6));
    assert!(login(&mut w, SS2, "1002", "A1001").contains(&"EventError".to_owned()), "exclusive while SS1 lives");
    // SS1 dies.
    for other in [GW, PH1001, PH1002, SS2] {
        w.net.set_blocked(addr(SS1), addr(other), true);
    }
    w.run_for(Duration::from_secs(6));
    let relogin = login(&mut w, SS2, "1001", "A1001");
    assert!(
        relogin.contains(&"EventAgentLogin".to_owned()),
        "the failed site's agent logs in at the survivor: {relogin:?}"
    );
    call_from_gw(&mut w, SS2, "sip:1001@127.0.0.1:5062");
    w.run_for(Duration::from_secs(30));
    assert_eq!(finals(&mut w), vec![200], "no 302 towards the dead peer; delivered at SS2");
    assert!(rang_at(&w, SS2));
    assert_eq!(w.site_at(addr(SS2)).stats().calls_redirected, 0);
}

/// Invariants over 200 seeds with loss: a call for an agent reaches the agent's peer and
/// only that peer reports it, no call is redirected twice, and no agent is logged in at
/// both peers while the link is up.
#[test]
fn bc_invariants_hold_across_200_seeds() {
    for seed in 0..200 {
        let mut w = world(seed);
        login(&mut w, SS1, "1001", "A1001");
        w.run_for(Duration::from_secs(6));
        let refused = login(&mut w, SS2, "1002", "A1001");
        assert!(refused.contains(&"EventError".to_owned()), "seed {seed}: double login refused");
        for site in [SS2, SS1] {
            let port = addr(site).port();
            call_from_gw(&mut w, site, &format!("sip:1001@127.0.0.1:{port}"));
            w.run_for(Duration::from_secs(35));
        }
        let f = finals(&mut w);
        assert_eq!(f.iter().filter(|c| **c == 200).count(), 2, "seed {seed}: both calls answered: {f:?}");
        let redirects = w.site_at(addr(SS1)).stats().calls_redirected + w.site_at(addr(SS2)).stats().calls_redirected;
        assert_eq!(redirects, 1, "seed {seed}: exactly the call that hit the wrong peer was redirected, once");
        assert!(!rang_at(&w, SS2), "seed {seed}: the peer without the agent reports nothing");
        assert_eq!(w.site_at(addr(SS1)).agent_on("1001"), Some("A1001"));
        assert_eq!(w.site_at(addr(SS2)).agent_on("1002"), None, "seed {seed}: no agent logged in twice");
    }
}

/// Same seed, same run: a BC pair with eight agents logged in at SS1 (presence snapshots
/// to SS2), a call, then SS1 shut down (logouts): run twice in one process, where every
/// hash map gets its own random order, the datagrams sent and the desktop events are the
/// same byte for byte.
#[test]
fn one_scenario_twice_gives_the_same_transcript_byte_for_byte() {
    let run = || {
        let mut a = peer(SS1, SS2, "TO_SS2", "9902");
        let mut b = peer(SS2, SS1, "TO_SS1", "9901");
        for n in 1003..1011 {
            for c in [&mut a, &mut b] {
                let id = format!("A{n}");
                c.agents.insert(id.clone(), AgentLogin { id, password: None, default_dn: Some(n.to_string()) });
            }
        }
        let mut w = World::new(7, a, link());
        w.add_site(b, 1007);
        w.add(Ua::new("gw", addr(GW), Pickup::Never));
        w.add(Ua::new("1001", addr(PH1001), Pickup::After(Duration::from_millis(200))));
        let now = w.now;
        w.ua(addr(PH1001)).register(now, addr(SS1));
        w.run_for(Duration::from_secs(5));
        for n in 1001..1011 {
            login(&mut w, SS1, &n.to_string(), &format!("A{n}"));
        }
        w.run_for(Duration::from_secs(5));
        call_from_gw(&mut w, SS1, "sip:1001@127.0.0.1");
        w.run_for(Duration::from_secs(3));
        w.desk_at(addr(SS1), 1, r#"{"message":"RequestPrivateService","ServiceID":3019}"#);
        w.run_for(Duration::from_secs(10));
        let desks = format!("{:?}", w.desks);
        (w.sent, desks)
    };
    let (first, second) = (run(), run());
    assert!(first.0.len() > 20, "a real run: {} datagrams", first.0.len());
    assert!(first.1.contains("EventAgentLogout"), "the shutdown logged agents out");
    assert_eq!(first.0.len(), second.0.len());
    for (i, (x, y)) in first.0.iter().zip(&second.0).enumerate() {
        assert_eq!(
            x,
            y,
            "datagram {i} differs:\n{}\n---\n{}",
            String::from_utf8_lossy(&x.2),
            String::from_utf8_lossy(&y.2)
        );
    }
    assert_eq!(first.1, second.1, "desktop events differ");
}

/// Issue 23 item 3: a desktop at SS1 transfers an answered call to 1001, whose agent is
/// logged in at SS2: the call goes over the peer trunk with its ConnID, UUID and UserData;
/// SS2's desktop sees it ring with the same ConnID; the gateway's dialog with SS1 stays
/// and gets the new phone's media by re-INVITE.
#[test]
fn a_transfer_to_an_agent_at_the_peer_goes_over_the_trunk_with_the_call_s_identity() {
    let mut w = world(31);
    login(&mut w, SS2, "1001", "A1001");
    w.desk_at(addr(SS1), 2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(6));
    let call = call_from_gw(&mut w, SS1, "sip:1002@127.0.0.1:5060");
    w.run_for(Duration::from_secs(5));
    let conn = w
        .desk_events_at(addr(SS1), 2)
        .iter()
        .find_map(|e| if let cti::Event::EventEstablished { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("1002 answered at SS1");
    let transfer = format!(
        r#"{{"message":"RequestSingleStepTransfer","ReferenceID":3,"ThisDN":"1002","ConnID":"{conn}","OtherDN":"1001","UserData":{{"CaseID":"7"}}}}"#
    );
    w.desk_at(addr(SS1), 2, &transfer);
    w.run_for(Duration::from_secs(10));
    let ringing = w.desk_events_at(addr(SS2), 9).iter().find_map(|e| match e {
        cti::Event::EventRinging { conn_id, user_data, .. } => Some((conn_id.clone(), user_data.clone())),
        _ => None,
    });
    let expected: cti::KvList = [("CaseID".to_owned(), "7".into())].into_iter().collect();
    assert_eq!(ringing, Some((conn.clone(), Some(expected))), "SS2 rings 1001 with the call's ConnID and UserData");
    let gw_reinvites = w.ua(addr(GW)).events.iter().filter(|e| matches!(e, UaEvent::ReInvited { .. })).count();
    assert_eq!(gw_reinvites, 1, "the gateway hears 1001 through its dialog with SS1");
    let record = |w: &World, site: &str| w.open_records(addr(site));
    assert_eq!((record(&w, SS1), record(&w, SS2)), (1, 1), "one call at each site");
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert!(w.ua(addr(PH1001)).events.iter().any(|e| matches!(e, UaEvent::ByeReceived { .. })), "1001 hung up");
    assert_eq!((w.site_at(addr(SS1)).active_calls(), w.site_at(addr(SS2)).active_calls()), (0, 0));
    let uuids: Vec<String> =
        [SS1, SS2].iter().filter_map(|s| w.call_records(addr(s)).last().map(|r| r.uuid.clone())).collect();
    assert_eq!(uuids.len(), 2);
    assert_eq!(uuids[0], uuids[1], "one call UUID at both sites");
}
