//! The CTI server's sessions: which desktop registered which DN, the agent requests they
//! make (checked here, applied to the agent model in [`agents`]), and how domain events
//! become T-Library events for the desktops watching a DN.
//!
//! Agent state belongs to the agent, not to the desktop connection: a desktop that
//! reconnects registers its DN again and finds its agent as it left it.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use cti::{AgentState, AgentWorkMode, ErrorCode, Event, Request};

use crate::event::AgentChange;
use crate::{DomainEvent, NodeConfig};
use agents::{Agent, Agents};

mod agents;
mod requests;
mod reservations;
mod translate;

/// Identifies one desktop (CTI client connection) inside the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeskId(pub u64);

/// Registrations, agents and the events to send.
#[derive(Debug, Default)]
pub(crate) struct Desks {
    by_dn: HashMap<String, BTreeSet<DeskId>>,
    by_desk: HashMap<DeskId, BTreeSet<String>>,
    /// Registrations in monitor mode (stat services, wallboards): not routers.
    monitors: BTreeSet<(String, DeskId)>,
    agents: Agents,
    reservations: reservations::Reservations,
    out: Vec<(DeskId, Event)>,
    /// Agent state changes told to desktops, for the agent state log.
    changes: Vec<DomainEvent>,
}

/// What a desk request needs from the rest of the node.
pub(crate) trait DeskWorld {
    fn config(&self) -> &NodeConfig;
    fn in_service(&self, dn: &str) -> bool;
    /// True if the DR peer reports `agent` logged in there (while the link is up).
    fn agent_at_peer(&self, agent: &str) -> bool;
    fn now(&self) -> Instant;
}

