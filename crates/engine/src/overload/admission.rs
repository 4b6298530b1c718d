//! How much new work a site admits under pressure (AIMD on the new-work rate, see the
//! parent module), and the per-source token buckets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Pressure;

/// Most source addresses tracked at once; past it, idle buckets are swept first.
const MAX_SOURCES: usize = 65_536;

/// One source's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The length of one measuring window of the new-work rate...
const WINDOW: Duration = Duration::from_millis(250);
/// ... while the pressure is [`Pressure::Severe`]: the queue overflows, so the limit
/// halves this often until it does not.
const SEVERE_WINDOW: Duration = Duration::from_millis(100);
/// Each window the backlog lasts, the admitted rate is multiplied by this...
const DECREASE: f64 = 0.85;
/// ... or by this while it is [`Pressure::Severe`].
const SEVERE_DECREASE: f64 = 0.5;
/// An escalation of the pressure cuts at once unless the last cut is more recent than this.
const MIN_CUT_GAP: Duration = Duration::from_millis(100);
/// Each window without a backlog while new work is still refused, the rate grows by this
/// factor...
const INCREASE: f64 = 1.08;
/// ... or by this while the engine has [`Pressure::Spare`] time...
const FAST_INCREASE: f64 = 1.25;
/// ... plus this many per second (so a rate near the floor recovers in seconds too).
const INCREASE_STEP: f64 = 20.0;
/// Growing back, the limit climbs by [`FAST_INCREASE`] up to this share of the ceiling.
const NEAR_CEILING: f64 = 0.9;
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
    /// The limit (or the rate admitted) when the last backlog began: growing back, the
    /// limit climbs fast to just under it, then probes past it gently, as TCP CUBIC does
    /// around its window before the last loss.
    ceiling: Option<f64>,
    tokens: f64,
    tokens_at: Option<Instant>,
}

impl Admission {
    /// The pressure the shell reported last.
    pub(crate) fn pressure(&self) -> Pressure {
        self.pressure
    }

