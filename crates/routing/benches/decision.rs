//! Routing decision time with 10,000 logged-in agents in 100 groups over two sites: from
//! the EventRouteRequest of a new call to the router's RequestReserveAgent, per strategy.
//! Criterion reports the mean; the p50/p99 lines come from timing 2,000 single decisions.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::expect_used)] // a benchmark reads the clock

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use cti::{AgentWorkMode, Event};
use routing::{Router, RoutingFile};

/// Counts live heap bytes, for memory per agent and per waiting call.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const AGENTS: usize = 10_000;
const GROUPS: usize = 100;

fn config(strategy: &str) -> RoutingFile {
    let mut text = String::new();
    for i in 0..AGENTS {
        text.push_str(&format!("[[agent]]\nid = \"A{i}\"\nskills = {{ g{} = {} }}\n", i % GROUPS, 1 + i % 9));
    }
    for g in 0..GROUPS {
        text.push_str(&format!(
            "[[point]]\ndn = \"{}\"\ntarget = \"g{g} >= 3\"\nstrategy = \"{strategy}\"\n",
            5000 + g
        ));
    }
    toml::from_str(&text).expect("config")
}

/// A router that saw every agent log in and turn Ready (at two sites, a millisecond apart).
fn ready_router(strategy: &str, start: Instant) -> Router {
    let config = config(strategy).compile().expect("valid");
    let mut r = Router::new(config, 0, vec!["s1".into(), "s2".into()], Vec::new(), 1);
    for i in 0..AGENTS {
        let (dn, agent_id) = (format!("{}", 100_000 + i), format!("A{i}"));
        let at = start + Duration::from_millis(i as u64);
        r.on_event(
            at,
            i % 2,
            &Event::EventAgentLogin { reference_id: None, this_dn: dn.clone(), agent_id: agent_id.clone() },
        );
        r.on_event(
            at,
            i % 2,
            &Event::EventAgentReady { reference_id: None, this_dn: dn, agent_id, work_mode: AgentWorkMode::ManualIn },
        );
    }
    while r.poll_request().is_some() {}
    r
}

fn route_request(n: usize) -> Event {
    Event::EventRouteRequest {
        this_dn: format!("{}", 5000 + n % GROUPS),
        this_queue: String::new(),
        other_dn: "caller".into(),
        conn_id: format!("{n:016x}"),
        call_type: cti::CallType::Inbound,
        server: "s1".into(),
    }
}

fn decide(r: &mut Router, now: Instant, n: usize) -> bool {
    r.on_event(now, 0, &route_request(n));
    let mut reserved = false;
    while let Some((_, req)) = r.poll_request() {
        reserved |= matches!(req, cti::Request::RequestReserveAgent { .. });
    }
    reserved
}

fn percentiles(strategy: &str) {
    let start = Instant::now();
    let base = ready_router(strategy, start);
    let now = start + Duration::from_secs(60);
    let mut r = base.clone();
    let mut times = Vec::new();
    for n in 0..2_000 {
        let t = Instant::now();
        let ok = decide(&mut r, now, n);
        times.push(t.elapsed());
        assert!(ok, "an agent was chosen");
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "decision {strategy}: p50 {:?} p99 {:?} max {:?} ({AGENTS} agents, {GROUPS} groups, 2,000 calls)",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// Heap bytes per logged-in Ready agent, and per call waiting with no agent free.
fn memory() {
    let start = Instant::now();
    let before = LIVE.load(Ordering::Relaxed);
    let mut r = ready_router("longest-idle", start);
    let with_agents = LIVE.load(Ordering::Relaxed);
    // Everyone busy: calls wait.
    for i in 0..AGENTS {
        let ringing = Event::EventRinging {
            this_dn: format!("{}", 100_000 + i),
            other_dn: "x".into(),
            conn_id: format!("busy{i}"),
            call_type: cti::CallType::Inbound,
            user_data: None,
            third_party_dn: None,
        };
        r.on_event(start, i % 2, &ringing);
    }
    while r.poll_request().is_some() {}
    let busy = LIVE.load(Ordering::Relaxed);
    let calls = 10_000;
    for n in 0..calls {
        r.on_event(start + Duration::from_secs(1), 0, &route_request(n));
    }
    while r.poll_request().is_some() {}
    let waiting = LIVE.load(Ordering::Relaxed);
    println!(
        "router memory: {} bytes per logged-in agent ({AGENTS} agents, {GROUPS} groups), {} bytes per waiting call ({calls} calls)",
        (with_agents - before) / AGENTS as isize,
        (waiting - busy) / calls as isize
    );
    drop(r);
}

fn bench(c: &mut Criterion) {
    // `cargo test --all-targets` runs benchmarks once in test mode: no percentile runs then.
    let measuring = std::env::args().any(|a| a == "--bench");
    if measuring {
        memory();
    }
    for strategy in ["longest-idle", "fewest-calls", "round-robin", "random"] {
        if measuring {
            percentiles(strategy);
        }
        let start = Instant::now();
        let base = ready_router(strategy, start);
        let now = start + Duration::from_secs(60);
        let mut n = 0;
        c.bench_function(&format!("route decision, {strategy}"), |b| {
            b.iter_batched_ref(
                || base.clone(),
                |r| {
                    n += 1;
                    black_box(decide(r, now, n))
                },
                BatchSize::LargeInput,
            )
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
