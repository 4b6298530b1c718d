//! The engine's side of the media partner: commands queued for the shell, commands out
//! waiting for their answers, the partner's health, and what each call holds there.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::Resume;
use crate::b2bua::call::CallId;
use crate::media::{MediaCommand, MediaOp, MediaStats};

/// A description and the partner's rewriting of it.
type Rewritten = (Arc<[u8]>, Arc<[u8]>);

/// A call's media at the partner: its sessions and what was rewritten in the current one.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallMedia {
    /// Sessions started so far; the current one is `generation - 1` (none while 0).
    pub(crate) generation: u32,
    /// Sessions below this one are deleted already (a transfer's new pairing replaced them).
    pub(crate) deleted_below: u32,
    /// The offer the callee gets, as the partner rewrote it, keyed by what it rewrote
    /// (a transfer offers the caller's description anew, in a new session).
    pub(crate) offered: Option<Rewritten>,
    /// The partner failed this call: it goes on unanchored.
    pub(crate) unanchored: bool,
    /// The file a waiting caller hears (a treatment), while it waits.
    pub(crate) music: Option<String>,
    /// The caller is paired with the sink and got 183 with the partner's answer.
    pub(crate) early: bool,
    /// The description a caller answered for its music got (`answer_waiting`): what its
    /// session refreshes are answered with until an agent answers.
    pub(crate) answered_with: Option<Arc<[u8]>>,
    /// Something plays to the caller now.
    pub(crate) playing: bool,
    /// Hold music plays to the held party now.
    pub(crate) hold_playing: bool,
    /// The sessions (by generation) the partner records.
    pub(crate) recorded: Vec<u32>,
    /// What desktops and the configuration asked of the call's recording.
    pub(crate) wish: super::RecordWish,
}

/// The partner's tag of the silent party a waiting caller is paired with (and then of
/// the agent who answers: rtpengine 10.5 keeps the callee side's media under the first
/// tag that answered, so a block or a re-offer must name it).
pub(crate) const SINK: &str = "t";

impl CallMedia {
    /// The partner's tag of `side` in the current session.
    pub(crate) fn tag(&self, side: crate::b2bua::call::Side) -> String {
        use crate::b2bua::call::Side;
        match side {
            Side::B(_) if self.early => SINK.to_owned(),
            Side::A | Side::B(_) => super::tag_of(side),
        }
    }

    /// Starts the call's next session (its parties paired anew).
    pub(crate) fn new_session(&mut self) {
        self.generation += 1;
        self.early = false;
    }

    pub(crate) fn session(uuid: &str, generation: u32) -> String {
        format!("{uuid}.{generation}")
    }

    /// The current session's name.
    pub(crate) fn current(&self, uuid: &str) -> String {
        Self::session(uuid, self.generation.saturating_sub(1))
    }
}

/// A command out, waiting for its answer.
#[derive(Debug)]
pub(in crate::b2bua) struct Wait {
    pub(in crate::b2bua) call: CallId,
    pub(in crate::b2bua) resume: Resume,
    pub(in crate::b2bua) deadline: Instant,
    /// The session was started by this command (an offer of a new generation).
    pub(in crate::b2bua) offer: bool,
}

/// The engine's side of the media partner: commands out, waits, the partner's health.
#[derive(Debug, Default)]
pub(crate) struct MediaDesk {
    pub(in crate::b2bua) out: VecDeque<MediaCommand>,
    pub(in crate::b2bua) next_id: u64,
    /// By command id; ids rise with time and every wait has the same timeout, so the
    /// first entry has the earliest deadline.
    pub(in crate::b2bua) waits: BTreeMap<u64, Wait>,
    /// While set and later than now, the partner is taken as down.
    pub(in crate::b2bua) down_until: Option<Instant>,
    pub(crate) stats: MediaStats,
    /// Deletes sent, by command id: the session whose figures their answers carry
    /// (bounded: the oldest is forgotten first).
    pub(in crate::b2bua) deletes: BTreeMap<u64, (String, bool)>,
}

/// Deletes remembered for their figures at most.
const DELETES_KEPT: usize = 65_536;

impl MediaDesk {
    pub(crate) fn poll(&mut self) -> Option<MediaCommand> {
        self.out.pop_front()
    }

    /// The earliest deadline of a command out.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.waits.first_key_value().map(|(_, w)| w.deadline)
    }

    /// Asks what `session` relayed (its figures come back with the answer), then
    /// deletes it; `recorded`: its capture is to become a file.
    pub(crate) fn delete(&mut self, session: String, recorded: bool) {
        let id = self.send(MediaOp::Query { session: session.clone() });
        if self.deletes.len() >= DELETES_KEPT {
            self.deletes.pop_first();
        }
        self.deletes.insert(id, (session.clone(), recorded));
        self.send(MediaOp::Delete { session });
    }

    pub(crate) fn send(&mut self, op: MediaOp) -> u64 {
        self.next_id += 1;
        self.stats.commands += 1;
        self.out.push_back(MediaCommand { id: self.next_id, op });
        self.next_id
    }

    pub(crate) fn is_down(&self, now: Instant) -> bool {
        self.down_until.is_some_and(|t| now < t)
    }

    pub(crate) fn heard(&mut self) {
        if self.stats.partner_down == 1 {
            tracing::info!("media partner answers again");
        }
        self.down_until = None;
        self.stats.partner_down = 0;
    }

    pub(crate) fn failed(&mut self, now: Instant, retry_after: std::time::Duration) {
        if self.stats.partner_down == 0 {
            tracing::warn!("media partner does not answer: new calls follow media on_failure");
        }
        self.stats.partner_down = 1;
        self.down_until = Some(now + retry_after);
    }
}
