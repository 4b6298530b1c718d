//! Call detail records and the agent state log (issue 12): every way a call can end gives
//! exactly one record per site, with the right result, cause, legs and flags; a call that
//! crosses sites has the same UUID at both; the agent log follows the desktop's requests.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{AgentChange, CallRecord, CallResult, Dn, DnKind, DnOptions, LegKind, NodeConfig, Record, ReleasedBy};
use netem::LinkConfig;
use sim::{Pickup, Ua, UaEvent, World};

const SS1: &str = "127.0.0.1:5060";
const SS2: &str = "127.0.0.1:5062";
const GW: &str = "127.0.0.1:5080";
const PH1001: &str = "127.0.0.1:6001";
const PH1002: &str = "127.0.0.1:6002";
const PH1003: &str = "127.0.0.1:6003";
const PH1004: &str = "127.0.0.1:6004";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// One peer: agents A1001-A1004 on 1001-1004, Routing Point 5000 with no router that
/// default-routes to 1004 after 2 s.
fn peer(local: &str, other: &str, trunk: &str, prefix: &str) -> NodeConfig {
    let agents = [("A1001", "1001"), ("A1002", "1002"), ("A1003", "1003"), ("A1004", "1004")];
    let mut c = sim::fixtures::bc_peer(addr(local), addr(other), trunk, prefix, &agents);
    let options = DnOptions {
        default_dn: Some("1004".into()),
        router_timeout: Some(Duration::from_secs(2)),
        ..DnOptions::default()
    };
    c.dns.singles.insert("5000".into(), Dn { kind: DnKind::RoutingPoint, options, trunk: None });
    c.options.no_answer_timeout = Duration::from_secs(8);
    c
}

fn link(loss: f64) -> LinkConfig {
    LinkConfig { loss, duplicate: 0.0, latency: Duration::from_millis(5), jitter: Duration::from_millis(3) }
}

/// Both peers and a gateway; 1001 answers after 300 ms, 1002 is busy, 1003 never
/// answers, 1004 answers; all registered at SS1, 1001 at SS2 too.
fn world(seed: u64, loss: f64) -> World {
    let mut w = World::new(seed, peer(SS1, SS2, "TO_SS2", "9902"), link(loss));
    w.add_site(peer(SS2, SS1, "TO_SS1", "9901"), seed + 1000);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PH1001), Pickup::After(Duration::from_millis(300))));
    w.add(Ua::new("1002", addr(PH1002), Pickup::Busy));
    w.add(Ua::new("1003", addr(PH1003), Pickup::Never));
    w.add(Ua::new("1004", addr(PH1004), Pickup::After(Duration::from_millis(300))));
    let now = w.now;
    for phone in [PH1001, PH1002, PH1003, PH1004] {
        w.ua(addr(phone)).register(now, addr(SS1));
    }
    w.ua(addr(PH1001)).register(now, addr(SS2));
    w.run_for(Duration::from_secs(5));
    w
}

fn login(w: &mut World, site: &str, dn: &str, agent: &str) {
    w.desk_at(addr(site), 1, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    w.desk_at(addr(site), 1, &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"{agent}"}}"#));
}

/// The gateway calls `dn` at `site`, hangs up 2 s after an answer; returns the records
/// the call left at each site.
fn gw_call(w: &mut World, site: &str, dn: &str) -> (Vec<CallRecord>, Vec<CallRecord>) {
    let before = (w.call_records(addr(SS1)).len(), w.call_records(addr(SS2)).len());
    let now = w.now;
    let port = &site[site.len() - 4..];
    let mut call = w.ua(addr(GW)).call_uri(now, addr(site), &format!("sip:{dn}@127.0.0.1:{port}"));
    w.run_for(Duration::from_secs(3));
    let events = &w.ua(addr(GW)).events;
    // A 302 is followed by a new INVITE (a new call) to the other site.
    if let Some(followed) = events.iter().find_map(|e| match e {
        UaEvent::Redirected { call: c, new_call, .. } if *c == call => Some(new_call.clone()),
        _ => None,
    }) {
        call = followed;
    }
    let answered =
        w.ua(addr(GW)).events.iter().any(|e| matches!(e, UaEvent::Final { call: c, code: 200 } if *c == call));
    if answered {
        w.hang_up(addr(GW), &call);
    }
    w.run_for(Duration::from_secs(15));
    (
        w.call_records(addr(SS1))[before.0..].iter().map(|r| (*r).clone()).collect(),
        w.call_records(addr(SS2))[before.1..].iter().map(|r| (*r).clone()).collect(),
    )
}

fn only(records: &[CallRecord]) -> &CallRecord {
    assert_eq!(records.len(), 1, "one record: {records:#?}");
    &records[0]
}

