//! Agent reservation (`RequestReserveAgent`, BC-43..46): routing clients that want the
//! same agent are gathered for `request-collection-time`; then one of the highest
//! priority wins (at random among equals) and holds the agent for its duration; the
//! others, and anyone asking while it holds, are refused. A reservation only coordinates
//! routing clients (BC-45): it does not stop state changes or calls. It ends when it
//! expires, when its holder cancels it (Duration 0) or disconnects, when the agent logs
//! out, or when the agent's phone rings with an ACD call (what it was held for).
//!
//! Plain data: the caller passes the time and a random pick, and turns outcomes into
//! events.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::DeskId;

/// One RequestReserveAgent waiting for its collection window to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) desk: DeskId,
    pub(crate) reference_id: Option<u64>,
    pub(crate) priority: i32,
    pub(crate) hold: Duration,
}

/// A collection window that closed: who won, who lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) agent: String,
    pub(crate) dn: String,
    pub(crate) winner: Ask,
    pub(crate) losers: Vec<Ask>,
}

#[derive(Debug)]
struct Collection {
    dn: String,
    closes: Instant,
    asks: Vec<Ask>,
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    desk: DeskId,
    until: Instant,
}

/// Every reservation and collection of one site, by AgentID.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    collecting: BTreeMap<String, Collection>,
    held: BTreeMap<String, Hold>,
}

/// Why a request cannot join a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Another client (or this one: `reject-subsequent-request`) holds the agent.
    Held,
    /// This client already asked in the open window.
    AlreadyAsked,
}

impl Reservations {
    /// The desk holding `agent` at `now`, if any.
    pub(crate) fn holder(&self, agent: &str, now: Instant) -> Option<DeskId> {
        self.held.get(agent).filter(|h| h.until > now).map(|h| h.desk)
    }

    /// Adds a request for `agent` on `dn` to its collection window (opening one that
    /// closes `window` from now).
    pub(crate) fn ask(
        &mut self,
        now: Instant,
        agent: &str,
        dn: &str,
        window: Duration,
        ask: Ask,
    ) -> Result<(), Refusal> {
        if self.holder(agent, now).is_some() {
            return Err(Refusal::Held);
        }
        let collection = self.collecting.entry(agent.to_owned()).or_insert_with(|| Collection {
            dn: dn.to_owned(),
            closes: now + window,
            asks: Vec::new(),
        });
        if collection.asks.iter().any(|a| a.desk == ask.desk) {
            return Err(Refusal::AlreadyAsked);
        }
        collection.asks.push(ask);
        Ok(())
    }

    /// Duration 0: `desk` gives `agent` back. False if it held nothing.
    pub(crate) fn cancel(&mut self, now: Instant, agent: &str, desk: DeskId) -> bool {
        if self.holder(agent, now) == Some(desk) {
            self.held.remove(agent);
            return true;
        }
        false
    }

    /// The agent's reservation ends (logout, or the ACD call it was held for rings).
    pub(crate) fn release(&mut self, agent: &str) {
        self.held.remove(agent);
    }

    /// A desktop went away: its reservations and pending requests go with it.
    pub(crate) fn forget_desk(&mut self, desk: DeskId) {
        self.held.retain(|_, h| h.desk != desk);
        for c in self.collecting.values_mut() {
            c.asks.retain(|a| a.desk != desk);
        }
        self.collecting.retain(|_, c| !c.asks.is_empty());
    }

    /// When the next collection window closes.
    pub(crate) fn next_close(&self) -> Option<Instant> {
        self.collecting.values().map(|c| c.closes).min()
    }

