//! How the node answers a new request itself (RFC 3261 section 8.2 order: method,
//! validity, size, URI scheme, Require, dialog, then per method) and what it hands to the
//! B2BUA: [`Decision`], [`Answer`] and the one place answers are built and sent.

use std::sync::Arc;
use std::time::Instant;

use sipcore::{Peer, TxKey};
use sipmsg::{HeaderName, Message, Method, Uri};

use super::answer::Answer;
use super::auth_gate::Gate;
use super::{Node, ALLOW};
use crate::caller::Caller;
use crate::intake;
use crate::registrar::RegisterReply;
use crate::reply::{response, stateless_reject};
use crate::Status;

impl Node {
    /// CANCEL: 200 for the CANCEL, then the INVITE it names ends with 487 (RFC 3261 section 9.2).
    pub(super) fn cancel(&mut self, now: Instant, key: &TxKey, req: &Message<'_>, peer: Peer) {
        let invite_key = TxKey { server: true, branch: key.branch.clone(), method: "INVITE".into() };
        if !self.b2bua.has_caller_invite(&invite_key) {
            return self.answer(now, key, req, peer, &Answer::Final(Status::NoSuchTransaction));
        }
        // The CANCEL's 200 first, then the INVITE's 487 (RFC 3261 section 9.2 order,
        // which strict clients expect).
        self.answer(now, key, req, peer, &Answer::Final(Status::Ok));
        self.with_b2bua(now, |b, ctx| b.on_cancel(ctx, &invite_key));
    }

    /// How a new request is answered, checked in RFC 3261 section 8.2 order.
    pub(super) fn decide(&mut self, now: Instant, req: &Message<'_>, peer: Peer) -> Decision {
        let Some(method) = req.method() else {
            return Decision::Answer(Answer::Final(Status::BadRequest));
        };
        if !method.is_known() {
            return Decision::Answer(Answer::Final(Status::NotImplemented));
        }
        if let Err(e) = req.validate() {
            *self.stats.parse_errors.entry(e.kind()).or_default() += 1;
            let (code, reason) = e.status();
            return Decision::Answer(Answer::Final(Status::Invalid(code, reason)));
        }
        if let Err(too_big) = intake::check(req) {
            *self.stats.parse_errors.entry(too_big.kind()).or_default() += 1;
            return Decision::Answer(Answer::Oversized(too_big));
        }
        if !matches!(req.request_uri().and_then(Uri::parse), Some(Uri::Sip(_))) {
            return Decision::Answer(Answer::Final(Status::UnsupportedUriScheme));
        }
        if req.header(HeaderName::Require).is_some() {
            return Decision::Answer(Answer::BadExtension);
        }
        if req.to().and_then(|t| t.tag()).is_some() {
            return Decision::InDialog;
        }
        let caller = match self.gate(now, req, peer) {
            Gate::Pass(caller) => caller,
            Gate::Answer(answer) => return Decision::Answer(answer),
        };
        let answer = match method {
            Method::Cancel => return Decision::Cancel,
            Method::Invite if !self.shutting_down => match unacceptable_body(req) {
                Some(answer) => answer,
                None => return Decision::Invite(caller),
            },
            Method::Invite => self.shutdown_answer(now, req),
            Method::Options => Answer::Options,
            Method::Message => self.peer_message(now, req, peer),
            Method::Bye | Method::Update | Method::Info | Method::Prack => Answer::Final(Status::NoSuchTransaction),
            Method::Register => {
                Answer::Register(self.registrar.register(now, &self.config.dns, req, peer, &mut self.events))
            }
            Method::Ack
            | Method::Subscribe
            | Method::Notify
            | Method::Publish
            | Method::Refer
            | Method::Extension(_) => Answer::Final(Status::MethodNotAllowed),
        };
        Decision::Answer(answer)
    }

