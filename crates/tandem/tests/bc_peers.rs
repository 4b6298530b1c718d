//! Two `tandem peer` processes as a Business Continuity pair on loopback, with sipp
//! gateways and phones and `tandem cti` desktops (issue 4): the 302 forward, an internal
//! call over the trunk, and a peer killed mid-load.
//!
//! Needs `sipp` (Debian `sip-tester`); runs when TANDEM_REAL_PEERS=1 (as `.ci/run` sets).

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn two_peer_processes_redirect_a_direct_call_to_the_agents_site() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let ss1 = start_peer("bc-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("bc-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    register_phone_at(&[&ss1, &ss2], &[1500], phone_port);
    let desk1 =
        cti_client(&ss1, "6", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    let desk2 = cti_client(&ss2, "6", &["RequestRegisterAddress ThisDN=1500"]);
    std::thread::sleep(Duration::from_millis(3500)); // polls settle, presence reaches ss2
    assert!(
        one_call(ss2.udp, &ss2.dir, "gateway-follow-302.xml", "1500;"),
        "the gateway followed the 302 and the call completed at ss1"
    );
    let text1 = String::from_utf8_lossy(&desk1.wait_with_output().expect("desk1").stdout).into_owned();
    let text2 = String::from_utf8_lossy(&desk2.wait_with_output().expect("desk2").stdout).into_owned();
    assert!(
        text1.contains("\"EventRinging\"") && text1.contains("\"EventEstablished\""),
        "ss1 reports the call:\n{text1}\nss2:\n{text2}"
    );
    assert!(!text2.contains("\"EventRinging\""), "ss2 reports nothing for the redirected call:\n{text2}");
    let metrics = http_get(ss2.http.expect("http"), "/metrics");
    assert!(metrics.contains("tandem_calls_offered_total{site=\"s1\"} 0"), "{metrics}");
}

/// Spec 3.12 / issue 4 (site failure): a gateway loads ss1 with calls held 1 s; ss1's
/// process is killed mid-load. Calls then in flight at ss1, and those the gateway sends
/// to the dead ss1, fail; the gateway retries each of them at ss2, which must deliver all
/// of them, including to the agent of ss1 who logs in again at ss2.
#[test]
fn killing_a_peer_mid_load_loses_no_call_the_gateway_retries_at_the_survivor() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let mut ss1 = start_peer("kill-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("kill-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    let dns: Vec<u16> = (1500..1510).collect();
    register_phone_at(&[&ss1, &ss2], &dns, phone_port);
    let desk1 =
        cti_client(&ss1, "2", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    drop(desk1.wait_with_output()); // the agent stays logged in at ss1 (no logout on disconnect)
    std::thread::sleep(Duration::from_millis(1500));

    let calls = ss2.dir.join("calls.csv");
    let text: String = dns.iter().map(|dn| format!("{dn};\n")).collect();
    std::fs::write(&calls, format!("SEQUENTIAL\n{text}")).expect("csv");
    let (offered, rate) = (150u64, 50u64);
    let hold_scenario = scenario("gateway-call-hold.xml");
    let gateway = |target: SocketAddr, count: u64| {
        let (m, r) = (count.to_string(), rate.to_string());
        let args = ["-sf", hold_scenario.to_str().expect("path"), "-inf", calls.to_str().expect("path")];
        let more = [
            "-m",
            m.as_str(),
            "-r",
            r.as_str(),
            "-d",
            "1000",
            "-max_invite_retrans",
            "2",
            "-max_non_invite_retrans",
            "2",
        ];
        let mut command = sipp_command(target, &[&args[..], &more[..]].concat());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sipp gateway")
    };
    let load = gateway(ss1.udp, offered);
    std::thread::sleep(Duration::from_millis(2000));
    ss1.child.kill().expect("kill ss1 by PID");
    let (_, completed, failed) = sipp_counts(&load.wait_with_output().expect("sipp gateway"));
    assert_eq!(completed + failed, offered, "every call offered to ss1 either completed or failed");
    assert!(completed > 0 && failed > 0, "the kill landed mid-load: {completed} completed, {failed} failed");
    let sent_after_kill = offered.saturating_sub(2 * rate);
    eprintln!(
        "ss1 killed mid-load: {completed} calls completed, {failed} failed \
         (about {} in flight at the kill, about {sent_after_kill} sent to the dead peer)",
        failed.saturating_sub(sent_after_kill)
    );

    // The desktop retries its login until ss2 has seen the trunk to ss1 go out of service
    // (`oos-check` 2 s, `oos-force` 1): while the link is up the login is refused.
    let mut login = String::new();
    for _ in 0..10 {
        let desk = cti_client(
            &ss2,
            "1",
            &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"],
        );
        login = String::from_utf8_lossy(&desk.wait_with_output().expect("desk").stdout).into_owned();
        if login.contains("\"EventAgentLogin\"") {
            break;
        }
    }
    assert!(login.contains("\"EventAgentLogin\""), "ss2 accepts ss1's agent once ss1 is gone:\n{login}");
    let (_, retried_ok, retried_failed) = sipp_counts(&gateway(ss2.udp, failed).wait_with_output().expect("sipp"));
    assert_eq!((retried_ok, retried_failed), (failed, 0), "every call retried at the survivor is delivered");
}

/// Issue 4 item 3 / F6 with real processes: an agent phone's DN 1600 at ss2 calls DN 1500,
/// whose agent is logged in at ss1. The call goes over the inter-site trunk with both
/// peers in the path: ss2's desktop sees EventDialing, Outbound, to the access number
/// `9901` + 1500; ss1's desktop sees EventRinging, Inbound; the caller's BYE releases the
/// call at both.
#[test]
fn an_internal_call_across_the_trunk_is_reported_on_both_peers() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let ss1 = start_peer("int-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("int-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    register_phone_at(&[&ss1], &[1500], phone_port);
    let desk1 =
        cti_client(&ss1, "6", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    let desk2 = cti_client(&ss2, "6", &["RequestRegisterAddress ThisDN=1600"]);
    std::thread::sleep(Duration::from_millis(3500)); // presence reaches ss2
    assert!(
        one_call(ss2.udp, &ss2.dir, "phone-call.xml", "1500;1600;"),
        "the internal call completed through both peers"
    );
    let text1 = String::from_utf8_lossy(&desk1.wait_with_output().expect("desk1").stdout).into_owned();
    let text2 = String::from_utf8_lossy(&desk2.wait_with_output().expect("desk2").stdout).into_owned();
    let event = |text: &str, name: &str| -> serde_json::Value {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    let dialing = event(&text2, "EventDialing");
    assert_eq!((dialing["CallType"].as_str(), dialing["OtherDN"].as_str()), (Some("Outbound"), Some("99011500")));
    let ringing = event(&text1, "EventRinging");
    assert_eq!(ringing["CallType"].as_str(), Some("Inbound"), "{text1}");
    event(&text1, "EventReleased");
    event(&text2, "EventReleased");
}

/// Issue 8 (BC-10): one peer is flooded with INVITEs from 32 loopback addresses at about
/// 40,000 a second for 6 s (beyond what one core can answer, in bursts every 10 ms, from
/// one thread so the flooder does not take the machine's other core as well); its DR peer
/// trunk must stay in service on both sides (OPTIONS polls every 2 s, out of service
/// after 1 s unanswered), and the flooded peer sheds the load (503 or drop).
#[test]
fn a_flooded_peer_keeps_its_dr_peer_trunk_in_service() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let ss1 = start_peer("flood-ss1", &bc_site("s1", p1, p2, "TO_SS2", "9902"));
    let ss2 = start_peer("flood-ss2", &bc_site("s1", p2, p1, "TO_SS1", "9901"));
    std::thread::sleep(Duration::from_millis(2500)); // both trunks polled and in service
    let target = ss1.udp;
    let flooder = std::thread::spawn(move || {
        let sockets: Vec<std::net::UdpSocket> =
            (10..42u8).map(|host| std::net::UdpSocket::bind(format!("127.0.0.{host}:0")).expect("bind")).collect();
        let mut sent = 0u64;
        for tick in 0..600u64 {
            let due = std::time::Instant::now() + Duration::from_millis(10);
            for n in 0..800u64 {
                let (i, id) = ((n % 32) as usize, tick * 800 + n);
                let invite = format!(
                    "INVITE sip:1600@{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.{}:9;branch=z9hG4bKf{id}\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:flood@x>;tag=f\r\nTo: <sip:1600@x>\r\nCall-ID: f{id}\r\n\
                     CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                    i + 10
                );
                sent += u64::from(sockets[i].send_to(invite.as_bytes(), target).is_ok());
            }
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        }
        sent
    });
    let sent = flooder.join().expect("flooder");
    std::thread::sleep(Duration::from_millis(1500)); // any out-of-service would be logged by now
    let log = |t: &Tandem| std::fs::read_to_string(t.dir.join("stderr.log")).unwrap_or_default();
    for (name, t) in [("ss1", &ss1), ("ss2", &ss2)] {
        assert!(!log(t).contains("trunk out of service"), "{name} lost its DR peer trunk:\n{}", log(t));
    }
    let metrics = http_get(ss1.http.expect("http"), "/metrics");
    let shed = ["tandem_sip_flood_dropped_total", "tandem_sip_overload_rejected_total"]
        .iter()
        .filter_map(|name| metrics.lines().find(|l| l.starts_with(name)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum::<u64>();
    eprintln!("flood: {sent} INVITEs sent, {shed} shed by ss1");
    assert!(shed > 0, "the flood was shed:\n{metrics}");
}

/// Issue 10: the survivor notices a killed peer process at once (ICMP port unreachable on
/// the socket connected to the peer, seen by its keep-alives) instead of after
/// `oos-check`/`oos-force` of unanswered polls (5 s and 2 s here: 4 s at least), and the
/// dead site's agent logs in at the survivor within a second.
#[test]
fn a_killed_peer_process_is_noticed_at_once_and_its_agent_logs_in_at_the_survivor() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let slow_polls = |c: String| c.replace("oos-check = 2\noos-force = 1", "oos-check = 5\noos-force = 2");
    let mut ss1 = start_peer("rehome-ss1", &slow_polls(bc_site("s1", p1, p2, "TO_SS2", "9902")));
    let ss2 = start_peer("rehome-ss2", &slow_polls(bc_site("s1", p2, p1, "TO_SS1", "9901")));
    let rehomed = rehome_after_kill(&mut ss1, &ss2);
    eprintln!("agent re-homed at the survivor {rehomed:?} after the kill (each try takes ~0.25 s)");
    assert!(rehomed < Duration::from_secs(2), "noticed at once, not after the polls: {rehomed:?}");
}

/// Issue 8 (peer-link socket on reload): a reload that moves the DR peer to another address
/// moves the connected peer-link socket too. Before, keep-alives went on to the old
/// address; once nothing listened there, its "connection refused" took the new peer trunk
/// out of service and the pair split (the same agent could log in at both sites).
#[test]
fn a_reload_that_moves_the_dr_peer_moves_the_peer_link_with_it() {
    if !enabled() {
        return;
    }
    let (p1, p2, p3) = (free_udp_port(), free_udp_port(), free_udp_port());
    let ss1 = start_peer("move-ss1", &bc_site("s1", p1, p2, "TO_PEER", "9902"));
    let mut old = start_peer("move-old", &bc_site("s1", p2, p1, "TO_PEER", "9901"));
    let new = start_peer("move-new", &bc_site("s1", p3, p1, "TO_PEER", "9901"));
    std::thread::sleep(Duration::from_millis(2500)); // ss1 and old poll each other
    std::fs::write(ss1.dir.join("site.toml"), bc_site("s1", p1, p3, "TO_PEER", "9902")).expect("config");
    let hup = std::process::Command::new("kill").args(["-HUP", &ss1.child.id().to_string()]).status();
    assert!(hup.is_ok_and(|s| s.success()), "SIGHUP by PID");
    std::thread::sleep(Duration::from_millis(4500)); // ss1 and new poll each other
    let _ = old.child.kill(); // by PID: its address now refuses datagrams
    let _ = old.child.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let at_new =
        cti_client(&new, "1", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    let text = String::from_utf8_lossy(&at_new.wait_with_output().expect("desk").stdout).into_owned();
    assert!(text.contains("\"EventAgentLogin\""), "A1500 logs in at the new peer:\n{text}");
    let at_ss1 =
        cti_client(&ss1, "1", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    let text = String::from_utf8_lossy(&at_ss1.wait_with_output().expect("desk").stdout).into_owned();
    assert!(
        text.contains("\"EventError\"") && !text.contains("\"EventAgentLogin\""),
        "ss1 is still linked to the new peer and refuses the second login:\n{text}"
    );
}