impl Desks {
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (DeskId, Event)> + '_ {
        self.out.drain(..)
    }

    /// Agent logins, state changes and logouts since the last call, as domain events.
    pub(crate) fn take_changes(&mut self) -> Vec<DomainEvent> {
        std::mem::take(&mut self.changes)
    }

    /// Logs in an agent saved before a restart, in its saved state; false when the DN or
    /// the agent is taken already.
    pub(crate) fn restore_agent(&mut self, now: Instant, saved: &crate::saved::SavedAgent) -> bool {
        if self.agents.on(&saved.dn).is_some() || self.agents.get(&saved.agent_id).is_some() {
            return false;
        }
        let (state, work_mode) = match saved.state {
            AgentState::NotReady => (AgentState::NotReady, saved.work_mode),
            // A call or its wrap-up did not survive the restart: the agent is Ready again.
            AgentState::Ready | AgentState::Busy | AgentState::AfterCallWork | AgentState::LoggedOut => {
                (AgentState::Ready, AgentWorkMode::ManualIn)
            }
        };
        let agent = Agent {
            dn: saved.dn.clone(),
            state,
            work_mode,
            acw_until: None,
            since: now.checked_sub(saved.logged_in_for).unwrap_or(now),
            state_since: now.checked_sub(saved.in_state_for).unwrap_or(now),
        };
        self.agents.log_in(&saved.agent_id, agent);
        true
    }

    /// Notes an agent event told to desktops (once, however many desks hear it).
    fn note(&mut self, event: &Event) {
        if let Some((agent_id, dn, change)) = agent_change(event) {
            self.changes.push(DomainEvent::AgentChanged { agent_id, dn, change });
        }
    }

    /// Changes with every login and logout.
    pub(crate) fn presence_version(&self) -> u64 {
        self.agents.version()
    }

    /// Every logged-in agent as (DN, AgentID, logged in since).
    pub(crate) fn presence(&self) -> impl Iterator<Item = (String, String, Instant)> + '_ {
        self.agents.presence()
    }

    /// OQ-3: `agent` on `dn` was also logged in at the peer during a link split and the
    /// other login is the newer one: log this one out, telling its desktop why.
    pub(crate) fn lose_double_login(&mut self, dn: &str, agent_id: &str, peer_site: &str) {
        self.logout(dn, agent_id, double_login_reason("LoggedOutNewerLoginAtPeer", peer_site));
    }

    /// OQ-3: this login of `agent` on `dn` stays; the peer logs out its older one.
    pub(crate) fn win_double_login(&mut self, dn: &str, peer_site: &str) {
        self.broadcast(Event::EventPrivateInfo {
            reference_id: None,
            service_id: DOUBLE_LOGIN_RESOLVED,
            this_dn: Some(dn.to_owned()),
            reasons: Some(double_login_reason("OlderLoginAtPeerLoggedOut", peer_site)),
        });
    }

    /// The agent logged in on `dn`, if any.
    pub(crate) fn agent_on(&self, dn: &str) -> Option<&str> {
        self.agents.on(dn)
    }

    /// Agents in `state`, as (agent, DN).
    pub(crate) fn agents_in(&self, state: AgentState) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.agents.in_state(state)
    }

    /// Desks registered on `dn` in share mode (on a Routing Point: its routers).
    pub(crate) fn routers(&self, dn: &str) -> usize {
        let all = self.by_dn.get(dn).map_or(0, BTreeSet::len);
        let monitors = self.monitors.range((dn.to_owned(), DeskId(0))..=(dn.to_owned(), DeskId(u64::MAX))).count();
        all - monitors
    }

    /// A desktop went away: its registrations go, its agents stay logged in. Returns the
    /// DNs it was the last router of (share-mode registrations).
    pub(crate) fn closed(&mut self, desk: DeskId) -> Vec<String> {
        self.reservations.forget_desk(desk);
        let mut orphaned = Vec::new();
        for dn in self.by_desk.remove(&desk).unwrap_or_default() {
            let was_router = !self.monitors.remove(&(dn.clone(), desk));
            if let Some(set) = self.by_dn.get_mut(&dn) {
                set.remove(&desk);
                if set.is_empty() {
                    self.by_dn.remove(&dn);
                }
            }
            if was_router && self.routers(&dn) == 0 {
                orphaned.push(dn);
            }
        }
        orphaned
    }

    /// Sends `event` to `to` (with its ReferenceID) and, without it, to every other desk
    /// registered on the event's DN.
    fn answer_and_broadcast(&mut self, to: DeskId, event: Event) {
        self.note(&event);
        if let Some(dn) = event.this_dn() {
            let others: Vec<DeskId> =
                self.by_dn.get(dn).map(|s| s.iter().copied().filter(|d| *d != to).collect()).unwrap_or_default();
            for other in others {
                self.out.push((other, without_reference(event.clone())));
            }
        }
        self.out.push((to, event));
    }

    /// The answer to `requester`'s request (with its ReferenceID) to it, and without the
    /// ReferenceID to the other desks on the DN; without a requester, to all as it is.
    fn answer_or_broadcast(&mut self, requester: Option<DeskId>, event: Event) {
        match requester {
            Some(desk) if self.by_dn.get(event.this_dn().unwrap_or("")).is_some_and(|s| s.contains(&desk)) => {
                self.answer_and_broadcast(desk, event);
            }
            _ => self.broadcast(without_reference(event)),
        }
    }

    fn broadcast(&mut self, event: Event) {
        self.note(&event);
        let Some(dn) = event.this_dn() else { return };
        let desks: Vec<DeskId> = self.by_dn.get(dn).map(|s| s.iter().copied().collect()).unwrap_or_default();
        for desk in desks {
            self.out.push((desk, event.clone()));
        }
    }

    fn error(&mut self, to: DeskId, req: &Request, dn: Option<&str>, code: ErrorCode, text: &str) {
        self.out.push((to, Event::error(req, dn, code, text)));
    }

    /// Graceful shutdown (BC-58): idle agents are logged out at once; agents on a call are
    /// made NotReady and logged out when it ends.
    pub(crate) fn begin_shutdown(&mut self, now: Instant, on_call: impl Fn(&str) -> bool) {
        for (dn, agent_id) in self.agents.logins() {
            if on_call(&dn) {
                self.set_state(now, &agent_id, AgentState::NotReady, AgentWorkMode::AuxWork, None);
                self.agents.log_out_after_call(&dn);
                let event = Event::EventAgentNotReady {
                    reference_id: None,
                    this_dn: dn,
                    agent_id,
                    work_mode: AgentWorkMode::AuxWork,
                    reasons: Some(shutdown_reason()),
                };
                self.broadcast(event);
            } else {
                self.logout(&dn, &agent_id, shutdown_reason());
            }
        }
    }

    /// A call of `dn` ended: an agent waiting to be logged out for the shutdown goes now.
    fn call_ended(&mut self, dn: &str) {
        if self.agents.waits_for_logout(dn) {
            if let Some(agent_id) = self.agents.on(dn).map(str::to_owned) {
                self.logout(dn, &agent_id, shutdown_reason());
            }
        }
    }

    /// When the next AfterCallWork ends.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.agents.next_acw_end()
    }

    /// Ends AfterCallWork that is due: the agent is Ready again.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        for (agent_id, dn) in self.agents.acw_due(now) {
            self.set_state(now, &agent_id, AgentState::Ready, AgentWorkMode::ManualIn, None);
            self.broadcast(Event::EventAgentReady {
                reference_id: None,
                this_dn: dn,
                agent_id,
                work_mode: AgentWorkMode::ManualIn,
            });
        }
    }
}

