//! Domain events: what happened, for statistics, logs, CTI, CDRs and the state kept
//! across restarts.

use std::time::Duration;

/// How a call relates to this switch (T-Library TCallType, judged per site): the CTI
/// model's own type, so domain events and desk events cannot disagree.
pub use cti::CallType;

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleasedBy {
    /// The caller hung up (BYE from the A-leg).
    Caller,
    /// The callee hung up (BYE from the B-leg).
    Callee,
    /// Tandem ended it (a leg stopped answering).
    Server,
}

/// Where one delivery attempt of a call (a B-leg, in CDR terms a leg) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegKind {
    /// The registered phones of a DN of this site.
    Phone,
    /// A trunk to a gateway or another switch.
    Trunk,
    /// The DR peer, over the peer trunk (BC-29, ISCC).
    DrPeer,
}

impl LegKind {
    /// The word used in CDRs and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Trunk => "trunk",
            Self::DrPeer => "dr-peer",
        }
    }
}

/// One entry of the agent state log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChange {
    /// The agent logged in (a Ready or NotReady entry follows).
    LoggedIn,
    /// Ready for calls.
    Ready {
        /// ManualIn, AutoIn or ReturnBack.
        work_mode: cti::AgentWorkMode,
    },
    /// Not ready, with the desktop's reason code if it gave one.
    NotReady {
        /// AuxWork, or what the desktop asked for.
        work_mode: cti::AgentWorkMode,
        /// `ReasonCode` of the request's Reasons, else the Reasons as JSON.
        reason: Option<String>,
    },
    /// Wrapping up after an ACD call (`wrap-up-time`).
    AfterCallWork,
    /// Logged out, by the agent or by the server (with its reason).
    LoggedOut {
        /// Why, when the server logged the agent out (shutdown, double login).
        reason: Option<String>,
    },
}

impl AgentChange {
    /// The word used in the agent state log.
    pub fn state(&self) -> &'static str {
        match self {
            Self::LoggedIn => "login",
            Self::Ready { .. } => "ready",
            Self::NotReady { .. } => "not-ready",
            Self::AfterCallWork => "after-call-work",
            Self::LoggedOut { .. } => "logout",
        }
    }

    /// The reason, for NotReady and LoggedOut.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::NotReady { reason, .. } | Self::LoggedOut { reason } => reason.as_deref(),
            Self::LoggedIn | Self::Ready { .. } | Self::AfterCallWork => None,
        }
    }
}

