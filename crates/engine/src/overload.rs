//! Staying useful under overload (RFC 6357's local overload control, RFC 7339's ideas):
//! new work (out-of-dialog INVITE and REGISTER) is refused early with a stateless `503`
//! and a jittered `Retry-After` when the shell reports a backlog or a capacity cap is
//! reached (calls, transactions, calls parked on Routing Points; registrar bindings in
//! [`crate::RegistrarConfig`]), while what finishes work already accepted (responses, ACK, BYE, CANCEL,
//! in-dialog requests) and everything from the DR peer goes on. A per-source token
//! bucket (like Kamailio's pike) drops a flood from one address before it costs more.
//!
//! Shedding is by rate, not all-or-nothing: while the shell reports a backlog, new work
//! is admitted at a rate that starts just under what was admitted before the backlog
//! and shrinks by a factor each window the backlog lasts; once it clears, the rate grows
//! back each window until nothing is refused any more and the limit is lifted (additive
//! increase, multiplicative decrease, as RFC 7339's rate-based control does between
//! servers). So a site offered twice what it can take keeps taking about what it can.

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

/// The length of one measuring window of the new-work rate.
const WINDOW: Duration = Duration::from_millis(250);
/// Each window the backlog lasts, the admitted rate is multiplied by this.
const DECREASE: f64 = 0.85;
/// Each window without a backlog while new work is still refused, the rate grows by this
/// factor...
const INCREASE: f64 = 1.08;
/// ... plus this many per second (so a rate near the floor recovers in seconds too).
const INCREASE_STEP: f64 = 20.0;
/// The admitted rate never goes below this many new requests per second.
const FLOOR: f64 = 20.0;

/// The per-source limiter, the pressure the shell reported and the new-work rate.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    pressure: Pressure,
    buckets: HashMap<IpAddr, Bucket>,
    rate: NewWorkRate,
    /// When a 503 for overload last went out.
    last_refusal: Option<Instant>,
}

/// Counts of new work in the current window and the limit in force, if any.
#[derive(Debug, Default)]
struct NewWorkRate {
    window_start: Option<Instant>,
    admitted: u32,
    refused: u32,
    /// The rate of the last complete window, new requests per second.
    last_rate: f64,
    /// New requests per second admitted while a limit is in force.
    limit: Option<f64>,
    tokens: f64,
    tokens_at: Option<Instant>,
}

impl Admission {
    /// The pressure the shell reported last.
    pub(crate) fn pressure(&self) -> Pressure {
        self.pressure
    }

    /// Notes the shell's pressure; the first backlog puts a limit just under the rate
    /// admitted so far.
    pub(crate) fn set_pressure(&mut self, now: Instant, pressure: Pressure) {
        self.pressure = pressure;
        if pressure == Pressure::High && self.rate.limit.is_none() {
            let current = self.rate.current_rate(now);
            self.rate.impose(now, current.max(self.rate.last_rate) * DECREASE);
        }
    }

    /// The limit on new requests per second in force, if any.
    pub(crate) fn new_work_limit(&self) -> Option<f64> {
        self.rate.limit
    }

    /// Decides on one new request (an INVITE or REGISTER starting work): admitted when no
    /// limit is in force, or when the limit's token bucket has a token. Counts either way.
    pub(crate) fn admit_new_work(&mut self, now: Instant) -> bool {
        self.rate.roll(now, self.pressure);
        let admitted = self.rate.take(now);
        if admitted {
            self.rate.admitted = self.rate.admitted.saturating_add(1);
        } else {
            self.rate.refused = self.rate.refused.saturating_add(1);
        }
        admitted
    }

    /// Notes that a request was refused with 503 at `now` (its ACK may follow).
    pub(crate) fn note_refusal(&mut self, now: Instant) {
        self.last_refusal = Some(now);
    }

    /// Whether a 503 went out within the last 32 s (the longest its caller retransmits
    /// and then ACKs it, RFC 3261 timer B): only then can an ACK be for a refusal.
    pub(crate) fn refused_lately(&self, now: Instant) -> bool {
        self.last_refusal.is_some_and(|at| now.saturating_duration_since(at) <= Duration::from_secs(32))
    }

    /// Refuses one new request if the limit's bucket has no token for it (counted as
    /// refused); false when it would be admitted, leaving the token for
    /// [`Admission::admit_new_work`] to take.
    pub(crate) fn refuse_new_work(&mut self, now: Instant) -> bool {
        self.rate.roll(now, self.pressure);
        if self.rate.has_token(now) {
            return false;
        }
        self.rate.refused = self.rate.refused.saturating_add(1);
        true
    }

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

impl NewWorkRate {
    /// Ends the window when it is over, adjusting the limit: down while the backlog lasts,
    /// up while new work is still refused, lifted once a window refuses nothing.
    fn roll(&mut self, now: Instant, pressure: Pressure) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < WINDOW {
            return;
        }
        self.last_rate = f64::from(self.admitted) / elapsed.as_secs_f64();
        self.limit = match (self.limit, pressure) {
            (Some(limit), Pressure::High) => Some((limit * DECREASE).max(FLOOR)),
            (None, Pressure::High) => Some((self.last_rate * DECREASE).max(FLOOR)),
            (Some(_), Pressure::Normal) if self.refused == 0 => None,
            (Some(limit), Pressure::Normal) => Some(limit * INCREASE + INCREASE_STEP),
            (None, Pressure::Normal) => None,
        };
        self.window_start = Some(now);
        self.admitted = 0;
        self.refused = 0;
    }

