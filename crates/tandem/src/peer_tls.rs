//! The DR peer link over mutual TLS (`[site.peer_link]`, issue 10): what the two sites of
//! a BC pair say to each other (OPTIONS polls, login presence, forwarded calls over the
//! peer trunk) travels on TLS connections where each side proves itself with a
//! certificate signed by the pair's own CA, instead of as UDP datagrams whose source
//! address anyone can forge.
//!
//! Each site dials the peer's `listen` address and sends on that connection; it receives
//! on the connection the peer dialled in. Two one-way connections need no tie-break when
//! both dial at once, and the dialled connection is the liveness probe: when the peer
//! process dies, its kernel closes the socket, the read sees end-of-stream, and the engine
//! hears [`LinkEvent::Down`] at once (while down, a new dial every [`REDIAL`] repeats it).
//! A CRLF keep-alive every [`KEEPALIVE`] keeps idle state in middleboxes; a silent network
//! is still noticed by the engine's OPTIONS polls (`oos-check`/`oos-force`).
//!
//! The engine does not know about the link: what arrives on it is handed over as a
//! datagram from the DR peer's SIP address (the TLS session authenticated it), and what
//! the engine sends to that address goes on the link. UDP datagrams claiming that address
//! are dropped and counted ([`LinkStats::udp_ignored`]), since they could be anyone's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sipcore::StreamFramer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::rustls::{self, pki_types::ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Pause between dials while the peer cannot be reached.
pub(crate) const REDIAL: Duration = Duration::from_millis(200);
/// How often an idle outgoing connection carries a CRLF keep-alive.
const KEEPALIVE: Duration = Duration::from_millis(500);
/// The TCP connect plus the TLS handshake must finish within this.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Inbound connections (handshaking or open) at once from the peer's IP address: the peer
/// needs one, a reconnecting peer briefly two. Other addresses have as many slots of their
/// own, so strangers holding handshakes open cannot keep the peer out.
const MAX_INBOUND: usize = 4;
/// An inbound connection silent this long is dead (the peer sends a keep-alive every
/// [`KEEPALIVE`]): it is closed and its slot freed.
const INBOUND_IDLE: Duration = Duration::from_secs(10);
/// Messages queued for the peer before new ones are dropped (the engine retransmits).
const OUT_QUEUE: usize = 4096;

/// `[site.peer_link]`, validated: where to listen and dial, and the PEM files.
#[derive(Debug, Clone)]
pub(crate) struct PeerLinkConfig {
    /// Where the DR peer dials in.
    pub(crate) listen: SocketAddr,
    /// The DR peer's `listen` address.
    pub(crate) peer: SocketAddr,
    /// The name the peer's certificate must carry (DNS name or IP address).
    pub(crate) peer_name: String,
    /// This site's certificate chain (used as server and as client).
    pub(crate) cert: std::path::PathBuf,
    /// Its private key.
    pub(crate) key: std::path::PathBuf,
    /// The pair's CA: the only issuer whose certificates are accepted, either way.
    pub(crate) ca: std::path::PathBuf,
}

/// What the link tells the engine task.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// One SIP message from the peer.
    Message(Vec<u8>),
    /// The outgoing connection is up (the peer process is there).
    Up,
    /// The outgoing connection failed or closed: the peer process is gone (or unreachable).
    Down,
}

/// Counters of the link, shown in `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct LinkStats {
    /// Outgoing connections established.
    pub(crate) connects: AtomicU64,
    /// Outgoing connections lost or dials that failed.
    pub(crate) downs: AtomicU64,
    /// Inbound connections refused at the handshake (no or wrong certificate).
    pub(crate) refused: AtomicU64,
    /// UDP datagrams from the DR peer's address, dropped (the link is the only way in).
    pub(crate) udp_ignored: AtomicU64,
}

/// The link before it runs: its listener and TLS settings.
pub(crate) struct BoundLink {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// The DR peer's `listen` address (its IP gets inbound slots of its own).
    peer: SocketAddr,
    peer_name: ServerName<'static>,
}

/// The engine task's end of a running link.
pub(crate) struct PeerLink {
    to_peer: mpsc::Sender<Arc<[u8]>>,
    /// Messages and up/down news from the link.
    pub(crate) events: mpsc::Receiver<LinkEvent>,
    pub(crate) stats: Arc<LinkStats>,
}

impl PeerLink {
    /// Queues a message for the peer; dropped when the link is down or its queue is full
    /// (the engine's transactions retransmit, its polls notice a dead link).
    pub(crate) fn send(&self, bytes: Arc<[u8]>) {
        let _ = self.to_peer.try_send(bytes);
    }
}

/// Reads the PEM files and binds the listener.
pub(crate) async fn bind(config: &PeerLinkConfig) -> anyhow::Result<BoundLink> {
    let roots = Arc::new(crate::tls::ca_roots(&config.ca, "peer_link.ca")?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key) = crate::tls::read_pem(&config.cert, &config.key)?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .context("peer_link.ca: building the client certificate check")?;
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .context("peer_link: the key does not match the certificate")?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("peer_link: the key does not match the certificate")?;
    let peer_name = ServerName::try_from(config.peer_name.clone())
        .with_context(|| format!("peer_link.peer_name: `{}` is not a DNS name or IP address", config.peer_name))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding peer_link.listen {}", config.listen))?;
    Ok(BoundLink {
        listener,
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
        peer: config.peer,
        peer_name,
    })
}

