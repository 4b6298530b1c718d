//! Whatever arrives on the wire, the node answers or drops it without panicking, also
//! while it sheds load (an odd first byte puts it under pressure first, its other bits
//! choosing which, so new INVITEs take the raw-head refusal of `engine/src/node/shed.rs`).
#![no_main]
use std::time::{Duration, Instant};

use engine::{Input, Node, NodeConfig, Pressure};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut node = Node::new(NodeConfig::for_tests(), 1, now);
    let remote = "127.0.0.1:5070".parse().expect("addr");
    if let Some(b) = data.first().filter(|b| *b & 1 == 1) {
        let pressure = [Pressure::Draining, Pressure::High, Pressure::Severe, Pressure::High][usize::from(b >> 1) % 4];
        node.handle_input(Input::Pressure { at: now, pressure });
    }
    node.handle_input(Input::Datagram { at: now, remote, bytes: data });
    while node.poll_transmit().is_some() {}
    node.handle_input(Input::Timeout(now + Duration::from_secs(3600)));
    while node.poll_transmit().is_some() {}
});
