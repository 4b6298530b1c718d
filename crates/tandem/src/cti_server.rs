//! The CTI server of one site: WebSocket + JSON on the site's `cti` address, path `/cti`,
//! and the agent page at `/agent` (`assets/agent.html`, compiled in), which speaks CTI to
//! the same server from a browser (and reads its settings and last calls over HTTP:
//! `agent_page.rs`).
//!
//! Connection tasks only move messages: they parse JSON into `cti::Request`s for the
//! engine task and write the events it sends back. A client must present a token
//! (`Authorization: Bearer ...`, the `tandem-token.<token>` subprotocol, or from loopback
//! `?token=...`); its role (`cti_access.rs`) decides which requests reach the engine, and
//! connections past `limits.cti_clients` are refused. Each desktop has a bounded event
//! queue; when it is full the engine drops that desktop, which is then closed with the
//! reason `event queue overflow`: a slow client never stalls call processing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engine::DeskId;

use crate::cti_access::{CtiTable, Grant, Role};

/// The subprotocol a client may offer beside `tandem-token.<token>`, for the server to
/// answer with instead of echoing the token.
pub(crate) const CTI_PROTOCOL: &str = "tandem-cti";
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Events queued for one desktop before it counts as too slow.
pub(crate) const DESK_QUEUE: usize = 4096;
/// Requests in flight from all desktops to the engine.
pub(crate) const REQUEST_QUEUE: usize = 256;
/// The largest WebSocket message (and frame) a desktop may send: a CTI request is well
/// under 1 KiB; UserData leaves room. Larger ones close the connection.
const MAX_MESSAGE: usize = 64 * 1024;

/// From a connection task to the engine task.
pub(crate) enum DeskMsg {
    Opened(DeskId, mpsc::Sender<Arc<str>>),
    Request(DeskId, cti::Request),
    Closed(DeskId),
}

#[derive(Clone)]
struct CtiState {
    site: Arc<str>,
    /// The tokens and agent password hashes in force (replaced on reload).
    grants: watch::Receiver<Arc<CtiTable>>,
    to_engine: mpsc::Sender<DeskMsg>,
    /// Connections open now, and how many may be.
    clients: Arc<AtomicUsize>,
    max_clients: usize,
    /// Guessing throttles, argon2 turns, connections per desktop token.
    guard: crate::cti_guard::CtiGuard,
}

/// What the CTI server is given: its site's name, tokens (live), connection cap, and
/// the TLS acceptor when it serves `wss://`.
pub(crate) struct CtiAccess {
    pub(crate) site: String,
    pub(crate) grants: watch::Receiver<Arc<CtiTable>>,
    pub(crate) max_clients: usize,
    /// What the listener admits (connections, per address, header timeout).
    pub(crate) http: crate::http_serve::HttpLimits,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// The agent page's NotReady reasons.
    pub(crate) reasons: Vec<String>,
    /// What desktops may ask of the media partner.
    pub(crate) can: crate::agent_page::MediaAbilities,
    /// The store the agent page lists a DN's last calls from, when the site keeps them.
    pub(crate) store: Option<crate::store::Target>,
}

static NEXT_DESK: AtomicU64 = AtomicU64::new(1);

/// Serves `/cti` on `listener` until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    access: CtiAccess,
    to_engine: mpsc::Sender<DeskMsg>,
    shutdown: watch::Receiver<bool>,
) {
    let (http, tls) = (access.http, access.tls);
    let guard = crate::cti_guard::CtiGuard::default();
    let site: Arc<str> = access.site.into();
    let page = crate::agent_page::PageState {
        site: site.clone(),
        reasons: access.reasons.into(),
        can: access.can,
        store: access.store.map(Arc::new),
        grants: access.grants.clone(),
        guard: guard.clone(),
        reads: Arc::new(tokio::sync::Semaphore::new(1)),
    };
    let state = CtiState {
        site,
        grants: access.grants,
        to_engine,
        clients: Arc::new(AtomicUsize::new(0)),
        max_clients: access.max_clients,
        guard,
    };
    let page_requests = Router::new()
        .route("/agent/settings", get(crate::agent_page::settings))
        .route("/agent/calls", get(crate::agent_page::calls))
        .with_state(page);
    let app = Router::new()
        .route("/cti", get(upgrade))
        .route("/agent", get(agent_page))
        .with_state(state)
        .merge(page_requests)
        .layer(axum::middleware::map_response(crate::http_serve::page_headers));
    crate::http_serve::serve(listener, app, http, tls, "cti", shutdown).await;
}

