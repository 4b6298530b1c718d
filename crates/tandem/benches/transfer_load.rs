//! Calls transferred once each (issue 23): `tandem up` with one site, a sipp phone
//! answering for DNs 1000.. (the agents who transfer) and one for 2000.. (the targets), a
//! CTI desktop that transfers every call established on 1000+k to 2000+k
//! (RequestSingleStepTransfer), and a sipp gateway calling at RATE calls/s with
//! `gateway-call-reinvited.xml` (each call must get its re-INVITE with the new phone's
//! media and end with its own BYE). Reports the transfer latency from the request to the
//! target's EventRinging (the site raises it as it sends the target's INVITE), the
//! gateway's successful and failed calls, and the site process's CPU per call.
//!
//!   cargo bench -p tandem --bench transfer_load                (RATE=50 CALLS=1000)
//!   RATE=200 CALLS=4000 cargo bench -p tandem --bench transfer_load
#![allow(clippy::print_stdout, clippy::expect_used, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

/// DNs on each side: the gateway's calls go round-robin over 1000..1000+DNS.
const DNS: u64 = 100;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("port")
}

fn tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

fn scenario(name: &str) -> String {
    format!("{}/../../tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn sipp(args: &[&str], target: &str) -> Command {
    let mut c = Command::new("sipp");
    c.args(args).args(["-i", "127.0.0.1", "-nostdin"]).arg(target).current_dir(std::env::temp_dir());
    c
}

/// utime + stime of `pid`, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds benchmarks; this one only runs under `cargo bench`
    }
    let (rate, calls) = (env("RATE", 50), env("CALLS", 1000));
    let (sip, tcp, cti) = (udp_port(), tcp_port(), tcp_port());
    let dir = std::env::temp_dir().join(format!("tandem-transfer-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("site.toml");
    let config = format!(
        "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:{sip}\"\nsip_tcp = \"127.0.0.1:{tcp}\"\ncti = \"127.0.0.1:{cti}\"\n\
         cti_tokens = [\"t\"]\ndns = [\"1000-2999\"]\n"
    );
    std::fs::write(&file, config).expect("config");
    let mut site = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["up", "--config"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tandem up");
    let lines = BufReader::new(site.stdout.take().expect("stdout")).lines();
    for line in lines.map_while(Result::ok) {
        if line.contains(" cti-ws ") {
            break;
        }
    }
    let target = format!("127.0.0.1:{sip}");
    let phones = [phone(&dir, &target, 1000), phone(&dir, &target, 2000)];
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let cpu_before = cpu_ticks(site.id());
    let (times, outcome) = runtime.block_on(measure(cti, &dir, &target, rate, calls));
    let cpu = cpu_ticks(site.id()) - cpu_before;
    for mut p in phones {
        let _ = p.kill(); // by PID
        let _ = p.wait();
    }
    let _ = site.kill(); // by PID
    let _ = site.wait();
    let _ = std::fs::remove_dir_all(&dir);
    report(rate, calls, times, outcome, cpu);
}

fn report(rate: u64, calls: u64, mut times: Vec<Duration>, (ok, failed): (u64, u64), cpu_ticks: u64) {
    times.sort();
    let at = |q: f64| times.get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1))).copied();
    println!(
        "{calls} calls at {rate}/s, each transferred once: {ok} ok, {failed} failed at the gateway; \
         request -> target's EventRinging p50 {:?} p99 {:?} max {:?} ({} timed); site CPU {:.3} ms per call",
        at(0.5),
        at(0.99),
        at(1.0),
        times.len(),
        cpu_ticks as f64 * 10.0 / calls.max(1) as f64
    );
    assert_eq!(failed, 0, "a transferred call failed");
}

/// A sipp phone answering every call, registered for DNS DNs from `first`.
fn phone(dir: &Path, target: &str, first: u64) -> Child {
    let port = udp_port().to_string();
    let child = sipp(&["-sf", &scenario("phone-answer.xml"), "-p", &port], target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp phone (apt-get install sip-tester)");
    let reg = dir.join(format!("reg{first}.csv"));
    let rows: String = (first..first + DNS).map(|dn| format!("{dn};127.0.0.1:{port}\n")).collect();
    std::fs::write(&reg, format!("SEQUENTIAL\n{rows}")).expect("csv");
    let count = DNS.to_string();
    let args = ["-sf", &scenario("register-contact.xml"), "-inf", reg.to_str().expect("path"), "-m", &count, "-p", "0"];
    let status = sipp(&args, target).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("sipp register");
    assert!(status.success(), "the phone registered its DNs");
    child
}

/// The desktop transfers every call established on 1000.. while the gateway calls; the
/// transfer times and the gateway's (ok, failed).
async fn measure(cti: u16, dir: &Path, target: &str, rate: u64, calls: u64) -> (Vec<Duration>, (u64, u64)) {
    let (desk, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{cti}/cti?token=t")).await.expect("cti");
    let (mut tx, mut rx) = desk.split();
    for dn in (1000..1000 + DNS).chain(2000..2000 + DNS) {
        let request = format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#);
        tx.send(Message::Text(request)).await.expect("send");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let inf = dir.join("calls.csv");
    let rows: String = (0..DNS).map(|k| format!("{};\n", 1000 + k)).collect();
    std::fs::write(&inf, format!("SEQUENTIAL\n{rows}")).expect("csv");
    let (rate_s, calls_s) = (rate.to_string(), calls.to_string());
    let scenario = scenario("gateway-call-reinvited.xml");
    let args = ["-sf", &scenario, "-inf", inf.to_str().expect("path"), "-r", &rate_s, "-m", &calls_s, "-d", "500"];
    let gateway = sipp(&[&args[..], &["-p", "0", "-timeout", "120", "-timeout_error"]].concat(), target)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp gateway");
    let gateway = tokio::task::spawn_blocking(move || gateway.wait_with_output());
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut times = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(calls / rate.max(1) + 30);
    while times.len() < calls as usize {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout_at(deadline, rx.next()).await else { break };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let (dn, conn) = (v["ThisDN"].as_str().unwrap_or(""), v["ConnID"].as_str().unwrap_or("").to_owned());
        match v["message"].as_str() {
            Some("EventEstablished") if dn.starts_with('1') => {
                let to = dn.parse::<u64>().unwrap_or(1000) + 1000;
                let request = format!(
                    r#"{{"message":"RequestSingleStepTransfer","ThisDN":"{dn}","ConnID":"{conn}","OtherDN":"{to}"}}"#
                );
                sent.insert(conn, Instant::now());
                tx.send(Message::Text(request)).await.expect("send");
            }
            Some("EventRinging") if dn.starts_with('2') => {
                if let Some(at) = sent.remove(&conn) {
                    times.push(at.elapsed());
                }
            }
            _ => {}
        }
    }
    let out = gateway.await.expect("join").expect("sipp gateway ran");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (times, (count(&text, "Successful call"), count(&text, "Failed call")))
}

/// The cumulative count sipp prints on a `label` line of its final statistics.
fn count(text: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| l.contains(label))
        .filter_map(|l| l.split('|').nth(2).and_then(|c| c.trim().parse().ok()))
        .next_back()
        .unwrap_or(0)
}
