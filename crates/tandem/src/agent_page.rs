//! The agent page's own HTTP requests beside its CTI WebSocket, on the site's CTI address:
//! `/agent/settings` (the site's name and its NotReady reasons: nothing secret) and
//! `/agent/calls?dn=` (the DN's last calls from the store), which needs a CTI token
//! (`Authorization: Bearer`; in the query string from loopback only) whose role may act
//! on that DN. Wrong tokens count against the same per-address throttle as CTI
//! connections; the store is read on a blocking thread, one read at a time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::{watch, Semaphore};

use crate::cti_access::{CtiTable, Role};
use crate::store::Target;

/// Calls the page lists.
const LAST_CALLS: usize = 20;

/// What the page's requests read.
#[derive(Clone)]
pub(crate) struct PageState {
    pub(crate) site: Arc<str>,
    pub(crate) reasons: Arc<[String]>,
    /// What the site's media partner allows desktops: recording, conferences.
    pub(crate) can: MediaAbilities,
    /// The store with call records, when the site keeps them.
    pub(crate) store: Option<Arc<Target>>,
    pub(crate) grants: watch::Receiver<Arc<CtiTable>>,
    pub(crate) guard: crate::cti_guard::CtiGuard,
    /// One store read at a time: a page polling fast costs one connection, not many.
    pub(crate) reads: Arc<Semaphore>,
}

/// What desktops may ask of the site's media partner (the page shows those buttons only).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct MediaAbilities {
    /// RequestPrivateService 3013-3016 (the site keeps recordings).
    pub(crate) record: bool,
    /// RequestInitiateConference and friends (a mixer is configured).
    pub(crate) conference: bool,
}

#[derive(serde::Serialize)]
struct Settings<'a> {
    site: &'a str,
    not_ready_reasons: &'a [String],
    /// The page can list the DN's last calls.
    history: bool,
    can: MediaAbilities,
}

pub(crate) async fn settings(State(state): State<PageState>) -> Response {
    let history = state.store.is_some();
    Json(Settings { site: &state.site, not_ready_reasons: &state.reasons, history, can: state.can }).into_response()
}

#[derive(serde::Deserialize)]
pub(crate) struct CallsQuery {
    dn: String,
    token: Option<String>,
}

/// The DN's last calls, newest first, as JSON.
pub(crate) async fn calls(
    Query(q): Query<CallsQuery>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    State(state): State<PageState>,
) -> Response {
    let presented = crate::cti_access::presented(&headers, q.token, remote, "");
    let (source, now) = (crate::cti_guard::source_key("ip", remote.ip()), crate::clock::now());
    if !state.guard.admits(&source, now) {
        return (StatusCode::TOO_MANY_REQUESTS, "too many wrong tokens: one try every 2 s").into_response();
    }
    let table = state.grants.borrow().clone();
    let Some(grant) = presented.token.and_then(|t| crate::cti_access::find(&table.grants, &t)).cloned() else {
        state.guard.failed(&source, now);
        tracing::warn!(%remote, "agent page calls refused: no valid token");
        return (StatusCode::UNAUTHORIZED, "a valid CTI token is required (Authorization: Bearer ...)").into_response();
    };
    if let Role::Desktop(dns) = &grant.role {
        if !dns.iter().any(|r| r.contains(&q.dn)) {
            return (StatusCode::FORBIDDEN, "this desktop token may not read that DN's calls").into_response();
        }
    }
    let Some(store) = state.store.clone() else {
        return (StatusCode::NOT_FOUND, "this site keeps no call records ([site.store] cdr)").into_response();
    };
    let Ok(_read) = state.reads.clone().acquire_owned().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let (site, dn, now_ms) = (state.site.to_string(), q.dn, i64::try_from(crate::clock::unix_ms()).unwrap_or(0));
    let read = tokio::task::spawn_blocking(move || {
        crate::store::recent::recent_calls(&store, (&site, &dn), now_ms, LAST_CALLS)
    });
    match read.await {
        Ok(Ok(calls)) => Json(calls).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "agent page: reading the store failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the call records cannot be read now").into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
