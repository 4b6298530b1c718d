//! Issue 24 against the real binary and a real rtpengine (user space, `--table=-1`) on
//! loopback: a gateway calls a phone through a site with `[site.media]`; each party sees
//! only rtpengine's ports in the other's description, and RTP sent to them arrives at the
//! other party both ways; at the end rtpengine holds no call. An offer rtpengine cannot
//! take gets 488; with rtpengine gone a new call goes on unanchored and the alarm is up.
//!
//! The two parties are small SIP user agents written here (UDP sockets), so that the
//! test sees every byte of the descriptions and counts the RTP at each media port.
//! Runs when TANDEM_REAL_PEERS=1 (and needs `rtpengine`, Debian's rtpengine-daemon).

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

static NEXT_COOKIE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// rtpengine in user space on loopback, stopped by PID.
struct Rtpengine {
    child: Child,
    ng: SocketAddr,
}

impl Rtpengine {
    /// Starts it with media ports `ports` (tests running at once use their own).
    fn start(name: &str, ports: (u16, u16)) -> Self {
        Self::start_with(name, ports, &[])
    }

    /// ... with more arguments (`--recording-dir=...`).
    fn start_with(name: &str, ports: (u16, u16), extra: &[String]) -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-rtpengine-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ng: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().expect("addr");
        let log = std::fs::File::create(dir.join("rtpengine.log")).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        let child = Command::new("rtpengine")
            // Not the system's /etc/rtpengine/rtpengine.conf (its fixed HTTP and CLI ports).
            .args(["--config-file=none", "--interface=127.0.0.1", "--foreground", "--table=-1", "--log-stderr"])
            .arg(format!("--listen-ng={ng}"))
            .arg(format!("--port-min={}", ports.0))
            .arg(format!("--port-max={}", ports.1))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("rtpengine is installed (apt-get install rtpengine-daemon)");
        let r = Self { child, ng };
        assert!(r.ng_call("d7:command4:pinge", Duration::from_secs(10)).contains("pong"), "rtpengine answers ping");
        r
    }

    /// Sends one ng command (a bencode dictionary) and returns the answer's text.
    fn ng_call(&self, dict: &str, within: Duration) -> String {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("socket");
        socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 65_536];
        while Instant::now() < deadline {
            // A fresh cookie each time: rtpengine answers a repeated one from its cache.
            let cookie = NEXT_COOKIE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = socket.send_to(format!("t{cookie} {dict}").as_bytes(), self.ng);
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                return String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
        String::new()
    }

    /// How many calls rtpengine holds (its `list` command).
    fn calls(&self) -> usize {
        let answer = self.ng_call("d7:command4:liste", Duration::from_secs(2));
        // "tN d5:callsl<call-id>...e6:result2:oke": count the list's strings.
        let Some(list) = answer.split("5:callsl").nth(1) else { return 0 };
        let mut rest = list;
        let mut n = 0;
        while let Some((len, tail)) = rest.split_once(':') {
            let Ok(len) = len.parse::<usize>() else { break };
            n += 1;
            rest = tail.get(len..).unwrap_or("");
        }
        n
    }
}

impl Drop for Rtpengine {
    fn drop(&mut self) {
        let _ = self.child.kill(); // by PID, never by name
        let _ = self.child.wait();
    }
}

/// A SIP party: its signalling socket and its media socket.
struct Party {
    sip: UdpSocket,
    rtp: UdpSocket,
    user: &'static str,
}

impl Party {
    fn new(user: &'static str) -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("sip socket");
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp socket");
        sip.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        rtp.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
        Self { sip, rtp, user }
    }

    fn sip_addr(&self) -> SocketAddr {
        self.sip.local_addr().expect("addr")
    }

    fn sdp(&self) -> String {
        let port = self.rtp.local_addr().expect("addr").port();
        format!("v=0\r\no={} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", self.user)
    }

    fn send(&self, to: SocketAddr, text: &str) {
        self.sip.send_to(text.as_bytes(), to).expect("send");
    }

