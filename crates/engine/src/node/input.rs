//! What goes into a [`Node`](super::Node): the [`Input`]s, each with its time, and
//! [`Wake`], whose deadline the node names next.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipcore::{ConnId, Transport};

use crate::desks::DeskId;
use crate::overload::{IntakeBatch, Pressure};

/// Input to a [`Node`]. Time always comes with the input.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// One UDP datagram.
    Datagram {
        /// When it arrived.
        at: Instant,
        /// Sender.
        remote: SocketAddr,
        /// Payload.
        bytes: &'a [u8],
    },
    /// One whole message framed off a stream connection (see `sipcore::StreamFramer`).
    Stream {
        /// When it arrived.
        at: Instant,
        /// TCP or TLS.
        transport: Transport,
        /// The connection.
        conn: ConnId,
        /// Remote address of the connection.
        remote: SocketAddr,
        /// Which names the connection's client certificate was verified for
        /// ([`Peer::certified`](sipcore::Peer::certified)); 0 without one.
        certified: u64,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// A CTI request from a desktop.
    Desk {
        /// When it arrived.
        at: Instant,
        /// The desktop.
        desk: DeskId,
        /// The request.
        request: &'a cti::Request,
    },
    /// A desktop disconnected; its agents stay logged in.
    DeskClosed {
        /// When.
        at: Instant,
        /// The desktop.
        desk: DeskId,
    },
    /// Time passed; fire what is due.
    Timeout(Instant),
    /// The DR peer's address refused a datagram (the shell saw ICMP port unreachable on
    /// the socket connected to it): the peer process is gone, so the pair splits now
    /// instead of after `oos-check`/`oos-force` of unanswered polls.
    PeerRefused {
        /// When.
        at: Instant,
    },
    /// What one read of the site's UDP socket found (the shell's measurement; the
    /// engine's overload signal turns it into a [`Pressure`], `overload/signal.rs`).
    Intake {
        /// When the read was made.
        at: Instant,
        /// What it found.
        batch: IntakeBatch,
    },
    /// One wake-up of the engine task is over: how long it took, and how much of that
    /// the task had the CPU (the overload signal's busy share).
    Busy {
        /// When it ended.
        at: Instant,
        /// Wall time from wake-up to flushed.
        took: Duration,
        /// CPU time the task got in it.
        cpu: Duration,
    },
    /// The media partner answered command `id` ([`Node::poll_media`](super::Node::poll_media)).
    Media {
        /// When the answer arrived.
        at: Instant,
        /// The command's id.
        id: u64,
        /// What the partner said.
        reply: &'a crate::media::MediaReply,
    },
    /// A pressure set directly rather than measured (tests, benchmarks): under
    /// [`Pressure::High`] (or `Severe`) new INVITEs and REGISTERs are admitted at a
    /// falling rate, the rest get 503, until [`Pressure::Normal`] again.
    Pressure {
        /// When.
        at: Instant,
        /// How loaded.
        pressure: Pressure,
    },
}

/// Whose deadline wakes the engine next ([`Node::next_deadline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A transaction timer (RFC 3261 A-M: retransmission, timeout, wait).
    Transaction,
    /// A registration expires.
    Registration,
    /// A call timer: no answer, router timeout, queue max wait, 2xx retransmission.
    Call,
    /// An agent's AfterCallWork ends.
    AfterCallWork,
    /// A trunk's OPTIONS poll is due or overdue.
    TrunkPoll,
    /// The presence heartbeat to the DR peer.
    PresenceHeartbeat,
    /// A RequestReserveAgent collection window closes.
    Reservation,
}

impl Input<'_> {
    /// When the input happened: the only clock the engine knows.
    pub fn at(&self) -> Instant {
        match self {
            Input::Datagram { at, .. }
            | Input::Stream { at, .. }
            | Input::Desk { at, .. }
            | Input::DeskClosed { at, .. }
            | Input::Pressure { at, .. }
            | Input::Intake { at, .. }
            | Input::Busy { at, .. }
            | Input::Media { at, .. }
            | Input::PeerRefused { at } => *at,
            Input::Timeout(at) => *at,
        }
    }
}
