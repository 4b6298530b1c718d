//! Anchoring: RTP both ways through rtpengine, an offer it refuses, rtpengine gone, a
//! late offer.

use std::time::{Duration, Instant};

use super::common::*;
use super::parties::*;

#[test]
pub(crate) fn an_anchored_call_carries_rtp_both_ways_through_rtpengine_and_leaves_nothing_there() {
    if !enabled() {
        return;
    }
    let rtpengine = Rtpengine::start("anchor", (41000, 41499));
    let db = std::env::temp_dir().join(format!("tandem-media-cdr-{}.db", std::process::id()));
    let store = format!("[site.store]\npath = \"{}\"\n", db.display());
    let t = Tandem::start_with("media-anchor", &format!("{}{store}", site_config(rtpengine.ng, "continue")));
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    gw.send(t.udp, &invite(&gw, t.udp, "1200", "anchored1", &gw.sdp()));
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the phone rang");
    let gw_media = gw.rtp.local_addr().expect("addr");
    let toward_gw = media_of(&offered);
    assert_ne!(toward_gw, gw_media, "the phone is offered rtpengine's port, not the gateway's: {offered}");
    answer(&phone, &offered, t.udp);
    let ok = gw.expect("200", Duration::from_secs(5)).expect("the gateway got the answer");
    let toward_phone = media_of(&ok);
    assert_ne!(toward_phone, phone.rtp.local_addr().expect("addr"), "the gateway sees rtpengine's port: {ok}");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "ACK", 1));
    // Each sends 50 packets to what it was shown; rtpengine relays them to the other.
    let phone_heard_early = phone.talk(toward_gw, 50);
    let gw_heard = gw.talk(toward_phone, 50) + gw.listen(Duration::from_millis(300));
    let phone_heard = phone_heard_early + phone.listen(Duration::from_millis(300));
    assert!(gw_heard >= 40, "the gateway heard the phone through rtpengine: {gw_heard} of 50");
    assert!(phone_heard >= 40, "the phone heard the gateway through rtpengine: {phone_heard} of 50");
    assert_eq!(rtpengine.calls(), 1, "one rtpengine call for the call");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    assert!(phone.expect("BYE", Duration::from_secs(5)).is_some(), "the phone was hung up");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rtpengine.calls() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rtpengine.calls(), 0, "the call was deleted at rtpengine");
    // The call's record carries what rtpengine relayed (asked just before the delete).
    let media = last_call_media(&db, Duration::from_secs(5), |m| m.as_array().is_some_and(|a| !a.is_empty()));
    let packets = media[0]["packets"].as_i64().unwrap_or(0);
    assert!(packets >= 80, "the record says rtpengine relayed the call's RTP: {media}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[test]
pub(crate) fn an_offer_rtpengine_refuses_gets_488_and_without_rtpengine_calls_go_on_unanchored() {
    if !enabled() {
        return;
    }
    let mut rtpengine = Rtpengine::start("policy", (41500, 41999));
    let t = Tandem::start_with("media-policy", &site_config(rtpengine.ng, "continue"));
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    let bad = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 nonsense\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    gw.send(t.udp, &invite(&gw, t.udp, "1200", "refused1", bad));
    let refused = gw.expect("SIP/2.0 4", Duration::from_secs(5)).expect("a final answer");
    assert!(refused.starts_with("SIP/2.0 488"), "rtpengine refused the description: {refused}");
    let _ = rtpengine.child.kill();
    let _ = rtpengine.child.wait();
    gw.send(t.udp, &invite(&gw, t.udp, "1200", "unanchored1", &gw.sdp()));
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the phone rang without rtpengine");
    assert_eq!(media_of(&offered), gw.rtp.local_addr().expect("addr"), "the gateway's own description");
    let http = t.http.expect("http");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut metrics = String::new();
    while !metrics.contains("tandem_media_partner_down{site=\"s1\"} 1") && Instant::now() < deadline {
        metrics = http_get(http, "/metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(metrics.contains("tandem_media_partner_down{site=\"s1\"} 1"), "the alarm is up");
}

#[test]
pub(crate) fn a_late_offer_is_anchored_the_callee_offering_and_the_caller_answering_in_its_ack() {
    if !enabled() {
        return;
    }
    let rtpengine = Rtpengine::start("late", (43500, 43999));
    let t = Tandem::start_with("media-late", &site_config(rtpengine.ng, "continue"));
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    gw.send(t.udp, &invite(&gw, t.udp, "1200", "late1", ""));
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the phone rang");
    assert!(!offered.contains("m=audio"), "no offer to pass on: {offered}");
    answer(&phone, &offered, t.udp);
    let ok = gw.expect("200", Duration::from_secs(5)).expect("the gateway got the callee's offer");
    let toward_phone = media_of(&ok);
    assert_ne!(toward_phone, phone.rtp.local_addr().expect("addr"), "rtpengine's port, not the phone's: {ok}");
    let ack = in_dialog(&gw, &ok, t.udp, "ACK", 1).replace("Content-Length: 0\r\n\r\n", "");
    let sdp = gw.sdp();
    gw.send(t.udp, &format!("{ack}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len()));
    let acked = phone.expect("ACK", Duration::from_secs(5)).expect("the phone's 2xx is ACKed with the answer");
    let toward_gw = media_of(&acked);
    assert_ne!(toward_gw, gw.rtp.local_addr().expect("addr"), "rtpengine's port, not the gateway's: {acked}");
    let phone_heard_early = phone.talk(toward_gw, 50);
    let gw_heard = gw.talk(toward_phone, 50) + gw.listen(Duration::from_millis(300));
    let phone_heard = phone_heard_early + phone.listen(Duration::from_millis(300));
    assert!(gw_heard >= 40, "the gateway heard the phone through rtpengine: {gw_heard} of 50");
    assert!(phone_heard >= 40, "the phone heard the gateway through rtpengine: {phone_heard} of 50");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    assert!(phone.expect("BYE", Duration::from_secs(5)).is_some(), "the phone was hung up");
}