    /// The next SIP message whose first line contains `start`, within `wait`.
    fn expect(&self, start: &str, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 65_536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sip.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.lines().next().is_some_and(|l| l.contains(start)) {
                    return Some(text);
                }
            }
        }
        None
    }

    /// Sends `count` RTP packets (PCMU, 20 ms apart) to `to`, draining what arrives at
    /// its own media port meanwhile; returns how many arrived.
    fn talk(&self, to: SocketAddr, count: u16) -> usize {
        self.talk_from(to, 0, count)
    }

    /// [`Party::talk`] going on from packet `first` of one stream (its sequence numbers
    /// and timestamps continue); the audio is loud (u-law 0x80), not silence.
    fn talk_from(&self, to: SocketAddr, first: u16, count: u16) -> usize {
        let mut got = 0;
        let mut buf = [0u8; 2048];
        for seq in first..first + count {
            let mut packet = vec![0x80, 0x00];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            packet.extend_from_slice(&self.ssrc().to_be_bytes());
            packet.extend_from_slice(&[0x80; 160]);
            let _ = self.rtp.send_to(&packet, to);
            while self.rtp.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        got
    }

    /// The SSRC of what it sends (its media port: unlike any other party's).
    fn ssrc(&self) -> u32 {
        0x5a00_0000 | u32::from(self.rtp.local_addr().expect("addr").port())
    }

    /// The SSRC of every RTP packet arriving at its media port within `wait`.
    fn heard_ssrcs(&self, wait: Duration) -> Vec<u32> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        let mut ssrcs = Vec::new();
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.rtp.recv_from(&mut buf) {
                if n >= 12 {
                    ssrcs.push(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
                }
            }
        }
        ssrcs
    }

    /// Answers the next re-INVITE it gets (within `wait`) with 200 and its description.
    fn answer_reinvite(&self, site: SocketAddr, wait: Duration) -> Option<String> {
        let got = self.expect("INVITE", wait)?;
        answer(self, &got, site);
        Some(got)
    }

    /// What arrives at its media port within `wait`.
    fn listen(&self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        let mut got = 0;
        while Instant::now() < deadline {
            if self.rtp.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        got
    }
}

/// The media address a description names.
fn media_of(message: &str) -> SocketAddr {
    let body = message.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).expect("a c= line").trim();
    let port =
        body.lines().find_map(|l| l.strip_prefix("m=audio ")).and_then(|m| m.split(' ').next()).expect("an m= line");
    format!("{ip}:{port}").parse().expect("a media address")
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
        .unwrap_or("")
}

fn register(phone: &Party, site: SocketAddr, dn: &str) {
    let me = phone.sip_addr();
    phone.send(
        site,
        &format!(
            "REGISTER sip:{site} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg{dn}\r\nFrom: <sip:{dn}@{site}>;tag=r{dn}\r\n\
To: <sip:{dn}@{site}>\r\nCall-ID: reg-{dn}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{dn}@{me}>\r\nExpires: 300\r\n\
Content-Length: 0\r\n\r\n"
        ),
    );
    assert!(phone.expect("200", Duration::from_secs(5)).is_some(), "the phone registered");
}

