//! What a CTI client may cost before it has proved anything: guesses at tokens (per
//! source address) and at agent passwords (per agent and per source) are slowed to one
//! every [`SLOW_GAP`] after [`SLOW_AFTER`] failures within [`WINDOW`]; argon2 checks run
//! at most [`ARGON2_AT_ONCE`] at a time (each takes tens of milliseconds and megabytes
//! on purpose: 160 at once once peaked at 2.36 GB); a desktop token holds at most
//! [`CONNECTIONS_PER_DESKTOP_TOKEN`] connections. The failure table is bounded (sources
//! are keyed by IPv4 address or IPv6 /64, see [`source_key`]); when it is full of live
//! entries, new keys share one record (stricter, not looser), and expired entries are
//! swept at most once a second, never on every packet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Failures within [`WINDOW`] after which a key gets one try every [`SLOW_GAP`].
const SLOW_AFTER: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);
const SLOW_GAP: Duration = Duration::from_secs(2);
/// Keys remembered at once.
const MAX_KEYS: usize = 10_000;
/// The record new keys share while the table is full of live ones.
const CROWD: &str = "crowd";
/// Least time between two sweeps of expired keys.
const SWEEP_GAP: Duration = Duration::from_secs(1);
/// argon2 checks running at once, and how long a login waits for a turn.
const ARGON2_AT_ONCE: usize = 2;
const ARGON2_WAIT: Duration = Duration::from_secs(5);
/// Connections one desktop token may hold (an agent's desktop and agent page, twice over).
pub(crate) const CONNECTIONS_PER_DESKTOP_TOKEN: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    last_try: Instant,
}

impl Failures {
    fn new(now: Instant) -> Self {
        Self { count: 0, since: now, last_try: now }
    }

    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= WINDOW
    }
}

/// Failures by key, bounded.
#[derive(Debug, Default)]
struct Table {
    by_key: HashMap<String, Failures>,
    last_sweep: Option<Instant>,
}

impl Table {
    /// The key a new entry goes under: `key` while there is room (after a sweep, at most
    /// once per [`SWEEP_GAP`]), else the shared [`CROWD`].
    fn slot<'k>(&mut self, key: &'k str, now: Instant) -> &'k str {
        if self.by_key.contains_key(key) || self.by_key.len() < MAX_KEYS {
            return key;
        }
        if self.last_sweep.is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_GAP) {
            self.last_sweep = Some(now);
            self.by_key.retain(|_, f| !f.expired(now));
        }
        if self.by_key.len() < MAX_KEYS {
            key
        } else {
            CROWD
        }
    }
}

/// The key a source address is counted under: an IPv4 address, or an IPv6 /64 (one host
/// owns a whole /64 and could otherwise fill the table alone).
pub(crate) fn source_key(kind: &str, ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{kind}:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        std::net::IpAddr::V6(v6) => format!("{kind}:{}", v6.to_canonical()),
        std::net::IpAddr::V4(v4) => format!("{kind}:{v4}"),
    }
}

/// The guard of one CTI server.
#[derive(Debug, Clone)]
pub(crate) struct CtiGuard {
    failures: Arc<Mutex<Table>>,
    argon2: Arc<Semaphore>,
    per_token: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for CtiGuard {
    fn default() -> Self {
        Self { failures: Arc::default(), argon2: Arc::new(Semaphore::new(ARGON2_AT_ONCE)), per_token: Arc::default() }
    }
}

/// A desktop token's connection, given back when dropped.
#[derive(Debug)]
pub(crate) struct TokenSlot {
    per_token: Arc<Mutex<HashMap<String, usize>>>,
    token: String,
}

impl Drop for TokenSlot {
    fn drop(&mut self) {
        let Ok(mut open) = self.per_token.lock() else { return };
        if let Some(n) = open.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}

impl CtiGuard {
    /// False when `key` failed too often lately and tried less than [`SLOW_GAP`] ago (a
    /// try is taken when true).
    pub(crate) fn admits(&self, key: &str, now: Instant) -> bool {
        let Ok(mut table) = self.failures.lock() else { return false };
        let key = table.slot(key, now);
        let Some(f) = table.by_key.get_mut(key) else {
            return true;
        };
        if f.expired(now) {
            table.by_key.remove(key);
            return true;
        }
        if f.count < SLOW_AFTER {
            return true;
        }
        if now.saturating_duration_since(f.last_try) < SLOW_GAP {
            return false;
        }
        f.last_try = now;
        true
    }

