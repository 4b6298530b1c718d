//! Issue 10: the DR peer link over mutual TLS (`[site.peer_link]`) between two real
//! `tandem peer` processes. Certificates are made at test time with rcgen: a CA of the
//! pair, one certificate per site (IP 127.0.0.1), and a stranger's CA and certificate.
//!
//! Needs `sipp` (Debian `sip-tester`); runs when TANDEM_REAL_PEERS=1 (as `.ci/run` sets).

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

mod common;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio_rustls::rustls;

/// PEM files of the pair's CA, the two sites and a stranger (another CA's certificate).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-pki-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("pki dir");
        let (ca, ca_key) = authority();
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca");
        for site in ["ss1", "ss2"] {
            leaf(&dir, site, &ca, &ca_key);
        }
        let (other, other_key) = authority();
        leaf(&dir, "stranger", &other, &other_key);
        Self { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `[site.peer_link]` for `site`, listening on `listen` and dialling `peer`.
    fn link(&self, site: &str, listen: u16, peer: u16) -> String {
        format!(
            "[site.peer_link]\nlisten = \"127.0.0.1:{listen}\"\npeer = \"127.0.0.1:{peer}\"\n\
             cert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n",
            self.file(&format!("{site}.pem")),
            self.file(&format!("{site}.key")),
            self.file("ca.pem")
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn authority() -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("ca key");
    let cert = params.self_signed(&key).expect("ca cert");
    (cert, key)
}

fn leaf(dir: &Path, name: &str, ca: &rcgen::Certificate, ca_key: &rcgen::KeyPair) {
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf params");
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, ca, ca_key).expect("leaf cert");
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("leaf");
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("key");
}

/// A pair whose peer link runs over mutual TLS; the UDP ports and trunks as `bc_site`.
fn tls_pair(name: &str, pki: &Pki, polls: &str) -> (Tandem, Tandem) {
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let (l1, l2) = (free_tcp_port(), free_tcp_port());
    let site = |port, peer, trunk, prefix, who, listen, dial| {
        let text = bc_site("s1", port, peer, trunk, prefix).replace("oos-check = 2\noos-force = 1", polls);
        format!("{text}{}", pki.link(who, listen, dial))
    };
    let ss1 = start_peer(&format!("{name}-ss1"), &site(p1, p2, "TO_SS2", "9902", "ss1", l1, l2));
    let ss2 = start_peer(&format!("{name}-ss2"), &site(p2, p1, "TO_SS1", "9901", "ss2", l2, l1));
    (ss1, ss2)
}

fn metric(t: &Tandem, name: &str) -> u64 {
    let text = http_get(t.http.expect("http"), "/metrics");
    metric_in(&text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// `name`'s value in a scrape; None before the site's first snapshot (once a second).
fn metric_in(text: &str, name: &str) -> Option<u64> {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// F6 over the TLS link: presence from ss1 reaches ss2 (so ss2 sends the call to ss1), and
/// the internal call from 1600 at ss2 to agent 1500 at ss1 crosses the peer trunk, which
/// now runs on the link. Nothing went by UDP between the peers (their OPTIONS polls went
/// over TLS too, and the trunks stayed in service).
#[test]
fn an_internal_call_crosses_the_pair_over_the_mutual_tls_link() {
    if !enabled() {
        return;
    }
    let pki = Pki::new("call");
    let (ss1, ss2) = tls_pair("tls-call", &pki, "oos-check = 2\noos-force = 1");
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    register_phone_at(&[&ss1], &[1500], phone_port);
    let login = ["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"];
    let desk1 = cti_client(&ss1, "6", &login);
    std::thread::sleep(Duration::from_millis(3500)); // polls answered, presence reaches ss2
    assert!(one_call(ss2.udp, &ss2.dir, "phone-call.xml", "1500;1600;"), "the internal call crossed the pair");
    let text1 = String::from_utf8_lossy(&desk1.wait_with_output().expect("desk1").stdout).into_owned();
    assert!(text1.contains("\"EventRinging\"") && text1.contains("\"EventReleased\""), "ss1 had the call:\n{text1}");
    for t in [&ss1, &ss2] {
        assert!(metric(t, "tandem_peer_link_connects_total") >= 1, "the link came up");
        assert_eq!(metric(t, "tandem_peer_link_udp_ignored_total"), 0, "no peer traffic went by UDP");
        let log = std::fs::read_to_string(t.dir.join("stderr.log")).unwrap_or_default();
        assert!(!log.contains("trunk out of service"), "the peer trunk stayed in service:\n{log}");
    }
}

/// Only a certificate from the pair's CA gets onto the link: a client with a stranger's
/// certificate, and one with none, are refused at the handshake and nothing they send
/// reaches the engine (an OPTIONS gets no answer).
#[test]
fn a_client_without_the_pairs_certificate_is_refused() {
    if !enabled() {
        return;
    }
    let pki = Pki::new("refuse");
    let (l1, l2) = (free_tcp_port(), free_tcp_port());
    let text =
        format!("{}{}", bc_site("s1", free_udp_port(), free_udp_port(), "TO_SS2", "9902"), pki.link("ss1", l1, l2));
    let ss1 = start_peer("tls-refuse", &text);
    let ca = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(pki.file("ca.pem")).expect("ca")))
        .collect::<Result<Vec<_>, _>>()
        .expect("ca pem");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca[0].clone()).expect("root");
    let builder = || {
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots.clone())
    };
    let stranger_chain = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(pki.file("stranger.pem")).expect("stranger"),
    ))
    .collect::<Result<Vec<_>, _>>()
    .expect("stranger pem");
    let stranger_key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(pki.file("stranger.key")).expect("key"),
    ))
    .expect("key pem")
    .expect("a key");
    let clients = [
        ("a stranger's certificate", builder().with_client_auth_cert(stranger_chain, stranger_key).expect("client")),
        ("no certificate", builder().with_no_client_auth()),
    ];
    for (who, config) in clients {
        assert!(!answered(config, l1), "{who}: an OPTIONS over the peer link got an answer");
    }
    // The client reads the server's alert before the server's task counts the refusal.
    let start = std::time::Instant::now();
    let refused = || metric_in(&http_get(ss1.http.expect("http"), "/metrics"), "tandem_peer_link_refused_total");
    while refused().unwrap_or(0) < 2 && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(metric(&ss1, "tandem_peer_link_refused_total") >= 2, "both handshakes refused");
}

