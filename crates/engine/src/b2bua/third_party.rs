//! Third-party call control from desktops: RequestMakeCall (RFC 3725 flow I: an INVITE
//! without SDP to the origin phone, its offer to the target, the target's answer in our
//! ACK) and RequestAnswerCall (NOTIFY `Event: talk` to ringing phones).

use super::*;
use crate::Status;

impl B2bua {
    /// RequestAnswerCall: asks the phones ringing `dn` for call `conn_id` to answer
    /// (NOTIFY `Event: talk` in each early dialog). The phone's 200 then flows as usual.
    pub(crate) fn answer_call(&mut self, ctx: &mut Ctx<'_>, conn_id: u64, dn: &str) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get_mut(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.dn != dn || call.answered().is_some() {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        let mut sent = 0;
        for leg in call.b.iter_mut().filter(|l| l.state == LegState::Early && l.remote_tag.is_some()) {
            let cseq = leg.next_cseq();
            let branch = ctx.branch();
            let notify: Arc<[u8]> = talk_notify(&ctx.local, leg, cseq, &branch).into();
            let key = ctx.tx.send_request(ctx.now, &branch, Method::Notify, leg.peer, notify);
            self.pending.insert(key, Pending::Fire);
            sent += 1;
        }
        if sent == 0 {
            return Err(cti::ErrorCode::InvalidState);
        }
        Ok(())
    }

    /// Ends our own leg to the origin phone of a third-party call: CANCEL while it rings
    /// (its INVITE becomes an orphan's: a 2xx that crosses the CANCEL is ACKed and hung
    /// up), ACK (if still owed) and BYE once it answered.
    pub(super) fn end_origin_leg(&mut self, ctx: &mut Ctx<'_>, a: &mut Leg) {
        match a.state {
            LegState::Early => {
                if let Some(p) = self.pending.get_mut(&a.invite_tx) {
                    *p = Pending::Orphan(Box::new(a.clone()));
                }
                send_cancel(ctx, &mut self.pending, a);
            }
            LegState::Confirmed => {
                if a.ack.is_none() {
                    let branch = ctx.branch();
                    ctx.tx_send(a.peer, in_dialog(&ctx.local, a, Method::Ack, 1, &branch, None).into());
                }
                send_bye(ctx, &mut self.pending, a);
            }
            LegState::Ended => {}
        }
        a.state = LegState::Ended;
    }

