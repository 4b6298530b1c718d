//! The router: a CTI client of every site that routes the calls waiting on Routing Points
//! to agents at either site.
//!
//! For each waiting call, longest wait (plus the Routing Point's priority) first, it picks
//! an available agent its plan admits ([`crate::config::Plan`], [`crate::strategy`]),
//! reserves the agent at the site holding its login (`RequestReserveAgent`, BC-43..46),
//! and only after `EventAgentReserved` sends `RequestRouteCall` to the call's site, with
//! `Location` when the agent is at the other site (ISCC). Everything that can free an
//! agent or a call (Ready, a call ending, a refused reservation, a call coming back
//! unanswered, a tier widening) runs the matching again, so a call waits only while no
//! admitted agent is free.
//!
//! Two routers (one per site) see both sites; each routes the calls of its own site at
//! once and the other site's after `takeover-after-ms`, so with both alive each call has
//! one router, and with one gone the other takes over. Reservations keep them from ever
//! sending two calls to one agent.
//!
//! Sans-IO: events in with the time, requests out per site, [`Router::poll_timeout`].

mod dispatch;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use cti::{AgentState, AgentWorkMode, Event, RegisterMode, Request};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::RoutingConfig;
use crate::ids::{AgentId, ConnId};
use crate::model::{Change, Model, SiteId};
use crate::pools::{Pools, TargetId};
use crate::target::{Profile, Target};
use timers::{Timer, Timers};

/// Where one waiting call stands with this router.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Waiting,
    /// RequestReserveAgent sent for `agent`.
    Reserving {
        agent: AgentId,
    },
    /// RequestRouteCall sent to `agent` (None: overflow).
    Routing {
        agent: Option<AgentId>,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    phase: Phase,
    /// Its place in the queue: when it arrived, less its Routing Point's priority.
    score: Instant,
    /// When it entered its phase (a reservation or route left unanswered too long is
    /// given up, so a lost answer cannot hold a call forever).
    phase_since: Instant,
    /// Agents this call was offered to and not taken by.
    excluded: BTreeSet<AgentId>,
    treated: bool,
}

/// What a ReferenceID of ours was for.
#[derive(Debug, Clone)]
enum Asked {
    Reserve { conn: ConnId, agent: AgentId },
    Route { conn: ConnId, agent: Option<AgentId> },
}

impl Asked {
    fn conn(&self) -> &str {
        match self {
            Self::Reserve { conn, .. } | Self::Route { conn, .. } => conn.as_str(),
        }
    }
}

/// Counters a router keeps about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterStats {
    pub routed: u64,
    pub routed_remote: u64,
    pub overflowed: u64,
    pub reservations_refused: u64,
    pub returned_unanswered: u64,
    pub made_not_ready: u64,
    /// Reservations or routes of ours that got no answer in time (the call waits again).
    pub gave_up_waiting_for_answer: u64,
}

/// One router.
#[derive(Debug, Clone)]
pub struct Router {
    config: RoutingConfig,
    home: SiteId,
    sites: Vec<String>,
    monitored: Vec<String>,
    model: Model,
    pending: BTreeMap<ConnId, Pending>,
    /// Agent -> (the call it is being reserved or routed for, until when).
    held: BTreeMap<AgentId, (ConnId, Instant)>,
    /// Agents a reservation was refused for, until when.
    cooldown: BTreeMap<AgentId, Instant>,
    no_answer: BTreeMap<AgentId, u32>,
    /// Calls routed to an agent and not yet answered: ConnID -> (agent, when routed). A call
    /// that comes back to its Routing Point was not taken by that agent.
    routed: BTreeMap<ConnId, (AgentId, Instant)>,
    /// The agents a routed call had been refused by, kept while it is away.
    excluded_before: BTreeMap<ConnId, BTreeSet<AgentId>>,
    /// Free agents per target, longest idle first.
    pools: Pools,
    /// Per Routing Point: its tiers as (wait after which it applies, target in `pools`).
    tiers: BTreeMap<String, Vec<(Duration, TargetId)>>,
    /// Calls in the Waiting phase, in the order they are served: (since - priority, ConnID).
    queue: BTreeSet<(Instant, ConnId)>,
    last_chosen: BTreeMap<String, String>,
    asked: BTreeMap<u64, Asked>,
    next_reference: u64,
    timers: Timers,
    /// Something that may let a waiting call have an agent changed since the last matching.
    dirty: bool,
    /// When the periodic clean-up (stale routes, unanswered requests) runs next.
    next_sweep: Option<Instant>,
    out: VecDeque<(SiteId, Request)>,
    rng: ChaCha8Rng,
    stats: RouterStats,
}

