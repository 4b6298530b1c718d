//! The store in PostgreSQL: one central database that several sites write to (every row
//! names its site), with the same tables and columns as the SQLite file (docs/cdr.md).
//! The `postgres` crate's blocking client runs on the store's writer thread, so the site
//! task never waits on the network either.

use std::time::Duration;

use engine::{SavedAgent, SavedBinding};
use postgres::{Client, NoTls, Statement};

use super::saved::{agent_state, Saved};
use super::writer::{AgentRow, CallRow, Database, Write};

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id BIGSERIAL PRIMARY KEY, site TEXT NOT NULL, uuid TEXT NOT NULL, conn_id TEXT NOT NULL,
    caller TEXT NOT NULL, dialled TEXT NOT NULL, call_type TEXT, routing_point TEXT,
    answered_dn TEXT, agent TEXT, offered_at BIGINT NOT NULL, ringing_at BIGINT,
    answered_at BIGINT, ended_at BIGINT NOT NULL, wait_ms BIGINT NOT NULL, talk_ms BIGINT NOT NULL,
    result TEXT NOT NULL, sip_cause INTEGER NOT NULL, released_by TEXT, redirected SMALLINT NOT NULL,
    forwarded SMALLINT NOT NULL, default_routed SMALLINT NOT NULL
);
ALTER TABLE calls ADD COLUMN IF NOT EXISTS transfers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS holds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS held_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS calls_by_end ON calls (ended_at);
CREATE TABLE IF NOT EXISTS legs (
    call BIGINT NOT NULL REFERENCES calls (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    target TEXT NOT NULL, kind TEXT NOT NULL, agent TEXT, offered_at BIGINT NOT NULL,
    ringing_at BIGINT, answered_at BIGINT, ended_at BIGINT NOT NULL, result TEXT NOT NULL,
    sip_cause INTEGER NOT NULL, PRIMARY KEY (call, seq)
);
ALTER TABLE legs ADD COLUMN IF NOT EXISTS held_ms BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS call_media (
    site TEXT NOT NULL, uuid TEXT NOT NULL, session TEXT NOT NULL, at BIGINT NOT NULL,
    packets BIGINT NOT NULL, lost BIGINT NOT NULL, jitter_ms BIGINT NOT NULL, recording TEXT
);
CREATE INDEX IF NOT EXISTS call_media_by_uuid ON call_media (uuid);
CREATE TABLE IF NOT EXISTS agent_states (
    id BIGSERIAL PRIMARY KEY, site TEXT NOT NULL, at BIGINT NOT NULL, agent_id TEXT NOT NULL,
    dn TEXT NOT NULL, state TEXT NOT NULL, work_mode TEXT, reason TEXT
);
CREATE INDEX IF NOT EXISTS agent_states_by_agent ON agent_states (agent_id, at);
CREATE INDEX IF NOT EXISTS agent_states_by_time ON agent_states (at);
CREATE TABLE IF NOT EXISTS bindings (
    site TEXT NOT NULL, dn TEXT NOT NULL, contact TEXT NOT NULL, expires_at BIGINT NOT NULL,
    source TEXT NOT NULL, transport TEXT NOT NULL, call_id TEXT NOT NULL, cseq BIGINT NOT NULL,
    q INTEGER NOT NULL, PRIMARY KEY (site, dn, contact)
);
CREATE TABLE IF NOT EXISTS agents (
    site TEXT NOT NULL, agent_id TEXT NOT NULL, dn TEXT NOT NULL, state TEXT NOT NULL,
    work_mode TEXT, reason TEXT, logged_in_at BIGINT NOT NULL, state_since BIGINT NOT NULL,
    PRIMARY KEY (site, agent_id)
);
";

const INSERT_CALL: &str =
    "INSERT INTO calls (site, uuid, conn_id, caller, dialled, call_type, routing_point, answered_dn, agent,
             offered_at, ringing_at, answered_at, ended_at, wait_ms, talk_ms, result, sip_cause, released_by,
             redirected, forwarded, default_routed, transfers, holds, held_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
             $22, $23, $24)
             RETURNING id";
const LOGIN: &str = "INSERT INTO agents (site, agent_id, dn, state, work_mode, reason, logged_in_at, state_since)
             VALUES ($1, $2, $3, 'not-ready', NULL, NULL, $4, $4)
             ON CONFLICT (site, agent_id) DO UPDATE SET dn = $3, state = 'not-ready', work_mode = NULL,
             reason = NULL, logged_in_at = $4, state_since = $4";
const BIND: &str = "INSERT INTO bindings (site, dn, contact, expires_at, source, transport, call_id, cseq, q)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (site, dn, contact) DO UPDATE SET expires_at = $4, source = $5, transport = $6,
             call_id = $7, cseq = $8, q = $9";
