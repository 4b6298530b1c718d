//! Single-step transfers (to an extension, back when unanswered, to a Routing Point,
//! before the caller's ACK) and the redirection of a ringing call.

use super::common::*;

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
    let mut w = two_phones(7, LinkConfig::default(), Pickup::Never, Pickup::After(Duration::from_millis(100)));
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
fn a_transfer_sent_before_the_caller_s_ack_arrives_is_carried_out() {
    let link = LinkConfig { latency: Duration::from_millis(20), ..LinkConfig::default() };
    let answer = Pickup::After(Duration::from_millis(200));
    let mut w = two_phones(17, link, answer, answer);
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
fn a_transfer_whose_user_data_would_not_fit_in_sip_is_refused() {
    let (mut w, call, conn) = answered(20, LinkConfig::default(), Pickup::After(Duration::from_millis(200)));
    let big = "x".repeat(5_000);
    for kind in ["RequestSingleStepTransfer", "RequestInitiateTransfer"] {
        w.desk(
            1,
            &format!(
                r#"{{"message":"{kind}","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002","UserData":{{"note":"{big}"}}}}"#
            ),
        );
        w.run_for(Duration::from_secs(3));
    }
    assert_eq!(error_codes(&w, 1), vec!["InvalidRequest", "InvalidRequest"]);
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 0, "1002 never rang");
    assert!(reinvites(&mut w, GW).is_empty(), "the caller was neither moved nor held");
    hang_up_and_check_nothing_is_left(&mut w, &call, 20);
}
