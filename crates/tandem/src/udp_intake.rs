//! Reading a site's UDP socket in batches, finishing work before taking new work: in each
//! batch, responses, ACK, BYE, CANCEL and everything from the DR peer go to the engine
//! before new INVITEs and REGISTERs.
//!
//! After each read of the main socket the intake tells the engine what it measured
//! ([`Input::Intake`]: datagrams taken, whether the batch was full, how long the oldest
//! waited in the kernel's queue, whether the kernel dropped some); what that means for
//! overload is the engine's to decide (`engine/src/overload/`).
//!
//! A batch is one `recvmmsg` system call, not one `recvfrom` per datagram. It also brings
//! the kernel's count of datagrams dropped for a full queue (`SO_RXQ_OVFL`), shown in
//! `/metrics`.

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::time::Duration;

use engine::{Input, IntakeBatch, Node};
use nix::sys::socket::{recvmmsg, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::clock;

/// Largest UDP datagram we read.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams taken per wake-up before outputs are flushed.
const BATCH: usize = 64;
/// Reused buffers and the last read's measurements of one site's UDP socket.
pub(crate) struct UdpIntake {
    buffers: Vec<Vec<u8>>,
    received: Vec<(usize, SocketAddr)>,
    /// The kernel's count of datagrams it dropped on the main socket (its queue full).
    kernel_drops: u32,
    /// How long the oldest datagram of the last batch waited in the kernel's queue (when
    /// the socket gives receive timestamps).
    waited: Option<Duration>,
    /// Whether the kernel's drop count grew with the last batch.
    dropped: bool,
    /// Set when the DR peer speaks over its TLS link only: datagrams claiming the peer's
    /// address are dropped and counted here (anyone can forge a UDP source).
    link_only: Option<std::sync::Arc<crate::peer_tls::LinkStats>>,
}

impl UdpIntake {
    pub(crate) fn new() -> Self {
        Self {
            buffers: (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect(),
            received: Vec::with_capacity(BATCH),
            kernel_drops: 0,
            waited: None,
            dropped: false,
            link_only: None,
        }
    }

    /// From now on the DR peer is heard over its TLS link only: UDP datagrams from its
    /// address are dropped and counted in `stats`.
    pub(crate) fn link_only(&mut self, stats: std::sync::Arc<crate::peer_tls::LinkStats>) {
        self.link_only = Some(stats);
    }

    /// Takes what the site's socket holds (up to one batch) into the engine, ordered as
    /// the module says; then tells the engine what the read found.
    pub(crate) fn drain(&mut self, socket: &UdpSocket, node: &mut Node) {
        let taken = self.take(socket).unwrap_or(0);
        self.feed(node);
        let batch = IntakeBatch { taken, full: taken >= BATCH, waited: self.waited, dropped: self.dropped };
        node.handle_input(Input::Intake { at: clock::now(), batch });
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
