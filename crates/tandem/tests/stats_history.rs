//! The stat service's figures from the call records (issue 26, wallboard v1): today's
//! history per Routing Point in 15-minute intervals (`GET /history`), and the current
//! interval's counters rebuilt when the service restarts. Records are written into the
//! site's SQLite store as the site would, while `tandem up` runs.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

fn config(store: &std::path::Path, stats: u16) -> String {
    format!(
        "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\n\
         stats = \"127.0.0.1:{stats}\"\ncti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\n\
         [[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n[site.store]\npath = \"{}\"\n\
         [routing]\n[[routing.point]]\ndn = \"5000\"\ntarget = \"sales\"\n",
        store.display()
    )
}

/// A GET on loopback (the stat service needs no token there): the body as JSON.
fn get_json(port: u16, path: &str) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A record of a call that waited on 5000, offered at `offered_ms`.
fn insert(db: &rusqlite::Connection, id: i64, offered_ms: i64, answered: bool) {
    let (answered_at, result, talk) =
        if answered { (Some(offered_ms + 5_000), "answered", 60_000) } else { (None, "abandoned", 0) };
    db.execute(
        "INSERT INTO calls (id, site, uuid, conn_id, caller, dialled, routing_point, offered_at, answered_at, ended_at,
         wait_ms, talk_ms, result, sip_cause, redirected, forwarded, default_routed)
         VALUES (?1, 's1', ?2, '1', '+1555', '5000', '5000', ?3, ?4, ?3 + 65000, 5000, ?5, ?6, 200, 0, 0, 0)",
        rusqlite::params![id, format!("u{id}"), offered_ms, answered_at, talk, result],
    )
    .expect("insert");
}

#[test]
#[allow(clippy::disallowed_methods, reason = "the records are written at the wall clock's now")]
fn todays_intervals_come_from_the_records_and_a_restarted_service_keeps_its_counters() {
    let dir = std::env::temp_dir().join(format!("tandem-stats-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (store, file, stats) = (dir.join("s1.db"), dir.join("deployment.toml"), free_tcp_port());
    std::fs::write(&file, config(&store, stats)).expect("config");
    let up = up_with_stats(&file);
    let quarter = 900_000;
    let mut now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    if now % quarter > quarter - 10_000 {
        // Too close to the next boundary for the records to stay in this interval.
        std::thread::sleep(Duration::from_millis((quarter - now % quarter + 1_000) as u64));
        now += quarter - now % quarter + 1_000;
    }
    for _ in 0..50 {
        if store.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let db = rusqlite::Connection::open(&store).expect("the site made its store");
    insert(&db, 1, now - 1_000, true);
    insert(&db, 2, now - 500, false);
    let earlier = now - now % quarter - 1;
    let midnight = now - now % 86_400_000;
    if earlier >= midnight {
        insert(&db, 3, earlier, true); // the interval before, still today
    }
    let history = get_json(stats, "/history");
    let list = history["points"]["rp/5000"].as_array().expect("5000's intervals").clone();
    let last = list.last().expect("an interval");
    assert_eq!(last["start_ms"].as_i64(), Some(now - now % quarter), "intervals on the clock's quarters: {history}");
    assert_eq!(
        (last["offered"].as_u64(), last["answered"].as_u64(), last["abandoned"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!((last["service_level_pct"].as_f64(), last["average_handle_time_s"].as_f64()), (Some(100.0), Some(60.0)));
    if earlier >= midnight {
        assert_eq!(list[list.len() - 2]["offered"].as_u64(), Some(1), "the interval before: {history}");
    }
    // (The running service may have read these records or not: it reads them when it
    // starts, which races with the writes above. After the restart below it must.)

    drop(up);
    std::thread::sleep(Duration::from_millis(300));
    let _up = up_with_stats(&file);
    let live = get_json(stats, "/stats/rp/5000");
    assert_eq!(
        (live["offered"].as_u64(), live["answered"].as_u64(), live["abandoned"].as_u64()),
        (Some(2), Some(1), Some(1)),
        "after a restart the interval's counters are rebuilt from the records: {live}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
