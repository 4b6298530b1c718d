//! One site at run time: its sockets and the engine task that drives its node.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use engine::{Input, Node, Transmit, Wake};
use sipcore::{ConnId, Transport};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::clock;
use crate::config::SiteConfig;
use crate::cti_server::{self, DeskMsg};
use crate::metrics::{self, Snapshot};
use crate::probe::WakeLatency;
use crate::store::{Saved, Store, Wall};

/// A wake-up this long is logged (at most once per [`SLOW_WAKE_LOG_EVERY`]) with the input
/// that caused it and how its time split between handling and sending.
const SLOW_WAKE: std::time::Duration = std::time::Duration::from_millis(5);
const SLOW_WAKE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
use crate::tcp::{self, ConnControl, StreamMessage};
use crate::udp_intake::UdpIntake;

/// Socket buffer size asked of the kernel (it may grant less).
const SOCKET_BUFFER: usize = 4 << 20;
/// Messages queued from connection tasks to the engine before readers wait.
const STREAM_QUEUE: usize = 4096;

/// Sockets bound for one site, before it runs.
pub(crate) struct BoundSite {
    config: SiteConfig,
    udp: Option<UdpSocket>,
    /// Connected to the DR peer, sharing `udp`'s address ([`bind_peer_link`]).
    peer_udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    /// The SIP over TLS listener and its acceptor.
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    cti: Option<TcpListener>,
    /// The CTI server's TLS acceptor (`cti_tls`).
    cti_tls: Option<tokio_rustls::TlsAcceptor>,
    http: Option<TcpListener>,
    /// The site's store, opened, and what it had saved.
    store: Option<(Store, Saved)>,
    /// The DR peer link over mutual TLS (`[site.peer_link]`), bound.
    peer_link: Option<crate::peer_tls::BoundLink>,
}

/// Requests from a site to the process (answered on the oneshot).
pub(crate) enum AdminRequest {
    /// Re-read the configuration file (RequestReloadConfig).
    Reload(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// Binds the site's sockets and prints one `endpoint` line per listener.
pub(crate) async fn bind(mut config: SiteConfig) -> anyhow::Result<BoundSite> {
    let name = config.node.site.clone();
    // Over TLS the peer link needs no UDP socket of its own.
    let peer = config.node.dr_peer_contact().filter(|_| config.peer_link.is_none());
    let udp = match config.sip_udp {
        Some(addr) => {
            Some(bind_udp(addr, peer.is_some()).with_context(|| format!("site {name}: binding sip-udp {addr}"))?)
        }
        None => None,
    };
    let peer_link = match &config.peer_link {
        Some(link) => Some(crate::peer_tls::bind(link).await.with_context(|| format!("site {name}"))?),
        None => None,
    };
    let peer_udp = match (&udp, peer) {
        (Some(main), Some(peer)) => Some(
            bind_peer_link(main.local_addr()?, peer)
                .with_context(|| format!("site {name}: binding the DR peer link to {peer}"))?,
        ),
        _ => None,
    };
    let tcp = match config.sip_tcp {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.with_context(|| format!("site {name}: binding sip-tcp {addr}"))?)
        }
        None => None,
    };
    let tls = match &config.sip_tls {
        Some((addr, files)) => {
            let acceptor = crate::tls::acceptor(&files.cert, &files.key).with_context(|| format!("site {name}"))?;
            let listener =
                TcpListener::bind(addr).await.with_context(|| format!("site {name}: binding sip-tls {addr}"))?;
            Some((listener, acceptor))
        }
        None => None,
    };
    let cti = match config.cti {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| format!("site {name}: binding cti {addr}"))?),
        None => None,
    };
    let http = match config.http {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| format!("site {name}: binding http {addr}"))?),
        None => None,
    };
    if let Some(l) = &tcp {
        config.node.local = l.local_addr()?;
    }
    if let Some(s) = &udp {
        config.node.local = s.local_addr()?;
        announce(&name, "sip-udp", s.local_addr()?);
    }
    if let Some(l) = &tcp {
        announce(&name, "sip-tcp", l.local_addr()?);
    }
    if let Some((l, _)) = &tls {
        config.node.local_tls = Some(l.local_addr()?);
        announce(&name, "sip-tls", l.local_addr()?);
    }
    let cti_tls = match &config.cti_tls {
        Some(files) => Some(crate::tls::acceptor(&files.cert, &files.key).with_context(|| format!("site {name}"))?),
        None => None,
    };
    if let Some(l) = &cti {
        announce(&name, if cti_tls.is_some() { "cti-wss" } else { "cti-ws" }, l.local_addr()?);
    }
    if let Some(l) = &http {
        announce(&name, "http", l.local_addr()?);
    }
    if let Some(l) = &peer_link {
        announce(&name, "peer-link", l.local_addr()?);
    }
    let store = match config.store.clone() {
        Some(store) => {
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
            Some(opened)
        }
        None => None,
    };
    Ok(BoundSite { config, udp, peer_udp, tcp, tls, cti, cti_tls, http, store, peer_link })
}

