//! Authentication failures, counted twice: per source (an address that keeps guessing is
//! slowed to one request a second, then ignored for a while) and per DN (guesses at one
//! DN's password are bounded however many addresses they come from).
//!
//! Neither table can be filled to loosen the throttle, and each packet costs O(1):
//! - Sources (IPv4 addresses, IPv6 /64 networks) are at most [`MAX_SOURCES`]; each record
//!   has one entry in an expiry queue (made with it, moved to the back when a block
//!   outlives it), so room is made from the queue's front without a scan. The queue holds
//!   at most twice the table. When either is full of live records, a new source is not
//!   tracked, but its failures count [`UNTRACKED_WEIGHT`] times against the DN: stricter,
//!   not looser.
//! - DNs are only those with credentials (the configuration bounds them). A DN past
//!   `slow_after` failures takes one guess a second, past `block_after` none for
//!   `block_for`, except from the addresses that last proved its password
//!   ([`TRUSTED_PER_DN`] of them): a guesser cannot lock a registered phone out.
//!
//! A failure needs a nonce issued to the failing source (nonces are bound to it, see
//! `nonce.rs`), so a spoofed source cannot earn strikes for its victim.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most sources tracked at once.
pub(crate) const MAX_SOURCES: usize = 65_536;
/// How much a failure from an untracked source (the table was full) weighs on its DN.
const UNTRACKED_WEIGHT: u32 = 4;
/// Addresses per DN that proved its password lately and pass its throttle.
const TRUSTED_PER_DN: usize = 4;

/// What repeated failures cost a source, and a DN.
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

/// Failures of one source or one DN.
#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    since: Instant,
    last_try: Instant,
    blocked_until: Option<Instant>,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self { failures: 0, since: now, last_try: now, blocked_until: None }
    }

    /// When this record can be forgotten.
    fn expires(&self, throttle: &Throttle) -> Instant {
        let window_end = self.since + throttle.window;
        self.blocked_until.map_or(window_end, |b| b.max(window_end))
    }

    fn forgiven(&self, now: Instant, throttle: &Throttle) -> bool {
        self.expires(throttle) <= now
    }

    /// Counts `weight` failures; true when this one blocked it.
    fn fail(&mut self, now: Instant, throttle: &Throttle, weight: u32) -> bool {
        if self.forgiven(now, throttle) {
            *self = Self::new(now);
        }
        self.failures = self.failures.saturating_add(weight);
        self.last_try = now;
        if self.failures >= throttle.block_after && self.blocked_until.is_none() {
            self.blocked_until = Some(now + throttle.block_for);
            return true;
        }
        false
    }

    /// False when blocked, or slowed and tried less than a second ago (a try is taken).
    fn admits(&mut self, now: Instant, throttle: &Throttle) -> bool {
        if self.blocked_until.is_some_and(|t| t > now) {
            return false;
        }
        if self.failures >= throttle.slow_after {
            if now.saturating_duration_since(self.last_try) < Duration::from_secs(1) {
                return false;
            }
            self.last_try = now;
        }
        true
    }
}

/// The key a source is counted under: an IPv4 address, or an IPv6 /64 (one host owns a
/// whole /64, and could otherwise fill the table alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SourceKey {
    V4(u32),
    V6Net(u64),
}

impl From<IpAddr> for SourceKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(u32::from(v4)),
                None => Self::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// One DN's failures and the addresses that last proved its password.
#[derive(Debug)]
struct DnStrikes {
    record: Record,
    trusted: VecDeque<IpAddr>,
}

/// What [`Strikes::fail`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Struck {
    /// The source has just been blocked.
    pub(crate) source_blocked: bool,
    /// The DN has just been blocked (for untrusted addresses).
    pub(crate) dn_blocked: bool,
    /// The source table was full: the source is not tracked.
    pub(crate) untracked: bool,
}

/// Failures per source and per DN.
#[derive(Debug, Default)]
pub(crate) struct Strikes {
    /// Each source's record, with the id of its entry in `expiry`.
    by_source: HashMap<SourceKey, (u64, Record)>,
    /// One entry per record, in the order they were made: key, record id, and when the
    /// record expired when the entry was (re)queued. An entry whose id no longer matches
    /// is stale (its record went) and is dropped when met.
    expiry: VecDeque<(SourceKey, u64, Instant)>,
    next_id: u64,
    by_dn: HashMap<String, DnStrikes>,
}

