//! What the B2BUA sends on a leg outside its request/response flow: an answer to the
//! caller, BYE, CANCEL; and reading back a message it stored.

use std::sync::Arc;

use sipcore::TxKey;
use sipmsg::{Framing, Message, Method};

use super::build::{bye_with_reason, cancel, copy_body, in_dialog};
use super::call::Pending;
use super::leg::Leg;
use super::Ctx;
use crate::reply::response;

/// Answers the caller's INVITE of `a` (a received INVITE) with `code`, our Contact for
/// 1xx/2xx, and the body of `body_from` if given.
pub(super) fn answer_caller(
    ctx: &mut Ctx<'_>,
    a: &Leg,
    code: u16,
    reason: &str,
    body_from: Option<&Message<'_>>,
) -> Option<Arc<[u8]>> {
    let req = reparse(&a.invite)?;
    let mut b = response(&req, code, reason, &a.local_tag, a.peer.addr);
    if code < 300 {
        b.header("Contact", &ctx.local.contact(a.peer.transport));
    }
    let bytes: Arc<[u8]> = match body_from {
        Some(m) => copy_body(b, m),
        None => b.finish(None, b""),
    }
    .into();
    ctx.tx.respond(ctx.now, &a.invite_tx, code, bytes.clone());
    Some(bytes)
}

/// Answers the caller's INVITE of `a` with `code` and the session description `sdp`
/// (early media: 183 with the media partner's answer).
pub(super) fn answer_caller_sdp(ctx: &mut Ctx<'_>, a: &Leg, code: u16, reason: &str, sdp: &[u8]) -> Option<Arc<[u8]>> {
    let req = reparse(&a.invite)?;
    let mut b = response(&req, code, reason, &a.local_tag, a.peer.addr);
    b.header("Contact", &ctx.local.contact(a.peer.transport));
    let bytes: Arc<[u8]> = b.finish(Some("application/sdp"), sdp).into();
    ctx.tx.respond(ctx.now, &a.invite_tx, code, bytes.clone());
    Some(bytes)
}

pub(super) fn reason_of<'a>(resp: &Message<'a>) -> &'a str {
    match resp.start_line() {
        sipmsg::StartLine::Response { reason, .. } if !reason.is_empty() => reason,
        sipmsg::StartLine::Response { .. } | sipmsg::StartLine::Request { .. } => "Relayed",
    }
}

/// Parses again a message we received and parsed before (a caller's INVITE, a relayed
/// request, an origin phone's 200), to answer it or pass its body on. Bytes we built are
/// never parsed again. `None` would be a bug (the same bytes parsed once): logged, and the
/// caller gives up on the step rather than the site.
pub(super) fn reparse(bytes: &[u8]) -> Option<Message<'_>> {
    match Message::parse(bytes, Framing::Datagram) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = ?e, "a stored message no longer parses");
            None
        }
    }
}
/// Sends a BYE inside `leg`'s dialog; its answer is not awaited.
pub(super) fn send_bye(ctx: &mut Ctx<'_>, pending: &mut sipcore::SpreadMap<TxKey, Pending>, leg: &mut Leg) {
    send_bye_because(ctx, pending, leg, None);
}

/// [`send_bye`], saying why in a `Reason` header (RFC 3326) when `why` is given: a call
/// answered for its music that then found no one ends with the status an unanswered
/// call would have got.
pub(super) fn send_bye_because(
    ctx: &mut Ctx<'_>,
    pending: &mut sipcore::SpreadMap<TxKey, Pending>,
    leg: &mut Leg,
    why: Option<crate::Status>,
) {
    if leg.ack_awaits_answer {
        // A late offer whose answer never came: the 2xx is ACKed (without one) first.
        leg.ack_awaits_answer = false;
        let branch = ctx.branch();
        let ack: Arc<[u8]> = in_dialog(&ctx.local, leg, Method::Ack, 1, &branch, None).into();
        leg.ack = Some(ack.clone());
        ctx.tx_send(leg.peer, ack);
    }
    let cseq = leg.next_cseq();
    let branch = ctx.branch();
    let bye: Arc<[u8]> = match why {
        Some(status) => bye_with_reason(&ctx.local, leg, cseq, &branch, status.wire()),
        None => in_dialog(&ctx.local, leg, Method::Bye, cseq, &branch, None),
    }
    .into();
    let key = ctx.tx.send_request(ctx.now, &branch, Method::Bye, leg.peer, bye);
    pending.insert(key, Pending::Fire);
}

/// Gives up B-leg `leg`: a CANCEL now if it has sent a provisional, else as soon as it
/// does (RFC 3261 section 9.1; a CANCEL that overtakes its INVITE finds no transaction,
/// and the phone would ring on). Either way its INVITE becomes an orphan's, whatever
/// becomes of the call: a 2xx that crossed the CANCEL is ACKed and hung up (RFC 3261
/// section 9.1: the callee answered first), a late provisional sends the CANCEL owed.
pub(super) fn cancel_b_leg(ctx: &mut Ctx<'_>, pending: &mut sipcore::SpreadMap<TxKey, Pending>, leg: &mut Leg) {
    leg.cancel_due = !leg.heard;
    if let Some(p) = pending.get_mut(&leg.invite_tx) {
        *p = Pending::Orphan(Box::new(leg.clone()));
    }
    if leg.heard {
        send_cancel(ctx, pending, leg);
    }
}

/// CANCELs the INVITE we sent on `leg` (same branch, RFC 3261 section 9.1).
pub(super) fn send_cancel(ctx: &mut Ctx<'_>, pending: &mut sipcore::SpreadMap<TxKey, Pending>, leg: &Leg) {
    let bytes = cancel(&ctx.local, leg);
    let key = ctx.tx.send_request(ctx.now, &leg.invite_tx.branch, Method::Cancel, leg.peer, bytes.into());
    pending.insert(key, Pending::Fire);
}
