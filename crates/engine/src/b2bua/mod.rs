//! The signalling-only B2BUA: an INVITE for a DN becomes one A-leg (the caller's
//! dialog, where we are the UAS) and one B-leg per registered contact of the DN (forked
//! in parallel, where we are the UAC). SDP passes through untouched; media flows
//! between the endpoints.
//!
//! The call's life: [`B2bua::on_invite`] creates it; B-leg responses arrive in
//! [`B2bua::on_response`]; in-dialog requests (ACK, BYE, re-INVITE, UPDATE, INFO) in
//! [`B2bua::on_in_dialog`]; CANCEL in [`B2bua::on_cancel`]; timers in
//! [`B2bua::on_timeout`]. What the caller hears when callees fail is decided in one
//! place, [`Status::for_caller`].

mod build;
mod delivery;
mod dialog;
mod leg;
mod new_call;
mod placement;
mod pre_route;
mod routing;
mod third_party;
mod timers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sipcore::{Peer, TransactionLayer, TxKey};
use sipmsg::{Framing, HeaderName, Message, Method};

use crate::caller::Caller;
use crate::dn_plan::DnKind;
use crate::event::{CallType, DomainEvent, ReleasedBy};
use crate::registrar::Bindings;
use crate::reply::reply_with;
use crate::reply::response;
use crate::site_view::SiteView;
use crate::NodeConfig;
use crate::Status;
pub(crate) use build::Local;
use build::{b_invite, cancel, copy_body, in_dialog, talk_notify, NewInvite, USER_DATA_HEADER};
use delivery::TrunkLeg;
use leg::{strip_tag, Leg, LegState};
use new_call::{new_call, offered};
use placement::{Arrival, Placement};
pub use pre_route::NssStats;
pub(crate) use routing::RouteOrder;
use timers::CallTimers;

/// Everything the B2BUA borrows from the node for one input.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) tx: &'a mut TransactionLayer,
    pub(crate) rng: &'a mut ChaCha8Rng,
    pub(crate) bindings: &'a Bindings,
    pub(crate) config: &'a NodeConfig,
    pub(crate) events: &'a mut Vec<DomainEvent>,
    pub(crate) local: Local,
    /// What the B2BUA may read of the rest of the site (routers, trunks, the DR peer).
    pub(crate) view: SiteView<'a>,
    /// Seals what we send the DR peer (`peer_secret`), if configured.
    pub(crate) seal: Option<crate::peer_seal::Sealer<'a>>,
}

impl Ctx<'_> {
    fn token(&mut self, bytes: usize) -> String {
        use std::fmt::Write as _;
        let mut s = String::with_capacity(bytes * 2);
        for _ in 0..bytes {
            let _ = write!(s, "{:02x}", self.rng.gen::<u8>());
        }
        s
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token(8))
    }
}

type CallId = u64;

/// Which dialog of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B(usize),
}

/// What a client transaction we started is for.
#[derive(Debug, Clone)]
enum Pending {
    /// The INVITE of B-leg `leg`.
    BInvite { call: CallId, leg: usize },
    /// Our INVITE to the origin phone of a third-party call.
    AInvite { call: CallId },
    /// A request relayed to the other side of a call; its answer goes back.
    Relay(Relay),
    /// BYE or CANCEL we sent; nothing to do with the answer.
    Fire,
    /// The INVITE of a leg the call no longer has (a routed call went back to its Routing
    /// Point): a late 2xx is ACKed and hung up, anything else ignored.
    Orphan(Box<Leg>),
}

/// A new INVITE as it arrived: its server transaction, the message, where it came from,
/// and the To tag our answers carry.
struct Incoming<'r, 'm> {
    key: TxKey,
    req: &'r Message<'m>,
    peer: Peer,
    tag: String,
}