impl BoundLink {
    /// The address the peer dials.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts the accept and dial tasks; they end at `shutdown`.
    pub(crate) fn start(self, shutdown: watch::Receiver<bool>) -> PeerLink {
        let (events_tx, events) = mpsc::channel(OUT_QUEUE);
        let (to_peer, out_rx) = mpsc::channel(OUT_QUEUE);
        let stats = Arc::new(LinkStats::default());
        let inbound = Inbound { acceptor: self.acceptor, peer_ip: self.peer.ip(), events: events_tx.clone() };
        tokio::spawn(inbound.accept_loop(self.listener, stats.clone(), shutdown.clone()));
        let dialer = Dialer { connector: self.connector, peer: self.peer, name: self.peer_name, stats: stats.clone() };
        tokio::spawn(dialer.run(out_rx, events_tx, shutdown));
        PeerLink { to_peer, events, stats }
    }
}

/// The listening side: who may connect and where their messages go.
struct Inbound {
    acceptor: TlsAcceptor,
    peer_ip: std::net::IpAddr,
    events: mpsc::Sender<LinkEvent>,
}

impl Inbound {
    /// Serves inbound connections: only a client with a certificate from the pair's CA
    /// gets past the handshake; its messages go to the engine.
    async fn accept_loop(self, listener: TcpListener, stats: Arc<LinkStats>, mut shutdown: watch::Receiver<bool>) {
        let (peer_slots, other_slots) = (Arc::new(Semaphore::new(MAX_INBOUND)), Arc::new(Semaphore::new(MAX_INBOUND)));
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => return,
            };
            let Ok((stream, remote)) = accepted else { continue };
            let slots = if remote.ip() == self.peer_ip { &peer_slots } else { &other_slots };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%remote, "peer link: too many inbound connections; closing a new one");
                continue;
            };
            let (acceptor, events, stats) = (self.acceptor.clone(), self.events.clone(), stats.clone());
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(session)) => {
                        tracing::info!(%remote, "peer link: the DR peer connected");
                        read_messages(session, &events).await;
                    }
                    Ok(Err(e)) => {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%remote, error = %e, "peer link: handshake refused");
                    }
                    Err(_) => {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%remote, "peer link: handshake timed out");
                    }
                }
                drop(slot);
            });
        }
    }
}

/// Frames SIP messages off an inbound connection until it closes or breaks framing.
async fn read_messages(mut session: impl tokio::io::AsyncRead + Unpin, events: &mpsc::Sender<LinkEvent>) {
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout(INBOUND_IDLE, session.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::warn!("peer link: inbound connection silent for {INBOUND_IDLE:?}; closing it");
                return;
            }
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => {
                    if events.send(LinkEvent::Message(msg.to_vec())).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "peer link: unframeable bytes from the peer; closing");
                    return;
                }
            }
        }
    }
}

/// Keeps one outgoing connection to the peer and writes the engine's messages on it.
struct Dialer {
    connector: TlsConnector,
    peer: SocketAddr,
    name: ServerName<'static>,
    stats: Arc<LinkStats>,
}

impl Dialer {
    async fn run(
        self,
        mut out: mpsc::Receiver<Arc<[u8]>>,
        events: mpsc::Sender<LinkEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let dialled = tokio::select! {
                d = tokio::time::timeout(DIAL_TIMEOUT, self.dial()) => d,
                _ = shutdown.changed() => return,
            };
            match dialled {
                Ok(Ok(session)) => {
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(peer = %self.peer, "peer link: connected to the DR peer");
                    let _ = events.send(LinkEvent::Up).await;
                    let ended = tokio::select! {
                        e = serve_outgoing(session, &mut out) => e,
                        _ = shutdown.changed() => return,
                    };
                    tracing::warn!(peer = %self.peer, reason = ended, "peer link: connection to the DR peer lost");
                }
                Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "peer link: dial failed"),
                Err(_) => tracing::debug!(peer = %self.peer, "peer link: dial timed out"),
            }
            self.stats.downs.fetch_add(1, Ordering::Relaxed);
            if events.send(LinkEvent::Down).await.is_err() {
                return;
            }
            tokio::time::sleep(REDIAL).await;
            // What was queued while down is stale: the engine retransmits what still matters.
            while out.try_recv().is_ok() {}
        }
    }

    async fn dial(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let stream = TcpStream::connect(self.peer).await?;
        let _ = stream.set_nodelay(true);
        self.connector.connect(self.name.clone(), stream).await
    }
}

/// Writes queued messages and keep-alives until the connection fails; returns why.
async fn serve_outgoing(
    session: tokio_rustls::client::TlsStream<TcpStream>,
    out: &mut mpsc::Receiver<Arc<[u8]>>,
) -> &'static str {
    let (mut reader, mut writer) = tokio::io::split(session);
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    let mut scratch = [0u8; 512];
    loop {
        tokio::select! {
            msg = out.recv() => {
                let Some(bytes) = msg else { return "site stopping" };
                if writer.write_all(&bytes).await.is_err() {
                    return "write failed";
                }
            }
            _ = keepalive.tick() => {
                if writer.write_all(b"\r\n\r\n").await.is_err() {
                    return "keep-alive failed";
                }
            }
            // The peer never writes here: end-of-stream or an error is the peer going away.
            read = reader.read(&mut scratch) => match read {
                Ok(0) => return "closed by the peer",
                Ok(_) => {}
                Err(_) => return "reset",
            },
        }
    }
}
