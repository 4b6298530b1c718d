//! A scripted media partner for a site's [`engine::media`] commands: it answers as
//! rtpengine would (each side's description rewritten to the partner's own address and a
//! port of its own), late, with an error, or not at all, so that tests can drive the
//! engine's anchoring and its failure policy.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engine::media::{MediaCommand, MediaFigures, MediaOp, MediaReply};

/// The address every rewritten description carries (TEST-NET-3, RFC 5737).
pub const PARTNER_ADDRESS: &str = "203.0.113.7";
/// The address of the conference mixer's descriptions.
pub const MIXER_ADDRESS: &str = "203.0.113.9";

/// How the partner behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerMode {
    /// Answers every command after `delay`.
    Answer {
        /// How long each answer takes.
        delay: Duration,
    },
    /// Refuses every offer and answer (`result: error`); deletes succeed.
    Refuse,
    /// Answers nothing.
    Silent,
}

/// One site's media partner.
#[derive(Debug)]
pub struct MediaPartner {
    /// How it behaves now (tests may change it mid-call).
    pub mode: PartnerMode,
    /// How the conference mixer behaves (joins answered, refused or not at all).
    pub mixer: PartnerMode,
    /// Every command it was given, in order.
    pub commands: Vec<MediaCommand>,
    /// Answers not yet delivered: when, to which command, what.
    pending: Vec<(Instant, u64, MediaReply)>,
    /// Sessions offered and not deleted, with the port each of their tags got.
    sessions: BTreeMap<String, BTreeMap<String, u16>>,
    next_port: u16,
}

impl MediaPartner {
    /// A partner in `mode`.
    pub fn new(mode: PartnerMode) -> Self {
        let mixer = PartnerMode::Answer { delay: Duration::from_millis(2) };
        Self { mode, mixer, commands: Vec::new(), pending: Vec::new(), sessions: BTreeMap::new(), next_port: 30_000 }
    }

    /// Takes one command at `now`.
    pub fn take(&mut self, now: Instant, command: MediaCommand) {
        if command.op.for_mixer() {
            return self.take_for_mixer(now, command);
        }
        let reply = match (&command.op, self.mode) {
            (_, PartnerMode::Silent) => None,
            (MediaOp::Query { .. }, _) => {
                Some(MediaReply::Done(Some(MediaFigures { packets: 100, lost: 1, jitter_ms: 3 })))
            }
            (MediaOp::Delete { session }, _) => {
                self.sessions.remove(session);
                Some(MediaReply::Done(None))
            }
            (
                MediaOp::Play { .. }
                | MediaOp::StopPlay { .. }
                | MediaOp::Block { .. }
                | MediaOp::Unblock { .. }
                | MediaOp::StartRecording { .. }
                | MediaOp::StopRecording { .. },
                _,
            ) => Some(MediaReply::Done(None)),
            (_, PartnerMode::Refuse) => Some(MediaReply::Refused("Failed to parse SDP".into())),
            (MediaOp::Offer { session, to, sdp, .. }, PartnerMode::Answer { .. }) => {
                let side = to.clone().unwrap_or_else(|| "callee".into());
                Some(MediaReply::Sdp(self.rewrite(session, &side, sdp)))
            }
            (MediaOp::Answer { session, from, sdp, .. }, PartnerMode::Answer { .. }) => {
                Some(MediaReply::Sdp(self.rewrite(session, from, sdp)))
            }
            // Taken by the mixer above.
            (MediaOp::MixerJoin { .. } | MediaOp::MixerLeave { .. } | MediaOp::MixerClose { .. }, _) => None,
        };
        let delay = match self.mode {
            PartnerMode::Answer { delay } => delay,
            PartnerMode::Refuse | PartnerMode::Silent => Duration::ZERO,
        };
        if let Some(reply) = reply {
            self.pending.push((now + delay, command.id, reply));
        }
        self.commands.push(command);
    }

