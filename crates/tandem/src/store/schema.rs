//! The store's tables (documented field by field in `docs/cdr.md`). Times are Unix
//! milliseconds, durations milliseconds. Every row names its site, so sites may share a
//! file (or, later, a central database).

use rusqlite::Connection;

/// Bumped when the tables change; a file with a newer version is refused.
pub(crate) const VERSION: i64 = 3;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id             INTEGER PRIMARY KEY,
    site           TEXT    NOT NULL,
    uuid           TEXT    NOT NULL,
    conn_id        TEXT    NOT NULL,
    caller         TEXT    NOT NULL,
    dialled        TEXT    NOT NULL,
    call_type      TEXT,
    routing_point  TEXT,
    answered_dn    TEXT,
    agent          TEXT,
    offered_at     INTEGER NOT NULL,
    ringing_at     INTEGER,
    answered_at    INTEGER,
    ended_at       INTEGER NOT NULL,
    wait_ms        INTEGER NOT NULL,
    talk_ms        INTEGER NOT NULL,
    result         TEXT    NOT NULL,
    sip_cause      INTEGER NOT NULL,
    released_by    TEXT,
    redirected     INTEGER NOT NULL,
    forwarded      INTEGER NOT NULL,
    default_routed INTEGER NOT NULL,
    transfers      INTEGER NOT NULL DEFAULT 0,
    holds          INTEGER NOT NULL DEFAULT 0,
    held_ms        INTEGER NOT NULL DEFAULT 0
);
-- One secondary index only: the writer keeps up with the engine at a few per cent of
-- its CPU (docs/benchmarks.md); an index on agent or uuid doubled the writer's cost.
-- Queries by agent or uuid walk calls_by_end from the newest row.
CREATE INDEX IF NOT EXISTS calls_by_end ON calls (ended_at);
CREATE TABLE IF NOT EXISTS legs (
    call        INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    target      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    agent       TEXT,
    offered_at  INTEGER NOT NULL,
    ringing_at  INTEGER,
    answered_at INTEGER,
    ended_at    INTEGER NOT NULL,
    result      TEXT    NOT NULL,
    sip_cause   INTEGER NOT NULL,
    held_ms     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (call, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS call_media (
    site      TEXT    NOT NULL,
    uuid      TEXT    NOT NULL,
    session   TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    packets   INTEGER NOT NULL,
    lost      INTEGER NOT NULL,
    jitter_ms INTEGER NOT NULL,
    recording TEXT
);
CREATE INDEX IF NOT EXISTS call_media_by_uuid ON call_media (uuid);
CREATE TABLE IF NOT EXISTS agent_states (
    id        INTEGER PRIMARY KEY,
    site      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    agent_id  TEXT    NOT NULL,
    dn        TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    work_mode TEXT,
    reason    TEXT
);
CREATE INDEX IF NOT EXISTS agent_states_by_agent ON agent_states (agent_id, at);
CREATE INDEX IF NOT EXISTS agent_states_by_time ON agent_states (at);
CREATE TABLE IF NOT EXISTS bindings (
    site       TEXT    NOT NULL,
    dn         TEXT    NOT NULL,
    contact    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    transport  TEXT    NOT NULL,
    call_id    TEXT    NOT NULL,
    cseq       INTEGER NOT NULL,
    q          INTEGER NOT NULL,
    PRIMARY KEY (site, dn, contact)
);
CREATE TABLE IF NOT EXISTS agents (
    site         TEXT    NOT NULL,
    agent_id     TEXT    NOT NULL,
    dn           TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    work_mode    TEXT,
    reason       TEXT,
    logged_in_at INTEGER NOT NULL,
    state_since  INTEGER NOT NULL,
    PRIMARY KEY (site, agent_id)
);
";

/// Sets the connection up for the store: WAL (readers such as `tandem cdr` never block
/// the writer), `synchronous=NORMAL` (a power cut may lose the last commits, never the
/// file), foreign keys, and the tables.
pub(crate) fn prepare(conn: &Connection) -> anyhow::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Fewer, larger checkpoints: a page rewritten by many commits is copied once per
    // checkpoint (WAL up to about 32 MiB), and a 16 MiB page cache keeps the tree tops.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > VERSION {
        anyhow::bail!("the store was written by a newer Tandem (schema {version}, this one knows {VERSION})");
    }
    if version == 1 {
        conn.execute_batch(FROM_1)?;
    }
    // Schema 2 to 3 adds the call_media table only (TABLES creates it).
    conn.execute_batch(TABLES)?;
    conn.pragma_update(None, "user_version", VERSION)?;
    Ok(())
}

/// Schema 1 to 2: transfers, holds and time on hold (issue 23).
const FROM_1: &str = "
ALTER TABLE calls ADD COLUMN transfers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN holds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN held_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE legs ADD COLUMN held_ms INTEGER NOT NULL DEFAULT 0;
";

#[cfg(test)]
mod tests {
    /// A store written by the first schema gains the call-control columns, keeping its rows.
    #[test]
    fn a_schema_1_file_is_upgraded_in_place() {
        let dir = std::env::temp_dir().join(format!("tandem-schema-upgrade-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("v1.db");
        let _ = std::fs::remove_file(&path);
        let conn = rusqlite::Connection::open(&path).expect("open");
        let v1 = super::TABLES
            .replace(",\n    transfers      INTEGER NOT NULL DEFAULT 0", "")
            .replace(",\n    holds          INTEGER NOT NULL DEFAULT 0", "")
            .replace(",\n    held_ms        INTEGER NOT NULL DEFAULT 0", "")
            .replace("    held_ms     INTEGER NOT NULL DEFAULT 0,\n", "");
        assert!(!v1.contains("held_ms"), "the first schema, without the new columns");
        conn.execute_batch(&v1).expect("schema 1");
        conn.pragma_update(None, "user_version", 1).expect("version");
        conn.execute(
            "INSERT INTO calls (site, uuid, conn_id, caller, dialled, offered_at, ended_at, wait_ms, talk_ms, result,
             sip_cause, redirected, forwarded, default_routed) VALUES ('s1', 'u', 'c', 'gw', '1001', 0, 1, 1, 0,
             'answered', 200, 0, 0, 0)",
            [],
        )
        .expect("an old row");
        super::prepare(&conn).expect("upgraded");
        let (transfers, held): (i64, i64) =
            conn.query_row("SELECT transfers, held_ms FROM calls", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("row");
        assert_eq!((transfers, held), (0, 0), "the old row reads as no transfer, no hold");
        let legs: i64 = conn.query_row("SELECT count(held_ms) FROM legs", [], |r| r.get(0)).expect("legs.held_ms");
        assert_eq!(legs, 0);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
        assert_eq!(version, super::VERSION);
        super::prepare(&conn).expect("opening again changes nothing");
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