const INSERT_MEDIA: &str = "INSERT INTO call_media (site, uuid, session, at, packets, lost, jitter_ms, recording)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// How long after a lost connection the writer tries again.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// The database: a live connection, or none while it is down (writes fail and are
/// counted; a new connection is tried every [`RECONNECT_EVERY`]).
pub(crate) struct Postgres {
    conninfo: String,
    live: Option<Connected>,
    retry_at: std::time::Instant,
}

impl Postgres {
    /// Connects once (a site does not start without its store) and prepares the tables.
    pub(crate) fn connect(conninfo: &str) -> anyhow::Result<Self> {
        let live = Connected::open(conninfo)?;
        Ok(Self { conninfo: conninfo.to_owned(), live: Some(live), retry_at: crate::clock::now() })
    }

    /// The live connection, reconnecting if it is due.
    fn live(&mut self) -> Result<&mut Connected, String> {
        let now = crate::clock::now();
        if self.live.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.live = None;
            if now < self.retry_at {
                return Err("PostgreSQL connection lost; retrying".into());
            }
            self.retry_at = now + RECONNECT_EVERY;
            let connected =
                Connected::open(&self.conninfo).map_err(|e| format!("reconnecting to PostgreSQL: {e:#}"))?;
            tracing::warn!("reconnected to PostgreSQL");
            self.live = Some(connected);
        }
        self.live.as_mut().ok_or_else(|| "no PostgreSQL connection".to_owned())
    }
}

/// A connection and its statements, prepared once.
struct Connected {
    client: Client,
    call: Statement,
    leg: Statement,
    log: Statement,
    login: Statement,
    logout: Statement,
    state: Statement,
    bind: Statement,
    unbind: Statement,
    prune_calls: Statement,
    prune_log: Statement,
    media: Statement,
    prune_media: Statement,
}

impl Connected {
    /// Connects (`host=... user=... dbname=...` or a `postgres://` URL), creates the
    /// tables if missing and prepares the statements.
    fn open(conninfo: &str) -> anyhow::Result<Self> {
        let mut client = Client::connect(conninfo, NoTls)?;
        // Sites starting together would race on CREATE TABLE IF NOT EXISTS (a unique
        // violation in the catalog): one at a time, under an advisory lock.
        client.batch_execute("SET client_min_messages = warning; SELECT pg_advisory_lock(726375632)")?;
        let created = client.batch_execute(TABLES);
        client.batch_execute("SELECT pg_advisory_unlock(726375632)")?;
        created?;
        let mut prepare = |sql: &str| client.prepare(sql);
        let call = prepare(INSERT_CALL)?;
        let leg = prepare(
            "INSERT INTO legs (call, seq, target, kind, agent, offered_at, ringing_at, answered_at, ended_at,
             result, sip_cause, held_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )?;
        let log = prepare(
            "INSERT INTO agent_states (site, at, agent_id, dn, state, work_mode, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )?;
        let login = prepare(LOGIN)?;
        let logout = prepare("DELETE FROM agents WHERE site = $1 AND agent_id = $2")?;
        let state = prepare(
            "UPDATE agents SET state = $3, work_mode = $4, reason = $5, state_since = $6
             WHERE site = $1 AND agent_id = $2",
        )?;
        let bind = prepare(BIND)?;
        let unbind = prepare("DELETE FROM bindings WHERE site = $1 AND dn = $2 AND contact = $3")?;
        let prune_calls = prepare("DELETE FROM calls WHERE site = $1 AND ended_at < $2")?;
        let prune_log = prepare("DELETE FROM agent_states WHERE site = $1 AND at < $2")?;
        let media = prepare(INSERT_MEDIA)?;
        let prune_media = prepare("DELETE FROM call_media WHERE site = $1 AND at < $2")?;
        Ok(Self {
            client,
            call,
            leg,
            log,
            login,
            logout,
            state,
            bind,
            unbind,
            prune_calls,
            prune_log,
            media,
            prune_media,
        })
    }
}

impl Database for Postgres {
    fn apply(&mut self, site: &str, batch: Vec<Write>) -> Result<(), String> {
        self.live()?.apply(site, batch)
    }

