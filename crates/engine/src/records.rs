//! Call detail records and the agent state log, built from a site's [`DomainEvent`]s.
//!
//! [`Recorder`] is a plain state machine like the rest of the engine: the shell feeds it
//! every domain event with the time it was seen, and polls finished [`Record`]s to store
//! (SQLite, PostgreSQL: the shell's business). One [`CallRecord`] per call with a
//! [`LegRecord`] per delivery attempt (the phones of one DN, a trunk, or the DR peer);
//! a call that never got a ConnID (refused at once, or redirected with 302) still gets
//! its record. Times are [`Instant`]s; the shell turns them into wall-clock times.
//!
//! Memory is bounded: a record lives while its call does, and at most `max_open` calls
//! are followed at once (more are counted in [`Recorder::untracked`], never queued).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::event::{AgentChange, CallType, DomainEvent, LegKind, ReleasedBy};
use crate::Status;

/// How a call, or one leg of it, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// Answered (and later released).
    Answered,
    /// The callee was busy (486, 600).
    Busy,
    /// Nobody answered in time (408).
    NoAnswer,
    /// The callee could not be reached (404, 480: not registered, unknown).
    Unavailable,
    /// The caller gave up before the answer (CANCEL, 487).
    Abandoned,
    /// Sent elsewhere with a 3xx (302 to the DR peer).
    Redirected,
    /// Refused or failed otherwise (the cause says how).
    Failed,
    /// A leg its DN transferred (or redirected) elsewhere: the call went on.
    Transferred,
}

impl CallResult {
    /// The result a SIP status stands for.
    pub fn from_cause(code: u16) -> Self {
        match code {
            200..=299 => Self::Answered,
            300..=399 => Self::Redirected,
            486 | 600 => Self::Busy,
            408 => Self::NoAnswer,
            404 | 410 | 480 => Self::Unavailable,
            487 => Self::Abandoned,
            _ => Self::Failed,
        }
    }

    /// The result a final answer of ours to the caller stands for: by what it means,
    /// not only its code (no answer and a desktop's release are both 480).
    #[allow(clippy::wildcard_enum_match_arm, reason = "answers not named are judged by their code")]
    pub fn of(status: Status) -> Self {
        match status {
            Status::NoAnswer | Status::RequestTimeout | Status::QueueTimeout => Self::NoAnswer,
            Status::Released => Self::Failed,
            other => Self::from_cause(other.code()),
        }
    }

    /// The word stored in CDRs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Unavailable => "unavailable",
            Self::Abandoned => "abandoned",
            Self::Redirected => "redirected",
            Self::Transferred => "transferred",
            Self::Failed => "failed",
        }
    }
}

/// One delivery attempt of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRecord {
    /// 1 for the first attempt, then 2, 3... (a routed call may ring several agents).
    pub seq: u32,
    /// The DN rung, the digits sent to a trunk, or the DR peer's address for a 302.
    pub target: String,
    /// Phones here, a trunk, or the DR peer.
    pub kind: LegKind,
    /// The agent logged in on the target DN when it rang.
    pub agent: Option<String>,
    /// When the attempt started.
    pub offered_at: Instant,
    /// The first 18x.
    pub ringing_at: Option<Instant>,
    /// The 2xx.
    pub answered_at: Option<Instant>,
    /// When it ended.
    pub ended_at: Instant,
    /// How it ended.
    pub result: CallResult,
    /// The SIP status that ended it (200 for an answered leg).
    pub cause: u16,
    /// How long the call was on hold while this leg was its answered party (whoever held).
    pub held: Duration,
}

