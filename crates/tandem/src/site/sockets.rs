//! A site's sockets: binding every listener it is configured with, the UDP socket and
//! the DR peer link's connected socket beside it, and moving that link after a reload.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::{TcpListener, UdpSocket};

use super::{announce, BoundSite};
use crate::clock;
use crate::config::SiteConfig;
use crate::store::{Saved, Store, Wall};

/// Socket buffer size asked of the kernel (it may grant less).
const SOCKET_BUFFER: usize = 4 << 20;

/// Binds the site's sockets and prints one `endpoint` line per listener.
pub(crate) async fn bind(config: SiteConfig) -> anyhow::Result<BoundSite> {
    let name = config.node.site.clone();
    let at = |what: &str| format!("site {name}: {what}");
    // Over TLS the peer link needs no UDP socket of its own.
    let peer = config.node.dr_peer_contact().filter(|_| config.peer_link.is_none());
    let udp = match config.sip_udp {
        Some(addr) => Some(bind_udp(addr, peer.is_some()).with_context(|| at(&format!("binding sip-udp {addr}")))?),
        None => None,
    };
    let peer_link = match &config.peer_link {
        Some(link) => Some(crate::peer_tls::bind(link).await.with_context(|| at("the peer link"))?),
        None => None,
    };
    let peer_udp = match (&udp, peer) {
        (Some(main), Some(peer)) => Some(
            bind_peer_link(main.local_addr()?, peer)
                .with_context(|| at(&format!("binding the DR peer link to {peer}")))?,
        ),
        _ => None,
    };
    let tcp = listen(config.sip_tcp, &name, "sip-tcp").await?;
    let tls = match &config.sip_tls {
        Some((addr, files)) => {
            let names = &config.node.dns.cert_names;
            let acceptor = crate::tls::SipTls::new(&files.cert, &files.key, files.client_ca.as_deref(), names)
                .with_context(|| at("sip-tls"))?;
            Some((listen(Some(*addr), &name, "sip-tls").await?.context("bound")?, acceptor))
        }
        None => None,
    };
    let cti = listen(config.cti, &name, "cti").await?;
    let http = listen(config.http, &name, "http").await?;
    let cti_tls = match &config.cti_tls {
        Some(files) => Some(crate::tls::acceptor(&files.cert, &files.key).with_context(|| at("cti-tls"))?),
        None => None,
    };
    let store = open_store(&config).await?;
    let mut site = BoundSite { config, udp, peer_udp, tcp, tls, cti, cti_tls, http, store, peer_link };
    site.advertise()?;
    Ok(site)
}

/// A TCP listener on `addr`, if configured.
async fn listen(addr: Option<SocketAddr>, site: &str, what: &str) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => {
            Ok(Some(TcpListener::bind(addr).await.with_context(|| format!("site {site}: binding {what} {addr}"))?))
        }
        None => Ok(None),
    }
}

impl BoundSite {
    /// Puts the bound addresses into the engine's configuration (what it advertises) and
    /// prints an `endpoint` line for each listener.
    fn advertise(&mut self) -> anyhow::Result<()> {
        let name = self.config.node.site.clone();
        let tcp = self.tcp.as_ref().map(TcpListener::local_addr).transpose()?;
        let udp = self.udp.as_ref().map(UdpSocket::local_addr).transpose()?;
        let tls = self.tls.as_ref().map(|(l, _)| l.local_addr()).transpose()?;
        if let Some(addr) = udp.or(tcp) {
            self.config.node.local = addr;
        }
        self.config.node.local_tls = tls.or(self.config.node.local_tls);
        let cti_kind = if self.cti_tls.is_some() { "cti-wss" } else { "cti-ws" };
        let listeners = [
            ("sip-udp", udp),
            ("sip-tcp", tcp),
            ("sip-tls", tls),
            (cti_kind, self.cti.as_ref().map(TcpListener::local_addr).transpose()?),
            ("http", self.http.as_ref().map(TcpListener::local_addr).transpose()?),
            ("peer-link", self.peer_link.as_ref().map(|l| l.local_addr()).transpose()?),
        ];
        for (kind, addr) in listeners {
            if let Some(addr) = addr {
                announce(&name, kind, addr);
            }
        }
        Ok(())
    }
}

