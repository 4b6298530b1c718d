//! Queue music as early media, hold music, treatments named by the configuration.

use super::common::*;

/// [`world`] with Routing Point 5000 (desk 9 watches it, as a router), queue music for
/// it, hold music, and a RingBack treatment.
fn world_with_sounds(seed: u64) -> World {
    rp_world(seed, |media| {
        media.sounds.queue = Some("/sounds/queue.wav".into());
        media.sounds.hold = Some("/sounds/hold.wav".into());
        media.sounds.treatments.insert("RingBack".into(), "/sounds/ringback.wav".into());
    })
}

fn plays(w: &mut World) -> Vec<(String, String)> {
    w.partner(addr(SITE))
        .commands
        .iter()
        .filter_map(|c| match &c.op {
            MediaOp::Play { to, file, .. } => Some((to.clone(), file.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_caller_waiting_on_a_routing_point_hears_its_music_as_early_media_until_the_agent_answers() {
    let mut w = world_with_sounds(21);
    w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(2));
    let provisionals: Vec<u16> = w
        .ua(addr(GW))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Provisional { code, .. } = e { Some(*code) } else { None })
        .collect();
    assert_eq!(provisionals, vec![100, 183], "the caller gets early media");
    assert!(all_anchored(&descriptions_to(&w, GW)), "with the partner's answer");
    assert_eq!(plays(&mut w), vec![("a".to_owned(), "/sounds/queue.wav".to_owned())], "music to the caller");
    let sink = w.partner(addr(SITE)).commands.iter().find_map(|c| match &c.op {
        MediaOp::Answer { to, sdp, .. } => Some((to.clone(), String::from_utf8_lossy(sdp).into_owned())),
        _ => None,
    });
    let (to, sdp) = sink.expect("the sink answered");
    assert!(to == "t" && sdp.contains("m=audio 9 RTP/AVP 0"), "{to}: {sdp}");
    let conn = route_request_conn(&w);
    w.desk(9, &format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1001"}}"#));
    w.run_for(Duration::from_secs(5));
    assert_eq!(finals(&mut w, GW), vec![200], "the agent answered");
    assert!(all_anchored(&descriptions_to(&w, PHONE)), "the agent got the anchored offer");
    let kinds = w.partner(addr(SITE)).kinds();
    assert_eq!(kinds, vec!["offer", "answer", "play", "stop", "answer"], "one offer, music stopped at the answer");
    let last = w.partner(addr(SITE)).commands.last().map(|c| c.op.clone());
    let Some(MediaOp::Answer { to, .. }) = last else { panic!("the agent's answer last") };
    assert_eq!(to, "t", "the agent answers under the sink's tag (rtpengine keeps the callee side there)");
}

#[test]
fn a_held_party_hears_hold_music_and_the_holder_is_blocked_until_retrieved() {
    let mut w = world_with_sounds(22);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    let conn = established(&w);
    w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(3));
    assert_eq!(plays(&mut w), vec![("a".to_owned(), "/sounds/hold.wav".to_owned())], "the caller is the held party");
    let blocked = w.partner(addr(SITE)).commands.iter().find_map(|c| match &c.op {
        MediaOp::Block { from, .. } => Some(from.clone()),
        _ => None,
    });
    assert_eq!(blocked.as_deref(), Some("b0"), "the agent's own audio is blocked meanwhile");
    w.desk(1, &format!(r#"{{"message":"RequestRetrieveCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(3));
    assert_eq!(w.partner(addr(SITE)).kinds()[2..], ["play", "block", "unblock", "stop"], "music first, music last");
}

#[test]
fn a_router_names_a_treatment_from_the_configuration_and_no_other() {
    let mut w = world_with_sounds(23);
    w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(2));
    let conn = route_request_conn(&w);
    for name in ["RingBack", "/etc/passwd", "Busy"] {
        w.desk(
            9,
            &format!(
                r#"{{"message":"RequestApplyTreatment","ThisDN":"5000","ConnID":"{conn}","TreatmentType":"{name}"}}"#
            ),
        );
        w.run_for(Duration::from_millis(500));
    }
    let files: Vec<String> = plays(&mut w).into_iter().map(|(_, f)| f).collect();
    assert_eq!(files, ["/sounds/queue.wav", "/sounds/ringback.wav"], "only the configured treatment played");
    let applied = w.desk_events(9).iter().filter(|e| matches!(e, cti::Event::EventTreatmentApplied { .. })).count();
    assert_eq!(applied, 3, "every request is answered (the router keeps the call in hand)");
}

#[test]
fn a_caller_held_by_the_agents_own_phone_hears_hold_music_too() {
    let mut w = world_with_sounds(24);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert!(plays(&mut w).is_empty());
    let call = w.ua(addr(PHONE)).events.iter().find_map(|e| match e {
        UaEvent::Incoming { call } => Some(call.clone()),
        _ => None,
    });
    let call = call.expect("the phone's dialog");
    w.phone_hold(addr(PHONE), &call, true);
    w.run_for(Duration::from_secs(3));
    let held = w.desk_events(1).iter().any(|e| matches!(e, cti::Event::EventHeld { .. }));
    assert!(held, "the phone's re-INVITE holds: 1001's desktop sees EventHeld");
    assert_eq!(plays(&mut w), vec![("a".to_owned(), "/sounds/hold.wav".to_owned())], "the caller is the held party");
    let blocked = w.partner(addr(SITE)).commands.iter().find_map(|c| match &c.op {
        MediaOp::Block { from, .. } => Some(from.clone()),
        _ => None,
    });
    assert_eq!(blocked.as_deref(), Some("b0"), "the phone's own audio is blocked meanwhile");
    w.phone_hold(addr(PHONE), &call, false);
    w.run_for(Duration::from_secs(3));
    let kinds = w.partner(addr(SITE)).kinds();
    assert_eq!(kinds[kinds.len() - 2..], ["unblock", "stop"], "resumed: the music stops: {kinds:?}");
}
