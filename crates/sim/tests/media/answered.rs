//! `answer_waiting`: a caller waiting with music is answered (200 with the partner's
//! description) instead of given early media; the agent reaches it in a re-INVITE, and a
//! call that finds no one ends with BYE.

use super::common::*;

/// [`rp_world_with`] with queue music answered, and `change` on top.
fn answering_world(seed: u64, change: impl FnOnce(&mut NodeConfig)) -> World {
    rp_world_with(seed, |c| {
        let media = c.media.as_mut().expect("media");
        media.sounds.queue = Some("/sounds/queue.wav".into());
        media.answer_waiting = true;
        change(c);
    })
}

fn provisionals(w: &mut World) -> Vec<u16> {
    let events = &w.ua(addr(GW)).events;
    events.iter().filter_map(|e| if let UaEvent::Provisional { code, .. } = e { Some(*code) } else { None }).collect()
}

/// The requests of `method` the site sent to `ua`, as text.
fn requests_to(w: &World, ua: &str, method: &str) -> Vec<String> {
    w.sent
        .iter()
        .filter(|(_, to, _)| *to == addr(ua))
        .map(|(_, _, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .filter(|text| text.starts_with(&format!("{method} ")))
        .collect()
}

#[test]
fn a_waiting_caller_is_answered_with_the_music_and_reaches_the_agent_in_a_re_invite() {
    let mut w = answering_world(31, |_| {});
    let call = w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(2));
    assert_eq!(provisionals(&mut w), vec![100], "no early media");
    assert_eq!(finals(&mut w, GW), vec![200], "the caller is answered while it waits");
    assert!(all_anchored(&descriptions_to(&w, GW)), "with the partner's answer for the sink");
    assert_eq!(w.partner(addr(SITE)).kinds(), vec!["offer", "answer", "play"], "and hears the music");
    assert!(!w.desk_events(9).iter().any(|e| matches!(e, cti::Event::EventEstablished { .. })), "no agent yet");

    let conn = route_request_conn(&w);
    w.desk(9, &format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1001"}}"#));
    w.run_for(Duration::from_secs(5));
    assert!(all_anchored(&descriptions_to(&w, PHONE)), "the agent got the anchored offer");
    let reinvited = w
        .ua(addr(GW))
        .events
        .iter()
        .any(|e| matches!(e, UaEvent::ReInvited { direction, .. } if *direction == Some("sendrecv")));
    assert!(reinvited, "the agent's answer reaches the caller in a re-INVITE");
    assert!(all_anchored(&descriptions_to(&w, GW)), "still the partner's");
    let kinds = w.partner(addr(SITE)).kinds();
    assert_eq!(kinds, vec!["offer", "answer", "play", "stop", "answer"], "one session: the caller's media stays put");
    assert!(w.desk_events(1).iter().any(|e| matches!(e, cti::Event::EventEstablished { .. })), "the agent talks");

    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(2));
    let records = w.call_records(addr(SITE));
    let record = records.last().expect("a record");
    assert_eq!(record.answered_dn.as_deref(), Some("1001"), "answered by the agent, not by the music");
    assert_eq!(record.released_by, Some(engine::ReleasedBy::Caller));
}

#[test]
fn a_caller_answered_for_its_music_that_hangs_up_first_is_an_abandon() {
    let mut w = answering_world(32, |_| {});
    let call = w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w, GW), vec![200]);
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(2));
    let bye_ok = w.ua(addr(GW)).events.iter().any(|e| matches!(e, UaEvent::ByeAnswered { code: 200, .. }));
    assert!(bye_ok, "the caller's BYE is answered");
    assert!(
        w.desk_events(9).iter().any(|e| matches!(e, cti::Event::EventAbandoned { .. })),
        "the router hears an abandon"
    );
    let records = w.call_records(addr(SITE));
    assert_eq!(records.last().map(|r| r.result), Some(engine::CallResult::Abandoned));
    assert_eq!(w.partner(addr(SITE)).kinds().last().copied(), Some("delete"), "its session is deleted");
}

#[test]
fn a_caller_answered_for_its_music_that_waits_too_long_gets_bye_saying_why() {
    let mut w = answering_world(33, |c| c.options.queue_max_wait = Duration::from_secs(20));
    w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(25));
    assert_eq!(finals(&mut w, GW), vec![200]);
    let byes = requests_to(&w, GW, "BYE");
    assert_eq!(byes.len(), 1, "{byes:?}");
    assert!(byes[0].contains("Reason: SIP ;cause=480"), "{}", byes[0]);
    assert!(w.ua(addr(GW)).events.iter().any(|e| matches!(e, UaEvent::ByeReceived { .. })));
    let records = w.call_records(addr(SITE));
    let record = records.last().expect("a record");
    assert_eq!(record.cause, 480, "failed as an unanswered call would");
    assert_ne!(record.result, engine::CallResult::Answered);
    assert_eq!(record.answered_at, None);
}

#[test]
fn without_answer_waiting_the_music_stays_early_media() {
    let mut w = answering_world(34, |c| c.media.as_mut().expect("media").answer_waiting = false);
    w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(2));
    assert_eq!(provisionals(&mut w), vec![100, 183]);
    assert!(finals(&mut w, GW).is_empty());
}

#[test]
fn a_session_refresh_from_a_caller_answered_for_its_music_gets_200_with_what_it_has() {
    let mut w = answering_world(35, |_| {});
    let call = w.call(addr(GW), "5000");
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w, GW), vec![200]);
    let answered_with = descriptions_to(&w, GW).last().cloned().expect("the 200's description");
    w.re_invite(addr(GW), &call);
    w.run_for(Duration::from_secs(2));
    let refreshed = w.ua(addr(GW)).events.iter().any(|e| matches!(e, UaEvent::ReInviteAnswered { code: 200, .. }));
    assert!(refreshed, "the refresh is answered, not refused with 491");
    assert_eq!(descriptions_to(&w, GW).last(), Some(&answered_with), "with the description the caller has");
    assert_eq!(w.partner(addr(SITE)).kinds(), vec!["offer", "answer", "play"], "nothing new at the partner");
}
