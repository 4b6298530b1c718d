//! The agent model: who is logged in on which DN, in what state and work mode, since
//! when, and until when in AfterCallWork. It belongs to the agent, not to a desktop
//! connection; the CTI sessions in the parent module read and change it and tell the
//! desktops.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use cti::{AgentState, AgentWorkMode};

/// One logged-in agent.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) dn: String,
    pub(crate) state: AgentState,
    pub(crate) work_mode: AgentWorkMode,
    /// When AfterCallWork ends.
    pub(crate) acw_until: Option<Instant>,
    /// When the agent logged in (decides a double login after a link split, OQ-3).
    pub(crate) since: Instant,
    /// When the agent entered `state` (TimeInState for routers and stat services).
    pub(crate) state_since: Instant,
}

/// Every agent logged in at this site, by AgentID and by DN.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    by_id: BTreeMap<String, Agent>,
    by_dn: BTreeMap<String, String>,
    /// Bumped on every login and logout (what the DR peer must hear about).
    version: u64,
    /// DNs whose agent is logged out when their call ends (graceful shutdown).
    logout_after_call: BTreeSet<String>,
}

impl Agents {
    /// Changes with every login and logout.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The AgentID logged in on `dn`, if any.
    pub(crate) fn on(&self, dn: &str) -> Option<&str> {
        self.by_dn.get(dn).map(String::as_str)
    }

    /// The agent logged in as `agent_id`, if any.
    pub(crate) fn get(&self, agent_id: &str) -> Option<&Agent> {
        self.by_id.get(agent_id)
    }

    /// The agent logged in on `dn`, with its AgentID.
    pub(crate) fn at(&self, dn: &str) -> Option<(&str, &Agent)> {
        let id = self.by_dn.get(dn)?;
        self.by_id.get(id).map(|a| (id.as_str(), a))
    }

    /// Agents in `state`, as (agent, DN), in AgentID order.
    pub(crate) fn in_state(&self, state: AgentState) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.by_id.iter().filter(move |(_, a)| a.state == state).map(|(id, a)| (id.as_str(), a.dn.as_str()))
    }

    /// Every logged-in agent as (DN, AgentID, logged in since), in DN order.
    pub(crate) fn presence(&self) -> impl Iterator<Item = (String, String, Instant)> + '_ {
        self.by_dn.iter().filter_map(|(dn, a)| self.by_id.get(a).map(|agent| (dn.clone(), a.clone(), agent.since)))
    }

    /// Every (DN, AgentID), in DN order.
    pub(crate) fn logins(&self) -> Vec<(String, String)> {
        self.by_dn.iter().map(|(dn, a)| (dn.clone(), a.clone())).collect()
    }

    /// `agent_id` logs in on `dn`.
    pub(crate) fn log_in(&mut self, agent_id: &str, agent: Agent) {
        self.by_dn.insert(agent.dn.clone(), agent_id.to_owned());
        self.by_id.insert(agent_id.to_owned(), agent);
        self.version += 1;
    }

    /// `agent_id` logs out of `dn`.
    pub(crate) fn log_out(&mut self, dn: &str, agent_id: &str) {
        self.by_id.remove(agent_id);
        self.by_dn.remove(dn);
        self.logout_after_call.remove(dn);
        self.version += 1;
    }

    pub(crate) fn set_state(
        &mut self,
        now: Instant,
        agent_id: &str,
        state: AgentState,
        mode: AgentWorkMode,
        acw_until: Option<Instant>,
    ) {
        if let Some(a) = self.by_id.get_mut(agent_id) {
            if a.state != state {
                a.state_since = now;
            }
            a.state = state;
            a.work_mode = mode;
            a.acw_until = acw_until;
        }
    }

    /// The agent on `dn` took an ACD call.
    pub(crate) fn make_busy(&mut self, now: Instant, dn: &str) {
        if let Some(a) = self.by_dn.get(dn).and_then(|id| self.by_id.get_mut(id)) {
            if a.state != AgentState::Busy {
                a.state_since = now;
            }
            a.state = AgentState::Busy;
        }
    }

    /// When the next AfterCallWork ends.
    pub(crate) fn next_acw_end(&self) -> Option<Instant> {
        self.by_id.values().filter_map(|a| a.acw_until).min()
    }

    /// Agents whose AfterCallWork is over at `now`, as (AgentID, DN).
    pub(crate) fn acw_due(&self, now: Instant) -> Vec<(String, String)> {
        self.by_id
            .iter()
            .filter(|(_, a)| a.acw_until.is_some_and(|t| t <= now))
            .map(|(id, a)| (id.clone(), a.dn.clone()))
            .collect()
    }

    /// The agent on `dn` is logged out when its call ends (graceful shutdown).
    pub(crate) fn log_out_after_call(&mut self, dn: &str) {
        self.logout_after_call.insert(dn.to_owned());
    }

    /// True when an agent waits to be logged out after its call.
    pub(crate) fn any_waiting_for_logout(&self) -> bool {
        !self.logout_after_call.is_empty()
    }

    /// True when the agent on `dn` waits to be logged out after its call.
    pub(crate) fn waits_for_logout(&self, dn: &str) -> bool {
        self.logout_after_call.contains(dn)
    }
}
