//! Media anchoring (`[site.media]`): every session description that crosses a call is
//! rewritten by the media partner before it goes on, so both parties send their RTP to
//! the partner (NAT'd phones get audio; treatments and recordings have a place to
//! happen). Signalling waits for the partner at four places, each a [`Resume`]: the
//! caller's offer before the callee is rung, a callee's answer (18x, 2xx) before the
//! caller hears it, and both halves of a re-INVITE or UPDATE relayed in the call.
//!
//! A command is answered by [`B2bua::on_media_reply`] or fails at its deadline
//! ([`B2bua::expire_media`]): a failure leaves the call unanchored (and counted) or, for a
//! new call with `on_failure = "refuse"`, refuses it; an offer the partner refuses gets
//! 488. The partner is then taken as down for `retry_after`, so new calls do not each
//! wait out the timeout. A call's sessions are deleted when it ends.

mod desk;
mod pairing;
mod record;
mod treatment;

use std::net::SocketAddr;
use std::sync::Arc;

use super::*;
use crate::media::{MediaFailure, MediaOp, MediaReply, MediaStats};
use crate::Status;
pub(in crate::b2bua) use desk::Wait;
pub(crate) use desk::{CallMedia, MediaDesk};
pub(crate) use record::{RecordOrder, RecordWish};

/// The partner's tag of one side of a call.
pub(crate) fn tag_of(side: Side) -> String {
    match side {
        Side::A => "a".to_owned(),
        Side::B(i) => format!("b{i}"),
    }
}

/// What signalling does once the partner answers.
#[derive(Debug, Clone)]
pub(in crate::b2bua) enum Resume {
    /// Ring the DN (the offer is anchored).
    Deliver { dn: String },
    /// Send the call to a trunk.
    Trunk { name: String, contact: SocketAddr, user: String, shown: String },
    /// Relay callee leg `leg`'s provisional (with its answer rewritten).
    Provisional { leg: usize, resp: Arc<[u8]> },
    /// Let the caller hear callee leg `leg`'s 2xx.
    Answered { leg: usize, resp: Arc<[u8]>, reoffered: Option<Option<Arc<[u8]>>> },
    /// Relay an in-dialog request from `side` (its offer rewritten).
    RelayOut { side: Side, key: TxKey, req: Arc<[u8]>, peer: Peer },
    /// Relay the answer to a relayed request back.
    RelayBack { relay: Relay, resp: Arc<[u8]> },
    /// Pairing the caller with callee leg `leg` anew (a transfer completed): the caller's
    /// description was offered; the callee's answer goes next.
    PairOffered { leg: usize },
    /// ... and was answered: both get re-INVITEs.
    PairAnswered { leg: usize },
    /// A waiting caller's offer was anchored for a treatment: the sink answers next.
    Treatment,
    /// The sink answered: the caller gets 183 and the music.
    TreatmentEarly,
    /// A late offer: the caller's answer in its ACK goes on in our ACK to callee leg `leg`.
    LateAck { leg: usize, ack: Arc<[u8]> },
    /// The conference mixer took (or refused) member `member` of the call's conference.
    MixerJoined { member: usize },
}

/// Which half of an offer/answer exchange a description is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::b2bua) enum Exchange {
    Offer,
    Answer,
}

/// What a gate says.
pub(in crate::b2bua) enum Gate {
    /// Go on: the description is anchored, or is not to be.
    Go,
    /// A command is out; the step resumes with its answer.
    Wait,
}

impl B2bua {
    /// The description callee legs of call `id` get now: the caller's offer (or, after a
    /// transfer, the one the call is offered with).
    fn current_offer(call: &Call) -> Option<Arc<[u8]>> {
        match &call.answer {
            Answer::Reoffered(r) => Some(r.offer.clone()),
            Answer::Waiting { .. } | Answer::Answered { .. } => {
                reparse(&call.offer_source()).and_then(|m| leg::sdp_of(&m))
            }
        }
    }

    /// The gate before call `id` rings anyone: its offer anchored, or a command out.
    /// `Err` when the call must be refused (it has been, with `status`).
    pub(in crate::b2bua) fn anchor_offer(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        resume: Resume,
    ) -> Result<Gate, Status> {
        let Some(config) = ctx.config.media.as_ref() else { return Ok(Gate::Go) };
        let Some(call) = self.calls.get_mut(&id) else { return Ok(Gate::Go) };
        let Some(offer) = Self::current_offer(call).filter(|_| !call.media.unanchored) else {
            return Ok(Gate::Go);
        };
        if let Some((source, _)) = &call.media.offered {
            if source[..] == offer[..] {
                return Ok(Gate::Go);
            }
        }
        if self.media.is_down(ctx.now) {
            return Self::media_failed_new_call(&mut self.media.stats, config.on_failure, call);
        }
        call.media.new_session();
        let session = call.media.current(&call.uuid);
        let origin = crate::media::nat_origin(&offer, call.a.peer.addr.ip());
        let op = MediaOp::Offer { session, from: tag_of(Side::A), to: None, sdp: offer, origin };
        let cmd = self.media.send(op);
        let wait = Wait { call: id, resume, deadline: ctx.now + config.timeout, offer: true };
        self.media.waits.insert(cmd, wait);
        Ok(Gate::Wait)
    }

