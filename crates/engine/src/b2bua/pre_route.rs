//! The B2BUA as a Network SIP Server ([`crate::nss`]): a new INVITE is answered with a
//! `302` to the chosen site and starts no call, unless it is for a Routing Point a router
//! watches (BC-50): then it parks as on any site, EventRouteRequest goes to the router,
//! and RequestRouteCall (its `Location` or `OtherDN` naming a site, or an agent's DN) or,
//! after `router-timeout`, default routing answers it with the `302`. Either way nothing
//! of the call is kept once the 302 is sent; the transaction alone absorbs the ACK
//! (BC-52: no dialog, no EventRinging, no EventEstablished).

use super::*;
use crate::nss::{self, Choice, NssConfig, Why};

/// The NSS's state between calls: the latest figures and the turn counter.
#[derive(Debug, Default)]
pub(crate) struct PreRoute {
    pub(crate) figures: Option<nss::Figures>,
    turn: u64,
    pub(crate) stats: NssStats,
}

/// What the NSS did with the calls it was offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NssStats {
    /// Sent to the site where the dialled agent is logged in.
    pub to_agent: u64,
    /// Sent where the policy chose from the figures.
    pub by_policy: u64,
    /// Default-routed (no figures, or the router was silent).
    pub by_default: u64,
    /// Sent where a router's RequestRouteCall said.
    pub by_router: u64,
    /// Refused: no site that knows the number is in service (480).
    pub no_site: u64,
}

impl PreRoute {
    fn next_turn(&mut self) -> u64 {
        self.turn = self.turn.wrapping_add(1);
        self.turn - 1
    }

    fn count(&mut self, why: Why) {
        match why {
            Why::Agent => self.stats.to_agent += 1,
            Why::Policy => self.stats.by_policy += 1,
            Why::Default => self.stats.by_default += 1,
        }
    }
}

/// The contact of site `name` (its Trunk DN in the NSS's plan).
fn site_contact(config: &NodeConfig, name: &str) -> Option<std::net::SocketAddr> {
    config.dns.get(name)?.trunk.as_ref().map(|t| t.contact)
}

/// The 302's Contact: the dialled DN at the site.
fn contact_for(dn: &str, to: std::net::SocketAddr) -> String {
    format!("<sip:{dn}@{to}>")
}

