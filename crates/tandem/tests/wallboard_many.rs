//! The wallboard with 1,000 agents in a real headless Chromium: every agent logged in and
//! changing state about once a second (1,000 changes/s in all), and a marked change to
//! one agent shows on the page within 1 s, five times over.
//!
//! Needs Debian `chromium` and `chromium-driver`; runs when TANDEM_REAL_PEERS=1.

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::browser::{Browser, Killed};
use common::*;

const AGENTS: u32 = 1000;

fn config(sip: [u16; 2], cti: [u16; 2], stats: u16) -> String {
    let mut agents = String::new();
    let mut routing = String::new();
    for dn in 1000..1000 + AGENTS {
        let _ = write!(agents, "[[site.agent]]\nid = \"A{dn}\"\ndn = \"{dn}\"\n");
        let _ = write!(routing, "[[routing.agent]]\nid = \"A{dn}\"\ngroups = [\"sales\"]\n");
    }
    let site = |name: &str, i: usize, extra: &str, agents: &str| {
        format!(
            "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{}\"\ncti = \"127.0.0.1:{}\"\n{extra}\
             cti_tokens = [\"t0ken\"]\ndns = [\"1000-4999\"]\n[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n{agents}",
            sip[i], cti[i]
        )
    };
    site("s1", 0, &format!("stats = \"127.0.0.1:{stats}\"\n"), &agents)
        + &site("s2", 1, "", "")
        + "[routing]\n"
        + &routing
        + "[[routing.point]]\ndn = \"5000\"\ntarget = \"sales\"\n"
}

/// A `tandem cti` desktop reading requests (JSON lines) from its stdin.
fn desk(cti: u16) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["cti", "--url", &format!("ws://127.0.0.1:{cti}/cti"), "--token", "t0ken", "--wait", "0", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tandem cti"),
    )
}

#[test]
fn the_wallboard_keeps_up_with_a_thousand_agents_changing_every_second() {
    if !enabled() {
        return;
    }
    let (sip, cti, stats) = ([free_udp_port(), free_udp_port()], [free_tcp_port(), free_tcp_port()], free_tcp_port());
    let dir = std::env::temp_dir().join(format!("tandem-wallboard-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("deployment.toml");
    std::fs::write(&file, config(sip, cti, stats)).expect("config");
    let _up = up_with_stats(&file);

    // Every agent registers and logs in (NotReady), from one desktop that stays.
    let mut logins_desk = desk(cti[0]);
    let mut stdin = logins_desk.0.stdin.take().expect("stdin");
    let mut logins = String::new();
    for dn in 1000..1000 + AGENTS {
        let _ = writeln!(logins, r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#);
        let _ = writeln!(logins, r#"{{"message":"RequestAgentLogin","ThisDN":"{dn}","AgentID":"A{dn}"}}"#);
    }
    stdin.write_all(logins.as_bytes()).expect("logins");

    let browser = Browser::start(1280, 900);
    browser.open(&format!("http://127.0.0.1:{stats}/wallboard"));
    let all_tiles = format!("return document.querySelectorAll('.agent').length === {AGENTS}");
    assert!(browser.wait_for(&all_tiles, Duration::from_secs(20)).is_some(), "1,000 agent tiles");

    // Churn: every agent but the last flips Ready / NotReady about once a second.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let mut stdin = stdin;
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let dn = 1000 + (n % u64::from(AGENTS - 1));
                let message = if (n / u64::from(AGENTS - 1)).is_multiple_of(2) {
                    "RequestAgentReady"
                } else {
                    "RequestAgentNotReady"
                };
                let line = format!("{{\"message\":\"{message}\",\"ThisDN\":\"{dn}\"}}\n");
                if stdin.write_all(line.as_bytes()).is_err() {
                    break;
                }
                n += 1;
                let due = start + Duration::from_millis(n); // 1,000 changes a second
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            stdin
        })
    };
    std::thread::sleep(Duration::from_secs(3));

    // Marked changes to the last agent, through a second desktop, while the churn goes on.
    let mut marker = desk(cti[0]);
    let mut marker_stdin = marker.0.stdin.take().expect("stdin");
    let last = 1000 + AGENTS - 1;
    marker_stdin
        .write_all(format!("{{\"message\":\"RequestRegisterAddress\",\"ThisDN\":\"{last}\"}}\n").as_bytes())
        .expect("register");
    // A first change, not timed: the marker's own start and connection are not the page's.
    let warm = format!(
        "{{\"message\":\"RequestAgentNotReady\",\"ThisDN\":\"{last}\",\"Reasons\":{{\"ReasonCode\":\"Warm\"}}}}\n"
    );
    marker_stdin.write_all(warm.as_bytes()).expect("marker");
    let warmed =
        format!("const t = document.getElementById('agent-A{last}'); return !!t && t.textContent.includes('Warm')");
    browser.wait_for(&warmed, Duration::from_secs(5)).expect("the marker's first change is shown");
    let mut worst = Duration::ZERO;
    for k in 0..5 {
        let request = format!(
            "{{\"message\":\"RequestAgentNotReady\",\"ThisDN\":\"{last}\",\"Reasons\":{{\"ReasonCode\":\"Mark{k}\"}}}}\n"
        );
        let start = Instant::now();
        marker_stdin.write_all(request.as_bytes()).expect("marker");
        let shown = format!(
            "const t = document.getElementById('agent-A{last}'); return !!t && t.textContent.includes('Mark{k}')"
        );
        browser.wait_for(&shown, Duration::from_secs(5)).expect("the marked change is shown");
        let took = start.elapsed();
        worst = worst.max(took);
        eprintln!("marked change {k} on the page after {took:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    drop(churn.join());
    assert!(worst < Duration::from_secs(1), "every marked change within 1 s under 1,000 changes/s: worst {worst:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