/// Prints an `endpoint <site> <kind> <addr>` line (what scripts and tests read). A
/// reader that has gone (a closed pipe) must not stop the site: write errors are ignored.
pub(crate) fn announce(site: &str, kind: &str, addr: SocketAddr) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "endpoint {site} {kind} {addr}").and_then(|()| out.flush());
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

/// What a reload hands a running site: its new engine configuration and CTI tokens.
pub(crate) struct Reloaded {
    pub(crate) node: engine::NodeConfig,
    pub(crate) cti: crate::cti_access::CtiTable,
}

/// How often a CRLF keep-alive goes to the DR peer on the connected socket: if the peer
/// process is gone, its host answers with ICMP port unreachable and the socket reports
/// "connection refused" within one interval, so the pair splits in well under a second
/// (a silent network still waits for `oos-check`/`oos-force`).
const PEER_KEEPALIVE: std::time::Duration = std::time::Duration::from_millis(200);

/// The DR peer link after a reload: kept if the peer's address is the same; otherwise a
/// socket connected to the new address (keep-alives must not go on to the old one, whose
/// "connection refused" would take the new peer trunk out of service), or none.
fn relink_peer(
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

/// Sends one keep-alive to the DR peer; a refusal (a pending ICMP error) goes to the engine.
fn ping_peer(socket: &UdpSocket, node: &mut Node) {
    if let Err(e) = socket.try_send(b"\r\n\r\n") {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            node.handle_input(Input::PeerRefused { at: clock::now() });
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

impl BoundSite {
    /// The site's name.
    pub(crate) fn name(&self) -> &str {
        &self.config.node.site
    }

    /// Runs the site until `shutdown` turns true; configurations arriving on `reload`
    /// replace the running one (hot reload).
    pub(crate) async fn run(
        self,
        mut shutdown: watch::Receiver<bool>,
        mut reload: mpsc::Receiver<Reloaded>,
        admin: mpsc::Sender<AdminRequest>,
    ) -> anyhow::Result<()> {
        let (stream_tx, mut stream_rx) = mpsc::channel::<StreamMessage>(STREAM_QUEUE);
        let (control_tx, mut control_rx) = mpsc::unbounded_channel::<ConnControl>();
        if let Some(listener) = self.tcp {
            let (stream_tx, control_tx) = (stream_tx.clone(), control_tx.clone());
            tokio::spawn(tcp::accept_loop(listener, None, self.config.tcp, stream_tx, control_tx, shutdown.clone()));
        }
        if let Some((listener, acceptor)) = self.tls {
            let (stream_tx, control_tx) = (stream_tx.clone(), control_tx.clone());
            let limits = self.config.tcp;
            tokio::spawn(tcp::accept_loop(listener, Some(acceptor), limits, stream_tx, control_tx, shutdown.clone()));
        }
        let (desk_tx, mut desk_rx) = mpsc::channel::<DeskMsg>(cti_server::REQUEST_QUEUE);
        let (grants_tx, grants) = watch::channel(Arc::new(self.config.cti_table()));
        if let Some(listener) = self.cti {
            let access = cti_server::CtiAccess {
                site: self.config.node.site.clone(),
                grants,
                max_clients: self.config.cti_clients,
                http: self.config.cti_http,
                tls: self.cti_tls,
            };
            tokio::spawn(cti_server::serve(listener, access, desk_tx, shutdown.clone()));
        }
        let (snapshot_tx, snapshot_rx) = watch::channel(Snapshot::default());
        if let Some(listener) = self.http {
            tokio::spawn(metrics::serve(listener, self.config.node.site.clone(), snapshot_rx, shutdown.clone()));
        }
        let (figures_tx, mut figures) = watch::channel(None);
        if let Some(feed) = self.config.nss_feed.clone() {
            for blind in feed.blind_sites() {
                tracing::warn!(site = %blind, "the NSS has no CTI link to this site (no `cti`): no figures, default routing");
            }
            tokio::spawn(crate::nss_feed::run(feed, figures_tx, shutdown.clone()));
        }
        let mut desks = DeskLinks::default();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut keepalive = tokio::time::interval(PEER_KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let site = self.config.node.site.clone();
        if self.config.node.auth.is_none() && self.config.node.nss.is_none() {
            tracing::warn!(site = %self.config.node.site, "SIP authentication is off ([site.auth]): any host may register any DN and call as it");
        }
        if self.config.node.options.dr_peer_trunk.is_some() && self.config.node.peer_secret.is_none() {
            tracing::warn!(site = %self.config.node.site, "no peer_secret: the DR peer is known by its address alone, which can be spoofed");
        }
        let mut node = Node::new(self.config.node, rand::random(), clock::now());
        node.set_wall_clock(clock::now(), clock::unix_ms() / 1000);
        let mut store = self.store.map(|(mut store, saved)| {
            node.restore(clock::now(), saved.bindings.clone(), saved.agents.clone());
            store.restored_agents(&saved);
            if saved.unreadable > 0 {
                tracing::warn!(site, rows = saved.unreadable, "saved state rows that could not be read were skipped");
            }
            store
        });
        let mut writers: HashMap<ConnId, mpsc::Sender<Arc<[u8]>>> = HashMap::new();
        let mut intake = UdpIntake::new();
        let mut link = self.peer_link.map(|l| l.start(shutdown.clone()));
        if let Some(link) = &link {
            intake.link_only(link.stats.clone());
        }
        let udp = self.udp;
        let mut peer_udp = self.peer_udp;
        tracing::info!(site, "site running");
        let mut wake = WakeLatency::default();
        let mut slow_logged: Option<std::time::Instant> = None;
        loop {
            let next = node.next_deadline();
            let deadline = next.map(|(at, _)| tokio::time::Instant::from_std(at));
            let woke;
            let cpu_at_wake;
            let arm: &'static str;
            tokio::select! {
                ready = readable(peer_udp.as_ref()) => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "peer-udp";
                    if let (Ok(()), Some(socket)) = (ready, peer_udp.as_ref()) {
                        intake.drain_peer(socket, &mut node);
                    }
                }
                ready = readable(udp.as_ref()) => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "udp";
                    // The peer link first, whenever the main socket is served.
                    if let Some(socket) = peer_udp.as_ref() {
                        intake.drain_peer(socket, &mut node);
                    }
                    if let (Ok(()), Some(socket)) = (ready, udp.as_ref()) {
                        intake.drain(socket, &mut node);
                    }
                }
                Some(event) = link_event(link.as_mut()) => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "peer-link";
                    on_link_event(&mut node, event);
                }
                Some(msg) = stream_rx.recv() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "stream";
                    // A connection's Opened is queued before its first message: apply
                    // pending control first so the answer finds the connection's writer.
                    while let Ok(control) = control_rx.try_recv() {
                        apply_control(&mut writers, control);
                    }
                    node.handle_input(Input::Stream { at: clock::now(), transport: msg.transport, conn: msg.conn, remote: msg.remote, bytes: &msg.bytes });
                }
                Some(control) = control_rx.recv() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "conn-control";
                    apply_control(&mut writers, control);
                }
                () = sleep_until(deadline) => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = match next.map(|(_, wake)| wake) {
                        Some(Wake::Transaction) => "timer:transaction",
                        Some(Wake::Registration) => "timer:registration",
                        Some(Wake::Call) => "timer:call",
                        Some(Wake::AfterCallWork) => "timer:after-call-work",
                        Some(Wake::TrunkPoll) => "timer:trunk-poll",
                        Some(Wake::PresenceHeartbeat) => "timer:presence",
                        Some(Wake::Reservation) => "timer:reservation",
                        None => "timer",
                    };
                    node.handle_input(Input::Timeout(woke));
                }
                Some(Reloaded { node: config, cti }) = reload.recv() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "reload";
                    if link.is_none() {
                        peer_udp = relink_peer(&site, udp.as_ref(), peer_udp.take(), config.dr_peer_contact());
                    }
                    node.reconfigure(woke, config);
                    // New tokens apply to new connections; clients whose token went close.
                    let _ = grants_tx.send(Arc::new(cti));
                }
                Ok(()) = figures.changed() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "nss-figures";
                    node.set_nss_figures(figures.borrow_and_update().clone());
                }
                Some(msg) = desk_rx.recv() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "desk";
                    desks.handle(&mut node, msg, &admin);
                }
                _ = tick.tick() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "tick";
                    wake.tick();
                    node.set_wall_clock(woke, clock::unix_ms() / 1000);
                    let stored = store.as_ref().map(Store::stats).unwrap_or_default();
                    let peer_link = link.as_ref().map(|l| l.stats.clone());
                    let udp_kernel_drops = intake.kernel_drops();
                    let snapshot = Snapshot { wake: wake.clone(), store: stored, peer_link, udp_kernel_drops, ..desks.snapshot(&node) };
                    let _ = snapshot_tx.send(snapshot);
                }
                _ = keepalive.tick(), if peer_udp.is_some() => {
                    woke = clock::now();
                    cpu_at_wake = crate::probe::thread_cpu();
                    arm = "peer-keepalive";
                    if let Some(socket) = peer_udp.as_ref() {
                        ping_peer(socket, &mut node);
                    }
                }
                _ = shutdown.changed() => break,
            }
            let handled = clock::now();
            let out = Outputs { udp: udp.as_ref(), writers: &writers, link: link.as_ref() };
            flush(&mut node, &out, store.as_mut()).await;
            desks.flush(&mut node);
            let done = clock::now();
            let took = done.saturating_duration_since(woke);
            let cpu = crate::probe::thread_cpu().saturating_sub(cpu_at_wake);
            wake.observe(took, cpu);
            intake.note_busy(took, cpu);
            if took >= SLOW_WAKE
                && slow_logged.is_none_or(|at| done.saturating_duration_since(at) >= SLOW_WAKE_LOG_EVERY)
            {
                slow_logged = Some(done);
                tracing::warn!(
                    site,
                    arm,
                    handle_us = handled.saturating_duration_since(woke).as_micros() as u64,
                    flush_us = done.saturating_duration_since(handled).as_micros() as u64,
                    "slow engine wake-up"
                );
            }
            if node.is_drained() {
                tracing::warn!(site, "graceful shutdown complete: no call left");
                break;
            }
        }
        desks.close_all();
        if let Some(store) = store {
            store.close();
        }
        tracing::info!(site, "site stopped");
        Ok(())
    }
}