/// One call at one site, from the first INVITE to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The call UUID, the same at both sites when the call crosses them (empty for a call
    /// refused before it got one).
    pub uuid: String,
    /// ConnID at this site (0 for a call refused at once or redirected).
    pub conn_id: u64,
    /// The caller (From user).
    pub caller: String,
    /// The dialled DN.
    pub dialled: String,
    /// Inbound, Internal or Outbound at this site.
    pub call_type: Option<CallType>,
    /// The first Routing Point the call waited on.
    pub routing_point: Option<String>,
    /// The DN that answered.
    pub answered_dn: Option<String>,
    /// The agent logged in on it.
    pub agent: Option<String>,
    /// When the INVITE arrived.
    pub offered_at: Instant,
    /// The first 18x from a callee.
    pub ringing_at: Option<Instant>,
    /// The answer.
    pub answered_at: Option<Instant>,
    /// The end.
    pub ended_at: Instant,
    /// How it ended.
    pub result: CallResult,
    /// The SIP status the caller got (200 when answered).
    pub cause: u16,
    /// Who hung up an answered call.
    pub released_by: Option<ReleasedBy>,
    /// Redirected to the DR peer with 302 (BC-22).
    pub redirected: bool,
    /// Came from, or went to, the DR peer over the peer trunk.
    pub forwarded: bool,
    /// Left its Routing Point by default routing or overflow, not by a router.
    pub default_routed: bool,
    /// The delivery attempts, in order.
    pub legs: Vec<LegRecord>,
    /// Single-step transfers and redirections (each also ends a leg as `transferred`).
    pub transfers: u32,
    /// Times a party put the call on hold.
    pub holds: u32,
    /// How long the call was on hold in all.
    pub held: Duration,
    /// Since when the call is on hold, while it is.
    hold_since: Option<Instant>,
}

impl CallRecord {
    /// Time from the INVITE to the answer (or to the end when never answered).
    pub fn wait(&self) -> Duration {
        self.answered_at.unwrap_or(self.ended_at).saturating_duration_since(self.offered_at)
    }

    /// Time from the answer to the end.
    pub fn talk(&self) -> Duration {
        self.answered_at.map_or(Duration::ZERO, |at| self.ended_at.saturating_duration_since(at))
    }

    fn new(now: Instant, caller: String, dialled: String) -> Self {
        Self {
            uuid: String::new(),
            conn_id: 0,
            caller,
            dialled,
            call_type: None,
            routing_point: None,
            answered_dn: None,
            agent: None,
            offered_at: now,
            ringing_at: None,
            answered_at: None,
            ended_at: now,
            result: CallResult::Failed,
            cause: 0,
            released_by: None,
            redirected: false,
            forwarded: false,
            default_routed: false,
            legs: Vec::new(),
            transfers: 0,
            holds: 0,
            held: Duration::ZERO,
            hold_since: None,
        }
    }

    fn open_leg(&mut self) -> Option<&mut LegRecord> {
        self.legs.last_mut().filter(|l| l.cause == 0)
    }

    /// A hold ends (retrieved, or its leg or call ended): its time counts for the call and
    /// the leg that was answered.
    fn close_hold(&mut self, now: Instant) {
        let Some(since) = self.hold_since.take() else { return };
        let held = now.saturating_duration_since(since);
        self.held += held;
        if let Some(leg) = self.open_leg() {
            leg.held += held;
        }
    }

    fn end_leg(&mut self, now: Instant, cause: u16, result: CallResult) {
        self.close_hold(now);
        if let Some(leg) = self.open_leg() {
            leg.ended_at = now;
            leg.cause = cause;
            leg.result = result;
        }
    }

    fn end(&mut self, now: Instant, cause: u16, result: CallResult) {
        self.end_leg(now, cause, result);
        self.ended_at = now;
        self.cause = cause;
        self.result = result;
    }
}

/// One entry of the agent state log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    /// When.
    pub at: Instant,
    /// The AgentID.
    pub agent_id: String,
    /// Its DN.
    pub dn: String,
    /// What changed.
    pub change: AgentChange,
}

/// A finished record, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A call ended.
    Call(Box<CallRecord>),
    /// An agent's state changed.
    Agent(AgentRecord),
    /// The media partner's figures for one of a call's sessions (they come after the
    /// call's record: the partner gives them when the session is deleted).
    Media(MediaRecord),
}

/// What the media partner relayed in one session of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    /// When the figures came.
    pub at: Instant,
    /// The call's UUID: the key to its call record.
    pub uuid: String,
    /// The session (`<uuid>.<generation>`: a transfer's new pair has its own).
    pub session: String,
    /// Packets, loss, jitter.
    pub figures: crate::media::MediaFigures,
    /// The session was recorded: its capture becomes a file.
    pub recorded: bool,
}

/// Builds records from domain events (see the module docs).
#[derive(Debug)]
pub struct Recorder {
    open: HashMap<u64, CallRecord>,
    /// DN -> the agent logged in on it.
    agents: BTreeMap<String, String>,
    done: VecDeque<Record>,
    max_open: usize,
    untracked: u64,
}

impl Recorder {
    /// A recorder following at most `max_open` calls at once.
    pub fn new(max_open: usize) -> Self {
        Self { open: HashMap::new(), agents: BTreeMap::new(), done: VecDeque::new(), max_open, untracked: 0 }
    }

