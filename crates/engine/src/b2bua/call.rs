//! A call's record and what it keeps about its dialogs, its pending transactions and
//! its timers: the values every other file of the B2BUA reads and changes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sipcore::{Peer, TxKey};
use sipmsg::Message;

use super::leg::Leg;
use crate::event::CallType;

pub(super) type CallId = u64;

/// Which dialog of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    A,
    B(usize),
}

/// What a client transaction we started is for.
#[derive(Debug, Clone)]
pub(super) enum Pending {
    /// The INVITE of B-leg `leg`.
    BInvite { call: CallId, leg: usize },
    /// Our INVITE to the origin phone of a third-party call.
    AInvite { call: CallId },
    /// A request relayed to the other side of a call; its answer goes back.
    Relay(Relay),
    /// BYE or CANCEL we sent; nothing to do with the answer.
    Fire,
    /// The INVITE of a leg the call no longer has (a routed call went back to its Routing
    /// Point, a transfer moved the call on): a late 2xx is ACKed (and hung up unless it
    /// was answered and hung up before), anything else ignored.
    Orphan(Box<Leg>),
    /// A re-INVITE Tandem wrote itself on one leg (hold, retrieve, a transfer's new media),
    /// sent with CSeq `cseq`: its 2xx is ACKed here.
    Reinvite { call: CallId, side: Side, cseq: u32, purpose: Purpose },
}

/// What a re-INVITE Tandem wrote is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Hold or retrieve (RFC 3264 section 8.4).
    Direction,
    /// After a transfer: the caller gets the new callee's session description.
    Connect,
}

/// Who holds an answered call (RFC 3264 hold: the holder's party is told `sendonly`, the
/// holder's phone `inactive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Hold {
    #[default]
    Off,
    /// The callee's DN (by its desktop or its phone).
    ByCallee,
    /// The caller, a phone of this site.
    ByCaller,
}

/// A new INVITE as it arrived: its server transaction, the message, where it came from,
/// and the To tag our answers carry.
pub(super) struct Incoming<'r, 'm> {
    pub(super) key: TxKey,
    pub(super) req: &'r Message<'m>,
    pub(super) peer: Peer,
    pub(super) tag: String,
}

/// A request relayed from side `from` of `call` to the other side (sent there with CSeq
/// `cseq`); its final answer goes back to `peer` on the server transaction `server`.
#[derive(Debug, Clone)]
pub(super) struct Relay {
    pub(super) call: CallId,
    pub(super) from: Side,
    pub(super) server: TxKey,
    pub(super) request: Arc<[u8]>,
    pub(super) peer: Peer,
    pub(super) cseq: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum CallTimer {
    /// No callee answered in time.
    NoAnswer,
    /// The router did not answer a route request in `router-timeout`.
    RouterTimeout,
    /// The call waited `queue-max-wait` on its Routing Point.
    QueueMaxWait,
    /// Retransmit our 2xx to the caller until the ACK (RFC 3261 section 13.3.1.4).
    Retransmit2xx,
}

/// A RequestRouteCall in progress: the call left Routing Point `rp` for `target`.
#[derive(Debug, Clone)]
pub(super) struct Routed {
    pub(super) rp: String,
    pub(super) target: String,
    pub(super) reference_id: Option<u64>,
    pub(super) requester: Option<crate::DeskId>,
    /// The DR peer's name when routed there (ISCC).
    pub(super) location: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct ThirdParty {
    /// The origin phone's 200 (its SDP offer), once it answered.
    pub(super) offer: Option<Arc<[u8]>>,
}

#[derive(Debug)]
pub(super) struct Call {
    pub(super) conn_id: u64,
    /// Call UUID kept across legs and sites (BC-68).
    pub(super) uuid: String,
    /// Attached data, carried to the DR peer in [`USER_DATA_HEADER`] (issue 4, OQ-6).
    pub(super) user_data: Option<cti::KvList>,
    /// The DN being rung (or the Routing Point while queued).
    pub(super) dn: String,
    pub(super) caller: String,
    /// The caller's DN when it is a phone of this site.
    pub(super) caller_dn: Option<String>,
    pub(super) call_type: CallType,
    /// Where the call stands with Routing Points: off them, parked on one, or routed
    /// from one (and back there if not answered).
    pub(super) on_rp: OnRp,
    /// Delivered by routing: an ACD call.
    pub(super) acd: bool,
    /// Default routings so far (capped by `default-redirection-limit`).
    pub(super) redirections: u32,
    /// What the DR peer had to do with the call's arrival.
    pub(super) from_peer: FromPeer,
    /// When the call first parked on a Routing Point (`queue-max-wait` counts from here,
    /// across routing attempts).
    pub(super) queued_since: Option<Instant>,
    /// RequestMakeCall: the A-leg is ours (UAC) to the origin phone; its 200 carries the
    /// offer the callee gets, and the callee's answer goes back in our ACK (RFC 3725).
    pub(super) third_party: Option<ThirdParty>,
    pub(super) a: Leg,
    pub(super) b: Vec<Leg>,
    /// Before the answer, and after it.
    pub(super) answer: Answer,
    /// Who holds the call, once answered.
    pub(super) hold: Hold,
    /// Its media at the partner, when anchored (`[site.media]`).
    pub(super) media: super::anchor::CallMedia,
}

/// Our 2xx to the caller, its current retransmission interval, and when we give up.
pub(super) type Sent2xx = (Arc<[u8]>, Duration, Instant);

/// A call's phase with respect to its answer: one B-leg answers, once.
#[derive(Debug, Clone)]
pub(super) enum Answer {
    /// No callee has answered; `ringing_sent`: the caller has heard ringing from us.
    Waiting { ringing_sent: bool },
    /// B-leg `leg` answered; `a_2xx`: our 2xx to the caller, its current retransmission
    /// interval and when we give up, until the caller's ACK (RFC 3261 section 13.3.1.4).
    Answered { leg: usize, a_2xx: Option<Sent2xx> },
    /// The caller's dialog is up and the call is offered anew (a single-step transfer):
    /// the new callee gets `offer` (the caller's session description), its answer reaches
    /// the caller in a re-INVITE. `from` transferred it; `back_to_from`: the call rings
    /// `from` again if nobody answers (once).
    Reoffered(Reoffer),
}

/// A call being offered anew after its first answer.
#[derive(Debug, Clone)]
pub(super) struct Reoffer {
    /// The DN that transferred the call; None when Tandem answered a waiting caller
    /// itself (`answer_waiting`: its music plays in an answered call).
    pub(super) from: Option<String>,
    pub(super) back_to_from: bool,
    pub(super) offer: Arc<[u8]>,
    /// The new callee was offered someone else's description (a consultation completed
    /// before its answer): when it answers it gets `offer` in a re-INVITE too.
    pub(super) reoffer_callee: bool,
    /// Our 2xx to the caller while it still awaits its ACK (a transfer right after the
    /// answer): retransmitted as before.
    pub(super) a_2xx: Option<Sent2xx>,
}

/// What the DR peer had to do with a call's arrival here: one of three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum FromPeer {
    /// It did not send the call (or the call has moved on from where it sent it).
    #[default]
    No,
    /// It forwarded the call here (BC forwarding; the CDR says so).
    Forwarded,
    /// Its router sent the call to an agent here (ISCC): only a free phone is rung. A
    /// transfer makes it [`FromPeer::Forwarded`].
    Routed,
}

/// A call's phase with respect to Routing Points: one of three, never two at once.
#[derive(Debug, Clone, Default)]
pub(super) enum OnRp {
    /// Never on a Routing Point (a direct call), or gone from one for good (default
    /// routing: not brought back if unanswered).
    #[default]
    Off,
    /// Waiting on Routing Point `rp` for a router.
    Parked { rp: String },
    /// Sent on by a router: back to its Routing Point if not answered where it went.
    Routed(Routed),
}

impl Call {
    /// The B-leg that answered, once one did.
    pub(super) fn answered(&self) -> Option<usize> {
        match self.answer {
            Answer::Answered { leg, .. } => Some(leg),
            Answer::Waiting { .. } | Answer::Reoffered(_) => None,
        }
    }