    /// The gate before a callee's 2xx that offers (a late offer: the caller's INVITE had
    /// none) reaches the caller: a new session, the callee offering. A partner that is
    /// down or fails leaves the call unanchored (the callee has answered already).
    pub(in crate::b2bua) fn anchor_late_offer(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, leg): (CallId, usize),
        sdp: Option<Arc<[u8]>>,
        resume: Resume,
    ) -> Gate {
        let Some(config) = ctx.config.media.as_ref() else { return Gate::Go };
        let Some(call) = self.calls.get_mut(&id).filter(|c| !c.media.unanchored) else { return Gate::Go };
        let (Some(sdp), Some(callee)) = (sdp, call.b.get(leg)) else { return Gate::Go };
        if self.media.is_down(ctx.now) {
            call.media.unanchored = true;
            self.media.stats.unanchored_calls += 1;
            return Gate::Go;
        }
        let origin = crate::media::nat_origin(&sdp, callee.peer.addr.ip());
        call.media.new_session();
        let session = call.media.current(&call.uuid);
        let op = MediaOp::Offer { session, from: tag_of(Side::B(leg)), to: Some(tag_of(Side::A)), sdp, origin };
        let cmd = self.media.send(op);
        let wait = Wait { call: id, resume, deadline: ctx.now + config.timeout, offer: false };
        self.media.waits.insert(cmd, wait);
        Gate::Wait
    }

    fn media_failed_new_call(stats: &mut MediaStats, policy: MediaFailure, call: &mut Call) -> Result<Gate, Status> {
        match policy {
            MediaFailure::Continue => {
                call.media.unanchored = true;
                stats.unanchored_calls += 1;
                Ok(Gate::Go)
            }
            MediaFailure::Refuse => {
                stats.refused_calls += 1;
                Err(Status::ServiceUnavailable)
            }
        }
    }

    /// The gate before a description crosses an anchored call: an offer from `offerer`
    /// going on to `answerer`, or `answerer`'s answer going back to `offerer` (a callee's
    /// 18x/2xx, the answer to a relayed re-INVITE). Rewritten in the call's current
    /// session, or a command out.
    pub(in crate::b2bua) fn anchor_in_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, exchange): (CallId, Exchange),
        (offerer, answerer): (Side, Side),
        sdp: Option<Arc<[u8]>>,
        resume: Resume,
    ) -> Gate {
        let offer = exchange == Exchange::Offer;
        let Some(config) = ctx.config.media.as_ref() else { return Gate::Go };
        let Some(call) = self.calls.get(&id) else { return Gate::Go };
        let (Some(sdp), false) = (sdp, call.media.unanchored || call.media.generation == 0) else {
            return Gate::Go;
        };
        let session = call.media.current(&call.uuid);
        let sender = if offer { offerer } else { answerer };
        let origin = call.leg(sender).and_then(|l| crate::media::nat_origin(&sdp, l.peer.addr.ip()));
        let (from, to) = (call.media.tag(offerer), call.media.tag(answerer));
        let op = match offer {
            true => MediaOp::Offer { session, from, to: Some(to), sdp, origin },
            false => MediaOp::Answer { session, from, to, sdp, origin },
        };
        let cmd = self.media.send(op);
        self.media.waits.insert(cmd, Wait { call: id, resume, deadline: ctx.now + config.timeout, offer: false });
        Gate::Wait
    }

    /// The partner's answer to command `cmd`.
    pub(crate) fn on_media_reply(&mut self, ctx: &mut Ctx<'_>, cmd: u64, reply: &MediaReply) {
        let Some(wait) = self.media.waits.remove(&cmd) else {
            // A command nothing waits for (delete, play, block...), or an answer after its
            // command timed out.
            let deleted = self.media.deletes.remove(&cmd);
            match reply {
                MediaReply::Done(figures) => {
                    self.media.heard();
                    if let (Some((session, recorded)), Some(figures)) = (deleted, figures) {
                        let uuid = session.rsplit_once('.').map_or(&session[..], |(u, _)| u).to_owned();
                        let figures = *figures;
                        ctx.events.push(DomainEvent::MediaFigures { uuid, session, figures, recorded });
                    }
                }
                // The query of a session the partner never made (its offer was refused):
                // expected, and a stream of bad offers must not fill the log.
                MediaReply::Refused(reason) if deleted.is_some() => {
                    tracing::debug!(reason = %reason, "media partner knows no such session");
                }
                MediaReply::Refused(reason) => {
                    self.media.stats.refused += 1;
                    tracing::warn!(reason = %reason, "media partner refused a command");
                }
                MediaReply::Sdp(_) | MediaReply::Unreachable => self.media.stats.late_answers += 1,
            }
            return;
        };
        if let Resume::MixerJoined { member } = wait.resume {
            return self.mixer_joined(ctx, wait.call, member, Some(reply));
        }
        match reply {
            MediaReply::Sdp(sdp) => {
                self.media.heard();
                self.resume_with(ctx, wait, Some(Arc::from(&sdp[..])));
            }
            MediaReply::Refused(reason) => {
                self.media.heard();
                self.media.stats.refused += 1;
                tracing::info!(reason = %reason, "media partner refused a session description");
                self.media_refused(ctx, wait);
            }
            MediaReply::Done(_) | MediaReply::Unreachable => self.media_timed_out(ctx, wait),
        }
    }

    /// Fails the commands whose deadline has passed.
    pub(in crate::b2bua) fn expire_media(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(entry) = self.media.waits.first_entry() {
            if entry.get().deadline > ctx.now {
                break;
            }
            let wait = entry.remove();
            if let Resume::MixerJoined { member } = wait.resume {
                self.mixer_joined(ctx, wait.call, member, None);
                continue;
            }
            self.media_timed_out(ctx, wait);
        }
    }

    fn media_timed_out(&mut self, ctx: &mut Ctx<'_>, wait: Wait) {
        let Some(config) = ctx.config.media.as_ref() else { return };
        self.media.stats.timeouts += 1;
        self.media.failed(ctx.now, config.retry_after);
        let new_call = wait.offer && !self.calls.get(&wait.call).is_some_and(|c| c.caller_connected());
        if new_call && config.on_failure == MediaFailure::Refuse {
            self.media.stats.refused_calls += 1;
            return self.fail_call(ctx, wait.call, Status::ServiceUnavailable);
        }
        if let Some(call) = self.calls.get_mut(&wait.call) {
            if !call.media.unanchored {
                self.media.stats.unanchored_calls += 1;
            }
            call.media.unanchored = true;
        }
        self.resume_with(ctx, wait, None);
    }

    /// The partner refused: a new call's offer gets 488 (nothing stays allocated: its
    /// session is deleted with the call); anything later goes on unanchored.
    fn media_refused(&mut self, ctx: &mut Ctx<'_>, wait: Wait) {
        let new_call = wait.offer && !self.calls.get(&wait.call).is_some_and(|c| c.caller_connected());
        if new_call {
            return self.fail_call(ctx, wait.call, Status::NotAcceptableHere);
        }
        if let Some(call) = self.calls.get_mut(&wait.call) {
            call.media.unanchored = true;
        }
        self.resume_with(ctx, wait, None);
    }

    /// Takes up the step that waited, with the rewritten description (None: as it was).
    fn resume_with(&mut self, ctx: &mut Ctx<'_>, wait: Wait, sdp: Option<Arc<[u8]>>) {
        let id = wait.call;
        if !self.calls.contains_key(&id) {
            return;
        }
        match wait.resume {
            Resume::Deliver { dn } => {
                self.note_offered(id, sdp);
                self.deliver(ctx, id, &dn);
            }
            Resume::Trunk { name, contact, user, shown } => {
                self.note_offered(id, sdp);
                let trunk = TrunkLeg { name: &name, contact, user: &user, shown: &shown };
                self.deliver_to_trunk(ctx, id, trunk);
            }
            Resume::Provisional { leg, resp } => {
                let bytes = self.rewritten(id, Side::B(leg), &resp, sdp);
                let Some(resp) = reparse(&bytes) else { return };
                self.relay_provisional(ctx, id, &resp);
            }
            Resume::Answered { leg, resp, reoffered } => {
                if sdp.is_some() {
                    self.start_recording(ctx, id);
                }
                let bytes = self.rewritten(id, Side::B(leg), &resp, sdp);
                let Some(resp) = reparse(&bytes) else { return };
                self.caller_hears_answer(ctx, id, leg, &resp, reoffered);
            }
            Resume::RelayOut { side, key, req, peer } => {
                let bytes = self.rewritten(id, side, &req, sdp);
                let Some(req) = reparse(&bytes) else { return };
                self.relay_request_now(ctx, id, side, key, &req, peer);
            }
            Resume::Treatment => {
                self.note_offered(id, sdp);
                self.pair_with_sink(ctx, id);
            }
            Resume::TreatmentEarly => self.early_media(ctx, id, sdp),
            Resume::MixerJoined { member } => {
                self.mixer_joined(ctx, id, member, sdp.map(|s| MediaReply::Sdp(s.to_vec())).as_ref())
            }
            Resume::LateAck { leg, ack } => self.ack_late_answer(ctx, (id, leg), &ack, sdp),
            resume @ (Resume::PairOffered { .. } | Resume::PairAnswered { .. }) => {
                self.repair_step(ctx, id, resume, sdp);
            }
            Resume::RelayBack { relay, resp } => {
                let answerer = self.calls.get(&id).and_then(|c| c.across(relay.from));
                let bytes = match answerer {
                    Some(side) => self.rewritten(id, side, &resp, sdp),
                    None => resp.to_vec(),
                };
                let Some(resp) = reparse(&bytes) else { return };
                self.relay_response_now(ctx, &relay, &resp);
            }
        }
    }

    /// The offer of call `id` was anchored as `sdp` (None: it was not).
    fn note_offered(&mut self, id: CallId, sdp: Option<Arc<[u8]>>) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        match (sdp, Self::current_offer(call)) {
            (Some(rewritten), Some(source)) => call.media.offered = Some((source, rewritten)),
            _ => call.media.unanchored = true,
        }
    }

    /// The anchored offer of call `id`, if it has one.
    pub(in crate::b2bua) fn anchored_offer(&self, id: CallId) -> Option<Arc<[u8]>> {
        let call = self.calls.get(&id)?;
        let (source, rewritten) = call.media.offered.as_ref()?;
        let current = Self::current_offer(call)?;
        (source[..] == current[..]).then(|| rewritten.clone())
    }

    /// `message` (from `side`) with its body replaced by `sdp`, which the other side of
    /// the call sees of `side` from now on; unchanged without one.
    pub(in crate::b2bua) fn rewritten(
        &mut self,
        id: CallId,
        side: Side,
        message: &[u8],
        sdp: Option<Arc<[u8]>>,
    ) -> Vec<u8> {
        let Some(sdp) = sdp else { return message.to_vec() };
        if let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side)) {
            leg.seen = Some(sdp.clone());
        }
        with_body(message, &sdp).unwrap_or_else(|| message.to_vec())
    }

    /// Call `id` ended: its sessions are deleted (their answers carry the figures).
    pub(in crate::b2bua) fn release_media(&mut self, call: &Call) {
        for generation in call.media.deleted_below..call.media.generation {
            self.media.delete(CallMedia::session(&call.uuid, generation), call.media.recorded.contains(&generation));
        }
    }

    /// Deletes call `id`'s sessions older than its current one (its parties moved on).
    pub(in crate::b2bua) fn retire_old_sessions(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let current = call.media.generation.saturating_sub(1);
        let old: Vec<(String, bool)> = (call.media.deleted_below..current)
            .map(|g| (CallMedia::session(&call.uuid, g), call.media.recorded.contains(&g)))
            .collect();
        call.media.deleted_below = call.media.deleted_below.max(current);
        for (session, recorded) in old {
            self.media.delete(session, recorded);
        }
    }

    /// True while call `id`'s media is anchored (configured, and the partner has not
    /// failed it).
    pub(in crate::b2bua) fn anchored(&self, ctx: &Ctx<'_>, id: CallId) -> bool {
        ctx.config.media.is_some() && self.calls.get(&id).is_some_and(|c| !c.media.unanchored && c.media.generation > 0)
    }
}

/// `message` with `body` in place of its own (Content-Length rewritten; every other
/// header byte kept). None when `message` does not parse.
pub(crate) fn with_body(message: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let parsed = reparse(message)?;
    let head_len = message.len().checked_sub(parsed.body().len())?;
    let head = std::str::from_utf8(&message[..head_len]).ok()?;
    let mut out = Vec::with_capacity(head_len + body.len() + 8);
    for line in head.split_inclusive("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        } else {
            out.extend_from_slice(line.as_bytes());
        }
    }
    out.extend_from_slice(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_gets_a_new_body_and_length_and_keeps_its_headers() {
        let m = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nl: 3\r\n\r\nv=0";
        let out = with_body(m, b"v=0\r\nc=IN IP4 203.0.113.9\r\n").expect("parses");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("Content-Length: 27\r\n"), "{text}");
        assert!(!text.contains("l: 3"));
        assert!(text.ends_with("\r\n\r\nv=0\r\nc=IN IP4 203.0.113.9\r\n"));
        assert!(text.contains("Call-ID: c\r\n"));
    }
}
