//! Parse cost of a ~1 KB gateway INVITE: time per message (criterion) and heap
//! allocations per message (a counting allocator, printed once).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sipmsg::{Framing, Message};

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

/// A gateway INVITE as an SBC sends it: 3 Vias, Record-Route, P-Asserted-Identity, SDP.
pub const GATEWAY_INVITE: &[u8] = b"INVITE sip:1042@10.1.1.20:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.1.1.5:5060;branch=z9hG4bK-524287-1---3a9c1b7e8d2f4a60;rport\r\n\
Via: SIP/2.0/UDP 192.0.2.44:5060;received=192.0.2.44;branch=z9hG4bK5f3e2d1c0b\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKa1b2c3d4e5f6\r\n\
Record-Route: <sip:10.1.1.5;lr;ftag=8d7c6b5a>\r\n\
Max-Forwards: 68\r\n\
From: \"ACME Corp\" <sip:+12025550147@198.51.100.7;user=phone>;tag=8d7c6b5a\r\n\
To: <sip:+18005550100@10.1.1.20;user=phone>\r\n\
Call-ID: 4f8a9c2e-7b1d-4e3f-a5c6-9d8e7f6a5b4c@198.51.100.7\r\n\
CSeq: 101 INVITE\r\n\
Contact: <sip:+12025550147@10.1.1.5:5060;transport=udp>\r\n\
P-Asserted-Identity: <sip:+12025550147@198.51.100.7;user=phone>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n\
Supported: replaces, timer, 100rel\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: ACME-SBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 238\r\n\
\r\n\
v=0\r\n\
o=- 3868162713 3868162713 IN IP4 10.1.1.5\r\n\
s=-\r\n\
c=IN IP4 10.1.1.5\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

fn allocations_per_parse() -> usize {
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        let m = Message::parse(black_box(GATEWAY_INVITE), Framing::Datagram).expect("valid");
        m.validate().expect("valid");
        black_box(m);
    }
    (ALLOCS.load(Ordering::Relaxed) - before) / 1000
}

fn bench(c: &mut Criterion) {
    assert!(GATEWAY_INVITE.len() > 900, "a ~1 KB INVITE");
    eprintln!(
        "gateway INVITE: {} bytes, {} heap allocations per parse+validate",
        GATEWAY_INVITE.len(),
        allocations_per_parse()
    );
    c.bench_function("parse_1k_invite", |b| {
        b.iter(|| Message::parse(black_box(GATEWAY_INVITE), Framing::Datagram).map(|m| m.headers().len()))
    });
    c.bench_function("parse_and_validate_1k_invite", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(GATEWAY_INVITE), Framing::Datagram).expect("valid");
            m.validate().map(|()| m.headers().len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
