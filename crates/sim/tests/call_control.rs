//! Call control after the answer, at one site (issue 23): hold and retrieve from the
//! desktop and from the phone, single-step transfer (to an extension, back to the
//! transferrer when unanswered, to a Routing Point), redirection of a ringing call,
//! UserData during the call, and the requests that must be refused without touching the
//! call. Flows run with seeded loss and duplication where they say so.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{AgentLogin, CallResult, Dn, DnKind, DnOptions, NodeConfig};
use netem::LinkConfig;
use sim::{Pickup, Ua, UaEvent, World};

const GW: &str = "127.0.0.1:5080";
const PHONE1: &str = "127.0.0.1:6001";
const PHONE2: &str = "127.0.0.1:6002";
const SITE: &str = "127.0.0.1:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn config() -> NodeConfig {
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

fn lossy() -> LinkConfig {
    LinkConfig { loss: 0.1, duplicate: 0.05, latency: Duration::from_millis(5), jitter: Duration::from_millis(15) }
}

/// A gateway, phone 1001 (answers after 200 ms) and phone 1002 (answers as `second`),
/// desks 1 and 2 registered on 1001 and 1002, and a gateway call to 1001 answered.
/// Returns the world, the gateway's call and the call's ConnID.
fn answered(seed: u64, link: LinkConfig, second: Pickup) -> (World, String, String) {
    let mut w = World::new(seed, config(), link);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE1), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("1002", addr(PHONE2), second));
    w.register(addr(PHONE1));
    w.register(addr(PHONE2));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(20));
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

fn finals(w: &mut World, ua: &str) -> Vec<u16> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None })
        .collect()
}

/// The directions of the re-INVITEs `ua` received, in order.
fn reinvites(w: &mut World, ua: &str) -> Vec<&'static str> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(
            |e| if let UaEvent::ReInvited { direction, .. } = e { Some(direction.unwrap_or("none")) } else { None },
        )
        .collect()
}

fn count(w: &mut World, ua: &str, pred: impl Fn(&UaEvent) -> bool) -> usize {
    w.ua(addr(ua)).events.iter().filter(|e| pred(e)).count()
}

/// The desk's events, as JSON values, named `name`.
fn events_named(w: &World, desk: u64, name: &str) -> Vec<serde_json::Value> {
    w.desk_events(desk)
        .iter()
        .map(|e| serde_json::to_value(e).expect("json"))
        .filter(|v| v["message"] == name)
        .collect()
}

fn error_codes(w: &World, desk: u64) -> Vec<String> {
    events_named(w, desk, "EventError").iter().map(|v| v["ErrorCode"].as_str().unwrap_or("").to_owned()).collect()
}

fn hang_up_and_check_nothing_is_left(w: &mut World, call: &str, seed: u64) {
    w.hang_up(addr(GW), call);
    w.run_for(Duration::from_secs(70));
    assert_eq!(w.site().active_calls(), 0, "seed {seed}: no call left");
    assert_eq!(w.open_records(addr(SITE)), 0, "seed {seed}: every record closed");
}