fn apply_control(writers: &mut HashMap<ConnId, mpsc::Sender<Arc<[u8]>>>, control: ConnControl) {
    match control {
        ConnControl::Opened(id, tx) => {
            writers.insert(id, tx);
        }
        ConnControl::Closed(id) => {
            writers.remove(&id);
        }
    }
}

async fn readable(udp: Option<&UdpSocket>) -> std::io::Result<()> {
    match udp {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where the engine's messages leave: the UDP socket, stream connections' writers, and
/// the DR peer's TLS link.
struct Outputs<'a> {
    udp: Option<&'a UdpSocket>,
    writers: &'a HashMap<ConnId, mpsc::Sender<Arc<[u8]>>>,
    link: Option<&'a crate::peer_tls::PeerLink>,
}

/// The next news from the DR peer's TLS link (never, without one).
async fn link_event(link: Option<&mut crate::peer_tls::PeerLink>) -> Option<crate::peer_tls::LinkEvent> {
    match link {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}

/// A message from the TLS link comes from the DR peer (its certificate said so): the
/// engine sees it as from the peer's SIP address. A lost link splits the pair now.
fn on_link_event(node: &mut Node, event: crate::peer_tls::LinkEvent) {
    use crate::peer_tls::LinkEvent;
    match event {
        LinkEvent::Message(bytes) => {
            if let Some(remote) = node.config().dr_peer_contact() {
                node.handle_input(Input::Datagram { at: clock::now(), remote, bytes: &bytes });
            }
        }
        LinkEvent::Down => node.handle_input(Input::PeerRefused { at: clock::now() }),
        LinkEvent::Up => {}
    }
}

async fn flush(node: &mut Node, out: &Outputs<'_>, mut store: Option<&mut Store>) {
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
                    if let Err(e) = s.try_send_to(&bytes, to.addr) {
                        if e.kind() == std::io::ErrorKind::WouldBlock {
                            let _ = s.send_to(&bytes, to.addr).await;
                        } else {
                            tracing::debug!(error = %e, "udp send failed");
                        }
                    }
                }
            }
        }
    }
    let now = clock::now();
    while let Some(event) = node.poll_event() {
        tracing::debug!(?event, "domain event");
        if let Some(store) = store.as_deref_mut() {
            store.observe(now, &event);
        }
    }
}

