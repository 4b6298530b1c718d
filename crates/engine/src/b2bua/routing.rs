//! Routing Points (spec BC-36..39): a call parks on a Routing Point, desktops get
//! EventRouteRequest, RequestRouteCall sends it on; `router-timeout` and `default-dn` do
//! it when the router is silent, within `default-redirection-limit`.

use super::*;
use crate::Status;

impl B2bua {
    /// Parks a call on Routing Point `rp` and asks for a routing decision (BC-36, BC-39).
    pub(super) fn queue(&mut self, ctx: &mut Ctx<'_>, id: CallId, rp: &str) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.rp = Some(rp.to_owned());
        call.dn = rp.to_owned();
        *self.parked.entry(rp.to_owned()).or_default() += 1;
        self.parked_total += 1;
        let event = DomainEvent::RouteRequest {
            conn_id: call.conn_id,
            rp: rp.to_owned(),
            other: call.caller.clone(),
            call_type: call.call_type,
        };
        ctx.events.push(event);
        self.timers.set(ctx.now + ctx.config.options.queue_max_wait, id, CallTimer::QueueMaxWait);
        if ctx.view.router_watching(rp) {
            let timeout = ctx.config.dn_option(rp, |o| o.router_timeout).unwrap_or(ctx.config.options.router_timeout);
            self.timers.set(ctx.now + timeout, id, CallTimer::RouterTimeout);
        } else {
            // No router is listening: default routing at once.
            self.default_route(ctx, id);
        }
    }

    /// Sends a queued call to its Routing Point's `default-dn`, within
    /// `default-redirection-limit`; otherwise it stays queued (OQ-8).
    pub(super) fn default_route(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(rp) = call.rp.clone() else { return };
        let target =
            ctx.config.dn_option(&rp, |o| o.default_dn.clone()).or_else(|| ctx.config.options.default_dn.clone());
        let limit = ctx.config.options.default_redirection_limit;
        let Some(target) = target.filter(|_| call.redirections < limit) else {
            tracing::warn!(rp = %rp, conn_id = call.conn_id, "no default routing possible; the call stays queued");
            return;
        };
        call.redirections += 1;
        self.route_to(ctx, id, &target, None);
    }

    /// True when `rp` (or all Routing Points together) hold as many calls as allowed.
    pub(super) fn queue_full(&self, config: &NodeConfig, rp: &str) -> bool {
        let cap = config.capacity;
        self.parked_total >= cap.max_parked || self.parked.get(rp).is_some_and(|n| *n >= cap.max_parked_per_rp)
    }

    /// A call left Routing Point `rp`.
    pub(super) fn unpark(&mut self, rp: &str) {
        if let Some(n) = self.parked.get_mut(rp) {
            *n -= 1;
            self.parked_total -= 1;
            if *n == 0 {
                self.parked.remove(rp);
            }
        }
    }

    /// The call waited `queue-max-wait`: default routing if it is possible, else 480 (a
    /// Routing Point never holds a call forever).
    pub(super) fn queue_timeout(&mut self, ctx: &mut Ctx<'_>, id: CallId) {
        self.default_route(ctx, id);
        if let Some(call) = self.calls.get(&id).filter(|c| c.rp.is_some()) {
            tracing::warn!(conn_id = call.conn_id, "call waited queue-max-wait on its Routing Point");
            self.fail_call(ctx, id, Status::QueueTimeout);
        }
    }

    /// The router's RequestRouteCall for the call `conn_id` on Routing Point `rp`.
    pub(crate) fn route(
        &mut self,
        ctx: &mut Ctx<'_>,
        conn_id: u64,
        rp: &str,
        target: &str,
        reference_id: Option<u64>,
    ) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.rp.as_deref() != Some(rp) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        if !ctx.config.dns.kind(target).is_some_and(DnKind::is_agent_line) {
            return Err(cti::ErrorCode::UnknownDN);
        }
        self.route_to(ctx, id, target, reference_id);
        Ok(())
    }

    /// The router rejects the queued call (RouteTypeReject).
    pub(crate) fn reject_routed(&mut self, ctx: &mut Ctx<'_>, conn_id: u64, rp: &str) -> Result<(), cti::ErrorCode> {
        let id = *self.by_conn.get(&conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if self.calls.get(&id).and_then(|c| c.rp.as_deref()) != Some(rp) {
            return Err(cti::ErrorCode::NoSuchCall);
        }
        self.fail_call(ctx, id, Status::Decline);
        Ok(())
    }

    pub(super) fn route_to(&mut self, ctx: &mut Ctx<'_>, id: CallId, target: &str, reference_id: Option<u64>) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let rp = call.rp.take().unwrap_or_default();
        call.acd = true;
        self.timers.cancel(id, CallTimer::RouterTimeout);
        self.timers.cancel(id, CallTimer::QueueMaxWait);
        ctx.events.push(DomainEvent::RouteUsed {
            conn_id: call.conn_id,
            rp: rp.clone(),
            target: target.to_owned(),
            call_type: call.call_type,
            reference_id,
        });
        self.unpark(&rp);
        self.deliver(ctx, id, target);
    }
}
