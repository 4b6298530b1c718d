//! The media partner (rtpengine) as the engine sees it: plain values. The B2BUA anchors a
//! call's media by asking the partner to rewrite each session description that crosses
//! it ([`MediaOp::Offer`], [`MediaOp::Answer`]) and lets it go at the end
//! ([`MediaOp::Delete`]). The node queues [`MediaCommand`]s
//! ([`Node::poll_media`](crate::Node::poll_media)); the shell speaks rtpengine's ng
//! protocol and hands each answer back as [`Input::Media`](crate::Input::Media). A
//! command the partner does not answer within [`MediaConfig::timeout`] is a failure the
//! engine times itself: the call follows [`MediaFailure`], and a late answer is ignored.
//!
//! Names follow rtpengine's: a *session* is one ng `call-id` (one per pair of connected
//! legs, `<call uuid>.<generation>`), a *tag* names one side of it (`a` the caller's leg,
//! `b<i>` callee leg `i`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// `[site.media]`: anchoring every call through the B2BUA at a media partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// How long the engine waits for the partner's answer to one command.
    pub timeout: Duration,
    /// What a new call does when the partner does not answer.
    pub on_failure: MediaFailure,
    /// After the partner failed to answer, how long new calls do not wait for it (they
    /// follow `on_failure` at once); the first call after that tries it again.
    pub retry_after: Duration,
    /// What callers hear while they wait or are held (files the partner plays).
    pub sounds: Sounds,
    /// A caller waiting with music is answered (200 OK with the partner's description)
    /// rather than given early media (183): for carriers that cut early media after a
    /// while, or bill from the answer. The caller's dialog is then up: a queue timeout or
    /// a failed routing ends it with BYE, the caller's BYE is an abandon, and the agent who
    /// answers reaches the caller in a re-INVITE.
    pub answer_waiting: bool,
    /// Record every anchored call from its answer (the partner writes the capture; the
    /// shell makes it a WAV file when the session ends).
    pub record: bool,
    /// Record the calls of these DNs: a Routing Point's calls that waited there, an
    /// Extension's or ACD Position's calls it answered.
    pub record_dns: std::collections::BTreeSet<String>,
    /// Record the calls these agents (AgentIDs) answer.
    pub record_agents: std::collections::BTreeSet<String>,
    /// The site keeps recordings (the shell converts and stores the partner's captures):
    /// desktops may record calls. Without it, recording requests are refused.
    pub can_record: bool,
    /// A conference mixer is configured (the shell speaks to it; [`MediaOp::MixerJoin`]):
    /// desktops may conference. Without it, conference requests are refused.
    pub mixer: bool,
}

/// The sound files the partner plays, as paths it can open; named only by the
/// configuration, never by a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sounds {
    /// Music a held party hears (a desktop's hold).
    pub hold: Option<String>,
    /// Music a call waiting on a Routing Point hears, unless its Routing Point has its own.
    pub queue: Option<String>,
    /// Music per Routing Point.
    pub per_rp: std::collections::BTreeMap<String, String>,
    /// Treatments a router may ask for by name (`RequestApplyTreatment` TreatmentType).
    pub treatments: std::collections::BTreeMap<String, String>,
}

impl Sounds {
    /// What a call waiting on `rp` hears.
    pub fn for_rp(&self, rp: &str) -> Option<&str> {
        self.per_rp.get(rp).or(self.queue.as_ref()).map(String::as_str)
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(1000),
            on_failure: MediaFailure::Continue,
            retry_after: Duration::from_secs(5),
            sounds: Sounds::default(),
            answer_waiting: false,
            record: false,
            record_dns: std::collections::BTreeSet::new(),
            record_agents: std::collections::BTreeSet::new(),
            can_record: false,
            mixer: false,
        }
    }
}

/// What a new call does when the media partner is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaFailure {
    /// The call goes on with its media unanchored (endpoint to endpoint) and the alarm
    /// counts it ([`crate::NodeStats::media`]).
    #[default]
    Continue,
    /// The call is refused with 503.
    Refuse,
}

