//! How calls end: CANCEL, a callee that fails, a call that fails, BYE to both sides,
//! RequestReleaseCall, transactions that time out, and the record's removal.

use sipcore::TxKey;

use super::call::{Call, CallId, Pending, Purpose, Side};
use super::leg::LegState;
use super::send::answer_caller;
use super::send::{cancel_b_leg, send_bye, send_bye_because};
use super::{B2bua, Ctx};
use crate::event::{DomainEvent, ReleasedBy};
use crate::Status;

impl B2bua {
    /// True while a call's caller INVITE transaction is `invite_key` (a CANCEL for it
    /// finds the call).
    pub(crate) fn has_caller_invite(&self, invite_key: &TxKey) -> bool {
        self.by_a_tx.get(invite_key).is_some_and(|id| self.calls.contains_key(id))
    }

    /// The caller's CANCEL for the INVITE transaction `invite_key`. Returns false if no
    /// call matches (the node answers 481).
    pub(crate) fn on_cancel(&mut self, ctx: &mut Ctx<'_>, invite_key: &TxKey) -> bool {
        let Some(&id) = self.by_a_tx.get(invite_key) else {
            return false;
        };
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        if call.caller_connected() {
            return true; // a CANCEL after our 2xx changes nothing (RFC 3261 section 9.2)
        }
        let (conn_id, dn) = (call.conn_id, call.dn.clone());
        self.fail_call(ctx, id, Status::RequestTerminated);
        if let Some(DomainEvent::CallFailed { .. }) = ctx.events.last() {
            ctx.events.pop();
        }
        ctx.events.push(DomainEvent::CallAbandoned { conn_id, dn });
        true
    }

    /// Every callee of call `id` failed (`cause`: the callee's status, 408 when none
    /// answered): a routed call goes back to its Routing Point, any other call fails with
    /// `status`.
    pub(super) fn callee_failed(&mut self, ctx: &mut Ctx<'_>, id: CallId, cause: u16, status: Status) {
        let routed = self.calls.get(&id).is_some_and(|c| c.routed().is_some());
        if routed {
            self.return_to_routing_point(ctx, id, cause);
        } else {
            self.fail_call(ctx, id, status);
        }
    }

    /// Ends an unanswered call: final `status` to the caller, CANCEL to ringing callees.
    /// A call offered anew after a transfer goes back to its transferrer instead, or is
    /// hung up ([`B2bua::reoffer_failed`]).
    pub(super) fn fail_call(&mut self, ctx: &mut Ctx<'_>, id: CallId, status: Status) {
        if self.calls.get(&id).is_some_and(|c| c.answered_by_us()) {
            return self.end_answered_waiting(ctx, id, status);
        }
        if self.calls.get(&id).is_some_and(|c| c.caller_connected()) {
            tracing::debug!(?status, "a transferred call found no one");
            return self.reoffer_failed(ctx, id);
        }
        let (code, reason) = status.wire();
        let Some(mut call) = self.remove_call(id) else {
            return;
        };
        for leg in call.b.iter_mut().filter(|l| l.state == LegState::Early) {
            leg.state = LegState::Ended;
            cancel_b_leg(ctx, &mut self.pending, leg);
        }
        if call.third_party.is_some() {
            self.end_origin_leg(ctx, &mut call.a);
        } else {
            answer_caller(ctx, &call.a, code, reason, None);
        }
        ctx.events.push(failed(*call, status));
    }

    /// A call answered for its music (`answer_waiting`) found no one: the caller gets BYE
    /// saying `status` (RFC 3326 Reason), ringing callees are cancelled, and the call is
    /// reported failed as an unanswered one would be.
    fn end_answered_waiting(&mut self, ctx: &mut Ctx<'_>, id: CallId, status: Status) {
        self.retire_legs(ctx, id);
        let Some(mut call) = self.remove_call(id) else { return };
        send_bye_because(ctx, &mut self.pending, &mut call.a, Some(status));
        tracing::debug!(conn_id = call.conn_id, ?status, "a call answered for its music found no one");
        ctx.events.push(failed(*call, status));
    }

    pub(super) fn remove_call(&mut self, id: CallId) -> Option<Box<Call>> {
        let call = self.calls.remove(&id)?;
        if let Some(rp) = call.parked_on() {
            self.unpark(rp, id);
        }
        self.dialogs.remove(&(call.a.call_id.clone(), call.a.local_tag.clone()));
        for leg in &call.b {
            self.dialogs.remove(&(leg.call_id.clone(), leg.local_tag.clone()));
        }
        self.by_a_tx.remove(&call.a.invite_tx);
        self.by_conn.remove(&call.conn_id);
        for dn in [&call.dn, &call.caller] {
            self.no_longer_busy(dn, id);
        }
        self.timers.cancel_all(id);
        self.release_media(&call);
        if !self.conferences.is_empty() {
            self.forget_conference(id);
        }
        if !self.consults.is_empty() {
            self.consults.remove(&id);
            self.consults.retain(|_, main| *main != id);
        }
        sipcore::shrink_sparse(&mut self.by_conn);
        Some(call)
    }

