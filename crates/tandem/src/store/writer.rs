//! The store's one writer thread: it takes [`Write`]s off a bounded queue and applies
//! them in batches, one SQLite transaction per batch (a few hundred rows cost about as
//! much as one). The site task only ever `try_send`s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use rusqlite::{params, Connection, Transaction};

/// Rows written per transaction at most.
const BATCH: usize = 512;
/// How long the writer sleeps after the first row of a quiet spell before it takes what
/// has queued and commits (group commit). Each commit rewrites the pages it touched to
/// the WAL, so one commit per record would cost several pages per call; and a writer
/// blocked on the queue is woken (a futex call on both sides) by every record, while a
/// sleeping one is not.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// A call as stored: times already in Unix milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct CallRow {
    pub(crate) uuid: String,
    pub(crate) conn_id: String,
    pub(crate) caller: String,
    pub(crate) dialled: String,
    pub(crate) call_type: Option<&'static str>,
    pub(crate) routing_point: Option<String>,
    pub(crate) answered_dn: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) offered_at: i64,
    pub(crate) ringing_at: Option<i64>,
    pub(crate) answered_at: Option<i64>,
    pub(crate) ended_at: i64,
    pub(crate) wait_ms: i64,
    pub(crate) talk_ms: i64,
    pub(crate) result: &'static str,
    pub(crate) sip_cause: u16,
    pub(crate) released_by: Option<&'static str>,
    pub(crate) redirected: bool,
    pub(crate) forwarded: bool,
    pub(crate) default_routed: bool,
    pub(crate) transfers: u32,
    pub(crate) holds: u32,
    pub(crate) held_ms: i64,
    pub(crate) legs: Vec<LegRow>,
}

/// One leg as stored.
#[derive(Debug, Clone)]
pub(crate) struct LegRow {
    pub(crate) seq: u32,
    pub(crate) target: String,
    pub(crate) kind: &'static str,
    pub(crate) agent: Option<String>,
    pub(crate) offered_at: i64,
    pub(crate) ringing_at: Option<i64>,
    pub(crate) answered_at: Option<i64>,
    pub(crate) ended_at: i64,
    pub(crate) result: &'static str,
    pub(crate) sip_cause: u16,
    pub(crate) held_ms: i64,
}

/// One entry of the agent state log, and what it does to the saved login.
#[derive(Debug, Clone)]
pub(crate) struct AgentRow {
    pub(crate) at: i64,
    pub(crate) agent_id: String,
    pub(crate) dn: String,
    pub(crate) state: &'static str,
    pub(crate) work_mode: Option<String>,
    pub(crate) reason: Option<String>,
}

/// A binding as stored.
#[derive(Debug, Clone)]
pub(crate) struct BindingRow {
    pub(crate) dn: String,
    pub(crate) contact: String,
    pub(crate) expires_at: i64,
    pub(crate) source: String,
    pub(crate) transport: &'static str,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) q: u16,
}

/// What the writer is asked to do.
#[derive(Debug)]
pub(crate) enum Write {
    /// A call record (with its legs).
    Call(Box<CallRow>),
    /// An agent state log entry (`log`), and the saved login follows it (`keep`).
    Agent { row: AgentRow, log: bool, keep: bool },
    /// A binding made or refreshed.
    Bind(BindingRow),
    /// A binding removed or expired.
    Unbind { dn: String, contact: String },
    /// Delete records that ended before this time (retention).
    Prune { before: i64 },
    /// The media partner's figures for one session of a call.
    Media(MediaRow),
}

/// A session's media figures as stored.
#[derive(Debug, Clone)]
pub(crate) struct MediaRow {
    pub(crate) at: i64,
    pub(crate) uuid: String,
    pub(crate) session: String,
    pub(crate) packets: i64,
    pub(crate) lost: i64,
    pub(crate) jitter_ms: i64,
    /// The WAV file of the session's recording, when it was recorded.
    pub(crate) recording: Option<String>,
}

/// What the writer did, read by the metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Writes applied.
    pub(crate) written: AtomicU64,
    /// Writes the queue had no room for (never waited on).
    pub(crate) dropped: AtomicU64,
    /// Writes SQLite refused (disk full, file removed...): logged.
    pub(crate) failed: AtomicU64,
}

/// Where the writer writes: the SQLite file, or PostgreSQL (`super::postgres`).
pub(crate) trait Database: Send {
    /// Applies one batch in one transaction.
    fn apply(&mut self, site: &str, batch: Vec<Write>) -> Result<(), String>;
    /// Reads back `site`'s saved state as of `now_ms`, deleting expired bindings.
    fn load(&mut self, site: &str, now_ms: i64) -> anyhow::Result<super::Saved>;
}

/// The SQLite file.
pub(crate) struct Sqlite(pub(crate) Connection);

impl Database for Sqlite {
    fn apply(&mut self, site: &str, batch: Vec<Write>) -> Result<(), String> {
        apply(&mut self.0, site, batch).map_err(|e| e.to_string())
    }

    fn load(&mut self, site: &str, now_ms: i64) -> anyhow::Result<super::Saved> {
        super::saved::load(&self.0, site, now_ms)
    }
}

/// Runs until every sender is gone, then returns (the last batch is committed).
pub(crate) fn run(mut db: Box<dyn Database>, site: String, rx: Receiver<Write>, counters: Arc<Counters>) {
    let mut last_error_log: Option<std::time::Instant> = None;
    while let Ok(first) = rx.recv() {
        std::thread::sleep(GATHER);
        let mut pending = Some(first);
        loop {
            let batch: Vec<Write> =
                pending.take().into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())).take(BATCH).collect();
            if batch.is_empty() {
                break;
            }
            commit(db.as_mut(), &site, batch, &counters, &mut last_error_log);
        }
    }
}

