//! What the input shows: the shell's measurements of its UDP socket and of its own busy
//! time, turned into a [`Pressure`].
//!
//! **The backlog signal** says [`Pressure::High`], and new work is shed by rate, when
//! either
//! - a standing queue: every batch for 100 ms found its oldest datagram queued 10 ms or
//!   longer (the kernel's receive timestamp, `SO_TIMESTAMPNS`; CoDel's test of a queue
//!   that does not drain, RFC 8289). This fires while the 4 MiB queue (60-90 ms of input
//!   at 5x the knee) is still far from full; or
//! - without receive timestamps, the socket is never found empty for 100 ms (every batch
//!   came back full). With them this says little: at 5x the knee most batches are full
//!   whatever the admitted rate.
//!
//! While it shows, a queue that keeps growing past 40 ms, or a batch that comes with
//! datagrams the kernel dropped for a full queue, makes it [`Pressure::Severe`]: the
//! limit halves every 100 ms instead of being cut by 15 % every 250 ms. The kernel drops
//! whatever datagram comes next, of calls already accepted too, and each one costs its
//! call a retransmission wait (0.5 s and more): at 5x the knee, before, the site took two
//! seconds of 15 % cuts to get under its capacity, its queue overflowing all along
//! (80,000-120,000 drops a 10 s run), and the accepted calls' p99 INVITE->200 was 3-6 s.
//!
//! A queue that shortens (by 2 ms or more over 50 ms) is [`Pressure::Draining`]: the cuts
//! made work, and the limit is held. So is a backlog while the engine got less than half
//! of the last 100 ms on the CPU (the host or other processes had it): cutting would not
//! bring the CPU back.
//!
//! It clears when a batch finds a queue shorter than 10 ms and empties the socket; it is
//! then [`Pressure::Spare`] when the engine task was busy less than 75 % of the last
//! 100 ms (every wake-up counts, [`LoadSignal::busy`]), so a limit cut deep grows back
//! fast. One late batch is no backlog: a moment off the CPU leaves a few waiting.
//!
//! (The kernel's drop count was also tried as a backlog signal, high at once for 250 ms
//! after a drop: at 5x the knee it cut goodput by a third in three runs of three, the
//! limit shrinking on every burst, so alone it only counts.)

use std::time::{Duration, Instant};

use super::Pressure;

/// How long batches must keep coming back full before that is a backlog (a burst of
/// arrivals, or the task losing the CPU for a moment, fills a few batches and is not one).
const BACKLOG_FOR_HIGH: Duration = Duration::from_millis(100);
/// A batch whose oldest datagram waited this long in the kernel's queue found a queue...
const QUEUED_TARGET: Duration = Duration::from_millis(10);
/// ... and batches finding one for this long are a standing queue.
const STANDING_FOR: Duration = Duration::from_millis(100);
/// The engine's busy share is measured over this long...
const BUSY_WINDOW: Duration = Duration::from_millis(100);
/// ... and under this share, with no backlog, it has [`Pressure::Spare`] time...
const SPARE_BUSY: f64 = 0.75;
/// ... while with less CPU time than this share it was starved of the CPU (other
/// processes, the host): a backlog then is no reason to cut the limit, which would not
/// bring the CPU back (after a 140 ms stall the limit was halved down to the floor).
const STARVED_CPU: f64 = 0.5;
/// The queue's trend compares waits this far apart...
const TREND_EVERY: Duration = Duration::from_millis(50);
/// ... and a wait this much shorter than the last sample is a queue draining.
const DRAINING_BY: Duration = Duration::from_millis(2);
/// A backlog whose oldest datagram waited this long, and longer than the last sample, is
/// severe.
const SEVERE_WAIT: Duration = Duration::from_millis(40);

/// What one read of the site's UDP socket found, as the shell measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntakeBatch {
    /// Datagrams taken.
    pub taken: usize,
    /// Whether the read filled its batch (the socket may hold more); false: it emptied
    /// the socket.
    pub full: bool,
    /// How long the oldest datagram waited in the kernel's queue, when the socket gives
    /// receive timestamps.
    pub waited: Option<Duration>,
    /// Whether the kernel dropped datagrams (a full queue) since the last read.
    pub dropped: bool,
}

/// The backlog state and the engine's busy share: measurements in, [`Pressure`] out.
#[derive(Debug, Default)]
pub(crate) struct LoadSignal {
    backlog: Backlog,
    busy: BusyShare,
}

impl LoadSignal {
    /// Counts one wake-up of the engine task: `took` of wall time, `cpu` of it on the CPU.
    pub(crate) fn busy(&mut self, took: Duration, cpu: Duration) {
        self.busy.took += took;
        self.busy.cpu += cpu;
    }

    /// Notes a batch read at `now`; the pressure it shows, given the pressure in force.
    pub(crate) fn batch(&mut self, now: Instant, read: IntakeBatch, current: Pressure) -> Pressure {
        self.busy.roll(now);
        let backlog = self.backlog.note(now, read, current.max(Pressure::Normal));
        with_busy_share(backlog, self.busy.spare, self.busy.starved)
    }
}