#[test]
fn a_desktop_holds_and_retrieves_a_call_by_re_inviting_both_legs() {
    for seed in 0..40 {
        let (mut w, call, conn) = answered(seed, lossy(), Pickup::Never);
        w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ReferenceID":5,"ThisDN":"1001","ConnID":"{conn}"}}"#));
        w.run_for(Duration::from_secs(10));
        // RFC 3264 hold: the held party is told sendonly, the holder's phone inactive.
        assert_eq!(reinvites(&mut w, GW), vec!["sendonly"], "seed {seed}");
        assert_eq!(reinvites(&mut w, PHONE1), vec!["inactive"], "seed {seed}");
        let held = events_named(&w, 1, "EventHeld");
        assert_eq!(held.len(), 1, "seed {seed}");
        assert_eq!((held[0]["ReferenceID"].as_u64(), held[0]["OtherDN"].as_str()), (Some(5), Some("gw")));
        // Holding twice is refused and changes nothing.
        w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
        w.run_for(Duration::from_secs(1));
        assert_eq!(error_codes(&w, 1), vec!["InvalidState"], "seed {seed}");
        w.desk(1, &format!(r#"{{"message":"RequestRetrieveCall","ReferenceID":6,"ThisDN":"1001","ConnID":"{conn}"}}"#));
        w.run_for(Duration::from_secs(10));
        assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "seed {seed}");
        assert_eq!(reinvites(&mut w, PHONE1), vec!["inactive", "sendrecv"], "seed {seed}");
        assert_eq!(events_named(&w, 1, "EventRetrieved")[0]["ReferenceID"].as_u64(), Some(6), "seed {seed}");
        assert_eq!(finals(&mut w, GW), vec![200], "seed {seed}: the gateway's call was never ended");
        assert_eq!(w.site().stats().calls_held, 1);
        hang_up_and_check_nothing_is_left(&mut w, &call, seed);
        let record = w.call_records(addr(SITE)).into_iter().last().cloned().expect("a record");
        assert_eq!(record.holds, 1, "seed {seed}");
        assert!(
            record.held >= Duration::from_secs(10),
            "seed {seed}: held from the hold to the retrieve: {:?}",
            record.held
        );
        assert!(record.held <= Duration::from_secs(12), "seed {seed}: {:?}", record.held);
        assert_eq!(record.legs[0].held, record.held, "seed {seed}: the answered leg's hold time");
    }
}

#[test]
fn a_phone_that_holds_its_call_raises_event_held_and_event_retrieved() {
    let (mut w, call, _) = answered(3, LinkConfig::default(), Pickup::Never);
    let leg = w
        .ua(addr(PHONE1))
        .events
        .iter()
        .find_map(|e| if let UaEvent::Incoming { call } = e { Some(call.clone()) } else { None })
        .expect("the phone rang");
    w.phone_hold(addr(PHONE1), &leg, true);
    w.run_for(Duration::from_secs(5));
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly"], "the phone's hold reached the gateway");
    let held = events_named(&w, 1, "EventHeld");
    assert_eq!(held.len(), 1);
    assert!(held[0].get("ReferenceID").is_none(), "no desktop asked: {held:?}");
    w.phone_hold(addr(PHONE1), &leg, false);
    w.run_for(Duration::from_secs(5));
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"]);
    assert_eq!(events_named(&w, 1, "EventRetrieved").len(), 1);
    hang_up_and_check_nothing_is_left(&mut w, &call, 3);
}

#[test]
fn a_single_step_transfer_moves_the_caller_to_another_agent_without_touching_its_dialog() {
    for seed in 0..40 {
        let (mut w, call, conn) = answered(seed, lossy(), Pickup::After(Duration::from_millis(300)));
        let transfer = format!(
            r#"{{"message":"RequestSingleStepTransfer","ReferenceID":9,"ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002","UserData":{{"note":"vip"}}}}"#
        );
        w.desk(1, &transfer);
        w.run_for(Duration::from_secs(20));
        assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 1, "seed {seed}: 1001 left");
        assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 1, "seed {seed}: 1002 rang");
        // The gateway's dialog stays: one re-INVITE with the new phone's media, no new call.
        assert_eq!(reinvites(&mut w, GW), vec!["sendrecv"], "seed {seed}");
        assert_eq!(finals(&mut w, GW), vec![200], "seed {seed}");
        assert_eq!(count(&mut w, GW, |e| matches!(e, UaEvent::ByeReceived { .. })), 0, "seed {seed}");
        let released = events_named(&w, 1, "EventReleased");
        assert_eq!(released.len(), 1, "seed {seed}");
        assert_eq!(
            (released[0]["ConnID"].as_str(), released[0]["ReferenceID"].as_u64()),
            (Some(conn.as_str()), Some(9))
        );
        let ringing = events_named(&w, 2, "EventRinging");
        assert_eq!(ringing.len(), 1, "seed {seed}");
        assert_eq!(ringing[0]["ConnID"].as_str(), Some(conn.as_str()), "seed {seed}: the call keeps its ConnID");
        assert_eq!(ringing[0]["ThirdPartyDN"].as_str(), Some("1001"));
        assert_eq!(ringing[0]["UserData"]["note"].as_str(), Some("vip"));
        assert_eq!(events_named(&w, 2, "EventEstablished").len(), 1, "seed {seed}");
        hang_up_and_check_nothing_is_left(&mut w, &call, seed);
        assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::ByeReceived { .. })), 1, "seed {seed}");
        let record = w.call_records(addr(SITE)).into_iter().last().cloned().expect("a record");
        let legs: Vec<(&str, CallResult)> = record.legs.iter().map(|l| (l.target.as_str(), l.result)).collect();
        assert_eq!(legs, vec![("1001", CallResult::Transferred), ("1002", CallResult::Answered)], "seed {seed}");
        assert_eq!((record.transfers, record.result), (1, CallResult::Answered));
        assert_eq!(w.site().stats().calls_transferred, 1);
    }
}

