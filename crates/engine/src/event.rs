//! Domain events: what happened, for statistics, logs, CTI and (later) CDRs.

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

/// Something that happened in the node that others may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// A contact was bound (or refreshed) for a DN.
    Registered {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
        /// Granted lifetime.
        expires: Duration,
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
    /// The call could not be delivered.
    CallFailed {
        /// Connection ID (0 when the call was refused before it got one).
        conn_id: u64,
        /// The called DN.
        dn: String,
        /// The caller's DN when local.
        caller_dn: Option<String>,
        /// The status the caller got.
        code: u16,
    },
}