/// The engine task's side of the CTI connections: one bounded queue per desktop.
#[derive(Default)]
struct DeskLinks {
    links: HashMap<engine::DeskId, mpsc::Sender<Arc<str>>>,
    dropped_events: u64,
    slow_disconnects: u64,
}

impl DeskLinks {
    fn handle(&mut self, node: &mut Node, msg: DeskMsg, admin: &mpsc::Sender<AdminRequest>) {
        match msg {
            DeskMsg::Opened(desk, tx) => {
                self.links.insert(desk, tx);
            }
            DeskMsg::Closed(desk) => {
                self.links.remove(&desk);
                node.handle_input(Input::DeskClosed { at: clock::now(), desk });
            }
            DeskMsg::Request(desk, cti::Request::RequestReloadConfig { reference_id }) => {
                self.reload(desk, reference_id, admin)
            }
            DeskMsg::Request(desk, request) => {
                node.handle_input(Input::Desk { at: clock::now(), desk, request: &request })
            }
        }
    }

    /// RequestReloadConfig: the process re-reads the file; the answer comes back later.
    fn reload(&self, desk: engine::DeskId, reference_id: Option<u64>, admin: &mpsc::Sender<AdminRequest>) {
        let Some(link) = self.links.get(&desk).cloned() else { return };
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        if admin.try_send(AdminRequest::Reload(reply_tx)).is_err() {
            return;
        }
        tokio::spawn(async move {
            let event = match reply_rx.await {
                Ok(Ok(())) => cti::Event::EventConfigReloaded { reference_id },
                Ok(Err(text)) => cti::Event::EventError {
                    reference_id,
                    this_dn: None,
                    error_code: cti::ErrorCode::InvalidState,
                    error_message: text,
                },
                Err(_) => return,
            };
            let json: Arc<str> = serde_json::to_string(&event).unwrap_or_default().into();
            let _ = link.send(json).await;
        });
    }