/// A request relayed from side `from` of `call` to the other side (sent there with CSeq
/// `cseq`); its final answer goes back to `peer` on the server transaction `server`.
#[derive(Debug, Clone)]
struct Relay {
    call: CallId,
    from: Side,
    server: TxKey,
    request: Arc<[u8]>,
    peer: Peer,
    cseq: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CallTimer {
    /// No callee answered in time.
    NoAnswer,
    /// The router did not answer a route request in `router-timeout`.
    RouterTimeout,
    /// The call waited `queue-max-wait` on its Routing Point.
    QueueMaxWait,
    /// Retransmit our 2xx to the caller until the ACK (RFC 3261 section 13.3.1.4).
    Retransmit2xx,
}

/// A RequestRouteCall in progress: the call left Routing Point `rp` for `target`.
#[derive(Debug, Clone)]
struct Routed {
    rp: String,
    target: String,
    reference_id: Option<u64>,
    requester: Option<crate::DeskId>,
    /// The DR peer's name when routed there (ISCC).
    location: Option<String>,
}

#[derive(Debug, Default)]
struct ThirdParty {
    /// The origin phone's 200 (its SDP offer), once it answered.
    offer: Option<Arc<[u8]>>,
}

#[derive(Debug)]
struct Call {
    conn_id: u64,
    /// Call UUID kept across legs and sites (BC-68).
    uuid: String,
    /// Attached data, carried to the DR peer in [`USER_DATA_HEADER`] (issue 4, OQ-6).
    user_data: Option<cti::KvList>,
    /// The DN being rung (or the Routing Point while queued).
    dn: String,
    caller: String,
    /// The caller's DN when it is a phone of this site.
    caller_dn: Option<String>,
    call_type: CallType,
    /// The Routing Point the call waits on.
    rp: Option<String>,
    /// Delivered by routing: an ACD call.
    acd: bool,
    /// Default routings so far (capped by `default-redirection-limit`).
    redirections: u32,
    /// Where a router sent the call: it goes back to its Routing Point if not answered there.
    routed: Option<Routed>,
    /// The DR peer's router sent this call to an agent here (ISCC): ring only a free phone.
    routed_by_peer: bool,
    /// The DR peer forwarded it here (for the CDR).
    forwarded: bool,
    /// When the call first parked on a Routing Point (`queue-max-wait` counts from here,
    /// across routing attempts).
    queued_since: Option<Instant>,
    /// RequestMakeCall: the A-leg is ours (UAC) to the origin phone; its 200 carries the
    /// offer the callee gets, and the callee's answer goes back in our ACK (RFC 3725).
    third_party: Option<ThirdParty>,
    a: Leg,
    b: Vec<Leg>,
    answered: Option<usize>,
    /// Our 2xx to the caller and the current retransmission interval.
    a_2xx: Option<(Arc<[u8]>, Duration, Instant)>,
    ringing_sent: bool,
}

impl Call {
    /// The message whose session description the callee gets: the caller's INVITE, or for
    /// a third-party call the origin phone's 200.
    fn offer_source(&self) -> Arc<[u8]> {
        self.third_party.as_ref().and_then(|t| t.offer.clone()).unwrap_or_else(|| self.a.invite.clone())
    }
}

/// All calls of a node.
#[derive(Debug, Default)]
pub(crate) struct B2bua {
    /// Boxed: a call is large; the table's slots stay small (see `sipcore::SpreadMap`).
    calls: sipcore::SpreadMap<CallId, Box<Call>>,
    /// (Call-ID, our tag) of every dialog -> call and side.
    dialogs: sipcore::SpreadMap<(String, String), (CallId, Side)>,
    /// The caller's INVITE transaction -> call (for CANCEL).
    by_a_tx: sipcore::SpreadMap<TxKey, CallId>,
    pending: sipcore::SpreadMap<TxKey, Pending>,
    /// ConnID -> call.
    by_conn: HashMap<u64, CallId>,
    /// DN -> the calls offered to it.
    busy: HashMap<String, Vec<CallId>>,
    timers: CallTimers,
    next_call: CallId,
    /// Calls waiting, per Routing Point, and in all.
    parked: std::collections::BTreeMap<String, std::collections::BTreeSet<CallId>>,
    parked_total: usize,
    /// At a Network SIP Server: figures and turns.
    pub(crate) pre_route: pre_route::PreRoute,
}

impl B2bua {
    /// True while `dn` has a call (as callee or as caller).
    pub(crate) fn in_call(&self, dn: &str) -> bool {
        self.busy.contains_key(dn)
    }

