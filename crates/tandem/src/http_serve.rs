//! Serves an axum router the way every HTTP listener of Tandem is served (`/metrics`, the
//! stats API and wallboard, CTI and the agent page): HTTP/1.1 only, connection slots in
//! all and per address ([`crate::listen::Slots`]), request heads that must arrive within
//! a time limit (which also closes a connection idle between requests), bounded header
//! memory, an accept that backs off when out of file descriptors, and optional TLS.
//! axum's own `serve` has none of these limits; twenty thousand silent connections used
//! to exhaust the process's descriptors this way.
//!
//! A WebSocket outlives its HTTP request: handlers that upgrade take the request's
//! [`Slot`] (an extension) into the socket's task, so the slot is held while it lives.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::listen::{Listener, Slot};

/// Most bytes a request head may take (hyper's read buffer).
const MAX_HEAD: usize = 64 * 1024;

/// What one HTTP listener admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpLimits {
    /// Connections at once.
    pub(crate) connections: usize,
    /// Connections at once from one IP address.
    pub(crate) per_address: usize,
    /// How long a request head may take to arrive, and a connection may wait idle for
    /// its next request.
    pub(crate) header_timeout: Duration,
}

impl HttpLimits {
    /// `/metrics`, `/healthz`, `/readyz`: scrapers and health checks, a few at a time.
    pub(crate) const METRICS: Self = Self { connections: 64, per_address: 16, header_timeout: Duration::from_secs(10) };
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { connections: 1024, per_address: 256, header_timeout: Duration::from_secs(10) }
    }
}

/// Serves `app` on `listener` (through `tls` when given) until `shutdown`; `what` names
/// the listener in logs.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    what: &'static str,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut listener = Listener::new(listener, limits.connections, limits.per_address, what);
    while let Some((tcp, remote, slot)) = listener.next(&mut shutdown).await {
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            match tls {
                None => connection(tcp, remote, slot, app, limits).await,
                Some(acceptor) => {
                    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(session)) => connection(session, remote, slot, app, limits).await,
                        _ => tracing::debug!(%remote, what, "TLS handshake failed or timed out"),
                    }
                }
            }
        });
    }
}

/// One connection: HTTP/1.1 with upgrades, each request carrying the client's address
/// (`ConnectInfo`) and the connection's [`Slot`].
async fn connection<S>(io: S, remote: SocketAddr, slot: Slot, app: Router, limits: HttpLimits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tower::ServiceExt as _;
    let held = slot.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request.extensions_mut().insert(held.clone());
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(MAX_HEAD);
    let io = hyper_util::rt::TokioIo::new(io);
    if let Err(e) = builder.serve_connection(io, service).with_upgrades().await {
        tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
    }
    drop(slot);
}

/// True unless a browser sent the request from a page of another origin: no `Origin`
/// header (not a browser), or one whose host and port are the request's `Host`. A page
/// elsewhere could otherwise open our WebSockets with the user's network position.
pub(crate) fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
    let origin_host =
        origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Headers every response of ours carries: the pages load nothing from elsewhere, may
/// talk only to their own origin, and may not be framed (clickjacking); no MIME sniffing.
pub(crate) async fn page_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{HeaderValue, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().expect("value"));
        if let Some(o) = origin {
            h.insert("origin", o.parse().expect("value"));
        }
        h
    }

    #[test]
    fn only_our_own_pages_and_non_browsers_pass_the_origin_check() {
        assert!(same_origin(&headers(None, "127.0.0.1:9070")), "no Origin: not a browser");
        assert!(same_origin(&headers(Some("http://127.0.0.1:9070"), "127.0.0.1:9070")));
        assert!(same_origin(&headers(Some("https://Board.example:443"), "board.example:443")));
        assert!(!same_origin(&headers(Some("http://evil.example"), "127.0.0.1:9070")));
        assert!(!same_origin(&headers(Some("http://127.0.0.1:8000"), "127.0.0.1:9070")), "another port");
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:9070")), "a sandboxed or file page");
    }
}
