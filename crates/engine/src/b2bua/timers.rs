//! The call timers (no answer, router timeout, queue maximum wait, 2xx retransmission):
//! at most one of each kind per call, kept by deadline and by call, so that setting,
//! cancelling and firing one costs O(log n) however many calls are up (a scan of every
//! timer on each answer and each ACK stalled the engine as calls piled up).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{CallId, CallTimer};

/// Every kind, for cancelling all of a call's timers.
const KINDS: [CallTimer; 4] =
    [CallTimer::NoAnswer, CallTimer::RouterTimeout, CallTimer::QueueMaxWait, CallTimer::Retransmit2xx];

#[derive(Debug, Default)]
pub(super) struct CallTimers {
    due: BTreeMap<(Instant, CallId, CallTimer), ()>,
    by_call: BTreeMap<(CallId, CallTimer), Instant>,
}

impl CallTimers {
    /// Arms `timer` of call `id` for `at`, replacing one of the same kind.
    pub(super) fn set(&mut self, at: Instant, id: CallId, timer: CallTimer) {
        if let Some(old) = self.by_call.insert((id, timer), at) {
            self.due.remove(&(old, id, timer));
        }
        self.due.insert((at, id, timer), ());
    }

    pub(super) fn cancel(&mut self, id: CallId, timer: CallTimer) {
        if let Some(at) = self.by_call.remove(&(id, timer)) {
            self.due.remove(&(at, id, timer));
        }
    }

    pub(super) fn cancel_all(&mut self, id: CallId) {
        for timer in KINDS {
            self.cancel(id, timer);
        }
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.due.first_key_value().map(|(k, _)| k.0)
    }

    /// The earliest timer due at `now`, disarmed.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(CallId, CallTimer)> {
        let (&(at, id, timer), _) = self.due.first_key_value()?;
        if at > now {
            return None;
        }
        self.due.remove(&(at, id, timer));
        self.by_call.remove(&(id, timer));
        Some((id, timer))
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_timer_per_kind_and_call_fired_in_deadline_order() {
        let now = Instant::now();
        let mut t = CallTimers::default();
        t.set(now + Duration::from_secs(5), 1, CallTimer::NoAnswer);
        t.set(now + Duration::from_secs(3), 1, CallTimer::NoAnswer);
        t.set(now + Duration::from_secs(4), 2, CallTimer::RouterTimeout);
        t.set(now + Duration::from_secs(1), 2, CallTimer::QueueMaxWait);
        t.cancel(2, CallTimer::QueueMaxWait);
        assert_eq!(t.next(), Some(now + Duration::from_secs(3)));
        let later = now + Duration::from_secs(10);
        assert_eq!(t.pop_due(later), Some((1, CallTimer::NoAnswer)));
        assert_eq!(t.pop_due(later), Some((2, CallTimer::RouterTimeout)));
        assert_eq!(t.pop_due(later), None, "the replaced deadline is gone");
        t.set(later, 3, CallTimer::Retransmit2xx);
        t.cancel_all(3);
        assert_eq!(t.next(), None);
    }
}
