//! Two sites: a call is anchored once.

use super::common::*;

const SS2: &str = "127.0.0.1:5062";
const PHONE_AT_SS2: &str = "127.0.0.1:6012";

/// A BC pair (the home site SITE and SS2), each with media anchoring, queue music and
/// its own partner; agent A1001 logged in at SITE on 1001 (its phone there), phone 1012
/// registered at SS2, desk 9 watching Routing Point 5000 at SS2.
fn pair_world(seed: u64) -> World {
    let anchored = |local: &str, other: &str, trunk: &str, prefix: &str| {
        let mut c = sim::fixtures::bc_peer(addr(local), addr(other), trunk, prefix, &[("A1001", "1001")]);
        let mut media = MediaConfig { timeout: Duration::from_millis(500), ..MediaConfig::default() };
        media.sounds.queue = Some("/sounds/queue.wav".into());
        c.media = Some(media);
        c
    };
    let mut w = World::new(seed, anchored(SITE, SS2, "TO_SS2", "9902"), LinkConfig::default());
    w.add_site(anchored(SS2, SITE, "TO_SITE", "9901"), seed + 1000);
    w.add_media_partner(addr(SITE), answering(2));
    w.add_media_partner(addr(SS2), answering(2));
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE), Pickup::After(Duration::from_millis(200))));
    w.add(Ua::new("1012", addr(PHONE_AT_SS2), Pickup::Never));
    let now = w.now;
    w.ua(addr(PHONE)).register(now, addr(SITE));
    w.ua(addr(PHONE_AT_SS2)).register(now, addr(SS2));
    w.run_for(Duration::from_secs(6));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.desk(1, r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001"}"#);
    w.desk_at(addr(SS2), 9, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    w.run_for(Duration::from_secs(6));
    w
}

#[test]
fn a_call_carried_over_the_peer_trunk_is_anchored_once_where_its_agent_is() {
    let mut w = pair_world(31);
    let now = w.now;
    w.ua(addr(PHONE_AT_SS2)).call(now, addr(SS2), "1001");
    w.run_for(Duration::from_secs(10));
    assert!(w.ua(addr(PHONE_AT_SS2)).events.iter().any(|e| matches!(e, UaEvent::Final { code: 200, .. })));
    assert_eq!(w.partner(addr(SS2)).count("offer"), 0, "the caller's site hands the call on unanchored");
    assert_eq!(w.partner(addr(SITE)).count("offer"), 1, "the agent's site anchors it");
    assert!(all_anchored(&descriptions_to(&w, PHONE)), "the agent sees the partner");
}

#[test]
fn a_call_that_waited_with_music_and_is_routed_to_the_peer_is_not_anchored_again_there() {
    let mut w = pair_world(32);
    let now = w.now;
    w.ua(addr(GW)).call(now, addr(SS2), "5000");
    w.run_for(Duration::from_secs(2));
    assert_eq!(w.partner(addr(SS2)).kinds(), ["offer", "answer", "play"], "music at the caller's site");
    let conn = w
        .desk_events_at(addr(SS2), 9)
        .iter()
        .find_map(|e| match serde_json::to_value(e).expect("json") {
            v if v["message"] == "EventRouteRequest" => v["ConnID"].as_str().map(str::to_owned),
            _ => None,
        })
        .expect("a route request");
    let route = format!(
        r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1001","Location":"{SITE}"}}"#
    );
    w.desk_at(addr(SS2), 9, &route);
    w.run_for(Duration::from_secs(10));
    assert_eq!(finals(&mut w, GW), vec![200], "the agent at the other site answered");
    assert_eq!(w.partner(addr(SITE)).commands.len(), 0, "the agent's site did not anchor it again");
    assert_eq!(w.partner(addr(SS2)).kinds(), ["offer", "answer", "play", "stop", "answer"]);
    assert!(all_anchored(&descriptions_to(&w, PHONE)), "the agent sees the caller's site's partner");
}

#[test]
fn a_site_failure_leaves_the_survivors_calls_with_their_media() {
    let mut w = pair_world(33);
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(finals(&mut w, GW), vec![200]);
    let anchored = w.partner(addr(SITE)).kinds();
    assert_eq!(anchored, ["offer", "answer"], "anchored at the agent's site");
    // SS2 dies: nothing reaches it or comes from it any more.
    for other in [GW, PHONE, PHONE_AT_SS2, SITE] {
        w.net.set_blocked(addr(SS2), addr(other), true);
    }
    w.run_for(Duration::from_secs(20));
    assert_eq!(w.partner(addr(SITE)).live_sessions(), 1, "the survivor's session stays at its partner");
    assert_eq!(w.partner(addr(SITE)).count("delete"), 0);
    w.re_invite(addr(GW), &call);
    w.run_for(Duration::from_secs(5));
    let answered = w.ua(addr(GW)).events.iter().filter(|e| matches!(e, UaEvent::ReInviteAnswered { code: 200, .. }));
    assert_eq!(answered.count(), 1, "a re-INVITE still goes through");
    assert_eq!(w.partner(addr(SITE)).count("offer"), 2, "anchored at the survivor's partner as before");
    assert!(all_anchored(&descriptions_to(&w, PHONE)) && all_anchored(&descriptions_to(&w, GW)));
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.partner(addr(SITE)).live_sessions(), 0, "and it ends as any call");
}