    /// Calls offered to or held by `dn` (as callee or caller).
    pub(crate) fn calls_on(&self, dn: &str) -> usize {
        self.busy.get(dn).map_or(0, Vec::len)
    }

    /// Active calls.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// A new INVITE (outside any dialog) for a DN of this site.
    pub(crate) fn on_invite(&mut self, ctx: &mut Ctx<'_>, key: TxKey, req: &Message<'_>, peer: Peer, caller: &Caller) {
        if let Some(nss) = &ctx.config.nss {
            return self.pre_route_invite(ctx, nss, key, req, peer, caller);
        }
        let arrival = placement::classify(req, peer, ctx.config, caller, ctx.seal);
        let facts = placement::Facts::gather(&arrival, ctx.view, |rp| self.queue_full(ctx.config, rp));
        let tag = ctx.token(4);
        let placement = placement::place(&arrival, &facts);
        match placement {
            Placement::Refuse(status) => refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, status),
            Placement::RedirectToPeer(to) => {
                let dn = arrival.dn;
                let mut b = reply_with(req, Status::MovedTemporarily, &tag, peer.addr);
                b.header("Contact", &crate::peer_seal::forward_contact(ctx.seal, &dn, to));
                ctx.tx.respond(ctx.now, &key, 302, b.finish(None, b"").into());
                tracing::info!(dn = %dn, peer = %to, "direct call redirected to the DR peer");
                ctx.events.push(DomainEvent::CallRedirected { dn, caller: arrival.caller, to });
            }
            placement @ (Placement::Local | Placement::ViaPeer(_) | Placement::Trunk(..) | Placement::RoutingPoint) => {
                self.start_call(ctx, Incoming { key, req, peer, tag }, &arrival, placement);
            }
        }
    }

