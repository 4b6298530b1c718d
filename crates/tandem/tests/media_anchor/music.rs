//! Queue music for a waiting caller, hold music for a held one (by a desktop or by the
//! agent's own phone).

use std::time::{Duration, Instant};

use super::common::*;
use super::parties::*;

/// A 3 s, 440 Hz tone as an 8 kHz, 16-bit mono WAV file.
pub(crate) fn tone_wav(path: &std::path::Path) {
    let samples: Vec<i16> =
        (0..24_000).map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (1 << 16), 8000, 16_000, 2 | (16 << 16)] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).expect("wav");
}

/// The router on 5000 sends the waiting call to 1200 (`phone`), which answers: the
/// call's ConnID and the INVITE the phone got.
async fn route_to(router: &mut Ws, phone: &Party, site: std::net::SocketAddr) -> (String, String) {
    let request = next_named(router, "EventRouteRequest", Duration::from_secs(3)).await.expect("routed");
    let conn = request["ConnID"].as_str().expect("ConnID").to_owned();
    let route = format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1200"}}"#);
    send(router, route).await;
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the agent rang");
    answer(phone, &offered, site);
    (conn, offered)
}

/// A site with Routing Point 5000 and a CTI server, anchored at a new rtpengine (`name`,
/// `ports`) whose sounds directory holds `music.wav`; `media` adds `[site.media]` keys.
/// The rtpengine, the sounds directory (removed by the caller) and the site.
fn music_site(name: &str, ports: (u16, u16), media: &str) -> (Rtpengine, std::path::PathBuf, Tandem) {
    let rtpengine = Rtpengine::start(name, ports);
    let sounds = std::env::temp_dir().join(format!("tandem-{name}-sounds-{}", std::process::id()));
    std::fs::create_dir_all(&sounds).expect("dir");
    tone_wav(&sounds.join("music.wav"));
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n\
         [[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n\
         [site.media]\nng = [\"{}\"]\nsounds = \"{}\"\nqueue_music = \"music.wav\"\n{media}",
        rtpengine.ng,
        sounds.display()
    );
    let t = Tandem::start_with(&format!("media-{name}"), &config);
    (rtpengine, sounds, t)
}

#[test]
pub(crate) fn a_waiting_caller_hears_queue_music_and_a_held_caller_hears_hold_music_through_rtpengine() {
    if !enabled() {
        return;
    }
    let (rtpengine, sounds, t) = music_site("music", (42000, 42499), "hold_music = \"music.wav\"\n");
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cti = t.cti.expect("cti");
    let mut router = runtime.block_on(desk(cti, &["5000"]));
    let mut agent = runtime.block_on(desk(cti, &["1200"]));
    gw.send(t.udp, &invite(&gw, t.udp, "5000", "music1", &gw.sdp()));
    let early = gw.expect("183", Duration::from_secs(5)).expect("early media");
    let toward_queue = media_of(&early);
    // The gateway sends (as a gateway would) so that rtpengine learns where it is.
    let music = gw.talk(toward_queue, 50) + gw.listen(Duration::from_millis(500));
    assert!(music >= 30, "the waiting caller heard the queue music: {music} packets in 1.5 s");
    let (conn, offered) = runtime.block_on(route_to(&mut router, &phone, t.udp));
    let ok = gw.expect("200", Duration::from_secs(5)).expect("answered");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "ACK", 1));
    let toward_agent = media_of(&ok);
    let _ = phone.talk(media_of(&offered), 50);
    let heard = gw.heard_ssrcs(Duration::from_millis(400));
    let from_agent = heard.iter().filter(|s| **s == phone.ssrc()).count();
    assert!(from_agent >= 30, "the caller hears the agent after the answer: {from_agent} of {}", heard.len());
    let _ = gw.talk(toward_agent, 10);
    let hold = format!(r#"{{"message":"RequestHoldCall","ThisDN":"1200","ConnID":"{conn}"}}"#);
    runtime.block_on(send(&mut agent, hold));
    runtime.block_on(next_named(&mut agent, "EventHeld", Duration::from_secs(3))).expect("held");
    let _ = gw.answer_reinvite(t.udp, Duration::from_secs(2));
    let _ = phone.answer_reinvite(t.udp, Duration::from_secs(2));
    let _ = gw.heard_ssrcs(Duration::from_millis(100)); // what arrived before the hold
    let _ = phone.talk(media_of(&offered), 50); // the agent still talks: blocked
    let held = gw.heard_ssrcs(Duration::from_millis(500));
    let (from_agent, music) = (held.iter().filter(|s| **s == phone.ssrc()).count(), held.len());
    assert!(music >= 30 && from_agent == 0, "the held caller hears music ({music}) and not the agent ({from_agent})");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    let deadline = Instant::now() + Duration::from_secs(5);
    while rtpengine.calls() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rtpengine.calls(), 0, "nothing left at rtpengine");
    let _ = std::fs::remove_dir_all(&sounds);
}

