//! The store in PostgreSQL, shared by both sites of a BC pair (issue 12): a call
//! redirected from one site to the other leaves one row per site in the one database, and
//! a killed site gets its registration and login back from it.
//!
//! Runs when TANDEM_REAL_PEERS=1 and TANDEM_POSTGRES names a database the test may fill
//! (`.ci/run` starts a local PostgreSQL and sets it, e.g. `host=/var/run/postgresql
//! dbname=tandem_test`); needs sipp.

mod common;

use std::time::Duration;

use common::*;

fn conninfo() -> Option<String> {
    std::env::var("TANDEM_POSTGRES").ok().filter(|v| !v.trim().is_empty() && enabled())
}

/// A BC peer named `name` whose store is the shared database.
fn peer(name: &str, port: u16, peer_port: u16, trunk: &str, prefix: &str, db: &str) -> String {
    let base = bc_site(name, port, peer_port, trunk, prefix);
    let (head, tail) = base.split_once("[site.options]\n").expect("options table");
    format!("{head}[site.store]\npostgres = \"{db}\"\n[site.options]\n{tail}")
}

#[test]
fn two_sites_share_one_postgres_store_and_a_killed_site_comes_back_from_it() {
    let Some(db) = conninfo() else { return };
    let mut client = postgres::Client::connect(&db, postgres::NoTls).expect("TANDEM_POSTGRES connects");
    // Each run uses its own site names, so runs and other tests never see each other's rows.
    let run = format!("{}", std::process::id());
    let (s1, s2) = (format!("pg1-{run}"), format!("pg2-{run}"));
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let c1 = peer(&s1, p1, p2, "TO_SS2", "9902", &db);
    let ss1 = Tandem::start_site("pg-ss1", &c1, &s1);
    let ss2 = Tandem::start_site("pg-ss2", &peer(&s2, p2, p1, "TO_SS1", "9901", &db), &s2);
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, ss1.udp);
    register_phone_at(&[&ss1, &ss2], &[1500], phone_port);
    let desk =
        cti_client(&ss1, "4", &["RequestRegisterAddress ThisDN=1500", "RequestAgentLogin ThisDN=1500 AgentID=A1500"]);
    std::thread::sleep(Duration::from_millis(2500)); // trunks in service, presence at ss2
    assert!(one_call(ss2.udp, &ss2.dir, "gateway-follow-302.xml", "1500;"), "302 to ss1, answered there");
    drop(desk.wait_with_output());
    std::thread::sleep(Duration::from_millis(800)); // the writers commit

    let rows = client
        .query(
            "SELECT site, result, redirected, forwarded, agent FROM calls WHERE site = $1 OR site = $2 ORDER BY site",
            &[&s1, &s2],
        )
        .expect("calls");
    let seen: Vec<(String, String, i16, i16, Option<String>)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect();
    assert_eq!(
        seen,
        vec![
            (s1.clone(), "answered".to_owned(), 0, 1, Some("A1500".to_owned())),
            (s2.clone(), "redirected".to_owned(), 1, 0, None),
        ],
        "one row per site in the shared database"
    );
    let legs: i64 = client
        .query_one("SELECT count(*) FROM legs JOIN calls ON legs.call = calls.id WHERE calls.site = $1", &[&s1])
        .expect("legs")
        .get(0);
    assert_eq!(legs, 1);

    // ss1 dies without a goodbye and comes back: binding and login from PostgreSQL.
    let mut ss1 = ss1;
    let _ = ss1.child.kill(); // SIGKILL, by PID
    let _ = ss1.child.wait();
    let again = Tandem::start_site("pg-ss1-again", &c1, &s1);
    assert!(one_call(again.udp, &again.dir, "gateway-call.xml", "1500;"), "delivered without a new REGISTER");
    let desk = cti_client(&again, "1", &["RequestRegisterAddress ThisDN=1500"]);
    let text = String::from_utf8_lossy(&desk.wait_with_output().expect("desk").stdout).into_owned();
    assert!(text.contains("\"AgentID\":\"A1500\""), "the login came back: {text}");
    for site in [&s1, &s2] {
        for table in ["calls", "agent_states", "bindings", "agents"] {
            let _ = client.execute(&format!("DELETE FROM {table} WHERE site = $1"), &[site]);
        }
    }
}
