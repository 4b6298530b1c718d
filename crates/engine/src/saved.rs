//! What a site saves to come back after a restart, as plain values: its phones'
//! bindings and its agents' logins (issue 12). The shell stores and reads them;
//! [`crate::Node::restore`] puts them back (`node/restore.rs`). They sit low in the crate
//! so that the registrar and the desks can take them without knowing the node.

use std::time::Duration;

use cti::{AgentState, AgentWorkMode};
use sipcore::Peer;

/// A binding as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBinding {
    /// The DN.
    pub dn: String,
    /// The contact URI.
    pub contact: String,
    /// Lifetime left.
    pub expires_in: Duration,
    /// Where the REGISTER came from.
    pub source: Peer,
    /// The REGISTER's Call-ID and CSeq (so an older REGISTER stays out of order).
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// q-value in thousandths.
    pub q: u16,
}

/// An agent login as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAgent {
    /// The AgentID.
    pub agent_id: String,
    /// The DN it is logged in on.
    pub dn: String,
    /// Ready, or NotReady (AfterCallWork comes back Ready: its call did not survive).
    pub state: AgentState,
    /// The work mode in that state.
    pub work_mode: AgentWorkMode,
    /// How long ago it logged in (decides a double login with the DR peer, OQ-3).
    pub logged_in_for: Duration,
    /// How long it has been in its state.
    pub in_state_for: Duration,
}

/// What [`Node::restore`] put back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Bindings back in the location store.
    pub bindings: usize,
    /// Agents logged in again.
    pub agents: usize,
    /// Entries that no longer fit (see the module docs).
    pub skipped: usize,
}