/// How long a routed call is remembered in case it comes back unanswered.
const FORGET_ROUTED: Duration = Duration::from_secs(120);

/// How often the clean-up runs.
const SWEEP: Duration = Duration::from_millis(250);

/// How long a refused agent is skipped.
const COOLDOWN: Duration = Duration::from_millis(500);

impl Router {
    /// A router at site `home` of `sites` (their names, as `Location` names them), watching
    /// the agent DNs `monitored`.
    pub fn new(config: RoutingConfig, home: SiteId, sites: Vec<String>, monitored: Vec<String>, seed: u64) -> Self {
        let mut targets: Vec<Target> = Vec::new();
        let mut tiers = BTreeMap::new();
        for (rp, plan) in &config.points {
            let ids = plan
                .tiers
                .iter()
                .map(|(after, t)| {
                    let id = targets.iter().position(|known| known == t).unwrap_or_else(|| {
                        targets.push(t.clone());
                        targets.len() - 1
                    });
                    (*after, id)
                })
                .collect();
            tiers.insert(rp.clone(), ids);
        }
        let pools = Pools::new(targets);
        Self {
            config,
            home,
            sites,
            monitored,
            model: Model::default(),
            pending: BTreeMap::new(),
            held: BTreeMap::new(),
            cooldown: BTreeMap::new(),
            no_answer: BTreeMap::new(),
            routed: BTreeMap::new(),
            excluded_before: BTreeMap::new(),
            pools,
            tiers,
            queue: BTreeSet::new(),
            last_chosen: BTreeMap::new(),
            asked: BTreeMap::new(),
            next_reference: 1,
            timers: Timers::default(),
            dirty: false,
            next_sweep: None,
            out: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: RouterStats::default(),
        }
    }

    /// What the router has seen of both sites.
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// The next request to send, and to which site.
    pub fn poll_request(&mut self) -> Option<(SiteId, Request)> {
        self.out.pop_front()
    }

    /// The CTI link to `site` is up: register the Routing Points (as a router) and the
    /// agent DNs (as a monitor).
    pub fn connected(&mut self, site: SiteId) {
        let points: Vec<String> = self.config.points.keys().cloned().collect();
        for dn in points {
            self.register(site, dn, RegisterMode::ModeShare);
        }
        for dn in self.monitored.clone() {
            self.register(site, dn, RegisterMode::ModeMonitor);
        }
    }

    fn register(&mut self, site: SiteId, this_dn: String, register_mode: RegisterMode) {
        let request = Request::RequestRegisterAddress { reference_id: None, this_dn, register_mode };
        self.out.push_back((site, request));
    }

    /// The CTI link to `site` is down: what it said no longer holds.
    pub fn disconnected(&mut self, now: Instant, site: SiteId) {
        for change in self.model.site_lost(now, site) {
            self.after_change(now, &change);
        }
        self.dispatch(now);
    }

