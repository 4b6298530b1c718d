//! The built `tandem` binary against real peers on loopback: sipp (REGISTER load,
//! OPTIONS) and a suite of hand-written malformed messages over UDP and TCP.
//!
//! Needs `sipp` (Debian `sip-tester`) and `baresip`; runs when TANDEM_REAL_PEERS=1 (as `.ci/run`
//! sets), so a plain `cargo test` stays hermetic.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn ten_thousand_registers_from_a_thousand_dns_at_2000_per_second() {
    if !enabled() {
        return;
    }
    let t = Tandem::start("load");
    let inf = dn_file(&t.dir);
    let (ok, succeeded, failed) =
        sipp_with_file(t.udp, "register.xml", &inf, &["-m", "10000", "-r", "2000", "-l", "2000"]);
    assert!(ok, "sipp exited with failures");
    assert_eq!((succeeded, failed), (10_000, 0));
}

#[test]
fn options_ping_over_udp_and_tcp() {
    if !enabled() {
        return;
    }
    let t = Tandem::start("options");
    let sf = scenario("options.xml");
    let (ok, succeeded, _) = sipp(t.udp, &["-sf", sf.to_str().expect("path"), "-m", "20", "-r", "100"]);
    assert!(ok && succeeded == 20, "udp");
    let (ok, succeeded, _) = sipp(t.tcp, &["-sf", sf.to_str().expect("path"), "-m", "20", "-r", "100", "-t", "t1"]);
    assert!(ok && succeeded == 20, "tcp");
}

const VALID: &str =
    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKmal{n}\r\nMax-Forwards: 70\r\n\
From: <sip:1500@127.0.0.1>;tag=m{n}\r\nTo: <sip:1500@127.0.0.1>\r\nCall-ID: malformed-{n}\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:1500@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n";

fn valid(n: usize) -> String {
    VALID.replace("{n}", &n.to_string())
}

