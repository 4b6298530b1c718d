//! What the media tests share: rtpengine in user space, the small SIP parties (UDP
//! sockets, so every byte of a description and every RTP packet is seen), the messages
//! they send, and a desktop.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::*;

pub(crate) static NEXT_COOKIE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// rtpengine in user space on loopback, stopped by PID.
pub(crate) struct Rtpengine {
    pub(crate) child: Child,
    pub(crate) ng: SocketAddr,
}

impl Rtpengine {
    /// Starts it with media ports `ports` (tests running at once use their own).
    pub(crate) fn start(name: &str, ports: (u16, u16)) -> Self {
        Self::start_with(name, ports, &[])
    }

    /// ... with more arguments (`--recording-dir=...`).
    pub(crate) fn start_with(name: &str, ports: (u16, u16), extra: &[String]) -> Self {
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
    pub(crate) fn ng_call(&self, dict: &str, within: Duration) -> String {
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
    pub(crate) fn calls(&self) -> usize {
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
pub(crate) struct Party {
    pub(crate) sip: UdpSocket,
    pub(crate) rtp: UdpSocket,
    pub(crate) user: &'static str,
}

impl Party {
    pub(crate) fn new(user: &'static str) -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("sip socket");
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp socket");
        sip.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        rtp.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
        Self { sip, rtp, user }
    }

    pub(crate) fn sip_addr(&self) -> SocketAddr {
        self.sip.local_addr().expect("addr")
    }

    pub(crate) fn sdp(&self) -> String {
        let port = self.rtp.local_addr().expect("addr").port();
        format!("v=0\r\no={} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", self.user)
    }

    pub(crate) fn send(&self, to: SocketAddr, text: &str) {
        self.sip.send_to(text.as_bytes(), to).expect("send");
    }

    /// The next SIP message whose first line contains `start`, within `wait`.
    pub(crate) fn expect(&self, start: &str, wait: Duration) -> Option<String> {
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
    pub(crate) fn talk(&self, to: SocketAddr, count: u16) -> usize {
        self.talk_from(to, 0, count)
    }

    /// [`Party::talk`] going on from packet `first` of one stream (its sequence numbers
    /// and timestamps continue); the audio is loud (u-law 0x80), not silence.
    pub(crate) fn talk_from(&self, to: SocketAddr, first: u16, count: u16) -> usize {
        let mut got = 0;
        let mut buf = [0u8; 2048];
        for seq in first..first + count {
            let _ = self.rtp.send_to(&self.packet(seq, 0x80), to);
            while self.rtp.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        got
    }

    /// RTP packet `seq` of its one stream (PCMU, 20 ms apart in timestamps), every
    /// payload byte `byte` (0xff: u-law silence, 0x80: loud).
    pub(crate) fn packet(&self, seq: u16, byte: u8) -> Vec<u8> {
        let mut packet = vec![0x80, 0x00];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        packet.extend_from_slice(&self.ssrc().to_be_bytes());
        packet.extend_from_slice(&[byte; 160]);
        packet
    }

    /// The SSRC of what it sends (its media port: unlike any other party's).
    pub(crate) fn ssrc(&self) -> u32 {
        0x5a00_0000 | u32::from(self.rtp.local_addr().expect("addr").port())
    }

    /// The SSRC of every RTP packet arriving at its media port within `wait`.
    pub(crate) fn heard_ssrcs(&self, wait: Duration) -> Vec<u32> {
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
    pub(crate) fn answer_reinvite(&self, site: SocketAddr, wait: Duration) -> Option<String> {
        let got = self.expect("INVITE", wait)?;
        answer(self, &got, site);
        Some(got)
    }

    /// What arrives at its media port within `wait`.
    pub(crate) fn listen(&self, wait: Duration) -> usize {
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
pub(crate) fn media_of(message: &str) -> SocketAddr {
    let body = message.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).expect("a c= line").trim();
    let port =
        body.lines().find_map(|l| l.strip_prefix("m=audio ")).and_then(|m| m.split(' ').next()).expect("an m= line");
    format!("{ip}:{port}").parse().expect("a media address")
}

pub(crate) fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
        .unwrap_or("")
}

pub(crate) fn register(phone: &Party, site: SocketAddr, dn: &str) {
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

pub(crate) fn invite(gw: &Party, site: SocketAddr, dn: &str, call: &str, sdp: &str) -> String {
    let me = gw.sip_addr();
    format!(
        "INVITE sip:{dn}@{site} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call}\r\nFrom: <sip:gw@{me}>;tag=g{call}\r\n\
To: <sip:{dn}@{site}>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@{me}>\r\nMax-Forwards: 70\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The phone answers the INVITE it got with 200 and its description.
pub(crate) fn answer(phone: &Party, got: &str, site: SocketAddr) {
    phone.send(site, &ok_to(got, (phone.user, phone.sip_addr(), "p1"), &phone.sdp()));
}

/// A 200 to request `got` from `user` at `me` (its To tag `tag` when the request had
/// none), carrying `body` (a session description) unless it is empty.
pub(crate) fn ok_to(got: &str, (user, me, tag): (&str, SocketAddr, &str), body: &str) -> String {
    let vias: Vec<&str> = got.lines().filter(|l| l.to_ascii_lowercase().starts_with("via:")).collect();
    let to = header(got, "To");
    let to = if to.contains("tag=") { to.to_owned() } else { format!("{to};tag={tag}") };
    let kind = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
    format!(
        "SIP/2.0 200 OK\r\n{}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{user}@{me}>\r\n\
{kind}Content-Length: {}\r\n\r\n{body}",
        vias.join("\r\n"),
        header(got, "From"),
        header(got, "Call-ID"),
        header(got, "CSeq"),
        body.len()
    )
}

/// The gateway calls 1200 (`phone`), which answers; the gateway ACKs. The INVITE the
/// phone got, and the 200 the gateway got.
pub(crate) fn answered_call(gw: &Party, phone: &Party, site: SocketAddr, call: &str) -> (String, String) {
    gw.send(site, &invite(gw, site, "1200", call, &gw.sdp()));
    let offered = phone.expect("INVITE", Duration::from_secs(5)).expect("the phone rang");
    answer(phone, &offered, site);
    let ok = gw.expect("200", Duration::from_secs(5)).expect("answered");
    gw.send(site, &in_dialog(gw, &ok, site, "ACK", 1));
    (offered, ok)
}

/// ACK and later BYE of the gateway's dialog, from its 200.
pub(crate) fn in_dialog(gw: &Party, ok: &str, site: SocketAddr, method: &str, cseq: u32) -> String {
    let me = gw.sip_addr();
    format!(
        "{method} sip:1200@{site} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}x\r\nFrom: {}\r\nTo: {}\r\n\
Call-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(ok, "From"),
        header(ok, "To"),
        header(ok, "Call-ID")
    )
}

pub(crate) fn site_config(ng: SocketAddr, on_failure: &str) -> String {
    format!("{SITE}http = \"127.0.0.1:0\"\n[site.media]\nng = [\"{ng}\"]\ntimeout_ms = 300\non_failure = \"{on_failure}\"\n")
}

pub(crate) async fn desk(cti: SocketAddr, dns: &[&str]) -> Ws {
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

pub(crate) async fn send(ws: &mut Ws, json: String) {
    use futures_util::SinkExt as _;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(json)).await.expect("send");
}

/// The `media` of the last call `tandem cdr --json` reads from `db`, once `done` says it
/// is there (or after `within`).
pub(crate) fn last_call_media(
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
