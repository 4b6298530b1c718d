//! Moving a call on. RequestSingleStepTransfer (and RequestMuteTransfer, the same here):
//! the transferring DN leaves an answered call at once; the caller's dialog stays up and
//! the call is offered anew, with the caller's session description, to an Extension, a
//! Routing Point, a number a trunk reaches or an agent at the DR peer; the new callee's
//! answer reaches the caller in a re-INVITE (RFC 3725 section 5 style: the gateway's
//! dialog is never torn down). Unanswered, the call rings the transferring DN again,
//! once. RequestRedirectCall: a ringing call rings elsewhere instead.

use super::call::{Purpose, Reoffer};
use super::hold::Party;
use super::*;
use crate::sdp::{self, Direction};

/// A transfer that passed its checks: the call, the transferring DN's leg, what the new
/// callee is offered and where the call goes.
pub(super) struct TransferPlan {
    id: CallId,
    leg: usize,
    offer: Arc<[u8]>,
    delivery: Delivery,
}

/// A transfer or a redirection, as the B2BUA takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransferOrder<'a> {
    pub(crate) conn_id: u64,
    /// ThisDN: the DN that leaves the call.
    pub(crate) dn: &'a str,
    /// OtherDN.
    pub(crate) target: &'a str,
    /// `Location`: this site, the DR peer's name, or absent.
    pub(crate) location: Option<&'a str>,
    pub(crate) user_data: Option<&'a cti::KvList>,
    pub(crate) reference_id: Option<u64>,
    pub(crate) requester: Option<crate::DeskId>,
}

impl B2bua {
    /// RequestSingleStepTransfer / RequestMuteTransfer of an answered call.
    pub(crate) fn transfer(&mut self, ctx: &mut Ctx<'_>, order: TransferOrder<'_>) -> Result<(), Refusal> {
        let plan = self.plan_transfer(ctx, order)?;
        self.carry_out_transfer(ctx, order, plan);
        Ok(())
    }

