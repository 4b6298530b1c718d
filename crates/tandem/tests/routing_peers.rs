//! Routing with real processes: two `tandem peer`s, a `tandem router` per site, 40 agents
//! on sipp phones spread over both sites and made Ready by `tandem cti` desktops, and
//! sipp gateways offering calls to Routing Point 5000 at both sites. One router is killed
//! mid-load: the other takes over its site's calls and none is lost.
//!
//! Needs `sipp` (Debian `sip-tester`); runs when TANDEM_REAL_PEERS=1 (as `.ci/run` sets).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::*;

const AGENTS: u16 = 40;
const FIRST_DN: u16 = 1101;

struct Ports {
    sip: [u16; 2],
    tcp: [u16; 2],
    cti: [u16; 2],
}

fn site(name: &str, i: usize, p: &Ports, trunk: &str, prefix: &str) -> String {
    let mut text = format!(
        "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{}\"\nsip_tcp = \"127.0.0.1:{}\"\ncti = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:0\"\n\
         cti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\n\
         [site.options]\ndr-peer-trunk = \"{trunk}\"\ndr-forward = \"no-agent\"\nno-answer-timeout = 10\n\
         [[site.dn]]\nnumber = \"{trunk}\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:{}\"\nprefix = \"{prefix}\"\noos-check = 2\noos-force = 1\n\
         [[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n",
        p.sip[i],
        p.tcp[i],
        p.cti[i],
        p.sip[1 - i]
    );
    for dn in FIRST_DN..FIRST_DN + AGENTS {
        text.push_str(&format!("[[site.agent]]\nid = \"A{dn}\"\ndn = \"{dn}\"\n"));
    }
    text
}

fn deployment(p: &Ports) -> String {
    let mut text = site("s1", 0, p, "TO_S2", "9902") + &site("s2", 1, p, "TO_S1", "9901");
    text.push_str("[routing]\n");
    for dn in FIRST_DN..FIRST_DN + AGENTS {
        text.push_str(&format!("[[routing.agent]]\nid = \"A{dn}\"\nskills = {{ sales = 1 }}\n"));
    }
    text.push_str("[[routing.point]]\ndn = \"5000\"\ntarget = \"sales\"\n");
    text
}

/// Desktop requests that log in agents `dns` Ready.
fn logins(dns: impl Iterator<Item = u16>) -> Vec<String> {
    dns.flat_map(|dn| {
        [
            format!("RequestRegisterAddress ThisDN={dn}"),
            format!("RequestAgentLogin ThisDN={dn} AgentID=A{dn} AgentWorkMode=ManualIn"),
        ]
    })
    .collect()
}

