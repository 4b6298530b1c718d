//! Prometheus `/metrics` on the site's `http` address, rendered from the snapshot the
//! engine task publishes every second (the scrape never touches the engine).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the engine task publishes for the metrics endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) stats: engine::NodeStats,
    pub(crate) cti_clients: u64,
    pub(crate) cti_dropped_events: u64,
    pub(crate) cti_slow_disconnects: u64,
    pub(crate) wake: crate::probe::WakeLatency,
    pub(crate) store: crate::store::StoreStats,
    /// The DR peer's TLS link, when the site has one.
    pub(crate) peer_link: Option<Arc<crate::peer_tls::LinkStats>>,
    /// Datagrams the kernel dropped on the site's UDP socket (its queue was full).
    pub(crate) udp_kernel_drops: u64,
}

type Labels = Vec<(String, String)>;

/// Serves `/metrics` on `listener` until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    site: String,
    snapshots: watch::Receiver<Snapshot>,
    shutdown: watch::Receiver<bool>,
) {
    let state = Arc::new((site, snapshots));
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state);
    crate::http_serve::serve(listener, app, crate::http_serve::HttpLimits::METRICS, None, "metrics", shutdown).await;
}

/// Ready once the site's engine has published its first figures (it is running).
async fn ready(State(state): State<Arc<(String, watch::Receiver<Snapshot>)>>) -> (axum::http::StatusCode, String) {
    let (site, snapshots) = &*state;
    if snapshots.has_changed().is_ok() {
        (axum::http::StatusCode::OK, format!("site {site} ready\n"))
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, format!("site {site} not running\n"))
    }
}