    /// Call `id` no longer occupies `dn`.
    pub(super) fn no_longer_busy(&mut self, dn: &str, id: CallId) {
        if let Some(calls) = self.busy.get_mut(dn) {
            calls.retain(|c| *c != id);
            if calls.is_empty() {
                self.busy.remove(dn);
            }
        }
    }

    /// RequestReleaseCall: the call `conn_id` on `dn` ends, from the server side.
    pub(crate) fn release(&mut self, ctx: &mut Ctx<'_>, conn_id: u64, dn: &str) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if self.in_conference(id) {
            return self.release_from_conference(ctx, id, dn);
        }
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.dn != dn && call.caller_dn.as_deref() != Some(dn) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        if call.answered().is_some() {
            self.hang_up_both(ctx, id);
        } else if call.caller_connected() && call.caller_dn.as_deref() == Some(dn) {
            // The caller ends a call that rings its transfer target.
            self.retire_legs(ctx, id);
            self.hang_up_both(ctx, id);
        } else {
            self.fail_call(ctx, id, Status::Released);
        }
        Ok(())
    }

    /// A client transaction of ours got no final response.
    pub(crate) fn on_transaction_timeout(&mut self, ctx: &mut Ctx<'_>, key: &TxKey) {
        let Some(pending) = self.pending.remove(key) else {
            return;
        };
        if let Pending::AInvite { call } = pending {
            if let Some(c) = self.calls.get_mut(&call) {
                c.a.state = LegState::Ended;
            }
            return self.fail_call(ctx, call, Status::RequestTimeout);
        }
        if let Pending::BInvite { call, leg } = pending {
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let Some(l) = c.b.get_mut(leg) else { return };
            l.state = LegState::Ended;
            if c.answered().is_none() && c.b.iter().all(|l| l.state == LegState::Ended) {
                self.callee_failed(ctx, call, 408, Status::RequestTimeout);
            }
            return;
        }
        self.offer_timed_out(ctx, &pending);
    }

    /// A re-INVITE (ours or relayed) got no answer: its leg may be offered again. A
    /// transfer's connecting re-INVITE that no one answers ends the call (the caller cannot
    /// hear the new callee).
    fn offer_timed_out(&mut self, ctx: &mut Ctx<'_>, pending: &Pending) {
        let (id, side) = match pending {
            Pending::Reinvite { call, side, .. } => (*call, *side),
            Pending::Relay(relay) => match relay.from {
                Side::A => (relay.call, Side::B(self.calls.get(&relay.call).and_then(|c| c.answered()).unwrap_or(0))),
                Side::B(_) => (relay.call, Side::A),
            },
            Pending::BInvite { .. } | Pending::AInvite { .. } | Pending::Fire | Pending::Orphan(_) => return,
        };
        if let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side)) {
            leg.reinvite_out = false;
        }
        if let Pending::Reinvite { purpose: Purpose::Connect, .. } = pending {
            tracing::warn!("the caller did not answer a transfer's re-INVITE; the call ends");
            self.hang_up_both(ctx, id);
        }
    }

    /// A client transaction of ours ended; forget what it was for.
    pub(crate) fn on_transaction_ended(&mut self, key: &TxKey) {
        self.pending.remove(key);
    }

    pub(super) fn hang_up_both(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(mut call) = self.remove_call(id) else {
            return;
        };
        let legs = std::iter::once(&mut call.a).chain(call.b.iter_mut()).filter(|l| l.state == LegState::Confirmed);
        for leg in legs {
            send_bye(ctx, &mut self.pending, leg);
        }
        ctx.events.push(DomainEvent::CallReleased {
            conn_id: call.conn_id,
            dn: call.dn,
            by: ReleasedBy::Server,
            caller_dn: call.caller_dn,
            acd: call.acd,
        });
    }
}

/// The event of a call that failed with `status` (the caller got its code).
fn failed(call: Call, status: Status) -> DomainEvent {
    let (code, _) = status.wire();
    DomainEvent::CallFailed {
        conn_id: call.conn_id,
        dn: call.dn,
        caller: call.caller,
        caller_dn: call.caller_dn,
        code,
        status,
    }
}
