//! The live picture both the router and the stat service keep, built from the CTI events
//! of both sites: who is logged in where (an agent counts once, at the site holding its
//! login, BC-48), in which state since when, which DNs have calls, and which calls wait on
//! which Routing Point.
//!
//! [`Model::apply`] takes one event from one site and says what it changed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cti::{AgentState, AgentWorkMode, Event, KvList};

/// Index of a site in the deployment (the order of `[[site]]` entries).
pub type SiteId = usize;

/// One agent as seen from both sites.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The site holding the login, while logged in.
    pub site: Option<SiteId>,
    /// The DN the agent is logged in on (kept after logout).
    pub dn: String,
    pub state: AgentState,
    pub work_mode: AgentWorkMode,
    /// The NotReady reason, if any.
    pub reasons: Option<KvList>,
    /// When the agent entered `state`.
    pub since: Instant,
    /// When the agent last became Ready (idle since).
    pub ready_since: Option<Instant>,
    pub calls_handled: u64,
    pub talk_time: Duration,
    pub last_call_end: Option<Instant>,
}

impl Agent {
    fn new(now: Instant, site: SiteId, dn: &str) -> Self {
        Self {
            site: Some(site),
            dn: dn.to_owned(),
            state: AgentState::NotReady,
            work_mode: AgentWorkMode::Unknown,
            reasons: None,
            since: now,
            ready_since: None,
            calls_handled: 0,
            talk_time: Duration::ZERO,
            last_call_end: None,
        }
    }

    /// Logged in at some site.
    pub fn logged_in(&self) -> bool {
        self.site.is_some() && self.state != AgentState::LoggedOut
    }
}

/// A call on a DN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub site: SiteId,
    pub established: Option<Instant>,
}

/// A call waiting on a Routing Point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub site: SiteId,
    pub rp: String,
    /// When it first arrived on the Routing Point (kept across routing attempts).
    pub since: Instant,
}

/// What one event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Nothing,
    /// An agent's login, state or calls changed.
    Agent(String),
    /// A DN's calls changed (no agent known on it).
    Dn(String),
    /// A call arrived on (or came back to) a Routing Point.
    Queued {
        conn: String,
    },
    /// A call left its Routing Point: routed (`routed_by_request`), default-routed, or ended.
    Dequeued {
        conn: String,
        rp: String,
        outcome: QueueExit,
    },
}

/// How a call left its Routing Point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueExit {
    /// A RequestRouteCall sent it to `target`.
    Routed { target: String },
    /// Default routing (router-timeout, no router, queue-max-wait).
    DefaultRouted { target: String },
    /// The caller hung up while waiting.
    Abandoned,
    /// The site gave up on it (queue-max-wait without a default target).
    Dropped,
}

/// Agents, DN calls and waiting calls of both sites.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub agents: BTreeMap<String, Agent>,
    /// (DN, site) -> AgentID logged in there.
    at_dn: BTreeMap<(String, SiteId), String>,
    /// DN -> ConnID -> the call on it.
    pub calls: BTreeMap<String, BTreeMap<String, Leg>>,
    /// ConnID -> the waiting call.
    pub waiting: BTreeMap<String, Waiting>,
    /// (DN, site) whose phone has no registration there (EventDNOutOfService).
    out_of_service: BTreeSet<(String, SiteId)>,
}

impl Model {
    /// The agent logged in on `dn` at `site`, if any.
    pub fn agent_at(&self, site: SiteId, dn: &str) -> Option<&str> {
        self.at_dn.get(&(dn.to_owned(), site)).map(String::as_str)
    }

    /// True when `dn`'s phone is registered at `site` (as far as that site said).
    pub fn in_service(&self, dn: &str, site: SiteId) -> bool {
        !self.out_of_service.contains(&(dn.to_owned(), site))
    }

    /// True while `dn` has a call at any site.
    pub fn dn_busy(&self, dn: &str) -> bool {
        self.calls.get(dn).is_some_and(|c| !c.is_empty())
    }

