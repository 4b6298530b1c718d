//! The RFC 3261 section 17 transaction layer: matching, the four state machines, timers.
//!
//! One [`TransactionLayer`] holds every transaction of a node. Server transactions are
//! created by [`TransactionLayer::handle_request`] and answered with
//! [`TransactionLayer::respond`]; client transactions start with
//! [`TransactionLayer::send_request`] and report back through
//! [`TransactionLayer::handle_response`] (synchronously, while the caller still holds
//! the parsed response) and [`TransactionLayer::poll_event`] (timeouts).
//!
//! Matching follows RFC 3261 sections 17.1.3 and 17.2.3: the branch of the top Via and
//! the CSeq method (ACK matches the INVITE). Requests whose branch lacks the magic
//! cookie fall back to Call-ID + CSeq + From tag as the branch.

mod client;
mod server;
mod timer;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipmsg::{Message, Method, MAGIC_COOKIE};

use crate::Peer;
use client::{ClientTx, ResponseVerdict};
use server::{InviteServer, NonInviteServer, ServerStep};
pub use timer::TimerName;

/// Transaction timer values (RFC 3261 section 17.1.1.1 and appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionConfig {
    /// Round-trip estimate; default 500 ms. Retransmissions start at T1, timeouts are 64*T1.
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE responses; default 4 s.
    pub t2: Duration,
    /// How long a message stays in the network; default 5 s.
    pub t4: Duration,
    /// Timer D on unreliable transports; default 32 s.
    pub timer_d: Duration,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
        }
    }
}

/// Identifies a transaction: which side, the branch, and the CSeq method (ACK as INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    /// True for a server transaction.
    pub server: bool,
    /// The branch (or the RFC 2543 fallback key).
    pub branch: Box<str>,
    /// The method the transaction is for.
    pub method: Box<str>,
}

/// Bytes to send and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: Peer,
    /// The whole message.
    pub bytes: Arc<[u8]>,
}

/// What [`TransactionLayer::handle_request`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new server transaction; the TU must answer it with [`TransactionLayer::respond`].
    New(TxKey),
    /// A retransmission, handled by the transaction (last response resent if any).
    Retransmission,
    /// An ACK for a non-2xx final, absorbed by its INVITE transaction.
    AckAbsorbed,
    /// An ACK matching no transaction: the ACK for a 2xx, which belongs to the TU.
    AckForTu,
}

/// What [`TransactionLayer::handle_response`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    /// The TU should act on this response of the given transaction.
    Deliver(TxKey),
    /// A retransmission the transaction absorbed.
    Absorbed,
    /// No transaction matched (dropped per RFC 3261 section 17.1.3).
    Stray,
}

/// Events the TU collects with [`TransactionLayer::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A client transaction got no final response (timer B or F), or an INVITE server
    /// transaction got no ACK (timer H).
    TimedOut(TxKey),
    /// A client transaction ended (after its final response, timeout or wait timer).
    Ended(TxKey),
}

/// Plain counters, exported by the shell.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransactionStats {
    /// Server transactions created.
    pub server_created: u64,
    /// Client transactions created.
    pub client_created: u64,
    /// Requests or responses sent again by a timer or on a retransmitted request.
    pub retransmissions: u64,
    /// Retransmissions received and absorbed.
    pub absorbed: u64,
    /// Transactions that ended on B, F or H.
    pub timeouts: u64,
    /// Transactions alive now (server and client).
    pub live: u64,
}

#[derive(Debug)]
enum Machine {
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
    Client(ClientTx),
}

#[derive(Debug)]
struct Entry {
    machine: Machine,
    peer: Peer,
    scheduled: Option<(Instant, u64)>,
}