#[test]
fn an_answered_call_records_agent_times_and_who_hung_up() {
    let mut w = world(1, 0.0);
    login(&mut w, SS1, "1001", "A1001");
    let (at1, at2) = gw_call(&mut w, SS1, "1001");
    assert!(at2.is_empty());
    let r = only(&at1);
    assert_eq!((r.result, r.cause, r.released_by), (CallResult::Answered, 200, Some(ReleasedBy::Caller)));
    assert_eq!((r.dialled.as_str(), r.caller.as_str()), ("1001", "gw"));
    assert_eq!((r.answered_dn.as_deref(), r.agent.as_deref()), (Some("1001"), Some("A1001")));
    assert_eq!(r.call_type, Some(cti::CallType::Inbound));
    assert!(r.conn_id != 0 && r.uuid.len() == 32, "{r:?}");
    let (ringing, answered) = (r.ringing_at.expect("rang"), r.answered_at.expect("answered"));
    assert!(r.offered_at <= ringing && ringing < answered && answered < r.ended_at);
    assert!(r.wait() >= Duration::from_millis(300) && r.talk() >= Duration::from_secs(1), "{r:?}");
    assert_eq!(r.legs.len(), 1);
    let leg = &r.legs[0];
    assert_eq!((leg.kind, leg.target.as_str(), leg.agent.as_deref()), (LegKind::Phone, "1001", Some("A1001")));
    assert_eq!((leg.result, leg.cause, leg.answered_at), (CallResult::Answered, 200, r.answered_at));
    assert!(!r.redirected && !r.forwarded && !r.default_routed);
}

#[test]
fn busy_no_answer_cancelled_and_refused_calls_each_leave_one_record() {
    let mut w = world(2, 0.0);
    let busy = gw_call(&mut w, SS1, "1002").0;
    let r = only(&busy);
    assert_eq!((r.result, r.cause, r.answered_at), (CallResult::Busy, 486, None));
    assert_eq!(r.legs[0].result, CallResult::Busy);
    let no_answer = gw_call(&mut w, SS1, "1003").0;
    let r = only(&no_answer);
    assert_eq!((r.result, r.cause), (CallResult::NoAnswer, 480), "the caller got 480 No Answer");
    assert!(r.ringing_at.is_some() && r.wait() >= Duration::from_secs(8), "{r:?}");
    let unknown = gw_call(&mut w, SS1, "7777").0;
    let r = only(&unknown);
    assert_eq!((r.result, r.cause, r.conn_id, r.legs.len()), (CallResult::Unavailable, 404, 0, 0));

    let now = w.now;
    let call = w.ua(addr(GW)).call_uri(now, addr(SS1), "sip:1003@127.0.0.1:5060");
    w.run_for(Duration::from_secs(2));
    w.cancel(addr(GW), &call);
    w.run_for(Duration::from_secs(10));
    let records = w.call_records(addr(SS1));
    let r = records.last().expect("a record");
    assert_eq!((r.result, r.cause, r.dialled.as_str()), (CallResult::Abandoned, 487, "1003"));
    assert_eq!(r.legs[0].result, CallResult::Abandoned);
    assert_eq!(w.open_records(addr(SS1)), 0);
}

#[test]
fn a_302_to_the_agents_peer_is_recorded_at_both_sites() {
    let mut w = world(3, 0.0);
    login(&mut w, SS1, "1001", "A1001");
    w.run_for(Duration::from_secs(6)); // presence reaches SS2
    let (at1, at2) = gw_call(&mut w, SS2, "1001");
    let redirect = only(&at2);
    assert_eq!((redirect.result, redirect.cause, redirect.redirected), (CallResult::Redirected, 302, true));
    assert_eq!((redirect.legs[0].kind, redirect.legs[0].target.as_str()), (LegKind::DrPeer, SS1));
    let delivered = only(&at1);
    assert_eq!((delivered.result, delivered.agent.as_deref()), (CallResult::Answered, Some("A1001")));
    assert!(delivered.forwarded, "the marker says the DR peer sent it");
}

#[test]
fn a_call_over_the_peer_trunk_has_one_uuid_at_both_sites() {
    let mut w = world(4, 0.0);
    login(&mut w, SS2, "1001", "A1001");
    w.desk_at(addr(SS1), 2, r#"{"message":"RequestRegisterAddress","ThisDN":"1004"}"#);
    w.run_for(Duration::from_secs(6));
    let now = w.now;
    let call = w.ua(addr(PH1004)).call(now, addr(SS1), "1001");
    w.run_for(Duration::from_secs(3));
    w.hang_up(addr(PH1004), &call);
    w.run_for(Duration::from_secs(10));
    let (at1, at2) = (w.call_records(addr(SS1)), w.call_records(addr(SS2)));
    let (out, inn) = (only_ref(&at1), only_ref(&at2));
    assert_eq!(out.uuid, inn.uuid, "one call UUID at both sites (BC-68)");
    assert_eq!((out.call_type, inn.call_type), (Some(cti::CallType::Outbound), Some(cti::CallType::Inbound)));
    assert_eq!((out.legs[0].kind, out.legs[0].target.as_str()), (LegKind::DrPeer, "99021001"));
    assert!(out.forwarded && inn.forwarded);
    assert_eq!((out.result, inn.result), (CallResult::Answered, CallResult::Answered));
    assert_eq!(inn.agent.as_deref(), Some("A1001"));
}

fn only_ref<'a>(records: &[&'a CallRecord]) -> &'a CallRecord {
    assert_eq!(records.len(), 1, "one record: {records:#?}");
    records[0]
}