impl B2bua {
    /// A new INVITE at a Network SIP Server.
    pub(super) fn pre_route_invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        nss: &NssConfig,
        key: TxKey,
        req: &Message<'_>,
        peer: Peer,
        caller: &Caller,
    ) {
        let arrival = placement::classify(req, peer, ctx.config, caller, ctx.seal);
        let tag = ctx.token(4);
        if arrival.out_of_hops {
            return refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, Status::TooManyHops);
        }
        let is_rp = ctx.config.dns.kind(&arrival.dn) == Some(DnKind::RoutingPoint);
        if is_rp && ctx.view.router_watching(&arrival.dn) {
            if self.queue_full(ctx.config, &arrival.dn) {
                return refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, Status::QueueFull);
            }
            return self.start_call(ctx, Incoming { key, req, peer, tag }, &arrival, Delivery::RoutingPoint);
        }
        let turn = self.pre_route.next_turn();
        let choice = nss::choose(nss, self.pre_route.figures.as_ref(), &arrival.dn, |s| ctx.view.trunk_usable(s), turn);
        let to = match &choice {
            Choice::Site(site, why) => site_contact(ctx.config, site).map(|to| (to, *why)),
            Choice::NoSite | Choice::Unknown => None,
        };
        match (to, choice) {
            (Some((to, why)), _) => {
                let mut b = reply_with(req, Status::MovedTemporarily, &tag, peer.addr);
                b.header("Contact", &contact_for(&arrival.dn, to));
                // To a carrier nothing verified: once, not on timer G (amplification).
                ctx.tx.respond_once(ctx.now, &key, 302, b.finish(None, b"").into());
                self.pre_route.count(why);
                tracing::debug!(dn = %arrival.dn, site = %to, why = why.as_str(), "pre-routed");
                ctx.events.push(DomainEvent::CallRedirected { dn: arrival.dn, caller: arrival.caller, to });
            }
            (None, Choice::Unknown) => refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, Status::NotFound),
            (None, _) => {
                self.pre_route.stats.no_site += 1;
                refuse_invite(ctx, &key, req, peer, &tag, &arrival.dn, Status::TemporarilyUnavailable)
            }
        }
    }

    /// RequestRouteCall at a Network SIP Server: `Location` names the site, or `OtherDN`
    /// does (a site's name), or `OtherDN` is a DN and goes where its agent is logged in
    /// (else where the policy sends calls for it).
    pub(super) fn pre_route_routed(
        &mut self,
        ctx: &mut Ctx<'_>,
        nss: &NssConfig,
        id: CallId,
        order: RouteOrder<'_>,
    ) -> Result<(), cti::ErrorCode> {
        let usable = |s: &str| ctx.view.trunk_usable(s);
        let named = order.location.into_iter().chain([order.target]).find(|s| nss.sites.iter().any(|n| n.name == *s));
        let site = match named {
            Some(site) if usable(site) => site.to_owned(),
            Some(_) => return Err(cti::ErrorCode::InvalidState),
            None => {
                let turn = self.pre_route.next_turn();
                match nss::choose(nss, self.pre_route.figures.as_ref(), order.target, usable, turn) {
                    Choice::Site(site, _) => site,
                    Choice::NoSite => return Err(cti::ErrorCode::InvalidState),
                    Choice::Unknown => return Err(cti::ErrorCode::UnknownDN),
                }
            }
        };
        // The caller is sent on with the number it dialled, unless the router named a DN.
        let user = if named.is_some() { None } else { Some(order.target) };
        self.pre_route.stats.by_router += 1;
        self.redirect_parked(ctx, id, &site, user, order.reference_id, order.requester);
        Ok(())
    }

    /// Default routing at a Network SIP Server (router silent, or gone).
    pub(super) fn pre_route_default(&mut self, ctx: &mut Ctx<'_>, nss: &NssConfig, id: CallId) {
        let Some(rp) = self.calls.get(&id).and_then(|c| c.parked_on().map(str::to_owned)) else { return };
        let turn = self.pre_route.next_turn();
        match nss::default_site(nss, &rp, |s| ctx.view.trunk_usable(s), turn) {
            Choice::Site(site, why) => {
                self.pre_route.count(why);
                self.redirect_parked(ctx, id, &site, None, None, None);
            }
            Choice::NoSite | Choice::Unknown => {
                self.pre_route.stats.no_site += 1;
                self.fail_call(ctx, id, Status::TemporarilyUnavailable);
            }
        }
    }

    /// A parked call leaves its Routing Point with a `302` to `site` (the dialled DN, or
    /// `user`, kept in the Contact); the call is forgotten.
    fn redirect_parked(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        site: &str,
        user: Option<&str>,
        reference_id: Option<u64>,
        requester: Option<crate::DeskId>,
    ) {
        let Some(to) = site_contact(ctx.config, site) else { return };
        let Some(call) = self.remove_call(id) else { return };
        let rp = call.parked_on().unwrap_or_default().to_owned();
        ctx.events.push(DomainEvent::RouteUsed {
            conn_id: call.conn_id,
            rp: rp.clone(),
            target: site.to_owned(),
            call_type: call.call_type,
            reference_id,
            requester,
        });
        let Some(req) = reparse(&call.a.invite) else { return };
        let mut b = response(&req, 302, Status::MovedTemporarily.wire().1, &call.a.local_tag, call.a.peer.addr);
        b.header("Contact", &contact_for(user.unwrap_or(&rp), to));
        ctx.tx.respond(ctx.now, &call.a.invite_tx, 302, b.finish(None, b"").into());
        tracing::debug!(conn_id = call.conn_id, rp = %rp, site, "routed call redirected");
        let (code, _) = Status::MovedTemporarily.wire();
        ctx.events.push(DomainEvent::CallFailed {
            conn_id: call.conn_id,
            dn: rp,
            caller: call.caller,
            caller_dn: call.caller_dn,
            code,
            status: Status::MovedTemporarily,
        });
    }
}
