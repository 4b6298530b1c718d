//! Two-step transfer. RequestInitiateTransfer holds the call on ThisDN and dials a
//! consultation call from ThisDN to OtherDN (a new ConnID, CallType `Consult`; ThisDN's
//! phone is rung as for RequestMakeCall). RequestCompleteTransfer joins the held party to
//! the consulted one inside the held call, whose ConnID survives (the consultation's
//! ends), and releases ThisDN from both: the consulted party's dialog moves into the held
//! call and both get each other's description by re-INVITE, before or after the
//! consulted party answers. RequestAlternateCall and RequestReconnectCall move between
//! the two calls.

use super::call::{Purpose, Reoffer};
use super::hold::{HoldOrder, Party};
use super::transfer::TransferOrder;
use super::*;
use crate::sdp;
use crate::Status;

/// RequestCompleteTransfer, RequestAlternateCall or RequestReconnectCall, as the B2BUA
/// takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairOrder<'a> {
    pub(crate) dn: &'a str,
    pub(crate) conns: (u64, u64),
    pub(crate) op: cti::PairOp,
    pub(crate) reference_id: Option<u64>,
    pub(crate) requester: Option<crate::DeskId>,
}

impl B2bua {
    /// RequestInitiateTransfer.
    pub(crate) fn initiate_transfer(&mut self, ctx: &mut Ctx<'_>, order: TransferOrder<'_>) -> Result<(), Refusal> {
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        self.not_in_conference(id)?;
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        match call.party_of(order.dn) {
            Some(Party::Callee(_)) => {}
            Some(Party::Caller) => return Err(Refusal::new(cti::ErrorCode::NotSupported, CALLER_CONSULT)),
            None if call.dn == order.dn => return Err(Refusal::new(cti::ErrorCode::InvalidState, NOT_CONNECTED)),
            None => return Err(cti::ErrorCode::NoSuchCall.into()),
        }
        if self.consults.values().any(|main| *main == id) {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "a consultation is already in progress"));
        }
        if order.location.is_some_and(|l| l != ctx.config.site) {
            return Err(Refusal::new(cti::ErrorCode::NotSupported, PEER_BY_LOGIN));
        }
        user_data::check_user_data_size(call.user_data.as_ref(), order.user_data)?;
        let must_hold = call.hold != Hold::ByCallee;
        if must_hold && call.offer_in_flight() {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "a re-INVITE is in progress on the call"));
        }
        let (consult, _) = self.dial(ctx, order.dn, order.target, order.user_data, true)?;
        self.consults.insert(consult, id);
        if must_hold {
            if let Err(refusal) = self.hold(ctx, HoldOrder::from(order)) {
                self.fail_call(ctx, consult, Status::Released);
                return Err(refusal);
            }
        }
        Ok(())
    }

    /// RequestCompleteTransfer, RequestAlternateCall, RequestReconnectCall.
    pub(crate) fn pair(&mut self, ctx: &mut Ctx<'_>, order: PairOrder<'_>) -> Result<(), Refusal> {
        let (main, consult) =
            self.held_and_consult(order.conns).ok_or(Refusal::new(cti::ErrorCode::NoSuchCall, NO_PAIR))?;
        let (main_conn, consult_conn) = (self.conn_of(main), self.conn_of(consult));
        let ours = self.calls.get(&main).is_some_and(|c| c.dn == order.dn)
            && self.calls.get(&consult).is_some_and(|c| c.caller_dn.as_deref() == Some(order.dn));
        if !ours {
            return Err(cti::ErrorCode::NoSuchCall.into());
        }
        let (reference_id, requester) = (order.reference_id, order.requester);
        let on = |conn_id, hold| HoldOrder { conn_id, dn: order.dn, hold, reference_id, requester };
        match order.op {
            cti::PairOp::Complete => self.complete_transfer(ctx, main, consult, order),
            cti::PairOp::Conference => self.complete_conference(ctx, (main, consult), order),
            cti::PairOp::Alternate => {
                let (active, held) = match self.calls.get(&main).map(|c| c.hold) {
                    Some(Hold::ByCallee) => (consult_conn, main_conn),
                    _ => (main_conn, consult_conn),
                };
                self.hold(ctx, on(active, true))?;
                self.hold(ctx, on(held, false))
            }
            cti::PairOp::Reconnect => {
                self.release(ctx, consult_conn, order.dn)?;
                self.hold(ctx, on(main_conn, false))
            }
        }
    }

    /// The held call and its consultation among two ConnIDs (either order).
    fn held_and_consult(&self, (a, b): (u64, u64)) -> Option<(CallId, CallId)> {
        let (a, b) = (*self.by_conn.get(&a)?, *self.by_conn.get(&b)?);
        match (self.consults.get(&b), self.consults.get(&a)) {
            (Some(main), _) if *main == a => Some((a, b)),
            (_, Some(main)) if *main == b => Some((b, a)),
            _ => None,
        }
    }

    fn conn_of(&self, id: CallId) -> u64 {
        self.calls.get(&id).map_or(0, |c| c.conn_id)
    }

    /// Joins the held party of `main` to the consulted party of `consult`, in `main`.
    fn complete_transfer(
        &mut self,
        ctx: &mut Ctx<'_>,
        main: CallId,
        consult: CallId,
        order: PairOrder<'_>,
    ) -> Result<(), Refusal> {
        let plan = self.plan_merge(main, consult)?;
        self.merge(ctx, plan, order);
        Ok(())
    }

    /// What joining `main`'s caller to `consult`'s callee checks, before anything changes.
    pub(super) fn plan_merge(&self, main: CallId, consult: CallId) -> Result<MergePlan, Refusal> {
        self.not_in_conference(main)?;
        self.not_in_conference(consult)?;
        let (Some(m), Some(c)) = (self.calls.get(&main), self.calls.get(&consult)) else {
            return Err(cti::ErrorCode::NoSuchCall.into());
        };
        let answered = c.answered();
        if answered.is_none() && !c.b.iter().any(|l| l.state == LegState::Early) {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "the consultation call is not ringing yet"));
        }
        if m.offer_in_flight() || c.offer_in_flight() || m.hold == Hold::ByCaller {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "a re-INVITE is in progress, or the caller holds"));
        }
        let caller_sdp = m.a.sdp.clone().ok_or(Refusal::new(cti::ErrorCode::NotSupported, NO_SDP))?;
        Ok(MergePlan { main, consult, answered, caller_sdp })
    }

    /// Carries out a planned merge for DN `order.dn`, which leaves both calls.
    pub(super) fn merge(&mut self, ctx: &mut Ctx<'_>, plan: MergePlan, order: PairOrder<'_>) {
        let MergePlan { main, consult, answered, caller_sdp } = plan;
        let acd = self.calls.get(&main).is_some_and(|m| m.acd);
        self.leave_main(ctx, main, order.dn);
        let Some(mut c) = self.remove_call(consult) else { return };
        if c.third_party.is_some() {
            self.end_origin_leg(ctx, &mut c.a);
        } else {
            send_bye(ctx, &mut self.pending, &mut c.a);
        }
        let (gone, to) = (c.conn_id, c.dn.clone());
        self.adopt_legs(main, std::mem::take(&mut c.b), &to);
        let Some(m) = self.calls.get_mut(&main) else { return };
        m.dn = to.clone();
        m.acd = false;
        let (kept, other) = (m.conn_id, m.caller.clone());
        match answered {
            Some(leg) if ctx.config.media.is_some() && !m.media.unanchored => {
                m.answer = Answer::Answered { leg, a_2xx: None };
                self.repair(ctx, main, leg);
            }
            Some(leg) => {
                m.answer = Answer::Answered { leg, a_2xx: None };
                let callee_sdp = m.b.get(leg).and_then(|l| l.sdp.clone());
                self.send_offer(ctx, main, Side::B(leg), &caller_sdp, sdp::Direction::SendRecv, Purpose::Direction);
                if let Some(callee_sdp) = callee_sdp {
                    self.send_offer(ctx, main, Side::A, &callee_sdp, sdp::Direction::SendRecv, Purpose::Connect);
                }
            }
            None => {
                let from = Some(order.dn.to_owned());
                m.answer = Answer::Reoffered(Reoffer {
                    from,
                    back_to_from: true,
                    offer: caller_sdp,
                    reoffer_callee: true,
                    a_2xx: None,
                });
                let no_answer = ctx.config.options.no_answer_timeout;
                self.timers.set(ctx.now + no_answer, main, CallTimer::NoAnswer);
            }
        }
        let (reference_id, requester, by) = (order.reference_id, order.requester, order.dn.to_owned());
        let answered = answered.is_some();
        ctx.events.push(DomainEvent::CallsMerged { kept, gone, by, to, other, acd, answered, reference_id, requester });
    }

    /// The consulting DN leaves the held call: its dialog there gets BYE.
    fn leave_main(&mut self, ctx: &mut Ctx<'_>, main: CallId, dn: &str) {
        if let Some(m) = self.calls.get_mut(&main) {
            if let Some(leg) = m.answered().and_then(|i| m.b.get_mut(i)) {
                send_bye(ctx, &mut self.pending, leg);
                leg.state = LegState::Ended;
            }
            m.hold = Hold::Off;
        }
        self.retire_legs(ctx, main);
        self.no_longer_busy(dn, main);
    }

    /// The consultation's legs to the consulted party become `main`'s B-legs: their
    /// dialogs and INVITE transactions now lead to `main`.
    fn adopt_legs(&mut self, main: CallId, legs: Vec<Leg>, dn: &str) {
        for (i, leg) in legs.iter().enumerate().filter(|(_, l)| l.state != LegState::Ended) {
            self.lead_to(leg, (main, i));
        }
        self.busy.entry(dn.to_owned()).or_default().push(main);
        if let Some(m) = self.calls.get_mut(&main) {
            m.b = legs;
        }
    }
}