/// At least 30 broken messages; each is (name, bytes, expected first status digit or None for silence).
fn malformed() -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let v = |n| valid(n);
    let mut list: Vec<(&'static str, Vec<u8>, Option<&'static str>)> = vec![
        ("negative content-length", v(1).replace("Content-Length: 0", "Content-Length: -5").into_bytes(), Some("400")),
        (
            "non-numeric content-length",
            v(2).replace("Content-Length: 0", "Content-Length: five").into_bytes(),
            Some("400"),
        ),
        (
            "huge content-length",
            v(3).replace("Content-Length: 0", "Content-Length: 99999999999999999999").into_bytes(),
            Some("400"),
        ),
        (
            "content-length beyond datagram",
            v(4).replace("Content-Length: 0", "Content-Length: 500").into_bytes(),
            Some("400"),
        ),
        (
            "conflicting content-lengths",
            v(5).replace("Content-Length: 0", "Content-Length: 0\r\nContent-Length: 3").into_bytes(),
            Some("400"),
        ),
        ("missing call-id", v(6).replace("Call-ID: malformed-6\r\n", "").into_bytes(), Some("400")),
        ("missing cseq", v(7).replace("CSeq: 1 REGISTER\r\n", "").into_bytes(), Some("400")),
        ("missing via", v(8).replace("Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKmal8\r\n", "").into_bytes(), None),
        ("missing from", v(9).replace("From: <sip:1500@127.0.0.1>;tag=m9\r\n", "").into_bytes(), Some("400")),
        ("missing to", v(10).replace("To: <sip:1500@127.0.0.1>\r\n", "").into_bytes(), Some("400")),
        ("cseq method mismatch", v(11).replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE").into_bytes(), Some("400")),
        ("cseq not a number", v(12).replace("CSeq: 1 REGISTER", "CSeq: one REGISTER").into_bytes(), Some("400")),
        ("cseq overflow", v(13).replace("CSeq: 1 REGISTER", "CSeq: 99999999999 REGISTER").into_bytes(), Some("400")),
        ("nul in method", v(14).replacen("REGISTER", "REG\0STER", 1).into_bytes(), Some("400")),
        ("nul in header name", v(15).replace("Max-Forwards", "Max\0Forwards").into_bytes(), Some("400")),
        ("nul in call-id", v(16).replace("malformed-16", "mal\0formed").into_bytes(), Some("400")),
        ("header without colon", v(17).replace("Max-Forwards: 70", "Max-Forwards 70").into_bytes(), Some("400")),
        ("bad sip version", v(18).replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1).into_bytes(), Some("505")),
        (
            "request-uri in brackets",
            v(19).replacen("sip:127.0.0.1 SIP", "<sip:127.0.0.1> SIP", 1).into_bytes(),
            Some("400"),
        ),
        ("double space in request line", v(20).replacen("REGISTER sip", "REGISTER  sip", 1).into_bytes(), Some("400")),
        ("bad via", v(21).replace("SIP/2.0/UDP 127.0.0.1:9;", "SIP/2.0/UDP 127.0.0.1:9;;;").into_bytes(), Some("400")),
        ("bad port in contact", v(22).replace("127.0.0.1:9>", "127.0.0.1:70000>").into_bytes(), Some("400")),
        ("unterminated quote in from", v(23).replace("From: <sip", "From: \"Bob <sip").into_bytes(), Some("400")),
        ("max-forwards too big", v(24).replace("Max-Forwards: 70", "Max-Forwards: 300").into_bytes(), Some("400")),
        ("duplicate call-id", v(25).replace("CSeq: 1", "Call-ID: other\r\nCSeq: 1").into_bytes(), Some("400")),
        ("binary garbage", (0u8..=255).cycle().take(700).collect(), None),
        ("empty datagram body only crlf", b"\r\n\r\n".to_vec(), None),
        ("status code too big", b"SIP/2.0 9999 Nope\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n\r\n".to_vec(), None),
        (
            "unknown method",
            v(29).replacen("REGISTER sip", "FROB sip", 1).replace("1 REGISTER", "1 FROB").into_bytes(),
            Some("501"),
        ),
        (
            "invalid utf-8 in header",
            {
                let mut b = v(30).into_bytes();
                let at = b.windows(7).position(|w| w == b"Call-ID").expect("header") + 9;
                b[at] = 0xff;
                b
            },
            Some("400"),
        ),
    ];
    let mut big_header = v(31).replace("Content-Length", &format!("X-Big: {}\r\nContent-Length", "a".repeat(100_000)));
    big_header.truncate(65_000);
    list.push(("100 KB header (truncated to a datagram)", big_header.into_bytes(), Some("400")));
    let tiny: String = (0..10_000).map(|i| format!("X{i}: y\r\n")).collect();
    let mut many = v(32).replace("Content-Length", &format!("{tiny}Content-Length"));
    many.truncate(65_000);
    list.push(("10,000 tiny headers", many.into_bytes(), Some("400")));
    list
}

fn udp_exchange(target: SocketAddr, bytes: &[u8]) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    sock.send_to(bytes, target).expect("send");
    let mut buf = [0u8; 65_535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn malformed_messages_get_4xx_or_silence_and_the_server_keeps_registering() {
    if !enabled() {
        return;
    }
    let mut t = Tandem::start("malformed");
    let suite = malformed();
    assert!(suite.len() >= 30);
    for (name, bytes, expected) in &suite {
        // Via points at port 9 (discard), so point responses back at our socket: responses
        // go to the source address (symmetric response routing), whatever the Via says.
        let reply = udp_exchange(t.udp, bytes);
        match expected {
            Some(code) => {
                let reply = reply.unwrap_or_else(|| panic!("{name}: no answer"));
                assert!(
                    reply.starts_with(&format!("SIP/2.0 {code}")),
                    "{name}: {}",
                    reply.lines().next().unwrap_or("")
                );
            }
            None => assert!(reply.is_none(), "{name}: expected silence, got {reply:?}"),
        }
        assert!(t.alive(), "{name}: the server died");
    }
    // Over TCP: a good message, a broken one, and a truncated stream.
    let mut tcp = TcpStream::connect(t.tcp).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    tcp.write_all(valid(40).replace("UDP", "TCP").as_bytes()).expect("write");
    let mut buf = [0u8; 4096];
    let n = tcp.read(&mut buf).expect("answer over tcp");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
    tcp.write_all(valid(41).replace("UDP", "TCP").replace("Content-Length: 0", "Content-Length: -1").as_bytes())
        .expect("write");
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 400"),
        "framing error answered or closed"
    );
    let mut truncated = TcpStream::connect(t.tcp).expect("connect");
    truncated.write_all(&valid(42).replace("UDP", "TCP").as_bytes()[..60]).expect("write");
    drop(truncated);
    // Still serving: a real phone registers.
    let reply = udp_exchange(t.udp, valid(43).as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 200"), "{reply}");
    let inf = dn_file(&t.dir);
    let (ok, succeeded, _) = sipp_with_file(t.udp, "register.xml", &inf, &["-m", "100", "-r", "500"]);
    assert!(ok && succeeded == 100);
    assert!(t.alive());
}

#[test]
fn hundreds_of_concurrent_tcp_connections_each_register() {
    if !enabled() {
        return;
    }
    let t = Tandem::start("connections");
    let mut conns: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(t.tcp).expect("connect")).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let msg = valid(1000 + i).replace("UDP", "TCP").replace("1500", &(1000 + i).to_string());
        c.write_all(msg.as_bytes()).expect("write");
    }
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut buf = [0u8; 2048];
        let n = c.read(&mut buf).expect("an answer on every connection");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
    }
}

