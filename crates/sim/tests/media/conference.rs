//! Conferences at a mixer (RequestInitiateConference, RequestCompleteConference,
//! RequestDeleteFromConference): every party joins before any dialog changes, then each
//! is re-INVITEd to the mixer; a party's BYE takes only that party out.

use super::common::*;
use sim::media_partner::MIXER_ADDRESS;

/// A call from the gateway answered on 1001 (desk 1), 1002 (desk 2) consulted and
/// answered; the held call's ConnID and the consultation's.
fn consulted(seed: u64, mixer: bool) -> (World, String, String, String) {
    let mut c = config(MediaFailure::Continue);
    c.media.as_mut().expect("media").mixer = mixer;
    let mut w = World::new(seed, c, LinkConfig::default());
    w.add_media_partner(addr(SITE), answering(2));
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("1002", addr(PHONE2), Pickup::After(Duration::from_millis(300))));
    w.register(addr(PHONE));
    w.register(addr(PHONE2));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(5));
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    let conn = established(&w);
    let initiate = format!(
        r#"{{"message":"RequestInitiateConference","ReferenceID":4,"ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#
    );
    w.desk(1, &initiate);
    w.run_for(Duration::from_secs(5));
    let consult = w.desk_events(1).iter().find_map(|e| match serde_json::to_value(e).expect("json") {
        v if v["message"] == "EventDialing" => v["ConnID"].as_str().map(str::to_owned),
        _ => None,
    });
    (w, call, conn, consult.unwrap_or_default())
}

fn complete(w: &mut World, conn: &str, consult: &str) {
    let json = format!(
        r#"{{"message":"RequestCompleteConference","ReferenceID":5,"ThisDN":"1001","ConnID":"{conn}","TransferConnID":"{consult}"}}"#
    );
    w.desk(1, &json);
    w.run_for(Duration::from_secs(5));
}

fn names(w: &World, desk: u64) -> Vec<String> {
    w.desk_events(desk)
        .iter()
        .map(|e| serde_json::to_value(e).expect("json")["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn last_to(w: &World, ua: &str) -> String {
    descriptions_to(w, ua).last().cloned().unwrap_or_default()
}

#[test]
fn three_parties_join_the_mixer_and_each_is_re_invited_to_it() {
    let (mut w, _call, conn, consult) = consulted(71, true);
    assert!(!consult.is_empty(), "the consultation was dialled");
    complete(&mut w, &conn, &consult);
    let kinds = w.partner(addr(SITE)).kinds();
    assert_eq!(kinds.iter().filter(|k| **k == "join").count(), 3, "caller, agent and consulted party: {kinds:?}");
    for ua in [GW, PHONE, PHONE2] {
        let sdp = last_to(&w, ua);
        assert!(sdp.contains(&format!("c=IN IP4 {MIXER_ADDRESS}")) && sdp.contains("a=sendrecv"), "{ua}: {sdp}");
    }
    assert_eq!(w.site().active_calls(), 1, "one call: the conference");
    assert_eq!(
        w.partner(addr(SITE)).live_sessions(),
        0,
        "the media partner's sessions went: the parties talk to the mixer"
    );
    let by = names(&w, 1);
    assert!(by.ends_with(&["EventReleased".into(), "EventPartyAdded".into()]), "1001: {by:?}");
    let added = w.desk_events(2).iter().rev().find_map(|e| match serde_json::to_value(e).expect("json") {
        v if v["message"] == "EventPartyChanged" => Some(v),
        _ => None,
    });
    let added = added.expect("1002 hears EventPartyChanged");
    assert_eq!((added["ConnID"].as_str(), added["CallState"].as_str()), (Some(conn.as_str()), Some("Conferenced")));
    assert_eq!(added["PreviousConnID"].as_str(), Some(consult.as_str()));
}

#[test]
fn a_party_that_hangs_up_leaves_and_the_last_one_is_released() {
    let (mut w, call, conn, consult) = consulted(72, true);
    complete(&mut w, &conn, &consult);
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(2));
    assert_eq!(w.site().active_calls(), 1, "1001 and 1002 stay in the conference");
    let deleted = w.desk_events(1).iter().any(|e| matches!(e, cti::Event::EventPartyDeleted { .. }));
    assert!(deleted, "1001 hears the caller left");
    let json =
        format!(r#"{{"message":"RequestDeleteFromConference","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#);
    w.desk(1, &json);
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.site().active_calls(), 0, "one party left: the call ended");
    assert_eq!(w.ua(addr(PHONE)).live_calls() + w.ua(addr(PHONE2)).live_calls(), 0, "both phones were hung up");
    let kinds = w.partner(addr(SITE)).kinds();
    assert_eq!((kinds.iter().filter(|k| **k == "leave").count(), kinds.last().copied()), (2, Some("close")));
    let released = names(&w, 2);
    assert!(released.contains(&"EventReleased".to_owned()), "1002: {released:?}");
}

#[test]
fn a_mixer_that_refuses_leaves_both_calls_as_they_were_and_the_desktop_is_told() {
    let (mut w, _call, conn, consult) = consulted(73, true);
    w.partner(addr(SITE)).mixer = PartnerMode::Refuse;
    let before = descriptions_to(&w, GW).len();
    complete(&mut w, &conn, &consult);
    assert_eq!(w.site().active_calls(), 2, "the held call and the consultation");
    assert_eq!(descriptions_to(&w, GW).len(), before, "no dialog changed");
    let error = w.desk_events(1).iter().rev().find_map(|e| match serde_json::to_value(e).expect("json") {
        v if v["message"] == "EventError" => Some(v),
        _ => None,
    });
    let error = error.expect("EventError");
    assert_eq!(error["ReferenceID"], 5, "answers the request: {error}");
    assert_eq!(w.partner(addr(SITE)).kinds().last().copied(), Some("close"), "the room is closed");

    let (mut w, _call, conn, consult) = consulted(74, true);
    w.partner(addr(SITE)).mixer = PartnerMode::Silent;
    complete(&mut w, &conn, &consult);
    assert_eq!(w.site().active_calls(), 2, "a silent mixer changes nothing either");
}

#[test]
fn without_a_mixer_conference_requests_get_a_clear_error() {
    let (w, _call, _conn, consult) = consulted(75, false);
    assert!(consult.is_empty(), "no consultation dialled");
    let error = w.desk_events(1).iter().rev().find_map(|e| match e {
        cti::Event::EventError { error_message, .. } => Some(error_message.clone()),
        _ => None,
    });
    assert!(error.is_some_and(|m| m.contains("mixer")), "the error names what is missing");
}
