//! Putting back what a site knew before a restart: its phones' bindings and its agents'
//! logins (issue 12). The shell reads them from its store; what no longer fits the
//! configuration (a DN or agent removed, an expired binding, a TCP binding whose
//! connection died with the process) is skipped and counted.

use std::time::{Duration, Instant};

use cti::{AgentState, AgentWorkMode};
use sipcore::Peer;

use super::Node;

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

impl Node {
    /// Restores saved bindings and agent logins, as at start-up after a restart; the DR
    /// peer hears the agents with the next presence update.
    pub fn restore(&mut self, now: Instant, bindings: Vec<SavedBinding>, agents: Vec<SavedAgent>) -> Restored {
        let mut done = Restored::default();
        for saved in bindings {
            let fits = !saved.expires_in.is_zero()
                && !saved.source.transport.is_reliable()
                && self.config.dns.contains(&saved.dn)
                && self.registrar.restore(now, &saved);
            if fits {
                self.in_service.insert(saved.dn);
                done.bindings += 1;
            } else {
                done.skipped += 1;
            }
        }
        for saved in agents {
            let fits = self.config.agents.contains_key(&saved.agent_id)
                && self.config.dns.kind(&saved.dn).is_some_and(crate::DnKind::is_agent_line)
                && self.desks.restore_agent(now, &saved);
            if fits {
                done.agents += 1;
            } else {
                done.skipped += 1;
            }
        }
        tracing::info!(
            site = %self.config.site,
            bindings = done.bindings,
            agents = done.agents,
            skipped = done.skipped,
            "state restored"
        );
        self.collect(now);
        done
    }
}
