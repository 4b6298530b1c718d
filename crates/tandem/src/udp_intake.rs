//! Reading a site's UDP socket in batches, finishing work before taking new work: in each
//! batch, responses, ACK, BYE, CANCEL and everything from the DR peer go to the engine
//! before new INVITEs and REGISTERs.
//!
//! **The backlog signal** tells the engine [`Pressure::High`], and it sheds new work by
//! rate (RFC 6357's local overload control), when either
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
//! engine halves its admitted rate every 100 ms instead of cutting it by 15 % every
//! 250 ms. The kernel drops whatever datagram comes next, of calls already accepted too,
//! and each one costs its call a retransmission wait (0.5 s and more): at 5x the knee,
//! before, the site took two seconds of 15 % cuts to get under its capacity, its queue
//! overflowing all along (80,000-120,000 drops a 10 s run), and the accepted calls' p99
//! INVITE->200 was 3-6 s.
//!
//! A queue that shortens (by 2 ms or more over 50 ms) is [`Pressure::Draining`]: the cuts
//! made work, and the limit is held. So is a backlog while the engine got less than half
//! of the last 100 ms on the CPU (the host or other processes had it): cutting would not
//! bring the CPU back.
//!
//! It clears when a batch finds a queue shorter than 10 ms and empties the socket; it is
//! then [`Pressure::Spare`] when the engine task was busy less than 75 % of the last
//! 100 ms (every wake-up counts, [`UdpIntake::note_busy`]), so a limit cut deep grows
//! back fast. One late batch is no backlog: a moment off the CPU leaves a few waiting.
//!
//! A batch is one `recvmmsg` system call, not one `recvfrom` per datagram. It also brings
//! the kernel's count of datagrams dropped for a full queue (`SO_RXQ_OVFL`), shown in
//! `/metrics`. (Tried as a backlog signal, high at once for 250 ms after a drop: at 5x the
//! knee it cut goodput by a third in three runs of three, the limit shrinking on every
//! burst, so it is only counted.)

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::time::Duration;

