//! Network SIP Servers as real processes in front of a BC pair (issue 11): a sipp carrier
//! calls an NSS, follows its 302 to a site, and a sipp phone of the agent answers; a site
//! killed is skipped once the NSS finds it out of service and the carrier's retries lose
//! no call; an NSS killed, the carrier's calls go through the other.
//!
//! Needs `sipp` (Debian `sip-tester`); runs when TANDEM_REAL_PEERS=1 (as `.ci/run` sets).

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Sites s1 and s2 (a BC pair on `p1`/`p2`, agent A1500 on 1500) and NSSs nss1, nss2.
fn deployment(p1: u16, p2: u16) -> String {
    let nss = |name: &str| {
        format!(
            "[[nss]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\n\
             http = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\npolicy = \"most-ready\"\ndefault_sites = [\"s1\"]\n\
             oos_check = 1\noos_force = 1\n"
        )
    };
    // The NSSs link to the sites' CTI servers: fixed ports.
    let site = |name: &str, port: u16, peer: u16, trunk: &str, prefix: &str| {
        let cti = format!("cti = \"127.0.0.1:{}\"", free_tcp_port());
        bc_site(name, port, peer, trunk, prefix).replace("cti = \"127.0.0.1:0\"", &cti)
    };
    format!(
        "{}{}{}{}",
        site("s1", p1, p2, "TO_SS2", "9902"),
        site("s2", p2, p1, "TO_SS1", "9901"),
        nss("nss1"),
        nss("nss2")
    )
}

fn metric(t: &Tandem, name: &str) -> String {
    http_get(t.http.expect("http"), "/metrics").lines().filter(|l| l.starts_with(name)).collect::<Vec<_>>().join("\n")
}

struct Setup {
    s1: Tandem,
    s2: Tandem,
    nss1: Tandem,
    nss2: Tandem,
    _phone: Background,
}

/// Both sites and NSSs running, a phone for 1500-1509 registered at both sites, agent
/// A1500 logged in and Ready at s2, and the NSSs' figures showing it.
fn setup(name: &str) -> Setup {
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let text = deployment(p1, p2);
    let s1 = Tandem::start_site(&format!("{name}-s1"), &text, "s1");
    let s2 = Tandem::start_site(&format!("{name}-s2"), &text, "s2");
    let nss1 = Tandem::start_site(&format!("{name}-nss1"), &text, "nss1");
    let nss2 = Tandem::start_site(&format!("{name}-nss2"), &text, "nss2");
    let phone_port = free_udp_port();
    let phone = sipp_phone(phone_port, s1.udp);
    let dns: Vec<u16> = (1500..1510).collect();
    register_phone_at(&[&s1, &s2], &dns, phone_port);
    let desk = cti_client(
        &s2,
        "1",
        &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500 AgentWorkMode=ManualIn"],
    );
    drop(desk.wait_with_output()); // the agent stays logged in (no logout on disconnect)
    std::thread::sleep(Duration::from_millis(1500)); // CTI links up, figures in, polls answered
    Setup { s1, s2, nss1, nss2, _phone: phone }
}