/// All transactions of one node, with their timers.
#[derive(Debug, Default)]
pub struct TransactionLayer {
    config: TransactionConfig,
    /// Boxed: the table's slots stay 48 bytes, so growing it touches (page-faults) a fifth
    /// of the memory that 240-byte entries would, and moving a slot is cheap.
    entries: crate::SpreadMap<TxKey, Box<Entry>>,
    timers: BTreeMap<(Instant, u64), TxKey>,
    next_timer_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TransactionEvent>,
    stats: TransactionStats,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(config: TransactionConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// The timer values in use.
    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// New timer values, used by transactions started or re-armed from now on.
    pub fn set_config(&mut self, config: TransactionConfig) {
        self.config = config;
    }

    /// Matches an incoming request against server transactions (creating one if new).
    pub fn handle_request(&mut self, now: Instant, request: &Message<'_>, from: Peer) -> RequestOutcome {
        let Some(method) = request.method() else {
            return RequestOutcome::Retransmission;
        };
        let key = server_key(request, method);
        if let Some(entry) = self.entries.get_mut(&key) {
            let step = match (&mut entry.machine, method) {
                (Machine::InviteServer(tx), Method::Ack) => {
                    tx.on_ack(now, &self.config);
                    self.stats.absorbed += 1;
                    self.reschedule(&key);
                    return RequestOutcome::AckAbsorbed;
                }
                (Machine::InviteServer(tx), _) => tx.on_retransmission(),
                (Machine::NonInviteServer(tx), _) => tx.on_retransmission(),
                (Machine::Client(_), _) => ServerStep::default(),
            };
            self.stats.absorbed += 1;
            if let Some(bytes) = step.send {
                self.stats.retransmissions += 1;
                self.transmits.push_back(Transmit { to: entry.peer, bytes });
            }
            return RequestOutcome::Retransmission;
        }
        if method == Method::Ack {
            return RequestOutcome::AckForTu;
        }
        let reliable = from.transport.is_reliable();
        let machine = if method == Method::Invite {
            Machine::InviteServer(InviteServer::new(reliable))
        } else {
            Machine::NonInviteServer(NonInviteServer::new(reliable))
        };
        self.stats.server_created += 1;
        self.entries.insert(key.clone(), Box::new(Entry { machine, peer: from, scheduled: None }));
        RequestOutcome::New(key)
    }

    /// The TU answers server transaction `key` with a response of status `code`.
    /// Returns false when the transaction is gone or no longer takes responses.
    pub fn respond(&mut self, now: Instant, key: &TxKey, code: u16, bytes: Arc<[u8]>) -> bool {
        self.respond_with(now, key, code, bytes, true)
    }

    /// As [`TransactionLayer::respond`], but a non-2xx final answer to an INVITE is not
    /// retransmitted on timer G, only when the INVITE comes again (as a stateless server
    /// would answer): for refusals and challenges to sources nothing has verified, so a
    /// spoofed INVITE draws one response, not eleven (reflection amplification).
    pub fn respond_once(&mut self, now: Instant, key: &TxKey, code: u16, bytes: Arc<[u8]>) -> bool {
        self.respond_with(now, key, code, bytes, false)
    }

    fn respond_with(&mut self, now: Instant, key: &TxKey, code: u16, bytes: Arc<[u8]>, retransmit: bool) -> bool {
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        let step = match &mut entry.machine {
            Machine::InviteServer(tx) => tx.respond(now, &self.config, code, bytes, retransmit),
            Machine::NonInviteServer(tx) => tx.respond(now, &self.config, code, bytes),
            Machine::Client(_) => ServerStep::default(),
        };
        let sent = step.send.is_some();
        if let Some(bytes) = step.send {
            self.transmits.push_back(Transmit { to: entry.peer, bytes });
        }
        self.reschedule(key);
        sent
    }

    /// Starts a client transaction and sends `request` to `to`. `branch` must be the
    /// branch of the request's top Via; `method` its method.
    pub fn send_request(
        &mut self,
        now: Instant,
        branch: &str,
        method: Method<'_>,
        to: Peer,
        request: Arc<[u8]>,
    ) -> TxKey {
        let key = TxKey { server: false, branch: branch.into(), method: method.as_str().into() };
        let tx =
            ClientTx::start(now, &self.config, method == Method::Invite, to.transport.is_reliable(), request.clone());
        self.stats.client_created += 1;
        self.transmits.push_back(Transmit { to, bytes: request });
        self.entries.insert(key.clone(), Box::new(Entry { machine: Machine::Client(tx), peer: to, scheduled: None }));
        self.reschedule(&key);
        key
    }

    /// True when `request` belongs to a server transaction that exists (a retransmission),
    /// without creating one.
    pub fn knows_request(&self, request: &Message<'_>) -> bool {
        request.method().is_some_and(|m| self.entries.contains_key(&server_key(request, m)))
    }

    /// True when a server transaction for `method` with this RFC 3261 `branch` exists
    /// (what [`TransactionLayer::knows_request`] asks, for a request not yet parsed).
    pub fn knows_server_branch(&self, branch: &str, method: Method<'_>) -> bool {
        let method = if method == Method::Ack { Method::Invite } else { method };
        self.entries.contains_key(&TxKey { server: true, branch: branch.into(), method: method.as_str().into() })
    }

    /// Sends bytes outside any transaction (the ACK for a 2xx, RFC 3261 section 13.2.2.4).
    pub fn send_stateless(&mut self, to: Peer, bytes: Arc<[u8]>) {
        self.transmits.push_back(Transmit { to, bytes });
    }

    /// Matches an incoming response against client transactions.
    pub fn handle_response(&mut self, now: Instant, response: &Message<'_>) -> ClientOutcome {
        let (Some(via), Some(cseq)) = (response.top_via(), response.cseq()) else {
            return ClientOutcome::Stray;
        };
        let Some(branch) = via.branch() else {
            return ClientOutcome::Stray;
        };
        let method = if cseq.method == Method::Ack { Method::Invite } else { cseq.method };
        let key = TxKey { server: false, branch: branch.into(), method: method.as_str().into() };
        let Some(entry) = self.entries.get_mut(&key) else {
            return ClientOutcome::Stray;
        };
        let Machine::Client(tx) = &mut entry.machine else {
            return ClientOutcome::Stray;
        };
        let (verdict, send) = tx.on_response(now, &self.config, response);
        if let Some(bytes) = send {
            self.transmits.push_back(Transmit { to: entry.peer, bytes });
        }
        self.reschedule(&key);
        match verdict {
            ResponseVerdict::Deliver => ClientOutcome::Deliver(key),
            ResponseVerdict::Absorb => {
                self.stats.absorbed += 1;
                ClientOutcome::Absorbed
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((&(at, id), _)) = self.timers.first_key_value() {
            if at > now {
                break;
            }
            let Some(key) = self.timers.remove(&(at, id)) else {
                break;
            };
            self.fire(now, &key);
        }
    }

    /// The next deadline, if any transaction has a timer armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first_key_value().map(|(&(at, _), _)| at)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> TransactionStats {
        TransactionStats { live: self.entries.len() as u64, ..self.stats }
    }

    fn fire(&mut self, now: Instant, key: &TxKey) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        entry.scheduled = None;
        let (send, timed_out) = match &mut entry.machine {
            Machine::InviteServer(tx) => split(tx.on_timer(now, &self.config)),
            Machine::NonInviteServer(tx) => split(tx.on_timer(now)),
            Machine::Client(tx) => tx.on_timer(now, &self.config),
        };
        if let Some(bytes) = send {
            self.stats.retransmissions += 1;
            self.transmits.push_back(Transmit { to: entry.peer, bytes });
        }
        if timed_out {
            self.stats.timeouts += 1;
            self.events.push_back(TransactionEvent::TimedOut(key.clone()));
        }
        self.reschedule(key);
    }

    /// Re-files the transaction's next deadline, or removes a terminated transaction.
    fn reschedule(&mut self, key: &TxKey) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if let Some(old) = entry.scheduled.take() {
            self.timers.remove(&old);
        }
        let (terminated, next) = match &entry.machine {
            Machine::InviteServer(tx) => (tx.is_terminated(), tx.timers.next()),
            Machine::NonInviteServer(tx) => (tx.is_terminated(), tx.timers.next()),
            Machine::Client(tx) => (tx.is_terminated(), tx.timers.next()),
        };
        if terminated {
            self.entries.remove(key);
            if !key.server {
                self.events.push_back(TransactionEvent::Ended(key.clone()));
            }
            return;
        }
        if let Some((at, _)) = next {
            let id = self.next_timer_id;
            self.next_timer_id += 1;
            entry.scheduled = Some((at, id));
            self.timers.insert((at, id), key.clone());
        }
    }
}

fn split(step: ServerStep) -> (Option<Arc<[u8]>>, bool) {
    (step.send, step.timed_out)
}

/// The server transaction key of a request (RFC 3261 section 17.2.3, with the RFC 2543
/// fallback of section 17.2.3's last paragraph simplified to Call-ID, CSeq and From tag).
fn server_key(request: &Message<'_>, method: Method<'_>) -> TxKey {
    let method = if method == Method::Ack { Method::Invite } else { method };
    let branch = request
        .top_via()
        .and_then(|v| v.branch())
        .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len());
    let branch: Box<str> = match branch {
        Some(b) => b.into(),
        None => {
            let seq = request.cseq().map_or(0, |c| c.seq);
            let tag = request.from().and_then(|f| f.tag()).unwrap_or("");
            format!("2543:{}:{}:{}", request.call_id().unwrap_or(""), seq, tag).into()
        }
    };
    TxKey { server: true, branch, method: method.as_str().into() }
}
