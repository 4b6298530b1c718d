//! Requests inside established calls: ACK for our 2xx, BYE from either side, and the
//! re-INVITE / UPDATE / INFO relayed to the other leg with their answers relayed back.

use super::leg::sdp_of;
use super::*;
use crate::Status;

impl B2bua {
    /// A request inside one of our dialogs, found by Call-ID and our tag. Returns false
    /// when no dialog matches (the node answers 481).
    pub(crate) fn on_in_dialog(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: Option<TxKey>,
        req: &Message<'_>,
        peer: Peer,
    ) -> bool {
        let Some((id, side)) = self.find_dialog(req) else {
            return false;
        };
        let Some(method) = req.method() else {
            return false;
        };
        match (method, key) {
            (Method::Ack, _) => {
                if side == Side::A {
                    if let Some(call) = self.calls.get_mut(&id) {
                        if let Some(a_2xx) = call.a_2xx() {
                            *a_2xx = None;
                        }
                    }
                    self.timers.cancel(id, CallTimer::Retransmit2xx);
                    self.late_answer(ctx, id, req);
                }
                true
            }
            (_, Some(key)) if self.in_conference(id) => {
                self.conference_request(ctx, (id, side), &key, req, peer);
                true
            }
            (Method::Bye, Some(key)) => {
                self.on_bye(ctx, id, side, &key, req, peer);
                true
            }
            (Method::Refer, Some(key)) => {
                self.on_refer(ctx, (id, side), &key, req, peer);
                true
            }
            (_, Some(key)) => {
                self.relay_request(ctx, id, side, key, req, peer);
                true
            }
            (_, None) => true,
        }
    }

    pub(super) fn find_dialog(&self, req: &Message<'_>) -> Option<(CallId, Side)> {
        let call_id = req.call_id()?;
        let to_tag = req.to()?.tag()?;
        self.dialogs.get(&(call_id.to_owned(), to_tag.to_owned())).copied()
    }

    pub(super) fn on_bye(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        side: Side,
        key: &TxKey,
        req: &Message<'_>,
        peer: Peer,
    ) {
        let ok = reply_with(req, Status::Ok, "", peer.addr).finish(None, b"");
        ctx.tx.respond(ctx.now, key, 200, ok.into());
        let Some(mut call) = self.remove_call(id) else {
            return;
        };
        let by = if side == Side::A { ReleasedBy::Caller } else { ReleasedBy::Callee };
        if side == Side::A {
            // The origin of a third-party call may hang up while the callee still rings.
            for leg in call.b.iter_mut().filter(|l| l.state == LegState::Early) {
                leg.state = LegState::Ended;
                cancel_b_leg(ctx, &mut self.pending, leg);
            }
            if call.answered_by_us() {
                // Answered for its music, gone before any agent answered: an abandon.
                ctx.events.push(DomainEvent::CallAbandoned { conn_id: call.conn_id, dn: call.dn });
                return;
            }
        }
        let others: Vec<&mut Leg> = match side {
            Side::A => call.b.iter_mut().filter(|l| l.state == LegState::Confirmed).collect(),
            Side::B(_) => vec![&mut call.a],
        };
        for leg in others {
            send_bye(ctx, &mut self.pending, leg);
        }
        ctx.events.push(DomainEvent::CallReleased {
            conn_id: call.conn_id,
            dn: call.dn,
            by,
            caller_dn: call.caller_dn,
            acd: call.acd,
        });
    }

