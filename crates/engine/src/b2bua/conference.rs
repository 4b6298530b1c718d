//! Conferences at a mixer (`[site.media] mixer`: Janus AudioBridge, reached by the
//! shell). RequestInitiateConference consults as RequestInitiateTransfer does;
//! RequestCompleteConference then joins the held call's caller, ThisDN and the consulted
//! party in a room named after the held call, as the reference system does with its
//! MCU: every party joins the mixer first (one participant each, at the address its own
//! description names) and nothing in any dialog changes until all have; a join that
//! fails closes the room and leaves both calls as they were (the requester gets
//! EventError). Then ThisDN's dialog with the consultation gets BYE, the consulted
//! party's dialog moves into the held call, the call's media-partner sessions are
//! deleted (the parties talk to the mixer directly), and each party gets a re-INVITE
//! with the mixer's description for it.
//!
//! In a conference, a party's BYE (or RequestReleaseCall from its desktop, or
//! RequestDeleteFromConference naming it) takes only that party out; when one party is
//! left, it gets BYE and the call ends. A party's re-INVITE or UPDATE is answered with
//! the mixer's description (its media stays at the mixer); other requests get 200.

use sipcore::TxKey;

use super::anchor::Resume;
use super::call::Purpose;
use super::consult::MergePlan;
use super::leg::sdp_of;
use super::*;
use crate::media::{MediaOp, MediaReply};
use crate::sdp::{self, Direction};
use crate::Status;

/// A conference being made or made.
#[derive(Debug)]
pub(super) struct Conference {
    /// The mixer's room: the held call's UUID.
    room: String,
    /// The consultation, until the conference is made (then its ConnID ends).
    consult: Option<CallId>,
    members: Vec<Member>,
    by: String,
    reference_id: Option<u64>,
    requester: Option<crate::DeskId>,
}

/// One party of a conference.
#[derive(Debug)]
struct Member {
    /// Its call (the consultation's, for the consulted party until the conference is
    /// made) and side there.
    at: (CallId, Side),
    /// As desks see it (a DN, or the caller's number).
    name: String,
    /// The mixer's name of it.
    participant: String,
    /// The mixer's description for it, once joined.
    mixer: Option<Arc<[u8]>>,
}

const NO_MIXER: &str = "conferences need a conference mixer (`[site.media] mixer`), and this site has none";
const NOT_ANSWERED: &str = "the consulted party has not answered yet";
const NO_ADDRESS: &str = "a party's session description names no audio address the mixer could use";
const NOT_A_PARTY: &str = "OtherDN is not a party of this conference";
const IN_CONFERENCE: &str = "the call is a conference (or one is being made with it): release or delete parties";
const MIXER_FAILED: &str = "the conference mixer did not take every party; the calls stay as they were";

