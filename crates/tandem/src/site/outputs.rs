//! Where the engine's output leaves after each wake-up: messages to the UDP socket, to a
//! stream connection's writer or over the DR peer's TLS link; domain events to the store.

use std::collections::HashMap;
use std::sync::Arc;

use engine::{Node, Transmit, Transport};
use sipcore::ConnId;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::clock;
use crate::store::Store;

/// Each stream connection's writer queue, by connection.
pub(super) type Writers = HashMap<ConnId, mpsc::Sender<Arc<[u8]>>>;

/// Where the engine's messages leave: the UDP socket, stream connections' writers, and
/// the DR peer's TLS link.
pub(super) struct Outputs<'a> {
    pub(super) udp: Option<&'a UdpSocket>,
    pub(super) writers: &'a Writers,
    pub(super) link: Option<&'a crate::peer_tls::PeerLink>,
    /// The recordings converter, when the site records calls.
    pub(super) recordings: Option<&'a crate::recording::Recordings>,
}

/// Sends what the node has to send and files its domain events.
pub(super) async fn flush(node: &mut Node, out: &Outputs<'_>, mut store: Option<&mut Store>) {
    let over_link = out.link.and_then(|link| Some((link, node.config().dr_peer_contact()?)));
    while let Some(Transmit { to, bytes }) = node.poll_transmit() {
        match (to.transport, to.conn) {
            (Transport::Tcp | Transport::Tls, Some(conn)) => {
                if let Some(w) = out.writers.get(&conn) {
                    // A full writer queue means a stalled peer: drop rather than stall the site.
                    let _ = w.try_send(bytes);
                }
            }
            _ if over_link.is_some_and(|(_, peer)| peer == to.addr) => {
                if let Some((link, _)) = over_link {
                    link.send(bytes);
                }
            }
            _ => {
                if let Some(s) = out.udp {
                    send_datagram(s, &bytes, to.addr).await;
                }
            }
        }
    }
    let now = clock::now();
    while let Some(event) = node.poll_event() {
        tracing::debug!(?event, "domain event");
        if let (Some(r), engine::DomainEvent::MediaFigures { session, recorded: true, .. }) = (out.recordings, &event) {
            r.convert(session);
        }
        if let Some(store) = store.as_deref_mut() {
            store.observe(now, &event);
        }
    }
}

/// One datagram; a full send buffer waits for room rather than losing it.
async fn send_datagram(socket: &UdpSocket, bytes: &[u8], to: std::net::SocketAddr) {
    if let Err(e) = socket.try_send_to(bytes, to) {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            let _ = socket.send_to(bytes, to).await;
        } else {
            tracing::debug!(error = %e, "udp send failed");
        }
    }
}
