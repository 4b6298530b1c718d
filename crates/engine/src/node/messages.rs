//! A message's way in: a keep-alive ignored, a raw INVITE shed under overload, a parse
//! (failures answered statelessly or dropped), admission, the transaction layer, then
//! the decision (`answers.rs`).

use std::time::Instant;

use sipcore::{ClientOutcome, Peer, RequestOutcome, Transmit};
use sipmsg::{Framing, Message, Method, ParseError};

use super::answer::Answer;
use super::answers::Decision;
use super::Node;
use crate::intake;
use crate::overload::Pressure;
use crate::reply::{reply_with, stateless_reject};
use crate::Status;

impl Node {
    pub(super) fn handle_message(&mut self, now: Instant, peer: Peer, bytes: &[u8], framing: Framing) {
        if !bytes.is_empty() && bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return; // a CRLF keep-alive (RFC 5626 section 4.4.1): nothing to answer
        }
        if self.shed_unparsed(now, peer, bytes) {
            return;
        }
        match Message::parse(bytes, framing) {
            Ok(msg) if msg.is_request() => {
                self.stats.requests_in += 1;
                if self.admit(now, &msg, peer) {
                    self.handle_request(now, &msg, peer);
                }
            }
            Ok(msg) => {
                self.stats.responses_in += 1;
                if let Err(too_big) = intake::check(&msg) {
                    // What a response teaches a dialog (Contact, Record-Route, tag) is copied
                    // into our later requests: dropped, as if lost.
                    *self.stats.parse_errors.entry(too_big.kind()).or_default() += 1;
                    self.stats.dropped += 1;
                    return;
                }
                if let ClientOutcome::Deliver(key) = self.transactions.handle_response(now, &msg) {
                    if msg.status().is_some_and(|c| c >= 200) && self.trunks.on_response(&key, &mut self.events) {
                        return;
                    }
                    if !self.trunks.owns(&key) {
                        self.with_b2bua(now, |b, ctx| b.on_response(ctx, &key, &msg));
                    }
                }
            }
            Err(e) => self.reject_unparsed(bytes, e, peer),
        }
    }

    /// Sheds load before a request costs a transaction: a source over its rate is
    /// dropped; new INVITEs and REGISTERs get a stateless 503 under pressure or at a cap,
    /// unless they come from the DR peer or retransmit a request already taken.
    fn admit(&mut self, now: Instant, req: &Message<'_>, peer: Peer) -> bool {
        let capacity = self.config.capacity;
        let rate = capacity.per_source_rate;
        if rate > 0
            && self.config.dns.trunk_from(&peer).is_none()
            && !self.admission.within_rate(now, peer.addr.ip(), rate)
        {
            self.stats.flood_dropped += 1;
            return false;
        }
        if let Some(auth) = self.config.auth.as_ref().filter(|_| self.needs_credentials(req, peer)) {
            let throttle = auth.throttle;
            if !self.guard.admits(peer.addr.ip(), now, &throttle) {
                return false;
            }
        }
        let new_work = matches!(req.method(), Some(Method::Invite | Method::Register))
            && req.to().is_some_and(|t| t.tag().is_none());
        if !new_work {
            return true;
        }
        let full = if req.method() == Some(Method::Invite) {
            self.at_a_cap()
        } else {
            self.transactions.stats().live >= capacity.max_transactions as u64
        };
        let unlimited = self.admission.pressure() <= Pressure::Normal && self.admission.new_work_limit().is_none();
        if unlimited && !full {
            return self.admission.admit_new_work(now);
        }
        // About to shed: the DR peer, retransmissions of accepted work and what intake
        // refuses anyway (with its own answer) pass on without counting as new work.
        if self.config.is_dr_peer(peer.addr) || self.transactions.knows_request(req) || intake::check(req).is_err() {
            return true;
        }
        if !full && self.admission.admit_new_work(now) {
            return true;
        }
        self.refuse_overloaded(now, req, peer);
        false
    }

    /// A stateless 503 with `Retry-After` jittered by +-50 % so refused callers do not all
    /// come back at once (RFC 3261 section 21.5.4, RFC 6357 section 4).
    fn refuse_overloaded(&mut self, now: Instant, req: &Message<'_>, peer: Peer) {
        let retry_after = self.retry_after();
        self.new_refusal_tag();
        let mut b = reply_with(req, Status::ServiceUnavailable, &self.tag, peer.addr);
        b.header_fmt("Retry-After", format_args!("{retry_after}"));
        self.transmits.push_back(Transmit { to: peer, bytes: b.finish(None, b"").into() });
        *self.stats.responses_out.entry(503).or_default() += 1;
        self.stats.overload_rejected += 1;
        self.admission.note_refusal(now);
    }

    fn reject_unparsed(&mut self, bytes: &[u8], error: ParseError, peer: Peer) {
        *self.stats.parse_errors.entry(error.kind()).or_default() += 1;
        let (code, reason) = error.status();
        self.new_tag();
        match stateless_reject(bytes, code, reason, &self.tag) {
            Some(out) => {
                *self.stats.responses_out.entry(code).or_default() += 1;
                self.transmits.push_back(Transmit { to: peer, bytes: out.into() });
            }
            None => self.stats.dropped += 1,
        }
        tracing::debug!(kind = error.kind(), "refused malformed message");
    }

    fn handle_request(&mut self, now: Instant, req: &Message<'_>, peer: Peer) {
        let key = match self.transactions.handle_request(now, req, peer) {
            RequestOutcome::New(key) => key,
            RequestOutcome::AckForTu => {
                self.with_b2bua(now, |b, ctx| b.on_in_dialog(ctx, None, req, peer));
                return;
            }
            RequestOutcome::Retransmission | RequestOutcome::AckAbsorbed => return,
        };
        match self.decide(now, req, peer) {
            Decision::InDialog => {
                if !self.with_b2bua(now, |b, ctx| b.on_in_dialog(ctx, Some(key.clone()), req, peer)) {
                    self.answer(now, &key, req, peer, &Answer::Final(Status::NoSuchTransaction));
                }
            }
            Decision::Cancel => self.cancel(now, &key, req, peer),
            Decision::Invite(caller) => self.with_b2bua(now, |b, ctx| b.on_invite(ctx, key, req, peer, &caller)),
            Decision::Answer(answer) => self.answer(now, &key, req, peer, &answer),
        }
    }
}