impl B2bua {
    /// RequestCompleteConference on held call `main` and its consultation `consult`.
    pub(super) fn complete_conference(
        &mut self,
        ctx: &mut Ctx<'_>,
        (main, consult): (CallId, CallId),
        order: PairOrder<'_>,
    ) -> Result<(), Refusal> {
        if !ctx.config.media.as_ref().is_some_and(|m| m.mixer) {
            return Err(Refusal::new(cti::ErrorCode::NotSupported, NO_MIXER));
        }
        if self.conferences.contains_key(&main) {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, "a conference is being made on this call"));
        }
        let MergePlan { answered, .. } = self.plan_merge(main, consult)?;
        let (Some(m), Some(c), Some(t)) = (self.calls.get(&main), self.calls.get(&consult), answered) else {
            return Err(Refusal::new(cti::ErrorCode::InvalidState, NOT_ANSWERED));
        };
        let agent = m.answered().ok_or(cti::ErrorCode::NoSuchCall)?;
        let members = vec![
            Member { at: (main, Side::A), name: m.caller.clone(), participant: "caller".into(), mixer: None },
            Member { at: (main, Side::B(agent)), name: m.dn.clone(), participant: "agent".into(), mixer: None },
            Member { at: (consult, Side::B(t)), name: c.dn.clone(), participant: "consulted".into(), mixer: None },
        ];
        let mut joins = Vec::with_capacity(members.len());
        for member in &members {
            let (id, side) = member.at;
            let leg = self.calls.get(&id).and_then(|call| call.leg(side));
            let rtp = leg.and_then(|l| l.sdp.as_deref()).and_then(sdp::audio_address);
            joins.push(rtp.ok_or(Refusal::new(cti::ErrorCode::NotSupported, NO_ADDRESS))?);
        }
        let room = m.uuid.clone();
        for (i, (rtp, member)) in joins.into_iter().zip(&members).enumerate() {
            let op = MediaOp::MixerJoin { room: room.clone(), participant: member.participant.clone(), rtp };
            self.media_wait(ctx, main, op, Resume::MixerJoined { member: i });
        }
        let (by, reference_id, requester) = (order.dn.to_owned(), order.reference_id, order.requester);
        let conference = Conference { room, consult: Some(consult), members, by, reference_id, requester };
        self.conferences.insert(main, conference);
        Ok(())
    }

    /// The mixer's answer to member `member`'s join of call `id`'s conference (None: it
    /// failed, or did not answer in time).
    pub(super) fn mixer_joined(&mut self, ctx: &mut Ctx<'_>, id: CallId, member: usize, reply: Option<&MediaReply>) {
        let Some(conference) = self.conferences.get_mut(&id) else { return };
        let sdp = match reply {
            Some(MediaReply::Sdp(sdp)) => Arc::from(&sdp[..]),
            _ => return self.conference_failed(ctx, id),
        };
        if let Some(m) = conference.members.get_mut(member) {
            m.mixer = Some(sdp);
        }
        let all = conference.members.iter().all(|m| m.mixer.is_some());
        if all && conference.consult.is_some() {
            self.conference_made(ctx, id);
        }
    }

    /// A join failed: the room is closed, the calls stay as they were.
    fn conference_failed(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(conference) = self.conferences.remove(&id) else { return };
        if conference.consult.is_none() {
            return; // Made already: a late failure changes nothing.
        }
        self.media.send(MediaOp::MixerClose { room: conference.room });
        let conn_id = self.calls.get(&id).map_or(0, |c| c.conn_id);
        let (dn, reference_id, requester) = (conference.by, conference.reference_id, conference.requester);
        let (code, text) = (cti::ErrorCode::NotSupported, MIXER_FAILED);
        ctx.events.push(DomainEvent::RequestFailed { conn_id, dn, code, text, reference_id, requester });
    }

    /// Every party joined: the dialogs change (see the module's doc).
    fn conference_made(&mut self, ctx: &mut Ctx<'_>, main: CallId) {
        let Some(consult_id) = self.conferences.get(&main).and_then(|c| c.consult) else { return };
        if !self.calls.contains_key(&main) || !self.calls.contains_key(&consult_id) {
            return self.conference_failed(ctx, main);
        }
        if let Some(conference) = self.conferences.get_mut(&main) {
            conference.consult = None;
        }
        let Some(mut consult) = self.remove_call(consult_id) else { return };
        if consult.third_party.is_some() {
            self.end_origin_leg(ctx, &mut consult.a);
        } else {
            send_bye(ctx, &mut self.pending, &mut consult.a);
        }
        let Some(member) = self.conferences.get(&main).and_then(|c| c.members.get(2)) else { return };
        let Side::B(t) = member.at.1 else { return };
        let added = member.name.clone();
        let Some(leg) = consult.b.get(t).cloned() else { return };
        let index = self.adopt_leg(main, leg, &added);
        if let Some(m) = self.conferences.get_mut(&main).and_then(|c| c.members.get_mut(2)) {
            m.at = (main, Side::B(index));
        }
        self.leave_partner(main);
        let Some(conference) = self.conferences.get(&main) else { return };
        let offers: Vec<(Side, Arc<[u8]>)> =
            conference.members.iter().filter_map(|m| Some((m.at.1, m.mixer.clone()?))).collect();
        let (by, reference_id, requester) = (conference.by.clone(), conference.reference_id, conference.requester);
        for (side, sdp) in offers {
            self.send_offer(ctx, main, side, &sdp, Direction::SendRecv, Purpose::Direction);
        }
        let Some(m) = self.calls.get_mut(&main) else { return };
        m.hold = Hold::Off;
        let (kept, gone, other, other_dn) = (m.conn_id, consult.conn_id, m.caller.clone(), m.caller_dn.clone());
        ctx.events.push(DomainEvent::Conferenced { kept, gone, by, added, other, other_dn, reference_id, requester });
    }

    /// The consulted party's answered leg becomes a B-leg of `main`: its index there.
    fn adopt_leg(&mut self, main: CallId, leg: Leg, dn: &str) -> usize {
        let Some(index) = self.calls.get(&main).map(|m| m.b.len()) else { return 0 };
        self.lead_to(&leg, (main, index));
        if let Some(m) = self.calls.get_mut(&main) {
            m.b.push(leg);
        }
        self.busy.entry(dn.to_owned()).or_default().push(main);
        index
    }

    /// The parties talk to the mixer now: the call's media-partner sessions go.
    fn leave_partner(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let sessions: Vec<(String, bool)> = (call.media.deleted_below..call.media.generation)
            .map(|g| (anchor::CallMedia::session(&call.uuid, g), call.media.recorded.contains(&g)))
            .collect();
        call.media.deleted_below = call.media.generation;
        call.media.unanchored = true;
        call.media.hold_playing = false;
        for (session, recorded) in sessions {
            self.media.delete(session, recorded);
        }
    }

    /// Refuses a request that would move call `id`'s parties (hold, transfer,
    /// consultation) while it is a conference, or one is being made with it.
    pub(super) fn not_in_conference(&self, id: CallId) -> Result<(), Refusal> {
        let involved = self.conferences.iter().any(|(main, c)| *main == id || c.consult == Some(id));
        match involved {
            true => Err(Refusal::new(cti::ErrorCode::InvalidState, IN_CONFERENCE)),
            false => Ok(()),
        }
    }

    /// True while call `id` is a conference (made; not while it is being made).
    pub(super) fn in_conference(&self, id: CallId) -> bool {
        self.conferences.get(&id).is_some_and(|c| c.consult.is_none())
    }

    /// An in-dialog request from `side` of conference `id` (not ACK).
    pub(super) fn conference_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, side): (CallId, Side),
        key: &TxKey,
        req: &Message<'_>,
        peer: Peer,
    ) {
        let method = req.method();
        let offer = matches!(method, Some(Method::Invite | Method::Update)) && sdp_of(req).is_some();
        let mixer = self.conferences.get(&id).and_then(|c| c.members.iter().find(|m| m.at == (id, side)));
        let body = match (offer, mixer.and_then(|m| m.mixer.clone())) {
            (true, Some(sdp)) => {
                let leg = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side));
                leg.and_then(|l| sdp::rewrite(&sdp, Direction::SendRecv, l.next_sdp_version(&sdp)))
            }
            _ => None,
        };
        // A conference is not transferred by its parties' phones (desktops may delete).
        let status = if method == Some(Method::Refer) { Status::MethodNotAllowed } else { Status::Ok };
        let ok = reply_with(req, status, "", peer.addr);
        let bytes = match &body {
            Some(sdp) => ok.finish(Some("application/sdp"), sdp),
            None => ok.finish(None, b""),
        };
        ctx.tx.respond(ctx.now, key, status.code(), bytes.into());
        if method == Some(Method::Bye) {
            self.leave_conference(ctx, (id, side), (None, None));
        }
    }

    /// RequestDeleteFromConference: party `other` leaves conference `conn_id`, at the
    /// request of `dn`, a party of it.
    pub(crate) fn delete_from_conference(
        &mut self,
        ctx: &mut Ctx<'_>,
        (conn_id, dn, other): (u64, &str, &str),
        (reference_id, requester): (Option<u64>, Option<crate::DeskId>),
    ) -> Result<(), Refusal> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let conference = self.conferences.get(&id).filter(|_| self.in_conference(id));
        let conference =
            conference.ok_or(Refusal::new(cti::ErrorCode::InvalidState, "the call is not a conference"))?;
        if !conference.members.iter().any(|m| m.name == dn) {
            return Err(cti::ErrorCode::NoSuchCall.into());
        }
        let side = conference.members.iter().find(|m| m.name == other).map(|m| m.at.1);
        let side = side.ok_or(Refusal::new(cti::ErrorCode::InvalidRequest, NOT_A_PARTY))?;
        self.hang_up_member(ctx, id, side);
        self.leave_conference(ctx, (id, side), (reference_id, requester));
        Ok(())
    }

    /// RequestReleaseCall from `dn`'s desktop on conference `id`: `dn` alone leaves.
    pub(super) fn release_from_conference(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        dn: &str,
    ) -> Result<(), cti::ErrorCode> {
        let conference = self.conferences.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let side =
            conference.members.iter().find(|m| m.name == dn).map(|m| m.at.1).ok_or(cti::ErrorCode::NoSuchCall)?;
        self.hang_up_member(ctx, id, side);
        self.leave_conference(ctx, (id, side), (None, None));
        Ok(())
    }

    fn hang_up_member(&mut self, ctx: &mut Ctx<'_>, id: CallId, side: Side) {
        if let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side)) {
            send_bye(ctx, &mut self.pending, leg);
        }
    }

    /// Party `side` of conference `id` is gone (its dialog ended): it leaves the room;
    /// with one party left, that one gets BYE and the call ends.
    fn leave_conference(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, side): (CallId, Side),
        (reference_id, requester): (Option<u64>, Option<crate::DeskId>),
    ) {
        let Some(conference) = self.conferences.get_mut(&id) else { return };
        let Some(at) = conference.members.iter().position(|m| m.at == (id, side)) else { return };
        let gone = conference.members.remove(at);
        let room = conference.room.clone();
        let stays: Vec<String> = conference.members.iter().map(|m| m.name.clone()).collect();
        self.media.send(MediaOp::MixerLeave { room, participant: gone.participant });
        if let Some(call) = self.calls.get_mut(&id) {
            if let Some(leg) = call.leg_mut(side) {
                leg.state = LegState::Ended;
            }
        }
        self.no_longer_busy(&gone.name, id);
        let conn_id = self.calls.get(&id).map_or(0, |c| c.conn_id);
        ctx.events.push(DomainEvent::ConferenceLeft { conn_id, gone: gone.name, stays, reference_id, requester });
        if self.conferences.get(&id).is_some_and(|c| c.members.len() <= 1) {
            self.end_conference(ctx, id);
        }
    }

    /// The last party gets BYE; the room closes and the call ends.
    fn end_conference(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(conference) = self.conferences.remove(&id) else { return };
        self.media.send(MediaOp::MixerClose { room: conference.room });
        let last = conference.members.into_iter().next();
        let Some(mut call) = self.remove_call(id) else { return };
        let (mut dn, mut by) = (call.dn.clone(), ReleasedBy::Callee);
        if let Some(last) = last {
            if let Some(leg) = call.leg_mut(last.at.1) {
                send_bye(ctx, &mut self.pending, leg);
            }
            self.no_longer_busy(&last.name, id);
            by = if last.at.1 == Side::A { ReleasedBy::Callee } else { ReleasedBy::Caller };
            dn = last.name;
        }
        ctx.events.push(DomainEvent::CallReleased { conn_id: call.conn_id, dn, by, caller_dn: None, acd: false });
    }

    /// Call `id` ended some other way while a conference was being made on it (or was
    /// made): the room goes.
    pub(super) fn forget_conference(&mut self, id: CallId) {
        if let Some(conference) = self.conferences.remove(&id) {
            self.media.send(MediaOp::MixerClose { room: conference.room });
            for member in conference.members.iter().filter(|m| m.at.0 == id) {
                self.no_longer_busy(&member.name, id);
            }
        }
        let being_made: Vec<CallId> =
            self.conferences.iter().filter(|(_, c)| c.consult == Some(id)).map(|(main, _)| *main).collect();
        for main in being_made {
            if let Some(conference) = self.conferences.remove(&main) {
                self.media.send(MediaOp::MixerClose { room: conference.room });
            }
        }
    }

    /// Sends `op` to the media side and waits for its answer, resuming with `resume`.
    fn media_wait(&mut self, ctx: &Ctx<'_>, id: CallId, op: MediaOp, resume: Resume) {
        let timeout = ctx.config.media.as_ref().map_or(std::time::Duration::from_secs(1), |m| m.timeout);
        let cmd = self.media.send(op);
        self.media.waits.insert(cmd, anchor::Wait { call: id, resume, deadline: ctx.now + timeout, offer: false });
    }
}
