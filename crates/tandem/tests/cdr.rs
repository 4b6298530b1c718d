//! Call detail records and restart-safe state on the real binary (issue 12): two `tandem
//! peer` processes with stores, sipp gateways and phones; every kind of call leaves the
//! records it should, one to one, read back with `tandem cdr`; a killed and restarted
//! site has its registrations and logins back and delivers a call at once.
//!
//! Needs `sipp` (Debian `sip-tester`); runs when TANDEM_REAL_PEERS=1 (as `.ci/run` sets).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A BC peer with a store, Routing Point 5000 (no router: default routing to 1501 after
/// 1 s) and a 3 s no-answer timeout.
fn peer_with_store(port: u16, peer_port: u16, trunk: &str, prefix: &str, db: &Path) -> String {
    let base = bc_site("s1", port, peer_port, trunk, prefix);
    let (head, tail) = base.split_once("[site.options]\n").expect("options table");
    format!(
        "{head}[site.store]\npath = \"{}\"\n[site.options]\nno-answer-timeout = 3\n{tail}\
         [[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\noptions = {{ router-timeout = 1, default-dn = \"1501\" }}\n",
        db.display()
    )
}

/// `tandem cdr --json` over the given stores, one JSON object per call.
fn records(dbs: &[&Path], extra: &[&str]) -> Vec<Value> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tandem"));
    command.args(["cdr", "--json", "--last", "100"]).args(extra);
    for db in dbs {
        command.arg("--db").arg(db);
    }
    let out = command.output().expect("tandem cdr");
    assert!(out.status.success(), "tandem cdr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn summary(r: &Value) -> String {
    let flag = |k: &str| if r[k].as_i64() == Some(1) { format!(" {k}") } else { String::new() };
    format!(
        "{} {} {}{}{}{}",
        r["dialled"].as_str().unwrap_or("-"),
        r["result"].as_str().unwrap_or("-"),
        r["sip_cause"],
        flag("redirected"),
        flag("forwarded"),
        flag("default_routed")
    )
}