/// One command for the media partner; its answer comes back with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaCommand {
    /// Unique per node; the answer names it.
    pub id: u64,
    /// What to do.
    pub op: MediaOp,
}

impl MediaCommand {
    /// The session the command is about (rtpengine's `call-id`).
    pub fn session(&self) -> &str {
        self.op.session()
    }
}

impl MediaOp {
    /// The session the command is about (rtpengine's `call-id`).
    pub fn session(&self) -> &str {
        match self {
            Self::Offer { session, .. }
            | Self::Answer { session, .. }
            | Self::Delete { session }
            | Self::Query { session }
            | Self::StartRecording { session }
            | Self::StopRecording { session }
            | Self::Play { session, .. }
            | Self::StopPlay { session, .. }
            | Self::Block { session, .. }
            | Self::Unblock { session, .. } => session,
            Self::MixerJoin { room, .. } | Self::MixerLeave { room, .. } | Self::MixerClose { room } => room,
        }
    }

    /// True for the conference mixer's commands (the rest are rtpengine's).
    pub fn for_mixer(&self) -> bool {
        matches!(self, Self::MixerJoin { .. } | Self::MixerLeave { .. } | Self::MixerClose { .. })
    }
}

/// The commands the engine gives (rtpengine's ng commands of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOp {
    /// `sdp`, offered by side `from`, is rewritten for side `to` (None: not yet known).
    Offer {
        /// ng `call-id`.
        session: String,
        /// ng `from-tag`: the side that offers.
        from: String,
        /// ng `to-tag`.
        to: Option<String>,
        /// The offerer's session description.
        sdp: Arc<[u8]>,
        /// Where the offerer's signalling came from, when its description names a private
        /// address that is not it (a phone behind NAT): the partner takes media from
        /// there (ng `received-from`). None: the description's address is trusted.
        origin: Option<IpAddr>,
    },
    /// `sdp`, side `to`'s answer to `from`'s offer, is rewritten for `from`.
    Answer {
        /// ng `call-id`.
        session: String,
        /// ng `from-tag`: the side that offered.
        from: String,
        /// ng `to-tag`: the side that answers.
        to: String,
        /// The answerer's session description.
        sdp: Arc<[u8]>,
        /// As for [`MediaOp::Offer`], of the answerer.
        origin: Option<IpAddr>,
    },
    /// What the session relayed (ng `query`): asked just before it is deleted, whose
    /// answer in rtpengine 10.5 carries no figures.
    Query {
        /// ng `call-id`.
        session: String,
    },
    /// The session is over: its ports are freed.
    Delete {
        /// ng `call-id`.
        session: String,
    },
    /// Plays `file` to side `to`, over and over until [`MediaOp::StopPlay`] (ng `play
    /// media`); it is mixed with what the other side sends unless that is blocked.
    Play {
        /// ng `call-id`.
        session: String,
        /// ng `from-tag`: who hears it.
        to: String,
        /// A path the partner opens: only ever from the configuration.
        file: String,
    },
    /// The partner starts capturing the session's media (ng `start recording`).
    StartRecording {
        /// ng `call-id`.
        session: String,
    },
    /// The partner stops capturing the session's media (ng `stop recording`); a later
    /// [`MediaOp::StartRecording`] goes on in a new capture file (a pause: rtpengine 10.5
    /// has no `pause recording`; the WAV file is silent over the gap).
    StopRecording {
        /// ng `call-id`.
        session: String,
    },
    /// Stops what plays to side `to` (ng `stop media`).
    StopPlay {
        /// ng `call-id`.
        session: String,
        /// ng `from-tag`.
        to: String,
    },
    /// Media from side `from` is no longer relayed (ng `block media`).
    Block {
        /// ng `call-id`.
        session: String,
        /// ng `from-tag`.
        from: String,
    },
    /// ... and is again (ng `unblock media`).
    Unblock {
        /// ng `call-id`.
        session: String,
        /// ng `from-tag`.
        from: String,
    },
    /// The conference mixer (not rtpengine): `participant` joins room `room` (made on
    /// the first join), its audio coming from and going to `rtp`. The answer
    /// ([`MediaReply::Sdp`]) is the mixer's description for it: where the party sends.
    MixerJoin {
        /// The conference (the call's UUID).
        room: String,
        /// The party (its side's tag).
        participant: String,
        /// Where the party receives RTP (from its own description).
        rtp: std::net::SocketAddr,
    },
    /// `participant` leaves room `room`.
    MixerLeave {
        /// The conference.
        room: String,
        /// The party.
        participant: String,
    },
    /// Room `room` is over: every participant leaves and it is destroyed.
    MixerClose {
        /// The conference.
        room: String,
    },
}