    /// One event from `site`.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over CTI events: the events not named do not concern this code"
    )]
    pub fn on_event(&mut self, now: Instant, site: SiteId, event: &Event) {
        match event {
            Event::EventAgentReserved { reference_id: Some(r), duration, .. } if *duration > 0 => {
                self.reserved(now, *r);
            }
            Event::EventError { reference_id: Some(r), error_code, .. } => self.refused(now, *r, *error_code),
            Event::EventEstablished { conn_id, .. } => {
                if let Some((agent, _)) = self.routed.remove(conn_id.as_str()) {
                    self.no_answer.remove(&agent);
                }
            }
            // The caller left while the agent's phone rang. (A release on the agent's DN
            // without an answer is the call going back to its Routing Point: kept.)
            Event::EventAbandoned { conn_id, .. } if !self.model.waiting.contains_key(conn_id) => {
                self.routed.remove(conn_id.as_str());
                self.excluded_before.remove(conn_id.as_str());
            }
            _ => {}
        }
        let change = self.model.apply(now, site, event);
        self.after_change(now, &change);
        self.dispatch(now);
    }

    /// When the router next needs [`Router::on_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Time passed: tiers widen, takeovers start, maximum waits end in overflow.
    pub fn on_timeout(&mut self, now: Instant) {
        let mut due = BTreeSet::new();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Call(conn) => {
                    due.insert(conn);
                }
                Timer::Hold(agent) => {
                    if self.held.get(&agent).is_some_and(|(_, until)| *until <= now) {
                        self.unhold(&agent);
                    }
                }
                Timer::Cooldown(agent) => {
                    if self.cooldown.get(&agent).is_some_and(|until| *until <= now) {
                        self.cooldown.remove(&agent);
                        self.refresh(&agent);
                    }
                }
            }
        }
        if self.next_sweep.is_none_or(|at| at <= now) {
            self.next_sweep = Some(now + SWEEP);
            self.sweep(now);
        }
        for conn in &due {
            self.overflow_if_due(now, conn);
            if self.model.waiting.get(conn.as_str()).is_some_and(|w| self.takes_over_at(w.site, w.since) <= now) {
                self.treat(conn);
            }
        }
        self.dirty = true;
        self.dispatch(now);
    }

    /// Clean-up that need not run on every timer: requests never answered, routed calls
    /// never heard of again.
    fn sweep(&mut self, now: Instant) {
        self.give_up_unanswered(now);
        // A routed call is answered or back within the no-answer time; keep a bound anyway.
        let stale = now.checked_sub(FORGET_ROUTED).unwrap_or(now);
        let gone: Vec<ConnId> = self.routed.iter().filter(|(_, (_, at))| *at < stale).map(|(c, _)| c.clone()).collect();
        for conn in gone {
            self.routed.remove(&conn);
            self.excluded_before.remove(&conn);
        }
    }

    fn after_change(&mut self, now: Instant, change: &Change) {
        match change {
            Change::Agent(agent) => self.agent_changed(agent),
            Change::Queued { conn } => self.queued(now, conn),
            Change::Dequeued { conn, .. } => {
                // Our requests about the call are answered or moot. (ReferenceIDs are ours
                // alone only in answers sent to us: a ReferenceID seen in a broadcast may be
                // another router's.)
                // Reservations for it still get their answer (then we give the agent back).
                self.asked.retain(|_, a| !matches!(a, Asked::Route { .. }) || a.conn() != conn);
                // A routed agent stays held until its phone rings (its DN turns busy) or
                // the hold ends; the call is remembered in case it comes back unanswered.
                if let Some(Pending { phase: Phase::Routing { agent: Some(agent) }, excluded, .. }) = self.forget(conn)
                {
                    self.routed.insert(conn.as_str().into(), (agent, now));
                    self.excluded_before.insert(conn.as_str().into(), excluded);
                }
            }
            Change::Dn(_) | Change::Nothing => {}
        }
    }

    fn agent_changed(&mut self, agent_id: &str) {
        let busy = self.model.agents.get(agent_id).is_some_and(|a| self.model.dn_busy(&a.dn));
        if busy {
            // The call it was held for reached it.
            self.held.remove(agent_id);
        }
        self.refresh(agent_id);
    }

    /// Files `agent_id` as free (Ready, no call, not held) or not, in the pools.
    fn refresh(&mut self, agent_id: &str) {
        let free = self.model.agents.get(agent_id).and_then(|a| {
            let registered = a.site.is_some_and(|s| self.model.in_service(&a.dn, s));
            let free = a.logged_in()
                && registered
                && a.state == AgentState::Ready
                && !self.model.dn_busy(&a.dn)
                && !self.held.contains_key(agent_id)
                && !self.cooldown.contains_key(agent_id);
            free.then(|| a.ready_since.unwrap_or(a.since))
        });
        let no_profile = Profile::default();
        let profile = self.config.agents.get(agent_id).unwrap_or(&no_profile);
        if self.pools.set(agent_id, profile, free) && free.is_some() {
            self.dirty = true;
        }
    }

    /// Holds `agent_id` for call `conn` until `until` (reserving, then routing).
    fn hold(&mut self, agent_id: &str, conn: &str, until: Instant) {
        self.held.insert(agent_id.into(), (conn.into(), until));
        self.timers.set(until, Timer::Hold(agent_id.into()));
        self.refresh(agent_id);
    }

    fn unhold(&mut self, agent_id: &str) {
        if self.held.remove(agent_id).is_some() {
            self.refresh(agent_id);
        }
    }

    /// Moves call `conn` to `phase`, keeping the queue of waiting calls in step.
    fn set_phase(&mut self, now: Instant, conn: &str, phase: Phase) {
        let Some(p) = self.pending.get_mut(conn) else { return };
        p.phase_since = now;
        if phase == Phase::Waiting {
            self.queue.insert((p.score, conn.into()));
            self.dirty = true;
        } else {
            self.queue.remove(&(p.score, conn.into()));
            let give_up = now + self.config.reservation + Duration::from_secs(1);
            self.timers.set(give_up, Timer::Call(conn.into()));
        }
        p.phase = phase;
    }

    /// Forgets call `conn`; returns what this router knew of it.
    fn forget(&mut self, conn: &str) -> Option<Pending> {
        let p = self.pending.remove(conn)?;
        self.queue.remove(&(p.score, conn.into()));
        Some(p)
    }

    /// A call arrived on a Routing Point, or came back to it unanswered.
    fn queued(&mut self, now: Instant, conn: &str) {
        let Some(waiting) = self.model.waiting.get(conn) else { return };
        let Some(plan) = self.config.points.get(&waiting.rp) else { return };
        let (site, since) = (waiting.site, waiting.since);
        let mut wake = vec![self.takes_over_at(site, since)];
        wake.extend(plan.tiers.iter().map(|(after, _)| since + *after));
        wake.extend(plan.max_wait.map(|w| since + w));
        for at in wake.into_iter().filter(|at| *at > now) {
            self.timers.set(at, Timer::Call(conn.into()));
        }
        let excluded = self.excluded_before.remove(conn).unwrap_or_default();
        let score = since.checked_sub(plan.priority).unwrap_or(since);
        self.pending.entry(conn.into()).or_insert(Pending {
            phase: Phase::Waiting,
            score,
            phase_since: now,
            excluded,
            treated: false,
        });
        self.set_phase(now, conn, Phase::Waiting);
        if self.takes_over_at(site, since) <= now {
            self.treat(conn);
        }
        if let Some((agent, _)) = self.routed.remove(conn) {
            // Offered and not taken: never this agent again for this call.
            if let Some(p) = self.pending.get_mut(conn) {
                p.excluded.insert(agent.clone());
            }
            self.unhold(&agent);
            self.stats.returned_unanswered += 1;
            self.missed(&agent);
        }
    }

    /// Calls whose reservation or route got no answer within the hold go back to waiting.
    fn give_up_unanswered(&mut self, now: Instant) {
        let limit = self.config.reservation + Duration::from_secs(1);
        let stuck: Vec<ConnId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.phase != Phase::Waiting && now.saturating_duration_since(p.phase_since) >= limit)
            .map(|(c, _)| c.clone())
            .collect();
        for conn in stuck {
            self.stats.gave_up_waiting_for_answer += 1;
            self.asked.retain(|_, a| a.conn() != conn.as_str());
            self.set_phase(now, &conn, Phase::Waiting);
        }
    }

    /// `agent` left a routed call unanswered: after `no-answer-limit` in a row, NotReady.
    fn missed(&mut self, agent_id: &str) {
        let limit = self.config.no_answer_limit;
        let count = self.no_answer.entry(agent_id.into()).or_default();
        *count += 1;
        if limit == 0 || *count < limit {
            return;
        }
        self.no_answer.remove(agent_id);
        let Some(agent) = self.model.agents.get(agent_id).filter(|a| a.logged_in()) else { return };
        let (Some(site), dn) = (agent.site, agent.dn.clone()) else { return };
        let reasons = [("ReasonCode".to_owned(), serde_json::Value::from("NoAnswer"))].into_iter().collect();
        let request = Request::RequestAgentNotReady {
            reference_id: None,
            this_dn: dn,
            work_mode: AgentWorkMode::AuxWork,
            reasons: Some(reasons),
        };
        self.stats.made_not_ready += 1;
        self.out.push_back((site, request));
    }

    /// When this router may route a call waiting at `site` since `since`.
    fn takes_over_at(&self, site: SiteId, since: Instant) -> Instant {
        if site == self.home {
            since
        } else {
            since + self.config.takeover_after
        }
    }
}