    /// Everything a transfer checks, before anything changes: where it goes, or why not.
    pub(super) fn plan_transfer(&self, ctx: &Ctx<'_>, order: TransferOrder<'_>) -> Result<TransferPlan, Refusal> {
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        self.not_in_conference(id)?;
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let leg = match call.party_of(order.dn) {
            Some(Party::Callee(leg)) => leg,
            Some(Party::Caller) => return Err(Refusal::new(cti::ErrorCode::NotSupported, CALLER_TRANSFER)),
            None if call.dn == order.dn => return Err(Refusal::new(cti::ErrorCode::InvalidState, NOT_CONNECTED)),
            None => return Err(cti::ErrorCode::NoSuchCall.into()),
        };
        if order.target == order.dn {
            return Err(Refusal::new(cti::ErrorCode::InvalidRequest, "OtherDN is ThisDN"));
        }
        // The caller's ACK may still be on its way: no re-INVITE goes to it before the new
        // callee answers, and our 2xx is retransmitted meanwhile.
        if call.reinvite_out() {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "a re-INVITE is in progress on the call"));
        }
        if call.hold == Hold::ByCaller {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "the caller holds the call"));
        }
        user_data::check_user_data_size(call.user_data.as_ref(), order.user_data)?;
        let offer = call
            .a
            .sdp
            .as_deref()
            .and_then(|s| sdp::rewrite(s, Direction::SendRecv, sdp::version(s).unwrap_or(0)))
            .ok_or(Refusal::new(cti::ErrorCode::NotSupported, "the call has no session description to offer"))?;
        let delivery = self.delivery_for(ctx, order)?;
        Ok(TransferPlan { id, leg, offer: offer.into(), delivery })
    }

    /// A planned transfer: the transferring DN's leg gets BYE, the call is offered anew.
    pub(super) fn carry_out_transfer(&mut self, ctx: &mut Ctx<'_>, order: TransferOrder<'_>, plan: TransferPlan) {
        let TransferPlan { id, leg, offer, delivery } = plan;
        let Some(call) = self.calls.get_mut(&id) else { return };
        if let Some(bye) = call.b.get_mut(leg) {
            send_bye(ctx, &mut self.pending, bye);
            bye.state = LegState::Ended;
        }
        call.hold = Hold::Off;
        let a_2xx = call.a_2xx().and_then(Option::take);
        let from = Some(order.dn.to_owned());
        let reoffer = Reoffer { from, back_to_from: true, offer, reoffer_callee: false, a_2xx };
        call.answer = Answer::Reoffered(reoffer);
        self.move_on(ctx, id, order, true);
        self.deliver_call(ctx, id, order.target, delivery);
    }

    /// RequestRedirectCall: the call ringing on ThisDN rings OtherDN instead.
    pub(crate) fn redirect(&mut self, ctx: &mut Ctx<'_>, order: TransferOrder<'_>) -> Result<(), Refusal> {
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.dn != order.dn || call.parked_on().is_some() {
            return Err(cti::ErrorCode::NoSuchCall.into());
        }
        if call.answered().is_some() {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "the call is answered: transfer it instead"));
        }
        if !call.b.iter().any(|l| l.state == LegState::Early) {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "the call is not ringing on ThisDN"));
        }
        if order.target == order.dn {
            return Err(Refusal::new(cti::ErrorCode::InvalidRequest, "OtherDN is ThisDN"));
        }
        user_data::check_user_data_size(call.user_data.as_ref(), order.user_data)?;
        let delivery = self.delivery_for(ctx, order)?;
        self.move_on(ctx, id, order, false);
        self.deliver_call(ctx, id, order.target, delivery);
        Ok(())
    }

    /// Where a transfer to `order.target` goes, or why it cannot: checked before anything
    /// changes, so a refused transfer leaves the call as it was.
    fn delivery_for(&self, ctx: &Ctx<'_>, order: TransferOrder<'_>) -> Result<Delivery, Refusal> {
        let (target, this_dn) = (order.target, order.dn);
        if target.is_empty() || target.len() > MAX_TARGET || target.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(Refusal::new(cti::ErrorCode::InvalidRequest, "OtherDN must be 1 to 128 visible characters"));
        }
        if let Some(location) = order.location.filter(|l| *l != ctx.config.site) {
            let to = ctx.view.peer_location(location).ok_or(Refusal::new(cti::ErrorCode::InvalidState, NO_PEER))?;
            return Ok(Delivery::ViaPeer(to));
        }
        match ctx.config.dns.kind(target) {
            Some(kind) if kind.is_agent_line() => match ctx.view.forward_target(target) {
                Some(to) => Ok(Delivery::ViaPeer(to)),
                None if ctx.bindings.of(target).is_empty() => {
                    Err(Refusal::new(cti::ErrorCode::InvalidState, "OtherDN has no registered phone"))
                }
                None => Ok(Delivery::Local),
            },
            Some(DnKind::RoutingPoint) if self.queue_full(ctx.config, target) => {
                Err(Refusal::new(cti::ErrorCode::InvalidState, "OtherDN's queue is full"))
            }
            Some(DnKind::RoutingPoint) => Ok(Delivery::RoutingPoint),
            Some(_) => Err(Refusal::new(cti::ErrorCode::UnknownDN, NOT_A_TARGET)),
            None => match ctx.view.trunk_for(target, this_dn) {
                Some((name, contact, true)) => Ok(Delivery::Trunk(name, contact)),
                Some(_) => Err(Refusal::new(cti::ErrorCode::NotPermitted, "ThisDN may not call OtherDN's trunk")),
                None => Err(Refusal::new(cti::ErrorCode::UnknownDN, NOT_A_TARGET)),
            },
        }
    }

    /// The call leaves `order.dn`: its legs there are retired, the DN is free, the
    /// UserData gets the request's keys and the desks hear of it.
    fn move_on(&mut self, ctx: &mut Ctx<'_>, id: CallId, order: TransferOrder<'_>, answered: bool) {
        self.retire_legs(ctx, id);
        self.no_longer_busy(order.dn, id);
        self.timers.cancel(id, CallTimer::NoAnswer);
        let Some(call) = self.calls.get_mut(&id) else { return };
        if let Some(extra) = order.user_data {
            call.user_data.get_or_insert_with(Default::default).extend(extra.clone());
        }
        call.on_rp = OnRp::Off;
        if call.from_peer == FromPeer::Routed {
            call.from_peer = FromPeer::Forwarded;
        }
        if answered {
            // A new queue wait: the longest-waiting rule counts from the transfer.
            (call.queued_since, call.redirections) = (None, 0);
        }
        ctx.events.push(DomainEvent::CallTransferred {
            conn_id: call.conn_id,
            from: order.dn.to_owned(),
            to: order.target.to_owned(),
            other: call.caller.clone(),
            caller_dn: call.caller_dn.clone(),
            answered,
            acd: std::mem::take(&mut call.acd),
            reference_id: order.reference_id,
            requester: order.requester,
        });
    }

    /// Every B-leg of call `id` is given up: ringing ones are cancelled, and a late 2xx on
    /// any of them finds an orphan's INVITE, not a leg of the call.
    pub(super) fn retire_legs(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        for leg in call.b.iter_mut().filter(|l| l.state == LegState::Early) {
            leg.state = LegState::Ended;
            cancel_b_leg(ctx, &mut self.pending, leg);
        }
        for leg in std::mem::take(&mut call.b) {
            self.dialogs.remove(&(leg.call_id.clone(), leg.local_tag.clone()));
            if let Some(p) = self.pending.get_mut(&leg.invite_tx) {
                *p = Pending::Orphan(Box::new(leg));
            }
        }
    }

    /// A call offered anew after a transfer found no one: it rings the DN that
    /// transferred it (once); after that the caller is hung up.
    pub(super) fn reoffer_failed(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Answer::Reoffered(reoffer) = &mut call.answer else { return };
        let back_to = reoffer.from.clone().filter(|_| std::mem::take(&mut reoffer.back_to_from));
        let Some(from) = back_to else {
            self.retire_legs(ctx, id);
            return self.hang_up_both(ctx, id);
        };
        let (target, conn_id) = (call.dn.clone(), call.conn_id);
        if let Some(rp) = call.parked_on().map(str::to_owned) {
            self.unpark(&rp, id);
        }
        let order = TransferOrder {
            conn_id,
            dn: &target,
            target: &from,
            location: None,
            user_data: None,
            reference_id: None,
            requester: None,
        };
        tracing::info!(conn_id, %from, %target, "transferred call not answered; back to its transferrer");
        self.move_on(ctx, id, order, false);
        self.deliver(ctx, id, &from);
    }

    /// The new callee of a transferred call answered: the caller gets its session
    /// description in a re-INVITE.
    pub(super) fn connect_caller(&mut self, ctx: &mut Ctx<'_>, id: CallId, leg: usize, callee_too: Option<&[u8]>) {
        if self.anchored(ctx, id) {
            // With media anchored the pair gets a session of its own, or (a single-step
            // transfer) already has one: the callee's answer was anchored in it.
            if callee_too.is_some() {
                return self.repair(ctx, id, leg);
            }
            self.retire_old_sessions(id);
        }
        let Some(sdp) = self.calls.get(&id).and_then(|c| c.b.get(leg)).and_then(Leg::sdp_for_other) else {
            tracing::warn!("a transfer's callee answered without a session description");
            return;
        };
        if let Some(caller_sdp) = callee_too {
            self.send_offer(ctx, id, Side::B(leg), caller_sdp, Direction::SendRecv, Purpose::Direction);
        }
        self.send_offer(ctx, id, Side::A, &sdp, Direction::SendRecv, Purpose::Connect);
    }
}

/// Longest OtherDN: it becomes the user part of SIP URIs.
const MAX_TARGET: usize = 128;
const CALLER_TRANSFER: &str = "only the called party may transfer a call yet";
const NOT_CONNECTED: &str = "the call is not connected yet: redirect it instead";
const NO_PEER: &str = "Location names no DR peer whose trunk is in service";
const NOT_A_TARGET: &str = "OtherDN is not an extension, a Routing Point or a number a trunk reaches";