/// The engine task's time in wake-ups since `since`, the CPU time it got in them, and
/// what the last complete window showed.
#[derive(Debug, Default)]
struct BusyShare {
    took: Duration,
    cpu: Duration,
    since: Option<Instant>,
    /// Busy less than [`SPARE_BUSY`] of the last window...
    spare: bool,
    /// ... and on the CPU less than [`STARVED_CPU`] of it.
    starved: bool,
}

impl BusyShare {
    fn roll(&mut self, now: Instant) {
        let since = *self.since.get_or_insert(now);
        let window = now.saturating_duration_since(since);
        if window >= BUSY_WINDOW {
            self.spare = self.took.as_secs_f64() < SPARE_BUSY * window.as_secs_f64();
            self.starved = self.cpu.as_secs_f64() < STARVED_CPU * window.as_secs_f64();
            (self.took, self.cpu, self.since) = (Duration::ZERO, Duration::ZERO, Some(now));
        }
    }
}

/// Whether the socket has been left non-empty for long: the backlog signal.
#[derive(Debug, Default)]
struct Backlog {
    /// Since when every batch came back full (the socket was never emptied).
    full_since: Option<Instant>,
    /// Since when every batch's oldest datagram had waited [`QUEUED_TARGET`] or longer.
    queued_since: Option<Instant>,
    /// The wait last sampled for the trend, and when; whether it grew since the sample before.
    sampled: Option<(Instant, Duration)>,
    trend: Trend,
}

/// Where the queue's wait went between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Trend {
    Growing,
    /// Neither: a queue that stands is a backlog as much as one that grows.
    #[default]
    Flat,
    /// Shorter by [`DRAINING_BY`] or more.
    Draining,
}

impl Backlog {
    /// Notes a batch `read` at `now`; returns the pressure it shows (`current` while
    /// neither signal has decided).
    fn note(&mut self, now: Instant, read: IntakeBatch, current: Pressure) -> Pressure {
        let IntakeBatch { full, waited, dropped, .. } = read;
        let queued = waited.is_some_and(|w| w >= QUEUED_TARGET);
        let standing = Self::lasted(&mut self.queued_since, queued, now, STANDING_FOR);
        // Without receive timestamps, a socket never emptied stands for a standing queue
        // (with them it says little: at 5x the knee most batches are full at any limit).
        let full_long = Self::lasted(&mut self.full_since, full && waited.is_none(), now, BACKLOG_FOR_HIGH);
        let trend = self.trend(now, waited);
        let backlog = standing || full_long;
        if backlog && (dropped || (trend == Trend::Growing && waited.is_some_and(|w| w >= SEVERE_WAIT))) {
            Pressure::Severe
        } else if standing && trend == Trend::Draining {
            Pressure::Draining
        } else if backlog {
            Pressure::High
        } else if !full && !queued {
            Pressure::Normal
        } else {
            current
        }
    }

    /// Where the queue's wait is going: `waited` against the wait sampled
    /// [`TREND_EVERY`] before (one sample per period; between samples, the last answer).
    /// A long queue that drains is no reason to cut further: the cut already made works.
    fn trend(&mut self, now: Instant, waited: Option<Duration>) -> Trend {
        let Some(waited) = waited else { return Trend::Flat };
        match self.sampled {
            Some((at, _)) if now.saturating_duration_since(at) < TREND_EVERY => {}
            before => {
                self.trend = match before {
                    Some((_, before)) if waited > before => Trend::Growing,
                    Some((_, before)) if waited + DRAINING_BY < before => Trend::Draining,
                    _ => Trend::Flat,
                };
                self.sampled = Some((now, waited));
            }
        }
        self.trend
    }

    /// Whether `holds` has held at every note for `long` (`since` keeps when it began).
    fn lasted(since: &mut Option<Instant>, holds: bool, now: Instant, long: Duration) -> bool {
        if !holds {
            *since = None;
            return false;
        }
        now.saturating_duration_since(*since.get_or_insert(now)) >= long
    }
}

