//! Issue 21: the stats API and wallboard over TLS (`stats_tls = true` with `[site.tls]`),
//! against a real `tandem stat-server`: the wallboard loads over `https://`, `tandem
//! stats` reads the figures over `wss://` trusting the site's certificate (`--ca`), and a
//! plain `ws://` client gets nothing. The certificate is made at test time with rcgen.
//!
//! Runs when TANDEM_REAL_PEERS=1.

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

mod common;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;

/// A `tandem stat-server` child, killed by PID when dropped.
struct StatServer(std::process::Child);

impl Drop for StatServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tandem_stats(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).arg("stats").args(args).output().expect("tandem stats runs")
}

async fn https_get(addr: SocketAddr, trusted: rustls::pki_types::CertificateDer<'static>, path: &str) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = tls_connector(trusted, None).connect(name, tcp).await.expect("TLS session");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut body = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut body)).await;
    String::from_utf8_lossy(&body).into_owned()
}

/// `tandem stat-server` for site s1 with `stats_tls`, the certificate in `dir/site.pem`;
/// returns it and its stats address.
fn stat_server(dir: &std::path::Path) -> (StatServer, SocketAddr) {
    let config = format!(
        "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:{}\"\ncti = \"127.0.0.1:{}\"\ncti_tokens = [\"a-token-of-16-chars\"]\n\
         stats = \"127.0.0.1:0\"\nstats_tls = true\ndns = [\"1000-1999\"]\n[site.tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [routing]\n",
        free_udp_port(),
        free_tcp_port(),
        dir.join("site.pem").display(),
        dir.join("site.key").display()
    );
    let file = dir.join("site.toml");
    std::fs::write(&file, config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["stat-server", "--config"])
        .arg(&file)
        .args(["--site", "s1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem stat-server starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = StatServer(child);
    let addr: SocketAddr = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("endpoint s1 stats ").map(|a| a.trim().parse().expect("addr")))
        .expect("the stats endpoint");
    (server, addr)
}

#[test]
fn the_stats_api_and_wallboard_are_served_over_tls() {
    if !enabled() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tandem-test-stats-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let trusted = self_signed_site(&dir, &["127.0.0.1"]);
    let pem = dir.join("site.pem");
    let (_server, addr) = stat_server(&dir);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let page = runtime.block_on(https_get(addr, trusted, "/wallboard"));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("/stats/ws"), "the wallboard page");

    let url = format!("wss://{addr}/stats/ws");
    let out = tandem_stats(&["--url", &url, "--ca", &pem.display().to_string(), "total"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("total"), "{text} {}", String::from_utf8_lossy(&out.stderr));
    let out = tandem_stats(&["--url", &url, "total"]);
    assert!(!out.status.success(), "wss:// without --ca is refused with a clear error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca"));
    let out = tandem_stats(&["--url", &format!("ws://{addr}/stats/ws"), "total"]);
    assert!(!out.status.success() || out.stdout.is_empty(), "plain ws:// gets no figures");
    // Issue 26: --watch prints a figure again only when it changed (the service pushes the
    // site figures every second).
    let mut watch = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["stats", "--url", &url, "--ca", &pem.display().to_string(), "--watch", "total"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tandem stats --watch");
    std::thread::sleep(Duration::from_millis(3_500));
    let _ = watch.kill(); // by PID
    let out = watch.wait_with_output().expect("output");
    let lines = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("total")).count();
    assert_eq!(lines, 1, "an idle figure is printed once in 3.5 s: {}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