    /// Sends the node's desk events; a desktop whose queue is full is dropped.
    fn flush(&mut self, node: &mut Node) {
        let mut slow = Vec::new();
        while let Some((desk, event)) = node.poll_desk() {
            let Some(link) = self.links.get(&desk) else { continue };
            let json: Arc<str> = serde_json::to_string(&event).unwrap_or_default().into();
            if link.try_send(json).is_err() {
                self.dropped_events += 1;
                slow.push(desk);
            }
        }
        for desk in slow {
            if self.links.remove(&desk).is_some() {
                self.slow_disconnects += 1;
                tracing::warn!(desk = desk.0, "CTI client too slow: event queue overflow, disconnecting");
                node.handle_input(Input::DeskClosed { at: clock::now(), desk });
            }
        }
    }

    /// Tells every desktop the site is stopping (an empty message is the close marker).
    fn close_all(&mut self) {
        for link in self.links.values() {
            let _ = link.try_send(Arc::from(""));
        }
    }

    fn snapshot(&self, node: &Node) -> Snapshot {
        Snapshot {
            stats: node.stats(),
            cti_clients: self.links.len() as u64,
            cti_dropped_events: self.dropped_events,
            cti_slow_disconnects: self.slow_disconnects,
            wake: Default::default(),
            store: Default::default(),
            peer_link: None,
            udp_kernel_drops: 0,
        }
    }
}