/// EventPrivateInfo ServiceID telling a desktop its login won a double-login conflict.
pub(crate) const DOUBLE_LOGIN_RESOLVED: u32 = 3020;

fn double_login_reason(code: &str, peer_site: &str) -> cti::KvList {
    [("ReasonCode".to_owned(), serde_json::Value::from(code)), ("PeerSite".to_owned(), peer_site.into())]
        .into_iter()
        .collect()
}

fn shutdown_reason() -> cti::KvList {
    [("ReasonCode".to_owned(), serde_json::Value::from("GracefulShutdown"))].into_iter().collect()
}

/// The agent state log entry an event to desktops stands for, if any.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "a filter over CTI events: the events not named do not concern this code"
)]
fn agent_change(event: &Event) -> Option<(String, String, AgentChange)> {
    let (agent_id, dn, change) = match event {
        Event::EventAgentLogin { agent_id, this_dn, .. } => (agent_id, this_dn, AgentChange::LoggedIn),
        Event::EventAgentReady { agent_id, this_dn, work_mode, .. } => {
            (agent_id, this_dn, AgentChange::Ready { work_mode: *work_mode })
        }
        Event::EventAgentNotReady { agent_id, this_dn, work_mode: AgentWorkMode::AfterCallWork, .. } => {
            (agent_id, this_dn, AgentChange::AfterCallWork)
        }
        Event::EventAgentNotReady { agent_id, this_dn, work_mode, reasons, .. } => {
            (agent_id, this_dn, AgentChange::NotReady { work_mode: *work_mode, reason: reason_code(reasons.as_ref()) })
        }
        Event::EventAgentLogout { agent_id, this_dn, reasons, .. } => {
            (agent_id, this_dn, AgentChange::LoggedOut { reason: reason_code(reasons.as_ref()) })
        }
        _ => return None,
    };
    Some((agent_id.clone(), dn.clone(), change))
}

/// `ReasonCode` of a Reasons list, else the list as JSON.
fn reason_code(reasons: Option<&cti::KvList>) -> Option<String> {
    let reasons = reasons.filter(|r| !r.is_empty())?;
    match reasons.get("ReasonCode") {
        Some(serde_json::Value::String(code)) => Some(code.clone()),
        Some(other) => Some(other.to_string()),
        None => serde_json::to_string(reasons).ok(),
    }
}

fn millis_since(now: Instant, then: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(then).as_millis()).unwrap_or(u64::MAX)
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "a filter over CTI events: the events not named do not concern this code"
)]
fn without_reference(mut event: Event) -> Event {
    match &mut event {
        Event::EventAgentLogin { reference_id, .. }
        | Event::EventAgentLogout { reference_id, .. }
        | Event::EventAgentReady { reference_id, .. }
        | Event::EventAgentNotReady { reference_id, .. }
        | Event::EventDialing { reference_id, .. }
        | Event::EventReleased { reference_id, .. }
        | Event::EventHeld { reference_id, .. }
        | Event::EventRetrieved { reference_id, .. }
        | Event::EventAttachedDataChanged { reference_id, .. }
        | Event::EventRouteUsed { reference_id, .. }
        | Event::EventRemoteConnectionSuccess { reference_id, .. }
        | Event::EventRemoteConnectionFailure { reference_id, .. } => *reference_id = None,
        _ => {}
    }
    event
}