impl Strikes {
    /// One more failure from `source`, for `dn` when it is a DN with credentials.
    pub(crate) fn fail(&mut self, source: IpAddr, dn: Option<&str>, now: Instant, throttle: &Throttle) -> Struck {
        let key = SourceKey::from(source);
        let mut struck = Struck::default();
        if let Some((_, record)) = self.by_source.get_mut(&key) {
            struck.source_blocked = record.fail(now, throttle, 1);
        } else if self.make_room(now, throttle) {
            let mut record = Record::new(now);
            struck.source_blocked = record.fail(now, throttle, 1);
            self.next_id += 1;
            self.expiry.push_back((key, self.next_id, record.expires(throttle)));
            self.by_source.insert(key, (self.next_id, record));
        } else {
            struck.untracked = true;
        }
        if let Some(dn) = dn {
            let entry = self.dn_entry(dn, now);
            let weight = if struck.untracked { UNTRACKED_WEIGHT } else { 1 };
            struck.dn_blocked = entry.record.fail(now, throttle, weight);
        }
        struck
    }

    /// `source` proved `dn`'s password: it passes the DN's throttle from now on.
    pub(crate) fn proved(&mut self, source: IpAddr, dn: &str, now: Instant) {
        // Every authenticated request comes here: no allocation when nothing changes.
        if self.by_dn.get(dn).is_some_and(|e| e.trusted.front() == Some(&source)) {
            return;
        }
        let entry = self.dn_entry(dn, now);
        entry.trusted.retain(|ip| *ip != source);
        entry.trusted.push_front(source);
        entry.trusted.truncate(TRUSTED_PER_DN);
    }

    /// False when `source` is blocked, or slowed and tried less than a second ago.
    pub(crate) fn admits(&mut self, source: IpAddr, now: Instant, throttle: &Throttle) -> bool {
        let key = SourceKey::from(source);
        let Some((_, record)) = self.by_source.get_mut(&key) else {
            return true;
        };
        if record.forgiven(now, throttle) {
            self.by_source.remove(&key);
            return true;
        }
        record.admits(now, throttle)
    }

    /// False when a guess at `dn`'s password from `source` must wait: the DN is blocked or
    /// slowed, and `source` is not one of the addresses that proved the password lately.
    pub(crate) fn admits_guess(&mut self, source: IpAddr, dn: &str, now: Instant, throttle: &Throttle) -> bool {
        let Some(entry) = self.by_dn.get_mut(dn) else {
            return true;
        };
        if entry.trusted.contains(&source) {
            return true;
        }
        if entry.record.forgiven(now, throttle) {
            entry.record = Record::new(now);
            return true;
        }
        entry.record.admits(now, throttle)
    }

    /// The DN's entry (DNs with credentials only: the configuration bounds them).
    fn dn_entry(&mut self, dn: &str, now: Instant) -> &mut DnStrikes {
        self.by_dn
            .entry(dn.to_owned())
            .or_insert_with(|| DnStrikes { record: Record::new(now), trusted: VecDeque::new() })
    }

    /// Sources tracked now.
    #[cfg(test)]
    pub(crate) fn sources(&self) -> usize {
        self.by_source.len()
    }

    /// Forgets expired sources from the front of the queue (amortised O(1): each record
    /// has one entry, met once per expiry); false if the table or the queue is still full.
    fn make_room(&mut self, now: Instant, throttle: &Throttle) -> bool {
        while let Some(&(key, id, expires)) = self.expiry.front() {
            if expires > now {
                break;
            }
            self.expiry.pop_front();
            match self.by_source.get(&key) {
                Some((live, r)) if *live == id && r.forgiven(now, throttle) => {
                    self.by_source.remove(&key);
                }
                Some((live, r)) if *live == id => {
                    // Blocked (or failing anew) since it was queued: back, at its new end.
                    let later = r.expires(throttle);
                    self.expiry.push_back((key, id, later));
                }
                Some(_) | None => {} // stale: its record went (forgiven on a lookup)
            }
        }
        self.by_source.len() < MAX_SOURCES && self.expiry.len() < 2 * MAX_SOURCES
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn a_guessing_source_is_slowed_then_blocked_then_forgiven() {
        let throttle = Throttle::default();
        let mut strikes = Strikes::default();
        let (source, other) = (ip("192.0.2.7"), ip("192.0.2.8"));
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(strikes.admits(source, t0, &throttle), "try {i}");
            assert!(!strikes.fail(source, None, t0, &throttle).source_blocked);
        }
        assert!(!strikes.admits(source, t0, &throttle), "slowed: not again within a second");
        assert!(strikes.admits(other, t0, &throttle), "others are not");
        let mut t = t0;
        let mut blocked = false;
        for _ in 5..20 {
            t += Duration::from_secs(1);
            assert!(strikes.admits(source, t, &throttle));
            blocked = strikes.fail(source, None, t, &throttle).source_blocked;
        }
        assert!(blocked, "the 20th failure blocks");
        assert!(!strikes.admits(source, t + Duration::from_secs(2), &throttle));
        assert!(!strikes.admits(source, t + Duration::from_secs(299), &throttle));
        assert!(strikes.admits(source, t + Duration::from_secs(301), &throttle), "forgiven after block_for");
    }