fn invite(gw: &Party, site: SocketAddr, dn: &str, call: &str, sdp: &str) -> String {
    let me = gw.sip_addr();
    format!(
        "INVITE sip:{dn}@{site} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call}\r\nFrom: <sip:gw@{me}>;tag=g{call}\r\n\
To: <sip:{dn}@{site}>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@{me}>\r\nMax-Forwards: 70\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The phone answers the INVITE it got with 200 and its description.
fn answer(phone: &Party, got: &str, site: SocketAddr) {
    let me = phone.sip_addr();
    let sdp = phone.sdp();
    let vias: Vec<&str> = got.lines().filter(|l| l.to_ascii_lowercase().starts_with("via:")).collect();
    let to = header(got, "To");
    let to = if to.contains("tag=") { to.to_owned() } else { format!("{to};tag=p1") };
    phone.send(
        site,
        &format!(
            "SIP/2.0 200 OK\r\n{}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{}@{me}>\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            vias.join("\r\n"),
            header(got, "From"),
            header(got, "Call-ID"),
            header(got, "CSeq"),
            phone.user,
            sdp.len()
        ),
    );
}

/// The gateway calls 1200 (`phone`), which answers; the gateway ACKs. The INVITE the
/// phone got, and the 200 the gateway got.
fn answered_call(gw: &Party, phone: &Party, site: SocketAddr, call: &str) -> (String, String) {
    gw.send(site, &invite(gw, site, "1200", call, &gw.sdp()));
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the phone rang");
    answer(phone, &offered, site);
    let ok = gw.expect("200", Duration::from_secs(5)).expect("answered");
    gw.send(site, &in_dialog(gw, &ok, site, "ACK", 1));
    (offered, ok)
}

/// ACK and later BYE of the gateway's dialog, from its 200.
fn in_dialog(gw: &Party, ok: &str, site: SocketAddr, method: &str, cseq: u32) -> String {
    let me = gw.sip_addr();
    format!(
        "{method} sip:1200@{site} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}x\r\nFrom: {}\r\nTo: {}\r\n\
Call-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(ok, "From"),
        header(ok, "To"),
        header(ok, "Call-ID")
    )
}

/// The `media` of the last call `tandem cdr --json` reads from `db`, once `done` says it
/// is there (or after `within`).
fn last_call_media(
    db: &std::path::Path,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["cdr", "--json", "--last", "1", "--db"])
            .arg(db)
            .output()
            .expect("tandem cdr");
        let line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("{}").to_owned();
        let media = serde_json::from_str::<serde_json::Value>(&line).unwrap_or_default()["media"].clone();
        if done(&media) || Instant::now() >= deadline {
            return media;
        }
    }
}

fn site_config(ng: SocketAddr, on_failure: &str) -> String {
    format!("{SITE}http = \"127.0.0.1:0\"\n[site.media]\nng = [\"{ng}\"]\ntimeout_ms = 300\non_failure = \"{on_failure}\"\n")
}

