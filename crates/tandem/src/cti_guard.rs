//! What a CTI client may cost before it has proved anything: guesses at tokens (per
//! source address) and at agent passwords (per agent and per source) are slowed to one
//! every [`SLOW_GAP`] after [`SLOW_AFTER`] failures within [`WINDOW`]; argon2 checks run
//! at most [`ARGON2_AT_ONCE`] at a time (each takes tens of milliseconds and megabytes
//! on purpose: 160 at once once peaked at 2.36 GB); a desktop token holds at most
//! [`CONNECTIONS_PER_DESKTOP_TOKEN`] connections. The failure table is bounded; when it
//! is full of live entries, every new key counts as slowed (stricter, not looser).

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

/// The guard of one CTI server.
#[derive(Debug, Clone)]
pub(crate) struct CtiGuard {
    failures: Arc<Mutex<HashMap<String, Failures>>>,
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
        let Some(f) = table.get_mut(key) else {
            return table.len() < MAX_KEYS || forget_expired(&mut table, now);
        };
        if now.saturating_duration_since(f.since) >= WINDOW {
            table.remove(key);
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
        if !table.contains_key(key) && table.len() >= MAX_KEYS && !forget_expired(&mut table, now) {
            return; // full of live keys: new keys are refused by `admits` anyway
        }
        let f = table.entry(key.to_owned()).or_insert(Failures { count: 0, since: now, last_try: now });
        if now.saturating_duration_since(f.since) >= WINDOW {
            *f = Failures { count: 0, since: now, last_try: now };
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

/// Drops entries whose window has passed; true if that made room.
fn forget_expired(table: &mut HashMap<String, Failures>, now: Instant) -> bool {
    table.retain(|_, f| now.saturating_duration_since(f.since) < WINDOW);
    table.len() < MAX_KEYS
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
