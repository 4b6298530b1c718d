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