    /// A conference mixer's command: a join is answered with the mixer's description for
    /// the participant (a port of its own at [`MIXER_ADDRESS`]).
    fn take_for_mixer(&mut self, now: Instant, command: MediaCommand) {
        let reply = match (&command.op, self.mixer) {
            (_, PartnerMode::Silent) => None,
            (MediaOp::MixerJoin { .. }, PartnerMode::Refuse) => Some(MediaReply::Refused("No such room".into())),
            (MediaOp::MixerJoin { .. }, PartnerMode::Answer { .. }) => {
                self.next_port += 2;
                let sdp = format!(
                    "v=0\r\no=mixer 1 1 IN IP4 {MIXER_ADDRESS}\r\ns=-\r\nc=IN IP4 {MIXER_ADDRESS}\r\nt=0 0\r\n\
m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
                    self.next_port
                );
                Some(MediaReply::Sdp(sdp.into_bytes()))
            }
            _ => Some(MediaReply::Done(None)),
        };
        let delay = match self.mixer {
            PartnerMode::Answer { delay } => delay,
            PartnerMode::Refuse | PartnerMode::Silent => Duration::ZERO,
        };
        if let Some(reply) = reply {
            self.pending.push((now + delay, command.id, reply));
        }
        self.commands.push(command);
    }

    /// `sdp` as side `facing` of `session` gets it: the partner's address, a port of its own.
    fn rewrite(&mut self, session: &str, facing: &str, sdp: &[u8]) -> Vec<u8> {
        let ports = self.sessions.entry(session.to_owned()).or_default();
        let next = &mut self.next_port;
        let port = *ports.entry(facing.to_owned()).or_insert_with(|| {
            *next += 2;
            *next
        });
        let text = String::from_utf8_lossy(sdp);
        let mut out = String::new();
        for line in text.split_inclusive("\r\n") {
            if line.starts_with("c=IN IP4 ") {
                out.push_str(&format!("c=IN IP4 {PARTNER_ADDRESS}\r\n"));
            } else if let Some(rest) = line.strip_prefix("m=audio ") {
                let formats = rest.split_once(' ').map_or("", |(_, f)| f);
                out.push_str(&format!("m=audio {port} {formats}"));
            } else {
                out.push_str(line);
            }
        }
        out.into_bytes()
    }

    /// When its next answer is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|(at, _, _)| *at).min()
    }

    /// The answers due at `now`, in the order their commands came.
    pub fn due(&mut self, now: Instant) -> Vec<(u64, MediaReply)> {
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(at, _, _)| *at <= now);
        self.pending = later;
        due.into_iter().map(|(_, id, reply)| (id, reply)).collect()
    }

    /// Sessions offered and not yet deleted.
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The commands given of one kind (`offer`, `answer`, `delete`, `play`, `stop`,
    /// `block`, `unblock`).
    pub fn count(&self, kind: &str) -> usize {
        self.commands.iter().filter(|c| kind_of(&c.op) == kind).count()
    }

    /// The kinds of the commands given, in order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.commands.iter().map(|c| kind_of(&c.op)).collect()
    }
}

fn kind_of(op: &MediaOp) -> &'static str {
    match op {
        MediaOp::Offer { .. } => "offer",
        MediaOp::Answer { .. } => "answer",
        MediaOp::Delete { .. } => "delete",
        MediaOp::Query { .. } => "query",
        MediaOp::StartRecording { .. } => "record",
        MediaOp::StopRecording { .. } => "stop-record",
        MediaOp::MixerJoin { .. } => "join",
        MediaOp::MixerLeave { .. } => "leave",
        MediaOp::MixerClose { .. } => "close",
        MediaOp::Play { .. } => "play",
        MediaOp::StopPlay { .. } => "stop",
        MediaOp::Block { .. } => "block",
        MediaOp::Unblock { .. } => "unblock",
    }
}
