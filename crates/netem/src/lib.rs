//! A sans-IO network emulator for tests: packets go in with a send time and come out
//! at their delivery time, after seeded loss, duplication, latency and jitter (which
//! also reorders). No clock is read; the caller passes `now` and asks for the next
//! delivery time, so a test can jump straight to it.

mod stepper;

pub use stepper::{run_for, step, Livelock, Stepped};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a link misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Probability that a packet is lost, 0.0-1.0.
    pub loss: f64,
    /// Probability that a delivered packet is delivered twice.
    pub duplicate: f64,
    /// Base one-way delay.
    pub latency: Duration,
    /// Extra random delay, uniformly 0..jitter; packets overtake each other when it exceeds their spacing.
    pub jitter: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self { loss: 0.0, duplicate: 0.0, latency: Duration::from_millis(10), jitter: Duration::ZERO }
    }
}

/// A packet in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<A> {
    /// Sender address.
    pub from: A,
    /// Receiver address.
    pub to: A,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// A shared medium between any number of addresses.
#[derive(Debug)]
pub struct Network<A> {
    config: LinkConfig,
    rng: ChaCha8Rng,
    in_flight: BTreeMap<(Instant, u64), Packet<A>>,
    seq: u64,
    partitioned: bool,
    blocked: std::collections::BTreeSet<(A, A)>,
    /// Packets dropped by loss or partition so far.
    pub dropped: u64,
}

impl<A: Clone + Ord> Network<A> {
    /// A network whose randomness comes only from `seed`.
    pub fn new(seed: u64, config: LinkConfig) -> Self {
        Self {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            in_flight: BTreeMap::new(),
            seq: 0,
            partitioned: false,
            blocked: std::collections::BTreeSet::new(),
            dropped: 0,
        }
    }

    /// Drops everything sent while `down` is true (a partition or a dead link).
    pub fn set_partitioned(&mut self, down: bool) {
        self.partitioned = down;
    }

    /// Cuts (or restores) the path between `a` and `b`, both ways.
    pub fn set_blocked(&mut self, a: A, b: A, blocked: bool) {
        if blocked {
            self.blocked.insert((a.clone(), b.clone()));
            self.blocked.insert((b, a));
        } else {
            self.blocked.remove(&(a.clone(), b.clone()));
            self.blocked.remove(&(b, a));
        }
    }

    /// Sends a packet at `now`.
    pub fn send(&mut self, now: Instant, from: A, to: A, bytes: Vec<u8>) {
        let cut = self.blocked.contains(&(from.clone(), to.clone()));
        if self.partitioned || cut || self.rng.gen_bool(self.config.loss.clamp(0.0, 1.0)) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.gen_bool(self.config.duplicate.clamp(0.0, 1.0)) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if self.config.jitter.is_zero() {
                Duration::ZERO
            } else {
                self.config.jitter.mul_f64(self.rng.gen::<f64>())
            };
            let at = now + self.config.latency + jitter;
            self.seq += 1;
            self.in_flight.insert((at, self.seq), Packet { from: from.clone(), to: to.clone(), bytes: bytes.clone() });
        }
    }

    /// When the next packet arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.first_key_value().map(|(&(at, _), _)| at)
    }

    /// A packet due at or before `now`.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Packet<A>> {
        let (&key, _) = self.in_flight.first_key_value()?;
        if key.0 > now {
            return None;
        }
        self.in_flight.remove(&key)
    }

    /// Packets still in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fate() {
        #[allow(clippy::disallowed_methods)] // the virtual clock may start anywhere: only differences count
        let start = Instant::now();
        let cfg = LinkConfig { loss: 0.3, duplicate: 0.2, jitter: Duration::from_millis(30), ..LinkConfig::default() };
        let run = |seed| {
            let mut n = Network::new(seed, cfg);
            for i in 0..100u8 {
                n.send(start, 1, 2, vec![i]);
            }
            let mut out = Vec::new();
            while let Some(p) = n.poll_deliver(start + Duration::from_secs(1)) {
                out.push(p.bytes[0]);
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let delivered = run(7).len();
        assert!(delivered > 50 && delivered < 110, "{delivered}");
    }
}