    /// Closes every window due at `now`: the highest priority wins, `pick(n)` chooses among
    /// `n` equals; the winner holds the agent for its `hold`.
    /// Runs on every timer wake of the site: nothing is scanned unless a window is due.
    /// Expired holds are ignored by [`Reservations::holder`] and pruned here, when a
    /// window closes (so at most one entry per agent stays).
    pub(crate) fn close_due(&mut self, now: Instant, mut pick: impl FnMut(usize) -> usize) -> Vec<Verdict> {
        if self.next_close().is_none_or(|at| at > now) {
            return Vec::new();
        }
        self.held.retain(|_, h| h.until > now);
        let due: Vec<String> =
            self.collecting.iter().filter(|(_, c)| c.closes <= now).map(|(a, _)| a.clone()).collect();
        let mut verdicts = Vec::new();
        for agent in due {
            let Some(Collection { dn, mut asks, .. }) = self.collecting.remove(&agent) else { continue };
            let Some(top) = asks.iter().map(|a| a.priority).max() else { continue };
            let best: Vec<usize> = (0..asks.len()).filter(|i| asks[*i].priority == top).collect();
            let winner = asks.remove(best[pick(best.len()) % best.len()]);
            self.held.insert(agent.clone(), Hold { desk: winner.desk, until: now + winner.hold });
            verdicts.push(Verdict { agent, dn, winner, losers: asks });
        }
        verdicts
    }
}

impl super::Desks {
    /// RequestReserveAgent: joins the agent's collection window, cancels (Duration 0), or
    /// is refused (agent not logged in here: at the DR peer, BC-46; already reserved).
    pub(super) fn reserve(&mut self, world: &impl super::DeskWorld, desk: DeskId, req: &cti::Request) {
        use cti::ErrorCode;
        let cti::Request::RequestReserveAgent { reference_id, this_dn, agent_id, priority, duration } = req else {
            return;
        };
        let Some(agent) = self.agents.on(this_dn).map(str::to_owned) else {
            let text = match agent_id {
                Some(a) if world.agent_at_peer(a) => "the agent is logged in at the DR peer: reserve it there",
                _ => "no agent is logged in on this DN at this site",
            };
            return self.error(desk, req, Some(this_dn), ErrorCode::NoAgentLoggedIn, text);
        };
        if agent_id.as_deref().is_some_and(|a| a != agent) {
            return self.error(desk, req, Some(this_dn), ErrorCode::NoAgentLoggedIn, "another agent is on this DN");
        }
        let now = world.now();
        let options = &world.config().options;
        let hold = match *duration {
            0 => {
                if self.reservations.cancel(now, &agent, desk) {
                    let event = cti::Event::EventAgentReserved {
                        reference_id: *reference_id,
                        this_dn: this_dn.clone(),
                        agent_id: agent,
                        duration: 0,
                    };
                    self.out.push((desk, event));
                    return;
                }
                return self.error(
                    desk,
                    req,
                    Some(this_dn),
                    ErrorCode::InvalidState,
                    "no reservation of yours to cancel",
                );
            }
            d if d < 0 => options.reservation_time,
            d => Duration::from_secs(d.unsigned_abs().min(3600)),
        };
        let ask = Ask { desk, reference_id: *reference_id, priority: *priority, hold };
        if let Err(refusal) = self.reservations.ask(now, &agent, this_dn, options.request_collection_time, ask) {
            let text = match refusal {
                Refusal::Held => "the agent is reserved",
                Refusal::AlreadyAsked => "this client already asked for the agent",
            };
            self.error(desk, req, Some(this_dn), ErrorCode::AgentReserved, text);
        }
    }

    /// When the next reservation collection window closes.
    pub(crate) fn reservation_deadline(&self) -> Option<Instant> {
        self.reservations.next_close()
    }

