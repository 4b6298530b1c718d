//! Authentication failures per source address: a source that keeps guessing is slowed
//! to one request a second, then ignored for a while. Bounded: at most
//! [`MAX_SOURCES`] addresses are tracked; past it, forgiven sources are forgotten first,
//! and new ones are not tracked until there is room.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const MAX_SOURCES: usize = 65_536;

/// What repeated failures cost a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures within `window` after which the source may try once a second (default 5).
    pub slow_after: u32,
    /// Failures within `window` after which it is ignored for `block_for` (default 20).
    pub block_after: u32,
    /// How long failures are remembered (default 60 s).
    pub window: Duration,
    /// How long a blocked source is ignored (default 300 s).
    pub block_for: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self { slow_after: 5, block_after: 20, window: Duration::from_secs(60), block_for: Duration::from_secs(300) }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    since: Instant,
    last_try: Instant,
    blocked_until: Option<Instant>,
}

impl Record {
    fn forgiven(&self, now: Instant, throttle: &Throttle) -> bool {
        self.blocked_until.is_none_or(|t| t <= now) && now.saturating_duration_since(self.since) >= throttle.window
    }
}

/// Failures per source.
#[derive(Debug, Default)]
pub(crate) struct Strikes {
    by_source: BTreeMap<IpAddr, Record>,
}

impl Strikes {
    /// One more failure from `source`; true when it has just been blocked.
    pub(crate) fn fail(&mut self, source: IpAddr, now: Instant, throttle: &Throttle) -> bool {
        if !self.by_source.contains_key(&source) && !self.make_room(now, throttle) {
            return false;
        }
        let record = self.by_source.entry(source).or_insert(Record {
            failures: 0,
            since: now,
            last_try: now,
            blocked_until: None,
        });
        if record.forgiven(now, throttle) {
            *record = Record { failures: 0, since: now, last_try: now, blocked_until: None };
        }
        record.failures += 1;
        record.last_try = now;
        if record.failures >= throttle.block_after && record.blocked_until.is_none() {
            record.blocked_until = Some(now + throttle.block_for);
            return true;
        }
        false
    }

    /// False when `source` is blocked, or slowed and tried less than a second ago.
    pub(crate) fn admits(&mut self, source: IpAddr, now: Instant, throttle: &Throttle) -> bool {
        let Some(record) = self.by_source.get_mut(&source) else {
            return true;
        };
        if record.forgiven(now, throttle) {
            self.by_source.remove(&source);
            return true;
        }
        if record.blocked_until.is_some_and(|t| t > now) {
            return false;
        }
        if record.failures >= throttle.slow_after {
            if now.saturating_duration_since(record.last_try) < Duration::from_secs(1) {
                return false;
            }
            record.last_try = now;
        }
        true
    }

    /// Forgets forgiven sources when the table is full; false if it is still full.
    fn make_room(&mut self, now: Instant, throttle: &Throttle) -> bool {
        if self.by_source.len() < MAX_SOURCES {
            return true;
        }
        self.by_source.retain(|_, r| !r.forgiven(now, throttle));
        self.by_source.len() < MAX_SOURCES
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock
mod tests {
    use super::*;

    #[test]
    fn a_guessing_source_is_slowed_then_blocked_then_forgiven() {
        let throttle = Throttle::default();
        let mut strikes = Strikes::default();
        let source: IpAddr = "192.0.2.7".parse().expect("ip");
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(strikes.admits(source, t0, &throttle), "try {i}");
            assert!(!strikes.fail(source, t0, &throttle));
        }
        assert!(!strikes.admits(source, t0, &throttle), "slowed: not again within a second");
        assert!(strikes.admits(other, t0, &throttle), "others are not");
        let mut t = t0;
        let mut blocked = false;
        for _ in 5..20 {
            t += Duration::from_secs(1);
            assert!(strikes.admits(source, t, &throttle));
            blocked = strikes.fail(source, t, &throttle);
        }
        assert!(blocked, "the 20th failure blocks");
        assert!(!strikes.admits(source, t + Duration::from_secs(2), &throttle));
        assert!(!strikes.admits(source, t + Duration::from_secs(299), &throttle));
        assert!(strikes.admits(source, t + Duration::from_secs(301), &throttle), "forgiven after block_for");
    }
}
