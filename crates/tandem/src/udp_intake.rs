//! Reading a site's UDP socket in batches, finishing work before taking new work: in each
//! batch, responses, ACK, BYE, CANCEL and everything from the DR peer go to the engine
//! before new INVITEs and REGISTERs. A socket that is never found empty for 100 ms (every
//! batch came back full) means a backlog: the engine is told [`Pressure::High`] and sheds
//! new work by rate until a batch empties the socket again (RFC 6357's local overload
//! control). A full batch alone is no backlog: at tens of thousands of datagrams a second
//! every wake-up finds a batch waiting though the engine keeps up and idles in between.
//!
//! A batch is one `recvmmsg` system call, not one `recvfrom` per datagram. It also brings
//! the kernel's count of datagrams dropped for a full queue (`SO_RXQ_OVFL`), shown in
//! `/metrics`. (Tried as a backlog signal, high at once for 250 ms after a drop: at 5x the
//! knee it cut goodput by a third in three runs of three, the limit shrinking on every
//! burst, so it is only counted.)

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;

use engine::{Input, Node, Pressure};
use nix::sys::socket::{recvmmsg, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::clock;

/// Largest UDP datagram we read.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams taken per wake-up before outputs are flushed.
const BATCH: usize = 64;
/// How long batches must keep coming back full before that is a backlog (a burst of
/// arrivals, or the task losing the CPU for a moment, fills a few batches and is not one).
const BACKLOG_FOR_HIGH: std::time::Duration = std::time::Duration::from_millis(100);

/// Reused buffers and the backlog state of one site's UDP socket.
pub(crate) struct UdpIntake {
    buffers: Vec<Vec<u8>>,
    received: Vec<(usize, SocketAddr)>,
    backlog: Backlog,
    pressure: Pressure,
    /// The kernel's count of datagrams it dropped on the main socket (its queue full).
    kernel_drops: u32,
    /// Set when the DR peer speaks over its TLS link only: datagrams claiming the peer's
    /// address are dropped and counted here (anyone can forge a UDP source).
    link_only: Option<std::sync::Arc<crate::peer_tls::LinkStats>>,
}

/// Whether the socket has been left non-empty for long: the backlog signal.
#[derive(Debug, Default)]
struct Backlog {
    /// Since when every batch came back full (the socket was never emptied).
    full_since: Option<std::time::Instant>,
}

impl Backlog {
    /// Notes a batch of `taken` datagrams read at `now` (fewer than [`BATCH`]: the read
    /// stopped because the socket was empty); returns the pressure it shows (`current`
    /// while a run of full batches is not yet 100 ms long).
    fn note(&mut self, now: std::time::Instant, taken: usize, current: Pressure) -> Pressure {
        if taken < BATCH {
            self.full_since = None;
            return Pressure::Normal;
        }
        let since = *self.full_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= BACKLOG_FOR_HIGH {
            Pressure::High
        } else {
            current
        }
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
        match socket.try_io(Interest::READABLE, || receive_batch(fd, buffers, received, drops)) {
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

    fn note_batch(&mut self, taken: usize, node: &mut Node) {
        let now = clock::now();
        let pressure = self.backlog.note(now, taken, self.pressure);
        if pressure != self.pressure {
            self.pressure = pressure;
            node.handle_input(Input::Pressure { at: now, pressure });
        }
    }
}

/// One `recvmmsg` into `buffers` (without waiting): each datagram's length and sender in
/// `received`, in buffer order; `drops` follows the kernel's drop count when the socket
/// reports it (`SO_RXQ_OVFL`). WouldBlock when nothing is waiting.
fn receive_batch(
    fd: std::os::fd::RawFd,
    buffers: &mut [Vec<u8>],
    received: &mut Vec<(usize, SocketAddr)>,
    drops: &mut u32,
) -> std::io::Result<()> {
    // Built per batch: the headers hold raw pointers, which must not live across the
    // task's await points (the task must stay Send); three allocations per 64 datagrams.
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(buffers.len(), Some(nix::cmsg_space!(u32)));
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let batch = recvmmsg(fd, &mut headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)?;
    for msg in batch {
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::RxqOvfl(count) = cmsg {
                    *drops = (*drops).max(count);
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

    #[allow(clippy::disallowed_methods)] // the test picks its own starting instant
    fn start() -> std::time::Instant {
        std::time::Instant::now()
    }

    #[test]
    fn a_socket_never_emptied_for_100_ms_is_a_backlog() {
        let (t0, mut b) = (start(), Backlog::default());
        let ms = std::time::Duration::from_millis;
        assert_eq!(b.note(t0, BATCH, Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(99), BATCH, Pressure::Normal), Pressure::Normal);
        assert_eq!(b.note(t0 + ms(100), BATCH, Pressure::Normal), Pressure::High);
        assert_eq!(b.note(t0 + ms(101), BATCH - 1, Pressure::High), Pressure::Normal, "emptied: no backlog");
    }

    #[test]
    fn full_batches_between_emptied_sockets_are_no_backlog() {
        // At tens of thousands of datagrams a second most wake-ups find a full batch, yet
        // the engine keeps up: the next read empties the socket. (The old rule reset only
        // on a batch under a quarter full and shed half the calls of a site at 60 % CPU.)
        let (t0, mut b) = (start(), Backlog::default());
        let mut pressure = Pressure::Normal;
        for i in 0..1_000u32 {
            let at = t0 + std::time::Duration::from_micros(u64::from(i) * 500);
            let taken = if i % 2 == 0 { BATCH } else { BATCH / 2 };
            pressure = b.note(at, taken, pressure);
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
        let late = drain_rest(&mut intake, &socket);
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
