//! Reserve-then-route: for each waiting call in serving order, the free agents its
//! Routing Point's open tiers admit, the choice among them, RequestReserveAgent to the
//! site holding the login, and what a reservation's answer leads to (RequestRouteCall,
//! the next agent, overflow).

use std::collections::BTreeSet;
use std::ops::Bound;
use std::time::{Duration, Instant};

use cti::{ErrorCode, Request};

use super::timers::Timer;
use super::{Asked, Phase, Router, COOLDOWN};
use crate::config::Strategy;
use crate::ids::ConnId;
use crate::pools::TargetId;
use crate::strategy::{self, Candidate};

impl Router {
    pub(super) fn reference(&mut self, asked: Asked) -> u64 {
        let r = self.next_reference;
        self.next_reference += 1;
        self.asked.insert(r, asked);
        r
    }

    /// Runs the matching: the longest-waiting calls first, each to the best free agent.
    /// Runs only when something changed that could give a waiting call an agent, and
    /// stops as soon as no free agent is left for the calls still waiting: under overload
    /// (many calls, no agent) an event costs a lookup, not a pass over the queue.
    pub(super) fn dispatch(&mut self, now: Instant) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        // Targets with no free agent for a call without exclusions: no later call gets one.
        let mut exhausted: BTreeSet<TargetId> = BTreeSet::new();
        let mut cursor: Option<(Instant, ConnId)> = None;
        while !self.pools.is_empty() && exhausted.len() < self.pools.targets() {
            let next = match &cursor {
                None => self.queue.iter().next(),
                Some(c) => self.queue.range((Bound::Excluded(c.clone()), Bound::Unbounded)).next(),
            };
            let Some(key) = next.cloned() else { break };
            let conn = key.1.clone();
            cursor = Some(key);
            let Some(w) = self.model.waiting.get(conn.as_str()) else { continue };
            if self.takes_over_at(w.site, w.since) > now {
                continue;
            }
            let open = self.open_targets(now, &conn);
            if open.iter().all(|t| exhausted.contains(t)) {
                continue;
            }
            match self.choose(now, &conn, &open) {
                Some(agent) => self.reserve(now, &conn, agent),
                None if self.pending.get(&conn).is_some_and(|p| p.excluded.is_empty()) => exhausted.extend(open),
                None => {}
            }
        }
    }

    /// The targets whose agents may take call `conn` now (tiers widen with its wait).
    pub(super) fn open_targets(&self, now: Instant, conn: &str) -> Vec<TargetId> {
        let Some(w) = self.model.waiting.get(conn) else { return Vec::new() };
        let waited = now.saturating_duration_since(w.since);
        let tiers = self.tiers.get(&w.rp).map(Vec::as_slice).unwrap_or_default();
        tiers.iter().filter(|(after, _)| *after <= waited).map(|(_, t)| *t).collect()
    }

    /// The first time this router takes a call in hand: `router-timeout` stops.
    pub(super) fn treat(&mut self, conn: &str) {
        let Some(w) = self.model.waiting.get(conn) else { return };
        let Some(p) = self.pending.get_mut(conn).filter(|p| !p.treated) else { return };
        p.treated = true;
        let request = Request::RequestApplyTreatment {
            reference_id: None,
            this_dn: w.rp.clone(),
            conn_id: conn.to_owned(),
            treatment_type: Some("Music".into()),
        };
        self.out.push_back((w.site, request));
    }

    /// The agent call `conn` should go to now, if any is free and admitted.
    pub(super) fn choose(&mut self, now: Instant, conn: &str, open: &[TargetId]) -> Option<String> {
        let w = self.model.waiting.get(conn)?;
        let plan = self.config.points.get(&w.rp)?;
        let excluded = &self.pending.get(conn)?.excluded;
        let usable = |id: &str| !excluded.contains(id) && self.cooldown.get(id).is_none_or(|until| *until <= now);
        let agents = &self.model.agents;
        let candidate = |(ready_since, id): &(Instant, String)| {
            let (id, agent) = agents.get_key_value(id)?;
            usable(id).then_some(Candidate {
                id,
                ready_since: *ready_since,
                calls: agent.calls_handled,
                talk: agent.talk_time,
            })
        };
        let last = self.last_chosen.get(&w.rp).map(String::as_str);
        let chosen = if plan.strategy == Strategy::LongestIdle {
            // Each pool is in idle order: its first usable agent is its best.
            open.iter()
                .filter_map(|t| self.pools.free(*t).find_map(candidate))
                .min_by_key(|c| c.ready_since)
                .map(|c| c.id.to_owned())
        } else {
            let mut seen = BTreeSet::new();
            let all = open
                .iter()
                .flat_map(|t| self.pools.free(*t))
                .filter(|(_, id)| seen.insert(id.as_str()))
                .filter_map(candidate);
            strategy::pick(plan.strategy, all, last, &mut self.rng)
        }?;
        if plan.strategy == Strategy::RoundRobin {
            self.last_chosen.insert(w.rp.clone(), chosen.clone());
        }
        Some(chosen)
    }

    pub(super) fn reserve(&mut self, now: Instant, conn: &str, agent_id: String) {
        let Some(agent) = self.model.agents.get(&agent_id) else { return };
        let (Some(site), dn) = (agent.site, agent.dn.clone()) else { return };
        let hold = self.config.reservation;
        self.hold(&agent_id, conn, now + hold);
        self.timers.set(now + hold, Timer::Call(conn.into()));
        self.set_phase(now, conn, Phase::Reserving { agent: agent_id.as_str().into() });
        let reference_id = self.reference(Asked::Reserve { conn: conn.into(), agent: agent_id.as_str().into() });
        let request = Request::RequestReserveAgent {
            reference_id: Some(reference_id),
            this_dn: dn,
            agent_id: Some(agent_id),
            priority: 1,
            duration: i64::try_from(hold.as_secs()).unwrap_or(5),
        };
        self.out.push_back((site, request));
    }

    /// EventAgentReserved: route the call to the agent.
    pub(super) fn reserved(&mut self, now: Instant, reference: u64) {
        let Some(Asked::Reserve { conn, agent }) = self.asked.remove(&reference) else { return };
        let still_ours = self.pending.get(&conn).is_some_and(|p| p.phase == Phase::Reserving { agent: agent.clone() });
        let target = self.model.agents.get(agent.as_str()).and_then(|a| Some((a.site?, a.dn.clone())));
        let waiting = self.model.waiting.get(conn.as_str()).map(|w| (w.site, w.rp.clone()));
        let free = target.as_ref().is_some_and(|(_, dn)| !self.model.dn_busy(dn));
        let (true, true, Some((agent_site, dn)), Some((site, rp))) = (still_ours, free, target, waiting) else {
            // The call went, or the agent took another call while we asked: try again.
            self.give_back(&agent);
            if still_ours {
                self.set_phase(now, &conn, Phase::Waiting);
            }
            return;
        };
        let location = (agent_site != site).then(|| self.sites.get(agent_site).cloned()).flatten();
        if location.is_some() {
            self.stats.routed_remote += 1;
        }
        self.stats.routed += 1;
        let reference_id = self.reference(Asked::Route { conn: conn.clone(), agent: Some(agent.clone()) });
        self.set_phase(now, &conn, Phase::Routing { agent: Some(agent.clone()) });
        self.hold(&agent, &conn, now + self.config.reservation);
        let request = Request::RequestRouteCall {
            reference_id: Some(reference_id),
            this_dn: rp,
            conn_id: conn.0,
            other_dn: Some(dn),
            route_type: cti::RouteType::Default,
            location,
        };
        self.out.push_back((site, request));
    }

    /// Cancels our reservation of `agent` (Duration 0) and frees it here.
    pub(super) fn give_back(&mut self, agent_id: &str) {
        self.unhold(agent_id);
        let Some(agent) = self.model.agents.get(agent_id) else { return };
        let Some(site) = agent.site else { return };
        let request = Request::RequestReserveAgent {
            reference_id: None,
            this_dn: agent.dn.clone(),
            agent_id: Some(agent_id.to_owned()),
            priority: 0,
            duration: 0,
        };
        self.out.push_back((site, request));
    }

    /// EventError for one of our requests.
    pub(super) fn refused(&mut self, now: Instant, reference: u64, code: ErrorCode) {
        match self.asked.remove(&reference) {
            Some(Asked::Reserve { conn, agent }) => {
                self.stats.reservations_refused += 1;
                self.cooldown.insert(agent.clone(), now + COOLDOWN);
                self.timers.set(now + COOLDOWN, Timer::Cooldown(agent.clone()));
                self.unhold(&agent);
                self.refresh(&agent);
                self.timers.set(now + COOLDOWN, Timer::Call(conn.clone()));
                self.set_phase(now, &conn, Phase::Waiting);
            }
            Some(Asked::Route { conn, agent }) => {
                if let Some(agent) = &agent {
                    self.give_back(agent);
                }
                if code == ErrorCode::NoSuchCall {
                    // Routed by the other router, or the caller left.
                    self.forget(&conn);
                } else if let Some(p) = self.pending.get_mut(&conn) {
                    p.excluded.extend(agent);
                    self.set_phase(now, &conn, Phase::Waiting);
                }
            }
            None => {}
        }
    }

    /// Call `conn`, if it waited its Routing Point's `max-wait`, goes to the overflow
    /// target (when it is waiting; while a reservation is out, it is looked at again later).
    pub(super) fn overflow_if_due(&mut self, now: Instant, conn: &str) {
        let Some(w) = self.model.waiting.get(conn) else { return };
        let Some(plan) = self.config.points.get(&w.rp) else { return };
        let (Some(max_wait), Some(target)) = (plan.max_wait, plan.overflow.clone()) else { return };
        if w.since + max_wait > now || self.takes_over_at(w.site, w.since) > now {
            return;
        }
        let (site, rp) = (w.site, w.rp.clone());
        if self.pending.get(conn).is_none_or(|p| p.phase != Phase::Waiting) {
            self.timers.set(now + Duration::from_secs(1), Timer::Call(conn.into()));
            return;
        }
        self.stats.overflowed += 1;
        let reference_id = self.reference(Asked::Route { conn: conn.into(), agent: None });
        self.set_phase(now, conn, Phase::Routing { agent: None });
        let request = Request::RequestRouteCall {
            reference_id: Some(reference_id),
            this_dn: rp,
            conn_id: conn.to_owned(),
            other_dn: Some(target),
            route_type: cti::RouteType::Default,
            location: None,
        };
        self.out.push_back((site, request));
    }
}
