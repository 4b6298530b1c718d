//! Issue 10's CTI attacks against the real binary, each failing: a desktop token asking
//! for shutdown or acting on another agent's DN, a rotated token after a reload, the
//! connection past `limits.cti_clients`, a token without a header from a URL only.
//!
//! Runs when TANDEM_REAL_PEERS=1.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKENS: &str = "[[site.cti_token]]\ntoken = \"admin-secret\"\nrole = \"admin\"\n\
     [[site.cti_token]]\ntoken = \"desk-1001-secret\"\nrole = \"desktop\"\ndns = [\"1001\"]\n\
     [[site.cti_token]]\ntoken = \"router-secret\"\nrole = \"client\"\n";

fn site(name: &str, extra: &str) -> Tandem {
    Tandem::start_with(name, &format!("{SITE}cti = \"127.0.0.1:0\"\n{extra}{TOKENS}"))
}

/// Connects with `token` in the Authorization header; the server's hello is read.
async fn connect(cti: SocketAddr, token: &str) -> Result<Ws, String> {
    let mut request = format!("ws://{cti}/cti").into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().map_err(|_| "header")?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| e.to_string())?;
    let _hello = ws.next().await;
    Ok(ws)
}

/// Sends `json` and returns the next event's `message` and `ErrorCode`.
async fn ask(ws: &mut Ws, json: &str) -> (String, String) {
    ws.send(Message::Text(json.to_owned())).await.expect("send");
    let next = tokio::time::timeout(Duration::from_secs(3), ws.next()).await.ok().flatten();
    let text = next.and_then(Result::ok).map(|m| m.to_string()).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (v["message"].as_str().unwrap_or("").to_owned(), v["ErrorCode"].as_str().unwrap_or("").to_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn a_desktop_token_acts_on_its_own_dn_only_and_cannot_stop_the_site() {
    if !enabled() {
        return;
    }
    let mut t = site("cti-roles", "");
    let cti = t.cti.expect("cti");
    runtime().block_on(async {
        let mut desk = connect(cti, "desk-1001-secret").await.expect("desktop connects");
        let own = ask(&mut desk, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#).await;
        assert_eq!(own.0, "EventRegistered");
        let other = ask(&mut desk, r#"{"message":"RequestAgentLogout","ThisDN":"1002"}"#).await;
        assert_eq!(other, ("EventError".into(), "NotPermitted".into()), "another agent's DN");
        let stop = ask(&mut desk, r#"{"message":"RequestPrivateService","ServiceID":3019}"#).await;
        assert_eq!(stop, ("EventError".into(), "NotPermitted".into()), "shutdown");
        let mut router = connect(cti, "router-secret").await.expect("client connects");
        let stop = ask(&mut router, r#"{"message":"RequestPrivateService","ServiceID":3019}"#).await;
        assert_eq!(stop.1, "NotPermitted");
        let monitor = ask(&mut router, r#"{"message":"RequestRegisterAddress","ThisDN":"1002"}"#).await;
        assert_eq!(monitor.0, "EventRegistered", "a client monitors any DN");
        assert!(connect(cti, "guess").await.is_err(), "an unknown token is refused");
    });
    assert!(t.alive(), "still running: nobody could stop it");
}

#[test]
fn a_rotated_token_stops_working_on_reload_and_its_connection_closes() {
    if !enabled() {
        return;
    }
    let t = site("cti-rotate", "");
    let cti = t.cti.expect("cti");
    runtime().block_on(async {
        let mut old = connect(cti, "desk-1001-secret").await.expect("the old token connects");
        let path = t.dir.join("site.toml");
        let text = std::fs::read_to_string(&path).expect("config").replace("desk-1001-secret", "desk-1001-rotated");
        std::fs::write(&path, text).expect("write");
        let mut admin = connect(cti, "admin-secret").await.expect("admin");
        assert_eq!(
            ask(&mut admin, r#"{"message":"RequestReloadConfig","ReferenceID":1}"#).await.0,
            "EventConfigReloaded"
        );
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match old.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert_eq!(closed.ok(), Some(true), "the old token's connection is closed");
        assert!(connect(cti, "desk-1001-secret").await.is_err(), "the old token is refused");
        assert!(connect(cti, "desk-1001-rotated").await.is_ok(), "the new one works");
    });
}

#[test]
fn connections_past_the_cap_are_refused_and_urls_carry_no_token_but_from_loopback() {
    if !enabled() {
        return;
    }
    let t = site("cti-cap", "[site.limits]\ncti_clients = 2\n");
    let cti = t.cti.expect("cti");
    runtime().block_on(async {
        let first = connect(cti, "admin-secret").await.expect("first");
        let second = connect(cti, "router-secret").await.expect("second");
        let third = connect(cti, "admin-secret").await;
        assert!(third.is_err_and(|e| e.contains("503")), "the third is refused");
        drop((first, second));
        tokio::time::sleep(Duration::from_millis(300)).await;
        // From loopback a query-string token is taken (the agent page of old, curl).
        let url = format!("ws://{cti}/cti?token=admin-secret");
        assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_ok(), "room again, token in the URL");
    });
}

/// `tandem passwd --agent` for `password`: the `password_hash = "..."` line.
fn agent_hash_line(password: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["passwd", "--agent", "A1001"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tandem passwd");
    child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write");
    let out = child.wait_with_output().expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines().find(|l| l.starts_with("password_hash")).expect("a password_hash line").to_owned()
}

#[test]
fn an_agent_with_a_hashed_password_logs_in_with_it_only() {
    if !enabled() {
        return;
    }
    let agent = format!(
        "agent_passwords = \"required\"\n[[site.agent]]\nid = \"A1001\"\ndn = \"1001\"\n{}\n",
        agent_hash_line("agent pw")
    );
    let t = site("cti-agent-hash", &agent);
    let cti = t.cti.expect("cti");
    let config = std::fs::read_to_string(t.dir.join("site.toml")).expect("config");
    assert!(!config.contains("agent pw"), "only the hash is kept");
    runtime().block_on(async {
        let mut desk = connect(cti, "desk-1001-secret").await.expect("desktop");
        assert_eq!(
            ask(&mut desk, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#).await.0,
            "EventRegistered"
        );
        let wrong = r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001","Password":"agent pX"}"#;
        assert_eq!(ask(&mut desk, wrong).await, ("EventError".into(), "BadPassword".into()));
        let none = r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001"}"#;
        assert_eq!(ask(&mut desk, none).await.1, "BadPassword");
        let right = r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001","Password":"agent pw"}"#;
        assert_eq!(ask(&mut desk, right).await.0, "EventAgentLogin");
    });
}

#[test]
fn refused_cti_tokens_and_agent_passwords_are_found_by_the_shipped_fail2ban_filter() {
    if !enabled() {
        return;
    }
    let agent = format!(
        "agent_passwords = \"required\"\n[[site.agent]]\nid = \"A1001\"\ndn = \"1001\"\n{}\n",
        agent_hash_line("agent pw")
    );
    let t = site("cti-fail2ban", &agent);
    let cti = t.cti.expect("cti");
    runtime().block_on(async {
        assert!(connect(cti, "guessed-token").await.is_err(), "a wrong token is refused");
        let mut desk = connect(cti, "desk-1001-secret").await.expect("desktop");
        let _ = ask(&mut desk, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#).await;
        let wrong = r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001","Password":"guess"}"#;
        assert_eq!(ask(&mut desk, wrong).await.1, "BadPassword");
    });
    std::thread::sleep(Duration::from_millis(300)); // the log is written
    let log = std::fs::read_to_string(t.dir.join("stderr.log")).expect("the site's log");
    let token: Vec<&str> = log.lines().filter(|l| l.contains("CTI connection refused: no valid token")).collect();
    let password: Vec<&str> = log.lines().filter(|l| l.contains("agent login refused: wrong password")).collect();
    assert_eq!((token.len(), password.len()), (1, 1), "each refusal logged once: {log}");
    assert!(token[0].contains("remote=127.0.0.1:"), "{}", token[0]);
    assert!(password[0].contains("remote=127.0.0.1:") && password[0].contains("agent=A1001"), "{}", password[0]);
    let filter = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fail2ban/filter.d/tandem.conf");
    let regex = std::process::Command::new("fail2ban-regex").arg(t.dir.join("stderr.log")).arg(filter).output();
    let out = String::from_utf8_lossy(&regex.expect("fail2ban-regex (Debian fail2ban) runs").stdout).into_owned();
    assert!(out.contains(" 2 matched"), "the filter finds both, with their source: {out}");
}
