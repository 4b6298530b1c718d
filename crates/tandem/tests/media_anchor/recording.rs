//! Recordings: a WAV file as long as the call, named by its record; a desktop's pause.

use std::time::{Duration, Instant};

use super::common::*;
use super::parties::*;

/// rtpengine capturing recorded sessions as pcap into a directory of its own (with
/// ports `ports`); that directory, and the path of a store in it.
pub(crate) fn recording_rtpengine(
    name: &str,
    ports: (u16, u16),
) -> (std::path::PathBuf, Rtpengine, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tandem-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let args = [format!("--recording-dir={}", dir.display()), "--recording-method=pcap".to_owned()];
    let rtpengine = Rtpengine::start_with(name, ports, &args);
    let db = dir.join("cdr.db");
    (dir, rtpengine, db)
}

#[test]
pub(crate) fn a_recorded_call_leaves_a_wav_file_as_long_as_the_call_and_its_record_names_it() {
    if !enabled() {
        return;
    }
    let (dir, rtpengine, db) = recording_rtpengine("recorded", (42500, 42999));
    let config = format!(
        "{}record = true\nrecordings = \"{}\"\n[site.store]\npath = \"{}\"\n",
        site_config(rtpengine.ng, "continue"),
        dir.display(),
        db.display()
    );
    let t = Tandem::start_with("media-recorded", &config);
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    let (offered, ok) = answered_call(&gw, &phone, t.udp, "recorded1");
    // The gateway talks, then the phone: 100 packets each, 2 s of RTP timestamps (the
    // file's clock within a stream; `talk` waits up to 20 ms after each). The recording
    // runs from the gateway's first packet to the end of the phone's 2 s.
    let started = Instant::now();
    let _ = gw.talk(media_of(&ok), 100);
    let phone_from = started.elapsed().as_secs_f64();
    let _ = phone.talk(media_of(&offered), 100);
    let talked = phone_from + 2.0;
    std::thread::sleep(Duration::from_millis(300));
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    assert!(phone.expect("BYE", Duration::from_secs(5)).is_some());
    let written = |m: &serde_json::Value| m[0]["recording"].as_str().is_some_and(|f| std::path::Path::new(f).exists());
    let media = last_call_media(&db, Duration::from_secs(10), written);
    let file = std::path::PathBuf::from(media[0]["recording"].as_str().expect("the record names the recording"));
    let wav = std::fs::read(&file).expect("the recording was written");
    assert_eq!(&wav[..4], b"RIFF");
    let seconds = (wav.len() - 44) as f64 / 16_000.0;
    assert!((seconds - talked).abs() < 0.3, "as long as the parties talked ({talked:.2} s): {seconds:.2} s");
    let pcaps = std::fs::read_dir(dir.join("pcaps")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(pcaps, 0, "the capture is gone once the WAV file is written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
pub(crate) fn a_desktop_pauses_a_recording_and_the_wav_file_is_silent_over_the_pause() {
    if !enabled() {
        return;
    }
    let (dir, rtpengine, db) = recording_rtpengine("paused", (43000, 43499));
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n\
         [site.media]\nng = [\"{}\"]\nrecordings = \"{}\"\n[site.store]\npath = \"{}\"\n",
        rtpengine.ng,
        dir.display(),
        db.display()
    );
    let t = Tandem::start_with("media-paused", &config);
    let (gw, phone) = (Party::new("gw"), Party::new("1200"));
    register(&phone, t.udp, "1200");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut agent = runtime.block_on(desk(t.cti.expect("cti"), &["1200"]));
    let (_, ok) = answered_call(&gw, &phone, t.udp, "paused1");
    let established =
        runtime.block_on(next_named(&mut agent, "EventEstablished", Duration::from_secs(3))).expect("established");
    let conn = established["ConnID"].as_str().expect("ConnID").to_owned();
    let mut service = |id: u32| {
        let json =
            format!(r#"{{"message":"RequestPrivateService","ServiceID":{id},"ThisDN":"1200","ConnID":"{conn}"}}"#);
        runtime.block_on(send(&mut agent, json));
        let info = runtime.block_on(next_named(&mut agent, "EventPrivateInfo", Duration::from_secs(3)));
        assert_eq!(info.expect("answered")["ServiceID"], id);
        std::thread::sleep(Duration::from_millis(100)); // rtpengine acts on it
    };
    // One second recorded, one paused, one recorded again: one stream, its timestamps
    // running on through the pause (as a gateway's do).
    service(3013);
    let _ = gw.talk_from(media_of(&ok), 0, 50);
    service(3015);
    let _ = gw.talk_from(media_of(&ok), 50, 50);
    service(3016);
    let _ = gw.talk_from(media_of(&ok), 100, 50);
    std::thread::sleep(Duration::from_millis(300));
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 2));
    assert!(phone.expect("BYE", Duration::from_secs(5)).is_some());
    let written = |m: &serde_json::Value| m[0]["recording"].as_str().is_some_and(|f| std::path::Path::new(f).exists());
    let media = last_call_media(&db, Duration::from_secs(10), written);
    let file = std::path::PathBuf::from(media[0]["recording"].as_str().expect("the record names the recording"));
    let wav = std::fs::read(&file).expect("the recording was written");
    let samples: Vec<i16> = wav[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let loud =
        |range: std::ops::Range<usize>| samples.get(range).map_or(0, |s| s.iter().filter(|v| v.abs() > 1000).count());
    assert!(samples.len() >= 23_000, "three seconds of the stream's clock: {} samples", samples.len());
    assert!(loud(500..7_500) > 6_500, "the first second is recorded: {}", loud(500..7_500));
    assert_eq!(loud(8_500..15_500), 0, "the paused second is silence");
    assert!(loud(16_500..23_500) > 6_500, "recorded again after the resume: {}", loud(16_500..23_500));
    let _ = std::fs::remove_dir_all(&dir);
}
