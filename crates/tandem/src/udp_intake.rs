//! Reading a site's UDP socket in batches, finishing work before taking new work: in each
//! batch, responses, ACK, BYE, CANCEL and everything from the DR peer go to the engine
//! before new INVITEs and REGISTERs. Batches that keep coming back full for 100 ms mean a
//! backlog: the engine is told [`Pressure::High`] and answers new work with 503 until a
//! batch finds the socket nearly empty (RFC 6357's local overload control, with
//! hysteresis).

use std::net::SocketAddr;

use engine::{Input, Node, Pressure};
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
    /// Since when every batch came back full.
    full_since: Option<std::time::Instant>,
    pressure: Pressure,
}

impl UdpIntake {
    pub(crate) fn new() -> Self {
        Self {
            buffers: (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect(),
            received: Vec::with_capacity(BATCH),
            full_since: None,
            pressure: Pressure::Normal,
        }
    }

    /// Takes what the site's socket holds (up to one batch) into the engine, ordered as
    /// the module says; then updates the engine's pressure.
    pub(crate) fn drain(&mut self, socket: &UdpSocket, node: &mut Node) {
        let taken = self.take(socket).unwrap_or(0);
        self.feed(node);
        self.note_batch(taken, node);
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
        for buf in &mut self.buffers {
            match socket.try_recv_from(buf) {
                Ok(got) => self.received.push(got),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(()),
                Err(e) => {
                    // A transient socket error (an ICMP unreachable, say) must not stop the site.
                    tracing::debug!(error = %e, "UDP receive failed");
                    break;
                }
            }
        }
        Ok(self.received.len())
    }

    fn feed(&self, node: &mut Node) {
        let peer = node.config().dr_peer_contact();
        for new_work in [false, true] {
            for (i, &(len, remote)) in self.received.iter().enumerate() {
                let bytes = &self.buffers[i][..len];
                if is_new_work(bytes, Some(remote) == peer) == new_work {
                    node.handle_input(Input::Datagram { at: clock::now(), remote, bytes });
                }
            }
        }
    }

    fn note_batch(&mut self, taken: usize, node: &mut Node) {
        let now = clock::now();
        if taken == BATCH {
            self.full_since.get_or_insert(now);
        } else if taken < BATCH / 4 {
            self.full_since = None;
        }
        let pressure = match self.full_since {
            Some(since) if now.saturating_duration_since(since) >= BACKLOG_FOR_HIGH => Pressure::High,
            None => Pressure::Normal,
            Some(_) => self.pressure,
        };
        if pressure != self.pressure {
            self.pressure = pressure;
            node.handle_input(Input::Pressure { at: now, pressure });
        }
    }
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
}