async fn scrape(
    State(state): State<Arc<(String, watch::Receiver<Snapshot>)>>,
) -> ([(&'static str, &'static str); 1], String) {
    let snapshot = state.1.borrow().clone();
    let body = render(&state.0, &snapshot);
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

/// Renders a snapshot in the OpenMetrics text format.
pub(crate) fn render(site: &str, s: &Snapshot) -> String {
    let mut registry =
        Registry::with_prefix_and_labels("tandem", [("site".into(), site.to_owned().into())].into_iter());
    let counter = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        registry.register(name, help, c);
    };
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, g);
    };
    let st = &s.stats;
    counter(&mut registry, "calls_offered", "Calls offered to a DN", st.calls_offered);
    counter(&mut registry, "calls_answered", "Calls answered", st.calls_answered);
    counter(&mut registry, "calls_abandoned", "Calls abandoned before the answer", st.calls_abandoned);
    let failed = Family::<Labels, Counter<u64>>::default();
    for (code, n) in &st.calls_failed {
        failed.get_or_create(&vec![("status".into(), code.to_string())]).inc_by(*n);
    }
    registry.register("calls_failed", "Calls not delivered, by the status the caller got", failed);
    gauge(&mut registry, "active_calls", "Calls in progress", st.active_calls);
    gauge(&mut registry, "registrations", "Current registrar bindings", st.bindings);
    gauge(&mut registry, "registered_dns", "DNs with at least one binding", st.registered_dns);
    gauge(&mut registry, "agents_logged_in", "Agents logged in", st.agents_logged_in);
    gauge(&mut registry, "agents_ready", "Agents Ready", st.agents_ready);
    counter(&mut registry, "sip_requests", "SIP requests received", st.requests_in);
    counter(&mut registry, "sip_responses", "SIP responses received", st.responses_in);
    let out = Family::<Labels, Counter<u64>>::default();
    for (code, n) in &st.responses_out {
        out.get_or_create(&vec![("status".into(), code.to_string())]).inc_by(*n);
    }
    registry.register("sip_responses_sent", "SIP responses sent, by status", out);
    let parse = Family::<Labels, Counter<u64>>::default();
    for (kind, n) in &st.parse_errors {
        parse.get_or_create(&vec![("kind".into(), (*kind).to_owned())]).inc_by(*n);
    }
    registry.register("sip_parse_errors", "Malformed SIP messages, by kind", parse);
    counter(&mut registry, "sip_dropped", "Malformed messages dropped without an answer", st.dropped);
    counter(
        &mut registry,
        "sip_overload_rejected",
        "New INVITEs and REGISTERs refused with 503 under overload or at a capacity cap",
        st.overload_rejected,
    );
    counter(
        &mut registry,
        "sip_overload_rejected_unparsed",
        "Of those, INVITEs refused from their raw head before a full parse",
        st.overload_rejected_unparsed,
    );
    counter(
        &mut registry,
        "sip_refusal_acks_absorbed",
        "ACKs of overload 503s dropped unparsed",
        st.refusal_acks_absorbed,
    );
    gauge(
        &mut registry,
        "sip_new_work_limit",
        "New INVITEs and REGISTERs per second admitted while shedding (0: no limit)",
        st.new_work_limit,
    );
    gauge(
        &mut registry,
        "sip_input_pressure",
        "The UDP input's backlog: 0 spare, 1 normal, 2 draining, 3 high, 4 severe (3 and 4 cut the limit)",
        st.input_pressure,
    );
    counter(
        &mut registry,
        "udp_kernel_dropped",
        "Datagrams the kernel dropped on the site's UDP socket because its queue was full",
        s.udp_kernel_drops,
    );
    counter(&mut registry, "sip_flood_dropped", "Requests dropped for exceeding per-source-rate", st.flood_dropped);
    let a = &st.auth;
    counter(&mut registry, "sip_auth_challenges", "401/407 challenges sent", a.challenges);
    counter(&mut registry, "sip_auth_accepted", "Requests that proved their DN by digest", a.accepted);
    counter(&mut registry, "sip_auth_failures", "Credentials refused with 403 (wrong, or for another DN)", a.failures);
    counter(&mut registry, "sip_auth_replays", "Reused nonce-counts, challenged again", a.replays);
    counter(&mut registry, "sip_auth_throttled", "Requests dropped from slowed or blocked sources", a.throttled);
    counter(&mut registry, "sip_auth_sources_blocked", "Sources blocked after repeated failures", a.sources_blocked);
    counter(
        &mut registry,
        "sip_auth_dns_blocked",
        "DNs blocked for new addresses after repeated failures",
        a.dns_blocked,
    );
    counter(
        &mut registry,
        "sip_auth_untracked_failures",
        "Failures from sources the full table could not track (they weigh 4 on their DN)",
        a.untracked_failures,
    );
    counter(
        &mut registry,
        "peer_refused",
        "Requests from the DR peer's address refused: unsealed, or presence while the peer trunk is out of service",
        st.peer_refused,
    );
    let nss = Family::<Labels, Counter<u64>>::default();
    let n = &st.nss;
    for (how, count) in [
        ("agent", n.to_agent),
        ("policy", n.by_policy),
        ("default", n.by_default),
        ("router", n.by_router),
        ("no_site", n.no_site),
    ] {
        nss.get_or_create(&vec![("how".into(), how.to_owned())]).inc_by(count);
    }
    registry.register(
        "nss_calls",
        "Network SIP Server: calls sent on by how the site was chosen (agent's site, policy, default routing, router), or refused with no site in service",
        nss,
    );
    let t = &st.transactions;
    counter(&mut registry, "transactions_server", "Server transactions created", t.server_created);
    counter(&mut registry, "transactions_client", "Client transactions created", t.client_created);
    counter(&mut registry, "transactions_retransmissions", "Messages retransmitted", t.retransmissions);
    counter(&mut registry, "transactions_timeouts", "Transactions ended by timer B, F or H", t.timeouts);
    gauge(&mut registry, "transactions_live", "Transactions alive now", t.live);
    gauge(&mut registry, "cti_clients", "CTI clients connected", s.cti_clients);
    counter(&mut registry, "cti_dropped_events", "CTI events dropped for slow clients", s.cti_dropped_events);
    counter(
        &mut registry,
        "cti_slow_disconnects",
        "CTI clients disconnected for being too slow",
        s.cti_slow_disconnects,
    );
    let st = &s.store;
    counter(&mut registry, "store_written", "Rows written to the store (CDRs, agent log, saved state)", st.written);
    counter(&mut registry, "store_dropped", "Store writes dropped because the writer's queue was full", st.dropped);
    counter(&mut registry, "store_failed", "Store writes the database refused (see the log)", st.failed);
    counter(&mut registry, "cdr_untracked", "Calls not recorded because too many were open at once", st.untracked);
    let wakes = Family::<Labels, Counter<u64>>::default();
    for (bound, n) in crate::probe::BOUNDS_US.iter().zip(s.wake.le) {
        wakes.get_or_create(&vec![("le_us".into(), bound.to_string())]).inc_by(n);
    }
    wakes.get_or_create(&vec![("le_us".into(), "+Inf".into())]).inc_by(s.wake.count);
    registry.register(
        "engine_wakes",
        "Engine task wake-ups (one input or UDP batch and its flush), by duration",
        wakes,
    );
    counter(
        &mut registry,
        "engine_wake_microseconds",
        "Time the engine task spent busy, in microseconds",
        s.wake.sum_us,
    );
    gauge(&mut registry, "engine_wake_max_microseconds", "Longest wake-up since start", s.wake.max_us);
    gauge(
        &mut registry,
        "engine_wake_last_second_max_microseconds",
        "Longest wake-up in the last whole second",
        s.wake.last_second_max_us,
    );
    gauge(
        &mut registry,
        "engine_wake_max_cpu_microseconds",
        "Most CPU time one wake-up used since start",
        s.wake.max_cpu_us,
    );
    counter(
        &mut registry,
        "engine_wakes_descheduled",
        "Wake-ups over 5 ms that used less than half of it on the CPU (the thread waited for a core)",
        s.wake.descheduled,
    );
    if let Some(link) = &s.peer_link {
        render_peer_link(&mut registry, link);
    }
    let mut text = String::new();
    if encode(&mut text, &registry).is_err() {
        let _ = writeln!(text, "# encoding failed");
    }
    text
}

/// The DR peer's TLS link: dials, losses, refused handshakes, forged datagrams dropped.
fn render_peer_link(registry: &mut Registry, link: &crate::peer_tls::LinkStats) {
    use std::sync::atomic::Ordering::Relaxed;
    let figures = [
        ("peer_link_connects", "Connections made to the DR peer's TLS link", &link.connects),
        ("peer_link_downs", "DR peer TLS link lost or not reachable (each dial that failed counts)", &link.downs),
        ("peer_link_refused", "Connections to our peer link refused at the TLS handshake", &link.refused),
        (
            "peer_link_udp_ignored",
            "UDP datagrams from the DR peer's address dropped (it speaks over TLS)",
            &link.udp_ignored,
        ),
    ];
    for (name, help, value) in figures {
        let c = Counter::<u64>::default();
        c.inc_by(value.load(Relaxed));
        registry.register(name, help, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_counters() {
        let mut s = Snapshot::default();
        s.stats.calls_offered = 3;
        s.stats.calls_failed.insert(486, 2);
        s.stats.parse_errors.insert("content_length", 1);
        let text = render("site1", &s);
        assert!(text.contains(r#"tandem_calls_offered_total{site="site1"} 3"#), "{text}");
        assert!(text.contains(r#"tandem_calls_failed_total{site="site1",status="486"} 2"#), "{text}");
        assert!(text.contains(r#"tandem_sip_parse_errors_total{site="site1",kind="content_length"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
