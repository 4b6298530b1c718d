//! The built `tandem` binary against real peers on loopback: sipp (REGISTER load,
//! OPTIONS) and a suite of hand-written malformed messages over UDP and TCP.
//!
//! Needs `sipp` (Debian `sip-tester`) and `baresip`; runs when TANDEM_REAL_PEERS=1 (as `.ci/run`
//! sets), so a plain `cargo test` stays hermetic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Tandem {
    child: Child,
    udp: SocketAddr,
    tcp: SocketAddr,
    cti: Option<SocketAddr>,
    http: Option<SocketAddr>,
    dir: PathBuf,
}

const SITE: &str =
    "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ndns = [\"1000-1999\"]\n";

impl Tandem {
    fn start(name: &str) -> Self {
        Self::start_with(name, SITE)
    }

    fn start_with(name: &str, config_text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("site.toml");
        std::fs::write(&config, config_text).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["peer", "--config"])
            .arg(&config)
            .args(["--site", "s1"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .spawn()
            .expect("tandem starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut udp, mut tcp, mut cti, mut http) = (None, None, None, None);
        let (wants_cti, wants_http) = (config_text.contains("cti ="), config_text.contains("http ="));
        while udp.is_none() || tcp.is_none() || (wants_cti && cti.is_none()) || (wants_http && http.is_none()) {
            let line = lines.next().expect("endpoint lines").expect("utf-8");
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["endpoint", "s1", "sip-udp", a] => udp = Some(a.parse().expect("addr")),
                ["endpoint", "s1", "sip-tcp", a] => tcp = Some(a.parse().expect("addr")),
                ["endpoint", "s1", "cti-ws", a] => cti = Some(a.parse().expect("addr")),
                ["endpoint", "s1", "http", a] => http = Some(a.parse().expect("addr")),
                _ => {}
            }
        }
        Self { child, udp: udp.expect("udp"), tcp: tcp.expect("tcp"), cti, http, dir }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        let _ = self.child.kill(); // by PID, never by name
        let _ = self.child.wait();
        if std::env::var_os("TANDEM_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn enabled() -> bool {
    std::env::var("TANDEM_REAL_PEERS").is_ok_and(|v| v == "1")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sipp").join(name)
}

fn dn_file(dir: &Path) -> PathBuf {
    let path = dir.join("dns.csv");
    let mut text = String::from("SEQUENTIAL\n");
    for dn in 1000..2000 {
        text.push_str(&format!("{dn};\n"));
    }
    std::fs::write(&path, text).expect("dn file");
    path
}

/// Runs sipp to completion; returns (exit ok, successful, failed).
fn sipp(target: SocketAddr, args: &[&str]) -> (bool, u64, u64) {
    sipp_counts(&sipp_command(target, args).output().expect("sipp is installed (apt-get install sip-tester)"))
}

/// A sipp client run against `target`, ending with an error after 60 s at most.
fn sipp_command(target: SocketAddr, args: &[&str]) -> Command {
    let mut command = Command::new("sipp");
    command
        .args(args)
        .args(["-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "60", "-timeout_error", "-trace_screen"])
        .arg(target.to_string())
        .current_dir(std::env::temp_dir());
    command
}

/// (exited cleanly, successful calls, failed calls) from a finished sipp's screen.
fn sipp_counts(out: &std::process::Output) -> (bool, u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let count = |label: &str| {
        text.lines()
            .filter(|l| l.contains(label))
            .filter_map(|l| l.split('|').nth(2).and_then(|c| c.trim().parse::<u64>().ok()))
            .next_back()
            .unwrap_or(0)
    };
    (out.status.success(), count("Successful call"), count("Failed call"))
}

#[test]
fn ten_thousand_registers_from_a_thousand_dns_at_2000_per_second() {
    if !enabled() {
        return;
    }
    let t = Tandem::start("load");
    let inf = dn_file(&t.dir);
    let (ok, succeeded, failed) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("register.xml").to_str().expect("path"),
            "-inf",
            inf.to_str().expect("path"),
            "-m",
            "10000",
            "-r",
            "2000",
            "-l",
            "2000",
        ],
    );
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
    let (ok, succeeded, _) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("register.xml").to_str().expect("path"),
            "-inf",
            inf.to_str().expect("path"),
            "-m",
            "100",
            "-r",
            "500",
        ],
    );
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

/// A sipp process we started, stopped by PID when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A sipp phone on `port` answering every call (`phone-answer.xml`); `server` is only the
/// default remote address sipp needs.
fn sipp_phone(port: u16, server: SocketAddr) -> Background {
    Background(
        Command::new("sipp")
            .args(["-sf", scenario("phone-answer.xml").to_str().expect("path")])
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin"])
            .arg(server.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp phone"),
    )
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free port")
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
    let (ok, registered, _) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("register-contact.xml").to_str().expect("path"),
            "-inf",
            reg.to_str().expect("path"),
            "-m",
            "10",
        ],
    );
    assert!(ok && registered == 10, "phones registered");
    let calls = t.dir.join("calls.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};\n")).collect();
    std::fs::write(&calls, format!("SEQUENTIAL\n{text}")).expect("csv");
    let (ok, succeeded, failed) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("gateway-call.xml").to_str().expect("path"),
            "-inf",
            calls.to_str().expect("path"),
            "-m",
            "300",
            "-r",
            "100",
        ],
    );
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

