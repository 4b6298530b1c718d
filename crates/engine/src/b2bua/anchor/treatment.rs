//! What callers hear from the media partner: music while a call waits on a Routing Point
//! (the site's `queue_music`, the Routing Point's own, or a treatment a router names in
//! RequestApplyTreatment) and music on hold.
//!
//! A waiting caller hears it as early media: the caller's offer is anchored, paired at
//! the partner with a silent sink (`sdp::sink_for`), the caller gets `183 Session
//! Progress` with the partner's answer, and the file plays to the caller's side. When an
//! agent answers, the music stops and the caller's 200 carries the agent's side. With
//! `answer_waiting` the caller gets `200 OK` with the partner's answer instead, and the
//! agent who answers later reaches it in a re-INVITE (the call is then handled as one
//! offered anew after a transfer, [`Reoffer`] without a transferrer). A held
//! party hears `hold_music` while the holder's own media is blocked (rtpengine 10.5 mixes
//! a played file with live audio). File names only ever come from the configuration.

use std::sync::Arc;

use super::desk::Wait;
use super::{tag_of, Gate, Resume};
use crate::b2bua::call::{Answer, CallId, CallTimer, Reoffer, Side};
use crate::b2bua::leg::LegState;
use crate::b2bua::send::answer_caller_sdp;
use crate::b2bua::{B2bua, Ctx};
use crate::event::DomainEvent;
use crate::media::MediaOp;
use crate::sdp;

use super::desk::SINK;

impl B2bua {
    /// Call `id` parked on Routing Point `rp`: its music starts, if it has some.
    pub(in crate::b2bua) fn queue_treatment(&mut self, ctx: &mut Ctx<'_>, id: CallId, rp: &str) {
        let file = ctx.config.media.as_ref().and_then(|m| m.sounds.for_rp(rp));
        if let Some(file) = file {
            self.play_treatment(ctx, id, file.to_owned());
        }
    }

    /// RequestApplyTreatment naming `treatment`: its file plays to the waiting call `id`
    /// (a name the configuration does not list changes nothing: the router still has
    /// the call in hand).
    pub(in crate::b2bua) fn apply_treatment(&mut self, ctx: &mut Ctx<'_>, id: CallId, treatment: &str) {
        let file = ctx.config.media.as_ref().and_then(|m| m.sounds.treatments.get(treatment));
        match file {
            Some(file) => self.play_treatment(ctx, id, file.clone()),
            None => tracing::debug!(treatment, "a treatment the configuration does not name"),
        }
    }

    /// Plays `file` to the caller of waiting call `id`, pairing it with the sink first.
    fn play_treatment(&mut self, ctx: &mut Ctx<'_>, id: CallId, file: String) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.media.unanchored) else { return };
        call.media.music = Some(file.clone());
        if call.media.early || (call.caller_connected() && call.media.generation > 0) {
            return self.play_to_caller(id, file);
        }
        if call.caller_connected() {
            return;
        }
        match self.anchor_offer(ctx, id, Resume::Treatment) {
            Ok(Gate::Go) => self.pair_with_sink(ctx, id),
            Ok(Gate::Wait) => {}
            Err(status) => self.fail_call(ctx, id, status),
        }
    }

    /// The caller's offer is anchored: it is answered by the sink at the partner.
    pub(in crate::b2bua) fn pair_with_sink(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(config) = ctx.config.media.as_ref() else { return };
        let Some(call) = self.calls.get(&id).filter(|c| !c.media.unanchored && c.media.generation > 0) else { return };
        let Some(sink) = call.a.sdp.as_deref().and_then(sdp::sink_for) else { return };
        let session = call.media.current(&call.uuid);
        let op =
            MediaOp::Answer { session, from: tag_of(Side::A), to: SINK.into(), sdp: Arc::from(sink), origin: None };
        let cmd = self.media.send(op);
        let wait = Wait { call: id, resume: Resume::TreatmentEarly, deadline: ctx.now + config.timeout, offer: false };
        self.media.waits.insert(cmd, wait);
    }