#[test]
fn an_anchored_call_carries_rtp_both_ways_through_rtpengine_and_leaves_nothing_there() {
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
fn an_offer_rtpengine_refuses_gets_488_and_without_rtpengine_calls_go_on_unanchored() {
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

/// A 3 s, 440 Hz tone as an 8 kHz, 16-bit mono WAV file.
fn tone_wav(path: &std::path::Path) {
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

async fn desk(cti: SocketAddr, dns: &[&str]) -> Ws {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{cti}/cti").into_client_request().expect("request");
    request.headers_mut().insert("authorization", "Bearer t0ken".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("the desktop connects");
    for dn in dns {
        let register = format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#);
        ws.send(tokio_tungstenite::tungstenite::Message::Text(register)).await.expect("send");
        next_named(&mut ws, "EventRegistered", Duration::from_secs(3)).await.expect("registered");
    }
    ws
}

async fn send(ws: &mut Ws, json: String) {
    use futures_util::SinkExt as _;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(json)).await.expect("send");
}

#[test]
fn a_waiting_caller_hears_queue_music_and_a_held_caller_hears_hold_music_through_rtpengine() {
    if !enabled() {
        return;
    }
    let rtpengine = Rtpengine::start("music", (42000, 42499));
    let sounds = std::env::temp_dir().join(format!("tandem-sounds-test-{}", std::process::id()));
    std::fs::create_dir_all(&sounds).expect("dir");
    tone_wav(&sounds.join("music.wav"));
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n\
         [[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n\
         [site.media]\nng = [\"{}\"]\nsounds = \"{}\"\nqueue_music = \"music.wav\"\nhold_music = \"music.wav\"\n",
        rtpengine.ng,
        sounds.display()
    );
    let t = Tandem::start_with("media-music", &config);
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
    let request =
        runtime.block_on(next_named(&mut router, "EventRouteRequest", Duration::from_secs(3))).expect("routed");
    let conn = request["ConnID"].as_str().expect("ConnID").to_owned();
    let route = format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"1200"}}"#);
    runtime.block_on(send(&mut router, route));
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the agent rang");
    answer(&phone, &offered, t.udp);
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
fn a_recorded_call_leaves_a_wav_file_as_long_as_the_call_and_its_record_names_it() {
    if !enabled() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tandem-recorded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let args = [format!("--recording-dir={}", dir.display()), "--recording-method=pcap".to_owned()];
    let rtpengine = Rtpengine::start_with("recorded", (42500, 42999), &args);
    let db = dir.join("cdr.db");
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
fn a_desktop_pauses_a_recording_and_the_wav_file_is_silent_over_the_pause() {
    if !enabled() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tandem-paused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let args = [format!("--recording-dir={}", dir.display()), "--recording-method=pcap".to_owned()];
    let rtpengine = Rtpengine::start_with("paused", (43000, 43499), &args);
    let db = dir.join("cdr.db");
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

#[test]
fn a_late_offer_is_anchored_the_callee_offering_and_the_caller_answering_in_its_ack() {
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

#[test]
fn a_caller_held_by_the_agents_own_phone_hears_hold_music_through_rtpengine() {
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

/// Janus (Debian's `janus`) with only its AudioBridge plugin and WebSocket API, on
/// loopback: its configuration is the system's, with the ports and addresses of a test.
struct Janus {
    child: Child,
    ws: String,
}

impl Janus {
    fn start(name: &str, rtp_ports: (u16, u16)) -> Option<Self> {
        let system = std::path::Path::new("/etc/janus");
        if !system.join("janus.jcfg").exists() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("tandem-janus-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for entry in std::fs::read_dir(system).expect("/etc/janus").flatten() {
            let _ = std::fs::copy(entry.path(), dir.join(entry.file_name()));
        }
        let port = free_tcp_port();
        let edit = |file: &str, pairs: &[(&str, String)]| {
            let path = dir.join(file);
            let mut text = std::fs::read_to_string(&path).expect("janus config");
            for (from, to) in pairs {
                text = text.replacen(from, to, 1);
            }
            std::fs::write(&path, text).expect("write");
        };
        let keep = ["libjanus_audiobridge.so"];
        let plugins: Vec<String> = list("/usr/lib/x86_64-linux-gnu/janus/plugins", &keep);
        let transports: Vec<String> = list("/usr/lib/x86_64-linux-gnu/janus/transports", &["libjanus_websockets.so"]);
        edit(
            "janus.jcfg",
            &[
                (
                    "#disable = \"libjanus_voicemail.so,libjanus_recordplay.so\"",
                    format!("disable = \"{}\"", plugins.join(",")),
                ),
                ("#disable = \"libjanus_rabbitmq.so\"", format!("disable = \"{}\"", transports.join(","))),
            ],
        );
        edit(
            "janus.transport.websockets.jcfg",
            &[
                ("ws_port = 8188", format!("ws_port = {port}")),
                ("#ws_ip = \"192.168.0.1\"", "ws_ip = \"127.0.0.1\"".into()),
            ],
        );
        edit(
            "janus.plugin.audiobridge.jcfg",
            &[
                ("#rtp_port_range = \"50000-60000\"", format!("rtp_port_range = \"{}-{}\"", rtp_ports.0, rtp_ports.1)),
                ("#local_ip = \"1.2.3.4\"", "local_ip = \"127.0.0.1\"".into()),
            ],
        );
        let log = std::fs::File::create(dir.join("janus.log")).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        let child = Command::new("janus")
            .arg("-F")
            .arg(&dir)
            .arg("--log-stdout")
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("janus runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { child, ws: format!("ws://127.0.0.1:{port}") })
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill(); // by PID, never by name
        let _ = self.child.wait();
    }
}

/// The `.so` files in `dir` other than `keep`.
fn list(dir: &str, keep: &[&str]) -> Vec<String> {
    let names =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect());
    let names: Vec<String> = names.unwrap_or_default();
    names.into_iter().filter(|n| n.ends_with(".so") && !keep.contains(&n.as_str())).collect()
}

/// Answers every INVITE `sip` gets (200 with `sdp`, the offer kept in `offered`) and
/// every BYE (200) until `until`; how many BYEs came.
fn auto_answer(
    sip: UdpSocket,
    (user, sdp): (&'static str, String),
    site: SocketAddr,
    (offered, until): (std::sync::Arc<std::sync::Mutex<Vec<String>>>, Instant),
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut byes = 0;
        let mut buf = [0u8; 65_536];
        while Instant::now() < until {
            let Ok((n, _)) = sip.recv_from(&mut buf) else { continue };
            let got = String::from_utf8_lossy(&buf[..n]).into_owned();
            let first = got.lines().next().unwrap_or("");
            let invite = first.starts_with("INVITE");
            if !(invite || first.starts_with("BYE")) {
                continue;
            }
            if invite {
                let body = got.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
                offered.lock().expect("lock").push(body);
            } else {
                byes += 1;
            }
            let body = if invite { sdp.as_str() } else { "" };
            let me = sip.local_addr().expect("addr");
            let vias: Vec<&str> = got.lines().filter(|l| l.to_ascii_lowercase().starts_with("via:")).collect();
            let to = header(&got, "To");
            let to = if to.contains("tag=") { to.to_owned() } else { format!("{to};tag={user}x") };
            let kind = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
            let ok = format!(
                "SIP/2.0 200 OK\r\n{}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{user}@{me}>\r\n\
{kind}Content-Length: {}\r\n\r\n{body}",
                vias.join("\r\n"),
                header(&got, "From"),
                header(&got, "Call-ID"),
                header(&got, "CSeq"),
                body.len()
            );
            let _ = sip.send_to(ok.as_bytes(), site);
        }
        byes
    })
}

/// Sends `count` packets of `byte` (0xff: u-law silence) from packet `first` of one
/// stream to `to`, 20 ms apart.
fn talk_bytes(party: &Party, to: SocketAddr, (first, count): (u16, u16), byte: u8) {
    for seq in first..first + count {
        let mut packet = vec![0x80, 0x00];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        packet.extend_from_slice(&party.ssrc().to_be_bytes());
        packet.extend_from_slice(&[byte; 160]);
        let _ = party.rtp.send_to(&packet, to);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The packets waiting at `party`'s media port that are not silence.
fn loud_heard(party: &Party) -> usize {
    let mut buf = [0u8; 2048];
    let mut loud = 0;
    while let Ok(n) = party.rtp.recv(&mut buf) {
        if n > 12 && buf[12..n].iter().any(|b| *b != 0xff && *b != 0x7f) {
            loud += 1;
        }
    }
    loud
}

#[test]
fn three_parties_conference_at_janus_and_each_hears_the_others() {
    if !enabled() {
        return;
    }
    let Some(janus) = Janus::start("conf", (45000, 45499)) else {
        eprintln!("skipped: no janus (apt-get install janus)");
        return;
    };
    let rtpengine = Rtpengine::start("conf", (45500, 45999));
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n\
         [site.media]\nng = [\"{}\"]\nmixer = \"{}\"\n",
        rtpengine.ng, janus.ws
    );
    let t = Tandem::start_with("media-conference", &config);
    let (gw, agent, other) = (Party::new("gw"), Party::new("1200"), Party::new("1201"));
    register(&agent, t.udp, "1200");
    register(&other, t.udp, "1201");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut desk = runtime.block_on(desk(t.cti.expect("cti"), &["1200"]));
    gw.send(t.udp, &invite(&gw, t.udp, "1200", "conf1", &gw.sdp()));
    let offered = agent.expect("INVITE", Duration::from_secs(5)).expect("the agent rang");
    answer(&agent, &offered, t.udp);
    let ok = gw.expect("200", Duration::from_secs(5)).expect("answered");
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "ACK", 1));
    let up = runtime.block_on(next_named(&mut desk, "EventEstablished", Duration::from_secs(3))).expect("up");
    let conn = up["ConnID"].as_str().expect("ConnID").to_owned();
    // From here every party answers whatever it is offered (hold, the consultation, the
    // mixer) and every BYE.
    let until = Instant::now() + Duration::from_secs(15);
    let offers: Vec<_> = (0..3).map(|_| std::sync::Arc::new(std::sync::Mutex::new(Vec::new()))).collect();
    let threads: Vec<_> = [&gw, &agent, &other]
        .iter()
        .zip(&offers)
        .map(|(p, seen)| {
            auto_answer(p.sip.try_clone().expect("clone"), (p.user, p.sdp()), t.udp, (seen.clone(), until))
        })
        .collect();
    let initiate =
        format!(r#"{{"message":"RequestInitiateConference","ThisDN":"1200","ConnID":"{conn}","OtherDN":"1201"}}"#);
    runtime.block_on(send(&mut desk, initiate));
    let dialing = runtime.block_on(next_named(&mut desk, "EventDialing", Duration::from_secs(3))).expect("dialing");
    let consult = dialing["ConnID"].as_str().expect("ConnID").to_owned();
    std::thread::sleep(Duration::from_millis(800)); // the consulted party answers
    let complete = format!(
        r#"{{"message":"RequestCompleteConference","ReferenceID":9,"ThisDN":"1200","ConnID":"{conn}","TransferConnID":"{consult}"}}"#
    );
    runtime.block_on(send(&mut desk, complete));
    let added = runtime.block_on(next_named(&mut desk, "EventPartyAdded", Duration::from_secs(5)));
    assert_eq!(added.expect("EventPartyAdded")["ThirdPartyDN"], "1201");
    std::thread::sleep(Duration::from_millis(500)); // the re-INVITEs to the mixer are answered
    let mixer: Vec<SocketAddr> = offers
        .iter()
        .map(|o| o.lock().expect("lock").last().map(|s| media_of(&format!("x\r\n\r\n{s}"))).expect("offered"))
        .collect();
    for (who, at) in ["gateway", "agent", "consulted party"].iter().zip(&mixer) {
        assert!((45000..=45499).contains(&at.port()), "the {who} was re-INVITEd to Janus: {at}");
    }
    // Each party sends (Janus sends to a participant once it heard from it); then the
    // gateway speaks and the two agents hear it, mixed.
    for (party, to) in [&gw, &agent, &other].iter().zip(&mixer) {
        talk_bytes(party, *to, (0, 5), 0xff);
    }
    let _ = (loud_heard(&agent), loud_heard(&other));
    talk_bytes(&gw, mixer[0], (5, 50), 0x80);
    std::thread::sleep(Duration::from_millis(200));
    let (agent_heard, other_heard) = (loud_heard(&agent), loud_heard(&other));
    assert!(agent_heard >= 30 && other_heard >= 30, "both hear the caller: {agent_heard}, {other_heard} of 50");
    // The caller hangs up: the agents stay; then the agent releases: the last one is
    // released too.
    gw.send(t.udp, &in_dialog(&gw, &ok, t.udp, "BYE", 3));
    let left = runtime.block_on(next_named(&mut desk, "EventPartyDeleted", Duration::from_secs(3)));
    assert!(left.is_some(), "the agent hears the caller left");
    let release = format!(r#"{{"message":"RequestReleaseCall","ThisDN":"1200","ConnID":"{conn}"}}"#);
    runtime.block_on(send(&mut desk, release));
    let byes: Vec<usize> = threads.into_iter().map(|h| h.join().expect("thread")).collect();
    assert!(byes[1] >= 1 && byes[2] == 1, "the agent and the consulted party were released: {byes:?}");
}
