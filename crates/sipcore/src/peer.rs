//! Where a message came from or goes to.

use std::fmt;
use std::net::SocketAddr;

/// A transport, as a Via names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Unreliable: transactions retransmit on timers A, E and G.
    Udp,
    /// Reliable stream: no retransmission, zero-length wait timers.
    Tcp,
    /// TCP with TLS (RFC 3261 section 26.2, RFC 5630): reliable as TCP.
    Tls,
}

impl Transport {
    /// True for the stream transports (TCP, TLS).
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }

    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one stream connection inside the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The remote end of a message: transport, address and, for streams, the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    /// Transport used.
    pub transport: Transport,
    /// Remote socket address.
    pub addr: SocketAddr,
    /// The stream connection the message arrived on, if any.
    pub conn: Option<ConnId>,
    /// Which of the names the application recognises the connection's client certificate
    /// was verified for (bit `i`: name `i`); 0 for datagrams, plain TCP and TLS clients
    /// without a certificate. What the names are is the application's business.
    pub certified: u64,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Self { transport: Transport::Udp, addr, conn: None, certified: 0 }
    }

    /// A TCP peer on a known connection.
    pub fn tcp(addr: SocketAddr, conn: ConnId) -> Self {
        Self { transport: Transport::Tcp, addr, conn: Some(conn), certified: 0 }
    }

    /// A TLS peer on a known connection.
    pub fn tls(addr: SocketAddr, conn: ConnId) -> Self {
        Self { transport: Transport::Tls, addr, conn: Some(conn), certified: 0 }
    }
}