#[test]
fn a_default_routed_call_names_its_routing_point() {
    let mut w = world(5, 0.0);
    let r = gw_call(&mut w, SS1, "5000").0;
    let r = only(&r);
    assert_eq!((r.routing_point.as_deref(), r.default_routed), (Some("5000"), true));
    assert_eq!((r.result, r.answered_dn.as_deref()), (CallResult::Answered, Some("1004")));
    assert_eq!((r.legs.len(), r.legs[0].target.as_str()), (1, "1004"));
    assert_eq!(r.legs[0].result, CallResult::Answered);
}

#[test]
fn the_agent_state_log_follows_the_desktop() {
    let mut w = world(6, 0.0);
    login(&mut w, SS1, "1001", "A1001");
    let ready = r#"{"message":"RequestAgentReady","ThisDN":"1001","AgentWorkMode":"ManualIn"}"#;
    w.desk_at(addr(SS1), 1, ready);
    let not_ready = r#"{"message":"RequestAgentNotReady","ThisDN":"1001","AgentWorkMode":"AuxWork","Reasons":{"ReasonCode":"Lunch"}}"#;
    w.desk_at(addr(SS1), 1, not_ready);
    w.desk_at(addr(SS1), 1, r#"{"message":"RequestAgentLogout","ThisDN":"1001"}"#);
    let log: Vec<(String, Option<String>)> = w.records[&addr(SS1)]
        .iter()
        .filter_map(|r| match r {
            Record::Agent(a) => {
                assert_eq!((a.agent_id.as_str(), a.dn.as_str()), ("A1001", "1001"));
                Some((a.change.state().to_owned(), a.change.reason().map(str::to_owned)))
            }
            Record::Call(_) | Record::Media(_) => None,
        })
        .collect();
    let want = [("login", None), ("not-ready", None), ("ready", None), ("not-ready", Some("Lunch")), ("logout", None)];
    let want: Vec<(String, Option<String>)> =
        want.iter().map(|(s, r)| ((*s).to_owned(), r.map(str::to_owned))).collect();
    assert_eq!(log, want);
    assert!(matches!(
        w.records[&addr(SS1)].iter().rev().find_map(|r| if let Record::Agent(a) = r { Some(&a.change) } else { None }),
        Some(AgentChange::LoggedOut { reason: None })
    ));
}

/// Many calls of every kind under 5 % loss: each call the gateway made has exactly one
/// record where it ended (a 302 one more at the redirecting site), and none stays open.
#[test]
fn under_loss_every_call_is_recorded_exactly_once() {
    for seed in 0..12 {
        let mut w = world(100 + seed, 0.05);
        login(&mut w, SS1, "1001", "A1001");
        w.run_for(Duration::from_secs(6));
        let plan = [(SS1, "1001"), (SS1, "1002"), (SS1, "1003"), (SS1, "5000"), (SS2, "1001"), (SS1, "8888")];
        let mut made = 0;
        for (site, dn) in plan.iter().cycle().skip(seed as usize).take(8) {
            let (at1, at2) = gw_call(&mut w, site, dn);
            made += 1;
            let redirected = at2.iter().filter(|r| r.redirected).count();
            assert!(at1.len() + at2.len() >= 1, "seed {seed}: {dn} at {site} left no record");
            assert!(at1.len() + at2.len() - redirected <= 1, "seed {seed}: {dn} at {site}: {at1:#?} {at2:#?}");
        }
        w.run_for(Duration::from_secs(40));
        let total = w.call_records(addr(SS1)).len() + w.call_records(addr(SS2)).len();
        assert!(total >= made, "seed {seed}: {total} records for {made} calls");
        for site in [SS1, SS2] {
            assert_eq!(w.open_records(addr(site)), 0, "seed {seed}: a call at {site} never ended");
            let offered = w.site_ref(addr(site)).stats().calls_offered as usize;
            let records = w.call_records(addr(site));
            let legs: usize = records.iter().filter(|r| !r.redirected).map(|r| r.legs.len()).sum();
            assert_eq!(legs, offered, "seed {seed}: one leg per delivery at {site}");
        }
    }
}