#[test]
fn sipp_gateway_calls_sipp_phones_through_tandem() {
    if !enabled() {
        return;
    }
    let t = Tandem::start("calls");
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, t.udp);
    let dns: Vec<u16> = (1100..1110).collect();
    let reg = t.dir.join("reg.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};127.0.0.1:{phone_port}\n")).collect();
    std::fs::write(&reg, format!("SEQUENTIAL\n{text}")).expect("csv");
    let (ok, registered, _) = sipp_with_file(t.udp, "register-contact.xml", &reg, &["-m", "10"]);
    assert!(ok && registered == 10, "phones registered");
    let calls = t.dir.join("calls.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};\n")).collect();
    std::fs::write(&calls, format!("SEQUENTIAL\n{text}")).expect("csv");
    let (ok, succeeded, failed) = sipp_with_file(t.udp, "gateway-call.xml", &calls, &["-m", "300", "-r", "100"]);
    assert!(ok, "gateway calls failed: {succeeded} ok, {failed} failed");
    assert_eq!((succeeded, failed), (300, 0));
}

#[test]
fn sighup_reloads_the_configuration_and_a_bad_file_changes_nothing() {
    if !enabled() {
        return;
    }
    let mut t = Tandem::start("reload");
    let reg = |dn: u32, n: usize| valid(n).replace("1500", &dn.to_string());
    assert!(udp_exchange(t.udp, reg(1100, 500).as_bytes()).expect("answer").starts_with("SIP/2.0 200"));
    let config = t.dir.join("site.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let hup = |t: &Tandem| {
        let ok = Command::new("kill").args(["-HUP", &t.child.id().to_string()]).status().expect("kill").success();
        assert!(ok);
        std::thread::sleep(Duration::from_millis(300));
    };
    std::fs::write(&config, text.replace("1000-1999", "2000-2099")).expect("write");
    hup(&t);
    assert!(udp_exchange(t.udp, reg(1101, 501).as_bytes()).expect("answer").starts_with("SIP/2.0 404"));
    assert!(udp_exchange(t.udp, reg(2000, 502).as_bytes()).expect("answer").starts_with("SIP/2.0 200"));
    std::fs::write(&config, "[[site]]\nname = \"s1\"\nbogus = true\n").expect("write");
    hup(&t);
    assert!(t.alive(), "a bad file does not stop the server");
    assert!(
        udp_exchange(t.udp, reg(2001, 503).as_bytes()).expect("answer").starts_with("SIP/2.0 200"),
        "old config kept"
    );
}