    /// Applies one event from `site`.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over CTI events: the events not named do not concern this code"
    )]
    pub fn apply(&mut self, now: Instant, site: SiteId, event: &Event) -> Change {
        match event {
            Event::EventRegistered { this_dn, agent_id, agent_state, time_in_state_ms, in_service, .. }
            | Event::EventAddressInfo { this_dn, agent_id, agent_state, time_in_state_ms, in_service, .. } => {
                self.service(site, this_dn, *in_service);
                let since = now.checked_sub(Duration::from_millis(time_in_state_ms.unwrap_or(0))).unwrap_or(now);
                let state = agent_state.unwrap_or(AgentState::LoggedOut);
                self.registered(since, site, this_dn, agent_id.as_deref(), state)
            }
            Event::EventDNOutOfService { this_dn } | Event::EventDNBackInService { this_dn } => {
                self.service(site, this_dn, matches!(event, Event::EventDNBackInService { .. }));
                self.dn_change(site, this_dn)
            }
            Event::EventAgentLogin { this_dn, agent_id, .. } => self.login(now, site, this_dn, agent_id),
            Event::EventAgentLogout { this_dn, agent_id, .. } => self.logout(now, site, this_dn, agent_id),
            Event::EventAgentReady { this_dn, agent_id, work_mode, .. } => {
                self.login_if_unknown(now, site, this_dn, agent_id);
                self.set_state(now, agent_id, AgentState::Ready, *work_mode, None)
            }
            Event::EventAgentNotReady { this_dn, agent_id, work_mode, reasons, .. } => {
                self.login_if_unknown(now, site, this_dn, agent_id);
                let state = if *work_mode == AgentWorkMode::AfterCallWork {
                    AgentState::AfterCallWork
                } else {
                    AgentState::NotReady
                };
                self.set_state(now, agent_id, state, *work_mode, reasons.clone())
            }
            Event::EventRinging { this_dn, conn_id, .. } | Event::EventDialing { this_dn, conn_id, .. } => {
                self.calls.entry(this_dn.clone()).or_default().insert(conn_id.clone(), Leg { site, established: None });
                self.dn_change(site, this_dn)
            }
            Event::EventEstablished { this_dn, conn_id, .. } => self.established(now, site, this_dn, conn_id),
            Event::EventReleased { this_dn, conn_id, .. } | Event::EventAbandoned { this_dn, conn_id, .. } => {
                if let Some(w) = self.waiting.get(conn_id).filter(|w| w.site == site && w.rp == *this_dn) {
                    let rp = w.rp.clone();
                    self.waiting.remove(conn_id);
                    let outcome = if matches!(event, Event::EventAbandoned { .. }) {
                        QueueExit::Abandoned
                    } else {
                        QueueExit::Dropped
                    };
                    return Change::Dequeued { conn: conn_id.clone(), rp, outcome };
                }
                self.released(now, site, this_dn, conn_id)
            }
            Event::EventRouteRequest { this_dn, conn_id, .. } => {
                let since = self.waiting.get(conn_id).map_or(now, |w| w.since);
                self.waiting.insert(conn_id.clone(), Waiting { site, rp: this_dn.clone(), since });
                Change::Queued { conn: conn_id.clone() }
            }
            Event::EventRouteUsed { conn_id, other_dn, default_routed, .. } => {
                let Some(w) = self.waiting.remove(conn_id) else { return Change::Nothing };
                let target = other_dn.clone();
                let outcome =
                    if *default_routed { QueueExit::DefaultRouted { target } } else { QueueExit::Routed { target } };
                Change::Dequeued { conn: conn_id.clone(), rp: w.rp, outcome }
            }
            _ => Change::Nothing,
        }
    }

    /// Forgets what `site` said (its CTI link is down): its logins and calls.
    pub fn site_lost(&mut self, now: Instant, site: SiteId) -> Vec<Change> {
        let gone: Vec<(String, String)> =
            self.at_dn.iter().filter(|((_, s), _)| *s == site).map(|((dn, _), a)| (dn.clone(), a.clone())).collect();
        let mut changes: Vec<Change> = gone.iter().map(|(dn, a)| self.logout(now, site, dn, a)).collect();
        for calls in self.calls.values_mut() {
            calls.retain(|_, leg| leg.site != site);
        }
        self.calls.retain(|_, c| !c.is_empty());
        self.out_of_service.retain(|(_, s)| *s != site);
        let lost: Vec<String> = self.waiting.iter().filter(|(_, w)| w.site == site).map(|(c, _)| c.clone()).collect();
        for conn in lost {
            if let Some(w) = self.waiting.remove(&conn) {
                changes.push(Change::Dequeued { conn, rp: w.rp, outcome: QueueExit::Dropped });
            }
        }
        changes
    }

    /// A DN's state as a registration reports it; `now` is when the agent entered `state`.
    fn registered(&mut self, now: Instant, site: SiteId, dn: &str, agent: Option<&str>, state: AgentState) -> Change {
        match agent {
            Some(agent) if state != AgentState::LoggedOut => {
                self.login(now, site, dn, agent);
                let mode = if state == AgentState::Ready { AgentWorkMode::ManualIn } else { AgentWorkMode::Unknown };
                self.set_state(now, agent, state, mode, None)
            }
            _ => match self.agent_at(site, dn).map(str::to_owned) {
                Some(stale) => self.logout(now, site, dn, &stale),
                None => Change::Nothing,
            },
        }
    }

    fn service(&mut self, site: SiteId, dn: &str, in_service: bool) {
        if in_service {
            self.out_of_service.remove(&(dn.to_owned(), site));
        } else {
            self.out_of_service.insert((dn.to_owned(), site));
        }
    }

    fn login_if_unknown(&mut self, now: Instant, site: SiteId, dn: &str, agent: &str) {
        if self.agent_at(site, dn) != Some(agent) {
            self.login(now, site, dn, agent);
        }
    }

    fn login(&mut self, now: Instant, site: SiteId, dn: &str, agent_id: &str) -> Change {
        if let Some(old) = self.agents.get(agent_id).filter(|a| a.logged_in()) {
            let (old_site, old_dn) = (old.site, old.dn.clone());
            if let Some(s) = old_site {
                self.at_dn.remove(&(old_dn, s));
            }
        }
        self.at_dn.insert((dn.to_owned(), site), agent_id.to_owned());
        let agent = self.agents.entry(agent_id.to_owned()).or_insert_with(|| Agent::new(now, site, dn));
        agent.site = Some(site);
        agent.dn = dn.to_owned();
        if agent.state == AgentState::LoggedOut {
            agent.state = AgentState::NotReady;
            agent.since = now;
        }
        Change::Agent(agent_id.to_owned())
    }

    fn logout(&mut self, now: Instant, site: SiteId, dn: &str, agent_id: &str) -> Change {
        self.at_dn.remove(&(dn.to_owned(), site));
        let Some(agent) = self.agents.get_mut(agent_id).filter(|a| a.site == Some(site)) else {
            return Change::Nothing;
        };
        agent.site = None;
        agent.state = AgentState::LoggedOut;
        agent.ready_since = None;
        agent.since = now;
        Change::Agent(agent_id.to_owned())
    }

    fn set_state(
        &mut self,
        now: Instant,
        agent_id: &str,
        state: AgentState,
        mode: AgentWorkMode,
        reasons: Option<KvList>,
    ) -> Change {
        let Some(agent) = self.agents.get_mut(agent_id) else { return Change::Nothing };
        if agent.state != state {
            agent.since = now;
        }
        if state == AgentState::Ready && agent.state != AgentState::Ready {
            agent.ready_since = Some(now);
        }
        if state != AgentState::Ready {
            agent.ready_since = None;
        }
        agent.state = state;
        agent.work_mode = mode;
        agent.reasons = reasons;
        Change::Agent(agent_id.to_owned())
    }

    fn established(&mut self, now: Instant, site: SiteId, dn: &str, conn: &str) -> Change {
        let leg = self
            .calls
            .entry(dn.to_owned())
            .or_default()
            .entry(conn.to_owned())
            .or_insert(Leg { site, established: None });
        if leg.established.is_none() {
            leg.established = Some(now);
            if let Some(agent) = self.agent_for(site, dn).and_then(|a| self.agents.get_mut(&a)) {
                agent.calls_handled += 1;
            }
        }
        self.dn_change(site, dn)
    }

    fn released(&mut self, now: Instant, site: SiteId, dn: &str, conn: &str) -> Change {
        let Some(calls) = self.calls.get_mut(dn) else { return Change::Nothing };
        let Some(leg) = calls.remove(conn) else { return Change::Nothing };
        if calls.is_empty() {
            self.calls.remove(dn);
        }
        if let Some(agent) = self.agent_for(site, dn).and_then(|a| self.agents.get_mut(&a)) {
            if let Some(at) = leg.established {
                agent.talk_time += now.saturating_duration_since(at);
                agent.last_call_end = Some(now);
            }
        }
        self.dn_change(site, dn)
    }

    fn dn_change(&self, site: SiteId, dn: &str) -> Change {
        match self.agent_for(site, dn) {
            Some(agent) => Change::Agent(agent),
            None => Change::Dn(dn.to_owned()),
        }
    }

    /// The agent a call on `dn` at `site` concerns: logged in there, else at another site.
    fn agent_for(&self, site: SiteId, dn: &str) -> Option<String> {
        self.agent_at(site, dn).or_else(|| self.agent_on_dn_anywhere(dn)).map(str::to_owned)
    }

    /// The agent logged in on `dn` at any site (a DN's phone is the same at both).
    fn agent_on_dn_anywhere(&self, dn: &str) -> Option<&str> {
        self.at_dn.range((dn.to_owned(), 0)..=(dn.to_owned(), SiteId::MAX)).next().map(|(_, a)| a.as_str())
    }
}
