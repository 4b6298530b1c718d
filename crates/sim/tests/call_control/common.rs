//! What the call-control flows share: the site (two agents' DNs, a Routing Point, a
//! default DN), a gateway and two phones, the answered call they start from, and
//! readers of what the phones and desktops saw.

use std::net::SocketAddr;
pub(crate) use std::time::Duration;

pub(crate) use engine::CallResult;
use engine::{AgentLogin, Dn, DnKind, DnOptions, NodeConfig};
pub(crate) use netem::LinkConfig;
pub(crate) use sim::{Pickup, Ua, UaEvent, World};

pub(crate) const GW: &str = "127.0.0.1:5080";
pub(crate) const PHONE1: &str = "127.0.0.1:6001";
pub(crate) const PHONE2: &str = "127.0.0.1:6002";
pub(crate) const SITE: &str = "127.0.0.1:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

pub(crate) fn config() -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    for (id, dn) in [("A1001", "1001"), ("A1002", "1002")] {
        c.agents.insert(id.into(), AgentLogin { id: id.into(), password: None, default_dn: Some(dn.into()) });
    }
    let rp = Dn { kind: DnKind::RoutingPoint, options: DnOptions::default(), trunk: None };
    c.dns.singles.insert("5000".into(), rp);
    c.options.default_dn = Some("1002".into());
    c.options.no_answer_timeout = Duration::from_secs(8);
    c
}

pub(crate) fn lossy() -> LinkConfig {
    LinkConfig { loss: 0.1, duplicate: 0.05, latency: Duration::from_millis(5), jitter: Duration::from_millis(15) }
}

/// A gateway, phone 1001 (answers after 200 ms) and phone 1002 (answers as `second`),
/// desks 1 and 2 registered on 1001 and 1002, and a gateway call to 1001 answered.
/// Returns the world, the gateway's call and the call's ConnID.
pub(crate) fn answered(seed: u64, link: LinkConfig, second: Pickup) -> (World, String, String) {
    let mut w = two_phones(seed, link, Pickup::After(Duration::from_millis(200)), second);
    w.run_for(Duration::from_secs(15));
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(20));
    assert_eq!(finals(&mut w, GW), vec![200], "seed {seed}: the gateway's call was answered");
    let conn = w
        .desk_events(1)
        .iter()
        .find_map(|e| if let cti::Event::EventEstablished { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("the desktop saw the call established");
    (w, call, conn)
}

/// A gateway, phones 1001 and 1002 answering as `first` and `second`, both registered,
/// and desks 1 and 2 registered on their DNs (5 s of simulated time run).
pub(crate) fn two_phones(seed: u64, link: LinkConfig, first: Pickup, second: Pickup) -> World {
    let mut w = World::new(seed, config(), link);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE1), first));
    w.add(Ua::new("1002", addr(PHONE2), second));
    w.register(addr(PHONE1));
    w.register(addr(PHONE2));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(5));
    w
}

pub(crate) fn finals(w: &mut World, ua: &str) -> Vec<u16> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None })
        .collect()
}

/// The directions of the re-INVITEs `ua` received, in order.
pub(crate) fn reinvites(w: &mut World, ua: &str) -> Vec<&'static str> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(
            |e| if let UaEvent::ReInvited { direction, .. } = e { Some(direction.unwrap_or("none")) } else { None },
        )
        .collect()
}

pub(crate) fn count(w: &mut World, ua: &str, pred: impl Fn(&UaEvent) -> bool) -> usize {
    w.ua(addr(ua)).events.iter().filter(|e| pred(e)).count()
}

/// The desk's events, as JSON values, named `name`.
pub(crate) fn events_named(w: &World, desk: u64, name: &str) -> Vec<serde_json::Value> {
    w.desk_events(desk)
        .iter()
        .map(|e| serde_json::to_value(e).expect("json"))
        .filter(|v| v["message"] == name)
        .collect()
}

pub(crate) fn error_codes(w: &World, desk: u64) -> Vec<String> {
    events_named(w, desk, "EventError").iter().map(|v| v["ErrorCode"].as_str().unwrap_or("").to_owned()).collect()
}

pub(crate) fn hang_up_and_check_nothing_is_left(w: &mut World, call: &str, seed: u64) {
    w.hang_up(addr(GW), call);
    w.run_for(Duration::from_secs(70));
    assert_eq!(w.site().active_calls(), 0, "seed {seed}: no call left");
    assert_eq!(w.open_records(addr(SITE)), 0, "seed {seed}: every record closed");
}

/// The ConnIDs desktop `desk` has seen.
pub(crate) fn conn_ids(w: &World, desk: u64) -> Vec<String> {
    w.desk_events(desk)
        .iter()
        .filter_map(|e| match e {
            cti::Event::EventRinging { conn_id, .. }
            | cti::Event::EventEstablished { conn_id, .. }
            | cti::Event::EventDialing { conn_id, .. } => Some(conn_id.clone()),
            _ => None,
        })
        .collect()
}

/// RequestInitiateTransfer from 1001 to 1002 on an answered gateway call; returns the
/// consultation's ConnID once the desktop saw it dialled.
pub(crate) fn consult(w: &mut World, conn: &str, run: Duration) -> String {
    let initiate = format!(
        r#"{{"message":"RequestInitiateTransfer","ReferenceID":4,"ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#
    );
    w.desk(1, &initiate);
    w.run_for(run);
    let dialing = events_named(w, 1, "EventDialing");
    assert_eq!(dialing.len(), 1, "1001's desktop saw the consultation dialled");
    assert_eq!(dialing[0]["CallType"].as_str(), Some("Consult"));
    dialing[0]["ConnID"].as_str().expect("a ConnID").to_owned()
}

pub(crate) fn pair_request(name: &str, conn: &str, consult: &str) -> String {
    format!(r#"{{"message":"{name}","ReferenceID":7,"ThisDN":"1001","ConnID":"{conn}","TransferConnID":"{consult}"}}"#)
}

/// The B-leg dialog of phone `ua`'s first incoming call (its Call-ID at the phone).
pub(crate) fn first_incoming(w: &mut World, ua: &str) -> String {
    w.ua(addr(ua))
        .events
        .iter()
        .find_map(|e| if let UaEvent::Incoming { call } = e { Some(call.clone()) } else { None })
        .expect("the phone rang")
}
