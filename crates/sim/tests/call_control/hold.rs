//! Hold and retrieve: from the desktop (re-INVITEs to both legs) and from the phone, and a
//! re-INVITE no one answers.

use super::common::*;

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
