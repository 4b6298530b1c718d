//! The calls that waited on a Routing Point since a moment, read from one or more stores
//! for the stat service ([`routing::stats::history`]): its counters after a restart and
//! today's history. Called on a blocking thread, never on the service's task.

use std::time::Duration;

use anyhow::Context as _;
use routing::stats::history::RecordedCall;

use super::Target;

const SELECT: &str = "SELECT routing_point, offered_at, answered_at IS NOT NULL, result, default_routed, transfers,
     wait_ms, talk_ms FROM calls WHERE routing_point IS NOT NULL AND offered_at >= ";

/// Calls offered on a Routing Point at or after `since_ms` (Unix milliseconds), from
/// every store of `targets` that can be read now (the others are skipped and logged: a
/// DR peer's SQLite file on another host, a database down).
pub(crate) fn rp_calls(targets: &[Target], since_ms: i64) -> Vec<RecordedCall> {
    let mut out = Vec::new();
    for target in targets {
        match read(target, since_ms) {
            Ok(calls) => out.extend(calls),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "the stat service cannot read a store's records"),
        }
    }
    out
}

fn read(target: &Target, since_ms: i64) -> anyhow::Result<Vec<RecordedCall>> {
    type Row = (String, i64, bool, String, i64, i64, i64, i64);
    let rows: Vec<Row> = match target {
        Target::Sqlite(path) => {
            let conn = super::read_only(path, Duration::from_secs(2))?;
            let mut stmt = conn.prepare(&format!("{SELECT}?1"))?;
            let rows = stmt.query_map([since_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
            })?;
            rows.collect::<Result<_, _>>()?
        }
        Target::Postgres(conninfo) => {
            let mut client =
                postgres::Client::connect(conninfo, postgres::NoTls).context("connecting to PostgreSQL")?;
            let rows = client.query(&format!("{SELECT}$1"), &[&since_ms])?;
            rows.iter()
                .map(|r| {
                    let (routed, transfers): (i16, i32) = (r.get(4), r.get(5));
                    (
                        r.get(0),
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        i64::from(routed),
                        i64::from(transfers),
                        r.get(6),
                        r.get(7),
                    )
                })
                .collect()
        }
    };
    Ok(rows.into_iter().map(recorded).collect())
}

fn recorded(
    (rp, offered_ms, answered, result, default_routed, transfers, wait_ms, talk_ms): (
        String,
        i64,
        bool,
        String,
        i64,
        i64,
        i64,
        i64,
    ),
) -> RecordedCall {
    let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    RecordedCall {
        rp,
        offered_ms,
        answered,
        abandoned: result == "abandoned",
        default_routed: default_routed != 0,
        transferred: transfers > 0,
        wait: ms(wait_ms),
        talk: ms(talk_ms),
    }
}
