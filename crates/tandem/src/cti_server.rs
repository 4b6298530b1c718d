//! The CTI server of one site: WebSocket + JSON on the site's `cti` address, path `/cti`,
//! and the agent page at `/agent` (`assets/agent.html`, compiled in), which speaks CTI to
//! the same server from a browser.
//!
//! Connection tasks only move messages: they parse JSON into `cti::Request`s for the
//! engine task and write the events it sends back. A desktop must present a token
//! (`?token=...` or `Authorization: Bearer ...`). Each desktop has a bounded event
//! queue; when it is full the engine drops that desktop, which is then closed with the
//! reason `event queue overflow`: a slow client never stalls call processing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engine::DeskId;
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
    tokens: Arc<[String]>,
    to_engine: mpsc::Sender<DeskMsg>,
}

static NEXT_DESK: AtomicU64 = AtomicU64::new(1);

/// Serves `/cti` on `listener` until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    site: String,
    tokens: Vec<String>,
    to_engine: mpsc::Sender<DeskMsg>,
    mut shutdown: watch::Receiver<bool>,
) {
    let state = CtiState { site: site.into(), tokens: tokens.into(), to_engine };
    let app = Router::new().route("/cti", get(upgrade)).route("/agent", get(agent_page)).with_state(state);
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "CTI server failed");
    }
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
    headers: HeaderMap,
    State(state): State<CtiState>,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let presented = q.token.or(bearer);
    if !presented.is_some_and(|t| state.tokens.iter().any(|ok| same_secret(ok.as_bytes(), t.as_bytes()))) {
        return (StatusCode::UNAUTHORIZED, "a valid CTI token is required (?token=...)").into_response();
    }
    ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(move |socket| desk(socket, state))
}

/// Compares a presented token with a configured one in time that does not depend on
/// where they first differ (only on the length).
fn same_secret(expected: &[u8], presented: &[u8]) -> bool {
    expected.len() == presented.len() && expected.iter().zip(presented).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn desk(mut socket: WebSocket, state: CtiState) {
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
    loop {
        // Backpressure: a desktop whose own events pile up is not read until it catches up,
        // so pipelined requests cannot overflow its queue; only other parties' events can.
        let room = rx.len() < DESK_QUEUE / 2;
        tokio::select! {
            incoming = socket.recv(), if room => {
                let Some(Ok(msg)) = incoming else { break };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    _ => continue,
                };
                match serde_json::from_str::<cti::Request>(&text) {
                    Ok(request) => {
                        if state.to_engine.send(DeskMsg::Request(id, request)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let error = cti::Event::EventError { reference_id: None, this_dn: None, error_code: cti::ErrorCode::InvalidRequest, error_message: e.to_string() };
                        if send_event(&mut socket, &error).await.is_err() {
                            break;
                        }
                    }
                }
            }
            outgoing = rx.recv() => match outgoing {
                Some(json) if json.is_empty() => {
                    // The engine's "site stopping" marker.
                    let frame = CloseFrame { code: 1001, reason: "site shutting down".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                Some(json) => {
                    if socket.send(Message::Text(json.to_string())).await.is_err() {
                        break;
                    }
                }
                None => {
                    // The engine dropped this desktop: its queue overflowed.
                    let frame = CloseFrame { code: 1008, reason: "event queue overflow".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
            },
        }
    }
    let _ = state.to_engine.send(DeskMsg::Closed(id)).await;
}

async fn send_event(socket: &mut WebSocket, event: &cti::Event) -> Result<(), axum::Error> {
    let json = serde_json::to_string(event).unwrap_or_default();
    socket.send(Message::Text(json)).await
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same_secret(b"t0ken", b"t0ken"));
        assert!(!same_secret(b"t0ken", b"t0kem"));
        assert!(!same_secret(b"t0ken", b"t0ke"));
        assert!(!same_secret(b"t0ken", b""));
    }
}
