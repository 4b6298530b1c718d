//! `tandem cdr`: the last calls, one agent's calls, one call's legs, or the agent state
//! log, read from one or more sites' stores while they run (WAL lets readers in).

use std::fmt::Write as _;
use std::path::Path;

use rusqlite::{params_from_iter, Connection};
use serde_json::{json, Value};

/// What to show.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    /// How many rows at most (newest first).
    pub(crate) last: usize,
    /// Only this agent's calls (or state log).
    pub(crate) agent: Option<String>,
    /// Only the call with this UUID (at every site), with its legs.
    pub(crate) uuid: Option<String>,
    /// The agent state log instead of calls.
    pub(crate) states: bool,
    /// One JSON object per line instead of a table.
    pub(crate) json: bool,
}

/// Rows of every store in `paths`, newest first, as text. A call's media (its sessions
/// at a media partner, and their recordings) is looked up by its call UUID in every
/// store: a call that crossed sites was anchored (and recorded) at one of them, and is
/// found with its recording from the record of either.
pub(crate) fn run(paths: &[&Path], query: &Query) -> anyhow::Result<String> {
    let mut conns = Vec::with_capacity(paths.len());
    for path in paths {
        if !path.exists() {
            anyhow::bail!("no store at {} (does the site have [site.store], and has it run?)", path.display());
        }
        conns.push(super::read_only(path, std::time::Duration::from_secs(5))?);
    }
    let mut rows = Vec::new();
    for conn in &conns {
        rows.extend(if query.states { states(conn, query)? } else { calls(conn, query)? });
    }
    let key = if query.states { "at" } else { "ended_at" };
    rows.sort_by_key(|r| std::cmp::Reverse(r[key].as_i64().unwrap_or(0)));
    rows.truncate(query.last.max(1));
    if !query.states {
        attach_media(&conns, &mut rows)?;
    }
    Ok(if query.json {
        json_lines(&rows)
    } else if query.states {
        state_table(&rows)
    } else {
        call_table(&rows)
    })
}

