//! Issue 21, finding 9: a trunk known by its TLS client certificate against the real
//! binary. `[site.tls] client_ca` names the CA of the gateways' certificates, and the
//! trunk's `allow` rule `127.0.0.1 tls cert=gw1.test`: with `[site.auth]` on, an INVITE
//! over TLS is the trunk's (not challenged) only from a client whose certificate that CA
//! issued for gw1.test. Another name from the same CA, the right name from another CA,
//! and no certificate at all are challenged (407) like anyone. Certificates are made at
//! test time with rcgen.
//!
//! Runs when TANDEM_REAL_PEERS=1.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA, and the certificates it issued.
struct Authority {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Authority {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        Self { cert, key }
    }

    /// A certificate for `names` and its key.
    fn issue(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = rcgen::CertificateParams::new(names).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("leaf cert");
        let key = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        (cert.der().clone(), key)
    }
}

/// The site's own certificate (127.0.0.1) and the gateways' CA, written to `dir`.
fn site_files(dir: &Path, gateways: &Authority) -> CertificateDer<'static> {
    let site = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("rcgen");
    std::fs::write(dir.join("site.pem"), site.cert.pem()).expect("cert");
    std::fs::write(dir.join("site.key"), site.key_pair.serialize_pem()).expect("key");
    std::fs::write(dir.join("gateways-ca.pem"), gateways.cert.pem()).expect("ca");
    site.cert.der().clone()
}

fn connector(
    site: CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> tokio_rustls::TlsConnector {
    tls_connector(site, client)
}

/// Sends an INVITE from "gateway" 1999 to DN 1001 over a new TLS session and returns the
/// status of the first final answer (1001 has no phone: a trunk's call gets 480).
async fn invite_status(tls: SocketAddr, connector: tokio_rustls::TlsConnector, n: u32) -> u16 {
    let tcp = tokio::net::TcpStream::connect(tls).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("TLS session");
    let local = stream.get_ref().0.local_addr().expect("local");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKcert{n}\r\nMax-Forwards: 70\r\n\
         From: \"CEO Bank Security\" <sip:1999@127.0.0.1>;tag=c{n}\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: cert-{n}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:gw@{local};transport=tls>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    stream.write_all(invite.as_bytes()).await.expect("write");
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(code) = got
            .split("\r\n\r\n")
            .filter_map(|m| m.trim_start().strip_prefix("SIP/2.0 "))
            .filter_map(|rest| rest.get(..3)?.parse::<u16>().ok())
            .find(|code| *code >= 200)
        {
            return code;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed; got {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn only_the_gateway_s_certificate_makes_a_tls_client_the_trunk() {
    if !enabled() {
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("tandem-test-trunk-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let gateways = Authority::new();
    let site_cert = site_files(&dir, &gateways);
    let file = |name: &str| dir.join(name).display().to_string();
    let config = format!(
        "{SITE}sip_tls = \"127.0.0.1:0\"\n[site.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n\
         [site.auth]\nrealm = \"certs\"\nnonce_secret = \"a-test-secret-of-some-length\"\n\
         [[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:5999\"\nprefix = \"9\"\ncallers = [\"1000\"]\n\
         allow = [\"127.0.0.1 tls cert=gw1.test\"]\n",
        file("site.pem"),
        file("site.key"),
        file("gateways-ca.pem")
    );
    let t = Tandem::start_with("trunk-certs", &config);
    let tls = t.tls.expect("a sip-tls endpoint");
    let stranger = Authority::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let cases = [
            ("gw1.test by the gateways' CA", Some(gateways.issue(&["gw1.test"])), 480),
            ("another name by the gateways' CA", Some(gateways.issue(&["gw2.test"])), 407),
            ("no certificate", None, 407),
        ];
        for (n, (what, client, expected)) in (1..).zip(cases) {
            let status = invite_status(tls, connector(site_cert.clone(), client), n).await;
            assert_eq!(status, expected, "{what}");
        }
        // gw1.test by another CA: no session at all (the handshake checks the chain).
        let tcp = tokio::net::TcpStream::connect(tls).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let forged = connector(site_cert.clone(), Some(stranger.issue(&["gw1.test"])));
        let session = forged.connect(name, tcp).await;
        let refused = match session {
            Err(_) => true,
            // TLS 1.3: the server's refusal of the client certificate comes after the
            // client's handshake ends; the first read sees it.
            Ok(mut stream) => {
                let _ = stream.write_all(b"OPTIONS sip:x SIP/2.0\r\n\r\n").await;
                let mut buf = [0u8; 64];
                matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
            }
        };
        assert!(refused, "a certificate from another CA gets no session");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
