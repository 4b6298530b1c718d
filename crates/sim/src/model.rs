//! A reference model of what each site must hold, built from the domain events the site
//! raised and compared with the real node after every step (as Firezone's connlib tests
//! compare the system with a reference state machine).
//!
//! The model knows little, on purpose, and so can be trusted:
//! - **agents**: who is logged in on which DN, and whether Ready or not. A login needs
//!   a logged-out agent and a free DN; a state change needs a logged-in agent; a logout
//!   ends the login. The node must hold exactly these logins, on these DNs, and no other.
//! - **calls**: a call lives from `CallOffered` to its one ending (`CallReleased`,
//!   `CallAbandoned`, `CallFailed`; a call refused before it had a ConnID fails with
//!   ConnID 0); a ConnID never comes back once ended, no event names a call that was
//!   never offered, and the node holds exactly the calls the model
//!   holds (no call lost, none kept).
//!
//! A divergence is an `Err` naming what differs; the harness adds the seed and the step.

use std::collections::{BTreeMap, BTreeSet};

use engine::{AgentChange, DomainEvent, Node};

/// How many ended ConnIDs each site remembers (enough for any sweep; bounded for fuzzing).
const ENDED_KEPT: usize = 4_096;

/// What one site must hold.
#[derive(Debug, Default, Clone)]
pub struct SiteModel {
    /// AgentID -> (DN, Ready).
    agents: BTreeMap<String, (String, bool)>,
    /// Live calls: ConnID -> the dialled DN.
    calls: BTreeMap<u64, String>,
    /// ConnIDs whose call ended, oldest first out.
    ended: BTreeSet<u64>,
    ended_order: std::collections::VecDeque<u64>,
}

impl SiteModel {
    /// Applies one event; Err when it contradicts the model (an event the site must not
    /// have raised in the state the model holds).
    pub fn observe(&mut self, event: &DomainEvent) -> Result<(), String> {
        match event {
            DomainEvent::AgentChanged { agent_id, dn, change } => self.agent(agent_id, dn, change),
            DomainEvent::CallOffered { conn_id, dn, .. } => {
                if self.ended.contains(conn_id) {
                    return Err(format!("ConnID {conn_id:x} offered again after its call ended"));
                }
                if self.calls.insert(*conn_id, dn.clone()).is_some() {
                    return Err(format!("ConnID {conn_id:x} offered twice"));
                }
                Ok(())
            }
            // Refused at placement: never a call, so never offered (ConnID 0).
            DomainEvent::CallFailed { conn_id: 0, .. } => Ok(()),
            DomainEvent::CallsMerged { kept, gone, .. } | DomainEvent::Conferenced { kept, gone, .. } => {
                self.live(*kept, event)?;
                self.end(*gone, event)
            }
            DomainEvent::ConferenceLeft { conn_id, .. } => self.live(*conn_id, event),
            DomainEvent::CallReleased { conn_id, .. }
            | DomainEvent::CallAbandoned { conn_id, .. }
            | DomainEvent::CallFailed { conn_id, .. } => self.end(*conn_id, event),
            DomainEvent::CallAlerting { conn_id, .. }
            | DomainEvent::CallRinging { conn_id, .. }
            | DomainEvent::CallEstablished { conn_id, .. }
            | DomainEvent::RouteRequest { conn_id, .. }
            | DomainEvent::RouteUsed { conn_id, .. }
            | DomainEvent::CallHeld { conn_id, .. }
            | DomainEvent::CallRetrieved { conn_id, .. }
            | DomainEvent::CallTransferred { conn_id, .. }
            | DomainEvent::UserDataChanged { conn_id, .. } => self.live(*conn_id, event),
            _ => Ok(()),
        }
    }

    fn agent(&mut self, agent_id: &str, dn: &str, change: &AgentChange) -> Result<(), String> {
        let held = self.agents.get(agent_id).cloned();
        match (change, held) {
            (AgentChange::LoggedIn, None) => {
                if let Some((other, _)) = self.agents.iter().find(|(_, (d, _))| d == dn) {
                    return Err(format!("{agent_id} logged in on {dn}, where {other} is logged in"));
                }
                self.agents.insert(agent_id.to_owned(), (dn.to_owned(), false));
                Ok(())
            }
            (AgentChange::LoggedIn, Some((on, _))) => Err(format!("{agent_id} logged in on {dn} while on {on}")),
            (AgentChange::LoggedOut { .. }, Some(_)) => {
                self.agents.remove(agent_id);
                Ok(())
            }
            (AgentChange::Ready { .. } | AgentChange::NotReady { .. } | AgentChange::AfterCallWork, Some((on, _)))
                if on != dn =>
            {
                Err(format!("{agent_id} changed state on {dn} while logged in on {on}"))
            }
            (AgentChange::Ready { .. }, Some(_)) => {
                self.agents.insert(agent_id.to_owned(), (dn.to_owned(), true));
                Ok(())
            }
            (AgentChange::NotReady { .. } | AgentChange::AfterCallWork, Some(_)) => {
                self.agents.insert(agent_id.to_owned(), (dn.to_owned(), false));
                Ok(())
            }
            (_, None) => Err(format!("{agent_id} changed state ({}) while logged out", change.state())),
        }
    }

