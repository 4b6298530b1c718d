//! `tandem stat-server`: the stat service of one site ([`routing::stats::StatService`]),
//! connected to every site, serving its figures on the site's `stats` address:
//!
//! - `GET /stats` — every statistic, as one JSON object `{name: value}`;
//! - `GET /stats/<name>` — one statistic (e.g. `/stats/rp/5000`), 404 if unknown;
//! - `GET /wallboard` (and `/`) — the live wallboard page (both sites, queues, agent tiles);
//! - `GET /history` — today's figures per Routing Point in intervals, from the sites' call
//!   records (`stats_records.rs`), which also give the current interval's counters when
//!   the service starts;
//! - `GET /stats/ws` — WebSocket: send `{"subscribe": ["total", "rp/5000"]}` (or `["*"]`),
//!   get each statistic's current value, then every change as
//!   `{"stat": name, "value": {...}, "at_ms": unix-ms}`.
//!
//! One task owns the service; every event that changes a figure is pushed at once to the
//! subscribers of that figure (a broadcast channel; a subscriber that falls behind gets
//! its subscriptions' current values again). Waiting times grow without events, so the
//! totals, sites and Routing Points are also pushed once a second. `docs/stats.md` has
//! the schema.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::clock;
use crate::config::Deployment;
use crate::cti_link::{self, LinkEvent};
use crate::stats_records::Records;

/// One changed figure.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    name: Arc<str>,
    value: Arc<Value>,
}

/// A request for current values (names; `*` for all).
struct Query {
    names: Vec<String>,
    reply: oneshot::Sender<Vec<(String, Value)>>,
}

#[derive(Clone)]
struct Api {
    queries: mpsc::Sender<Query>,
    updates: broadcast::Sender<Update>,
    /// WebSocket subscribers, capped in all and per address.
    subscribers: crate::listen::Slots,
    /// The home site's CTI tokens: admin, client and viewer tokens may read the figures.
    grants: Arc<Vec<crate::cti_access::Grant>>,
    /// Wrong tokens slowed per address, as on CTI.
    guard: crate::cti_guard::CtiGuard,
    /// The sites' call records, when they keep some (today's history).
    records: Option<Arc<Records>>,
}

/// Runs the stat service of site `home`, serving on `listener`, until shutdown.
pub(crate) async fn run(
    deployment: Deployment,
    home: usize,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let tls = match deployment.sites.get(home).and_then(|s| s.stats_tls.as_ref()) {
        Some(files) => Some(crate::tls::acceptor(&files.cert, &files.key).context("stats_tls")?),
        None => None,
    };
    // A router and a stat service see the sites of their own peer group.
    let (deployment, home) = deployment.peer_group(home);
    let Some(config) = deployment.routing.clone() else {
        anyhow::bail!("the configuration has no [routing] section");
    };
    let name = deployment.site_names().get(home).cloned().unwrap_or_default();
    let (mut service, records) = start_service(&deployment, config).await;
    let (events_tx, mut events) = mpsc::channel(4096);
    let links = cti_link::spawn(cti_link::endpoints(&deployment), events_tx, &shutdown);
    let (updates, _) = broadcast::channel(16_384);
    let (queries_tx, mut queries) = mpsc::channel::<Query>(64);
    let subscribers = crate::listen::Slots::new(MAX_SUBSCRIBERS, MAX_SUBSCRIBERS_PER_ADDRESS);
    let grants = Arc::new(deployment.sites.get(home).map(|s| s.cti_grants.clone()).unwrap_or_default());
    let guard = crate::cti_guard::CtiGuard::default();
    let api = Api { queries: queries_tx, updates: updates.clone(), subscribers, grants, guard, records };
    tracing::info!(site = %name, addr = %listener.local_addr()?, "stat service started");
    tokio::spawn(serve(listener, api, tls, shutdown.clone()));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let changed = tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let now = clock::now();
                match event {
                    LinkEvent::Up(site) => service.connected(site),
                    LinkEvent::Down(site) => service.disconnected(now, site),
                    LinkEvent::Event(site, event) => service.on_event(now, site, &event),
                }
            }
            Some(query) = queries.recv() => {
                let names = if query.names.iter().any(|n| n == "*") { service.names() } else { query.names };
                let now = clock::now();
                let values = names.into_iter().filter_map(|n| service.value(now, &n).map(|v| (n, v))).collect();
                let _ = query.reply.send(values);
                Vec::new()
            }
            _ = tick.tick() => {
                service.tick(clock::now());
                service.names().into_iter().filter(|n| !n.starts_with("agent/")).collect()
            }
            _ = shutdown.changed() => break,
        };
        publish(&service, &updates, changed);
        while let Some((site, request)) = service.poll_request() {
            cti_link::send(&links, site, request);
        }
    }
    Ok(())
}