    /// Answers `100 Trying`, files the call and starts it where `placement` put it.
    fn start_call(&mut self, ctx: &mut Ctx<'_>, invite: Incoming<'_, '_>, arrival: &Arrival, placement: Placement) {
        let Incoming { key, req, peer, tag } = invite;
        let raw: Arc<[u8]> = Arc::from(req.as_bytes());
        let Some(a) = Leg::from_incoming(req, raw, key.clone(), peer, tag.clone()) else {
            return refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, Status::BadRequest);
        };
        let trying = reply_with(req, Status::Trying, &tag, peer.addr).finish(None, b"");
        ctx.tx.respond(ctx.now, &key, 100, trying.into());
        let call = new_call(ctx, req, arrival, &placement, a);
        let id = self.admit(ctx, key, call);
        self.place_call(ctx, id, &arrival.dn, placement);
    }

    /// Files a new call under its keys; returns its id. A ConnID already in use (one the
    /// DR peer sent twice) is replaced by a fresh one.
    fn admit(&mut self, ctx: &mut Ctx<'_>, key: TxKey, mut call: Call) -> CallId {
        while self.by_conn.contains_key(&call.conn_id) {
            call.conn_id = ctx.rng.gen::<u64>() | 1;
        }
        let id = self.next_call;
        self.next_call += 1;
        self.dialogs.insert((call.a.call_id.clone(), call.a.local_tag.clone()), (id, Side::A));
        self.by_a_tx.insert(key, id);
        self.by_conn.insert(call.conn_id, id);
        ctx.events.push(offered(&call));
        self.calls.insert(id, Box::new(call));
        id
    }

    /// Starts call `id` where [`placement::place`] put it.
    fn place_call(&mut self, ctx: &mut Ctx<'_>, id: CallId, dn: &str, placement: Placement) {
        match placement {
            Placement::RoutingPoint => self.queue(ctx, id, dn),
            Placement::Trunk(name, contact) => self.deliver_to_trunk(ctx, id, TrunkLeg::dialled(&name, contact, dn)),
            Placement::ViaPeer(to) => self.deliver_via_peer(ctx, id, dn, to),
            Placement::Local | Placement::Refuse(..) | Placement::RedirectToPeer(_) => self.deliver(ctx, id, dn),
        }
    }

    /// RequestReleaseCall: the call `conn_id` on `dn` ends, from the server side.
    pub(crate) fn release(&mut self, ctx: &mut Ctx<'_>, conn_id: u64, dn: &str) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.dn != dn && call.caller_dn.as_deref() != Some(dn) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        if call.answered.is_some() {
            self.hang_up_both(ctx, id);
        } else {
            self.fail_call(ctx, id, Status::Released);
        }
        Ok(())
    }

    /// A response delivered by one of our client transactions.
    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, key: &TxKey, resp: &Message<'_>) {
        let Some(pending) = self.pending.get(key).cloned() else {
            return;
        };
        // A B-leg INVITE stays pending after its 2xx, so retransmitted 2xx are re-ACKed
        // until the transaction ends ([`B2bua::on_transaction_ended`]).
        let keep = matches!(pending, Pending::BInvite { .. } | Pending::AInvite { .. })
            && resp.status().is_some_and(|c| c < 300);
        if resp.status().is_some_and(|c| c >= 200) && !keep {
            self.pending.remove(key);
        }
        match pending {
            Pending::BInvite { call, leg } => self.on_b_invite_response(ctx, call, leg, resp),
            Pending::AInvite { call } => self.on_origin_response(ctx, call, resp),
            Pending::Relay(relay) => self.relay_response(ctx, &relay, resp),
            Pending::Fire => {}
            Pending::Orphan(mut leg) => {
                if resp.status().is_some_and(|c| (200..300).contains(&c)) {
                    leg.learn_from_response(resp);
                    let branch = ctx.branch();
                    let ack: Arc<[u8]> = in_dialog(&ctx.local, &leg, Method::Ack, 1, &branch, None).into();
                    ctx.tx_send(leg.peer, ack);
                    send_bye(ctx, &mut self.pending, &mut leg);
                }
            }
        }
    }

    fn on_b_invite_response(&mut self, ctx: &mut Ctx<'_>, id: CallId, index: usize, resp: &Message<'_>) {
        let code = resp.status().unwrap_or(500);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match code {
            100 => {}
            _ if index >= call.b.len() => {}
            101..=199 => {
                call.b[index].learn_from_response(resp);
                if !call.ringing_sent || !resp.body().is_empty() {
                    if !call.ringing_sent {
                        ctx.events.push(DomainEvent::CallAlerting { conn_id: call.conn_id });
                    }
                    call.ringing_sent = true;
                    answer_caller(ctx, &call.a, code, reason_of(resp), Some(resp));
                }
            }
            200..=299 => self.on_b_answer(ctx, id, index, resp),
            _ => {
                call.b[index].state = LegState::Ended;
                self.dialogs.remove(&(call.b[index].call_id.clone(), call.b[index].local_tag.clone()));
                let all_failed = call.b.iter().all(|l| l.state == LegState::Ended);
                if all_failed && call.answered.is_none() {
                    self.callee_failed(ctx, id, code, Status::for_caller(code));
                }
            }
        }
    }

    fn on_b_answer(&mut self, ctx: &mut Ctx<'_>, id: CallId, index: usize, resp: &Message<'_>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(leg) = call.b.get_mut(index) else { return };
        if leg.ack.is_some() {
            // A retransmitted 2xx: our ACK was lost.
            let ack = leg.ack.clone();
            if let Some(ack) = ack {
                ctx.tx_send(leg.peer, ack);
            }
            return;
        }
        leg.learn_from_response(resp);
        leg.state = LegState::Confirmed;
        let branch = ctx.branch();
        let ack: Arc<[u8]> = in_dialog(&ctx.local, leg, Method::Ack, 1, &branch, None).into();
        leg.ack = Some(ack.clone());
        ctx.tx_send(leg.peer, ack);
        if call.answered.is_some() {
            // Another fork answered first: hang this one up.
            send_bye(ctx, &mut self.pending, leg);
            return;
        }
        call.answered = Some(index);
        for (i, other) in call.b.iter_mut().enumerate() {
            if i != index && other.state == LegState::Early {
                other.state = LegState::Ended;
                send_cancel(ctx, &mut self.pending, other);
            }
        }
        self.timers.cancel(id, CallTimer::NoAnswer);
        if call.third_party.is_some() {
            // The callee's answer completes the origin phone's offer: it goes in our ACK.
            let branch = ctx.branch();
            let ack: Arc<[u8]> = in_dialog(&ctx.local, &call.a, Method::Ack, 1, &branch, Some(resp)).into();
            call.a.ack = Some(ack.clone());
            ctx.tx_send(call.a.peer, ack);
        } else {
            call.a.state = LegState::Confirmed;
            if let Some(bytes) = answer_caller(ctx, &call.a, 200, "OK", Some(resp)) {
                let t1 = ctx.tx.config().t1;
                call.a_2xx = Some((bytes, t1, ctx.now + t1 * 64));
                self.timers.set(ctx.now + t1, id, CallTimer::Retransmit2xx);
            }
        }
        if let Some(Routed { rp, target, reference_id, requester, location: Some(location) }) = call.routed.clone() {
            let conn_id = call.conn_id;
            ctx.events.push(DomainEvent::RemoteConnected { conn_id, rp, target, location, reference_id, requester });
        }
        ctx.events.push(DomainEvent::CallEstablished {
            conn_id: call.conn_id,
            dn: call.dn.clone(),
            other: call.caller.clone(),
            caller_dn: call.caller_dn.clone(),
        });
    }

    /// True while a call's caller INVITE transaction is `invite_key` (a CANCEL for it
    /// finds the call).
    pub(crate) fn has_caller_invite(&self, invite_key: &TxKey) -> bool {
        self.by_a_tx.get(invite_key).is_some_and(|id| self.calls.contains_key(id))
    }

    /// The caller's CANCEL for the INVITE transaction `invite_key`. Returns false if no
    /// call matches (the node answers 481).
    pub(crate) fn on_cancel(&mut self, ctx: &mut Ctx<'_>, invite_key: &TxKey) -> bool {
        let Some(&id) = self.by_a_tx.get(invite_key) else {
            return false;
        };
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        if call.answered.is_some() {
            return true;
        }
        let (conn_id, dn) = (call.conn_id, call.dn.clone());
        self.fail_call(ctx, id, Status::RequestTerminated);
        if let Some(DomainEvent::CallFailed { .. }) = ctx.events.last() {
            ctx.events.pop();
        }
        ctx.events.push(DomainEvent::CallAbandoned { conn_id, dn });
        true
    }

    /// Every callee of call `id` failed (`cause`: the callee's status, 408 when none
    /// answered): a routed call goes back to its Routing Point, any other call fails with
    /// `status`.
    fn callee_failed(&mut self, ctx: &mut Ctx<'_>, id: CallId, cause: u16, status: Status) {
        let routed = self.calls.get(&id).is_some_and(|c| c.routed.is_some());
        if routed {
            self.return_to_routing_point(ctx, id, cause);
        } else {
            self.fail_call(ctx, id, status);
        }
    }

    /// Ends an unanswered call: final `status` to the caller, CANCEL to ringing callees.
    fn fail_call(&mut self, ctx: &mut Ctx<'_>, id: CallId, status: Status) {
        let (code, reason) = status.wire();
        let Some(mut call) = self.remove_call(id) else {
            return;
        };
        for leg in call.b.iter_mut().filter(|l| l.state == LegState::Early) {
            leg.state = LegState::Ended;
            send_cancel(ctx, &mut self.pending, leg);
        }
        if call.third_party.is_some() {
            self.end_origin_leg(ctx, &mut call.a);
        } else {
            answer_caller(ctx, &call.a, code, reason, None);
        }
        ctx.events.push(DomainEvent::CallFailed {
            conn_id: call.conn_id,
            dn: call.dn,
            caller: call.caller,
            caller_dn: call.caller_dn,
            code,
            status,
        });
    }

    fn remove_call(&mut self, id: CallId) -> Option<Box<Call>> {
        let call = self.calls.remove(&id)?;
        if let Some(rp) = &call.rp {
            self.unpark(rp, id);
        }
        self.dialogs.remove(&(call.a.call_id.clone(), call.a.local_tag.clone()));
        for leg in &call.b {
            self.dialogs.remove(&(leg.call_id.clone(), leg.local_tag.clone()));
        }
        self.by_a_tx.remove(&call.a.invite_tx);
        self.by_conn.remove(&call.conn_id);
        for dn in [&call.dn, &call.caller] {
            self.no_longer_busy(dn, id);
        }
        self.timers.cancel_all(id);
        sipcore::shrink_sparse(&mut self.by_conn);
        Some(call)
    }

    /// Call `id` no longer occupies `dn`.
    fn no_longer_busy(&mut self, dn: &str, id: CallId) {
        if let Some(calls) = self.busy.get_mut(dn) {
            calls.retain(|c| *c != id);
            if calls.is_empty() {
                self.busy.remove(dn);
            }
        }
    }

    /// A client transaction of ours got no final response.
    pub(crate) fn on_transaction_timeout(&mut self, ctx: &mut Ctx<'_>, key: &TxKey) {
        let Some(pending) = self.pending.remove(key) else {
            return;
        };
        if let Pending::AInvite { call } = pending {
            if let Some(c) = self.calls.get_mut(&call) {
                c.a.state = LegState::Ended;
            }
            return self.fail_call(ctx, call, Status::RequestTimeout);
        }
        if let Pending::BInvite { call, leg } = pending {
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let Some(l) = c.b.get_mut(leg) else { return };
            l.state = LegState::Ended;
            if c.answered.is_none() && c.b.iter().all(|l| l.state == LegState::Ended) {
                self.callee_failed(ctx, call, 408, Status::RequestTimeout);
            }
        }
    }

    /// A client transaction of ours ended; forget what it was for.
    pub(crate) fn on_transaction_ended(&mut self, key: &TxKey) {
        self.pending.remove(key);
    }

    /// Fires the call timers due at `now`.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        while let Some((id, timer)) = self.timers.pop_due(ctx.now) {
            match timer {
                CallTimer::NoAnswer => self.callee_failed(ctx, id, 408, Status::NoAnswer),
                CallTimer::RouterTimeout => self.default_route(ctx, id),
                CallTimer::QueueMaxWait => self.queue_timeout(ctx, id),
                CallTimer::Retransmit2xx => self.retransmit_2xx(ctx, id),
            }
        }
    }

    fn retransmit_2xx(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some((bytes, interval, give_up)) = call.a_2xx.clone() else {
            return;
        };
        if ctx.now >= give_up {
            // No ACK for 64*T1: the caller is gone (RFC 3261 section 13.3.1.4).
            call.a_2xx = None;
            self.hang_up_both(ctx, id);
            return;
        }
        ctx.tx.respond(ctx.now, &call.a.invite_tx, 200, bytes.clone());
        let next = (interval * 2).min(ctx.tx.config().t2);
        call.a_2xx = Some((bytes, next, give_up));
        self.timers.set(ctx.now + next, id, CallTimer::Retransmit2xx);
    }

    fn hang_up_both(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(mut call) = self.remove_call(id) else {
            return;
        };
        let legs = std::iter::once(&mut call.a).chain(call.b.iter_mut()).filter(|l| l.state == LegState::Confirmed);
        for leg in legs {
            send_bye(ctx, &mut self.pending, leg);
        }
        ctx.events.push(DomainEvent::CallReleased {
            conn_id: call.conn_id,
            dn: call.dn,
            by: ReleasedBy::Server,
            caller_dn: call.caller_dn,
            acd: call.acd,
        });
    }
}

