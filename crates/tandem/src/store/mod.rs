//! What a site keeps on disk: call detail records, the agent state log, and the phones'
//! registrations and agents' logins that survive a restart (issue 12).
//!
//! One SQLite file per site by default (WAL), written by one thread ([`writer`]) fed
//! through a bounded queue: the site's engine task never waits on the disk, and a full
//! queue drops the write and counts it (`tandem_store_dropped_total`). Records come from
//! the engine's domain events through [`engine::Recorder`]; saved state is read back once
//! at start-up ([`saved`]) and handed to [`engine::Node::restore`].
//!
//! SQLite (bundled, via rusqlite) by default rather than a server: one file next to the
//! binary is what a site needs, `tandem cdr` and any SQLite tool can read it while the
//! site writes, and one writer thread with batched transactions keeps up with the engine
//! (see docs/benchmarks.md). PostgreSQL ([`postgres`], the blocking `postgres` client on
//! the same writer thread) is the option for one central store that sites share.

mod postgres;
pub(crate) mod query;
pub(crate) mod recent;
mod saved;
mod schema;
pub(crate) mod today;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use engine::{AgentChange, CallRecord, DomainEvent, Record, Recorder};

pub(crate) use saved::Saved;
use writer::{AgentRow, BindingRow, CallRow, Counters, LegRow, MediaRow, Write};

/// Where a site's store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file (created, with its directory, if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by sites (`host=... dbname=...` or a URL).
    Postgres(String),
}

/// `[site.store]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreConfig {
    /// The database.
    pub(crate) target: Target,
    /// Writes waiting for the writer thread before new ones are dropped.
    pub(crate) queue: usize,
    /// Write call detail records and the agent state log.
    pub(crate) cdr: bool,
    /// Keep registrations and logins across restarts.
    pub(crate) state: bool,
    /// Records older than this are deleted (checked hourly); `None` keeps them all.
    pub(crate) keep: Option<Duration>,
}

/// How often old records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Maps the engine's [`Instant`]s to Unix milliseconds, from one reading of both clocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wall {
    at: Instant,
    unix_ms: i64,
}

impl Wall {
    /// Both clocks now.
    pub(crate) fn now(at: Instant, unix_ms: u64) -> Self {
        Self { at, unix_ms: i64::try_from(unix_ms).unwrap_or(i64::MAX) }
    }

    /// `t` in Unix milliseconds.
    pub(crate) fn ms(&self, t: Instant) -> i64 {
        match t.checked_duration_since(self.at) {
            Some(after) => self.unix_ms.saturating_add(millis(after)),
            None => self.unix_ms.saturating_sub(millis(self.at.saturating_duration_since(t))),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A site's store: the recorder, the queue to the writer thread, and its counters.
pub(crate) struct Store {
    config: StoreConfig,
    recorder: Recorder,
    wall: Wall,
    queue: Option<SyncSender<Write>>,
    writer: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
    next_prune: Instant,
    /// rtpengine's recording directory, when the site records calls: where a recorded
    /// session's WAV file is written (`recording::wav_path`).
    recordings: Option<PathBuf>,
}

/// The store's figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreStats {
    /// Rows written.
    pub(crate) written: u64,
    /// Writes dropped because the queue was full.
    pub(crate) dropped: u64,
    /// Writes SQLite refused.
    pub(crate) failed: u64,
    /// Calls not recorded because too many were open at once.
    pub(crate) untracked: u64,
}

impl Store {
    /// Opens (or creates) the store of `site`, reads back its saved state (expired
    /// bindings pruned) and starts the writer thread.
    pub(crate) fn open(config: StoreConfig, site: &str, wall: Wall, max_calls: usize) -> anyhow::Result<(Self, Saved)> {
        let mut db: Box<dyn writer::Database> = match &config.target {
            Target::Sqlite(path) => Box::new(writer::Sqlite(connect(path)?)),
            Target::Postgres(conninfo) => {
                Box::new(postgres::Postgres::connect(conninfo).context("connecting to PostgreSQL")?)
            }
        };
        let saved = if config.state { db.load(site, wall.unix_ms)? } else { Saved::default() };
        let (tx, rx) = sync_channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread_site = site.to_owned();
        let writer = std::thread::Builder::new()
            .name(format!("store-{site}"))
            .spawn(move || writer::run(db, thread_site, rx, thread_counters))
            .context("starting the store writer thread")?;
        let store = Self {
            recorder: Recorder::new(max_calls.saturating_mul(2).max(1024)),
            wall,
            queue: Some(tx),
            writer: Some(writer),
            counters,
            next_prune: wall.at,
            recordings: None,
            config,
        };
        Ok((store, saved))
    }

    /// Where the site's recordings are written (`[site.media] recordings`).
    pub(crate) fn set_recordings(&mut self, dir: Option<PathBuf>) {
        self.recordings = dir;
    }

    /// The agents [`engine::Node::restore`] logged in again, so their calls name them.
    pub(crate) fn restored_agents(&mut self, saved: &Saved) {
        for a in &saved.agents {
            self.recorder.agent_logged_in(&a.dn, &a.agent_id);
        }
    }

    /// Takes one domain event the site raised at `now`.
    pub(crate) fn observe(&mut self, now: Instant, event: &DomainEvent) {
        if self.config.state {
            if let Some(write) = self.state_write(now, event) {
                self.send(write);
            }
        }
        self.recorder.observe(now, event);
        while let Some(record) = self.recorder.poll() {
            match record {
                Record::Call(call) if self.config.cdr => {
                    let row = self.call_row(*call);
                    self.send(Write::Call(Box::new(row)));
                }
                Record::Call(_) => {}
                Record::Media(m) if self.config.cdr => {
                    let f = m.figures;
                    let recording = self.recordings.as_deref().filter(|_| m.recorded);
                    let recording = recording.map(|dir| crate::recording::wav_path(dir, &m.session));
                    let row = MediaRow {
                        at: self.wall.ms(m.at),
                        uuid: m.uuid,
                        session: m.session,
                        packets: i64::try_from(f.packets).unwrap_or(i64::MAX),
                        lost: i64::try_from(f.lost).unwrap_or(i64::MAX),
                        jitter_ms: i64::from(f.jitter_ms),
                        recording: recording.map(|p| p.display().to_string()),
                    };
                    self.send(Write::Media(row));
                }
                Record::Media(_) => {}
                Record::Agent(a) => {
                    let row = agent_row(self.wall.ms(a.at), &a.agent_id, &a.dn, &a.change);
                    let (log, keep) = (self.config.cdr, self.config.state);
                    if log || keep {
                        self.send(Write::Agent { row, log, keep });
                    }
                }
            }
        }
        if now >= self.next_prune {
            self.next_prune = now + PRUNE_EVERY;
            if let Some(keep) = self.config.keep.filter(|_| self.config.cdr) {
                let before = self.wall.ms(now).saturating_sub(millis(keep));
                self.send(Write::Prune { before });
            }
        }
    }

    /// The store's figures.
    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            written: self.counters.written.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            untracked: self.recorder.untracked(),
        }
    }