/// The agent page: log in, Ready / NotReady, answer and release calls. It holds no
/// secret: the agent types the CTI token, which the WebSocket then presents.
async fn agent_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../assets/agent.html"))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn upgrade(
    ws: WebSocketUpgrade,
    Query(q): Query<TokenQuery>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    State(state): State<CtiState>,
    slot: Option<axum::Extension<crate::listen::Slot>>,
) -> Response {
    if !crate::http_serve::same_origin(&headers) {
        tracing::warn!(%remote, "CTI connection refused: a page of another origin");
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    let presented = crate::cti_access::presented(&headers, q.token, remote, CTI_PROTOCOL);
    let table = state.grants.borrow().clone();
    let source = crate::cti_guard::source_key("ip", remote.ip());
    let now = crate::clock::now();
    if !state.guard.admits(&source, now) {
        tracing::debug!(%remote, "CTI connection refused: too many wrong tokens from this address; slowed");
        return (StatusCode::TOO_MANY_REQUESTS, "too many wrong tokens: one try every 2 s").into_response();
    }
    let Some(grant) = presented.token.and_then(|t| crate::cti_access::find(&table.grants, &t)).cloned() else {
        state.guard.failed(&source, now);
        tracing::warn!(%remote, "CTI connection refused: no valid token");
        return (StatusCode::UNAUTHORIZED, "a valid CTI token is required (Authorization: Bearer ...)").into_response();
    };
    let token_slot = match &grant.role {
        Role::Desktop(_) => match state.guard.desktop_slot(&grant.token) {
            Some(slot) => Some(slot),
            None => {
                tracing::warn!(%remote, "CTI connection refused: this desktop token holds its share of connections");
                return (StatusCode::SERVICE_UNAVAILABLE, "this desktop token has too many connections")
                    .into_response();
            }
        },
        Role::Admin | Role::Client | Role::Viewer => None,
    };
    if state.clients.fetch_add(1, Ordering::SeqCst) >= state.max_clients {
        state.clients.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(%remote, max = state.max_clients, "CTI connection refused: limits.cti_clients reached");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many CTI clients").into_response();
    }
    let ws = ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE);
    let ws = match presented.protocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    ws.on_upgrade(move |socket| async move {
        let _slots = (slot, token_slot); // the connection's and the token's, held while connected
        let clients = state.clients.clone();
        desk(socket, state, grant, remote).await;
        clients.fetch_sub(1, Ordering::SeqCst);
    })
}

/// One desktop's connection: its requests go to the engine (or are refused here), its
/// events come back on its queue.
async fn desk(mut socket: WebSocket, mut state: CtiState, grant: Grant, remote: SocketAddr) {
    let id = DeskId(NEXT_DESK.fetch_add(1, Ordering::Relaxed));
    let (tx, mut rx) = mpsc::channel::<Arc<str>>(DESK_QUEUE);
    if state.to_engine.send(DeskMsg::Opened(id, tx)).await.is_err() {
        return;
    }
    let hello = cti::Event::EventServerInfo { server: state.site.to_string(), protocol_version: cti::PROTOCOL_VERSION };
    if send_event(&mut socket, &hello).await.is_err() {
        let _ = state.to_engine.send(DeskMsg::Closed(id)).await;
        return;
    }
    let desk = Desk { id, grant, remote };
    loop {
        // Backpressure: a desktop whose own events pile up is not read until it catches up,
        // so pipelined requests cannot overflow its queue; only other parties' events can.
        let room = rx.len() < DESK_QUEUE / 2;
        let flow = tokio::select! {
            incoming = socket.recv(), if room => match incoming {
                Some(Ok(Message::Text(text))) => desk.on_request(&mut socket, &state, &text).await,
                Some(Ok(Message::Close(_)) | Err(_)) | None => Flow::Close(None),
                Some(Ok(_)) => Flow::Go,
            },
            Ok(()) = state.grants.changed() => {
                // A reload that drops or changes this client's token closes it.
                let still = crate::cti_access::find(&state.grants.borrow().grants, &desk.grant.token) == Some(&desk.grant);
                if still { Flow::Go } else { Flow::Close(Some((1008, "token revoked"))) }
            }
            outgoing = rx.recv() => match outgoing {
                // The engine's "site stopping" marker.
                Some(json) if json.is_empty() => Flow::Close(Some((1001, "site shutting down"))),
                Some(json) => match socket.send(Message::Text(json.to_string())).await {
                    Ok(()) => Flow::Go,
                    Err(_) => Flow::Close(None),
                },
                // The engine dropped this desktop: its queue overflowed.
                None => Flow::Close(Some((1008, "event queue overflow"))),
            },
        };
        if let Flow::Close(frame) = flow {
            if let Some((code, reason)) = frame {
                let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
            }
            break;
        }
    }
    let _ = state.to_engine.send(DeskMsg::Closed(id)).await;
}

