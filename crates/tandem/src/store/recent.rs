//! A DN's last calls, read from the store for the agent page (`/agent/calls`): in SQLite
//! through a read-only connection (WAL lets it in while the site writes), in PostgreSQL
//! through a connection of its own. Called on a blocking thread, never on the site's.

use anyhow::Context as _;
use serde::Serialize;

use super::Target;

/// One call as the agent page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RecentCall {
    pub(crate) uuid: String,
    /// Unix milliseconds.
    pub(crate) ended_at: i64,
    pub(crate) caller: String,
    pub(crate) dialled: String,
    pub(crate) routing_point: Option<String>,
    pub(crate) answered_dn: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) result: String,
    pub(crate) wait_ms: i64,
    pub(crate) talk_ms: i64,
}

const COLUMNS: &str =
    "uuid, ended_at, caller, dialled, routing_point, answered_dn, agent, result, wait_ms, talk_ms FROM calls";
/// The calls `dn` took part in: answered, made, or rung (any of its legs). The store has
/// one index, on `ended_at` (docs in schema.rs): a read walks it from the newest call,
/// within [`WINDOW_MS`], and checks each call's legs by their primary key.
const FILTER: &str = "answered_dn = {dn} OR caller = {dn} OR EXISTS (SELECT 1 FROM legs WHERE legs.call = calls.id AND legs.target = {dn})";
/// How far back the page looks: a week.
const WINDOW_MS: i64 = 7 * 86_400_000;

/// The last `count` calls of `dn` at `site` (a shared PostgreSQL store holds both sites')
/// that ended in the week before `now_ms`, newest first.
pub(crate) fn recent_calls(
    target: &Target,
    (site, dn): (&str, &str),
    now_ms: i64,
    count: usize,
) -> anyhow::Result<Vec<RecentCall>> {
    let since = now_ms - WINDOW_MS;
    match target {
        Target::Sqlite(path) => {
            let conn = super::read_only(path, std::time::Duration::from_secs(2))?;
            let sql = format!(
                "SELECT {COLUMNS} WHERE ended_at >= ?3 AND site = ?1 AND ({}) ORDER BY ended_at DESC, id DESC LIMIT {count}",
                FILTER.replace("{dn}", "?2")
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params![site, dn, since], |r| {
                Ok(RecentCall {
                    uuid: r.get(0)?,
                    ended_at: r.get(1)?,
                    caller: r.get(2)?,
                    dialled: r.get(3)?,
                    routing_point: r.get(4)?,
                    answered_dn: r.get(5)?,
                    agent: r.get(6)?,
                    result: r.get(7)?,
                    wait_ms: r.get(8)?,
                    talk_ms: r.get(9)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        }
        Target::Postgres(conninfo) => postgres_calls(conninfo, (site, dn), since, count),
    }
}

fn postgres_calls(
    conninfo: &str,
    (site, dn): (&str, &str),
    since: i64,
    count: usize,
) -> anyhow::Result<Vec<RecentCall>> {
    let mut client = postgres::Client::connect(conninfo, postgres::NoTls).context("connecting to PostgreSQL")?;
    let sql = format!(
        "SELECT {COLUMNS} WHERE ended_at >= $3 AND site = $1 AND ({}) ORDER BY ended_at DESC, id DESC LIMIT {count}",
        FILTER.replace("{dn}", "$2")
    );
    let rows = client.query(&sql, &[&site, &dn, &since])?;
    Ok(rows
        .iter()
        .map(|r| RecentCall {
            uuid: r.get(0),
            ended_at: r.get(1),
            caller: r.get(2),
            dialled: r.get(3),
            routing_point: r.get(4),
            answered_dn: r.get(5),
            agent: r.get(6),
            result: r.get(7),
            wait_ms: r.get(8),
            talk_ms: r.get(9),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn insert(conn: &Connection, (id, site, dn_answered, caller, ended): (i64, &str, Option<&str>, &str, i64)) {
        conn.execute(
            "INSERT INTO calls (id, site, uuid, conn_id, caller, dialled, answered_dn, offered_at, ended_at, wait_ms,
             talk_ms, result, sip_cause, redirected, forwarded, default_routed)
             VALUES (?1, ?2, ?3, '1', ?4, '5000', ?5, 0, ?6, 10, 20, 'answered', 200, 0, 0, 0)",
            rusqlite::params![id, site, format!("u{id}"), caller, dn_answered, ended],
        )
        .expect("insert");
    }

    /// A DN's calls: those it answered, made, or that rang it (a leg), at its site only,
    /// newest first, at most the count asked.
    #[test]
    fn a_dns_calls_are_the_ones_it_answered_made_or_rang_at_its_site() {
        let path = std::env::temp_dir().join(format!("tandem-recent-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let conn = crate::store::connect(&path).expect("store");
        insert(&conn, (1, "s1", Some("1001"), "+1555", 100));
        insert(&conn, (2, "s1", None, "1001", 300));
        insert(&conn, (3, "s1", Some("1002"), "+1556", 200));
        insert(&conn, (4, "s2", Some("1001"), "+1557", 400));
        insert(&conn, (5, "s1", Some("1003"), "+1558", 500));
        conn.execute(
            "INSERT INTO legs (call, seq, target, kind, offered_at, ended_at, result, sip_cause)
             VALUES (3, 0, '1001', 'phone', 0, 150, 'no-answer', 408)",
            [],
        )
        .expect("leg");
        let target = Target::Sqlite(path.clone());
        let uuids = |count, now| -> Vec<String> {
            let calls = recent_calls(&target, ("s1", "1001"), now, count).expect("read");
            calls.into_iter().map(|c| c.uuid).collect()
        };
        assert_eq!(uuids(20, 1_000), ["u2", "u3", "u1"], "made, rang (a leg), answered; not s2's nor another DN's");
        assert_eq!(uuids(2, 1_000), ["u2", "u3"]);
        assert_eq!(uuids(20, WINDOW_MS + 250), ["u2"], "older than a week: left out");
        let first = &recent_calls(&target, ("s1", "1001"), 1_000, 1).expect("read")[0];
        assert_eq!((first.caller.as_str(), first.talk_ms, first.result.as_str()), ("1001", 20, "answered"));
        let _ = std::fs::remove_file(&path);
    }
}
