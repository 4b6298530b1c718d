//! Time from an agent's state change to a stats subscriber: `tandem up` with a stat
//! service, a CTI desktop toggling agent A1001 Ready / NotReady, and a WebSocket
//! subscriber to `agent/A1001` timing each change it hears of (loopback, wall clock).
//!
//!   cargo bench -p tandem --bench stats_latency        (500 changes; p50 / p99 / max)
#![allow(clippy::print_stdout, clippy::expect_used, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

fn config(p: &[u16; 6]) -> String {
    let site = |name: &str, sip: u16, tcp: u16, cti: u16, stats: Option<u16>| {
        let stats = stats.map(|s| format!("stats = \"127.0.0.1:{s}\"\n")).unwrap_or_default();
        format!(
            "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{sip}\"\nsip_tcp = \"127.0.0.1:{tcp}\"\ncti = \"127.0.0.1:{cti}\"\n{stats}\
             cti_tokens = [\"t\"]\ndns = [\"1000-1999\"]\n[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n\
             [[site.agent]]\nid = \"A1001\"\ndn = \"1001\"\n"
        )
    };
    site("s1", p[0], p[1], p[2], Some(p[5]))
        + &site("s2", p[3], p[4], port(), None)
        + "[routing]\n[[routing.agent]]\nid = \"A1001\"\nskills = { sales = 1 }\n[[routing.point]]\ndn = \"5000\"\n"
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds benchmarks; this one only runs under `cargo bench`
    }
    let p = [port(), port(), port(), port(), port(), port()];
    let dir = std::env::temp_dir().join(format!("tandem-stats-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("deployment.toml");
    std::fs::write(&file, config(&p)).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["up", "--config"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem up");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines.map_while(Result::ok) {
        if line.contains(" stats ") {
            break;
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut times = runtime.block_on(measure(p[2], p[5], 500));
    let _ = child.kill(); // by PID
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "agent state change -> stats subscriber: p50 {:?} p99 {:?} max {:?} ({} changes)",
        at(0.5),
        at(0.99),
        at(1.0),
        times.len()
    );
}

async fn measure(cti: u16, stats: u16, changes: usize) -> Vec<Duration> {
    tokio::time::sleep(Duration::from_millis(1500)).await; // links up, registrations made
    let (desk, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{cti}/cti?token=t")).await.expect("cti");
    let (mut desk_tx, mut desk_rx) = desk.split();
    tokio::spawn(async move { while desk_rx.next().await.is_some() {} });
    for r in [
        r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#,
        r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001"}"#,
    ] {
        desk_tx.send(Message::Text(r.into())).await.expect("send");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (sub, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{stats}/stats/ws")).await.expect("stats");
    let (mut sub_tx, mut sub_rx) = sub.split();
    sub_tx.send(Message::Text(r#"{"subscribe":["agent/A1001"]}"#.into())).await.expect("subscribe");
    let _current = sub_rx.next().await;
    let mut times = Vec::new();
    for i in 0..changes {
        let (request, state) = if i % 2 == 0 {
            (r#"{"message":"RequestAgentReady","ThisDN":"1001"}"#, "\"Ready\"")
        } else {
            (r#"{"message":"RequestAgentNotReady","ThisDN":"1001"}"#, "\"NotReady\"")
        };
        let start = Instant::now();
        desk_tx.send(Message::Text(request.into())).await.expect("send");
        loop {
            let Some(Ok(Message::Text(text))) = sub_rx.next().await else { panic!("stats closed") };
            if text.contains(&format!("\"state\":{state}")) {
                break;
            }
        }
        times.push(start.elapsed());
    }
    times
}