/// Whether a desktop's connection goes on, or closes (with this close frame).
enum Flow {
    Go,
    Close(Option<(u16, &'static str)>),
}

/// A connected desktop: its id at the engine, its token's grant, its address.
struct Desk {
    id: DeskId,
    grant: Grant,
    remote: SocketAddr,
}

impl Desk {
    /// One request: to the engine, or refused here with an EventError.
    async fn on_request(&self, socket: &mut WebSocket, state: &CtiState, text: &str) -> Flow {
        let refused = match serde_json::from_str::<cti::Request>(text) {
            Ok(request) => match refusal(state, &self.grant.role, self.remote, &request).await {
                Some((code, message)) => Some((request.reference_id(), code, message)),
                None => {
                    if state.to_engine.send(DeskMsg::Request(self.id, request)).await.is_err() {
                        return Flow::Close(None);
                    }
                    None
                }
            },
            Err(e) => Some((None, cti::ErrorCode::InvalidRequest, e.to_string())),
        };
        let Some((reference_id, error_code, error_message)) = refused else { return Flow::Go };
        let error = cti::Event::EventError { reference_id, this_dn: None, error_code, error_message };
        match send_event(socket, &error).await {
            Ok(()) => Flow::Go,
            Err(_) => Flow::Close(None),
        }
    }
}

/// Why the connection task refuses `request` itself, if it does: the token's role does not
/// allow it, a desktop token logs in an agent not its own, or the agent's password is wrong.
async fn refusal(
    state: &CtiState,
    role: &Role,
    remote: SocketAddr,
    request: &cti::Request,
) -> Option<(cti::ErrorCode, String)> {
    if !role.permits(request) {
        let message = format!("a {} token may not send {}", role.name(), request.name());
        return Some((cti::ErrorCode::NotPermitted, message));
    }
    if !state.grants.borrow().may_log_in(role, request) {
        let message = "a desktop token may log in only its own agents (or one with its password)";
        return Some((cti::ErrorCode::NotPermitted, message.into()));
    }
    if !password_ok(state, remote, request).await {
        return Some((cti::ErrorCode::BadPassword, "wrong password".into()));
    }
    None
}

/// An agent login whose agent has a password hash must carry the matching password;
/// argon2 runs on a blocking thread (tens of milliseconds, on purpose), never on the
/// engine's. Other requests, and agents without a hash, pass (the engine checks the rest).
async fn password_ok(state: &CtiState, remote: SocketAddr, request: &cti::Request) -> bool {
    let cti::Request::RequestAgentLogin { agent_id, password, .. } = request else {
        return true;
    };
    let Some(hash) = state.grants.borrow().agent_hashes.get(agent_id).cloned() else {
        return true;
    };
    let (agent_key, source_key) = (format!("agent:{agent_id}"), crate::cti_guard::source_key("pw", remote.ip()));
    let now = crate::clock::now();
    if !state.guard.admits(&agent_key, now) || !state.guard.admits(&source_key, now) {
        tracing::debug!(%remote, agent = %agent_id, "agent login refused: too many wrong passwords lately; slowed");
        return false;
    }
    let password = password.clone().unwrap_or_default();
    let matched = state.guard.password_matches(hash, password).await;
    if !matched {
        tracing::warn!(%remote, agent = %agent_id, "agent login refused: wrong password");
        state.guard.failed(&agent_key, now);
        state.guard.failed(&source_key, now);
    }
    matched
}

async fn send_event(socket: &mut WebSocket, event: &cti::Event) -> Result<(), axum::Error> {
    let json = serde_json::to_string(event).unwrap_or_default();
    socket.send(Message::Text(json)).await
}