    /// Stops taking writes and waits for the writer to commit what it has.
    pub(crate) fn close(mut self) {
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }

    fn send(&self, write: Write) {
        let Some(queue) = &self.queue else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(write) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What a registrar event changes in the saved bindings.
    fn state_write(&self, now: Instant, event: &DomainEvent) -> Option<Write> {
        match event {
            DomainEvent::Registered { dn, contact, expires, source, call_id, cseq, q } => {
                let expires_at = self.wall.ms(now).saturating_add(millis(*expires));
                Some(Write::Bind(BindingRow {
                    dn: dn.clone(),
                    contact: contact.clone(),
                    expires_at,
                    source: source.addr.to_string(),
                    transport: source.transport.as_str(),
                    call_id: call_id.clone(),
                    cseq: *cseq,
                    q: *q,
                }))
            }
            DomainEvent::Unregistered { dn, contact } | DomainEvent::BindingExpired { dn, contact } => {
                Some(Write::Unbind { dn: dn.clone(), contact: contact.clone() })
            }
            _ => None,
        }
    }

    /// The record as a row (its strings moved, its times in Unix milliseconds).
    fn call_row(&self, c: CallRecord) -> CallRow {
        let ms = |t: Instant| self.wall.ms(t);
        let (wait, talk) = (c.wait(), c.talk());
        CallRow {
            conn_id: cti::conn_id_text(c.conn_id),
            call_type: c.call_type.map(call_type_name),
            offered_at: ms(c.offered_at),
            ringing_at: c.ringing_at.map(ms),
            answered_at: c.answered_at.map(ms),
            ended_at: ms(c.ended_at),
            wait_ms: millis(wait),
            talk_ms: millis(talk),
            result: c.result.as_str(),
            sip_cause: c.cause,
            released_by: c.released_by.map(|by| match by {
                engine::ReleasedBy::Caller => "caller",
                engine::ReleasedBy::Callee => "callee",
                engine::ReleasedBy::Server => "server",
            }),
            redirected: c.redirected,
            forwarded: c.forwarded,
            default_routed: c.default_routed,
            transfers: c.transfers,
            holds: c.holds,
            held_ms: millis(c.held),
            legs: c
                .legs
                .into_iter()
                .map(|l| LegRow {
                    seq: l.seq,
                    kind: l.kind.as_str(),
                    offered_at: ms(l.offered_at),
                    ringing_at: l.ringing_at.map(ms),
                    answered_at: l.answered_at.map(ms),
                    ended_at: ms(l.ended_at),
                    result: l.result.as_str(),
                    sip_cause: l.cause,
                    held_ms: millis(l.held),
                    target: l.target,
                    agent: l.agent,
                })
                .collect(),
            uuid: c.uuid,
            caller: c.caller,
            dialled: c.dialled,
            routing_point: c.routing_point,
            answered_dn: c.answered_dn,
            agent: c.agent,
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Opens the SQLite file, creating its directory, and prepares it.
/// A reader's connection to a site's SQLite store while the site writes it (WAL lets it
/// in): read-only, waiting up to `wait` for the writer's lock.
pub(crate) fn read_only(path: &Path, wait: Duration) -> anyhow::Result<rusqlite::Connection> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn =
        rusqlite::Connection::open_with_flags(path, flags).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(wait)?;
    Ok(conn)
}

pub(crate) fn connect(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let conn = rusqlite::Connection::open(path).with_context(|| format!("opening the store {}", path.display()))?;
    schema::prepare(&conn).with_context(|| format!("preparing the store {}", path.display()))?;
    Ok(conn)
}

fn agent_row(at: i64, agent_id: &str, dn: &str, change: &AgentChange) -> AgentRow {
    let work_mode = match change {
        AgentChange::Ready { work_mode } | AgentChange::NotReady { work_mode, .. } => Some(work_mode_name(*work_mode)),
        AgentChange::AfterCallWork => Some(work_mode_name(cti::AgentWorkMode::AfterCallWork)),
        AgentChange::LoggedIn | AgentChange::LoggedOut { .. } => None,
    };
    AgentRow {
        at,
        agent_id: agent_id.to_owned(),
        dn: dn.to_owned(),
        state: change.state(),
        work_mode,
        reason: change.reason().map(str::to_owned),
    }
}

/// The CTI protocol's name of a work mode (`ManualIn`, `AuxWork`...).
pub(crate) fn work_mode_name(mode: cti::AgentWorkMode) -> String {
    serde_json::to_value(mode).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn call_type_name(t: cti::CallType) -> &'static str {
    match t {
        cti::CallType::Inbound => "Inbound",
        cti::CallType::Outbound => "Outbound",
        cti::CallType::Internal => "Internal",
        cti::CallType::Consult => "Consult",
        cti::CallType::Unknown => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{AgentChange, DomainEvent};

    fn config(path: PathBuf) -> StoreConfig {
        StoreConfig { target: Target::Sqlite(path), queue: 64, cdr: true, state: true, keep: None }
    }

    fn agent(agent_id: &str, change: AgentChange) -> DomainEvent {
        DomainEvent::AgentChanged { agent_id: agent_id.into(), dn: "1001".into(), change }
    }

    #[test]
    fn wall_clock_conversion_goes_both_ways_from_the_reading() {
        let at = crate::clock::now();
        let wall = Wall::now(at + Duration::from_secs(10), 1_000_000);
        assert_eq!(wall.ms(at + Duration::from_secs(10)), 1_000_000);
        assert_eq!(wall.ms(at + Duration::from_millis(10_250)), 1_000_250);
        assert_eq!(wall.ms(at), 990_000);
    }

    /// Saved state follows the events (a binding made then removed, an agent logged in,
    /// Ready, then a second agent logged in and out) and comes back on the next open.
    #[test]
    fn saved_state_follows_events_and_is_read_back() {
        let dir = std::env::temp_dir().join(format!("tandem-store-unit-{}", std::process::id()));
        let path = dir.join("s.db");
        let at = crate::clock::now();
        let wall = Wall::now(at, 5_000_000);
        let (mut store, saved) = Store::open(config(path.clone()), "s1", wall, 10).expect("open");
        assert!(saved.bindings.is_empty() && saved.agents.is_empty());
        let source = engine::Peer::udp("127.0.0.1:6001".parse().expect("addr"));
        let bind = |dn: &str| DomainEvent::Registered {
            dn: dn.into(),
            contact: format!("sip:{dn}@127.0.0.1:6001"),
            expires: Duration::from_secs(60),
            source,
            call_id: "c1".into(),
            cseq: 7,
            q: 1000,
        };
        for event in [
            bind("1001"),
            bind("1002"),
            DomainEvent::Unregistered { dn: "1002".into(), contact: "sip:1002@127.0.0.1:6001".into() },
            agent("A1", AgentChange::LoggedIn),
            agent("A1", AgentChange::Ready { work_mode: cti::AgentWorkMode::ManualIn }),
            agent("A2", AgentChange::LoggedIn),
            agent("A2", AgentChange::LoggedOut { reason: None }),
        ] {
            store.observe(at, &event);
        }
        store.close();
        let later = Wall::now(at + Duration::from_secs(20), 5_020_000);
        let (store, saved) = Store::open(config(path.clone()), "s1", later, 10).expect("reopen");
        store.close();
        assert_eq!(saved.bindings.len(), 1, "{saved:?}");
        let b = &saved.bindings[0];
        assert_eq!((b.dn.as_str(), b.cseq, b.expires_in), ("1001", 7, Duration::from_secs(40)));
        assert_eq!(saved.agents.len(), 1, "{saved:?}");
        let a = &saved.agents[0];
        assert_eq!(
            (a.agent_id.as_str(), a.state, a.logged_in_for),
            ("A1", cti::AgentState::Ready, Duration::from_secs(20))
        );
        let log =
            query::run(&[path.as_path()], &query::Query { last: 10, states: true, json: true, ..Default::default() })
                .expect("the state log");
        assert_eq!(log.lines().count(), 4, "{log}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