#[test]
fn a_carrier_call_through_the_nss_lands_on_the_site_with_the_ready_agent() {
    if !enabled() {
        return;
    }
    let s = setup("nss-land");
    // 1500: its agent is logged in at s2, so straight there. 1501: no agent on it; the
    // policy sends it where the Ready agents are (s2: 1, s1: 0).
    for dn in ["1500;", "1501;"] {
        assert!(one_call(s.nss1.udp, &s.nss1.dir, "gateway-follow-302.xml", dn), "call {dn} completes");
    }
    let wait = Duration::from_secs(3);
    let agent = metric_within(&s.nss1, r#"tandem_nss_calls_total{site="nss1",how="agent"} 1"#, wait);
    let policy = metric_within(&s.nss1, r#"tandem_nss_calls_total{site="nss1",how="policy"} 1"#, wait);
    assert!(agent && policy, "{}", metric(&s.nss1, "tandem_nss_calls_total"));
    assert!(metric_within(&s.s2, r#"tandem_calls_answered_total{site="s2"} 2"#, wait), "both answered at s2");
    assert!(metric(&s.s1, "tandem_calls_offered_total").ends_with(" 0"), "none offered at s1");
    assert!(metric(&s.nss1, "tandem_active_calls").ends_with(" 0"), "the NSS keeps no call");
}

#[test]
fn a_killed_site_is_skipped_within_the_out_of_service_time_and_retries_lose_no_call() {
    if !enabled() {
        return;
    }
    let mut s = setup("nss-kill");
    let calls = s.nss1.dir.join("calls.csv");
    let rows: String = (1501..1510).map(|dn| format!("{dn};\n")).collect();
    std::fs::write(&calls, format!("SEQUENTIAL\n{rows}")).expect("csv");
    let _ = s.s2.child.kill(); // by PID
    let _ = s.s2.child.wait();
    let killed = Instant::now();
    // Calls in the first seconds may be sent to the dead s2 and fail; the carrier retries
    // each failed call at the NSS until it completes (at s1, once s2 is out of service).
    let mut done = 0u64;
    let mut first_all_good = None;
    for _ in 0..40 {
        let (_, ok, failed) = sipp_with_file(
            s.nss1.udp,
            "gateway-follow-302.xml",
            &calls,
            &["-m", "3", "-r", "10", "-recv_timeout", "1000", "-timeout", "10"],
        );
        done += ok;
        if failed == 0 && ok == 3 {
            first_all_good.get_or_insert(killed.elapsed());
            if done >= 12 {
                break;
            }
        }
    }
    let skipped_after = first_all_good.expect("calls complete again once s2 is skipped");
    eprintln!("s2 skipped {skipped_after:?} after the kill; {done} calls completed");
    assert!(skipped_after < Duration::from_secs(8), "s2 skipped {skipped_after:?} after the kill (oos 1 s + 1 s)");
    assert!(done >= 12, "every retried call completed at s1 ({done})");
    let answered = metric(&s.s1, "tandem_calls_answered_total");
    assert!(!answered.ends_with(" 0"), "the survivor took them: {answered}");
    drop(s.nss2);
}

/// A site that hangs (SIGSTOP: its CTI link stays open, so its figures stay) is found
/// out of service by the NSS's OPTIONS polls (`oos_check` 1 s, `oos_force` 1 s, two
/// misses) and skipped from then on.
#[test]
fn a_hung_site_is_skipped_once_its_polls_go_unanswered() {
    if !enabled() {
        return;
    }
    let s = setup("nss-hang");
    let pid = s.s2.child.id().to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill").args([sig, &pid]).status().is_ok_and(|st| st.success());
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP");
    let hung = Instant::now();
    let calls = s.nss1.dir.join("calls.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1501;\n").expect("csv");
    let quick = &["-m", "1", "-recv_timeout", "1500", "-timeout", "5"];
    let mut skipped_after = None;
    while hung.elapsed() < Duration::from_secs(15) {
        let (_, ok, _) = sipp_with_file(s.nss1.udp, "gateway-follow-302.xml", &calls, quick);
        if ok == 1 {
            skipped_after = Some(hung.elapsed());
            break;
        }
    }
    signal("-CONT");
    let skipped_after = skipped_after.expect("a call completes at s1 once s2 is out of service");
    eprintln!("hung s2 skipped after {skipped_after:?}");
    assert!(skipped_after >= Duration::from_secs(1), "not before its polls went unanswered: {skipped_after:?}");
    assert!(metric_within(&s.s1, r#"tandem_calls_answered_total{site="s1"} 1"#, Duration::from_secs(3)));
}

#[test]
fn an_nss_killed_the_carrier_goes_through_the_other() {
    if !enabled() {
        return;
    }
    let mut s = setup("nss-twin");
    let _ = s.nss1.child.kill();
    let _ = s.nss1.child.wait();
    let calls = s.nss2.dir.join("one.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1501;\n").expect("csv");
    let lost = &["-m", "1", "-recv_timeout", "2000", "-timeout", "5"];
    let (_, ok, _) = sipp_with_file(s.nss1.udp, "gateway-302-only.xml", &calls, lost);
    assert_eq!(ok, 0, "nss1 is gone");
    for _ in 0..3 {
        assert!(one_call(s.nss2.udp, &s.nss2.dir, "gateway-follow-302.xml", "1501;"), "nss2 takes the call");
    }
    assert!(metric_within(&s.s2, r#"tandem_calls_answered_total{site="s2"} 3"#, Duration::from_secs(3)));
    drop(s.s1);
}
