//! What the real-peer tests share: starting `tandem` processes on loopback and reading
//! their endpoints, running sipp clients and phones, a CTI client, an HTTP scrape.

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.
#![allow(dead_code)] // each test crate uses its own part of this

pub(crate) mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub(crate) struct Tandem {
    pub(crate) child: Child,
    pub(crate) udp: SocketAddr,
    pub(crate) tcp: SocketAddr,
    pub(crate) cti: Option<SocketAddr>,
    pub(crate) http: Option<SocketAddr>,
    pub(crate) tls: Option<SocketAddr>,
    pub(crate) dir: PathBuf,
}

pub(crate) const SITE: &str =
    "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ndns = [\"1000-1999\"]\n";

impl Tandem {
    pub(crate) fn start(name: &str) -> Self {
        Self::start_with(name, SITE)
    }

    pub(crate) fn start_with(name: &str, config_text: &str) -> Self {
        Self::start_site(name, config_text, "s1")
    }

    /// Starts site `site` of the deployment `config_text` as its own process.
    pub(crate) fn start_site(name: &str, config_text: &str, site: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("site.toml");
        std::fs::write(&config, config_text).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["peer", "--config"])
            .arg(&config)
            .args(["--site", site])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .spawn()
            .expect("tandem starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut udp, mut tcp, mut cti, mut http, mut tls) = (None, None, None, None, None);
        let (wants_cti, wants_http) = (config_text.contains("cti ="), config_text.contains("http ="));
        let wants_tls = config_text.contains("sip_tls =");
        while udp.is_none()
            || tcp.is_none()
            || (wants_cti && cti.is_none())
            || (wants_http && http.is_none())
            || (wants_tls && tls.is_none())
        {
            let line = lines.next().expect("endpoint lines").expect("utf-8");
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["endpoint", s, "sip-udp", a] if *s == site => udp = Some(a.parse().expect("addr")),
                ["endpoint", s, "sip-tcp", a] if *s == site => tcp = Some(a.parse().expect("addr")),
                ["endpoint", s, "cti-ws" | "cti-wss", a] if *s == site => cti = Some(a.parse().expect("addr")),
                ["endpoint", s, "http", a] if *s == site => http = Some(a.parse().expect("addr")),
                ["endpoint", s, "sip-tls", a] if *s == site => tls = Some(a.parse().expect("addr")),
                _ => {}
            }
        }
        Self { child, udp: udp.expect("udp"), tcp: tcp.expect("tcp"), cti, http, tls, dir }
    }

    pub(crate) fn alive(&mut self) -> bool {
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

pub(crate) fn enabled() -> bool {
    std::env::var("TANDEM_REAL_PEERS").is_ok_and(|v| v == "1")
}

pub(crate) fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sipp").join(name)
}

pub(crate) fn dn_file(dir: &Path) -> PathBuf {
    let path = dir.join("dns.csv");
    let mut text = String::from("SEQUENTIAL\n");
    for dn in 1000..2000 {
        text.push_str(&format!("{dn};\n"));
    }
    std::fs::write(&path, text).expect("dn file");
    path
}

/// Runs sipp to completion; returns (exit ok, successful, failed).
pub(crate) fn sipp(target: SocketAddr, args: &[&str]) -> (bool, u64, u64) {
    sipp_counts(&sipp_command(target, args).output().expect("sipp is installed (apt-get install sip-tester)"))
}

/// Runs the sipp client `scenario_name` (in tests/sipp) with injection file `inf` and
/// `extra` arguments to completion; returns (exit ok, successful, failed).
pub(crate) fn sipp_with_file(target: SocketAddr, scenario_name: &str, inf: &Path, extra: &[&str]) -> (bool, u64, u64) {
    let path = scenario(scenario_name);
    let args = ["-sf", path.to_str().expect("path"), "-inf", inf.to_str().expect("path")];
    sipp(target, &[&args[..], extra].concat())
}

