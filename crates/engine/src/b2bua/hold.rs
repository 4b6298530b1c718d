//! Hold and retrieve: from a desktop (RequestHoldCall / RequestRetrieveCall: Tandem
//! re-INVITEs both legs, the held party with the holder's description `sendonly` and the
//! holder's phone with the held party's `inactive`, RFC 3264 section 8.4 and RFC 6337),
//! and from a phone (its own hold re-INVITE, relayed, is noticed). The re-INVITEs Tandem
//! writes itself are answered here ([`B2bua::on_reinvite_response`]).

use super::call::Purpose;
use super::*;
use crate::sdp::{self, Direction};

/// A party of an answered call, and the leg its phone (or gateway) is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Party {
    /// The caller, on the A-leg.
    Caller,
    /// The callee that answered, on B-leg `leg`.
    Callee(usize),
}

impl Party {
    fn side(self) -> Side {
        match self {
            Self::Caller => Side::A,
            Self::Callee(i) => Side::B(i),
        }
    }

    fn other(self, call: &Call) -> Option<Self> {
        match self {
            Self::Caller => call.answered().map(Self::Callee),
            Self::Callee(_) => Some(Self::Caller),
        }
    }

    fn as_hold(self) -> Hold {
        match self {
            Self::Caller => Hold::ByCaller,
            Self::Callee(_) => Hold::ByCallee,
        }
    }
}

/// A desktop's hold or retrieve, as the B2BUA takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HoldOrder<'a> {
    pub(crate) conn_id: u64,
    pub(crate) dn: &'a str,
    /// True to hold, false to retrieve.
    pub(crate) hold: bool,
    pub(crate) reference_id: Option<u64>,
    pub(crate) requester: Option<crate::DeskId>,
}

impl Call {
    /// The party `dn` is in this answered call (the callee's DN, or the caller's when it
    /// is a phone of this site).
    pub(super) fn party_of(&self, dn: &str) -> Option<Party> {
        let leg = self.answered()?;
        if self.dn == dn {
            Some(Party::Callee(leg))
        } else if self.caller_dn.as_deref() == Some(dn) {
            Some(Party::Caller)
        } else {
            None
        }
    }

    pub(super) fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::A => Some(&mut self.a),
            Side::B(i) => self.b.get_mut(i),
        }
    }

    pub(super) fn leg(&self, side: Side) -> Option<&Leg> {
        match side {
            Side::A => Some(&self.a),
            Side::B(i) => self.b.get(i),
        }
    }

    /// The DN of the party on `side`, when it is one of ours.
    pub(super) fn dn_on(&self, side: Side) -> Option<&str> {
        match side {
            Side::A => self.caller_dn.as_deref(),
            Side::B(_) => Some(&self.dn),
        }
    }

    /// The DN (or number) of the party facing `side`'s.
    pub(super) fn other_than(&self, side: Side) -> &str {
        match side {
            Side::A => &self.dn,
            Side::B(_) => &self.caller,
        }
    }

    /// True while a re-INVITE is out on either leg of the answered call, or the caller
    /// has not yet ACKed our 2xx: a new offer now would cross one.
    pub(super) fn offer_in_flight(&self) -> bool {
        let unacked = matches!(self.answer, Answer::Answered { a_2xx: Some(_), .. });
        self.reinvite_out() || unacked
    }

    /// True while a re-INVITE is out on either leg of the answered call.
    pub(super) fn reinvite_out(&self) -> bool {
        self.a.reinvite_out || self.answered().and_then(|i| self.b.get(i)).is_some_and(|l| l.reinvite_out)
    }
}

