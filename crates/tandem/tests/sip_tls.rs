//! SIP over TLS against the real binary: a phone registers over TLS (the certificate is
//! made at test time with rcgen) and a gateway's UDP call reaches it over that TLS
//! connection; a client that does not trust the certificate gets no session.
//!
//! Runs when TANDEM_REAL_PEERS=1.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;

fn client(trusted: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    tls_connector(trusted, None)
}

/// Reads from `stream` until a whole message (head and Content-Length body) is in.
async fn read_message(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length:").or_else(|| l.strip_prefix("l:")))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        let n =
            tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("in time").expect("read");
        assert!(n > 0, "connection closed; got {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_phone_registers_over_tls_and_a_gateway_call_reaches_it_there() {
    if !enabled() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tandem-test-tls-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let trusted = self_signed_site(&dir, &["localhost", "127.0.0.1"]);
    let config = format!(
        "{SITE}sip_tls = \"127.0.0.1:0\"\n[site.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        dir.join("site.pem").display(),
        dir.join("site.key").display()
    );
    let t = Tandem::start_with("tls", &config);
    let tls_addr: SocketAddr = t.tls.expect("a sip-tls endpoint");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // Not trusted: no session.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
        let tcp = tokio::net::TcpStream::connect(tls_addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        assert!(client(other.cert.der().clone()).connect(name.clone(), tcp).await.is_err(), "untrusted certificate");

        let tcp = tokio::net::TcpStream::connect(tls_addr).await.expect("connect");
        let mut phone = client(trusted).connect(name, tcp).await.expect("TLS session");
        let local = "127.0.0.1:5999";
        let register = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\n\
             From: <sip:1700@127.0.0.1>;tag=t1\r\nTo: <sip:1700@127.0.0.1>\r\nCall-ID: tls-reg\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:1700@{local};transport=tls>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
        );
        phone.write_all(register.as_bytes()).await.expect("write");
        let answer = read_message(&mut phone).await;
        assert!(answer.starts_with("SIP/2.0 200"), "{answer}");

        // A gateway calls 1700 over UDP; the INVITE arrives on the phone's TLS connection.
        let (udp, dir) = (t.udp, t.dir.clone());
        let gateway = tokio::task::spawn_blocking(move || one_call(udp, &dir, "gateway-refused.xml", "1700;"));
        let invite = read_message(&mut phone).await;
        assert!(invite.starts_with("INVITE sip:1700@"), "{invite}");
        // It says TLS and points back at the TLS listener (RFC 5630: a sips: Contact).
        assert!(invite.contains(&format!("Via: SIP/2.0/TLS {tls_addr};")), "{invite}");
        assert!(invite.contains(&format!("Contact: <sips:tandem@{tls_addr}>")), "{invite}");
        // Busy: answer 486 on the same connection, then the ACK comes.
        let via: Vec<&str> = invite.lines().filter(|l| l.starts_with("Via:")).collect();
        let header = |name: &str| invite.lines().find(|l| l.starts_with(name)).unwrap_or("").to_owned();
        let busy = format!(
            "SIP/2.0 486 Busy Here\r\n{}\r\n{}\r\n{};tag=busy\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            via.join("\r\n"),
            header("From:"),
            header("To:"),
            header("Call-ID:"),
            header("CSeq:")
        );
        phone.write_all(busy.as_bytes()).await.expect("write");
        let ack = read_message(&mut phone).await;
        assert!(ack.starts_with("ACK "), "{ack}");
        assert!(gateway.await.expect("gateway"), "the gateway got the refusal it expects");
    });
}

#[test]
fn cti_over_wss_with_the_token_in_a_header() {
    if !enabled() {
        return;
    }
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let dir = std::env::temp_dir().join(format!("tandem-test-wss-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let trusted = self_signed_site(&dir, &["localhost", "127.0.0.1"]);
    let config = format!(
        "{SITE}cti = \"127.0.0.1:0\"\ncti_tls = true\ncti_tokens = [\"wss-admin-token\"]\n[site.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        dir.join("site.pem").display(),
        dir.join("site.key").display()
    );
    let t = Tandem::start_with("wss", &config);
    let cti = t.cti.expect("cti");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tcp = tokio::net::TcpStream::connect(cti).await.expect("connect");
        let session = client(trusted).connect(name, tcp).await.expect("TLS session");
        let mut request = format!("wss://localhost:{}/cti", cti.port()).into_client_request().expect("request");
        request.headers_mut().insert("authorization", "Bearer wss-admin-token".parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::client_async(request, session).await.expect("wss upgrade");
        let hello = ws.next().await.and_then(Result::ok).map(|m| m.to_string()).unwrap_or_default();
        assert!(hello.contains("EventServerInfo"), "{hello}");
        // Plain ws:// to the same port gets no answer it can use.
        let plain = tokio_tungstenite::connect_async(format!("ws://{cti}/cti?token=wss-admin-token")).await;
        assert!(plain.is_err(), "plain WebSocket refused on the TLS port");
    });
}
