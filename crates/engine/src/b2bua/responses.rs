//! B-leg responses: provisionals relayed to the caller, the first 2xx ACKed and sent
//! on (the other forks cancelled), failures mapped to what the caller hears.

use std::sync::Arc;

use sipcore::TxKey;
use sipmsg::{Message, Method};

use super::anchor::{Exchange, Gate, Resume};
use super::build::in_dialog;
use super::call::Side;
use super::call::{Answer, CallId, CallTimer, Pending, Routed};
use super::leg::sdp_of;
use super::leg::LegState;
use super::send::{answer_caller, cancel_b_leg, reason_of, send_bye, send_cancel};
use super::{B2bua, Ctx};
use crate::event::DomainEvent;
use crate::Status;

impl B2bua {
    /// A response delivered by one of our client transactions.
    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, key: &TxKey, resp: &Message<'_>) {
        let Some(pending) = self.pending.get(key).cloned() else {
            return;
        };
        // A B-leg INVITE stays pending after its 2xx, so retransmitted 2xx are re-ACKed
        // until the transaction ends ([`B2bua::on_transaction_ended`]).
        let keep = matches!(pending, Pending::BInvite { .. } | Pending::AInvite { .. })
            && resp.status().is_some_and(|c| c < 300);
        if resp.status().is_some_and(|c| c >= 200) && !keep {
            self.pending.remove(key);
        }
        match pending {
            Pending::BInvite { call, leg } => self.on_b_invite_response(ctx, call, leg, resp),
            Pending::AInvite { call } => self.on_origin_response(ctx, call, resp),
            Pending::Relay(relay) => self.relay_response(ctx, &relay, resp),
            Pending::Reinvite { call, side, cseq, purpose } => {
                self.on_reinvite_response(ctx, (call, side, cseq, purpose), resp)
            }
            Pending::Fire => {}
            Pending::Orphan(mut leg) => {
                if leg.cancel_due && resp.status().is_some_and(|c| c < 200) {
                    // Its first provisional: the CANCEL it was owed may go now.
                    (leg.cancel_due, leg.heard) = (false, true);
                    send_cancel(ctx, &mut self.pending, &leg);
                    self.pending.insert(key.clone(), Pending::Orphan(leg));
                } else if let (Some(ack), true) = (&leg.ack, resp.status().is_some_and(|c| (200..300).contains(&c))) {
                    // Answered and hung up before it was retired: its ACK was lost.
                    ctx.tx_send(leg.peer, ack.clone());
                } else if resp.status().is_some_and(|c| (200..300).contains(&c)) {
                    leg.learn_from_response(resp);
                    let branch = ctx.branch();
                    let ack: Arc<[u8]> = in_dialog(&ctx.local, &leg, Method::Ack, 1, &branch, None).into();
                    ctx.tx_send(leg.peer, ack);
                    send_bye(ctx, &mut self.pending, &mut leg);
                }
            }
        }
    }

    pub(super) fn on_b_invite_response(&mut self, ctx: &mut Ctx<'_>, id: CallId, index: usize, resp: &Message<'_>) {
        let code = resp.status().unwrap_or(500);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match code {
            _ if index >= call.b.len() => {}
            100..=199 => {
                let leg = &mut call.b[index];
                leg.heard = true;
                if code == 100 {
                    return;
                }
                leg.learn_from_response(resp);
                if !matches!(call.answer, Answer::Waiting { .. }) {
                    return;
                }
                if !self.anchored(ctx, id) {
                    return self.relay_provisional(ctx, id, resp);
                }
                let resume = Resume::Provisional { leg: index, resp: Arc::from(resp.as_bytes()) };
                let sides = (Side::A, Side::B(index));
                if let Gate::Go = self.anchor_in_call(ctx, (id, Exchange::Answer), sides, sdp_of(resp), resume) {
                    self.relay_provisional(ctx, id, resp);
                }
            }
            200..=299 => self.on_b_answer(ctx, id, index, resp),
            _ => {
                call.b[index].state = LegState::Ended;
                self.dialogs.remove(&(call.b[index].call_id.clone(), call.b[index].local_tag.clone()));
                let all_failed = call.b.iter().all(|l| l.state == LegState::Ended);
                if all_failed && call.answered().is_none() {
                    self.callee_failed(ctx, id, code, Status::for_caller(code));
                }
            }
        }
    }

    pub(super) fn on_b_answer(&mut self, ctx: &mut Ctx<'_>, id: CallId, index: usize, resp: &Message<'_>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let late_offer = call.offers_late(resp);
        let Some(leg) = call.b.get_mut(index) else { return };
        if leg.ack_awaits_answer {
            return; // A retransmitted 2xx: our ACK goes with the caller's answer.
        }
        if leg.ack.is_some() {
            // A retransmitted 2xx: our ACK was lost.
            let ack = leg.ack.clone();
            if let Some(ack) = ack {
                ctx.tx_send(leg.peer, ack);
            }
            return;
        }
        leg.learn_from_response(resp);
        leg.heard_sdp(resp);
        leg.state = LegState::Confirmed;
        if late_offer {
            leg.ack_awaits_answer = true;
        } else {
            let branch = ctx.branch();
            let ack: Arc<[u8]> = in_dialog(&ctx.local, leg, Method::Ack, 1, &branch, None).into();
            leg.ack = Some(ack.clone());
            ctx.tx_send(leg.peer, ack);
        }
        if matches!(call.answer, Answer::Answered { .. }) {
            // Another fork answered first: hang this one up.
            send_bye(ctx, &mut self.pending, leg);
            return;
        }
        let (reoffered, a_2xx) = match &mut call.answer {
            Answer::Reoffered(r) => (Some(r.reoffer_callee.then(|| r.offer.clone())), r.a_2xx.take()),
            Answer::Waiting { .. } | Answer::Answered { .. } => (None, None),
        };
        call.answer = Answer::Answered { leg: index, a_2xx };
        for (i, other) in call.b.iter_mut().enumerate() {
            if i != index && other.state == LegState::Early {
                other.state = LegState::Ended;
                cancel_b_leg(ctx, &mut self.pending, other);
            }
        }
        self.timers.cancel(id, CallTimer::NoAnswer);
        self.stop_treatment(id);
        self.answer_reaches_caller(ctx, id, index, resp, reoffered);
        let Some(call) = self.calls.get_mut(&id) else { return };
        if let Some(Routed { rp, target, reference_id, requester, location: Some(location) }) = call.routed().cloned() {
            let conn_id = call.conn_id;
            ctx.events.push(DomainEvent::RemoteConnected { conn_id, rp, target, location, reference_id, requester });
        }
        ctx.events.push(DomainEvent::CallEstablished {
            conn_id: call.conn_id,
            dn: call.dn.clone(),
            other: call.caller.clone(),
            caller_dn: call.caller_dn.clone(),
        });
    }

    /// B-leg `index`'s 2xx goes on to the caller, its answer anchored first when the
    /// call is. A callee offered another's description (a consultation completed before
    /// its answer) is paired with the caller anew instead ([`B2bua::repair`]).
    fn answer_reaches_caller(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        index: usize,
        resp: &Message<'_>,
        reoffered: Option<Option<Arc<[u8]>>>,
    ) {
        let pairs_anew = matches!(reoffered, Some(Some(_)));
        let late_offer = self.calls.get(&id).and_then(|c| c.b.get(index)).is_some_and(|l| l.ack_awaits_answer);
        if late_offer && !pairs_anew {
            let resume =
                Resume::Answered { leg: index, resp: Arc::from(resp.as_bytes()), reoffered: reoffered.clone() };
            if let Gate::Go = self.anchor_late_offer(ctx, (id, index), sdp_of(resp), resume) {
                self.caller_hears_answer(ctx, id, index, resp, reoffered);
            }
            return;
        }
        if pairs_anew || !self.anchored(ctx, id) {
            return self.caller_hears_answer(ctx, id, index, resp, reoffered);
        }
        let resume = Resume::Answered { leg: index, resp: Arc::from(resp.as_bytes()), reoffered: reoffered.clone() };
        let sides = (Side::A, Side::B(index));
        if let Gate::Go = self.anchor_in_call(ctx, (id, Exchange::Answer), sides, sdp_of(resp), resume) {
            self.caller_hears_answer(ctx, id, index, resp, reoffered);
        }
    }

    /// A callee's provisional (its description, if any, anchored): the caller
    /// hears ringing once, and every provisional with a body.
    pub(super) fn relay_provisional(&mut self, ctx: &mut Ctx<'_>, id: CallId, resp: &Message<'_>) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        // After the answer a provisional (a cancelled fork's) has nothing to say.
        let Answer::Waiting { ringing_sent } = &mut call.answer else { return };
        if !*ringing_sent || !resp.body().is_empty() {
            if !*ringing_sent {
                ctx.events.push(DomainEvent::CallAlerting { conn_id: call.conn_id });
            }
            *ringing_sent = true;
            let code = resp.status().unwrap_or(180);
            answer_caller(ctx, &call.a, code, reason_of(resp), Some(resp));
        }
    }

    /// B-leg `index` answered: the caller hears it. Our 2xx to its INVITE (retransmitted
    /// until its ACK); for a third-party call our ACK to the origin phone, carrying the
    /// answer; for a call offered anew after a transfer a re-INVITE (`reoffered`: and
    /// the caller's description for the callee, when it was offered another's).
    pub(super) fn caller_hears_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        index: usize,
        resp: &Message<'_>,
        reoffered: Option<Option<Arc<[u8]>>>,
    ) {
        if let Some(callee_too) = reoffered {
            return self.connect_caller(ctx, id, index, callee_too.as_deref());
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.third_party.is_some() {
            let branch = ctx.branch();
            let ack: Arc<[u8]> = in_dialog(&ctx.local, &call.a, Method::Ack, 1, &branch, Some(resp)).into();
            call.a.ack = Some(ack.clone());
            ctx.tx_send(call.a.peer, ack);
            return;
        }
        call.a.state = LegState::Confirmed;
        if let Some(bytes) = answer_caller(ctx, &call.a, 200, "OK", Some(resp)) {
            let t1 = ctx.tx.config().t1;
            call.answer = Answer::Answered { leg: index, a_2xx: Some((bytes, t1, ctx.now + t1 * 64)) };
            self.timers.set(ctx.now + t1, id, CallTimer::Retransmit2xx);
        }
    }
}
