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

/// OpenMetrics for a scraper that asks for it (Prometheus does), the classic text format
/// (0.0.4) for anyone else (`curl`, `promtool check metrics`).
async fn scrape(
    State(state): State<Arc<(String, watch::Receiver<Snapshot>)>>,
    headers: axum::http::HeaderMap,
) -> ([(&'static str, &'static str); 1], String) {
    let snapshot = state.1.borrow().clone();
    let body = render(&state.0, &snapshot);
    let accept = headers.get("accept").and_then(|a| a.to_str().ok()).unwrap_or("");
    if accept.contains("application/openmetrics-text") {
        return ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body);
    }
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], classic(&body))
}

/// OpenMetrics text as the classic Prometheus text format: a counter's family is named
/// with its `_total` (as its samples are), and there is no `# EOF` or `# UNIT`.
pub(crate) fn classic(openmetrics: &str) -> String {
    let counters: std::collections::BTreeSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].into_iter().find_map(|p| Some((p, line.strip_prefix(p)?)));
        match described {
            Some((prefix, rest)) => {
                let name = rest.split(' ').next().unwrap_or("");
                let tail = &rest[name.len()..];
                let total = if counters.contains(name) { "_total" } else { "" };
                let _ = writeln!(out, "{prefix}{name}{total}{tail}");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Renders a snapshot in the OpenMetrics text format.
pub(crate) fn render(site: &str, s: &Snapshot) -> String {
    let mut m =
        Metrics(Registry::with_prefix_and_labels("tandem", [("site".into(), site.to_owned().into())].into_iter()));
    calls(&mut m, &s.stats);
    sip(&mut m, &s.stats);
    overload(&mut m, &s.stats, s.udp_kernel_drops);
    auth(&mut m, &s.stats);
    media(&mut m, &s.stats);
    nss(&mut m, &s.stats.nss);
    transactions_and_desks(&mut m, s);
    store(&mut m, &s.store);
    wakes(&mut m, &s.wake);
    if let Some(link) = &s.peer_link {
        render_peer_link(&mut m.0, link);
    }
    let mut text = String::new();
    if encode(&mut text, &m.0).is_err() {
        let _ = writeln!(text, "# encoding failed");
    }
    text
}

/// The registry being filled, with one call per figure.
struct Metrics(Registry);

impl Metrics {
    fn counter(&mut self, name: &str, help: &str, value: u64) {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        self.0.register(name, help, c);
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        self.0.register(name, help, g);
    }

    /// A gauge in seconds.
    fn seconds(&mut self, name: &str, help: &str, value: f64) {
        let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        g.set(value);
        self.0.register(name, help, g);
    }

    /// A counter per value of one label.
    fn counters<K: ToString>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: impl IntoIterator<Item = (K, u64)>,
    ) {
        let family = Family::<Labels, Counter<u64>>::default();
        for (key, n) in values {
            family.get_or_create(&vec![(label.into(), key.to_string())]).inc_by(n);
        }
        self.0.register(name, help, family);
    }
}

fn calls(m: &mut Metrics, st: &engine::NodeStats) {
    m.counter("calls_offered", "Calls offered to a DN", st.calls_offered);
    m.counter("calls_answered", "Calls answered", st.calls_answered);
    m.counter("calls_abandoned", "Calls abandoned before the answer", st.calls_abandoned);
    m.counter("calls_held", "Times an answered call was put on hold", st.calls_held);
    m.counter("calls_transferred", "Answered calls transferred in one step", st.calls_transferred);
    let failed = st.calls_failed.iter().map(|(code, n)| (code, *n));
    m.counters("calls_failed", "Calls not delivered, by the status the caller got", "status", failed);
    m.gauge("active_calls", "Calls in progress", st.active_calls);
    m.gauge("registrations", "Current registrar bindings", st.bindings);
    m.gauge("registered_dns", "DNs with at least one binding", st.registered_dns);
    m.gauge("agents_logged_in", "Agents logged in", st.agents_logged_in);
    m.gauge("agents_ready", "Agents Ready", st.agents_ready);
}

fn sip(m: &mut Metrics, st: &engine::NodeStats) {
    m.counter("sip_requests", "SIP requests received", st.requests_in);
    m.counter("sip_responses", "SIP responses received", st.responses_in);
    let sent = st.responses_out.iter().map(|(code, n)| (code, *n));
    m.counters("sip_responses_sent", "SIP responses sent, by status", "status", sent);
    let parse = st.parse_errors.iter().map(|(kind, n)| (kind, *n));
    m.counters("sip_parse_errors", "Malformed SIP messages, by kind", "kind", parse);
    m.counter("sip_dropped", "Malformed messages dropped without an answer", st.dropped);
}

fn overload(m: &mut Metrics, st: &engine::NodeStats, kernel_drops: u64) {
    let refused = "New INVITEs and REGISTERs refused with 503 under overload or at a capacity cap";
    m.counter("sip_overload_rejected", refused, st.overload_rejected);
    let unparsed = "Of those, INVITEs refused from their raw head before a full parse";
    m.counter("sip_overload_rejected_unparsed", unparsed, st.overload_rejected_unparsed);
    m.counter("sip_refusal_acks_absorbed", "ACKs of overload 503s dropped unparsed", st.refusal_acks_absorbed);
    let limit = "New INVITEs and REGISTERs per second admitted while shedding (0: no limit)";
    m.gauge("sip_new_work_limit", limit, st.new_work_limit);
    let pressure = "The UDP input's backlog: 0 spare, 1 normal, 2 draining, 3 high, 4 severe (3 and 4 cut the limit)";
    m.gauge("sip_input_pressure", pressure, st.input_pressure);
    let drops = "Datagrams the kernel dropped on the site's UDP socket because its queue was full";
    m.counter("udp_kernel_dropped", drops, kernel_drops);
    m.counter("sip_flood_dropped", "Requests dropped for exceeding per-source-rate", st.flood_dropped);
}

fn media(m: &mut Metrics, st: &engine::NodeStats) {
    let x = &st.media;
    m.counter("media_commands", "Commands sent to the media partner (rtpengine)", x.commands);
    m.counter("media_timeouts", "Media partner commands not answered in time", x.timeouts);
    m.counter("media_refused", "Media partner commands refused (an offer it could not take: 488)", x.refused);
    m.counter("media_unanchored_calls", "Calls that went on unanchored because the partner failed", x.unanchored_calls);
    m.counter("media_refused_calls", "New calls refused with 503 because the partner failed", x.refused_calls);
    m.counter("media_late_answers", "Partner answers after their command timed out", x.late_answers);
    m.gauge("media_partner_down", "1 while the media partner is taken as down (the alarm)", x.partner_down);
}

fn auth(m: &mut Metrics, st: &engine::NodeStats) {
    let a = &st.auth;
    m.counter("sip_auth_challenges", "401/407 challenges sent", a.challenges);
    m.counter("sip_auth_accepted", "Requests that proved their DN by digest", a.accepted);
    m.counter("sip_auth_failures", "Credentials refused with 403 (wrong, or for another DN)", a.failures);
    m.counter("sip_auth_replays", "Reused nonce-counts, challenged again", a.replays);
    m.counter("sip_auth_throttled", "Requests dropped from slowed or blocked sources", a.throttled);
    m.counter("sip_auth_sources_blocked", "Sources blocked after repeated failures", a.sources_blocked);
    m.counter("sip_auth_dns_blocked", "DNs blocked for new addresses after repeated failures", a.dns_blocked);
    let untracked = "Failures from sources the full table could not track (they weigh 4 on their DN)";
    m.counter("sip_auth_untracked_failures", untracked, a.untracked_failures);
    let peer =
        "Requests from the DR peer's address refused: unsealed, or presence while the peer trunk is out of service";
    m.counter("peer_refused", peer, st.peer_refused);
}

fn nss(m: &mut Metrics, n: &engine::NssStats) {
    let help = "Network SIP Server: calls sent on by how the site was chosen (agent's site, policy, default routing, router), or refused with no site in service";
    let how = [
        ("agent", n.to_agent),
        ("policy", n.by_policy),
        ("default", n.by_default),
        ("router", n.by_router),
        ("no_site", n.no_site),
    ];
    m.counters("nss_calls", help, "how", how);
}

fn transactions_and_desks(m: &mut Metrics, s: &Snapshot) {
    let t = &s.stats.transactions;
    m.counter("transactions_server", "Server transactions created", t.server_created);
    m.counter("transactions_client", "Client transactions created", t.client_created);
    m.counter("transactions_retransmissions", "Messages retransmitted", t.retransmissions);
    m.counter("transactions_timeouts", "Transactions ended by timer B, F or H", t.timeouts);
    m.gauge("transactions_live", "Transactions alive now", t.live);
    m.gauge("cti_clients", "CTI clients connected", s.cti_clients);
    m.counter("cti_dropped_events", "CTI events dropped for slow clients", s.cti_dropped_events);
    m.counter("cti_slow_disconnects", "CTI clients disconnected for being too slow", s.cti_slow_disconnects);
}

fn store(m: &mut Metrics, st: &crate::store::StoreStats) {
    m.counter("store_written", "Rows written to the store (CDRs, agent log, saved state)", st.written);
    m.counter("store_dropped", "Store writes dropped because the writer's queue was full", st.dropped);
    m.counter("store_failed", "Store writes the database refused (see the log)", st.failed);
    m.counter("cdr_untracked", "Calls not recorded because too many were open at once", st.untracked);
}

fn wakes(m: &mut Metrics, w: &crate::probe::WakeLatency) {
    let help = "Engine task wake-ups (one input or UDP batch and its flush) by how long they kept it busy";
    m.0.register("engine_wake_seconds", help, Counted::of_wakes(w));
    let seconds = |us: u64| us as f64 / 1e6;
    m.seconds("engine_wake_max_seconds", "Longest wake-up since start", seconds(w.max_us));
    let last = "Longest wake-up in the last whole second";
    m.seconds("engine_wake_last_second_max_seconds", last, seconds(w.last_second_max_us));
    m.seconds("engine_wake_max_cpu_seconds", "Most CPU time one wake-up used since start", seconds(w.max_cpu_us));
    let descheduled = "Wake-ups over 5 ms that used less than half of it on the CPU (the thread waited for a core)";
    m.counter("engine_wakes_descheduled", descheduled, w.descheduled);
}

/// A histogram whose buckets were counted elsewhere (the engine task's probe keeps its
/// own, cumulative, in microseconds): rendered in seconds.
#[derive(Debug)]
struct Counted {
    sum: f64,
    count: u64,
    /// Upper bound and the count in that bucket alone (`f64::MAX` is +Inf).
    buckets: Vec<(f64, u64)>,
}

impl Counted {
    fn of_wakes(w: &crate::probe::WakeLatency) -> Self {
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(w.le.len() + 1);
        for (bound, up_to) in crate::probe::BOUNDS_US.iter().zip(w.le) {
            buckets.push((*bound as f64 / 1e6, up_to.saturating_sub(below)));
            below = below.max(up_to);
        }
        buckets.push((f64::MAX, w.count.saturating_sub(below)));
        Self { sum: w.sum_us as f64 / 1e6, count: w.count, buckets }
    }
}

impl prometheus_client::encoding::EncodeMetric for Counted {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<Labels>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
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

    #[test]
    fn wake_ups_are_a_histogram_in_seconds_and_the_classic_format_names_counters_with_total() {
        let mut s = Snapshot::default();
        // Cumulative, as the probe keeps them: 2 up to 10 us, 3 up to 25 us, 5 in all.
        s.wake.le = [2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3];
        s.wake.count = 5;
        s.wake.sum_us = 40_000;
        let text = render("site1", &s);
        assert!(text.contains(r#"tandem_engine_wake_seconds_bucket{site="site1",le="0.00001"} 2"#), "{text}");
        assert!(text.contains(r#"tandem_engine_wake_seconds_bucket{site="site1",le="0.000025"} 3"#), "{text}");
        assert!(text.contains(r#"tandem_engine_wake_seconds_bucket{site="site1",le="+Inf"} 5"#), "{text}");
        assert!(text.contains(r#"tandem_engine_wake_seconds_sum{site="site1"} 0.04"#), "{text}");
        let classic = classic(&text);
        assert!(classic.contains("# TYPE tandem_calls_offered_total counter\n"), "{classic}");
        assert!(classic.contains("# HELP tandem_calls_offered_total Calls offered"), "{classic}");
        assert!(classic.contains("# TYPE tandem_engine_wake_seconds histogram\n"), "{classic}");
        assert!(classic.contains("# TYPE tandem_active_calls gauge\n"), "{classic}");
        assert!(!classic.contains("# EOF"));
    }
}
