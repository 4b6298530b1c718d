//! A client layer and a server layer wired through a `netem::Network`, with a
//! scripted TU on the server side.
#![allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netem::{LinkConfig, Network};
use sipcore::{
    ClientOutcome, Peer, RequestOutcome, TransactionConfig, TransactionEvent, TransactionLayer, Transport, TxKey,
};
use sipmsg::{Framing, Message, MessageBuilder, Method, ViaStamp};

pub(crate) const CLIENT: &str = "127.0.0.1:5070";
pub(crate) const SERVER: &str = "127.0.0.1:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// What the server TU answers to a new request: a list of (delay, status) responses.
pub(crate) type Script = Vec<(Duration, u16)>;

pub(crate) struct Pair {
    pub(crate) now: Instant,
    pub(crate) start: Instant,
    pub(crate) net: Network<SocketAddr>,
    pub(crate) client: TransactionLayer,
    pub(crate) server: TransactionLayer,
    pub(crate) transport: Transport,
    pub(crate) script: Script,
    /// Responses the client TU received: (time since start, status).
    pub(crate) client_got: Vec<(Duration, u16)>,
    /// Only `TimedOut` events; `Ended` ones are counted in `client_ended`.
    pub(crate) client_events: Vec<TransactionEvent>,
    pub(crate) client_ended: usize,
    pub(crate) server_events: Vec<TransactionEvent>,
    /// Requests the server TU saw as new transactions.
    pub(crate) server_new: Vec<TxKey>,
    /// ACKs for 2xx handed to the server TU.
    pub(crate) acks_for_tu: usize,
    /// Every datagram that crossed the wire: (time since start, to server?, first line).
    pub(crate) wire: Vec<(Duration, bool, String)>,
    pending: Vec<(Instant, TxKey, u16, Arc<[u8]>)>,
}

impl Pair {
    pub(crate) fn new(seed: u64, link: LinkConfig, transport: Transport, script: Script) -> Self {
        let now = Instant::now();
        Self {
            now,
            start: now,
            net: Network::new(seed, link),
            client: TransactionLayer::new(TransactionConfig::default()),
            server: TransactionLayer::new(TransactionConfig::default()),
            transport,
            script,
            client_got: Vec::new(),
            client_events: Vec::new(),
            client_ended: 0,
            server_events: Vec::new(),
            server_new: Vec::new(),
            acks_for_tu: 0,
            wire: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn peer(&self, a: &str) -> Peer {
        Peer { transport: self.transport, addr: addr(a), conn: None, certified: 0 }
    }

    /// Starts a client transaction for `method`.
    pub(crate) fn send(&mut self, method: Method<'_>, branch: &str) -> TxKey {
        let transport = self.transport.as_str();
        let mut b = MessageBuilder::request(method, "sip:1000@127.0.0.1");
        b.header_fmt("Via", format_args!("SIP/2.0/{transport} {CLIENT};branch={branch}"));
        b.header("Max-Forwards", "70");
        b.header("From", "<sip:1001@127.0.0.1>;tag=c1");
        b.header("To", "<sip:1000@127.0.0.1>");
        b.header_fmt("Call-ID", format_args!("{branch}@test"));
        b.header_fmt("CSeq", format_args!("1 {method}"));
        let bytes: Arc<[u8]> = b.finish(None, b"").into();
        let to = self.peer(SERVER);
        let key = self.client.send_request(self.now, branch, method, to, bytes);
        self.flush_all();
        key
    }

    /// Sends an ACK for a 2xx straight through the wire (a TU-level ACK).
    pub(crate) fn send_ack_for_2xx(&mut self, branch: &str) {
        let transport = self.transport.as_str();
        let mut b = MessageBuilder::request(Method::Ack, "sip:1000@127.0.0.1");
        b.header_fmt("Via", format_args!("SIP/2.0/{transport} {CLIENT};branch={branch}-ack"));
        b.header("From", "<sip:1001@127.0.0.1>;tag=c1");
        b.header("To", "<sip:1000@127.0.0.1>;tag=s1");
        b.header_fmt("Call-ID", format_args!("{branch}@test"));
        b.header("CSeq", "1 ACK");
        let bytes = b.finish(None, b"");
        self.wire.push((self.now - self.start, true, "ACK".into()));
        self.net.send(self.now, addr(CLIENT), addr(SERVER), bytes);
    }

    fn flush_all(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            self.wire.push((self.now - self.start, true, first_line(&t.bytes)));
            self.net.send(self.now, addr(CLIENT), t.to.addr, t.bytes.to_vec());
        }
        while let Some(t) = self.server.poll_transmit() {
            self.wire.push((self.now - self.start, false, first_line(&t.bytes)));
            self.net.send(self.now, addr(SERVER), t.to.addr, t.bytes.to_vec());
        }
        while let Some(e) = self.client.poll_event() {
            if matches!(e, TransactionEvent::TimedOut(_)) {
                self.client_events.push(e);
            } else {
                self.client_ended += 1;
            }
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    fn receive(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = Message::parse(bytes, Framing::Datagram) else {
            return;
        };
        if to == addr(SERVER) {
            let peer = Peer { transport: self.transport, addr: from, conn: None, certified: 0 };
            match self.server.handle_request(self.now, &msg, peer) {
                RequestOutcome::New(key) => {
                    self.server_new.push(key.clone());
                    for (delay, code) in self.script.clone() {
                        let resp =
                            MessageBuilder::response_to(&msg, code, "Scripted", Some("s1"), &ViaStamp::default())
                                .finish(None, b"");
                        self.pending.push((self.now + delay, key.clone(), code, resp.into()));
                    }
                }
                RequestOutcome::AckForTu => self.acks_for_tu += 1,
                RequestOutcome::Retransmission | RequestOutcome::AckAbsorbed => {}
            }
        } else if let ClientOutcome::Deliver(_) = self.client.handle_response(self.now, &msg) {
            self.client_got.push((self.now - self.start, msg.status().unwrap_or(0)));
        }
    }

    /// Runs until idle or `limit` of virtual time has passed (the stepper `sim` uses too).
    pub(crate) fn run_for(&mut self, limit: Duration) {
        if let Err(livelock) = netem::run_for(self, limit, 100_000) {
            panic!("{livelock}");
        }
    }

    pub(crate) fn sent(&self, to_server: bool, line_prefix: &str) -> Vec<Duration> {
        self.wire
            .iter()
            .filter(|(_, ts, l)| *ts == to_server && l.starts_with(line_prefix))
            .map(|(t, _, _)| *t)
            .collect()
    }
}

impl netem::Stepped<SocketAddr> for Pair {
    fn now(&self) -> Instant {
        self.now
    }

    fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    fn network(&mut self) -> &mut Network<SocketAddr> {
        &mut self.net
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.server.poll_timeout(), self.pending.iter().map(|p| p.0).min()]
            .into_iter()
            .flatten()
            .min()
    }

    fn deliver(&mut self, p: netem::Packet<SocketAddr>) {
        self.receive(p.to, p.from, &p.bytes);
    }

    fn fire_due(&mut self) {
        let due: Vec<_> = self.pending.iter().filter(|p| p.0 <= self.now).cloned().collect();
        self.pending.retain(|p| p.0 > self.now);
        for (_, key, code, bytes) in due {
            self.server.respond(self.now, &key, code, bytes);
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    fn flush(&mut self) {
        self.flush_all();
    }
}

fn first_line(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == b'\r').unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
