//! What one refused call costs the engine while it sheds (issue 8): the new INVITE and
//! the ACK of its 503. Refused from the raw head (a gateway's INVITE) against the full
//! path (the same INVITE from a source held to a per-source rate, which the raw look
//! leaves to the parser); the ACK of a refusal (dropped unparsed) against an ACK the full
//! path has to parse and match (what every refusal's ACK cost before).
#![allow(clippy::disallowed_methods)] // benches pick their own starting instant; the code under test never reads a clock

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use engine::{Capacity, Input, Node, NodeConfig, Pressure};

const SDP: &str = "v=0\r\no=gw 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn invite(i: u64) -> Vec<u8> {
    format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b{i}\r\nMax-Forwards: 70\r\n\
         From: \"gateway\" <sip:+12025550147@10.0.0.1>;tag=g{i}\r\nTo: <sip:1000@127.0.0.1:5060>\r\nCall-ID: b{i}@gw\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:gw@10.0.0.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn ack(i: u64, tag: &str) -> Vec<u8> {
    format!(
        "ACK sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b{i}\r\nMax-Forwards: 70\r\n\
         From: \"gateway\" <sip:+12025550147@10.0.0.1>;tag=g{i}\r\nTo: <sip:1000@127.0.0.1:5060>;tag={tag}\r\n\
         Call-ID: b{i}@gw\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A node that refuses every new INVITE: under pressure, with the limit at its floor.
fn shedding(capacity: Capacity, start: Instant) -> Node {
    let mut config = NodeConfig::for_tests();
    config.capacity = capacity;
    let mut node = Node::new(config, 1, start);
    node.handle_input(Input::Pressure { at: start, pressure: Pressure::High });
    node
}

fn feed(node: &mut Node, now: Instant, remote: SocketAddr, bytes: &[u8]) -> usize {
    node.handle_input(Input::Datagram { at: now, remote, bytes });
    let mut sent = 0;
    while let Some(t) = node.poll_transmit() {
        sent += t.bytes.len();
    }
    sent
}

fn bench(c: &mut Criterion) {
    let remote: SocketAddr = "10.0.0.1:5060".parse().expect("addr");
    let start = Instant::now();
    let invites: Vec<Vec<u8>> = (0..10_000).map(invite).collect();
    let paths = [
        ("refuse_invite_raw_head", Capacity::default()),
        ("refuse_invite_full_parse", Capacity { per_source_rate: u32::MAX, ..Capacity::default() }),
    ];
    for (name, capacity) in paths {
        let mut node = shedding(capacity, start);
        let mut i = 0usize;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let sent =
                    feed(&mut node, start + Duration::from_nanos(i as u64), remote, black_box(&invites[i % 10_000]));
                assert!(sent > 0, "answered");
            })
        });
    }
    let mut node = shedding(Capacity::default(), start);
    assert!(feed(&mut node, start, remote, &invites[0]) > 0, "a refusal, so ACKs of refusals are looked for");
    let refusal_acks: Vec<Vec<u8>> = (0..10_000).map(|i| ack(i, "shed0123abcd")).collect();
    let other_acks: Vec<Vec<u8>> = (0..10_000).map(|i| ack(i, "0123abcd")).collect();
    for (name, acks) in [("ack_of_refusal_raw_head", &refusal_acks), ("ack_full_parse", &other_acks)] {
        let mut i = 0usize;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                feed(&mut node, start + Duration::from_nanos(i as u64), remote, black_box(&acks[i % 10_000]))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
