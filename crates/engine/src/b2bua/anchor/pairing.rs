//! A transfer joins two parties that were never paired at the partner: they get a
//! session of their own (rtpengine 10.5 has no `connect`; re-answering an existing
//! session with a new party was measured to break media), then a re-INVITE each.

use std::sync::Arc;

use super::desk::Wait;
use super::{tag_of, Resume};
use crate::b2bua::call::{self, CallId, Side};
use crate::b2bua::leg::Leg;
use crate::b2bua::{B2bua, Ctx};
use crate::media::MediaOp;
use crate::sdp;

impl B2bua {
    /// Pairs the caller of call `id` with callee leg `leg` in a new session (a transfer
    /// joined them: one session per pair of connected legs), then re-INVITEs both with
    /// the partner's descriptions. Without both parties' descriptions, or when the
    /// partner fails, they get each other's own.
    pub(in crate::b2bua) fn repair(&mut self, ctx: &mut Ctx<'_>, id: CallId, leg: usize) {
        let Some(config) = ctx.config.media.as_ref() else { return self.pair_unanchored(ctx, id, leg) };
        let Some(call) = self.calls.get_mut(&id) else { return };
        let (Some(caller), Some(_)) = (call.a.sdp.clone(), call.b.get(leg).and_then(|l| l.sdp.clone())) else {
            return self.pair_unanchored(ctx, id, leg);
        };
        call.media.new_session();
        let session = call.media.current(&call.uuid);
        let caller = sdp::rewrite(&caller, sdp::Direction::SendRecv, sdp::version(&caller).unwrap_or(0))
            .map_or(caller, Arc::from);
        let origin = crate::media::nat_origin(&caller, call.a.peer.addr.ip());
        let op = MediaOp::Offer { session, from: tag_of(Side::A), to: Some(tag_of(Side::B(leg))), sdp: caller, origin };
        let cmd = self.media.send(op);
        let wait =
            Wait { call: id, resume: Resume::PairOffered { leg }, deadline: ctx.now + config.timeout, offer: false };
        self.media.waits.insert(cmd, wait);
    }

    /// The next step of [`B2bua::repair`], with the partner's description (None: failed).
    pub(super) fn repair_step(&mut self, ctx: &mut Ctx<'_>, id: CallId, resume: Resume, sdp: Option<Arc<[u8]>>) {
        let (Some(config), Some(sdp)) = (ctx.config.media.as_ref(), sdp) else {
            let (Resume::PairOffered { leg } | Resume::PairAnswered { leg }) = resume else { return };
            return self.pair_unanchored(ctx, id, leg);
        };
        let Some(call) = self.calls.get_mut(&id) else { return };
        match resume {
            Resume::PairOffered { leg } => {
                call.a.seen = Some(sdp);
                let Some(callee) = call.b.get(leg).and_then(|l| l.sdp.clone()) else { return };
                let session = call.media.current(&call.uuid);
                let origin = call.b.get(leg).and_then(|l| crate::media::nat_origin(&callee, l.peer.addr.ip()));
                let (from, to) = (tag_of(Side::A), tag_of(Side::B(leg)));
                let cmd = self.media.send(MediaOp::Answer { session, from, to, sdp: callee, origin });
                let resume = Resume::PairAnswered { leg };
                self.media
                    .waits
                    .insert(cmd, Wait { call: id, resume, deadline: ctx.now + config.timeout, offer: false });
            }
            Resume::PairAnswered { leg } => {
                if let Some(l) = call.b.get_mut(leg) {
                    l.seen = Some(sdp);
                }
                self.retire_old_sessions(id);
                self.start_recording(ctx, id);
                self.pair_unanchored(ctx, id, leg);
            }
            Resume::Deliver { .. }
            | Resume::Treatment
            | Resume::TreatmentEarly
            | Resume::Trunk { .. }
            | Resume::Provisional { .. }
            | Resume::Answered { .. }
            | Resume::RelayOut { .. }
            | Resume::RelayBack { .. }
            | Resume::LateAck { .. }
            | Resume::MixerJoined { .. } => {}
        }
    }

    /// Re-INVITEs the caller of call `id` and callee leg `leg` with what each should see
    /// of the other (the partner's descriptions when they were paired there).
    fn pair_unanchored(&mut self, ctx: &mut Ctx<'_>, id: CallId, leg: usize) {
        let Some(call) = self.calls.get(&id) else { return };
        let caller = call.a.sdp_for_other();
        let callee = call.b.get(leg).and_then(Leg::sdp_for_other);
        if let Some(caller) = caller {
            self.send_offer(ctx, id, Side::B(leg), &caller, sdp::Direction::SendRecv, call::Purpose::Direction);
        }
        if let Some(callee) = callee {
            self.send_offer(ctx, id, Side::A, &callee, sdp::Direction::SendRecv, call::Purpose::Connect);
        }
    }
}
