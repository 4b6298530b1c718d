//! Recording an anchored call: who wants it and when the partner is told. A call is
//! recorded from its answer when the site records every call, when it waited on a
//! Routing Point in `record_dns`, when the DN that answered is in `record_dns`, or when
//! the agent logged in there is in `record_agents`; and whenever a desktop asks
//! (RequestPrivateService 3013-3016: start, stop, pause, resume; Genesys SIP Server's
//! dynamic recording). rtpengine 10.5 has no `pause recording`: a pause stops the
//! capture and a resume starts a new one, which the shell's converter lays out in time,
//! so the WAV file is silent over the pause.
//!
//! A recording follows the call into the new session a transfer pairs it in, unless a
//! desktop stopped it or it is paused.

use super::*;
use cti::RecordOp;

/// What was asked of one call's recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RecordWish {
    /// Record from the answer (a desktop asked before it, or the call waited on a
    /// recorded Routing Point).
    pub(crate) wanted: bool,
    /// A desktop stopped the recording: a new pairing does not start it again.
    pub(crate) stopped: bool,
    /// Paused by a desktop.
    pub(crate) paused: bool,
}

/// A desktop's recording request, as the B2BUA takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordOrder<'a> {
    pub(crate) conn_id: u64,
    pub(crate) dn: &'a str,
    pub(crate) op: RecordOp,
    pub(crate) reference_id: Option<u64>,
    pub(crate) requester: Option<crate::DeskId>,
}

const NO_PARTNER: &str = "recording needs a media partner ([site.media]), and this site has none";
const NO_RECORDINGS: &str = "this site keeps no recordings (`[site.media] recordings`)";
const UNANCHORED: &str = "the call's media is not anchored (the media partner failed it), so it cannot be recorded";

impl B2bua {
    /// A call parked on Routing Point `rp`: recorded from its answer if `rp` records.
    pub(in crate::b2bua) fn note_recorded_rp(&mut self, ctx: &Ctx<'_>, id: CallId, rp: &str) {
        let records = ctx.config.media.as_ref().is_some_and(|m| m.record_dns.contains(rp));
        if let Some(call) = self.calls.get_mut(&id).filter(|_| records) {
            call.media.wish.wanted = true;
        }
    }

    /// True when call `id`, just answered (or paired anew), is to be recorded.
    fn should_record(&self, ctx: &Ctx<'_>, id: CallId) -> bool {
        let (Some(media), Some(call)) = (ctx.config.media.as_ref(), self.calls.get(&id)) else { return false };
        let wish = call.media.wish;
        if wish.stopped || wish.paused {
            return false;
        }
        let agent = || ctx.view.desks.agent_on(&call.dn).is_some_and(|a| media.record_agents.contains(a));
        media.record || wish.wanted || media.record_dns.contains(&call.dn) || agent()
    }

    /// Call `id`'s current session is recorded from now on, when it is to be.
    pub(in crate::b2bua) fn start_recording(&mut self, ctx: &Ctx<'_>, id: CallId) {
        if self.should_record(ctx, id) {
            self.record_current(id);
        }
    }

    /// Tells the partner to record call `id`'s current session (once per session).
    fn record_current(&mut self, id: CallId) -> bool {
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.media.unanchored && c.media.generation > 0) else {
            return false;
        };
        let generation = call.media.generation - 1;
        if !call.media.recorded.contains(&generation) {
            call.media.recorded.push(generation);
        }
        let session = call.media.current(&call.uuid);
        self.media.send(MediaOp::StartRecording { session });
        true
    }

    /// True while the partner records call `id`'s current session.
    fn recording_now(call: &Call) -> bool {
        let current = call.media.generation.checked_sub(1);
        !call.media.wish.paused && current.is_some_and(|g| call.media.recorded.contains(&g))
    }

    /// RequestPrivateService 3013-3016 on a call ThisDN is part of (or waits on).
    pub(crate) fn record(&mut self, ctx: &mut Ctx<'_>, order: RecordOrder<'_>) -> Result<(), Refusal> {
        match ctx.config.media.as_ref() {
            None => return Err(Refusal::new(cti::ErrorCode::NotSupported, NO_PARTNER)),
            Some(m) if !m.can_record => return Err(Refusal::new(cti::ErrorCode::NotSupported, NO_RECORDINGS)),
            Some(_) => {}
        }
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get_mut(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let involved = call.dn == order.dn
            || call.caller_dn.as_deref() == Some(order.dn)
            || call.parked_on() == Some(order.dn)
            || call.routed().is_some_and(|r| r.rp == order.dn);
        if !involved {
            return Err(cti::ErrorCode::NoSuchCall.into());
        }
        if call.media.unanchored {
            return Err(Refusal::new(cti::ErrorCode::NotSupported, UNANCHORED));
        }
        let connected = call.answered().is_some() && call.media.generation > 0;
        let (recording, session) = (Self::recording_now(call), call.media.current(&call.uuid));
        let command = change_wish(&mut call.media.wish, order.op, (recording, connected), session)?;
        let conn_id = call.conn_id;
        match command {
            Some(MediaOp::StartRecording { .. }) => {
                self.record_current(id);
            }
            Some(op) => {
                self.media.send(op);
            }
            None => {}
        }
        let (dn, service_id) = (order.dn.to_owned(), order.op.service_id());
        let (reference_id, requester) = (order.reference_id, order.requester);
        ctx.events.push(DomainEvent::RecordingChanged { conn_id, dn, service_id, reference_id, requester });
        Ok(())
    }
}

/// What `op` does to a call's recording `wish` (the call `recording` now, `connected`
/// or still ringing): the partner's command it needs (None: none yet, or none), or why
/// it cannot be done.
fn change_wish(
    wish: &mut RecordWish,
    op: RecordOp,
    (recording, connected): (bool, bool),
    session: String,
) -> Result<Option<MediaOp>, Refusal> {
    let refuse = |text| Err(Refusal::new(cti::ErrorCode::InvalidState, text));
    Ok(match op {
        RecordOp::Start if recording || wish.paused => {
            return refuse("the call is recorded already (resume a paused recording)")
        }
        RecordOp::Start => {
            *wish = RecordWish { wanted: true, stopped: false, paused: false };
            connected.then_some(MediaOp::StartRecording { session })
        }
        RecordOp::Stop if !(recording || wish.paused || wish.wanted) => return refuse("the call is not recorded"),
        RecordOp::Stop => {
            *wish = RecordWish { wanted: false, stopped: true, paused: false };
            recording.then_some(MediaOp::StopRecording { session })
        }
        RecordOp::Pause if !recording => return refuse("the call is not being recorded"),
        RecordOp::Pause => {
            wish.paused = true;
            Some(MediaOp::StopRecording { session })
        }
        RecordOp::Resume if !wish.paused => return refuse("the call's recording is not paused"),
        RecordOp::Resume => {
            wish.paused = false;
            Some(MediaOp::StartRecording { session })
        }
    })
}