/// Connects to the peer link at `port` with `config`, sends an OPTIONS and waits 1 s for
/// any answer; true if one came.
fn answered(config: rustls::ClientConfig, port: u16) -> bool {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut session = rustls::ClientConnection::new(Arc::new(config), name).expect("session");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    let mut tls = rustls::Stream::new(&mut session, &mut tcp);
    let options = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKstranger\r\n\
                   Max-Forwards: 70\r\nFrom: <sip:x@x>;tag=s\r\nTo: <sip:y@y>\r\nCall-ID: stranger\r\n\
                   CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    if tls.write_all(options.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    matches!(tls.read(&mut buf), Ok(n) if n > 0)
}

/// With the link over TLS, a UDP datagram from the DR peer's own address is not the peer
/// (anyone can forge a source address): ss1's DR peer is at a UDP port this test holds,
/// and ss1 neither answers an OPTIONS from it nor takes a presence MESSAGE; it counts them.
#[test]
fn udp_from_the_peer_address_is_ignored_when_the_link_runs_over_tls() {
    if !enabled() {
        return;
    }
    let pki = Pki::new("forge");
    let forger = std::net::UdpSocket::bind("127.0.0.1:0").expect("forger");
    let forged = forger.local_addr().expect("addr").port();
    let (l1, l2) = (free_tcp_port(), free_tcp_port());
    let text = format!("{}{}", bc_site("s1", free_udp_port(), forged, "TO_SS2", "9902"), pki.link("ss1", l1, l2));
    let ss1 = start_peer("tls-forge", &text);
    forger.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    let mut buf = [0u8; 4096];
    for i in 0..3 {
        let options = format!(
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{forged};branch=z9hG4bKforge{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:TO_SS1@127.0.0.1>;tag=f\r\nTo: <sip:TO_SS2@127.0.0.1>\r\n\
             Call-ID: forge{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        forger.send_to(options.as_bytes(), ss1.udp).expect("send");
        // ss1's own polls go over its link (down here); any datagram back would be an answer.
        assert!(forger.recv_from(&mut buf).is_err(), "ss1 answered a UDP OPTIONS from the peer's address");
    }
    assert!(metric(&ss1, "tandem_peer_link_udp_ignored_total") >= 3, "the forged datagrams were counted");
}

/// The survivor hears of a killed peer process at once (its dialled connection closes)
/// instead of after `oos-check`/`oos-force` of unanswered polls (5 s and 2 s here), and
/// the dead site's agent logs in at the survivor within a second or so.
#[test]
fn a_killed_peer_is_noticed_at_once_over_the_tls_link() {
    if !enabled() {
        return;
    }
    let pki = Pki::new("kill");
    let (mut ss1, ss2) = tls_pair("tls-kill", &pki, "oos-check = 5\noos-force = 2");
    let rehomed = rehome_after_kill(&mut ss1, &ss2);
    eprintln!("agent re-homed at the survivor {rehomed:?} after the kill (each try takes ~0.25 s)");
    assert!(rehomed < Duration::from_secs(2), "noticed at once, not after the polls: {rehomed:?}");
}