/// Something that happened in the node that others may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// The media partner deleted one of a call's sessions and said what it relayed.
    MediaFigures {
        /// The call's UUID (BC-68).
        uuid: String,
        /// The session (`<uuid>.<generation>`).
        session: String,
        /// Packets, loss, jitter.
        figures: crate::media::MediaFigures,
        /// The session was recorded (`[site.media] record`): its capture becomes a file.
        recorded: bool,
    },
    /// A contact was bound (or refreshed) for a DN.
    Registered {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
        /// Granted lifetime.
        expires: Duration,
        /// Where the REGISTER came from (kept so a restarted site can reach the phone).
        source: sipcore::Peer,
        /// The REGISTER's Call-ID.
        call_id: String,
        /// The REGISTER's CSeq number.
        cseq: u32,
        /// The contact's q-value in thousandths.
        q: u16,
    },
    /// A binding was removed by its owner.
    Unregistered {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
    },
    /// A binding lapsed without refresh.
    BindingExpired {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
    },
    /// A new call started here (an INVITE was taken, or a desktop's RequestMakeCall):
    /// the first event of every call with a ConnID.
    CallOffered {
        /// Connection ID.
        conn_id: u64,
        /// The call UUID, shared with the DR peer when the call crosses sites (BC-68).
        uuid: String,
        /// The caller, as its From user (the origin DN of a RequestMakeCall).
        caller: String,
        /// The dialled DN.
        dn: String,
        /// Call type on this site.
        call_type: CallType,
        /// The DR peer forwarded it here (its 302 marker, or over the peer trunk).
        forwarded: bool,
    },
    /// A callee's phone (or the far end of a trunk) started ringing: its first 18x.
    CallAlerting {
        /// Connection ID.
        conn_id: u64,
    },
    /// A call is being offered to a DN (its phones ring).
    CallRinging {
        /// Connection ID.
        conn_id: u64,
        /// The called DN.
        dn: String,
        /// The caller, as its From user.
        other: String,
        /// Call type on this site.
        call_type: CallType,
        /// The caller's DN when the caller is a phone of this site.
        caller_dn: Option<String>,
        /// Delivered by routing (an ACD call: the agent becomes busy).
        acd: bool,
        /// The call's attached data (from RequestMakeCall, or carried over the peer trunk).
        user_data: Option<cti::KvList>,
        /// Where this delivery goes: a phone of this site, a trunk, or the DR peer.
        leg: LegKind,
        /// Set when the call rings here after a transfer: the DN that transferred it.
        transferred_by: Option<String>,
    },
    /// The called DN answered.
    CallEstablished {
        /// Connection ID.
        conn_id: u64,
        /// The called DN.
        dn: String,
        /// The caller.
        other: String,
        /// The caller's DN when local.
        caller_dn: Option<String>,
    },
    /// An answered call ended.
    CallReleased {
        /// Connection ID.
        conn_id: u64,
        /// The called DN.
        dn: String,
        /// Who ended it.
        by: ReleasedBy,
        /// The caller's DN when local.
        caller_dn: Option<String>,
        /// It was an ACD call.
        acd: bool,
    },
    /// A desktop started, stopped, paused or resumed a call's recording
    /// (RequestPrivateService 3013-3016).
    RecordingChanged {
        /// Connection ID.
        conn_id: u64,
        /// The DN on whose behalf.
        dn: String,
        /// The service done (3013-3016).
        service_id: u32,
        /// The request's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop that asked: it alone is answered.
        requester: Option<crate::DeskId>,
    },
    /// A party put an answered call on hold (by its desktop, or by its phone's own
    /// re-INVITE).
    CallHeld {
        /// Connection ID.
        conn_id: u64,
        /// The DN that holds the call.
        dn: String,
        /// The held party.
        other: String,
        /// The RequestHoldCall's ReferenceID (None when the phone held).
        reference_id: Option<u64>,
        /// The desktop that asked: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// The party that held a call took it off hold.
    CallRetrieved {
        /// Connection ID.
        conn_id: u64,
        /// The DN that held the call.
        dn: String,
        /// The party that was held.
        other: String,
        /// The RequestRetrieveCall's ReferenceID (None when the phone resumed).
        reference_id: Option<u64>,
        /// The desktop that asked: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// DN `from` left a call, which goes on to `to`: a single-step transfer of an answered
    /// call (the caller stays connected to Tandem) or the redirection of a ringing one.
    CallTransferred {
        /// Connection ID (the call keeps it).
        conn_id: u64,
        /// The DN that transferred (or redirected) the call and left it.
        from: String,
        /// Where the call goes.
        to: String,
        /// The caller, as desks see it.
        other: String,
        /// The caller's DN when it is a phone of this site (its desks hear of the change).
        caller_dn: Option<String>,
        /// True for a transfer of an answered call, false for a redirected ringing one.
        answered: bool,
        /// `from` took it as an ACD call (its agent goes to AfterCallWork).
        acd: bool,
        /// The request's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop that asked: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// A two-step transfer completed: DN `by` left both calls; the held call `kept` now
    /// joins its caller and `to`, the consulted party, and the consultation `gone` ended.
    CallsMerged {
        /// The held call's ConnID: it survives.
        kept: u64,
        /// The consultation's ConnID: it ends here.
        gone: u64,
        /// The DN that transferred (and left both calls).
        by: String,
        /// The consulted party, now in `kept`.
        to: String,
        /// The held call's caller, as desks see it.
        other: String,
        /// `by` took the held call as an ACD call (AfterCallWork follows).
        acd: bool,
        /// The consulted party had answered (else it still rings, now for `kept`).
        answered: bool,
        /// The request's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop that asked: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// A conference was made (RequestCompleteConference): the held call `kept` now joins
    /// its parties and `added`, the consulted party, at the mixer; the consultation
    /// `gone` ended (DN `by`'s second dialog with it).
    Conferenced {
        /// The held call's ConnID: the conference's.
        kept: u64,
        /// The consultation's ConnID: it ends here.
        gone: u64,
        /// The DN that conferenced (it stays).
        by: String,
        /// The consulted party, now in `kept`.
        added: String,
        /// The held call's other party (its caller), as desks see it.
        other: String,
        /// The caller's DN when it is a phone of this site (its desks hear of it too).
        other_dn: Option<String>,
        /// The request's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop that asked: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// Party `gone` left conference `conn_id` (hung up, or was deleted by a desktop);
    /// `stays` are the parties still in it (their desks hear EventPartyDeleted).
    ConferenceLeft {
        /// The conference's ConnID.
        conn_id: u64,
        /// The party that left, as desks see it.
        gone: String,
        /// The parties still in it.
        stays: Vec<String>,
        /// The request's ReferenceID (RequestDeleteFromConference, RequestReleaseCall).
        reference_id: Option<u64>,
        /// The desktop that asked.
        requester: Option<crate::DeskId>,
    },
    /// A desktop's request that was accepted failed later (a conference the mixer did not
    /// take): its desktop gets EventError.
    RequestFailed {
        /// The call.
        conn_id: u64,
        /// The request's ThisDN.
        dn: String,
        /// Why.
        code: cti::ErrorCode,
        /// ... in words.
        text: &'static str,
        /// The request's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop that asked.
        requester: Option<crate::DeskId>,
    },
    /// A call's UserData changed during the call.
    UserDataChanged {
        /// Connection ID.
        conn_id: u64,
        /// The DNs whose desks hear of it (the call's parties here).
        dns: Vec<String>,
        /// The DN whose client changed it.
        by: String,
        /// All of the call's UserData now.
        user_data: cti::KvList,
        /// The request's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop that asked: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// A call waits on a Routing Point for a routing decision.
    RouteRequest {
        /// Connection ID.
        conn_id: u64,
        /// The Routing Point.
        rp: String,
        /// The caller.
        other: String,
        /// Call type on this site.
        call_type: CallType,
    },
    /// A call left its Routing Point for `target` (routed, or default-routed).
    RouteUsed {
        /// Connection ID.
        conn_id: u64,
        /// The Routing Point.
        rp: String,
        /// Where the call went.
        target: String,
        /// Call type on this site.
        call_type: CallType,
        /// The RequestRouteCall's ReferenceID, for default routing `None`.
        reference_id: Option<u64>,
        /// The desktop (router) whose RequestRouteCall it was: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// A routed call was not answered where it was routed (no answer, busy, unreachable,
    /// or the other site refused it): it is back on its Routing Point (a new
    /// [`DomainEvent::RouteRequest`] follows) and the router tries another agent.
    RouteFailed {
        /// Connection ID.
        conn_id: u64,
        /// The Routing Point the call is back on.
        rp: String,
        /// The DN the call was routed to.
        target: String,
        /// Set when the call was routed to the DR peer (ISCC): the peer's name.
        location: Option<String>,
        /// The RequestRouteCall's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop (router) whose RequestRouteCall it was: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
        /// The SIP status that ended the attempt (408 when nobody answered).
        cause: u16,
    },
    /// A call routed to the DR peer (ISCC) was answered there.
    RemoteConnected {
        /// Connection ID.
        conn_id: u64,
        /// The Routing Point it came from.
        rp: String,
        /// The DN it was routed to.
        target: String,
        /// The peer's name.
        location: String,
        /// The RequestRouteCall's ReferenceID.
        reference_id: Option<u64>,
        /// The desktop (router) whose RequestRouteCall it was: it alone gets the ReferenceID.
        requester: Option<crate::DeskId>,
    },
    /// A direct call was redirected to the DR peer with 302 (OOSP transfer, BC-22). No CTI
    /// event is raised for it on this peer (OQ-13).
    CallRedirected {
        /// The called DN.
        dn: String,
        /// The caller, as its From user.
        caller: String,
        /// The peer address the caller was sent to.
        to: std::net::SocketAddr,
    },
    /// A DN lost its last registration.
    DnOutOfService {
        /// The DN.
        dn: String,
    },
    /// A DN got its first registration back.
    DnBackInService {
        /// The DN.
        dn: String,
    },
    /// The caller gave up before the answer.
    CallAbandoned {
        /// Connection ID.
        conn_id: u64,
        /// The called DN.
        dn: String,
    },
    /// An agent logged in, changed state or logged out (the agent state log).
    AgentChanged {
        /// The AgentID.
        agent_id: String,
        /// The DN it is (or was) logged in on.
        dn: String,
        /// What changed.
        change: AgentChange,
    },
    /// The call could not be delivered.
    CallFailed {
        /// Connection ID (0 when the call was refused before it got one).
        conn_id: u64,
        /// The called DN.
        dn: String,
        /// The caller, as its From user.
        caller: String,
        /// The caller's DN when local.
        caller_dn: Option<String>,
        /// The status the caller got.
        code: u16,
        /// What that status says (no answer and released share 480 on the wire).
        status: crate::Status,
    },
}