    /// Issue 21, finding 3: 65,536 sources with one failure each no longer open the door:
    /// the DN's own count slows and blocks guessing from any number of addresses, faster
    /// once the table is full, and the table frees room without a scan as records expire.
    #[test]
    fn a_full_source_table_makes_guessing_stricter_not_looser() {
        let throttle = Throttle::default();
        let mut strikes = Strikes::default();
        let t0 = Instant::now();
        for i in 0..MAX_SOURCES as u32 {
            let source = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            strikes.fail(source, None, t0, &throttle);
        }
        assert_eq!(strikes.sources(), MAX_SOURCES);
        // Untracked guessers at DN 1001: each failure weighs 4, so 5 of them block it.
        let mut blocked_after = None;
        for i in 0..10u32 {
            let guesser = IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 + i));
            let t = t0 + Duration::from_secs(u64::from(i) * 2);
            if !strikes.admits_guess(guesser, "1001", t, &throttle) {
                blocked_after = Some(i);
                break;
            }
            let struck = strikes.fail(guesser, Some("1001"), t, &throttle);
            assert!(struck.untracked, "the table is full");
        }
        assert_eq!(blocked_after, Some(5), "the DN is blocked after 5 untracked failures");
        // Once the first records expire, new sources are tracked again (room made from the
        // front of the queue, no scan).
        let later = t0 + throttle.window + Duration::from_secs(1);
        assert!(!strikes.fail(ip("198.51.100.1"), None, later, &throttle).untracked);
    }

    /// Issue 21, finding 4: the address that proved a DN's password is not locked out by
    /// guesses at the DN from elsewhere.
    #[test]
    fn a_blocked_dn_still_admits_the_phone_that_proved_its_password() {
        let throttle = Throttle::default();
        let mut strikes = Strikes::default();
        let t0 = Instant::now();
        let (phone, guesser) = (ip("192.0.2.10"), ip("203.0.113.9"));
        strikes.fail(phone, Some("1001"), t0, &throttle); // one typo, then the right one
        strikes.proved(phone, "1001", t0);
        for i in 0..20 {
            let t = t0 + Duration::from_secs(i);
            strikes.fail(IpAddr::V4(std::net::Ipv4Addr::from(0xcb00_7100 + i as u32)), Some("1001"), t, &throttle);
        }
        let t = t0 + Duration::from_secs(30);
        assert!(!strikes.admits_guess(guesser, "1001", t, &throttle), "the DN is blocked for others");
        assert!(strikes.admits_guess(phone, "1001", t, &throttle), "its phone goes on");
        assert!(strikes.admits_guess(guesser, "1002", t, &throttle), "other DNs are not");
    }

    /// A source failing once a window for hours keeps one queue entry, not one per window.
    #[test]
    fn a_source_failing_window_after_window_keeps_one_queue_entry() {
        let throttle = Throttle::default();
        let mut strikes = Strikes::default();
        let t0 = Instant::now();
        let source = ip("192.0.2.7");
        for w in 0..200u32 {
            let t = t0 + (throttle.window + Duration::from_secs(1)) * w;
            strikes.fail(source, None, t, &throttle);
            // A new source each window makes the table look for room.
            strikes.fail(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + w)), None, t, &throttle);
        }
        assert!(strikes.expiry.len() <= 4, "queue entries: {}", strikes.expiry.len());
    }

    #[test]
    fn an_ipv6_host_counts_as_its_slash_64() {
        let throttle = Throttle::default();
        let mut strikes = Strikes::default();
        let t0 = Instant::now();
        for i in 0..5u16 {
            let source = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
            strikes.fail(source, None, t0, &throttle);
        }
        assert_eq!(strikes.sources(), 1);
        assert!(!strikes.admits(ip("2001:db8:0:1::ffff"), t0, &throttle), "the whole /64 is slowed");
        assert!(strikes.admits(ip("2001:db8:0:2::1"), t0, &throttle));
    }
}
