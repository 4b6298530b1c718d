//! Routing Points (spec BC-36..39): a call parks on a Routing Point, desktops get
//! EventRouteRequest, RequestRouteCall sends it on; `router-timeout` and `default-dn` do
//! it when the router is silent, within `default-redirection-limit`. A routed call that
//! is not answered where it was sent (busy, no answer, the other site refused it) comes
//! back to its Routing Point with a new EventRouteRequest, so the router tries another
//! agent; `queue-max-wait` counts from the first arrival.
//!
//! A RequestRouteCall whose `Location` names the DR peer carries the call over the peer
//! trunk (ISCC "route", BC-33..35, BC-37): Tandem stays in the path, the ConnID, call
//! UUID and UserData travel, the peer treats it as an ACD call, and the Routing Point's
//! clients hear EventRemoteConnectionSuccess or ...Failure.

use super::*;
use crate::Status;

impl B2bua {
    /// Parks a call on Routing Point `rp` and asks for a routing decision (BC-36, BC-39).
    pub(super) fn queue(&mut self, ctx: &mut Ctx<'_>, id: CallId, rp: &str) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.on_rp = OnRp::Parked { rp: rp.to_owned() };
        call.dn = rp.to_owned();
        self.note_recorded_rp(ctx, id, rp);
        let Some(call) = self.calls.get_mut(&id) else { return };
        let since = *call.queued_since.get_or_insert(ctx.now);
        if self.parked.entry(rp.to_owned()).or_default().insert(id) {
            self.parked_total += 1;
        }
        let event = DomainEvent::RouteRequest {
            conn_id: call.conn_id,
            rp: rp.to_owned(),
            other: call.caller.clone(),
            call_type: call.call_type,
        };
        ctx.events.push(event);
        self.timers.set(since + ctx.config.options.queue_max_wait, id, CallTimer::QueueMaxWait);
        if ctx.view.router_watching(rp) {
            let timeout = ctx.config.dn_option(rp, |o| o.router_timeout).unwrap_or(ctx.config.options.router_timeout);
            self.timers.set(ctx.now + timeout, id, CallTimer::RouterTimeout);
            self.queue_treatment(ctx, id, rp);
        } else {
            // No router is listening: default routing at once.
            self.default_route(ctx, id);
        }
    }

