//! Staying useful under overload (RFC 6357's local overload control, RFC 7339's ideas):
//! new work (out-of-dialog INVITE and REGISTER) is refused early with a stateless `503`
//! and a jittered `Retry-After` when the shell reports a backlog or a capacity cap is
//! reached (calls, transactions, calls parked on Routing Points; registrar bindings in
//! [`crate::RegistrarConfig`]), while what finishes work already accepted (responses, ACK, BYE, CANCEL,
//! in-dialog requests) and everything from the DR peer goes on. A per-source token
//! bucket (like Kamailio's pike) drops a flood from one address before it costs more.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Capacity caps and flood limits of one site. Each field documents its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Calls in progress before new INVITEs get 503. Default 20,000.
    pub max_calls: usize,
    /// Live transactions (including finished ones kept 32 s for retransmissions, about 30
    /// per call/s) before new INVITEs and REGISTERs get 503. Default 500,000.
    pub max_transactions: usize,
    /// Calls waiting on one Routing Point before new ones get 503. Default 1,000.
    pub max_parked_per_rp: usize,
    /// Calls waiting on all Routing Points together. Default 10,000.
    pub max_parked: usize,
    /// Requests per second one IP address may send (trunks and the DR peer are exempt);
    /// more are dropped. 0 turns the limit off. Default 0: a gateway or SBC not listed as
    /// a trunk sends thousands a second from one address; set it where sources are phones.
    pub per_source_rate: u32,
    /// Base of the `Retry-After` of an overload 503 (sent jittered by +-50 %). Default 5 s.
    pub retry_after: Duration,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            max_calls: 20_000,
            max_transactions: 500_000,
            max_parked_per_rp: 1_000,
            max_parked: 10_000,
            per_source_rate: 0,
            retry_after: Duration::from_secs(5),
        }
    }
}

/// How loaded the shell finds the site's input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pressure {
    /// Inputs are taken as fast as they come.
    #[default]
    Normal,
    /// A backlog builds up: shed new work.
    High,
}

/// Most source addresses tracked at once; past it, idle buckets are swept first.
const MAX_SOURCES: usize = 65_536;

/// One source's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-source limiter and the pressure the shell reported.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    pub(crate) pressure: Pressure,
    buckets: HashMap<IpAddr, Bucket>,
}

impl Admission {
    /// Takes one token from `source`'s bucket (burst: one second's worth). False when the
    /// source sends faster than `rate` per second.
    pub(crate) fn within_rate(&mut self, now: Instant, source: IpAddr, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&source) {
            self.sweep(now);
            if self.buckets.len() >= MAX_SOURCES {
                return false;
            }
        }
        let burst = f64::from(rate);
        let bucket = self.buckets.entry(source).or_insert(Bucket { tokens: burst, at: now });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * burst;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Forgets sources whose bucket would be full again (idle for a second or more).
    fn sweep(&mut self, now: Instant) {
        self.buckets.retain(|_, b| now.saturating_duration_since(b.at) < Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_rate_and_no_more_and_others_are_not_hurt() {
        let (now, mut a) = (Instant::now(), Admission::default());
        let (flood, other) = (IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3]));
        let passed = (0..500).filter(|_| a.within_rate(now, flood, 100)).count();
        assert_eq!(passed, 100, "one second's burst");
        assert!(a.within_rate(now, other, 100));
        assert!(!a.within_rate(now + Duration::from_millis(5), flood, 100));
        assert!(a.within_rate(now + Duration::from_millis(20), flood, 100), "refilled at 100/s");
        assert!(a.within_rate(now, flood, 0), "0 turns the limit off");
    }
}