impl Ctx<'_> {
    /// Sends bytes outside any transaction (ACK for a 2xx).
    fn tx_send(&mut self, to: Peer, bytes: Arc<[u8]>) {
        self.tx.send_stateless(to, bytes);
    }
}

/// Sends a BYE inside `leg`'s dialog; its answer is not awaited.
fn send_bye(ctx: &mut Ctx<'_>, pending: &mut sipcore::SpreadMap<TxKey, Pending>, leg: &mut Leg) {
    let cseq = leg.next_cseq();
    let branch = ctx.branch();
    let bye: Arc<[u8]> = in_dialog(&ctx.local, leg, Method::Bye, cseq, &branch, None).into();
    let key = ctx.tx.send_request(ctx.now, &branch, Method::Bye, leg.peer, bye);
    pending.insert(key, Pending::Fire);
}

/// CANCELs the INVITE we sent on `leg` (same branch, RFC 3261 section 9.1).
fn send_cancel(ctx: &mut Ctx<'_>, pending: &mut sipcore::SpreadMap<TxKey, Pending>, leg: &Leg) {
    let bytes = cancel(&ctx.local, leg);
    let key = ctx.tx.send_request(ctx.now, &leg.invite_tx.branch, Method::Cancel, leg.peer, bytes.into());
    pending.insert(key, Pending::Fire);
}