    /// Sends a queued call to its Routing Point's `default-dn`, within
    /// `default-redirection-limit`; otherwise it stays queued (OQ-8).
    pub(super) fn default_route(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        if let Some(nss) = &ctx.config.nss {
            return self.pre_route_default(ctx, nss, id);
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(rp) = call.parked_on().map(str::to_owned) else { return };
        let target =
            ctx.config.dn_option(&rp, |o| o.default_dn.clone()).or_else(|| ctx.config.options.default_dn.clone());
        let limit = ctx.config.options.default_redirection_limit;
        let Some(target) = target.filter(|_| call.redirections < limit) else {
            tracing::warn!(rp = %rp, conn_id = call.conn_id, "no default routing possible; the call stays queued");
            return;
        };
        call.redirections += 1;
        self.route_to(ctx, id, &target, None, None, OnRp::Off);
    }

    /// True when `rp` (or all Routing Points together) hold as many calls as allowed.
    pub(super) fn queue_full(&self, config: &NodeConfig, rp: &str) -> bool {
        let cap = config.capacity;
        self.parked_total >= cap.max_parked || self.parked.get(rp).is_some_and(|c| c.len() >= cap.max_parked_per_rp)
    }

    /// The calls waiting on `rp`: (ConnID, caller, call type), oldest first.
    pub(crate) fn waiting_on(&self, rp: &str) -> Vec<(u64, String, CallType)> {
        let ids = self.parked.get(rp).into_iter().flatten();
        let mut calls: Vec<&Call> = ids.filter_map(|id| self.calls.get(id)).map(|c| &**c).collect();
        calls.sort_by_key(|c| (c.queued_since, c.conn_id));
        calls.into_iter().map(|c| (c.conn_id, c.caller.clone(), c.call_type)).collect()
    }

    /// Call `id` left Routing Point `rp`.
    pub(super) fn unpark(&mut self, rp: &str, id: CallId) {
        if let Some(calls) = self.parked.get_mut(rp) {
            if calls.remove(&id) {
                self.parked_total -= 1;
            }
            if calls.is_empty() {
                self.parked.remove(rp);
            }
        }
    }

    /// The last router of Routing Point `rp` went away: its calls are default-routed now
    /// (BC-39: no router, default routing at once) instead of waiting for a router that
    /// took them in hand (`RequestApplyTreatment`) and is gone.
    pub(crate) fn routers_gone(&mut self, ctx: &mut Ctx<'_>, rp: &str) {
        let waiting: Vec<CallId> = self.parked.get(rp).map(|c| c.iter().copied().collect()).unwrap_or_default();
        if !waiting.is_empty() {
            tracing::warn!(rp, calls = waiting.len(), "the last router left; default routing the calls waiting");
        }
        for id in waiting {
            self.default_route(ctx, id);
        }
    }

    /// The call waited `queue-max-wait`: default routing if it is possible, else 480 (a
    /// Routing Point never holds a call forever).
    pub(super) fn queue_timeout(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        self.default_route(ctx, id);
        if let Some(call) = self.calls.get(&id).filter(|c| c.parked_on().is_some()) {
            tracing::warn!(conn_id = call.conn_id, "call waited queue-max-wait on its Routing Point");
            self.fail_call(ctx, id, Status::QueueTimeout);
        }
    }

    /// The router's RequestRouteCall for the call `conn_id` on Routing Point `rp`; with
    /// a `location` naming the DR peer, over the peer trunk (ISCC).
    pub(crate) fn route(&mut self, ctx: &mut Ctx<'_>, order: RouteOrder<'_>) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.parked_on() != Some(order.rp) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        if let Some(nss) = &ctx.config.nss {
            return self.pre_route_routed(ctx, nss, id, order);
        }
        // A DN of ours, unless the route leaves by a trunk to another site (that site checks).
        let by_trunk = order.location.is_some_and(|l| l != ctx.config.site && ctx.view.peer_location(l).is_none());
        if !by_trunk && !ctx.config.dns.kind(order.target).is_some_and(DnKind::is_agent_line) {
            return Err(cti::ErrorCode::UnknownDN);
        }
        let routed = Routed {
            rp: order.rp.to_owned(),
            target: order.target.to_owned(),
            reference_id: order.reference_id,
            requester: order.requester,
            location: None,
        };
        match order.location.filter(|l| *l != ctx.config.site) {
            None => {
                let next = OnRp::Routed(routed);
                self.route_to(ctx, id, order.target, order.reference_id, order.requester, next);
            }
            Some(location) => {
                let via = match ctx.view.peer_location(location) {
                    Some(to) => Remote::Peer(to),
                    // A remote site (BC-53): the trunk to that site, or the next one.
                    None => {
                        let (name, to) =
                            ctx.view.trunk_to(location, order.target).ok_or(cti::ErrorCode::InvalidState)?;
                        Remote::Trunk(name, to)
                    }
                };
                let routed = Routed { location: Some(location.to_owned()), ..routed };
                self.route_to_peer(ctx, id, routed, via);
            }
        }
        Ok(())
    }

    /// ISCC route: the call leaves its Routing Point for `routed.target` at the DR peer
    /// (or, from a remote site, at the site a trunk leads to).
    fn route_to_peer(&mut self, ctx: &mut Ctx<'_>, id: CallId, routed: Routed, via: Remote) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let rp = call.leave_rp(OnRp::Off);
        self.timers.cancel(id, CallTimer::RouterTimeout);
        self.timers.cancel(id, CallTimer::QueueMaxWait);
        ctx.events.push(DomainEvent::RouteUsed {
            conn_id: call.conn_id,
            rp: rp.clone(),
            target: routed.target.clone(),
            call_type: call.call_type,
            reference_id: routed.reference_id,
            requester: routed.requester,
        });
        call.redirections = 0;
        let target = routed.target.clone();
        call.on_rp = OnRp::Routed(routed);
        self.unpark(&rp, id);
        match via {
            Remote::Peer(to) => self.deliver_via_peer(ctx, id, &target, to),
            Remote::Trunk(name, to) => self.deliver_to_trunk(ctx, id, TrunkLeg::dialled(&name, to, &target)),
        }
    }