fn calls(conn: &Connection, query: &Query) -> anyhow::Result<Vec<Value>> {
    let (filter, arg) = match (&query.uuid, &query.agent) {
        // A prefix is enough (the table shows 8 characters), the whole UUID too.
        (Some(uuid), _) => ("WHERE substr(uuid, 1, length(?1)) = ?1", Some(uuid.clone())),
        (None, Some(agent)) => ("WHERE agent = ?1", Some(agent.clone())),
        (None, None) => ("", None),
    };
    let sql = format!(
        "SELECT id, site, uuid, conn_id, caller, dialled, call_type, routing_point, answered_dn, agent, offered_at,
         ringing_at, answered_at, ended_at, wait_ms, talk_ms, result, sip_cause, released_by, redirected, forwarded,
         default_routed, transfers, holds, held_ms FROM calls {filter} ORDER BY ended_at DESC, id DESC LIMIT {}",
        query.last.max(1)
    );
    let mut stmt = conn.prepare(&sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut out: Vec<Value> =
        stmt.query_map(params_from_iter(arg.iter()), |r| row_json(r, &names))?.collect::<Result<_, _>>()?;
    let mut legs = conn.prepare(
        "SELECT seq, target, kind, agent, offered_at, ringing_at, answered_at, ended_at, result, sip_cause, held_ms
         FROM legs WHERE call = ?1 ORDER BY seq",
    )?;
    let leg_names: Vec<String> = legs.column_names().into_iter().map(str::to_owned).collect();
    for call in &mut out {
        let id = call["id"].as_i64().unwrap_or(0);
        let list: Vec<Value> = legs.query_map([id], |r| row_json(r, &leg_names))?.collect::<Result<_, _>>()?;
        call["legs"] = Value::Array(list);
        if let Some(map) = call.as_object_mut() {
            map.remove("id");
        }
    }
    Ok(out)
}

/// Each call's media sessions, from every store, by its call UUID (each names the site
/// that anchored it).
fn attach_media(conns: &[Connection], calls: &mut [Value]) -> anyhow::Result<()> {
    let sql = "SELECT site, session, at, packets, lost, jitter_ms, recording FROM call_media WHERE uuid = ?1
               ORDER BY at";
    for call in calls.iter_mut() {
        let uuid = text(&call["uuid"]);
        let mut list = Vec::new();
        for conn in conns {
            let mut media = conn.prepare_cached(sql)?;
            let names: Vec<String> = media.column_names().into_iter().map(str::to_owned).collect();
            for row in media.query_map([&uuid], |r| row_json(r, &names))? {
                let row = row?;
                if !list.contains(&row) {
                    list.push(row); // a store shared by both sites is named twice
                }
            }
        }
        call["media"] = Value::Array(list);
    }
    Ok(())
}

fn states(conn: &Connection, query: &Query) -> anyhow::Result<Vec<Value>> {
    let filter = if query.agent.is_some() { "WHERE agent_id = ?1" } else { "" };
    let sql = format!(
        "SELECT site, at, agent_id, dn, state, work_mode, reason FROM agent_states {filter}
         ORDER BY at DESC, id DESC LIMIT {}",
        query.last.max(1)
    );
    let mut stmt = conn.prepare(&sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let rows = stmt.query_map(params_from_iter(query.agent.iter()), |r| row_json(r, &names))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A row as a JSON object, column name -> value.
fn row_json(row: &rusqlite::Row<'_>, names: &[String]) -> rusqlite::Result<Value> {
    let mut map = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let value = match row.get_ref(i)? {
            rusqlite::types::ValueRef::Null => Value::Null,
            rusqlite::types::ValueRef::Integer(n) => json!(n),
            rusqlite::types::ValueRef::Real(f) => json!(f),
            rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            rusqlite::types::ValueRef::Blob(_) => Value::Null,
        };
        map.insert(name.clone(), value);
    }
    Ok(Value::Object(map))
}

fn json_lines(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// One leg in the call table: `target:result`, and how long it held, if it did.
fn leg_text(leg: &Value) -> String {
    let held = leg["held_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let held = if held > 0.0 { format!("(held {held:.1}s)") } else { String::new() };
    format!("{}:{}{held}", text(&leg["target"]), text(&leg["result"]))
}

fn call_table(rows: &[Value]) -> String {
    let mut out = format!(
        "{:<19}  {:<6} {:<8} {:<10} {:<8} {:<5} {:<7} {:<11} {:>4} {:>7} {:>7}  {}\n",
        "ended (UTC)", "site", "uuid", "caller", "dialled", "rp", "agent", "result", "sip", "wait s", "talk s", "legs"
    );
    for r in rows {
        let flags = [("redirected", "302"), ("forwarded", "fwd"), ("default_routed", "default")]
            .iter()
            .filter(|(k, _)| r[*k].as_i64() == Some(1))
            .map(|(_, f)| *f)
            .collect::<Vec<_>>()
            .join(",");
        let legs: Vec<String> = r["legs"].as_array().map(|l| l.iter().map(leg_text).collect()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<19}  {:<6} {:<8} {:<10} {:<8} {:<5} {:<7} {:<11} {:>4} {:>7.1} {:>7.1}  {}{}{}",
            utc(r["ended_at"].as_i64().unwrap_or(0)),
            text(&r["site"]),
            text(&r["uuid"]).chars().take(8).collect::<String>(),
            text(&r["caller"]),
            text(&r["dialled"]),
            text(&r["routing_point"]),
            text(&r["agent"]),
            text(&r["result"]),
            r["sip_cause"].as_i64().unwrap_or(0),
            r["wait_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            r["talk_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            legs.join(" "),
            if flags.is_empty() { String::new() } else { format!(" [{flags}]") },
            media_text(&r["media"], &text(&r["site"])),
        );
    }
    out
}

/// A call's media figures (all its sessions at the media partner): packets relayed, the
/// worst loss and jitter, and where when another site than the record's (`site`)
/// anchored it; empty when it was not anchored.
fn media_text(media: &Value, site: &str) -> String {
    let Some(sessions) = media.as_array().filter(|m| !m.is_empty()) else { return String::new() };
    let packets: i64 = sessions.iter().map(|m| m["packets"].as_i64().unwrap_or(0)).sum();
    let lost = sessions.iter().map(|m| m["lost"].as_i64().unwrap_or(0)).max().unwrap_or(0);
    let jitter = sessions.iter().map(|m| m["jitter_ms"].as_i64().unwrap_or(0)).max().unwrap_or(0);
    let recordings: Vec<&str> = sessions.iter().filter_map(|m| m["recording"].as_str()).collect();
    let recorded = if recordings.is_empty() { String::new() } else { format!(" rec:{}", recordings.join(",")) };
    let at = sessions.iter().map(|m| text(&m["site"])).find(|s| s != site && s != "-");
    let at = at.map_or(String::new(), |s| format!("@{s}"));
    format!(" media{at}:{packets}pkt,lost {lost},jitter {jitter}ms{recorded}")
}

fn state_table(rows: &[Value]) -> String {
    let mut out = format!(
        "{:<23}  {:<6} {:<8} {:<6} {:<16} {:<10} {}\n",
        "at (UTC)", "site", "agent", "dn", "state", "mode", "reason"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<23}  {:<6} {:<8} {:<6} {:<16} {:<10} {}",
            utc_ms(r["at"].as_i64().unwrap_or(0)),
            text(&r["site"]),
            text(&r["agent_id"]),
            text(&r["dn"]),
            text(&r["state"]),
            text(&r["work_mode"]),
            text(&r["reason"]),
        );
    }
    out
}

/// A field as table text; control characters (a desktop's reason code may carry escape
/// sequences meant for the operator's terminal) are shown escaped, never sent raw.
fn text(v: &Value) -> String {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    if !raw.chars().any(char::is_control) {
        return raw;
    }
    raw.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod text_tests {
    /// Issue 21, finding 10: a reason code with an escape sequence prints escaped.
    #[test]
    fn control_characters_are_printed_escaped() {
        let reason = serde_json::Value::String("Break\u{1b}]0;pwned\u{7}\r\n".into());
        assert_eq!(super::text(&reason), "Break\\u{1b}]0;pwned\\u{7}\\r\\n");
        assert_eq!(super::text(&serde_json::Value::String("Lunch".into())), "Lunch");
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

fn utc_ms(ms: i64) -> String {
    format!("{}.{:03}", utc(ms), ms.rem_euclid(1000))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_141_030_000), "2026-12-01 16:03:50");
        assert_eq!(utc_ms(1_796_141_030_123), "2026-12-01 16:03:50.123");
    }

    #[test]
    fn a_leg_that_held_says_how_long() {
        let held = serde_json::json!({"target": "1001", "result": "transferred", "held_ms": 12_340});
        assert_eq!(leg_text(&held), "1001:transferred(held 12.3s)");
        let plain = serde_json::json!({"target": "1002", "result": "answered", "held_ms": 0});
        assert_eq!(leg_text(&plain), "1002:answered");
    }

    #[test]
    fn a_call_that_crossed_sites_shows_its_recording_from_the_record_of_either() {
        let dir = std::env::temp_dir().join(format!("tandem-cross-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let store = |site: &str, recorded: bool| {
            let path = dir.join(format!("{site}.db"));
            let _ = std::fs::remove_file(&path);
            let conn = Connection::open(&path).expect("open");
            super::super::schema::prepare(&conn).expect("schema");
            conn.execute(
                "INSERT INTO calls (site, uuid, conn_id, caller, dialled, offered_at, ended_at, wait_ms, talk_ms,
                 result, sip_cause, redirected, forwarded, default_routed) VALUES
                 (?1, 'c0ffee00-1111', '00000000000000aa', 'gw', '1001', 1000, 9000, 0, 8000, 'answered', 200, 0, ?2, 0)",
                (site, i64::from(!recorded)),
            )
            .expect("call");
            if recorded {
                conn.execute(
                    "INSERT INTO call_media (site, uuid, session, at, packets, lost, jitter_ms, recording)
                     VALUES (?1, 'c0ffee00-1111', 'c0ffee00-1111.0', 9000, 800, 0, 2, '/rec/c0ffee00-1111.0.wav')",
                    [site],
                )
                .expect("media");
            }
            path
        };
        let (ss1, ss2) = (store("SS1", true), store("SS2", false));
        let query = Query { uuid: Some("c0ffee00".into()), last: 10, json: true, ..Query::default() };
        let lines = run(&[ss1.as_path(), ss2.as_path()], &query).expect("query");
        let rows: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(rows.len(), 2, "both sites' records of the call");
        for row in &rows {
            assert_eq!(row["media"][0]["recording"], "/rec/c0ffee00-1111.0.wav", "{row}");
            assert_eq!(row["media"][0]["site"], "SS1", "anchored and recorded at SS1");
        }
        let table = run(&[ss1.as_path(), ss2.as_path()], &Query { json: false, ..query }).expect("query");
        assert!(table.contains("media@SS1:800pkt"), "SS2's record says where: {table}");
        let alone = run(&[ss2.as_path()], &Query { uuid: Some("c0ffee00".into()), last: 10, ..Query::default() });
        assert!(!alone.expect("query").contains("rec:"), "a store alone knows only its own media");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