/// Runs `tandem cti` against the site; returns its stdout lines (events as JSON).
fn cti_client(t: &Tandem, wait_s: &str, requests: &[&str]) -> Child {
    let url = format!("ws://{}/cti", t.cti.expect("cti endpoint"));
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["cti", "--url", &url, "--token", "t0ken", "--wait", wait_s])
        .args(requests)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem cti")
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
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
    let (ok, n, _) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("register-contact.xml").to_str().expect("path"),
            "-inf",
            reg.to_str().expect("path"),
            "-m",
            "1",
        ],
    );
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
    let calls = t.dir.join("calls.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1200;\n").expect("csv");
    let (ok, n, _) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("gateway-call.xml").to_str().expect("path"),
            "-inf",
            calls.to_str().expect("path"),
            "-m",
            "1",
        ],
    );
    assert!(ok && n == 1, "the call went through");
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
    fast.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("requests");
    let out = fast.wait_with_output().expect("ends");
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
    let phone_port = free_udp_port();
    let bs = t.dir.join("baresip");
    std::fs::create_dir_all(&bs).expect("dir");
    std::fs::write(
        bs.join("config"),
        format!(
            "sip_listen 127.0.0.1:{phone_port}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aubridge.so\n\
             module_app account.so\naudio_player aubridge,t\naudio_source aubridge,t\naudio_alert aubridge,t\nrtp_ports 31000-31100\n"
        ),
    )
    .expect("config");
    std::fs::write(bs.join("accounts"), format!("<sip:1400@{};transport=udp>;regint=600;answermode=auto\n", t.udp))
        .expect("accounts");
    let _phone = Background(
        Command::new("baresip")
            .arg("-f")
            .arg(&bs)
            .args(["-t", "20"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip is installed (apt-get install baresip)"),
    );
    // Wait for the phone's REGISTER (bounded).
    let mut registered = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let metrics = http_get(t.http.expect("http"), "/metrics");
        if metrics.contains(r#"tandem_registrations{site="s1"} 1"#) {
            registered = true;
            break;
        }
    }
    assert!(registered, "baresip registered");
    let desk =
        cti_client(&t, "4", &["RequestRegisterAddress ThisDN=1400", "RequestAgentLogin ThisDN=1400 AgentID=A1400"]);
    std::thread::sleep(Duration::from_millis(300));
    let calls = t.dir.join("calls.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1400;\n").expect("csv");
    let (ok, n, _) = sipp(
        t.udp,
        &[
            "-sf",
            scenario("gateway-call.xml").to_str().expect("path"),
            "-inf",
            calls.to_str().expect("path"),
            "-m",
            "1",
        ],
    );
    assert!(ok && n == 1, "baresip answered and the call completed");
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

/// The config of one peer of a BC pair on the given ports.
fn bc_site(name: &str, port: u16, peer_port: u16, trunk: &str, prefix: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{port}\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
         cti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\n[site.options]\ndr-peer-trunk = \"{trunk}\"\ndr-forward = \"no-agent\"\n\
         [[site.dn]]\nnumber = \"{trunk}\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:{peer_port}\"\nprefix = \"{prefix}\"\noos-check = 2\noos-force = 1\n\
         [[site.agent]]\nid = \"A1500\"\ndn = \"1500\"\n"
    )
}

