//! SIP over TCP and TLS: the accept loop and one task per connection that reads, frames with
//! `sipcore::StreamFramer` and writes what the engine sends back. A hostile client is
//! bounded: a cap on connections in all and per IP address, an idle timeout, and a time
//! limit on finishing a message once it has started (a slow-drip client is closed).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sipcore::{ConnId, Peer, StreamFramer, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::TcpLimits;
use crate::listen::Listener;

/// Most TCP connections one site accepts at once.
const MAX_CONNECTIONS: usize = 10_000;
/// How long a message may take to arrive once its first byte has.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// A message framed off a TCP connection, on its way to the engine.
pub(crate) struct StreamMessage {
    /// TCP or TLS.
    pub(crate) transport: Transport,
    pub(crate) conn: ConnId,
    pub(crate) remote: SocketAddr,
    /// Which trunk certificate names the client's certificate was verified for (bits).
    pub(crate) certified: u64,
    pub(crate) bytes: Vec<u8>,
}

/// A connection opened (with the queue of what to write to it) or closed.
pub(crate) enum ConnControl {
    Opened(ConnId, mpsc::Sender<Arc<[u8]>>),
    Closed(ConnId),
}

/// Accepts connections until `shutdown`, within the caps of `limits`; with `tls`, each
/// connection is a TLS server session first (the engine sees a stream either way).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<crate::tls::SipTls>,
    limits: TcpLimits,
    to_engine: mpsc::Sender<StreamMessage>,
    control: mpsc::UnboundedSender<ConnControl>,
    mut shutdown: watch::Receiver<bool>,
) {
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    let mut listener = Listener::new(listener, MAX_CONNECTIONS, limits.per_address, "sip-tcp");
    while let Some((stream, remote, slot)) = listener.next(&mut shutdown).await {
        let id = ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(256);
        if control.send(ConnControl::Opened(id, tx)).is_err() {
            return;
        }
        let (to_engine, control, tls) = (to_engine.clone(), control.clone(), tls.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => {
                    let peer = Peer::tcp(remote, id);
                    serve_connection(stream, peer, limits.idle_timeout, to_engine, rx).await
                }
                Some(tls) => {
                    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
                        Ok(Ok(session)) => {
                            let certified = tls.certified(session.get_ref().1);
                            let peer = Peer { certified, ..Peer::tls(remote, id) };
                            serve_connection(session, peer, limits.idle_timeout, to_engine, rx).await
                        }
                        Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                }
            }
            let _ = control.send(ConnControl::Closed(id));
            drop(slot);
        });
    }
}

async fn serve_connection(
    stream: impl AsyncRead + AsyncWrite + Send + 'static,
    peer: Peer,
    idle_timeout: Duration,
    to_engine: mpsc::Sender<StreamMessage>,
    from_engine: mpsc::Receiver<Arc<[u8]>>,
) {
    let Peer { addr: remote, transport, certified, .. } = peer;
    let conn = peer.conn.unwrap_or(ConnId(0));
    let (mut reader, writer) = tokio::io::split(stream);
    let write_task = tokio::spawn(write_all_of(writer, from_engine));
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    // When the pending message started: it must be whole within MESSAGE_TIMEOUT.
    let mut started: Option<tokio::time::Instant> = None;
    'read: loop {
        let deadline = started.map_or(tokio::time::Instant::now() + idle_timeout, |s| s + MESSAGE_TIMEOUT);
        let n = match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::debug!(%remote, partial = started.is_some(), "closing silent TCP connection");
                break;
            }
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => {
                    let msg = StreamMessage { transport, conn, remote, certified, bytes: msg.to_vec() };
                    if to_engine.send(msg).await.is_err() {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be resynchronised: let the engine answer what it
                    // can of the buffered bytes, then close.
                    tracing::debug!(%remote, error = %e, "closing connection after framing error");
                    let _ = to_engine
                        .send(StreamMessage { transport, conn, remote, certified, bytes: framer.take_buffered() })
                        .await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    break 'read;
                }
            }
        }
        started = match (framer.buffered(), started) {
            (0, _) => None,
            (_, Some(s)) => Some(s),
            (_, None) => Some(tokio::time::Instant::now()),
        };
    }
    write_task.abort();
}

/// Writes what the engine sends to the connection, until the engine or the peer is done.
async fn write_all_of(mut writer: impl AsyncWrite + Unpin, mut from_engine: mpsc::Receiver<Arc<[u8]>>) {
    while let Some(bytes) = from_engine.recv().await {
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
