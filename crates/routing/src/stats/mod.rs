//! The stat service's figures (BC-47..49): per agent, per Routing Point, per agent group,
//! per site and in total, from the CTI events of both sites. An agent counts once, at the
//! site holding its login (BC-48).
//!
//! A statistic has a name and a JSON value:
//!
//! | name | value |
//! |---|---|
//! | `total` | agent counts by state, calls waiting, longest wait, calls held now |
//! | `site/<name>` | the same for one site, plus whether its CTI link is up |
//! | `group/<name>` | agent counts by state for the group's members |
//! | `rp/<dn>` | waiting, longest wait, offered, answered, abandoned, default-routed, service level, ASA, transferred |
//! | `agent/<id>` | state, reason, time in state, site, DN, skills, calls handled, talk time, holds, transfers, calls held now |
//!
//! [`StatService::on_event`] says which names changed, so a subscriber hears of a change
//! as soon as the event that made it arrives. Counters (offered, answered...) grow from
//! the start of the interval (`interval_start` in each value).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use cti::{AgentState, Event, RegisterMode, Request};
use serde_json::{json, Value};

use crate::config::RoutingConfig;
use crate::model::{Agent, Change, Model, QueueExit, SiteId};

pub mod history;

/// Counters of one Routing Point over the interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointCounters {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub default_routed: u64,
    pub answered_in_service_level: u64,
    pub total_answer_wait: Duration,
    /// Answered calls that ended, and their talk time (average handle time).
    pub handled: u64,
    pub total_handle_time: Duration,
    /// Calls from this Routing Point that their agent transferred on.
    pub transferred: u64,
}

/// Call control as the stat service counts it: holds and transfers per agent, and the
/// calls held now.
#[derive(Debug, Default)]
struct CallControl {
    /// AgentID -> (holds, transfers) over the service's life.
    per_agent: BTreeMap<String, (u64, u64)>,
    /// (ConnID, DN) of the calls held now.
    held: BTreeSet<(String, String)>,
    /// The Routing Point of the last answered calls that ended for their agent (a transfer
    /// ends the agent's part just before the call rings its target).
    handed_off: VecDeque<(String, String)>,
}

/// How many ended calls [`CallControl::handed_off`] remembers.
const HANDED_OFF_KEPT: usize = 256;

/// A call offered on a Routing Point, followed until it is answered or lost.
#[derive(Debug, Clone)]
struct Offered {
    rp: String,
    at: Instant,
}

/// The stat service's state.
#[derive(Debug)]
pub struct StatService {
    config: RoutingConfig,
    sites: Vec<String>,
    monitored: Vec<String>,
    connected: Vec<bool>,
    model: Model,
    points: BTreeMap<String, PointCounters>,
    offered: BTreeMap<String, Offered>,
    /// Answered calls from a Routing Point, until they end: ConnID -> (Routing Point, answered at).
    talking: BTreeMap<String, (String, Instant)>,
    call_control: CallControl,
    interval_start: Instant,
    out: VecDeque<(SiteId, Request)>,
}

impl StatService {
    /// A stat service over `sites`, watching the Routing Points of `config` and the agent
    /// DNs `monitored`.
    pub fn new(now: Instant, config: RoutingConfig, sites: Vec<String>, monitored: Vec<String>) -> Self {
        let points = config.points.keys().map(|dn| (dn.clone(), PointCounters::default())).collect();
        Self {
            connected: vec![false; sites.len()],
            config,
            sites,
            monitored,
            model: Model::default(),
            points,
            offered: BTreeMap::new(),
            talking: BTreeMap::new(),
            call_control: CallControl::default(),
            interval_start: now,
            out: VecDeque::new(),
        }
    }

    /// What the service has seen of both sites.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The counters of Routing Point `rp`.
    pub fn point(&self, rp: &str) -> Option<&PointCounters> {
        self.points.get(rp)
    }

    /// The next request to send, and to which site.
    pub fn poll_request(&mut self) -> Option<(SiteId, Request)> {
        self.out.pop_front()
    }