/// A sipp client run against `target`, ending with an error after 60 s at most.
pub(crate) fn sipp_command(target: SocketAddr, args: &[&str]) -> Command {
    let mut command = Command::new("sipp");
    command
        .args(args)
        .args(["-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "60", "-timeout_error", "-trace_screen"])
        .arg(target.to_string())
        .current_dir(std::env::temp_dir());
    command
}

/// (exited cleanly, successful calls, failed calls) from a finished sipp's screen.
pub(crate) fn sipp_counts(out: &std::process::Output) -> (bool, u64, u64) {
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

/// `tandem up --config file` (warnings only on stderr, dropped), returned once its stat
/// service listens (its `endpoint ... stats` line); stopped by PID when dropped.
pub(crate) fn up_with_stats(file: &Path) -> Background {
    let mut up = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["up", "--config"])
        .arg(file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem up");
    let lines = BufReader::new(up.stdout.take().expect("stdout")).lines();
    for line in lines.map_while(Result::ok) {
        if line.contains(" stats ") {
            break;
        }
    }
    Background(up)
}

/// A baresip phone with one `account` line (`<sip:DN@site>;...`) that answers calls by
/// itself; stopped by PID when dropped (it also ends itself after 20 s).
pub(crate) fn baresip(t: &Tandem, account: &str) -> Background {
    baresip_with(t, account, "")
}

/// [`baresip`] with `extra` lines in its config (modules such as `ctrl_tcp`).
pub(crate) fn baresip_with(t: &Tandem, account: &str, extra: &str) -> Background {
    let phone_port = free_udp_port();
    let bs = t.dir.join("baresip");
    std::fs::create_dir_all(&bs).expect("dir");
    std::fs::write(
        bs.join("config"),
        format!(
            "sip_listen 127.0.0.1:{phone_port}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aubridge.so\n\
             module_app account.so\naudio_player aubridge,t\naudio_source aubridge,t\naudio_alert aubridge,t\nrtp_ports 31000-31100\n{extra}"
        ),
    )
    .expect("config");
    std::fs::write(bs.join("accounts"), format!("{account}\n")).expect("accounts");
    Background(
        Command::new("baresip")
            .arg("-f")
            .arg(&bs)
            .args(["-t", "20"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip is installed (apt-get install baresip)"),
    )
}

/// Polls site `s1`'s `/metrics` until it counts one registration; false after `limit`.
pub(crate) fn registered_within(t: &Tandem, limit: std::time::Duration) -> bool {
    metric_within(t, r#"tandem_registrations{site="s1"} 1"#, limit)
}

/// Polls `/metrics` (refreshed every second) until it contains `line`; false after `limit`.
pub(crate) fn metric_within(t: &Tandem, line: &str, limit: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if http_get(t.http.expect("http"), "/metrics").contains(line) {
            return true;
        }
    }
    false
}

/// A sipp process we started, stopped by PID when dropped.
pub(crate) struct Background(pub(crate) Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A sipp phone on `port` answering every call (`phone-answer.xml`); `server` is only the
/// default remote address sipp needs.
pub(crate) fn sipp_phone(port: u16, server: SocketAddr) -> Background {
    sipp_uas("phone-answer.xml", port, server)
}

/// A sipp phone on `port` running `scenario_name` (in tests/sipp) for every call.
pub(crate) fn sipp_uas(scenario_name: &str, port: u16, server: SocketAddr) -> Background {
    Background(
        Command::new("sipp")
            .args(["-sf", scenario(scenario_name).to_str().expect("path")])
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin"])
            .arg(server.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp phone"),
    )
}

pub(crate) fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A `tandem` subcommand run in the background (router, stat-server), stopped by PID.
pub(crate) fn tandem_service(args: &[&str], log: &Path) -> Background {
    Background(
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .spawn()
            .expect("tandem service starts"),
    )
}

pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Runs `tandem cti` against the site; returns its stdout lines (events as JSON).
pub(crate) fn cti_client(t: &Tandem, wait_s: &str, requests: &[&str]) -> Child {
    let url = format!("ws://{}/cti", t.cti.expect("cti endpoint"));
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["cti", "--url", &url, "--token", "t0ken", "--wait", wait_s])
        .args(requests)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem cti")
}

pub(crate) fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// One site of a BC pair (sealed peer link, `peer_secret`) on `port`, its peer on `peer_port`.
pub(crate) fn bc_site(name: &str, port: u16, peer_port: u16, trunk: &str, prefix: &str) -> String {
    format!(
        "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{port}\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
         cti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\npeer_secret = \"a-pair-secret-for-tests\"\n[site.options]\ndr-peer-trunk = \"{trunk}\"\ndr-forward = \"no-agent\"\n\
         [[site.dn]]\nnumber = \"{trunk}\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:{peer_port}\"\nprefix = \"{prefix}\"\noos-check = 2\noos-force = 1\n\
         [[site.agent]]\nid = \"A1500\"\ndn = \"1500\"\n"
    )
}

/// Starts one peer; its site is named `s1` in its own file (the test harness reads the
/// `endpoint s1 ...` lines), which is fine: each process runs one site.
pub(crate) fn start_peer(name: &str, config: &str) -> Tandem {
    Tandem::start_with(name, config)
}

/// Registers each DN with the phone at `phone_port` at every given peer.
pub(crate) fn register_phone_at(peers: &[&Tandem], dns: &[u16], phone_port: u16) {
    let reg = peers[0].dir.join("reg.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};127.0.0.1:{phone_port}\n")).collect();
    std::fs::write(&reg, format!("SEQUENTIAL\n{text}")).expect("csv");
    let count = dns.len().to_string();
    for peer in peers {
        let (ok, n, _) = sipp_with_file(peer.udp, "register-contact.xml", &reg, &["-m", &count]);
        assert!(ok && n == dns.len() as u64, "the phone registers its DNs at every peer");
    }
}

/// One call by the sipp client `scenario_name` to `target`, with `row` (e.g. `"1500;"`) as
/// the injection file's only line; true when it completed.
pub(crate) fn one_call(target: SocketAddr, dir: &Path, scenario_name: &str, row: &str) -> bool {
    let calls = dir.join("one-call.csv");
    std::fs::write(&calls, format!("SEQUENTIAL\n{row}\n")).expect("csv");
    let (ok, n, _) = sipp_with_file(target, scenario_name, &calls, &["-m", "1"]);
    ok && n == 1
}

/// Agent A1500 logs in at `home`, which the pair then refuses at `survivor`; `home`'s
/// process is killed (by PID) and the login is tried at `survivor` until it works:
/// returns how long after the kill it did (panics after 8 s).
pub(crate) fn rehome_after_kill(home: &mut Tandem, survivor: &Tandem) -> std::time::Duration {
    let login = ["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"];
    let logged_in = |out: std::process::Output| String::from_utf8_lossy(&out.stdout).contains("EventAgentLogin");
    assert!(logged_in(cti_client(home, "1", &login).wait_with_output().expect("desk at home")));
    std::thread::sleep(std::time::Duration::from_millis(1500)); // presence reaches the survivor
    let refused = cti_client(survivor, "0.5", &login).wait_with_output().expect("desk at the survivor");
    assert!(!logged_in(refused), "logged in at home still");
    home.child.kill().expect("kill by PID");
    let killed = std::time::Instant::now();
    while killed.elapsed() < std::time::Duration::from_secs(8) {
        if logged_in(cti_client(survivor, "0.2", &login).wait_with_output().expect("desk at the survivor")) {
            return killed.elapsed();
        }
    }
    panic!("the agent never logged in at the survivor");
}

/// A TLS client that trusts the certificate `trusted` (a site's own, or its CA) and, when
/// `client` is given, shows that certificate and key.
pub(crate) fn tls_connector(
    trusted: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    client: Option<(
        tokio_rustls::rustls::pki_types::CertificateDer<'static>,
        tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>,
    )>,
) -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted).expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Writes a self-signed certificate for `names` to `dir/site.pem` and its key to
/// `dir/site.key`; returns the certificate (DER) for clients to trust.
pub(crate) fn self_signed_site(dir: &Path, names: &[&str]) -> tokio_rustls::rustls::pki_types::CertificateDer<'static> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = rcgen::generate_simple_self_signed(names).expect("rcgen");
    std::fs::write(dir.join("site.pem"), cert.cert.pem()).expect("cert");
    std::fs::write(dir.join("site.key"), cert.key_pair.serialize_pem()).expect("key");
    cert.cert.der().clone()
}

/// A CTI WebSocket client connection.
pub(crate) type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next CTI event named `name` on `ws` (others skipped), within `wait`.
pub(crate) async fn next_named(ws: &mut Ws, name: &str, wait: std::time::Duration) -> Option<serde_json::Value> {
    use futures_util::StreamExt as _;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.ok().flatten()?.ok()?;
        let v: serde_json::Value = serde_json::from_str(&next.to_string()).unwrap_or_default();
        if v["message"] == name {
            return Some(v);
        }
    }
}
