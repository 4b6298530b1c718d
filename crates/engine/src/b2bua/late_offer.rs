//! A late offer (RFC 3261 section 13.2.1): the caller's INVITE carries no session
//! description, so the callee offers in its 2xx and the caller answers in its ACK. The
//! callee's 2xx goes on to the caller (anchored first when media is), and our ACK to the
//! callee waits for the caller's answer, which it carries (section 13.2.2.4: an ACK to a
//! 2xx that offered must answer). A caller that never ACKs ends the call; the callee's
//! 2xx is then ACKed without an answer just before its BYE ([`super::send::send_bye`]).

use std::sync::Arc;

use sipmsg::{Message, Method};

use super::anchor::{Exchange, Gate, Resume};
use super::build::in_dialog_with;
use super::call::{CallId, Side};
use super::leg::sdp_of;
use super::{B2bua, Ctx};

impl super::call::Call {
    /// True when callee 2xx `resp` offers because the caller's INVITE did not (its A-leg
    /// has no description yet; a third-party call's origin offers its own way).
    pub(super) fn offers_late(&self, resp: &Message<'_>) -> bool {
        self.third_party.is_none()
            && matches!(self.answer, super::call::Answer::Waiting { .. })
            && self.a.sdp.is_none()
            && sdp_of(resp).is_some()
    }
}

impl B2bua {
    /// The caller's ACK of call `id`: when the callee that answered still waits for the
    /// answer to its offer, it is this ACK's (rewritten first when media is anchored).
    pub(super) fn late_answer(&mut self, ctx: &mut Ctx<'_>, id: CallId, ack: &Message<'_>) {
        let Some(call) = self.calls.get(&id) else { return };
        let Some(leg) = call.answered().filter(|&i| call.b.get(i).is_some_and(|l| l.ack_awaits_answer)) else {
            return;
        };
        if self.anchored(ctx, id) {
            let resume = Resume::LateAck { leg, ack: Arc::from(ack.as_bytes()) };
            let sides = (Side::B(leg), Side::A);
            if let Gate::Wait = self.anchor_in_call(ctx, (id, Exchange::Answer), sides, sdp_of(ack), resume) {
                return;
            }
        }
        self.ack_late_offer(ctx, id, leg, ack, None);
    }

    /// The partner rewrote the caller's answer in `ack` as `sdp` (None: it did not): our
    /// ACK to callee leg `leg` carries it, and the callee is what the caller was shown.
    pub(super) fn ack_late_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, leg): (CallId, usize),
        ack: &[u8],
        sdp: Option<Arc<[u8]>>,
    ) {
        let bytes = self.rewritten(id, Side::A, ack, sdp.clone());
        let Some(ack) = super::send::reparse(&bytes) else { return };
        self.ack_late_offer(ctx, id, leg, &ack, sdp.as_deref());
    }

    /// Our ACK to callee leg `leg` of call `id`, carrying the caller's answer from `ack`
    /// (or `sdp`, the partner's rewriting of it).
    pub(super) fn ack_late_offer(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        leg: usize,
        ack: &Message<'_>,
        sdp: Option<&[u8]>,
    ) {
        let Some(callee) = self.calls.get_mut(&id).and_then(|c| c.b.get_mut(leg)) else { return };
        if !callee.ack_awaits_answer {
            return;
        }
        callee.ack_awaits_answer = false;
        let branch = ctx.branch();
        let bytes: Arc<[u8]> = in_dialog_with(&ctx.local, callee, (Method::Ack, 1, &branch), ack, sdp).into();
        callee.ack = Some(bytes.clone());
        ctx.tx_send(callee.peer, bytes);
    }
}