    /// The side across from `side` in the connected call: the caller's is the callee leg
    /// that answered (none before), a callee's is the caller's.
    pub(super) fn across(&self, side: Side) -> Option<Side> {
        match side {
            Side::A => self.answered().map(Side::B),
            Side::B(_) => Some(Side::A),
        }
    }

    /// The DN that transferred the call, while it is offered anew.
    pub(super) fn transferred_by(&self) -> Option<&str> {
        match &self.answer {
            Answer::Reoffered(r) => r.from.as_deref(),
            Answer::Waiting { .. } | Answer::Answered { .. } => None,
        }
    }

    /// True once the caller's dialog is confirmed (answered, or offered anew after a
    /// transfer): it then ends with BYE, never with a final response.
    pub(super) fn caller_connected(&self) -> bool {
        !matches!(self.answer, Answer::Waiting { .. })
    }

    /// True while the caller's dialog is up because Tandem answered it to play its music,
    /// and no callee has answered yet: it ends as an unanswered call would (its BYE is an
    /// abandon, a failure is reported as one), with BYE.
    pub(super) fn answered_by_us(&self) -> bool {
        matches!(&self.answer, Answer::Reoffered(r) if r.from.is_none())
    }

    /// Our 2xx to the caller while it is retransmitted (None before the answer, and after
    /// the caller's ACK).
    pub(super) fn a_2xx(&mut self) -> Option<&mut Option<Sent2xx>> {
        match &mut self.answer {
            Answer::Answered { a_2xx, .. } | Answer::Reoffered(Reoffer { a_2xx, .. }) => Some(a_2xx),
            Answer::Waiting { .. } => None,
        }
    }

    /// The Routing Point the call waits on, if it waits.
    pub(super) fn parked_on(&self) -> Option<&str> {
        match &self.on_rp {
            OnRp::Parked { rp } => Some(rp),
            OnRp::Off | OnRp::Routed(_) => None,
        }
    }

    /// Where a router sent the call, if it did and the call has not come back.
    pub(super) fn routed(&self) -> Option<&Routed> {
        match &self.on_rp {
            OnRp::Routed(routed) => Some(routed),
            OnRp::Off | OnRp::Parked { .. } => None,
        }
    }

    /// Leaves the Routing Point for `next`; the Routing Point it was parked on (empty
    /// when it was not parked).
    pub(super) fn leave_rp(&mut self, next: OnRp) -> String {
        match std::mem::replace(&mut self.on_rp, next) {
            OnRp::Parked { rp } => rp,
            OnRp::Off | OnRp::Routed(_) => String::new(),
        }
    }

    /// The message whose session description the callee gets: the caller's INVITE, or for
    /// a third-party call the origin phone's 200.
    pub(super) fn offer_source(&self) -> Arc<[u8]> {
        self.third_party.as_ref().and_then(|t| t.offer.clone()).unwrap_or_else(|| self.a.invite.clone())
    }
}