#[test]
fn desktop_sees_its_call_and_metrics_count_it() {
    if !enabled() {
        return;
    }
    let config = format!("{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n[[site.agent]]\nid = \"A1200\"\ndn = \"1200\"\n");
    let t = Tandem::start_with("desktop", &config);
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, t.udp);
    let reg = t.dir.join("reg.csv");
    std::fs::write(&reg, format!("SEQUENTIAL\n1200;127.0.0.1:{phone_port}\n")).expect("csv");
    let (ok, n, _) = sipp_with_file(t.udp, "register-contact.xml", &reg, &["-m", "1"]);
    assert!(ok && n == 1);
    let desk = cti_client(
        &t,
        "3",
        &[
            "RequestRegisterAddress ThisDN=1200 ReferenceID=1",
            "RequestAgentLogin ThisDN=1200 AgentID=A1200 ReferenceID=2",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(one_call(t.udp, &t.dir, "gateway-call.xml", "1200;"), "the call went through");
    let out = desk.wait_with_output().expect("cti client ends");
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["message"].as_str().unwrap_or("").to_owned())
        .collect();
    for expected in
        ["EventServerInfo", "EventRegistered", "EventAgentLogin", "EventRinging", "EventEstablished", "EventReleased"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    std::thread::sleep(Duration::from_millis(1100));
    let metrics = http_get(t.http.expect("http"), "/metrics");
    assert!(metrics.contains(r#"tandem_calls_answered_total{site="s1"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"tandem_registrations{site="s1"} 1"#), "{metrics}");
}

#[test]
fn cti_refuses_a_bad_token() {
    if !enabled() {
        return;
    }
    let config = format!("{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n");
    let t = Tandem::start_with("badtoken", &config);
    let url = format!("ws://{}/cti", t.cti.expect("cti"));
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["cti", "--url", &url, "--token", "wrong"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Opens a WebSocket by hand on a socket with a tiny receive buffer, registers `dn`, and
/// then never reads: the slowest possible desktop.
fn stalled_desktop(cti: SocketAddr, dn: &str) -> socket2::Socket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    socket.connect(&cti.into()).expect("connect");
    let mut stream: TcpStream = socket.try_clone().expect("clone").into();
    let upgrade = format!(
        "GET /cti?token=t0ken HTTP/1.1\r\nHost: {cti}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).expect("upgrade");
    let mut head = [0u8; 512];
    let n = stream.read(&mut head).expect("101");
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head[..n]));
    // One masked text frame (mask 0): RequestRegisterAddress.
    let payload = format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#);
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload.as_bytes());
    stream.write_all(&frame).expect("frame");
    socket
}

#[test]
fn a_stalled_desktop_is_disconnected_and_others_are_served() {
    if !enabled() {
        return;
    }
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n[[site.agent]]\nid = \"A1300\"\ndn = \"1300\"\n"
    );
    let t = Tandem::start_with("slow", &config);
    let _slow = stalled_desktop(t.cti.expect("cti"), "1300");
    std::thread::sleep(Duration::from_millis(200));
    let rounds = 20_000;
    let mut script = String::from("RequestRegisterAddress ThisDN=1300\nRequestAgentLogin ThisDN=1300 AgentID=A1300\n");
    for _ in 0..rounds {
        script.push_str("RequestAgentReady ThisDN=1300\nRequestAgentNotReady ThisDN=1300\n");
    }
    let url = format!("ws://{}/cti", t.cti.expect("cti"));
    let mut fast = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["cti", "--url", &url, "--token", "t0ken", "--wait", "3", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem cti");
    // `tandem cti -` sends each line as it reads it and prints events as they come: write
    // its stdin from another thread while its stdout is read, or both pipes fill.
    let mut stdin = fast.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = fast.wait_with_output().expect("ends");
    writer.join().expect("the writer thread").expect("requests");
    let text = String::from_utf8_lossy(&out.stdout);
    let ready = text.lines().filter(|l| l.contains("\"EventAgentReady\"")).count();
    assert_eq!(ready, rounds, "the fast desktop got every answer");
    std::thread::sleep(Duration::from_millis(1100));
    let metrics = http_get(t.http.expect("http"), "/metrics");
    assert!(metrics.contains(r#"tandem_cti_slow_disconnects_total{site="s1"} 1"#), "{metrics}");
}

#[test]
fn a_real_baresip_phone_answers_a_gateway_call_and_the_desktop_sees_it() {
    if !enabled() {
        return;
    }
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n[[site.agent]]\nid = \"A1400\"\ndn = \"1400\"\n"
    );
    let t = Tandem::start_with("baresip", &config);
    let _phone = baresip(&t, &format!("<sip:1400@{};transport=udp>;regint=600;answermode=auto", t.udp));
    assert!(registered_within(&t, Duration::from_secs(5)), "baresip registered");
    let desk =
        cti_client(&t, "4", &["RequestRegisterAddress ThisDN=1400", "RequestAgentLogin ThisDN=1400 AgentID=A1400"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(one_call(t.udp, &t.dir, "gateway-call.xml", "1400;"), "baresip answered and the call completed");
    let out = desk.wait_with_output().expect("cti client ends");
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in ["\"EventRinging\"", "\"EventEstablished\"", "\"EventReleased\""] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
}

#[test]
fn cti_reload_request_applies_a_new_file_and_reports_a_bad_one() {
    if !enabled() {
        return;
    }
    let config = format!("{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n");
    let t = Tandem::start_with("ctireload", &config);
    let path = t.dir.join("site.toml");
    // Sockets stay as bound; the DN plan is what changes.
    std::fs::write(&path, config.replace("1000-1999", "3000-3099")).expect("write");
    let out = cti_client(&t, "1", &["RequestReloadConfig ReferenceID=7"]).wait_with_output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r#""message":"EventConfigReloaded","ReferenceID":7"#), "{text}");
    let reg = |dn: u32, n: usize| valid(n).replace("1500", &dn.to_string());
    assert!(udp_exchange(t.udp, reg(3000, 600).as_bytes()).expect("answer").starts_with("SIP/2.0 200"));
    assert!(udp_exchange(t.udp, reg(1000, 601).as_bytes()).expect("answer").starts_with("SIP/2.0 404"));
    std::fs::write(&path, "[[site]]\nname = \"s1\"\n").expect("write");
    let out = cti_client(&t, "1", &["RequestReloadConfig ReferenceID=8"]).wait_with_output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(r#""ErrorCode":"InvalidState""#) && text.contains("site.toml"),
        "the error names the file: {text}"
    );
}

#[test]
fn tandem_shutdown_drains_and_stops_the_peer() {
    if !enabled() {
        return;
    }
    let config = format!("{SITE}cti = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n");
    let mut t = Tandem::start_with("shutdown", &config);
    let url = format!("ws://{}/cti", t.cti.expect("cti"));
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["shutdown", "--url", &url, "--token", "t0ken"])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"EventPrivateInfo\""),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut exited = false;
    for _ in 0..50 {
        if !t.alive() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(exited, "with no call left the peer process exits");
}

/// Issue 8: TCP connections are capped per address, silent ones are closed, and the
/// site goes on serving the ones within the limits.
#[test]
fn tcp_connections_are_capped_per_address_and_silent_ones_closed() {
    if !enabled() {
        return;
    }
    let config = format!("{SITE}[site.limits]\ntcp_per_address = 4\ntcp_idle_timeout = 2\n");
    let t = Tandem::start_with("tcp-limits", &config);
    let mut conns: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(t.tcp).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut buf = [0u8; 2048];
    // The fifth is closed at once: the server ends it without a word.
    conns[4].set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    assert_eq!(conns[4].read(&mut buf).expect("closed, not timed out"), 0, "fifth connection closed");
    // The first four are served.
    for (i, c) in conns.iter_mut().take(4).enumerate() {
        c.write_all(valid(2000 + i).replace("UDP", "TCP").as_bytes()).expect("write");
        c.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
        let n = c.read(&mut buf).expect("an answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
    }
    // Then silence: after the 2 s idle timeout each is closed by the server.
    for c in &mut conns[..4] {
        c.set_read_timeout(Some(Duration::from_secs(4))).expect("timeout");
        assert_eq!(c.read(&mut buf).expect("closed, not timed out"), 0, "idle connection closed");
    }
    // The slots are free again.
    let mut again = TcpStream::connect(t.tcp).expect("connect");
    again.write_all(valid(2010).replace("UDP", "TCP").as_bytes()).expect("write");
    again.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    let n = again.read(&mut buf).expect("an answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
}

/// Issue 8: a panic in any task ends the whole process with status 70, so a supervisor
/// restarts it (tokio alone would keep a process with a dead site running). The test
/// runs itself again as a child that installs the hook and panics in a spawned task.
#[test]
fn a_panicking_task_ends_the_process_with_status_70() {
    if std::env::var_os("TANDEM_PANIC_CHILD").is_some() {
        tandem::exit_on_panic();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let _ = tokio::spawn(async { panic!("a site task fails") }).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        return; // still alive: the parent sees status 0 and fails
    }
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["a_panicking_task_ends_the_process_with_status_70", "--exact", "--nocapture", "--test-threads=1"])
        .env("TANDEM_PANIC_CHILD", "1")
        .output()
        .expect("child runs");
    assert_eq!(child.status.code(), Some(70), "{}", String::from_utf8_lossy(&child.stderr));
}