impl B2bua {
    /// `leg`'s dialog and INVITE transaction lead to callee leg `index` of call `main`
    /// from now on (it moved there from another call).
    pub(super) fn lead_to(&mut self, leg: &Leg, (main, index): (CallId, usize)) {
        self.dialogs.insert((leg.call_id.clone(), leg.local_tag.clone()), (main, Side::B(index)));
        if let Some(p @ Pending::BInvite { .. }) = self.pending.get_mut(&leg.invite_tx) {
            *p = Pending::BInvite { call: main, leg: index };
        }
    }
}

/// A merge that passed its checks: the held call, the consultation, the consulted party's
/// answered leg (None while it rings) and the held caller's session description.
pub(super) struct MergePlan {
    pub(super) main: CallId,
    pub(super) consult: CallId,
    pub(super) answered: Option<usize>,
    caller_sdp: Arc<[u8]>,
}

impl<'a> From<TransferOrder<'a>> for HoldOrder<'a> {
    fn from(t: TransferOrder<'a>) -> Self {
        Self { conn_id: t.conn_id, dn: t.dn, hold: true, reference_id: t.reference_id, requester: t.requester }
    }
}

const CALLER_CONSULT: &str = "only the called party may consult yet";
const NOT_CONNECTED: &str = "the call is not connected yet";
const PEER_BY_LOGIN: &str = "a consultation reaches an agent at the DR peer by its login; Location is not needed";
const NO_PAIR: &str = "ConnID and TransferConnID are not a held call and its consultation";
const NO_SDP: &str = "the held call has no session description to offer";