    /// The rate admitted so far in the current window.
    fn current_rate(&self, now: Instant) -> f64 {
        let elapsed = self.window_start.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        f64::from(self.admitted) / elapsed.max(Duration::from_millis(10)).as_secs_f64()
    }

    fn impose(&mut self, now: Instant, limit: f64) {
        let limit = limit.max(FLOOR);
        self.limit = Some(limit);
        self.tokens = 0.0;
        self.tokens_at = Some(now);
    }

    /// One token from the limit's bucket (burst: 50 ms worth, at least one), or true
    /// when no limit is in force.
    fn take(&mut self, now: Instant) -> bool {
        if !self.has_token(now) {
            return false;
        }
        if self.limit.is_some() {
            self.tokens -= 1.0;
        }
        true
    }

    /// Refills the limit's bucket up to `now`; true when it holds a token (or no limit
    /// is in force).
    fn has_token(&mut self, now: Instant) -> bool {
        let Some(limit) = self.limit else { return true };
        let at = self.tokens_at.unwrap_or(now);
        let burst = (limit / 20.0).max(1.0);
        self.tokens = (self.tokens + now.saturating_duration_since(at).as_secs_f64() * limit).min(burst);
        self.tokens_at = Some(now);
        self.tokens >= 1.0
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock
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

    /// Offers `per_second` new requests evenly for `ms` milliseconds, the pressure coming
    /// from `backlog(admitted rate in the window)`; returns the admitted count.
    fn offer(a: &mut Admission, t: &mut Instant, per_second: u32, ms: u64, backlog: impl Fn(f64) -> bool) -> u32 {
        let step = Duration::from_secs(1) / per_second;
        let (end, mut admitted, mut in_window, mut window) = (*t + Duration::from_millis(ms), 0, 0u32, *t);
        while *t < end {
            if a.admit_new_work(*t) {
                admitted += 1;
                in_window += 1;
            }
            *t += step;
            if t.saturating_duration_since(window) >= Duration::from_millis(100) {
                let rate = f64::from(in_window) * 10.0;
                let p = if backlog(rate) { Pressure::High } else { Pressure::Normal };
                if p != a.pressure() {
                    a.set_pressure(*t, p);
                }
                (window, in_window) = (*t, 0);
            }
        }
        admitted
    }

    #[test]
    fn without_a_backlog_everything_is_admitted() {
        let (mut t, mut a) = (Instant::now(), Admission::default());
        assert_eq!(offer(&mut a, &mut t, 5_000, 2_000, |_| false), 10_000);
        assert_eq!(a.new_work_limit(), None);
    }

    #[test]
    fn offered_twice_or_five_times_the_capacity_about_the_capacity_is_admitted() {
        // A site that backlogs above 1,000 new calls a second.
        for offered in [2_000, 5_000] {
            let (mut t, mut a) = (Instant::now(), Admission::default());
            offer(&mut a, &mut t, offered, 3_000, |rate| rate > 1_000.0);
            let admitted = offer(&mut a, &mut t, offered, 10_000, |rate| rate > 1_000.0);
            assert!((7_500..=10_500).contains(&admitted), "{offered}/s offered: {admitted} admitted in 10 s");
        }
    }

    #[test]
    fn when_the_backlog_is_gone_the_limit_is_lifted() {
        let (mut t, mut a) = (Instant::now(), Admission::default());
        offer(&mut a, &mut t, 4_000, 2_000, |rate| rate > 1_000.0);
        assert!(a.new_work_limit().is_some());
        let admitted = offer(&mut a, &mut t, 4_000, 10_000, |_| false);
        assert_eq!(a.new_work_limit(), None, "lifted");
        assert!(admitted > 30_000, "{admitted}");
        assert_eq!(offer(&mut a, &mut t, 4_000, 1_000, |_| false), 4_000);
    }

    #[test]
    fn a_backlog_that_lasts_brings_the_rate_down_to_the_floor_not_to_zero() {
        let (mut t, mut a) = (Instant::now(), Admission::default());
        offer(&mut a, &mut t, 2_000, 10_000, |_| true);
        assert_eq!(a.new_work_limit(), Some(FLOOR));
        let admitted = offer(&mut a, &mut t, 2_000, 5_000, |_| true);
        assert!((90..=110).contains(&admitted), "{admitted}");
    }
}
