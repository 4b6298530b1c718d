//! A partner that is silent, refuses, answers late or dies mid-call never stalls a call.

use super::common::*;

#[test]
fn a_silent_partner_leaves_the_call_unanchored_and_raises_the_alarm_then_new_calls_do_not_wait() {
    let mut w = world(3, LinkConfig::default(), PartnerMode::Silent, MediaFailure::Continue);
    w.call(addr(GW), "1001");
    // Within retry_after (5 s) of the partner's silence.
    w.run_for(Duration::from_secs(2));
    assert_eq!(finals(&mut w, GW), vec![200], "the call went on without the partner");
    let to_phone = descriptions_to(&w, PHONE);
    assert!(to_phone.iter().all(|d| d.contains("c=IN IP4 127.0.0.1")), "the caller's own description: {to_phone:?}");
    let media = w.site().stats().media;
    assert_eq!((media.timeouts, media.unanchored_calls, media.partner_down), (1, 1, 1));
    let offers = w.partner(addr(SITE)).count("offer");
    let second = w.call(addr(GW), "1001");
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.partner(addr(SITE)).count("offer"), offers, "no new offer while the partner is down");
    assert!(
        w.ua(addr(GW)).events.iter().any(|e| matches!(e, UaEvent::Provisional { call, code: 180 } if *call == second)),
        "the second call rings at once"
    );
}

#[test]
fn the_partner_answering_again_clears_the_alarm() {
    let mut w = world(4, LinkConfig::default(), PartnerMode::Silent, MediaFailure::Continue);
    let first = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(10));
    w.hang_up(addr(GW), &first);
    w.run_for(Duration::from_secs(10));
    w.partner(addr(SITE)).mode = answering(1);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(10));
    let media = w.site().stats().media;
    assert_eq!(media.partner_down, 0, "the partner answered the next call's offer after retry_after");
    assert!(all_anchored(&descriptions_to(&w, PHONE)[1..]), "the second call is anchored");
}

#[test]
fn with_refuse_a_new_call_gets_503_when_the_partner_is_silent() {
    let mut w = world(5, LinkConfig::default(), PartnerMode::Silent, MediaFailure::Refuse);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(finals(&mut w, GW), vec![503]);
    assert_eq!(w.site().active_calls(), 0);
    assert!(!w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::Incoming { .. })), "the phone never rang");
    assert_eq!(w.site().stats().media.refused_calls, 1);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_millis(50));
    assert_eq!(finals(&mut w, GW), vec![503, 503], "refused at once while the partner is down");
}

#[test]
fn an_offer_the_partner_refuses_gets_488_and_nothing_stays_allocated() {
    let mut w = world(6, LinkConfig::default(), PartnerMode::Refuse, MediaFailure::Continue);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(finals(&mut w, GW), vec![488]);
    assert_eq!(w.site().active_calls(), 0);
    let partner = w.partner(addr(SITE));
    assert_eq!(partner.count("delete"), 1, "the refused session is deleted all the same");
    assert_eq!(w.site().stats().media.partner_down, 0, "a refusal is an answer: the partner is up");
}

#[test]
fn a_late_answer_is_ignored_and_the_call_goes_on_unanchored() {
    let mut w = world(7, LinkConfig::default(), answering(900), MediaFailure::Continue);
    w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(10));
    assert_eq!(finals(&mut w, GW), vec![200]);
    let media = w.site().stats().media;
    assert_eq!(media.late_answers, 1, "the offer's answer came after its deadline");
    assert!(descriptions_to(&w, PHONE).iter().all(|d| d.contains("c=IN IP4 127.0.0.1")));
}

#[test]
fn a_caller_that_cancels_while_the_offer_is_out_leaves_nothing_at_the_partner() {
    let mut w = world(8, LinkConfig::default(), answering(300), MediaFailure::Continue);
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_millis(100));
    w.cancel(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(finals(&mut w, GW), vec![487]);
    assert!(!w.ua(addr(PHONE)).events.iter().any(|e| matches!(e, UaEvent::Incoming { .. })), "the phone never rang");
    let partner = w.partner(addr(SITE));
    assert_eq!(partner.count("delete"), 1);
    assert_eq!(partner.live_sessions(), 0);
    assert_eq!(w.site().active_calls(), 0);
}

#[test]
fn a_partner_that_dies_mid_call_leaves_the_call_up_and_a_re_invite_goes_through_unanchored() {
    let mut w = world(42, LinkConfig::default(), answering(2), MediaFailure::Refuse);
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(5));
    assert_eq!(finals(&mut w, GW), vec![200]);
    w.partner(addr(SITE)).mode = PartnerMode::Silent;
    w.re_invite(addr(GW), &call);
    w.run_for(Duration::from_secs(5));
    let answered = w.ua(addr(GW)).events.iter().any(|e| matches!(e, UaEvent::ReInviteAnswered { code: 200, .. }));
    assert!(answered, "the re-INVITE was relayed after the partner's silence (refuse is for new calls only)");
    assert_eq!(w.site().active_calls(), 1, "the call is up");
    let to_phone = descriptions_to(&w, PHONE);
    assert!(to_phone.last().is_some_and(|d| d.contains("c=IN IP4 127.0.0.1")), "the gateway's own offer: {to_phone:?}");
    assert_eq!(w.site().stats().media.partner_down, 1, "the alarm is up");
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.site().active_calls(), 0, "and it ends as usual");
}
