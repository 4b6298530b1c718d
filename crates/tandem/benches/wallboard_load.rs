//! The wallboard's feed with 1,000 agents: `tandem up` with a stat service, 1,000 agents
//! logged in at site 1, a CTI desktop changing their states round-robin at a steady rate,
//! and a WebSocket subscriber to `*` (what the wallboard page subscribes to) timing each
//! change from the request to the `agent/<id>` update that carries it (loopback, wall
//! clock).
//!
//!   cargo bench -p tandem --bench wallboard_load            (1,000 agents, 1,000 changes/s, 10 s)
//!   AGENTS=2000 RATE=2000 SECONDS=10 cargo bench -p tandem --bench wallboard_load
#![allow(clippy::print_stdout, clippy::expect_used, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Two sites; `agents` logins A1000... on DNs 1000... at site 1, all in group "sales".
fn config(p: &[u16; 6], agents: u64) -> String {
    let mut agent_logins = String::new();
    let mut routing_agents = String::new();
    for i in 0..agents {
        let _ = write!(agent_logins, "[[site.agent]]\nid = \"A{}\"\ndn = \"{}\"\n", 1000 + i, 1000 + i);
        let _ = write!(routing_agents, "[[routing.agent]]\nid = \"A{}\"\nskills = {{ sales = 1 }}\n", 1000 + i);
    }
    let site = |name: &str, sip: u16, tcp: u16, cti: u16, stats: Option<u16>, agents: &str| {
        let stats = stats.map(|s| format!("stats = \"127.0.0.1:{s}\"\n")).unwrap_or_default();
        format!(
            "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{sip}\"\nsip_tcp = \"127.0.0.1:{tcp}\"\ncti = \"127.0.0.1:{cti}\"\n{stats}\
             cti_tokens = [\"t\"]\ndns = [\"1000-4999\"]\n[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n{agents}"
        )
    };
    site("s1", p[0], p[1], p[2], Some(p[5]), &agent_logins)
        + &site("s2", p[3], p[4], port(), None, "")
        + "[routing]\n"
        + &routing_agents
        + "[[routing.point]]\ndn = \"5000\"\n"
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds benchmarks; this one only runs under `cargo bench`
    }
    let (agents, rate, seconds) = (env("AGENTS", 1000), env("RATE", 1000), env("SECONDS", 10));
    let p = [port(), port(), port(), port(), port(), port()];
    let dir = std::env::temp_dir().join(format!("tandem-wallboard-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("deployment.toml");
    std::fs::write(&file, config(&p, agents)).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["up", "--config"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tandem up");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines.map_while(Result::ok) {
        if line.contains(" stats ") {
            break;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (mut times, lost) = runtime.block_on(measure(p[2], p[5], agents, rate, seconds));
    let _ = child.kill(); // by PID
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{agents} agents, {rate} state changes/s for {seconds} s -> wallboard feed (`*`): p50 {:?} p99 {:?} max {:?} \
         ({} changes timed, {} not seen within 5 s)",
        at(0.5),
        at(0.99),
        at(1.0),
        times.len(),
        lost
    );
}

/// Logs every agent in, subscribes to `*`, then changes states round-robin at `rate`.
async fn measure(cti: u16, stats: u16, agents: u64, rate: u64, seconds: u64) -> (Vec<Duration>, usize) {
    tokio::time::sleep(Duration::from_millis(1500)).await; // links up
    let (desk, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{cti}/cti?token=t")).await.expect("cti");
    let (mut desk_tx, mut desk_rx) = desk.split();
    tokio::spawn(async move { while desk_rx.next().await.is_some() {} });
    for i in 0..agents {
        let dn = 1000 + i;
        for r in [
            format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#),
            format!(r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"A{dn}"}}"#),
        ] {
            desk_tx.send(Message::Text(r)).await.expect("send");
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // every login reaches the stat service
    let (sub, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{stats}/stats/ws")).await.expect("stats");
    let (mut sub_tx, mut sub_rx) = sub.split();
    sub_tx.send(Message::Text(r#"{"subscribe":["*"]}"#.into())).await.expect("subscribe");
    // Sent changes, by (agent, state), and what arrived when.
    let sent: Arc<Mutex<HashMap<(u64, bool), Instant>>> = Arc::default();
    let times: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let reader = {
        let (sent, times) = (sent.clone(), times.clone());
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = sub_rx.next().await {
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
                let Some(name) = value["stat"].as_str().and_then(|n| n.strip_prefix("agent/A")) else { continue };
                let Ok(dn) = name.parse::<u64>() else { continue };
                let ready = match value["value"]["state"].as_str() {
                    Some("Ready") => true,
                    Some("NotReady") => false,
                    _ => continue,
                };
                if let Some(at) = sent.lock().expect("lock").remove(&(dn, ready)) {
                    times.lock().expect("lock").push(at.elapsed());
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await; // the current values arrive first
    let total = rate * seconds;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for n in 0..total {
        let dn = 1000 + n % agents;
        let ready = (n / agents).is_multiple_of(2); // logged in NotReady: first round Ready, then NotReady...
        let message = if ready { "RequestAgentReady" } else { "RequestAgentNotReady" };
        let due = start + gap * n as u32;
        tokio::time::sleep_until(due.into()).await;
        sent.lock().expect("lock").insert((dn, ready), Instant::now());
        let request = format!(r#"{{"message":"{message}","ThisDN":"{dn}"}}"#);
        desk_tx.send(Message::Text(request)).await.expect("send");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    reader.abort();
    let lost = sent.lock().expect("lock").len();
    let times = times.lock().expect("lock").clone();
    (times, lost)
}