#[test]
fn every_kind_of_call_leaves_its_records_one_to_one() {
    if !enabled() {
        return;
    }
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let dir = std::env::temp_dir().join(format!("tandem-cdr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (db1, db2) = (dir.join("s1.db"), dir.join("s2.db"));
    let ss1 = start_peer("cdr-ss1", &peer_with_store(p1, p2, "TO_SS2", "9902", &db1));
    let ss2 = start_peer("cdr-ss2", &peer_with_store(p2, p1, "TO_SS1", "9901", &db2));
    let (answer_port, busy_port, ring_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let _answer = sipp_uas("phone-answer.xml", answer_port, ss1.udp);
    let _busy = sipp_uas("phone-busy.xml", busy_port, ss1.udp);
    let _ring = sipp_uas("phone-ring.xml", ring_port, ss1.udp);
    register_phone_at(&[&ss1, &ss2], &[1500, 1501], answer_port);
    register_phone_at(&[&ss1], &[1502], busy_port);
    register_phone_at(&[&ss1], &[1503], ring_port);
    std::thread::sleep(Duration::from_millis(2500)); // the peer trunks come into service

    assert!(one_call(ss1.udp, &ss1.dir, "gateway-call.xml", "1501;"), "answered");
    assert!(one_call(ss1.udp, &ss1.dir, "gateway-refused.xml", "1502;"), "busy");
    assert!(one_call(ss1.udp, &ss1.dir, "gateway-refused.xml", "1503;"), "no answer");
    assert!(one_call(ss1.udp, &ss1.dir, "gateway-cancel.xml", "1503;"), "cancelled");
    assert!(one_call(ss1.udp, &ss1.dir, "gateway-call.xml", "5000;"), "default-routed");
    let desk =
        cti_client(&ss1, "8", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    std::thread::sleep(Duration::from_millis(2500)); // presence reaches ss2
    assert!(one_call(ss2.udp, &ss2.dir, "gateway-follow-302.xml", "1500;"), "302 to ss1");
    assert!(one_call(ss2.udp, &ss2.dir, "phone-call.xml", "1500;1501;"), "over the trunk");
    drop(desk.wait_with_output());
    std::thread::sleep(Duration::from_millis(1500)); // the writers commit

    let at1: Vec<String> = records(&[&db1], &[]).iter().rev().map(summary).collect();
    let at2: Vec<String> = records(&[&db2], &[]).iter().rev().map(summary).collect();
    assert_eq!(
        at1,
        vec![
            "1501 answered 200",
            "1502 busy 486",
            "1503 no-answer 480",
            "1503 abandoned 487",
            "5000 answered 200 default_routed",
            "1500 answered 200 forwarded",
            "1500 answered 200 forwarded",
        ],
        "site 1, oldest first"
    );
    assert_eq!(at2, vec!["1500 redirected 302 redirected", "1500 answered 200 forwarded"], "site 2");

    the_trunk_call_is_found_at_both_sites_by_its_uuid(&db1, &db2);
    let agent_calls = records(&[&db1], &["--agent", "A1500"]);
    assert_eq!(agent_calls.len(), 2, "A1500 answered the 302'd call and the trunk call: {agent_calls:#?}");
    let answered = records(&[&db1], &[]).into_iter().last().expect("the first call");
    assert!(answered["ringing_at"].is_i64() && answered["answered_at"].is_i64(), "{answered:#?}");
    assert!(answered["talk_ms"].as_i64().unwrap_or(-1) >= 0 && answered["wait_ms"].as_i64().unwrap_or(-1) >= 0);
    assert_eq!(answered["legs"][0]["kind"], "phone");
    let states = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["cdr", "--states", "--db"])
        .arg(&db1)
        .output()
        .expect("tandem cdr --states");
    let text = String::from_utf8_lossy(&states.stdout);
    assert!(text.contains("A1500") && text.contains("login") && text.contains("not-ready"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The newest call of the two stores crossed the peer trunk: `--uuid` (whole, or the 8
/// characters the table shows) finds its record at both sites.
fn the_trunk_call_is_found_at_both_sites_by_its_uuid(db1: &Path, db2: &Path) {
    let both = records(&[db1, db2], &[]);
    let uuid = both[0]["uuid"].as_str().expect("uuid");
    let same = records(&[db1, db2], &["--uuid", uuid]);
    assert_eq!(same.len(), 2, "the call over the trunk has one UUID at both sites: {same:#?}");
    let by_prefix = records(&[db1, db2], &["--uuid", &uuid[..8]]);
    assert_eq!(by_prefix, same, "the 8 characters the table shows find the same records");
    let types: Vec<&str> = same.iter().filter_map(|r| r["call_type"].as_str()).collect();
    assert!(types.contains(&"Outbound") && types.contains(&"Inbound"), "{types:?}");
    let outbound = same.iter().find(|r| r["call_type"] == "Outbound").expect("outbound");
    assert_eq!(outbound["legs"][0]["kind"], "dr-peer", "{outbound:#?}");
}

/// One site with a store: a phone registered and an agent Ready; the process is killed
/// (SIGKILL, no goodbye) and started again: the call right after is delivered without a
/// new REGISTER, and the agent is still logged in and Ready.
#[test]
fn a_killed_site_comes_back_with_its_registrations_and_logins() {
    if !enabled() {
        return;
    }
    let port = free_udp_port();
    let dir = std::env::temp_dir().join(format!("tandem-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("site.db");
    let config = format!(
        "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:{port}\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\n\
         http = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\n[site.store]\npath = \"{}\"\n\
         [[site.agent]]\nid = \"A1500\"\ndn = \"1500\"\n",
        db.display()
    );
    let mut first = Tandem::start_with("restart-1", &config);
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, first.udp);
    register_phone_at(&[&first], &[1500], phone_port);
    let desk = cti_client(
        &first,
        "1",
        &[
            "RequestRegisterAddress ThisDN=1500",
            "RequestAgentLogin ThisDN=1500 AgentID=A1500",
            "RequestAgentReady ThisDN=1500 AgentWorkMode=ManualIn",
        ],
    );
    drop(desk.wait_with_output());
    std::thread::sleep(Duration::from_millis(500)); // the writer commits
    let _ = first.child.kill(); // SIGKILL, by PID
    let _ = first.child.wait();
    assert!(!first.alive());

    let second = Tandem::start_with("restart-2", &config);
    assert!(one_call(second.udp, &second.dir, "gateway-call.xml", "1500;"), "delivered without a new REGISTER");
    let desk = cti_client(&second, "1", &["RequestRegisterAddress ThisDN=1500"]);
    let text = String::from_utf8_lossy(&desk.wait_with_output().expect("desk").stdout).into_owned();
    assert!(
        text.contains("\"AgentID\":\"A1500\"") && text.contains("\"AgentState\":\"Ready\""),
        "the agent is still logged in and Ready: {text}"
    );
    let log = std::fs::read_to_string(second.dir.join("stderr.log")).unwrap_or_default();
    assert!(log.contains("state restored") && log.contains("bindings=1") && log.contains("agents=1"), "{log}");
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}
