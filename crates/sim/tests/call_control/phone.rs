//! Transfers a phone asks for itself with REFER: blind, and attended with Replaces.

use super::common::*;

#[test]
fn a_phone_s_blind_refer_is_carried_out_by_tandem_and_never_reaches_the_gateway() {
    let (mut w, call, conn) = answered(14, lossy(), Pickup::After(Duration::from_millis(200)));
    let leg = first_incoming(&mut w, PHONE1);
    w.refer(addr(PHONE1), &leg, "<sip:99999@127.0.0.1:5060>");
    w.run_for(Duration::from_secs(5));
    let refer_codes = |w: &mut World| -> Vec<u16> {
        w.ua(addr(PHONE1))
            .events
            .iter()
            .filter_map(|e| if let UaEvent::ReferAnswered { code, .. } = e { Some(*code) } else { None })
            .collect()
    };
    assert_eq!(refer_codes(&mut w), vec![403], "a target outside the DN plan is refused");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 0, "and the call is untouched");
    w.refer(addr(PHONE1), &leg, "<sip:1002@127.0.0.1:5060>");
    w.run_for(Duration::from_secs(10));
    assert_eq!(refer_codes(&mut w), vec![403, 202]);
    let notified = w
        .ua(addr(PHONE1))
        .events
        .iter()
        .any(|e| matches!(e, UaEvent::Notified { body, .. } if body == "SIP/2.0 200 OK"));
    assert!(notified, "the final NOTIFY says the transfer is done");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 1);
    assert_eq!(reinvites(&mut w, GW), vec!["sendrecv"], "the gateway only hears the new phone");
    assert_eq!(count(&mut w, GW, |e| matches!(e, UaEvent::Notified { .. })), 0, "no REFER or NOTIFY leaks to it");
    let ringing = events_named(&w, 2, "EventRinging");
    assert_eq!(
        (ringing[0]["ConnID"].as_str(), ringing[0]["ThirdPartyDN"].as_str()),
        (Some(conn.as_str()), Some("1001"))
    );
    assert_eq!(events_named(&w, 1, "EventReleased").len(), 1, "1001's desktop sees the same as for its own request");
    hang_up_and_check_nothing_is_left(&mut w, &call, 14);
}

#[test]
fn a_phone_s_attended_transfer_with_replaces_joins_the_held_caller_to_its_consulted_party() {
    let (mut w, call, conn) = answered(15, LinkConfig::default(), Pickup::After(Duration::from_millis(200)));
    let leg = first_incoming(&mut w, PHONE1);
    w.phone_hold(addr(PHONE1), &leg, true);
    let consult = w.call(addr(PHONE1), "1002");
    w.run_for(Duration::from_secs(5));
    let consult_conn = events_named(&w, 2, "EventEstablished")[0]["ConnID"].as_str().expect("answered").to_owned();
    let (ours, theirs) = w.ua(addr(PHONE1)).tags(&consult).expect("the consultation's tags");
    w.refer(addr(PHONE1), &leg, "<sip:1002@127.0.0.1:5060?Replaces=nosuchcall%3Bto-tag%3Dx%3Bfrom-tag%3Dy>");
    w.run_for(Duration::from_secs(2));
    let refer_to = format!("<sip:1002@127.0.0.1:5060?Replaces={consult}%3Bto-tag%3D{theirs}%3Bfrom-tag%3D{ours}>");
    w.refer(addr(PHONE1), &leg, &refer_to);
    w.run_for(Duration::from_secs(10));
    let codes: Vec<u16> = w
        .ua(addr(PHONE1))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::ReferAnswered { code, .. } = e { Some(*code) } else { None })
        .collect();
    assert_eq!(codes, vec![481, 202], "an unknown Replaces gets 481");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 2, "1001 leaves both calls");
    assert_eq!(reinvites(&mut w, GW), vec!["sendonly", "sendrecv"], "held by the phone, then joined to 1002");
    assert_eq!(reinvites(&mut w, PHONE2), vec!["sendrecv"], "1002 gets the caller's media");
    let changed = events_named(&w, 2, "EventPartyChanged");
    assert_eq!(changed[0]["ConnID"].as_str(), Some(conn.as_str()));
    assert_eq!(changed[0]["PreviousConnID"].as_str(), Some(consult_conn.as_str()));
    hang_up_and_check_nothing_is_left(&mut w, &call, 15);
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::ByeReceived { .. })), 1);
}

#[test]
fn a_refer_from_another_address_than_the_dialog_s_phone_is_refused() {
    let (mut w, call, _) = answered(19, LinkConfig::default(), Pickup::After(Duration::from_millis(200)));
    let leg = first_incoming(&mut w, PHONE1);
    let (ours, theirs) = w.ua(addr(PHONE1)).tags(&leg).expect("the phone's dialog");
    // Someone who learned the dialog's Call-ID and tags, sending from elsewhere.
    let forged = format!(
        "REFER sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKforged1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag={ours}\r\nTo: <sip:gw@127.0.0.1>;tag={theirs}\r\n\
         Call-ID: {leg}\r\nCSeq: 90 REFER\r\nRefer-To: <sip:1002@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n"
    );
    w.spoof(addr("127.0.0.9:5060"), forged.as_bytes());
    w.run_for(Duration::from_secs(5));
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 0, "1002 never rang");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 0, "1001 is still on the call");
    assert!(reinvites(&mut w, GW).is_empty(), "the caller was not moved");
    assert!(events_named(&w, 1, "EventReleased").is_empty());
    // The same REFER from the phone itself is carried out.
    w.refer(addr(PHONE1), &leg, "<sip:1002@127.0.0.1:5060>");
    w.run_for(Duration::from_secs(10));
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 1);
    hang_up_and_check_nothing_is_left(&mut w, &call, 19);
}