    /// Calls begun but not ended.
    pub fn open_calls(&self) -> usize {
        self.open.len()
    }

    /// Calls not recorded because `max_open` were open already.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Tells the recorder that `agent_id` is logged in on `dn` (an agent restored after a
    /// restart, whose login event came before this recorder).
    pub fn agent_logged_in(&mut self, dn: &str, agent_id: &str) {
        self.agents.insert(dn.to_owned(), agent_id.to_owned());
    }

    /// The next finished record.
    pub fn poll(&mut self) -> Option<Record> {
        self.done.pop_front()
    }

    /// Feeds one domain event seen at `now`.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over domain events: the events not named do not concern this code"
    )]
    pub fn observe(&mut self, now: Instant, event: &DomainEvent) {
        match event {
            DomainEvent::CallOffered { conn_id, uuid, caller, dn, call_type, forwarded } => {
                if self.open.len() >= self.max_open {
                    self.untracked += 1;
                    return;
                }
                let mut record = CallRecord::new(now, caller.clone(), dn.clone());
                record.uuid = uuid.clone();
                record.conn_id = *conn_id;
                record.call_type = Some(*call_type);
                record.forwarded = *forwarded;
                self.open.insert(*conn_id, record);
            }
            DomainEvent::CallRedirected { dn, caller, to } => {
                let mut record = CallRecord::new(now, caller.clone(), dn.clone());
                record.redirected = true;
                record.legs.push(leg(1, to.to_string(), LegKind::DrPeer, None, now));
                record.end(now, 302, CallResult::Redirected);
                self.done.push_back(Record::Call(Box::new(record)));
            }
            DomainEvent::CallFailed { conn_id: 0, dn, caller, code, status, .. } => {
                let mut record = CallRecord::new(now, caller.clone(), dn.clone());
                record.end(now, *code, CallResult::of(*status));
                self.done.push_back(Record::Call(Box::new(record)));
            }
            DomainEvent::AgentChanged { agent_id, dn, change } => self.agent_changed(now, agent_id, dn, change),
            DomainEvent::CallsMerged { kept, gone, to, answered, .. } => self.merged(now, *kept, *gone, to, *answered),
            DomainEvent::Conferenced { kept, gone, added, .. } => self.conferenced(now, *kept, *gone, added),
            DomainEvent::MediaFigures { uuid, session, figures, recorded } => {
                let (uuid, session, figures, recorded) = (uuid.clone(), session.clone(), *figures, *recorded);
                let record = MediaRecord { at: now, uuid, session, figures, recorded };
                self.done.push_back(Record::Media(record));
            }
            _ => self.call_event(now, event),
        }
    }

    fn agent_changed(&mut self, now: Instant, agent_id: &str, dn: &str, change: &AgentChange) {
        match change {
            AgentChange::LoggedIn => self.agent_logged_in(dn, agent_id),
            AgentChange::LoggedOut { .. } => {
                self.agents.remove(dn);
            }
            AgentChange::Ready { .. } | AgentChange::NotReady { .. } | AgentChange::AfterCallWork => {}
        }
        let record = AgentRecord { at: now, agent_id: agent_id.to_owned(), dn: dn.to_owned(), change: change.clone() };
        self.done.push_back(Record::Agent(record));
    }

    /// Events about a call with a ConnID.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over domain events: the events not named do not concern this code"
    )]
    fn call_event(&mut self, now: Instant, event: &DomainEvent) {
        let Some(conn_id) = conn_id_of(event) else { return };
        let Some(record) = self.open.get_mut(&conn_id) else { return };
        match event {
            DomainEvent::RouteRequest { rp, .. } => {
                record.routing_point.get_or_insert_with(|| rp.clone());
            }
            DomainEvent::RouteUsed { requester, .. } => record.default_routed |= requester.is_none(),
            DomainEvent::CallRinging { dn, leg: kind, .. } => {
                record.end_leg(now, 487, CallResult::Abandoned);
                let seq = record.legs.len() as u32 + 1;
                let agent = self.agents.get(dn).cloned();
                record.forwarded |= *kind == LegKind::DrPeer;
                record.legs.push(leg(seq, dn.clone(), *kind, agent, now));
            }
            DomainEvent::CallAlerting { .. } => {
                record.ringing_at.get_or_insert(now);
                if let Some(leg) = record.open_leg() {
                    leg.ringing_at.get_or_insert(now);
                }
            }
            DomainEvent::CallEstablished { dn, .. } => {
                let agent = self.agents.get(dn).cloned();
                record.answered_at = Some(now);
                record.answered_dn = Some(dn.clone());
                if let Some(leg) = record.open_leg() {
                    leg.answered_at = Some(now);
                    leg.agent = leg.agent.take().or_else(|| agent.clone());
                }
                record.agent = agent;
            }
            DomainEvent::RouteFailed { cause, .. } => record.end_leg(now, *cause, CallResult::from_cause(*cause)),
            DomainEvent::CallTransferred { answered, .. } => {
                record.end_leg(now, if *answered { 200 } else { 302 }, CallResult::Transferred);
                record.transfers += 1;
            }
            DomainEvent::CallHeld { .. } => {
                record.holds += 1;
                record.hold_since.get_or_insert(now);
            }
            DomainEvent::CallRetrieved { .. } => record.close_hold(now),
            DomainEvent::CallReleased { by, .. } => {
                record.released_by = Some(*by);
                self.finish(now, conn_id, 200, CallResult::Answered);
            }
            DomainEvent::CallAbandoned { .. } => self.finish(now, conn_id, 487, CallResult::Abandoned),
            DomainEvent::CallFailed { code, status, .. } => self.finish(now, conn_id, *code, CallResult::of(*status)),
            _ => {}
        }
    }

    /// A two-step transfer completed: the held call's transferring leg ends and the
    /// consulted party's begins in it (answered already, or ringing); the consultation's
    /// record ends as transferred.
    fn merged(&mut self, now: Instant, kept: u64, gone: u64, to: &str, answered: bool) {
        if let Some(record) = self.open.get_mut(&kept) {
            record.end_leg(now, 200, CallResult::Transferred);
            record.transfers += 1;
        }
        self.joined(now, (kept, gone), to, answered);
    }

    /// A conference: as a merge, but the agent's leg goes on.
    fn conferenced(&mut self, now: Instant, kept: u64, gone: u64, added: &str) {
        self.joined(now, (kept, gone), added, true);
    }

    /// The consulted party `to` joined call `kept` (a leg of its own, answered now or
    /// still ringing); the consultation `gone`'s record ends.
    fn joined(&mut self, now: Instant, (kept, gone): (u64, u64), to: &str, answered: bool) {
        let agent = self.agents.get(to).cloned();
        if let Some(record) = self.open.get_mut(&kept) {
            let seq = record.legs.len() as u32 + 1;
            let mut next = leg(seq, to.to_owned(), LegKind::Phone, agent, now);
            next.answered_at = answered.then_some(now);
            record.legs.push(next);
        }
        self.finish(now, gone, 200, CallResult::Transferred);
    }

    fn finish(&mut self, now: Instant, conn_id: u64, cause: u16, result: CallResult) {
        if let Some(mut record) = self.open.remove(&conn_id) {
            record.end(now, cause, result);
            self.done.push_back(Record::Call(Box::new(record)));
        }
        sipcore::shrink_sparse(&mut self.open);
    }
}

