//! A CTI client link to one site, kept up: what routers and stat services use to talk to
//! every site of a deployment. Each link is a task that connects to the site's `/cti`
//! WebSocket (retrying every second while the site is away, backing off to 10 s while a
//! link breaks as soon as it is up), reports `Up`/`Down`, passes
//! the site's events on, and sends the requests it is given while the link is up
//! (requests given while it is down are dropped: on `Up` the service registers again).

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use routing::SiteId;

/// What a link reports to its service.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    Up(SiteId),
    Down(SiteId),
    Event(SiteId, cti::Event),
}

/// Requests waiting for a link before the service counts them as dropped.
const REQUEST_QUEUE: usize = 16_384;

/// Where a site's CTI server is and the token to show it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) site: SiteId,
    pub(crate) url: String,
    pub(crate) token: String,
}

/// Starts one link per endpoint; returns the senders for each site's requests.
pub(crate) fn spawn(
    endpoints: Vec<Endpoint>,
    events: mpsc::Sender<LinkEvent>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<mpsc::Sender<cti::Request>> {
    endpoints
        .into_iter()
        .map(|endpoint| {
            let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
            tokio::spawn(keep_up(endpoint, rx, events.clone(), shutdown.clone()));
            tx
        })
        .collect()
}

/// A link that breaks sooner than this after coming up is flapping (a site that accepts
/// connections and closes them, such as one shut down inside `tandem up`).
const STABLE: Duration = Duration::from_secs(5);

/// Longest wait between attempts while a link flaps.
const MAX_FLAP_WAIT: Duration = Duration::from_secs(10);

async fn keep_up(
    endpoint: Endpoint,
    mut requests: mpsc::Receiver<cti::Request>,
    events: mpsc::Sender<LinkEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Successive links that broke before STABLE: their up/down lines go to debug after the
    // first, and the wait between attempts doubles, so a flapping site is logged when it
    // changes, not every second.
    let mut flaps = 0u32;
    loop {
        let Ok(request) = crate::cti_client::ws_request(&endpoint.url, &endpoint.token) else {
            tracing::error!(url = %endpoint.url, "CTI link: the URL or token cannot be used");
            return;
        };
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => {
                log_change(flaps, &endpoint.url, "CTI link up", false);
                // Requests queued while the link was down are stale.
                while requests.try_recv().is_ok() {}
                if events.send(LinkEvent::Up(endpoint.site)).await.is_err() {
                    return;
                }
                let since = tokio::time::Instant::now();
                let stop = run_link(endpoint.site, ws, &mut requests, &events, &mut shutdown).await;
                flaps = if since.elapsed() < STABLE { flaps.saturating_add(1) } else { 0 };
                log_change(flaps.saturating_sub(1), &endpoint.url, "CTI link down", true);
                if events.send(LinkEvent::Down(endpoint.site)).await.is_err() || stop {
                    return;
                }
            }
            Err(e) => tracing::debug!(url = %endpoint.url, error = %e, "CTI link: site not reachable yet"),
        }
        let wait = Duration::from_secs(1).saturating_mul(1 << flaps.min(4)).min(MAX_FLAP_WAIT);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A link's change: info (up) or warn (down) the first time, debug while it keeps flapping.
fn log_change(flaps: u32, url: &str, what: &str, down: bool) {
    match (flaps, down) {
        (0, false) => tracing::info!(%url, "{what}"),
        (0, true) => tracing::warn!(%url, "{what}"),
        _ => tracing::debug!(%url, flaps, "{what} (flapping)"),
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Moves messages until the link breaks; true when the process is stopping.
async fn run_link(
    site: SiteId,
    ws: Socket,
    requests: &mut mpsc::Receiver<cti::Request>,
    events: &mpsc::Sender<LinkEvent>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return true };
                let Ok(json) = serde_json::to_string(&request) else { continue };
                if sink.send(Message::Text(json)).await.is_err() {
                    return false;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<cti::Event>(&text) {
                    Ok(event) => {
                        if events.send(LinkEvent::Event(site, event)).await.is_err() {
                            return true;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "CTI link: an event we cannot read"),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => return true,
        }
    }
}

/// The CTI endpoints of a deployment's sites, in file order.
pub(crate) fn endpoints(deployment: &crate::config::Deployment) -> Vec<Endpoint> {
    deployment
        .sites
        .iter()
        .enumerate()
        .filter_map(|(site, s)| {
            // A client token if the site has one (a router needs no more), else an admin one.
            let by_role = |role: crate::cti_access::Role| s.cti_grants.iter().find(move |g| g.role == role);
            let token = by_role(crate::cti_access::Role::Client)
                .or_else(|| by_role(crate::cti_access::Role::Admin))?
                .token
                .clone();
            Some(Endpoint { site, url: format!("ws://{}/cti", s.cti?), token })
        })
        .collect()
}

/// Hands a service's request to its site's link without waiting; a full queue drops it.
pub(crate) fn send(links: &[mpsc::Sender<cti::Request>], site: SiteId, request: cti::Request) {
    let Some(link) = links.get(site) else { return };
    if let Err(e) = link.try_send(request) {
        tracing::warn!(site, error = %e, "CTI link queue full or closed; request dropped");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a real socket, timed on the real clock
    use super::*;

    /// Issue 26: a site that accepts the CTI WebSocket and closes it at once (one shut down
    /// inside `tandem up`) is not dialled every second: the waits double (1, 2, 4 s...).
    #[tokio::test]
    async fn a_link_that_breaks_as_soon_as_it_is_up_is_retried_less_and_less_often() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/cti", listener.local_addr().expect("addr"));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                    let _ = ws.close(None).await;
                }
            }
        });
        let (events_tx, mut events) = mpsc::channel(64);
        let (stop_tx, stop) = watch::channel(false);
        let endpoint = Endpoint { site: 0, url, token: "t0ken-of-sixteen".into() };
        let _requests = spawn(vec![endpoint], events_tx, &stop);
        let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
        tokio::time::sleep(Duration::from_millis(7_500)).await;
        let _ = stop_tx.send(true);
        drain.abort();
        // Connections at about 0, 1, 3 and 7 s; every second it would have been 8.
        let n = accepted.load(std::sync::atomic::Ordering::Relaxed);
        assert!((3..=5).contains(&n), "{n} connections in 7.5 s");
    }
}
