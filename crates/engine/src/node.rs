//! [`Node`]: one site's state machine and its request dispatcher.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sipcore::{ConnId, Peer, RequestOutcome, TransactionLayer, Transmit, TxKey};
use sipmsg::{Framing, HeaderName, Message, Method, ParseError, Uri};

use crate::registrar::{RegisterReply, Registrar};
use crate::reply::{response, stateless_reject};
use crate::{DomainEvent, NodeConfig, NodeStats};

/// Methods this node answers today; the rest of RFC 3261's get 405.
const ALLOW: &str = "REGISTER, OPTIONS";

/// Input to a [`Node`]. Time always comes with the input.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// One UDP datagram.
    Datagram {
        /// When it arrived.
        at: Instant,
        /// Sender.
        remote: SocketAddr,
        /// Payload.
        bytes: &'a [u8],
    },
    /// One whole message framed off a stream connection (see `sipcore::StreamFramer`).
    Stream {
        /// When it arrived.
        at: Instant,
        /// The connection.
        conn: ConnId,
        /// Remote address of the connection.
        remote: SocketAddr,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// Time passed; fire what is due.
    Timeout(Instant),
}

/// One site's SIP brain: registrar and dispatcher over a transaction layer.
///
/// Inputs go in with [`Node::handle_input`]; then drain [`Node::poll_transmit`] and
/// [`Node::poll_event`] and sleep until [`Node::poll_timeout`]. The node reads no clock
/// and does no I/O; all randomness (To tags) comes from the seed.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    transactions: TransactionLayer,
    registrar: Registrar,
    rng: ChaCha8Rng,
    transmits: VecDeque<Transmit>,
    events: Vec<DomainEvent>,
    events_out: VecDeque<DomainEvent>,
    stats: NodeStats,
    tag: String,
}