    /// Every statistic name there is now.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec!["total".to_owned()];
        names.extend(self.sites.iter().map(|s| format!("site/{s}")));
        names.extend(self.groups().into_iter().map(|g| format!("group/{g}")));
        names.extend(self.points.keys().map(|rp| format!("rp/{rp}")));
        names.extend(self.model.agents.keys().map(|a| format!("agent/{a}")));
        names
    }

    /// The CTI link to `site` is up: register every DN in monitor mode (BC-47).
    pub fn connected(&mut self, site: SiteId) -> Vec<String> {
        if let Some(c) = self.connected.get_mut(site) {
            *c = true;
        }
        let dns: Vec<String> = self.points.keys().chain(self.monitored.iter()).cloned().collect();
        for this_dn in dns {
            let request = Request::RequestRegisterAddress {
                reference_id: None,
                this_dn,
                register_mode: RegisterMode::ModeMonitor,
            };
            self.out.push_back((site, request));
        }
        self.site_names(site)
    }

    /// The CTI link to `site` is down: its figures go stale; its agents and calls are
    /// forgotten until it is back.
    pub fn disconnected(&mut self, now: Instant, site: SiteId) -> Vec<String> {
        if let Some(c) = self.connected.get_mut(site) {
            *c = false;
        }
        let mut changed: BTreeSet<String> = self.site_names(site).into_iter().collect();
        for change in self.model.site_lost(now, site) {
            changed.extend(self.names_for(&change));
        }
        changed.into_iter().collect()
    }

    /// One event from `site`; returns the names of the statistics it changed.
    pub fn on_event(&mut self, now: Instant, site: SiteId, event: &Event) -> Vec<String> {
        let answered_or_ended = self.follow_offered(now, event);
        let change = self.model.apply(now, site, event);
        self.count(now, &change);
        let mut names = self.names_for(&change);
        names.extend(answered_or_ended.map(|rp| format!("rp/{rp}")));
        names.extend(self.follow_call_control(event));
        names
    }

    /// Holds, retrieves and transfers; returns the statistics they changed.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over CTI events: the events not named do not concern this code"
    )]
    fn follow_call_control(&mut self, event: &Event) -> Vec<String> {
        let cc = &mut self.call_control;
        let (conn, dn, transferred_by) = match event {
            Event::EventHeld { conn_id, this_dn, .. } => {
                cc.held.insert((conn_id.clone(), this_dn.clone()));
                (conn_id, this_dn, None)
            }
            Event::EventRetrieved { conn_id, this_dn, .. } | Event::EventReleased { conn_id, this_dn, .. } => {
                if !cc.held.remove(&(conn_id.clone(), this_dn.clone())) {
                    return Vec::new();
                }
                (conn_id, this_dn, None)
            }
            // A single-step transfer rings its target; a call back to its transferrer is none.
            Event::EventRinging { conn_id, third_party_dn: Some(by), this_dn, .. } if by != this_dn => {
                (conn_id, this_dn, Some(by))
            }
            // A completed two-step transfer (the consulted party's event names the
            // consultation; the caller's side of a single-step one does not).
            Event::EventPartyChanged {
                conn_id,
                third_party_dn,
                this_dn,
                previous_conn_id: Some(_),
                call_state,
                ..
            } if call_state == "Transferred" => (conn_id, this_dn, Some(third_party_dn)),
            _ => return Vec::new(),
        };
        let agent_on =
            |dn: &str| self.model.agents.iter().find(|(_, a)| a.logged_in() && a.dn == dn).map(|(id, _)| id.clone());
        let mut names = vec!["total".to_owned()];
        let counted = transferred_by.map_or(dn.as_str(), String::as_str);
        if let Some(agent) = agent_on(counted) {
            let entry = self.call_control.per_agent.entry(agent.clone()).or_default();
            match (event, transferred_by) {
                (Event::EventHeld { .. }, _) => entry.0 += 1,
                (_, Some(_)) => entry.1 += 1,
                _ => {}
            }
            names.push(format!("agent/{agent}"));
        }
        if transferred_by.is_some() {
            let handed = self.call_control.handed_off.iter().find(|(c, _)| c == conn).map(|(_, rp)| rp.clone());
            if let Some(c) = handed.as_ref().and_then(|rp| self.points.get_mut(rp)) {
                c.transferred += 1;
            }
            names.extend(handed.map(|rp| format!("rp/{rp}")));
        }
        names
    }

    /// Starts a new interval when the configured one has run out; returns the names of
    /// the statistics that went back to zero (none if it has not).
    pub fn tick(&mut self, now: Instant) -> Vec<String> {
        let due = self.config.stats_interval.is_some_and(|i| now.saturating_duration_since(self.interval_start) >= i);
        if !due {
            return Vec::new();
        }
        self.new_interval(now);
        self.points.keys().map(|rp| format!("rp/{rp}")).collect()
    }

    /// Starts a new interval: the counters go back to zero.
    pub fn new_interval(&mut self, now: Instant) {
        self.interval_start = now;
        for c in self.points.values_mut() {
            *c = PointCounters::default();
        }
    }

    /// An answered, abandoned or ended call that was offered on a Routing Point; returns
    /// that Routing Point.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over CTI events: the events not named do not concern this code"
    )]
    fn follow_offered(&mut self, now: Instant, event: &Event) -> Option<String> {
        match event {
            Event::EventEstablished { conn_id, .. } => {
                if let Some(o) = self.offered.remove(conn_id) {
                    let wait = now.saturating_duration_since(o.at);
                    if let Some(c) = self.points.get_mut(&o.rp) {
                        c.answered += 1;
                        c.total_answer_wait += wait;
                        if wait <= self.config.service_level {
                            c.answered_in_service_level += 1;
                        }
                    }
                    self.talking.insert(conn_id.clone(), (o.rp.clone(), now));
                    return Some(o.rp);
                }
                None
            }
            Event::EventReleased { conn_id, .. } => {
                let (rp, at) = self.talking.remove(conn_id)?;
                if let Some(c) = self.points.get_mut(&rp) {
                    c.handled += 1;
                    c.total_handle_time += now.saturating_duration_since(at);
                }
                let handed_off = &mut self.call_control.handed_off;
                if handed_off.len() == HANDED_OFF_KEPT {
                    handed_off.pop_front();
                }
                handed_off.push_back((conn_id.clone(), rp.clone()));
                Some(rp)
            }
            // The caller hung up while an agent's phone rang.
            Event::EventAbandoned { conn_id, .. } if !self.model.waiting.contains_key(conn_id) => {
                let o = self.offered.remove(conn_id)?;
                if let Some(c) = self.points.get_mut(&o.rp) {
                    c.abandoned += 1;
                }
                Some(o.rp)
            }
            _ => None,
        }
    }

    fn count(&mut self, now: Instant, change: &Change) {
        match change {
            Change::Queued { conn } if !self.offered.contains_key(conn) => {
                let Some(w) = self.model.waiting.get(conn) else { return };
                if let Some(c) = self.points.get_mut(&w.rp) {
                    c.offered += 1;
                    self.offered.insert(conn.clone(), Offered { rp: w.rp.clone(), at: now });
                }
            }
            Change::Dequeued { conn, rp, outcome } => {
                let Some(c) = self.points.get_mut(rp) else { return };
                match outcome {
                    QueueExit::Abandoned => {
                        c.abandoned += 1;
                        self.offered.remove(conn);
                    }
                    QueueExit::Dropped => {
                        self.offered.remove(conn);
                    }
                    QueueExit::DefaultRouted { .. } => c.default_routed += 1,
                    QueueExit::Routed { .. } => {}
                }
            }
            // A call queued again (already offered) and agent or DN changes count nothing here.
            Change::Queued { .. } | Change::Nothing | Change::Agent(_) | Change::Dn(_) => {}
        }
    }

    /// The statistics a change touches.
    fn names_for(&self, change: &Change) -> Vec<String> {
        match change {
            Change::Agent(id) => {
                let mut names = vec![format!("agent/{id}"), "total".to_owned()];
                if let Some(site) = self.model.agents.get(id).and_then(|a| a.site) {
                    names.extend(self.sites.get(site).map(|s| format!("site/{s}")));
                } else {
                    names.extend(self.sites.iter().map(|s| format!("site/{s}")));
                }
                if let Some(p) = self.config.agents.get(id) {
                    names.extend(p.groups.iter().map(|g| format!("group/{g}")));
                }
                names
            }
            Change::Queued { conn } => {
                let rp = self.model.waiting.get(conn).map(|w| w.rp.clone()).unwrap_or_default();
                vec![format!("rp/{rp}"), "total".to_owned()]
            }
            Change::Dequeued { rp, .. } => vec![format!("rp/{rp}"), "total".to_owned()],
            Change::Dn(_) | Change::Nothing => Vec::new(),
        }
    }

    fn site_names(&self, site: SiteId) -> Vec<String> {
        let mut names = vec!["total".to_owned()];
        names.extend(self.sites.get(site).map(|s| format!("site/{s}")));
        names
    }

    fn groups(&self) -> BTreeSet<String> {
        self.config.agents.values().flat_map(|p| p.groups.iter().cloned()).collect()
    }

    /// The current value of statistic `name`.
    pub fn value(&self, now: Instant, name: &str) -> Option<Value> {
        let (kind, key) = name.split_once('/').unwrap_or((name, ""));
        match kind {
            "total" => Some(self.agent_counts(now, |_| true, None)),
            "site" => {
                let site = self.sites.iter().position(|s| s == key)?;
                let mut v = self.agent_counts(now, |a| a.site == Some(site), Some(site));
                v["connected"] = json!(self.connected[site]);
                Some(v)
            }
            "group" => {
                let members: BTreeSet<&String> = self
                    .config
                    .agents
                    .iter()
                    .filter(|(_, p)| p.groups.iter().any(|g| g == key))
                    .map(|(id, _)| id)
                    .collect();
                let counts =
                    self.counts(self.model.agents.iter().filter(|(id, _)| members.contains(id)).map(|(_, a)| a));
                Some(json!({ "agents": counts }))
            }
            "rp" => self.point_value(now, key),
            "agent" => self.agent_value(now, key),
            _ => None,
        }
    }

    fn agent_counts(&self, now: Instant, keep: impl Fn(&Agent) -> bool, site: Option<SiteId>) -> Value {
        let counts = self.counts(self.model.agents.values().filter(|a| keep(a)));
        let waiting: Vec<Instant> =
            self.model.waiting.values().filter(|w| site.is_none_or(|s| w.site == s)).map(|w| w.since).collect();
        let longest = waiting.iter().min().map_or(0.0, |since| now.saturating_duration_since(*since).as_secs_f64());
        let held = self.call_control.held.len();
        json!({ "agents": counts, "calls_waiting": waiting.len(), "longest_wait_s": round(longest), "calls_held": held })
    }

    fn counts<'a>(&self, agents: impl Iterator<Item = &'a Agent>) -> Value {
        let (mut logged_in, mut ready, mut not_ready, mut busy, mut acw) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for a in agents.filter(|a| a.logged_in()) {
            logged_in += 1;
            if self.model.dn_busy(&a.dn) || a.state == AgentState::Busy {
                busy += 1;
                continue;
            }
            match a.state {
                AgentState::Ready => ready += 1,
                AgentState::AfterCallWork => acw += 1,
                // Busy agents were counted above; logged-out ones are filtered out.
                AgentState::NotReady | AgentState::Busy | AgentState::LoggedOut => not_ready += 1,
            }
        }
        json!({ "logged_in": logged_in, "ready": ready, "not_ready": not_ready, "busy": busy, "after_call_work": acw })
    }

    fn point_value(&self, now: Instant, rp: &str) -> Option<Value> {
        let c = self.points.get(rp)?;
        let waiting: Vec<Instant> = self.model.waiting.values().filter(|w| w.rp == rp).map(|w| w.since).collect();
        let longest = waiting.iter().min().map_or(0.0, |since| now.saturating_duration_since(*since).as_secs_f64());
        let service_level = (c.answered > 0).then(|| c.answered_in_service_level as f64 * 100.0 / c.answered as f64);
        let asa = (c.answered > 0).then(|| c.total_answer_wait.as_secs_f64() / c.answered as f64);
        let aht = (c.handled > 0).then(|| c.total_handle_time.as_secs_f64() / c.handled as f64);
        let thresholds = self.config.thresholds_of(rp);
        Some(json!({
            "calls_waiting": waiting.len(),
            "longest_wait_s": round(longest),
            "offered": c.offered,
            "answered": c.answered,
            "abandoned": c.abandoned,
            "default_routed": c.default_routed,
            "service_level_pct": service_level.map(round),
            "service_level_s": self.config.service_level.as_secs(),
            "average_speed_of_answer_s": asa.map(round),
            "average_handle_time_s": aht.map(round),
            "transferred": c.transferred,
            "interval_s": round(now.saturating_duration_since(self.interval_start).as_secs_f64()),
            "service_level_target_pct": thresholds.service_level_target,
            "wait_amber_s": thresholds.wait_amber.as_secs(),
            "wait_red_s": thresholds.wait_red.as_secs(),
            "alarm": thresholds.alarm(Duration::from_secs_f64(longest), service_level),
        }))
    }

    fn agent_value(&self, now: Instant, id: &str) -> Option<Value> {
        let a = self.model.agents.get(id)?;
        let held_count = self.call_control.per_agent.get(id).copied().unwrap_or_default();
        let profile = self.config.agents.get(id);
        let state =
            if a.logged_in() && self.model.dn_busy(&a.dn) { "Busy".to_owned() } else { format!("{:?}", a.state) };
        // Since its oldest established call began (a busy agent's tile counts the call).
        let on_call = self.model.calls.get(&a.dn).and_then(|calls| calls.values().filter_map(|l| l.established).min());
        Some(json!({
            "state": state,
            "work_mode": format!("{:?}", a.work_mode),
            "reasons": a.reasons,
            "time_in_state_s": round(now.saturating_duration_since(a.since).as_secs_f64()),
            "site": a.site.and_then(|s| self.sites.get(s)),
            "dn": a.dn,
            "skills": profile.map(|p| &p.skills),
            "groups": profile.map(|p| &p.groups),
            "calls_handled": a.calls_handled,
            "talk_time_s": round(a.talk_time.as_secs_f64()),
            "last_call_end_s_ago": a.last_call_end.map(|t| round(now.saturating_duration_since(t).as_secs_f64())),
            "holds": held_count.0,
            "transfers": held_count.1,
            "calls_held": self.call_control.held.iter().filter(|(_, dn)| *dn == a.dn).count(),
            "on_call_s": on_call.map(|since| round(now.saturating_duration_since(since).as_secs_f64())),
        }))
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests;
