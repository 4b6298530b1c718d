//! A microsecond probe of the engine task: how long each wake-up (one input or one UDP
//! batch, then the flush of its outputs) keeps the task busy. A long wake-up delays every
//! datagram queued behind it, which is what a tail latency is made of; sipp's own clock
//! moves in 4 ms steps here and cannot see below that.
//!
//! Each wake-up's CPU time (the thread's own clock) is kept beside its wall time: a long
//! wake-up that used little CPU was the thread waiting for a core (descheduled by the
//! kernel), not the engine working.

use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (the last is +Inf).
pub(crate) const BOUNDS_US: [u64; 11] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000];

/// Wake-up durations so far: cumulative bucket counts (Prometheus style), the sum, and
/// the longest since start and in the current second.
#[derive(Debug, Clone, Default)]
pub(crate) struct WakeLatency {
    /// `le[i]` counts wake-ups up to `BOUNDS_US[i]`; `count` is the +Inf bucket.
    pub(crate) le: [u64; BOUNDS_US.len()],
    pub(crate) count: u64,
    pub(crate) sum_us: u64,
    pub(crate) max_us: u64,
    /// The longest in the second being measured, then in the last whole second.
    pub(crate) second_max_us: u64,
    pub(crate) last_second_max_us: u64,
    /// The most CPU time one wake-up used.
    pub(crate) max_cpu_us: u64,
    /// Wake-ups over 5 ms of wall time that used less than half of it on the CPU.
    pub(crate) descheduled: u64,
}

/// The calling thread's CPU time so far (zero where the clock cannot be read).
pub(crate) fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

impl WakeLatency {
    /// One wake-up: `took` of wall time, `cpu` of the thread's CPU time.
    pub(crate) fn observe(&mut self, took: Duration, cpu: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let cpu_us = u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX);
        self.max_cpu_us = self.max_cpu_us.max(cpu_us);
        self.descheduled += u64::from(us > 5_000 && cpu_us < us / 2);
        for (bucket, bound) in self.le.iter_mut().zip(BOUNDS_US) {
            *bucket += u64::from(us <= bound);
        }
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.max_us = self.max_us.max(us);
        self.second_max_us = self.second_max_us.max(us);
    }

    /// Closes the current second (called once a second).
    pub(crate) fn tick(&mut self) {
        self.last_second_max_us = std::mem::take(&mut self.second_max_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_maxima_roll_per_second() {
        let mut w = WakeLatency::default();
        for us in [5, 30, 30, 4_000, 100_000] {
            w.observe(Duration::from_micros(us), Duration::from_micros(us.min(4_000)));
        }
        assert_eq!(w.le[0], 1);
        assert_eq!(w.le[2], 3, "up to 50 us");
        assert_eq!(w.le[BOUNDS_US.len() - 1], 4, "up to 25 ms");
        assert_eq!((w.count, w.max_us), (5, 100_000));
        assert_eq!((w.max_cpu_us, w.descheduled), (4_000, 1), "100 ms of wall, 4 ms of CPU");
        w.tick();
        assert_eq!((w.last_second_max_us, w.second_max_us), (100_000, 0));
    }

    #[test]
    fn the_thread_clock_moves_with_work() {
        let before = thread_cpu();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        assert!(thread_cpu() > before, "{x}");
    }
}