use engine::{Input, Node, Pressure};
use nix::sys::socket::{recvmmsg, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::clock;

/// Largest UDP datagram we read.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams taken per wake-up before outputs are flushed.
const BATCH: usize = 64;
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

/// Reused buffers and the backlog state of one site's UDP socket.
pub(crate) struct UdpIntake {
    buffers: Vec<Vec<u8>>,
    received: Vec<(usize, SocketAddr)>,
    backlog: Backlog,
    pressure: Pressure,
    /// The kernel's count of datagrams it dropped on the main socket (its queue full).
    kernel_drops: u32,
    /// How long the oldest datagram of the last batch waited in the kernel's queue (when
    /// the socket gives receive timestamps).
    waited: Option<Duration>,
    /// Whether the kernel's drop count grew with the last batch.
    dropped: bool,
    /// The engine task's time in wake-ups since `busy_since`, and the CPU time it got
    /// in them ([`UdpIntake::note_busy`]).
    busy: Duration,
    busy_cpu: Duration,
    busy_since: Option<std::time::Instant>,
    /// Whether the engine was busy less than [`SPARE_BUSY`] of the last busy window...
    spare: bool,
    /// ... and whether it got less CPU time than [`STARVED_CPU`] of it.
    starved: bool,
    /// Set when the DR peer speaks over its TLS link only: datagrams claiming the peer's
    /// address are dropped and counted here (anyone can forge a UDP source).
    link_only: Option<std::sync::Arc<crate::peer_tls::LinkStats>>,
}

/// What one read found: how many datagrams (fewer than [`BATCH`]: the read emptied the
/// socket), how long the oldest of them waited in the queue, and whether the kernel
/// dropped datagrams since the last read.
#[derive(Debug, Clone, Copy, Default)]
struct Batch {
    taken: usize,
    waited: Option<Duration>,
    dropped: bool,
}

/// Whether the socket has been left non-empty for long: the backlog signal.
#[derive(Debug, Default)]
struct Backlog {
    /// Since when every batch came back full (the socket was never emptied).
    full_since: Option<std::time::Instant>,
    /// Since when every batch's oldest datagram had waited [`QUEUED_TARGET`] or longer.
    queued_since: Option<std::time::Instant>,
    /// The wait last sampled for the trend, and when; whether it grew since the sample before.
    sampled: Option<(std::time::Instant, Duration)>,
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
    fn note(&mut self, now: std::time::Instant, read: Batch, current: Pressure) -> Pressure {
        let Batch { taken, waited, dropped } = read;
        let queued = waited.is_some_and(|w| w >= QUEUED_TARGET);
        let standing = Self::lasted(&mut self.queued_since, queued, now, STANDING_FOR);
        // Without receive timestamps, a socket never emptied stands for a standing queue
        // (with them it says little: at 5x the knee most batches are full at any limit).
        let full = Self::lasted(&mut self.full_since, taken >= BATCH && waited.is_none(), now, BACKLOG_FOR_HIGH);
        let trend = self.trend(now, waited);
        if (standing || full) && (dropped || (trend == Trend::Growing && waited.is_some_and(|w| w >= SEVERE_WAIT))) {
            Pressure::Severe
        } else if standing && trend == Trend::Draining {
            Pressure::Draining
        } else if standing || full {
            Pressure::High
        } else if taken < BATCH && !queued {
            Pressure::Normal
        } else {
            current
        }
    }

    /// Where the queue's wait is going: `waited` against the wait sampled
    /// [`TREND_EVERY`] before (one sample per period; between samples, the last answer).
    /// A long queue that drains is no reason to cut further: the cut already made works.
    fn trend(&mut self, now: std::time::Instant, waited: Option<Duration>) -> Trend {
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
    fn lasted(since: &mut Option<std::time::Instant>, holds: bool, now: std::time::Instant, long: Duration) -> bool {
        if !holds {
            *since = None;
            return false;
        }
        now.saturating_duration_since(*since.get_or_insert(now)) >= long
    }
}

impl UdpIntake {
    pub(crate) fn new() -> Self {
        Self {
            buffers: (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect(),
            received: Vec::with_capacity(BATCH),
            backlog: Backlog::default(),
            pressure: Pressure::Normal,
            kernel_drops: 0,
            waited: None,
            dropped: false,
            busy: Duration::ZERO,
            busy_cpu: Duration::ZERO,
            busy_since: None,
            spare: false,
            starved: false,
            link_only: None,
        }
    }

    /// From now on the DR peer is heard over its TLS link only: UDP datagrams from its
    /// address are dropped and counted in `stats`.
    pub(crate) fn link_only(&mut self, stats: std::sync::Arc<crate::peer_tls::LinkStats>) {
        self.link_only = Some(stats);
    }

    /// Takes what the site's socket holds (up to one batch) into the engine, ordered as
    /// the module says; then updates the engine's pressure.
    pub(crate) fn drain(&mut self, socket: &UdpSocket, node: &mut Node) {
        let taken = self.take(socket).unwrap_or(0);
        self.feed(node);
        self.note_batch(taken, node);
    }

    /// Datagrams the kernel dropped on the main socket since it was bound.
    pub(crate) fn kernel_drops(&self) -> u64 {
        u64::from(self.kernel_drops)
    }

    /// Takes what the DR peer link's socket holds into the engine (it never counts as
    /// backlog: the peer is always served).
    /// The socket is connected to the peer, so an ICMP port unreachable for what we sent
    /// it surfaces here as "connection refused": the peer process is gone, and the engine
    /// hears it at once ([`Input::PeerRefused`]).
    pub(crate) fn drain_peer(&mut self, socket: &UdpSocket, node: &mut Node) {
        let refused = self.take(socket).is_err();
        if !self.received.is_empty() {
            self.feed(node);
        }
        if refused {
            node.handle_input(Input::PeerRefused { at: clock::now() });
        }
    }

    /// Reads up to a batch; Err when the socket reported "connection refused" (ICMP port
    /// unreachable for a datagram we sent on a connected socket).
    fn take(&mut self, socket: &UdpSocket) -> Result<usize, ()> {
        self.received.clear();
        let fd = socket.as_raw_fd();
        let (buffers, received, drops) = (&mut self.buffers, &mut self.received, &mut self.kernel_drops);
        let (mut oldest, drops_before) = (None, *drops);
        let result = socket.try_io(Interest::READABLE, || receive_batch(fd, buffers, received, drops, &mut oldest));
        self.waited = oldest.map(|at: TimeSpec| clock::since_unix(Duration::from(at)));
        self.dropped = self.kernel_drops > drops_before;
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(()),
            // A transient socket error (an ICMP unreachable, say) must not stop the site.
            Err(e) => tracing::debug!(error = %e, "UDP receive failed"),
        }
        Ok(self.received.len())
    }

    fn feed(&self, node: &mut Node) {
        let peer = node.config().dr_peer_contact();
        if let (Some(stats), Some(peer)) = (&self.link_only, peer) {
            let forged = self.received.iter().filter(|(_, remote)| *remote == peer).count();
            stats.udp_ignored.fetch_add(forged as u64, std::sync::atomic::Ordering::Relaxed);
        }
        for new_work in [false, true] {
            for (i, &(len, remote)) in self.received.iter().enumerate() {
                if self.link_only.is_some() && Some(remote) == peer {
                    continue;
                }
                let bytes = &self.buffers[i][..len];
                if is_new_work(bytes, Some(remote) == peer) == new_work {
                    node.handle_input(Input::Datagram { at: clock::now(), remote, bytes });
                }
            }
        }
    }

    /// Counts `took` of the engine task's time as busy (every wake-up, whatever woke it),
    /// `cpu` of it on the CPU.
    pub(crate) fn note_busy(&mut self, took: Duration, cpu: Duration) {
        self.busy += took;
        self.busy_cpu += cpu;
    }

    fn note_batch(&mut self, taken: usize, node: &mut Node) {
        let now = clock::now();
        let since = *self.busy_since.get_or_insert(now);
        let window = now.saturating_duration_since(since);
        if window >= BUSY_WINDOW {
            self.spare = self.busy.as_secs_f64() < SPARE_BUSY * window.as_secs_f64();
            self.starved = self.busy_cpu.as_secs_f64() < STARVED_CPU * window.as_secs_f64();
            (self.busy, self.busy_cpu, self.busy_since) = (Duration::ZERO, Duration::ZERO, Some(now));
        }
        let read = Batch { taken, waited: self.waited, dropped: self.dropped };
        let backlog = self.backlog.note(now, read, self.pressure.max(Pressure::Normal));
        let pressure = with_busy_share(backlog, self.spare, self.starved);
        if pressure != self.pressure {
            self.pressure = pressure;
            node.handle_input(Input::Pressure { at: now, pressure });
        }
    }
}

/// The pressure to report for what the queue shows (`backlog`), given whether the engine
/// had spare time and whether it was starved of the CPU in the last busy window.
fn with_busy_share(backlog: Pressure, spare: bool, starved: bool) -> Pressure {
    match backlog {
        Pressure::Normal if spare => Pressure::Spare,
        Pressure::High | Pressure::Severe if starved => Pressure::Draining,
        backlog => backlog,
    }
}

/// One `recvmmsg` into `buffers` (without waiting): each datagram's length and sender in
/// `received`, in buffer order; `drops` follows the kernel's drop count when the socket
/// reports it (`SO_RXQ_OVFL`); `oldest` gets the first datagram's kernel receive time
/// (`SO_TIMESTAMPNS`), when the socket gives one. WouldBlock when nothing is waiting.
fn receive_batch(
    fd: std::os::fd::RawFd,
    buffers: &mut [Vec<u8>],
    received: &mut Vec<(usize, SocketAddr)>,
    drops: &mut u32,
    oldest: &mut Option<TimeSpec>,
) -> std::io::Result<()> {
    // Built per batch: the headers hold raw pointers, which must not live across the
    // task's await points (the task must stay Send); three allocations per 64 datagrams.
    let mut headers =
        MultiHeaders::<SockaddrStorage>::preallocate(buffers.len(), Some(nix::cmsg_space!(u32, TimeSpec)));
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let batch = recvmmsg(fd, &mut headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)?;
    for msg in batch {
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                match cmsg {
                    ControlMessageOwned::RxqOvfl(count) => *drops = (*drops).max(count),
                    ControlMessageOwned::ScmTimestampns(at) => {
                        oldest.get_or_insert(at);
                    }
                    _ => {}
                }
            }
        }
        // Every datagram keeps its buffer's place; one without a usable sender (never
        // seen for UDP) becomes empty, which the engine drops as malformed.
        match msg.address.as_ref().and_then(socket_addr) {
            Some(from) => received.push((msg.bytes, from)),
            None => received.push((0, SocketAddr::from(([0, 0, 0, 0], 0)))),
        }
    }
    Ok(())
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(std::net::SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = addr.as_sockaddr_in6()?;
    Some(SocketAddr::V6(std::net::SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}

/// A request that starts new work (an INVITE or REGISTER not from the DR peer). A
/// re-INVITE counts too: it only waits for the rest of its batch, the engine sheds only
/// what is really new.
fn is_new_work(bytes: &[u8], from_dr_peer: bool) -> bool {
    !from_dr_peer && (bytes.starts_with(b"INVITE ") || bytes.starts_with(b"REGISTER "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_work_is_invite_and_register_unless_from_the_dr_peer() {
        assert!(is_new_work(b"INVITE sip:1@h SIP/2.0\r\n", false));
        assert!(is_new_work(b"REGISTER sip:h SIP/2.0\r\n", false));
        assert!(!is_new_work(b"INVITE sip:1@h SIP/2.0\r\n", true));
        for other in [&b"SIP/2.0 200 OK\r\n"[..], b"BYE sip:1@h SIP/2.0\r\n", b"ACK sip:1@h SIP/2.0\r\n"] {
            assert!(!is_new_work(other, false));
        }
    }

    fn read(taken: usize, waited: Option<Duration>) -> Batch {
        Batch { taken, waited, dropped: false }
    }

    #[allow(clippy::disallowed_methods)] // the test picks its own starting instant
    fn start() -> std::time::Instant {
        std::time::Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_timestamps_a_socket_never_emptied_for_100_ms_is_a_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        assert_eq!(b.note(t0, read(BATCH, None), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(99), read(BATCH, None), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(100), read(BATCH, None), Pressure::Normal), Pressure::High);
        assert_eq!(
            b.note(t0 + ms(101), read(BATCH - 1, None), Pressure::High),
            Pressure::Normal,
            "emptied: no backlog"
        );
    }

    #[test]
    fn with_timestamps_full_batches_of_short_waits_are_no_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        for i in 0..400 {
            let pressure = b.note(t0 + ms(i), read(BATCH, Some(ms(2))), Pressure::Normal);
            assert_eq!(pressure, Pressure::Normal, "{i} ms of full batches");
        }
    }

    #[test]
    fn a_queue_standing_for_100_ms_is_a_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        let late = Some(QUEUED_TARGET);
        assert_eq!(b.note(t0, read(BATCH / 2, late), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(99), read(BATCH / 2, late), Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(100), read(BATCH / 2, late), Pressure::Normal), Pressure::High, "standing 100 ms");
        assert_eq!(
            b.note(t0 + ms(101), read(BATCH, Some(ms(1))), Pressure::High),
            Pressure::High,
            "a full batch: not cleared yet"
        );
        assert_eq!(
            b.note(t0 + ms(102), read(BATCH / 2, Some(ms(1))), Pressure::High),
            Pressure::Normal,
            "short queue, emptied"
        );
    }

    #[test]
    fn a_backlog_growing_past_40_ms_or_overflowing_is_severe_and_one_draining_is_cut_no_more() {
        let (t0, mut b) = (start(), Backlog::default());
        let mut at = t0;
        let mut note = |b: &mut Backlog, wait: u64, dropped: bool| {
            at += ms(25);
            b.note(at, Batch { taken: BATCH, waited: Some(ms(wait)), dropped }, Pressure::Normal)
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
    fn a_late_batch_between_short_waits_is_no_backlog() {
        // A moment off the CPU leaves a few batches late; a queue that drains in between
        // is no overload however often it happens.
        let (t0, mut b) = (start(), Backlog::default());
        let mut pressure = Pressure::Normal;
        for i in 0..1_000u32 {
            let at = t0 + Duration::from_micros(u64::from(i) * 500);
            let waited = ms(if i % 20 == 0 { 1 } else { 60 });
            pressure = b.note(at, read(BATCH / 2, Some(waited)), pressure);
            assert_eq!(pressure, Pressure::Normal, "wake-up {i}");
        }
    }

    /// The socket's receive timestamps say how long the oldest datagram of a batch waited.
    #[tokio::test]
    async fn a_batch_says_how_long_its_oldest_datagram_waited() {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        nix::sys::socket::setsockopt(&std_socket, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
            .expect("SO_TIMESTAMPNS");
        std_socket.set_nonblocking(true).expect("nonblocking");
        let socket = UdpSocket::from_std(std_socket).expect("tokio socket");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        // The kernel turns receive timestamping on a moment after the first socket asks
        // (a deferred switch); until then a datagram is stamped when it is read.
        std::thread::sleep(Duration::from_millis(100));
        sender.send_to(b"first", socket.local_addr().expect("addr")).expect("send");
        std::thread::sleep(Duration::from_millis(30));
        sender.send_to(b"second", socket.local_addr().expect("addr")).expect("send");
        socket.readable().await.expect("readable");
        let mut intake = UdpIntake::new();
        assert_eq!(intake.take(&socket), Ok(2));
        let waited = intake.waited.expect("a receive timestamp");
        assert!(waited >= Duration::from_millis(30), "the first datagram's wait: {waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
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
            let taken = if i % 2 == 0 { BATCH } else { BATCH / 2 };
            pressure = b.note(at, read(taken, None), pressure);
            assert_eq!(pressure, Pressure::Normal, "wake-up {i}");
        }
    }

    /// `recvmmsg` takes what waits in one call, each datagram with its sender, and the
    /// kernel's drop count arrives with datagrams queued after a drop: a socket with a
    /// small queue is sent more than it holds, read once, sent a few more, read out.
    #[tokio::test]
    async fn a_batch_is_one_call_and_carries_the_kernels_drop_count() {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let raw = socket2::Socket::from(std_socket);
        raw.set_recv_buffer_size(4096).expect("small queue");
        nix::sys::socket::setsockopt(&raw, nix::sys::socket::sockopt::RxqOvfl, &1).expect("SO_RXQ_OVFL");
        // As the site's socket: with receive timestamps too (both fit the control buffer).
        nix::sys::socket::setsockopt(&raw, nix::sys::socket::sockopt::ReceiveTimestampns, &true).expect("timestamps");
        std::thread::sleep(Duration::from_millis(100)); // the kernel's deferred switch-on
        raw.set_nonblocking(true).expect("nonblocking");
        let socket = UdpSocket::from_std(raw.into()).expect("tokio socket");
        let to = socket.local_addr().expect("addr");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        let send = |range: std::ops::Range<u32>| {
            for i in range {
                sender.send_to(format!("datagram {i}").as_bytes(), to).expect("send");
            }
        };
        send(0..200);
        socket.readable().await.expect("readable");
        let mut intake = UdpIntake::new();
        let taken = intake.take(&socket).expect("no refusal");
        assert!(taken > 0 && taken < 200, "the queue held some: {taken}");
        let (len, from) = intake.received[0];
        assert_eq!((&intake.buffers[0][..len], from), (&b"datagram 0"[..], sender.local_addr().expect("addr")));
        let rest = drain_rest(&mut intake, &socket);
        send(200..204); // fewer than the small queue holds
        socket.readable().await.expect("readable again");
        let first_late = intake.take(&socket).expect("no refusal") as u64;
        assert!(intake.waited.is_some() && intake.dropped, "the batch after the drops brought both in its cmsgs");
        let late = first_late + drain_rest(&mut intake, &socket);
        assert!(late > 0, "room again");
        assert!(intake.kernel_drops() > 0, "the kernel's drops were reported");
        assert_eq!(intake.kernel_drops() + taken as u64 + rest + late, 204, "every datagram accounted for");
    }

    fn drain_rest(intake: &mut UdpIntake, socket: &UdpSocket) -> u64 {
        let mut rest = 0;
        while let Ok(n @ 1..) = intake.take(socket) {
            rest += n as u64;
        }
        rest
    }
}