#[test]
pub(crate) fn a_caller_held_by_the_agents_own_phone_hears_hold_music_through_rtpengine() {
    if !enabled() {
        return;
    }
    let rtpengine = Rtpengine::start("phonehold", (44000, 44499));
    let sounds = std::env::temp_dir().join(format!("tandem-phonehold-{}", std::process::id()));
    std::fs::create_dir_all(&sounds).expect("dir");
    tone_wav(&sounds.join("music.wav"));
    let config = format!(
        "{}sounds = \"{}\"\nhold_music = \"music.wav\"\n",
        site_config(rtpengine.ng, "continue"),
        sounds.display()
    );
    let t = Tandem::start_with("media-phonehold", &config);
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    let (offered, ok) = answered_call(&gw, &phone, t.udp, "phonehold1");
    let _ = gw.talk(media_of(&ok), 10);
    // The phone holds: a re-INVITE in its dialog, offering sendonly (RFC 3264 section 8.4).
    let me = phone.sip_addr();
    let sdp = phone.sdp().replace(" 1 1 IN", " 1 2 IN").replace("a=sendrecv", "").trim_end().to_owned()
        + "\r\na=sendonly\r\n";
    let to = header(&offered, "To");
    let to = if to.contains("tag=") { to.to_owned() } else { format!("{to};tag=p1") };
    phone.send(
        t.udp,
        &format!(
            "INVITE sip:tandem@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKhold1\r\nFrom: {to}\r\nTo: {}\r\n\
Call-ID: {}\r\nCSeq: 2 INVITE\r\nContact: <sip:1200@{me}>\r\nMax-Forwards: 70\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            t.udp,
            header(&offered, "From"),
            header(&offered, "Call-ID"),
            sdp.len()
        ),
    );
    let _ = gw.answer_reinvite(t.udp, Duration::from_secs(3)).expect("the hold reaches the gateway");
    assert!(phone.expect("200", Duration::from_secs(3)).is_some(), "the phone's hold was answered");
    let _ = gw.heard_ssrcs(Duration::from_millis(100));
    let _ = phone.talk(media_of(&offered), 30); // the phone still sends: blocked
    let held = gw.heard_ssrcs(Duration::from_millis(500));
    let (from_phone, music) = (held.iter().filter(|s| **s == phone.ssrc()).count(), held.len());
    assert!(music >= 30 && from_phone == 0, "the held caller hears music ({music}) and not the phone ({from_phone})");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    let _ = std::fs::remove_dir_all(&sounds);
}

/// `answer_waiting`: the waiting caller gets 200 with rtpengine's description and hears
/// the music in an answered call; the agent then reaches it in a re-INVITE.
#[test]
pub(crate) fn a_caller_answered_for_its_music_hears_it_then_the_agent_after_a_re_invite() {
    if !enabled() {
        return;
    }
    let (rtpengine, sounds, t) = music_site("answered", (44500, 44999), "answer_waiting = true\n");
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut router = runtime.block_on(desk(t.cti.expect("cti"), &["5000"]));
    gw.send(t.udp, &invite(&gw, t.udp, "5000", "answered1", &gw.sdp()));
    let ok = gw.expect("200", Duration::from_secs(5)).expect("answered for the music");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "ACK", 1));
    let toward_site = media_of(&ok);
    let music = gw.talk(toward_site, 50) + gw.listen(Duration::from_millis(500));
    assert!(music >= 30, "the answered caller hears the queue music: {music} packets in 1.5 s");

    let (_, offered) = runtime.block_on(route_to(&mut router, &phone, t.udp));
    let reinvite = gw.answer_reinvite(t.udp, Duration::from_secs(5)).expect("the agent reaches the caller");
    // rtpengine 10.5 gives the caller's side a new port when the agent's answer replaces
    // the sink's (measured): the re-INVITE is what moves the caller's media there.
    let toward_agent = media_of(&reinvite);
    assert!((44500..45000).contains(&toward_agent.port()), "the re-INVITE names rtpengine: {toward_agent}");
    let _ = gw.talk(toward_agent, 10);
    let _ = phone.talk(media_of(&offered), 50);
    let heard = gw.heard_ssrcs(Duration::from_millis(400));
    let from_agent = heard.iter().filter(|s| **s == phone.ssrc()).count();
    assert!(from_agent >= 30, "the caller hears the agent: {from_agent} of {}", heard.len());

    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    assert!(phone.expect("BYE", Duration::from_secs(3)).is_some(), "the agent is hung up");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rtpengine.calls() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rtpengine.calls(), 0, "nothing left at rtpengine");
    let _ = std::fs::remove_dir_all(&sounds);
}
