//! The stat service's interval.

use super::*;

#[test]
#[allow(clippy::disallowed_methods)]
fn counters_start_again_when_the_interval_ends() {
    let t0 = Instant::now();
    let file: crate::RoutingFile = serde_json::from_value(json!({
        "point": [{"dn": "5000"}], "stats-interval": 60
    }))
    .expect("config");
    let mut s = StatService::new(t0, file.compile().expect("valid"), vec!["s1".into()], Vec::new());
    let request = Event::EventRouteRequest {
        this_dn: "5000".into(),
        this_queue: "5000".into(),
        other_dn: "gw".into(),
        conn_id: "c1".into(),
        call_type: cti::CallType::Inbound,
        server: "s1".into(),
    };
    s.on_event(t0, 0, &request);
    assert_eq!(s.point("5000").map(|c| c.offered), Some(1));
    assert!(s.tick(t0 + Duration::from_secs(59)).is_empty());
    assert_eq!(s.tick(t0 + Duration::from_secs(60)), vec!["rp/5000".to_owned()]);
    assert_eq!(s.point("5000").map(|c| c.offered), Some(0));
    assert_eq!(s.value(t0 + Duration::from_secs(61), "rp/5000").expect("rp")["calls_waiting"], 1, "still waiting");
}
