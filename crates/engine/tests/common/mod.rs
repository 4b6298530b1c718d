//! Drives one `engine::Node` with raw datagrams on a virtual clock.
#![allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use engine::{Input, Node, NodeConfig};
use sipmsg::{Framing, Message};

pub struct Site {
    pub node: Node,
    pub now: Instant,
}

pub const PHONE: &str = "127.0.0.1:5070";

impl Site {
    pub fn new() -> Self {
        let now = Instant::now();
        Self { node: Node::new(NodeConfig::for_tests(), 1, now), now }
    }

    /// Sends one datagram and returns every datagram the node sends back.
    pub fn send(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let remote: SocketAddr = PHONE.parse().expect("addr");
        self.node.handle_input(Input::Datagram { at: self.now, remote, bytes });
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(t) = self.node.poll_transmit() {
            out.push(t.bytes.to_vec());
        }
        while self.node.poll_event().is_some() {}
        out
    }

    /// Moves the clock forward, firing every deadline on the way.
    pub fn advance(&mut self, by: Duration) -> Vec<Vec<u8>> {
        let end = self.now + by;
        let mut out = Vec::new();
        while let Some(at) = self.node.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.node.handle_input(Input::Timeout(self.now));
            out.extend(self.drain());
        }
        self.now = end;
        out
    }
}

/// The status code of a response the node sent. Full parsing is checked too, except for
/// answers to requests that lacked From/To/Call-ID (the node can only echo what it got).
pub fn status(bytes: &[u8]) -> u16 {
    match Message::parse(bytes, Framing::Datagram) {
        Ok(m) => m.status().expect("a response"),
        Err(sipmsg::ParseError::Missing(_)) => {
            let line = String::from_utf8_lossy(&bytes[..12]).into_owned();
            line["SIP/2.0 ".len()..].trim().parse().expect("status code")
        }
        Err(e) => panic!("the node sent invalid SIP: {e:?}"),
    }
}

pub fn register(dn: &str, call_id: &str, cseq: u32, contact: &str, expires: Option<u32>) -> Vec<u8> {
    let expires = expires.map(|e| format!("Expires: {e}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{call_id}{cseq};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{dn}@127.0.0.1>;tag=p1\r\nTo: <sip:{dn}@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{expires}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A datagram the node sent: destination and bytes.
pub struct Sent {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

impl Sent {
    pub fn msg(&self) -> Message<'_> {
        Message::parse(&self.bytes, Framing::Datagram).expect("the node sends valid SIP")
    }

    pub fn first_line(&self) -> String {
        let end = self.bytes.iter().position(|&b| b == b'\r').unwrap_or(self.bytes.len());
        String::from_utf8_lossy(&self.bytes[..end]).into_owned()
    }
}

impl Site {
    /// Sends one datagram from `from` and returns what the node sent, with destinations.
    pub fn send_from(&mut self, from: &str, bytes: &[u8]) -> Vec<Sent> {
        let remote: SocketAddr = from.parse().expect("addr");
        self.node.handle_input(Input::Datagram { at: self.now, remote, bytes });
        self.drain_sent()
    }

    pub fn drain_sent(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.node.poll_transmit() {
            out.push(Sent { to: t.to.addr, bytes: t.bytes.to_vec() });
        }
        while self.node.poll_event().is_some() {}
        out
    }

    /// Like `advance`, keeping destinations.
    pub fn advance_sent(&mut self, by: Duration) -> Vec<Sent> {
        let end = self.now + by;
        let mut out = Vec::new();
        while let Some(at) = self.node.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.node.handle_input(Input::Timeout(self.now));
            out.extend(self.drain_sent());
        }
        self.now = end;
        out
    }
}

impl Site {
    /// A site with a given configuration.
    pub fn with_config(config: NodeConfig) -> Self {
        let now = Instant::now();
        Self { node: Node::new(config, 1, now), now }
    }

    /// Sends a CTI request from desk `desk`; returns the events for every desk.
    pub fn desk(&mut self, desk: u64, json: &str) -> Vec<(u64, cti::Event)> {
        let request: cti::Request = serde_json::from_str(json).expect("valid request json");
        self.node.handle_input(Input::Desk { at: self.now, desk: engine::DeskId(desk), request: &request });
        self.desk_events()
    }

    /// Desk events produced so far.
    pub fn desk_events(&mut self) -> Vec<(u64, cti::Event)> {
        let mut out = Vec::new();
        while let Some((desk, e)) = self.node.poll_desk() {
            out.push((desk.0, e));
        }
        out
    }
}

/// The `message` names of events, in order.
pub fn names(events: &[(u64, cti::Event)]) -> Vec<String> {
    events
        .iter()
        .map(|(d, e)| {
            let v = serde_json::to_value(e).expect("json");
            format!("{d}:{}", v["message"].as_str().unwrap_or("?"))
        })
        .collect()
}

/// A gateway's INVITE (from 127.0.0.1:5080) for `dn`, Call-ID `{call}@gw`, a small SDP.
pub fn gateway_invite(dn: &str, call: &str) -> Vec<u8> {
    let mut b = sipmsg::MessageBuilder::request(sipmsg::Method::Invite, &format!("sip:{dn}@127.0.0.1:5060"));
    b.header_fmt("Via", format_args!("SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK{call}"));
    b.header("From", "<sip:+12025550147@127.0.0.1:5080>;tag=gw");
    b.header_fmt("To", format_args!("<sip:{dn}@127.0.0.1:5060>"));
    b.header_fmt("Call-ID", format_args!("{call}@gw"));
    b.header("CSeq", "1 INVITE");
    b.header("Contact", "<sip:gw@127.0.0.1:5080>");
    b.finish(Some("application/sdp"), b"v=0\r\n")
}
