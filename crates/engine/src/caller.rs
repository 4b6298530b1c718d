//! Who a new request is known to come from, once the door (`node/auth_gate.rs`) has
//! checked it: the value the node hands to the B2BUA with a new call.

/// Who a new request is known to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Proved by digest to be this DN.
    Authenticated(String),
    /// A trunk (gateway, SBC), known by its source address.
    Trunk,
    /// The DR peer: from its address and, with `peer_secret`, sealed.
    DrPeer,
    /// Authentication is off: the From header is believed (a lab set-up).
    Unchecked,
}
