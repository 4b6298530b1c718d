//! What call control costs the engine (issue 23): from a desktop's
//! RequestSingleStepTransfer to the target phone's INVITE on the wire; a hold and its
//! retrieve (four re-INVITEs written); and the heap a held call occupies, counted by a
//! wrapping allocator (printed once, not timed). The time is the engine's alone: the
//! shell's socket and WebSocket work come on top.
#![allow(clippy::disallowed_methods)] // benches pick their own starting instant; the code under test never reads a clock
#![allow(clippy::print_stdout)] // the heap figure is printed once, beside criterion's

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use engine::{DeskId, Input, Node, NodeConfig};
use sipmsg::{Framing, Message, MessageBuilder, ViaStamp};

/// Bytes allocated and not yet freed, by anyone.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter moves.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SDP: &str = "v=0\r\no=gw 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const GW: &str = "10.0.0.1:5060";

/// One site with phones for 1001 and 1002 and a desktop on 1001.
struct Rig {
    node: Node,
    now: Instant,
    calls: u64,
}

impl Rig {
    fn new() -> Self {
        let now = Instant::now();
        let mut config = NodeConfig::for_tests();
        // Calls pile up on the two DNs, from one gateway, faster than any real one sends
        // them; no timer ever fires here (no Input::Timeout).
        config.calls.max_per_dn = 0;
        config.capacity.per_source_rate = u32::MAX;
        config.capacity.max_calls = usize::MAX;
        config.capacity.max_transactions = usize::MAX;
        let mut rig = Self { node: Node::new(config, 1, now), now, calls: 0 };
        for (dn, port) in [("1001", 6001), ("1002", 6002)] {
            let register = format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.1.1:{port};branch=z9hG4bKr{dn}\r\nMax-Forwards: 70\r\n\
                 From: <sip:{dn}@127.0.0.1>;tag=r{dn}\r\nTo: <sip:{dn}@127.0.0.1>\r\nCall-ID: r{dn}\r\nCSeq: 1 REGISTER\r\n\
                 Contact: <sip:{dn}@10.0.1.1:{port}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
            );
            rig.feed(&format!("10.0.1.1:{port}"), register.as_bytes());
        }
        rig.desk(r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
        rig
    }

    /// Feeds one datagram; returns what the node sent, with destinations.
    fn feed(&mut self, from: &str, bytes: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
        self.now += Duration::from_micros(10);
        let remote = from.parse().expect("addr");
        self.node.handle_input(Input::Datagram { at: self.now, remote, bytes });
        self.drain()
    }

    fn drain(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let out = std::iter::from_fn(|| self.node.poll_transmit()).map(|t| (t.to.addr, t.bytes.to_vec())).collect();
        while self.node.poll_event().is_some() {}
        out
    }

    fn desk(&mut self, json: &str) -> Vec<(SocketAddr, Vec<u8>)> {
        let request: cti::Request = serde_json::from_str(json).expect("a request");
        self.node.handle_input(Input::Desk { at: self.now, desk: DeskId(1), request: &request });
        self.drain()
    }

