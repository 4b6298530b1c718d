//! Ringing the callee: one B-leg per registered contact of a DN (parallel fork), one
//! B-leg to a trunk, or over the DR peer trunk when the agent is at the other site.

use super::*;
use crate::event::LegKind;
use crate::Status;

/// A B-leg to a trunk: the trunk `name` at `contact`, Request-URI user `user`; desks see
/// the call as going to `shown` (the dialled digits, or the peer's access number + DN).
pub(super) struct TrunkLeg<'a> {
    pub(super) name: &'a str,
    pub(super) contact: std::net::SocketAddr,
    pub(super) user: &'a str,
    pub(super) shown: &'a str,
}

impl<'a> TrunkLeg<'a> {
    /// An outbound call: the dialled digits are both the Request-URI user and what desks see.
    pub(super) fn dialled(name: &'a str, contact: std::net::SocketAddr, digits: &'a str) -> Self {
        Self { name, contact, user: digits, shown: digits }
    }
}

/// Whom one B-leg rings: contact `index` of the callee's DN `dn` (a registered phone, a
/// trunk), reached at `peer`.
pub(super) struct Callee<'a> {
    index: usize,
    contact: &'a str,
    peer: Peer,
    dn: &'a str,
}

impl B2bua {
    /// Delivers call `id` for `dn`, whose agent is at the DR peer, over the peer trunk with
    /// Tandem staying in the path (BC-29); desks here see the peer's access number + the DN
    /// as OtherDN (BC-30).
    pub(super) fn deliver_via_peer(&mut self, ctx: &mut Ctx<'_>, id: CallId, dn: &str, to: std::net::SocketAddr) {
        let (name, prefix) =
            ctx.config.dr_peer_trunk().map(|(n, t)| (n.to_owned(), t.prefix.clone())).unwrap_or_default();
        let shown = format!("{prefix}{dn}");
        self.deliver_to_trunk(ctx, id, TrunkLeg { name: &name, contact: to, user: dn, shown: &shown });
    }
    /// One B-leg to a trunk (an outbound call, or the DR peer trunk).
    pub(super) fn deliver_to_trunk(&mut self, ctx: &mut Ctx<'_>, id: CallId, trunk: TrunkLeg<'_>) {
        let TrunkLeg { name, contact, user, shown } = trunk;
        if !ctx.config.is_dr_peer(contact) {
            // A call to the DR peer is anchored there, where its phone is: once, not twice.
            let resume = || anchor::Resume::Trunk {
                name: name.to_owned(),
                contact,
                user: user.to_owned(),
                shown: shown.to_owned(),
            };
            if !self.pass_offer_gate(ctx, id, resume) {
                return;
            }
        }
        let Some(call) = self.calls.get(&id) else { return };
        let a_bytes = call.offer_source();
        let Some(a) = reparse(&a_bytes) else { return };
        let target = format!("sip:{user}@{contact}");
        let leg =
            self.start_b_leg(ctx, id, &a, Callee { index: 0, contact: &target, peer: Peer::udp(contact), dn: user });
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.dn = shown.to_owned();
        call.b = vec![leg];
        tracing::debug!(trunk = name, user, "call through trunk");
        let no_answer = ctx.config.options.no_answer_timeout;
        self.timers.set(ctx.now + no_answer, id, CallTimer::NoAnswer);
        ctx.events.push(DomainEvent::CallRinging {
            conn_id: call.conn_id,
            dn: shown.to_owned(),
            other: call.caller.clone(),
            call_type: call.call_type,
            caller_dn: call.caller_dn.clone(),
            acd: false,
            user_data: call.user_data.clone(),
            leg: if ctx.config.is_dr_peer(contact) { LegKind::DrPeer } else { LegKind::Trunk },
            transferred_by: call.transferred_by().map(str::to_owned),
        });
    }
    /// Rings every registered contact of `dn` for call `id` (parallel fork).
    pub(super) fn deliver(&mut self, ctx: &mut Ctx<'_>, id: CallId, dn: &str) {
        let max = ctx.config.calls.max_per_dn;
        let chosen_agent = self.calls.get(&id).is_some_and(|c| c.routed().is_some() || c.from_peer == FromPeer::Routed);
        // A router chose this agent as free: if it is not, the call goes back to its Routing
        // Point (the router tries another) rather than ringing a busy phone; a race between
        // two routers ends here. Default routing (an operator DN) may stack calls.
        let full = max > 0 && self.busy.get(dn).is_some_and(|calls| calls.len() >= max);
        if full || (chosen_agent && self.busy.contains_key(dn)) {
            return self.callee_failed(ctx, id, 486, Status::BusyHere);
        }
        let contacts: Vec<(String, Peer)> = ctx.bindings.of(dn).iter().map(|b| (b.contact.clone(), b.target)).collect();
        if contacts.is_empty() {
            return self.callee_failed(ctx, id, 480, Status::TemporarilyUnavailable);
        }
        if !self.pass_offer_gate(ctx, id, || anchor::Resume::Deliver { dn: dn.to_owned() }) {
            return;
        }
        let Some(call) = self.calls.get(&id) else { return };
        let a_bytes = call.offer_source();
        let Some(a) = reparse(&a_bytes) else { return self.fail_call(ctx, id, Status::ServerError) };
        let mut legs = Vec::new();
        for (index, (contact, peer)) in contacts.into_iter().enumerate() {
            legs.push(self.start_b_leg(ctx, id, &a, Callee { index, contact: &contact, peer, dn }));
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.dn = dn.to_owned();
        call.b = legs;
        self.busy.entry(dn.to_owned()).or_default().push(id);
        let no_answer =
            ctx.config.dn_option(dn, |o| o.no_answer_timeout).unwrap_or(ctx.config.options.no_answer_timeout);
        self.timers.set(ctx.now + no_answer, id, CallTimer::NoAnswer);
        ctx.events.push(DomainEvent::CallRinging {
            conn_id: call.conn_id,
            dn: dn.to_owned(),
            other: call.caller.clone(),
            call_type: call.call_type,
            caller_dn: call.caller_dn.clone(),
            acd: call.acd,
            user_data: call.user_data.clone(),
            leg: LegKind::Phone,
            transferred_by: call.transferred_by().map(str::to_owned),
        });
    }
    /// Sends the INVITE of B-leg `callee.index` of call `id`, built from the caller's
    /// INVITE `a`; the leg starts early.
    pub(super) fn start_b_leg(&mut self, ctx: &mut Ctx<'_>, id: CallId, a: &Message<'_>, callee: Callee<'_>) -> Leg {
        let Callee { index, contact, peer, dn } = callee;
        let max_forwards = a.max_forwards().unwrap_or(70).saturating_sub(1);
        let uuid = self.calls.get(&id).map(|c| c.uuid.clone()).unwrap_or_default();
        let uuid = uuid.as_str();
        let call_id = format!("{}@tandem", ctx.token(12));
        let local_tag = ctx.token(4);
        let branch = ctx.branch();
        let from = match &self.calls.get(&id).and_then(|c| c.third_party.as_ref().map(|_| c.caller.clone())) {
            // Third-party call: the callee sees the origin DN calling.
            Some(origin) => format!("<sip:{origin}@{}>", ctx.local.addr),
            None => strip_tag(a.header(HeaderName::From).unwrap_or("<sip:anonymous@anonymous.invalid>")),
        };
        let to = format!("<sip:{dn}@{}>", ctx.local.addr);
        let (user_data, to_peer) = self.for_the_peer(ctx, id, peer);
        let conn_id = to_peer.map(|f| cti::conn_id_text(f.conn_id));
        let reoffer = self.anchored_offer(id).or_else(|| {
            self.calls.get(&id).and_then(|c| match &c.answer {
                Answer::Reoffered(r) => Some(r.offer.clone()),
                Answer::Waiting { .. } | Answer::Answered { .. } => None,
            })
        });
        let body = reoffer.as_deref().unwrap_or(a.body());
        let seal = to_peer.zip(ctx.seal).map(|(f, s)| {
            let headers = [Some(uuid), user_data.as_deref(), conn_id.as_deref(), f.routed_from];
            s.seal("INVITE", &call_id, headers, body)
        });
        let invite = NewInvite {
            user_data: user_data.as_deref(),
            to_peer,
            seal: seal.as_deref(),
            sdp: reoffer.as_deref(),
            target: contact,
            from: &format!("{from};tag={local_tag}"),
            to: &to,
            call_id: &call_id,
            branch: &branch,
            max_forwards,
            uuid,
            transport: peer.transport,
        };
        let invite: Arc<[u8]> = b_invite(&ctx.local, a, &invite).into();
        let invite_tx = ctx.tx.send_request(ctx.now, &branch, Method::Invite, peer, invite.clone());
        self.pending.insert(invite_tx.clone(), Pending::BInvite { call: id, leg: index });
        self.dialogs.insert((call_id.clone(), local_tag.clone()), (id, Side::B(index)));
        let (local_uri, remote_uri, target) = (from, to, contact.to_owned());
        Leg::outgoing(Outgoing { call_id, local_tag, local_uri, remote_uri, target, peer, invite, invite_tx })
    }

    /// True when call `id` may ring now: its offer anchored (or not to be), else false
    /// (a command is out and `resume` follows its answer, or the call was refused).
    fn pass_offer_gate(&mut self, ctx: &mut Ctx<'_>, id: CallId, resume: impl FnOnce() -> anchor::Resume) -> bool {
        if ctx.config.media.is_none() {
            return true; // nothing to anchor at: nothing built for it
        }
        match self.anchor_offer(ctx, id, resume()) {
            Ok(anchor::Gate::Go) => true,
            Ok(anchor::Gate::Wait) => false,
            Err(status) => {
                self.fail_call(ctx, id, status);
                false
            }
        }
    }

    /// What an INVITE of call `id` to `peer` carries for the DR peer, when `peer` is it:
    /// the UserData (as JSON, which has no CR/LF) and the call's facts. Phones and trunks
    /// get neither.
    fn for_the_peer(&self, ctx: &Ctx<'_>, id: CallId, peer: Peer) -> (Option<String>, Option<build::PeerFacts<'_>>) {
        let call = self.calls.get(&id).filter(|_| ctx.config.is_dr_peer(peer.addr));
        let Some(call) = call else { return (None, None) };
        let user_data = call.user_data.as_ref().and_then(|d| serde_json::to_string(d).ok());
        let routed_from = call.routed().map(|r| r.rp.as_str());
        let anchored = self.anchored_offer(id).is_some();
        (user_data, Some(build::PeerFacts { conn_id: call.conn_id, routed_from, anchored }))
    }
}
