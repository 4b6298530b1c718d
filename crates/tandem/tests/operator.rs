//! What an operator sees of the `tandem` binary: logs without colour codes when stderr is
//! not a terminal, a JSON log format, one line per fatal error, health endpoints.

mod common;

use std::process::Command;

use common::*;

fn tandem(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tandem"));
    c.args(args).env_remove("NO_COLOR").env_remove("TANDEM_LOG_FORMAT").env_remove("RUST_LOG");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("tandem runs")
}

fn example() -> String {
    format!("{}/../../examples/two-sites.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let out = tandem(&["check", "--config", &example()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("configuration is valid"), "{err}");
    assert!(!err.contains('\u{1b}'), "no ANSI escapes in a pipe: {err:?}");
}

#[test]
fn the_json_log_format_writes_one_object_per_line() {
    let out = tandem(&["check", "--config", &example()], &[("TANDEM_LOG_FORMAT", "json")]);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("configuration is valid")).expect("the line");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(v["level"], "INFO", "{v}");
    assert_eq!(v["fields"]["sites"], 2, "{v}");
}

#[test]
fn a_fatal_error_is_printed_once() {
    let dir = std::env::temp_dir().join(format!("tandem-operator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1000\"]\nbogus = 1\n")
        .expect("write");
    let out = tandem(&["check", "--config", bad.to_str().expect("path")], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("bogus").count(), 1, "once: {err}");
    assert!(err.contains("bad.toml:5:"), "names the line: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn health_and_readiness_answer_on_the_http_port_and_log_lines_name_the_site() {
    let t = Tandem::start_with("health", &format!("{SITE}http = \"127.0.0.1:0\"\n"));
    let health = http_get(t.http.expect("http"), "/healthz");
    assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{health}");
    let ready = http_get(t.http.expect("http"), "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200") && ready.contains("site s1 ready"), "{ready}");
    let log = std::fs::read_to_string(t.dir.join("stderr.log")).unwrap_or_default();
    let running = log.lines().find(|l| l.contains("site running")).unwrap_or_default();
    assert!(running.contains("site{site=s1}"), "the site's span on its lines: {log}");
}

/// A desktop sending a WebSocket message over 64 KiB is disconnected; the site goes on
/// serving other desktops.
#[test]
fn an_oversized_cti_message_closes_that_connection_only() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let t = Tandem::start_with("oversized", &format!("{SITE}cti = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n"));
    let url = format!("ws://{}/cti?token=t0ken", t.cti.expect("cti"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connects");
        let _hello = ws.next().await;
        let big = format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{}"}}"#, "1".repeat(100 * 1024));
        let _ = ws.send(Message::Text(big)).await;
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert_eq!(closed.ok(), Some(true), "the connection is closed");
        let (mut other, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("others still connect");
        let hello = other.next().await.and_then(Result::ok).map(|m| m.to_string()).unwrap_or_default();
        assert!(hello.contains("EventServerInfo"), "{hello}");
    });
}