/// Calls per agent DN from a desktop's event lines.
fn established(text: &str, into: &mut BTreeMap<String, u32>) {
    for line in text.lines().filter(|l| l.contains("\"EventEstablished\"")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            *into.entry(v["ThisDN"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        }
    }
}

#[test]
fn two_routers_route_calls_at_both_sites_to_agents_at_both_sites_and_survive_losing_one() {
    if !enabled() {
        return;
    }
    let ports = Ports {
        sip: [free_udp_port(), free_udp_port()],
        tcp: [free_tcp_port(), free_tcp_port()],
        cti: [free_tcp_port(), free_tcp_port()],
    };
    let text = deployment(&ports);
    let ss1 = Tandem::start_site("route-s1", &text, "s1");
    let ss2 = Tandem::start_site("route-s2", &text, "s2");
    let config = ss1.dir.join("site.toml");
    let config = config.to_str().expect("path");
    let mut router1 = tandem_service(&["router", "--config", config, "--site", "s1"], &ss1.dir.join("router1.log"));
    let _router2 = tandem_service(&["router", "--config", config, "--site", "s2"], &ss2.dir.join("router2.log"));

    // 40 agent DNs on 4 sipp phones, registered at both sites.
    let mut phones = Vec::new();
    for chunk in 0..4u16 {
        let port = free_udp_port();
        phones.push(sipp_phone(port, ss1.udp));
        let dns: Vec<u16> = (FIRST_DN + chunk * 10..FIRST_DN + chunk * 10 + 10).collect();
        register_phone_at(&[&ss1, &ss2], &dns, port);
    }
    let half = FIRST_DN + AGENTS / 2;
    let requests1 = logins(FIRST_DN..half);
    let requests2 = logins(half..FIRST_DN + AGENTS);
    let refs = |v: &[String]| v.iter().map(String::as_str).collect::<Vec<_>>().join("\n");
    // Desktops write their events to a file: a pipe nobody reads would fill and stall them.
    let desk = |t: &Tandem, requests: &[String]| {
        std::fs::write(t.dir.join("desk.txt"), refs(requests)).expect("requests");
        let out = std::fs::File::create(t.dir.join("desk.out")).expect("desk output");
        let url = format!("ws://{}/cti", t.cti.expect("cti"));
        std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["cti", "--url", &url, "--token", "t0ken", "--wait", "0", "-"])
            .stdin(std::fs::File::open(t.dir.join("desk.txt")).expect("requests"))
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("tandem cti")
    };
    let desk1 = desk(&ss1, &requests1);
    let desk2 = desk(&ss2, &requests2);
    std::thread::sleep(Duration::from_secs(3)); // logins, router links, trunk polls

    let calls = ss1.dir.join("rp.csv");
    std::fs::write(&calls, "SEQUENTIAL\n5000;\n").expect("csv");
    let (offered, rate) = (150u64, 15u64);
    let hold = scenario("gateway-call-hold.xml");
    let gateway = |target: SocketAddr| {
        let args = ["-sf", hold.to_str().expect("path"), "-inf", calls.to_str().expect("path")];
        let (m, r) = (offered.to_string(), rate.to_string());
        let more = ["-m", m.as_str(), "-r", r.as_str(), "-d", "1000"];
        let mut command = sipp_command(target, &[&args[..], &more[..]].concat());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sipp gateway")
    };
    let load1 = gateway(ss1.udp);
    let load2 = gateway(ss2.udp);
    std::thread::sleep(Duration::from_secs(4));
    router1.0.kill().expect("kill router s1 by PID");
    let (_, ok1, failed1) = sipp_counts(&load1.wait_with_output().expect("gateway s1"));
    let (_, ok2, failed2) = sipp_counts(&load2.wait_with_output().expect("gateway s2"));

    let mut per_agent = BTreeMap::new();
    std::thread::sleep(Duration::from_millis(500)); // the last events reach the desktops
    for (t, mut d) in [(&ss1, desk1), (&ss2, desk2)] {
        d.kill().expect("desk by PID");
        let _ = d.wait();
        established(&std::fs::read_to_string(t.dir.join("desk.out")).unwrap_or_default(), &mut per_agent);
    }
    eprintln!(
        "routed load: s1 {ok1} ok {failed1} failed, s2 {ok2} ok {failed2} failed; calls per agent: {per_agent:?}"
    );
    if ok1 + ok2 != 2 * offered {
        for t in [&ss1, &ss2] {
            let m = http_get(t.http.expect("http"), "/metrics");
            eprintln!(
                "{}",
                m.lines().filter(|l| l.contains("active_calls") || l.contains("calls_")).collect::<Vec<_>>().join("\n")
            );
        }
    }
    assert_eq!((ok1, failed1), (offered, 0), "every call offered at s1 answered (its router killed mid-load)");
    assert_eq!((ok2, failed2), (offered, 0), "every call offered at s2 answered");
    assert_eq!(per_agent.values().sum::<u32>() as u64, 2 * offered, "each call reached one agent once");
    assert!(per_agent.len() >= 30, "calls spread over the agents of both sites: {per_agent:?}");
    let at_s1 = per_agent.keys().filter(|dn| dn.parse::<u16>().is_ok_and(|d| d < half)).count();
    assert!(at_s1 >= 10 && per_agent.len() - at_s1 >= 10, "agents at both sites took calls: {per_agent:?}");
}