fn reason_of<'a>(resp: &Message<'a>) -> &'a str {
    match resp.start_line() {
        sipmsg::StartLine::Response { reason, .. } if !reason.is_empty() => reason,
        sipmsg::StartLine::Response { .. } | sipmsg::StartLine::Request { .. } => "Relayed",
    }
}

/// Parses again a message we received and parsed before (a caller's INVITE, a relayed
/// request, an origin phone's 200), to answer it or pass its body on. Bytes we built are
/// never parsed again. `None` would be a bug (the same bytes parsed once): logged, and the
/// caller gives up on the step rather than the site.
fn reparse(bytes: &[u8]) -> Option<Message<'_>> {
    match Message::parse(bytes, Framing::Datagram) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = ?e, "a stored message no longer parses");
            None
        }
    }
}

/// Answers the caller's INVITE of `a` (a received INVITE) with `code`, our Contact for
/// 1xx/2xx, and the body of `body_from` if given.
fn answer_caller(
    ctx: &mut Ctx<'_>,
    a: &Leg,
    code: u16,
    reason: &str,
    body_from: Option<&Message<'_>>,
) -> Option<Arc<[u8]>> {
    let req = reparse(&a.invite)?;
    let mut b = response(&req, code, reason, &a.local_tag, a.peer.addr);
    if code < 300 {
        b.header("Contact", &ctx.local.contact(a.peer.transport));
    }
    let bytes: Arc<[u8]> = match body_from {
        Some(m) => copy_body(b, m),
        None => b.finish(None, b""),
    }
    .into();
    ctx.tx.respond(ctx.now, &a.invite_tx, code, bytes.clone());
    Some(bytes)
}

/// A final answer to a new INVITE that starts no call.
fn refuse_invite(ctx: &mut Ctx<'_>, key: &TxKey, req: &Message<'_>, peer: Peer, tag: &str, dn: &str, status: Status) {
    let (code, reason) = status.wire();
    let bytes = response(req, code, reason, tag, peer.addr).finish(None, b"");
    ctx.tx.respond(ctx.now, key, code, bytes.into());
    let caller = req.from().and_then(|f| f.uri.user()).unwrap_or("").to_owned();
    ctx.events.push(DomainEvent::CallFailed { conn_id: 0, dn: dn.to_owned(), caller, caller_dn: None, code, status });
}