/// Applies one batch; a failure is counted, and logged at most every 10 s (a database
/// that is down fails every batch).
fn commit(
    db: &mut dyn Database,
    site: &str,
    batch: Vec<Write>,
    counters: &Counters,
    last_error_log: &mut Option<std::time::Instant>,
) {
    let n = batch.len() as u64;
    match db.apply(site, batch) {
        Ok(()) => counters.written.fetch_add(n, Ordering::Relaxed),
        Err(e) => {
            let now = crate::clock::now();
            if last_error_log.is_none_or(|at| now.duration_since(at) >= std::time::Duration::from_secs(10)) {
                *last_error_log = Some(now);
                tracing::error!(site, error = %e, rows = n, "store write failed (rows dropped and counted)");
            }
            counters.failed.fetch_add(n, Ordering::Relaxed)
        }
    };
}

fn apply(conn: &mut Connection, site: &str, batch: Vec<Write>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for write in batch {
        match write {
            Write::Call(call) => insert_call(&tx, site, &call)?,
            Write::Agent { row, log, keep } => agent(&tx, site, &row, log, keep)?,
            Write::Bind(b) => {
                tx.prepare_cached(
                    "INSERT INTO bindings (site, dn, contact, expires_at, source, transport, call_id, cseq, q)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (site, dn, contact) DO UPDATE SET expires_at = ?4, source = ?5,
                     transport = ?6, call_id = ?7, cseq = ?8, q = ?9",
                )?
                .execute(params![
                    site,
                    b.dn,
                    b.contact,
                    b.expires_at,
                    b.source,
                    b.transport,
                    b.call_id,
                    b.cseq,
                    b.q
                ])?;
            }
            Write::Unbind { dn, contact } => {
                tx.prepare_cached("DELETE FROM bindings WHERE site = ?1 AND dn = ?2 AND contact = ?3")?
                    .execute(params![site, dn, contact])?;
            }
            Write::Prune { before } => {
                tx.prepare_cached("DELETE FROM calls WHERE site = ?1 AND ended_at < ?2")?
                    .execute(params![site, before])?;
                tx.prepare_cached("DELETE FROM agent_states WHERE site = ?1 AND at < ?2")?
                    .execute(params![site, before])?;
                tx.prepare_cached("DELETE FROM call_media WHERE site = ?1 AND at < ?2")?
                    .execute(params![site, before])?;
            }
            Write::Media(m) => {
                tx.prepare_cached(
                    "INSERT INTO call_media (site, uuid, session, at, packets, lost, jitter_ms, recording)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    site,
                    m.uuid,
                    m.session,
                    m.at,
                    m.packets,
                    m.lost,
                    m.jitter_ms,
                    m.recording
                ])?;
            }
        }
    }
    tx.commit()
}

fn insert_call(tx: &Transaction<'_>, site: &str, c: &CallRow) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO calls (site, uuid, conn_id, caller, dialled, call_type, routing_point, answered_dn, agent,
         offered_at, ringing_at, answered_at, ended_at, wait_ms, talk_ms, result, sip_cause, released_by,
         redirected, forwarded, default_routed, transfers, holds, held_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
         ?22, ?23, ?24)",
    )?
    .execute(params![
        site,
        c.uuid,
        c.conn_id,
        c.caller,
        c.dialled,
        c.call_type,
        c.routing_point,
        c.answered_dn,
        c.agent,
        c.offered_at,
        c.ringing_at,
        c.answered_at,
        c.ended_at,
        c.wait_ms,
        c.talk_ms,
        c.result,
        c.sip_cause,
        c.released_by,
        c.redirected,
        c.forwarded,
        c.default_routed,
        c.transfers,
        c.holds,
        c.held_ms
    ])?;
    let call = tx.last_insert_rowid();
    let mut leg = tx.prepare_cached(
        "INSERT INTO legs (call, seq, target, kind, agent, offered_at, ringing_at, answered_at, ended_at,
         result, sip_cause, held_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for l in &c.legs {
        leg.execute(params![
            call,
            l.seq,
            l.target,
            l.kind,
            l.agent,
            l.offered_at,
            l.ringing_at,
            l.answered_at,
            l.ended_at,
            l.result,
            l.sip_cause,
            l.held_ms
        ])?;
    }
    Ok(())
}

/// Logs the entry (`log`) and keeps the saved login in step with it (`keep`): a login
/// inserts, a state change updates, a logout deletes.
fn agent(tx: &Transaction<'_>, site: &str, a: &AgentRow, log: bool, keep: bool) -> rusqlite::Result<()> {
    if log {
        tx.prepare_cached(
            "INSERT INTO agent_states (site, at, agent_id, dn, state, work_mode, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![site, a.at, a.agent_id, a.dn, a.state, a.work_mode, a.reason])?;
    }
    if !keep {
        return Ok(());
    }
    match a.state {
        "login" => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO agents (site, agent_id, dn, state, work_mode, reason, logged_in_at, state_since)
                 VALUES (?1, ?2, ?3, 'not-ready', NULL, NULL, ?4, ?4)",
            )?
            .execute(params![site, a.agent_id, a.dn, a.at])?;
        }
        "logout" => {
            tx.prepare_cached("DELETE FROM agents WHERE site = ?1 AND agent_id = ?2")?
                .execute(params![site, a.agent_id])?;
        }
        state => {
            tx.prepare_cached(
                "UPDATE agents SET state = ?3, work_mode = ?4, reason = ?5, state_since = ?6
                 WHERE site = ?1 AND agent_id = ?2",
            )?
            .execute(params![site, a.agent_id, state, a.work_mode, a.reason, a.at])?;
        }
    }
    Ok(())
}