/// Starts one peer; its site is named `s1` in its own file (the test harness reads the
/// `endpoint s1 ...` lines), which is fine: each process runs one site.
fn start_peer(name: &str, config: &str) -> Tandem {
    Tandem::start_with(name, config)
}

#[test]
fn two_peer_processes_redirect_a_direct_call_to_the_agents_site() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let ss1 = start_peer("bc-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("bc-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    let reg = ss1.dir.join("reg.csv");
    std::fs::write(&reg, format!("SEQUENTIAL\n1500;127.0.0.1:{phone_port}\n")).expect("csv");
    for site in [&ss1, &ss2] {
        let (ok, n, _) = sipp(
            site.udp,
            &[
                "-sf",
                scenario("register-contact.xml").to_str().expect("path"),
                "-inf",
                reg.to_str().expect("path"),
                "-m",
                "1",
            ],
        );
        assert!(ok && n == 1, "the phone registers at both peers");
    }
    let desk1 =
        cti_client(&ss1, "6", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    let desk2 = cti_client(&ss2, "6", &["RequestRegisterAddress ThisDN=1500"]);
    std::thread::sleep(Duration::from_millis(3500)); // polls settle, presence reaches ss2
    let calls = ss2.dir.join("calls.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1500;\n").expect("csv");
    let (ok, n, _) = sipp(
        ss2.udp,
        &[
            "-sf",
            scenario("gateway-follow-302.xml").to_str().expect("path"),
            "-inf",
            calls.to_str().expect("path"),
            "-m",
            "1",
        ],
    );
    assert!(ok && n == 1, "the gateway followed the 302 and the call completed at ss1");
    let text1 = String::from_utf8_lossy(&desk1.wait_with_output().expect("desk1").stdout).into_owned();
    let text2 = String::from_utf8_lossy(&desk2.wait_with_output().expect("desk2").stdout).into_owned();
    assert!(
        text1.contains("\"EventRinging\"") && text1.contains("\"EventEstablished\""),
        "ss1 reports the call:\n{text1}\nss2:\n{text2}"
    );
    assert!(!text2.contains("\"EventRinging\""), "ss2 reports nothing for the redirected call:\n{text2}");
    let metrics = http_get(ss2.http.expect("http"), "/metrics");
    assert!(metrics.contains("tandem_calls_offered_total{site=\"s1\"} 0"), "{metrics}");
}

/// Registers each DN with the phone at `phone_port` at every given peer.
fn register_phone_at(peers: &[&Tandem], dns: &[u16], phone_port: u16) {
    let reg = peers[0].dir.join("reg.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};127.0.0.1:{phone_port}\n")).collect();
    std::fs::write(&reg, format!("SEQUENTIAL\n{text}")).expect("csv");
    let count = dns.len().to_string();
    let register_scenario = scenario("register-contact.xml");
    for peer in peers {
        let args = ["-sf", register_scenario.to_str().expect("path"), "-inf", reg.to_str().expect("path")];
        let (ok, n, _) = sipp(peer.udp, &[&args[..], &["-m", &count]].concat());
        assert!(ok && n == dns.len() as u64, "the phone registers its DNs at every peer");
    }
}