    /// The partner answered for the sink: the caller gets 183 with it (or, with
    /// `answer_waiting`, 200), and the music.
    pub(in crate::b2bua) fn early_media(&mut self, ctx: &mut Ctx<'_>, id: CallId, sdp: Option<Arc<[u8]>>) {
        let answer = ctx.config.media.as_ref().is_some_and(|m| m.answer_waiting);
        let Some(call) = self.calls.get_mut(&id) else { return };
        let (Some(sdp), Some(file)) = (sdp, call.media.music.clone()) else { return };
        // Only while nobody has answered.
        let Answer::Waiting { ringing_sent } = &mut call.answer else { return };
        if !*ringing_sent {
            ctx.events.push(DomainEvent::CallAlerting { conn_id: call.conn_id });
        }
        *ringing_sent = true;
        call.media.early = true;
        if answer && call.third_party.is_none() {
            self.answer_waiting_caller(ctx, id, &sdp);
        } else {
            answer_caller_sdp(ctx, &call.a, 183, "Session Progress", &sdp);
        }
        self.play_to_caller(id, file);
    }

    /// `answer_waiting`: the waiting caller gets 200 with the sink's description
    /// (retransmitted until its ACK), and its call is offered on as after a transfer:
    /// whoever answers reaches the caller in a re-INVITE (the agent's answer goes into the
    /// same session, under the sink's tag; rtpengine 10.5 then gives the caller's side a
    /// new port, which that re-INVITE carries: measured).
    fn answer_waiting_caller(&mut self, ctx: &mut Ctx<'_>, id: CallId, sdp: &[u8]) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(offer) = Self::current_offer(call) else { return };
        let Some(bytes) = answer_caller_sdp(ctx, &call.a, 200, "OK", sdp) else { return };
        call.a.state = LegState::Confirmed;
        call.media.answered_with = Some(Arc::from(sdp));
        // A later offer to the caller must carry a higher version than this answer.
        call.a.sdp_version = sdp::version(sdp);
        let t1 = ctx.tx.config().t1;
        let a_2xx = Some((bytes, t1, ctx.now + t1 * 64));
        call.answer =
            Answer::Reoffered(Reoffer { from: None, back_to_from: false, offer, reoffer_callee: false, a_2xx });
        self.timers.set(ctx.now + t1, id, CallTimer::Retransmit2xx);
        tracing::debug!(conn_id = call.conn_id, "a waiting caller answered for its music");
    }

    fn play_to_caller(&mut self, id: CallId, file: String) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.media.playing = true;
        let session = call.media.current(&call.uuid);
        self.media.send(MediaOp::Play { session, to: tag_of(Side::A), file });
    }

    /// An agent answers call `id`: whatever played to the caller stops.
    pub(in crate::b2bua) fn stop_treatment(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.media.playing) else { return };
        call.media.playing = false;
        call.media.music = None;
        let session = call.media.current(&call.uuid);
        self.media.send(MediaOp::StopPlay { session, to: tag_of(Side::A) });
    }

    /// Call `id` was put on hold (`on`) or taken off it: the held party hears
    /// `hold_music` while the holder's media is blocked, or no longer.
    pub(in crate::b2bua) fn hold_music(&mut self, ctx: &Ctx<'_>, id: CallId, (held, holder): (Side, Side), on: bool) {
        let Some(file) = ctx.config.media.as_ref().and_then(|m| m.sounds.hold.clone()) else { return };
        if !self.anchored(ctx, id) {
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        let session = call.media.current(&call.uuid);
        let (to, from) = (call.media.tag(held), call.media.tag(holder));
        // Measured on 10.5: a block takes effect only while a player runs, so the music
        // starts first and stops last.
        if on && !call.media.hold_playing {
            call.media.hold_playing = true;
            self.media.send(MediaOp::Play { session: session.clone(), to, file });
            self.media.send(MediaOp::Block { session, from });
        } else if !on && call.media.hold_playing {
            call.media.hold_playing = false;
            self.media.send(MediaOp::Unblock { session: session.clone(), from });
            self.media.send(MediaOp::StopPlay { session, to });
        }
    }
}