#[test]
fn an_unanswered_transfer_comes_back_to_the_transferring_agent() {
    let (mut w, call, conn) = answered(5, LinkConfig::default(), Pickup::Never);
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(15)); // past no-answer-timeout (8 s)
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Cancelled { .. })), 1, "1002 stopped ringing");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::Incoming { .. })), 2, "1001 rings again");
    assert_eq!(reinvites(&mut w, GW), vec!["sendrecv"], "1001 answered again: the gateway hears it");
    assert_eq!(events_named(&w, 2, "EventReleased").len(), 1, "1002's desktop saw the call go");
    assert_eq!(finals(&mut w, GW), vec![200]);
    assert_eq!(w.site().active_calls(), 1, "the caller was never dropped");
    hang_up_and_check_nothing_is_left(&mut w, &call, 5);
}

#[test]
fn a_transfer_to_a_routing_point_queues_the_call_there() {
    // No router watches 5000: default routing sends it to default-dn 1002.
    let (mut w, call, conn) = answered(6, LinkConfig::default(), Pickup::After(Duration::from_millis(100)));
    w.desk(1, &format!(r#"{{"message":"RequestMuteTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"5000"}}"#));
    w.run_for(Duration::from_secs(5));
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 1, "default routing rang 1002");
    assert_eq!(reinvites(&mut w, GW), vec!["sendrecv"]);
    assert_eq!(events_named(&w, 2, "EventEstablished").len(), 1);
    hang_up_and_check_nothing_is_left(&mut w, &call, 6);
}

#[test]
fn a_ringing_call_is_redirected_to_another_dn() {
    let mut w = World::new(7, config(), LinkConfig::default());
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE1), Pickup::Never));
    w.add(Ua::new("1002", addr(PHONE2), Pickup::After(Duration::from_millis(100))));
    w.register(addr(PHONE1));
    w.register(addr(PHONE2));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.run_for(Duration::from_secs(5));
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(1));
    let conn = events_named(&w, 1, "EventRinging")[0]["ConnID"].as_str().expect("ringing").to_owned();
    w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.desk(1, &format!(r#"{{"message":"RequestRedirectCall","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#));
    w.run_for(Duration::from_secs(5));
    assert_eq!(error_codes(&w, 1), vec!["InvalidState", "InvalidState"], "hold and transfer need an answer");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::Cancelled { .. })), 1);
    assert_eq!(finals(&mut w, GW), vec![200], "1002 answered the redirected call");
    assert!(reinvites(&mut w, GW).is_empty(), "a ringing call needs no re-INVITE");
    hang_up_and_check_nothing_is_left(&mut w, &call, 7);
}