/// The partner's answer to one [`MediaCommand`], as the shell read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaReply {
    /// `result: ok` with the rewritten session description (offer, answer).
    Sdp(Vec<u8>),
    /// `result: ok` without one (delete), with the session's figures when it gave them.
    Done(Option<MediaFigures>),
    /// `result: error`: the partner refused the command (an offer it cannot take: the
    /// caller gets 488), with its `error-reason`.
    Refused(String),
    /// The shell could not reach the partner at all (no route, port unreachable): as a
    /// timeout, only sooner.
    Unreachable,
}

/// A session's media figures from the partner (rtpengine's `totals` and SSRC statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaFigures {
    /// RTP packets relayed, both directions.
    pub packets: u64,
    /// Packets lost, as the partner counted them from sequence numbers.
    pub lost: u64,
    /// Highest interarrival jitter seen, in milliseconds.
    pub jitter_ms: u32,
}

/// The address media from a party comes from, when its description names a private
/// address other than `signalling` (where its SIP came from): a phone behind NAT. None
/// when the description can be trusted (a public address, the same as the signalling's,
/// or none that parses).
pub fn nat_origin(sdp: &[u8], signalling: IpAddr) -> Option<IpAddr> {
    let text = std::str::from_utf8(sdp).ok()?;
    let line = text.lines().find(|l| l.starts_with("c=IN IP4 ") || l.starts_with("c=IN IP6 "))?;
    let named: IpAddr = line[9..].trim().split('/').next()?.parse().ok()?;
    let private = match named {
        IpAddr::V4(a) => a.is_private() || a.is_link_local() || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64),
        IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00,
    };
    (private && named != signalling && !named.is_unspecified()).then_some(signalling)
}

/// What the engine has done with its media partner since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MediaStats {
    /// Commands sent.
    pub commands: u64,
    /// Commands not answered in time (or unreachable).
    pub timeouts: u64,
    /// Commands the partner refused.
    pub refused: u64,
    /// Calls that went on unanchored because the partner failed.
    pub unanchored_calls: u64,
    /// Calls refused because the partner failed (`on_failure = "refuse"`).
    pub refused_calls: u64,
    /// 1 while the partner is taken as down (the alarm), else 0.
    pub partner_down: u64,
    /// Answers that came after their command had timed out, or for no command.
    pub late_answers: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_address_other_than_the_signallings_is_a_phone_behind_nat() {
        let sdp = |c: &str| format!("v=0\r\nc=IN IP4 {c}\r\nm=audio 4000 RTP/AVP 0\r\n").into_bytes();
        let public: IpAddr = [198, 51, 100, 4].into();
        assert_eq!(nat_origin(&sdp("192.168.1.20"), public), Some(public));
        assert_eq!(nat_origin(&sdp("100.64.3.1"), public), Some(public), "carrier-grade NAT space");
        assert_eq!(nat_origin(&sdp("203.0.113.9"), public), None, "a public media address is trusted (a gateway)");
        assert_eq!(nat_origin(&sdp("10.0.0.5"), [10, 0, 0, 5].into()), None, "the same host");
        assert_eq!(nat_origin(&sdp("0.0.0.0"), public), None, "hold, RFC 2543 style");
        assert_eq!(nat_origin(b"not sdp", public), None);
    }
}