impl Node {
    /// A node for `config`; `seed` drives every random choice, `now` is its start.
    pub fn new(config: NodeConfig, seed: u64, now: Instant) -> Self {
        let _ = now;
        Self {
            transactions: TransactionLayer::new(config.transactions),
            registrar: Registrar::new(config.registrar),
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            transmits: VecDeque::new(),
            events: Vec::new(),
            events_out: VecDeque::new(),
            stats: NodeStats::default(),
            tag: String::with_capacity(16),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Feeds one input. Never fails: bad network input is answered or dropped, and counted.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Datagram { at, remote, bytes } => {
                self.handle_message(at, Peer::udp(remote), bytes, Framing::Datagram)
            }
            Input::Stream {
                at,
                conn,
                remote,
                bytes,
            } => self.handle_message(at, Peer::tcp(remote, conn), bytes, Framing::Stream),
            Input::Timeout(now) => {
                self.transactions.handle_timeout(now);
                self.registrar.bindings.expire(now, &mut self.events);
            }
        }
        self.collect();
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next domain event.
    pub fn poll_event(&mut self) -> Option<DomainEvent> {
        self.events_out.pop_front()
    }

    /// When the node next needs [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.transactions.poll_timeout(),
            self.registrar.bindings.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Counters so far.
    pub fn stats(&self) -> NodeStats {
        let mut s = self.stats.clone();
        s.bindings = self.registrar.bindings.count();
        s.registered_dns = self.registrar.bindings.dns();
        s.transactions = self.transactions.stats();
        s
    }

    /// The current bindings of a DN.
    pub fn bindings(&self, dn: &str) -> &[crate::Binding] {
        self.registrar.bindings.of(dn)
    }

    fn collect(&mut self) {
        while let Some(t) = self.transactions.poll_transmit() {
            self.transmits.push_back(t);
        }
        while self.transactions.poll_event().is_some() {}
        self.events_out.extend(self.events.drain(..));
    }

    fn handle_message(&mut self, now: Instant, peer: Peer, bytes: &[u8], framing: Framing) {
        match Message::parse(bytes, framing) {
            Ok(msg) if msg.is_request() => {
                self.stats.requests_in += 1;
                self.handle_request(now, &msg, peer);
            }
            Ok(msg) => {
                self.stats.responses_in += 1;
                let _ = self.transactions.handle_response(now, &msg);
            }
            Err(e) => self.reject_unparsed(bytes, e, peer),
        }
    }

    fn reject_unparsed(&mut self, bytes: &[u8], error: ParseError, peer: Peer) {
        *self.stats.parse_errors.entry(error.kind()).or_default() += 1;
        let (code, reason) = error.status();
        self.new_tag();
        match stateless_reject(bytes, code, reason, &self.tag) {
            Some(out) => {
                *self.stats.responses_out.entry(code).or_default() += 1;
                self.transmits.push_back(Transmit {
                    to: peer,
                    bytes: out.into(),
                });
            }
            None => self.stats.dropped += 1,
        }
        tracing::debug!(kind = error.kind(), "refused malformed message");
    }

    fn handle_request(&mut self, now: Instant, req: &Message<'_>, peer: Peer) {
        let key = match self.transactions.handle_request(now, req, peer) {
            RequestOutcome::New(key) => key,
            RequestOutcome::Retransmission
            | RequestOutcome::AckAbsorbed
            | RequestOutcome::AckForTu => return,
        };
        let answer = self.decide(now, req, peer);
        self.answer(now, &key, req, peer, &answer);
    }

    /// How a new request is answered, checked in RFC 3261 section 8.2 order.
    fn decide(&mut self, now: Instant, req: &Message<'_>, peer: Peer) -> Answer {
        let Some(method) = req.method() else {
            return Answer::Status(400, "Bad Request");
        };
        if !method.is_known() {
            return Answer::Status(501, "Not Implemented");
        }
        if let Err(e) = req.validate() {
            *self.stats.parse_errors.entry(e.kind()).or_default() += 1;
            let (code, reason) = e.status();
            return Answer::Status(code, reason);
        }
        if !matches!(req.request_uri().and_then(Uri::parse), Some(Uri::Sip(_))) {
            return Answer::Status(416, "Unsupported URI Scheme");
        }
        if req.header(HeaderName::Require).is_some() {
            return Answer::BadExtension;
        }
        match method {
            Method::Options => Answer::Options,
            Method::Register => Answer::Register(self.registrar.register(
                now,
                &self.config.dns,
                req,
                peer,
                &mut self.events,
            )),
            _ => Answer::Status(405, "Method Not Allowed"),
        }
    }

    fn answer(
        &mut self,
        now: Instant,
        key: &TxKey,
        req: &Message<'_>,
        peer: Peer,
        answer: &Answer,
    ) {
        let (code, reason) = answer.status();
        self.new_tag();
        let mut b = response(req, code, reason, &self.tag, peer.addr);
        match answer {
            Answer::Options => {
                b.header("Allow", ALLOW);
                b.header("Accept", "application/sdp");
            }
            Answer::Status(405, _) => {
                b.header("Allow", ALLOW);
            }
            Answer::BadExtension => {
                for option in req.values(HeaderName::Require) {
                    b.header("Unsupported", option);
                }
            }
            Answer::Register(RegisterReply::IntervalTooBrief(min)) => {
                b.header_fmt("Min-Expires", format_args!("{}", min.as_secs()));
            }
            Answer::Register(RegisterReply::Ok(bindings)) => {
                for (contact, left) in bindings {
                    b.header_fmt(
                        "Contact",
                        format_args!("<{contact}>;expires={}", left.as_secs()),
                    );
                }
            }
            Answer::Register(_) | Answer::Status(..) => {}
        }
        b.header("Server", "Tandem");
        let bytes: Arc<[u8]> = b.finish(None, b"").into();
        *self.stats.responses_out.entry(code).or_default() += 1;
        self.transactions.respond(now, key, code, bytes);
    }

    /// A fresh To tag for the next response (8 hex digits from the seeded RNG).
    fn new_tag(&mut self) {
        use std::fmt::Write as _;
        self.tag.clear();
        let _ = write!(self.tag, "{:08x}", self.rng.gen::<u32>());
    }
}

/// The decision for one new request; [`Answer::status`] maps it to the wire.
#[derive(Debug)]
enum Answer {
    Status(u16, &'static str),
    Options,
    BadExtension,
    Register(RegisterReply),
}

impl Answer {
    fn status(&self) -> (u16, &'static str) {
        match self {
            Self::Status(code, reason) => (*code, reason),
            Self::Options => (200, "OK"),
            Self::BadExtension => (420, "Bad Extension"),
            Self::Register(reply) => reply.status(),
        }
    }
}