fn leg(seq: u32, target: String, kind: LegKind, agent: Option<String>, now: Instant) -> LegRecord {
    LegRecord {
        seq,
        target,
        kind,
        agent,
        offered_at: now,
        ringing_at: None,
        answered_at: None,
        ended_at: now,
        result: CallResult::Failed,
        cause: 0,
        held: Duration::ZERO,
    }
}

/// The ConnID a call event is about.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "a filter over domain events: the events not named do not concern this code"
)]
fn conn_id_of(event: &DomainEvent) -> Option<u64> {
    match event {
        DomainEvent::RouteRequest { conn_id, .. }
        | DomainEvent::RouteUsed { conn_id, .. }
        | DomainEvent::RouteFailed { conn_id, .. }
        | DomainEvent::CallRinging { conn_id, .. }
        | DomainEvent::CallAlerting { conn_id }
        | DomainEvent::CallEstablished { conn_id, .. }
        | DomainEvent::CallReleased { conn_id, .. }
        | DomainEvent::CallAbandoned { conn_id, .. }
        | DomainEvent::CallFailed { conn_id, .. }
        | DomainEvent::CallHeld { conn_id, .. }
        | DomainEvent::CallRetrieved { conn_id, .. }
        | DomainEvent::CallTransferred { conn_id, .. } => Some(*conn_id),
        _ => None,
    }
}