    pub(super) fn answer(&mut self, now: Instant, key: &TxKey, req: &Message<'_>, peer: Peer, answer: &Answer) {
        let (code, reason) = answer.status();
        self.new_tag();
        if let Answer::Oversized(_) = answer {
            // Echoing the oversized fields would make an answer no one can parse: only
            // the short lines go back (or nothing, without a usable Via).
            if let Some(bytes) = stateless_reject(req.as_bytes(), code, reason, &self.tag) {
                *self.stats.responses_out.entry(code).or_default() += 1;
                self.transactions.respond_once(now, key, code, bytes.into());
            }
            return;
        }
        let mut b = response(req, code, reason, &self.tag, peer.addr);
        match answer {
            Answer::Options => {
                b.header("Allow", ALLOW);
                b.header("Accept", "application/sdp");
            }
            Answer::Final(Status::MethodNotAllowed) => {
                b.header("Allow", ALLOW);
            }
            Answer::Final(Status::UnsupportedMediaType) => {
                b.header("Accept", "application/sdp");
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
                    b.header_fmt("Contact", format_args!("<{contact}>;expires={}", left.as_secs()));
                }
            }
            Answer::Redirect(_, contact) => {
                b.header("Contact", contact);
            }
            Answer::Challenge { proxy, headers } => {
                let name = if *proxy { "Proxy-Authenticate" } else { "WWW-Authenticate" };
                for value in headers {
                    b.header(name, value);
                }
            }
            Answer::Register(_) | Answer::Final(_) | Answer::Oversized(_) => {}
        }
        b.header("Server", "Tandem");
        let bytes: Arc<[u8]> = b.finish(None, b"").into();
        *self.stats.responses_out.entry(code).or_default() += 1;
        // Answers at intake go to sources nothing has verified yet: not retransmitted by
        // timer (a spoofed INVITE would otherwise draw eleven 407s or 302s).
        self.transactions.respond_once(now, key, code, bytes);
    }

    /// A new INVITE during graceful shutdown: `shutdown-sip-reject-code`, or for 300-302
    /// a redirect to the DR peer (BC-55, BC-56).
    pub(super) fn shutdown_answer(&self, now: Instant, req: &Message<'_>) -> Answer {
        let code = self.config.options.shutdown_sip_reject_code;
        let peer = self.config.dr_peer_contact();
        match (code, peer) {
            (300..=302, Some(contact)) => {
                let dn = req.request_uri().and_then(Uri::parse).and_then(|u| u.user()).unwrap_or("").to_owned();
                Answer::Redirect(code, crate::peer_seal::forward_contact(self.sealer(now), &dn, contact))
            }
            (300..=302, None) => Answer::Final(Status::DeclineShuttingDown),
            _ => Answer::Final(Status::ShuttingDown(code)),
        }
    }
}

/// What happens to one new request: answered here, or handed to the B2BUA.
#[derive(Debug)]
pub(super) enum Decision {
    /// Answered by the node.
    Answer(Answer),
    /// Belongs to a dialog: the B2BUA answers.
    InDialog,
    /// CANCEL of a pending INVITE.
    Cancel,
    /// A new call from this caller: the B2BUA answers.
    Invite(Caller),
}

/// 415 for a body we cannot pass on as a session description, 406 when the caller
/// accepts no SDP in return (RFC 3261 section 21.4.7 and 21.4.13).
pub(super) fn unacceptable_body(req: &Message<'_>) -> Option<Answer> {
    let is_sdp_or_multipart = |ct: &str| {
        let ct = ct.trim().to_ascii_lowercase();
        ct.starts_with("application/sdp") || ct.starts_with("multipart/")
    };
    if !req.body().is_empty() && !req.header(HeaderName::ContentType).is_some_and(is_sdp_or_multipart) {
        return Some(Answer::Final(Status::UnsupportedMediaType));
    }
    let accepts_sdp = |v: &str| {
        let v = v.trim().to_ascii_lowercase();
        v.is_empty() || v.starts_with("application/sdp") || v.starts_with("application/*") || v.starts_with("*/*")
    };
    let mut accepts = req.values(HeaderName::Accept).peekable();
    if accepts.peek().is_some() && !accepts.any(accepts_sdp) {
        return Some(Answer::Final(Status::NotAcceptable));
    }
    None
}