/// The service of `deployment`'s sites, its current interval resumed from their call
/// records when they keep some.
async fn start_service(
    deployment: &Deployment,
    config: routing::RoutingConfig,
) -> (routing::stats::StatService, Option<Arc<Records>>) {
    let records = Records::of(deployment, &config);
    let mut service =
        routing::stats::StatService::new(clock::now(), config, deployment.site_names(), deployment.agent_dns());
    if let Some(records) = &records {
        records.resume(&mut service).await;
    }
    (service, records)
}

fn publish(service: &routing::stats::StatService, updates: &broadcast::Sender<Update>, changed: Vec<String>) {
    if updates.receiver_count() == 0 {
        return;
    }
    let now = clock::now();
    let unique: BTreeSet<String> = changed.into_iter().collect();
    for name in unique {
        if let Some(value) = service.value(now, &name) {
            let _ = updates.send(Update { name: name.into(), value: Arc::new(value) });
        }
    }
}

async fn serve(listener: TcpListener, api: Api, tls: Option<TlsAcceptor>, shutdown: watch::Receiver<bool>) {
    let figures = axum::Router::new()
        .route("/stats", get(all))
        .route("/stats/ws", get(upgrade))
        .route("/stats/*name", get(one))
        .route("/history", get(history))
        .route_layer(axum::middleware::from_fn_with_state(api.clone(), require_token));
    let app = axum::Router::new()
        .route("/", get(|| async { axum::response::Redirect::temporary("/wallboard") }))
        .route("/wallboard", get(wallboard))
        .merge(figures)
        .with_state(api)
        .layer(axum::middleware::map_response(crate::http_serve::page_headers));
    crate::http_serve::serve(listener, app, crate::http_serve::HttpLimits::default(), tls, "stats", shutdown).await;
}

/// The figures need a token of the home site (admin, client or viewer): `Authorization:
/// Bearer`, the WebSocket subprotocol `tandem-token.<token>` (browsers), or `?token=`
/// from loopback. Without one, only a client on loopback that names the host by a
/// loopback address or `localhost` reads them (the demo, and the tests), not a page of a
/// name that merely resolves to loopback (DNS rebinding).
async fn require_token(
    State(api): State<Api>,
    axum::extract::ConnectInfo(remote): axum::extract::ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let query = axum::extract::Query::<TokenQuery>::try_from_uri(request.uri()).map(|q| q.0.token).unwrap_or_default();
    let presented = crate::cti_access::presented(headers, query, remote, STATS_PROTOCOL);
    let local_host = headers.get("host").and_then(|v| v.to_str().ok()).is_some_and(is_loopback_host);
    if remote.ip().is_loopback() && local_host {
        return next.run(request).await;
    }
    let Some(token) = presented.token else {
        tracing::warn!(%remote, "stats request refused: no token");
        return (StatusCode::UNAUTHORIZED, NEED_TOKEN).into_response();
    };
    // The same tokens open CTI: guessing them here is slowed as it is there.
    let (source, now) = (crate::cti_guard::source_key("ip", remote.ip()), clock::now());
    if !api.guard.admits(&source, now) {
        tracing::debug!(%remote, "stats request refused: too many wrong tokens from this address; slowed");
        return (StatusCode::TOO_MANY_REQUESTS, "too many wrong tokens: one try every 2 s").into_response();
    }
    let grant = crate::cti_access::find(&api.grants, &token);
    if grant.is_some_and(|g| crate::cti_access::CtiTable::may_read_stats(&g.role)) {
        return next.run(request).await;
    }
    if grant.is_none() {
        api.guard.failed(&source, now);
    }
    tracing::warn!(%remote, "stats request refused: no valid admin, client or viewer token");
    (StatusCode::UNAUTHORIZED, NEED_TOKEN).into_response()
}

/// What an unauthorised request is told.
const NEED_TOKEN: &str = "a CTI token of this site (admin, client or viewer) is required: Authorization: Bearer ...";
/// The subprotocol the stats WebSocket answers a browser with (not its token).
const STATS_PROTOCOL: &str = "tandem-stats";

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// `127.x.x.x[:port]`, `[::1][:port]` or `localhost[:port]`.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The wallboard page: one self-contained HTML file compiled into the binary (no CDN).
async fn wallboard() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../assets/wallboard.html"))
}

