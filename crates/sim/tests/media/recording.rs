//! Recording control: by configuration (site, Routing Point, DN, agent) and by desktops
//! (RequestPrivateService 3013 start, 3014 stop, 3015 pause, 3016 resume).

use super::common::*;

/// A site whose media partner keeps recordings, changed by `change`, with a gateway,
/// phone 1001 (desk 1), Routing Point 5000 (desk 9 routes) and agent A1001.
fn recording_world(seed: u64, change: impl FnOnce(&mut MediaConfig)) -> World {
    rp_world(seed, |media| {
        media.can_record = true;
        change(media);
    })
}

/// Desk 1 asks service `id` on call `conn`; what it answered (the event's name and, for
/// EventPrivateInfo, its ServiceID; for EventError, its text).
fn ask(w: &mut World, id: u32, conn: &str) -> (String, String) {
    let before = w.desk_events(1).len();
    w.desk(1, &format!(r#"{{"message":"RequestPrivateService","ServiceID":{id},"ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_millis(100));
    let answer = w.desk_events(1)[before..].last().map(|e| serde_json::to_value(e).expect("json")).expect("answered");
    let detail = match answer["message"].as_str() {
        Some("EventPrivateInfo") => answer["ServiceID"].to_string(),
        _ => answer["ErrorMessage"].as_str().unwrap_or_default().to_owned(),
    };
    (answer["message"].as_str().unwrap_or_default().to_owned(), detail)
}

fn recorded(w: &World) -> Vec<bool> {
    w.records[&addr(SITE)]
        .iter()
        .filter_map(|r| if let Record::Media(m) = r { Some(m.recorded) } else { None })
        .collect()
}

#[test]
fn a_desktop_starts_pauses_resumes_and_stops_the_recording_of_its_call() {
    let mut w = recording_world(61, |_| {});
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    let conn = established(&w);
    assert_eq!(w.partner(addr(SITE)).kinds(), ["offer", "answer"], "not recorded by configuration");
    let (name, text) = ask(&mut w, 3015, &conn);
    assert_eq!(name, "EventError", "nothing to pause yet");
    assert!(text.contains("not being recorded"), "{text}");
    assert_eq!(ask(&mut w, 3013, &conn), ("EventPrivateInfo".into(), "3013".into()));
    assert_eq!(ask(&mut w, 3013, &conn).0, "EventError", "recorded already");
    assert_eq!(ask(&mut w, 3015, &conn), ("EventPrivateInfo".into(), "3015".into()));
    assert_eq!(ask(&mut w, 3015, &conn).0, "EventError", "paused already");
    assert_eq!(ask(&mut w, 3016, &conn), ("EventPrivateInfo".into(), "3016".into()));
    assert_eq!(ask(&mut w, 3014, &conn), ("EventPrivateInfo".into(), "3014".into()));
    assert_eq!(ask(&mut w, 3016, &conn).0, "EventError", "nothing paused");
    assert_eq!(
        w.partner(addr(SITE)).kinds(),
        ["offer", "answer", "record", "stop-record", "record", "stop-record"],
        "a pause is a stop and a resume a new start (rtpengine 10.5 has no pause)"
    );
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(recorded(&w), [true], "the session's capture becomes a file");
}

#[test]
fn recording_requests_name_a_call_of_this_dn_on_a_site_that_keeps_recordings() {
    let mut w = recording_world(62, |_| {});
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    let conn = established(&w);
    assert_eq!(ask(&mut w, 3013, "00000000000000ff").0, "EventError", "no such call");
    w.desk(9, &format!(r#"{{"message":"RequestPrivateService","ServiceID":3013,"ThisDN":"5000","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_millis(100));
    let last = w.desk_events(9).last().map(|e| serde_json::to_value(e).expect("json")).expect("answered");
    assert_eq!(last["message"], "EventError", "5000 has nothing to do with this call: {last}");
    assert_eq!(w.partner(addr(SITE)).count("record"), 0);

    let mut w = recording_world(63, |m| m.can_record = false);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    let conn = established(&w);
    let (name, text) = ask(&mut w, 3013, &conn);
    assert_eq!(name, "EventError");
    assert!(text.contains("keeps no recordings"), "{text}");
}

#[test]
fn a_start_before_the_answer_records_from_the_answer() {
    let mut w = recording_world(64, |_| {});
    w.add(Ua::new("1001", addr(PHONE), Pickup::After(Duration::from_secs(3))));
    w.register(addr(PHONE));
    w.run_for(Duration::from_secs(2));
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_millis(500));
    let conn = w
        .desk_events(1)
        .iter()
        .find_map(|e| if let cti::Event::EventRinging { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("ringing");
    assert_eq!(ask(&mut w, 3013, &conn), ("EventPrivateInfo".into(), "3013".into()));
    assert_eq!(w.partner(addr(SITE)).count("record"), 0, "nothing to record while it rings");
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.partner(addr(SITE)).kinds(), ["offer", "answer", "record"], "recorded from the answer");
}

#[test]
fn routing_points_dns_and_agents_named_in_the_configuration_are_recorded() {
    // An Extension in record_dns.
    let mut w = recording_world(65, |m| {
        m.record_dns.insert("1001".into());
    });
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.partner(addr(SITE)).count("record"), 1, "1001's calls are recorded");

    // An agent in record_agents: recorded while logged in on the DN, not otherwise.
    let mut w = recording_world(66, |m| {
        m.record_agents.insert("A1001".into());
    });
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.partner(addr(SITE)).count("record"), 0, "no agent logged in");
    w.desk(1, r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001"}"#);
    w.run_for(Duration::from_secs(1));
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.partner(addr(SITE)).count("record"), 1, "A1001 answered");

    // A Routing Point in record_dns: its calls are recorded once an agent answers.
    let mut w = recording_world(67, |m| {
        m.record_dns.insert("5000".into());
    });
    w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(1));
    let conn = w
        .desk_events(9)
        .iter()
        .find_map(|e| if let cti::Event::EventRouteRequest { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("a route request");
    w.desk(9, &format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1001"}}"#));
    w.run_for(Duration::from_secs(5));
    assert_eq!(finals(&mut w, GW), [200]);
    assert_eq!(w.partner(addr(SITE)).count("record"), 1, "it waited on 5000");
}
