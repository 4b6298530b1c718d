//! How the generator reaches the site: one UDP socket, or one TLS connection (`--tls`) that
//! carries the gateway's calls and the phone's registrations and answers alike (the site
//! delivers each call on the connection the DN registered from, RFC 5626 style).

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::ServerName;
use sipcore::StreamFramer;

/// The generator's one way in and out.
pub(crate) enum Link {
    Udp { socket: UdpSocket, target: SocketAddr },
    Tls(Box<TlsLink>),
}

/// A TLS session to the site's `sip_tls` listener and the messages framed off it.
pub(crate) struct TlsLink {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    framer: StreamFramer,
    ready: VecDeque<Vec<u8>>,
    target: SocketAddr,
    local: SocketAddr,
    scratch: Vec<u8>,
}

impl Link {
    /// A UDP socket with large buffers (a burst of answers must not be lost here).
    pub(crate) fn udp(local: SocketAddr, target: SocketAddr) -> anyhow::Result<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        let _ = socket.set_recv_buffer_size(8 << 20);
        let _ = socket.set_send_buffer_size(8 << 20);
        socket.bind(&local.into())?;
        socket.set_read_timeout(Some(Duration::from_millis(1)))?;
        Ok(Self::Udp { socket: socket.into(), target })
    }

    /// A TLS session to `target`, trusting the PEM certificates in `ca`.
    pub(crate) fn tls(target: SocketAddr, ca: &std::path::Path) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        let file = std::fs::File::open(ca).with_context(|| format!("--tls-ca {}", ca.display()))?;
        for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
            roots.add(cert?)?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::from(target.ip());
        let session = rustls::ClientConnection::new(Arc::new(config), name)?;
        let tcp = TcpStream::connect(target)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_millis(1)))?;
        let local = tcp.local_addr()?;
        Ok(Self::Tls(Box::new(TlsLink {
            stream: rustls::StreamOwned::new(session, tcp),
            framer: StreamFramer::default(),
            ready: VecDeque::new(),
            target,
            local,
            scratch: vec![0u8; 64 * 1024],
        })))
    }

    /// Our address, as messages name it in Via and Contact.
    pub(crate) fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        match self {
            Self::Udp { socket, .. } => Ok(socket.local_addr()?),
            Self::Tls(t) => Ok(t.local),
        }
    }

    /// The Via transport: `UDP` or `TLS`.
    pub(crate) fn transport(&self) -> &'static str {
        match self {
            Self::Udp { .. } => "UDP",
            Self::Tls(_) => "TLS",
        }
    }

    /// Over TLS nothing is lost in transit: no retransmissions (RFC 3261 section 17.1.1.2).
    pub(crate) fn reliable(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Sends to the site. A full UDP socket buffer loses the datagram, as the network
    /// would (timers resend it); a TLS write waits.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        match self {
            Self::Udp { socket, target } => {
                let _ = socket.send_to(bytes, *target);
            }
            Self::Tls(t) => {
                let _ = t.stream.write_all(bytes);
            }
        }
    }

    /// Answers whoever sent a request (over TLS: the one connection).
    pub(crate) fn reply(&mut self, bytes: &[u8], to: SocketAddr) {
        match self {
            Self::Udp { socket, .. } => {
                let _ = socket.send_to(bytes, to);
            }
            Self::Tls(t) => {
                let _ = t.stream.write_all(bytes);
            }
        }
    }

    /// How long [`Link::recv`] waits from now on.
    pub(crate) fn set_wait(&mut self, wait: Duration) -> anyhow::Result<()> {
        match self {
            Self::Udp { socket, .. } => socket.set_read_timeout(Some(wait))?,
            Self::Tls(t) => t.stream.sock.set_read_timeout(Some(wait))?,
        }
        Ok(())
    }

    /// Waits (as set) for one message and copies it into `buf`: its length and sender.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<Option<(usize, SocketAddr)>> {
        match self {
            Self::Udp { socket, .. } => match socket.recv_from(buf) {
                Ok(got) => Ok(Some(got)),
                Err(e) if is_timeout(&e) => Ok(None),
                Err(e) => Err(e.into()),
            },
            Self::Tls(t) => t.recv(buf),
        }
    }
}

impl TlsLink {
    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<Option<(usize, SocketAddr)>> {
        if self.ready.is_empty() {
            match self.stream.read(&mut self.scratch) {
                Ok(0) => anyhow::bail!("the site closed the TLS connection"),
                Ok(n) => self.framer.push(&self.scratch[..n]),
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            while let Some(msg) = self.framer.next_message().map_err(|e| anyhow::anyhow!("framing: {e}"))? {
                self.ready.push_back(msg.to_vec());
            }
        }
        let Some(msg) = self.ready.pop_front() else { return Ok(None) };
        let n = msg.len().min(buf.len());
        buf[..n].copy_from_slice(&msg[..n]);
        Ok(Some((n, self.target)))
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}
