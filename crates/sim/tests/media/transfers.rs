//! A transfer's new pair gets a session of its own; recording follows each pair.

use super::common::*;

/// [`world`] with phone 1002 (answers after 300 ms) and desk 2 on it, and a gateway call
/// to 1001 answered; returns the world, the gateway's call and the call's ConnID.
fn answered_with_two_phones(seed: u64) -> (World, String, String) {
    let mut w = world(seed, LinkConfig::default(), answering(2), MediaFailure::Continue);
    w.add(Ua::new("1002", addr(PHONE2), Pickup::After(Duration::from_millis(300))));
    w.register(addr(PHONE2));
    w.desk(2, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#);
    w.run_for(Duration::from_secs(5));
    let call = w.call(addr(GW), "1001");
    w.run_for(Duration::from_secs(10));
    let conn = established(&w);
    (w, call, conn)
}

fn sessions(w: &mut World, kind: &str) -> Vec<String> {
    w.partner(addr(SITE))
        .commands
        .iter()
        .filter_map(|c| match (&c.op, kind) {
            (MediaOp::Offer { session, .. }, "offer")
            | (MediaOp::Answer { session, .. }, "answer")
            | (MediaOp::Delete { session }, "delete") => Some(session.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_single_step_transfer_pairs_the_caller_with_the_new_agent_in_a_new_session() {
    let (mut w, call, conn) = answered_with_two_phones(11);
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(10));
    let to_phone2 = descriptions_to(&w, PHONE2);
    assert!(all_anchored(&to_phone2), "the new agent sees only the partner: {to_phone2:?}");
    let to_gateway = descriptions_to(&w, GW);
    assert_eq!(to_gateway.len(), 2, "the answer, then the re-INVITE with the new agent");
    assert!(all_anchored(&to_gateway), "{to_gateway:?}");
    let offers = sessions(&mut w, "offer");
    assert_eq!(offers.len(), 2);
    assert_ne!(offers[0], offers[1], "the new pair has a session of its own");
    assert_eq!(sessions(&mut w, "delete"), vec![offers[0].clone()], "the first pair's session is gone");
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(sessions(&mut w, "delete"), offers, "both deleted, each once");
    assert_eq!(w.partner(addr(SITE)).live_sessions(), 0);
}

#[test]
fn a_completed_consultation_pairs_the_held_caller_with_the_consulted_agent_in_a_new_session() {
    let (mut w, call, conn) = answered_with_two_phones(12);
    let initiate = format!(
        r#"{{"message":"RequestInitiateTransfer","ReferenceID":4,"ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#
    );
    w.desk(1, &initiate);
    w.run_for(Duration::from_secs(10));
    let consult = w
        .desk_events(1)
        .iter()
        .find_map(|e| match serde_json::to_value(e).expect("json") {
            v if v["message"] == "EventDialing" => v["ConnID"].as_str().map(str::to_owned),
            _ => None,
        })
        .expect("the consultation was dialled");
    w.desk(
        1,
        &format!(
            r#"{{"message":"RequestCompleteTransfer","ThisDN":"1001","ConnID":"{conn}","TransferConnID":"{consult}"}}"#
        ),
    );
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.site().active_calls(), 1, "one call: the gateway with 1002");
    let to_gateway = descriptions_to(&w, GW);
    let to_phone2 = descriptions_to(&w, PHONE2);
    assert!(all_anchored(&to_gateway) && all_anchored(&to_phone2), "{to_gateway:?} {to_phone2:?}");
    let offers = sessions(&mut w, "offer");
    assert_eq!(offers.len(), 3, "the call, the consultation, the new pair: {offers:?}");
    assert_eq!(offers[0].split('.').next(), offers[2].split('.').next(), "the new pair is the held call's");
    let last = offers.last().cloned().expect("offers");
    assert!(!sessions(&mut w, "delete").contains(&last), "the new pair's session stays");
    assert_eq!(w.partner(addr(SITE)).live_sessions(), 1, "only the new pair's session is left: {offers:?}");
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.partner(addr(SITE)).live_sessions(), 0);
}

#[test]
fn a_site_that_records_starts_at_the_answer_and_each_new_pair_is_recorded_too() {
    let (mut w, call, conn) = {
        let mut c = config(MediaFailure::Continue);
        c.media.as_mut().expect("media").record = true;
        let mut w = World::new(41, c, LinkConfig::default());
        w.add_media_partner(addr(SITE), answering(2));
        w.add(Ua::new("gw", addr(GW), Pickup::Never));
        w.add(Ua::new("1001", addr(PHONE), Pickup::After(Duration::from_millis(200))));
        w.add(Ua::new("1002", addr(PHONE2), Pickup::After(Duration::from_millis(200))));
        w.register(addr(PHONE));
        w.register(addr(PHONE2));
        w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
        w.run_for(Duration::from_secs(5));
        let call = w.call(addr(GW), "1001");
        w.run_for(Duration::from_secs(5));
        let conn = established(&w);
        (w, call, conn)
    };
    assert_eq!(w.partner(addr(SITE)).kinds(), ["offer", "answer", "record"], "recording starts at the answer");
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(5));
    w.hang_up(addr(GW), &call);
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.partner(addr(SITE)).count("record"), 2, "the transfer's new pair is recorded too");
    let recorded: Vec<bool> = w.records[&addr(SITE)]
        .iter()
        .filter_map(|r| if let Record::Media(m) = r { Some(m.recorded) } else { None })
        .collect();
    assert_eq!(recorded, [true, true], "both sessions' figures say they were recorded");
}