#[test]
fn user_data_changes_during_the_call_reach_the_desktop() {
    let (mut w, call, conn) = answered(8, LinkConfig::default(), Pickup::Never);
    let request = |name: &str, extra: &str| {
        format!(r#"{{"message":"{name}","ReferenceID":1,"ThisDN":"1001","ConnID":"{conn}"{extra}}}"#)
    };
    w.desk(1, &request("RequestAttachUserData", r#","UserData":{"a":1,"b":2}"#));
    w.desk(1, &request("RequestAttachUserData", r#","UserData":{"a":9}"#)); // attach keeps a
    w.desk(1, &request("RequestUpdateUserData", r#","UserData":{"b":3,"c":4}"#));
    w.desk(1, &request("RequestDeleteUserData", r#","Key":"c""#));
    w.run_for(Duration::from_secs(1));
    let changes = events_named(&w, 1, "EventAttachedDataChanged");
    let data: Vec<String> = changes.iter().map(|v| v["UserData"].to_string()).collect();
    assert_eq!(data, vec![r#"{"a":1,"b":2}"#, r#"{"a":1,"b":2}"#, r#"{"a":1,"b":3,"c":4}"#, r#"{"a":1,"b":3}"#]);
    assert_eq!(changes[0]["ThirdPartyDN"].as_str(), Some("1001"));
    let big = format!(r#","UserData":{{"x":"{}"}}"#, "y".repeat(5_000));
    w.desk(1, &request("RequestUpdateUserData", &big));
    w.desk(1, &request("RequestDeleteAllUserData", ""));
    w.run_for(Duration::from_secs(1));
    assert_eq!(error_codes(&w, 1), vec!["InvalidRequest"], "UserData over 4,096 bytes is refused");
    let last = events_named(&w, 1, "EventAttachedDataChanged").last().cloned().expect("an event");
    assert_eq!(last["UserData"].to_string(), "{}");
    hang_up_and_check_nothing_is_left(&mut w, &call, 8);
}

#[test]
fn refused_call_control_requests_leave_the_call_as_it_was() {
    let (mut w, call, conn) = answered(9, LinkConfig::default(), Pickup::After(Duration::from_millis(100)));
    w.desk(3, r#"{"message":"RequestRegisterAddress","ThisDN":"1003"}"#);
    let transfer = |dn: &str, conn: &str, to: &str, extra: &str| {
        format!(
            r#"{{"message":"RequestSingleStepTransfer","ThisDN":"{dn}","ConnID":"{conn}","OtherDN":"{to}"{extra}}}"#
        )
    };
    w.desk(1, &transfer("1001", "00000000000000ff", "1002", "")); // no such call
    w.desk(1, &transfer("1001", &conn, "99999", "")); // no DN, no trunk
    w.desk(1, &transfer("1001", &conn, "1001", "")); // to itself
    w.desk(1, &transfer("1001", &conn, "1003", "")); // no phone registered
    w.desk(1, &transfer("1001", &conn, "1002", r#","Location":"nowhere""#)); // no such peer
    w.desk(1, &transfer("1001", &conn, &"9".repeat(200), "")); // too long
    w.desk(3, &transfer("1003", &conn, "1002", "")); // not a party of the call
    w.desk(1, r#"{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"zz"}"#); // no ConnID
    w.desk(1, &format!(r#"{{"message":"RequestRetrieveCall","ThisDN":"1001","ConnID":"{conn}"}}"#)); // not held
    w.run_for(Duration::from_secs(10));
    let expected = [
        "NoSuchCall",
        "UnknownDN",
        "InvalidRequest",
        "InvalidState",
        "InvalidState",
        "InvalidRequest",
        "NoSuchCall",
        "NoSuchCall",
        "InvalidState",
    ];
    let mut codes = error_codes(&w, 1);
    codes.extend(error_codes(&w, 3));
    codes.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(codes, expected);
    let texts: Vec<String> =
        events_named(&w, 1, "EventError").iter().map(|v| v["ErrorMessage"].as_str().unwrap_or("").to_owned()).collect();
    assert!(texts.iter().any(|t| t.contains("no registered phone")), "{texts:?}");
    assert!(reinvites(&mut w, GW).is_empty() && reinvites(&mut w, PHONE1).is_empty(), "nothing was re-INVITEd");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 0, "1001 is still on the call");
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 0);
    assert!(events_named(&w, 1, "EventReleased").is_empty());
    hang_up_and_check_nothing_is_left(&mut w, &call, 9);
}

/// The stateful sweep of issue 23: a gateway calls and hangs up at random while three
/// desktops send random call-control requests (valid and not: hold, retrieve, transfers
/// to good and bad targets, consultations and their completion, alternate and reconnect,
/// redirects, UserData, releases) on the calls they have seen
/// and on made-up ConnIDs, over a lossy network. The World checks the reference model
/// after every step (every event names a live call; the node holds exactly the model's
/// calls). At the end every call is hung up: no call, open record, ringing phone or
/// transaction may be left.
#[test]
fn random_call_control_from_several_desktops_leaves_nothing_behind() {
    let seeds: u64 = std::env::var("SWEEP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    for seed in 0..seeds {
        sweep(seed);
    }
}

fn sweep(seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut w = World::new(seed, config(), lossy());
    let phones = [("1001", PHONE1), ("1002", PHONE2), ("1003", "127.0.0.1:6003")];
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    for (dn, at) in phones {
        let pickup = if rng.gen_bool(0.8) { Pickup::After(Duration::from_millis(300)) } else { Pickup::Never };
        w.add(Ua::new(dn, addr(at), pickup));
        w.register(addr(at));
    }
    for (desk, (dn, _)) in (1u64..).zip(phones) {
        w.desk(desk, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    }
    w.run_for(Duration::from_secs(10));
    let targets = ["1001", "1002", "1003", "5000", "99999", "1500", ""];
    let kinds = ["RequestHoldCall", "RequestRetrieveCall", "RequestSingleStepTransfer", "RequestMuteTransfer"];
    let more = ["RequestRedirectCall", "RequestAttachUserData", "RequestReleaseCall", "RequestAnswerCall"];
    let two_step =
        ["RequestInitiateTransfer", "RequestCompleteTransfer", "RequestAlternateCall", "RequestReconnectCall"];
    let mut calls = Vec::new();
    for _ in 0..60 {
        match rng.gen_range(0..10) {
            0 | 1 => calls.push(w.call(addr(GW), targets[rng.gen_range(0..4)])),
            2 if !calls.is_empty() => {
                let call = calls.swap_remove(rng.gen_range(0..calls.len()));
                w.hang_up(addr(GW), &call);
                w.cancel(addr(GW), &call);
            }
            _ => {
                let desk = rng.gen_range(1..=3u64);
                let seen: Vec<String> = (1..=3).flat_map(|d| conn_ids(&w, d)).collect();
                let mut pick = || match seen.len() {
                    0 => "00000000000000ff".to_owned(),
                    n => seen[rng.gen_range(0..n)].clone(),
                };
                let (conn, other) = (pick(), pick());
                let kind = match rng.gen_range(0..10) {
                    0..=3 => kinds[rng.gen_range(0..4)],
                    4..=6 => two_step[rng.gen_range(0..4)],
                    _ => more[rng.gen_range(0..4)],
                };
                let (dn, to) = (phones[desk as usize - 1].0, targets[rng.gen_range(0..targets.len())]);
                w.desk(
                    desk,
                    &format!(
                        r#"{{"message":"{kind}","ThisDN":"{dn}","ConnID":"{conn}","TransferConnID":"{other}","OtherDN":"{to}","UserData":{{"k":"{to}"}}}}"#
                    ),
                );
            }
        }
        w.run_for(Duration::from_millis(rng.gen_range(100..3_000)));
    }
    for call in calls {
        // Answered calls end by BYE, ringing or queued ones by CANCEL; the other gets 481.
        w.hang_up(addr(GW), &call);
        w.cancel(addr(GW), &call);
    }
    w.run_for(Duration::from_secs(60));
    // Consultations are calls between two agents: their desktops release them.
    for (desk, (dn, _)) in (1u64..).zip(phones) {
        for conn in conn_ids(&w, desk) {
            w.desk(desk, &format!(r#"{{"message":"RequestReleaseCall","ThisDN":"{dn}","ConnID":"{conn}"}}"#));
        }
    }
    w.run_for(Duration::from_secs(120));
    let stats = w.site().stats();
    if std::env::var("SWEEP_DEBUG").is_ok() {
        eprintln!(
            "seed {seed}: {} answered, {} held, {} transferred",
            stats.calls_answered, stats.calls_held, stats.calls_transferred
        );
    }
    assert_eq!(w.site().active_calls(), 0, "seed {seed}: no call left");
    assert_eq!(w.open_records(addr(SITE)), 0, "seed {seed}: every record closed");
    for (dn, at) in phones {
        if std::env::var("SWEEP_DEBUG").is_ok() && w.ua(addr(at)).live_calls() != 0 {
            eprintln!("{dn}: {:#?}", w.ua(addr(at)).events);
        }
        assert_eq!(w.ua(addr(at)).live_calls(), 0, "seed {seed}: {dn} still has a call");
    }
}

/// The ConnIDs desktop `desk` has seen.
fn conn_ids(w: &World, desk: u64) -> Vec<String> {
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
fn consult(w: &mut World, conn: &str, run: Duration) -> String {
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

fn pair_request(name: &str, conn: &str, consult: &str) -> String {
    format!(r#"{{"message":"{name}","ReferenceID":7,"ThisDN":"1001","ConnID":"{conn}","TransferConnID":"{consult}"}}"#)
}

#[test]
fn a_two_step_transfer_joins_the_held_caller_to_the_consulted_agent_in_the_held_call() {
    for seed in 0..30 {
        let (mut w, call, conn) = answered(seed, lossy(), Pickup::After(Duration::from_millis(300)));
        let consult_conn = consult(&mut w, &conn, Duration::from_secs(10));
        assert_ne!(consult_conn, conn, "seed {seed}: the consultation has its own ConnID");
        assert_eq!(reinvites(&mut w, GW), vec!["sendonly"], "seed {seed}: the caller is held");
        assert_eq!(events_named(&w, 1, "EventHeld")[0]["ConnID"].as_str(), Some(conn.as_str()));
        assert_eq!(events_named(&w, 2, "EventEstablished").len(), 1, "seed {seed}: 1002 answered the consultation");
        // Complete, naming the calls in the other order: either is accepted.
        w.desk(1, &pair_request("RequestCompleteTransfer", &consult_conn, &conn));
        w.run_for(Duration::from_secs(20));
        assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "seed {seed}: the caller hears 1002");
        assert_eq!(reinvites(&mut w, PHONE2), vec!["sendrecv"], "seed {seed}: 1002 gets the caller's media");
        assert_eq!(
            count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })),
            2,
            "seed {seed}: 1001 left both"
        );
        assert_eq!(
            (finals(&mut w, GW), count(&mut w, GW, |e| matches!(e, UaEvent::ByeReceived { .. }))),
            (vec![200], 0)
        );
        let released: Vec<(String, Option<u64>)> = events_named(&w, 1, "EventReleased")
            .iter()
            .map(|v| (v["ConnID"].as_str().unwrap_or("").to_owned(), v["ReferenceID"].as_u64()))
            .collect();
        assert_eq!(released, vec![(consult_conn.clone(), None), (conn.clone(), Some(7))], "seed {seed}");
        let changed = events_named(&w, 2, "EventPartyChanged");
        assert_eq!(changed.len(), 1, "seed {seed}");
        assert_eq!(changed[0]["ConnID"].as_str(), Some(conn.as_str()), "the held call's ConnID survives");
        assert_eq!(changed[0]["PreviousConnID"].as_str(), Some(consult_conn.as_str()));
        assert_eq!((changed[0]["ThirdPartyDN"].as_str(), changed[0]["OtherDN"].as_str()), (Some("1001"), Some("gw")));
        hang_up_and_check_nothing_is_left(&mut w, &call, seed);
        assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::ByeReceived { .. })), 1, "seed {seed}");
        let records = w.call_records(addr(SITE));
        let main = records.iter().find(|r| cti::conn_id_text(r.conn_id) == conn).expect("the held call's record");
        let legs: Vec<(&str, CallResult)> = main.legs.iter().map(|l| (l.target.as_str(), l.result)).collect();
        assert_eq!(legs, vec![("1001", CallResult::Transferred), ("1002", CallResult::Answered)], "seed {seed}");
        let gone = records.iter().find(|r| cti::conn_id_text(r.conn_id) == consult_conn).expect("a record");
        assert_eq!(gone.result, CallResult::Transferred, "seed {seed}");
    }
}

#[test]
fn a_transfer_completed_before_the_consulted_agent_answers_connects_both_when_it_does() {
    let (mut w, call, conn) = answered(12, LinkConfig::default(), Pickup::After(Duration::from_secs(3)));
    let consult_conn = consult(&mut w, &conn, Duration::from_secs(1));
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 1, "1002 rings");
    w.desk(1, &pair_request("RequestCompleteTransfer", &conn, &consult_conn));
    w.run_for(Duration::from_secs(10));
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "the caller hears 1002 once it answered");
    assert_eq!(reinvites(&mut w, PHONE2), vec!["sendrecv"], "1002 gets the caller's media, not 1001's");
    assert_eq!(events_named(&w, 2, "EventPartyChanged").len(), 1);
    let established: Vec<String> =
        events_named(&w, 2, "EventEstablished").iter().map(|v| v["ConnID"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(established, vec![conn.clone()], "1002 answers the held call itself");
    hang_up_and_check_nothing_is_left(&mut w, &call, 12);
}

#[test]
fn reconnect_and_alternate_move_between_the_held_call_and_the_consultation() {
    let (mut w, call, conn) = answered(13, LinkConfig::default(), Pickup::After(Duration::from_millis(100)));
    let consult_conn = consult(&mut w, &conn, Duration::from_secs(5));
    w.desk(1, &pair_request("RequestAlternateCall", &conn, &consult_conn));
    w.run_for(Duration::from_secs(5));
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "alternate: the caller is back");
    assert_eq!(reinvites(&mut w, PHONE2), vec!["sendonly"], "alternate: 1002 is held");
    w.desk(1, &pair_request("RequestAlternateCall", &conn, &consult_conn));
    w.run_for(Duration::from_secs(5));
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv", "sendonly"]);
    assert_eq!(reinvites(&mut w, PHONE2), vec!["sendonly", "sendrecv"]);
    w.desk(1, &pair_request("RequestReconnectCall", &conn, &consult_conn));
    w.run_for(Duration::from_secs(5));
    assert_eq!(
        count(&mut w, PHONE2, |e| matches!(e, UaEvent::ByeReceived { .. })),
        1,
        "reconnect ends the consultation"
    );
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv", "sendonly", "sendrecv"], "and retrieves the caller");
    assert_eq!(w.site().active_calls(), 1);
    w.desk(1, &pair_request("RequestCompleteTransfer", &conn, &consult_conn));
    w.desk(
        1,
        &format!(r#"{{"message":"RequestInitiateConference","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(1));
    assert_eq!(error_codes(&w, 1), vec!["NoSuchCall", "NotSupported"], "no consultation left; no mixer");
    let text = events_named(&w, 1, "EventError")[1]["ErrorMessage"].as_str().unwrap_or("").to_owned();
    assert!(text.contains("media partner"), "{text}");
    hang_up_and_check_nothing_is_left(&mut w, &call, 13);
}

/// The B-leg dialog of phone `ua`'s first incoming call (its Call-ID at the phone).
fn first_incoming(w: &mut World, ua: &str) -> String {
    w.ua(addr(ua))
        .events
        .iter()
        .find_map(|e| if let UaEvent::Incoming { call } = e { Some(call.clone()) } else { None })
        .expect("the phone rang")
}

#[test]
fn a_phone_s_blind_refer_is_carried_out_by_tandem_and_never_reaches_the_gateway() {
    let (mut w, call, conn) = answered(14, lossy(), Pickup::After(Duration::from_millis(200)));
    let leg = first_incoming(&mut w, PHONE1);
    w.refer(addr(PHONE1), &leg, "<sip:99999@127.0.0.1:5060>");
    w.run_for(Duration::from_secs(5));
    let refer_codes = |w: &mut World| -> Vec<u16> {
        w.ua(addr(PHONE1))
            .events
            .iter()
            .filter_map(|e| if let UaEvent::ReferAnswered { code, .. } = e { Some(*code) } else { None })
            .collect()
    };
    assert_eq!(refer_codes(&mut w), vec![403], "a target outside the DN plan is refused");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 0, "and the call is untouched");
    w.refer(addr(PHONE1), &leg, "<sip:1002@127.0.0.1:5060>");
    w.run_for(Duration::from_secs(10));
    assert_eq!(refer_codes(&mut w), vec![403, 202]);
    let notified = w
        .ua(addr(PHONE1))
        .events
        .iter()
        .any(|e| matches!(e, UaEvent::Notified { body, .. } if body == "SIP/2.0 200 OK"));
    assert!(notified, "the final NOTIFY says the transfer is done");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 1);
    assert_eq!(reinvites(&mut w, GW), vec!["sendrecv"], "the gateway only hears the new phone");
    assert_eq!(count(&mut w, GW, |e| matches!(e, UaEvent::Notified { .. })), 0, "no REFER or NOTIFY leaks to it");
    let ringing = events_named(&w, 2, "EventRinging");
    assert_eq!(
        (ringing[0]["ConnID"].as_str(), ringing[0]["ThirdPartyDN"].as_str()),
        (Some(conn.as_str()), Some("1001"))
    );
    assert_eq!(events_named(&w, 1, "EventReleased").len(), 1, "1001's desktop sees the same as for its own request");
    hang_up_and_check_nothing_is_left(&mut w, &call, 14);
}

#[test]
fn a_phone_s_attended_transfer_with_replaces_joins_the_held_caller_to_its_consulted_party() {
    let (mut w, call, conn) = answered(15, LinkConfig::default(), Pickup::After(Duration::from_millis(200)));
    let leg = first_incoming(&mut w, PHONE1);
    w.phone_hold(addr(PHONE1), &leg, true);
    let consult = w.call(addr(PHONE1), "1002");
    w.run_for(Duration::from_secs(5));
    let consult_conn = events_named(&w, 2, "EventEstablished")[0]["ConnID"].as_str().expect("answered").to_owned();
    let (ours, theirs) = w.ua(addr(PHONE1)).tags(&consult).expect("the consultation's tags");
    w.refer(addr(PHONE1), &leg, "<sip:1002@127.0.0.1:5060?Replaces=nosuchcall%3Bto-tag%3Dx%3Bfrom-tag%3Dy>");
    w.run_for(Duration::from_secs(2));
    let refer_to = format!("<sip:1002@127.0.0.1:5060?Replaces={consult}%3Bto-tag%3D{theirs}%3Bfrom-tag%3D{ours}>");
    w.refer(addr(PHONE1), &leg, &refer_to);
    w.run_for(Duration::from_secs(10));
    let codes: Vec<u16> = w
        .ua(addr(PHONE1))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::ReferAnswered { code, .. } = e { Some(*code) } else { None })
        .collect();
    assert_eq!(codes, vec![481, 202], "an unknown Replaces gets 481");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 2, "1001 leaves both calls");
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "held by the phone, then joined to 1002");
    assert_eq!(reinvites(&mut w, PHONE2), vec!["sendrecv"], "1002 gets the caller's media");
    let changed = events_named(&w, 2, "EventPartyChanged");
    assert_eq!(changed[0]["ConnID"].as_str(), Some(conn.as_str()));
    assert_eq!(changed[0]["PreviousConnID"].as_str(), Some(consult_conn.as_str()));
    hang_up_and_check_nothing_is_left(&mut w, &call, 15);
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::ByeReceived { .. })), 1);
}

#[test]
fn a_re_invite_no_one_answers_does_not_block_the_next_one() {
    let (mut w, call, conn) = answered(16, LinkConfig::default(), Pickup::Never);
    w.ua(addr(PHONE1)).deaf_to_reinvites = true;
    let hold = |name: &str| format!(r#"{{"message":"{name}","ThisDN":"1001","ConnID":"{conn}"}}"#);
    w.desk(1, &hold("RequestHoldCall"));
    w.run_for(Duration::from_secs(1));
    w.desk(1, &hold("RequestRetrieveCall"));
    w.run_for(Duration::from_secs(40)); // the phone's re-INVITE transaction times out (64*T1)
    w.ua(addr(PHONE1)).deaf_to_reinvites = false;
    w.desk(1, &hold("RequestRetrieveCall"));
    w.run_for(Duration::from_secs(5));
    assert_eq!(error_codes(&w, 1), vec!["InvalidState"], "refused while the phone's re-INVITE was out");
    assert_eq!(events_named(&w, 1, "EventRetrieved").len(), 1, "accepted once it timed out");
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"]);
    hang_up_and_check_nothing_is_left(&mut w, &call, 16);
}

#[test]
fn a_transfer_sent_before_the_caller_s_ack_arrives_is_carried_out() {
    let link = LinkConfig { latency: Duration::from_millis(20), ..LinkConfig::default() };
    let mut w = World::new(17, config(), link);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE1), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("1002", addr(PHONE2), Pickup::After(Duration::from_millis(200))));
    w.register(addr(PHONE1));
    w.register(addr(PHONE2));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.run_for(Duration::from_secs(5));
    let call = w.call(addr(GW), "1001");
    for _ in 0..2_000 {
        if !events_named(&w, 1, "EventEstablished").is_empty() {
            break;
        }
        w.run_for(Duration::from_millis(1));
    }
    let conn = events_named(&w, 1, "EventEstablished")[0]["ConnID"].as_str().expect("answered").to_owned();
    assert!(finals(&mut w, GW).is_empty(), "the gateway has not seen the 200 yet, so no ACK is back");
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(10));
    assert!(error_codes(&w, 1).is_empty(), "{:?}", events_named(&w, 1, "EventError"));
    assert_eq!(finals(&mut w, GW), vec![200]);
    assert_eq!(reinvites(&mut w, GW), vec!["sendrecv"], "the caller hears 1002");
    hang_up_and_check_nothing_is_left(&mut w, &call, 17);
}

#[test]
fn the_stat_service_counts_holds_transfers_and_calls_held() {
    let (mut w, call, conn) = answered(18, LinkConfig::default(), Pickup::After(Duration::from_millis(100)));
    let file: routing::RoutingFile =
        serde_json::from_value(serde_json::json!({"point": [{"dn": "5000"}]})).expect("config");
    let service = routing::stats::StatService::new(
        w.now,
        file.compile().expect("valid"),
        vec!["test".into()],
        vec!["1001".into(), "1002".into()],
    );
    w.add_client(9, Box::new(sim::StatClient { service, changed: Vec::new() }));
    for (desk, dn) in [(1, "1001"), (2, "1002")] {
        w.desk(desk, &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"A{dn}"}}"#));
    }
    w.run_for(Duration::from_secs(1));
    let value = |w: &World, name: &str| {
        let client = w.client(9).and_then(|c| c.as_any().downcast_ref::<sim::StatClient>()).expect("stat client");
        client.service.value(w.now, name).expect(name)
    };
    w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(2));
    assert_eq!(value(&w, "total")["calls_held"], 1);
    assert_eq!(
        (value(&w, "agent/A1001")["holds"].as_u64(), value(&w, "agent/A1001")["calls_held"].as_u64()),
        (Some(1), Some(1))
    );
    w.desk(1, &format!(r#"{{"message":"RequestRetrieveCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(2));
    assert_eq!(value(&w, "total")["calls_held"], 0);
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(3));
    assert_eq!(value(&w, "agent/A1001")["transfers"].as_u64(), Some(1));
    assert_eq!(value(&w, "agent/A1002")["transfers"].as_u64(), Some(0));
    hang_up_and_check_nothing_is_left(&mut w, &call, 18);
}