    /// `key` failed once more.
    pub(crate) fn failed(&self, key: &str, now: Instant) {
        let Ok(mut table) = self.failures.lock() else { return };
        let key = table.slot(key, now);
        let f = table.by_key.entry(key.to_owned()).or_insert_with(|| Failures::new(now));
        if f.expired(now) {
            *f = Failures::new(now);
        }
        f.count += 1;
        f.last_try = now;
    }

    /// Checks `password` against the argon2 `hash` on a blocking thread, waiting for one
    /// of the few turns; false when it does not match or no turn came in time.
    pub(crate) async fn password_matches(&self, hash: String, password: String) -> bool {
        let Ok(Ok(permit)) = tokio::time::timeout(ARGON2_WAIT, self.argon2.clone().acquire_owned()).await else {
            tracing::warn!("agent password check refused: argon2 checks busy");
            return false;
        };
        let matched = tokio::task::spawn_blocking(move || crate::cti_access::password_matches(&hash, &password)).await;
        drop(permit);
        matched.unwrap_or(false)
    }

    /// A connection slot for desktop token `token`, if it holds fewer than its share.
    pub(crate) fn desktop_slot(&self, token: &str) -> Option<TokenSlot> {
        let Ok(mut open) = self.per_token.lock() else { return None };
        let n = open.entry(token.to_owned()).or_default();
        if *n >= CONNECTIONS_PER_DESKTOP_TOKEN {
            return None;
        }
        *n += 1;
        Some(TokenSlot { per_token: self.per_token.clone(), token: token.to_owned() })
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick their own starting instant
mod tests {
    use super::*;

    #[test]
    fn a_guessing_key_is_slowed_and_forgiven_after_the_window() {
        let guard = CtiGuard::default();
        let t0 = Instant::now();
        for _ in 0..SLOW_AFTER {
            assert!(guard.admits("ip:192.0.2.1", t0));
            guard.failed("ip:192.0.2.1", t0);
        }
        assert!(!guard.admits("ip:192.0.2.1", t0), "slowed");
        assert!(guard.admits("ip:192.0.2.2", t0), "others are not");
        assert!(guard.admits("ip:192.0.2.1", t0 + SLOW_GAP), "one try per gap");
        assert!(!guard.admits("ip:192.0.2.1", t0 + SLOW_GAP), "and only one");
        assert!(guard.admits("ip:192.0.2.1", t0 + WINDOW), "forgiven");
    }

    #[test]
    fn a_full_table_puts_new_keys_under_one_shared_record_and_sweeps_rarely() {
        let guard = CtiGuard::default();
        let t0 = Instant::now();
        for i in 0..MAX_KEYS {
            guard.failed(&format!("ip:{i}"), t0);
        }
        for i in 0..SLOW_AFTER {
            assert!(guard.admits(&format!("ip:new{i}"), t0), "new keys while full: the crowd's tries");
            guard.failed(&format!("ip:new{i}"), t0);
        }
        assert!(!guard.admits("ip:another", t0), "the crowd is slowed: stricter, not looser");
        assert!(guard.admits("ip:another", t0 + WINDOW), "swept after the window: room again");
    }

    #[test]
    fn an_ipv6_host_is_keyed_by_its_slash_64() {
        let a = source_key("ip", "2001:db8:0:1::5".parse().expect("ip"));
        assert_eq!(a, source_key("ip", "2001:db8:0:1:ffff::9".parse().expect("ip")));
        assert_ne!(a, source_key("ip", "2001:db8:0:2::5".parse().expect("ip")));
        assert_eq!(source_key("pw", "192.0.2.1".parse().expect("ip")), "pw:192.0.2.1");
    }

    #[test]
    fn a_desktop_token_holds_its_share_of_connections_only() {
        let guard = CtiGuard::default();
        let held: Vec<TokenSlot> = (0..CONNECTIONS_PER_DESKTOP_TOKEN).filter_map(|_| guard.desktop_slot("t")).collect();
        assert_eq!(held.len(), CONNECTIONS_PER_DESKTOP_TOKEN);
        assert!(guard.desktop_slot("t").is_none());
        assert!(guard.desktop_slot("u").is_some(), "another token");
        drop(held);
        assert!(guard.desktop_slot("t").is_some(), "given back");
    }
}