    fn load(&mut self, site: &str, now_ms: i64) -> anyhow::Result<Saved> {
        self.live().map_err(anyhow::Error::msg)?.load(site, now_ms)
    }
}

impl Connected {
    fn apply(&mut self, site: &str, batch: Vec<Write>) -> Result<(), String> {
        let mut tx = self.client.transaction().map_err(|e| e.to_string())?;
        for write in batch {
            let done = match write {
                Write::Call(c) => insert_call(&mut tx, &self.call, &self.leg, site, &c),
                Write::Agent { row, log, keep } => {
                    agent(&mut tx, [&self.log, &self.login, &self.logout, &self.state], site, &row, log, keep)
                }
                Write::Bind(b) => tx
                    .execute(
                        &self.bind,
                        &[
                            &site,
                            &b.dn,
                            &b.contact,
                            &b.expires_at,
                            &b.source,
                            &b.transport,
                            &b.call_id,
                            &i64::from(b.cseq),
                            &i32::from(b.q),
                        ],
                    )
                    .map(drop),
                Write::Unbind { dn, contact } => tx.execute(&self.unbind, &[&site, &dn, &contact]).map(drop),
                Write::Prune { before } => tx
                    .execute(&self.prune_calls, &[&site, &before])
                    .and_then(|_| tx.execute(&self.prune_log, &[&site, &before]))
                    .and_then(|_| tx.execute(&self.prune_media, &[&site, &before]))
                    .map(drop),
                Write::Media(m) => tx
                    .execute(
                        &self.media,
                        &[&site, &m.uuid, &m.session, &m.at, &m.packets, &m.lost, &m.jitter_ms, &m.recording],
                    )
                    .map(drop),
            };
            done.map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    }

    fn load(&mut self, site: &str, now_ms: i64) -> anyhow::Result<Saved> {
        self.client.execute("DELETE FROM bindings WHERE site = $1 AND expires_at <= $2", &[&site, &now_ms])?;
        let mut saved = Saved::default();
        let rows = self.client.query(
            "SELECT dn, contact, expires_at, source, transport, call_id, cseq, q FROM bindings WHERE site = $1 ORDER BY dn",
            &[&site],
        )?;
        for r in rows {
            let (source, transport): (String, String) = (r.get(3), r.get(4));
            let Some(source) = super::saved::peer(&source, &transport) else {
                saved.unreadable += 1;
                continue;
            };
            let expires_at: i64 = r.get(2);
            saved.bindings.push(SavedBinding {
                dn: r.get(0),
                contact: r.get(1),
                expires_in: Duration::from_millis(u64::try_from(expires_at - now_ms).unwrap_or(0)),
                source,
                call_id: r.get(5),
                cseq: u32::try_from(r.get::<_, i64>(6)).unwrap_or(0),
                q: u16::try_from(r.get::<_, i32>(7)).unwrap_or(1000),
            });
        }
        let rows = self.client.query(
            "SELECT agent_id, dn, state, work_mode, logged_in_at, state_since FROM agents WHERE site = $1 ORDER BY agent_id",
            &[&site],
        )?;
        for r in rows {
            let state: String = r.get(2);
            let Some((state, work_mode)) = agent_state(&state, r.get(3)) else {
                saved.unreadable += 1;
                continue;
            };
            let ago = |at: i64| Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0));
            saved.agents.push(SavedAgent {
                agent_id: r.get(0),
                dn: r.get(1),
                state,
                work_mode,
                logged_in_for: ago(r.get(4)),
                in_state_for: ago(r.get(5)),
            });
        }
        Ok(saved)
    }
}

fn insert_call(
    tx: &mut postgres::Transaction<'_>,
    call: &Statement,
    leg: &Statement,
    site: &str,
    c: &CallRow,
) -> Result<(), postgres::Error> {
    let flag = |b: bool| i16::from(b);
    let row = tx.query_one(
        call,
        &[
            &site,
            &c.uuid,
            &c.conn_id,
            &c.caller,
            &c.dialled,
            &c.call_type,
            &c.routing_point,
            &c.answered_dn,
            &c.agent,
            &c.offered_at,
            &c.ringing_at,
            &c.answered_at,
            &c.ended_at,
            &c.wait_ms,
            &c.talk_ms,
            &c.result,
            &i32::from(c.sip_cause),
            &c.released_by,
            &flag(c.redirected),
            &flag(c.forwarded),
            &flag(c.default_routed),
            &i32::try_from(c.transfers).unwrap_or(i32::MAX),
            &i32::try_from(c.holds).unwrap_or(i32::MAX),
            &c.held_ms,
        ],
    )?;
    let id: i64 = row.get(0);
    for l in &c.legs {
        tx.execute(
            leg,
            &[
                &id,
                &i32::try_from(l.seq).unwrap_or(i32::MAX),
                &l.target,
                &l.kind,
                &l.agent,
                &l.offered_at,
                &l.ringing_at,
                &l.answered_at,
                &l.ended_at,
                &l.result,
                &i32::from(l.sip_cause),
                &l.held_ms,
            ],
        )?;
    }
    Ok(())
}

/// As the SQLite writer: log the entry, keep the saved login in step.
fn agent(
    tx: &mut postgres::Transaction<'_>,
    [log_stmt, login, logout, state]: [&Statement; 4],
    site: &str,
    a: &AgentRow,
    log: bool,
    keep: bool,
) -> Result<(), postgres::Error> {
    if log {
        tx.execute(log_stmt, &[&site, &a.at, &a.agent_id, &a.dn, &a.state, &a.work_mode, &a.reason])?;
    }
    if keep {
        match a.state {
            "login" => tx.execute(login, &[&site, &a.agent_id, &a.dn, &a.at])?,
            "logout" => tx.execute(logout, &[&site, &a.agent_id])?,
            s => tx.execute(state, &[&site, &a.agent_id, &s, &a.work_mode, &a.reason, &a.at])?,
        };
    }
    Ok(())
}
