//! UserData during the call, refused requests that leave the call as it was, and what
//! the stat service counts.

use super::common::*;

#[test]
fn user_data_changes_during_the_call_reach_the_desktop() {
    let (mut w, call, conn) = answered(8, LinkConfig::default(), Pickup::Never);
    let request = |name: &str, extra: &str| {
        format!(r#"{{"message":"{name}","ReferenceID":1,"ThisDN":"1001","ConnID":"{conn}"{extra}}}"#)
    };
    w.desk(1, &request("RequestAttachUserData", r#","UserData":{"a":1,"b":2}"#));
    w.desk(1, &request("RequestAttachUserData", r#","UserData":{"a":9}"#)); // attach keeps a
    w.desk(1, &request("RequestUpdateUserData", r#","UserData":{"b":3,"c":4}"#));
    w.desk(1, &request("RequestDeleteUserData", r#","Key":"c""#));
    w.run_for(Duration::from_secs(1));
    let changes = events_named(&w, 1, "EventAttachedDataChanged");
    let data: Vec<String> = changes.iter().map(|v| v["UserData"].to_string()).collect();
    assert_eq!(data, vec![r#"{"a":1,"b":2}"#, r#"{"a":1,"b":2}"#, r#"{"a":1,"b":3,"c":4}"#, r#"{"a":1,"b":3}"#]);
    assert_eq!(changes[0]["ThirdPartyDN"].as_str(), Some("1001"));
    let big = format!(r#","UserData":{{"x":"{}"}}"#, "y".repeat(5_000));
    w.desk(1, &request("RequestUpdateUserData", &big));
    w.desk(1, &request("RequestDeleteAllUserData", ""));
    w.run_for(Duration::from_secs(1));
    assert_eq!(error_codes(&w, 1), vec!["InvalidRequest"], "UserData over 4,096 bytes is refused");
    let last = events_named(&w, 1, "EventAttachedDataChanged").last().cloned().expect("an event");
    assert_eq!(last["UserData"].to_string(), "{}");
    hang_up_and_check_nothing_is_left(&mut w, &call, 8);
}

#[test]
fn refused_call_control_requests_leave_the_call_as_it_was() {
    let (mut w, call, conn) = answered(9, LinkConfig::default(), Pickup::After(Duration::from_millis(100)));
    w.desk(3, r#"{"message":"RequestRegisterAddress","ThisDN":"1003"}"#);
    let transfer = |dn: &str, conn: &str, to: &str, extra: &str| {
        format!(
            r#"{{"message":"RequestSingleStepTransfer","ThisDN":"{dn}","ConnID":"{conn}","OtherDN":"{to}"{extra}}}"#
        )
    };
    w.desk(1, &transfer("1001", "00000000000000ff", "1002", "")); // no such call
    w.desk(1, &transfer("1001", &conn, "99999", "")); // no DN, no trunk
    w.desk(1, &transfer("1001", &conn, "1001", "")); // to itself
    w.desk(1, &transfer("1001", &conn, "1003", "")); // no phone registered
    w.desk(1, &transfer("1001", &conn, "1002", r#","Location":"nowhere""#)); // no such peer
    w.desk(1, &transfer("1001", &conn, &"9".repeat(200), "")); // too long
    w.desk(3, &transfer("1003", &conn, "1002", "")); // not a party of the call
    w.desk(1, r#"{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"zz"}"#); // no ConnID
    w.desk(1, &format!(r#"{{"message":"RequestRetrieveCall","ThisDN":"1001","ConnID":"{conn}"}}"#)); // not held
    w.run_for(Duration::from_secs(10));
    let expected = [
        "NoSuchCall",
        "UnknownDN",
        "InvalidRequest",
        "InvalidState",
        "InvalidState",
        "InvalidRequest",
        "NoSuchCall",
        "NoSuchCall",
        "InvalidState",
    ];
    let mut codes = error_codes(&w, 1);
    codes.extend(error_codes(&w, 3));
    codes.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(codes, expected);
    let texts: Vec<String> =
        events_named(&w, 1, "EventError").iter().map(|v| v["ErrorMessage"].as_str().unwrap_or("").to_owned()).collect();
    assert!(texts.iter().any(|t| t.contains("no registered phone")), "{texts:?}");
    assert!(reinvites(&mut w, GW).is_empty() && reinvites(&mut w, PHONE1).is_empty(), "nothing was re-INVITEd");
    assert_eq!(count(&mut w, PHONE1, |e| matches!(e, UaEvent::ByeReceived { .. })), 0, "1001 is still on the call");
    assert_eq!(count(&mut w, PHONE2, |e| matches!(e, UaEvent::Incoming { .. })), 0);
    assert!(events_named(&w, 1, "EventReleased").is_empty());
    hang_up_and_check_nothing_is_left(&mut w, &call, 9);
}

#[test]
fn the_stat_service_counts_holds_transfers_and_calls_held() {
    let (mut w, call, conn) = answered(18, LinkConfig::default(), Pickup::After(Duration::from_millis(100)));
    let file: routing::RoutingFile =
        serde_json::from_value(serde_json::json!({"point": [{"dn": "5000"}]})).expect("config");
    let service = routing::stats::StatService::new(
        w.now,
        file.compile().expect("valid"),
        vec!["test".into()],
        vec!["1001".into(), "1002".into()],
    );
    w.add_client(9, Box::new(sim::StatClient { service, changed: Vec::new() }));
    for (desk, dn) in [(1, "1001"), (2, "1002")] {
        w.desk(desk, &format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"A{dn}"}}"#));
    }
    w.run_for(Duration::from_secs(1));
    let value = |w: &World, name: &str| {
        let client = w.client(9).and_then(|c| c.as_any().downcast_ref::<sim::StatClient>()).expect("stat client");
        client.service.value(w.now, name).expect(name)
    };
    w.desk(1, &format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(2));
    assert_eq!(value(&w, "total")["calls_held"], 1);
    assert_eq!(
        (value(&w, "agent/A1001")["holds"].as_u64(), value(&w, "agent/A1001")["calls_held"].as_u64()),
        (Some(1), Some(1))
    );
    w.desk(1, &format!(r#"{{"message":"RequestRetrieveCall","ThisDN":"1001","ConnID":"{conn}"}}"#));
    w.run_for(Duration::from_secs(2));
    assert_eq!(value(&w, "total")["calls_held"], 0);
    w.desk(
        1,
        &format!(r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#),
    );
    w.run_for(Duration::from_secs(3));
    assert_eq!(value(&w, "agent/A1001")["transfers"].as_u64(), Some(1));
    assert_eq!(value(&w, "agent/A1002")["transfers"].as_u64(), Some(0));
    hang_up_and_check_nothing_is_left(&mut w, &call, 18);
}
