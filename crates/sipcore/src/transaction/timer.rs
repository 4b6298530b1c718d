//! Named transaction timers (RFC 3261 section 17, table 4 of appendix A; RFC 6026).

use std::time::{Duration, Instant};

/// Why a transaction wants to wake up. Each name is the RFC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerName {
    /// INVITE client: retransmit the INVITE (UDP), starts at T1 and doubles.
    A,
    /// INVITE client: give up waiting for any response, 64*T1.
    B,
    /// INVITE client: wait for response retransmissions after a non-2xx final, 32 s on UDP.
    D,
    /// Non-INVITE client: retransmit the request (UDP), T1 doubling up to T2.
    E,
    /// Non-INVITE client: give up waiting for a final response, 64*T1.
    F,
    /// INVITE server: retransmit a non-2xx final response (UDP), T1 doubling up to T2.
    G,
    /// INVITE server: give up waiting for the ACK, 64*T1.
    H,
    /// INVITE server: absorb ACK retransmissions after the ACK, T4 on UDP.
    I,
    /// Non-INVITE server: absorb request retransmissions after the final, 64*T1 on UDP.
    J,
    /// Non-INVITE client: absorb response retransmissions after the final, T4 on UDP.
    K,
    /// INVITE server (RFC 6026): absorb INVITE retransmissions after a 2xx, 64*T1.
    L,
    /// INVITE client (RFC 6026): accept 2xx retransmissions after the first 2xx, 64*T1.
    M,
}

/// A transaction's two timer slots: the retransmission timer (A, E, G) and the
/// one that ends the current state (B, D, F, H, I, J, K, L, M).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Timers {
    pub(crate) retransmit: Option<Armed>,
    pub(crate) expire: Option<Armed>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Armed {
    pub(crate) at: Instant,
    pub(crate) name: TimerName,
    pub(crate) interval: Duration,
}

impl Timers {
    pub(crate) fn arm_retransmit(&mut self, now: Instant, name: TimerName, interval: Duration) {
        self.retransmit = Some(Armed { at: now + interval, name, interval });
    }

    pub(crate) fn arm_expire(&mut self, now: Instant, name: TimerName, after: Duration) {
        self.expire = Some(Armed { at: now + after, name, interval: after });
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The earliest deadline and its name.
    pub(crate) fn next(&self) -> Option<(Instant, TimerName)> {
        [self.expire, self.retransmit].into_iter().flatten().min_by_key(|a| (a.at, a.name)).map(|a| (a.at, a.name))
    }

    /// Takes the earliest timer that is due at `now`; the expiry timer wins a tie.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Armed> {
        if let Some(e) = self.expire.filter(|e| e.at <= now) {
            self.expire = None;
            return Some(e);
        }
        self.retransmit.filter(|r| r.at <= now).inspect(|_| self.retransmit = None)
    }
}