impl B2bua {
    /// RequestHoldCall / RequestRetrieveCall.
    pub(crate) fn hold(&mut self, ctx: &mut Ctx<'_>, order: HoldOrder<'_>) -> Result<(), Refusal> {
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        self.not_in_conference(id)?;
        let call = self.calls.get_mut(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let holder = match call.party_of(order.dn) {
            Some(p) => p,
            None if call.dn == order.dn || call.caller_dn.as_deref() == Some(order.dn) => {
                return Err(Refusal::new(cti::ErrorCode::InvalidState, "the call is not connected yet"));
            }
            None => return Err(cti::ErrorCode::NoSuchCall.into()),
        };
        let held = holder.other(call).ok_or(cti::ErrorCode::NoSuchCall)?;
        match (order.hold, call.hold) {
            (true, Hold::Off) => {}
            (true, _) => return Err(Refusal::new(cti::ErrorCode::InvalidState, "the call is already held")),
            (false, h) if h == holder.as_hold() => {}
            (false, _) => return Err(Refusal::new(cti::ErrorCode::InvalidState, "ThisDN does not hold the call")),
        }
        if call.offer_in_flight() {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "a re-INVITE is in progress on the call"));
        }
        let (Some(holder_sdp), Some(held_sdp)) =
            (call.leg(holder.side()).and_then(Leg::sdp_for_other), call.leg(held.side()).and_then(Leg::sdp_for_other))
        else {
            return Err(Refusal::new(cti::ErrorCode::NotSupported, "the call has no session description to change"));
        };
        let (to_held, to_holder) = match order.hold {
            true => (Direction::SendOnly, Direction::Inactive),
            false => (Direction::SendRecv, Direction::SendRecv),
        };
        self.send_offer(ctx, id, held.side(), &holder_sdp, to_held, Purpose::Direction);
        self.send_offer(ctx, id, holder.side(), &held_sdp, to_holder, Purpose::Direction);
        self.hold_music(ctx, id, (held.side(), holder.side()), order.hold);
        let Some(call) = self.calls.get_mut(&id) else { return Ok(()) };
        call.hold = if order.hold { holder.as_hold() } else { Hold::Off };
        let (conn_id, dn, other) = (call.conn_id, order.dn.to_owned(), call.other_than(holder.side()).to_owned());
        let (reference_id, requester) = (order.reference_id, order.requester);
        ctx.events.push(match order.hold {
            true => DomainEvent::CallHeld { conn_id, dn, other, reference_id, requester },
            false => DomainEvent::CallRetrieved { conn_id, dn, other, reference_id, requester },
        });
        Ok(())
    }

    /// Sends a re-INVITE Tandem writes itself on `side` of call `id`: `source` (a session
    /// description the other party sent) with `direction` and this leg's next version.
    pub(super) fn send_offer(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        side: Side,
        source: &[u8],
        direction: Direction,
        purpose: Purpose,
    ) {
        let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side)) else { return };
        let version = leg.next_sdp_version(source);
        let Some(body) = sdp::rewrite(source, direction, version) else { return };
        let cseq = leg.next_cseq();
        let branch = ctx.branch();
        let bytes: Arc<[u8]> = build::in_dialog_sdp(&ctx.local, leg, cseq, &branch, &body).into();
        leg.reinvite_out = true;
        let key = ctx.tx.send_request(ctx.now, &branch, Method::Invite, leg.peer, bytes);
        self.pending.insert(key, Pending::Reinvite { call: id, side, cseq, purpose });
    }

    /// The answer to a re-INVITE Tandem wrote: a 2xx is ACKed and its description kept.
    /// A refused hold leaves the call as it was told (the desktop saw EventHeld); a
    /// refused transfer connection ends the call (the caller cannot hear the new callee).
    pub(super) fn on_reinvite_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, side, cseq, purpose): (CallId, Side, u32, Purpose),
        resp: &Message<'_>,
    ) {
        let code = resp.status().unwrap_or(500);
        let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side)) else { return };
        if code < 200 {
            return;
        }
        leg.reinvite_out = false;
        if code < 300 {
            leg.learn_target(resp);
            leg.heard_sdp(resp);
            let branch = ctx.branch();
            let ack: Arc<[u8]> = in_dialog(&ctx.local, leg, Method::Ack, cseq, &branch, None).into();
            ctx.tx_send(leg.peer, ack);
            return;
        }
        tracing::warn!(code, ?purpose, "a re-INVITE Tandem sent was refused");
        if purpose == Purpose::Connect {
            self.hang_up_both(ctx, id);
        }
    }

    /// A phone's own re-INVITE from `side` was answered 2xx: when its description holds
    /// (`sendonly`, `inactive`, `0.0.0.0`) or resumes, the desks hear EventHeld or
    /// EventRetrieved for its DN, and the held party hears the site's hold music (the
    /// phone's own audio blocked meanwhile) as for a desktop's hold.
    pub(super) fn note_phone_hold(&mut self, ctx: &mut Ctx<'_>, id: CallId, side: Side, offer: &[u8]) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(direction) = sdp::direction(offer) else { return };
        let party = match side {
            Side::A => Party::Caller,
            Side::B(i) => Party::Callee(i),
        };
        let Some(dn) = call.dn_on(side).map(str::to_owned) else { return };
        let (conn_id, other) = (call.conn_id, call.other_than(side).to_owned());
        let (reference_id, requester) = (None, None);
        let held = call.across(side);
        let music = match (direction.holds(), call.hold) {
            (true, Hold::Off) => {
                call.hold = party.as_hold();
                ctx.events.push(DomainEvent::CallHeld { conn_id, dn, other, reference_id, requester });
                Some(true)
            }
            (false, h) if h == party.as_hold() => {
                call.hold = Hold::Off;
                ctx.events.push(DomainEvent::CallRetrieved { conn_id, dn, other, reference_id, requester });
                Some(false)
            }
            _ => None,
        };
        if let (Some(on), Some(held)) = (music, held) {
            self.hold_music(ctx, id, (held, side), on);
        }
    }
}