    /// Closes the collection windows due at `now`: EventAgentReserved to each winner,
    /// EventError to the others.
    pub(crate) fn close_reservations(&mut self, now: Instant, pick: impl FnMut(usize) -> usize) {
        for Verdict { agent, dn, winner, losers } in self.reservations.close_due(now, pick) {
            let event = cti::Event::EventAgentReserved {
                reference_id: winner.reference_id,
                this_dn: dn.clone(),
                agent_id: agent,
                duration: winner.hold.as_secs(),
            };
            self.out.push((winner.desk, event));
            for loser in losers {
                let event = cti::Event::EventError {
                    reference_id: loser.reference_id,
                    this_dn: Some(dn.clone()),
                    error_code: cti::ErrorCode::AgentReserved,
                    error_message: "another request for the agent won".into(),
                };
                self.out.push((loser.desk, event));
            }
        }
    }

    /// True when the agent on `dn` is reserved at `now` by a desk other than `desk`.
    pub(crate) fn reserved_for_other(&self, dn: &str, desk: DeskId, now: Instant) -> bool {
        let Some(agent) = self.agents.on(dn) else { return false };
        self.reservations.holder(agent, now).is_some_and(|h| h != desk)
    }

    /// An ACD call rings the agent on `dn`: what a reservation was for has happened.
    pub(super) fn reservation_used(&mut self, dn: &str) {
        if let Some(agent) = self.agents.on(dn).map(str::to_owned) {
            self.reservations.release(&agent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(desk: u64, priority: i32) -> Ask {
        Ask { desk: DeskId(desk), reference_id: Some(desk), priority, hold: Duration::from_secs(10) }
    }

    #[allow(clippy::disallowed_methods)]
    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn requests_in_one_window_are_decided_together_and_the_highest_priority_wins() {
        let (t0, window) = (now(), Duration::from_millis(100));
        let mut r = Reservations::default();
        r.ask(t0, "A2", "1002", window, ask(1, 1)).expect("first");
        r.ask(t0 + Duration::from_millis(40), "A2", "1002", window, ask(2, 5)).expect("second");
        r.ask(t0 + Duration::from_millis(50), "A2", "1002", window, ask(3, 1)).expect("third");
        assert!(r.close_due(t0 + Duration::from_millis(99), |_| 0).is_empty(), "the window is still open");
        let verdicts = r.close_due(t0 + window, |_| 0);
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].winner.desk, DeskId(2));
        assert_eq!(verdicts[0].losers.iter().map(|a| a.desk.0).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(r.holder("A2", t0 + window), Some(DeskId(2)));
        assert_eq!(r.ask(t0 + window, "A2", "1002", window, ask(1, 9)), Err(Refusal::Held));
        assert_eq!(r.holder("A2", t0 + window + Duration::from_secs(10)), None, "expired");
    }

    #[test]
    fn equals_are_picked_by_the_random_pick_and_cancel_frees_the_agent() {
        let (t0, window) = (now(), Duration::from_millis(100));
        let mut r = Reservations::default();
        r.ask(t0, "A2", "1002", window, ask(1, 1)).expect("first");
        r.ask(t0, "A2", "1002", window, ask(2, 1)).expect("second");
        assert_eq!(r.ask(t0, "A2", "1002", window, ask(2, 1)), Err(Refusal::AlreadyAsked));
        let verdicts = r.close_due(t0 + window, |n| n - 1);
        assert_eq!(verdicts[0].winner.desk, DeskId(2));
        assert!(!r.cancel(t0 + window, "A2", DeskId(1)), "desk 1 holds nothing");
        assert!(r.cancel(t0 + window, "A2", DeskId(2)));
        assert_eq!(r.holder("A2", t0 + window), None);
    }

    #[test]
    fn a_desk_that_goes_away_takes_its_reservations_and_requests_with_it() {
        let (t0, window) = (now(), Duration::from_millis(100));
        let mut r = Reservations::default();
        r.ask(t0, "A1", "1001", window, ask(1, 1)).expect("ask");
        r.close_due(t0 + window, |_| 0);
        r.ask(t0, "A2", "1002", window, ask(1, 1)).expect("ask");
        r.forget_desk(DeskId(1));
        assert_eq!(r.holder("A1", t0 + window), None);
        assert_eq!(r.next_close(), None);
    }
}