async fn current(api: &Api, names: Vec<String>) -> Vec<(String, Value)> {
    let (reply, answer) = oneshot::channel();
    if api.queries.send(Query { names, reply }).await.is_err() {
        return Vec::new();
    }
    answer.await.unwrap_or_default()
}

/// Today's intervals per Routing Point, from the call records.
async fn history(State(api): State<Api>) -> Response {
    match &api.records {
        Some(records) => Json(records.today().await).into_response(),
        None => (StatusCode::NOT_FOUND, "no site of this group keeps call records ([site.store] cdr)").into_response(),
    }
}

async fn all(State(api): State<Api>) -> Json<Value> {
    let values = current(&api, vec!["*".into()]).await;
    Json(Value::Object(values.into_iter().collect()))
}

async fn one(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match current(&api, vec![name.clone()]).await.pop() {
        Some((_, value)) => Json(value).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no statistic `{name}` (GET /stats lists them)")).into_response(),
    }
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(api): State<Api>,
    headers: axum::http::HeaderMap,
    axum::extract::ConnectInfo(remote): axum::extract::ConnectInfo<SocketAddr>,
    slot: Option<axum::Extension<crate::listen::Slot>>,
) -> Response {
    if !crate::http_serve::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    let Ok(subscriber_slot) = api.subscribers.take(remote.ip()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many stats subscribers").into_response();
    };
    // A browser that offered `tandem-stats` beside its token gets that back, not the token.
    let presented = crate::cti_access::presented(&headers, None, remote, STATS_PROTOCOL);
    let ws = match presented.protocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    ws.max_message_size(64 * 1024).on_upgrade(move |socket| async move {
        let _held = (slot, subscriber_slot); // the connection's slot, and a subscriber's, while it lives
        subscriber(socket, api).await;
    })
}

/// What a subscriber may send.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscription {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    unsubscribe: Vec<String>,
}

/// Names one subscriber may hold (a wallboard needs a few hundred at most); only names
/// of figures that exist are kept.
const MAX_SUBSCRIPTIONS: usize = 10_000;
/// WebSocket subscribers of one stat service at once, and from one address.
const MAX_SUBSCRIBERS: usize = 256;
const MAX_SUBSCRIBERS_PER_ADDRESS: usize = 64;

async fn subscriber(mut socket: WebSocket, api: Api) {
    let mut updates = api.updates.subscribe();
    let mut names: BTreeSet<String> = BTreeSet::new();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(Message::Text(text))) = incoming else { break };
                let Ok(sub) = serde_json::from_str::<Subscription>(&text) else {
                    let error = json!({ "error": "send {\"subscribe\": [names]} or {\"unsubscribe\": [names]}" });
                    if socket.send(Message::Text(error.to_string())).await.is_err() { break }
                    continue;
                };
                for n in &sub.unsubscribe {
                    names.remove(n);
                }
                let new: Vec<String> = sub.subscribe.into_iter().filter(|n| !names.contains(n)).take(MAX_SUBSCRIPTIONS).collect();
                let all = new.iter().any(|n| n == "*");
                let values = current(&api, new).await;
                if all {
                    names.insert("*".to_owned());
                } else {
                    // Figures that exist only: an unknown name costs nothing to keep.
                    names.extend(values.iter().map(|(n, _)| n.clone()));
                }
                if names.len() > MAX_SUBSCRIPTIONS {
                    break;
                }
                if send_values(&mut socket, values).await.is_err() { break }
            }
            update = updates.recv() => match update {
                Ok(u) if names.contains("*") || names.contains(&*u.name) => {
                    if send_values(&mut socket, vec![(u.name.to_string(), (*u.value).clone())]).await.is_err() { break }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Fell behind: the current values of everything subscribed, once.
                    let values = current(&api, names.iter().cloned().collect()).await;
                    if send_values(&mut socket, values).await.is_err() { break }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

async fn send_values(socket: &mut WebSocket, values: Vec<(String, Value)>) -> Result<(), axum::Error> {
    let at_ms = clock::unix_ms();
    for (name, value) in values {
        let text = json!({ "stat": name, "value": value, "at_ms": at_ms }).to_string();
        socket.send(Message::Text(text)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod host_tests {
    #[test]
    fn only_loopback_literals_and_localhost_count_as_a_loopback_host() {
        for host in ["127.0.0.1:9070", "127.9.9.9", "localhost:9070", "LOCALHOST", "[::1]:9070"] {
            assert!(super::is_loopback_host(host), "{host}");
        }
        for host in ["evil.example:9070", "192.0.2.1:9070", "127.0.0.1.evil.example", "[2001:db8::1]:80"] {
            assert!(!super::is_loopback_host(host), "{host}");
        }
    }
}
