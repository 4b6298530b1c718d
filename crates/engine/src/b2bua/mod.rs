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

mod anchor;
mod build;
mod call;
mod conference;
mod consult;
mod delivery;
mod dialog;
mod ending;
mod hold;
mod late_offer;
mod leg;
mod new_call;
mod placement;
mod pre_route;
mod refer;
mod responses;
mod routing;
mod send;
mod third_party;
mod timers;
mod transfer;
mod user_data;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sipcore::{Peer, TransactionLayer, TxKey};
use sipmsg::{HeaderName, Message, Method};

use crate::caller::Caller;
use crate::dn_plan::DnKind;
use crate::event::{CallType, DomainEvent, ReleasedBy};
use crate::registrar::Bindings;
use crate::reply::reply_with;
use crate::reply::response;
use crate::site_view::SiteView;
use crate::NodeConfig;
use crate::Status;
pub(crate) use anchor::RecordOrder;
pub(crate) use build::Local;
use build::{b_invite, copy_body, in_dialog, talk_notify, NewInvite, USER_DATA_HEADER};
use call::{Answer, Call, CallId, CallTimer, FromPeer, Hold, Incoming, OnRp, Pending, Relay, Routed, Side, ThirdParty};
pub(crate) use consult::PairOrder;
use delivery::TrunkLeg;
pub(crate) use hold::HoldOrder;
use leg::{strip_tag, Leg, LegState, Outgoing};
use new_call::{new_call, offered};
use placement::{Arrival, Delivery, Placement};
pub use pre_route::NssStats;
pub(crate) use routing::RouteOrder;
use send::{cancel_b_leg, reason_of, reparse, send_bye, send_cancel};
use timers::CallTimers;
pub(crate) use transfer::TransferOrder;
pub(crate) use user_data::UserDataOrder;

/// Why the B2BUA refuses a desktop's call request: the EventError's code and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: cti::ErrorCode,
    pub(crate) text: &'static str,
}

impl Refusal {
    pub(crate) const fn new(code: cti::ErrorCode, text: &'static str) -> Self {
        Self { code, text }
    }
}

impl From<cti::ErrorCode> for Refusal {
    fn from(code: cti::ErrorCode) -> Self {
        Self { code, text: code.text() }
    }
}

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
    /// Consultation calls (RequestInitiateTransfer) -> the call they consult about.
    consults: std::collections::BTreeMap<CallId, CallId>,
    /// Conferences being made or made, by their (held) call.
    conferences: std::collections::BTreeMap<CallId, conference::Conference>,
    /// Calls waiting, per Routing Point, and in all.
    parked: std::collections::BTreeMap<String, std::collections::BTreeSet<CallId>>,
    parked_total: usize,
    /// At a Network SIP Server: figures and turns.
    pub(crate) pre_route: pre_route::PreRoute,
    /// The media partner's commands, waits and health (`[site.media]`).
    pub(crate) media: anchor::MediaDesk,
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

    /// One line per active call, for a test that finds one left behind (it looks up every
    /// call id ever given: not for a running site).
    pub(crate) fn describe_calls(&self) -> Vec<String> {
        let legs = |c: &Call| c.b.iter().map(|l| format!("{:?} {}", l.state, l.call_id)).collect::<Vec<_>>().join(",");
        (0..self.next_call)
            .filter_map(|id| self.calls.get(&id))
            .map(|c| {
                let (phase, rp, hold, conf) = (&c.answer, &c.on_rp, c.hold, self.conferences.len());
                format!(
                    "conn {:016x} dn {} a {:?} {} b [{}] {phase:?} {rp:?} {hold:?} conferences {conf}",
                    c.conn_id,
                    c.dn,
                    c.a.state,
                    c.a.call_id,
                    legs(c)
                )
            })
            .collect()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.timers.next(), self.media.next_deadline()].into_iter().flatten().min()
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
            Placement::Call(delivery) => self.start_call(ctx, Incoming { key, req, peer, tag }, &arrival, delivery),
        }
    }

    /// Answers `100 Trying`, files the call and delivers it.
    fn start_call(&mut self, ctx: &mut Ctx<'_>, invite: Incoming<'_, '_>, arrival: &Arrival, delivery: Delivery) {
        let Incoming { key, req, peer, tag } = invite;
        let raw: Arc<[u8]> = Arc::from(req.as_bytes());
        let Some(a) = Leg::from_incoming(req, raw, key.clone(), peer, tag.clone()) else {
            return refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, Status::BadRequest);
        };
        let trying = reply_with(req, Status::Trying, &tag, peer.addr).finish(None, b"");
        ctx.tx.respond(ctx.now, &key, 100, trying.into());
        let call = new_call(ctx, req, arrival, &delivery, a);
        let id = self.admit(ctx, key, call);
        self.deliver_call(ctx, id, &arrival.dn, delivery);
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

    /// Starts call `id` where [`placement::place`] delivers it.
    fn deliver_call(&mut self, ctx: &mut Ctx<'_>, id: CallId, dn: &str, delivery: Delivery) {
        match delivery {
            Delivery::RoutingPoint => self.queue(ctx, id, dn),
            Delivery::Trunk(name, contact) => self.deliver_to_trunk(ctx, id, TrunkLeg::dialled(&name, contact, dn)),
            Delivery::ViaPeer(to) => self.deliver_via_peer(ctx, id, dn, to),
            Delivery::Local => self.deliver(ctx, id, dn),
        }
    }

    /// Fires the call timers due at `now`.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.expire_media(ctx);
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
        let Some(a_2xx) = call.a_2xx() else { return };
        let Some((bytes, interval, give_up)) = a_2xx.clone() else {
            return;
        };
        if ctx.now >= give_up {
            // No ACK for 64*T1: the caller is gone (RFC 3261 section 13.3.1.4).
            *a_2xx = None;
            self.hang_up_both(ctx, id);
            return;
        }
        let next = (interval * 2).min(ctx.tx.config().t2);
        *a_2xx = Some((bytes.clone(), next, give_up));
        ctx.tx.respond(ctx.now, &call.a.invite_tx, 200, bytes);
        self.timers.set(ctx.now + next, id, CallTimer::Retransmit2xx);
    }
}

impl Ctx<'_> {
    /// Sends bytes outside any transaction (ACK for a 2xx).
    fn tx_send(&mut self, to: Peer, bytes: Arc<[u8]>) {
        self.tx.send_stateless(to, bytes);
    }
}

/// A final answer to a new INVITE that starts no call.
fn refuse_invite(ctx: &mut Ctx<'_>, key: &TxKey, req: &Message<'_>, peer: Peer, tag: &str, dn: &str, status: Status) {
    let (code, reason) = status.wire();
    let bytes = response(req, code, reason, tag, peer.addr).finish(None, b"");
    ctx.tx.respond(ctx.now, key, code, bytes.into());
    let caller = req.from().and_then(|f| f.uri.user()).unwrap_or("").to_owned();
    ctx.events.push(DomainEvent::CallFailed { conn_id: 0, dn: dn.to_owned(), caller, caller_dn: None, code, status });
}