/// The site's store, opened, with what it had saved.
async fn open_store(config: &SiteConfig) -> anyhow::Result<Option<(Store, Saved)>> {
    let Some(store) = config.store.clone() else { return Ok(None) };
    let name = config.node.site.clone();
    let path = match &store.target {
        crate::store::Target::Sqlite(path) => path.display().to_string(),
        crate::store::Target::Postgres(_) => "postgresql".to_owned(),
    };
    let wall = Wall::now(clock::now(), clock::unix_ms());
    let max_calls = config.node.capacity.max_calls;
    // Opening may block (a PostgreSQL client runs its own runtime): off the async threads.
    let site = name.clone();
    let opened = tokio::task::spawn_blocking(move || Store::open(store, &site, wall, max_calls))
        .await?
        .with_context(|| format!("site {name}: store"))?;
    tracing::info!(site = %name, path, "store open");
    Ok(Some(opened))
}

/// The site's UDP socket. With a DR peer it joins a reuse-port group so that the peer
/// link's connected socket ([`bind_peer_link`]) can share its address.
fn bind_udp(addr: SocketAddr, with_peer_link: bool) -> anyhow::Result<UdpSocket> {
    let socket = udp_socket(addr)?;
    // Each datagram read then says how many the kernel dropped for a full queue: the
    // intake's most direct overload signal (`udp_intake.rs`).
    if let Err(e) = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RxqOvfl, &1) {
        tracing::warn!(error = %e, "SO_RXQ_OVFL unavailable: kernel drops will not be seen");
    }
    // ... and when it arrived, so the intake sees a standing queue before it overflows.
    if let Err(e) = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimestampns, &true) {
        tracing::warn!(error = %e, "SO_TIMESTAMPNS unavailable: only a socket never emptied counts as a backlog");
    }
    if with_peer_link {
        if addr.port() != 0 {
            // Reuse-port would let a second Tandem share a port already in use: make sure
            // it is free first, as a plain bind would.
            drop(std::net::UdpSocket::bind(addr)?);
        }
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// A second UDP socket on the site's own address, connected to the DR peer. Linux delivers
/// a datagram to the socket that matches it best, and a connected socket matches the
/// peer's address and port exactly, so the peer's OPTIONS polls, presence and forwarded
/// calls arrive here, in a queue of their own: a flood that overflows the main socket's
/// queue cannot make the kernel drop them (BC-10: our own overload must not split the pair).
fn bind_peer_link(local: SocketAddr, peer: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = udp_socket(local)?;
    socket.set_reuse_port(true)?;
    socket.bind(&local.into())?;
    socket.connect(&peer.into())?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// The DR peer link after a reload: kept if the peer's address is the same; otherwise a
/// socket connected to the new address (keep-alives must not go on to the old one, whose
/// "connection refused" would take the new peer trunk out of service), or none.
pub(super) fn relink_peer(
    site: &str,
    main: Option<&UdpSocket>,
    link: Option<UdpSocket>,
    peer: Option<SocketAddr>,
) -> Option<UdpSocket> {
    let current = link.as_ref().and_then(|s| s.peer_addr().ok());
    if current == peer {
        return link;
    }
    drop(link);
    let (Some(main), Some(peer)) = (main, peer) else { return None };
    match main.local_addr().map_err(anyhow::Error::from).and_then(|local| bind_peer_link(local, peer)) {
        Ok(socket) => {
            tracing::info!(site, %peer, "DR peer link moved to the new peer address");
            Some(socket)
        }
        Err(e) => {
            // The main socket was bound without a DR peer (no reuse-port): the peer's
            // traffic still arrives there, without its own queue or keep-alives.
            tracing::warn!(site, %peer, error = %e, "the new DR peer has no link of its own until a restart");
            None
        }
    }
}

fn udp_socket(addr: SocketAddr) -> anyhow::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    Ok(socket)
}
