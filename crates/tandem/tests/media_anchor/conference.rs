//! Conferences at Janus's AudioBridge: three parties, each hearing the others mixed.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::*;
use super::parties::*;

/// Janus (Debian's `janus`) with only its AudioBridge plugin and WebSocket API, on
/// loopback: its configuration is the system's, with the ports and addresses of a test.
pub(crate) struct Janus {
    pub(crate) child: Child,
    pub(crate) ws: String,
}

impl Janus {
    pub(crate) fn start(name: &str, rtp_ports: (u16, u16)) -> Option<Self> {
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
pub(crate) fn list(dir: &str, keep: &[&str]) -> Vec<String> {
    let names =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect());
    let names: Vec<String> = names.unwrap_or_default();
    names.into_iter().filter(|n| n.ends_with(".so") && !keep.contains(&n.as_str())).collect()
}

/// Answers every INVITE `sip` gets (200 with `sdp`, the offer kept in `offered`) and
/// every BYE (200) until `until`; how many BYEs came.
pub(crate) fn auto_answer(
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
            let ok = ok_to(&got, (user, me, &format!("{user}x")), body);
            let _ = sip.send_to(ok.as_bytes(), site);
        }
        byes
    })
}

/// Sends `count` packets of `byte` (0xff: u-law silence) from packet `first` of one
/// stream to `to`, 20 ms apart.
pub(crate) fn talk_bytes(party: &Party, to: SocketAddr, (first, count): (u16, u16), byte: u8) {
    for seq in first..first + count {
        let _ = party.rtp.send_to(&party.packet(seq, byte), to);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The packets waiting at `party`'s media port that are not silence.
pub(crate) fn loud_heard(party: &Party) -> usize {
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
pub(crate) fn three_parties_conference_at_janus_and_each_hears_the_others() {
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
