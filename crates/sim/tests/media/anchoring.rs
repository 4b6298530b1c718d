//! Every description that crosses a call is the partner's; a phone's re-INVITE and a desktop's hold too.

use super::common::*;

#[test]
fn an_anchored_call_shows_each_party_only_the_partner_and_deletes_its_session_at_the_end() {
    for seed in 0..8 {
        let mut w = world(seed, lossy(), answering(3), MediaFailure::Continue);
        let call = w.call(addr(GW), "1001");
        w.run_for(Duration::from_secs(20));
        assert_eq!(finals(&mut w, GW), vec![200], "seed {seed}: answered");
        let to_phone = descriptions_to(&w, PHONE);
        let to_gateway = descriptions_to(&w, GW);
        assert!(all_anchored(&to_phone), "seed {seed}: the phone saw only the partner: {to_phone:?}");
        assert!(all_anchored(&to_gateway), "seed {seed}: the gateway saw only the partner: {to_gateway:?}");
        let partner = w.partner(addr(SITE));
        assert_eq!((partner.count("offer"), partner.count("answer")), (1, 1), "seed {seed}");
        assert_eq!(partner.live_sessions(), 1);
        w.hang_up(addr(GW), &call);
        w.run_for(Duration::from_secs(40));
        assert_eq!(w.site().active_calls(), 0, "seed {seed}");
        let partner = w.partner(addr(SITE));
        assert_eq!(partner.count("delete"), 1, "seed {seed}: the session is deleted once");
        assert_eq!(partner.count("query"), 1, "seed {seed}: its figures asked for first");
        assert_eq!(partner.live_sessions(), 0, "seed {seed}: nothing left at the partner");
        assert_eq!(w.site().stats().media.unanchored_calls, 0);
        let record = w.call_records(addr(SITE)).last().map(|r| r.uuid.clone()).expect("a call record");
        let media: Vec<(String, u64)> = w.records[&addr(SITE)]
            .iter()
            .filter_map(|r| if let Record::Media(m) = r { Some((m.uuid.clone(), m.figures.packets)) } else { None })
            .collect();
        assert_eq!(media, vec![(record, 100)], "seed {seed}: the partner's figures, keyed by the call's UUID");
    }
}

#[test]
fn the_offer_and_answer_use_the_callers_tag_then_the_answering_legs() {
    let mut w = world(1, LinkConfig::default(), answering(1), MediaFailure::Continue);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(10));
    let ops: Vec<MediaOp> = w.partner(addr(SITE)).commands.iter().map(|c| c.op.clone()).collect();
    let (MediaOp::Offer { session: s1, from: f1, to: None, .. }, MediaOp::Answer { session: s2, from: f2, to: t2, .. }) =
        (&ops[0], &ops[1])
    else {
        panic!("an offer then an answer: {ops:?}");
    };
    assert_eq!((s1, f1.as_str(), f2.as_str(), t2.as_str()), (s2, "a", "a", "b0"));
    assert!(s1.ends_with(".0"), "the first session of the call: {s1}");
}

#[test]
fn a_phones_reinvite_and_a_desktop_hold_are_anchored_too() {
    let mut w = world(2, LinkConfig::default(), answering(2), MediaFailure::Continue);
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(10));
    w.re_invite(addr(GW), &call);
    w.run_for(Duration::from_secs(5));
    let answered = |w: &mut World| {
        w.ua(addr(GW)).events.iter().filter(|e| matches!(e, UaEvent::ReInviteAnswered { code: 200, .. })).count()
    };
    assert_eq!(answered(&mut w), 1, "the gateway's re-INVITE was answered");
    let partner = w.partner(addr(SITE));
    assert_eq!((partner.count("offer"), partner.count("answer")), (2, 2), "the re-INVITE went through the partner");
    let conn = established(&w);
    w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(5));
    let to_phone = descriptions_to(&w, PHONE);
    let to_gateway = descriptions_to(&w, GW);
    assert!(to_phone.len() >= 3 && all_anchored(&to_phone), "every offer to the phone is the partner's: {to_phone:?}");
    assert!(to_gateway.len() >= 3 && all_anchored(&to_gateway), "and to the gateway: {to_gateway:?}");
    assert!(to_gateway.last().is_some_and(|d| d.contains("a=sendonly")), "the gateway is held");
}