/// Spec 3.12 / issue 4 (site failure): a gateway loads ss1 with calls held 1 s; ss1's
/// process is killed mid-load. Calls then in flight at ss1, and those the gateway sends
/// to the dead ss1, fail; the gateway retries each of them at ss2, which must deliver all
/// of them, including to the agent of ss1 who logs in again at ss2.
#[test]
fn killing_a_peer_mid_load_loses_no_call_the_gateway_retries_at_the_survivor() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let mut ss1 = start_peer("kill-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("kill-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    let dns: Vec<u16> = (1500..1510).collect();
    register_phone_at(&[&ss1, &ss2], &dns, phone_port);
    let desk1 =
        cti_client(&ss1, "2", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    drop(desk1.wait_with_output()); // the agent stays logged in at ss1 (no logout on disconnect)
    std::thread::sleep(Duration::from_millis(1500));

    let calls = ss2.dir.join("calls.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};\n")).collect();
    std::fs::write(&calls, format!("SEQUENTIAL\n{text}")).expect("csv");
    let (offered, rate) = (150u64, 50u64);
    let hold_scenario = scenario("gateway-call-hold.xml");
    let gateway = |target: SocketAddr, count: u64| {
        let (m, r) = (count.to_string(), rate.to_string());
        let args = ["-sf", hold_scenario.to_str().expect("path"), "-inf", calls.to_str().expect("path")];
        let more = [
            "-m",
            m.as_str(),
            "-r",
            r.as_str(),
            "-d",
            "1000",
            "-max_invite_retrans",
            "2",
            "-max_non_invite_retrans",
            "2",
        ];
        let mut command = sipp_command(target, &[&args[..], &more[..]].concat());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sipp gateway")
    };
    let load = gateway(ss1.udp, offered);
    std::thread::sleep(Duration::from_millis(2000));
    ss1.child.kill().expect("kill ss1 by PID");
    let (_, completed, failed) = sipp_counts(&load.wait_with_output().expect("sipp gateway"));
    assert_eq!(completed + failed, offered, "every call offered to ss1 either completed or failed");
    assert!(completed > 0 && failed > 0, "the kill landed mid-load: {completed} completed, {failed} failed");
    let sent_after_kill = offered.saturating_sub(2 * rate);
    eprintln!(
        "ss1 killed mid-load: {completed} calls completed, {failed} failed \
         (about {} in flight at the kill, about {sent_after_kill} sent to the dead peer)",
        failed.saturating_sub(sent_after_kill)
    );

    // The desktop retries its login until ss2 has seen the trunk to ss1 go out of service
    // (`oos-check` 2 s, `oos-force` 1): while the link is up the login is refused.
    let mut login = String::new();
    for _ in 0..10 {
        let desk = cti_client(
            &ss2,
            "1",
            &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"],
        );
        login = String::from_utf8_lossy(&desk.wait_with_output().expect("desk").stdout).into_owned();
        if login.contains("\"EventAgentLogin\"") {
            break;
        }
    }
    assert!(login.contains("\"EventAgentLogin\""), "ss2 accepts ss1's agent once ss1 is gone:\n{login}");
    let (_, retried_ok, retried_failed) = sipp_counts(&gateway(ss2.udp, failed).wait_with_output().expect("sipp"));
    assert_eq!((retried_ok, retried_failed), (failed, 0), "every call retried at the survivor is delivered");
}

/// Issue 4 item 3 / F6 with real processes: an agent phone's DN 1600 at ss2 calls DN 1500,
/// whose agent is logged in at ss1. The call goes over the inter-site trunk with both
/// peers in the path: ss2's desktop sees EventDialing, Outbound, to the access number
/// `9901` + 1500; ss1's desktop sees EventRinging, Inbound; the caller's BYE releases the
/// call at both.
#[test]
fn an_internal_call_across_the_trunk_is_reported_on_both_peers() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let ss1 = start_peer("int-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("int-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    register_phone_at(&[&ss1], &[1500], phone_port);
    let desk1 =
        cti_client(&ss1, "6", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    let desk2 = cti_client(&ss2, "6", &["RequestRegisterAddress ThisDN=1600"]);
    std::thread::sleep(Duration::from_millis(3500)); // presence reaches ss2
    let calls = ss2.dir.join("internal.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1500;1600;\n").expect("csv");
    let (ok, n, _) = sipp(
        ss2.udp,
        &["-sf", scenario("phone-call.xml").to_str().expect("path"), "-inf", calls.to_str().expect("path"), "-m", "1"],
    );
    assert!(ok && n == 1, "the internal call completed through both peers");
    let text1 = String::from_utf8_lossy(&desk1.wait_with_output().expect("desk1").stdout).into_owned();
    let text2 = String::from_utf8_lossy(&desk2.wait_with_output().expect("desk2").stdout).into_owned();
    let event = |text: &str, name: &str| -> serde_json::Value {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    let dialing = event(&text2, "EventDialing");
    assert_eq!((dialing["CallType"].as_str(), dialing["OtherDN"].as_str()), (Some("Outbound"), Some("99011500")));
    let ringing = event(&text1, "EventRinging");
    assert_eq!(ringing["CallType"].as_str(), Some("Inbound"), "{text1}");
    event(&text1, "EventReleased");
    event(&text2, "EventReleased");
}
