//! One site at run time: its sockets and the engine task that drives its node.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use engine::{Input, Node, Transmit};
use sipcore::{ConnId, StreamFramer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::clock;
use crate::config::SiteConfig;

/// Largest UDP datagram we read.
const MAX_DATAGRAM: usize = 65_535;
/// Socket buffer size asked of the kernel (it may grant less).
const SOCKET_BUFFER: usize = 4 << 20;
/// Most TCP connections one site accepts at once.
const MAX_CONNECTIONS: usize = 10_000;
/// Messages queued from connection tasks to the engine before readers wait.
const STREAM_QUEUE: usize = 4096;

/// Sockets bound for one site, before it runs.
pub(crate) struct BoundSite {
    config: SiteConfig,
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
}

/// Binds the site's sockets and prints one `endpoint` line per listener.
pub(crate) async fn bind(mut config: SiteConfig) -> anyhow::Result<BoundSite> {
    let name = config.node.site.clone();
    let udp = match config.sip_udp {
        Some(addr) => Some(bind_udp(addr).with_context(|| format!("site {name}: binding sip-udp {addr}"))?),
        None => None,
    };
    let tcp = match config.sip_tcp {
        Some(addr) => {
            Some(TcpListener::bind(addr).await.with_context(|| format!("site {name}: binding sip-tcp {addr}"))?)
        }
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
    Ok(BoundSite { config, udp, tcp })
}

#[allow(clippy::print_stdout)]
fn announce(site: &str, kind: &str, addr: SocketAddr) {
    println!("endpoint {site} {kind} {addr}");
}

fn bind_udp(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// A message framed off a TCP connection, on its way to the engine.
struct StreamMessage {
    conn: ConnId,
    remote: SocketAddr,
    bytes: Vec<u8>,
}

enum ConnControl {
    Opened(ConnId, mpsc::Sender<Arc<[u8]>>),
    Closed(ConnId),
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
        mut reload: mpsc::Receiver<engine::NodeConfig>,
    ) -> anyhow::Result<()> {
        let (stream_tx, mut stream_rx) = mpsc::channel::<StreamMessage>(STREAM_QUEUE);
        let (control_tx, mut control_rx) = mpsc::unbounded_channel::<ConnControl>();
        if let Some(listener) = self.tcp {
            tokio::spawn(accept_loop(listener, stream_tx, control_tx, shutdown.clone()));
        }
        let site = self.config.node.site.clone();
        let mut node = Node::new(self.config.node, rand::random(), clock::now());
        let mut writers: HashMap<ConnId, mpsc::Sender<Arc<[u8]>>> = HashMap::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let udp = self.udp;
        tracing::info!(site, "site running");
        loop {
            let deadline = node.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                received = recv(udp.as_ref(), &mut buf) => {
                    let (len, remote) = received?;
                    node.handle_input(Input::Datagram { at: clock::now(), remote, bytes: &buf[..len] });
                }
                Some(msg) = stream_rx.recv() => {
                    node.handle_input(Input::Stream { at: clock::now(), conn: msg.conn, remote: msg.remote, bytes: &msg.bytes });
                }
                Some(control) = control_rx.recv() => match control {
                    ConnControl::Opened(id, tx) => { writers.insert(id, tx); }
                    ConnControl::Closed(id) => { writers.remove(&id); }
                },
                () = sleep_until(deadline) => node.handle_input(Input::Timeout(clock::now())),
                Some(config) = reload.recv() => { node.reconfigure(clock::now(), config); }
                _ = shutdown.changed() => break,
            }
            flush(&mut node, udp.as_ref(), &writers).await;
        }
        tracing::info!(site, "site stopped");
        Ok(())
    }
}

async fn recv(udp: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match udp {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn flush(node: &mut Node, udp: Option<&UdpSocket>, writers: &HashMap<ConnId, mpsc::Sender<Arc<[u8]>>>) {
    while let Some(Transmit { to, bytes }) = node.poll_transmit() {
        match (to.transport, to.conn) {
            (Transport::Tcp, Some(conn)) => {
                if let Some(w) = writers.get(&conn) {
                    // A full writer queue means a stalled peer: drop rather than stall the site.
                    let _ = w.try_send(bytes);
                }
            }
            _ => {
                if let Some(s) = udp {
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
    while let Some(event) = node.poll_event() {
        tracing::debug!(?event, "domain event");
    }
}

async fn accept_loop(
    listener: TcpListener,
    to_engine: mpsc::Sender<StreamMessage>,
    control: mpsc::UnboundedSender<ConnControl>,
    mut shutdown: watch::Receiver<bool>,
) {
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, remote)) = accepted else {
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%remote, "connection limit reached; closing new connection");
            continue;
        };
        let id = ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(256);
        if control.send(ConnControl::Opened(id, tx)).is_err() {
            return;
        }
        let (to_engine, control) = (to_engine.clone(), control.clone());
        tokio::spawn(async move {
            serve_connection(stream, remote, id, to_engine, rx).await;
            let _ = control.send(ConnControl::Closed(id));
            drop(permit);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    to_engine: mpsc::Sender<StreamMessage>,
    mut from_engine: mpsc::Receiver<Arc<[u8]>>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = from_engine.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => {
                    let msg = StreamMessage { conn, remote, bytes: msg.to_vec() };
                    if to_engine.send(msg).await.is_err() {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be resynchronised: let the engine answer what it
                    // can of the buffered bytes, then close.
                    tracing::debug!(%remote, error = %e, "closing connection after framing error");
                    let _ = to_engine.send(StreamMessage { conn, remote, bytes: framer.take_buffered() }).await;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    break 'read;
                }
            }
        }
    }
    write_task.abort();
}