    /// RequestMakeCall (third-party call control, RFC 3725 flow I): ring `origin`'s phone
    /// with an INVITE without SDP; when it answers, call `target` with its offer.
    pub(crate) fn make_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: &str,
        target: &str,
        user_data: Option<&cti::KvList>,
    ) -> Result<u64, cti::ErrorCode> {
        self.dial(ctx, origin, target, user_data, false).map(|(_, conn_id)| conn_id)
    }

    /// RequestMakeCall, or with `consult` the consultation call of RequestInitiateTransfer
    /// (CallType `Consult`): the new call's id and ConnID.
    pub(super) fn dial(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: &str,
        target: &str,
        user_data: Option<&cti::KvList>,
        consult: bool,
    ) -> Result<(CallId, u64), cti::ErrorCode> {
        if !ctx.config.dns.kind(origin).is_some_and(DnKind::is_agent_line) {
            return Err(cti::ErrorCode::UnknownDN);
        }
        let reachable = match ctx.config.dns.kind(target) {
            Some(kind) => {
                kind.is_agent_line() || (kind == DnKind::RoutingPoint && !self.queue_full(ctx.config, target))
            }
            None => ctx.view.trunk_for(target, origin).is_some_and(|t| t.2),
        };
        if !reachable {
            return Err(cti::ErrorCode::UnknownDN);
        }
        let Some(phone) = ctx.bindings.of(origin).first().map(|b| (b.contact.clone(), b.target)) else {
            return Err(cti::ErrorCode::InvalidState);
        };
        let id = self.next_call;
        self.next_call += 1;
        let uuid = ctx.token(16);
        let a = self.ring_origin(ctx, id, (origin, target), phone, &uuid);
        let outbound = ctx.config.dns.kind(target).is_none();
        let conn_id = ctx.rng.gen::<u64>() | 1;
        let call = Call {
            media: Default::default(),
            conn_id,
            uuid,
            user_data: user_data.cloned(),
            dn: target.to_owned(),
            caller: origin.to_owned(),
            caller_dn: Some(origin.to_owned()),
            call_type: match (consult, outbound) {
                (true, _) => CallType::Consult,
                (false, true) => CallType::Outbound,
                (false, false) => CallType::Internal,
            },
            a,
            b: Vec::new(),
            answer: Answer::Waiting { ringing_sent: true },
            on_rp: OnRp::Off,
            acd: false,
            redirections: 0,
            from_peer: FromPeer::No,
            queued_since: None,
            third_party: Some(ThirdParty::default()),
            hold: Hold::Off,
        };
        ctx.events.push(offered(&call));
        self.by_conn.insert(conn_id, id);
        self.busy.entry(origin.to_owned()).or_default().push(id);
        self.timers.set(ctx.now + ctx.config.options.no_answer_timeout, id, CallTimer::NoAnswer);
        self.calls.insert(id, Box::new(call));
        Ok((id, conn_id))
    }

    /// Our INVITE without SDP to the origin phone `phone` of call `id` (RFC 3725 flow I),
    /// showing `target` as the caller; the leg it starts, early.
    fn ring_origin(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        (origin, target): (&str, &str),
        phone: (String, Peer),
        uuid: &str,
    ) -> Leg {
        let (call_id, local_tag, branch) = (format!("{}@tandem", ctx.token(12)), ctx.token(4), ctx.branch());
        let from = format!("<sip:{target}@{}>", ctx.local.addr);
        let to = format!("<sip:{origin}@{}>", ctx.local.addr);
        let invite = NewInvite {
            target: &phone.0,
            from: &format!("{from};tag={local_tag}"),
            to: &to,
            call_id: &call_id,
            branch: &branch,
            max_forwards: 70,
            uuid,
            transport: phone.1.transport,
            user_data: None,
            to_peer: None,
            seal: None,
            sdp: None,
        };
        let bytes: Arc<[u8]> = build::offerless_invite(&ctx.local, &invite).into();
        let key = ctx.tx.send_request(ctx.now, &branch, Method::Invite, phone.1, bytes.clone());
        self.pending.insert(key.clone(), Pending::AInvite { call: id });
        self.dialogs.insert((call_id.clone(), local_tag.clone()), (id, Side::A));
        let (target, peer) = phone;
        let (local_uri, remote_uri, invite, invite_tx) = (from, to, bytes, key);
        Leg::outgoing(Outgoing { call_id, local_tag, local_uri, remote_uri, target, peer, invite, invite_tx })
    }

    /// The origin phone's answer to a third-party call's INVITE.
    pub(super) fn on_origin_response(&mut self, ctx: &mut Ctx<'_>, id: CallId, resp: &Message<'_>) {
        let code = resp.status().unwrap_or(500);
        let Some(call) = self.calls.get_mut(&id) else { return };
        match code {
            100..=199 => call.a.learn_from_response(resp),
            200..=299 => {
                if let Some(ack) = call.a.ack.clone() {
                    return ctx.tx_send(call.a.peer, ack); // our ACK was lost
                }
                let Some(tp) = call.third_party.as_mut() else { return };
                if tp.offer.is_some() {
                    return; // a retransmission while the callee rings: the ACK comes with its answer
                }
                tp.offer = Some(Arc::from(resp.as_bytes()));
                call.a.learn_from_response(resp);
                call.a.heard_sdp(resp);
                call.a.state = LegState::Confirmed;
                let target = call.dn.clone();
                self.timers.cancel(id, CallTimer::NoAnswer);
                match ctx.config.dns.kind(&target) {
                    // The target's agent is at the DR peer: over the trunk (BC-16, BC-29).
                    Some(kind) if kind.is_agent_line() && ctx.view.forward_target(&target).is_some() => {
                        let to = ctx.view.forward_target(&target).unwrap_or(ctx.local.addr);
                        self.deliver_via_peer(ctx, id, &target, to);
                    }
                    // A call to a queue (a consultation with whoever its router picks).
                    Some(DnKind::RoutingPoint) => self.queue(ctx, id, &target),
                    Some(_) => self.deliver(ctx, id, &target),
                    None => match ctx.view.trunk_for(&target, &call.caller) {
                        Some((name, contact, true)) => {
                            self.deliver_to_trunk(ctx, id, TrunkLeg::dialled(&name, contact, &target))
                        }
                        Some(_) => self.fail_call(ctx, id, Status::TrunkNotAllowed),
                        None => self.fail_call(ctx, id, Status::NotFound),
                    },
                }
            }
            _ => {
                call.a.state = LegState::Ended;
                self.fail_call(ctx, id, Status::OriginRefused(code));
            }
        }
    }
}