    /// re-INVITE, UPDATE, INFO (and anything else in-dialog): sent on to the other side
    /// (an offer in it anchored first), its final relayed back.
    pub(super) fn relay_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        side: Side,
        key: TxKey,
        req: &Message<'_>,
        peer: Peer,
    ) {
        // Only toward a confirmed leg: anything else gets 491 below, and must not cost the
        // media partner a command first (a phone's stream of re-INVITEs).
        let confirmed = |c: &Call| c.across(side).filter(|&o| c.leg(o).is_some_and(|l| l.state == LegState::Confirmed));
        let other = self.calls.get(&id).filter(|_| self.anchored(ctx, id)).and_then(|c| confirmed(c));
        if let Some(other) = other {
            let resume = anchor::Resume::RelayOut { side, key: key.clone(), req: Arc::from(req.as_bytes()), peer };
            if let anchor::Gate::Wait =
                self.anchor_in_call(ctx, (id, anchor::Exchange::Offer), (side, other), sdp_of(req), resume)
            {
                return;
            }
        }
        self.relay_request_now(ctx, id, side, key, req, peer);
    }

    /// Relays an in-dialog request whose description (if any) needs nothing more.
    pub(super) fn relay_request_now(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        side: Side,
        key: TxKey,
        req: &Message<'_>,
        peer: Peer,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(method) = req.method() else { return };
        let target = match side {
            Side::A => call.answered().map(|i| &mut call.b[i]),
            Side::B(_) => Some(&mut call.a),
        };
        let Some(leg) = target.filter(|l| l.state == LegState::Confirmed) else {
            if side == Side::A && call.answered_by_us() {
                return answer_waiting_caller(ctx, call, &key, req, peer);
            }
            let bytes = reply_with(req, Status::RequestPending, "", peer.addr).finish(None, b"");
            ctx.tx.respond(ctx.now, &key, 491, bytes.into());
            return;
        };
        let cseq = leg.next_cseq();
        let branch = ctx.branch();
        let sdp = sdp_of(req).and_then(|body| leg.relayed_sdp(&body));
        let bytes: Arc<[u8]> =
            build::in_dialog_with(&ctx.local, leg, (method, cseq, &branch), req, sdp.as_deref()).into();
        leg.reinvite_out |= method == Method::Invite;
        let client = ctx.tx.send_request(ctx.now, &branch, method, leg.peer, bytes);
        self.pending.insert(
            client,
            Pending::Relay(Relay { call: id, from: side, server: key, request: Arc::from(req.as_bytes()), peer, cseq }),
        );
    }

    /// An answer to a request we relayed: back to whoever sent the request (a 2xx to a
    /// re-INVITE is ACKed on the leg it came from, both parties' descriptions are kept,
    /// and a phone's hold or resume is noticed).
    pub(super) fn relay_response(&mut self, ctx: &mut Ctx<'_>, relay: &Relay, resp: &Message<'_>) {
        let answerer = self.calls.get(&relay.call).filter(|_| self.anchored(ctx, relay.call));
        let answerer = answerer.and_then(|c| c.across(relay.from));
        let offered = answerer.is_some() && reparse(&relay.request).is_some_and(|r| sdp_of(&r).is_some());
        if let (Some(answerer), true, true) = (answerer, offered, resp.status().is_some_and(|c| c > 100)) {
            let resume = anchor::Resume::RelayBack { relay: relay.clone(), resp: Arc::from(resp.as_bytes()) };
            let gate = self.anchor_in_call(
                ctx,
                (relay.call, anchor::Exchange::Answer),
                (relay.from, answerer),
                sdp_of(resp),
                resume,
            );
            if let anchor::Gate::Wait = gate {
                return;
            }
        }
        self.relay_response_now(ctx, relay, resp);
    }

    /// Relays the answer to a relayed request whose description needs nothing more.
    pub(super) fn relay_response_now(&mut self, ctx: &mut Ctx<'_>, relay: &Relay, resp: &Message<'_>) {
        let Relay { call: id, from, ref server, ref request, peer, cseq } = *relay;
        let code = resp.status().unwrap_or(500);
        let Some(req) = reparse(request) else { return };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let answering = call.across(from);
        let is_invite = req.method() == Some(Method::Invite);
        if let Some(leg) = answering.and_then(|side| call.leg_mut(side)) {
            leg.reinvite_out &= !(is_invite && code >= 200);
            if is_invite && (200..300).contains(&code) {
                // We are the UAC of the re-INVITE on this leg: ACK its 2xx ourselves.
                leg.learn_target(resp);
                leg.heard_sdp(resp);
                let branch = ctx.branch();
                let ack: Arc<[u8]> = in_dialog(&ctx.local, leg, Method::Ack, cseq, &branch, None).into();
                ctx.tx_send(leg.peer, ack);
            }
        }
        if code == 100 {
            return;
        }
        let mut b = response(&req, code, reason_of(resp), "", peer.addr);
        if (200..300).contains(&code) && matches!(req.method(), Some(Method::Invite | Method::Update)) {
            b.header("Contact", &ctx.local.contact(peer.transport));
        }
        let from_leg = call.leg_mut(from);
        let sdp = sdp_of(resp).zip(from_leg).and_then(|(body, leg)| leg.relayed_sdp(&body));
        let bytes = match sdp {
            Some(sdp) => b.finish(resp.header(HeaderName::ContentType), &sdp),
            None => copy_body(b, resp),
        };
        ctx.tx.respond(ctx.now, server, code, bytes.into());
        if is_invite && (200..300).contains(&code) {
            if let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(from)) {
                leg.heard_sdp(&req);
            }
            if let Some(offer) = sdp_of(&req) {
                self.note_phone_hold(ctx, id, from, &offer);
            }
        }
    }
}

/// A request from a caller answered for its music while no agent has answered (a session
/// refresh, RFC 4028; an INFO): answered here with 200, a re-INVITE or UPDATE with the
/// description the caller already has, so the carrier keeps the call up.
fn answer_waiting_caller(ctx: &mut Ctx<'_>, call: &Call, key: &TxKey, req: &Message<'_>, peer: Peer) {
    let mut b = reply_with(req, Status::Ok, &call.a.local_tag, peer.addr);
    let offer_answer = matches!(req.method(), Some(Method::Invite | Method::Update));
    if offer_answer {
        b.header("Contact", &ctx.local.contact(peer.transport));
    }
    let bytes = match call.media.answered_with.as_deref().filter(|_| offer_answer) {
        Some(sdp) => b.finish(Some("application/sdp"), sdp),
        None => b.finish(None, b""),
    };
    ctx.tx.respond(ctx.now, key, 200, bytes.into());
}