    fn end(&mut self, conn_id: u64, event: &DomainEvent) -> Result<(), String> {
        if self.calls.remove(&conn_id).is_none() {
            return Err(format!("{event:?} for a call that is not live"));
        }
        if self.ended_order.len() == ENDED_KEPT {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
        self.ended.insert(conn_id);
        self.ended_order.push_back(conn_id);
        Ok(())
    }

    fn live(&self, conn_id: u64, event: &DomainEvent) -> Result<(), String> {
        if self.calls.contains_key(&conn_id) {
            Ok(())
        } else {
            Err(format!("{event:?} for a call that is not live"))
        }
    }

    /// Compares the model with the node: the same logins on the same DNs, the same Ready
    /// count, the same number of calls.
    pub fn compare(&self, node: &Node) -> Result<(), String> {
        for (agent, (dn, _)) in &self.agents {
            if node.agent_on(dn) != Some(agent.as_str()) {
                return Err(format!("{agent} must be on {dn}; the node has {:?} there", node.agent_on(dn)));
            }
        }
        let logged_in: usize = [cti::AgentState::NotReady, cti::AgentState::Ready, cti::AgentState::Busy]
            .into_iter()
            .chain([cti::AgentState::AfterCallWork])
            .map(|s| node.agents_in(s))
            .sum();
        if logged_in != self.agents.len() {
            return Err(format!("{} agents must be logged in; the node has {logged_in}", self.agents.len()));
        }
        let ready = self.agents.values().filter(|(_, ready)| *ready).count();
        if node.agents_in(cti::AgentState::Ready) > ready {
            return Err(format!(
                "at most {ready} agents may be Ready; the node has {}",
                node.agents_in(cti::AgentState::Ready)
            ));
        }
        if node.active_calls() != self.calls.len() {
            let live: Vec<String> = self.calls.iter().map(|(c, dn)| format!("{c:x}->{dn}")).collect();
            return Err(format!("the node holds {} calls; the model {live:?}", node.active_calls()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{CallType, ReleasedBy};

    fn login(agent: &str, dn: &str) -> DomainEvent {
        DomainEvent::AgentChanged { agent_id: agent.into(), dn: dn.into(), change: AgentChange::LoggedIn }
    }

    fn offered(conn_id: u64) -> DomainEvent {
        DomainEvent::CallOffered {
            conn_id,
            uuid: "u".into(),
            caller: "c".into(),
            dn: "1001".into(),
            call_type: CallType::Inbound,
            forwarded: false,
        }
    }

    fn released(conn_id: u64) -> DomainEvent {
        DomainEvent::CallReleased { conn_id, dn: "1001".into(), by: ReleasedBy::Caller, caller_dn: None, acd: false }
    }

    #[test]
    fn the_model_refuses_what_a_site_must_never_say() {
        let mut m = SiteModel::default();
        m.observe(&login("A1", "1001")).expect("a first login");
        assert!(m.observe(&login("A2", "1001")).is_err(), "a second agent on the same DN");
        assert!(m.observe(&login("A1", "1002")).is_err(), "one agent on two DNs");
        let ready = AgentChange::Ready { work_mode: cti::AgentWorkMode::ManualIn };
        let stray = DomainEvent::AgentChanged { agent_id: "A3".into(), dn: "1003".into(), change: ready };
        assert!(m.observe(&stray).is_err(), "a state change while logged out");
        m.observe(&offered(7)).expect("a new call");
        assert!(m.observe(&offered(7)).is_err(), "offered twice");
        m.observe(&released(7)).expect("its end");
        assert!(m.observe(&released(7)).is_err(), "ended twice");
        assert!(m.observe(&offered(7)).is_err(), "a ConnID back after its end");
    }
}