    /// A gateway call to 1001, answered by its phone and ACKed: its ConnID.
    fn answered_call(&mut self) -> String {
        self.calls += 1;
        let i = self.calls;
        let invite = format!(
            "INVITE sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {GW};branch=z9hG4bK-c{i}\r\nMax-Forwards: 70\r\n\
             From: <sip:+12025550147@10.0.0.1>;tag=g{i}\r\nTo: <sip:1001@127.0.0.1:5060>\r\nCall-ID: c{i}@gw\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:gw@{GW}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        let out = self.feed(GW, invite.as_bytes());
        let Some((_, b_invite)) = out.iter().find(|(to, _)| to.port() == 6001).cloned() else {
            let first: Vec<String> =
                out.iter().map(|(_, b)| String::from_utf8_lossy(&b[..40.min(b.len())]).into()).collect();
            panic!("call {i}: the phone was not rung; the node sent {first:?}");
        };
        let (ok, _) = answer(&b_invite, "p1");
        let out = self.feed("10.0.1.1:6001", &ok);
        let a_ok = out.iter().find(|(to, _)| to.to_string() == GW).expect("the gateway gets 200").1.clone();
        let tag = Message::parse(&a_ok, Framing::Datagram).ok().and_then(|m| m.to()?.tag().map(str::to_owned));
        let ack = format!(
            "ACK sip:tandem@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {GW};branch=z9hG4bK-a{i}\r\nMax-Forwards: 70\r\n\
             From: <sip:+12025550147@10.0.0.1>;tag=g{i}\r\nTo: <sip:1001@127.0.0.1:5060>;tag={}\r\nCall-ID: c{i}@gw\r\n\
             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            tag.unwrap_or_default()
        );
        self.feed(GW, ack.as_bytes());
        std::iter::from_fn(|| self.node.poll_desk())
            .find_map(|(_, e)| match e {
                cti::Event::EventEstablished { conn_id, .. } => Some(conn_id),
                _ => None,
            })
            .expect("the desktop saw the answer")
    }
}

/// A phone's 200 with SDP to an INVITE; and the request's Call-ID.
fn answer(invite: &[u8], tag: &str) -> (Vec<u8>, String) {
    let msg = Message::parse(invite, Framing::Datagram).expect("the node sends valid SIP");
    let mut b = MessageBuilder::response_to(&msg, 200, "OK", Some(tag), &ViaStamp::default());
    b.header("Contact", "<sip:phone@10.0.1.1:6001>");
    (b.finish(Some("application/sdp"), SDP.as_bytes()), msg.call_id().unwrap_or("").to_owned())
}

fn bench(c: &mut Criterion) {
    let rig = std::cell::RefCell::new(Rig::new());
    c.bench_function("single_step_transfer_to_target_invite", |b| {
        b.iter_batched(
            || rig.borrow_mut().answered_call(),
            |conn| {
                let json = format!(
                    r#"{{"message":"RequestSingleStepTransfer","ThisDN":"1001","ConnID":"{conn}","OtherDN":"1002"}}"#
                );
                let out = rig.borrow_mut().desk(&json);
                assert!(out.iter().any(|(to, bytes)| to.port() == 6002 && bytes.starts_with(b"INVITE")), "1002 rung");
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("hold_then_retrieve", |b| {
        b.iter_batched(
            || rig.borrow_mut().answered_call(),
            |conn| {
                let mut rig = rig.borrow_mut();
                for name in ["RequestHoldCall", "RequestRetrieveCall"] {
                    let out = rig.desk(&format!(r#"{{"message":"{name}","ThisDN":"1001","ConnID":"{conn}"}}"#));
                    assert_eq!(out.len(), 2, "two re-INVITEs");
                    for (to, reinvite) in out {
                        let (ok, _) = answer(&reinvite, "x");
                        rig.feed(&to.to_string(), &ok);
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    held_call_memory();
}

/// Heap per held call: 1,000 answered calls, then all held; the difference over 1,000.
fn held_call_memory() {
    let mut rig = Rig::new();
    let before = LIVE.load(Ordering::Relaxed);
    let conns: Vec<String> = (0..1_000).map(|_| rig.answered_call()).collect();
    let answered = LIVE.load(Ordering::Relaxed);
    for conn in &conns {
        for (to, reinvite) in rig.desk(&format!(r#"{{"message":"RequestHoldCall","ThisDN":"1001","ConnID":"{conn}"}}"#))
        {
            let (ok, _) = answer(&reinvite, "x");
            rig.feed(&to.to_string(), &ok);
        }
    }
    let held = LIVE.load(Ordering::Relaxed);
    println!(
        "heap per answered call: {} bytes; per held call: {} bytes (1,000 calls, engine only)",
        (answered - before) / 1_000,
        (held - before) / 1_000
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