/// The pressure to report for what the queue shows (`backlog`), given whether the engine
/// had spare time and whether it was starved of the CPU in the last busy window.
fn with_busy_share(backlog: Pressure, spare: bool, starved: bool) -> Pressure {
    match backlog {
        Pressure::Normal if spare => Pressure::Spare,
        Pressure::High | Pressure::Severe if starved => Pressure::Draining,
        Pressure::Spare | Pressure::Normal | Pressure::Draining | Pressure::High | Pressure::Severe => backlog,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `taken` of a 64-datagram read.
    fn read(taken: usize, waited: Option<Duration>) -> IntakeBatch {
        IntakeBatch { taken, full: taken >= 64, waited, dropped: false }
    }

    #[allow(clippy::disallowed_methods)] // the test picks its own starting instant
    fn start() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_timestamps_a_socket_never_emptied_for_100_ms_is_a_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        assert_eq!(b.note(t0, read(64, None), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(99), read(64, None), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(100), read(64, None), Pressure::Normal), Pressure::High);
        assert_eq!(b.note(t0 + ms(101), read(63, None), Pressure::High), Pressure::Normal, "emptied: no backlog");
    }

    #[test]
    fn with_timestamps_full_batches_of_short_waits_are_no_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        for i in 0..400 {
            let pressure = b.note(t0 + ms(i), read(64, Some(ms(2))), Pressure::Normal);
            assert_eq!(pressure, Pressure::Normal, "{i} ms of full batches");
        }
    }

    #[test]
    fn a_queue_standing_for_100_ms_is_a_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        let late = Some(QUEUED_TARGET);
        assert_eq!(b.note(t0, read(32, late), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(99), read(32, late), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(100), read(32, late), Pressure::Normal), Pressure::High, "standing 100 ms");
        assert_eq!(b.note(t0 + ms(101), read(64, Some(ms(1))), Pressure::High), Pressure::High, "a full batch");
        assert_eq!(b.note(t0 + ms(102), read(32, Some(ms(1))), Pressure::High), Pressure::Normal, "short, emptied");
    }

    #[test]
    fn a_backlog_growing_past_40_ms_or_overflowing_is_severe_and_one_draining_is_cut_no_more() {
        let (t0, mut b) = (start(), Backlog::default());
        let mut at = t0;
        let mut note = |b: &mut Backlog, wait: u64, dropped: bool| {
            at += ms(25);
            b.note(at, IntakeBatch { taken: 64, full: true, waited: Some(ms(wait)), dropped }, Pressure::Normal)
        };
        for wait in [10, 15, 20, 25] {
            assert_eq!(note(&mut b, wait, false), Pressure::Normal, "{wait} ms: not standing 100 ms yet");
        }
        assert_eq!(note(&mut b, 30, false), Pressure::High, "standing");
        assert_eq!(note(&mut b, 45, false), Pressure::Severe, "growing past 40 ms");
        assert_eq!(note(&mut b, 60, false), Pressure::Severe);
        assert_eq!(note(&mut b, 55, false), Pressure::Severe, "the trend is sampled every 50 ms");
        assert_eq!(note(&mut b, 50, false), Pressure::Draining, "draining: the cuts made work");
        assert_eq!(note(&mut b, 45, true), Pressure::Severe, "the kernel dropped datagrams");
        assert_eq!(note(&mut b, 20, false), Pressure::Draining);
        assert_eq!(note(&mut b, 20, false), Pressure::Draining, "sampled 25 ms ago");
        assert_eq!(note(&mut b, 20, false), Pressure::High, "a queue that stands is a backlog");
    }

    #[test]
    fn spare_time_grows_the_limit_fast_and_a_starved_engine_holds_it() {
        assert_eq!(with_busy_share(Pressure::Normal, true, false), Pressure::Spare);
        assert_eq!(with_busy_share(Pressure::Normal, false, false), Pressure::Normal);
        for backlog in [Pressure::High, Pressure::Severe] {
            assert_eq!(with_busy_share(backlog, false, true), Pressure::Draining, "{backlog:?}, off the CPU");
            assert_eq!(with_busy_share(backlog, false, false), backlog);
        }
    }

    #[test]
    fn the_busy_share_of_the_last_window_decides_spare_and_starved() {
        let (t0, mut s) = (start(), LoadSignal::default());
        let quiet = read(3, None);
        assert_eq!(s.batch(t0, quiet, Pressure::Normal), Pressure::Normal, "no window measured yet");
        s.busy(ms(50), ms(50));
        assert_eq!(s.batch(t0 + ms(100), quiet, Pressure::Normal), Pressure::Spare, "busy half the window");
        s.busy(ms(90), ms(90));
        assert_eq!(s.batch(t0 + ms(200), quiet, Pressure::Spare), Pressure::Normal, "busy 90 %");
    }

    #[test]
    fn a_late_batch_between_short_waits_is_no_backlog() {
        // A moment off the CPU leaves a few batches late; a queue that drains in between
        // is no overload however often it happens.
        let (t0, mut b) = (start(), Backlog::default());
        let mut pressure = Pressure::Normal;
        for i in 0..1_000u32 {
            let at = t0 + Duration::from_micros(u64::from(i) * 500);
            let waited = ms(if i % 20 == 0 { 1 } else { 60 });
            pressure = b.note(at, read(32, Some(waited)), pressure);
            assert_eq!(pressure, Pressure::Normal, "wake-up {i}");
        }
    }

    #[test]
    fn full_batches_between_emptied_sockets_are_no_backlog() {
        // At tens of thousands of datagrams a second most wake-ups find a full batch, yet
        // the engine keeps up: the next read empties the socket. (The old rule reset only
        // on a batch under a quarter full and shed half the calls of a site at 60 % CPU.)
        let (t0, mut b) = (start(), Backlog::default());
        let mut pressure = Pressure::Normal;
        for i in 0..1_000u32 {
            let at = t0 + Duration::from_micros(u64::from(i) * 500);
            let taken = if i % 2 == 0 { 64 } else { 32 };
            pressure = b.note(at, read(taken, None), pressure);
            assert_eq!(pressure, Pressure::Normal, "wake-up {i}");
        }
    }
}
