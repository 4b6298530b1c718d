//! Two-step transfers: consultation, completion before or after the answer, alternate and
//! reconnect.

use super::common::*;

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
    assert!(text.contains("conference mixer"), "{text}");
    hang_up_and_check_nothing_is_left(&mut w, &call, 13);
}

#[test]
fn a_consultation_to_a_routing_point_waits_for_its_router_and_completes_once_routed() {
    let (mut w, call, conn) = answered(21, LinkConfig::default(), Pickup::After(Duration::from_millis(200)));
    w.desk(9, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    w.run_for(Duration::from_secs(1));
    let initiate =
        format!(r#"{{"message":"RequestInitiateTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"5000"}}"#);
    w.desk(1, &initiate);
    w.run_for(Duration::from_secs(2));
    let asked = events_named(&w, 9, "EventRouteRequest");
    assert_eq!(asked.len(), 1, "the router hears of the consultation waiting on 5000");
    assert_eq!((asked[0]["CallType"].as_str(), asked[0]["OtherDN"].as_str()), (Some("Consult"), Some("1001")));
    let consult_conn = asked[0]["ConnID"].as_str().expect("a ConnID").to_owned();
    assert_ne!(consult_conn, conn);
    // Not ringing anyone yet: completing is refused and changes nothing.
    w.desk(1, &pair_request("RequestCompleteTransfer", &conn, &consult_conn));
    w.run_for(Duration::from_secs(1));
    assert_eq!(error_codes(&w, 1), vec!["InvalidState"]);
    let route =
        format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{consult_conn}","OtherDN":"1002"}}"#);
    w.desk(9, &route);
    w.run_for(Duration::from_secs(3));
    assert_eq!(events_named(&w, 2, "EventEstablished").len(), 1, "1002 answered the routed consultation");
    w.desk(1, &pair_request("RequestCompleteTransfer", &conn, &consult_conn));
    w.run_for(Duration::from_secs(10));
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "the caller hears 1002");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 2, "1001 left both");
    let changed = events_named(&w, 2, "EventPartyChanged");
    assert_eq!(changed[0]["ConnID"].as_str(), Some(conn.as_str()), "the held call's ConnID survives");
    hang_up_and_check_nothing_is_left(&mut w, &call, 21);
}