    /// Notes the shell's pressure. A backlog beginning cuts at once: the first puts a
    /// limit just under the rate admitted so far; one while a limit is in force (it was
    /// growing back) cuts that limit and starts a new window, rather than letting the
    /// queue grow until the window ends.
    pub(crate) fn set_pressure(&mut self, now: Instant, pressure: Pressure) {
        let onset = pressure > self.pressure;
        let episode = onset && self.pressure <= Pressure::Normal;
        self.pressure = pressure;
        if pressure <= Pressure::Draining {
            return;
        }
        match self.rate.limit {
            None => {
                let admitted = self.rate.current_rate(now).max(self.rate.last_rate);
                self.rate.ceiling = Some(admitted);
                self.rate.impose(now, admitted * decrease(pressure));
            }
            Some(limit) if onset => {
                if episode {
                    self.rate.ceiling = Some(limit);
                }
                self.rate.cut(now, limit * decrease(pressure));
            }
            Some(_) => {}
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

/// What a window (or the onset) of `pressure` multiplies the admitted rate by.
fn decrease(pressure: Pressure) -> f64 {
    if pressure == Pressure::Severe {
        SEVERE_DECREASE
    } else {
        DECREASE
    }
}

impl NewWorkRate {
    /// Ends the window when it is over, adjusting the limit: down while the backlog lasts,
    /// up while new work is still refused, lifted once a window refuses nothing.
    fn roll(&mut self, now: Instant, pressure: Pressure) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < if pressure == Pressure::Severe { SEVERE_WINDOW } else { WINDOW } {
            return;
        }
        self.last_rate = f64::from(self.admitted) / elapsed.as_secs_f64();
        self.limit = match (self.limit, pressure) {
            (Some(limit), Pressure::High | Pressure::Severe) => Some((limit * decrease(pressure)).max(FLOOR)),
            (None, Pressure::High | Pressure::Severe) => Some((self.last_rate * decrease(pressure)).max(FLOOR)),
            (limit, Pressure::Draining) => limit,
            (Some(_), Pressure::Normal | Pressure::Spare) if self.refused == 0 => None,
            (Some(limit), Pressure::Spare) => Some(limit * FAST_INCREASE + INCREASE_STEP),
            (Some(limit), Pressure::Normal) => Some(self.grow_back(limit)),
            (None, Pressure::Normal | Pressure::Spare) => None,
        };
        self.window_start = Some(now);
        self.admitted = 0;
        self.refused = 0;
    }

    /// The next window's limit after `limit` without a backlog: fast up to near the
    /// ceiling, gently past it.
    fn grow_back(&self, limit: f64) -> f64 {
        let near = self.ceiling.map_or(0.0, |ceiling| ceiling * NEAR_CEILING);
        if limit < near {
            (limit * FAST_INCREASE + INCREASE_STEP).min(near)
        } else {
            limit * INCREASE + INCREASE_STEP
        }
    }

    /// The rate admitted so far in the current window.
    fn current_rate(&self, now: Instant) -> f64 {
        let elapsed = self.window_start.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        f64::from(self.admitted) / elapsed.max(Duration::from_millis(10)).as_secs_f64()
    }

    /// Puts the limit in force down to `limit` as a window under backlog does, and starts
    /// a new window; not again within [`MIN_CUT_GAP`] of the last cut.
    fn cut(&mut self, now: Instant, limit: f64) {
        if self.window_start.is_some_and(|start| now.saturating_duration_since(start) < MIN_CUT_GAP) {
            return;
        }
        self.limit = Some(limit.max(FLOOR));
        self.window_start = Some(now);
        self.admitted = 0;
        self.refused = 0;
    }

    /// Puts a limit in force (a new window begins with it) and empties its bucket.
    fn impose(&mut self, now: Instant, limit: f64) {
        let limit = limit.max(FLOOR);
        self.limit = Some(limit);
        self.tokens = 0.0;
        self.tokens_at = Some(now);
        self.window_start = Some(now);
        self.admitted = 0;
        self.refused = 0;
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
    fn a_backlog_returning_while_the_limit_grows_back_cuts_it_at_once() {
        let (t0, mut a) = (Instant::now(), Admission::default());
        let ms = Duration::from_millis;
        a.set_pressure(t0, Pressure::High);
        a.set_pressure(t0 + ms(300), Pressure::Normal);
        a.admit_new_work(t0 + ms(300));
        a.rate.limit = Some(1_000.0); // grown back to 1,000/s, still refusing some
        a.set_pressure(t0 + ms(420), Pressure::High);
        assert_eq!(a.new_work_limit(), Some(1_000.0 * DECREASE), "cut at the onset, not at the window's end");
        a.set_pressure(t0 + ms(430), Pressure::High);
        assert_eq!(a.new_work_limit(), Some(1_000.0 * DECREASE), "a backlog that goes on is cut once a window");
        a.admit_new_work(t0 + ms(420) + WINDOW);
        assert_eq!(a.new_work_limit(), Some(1_000.0 * DECREASE * DECREASE));
    }

    #[test]
    fn growing_back_the_limit_climbs_fast_to_near_where_the_backlog_began_then_gently() {
        let (t0, mut a) = (Instant::now(), Admission::default());
        a.admit_new_work(t0);
        a.rate.limit = Some(8_000.0);
        a.set_pressure(t0 + WINDOW, Pressure::Severe);
        assert_eq!(a.new_work_limit(), Some(4_000.0));
        a.set_pressure(t0 + WINDOW, Pressure::Normal);
        let mut limits = vec![];
        for window in 2..8 {
            a.rate.refused = 1; // some new work still refused in each window
            a.admit_new_work(t0 + WINDOW * window);
            limits.push(a.new_work_limit().expect("a limit").round());
        }
        let near = 8_000.0 * NEAR_CEILING;
        assert_eq!(limits[..3], [5_020.0, 6_295.0, near], "25 % a window, up to 90 % of 8,000");
        assert_eq!(limits[3], (near * INCREASE + INCREASE_STEP).round(), "then 8 %");
    }

    #[test]
    fn a_draining_backlog_holds_the_limit_and_spare_time_grows_it_fast() {
        let (t0, mut a) = (Instant::now(), Admission::default());
        a.admit_new_work(t0);
        a.rate.limit = Some(1_000.0);
        a.set_pressure(t0, Pressure::Draining);
        for window in 1..4 {
            a.rate.refused = 1;
            a.admit_new_work(t0 + WINDOW * window);
            assert_eq!(a.new_work_limit(), Some(1_000.0), "held in window {window}");
        }
        a.set_pressure(t0 + WINDOW * 3, Pressure::Spare);
        a.rate.refused = 1;
        a.admit_new_work(t0 + WINDOW * 4);
        assert_eq!(a.new_work_limit(), Some(1_000.0 * FAST_INCREASE + INCREASE_STEP));
        a.admit_new_work(t0 + WINDOW * 5);
        assert_eq!(a.new_work_limit(), None, "a window that refused nothing lifts it");
    }

    #[test]
    fn a_severe_backlog_halves_the_limit_at_once_and_each_window() {
        let (t0, mut a) = (Instant::now(), Admission::default());
        let ms = Duration::from_millis;
        let admitted = (0..3_000).filter(|i| a.admit_new_work(t0 + ms(i / 30))).count();
        assert_eq!(admitted, 3_000, "30,000/s admitted while no backlog shows");
        a.set_pressure(t0 + ms(100), Pressure::Severe);
        let first = a.new_work_limit().expect("a limit");
        assert!((14_000.0..=16_000.0).contains(&first), "half the 30,000/s admitted: {first}");
        a.set_pressure(t0 + ms(120), Pressure::High);
        a.set_pressure(t0 + ms(130), Pressure::Severe);
        assert_eq!(a.new_work_limit(), Some(first), "no second cut within 50 ms");
        a.admit_new_work(t0 + ms(100) + WINDOW);
        assert_eq!(a.new_work_limit(), Some(first / 2.0), "halved again after a window");
        a.set_pressure(t0 + ms(400), Pressure::High);
        a.admit_new_work(t0 + ms(100) + WINDOW * 2);
        assert_eq!(a.new_work_limit(), Some(first / 2.0 * DECREASE), "High cuts by the usual factor");
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
