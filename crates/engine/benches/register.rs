//! A REGISTER round trip through the engine (parse, transaction, registrar, response),
//! and OPTIONS for comparison: time and heap allocations per request.
#![allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use engine::{Input, Node, NodeConfig};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn register(i: u64) -> Vec<u8> {
    let dn = 1000 + i % 1000;
    format!(
        "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:25090;branch=z9hG4bK{i}x;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:{dn}@127.0.0.1>;tag={i}\r\nTo: <sip:{dn}@127.0.0.1>\r\nCall-ID: {i}-bench@127.0.0.1\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:{dn}@127.0.0.1:25090;transport=UDP>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn round_trip(node: &mut Node, now: Instant, remote: SocketAddr, bytes: &[u8]) -> usize {
    node.handle_input(Input::Datagram { at: now, remote, bytes });
    let mut sent = 0;
    while let Some(t) = node.poll_transmit() {
        sent += t.bytes.len();
    }
    while node.poll_event().is_some() {}
    sent
}

fn bench(c: &mut Criterion) {
    let remote: SocketAddr = "127.0.0.1:25090".parse().expect("addr");
    let requests: Vec<Vec<u8>> = (0..100_000).map(register).collect();
    let start = Instant::now();
    let mut node = Node::new(NodeConfig::for_tests(), 1, start);

    let before = ALLOCS.load(Ordering::Relaxed);
    for (i, r) in requests.iter().take(10_000).enumerate() {
        round_trip(&mut node, start + Duration::from_micros(i as u64), remote, r);
    }
    eprintln!(
        "REGISTER round trip: {} heap allocations per request",
        (ALLOCS.load(Ordering::Relaxed) - before) / 10_000
    );

    let mut i = 10_000usize;
    c.bench_function("register_round_trip", |b| {
        b.iter(|| {
            i += 1;
            let now = start + Duration::from_micros(i as u64);
            // Let finished transactions (timer J) go so the table stays at steady state.
            node.handle_input(Input::Timeout(now));
            round_trip(&mut node, now, remote, black_box(&requests[i % requests.len()]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
