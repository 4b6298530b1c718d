//! The router's timers in one table (in the manner of quinn-proto's `TimerTable`): each
//! timer names what it is for, fires once, and is checked against the state it concerns
//! when it fires, so a hold or cooldown that ended early leaves a timer that does nothing.
//! Calls may have several timers at once (a tier, a takeover, a maximum wait).

use std::collections::BTreeSet;
use std::time::Instant;

use crate::ids::{AgentId, ConnId};

/// What a timer is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// A call's next moment: a tier widens, another site's call may be taken over, its
    /// maximum wait ends, a request about it is given up, a refused agent may serve it.
    Call(ConnId),
    /// An agent's hold (its reservation, then its route) runs out.
    Hold(AgentId),
    /// An agent a reservation was refused for may be chosen again.
    Cooldown(AgentId),
}

/// Timers by when they fire.
#[derive(Debug, Clone, Default)]
pub(super) struct Timers {
    due: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    pub(super) fn set(&mut self, at: Instant, timer: Timer) {
        self.due.insert((at, timer));
    }

    /// When the next timer fires.
    pub(super) fn next(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// The next timer due at `now`, taken out of the table.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.next()? > now {
            return None;
        }
        self.due.pop_first().map(|(_, timer)| timer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test picks its own starting instant
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_in_time_order_once_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.set(t0 + Duration::from_secs(2), Timer::Hold("A1".into()));
        timers.set(t0 + Duration::from_secs(1), Timer::Call("c1".into()));
        timers.set(t0 + Duration::from_secs(1), Timer::Cooldown("A2".into()));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None, "nothing is due yet");
        let at_one: Vec<Timer> = std::iter::from_fn(|| timers.pop_due(t0 + Duration::from_secs(1))).collect();
        assert_eq!(at_one, [Timer::Call("c1".into()), Timer::Cooldown("A2".into())]);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(5)), Some(Timer::Hold("A1".into())));
        assert_eq!(timers.next(), None);
    }
}