    /// A routed call was not answered where it went (`cause`): its ringing legs are
    /// cancelled and it parks on its Routing Point again.
    pub(super) fn return_to_routing_point(&mut self, ctx: &mut Ctx<'_>, id: CallId, cause: u16) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.routed().is_none() {
            return;
        }
        let OnRp::Routed(routed) = std::mem::take(&mut call.on_rp) else { return };
        let rang = std::mem::replace(&mut call.dn, routed.rp.clone());
        let conn_id = call.conn_id;
        call.acd = false;
        self.retire_legs(ctx, id);
        self.timers.cancel(id, CallTimer::NoAnswer);
        self.no_longer_busy(&rang, id);
        tracing::info!(conn_id, rp = %routed.rp, target = %routed.target, cause, "routed call not answered; back on its Routing Point");
        ctx.events.push(DomainEvent::RouteFailed {
            conn_id,
            rp: routed.rp.clone(),
            target: if routed.location.is_some() { routed.target.clone() } else { rang },
            location: routed.location,
            reference_id: routed.reference_id,
            requester: routed.requester,
            cause,
        });
        self.queue(ctx, id, &routed.rp);
    }

    /// RequestApplyTreatment: the router has the call in hand; `router-timeout` no longer
    /// applies (`queue-max-wait` still does). A `treatment` the configuration names plays
    /// to the caller (with a media partner).
    pub(crate) fn hold_for_router(
        &mut self,
        ctx: &mut Ctx<'_>,
        conn_id: u64,
        rp: &str,
        treatment: Option<&str>,
    ) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if self.calls.get(&id).and_then(|c| c.parked_on()) != Some(rp) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        self.timers.cancel(id, CallTimer::RouterTimeout);
        if let Some(treatment) = treatment {
            self.apply_treatment(ctx, id, treatment);
        }
        Ok(())
    }

    /// The router rejects the queued call (RouteTypeReject).
    pub(crate) fn reject_routed(&mut self, ctx: &mut Ctx<'_>, conn_id: u64, rp: &str) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if self.calls.get(&id).and_then(|c| c.parked_on()) != Some(rp) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        self.fail_call(ctx, id, Status::Decline);
        Ok(())
    }

    pub(super) fn route_to(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        target: &str,
        reference_id: Option<u64>,
        requester: Option<crate::DeskId>,
        next: OnRp,
    ) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let rp = call.leave_rp(next);
        call.acd = true;
        if reference_id.is_some() {
            // A routing instruction resets the default-routing counter (BC-39).
            call.redirections = 0;
        }
        self.timers.cancel(id, CallTimer::RouterTimeout);
        self.timers.cancel(id, CallTimer::QueueMaxWait);
        ctx.events.push(DomainEvent::RouteUsed {
            conn_id: call.conn_id,
            rp: rp.clone(),
            target: target.to_owned(),
            call_type: call.call_type,
            reference_id,
            requester,
        });
        self.unpark(&rp, id);
        self.deliver(ctx, id, target);
    }
}

/// Where an ISCC route leaves this site.
#[derive(Debug, Clone)]
enum Remote {
    /// Over the DR peer trunk.
    Peer(std::net::SocketAddr),
    /// Over a trunk to another Tandem site (from a remote site).
    Trunk(String, std::net::SocketAddr),
}

/// A RequestRouteCall as the B2BUA takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteOrder<'a> {
    pub(crate) conn_id: u64,
    pub(crate) rp: &'a str,
    pub(crate) target: &'a str,
    pub(crate) reference_id: Option<u64>,
    /// The desktop that asked (it alone hears the ReferenceID back).
    pub(crate) requester: Option<crate::DeskId>,
    /// `Location`: our site, the DR peer's name, or absent (here).
    pub(crate) location: Option<&'a str>,
}
