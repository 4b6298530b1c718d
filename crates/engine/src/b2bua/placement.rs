//! Where a new INVITE goes, decided once: the INVITE is classified into an [`Arrival`]
//! (what was dialled, by whom, from where), the few facts the decision needs are read off
//! the site into [`Facts`], and [`place`], a pure function of the two, names the
//! [`Placement`]: refuse, 302 to the DR peer, deliver here, over the peer trunk, out of a
//! trunk, or park on a Routing Point.

use std::net::SocketAddr;

use sipcore::Peer;
use sipmsg::Message;

use crate::caller::Caller;
use crate::dn_plan::DnKind;
use crate::peer_seal::Sealer;
use crate::site_view::SiteView;
use crate::NodeConfig;
use crate::Status;

/// What an INVITE says about itself and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arrival {
    /// The dialled DN (the Request-URI's user part).
    pub(crate) dn: String,
    /// The caller (the From user part).
    pub(crate) caller: String,
    /// The caller is one of our agent lines calling from a phone (not through a trunk).
    pub(crate) caller_is_local: bool,
    /// It came from the DR peer's address.
    pub(crate) from_dr_peer: bool,
    /// The DR peer forwarded it already (our marker in the Request-URI, or arrival from
    /// the peer): it is never sent back (BC-17..25).
    pub(crate) forwarded: bool,
    /// Max-Forwards was 0.
    pub(crate) out_of_hops: bool,
    /// The caller would follow a 302 (false for a trunk marked `follows-redirects =
    /// false`: a remote site, BC-53).
    pub(crate) follows_redirects: bool,
}

/// Classifies an INVITE once. The caller is local only when it proved to be that DN
/// (or, with authentication off, claims an agent line from outside the trunks).
/// The DR peer is known from `proved` (its address and seal); the `x-dr-fwd` marker
/// counts only when `seal` (with `peer_secret`) finds it made by the peer for this DN.
pub(crate) fn classify(
    req: &Message<'_>,
    peer: Peer,
    config: &NodeConfig,
    proved: &Caller,
    seal: Option<Sealer<'_>>,
) -> Arrival {
    let uri = req.request_uri().and_then(sipmsg::Uri::parse);
    let dn = uri.as_ref().and_then(|u| u.user()).unwrap_or("").to_owned();
    let caller = req.from().and_then(|f| f.uri.user()).unwrap_or("").to_owned();
    let trunk = config.dns.trunk_from(&peer).and_then(|name| config.dns.get(name)?.trunk.as_ref());
    let from_trunk = trunk.is_some();
    let from_dr_peer = *proved == Caller::DrPeer;
    let mark = uri.as_ref().and_then(|u| u.as_sip()).and_then(|s| s.params.get("x-dr-fwd"));
    let marked = match (mark, seal) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(value), Some(seal)) => seal.mark_ok(&dn, value.unwrap_or("")),
    };
    Arrival {
        caller_is_local: match proved {
            Caller::Authenticated(dn) => *dn == caller && config.dns.kind(dn).is_some_and(DnKind::is_agent_line),
            Caller::Unchecked => !from_trunk && config.dns.kind(&caller).is_some_and(DnKind::is_agent_line),
            Caller::Trunk | Caller::DrPeer => false,
        },
        dn,
        caller,
        from_dr_peer,
        forwarded: marked || from_dr_peer,
        out_of_hops: req.max_forwards() == Some(0),
        follows_redirects: trunk.is_none_or(|t| t.follows_redirects),
    }
}

/// What the site knows that the decision needs, read once per INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Facts {
    /// The dialled DN's kind, if it is one of ours.
    pub(crate) kind: Option<DnKind>,
    /// A usable trunk for digits that are no DN of ours, and whether the caller may use it.
    pub(crate) trunk: Option<(String, SocketAddr, bool)>,
    /// Where the DR peer would take a call to the DN (`dr-forward`).
    pub(crate) peer_target: Option<SocketAddr>,
    /// The Routing Point holds as many calls as it may.
    pub(crate) queue_full: bool,
}

impl Facts {
    /// Reads the facts for `arrival` off the site; `queue_full` comes from the B2BUA.
    pub(crate) fn gather(arrival: &Arrival, view: SiteView<'_>, queue_full: impl FnOnce(&str) -> bool) -> Self {
        let kind = view.config.dns.kind(&arrival.dn);
        let trunk = match kind {
            None => view.trunk_for(&arrival.dn, &arrival.caller),
            _ => None,
        };
        let wanted = kind.is_some_and(DnKind::is_agent_line) && !arrival.forwarded;
        let peer_target = wanted.then(|| view.forward_target(&arrival.dn)).flatten();
        let queue_full = kind == Some(DnKind::RoutingPoint) && queue_full(&arrival.dn);
        Self { kind, trunk, peer_target, queue_full }
    }
}

/// What becomes of a new INVITE: an answer and no call, or a call delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A final answer, no call.
    Refuse(Status),
    /// `302` to the DR peer, where the agent is (a direct call from outside): no call.
    RedirectToPeer(SocketAddr),
    /// A call, delivered so.
    Call(Delivery),
}

/// Where a call is delivered (only a placement that makes a call has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Ring the DN's phones here.
    Local,
    /// An internal call for an agent at the DR peer: over the peer trunk, Tandem staying
    /// in the path (BC-29, OQ-14).
    ViaPeer(SocketAddr),
    /// Dialled digits that leave through a trunk (BC-32).
    Trunk(String, SocketAddr),
    /// Park on the Routing Point for a router.
    RoutingPoint,
}

/// The decision: a pure function of the INVITE's classification and the site's facts.
pub(crate) fn place(arrival: &Arrival, facts: &Facts) -> Placement {
    if arrival.out_of_hops {
        return Placement::Refuse(Status::TooManyHops);
    }
    let kind = match (facts.kind, &facts.trunk) {
        (Some(DnKind::Trunk), _) | (None, None) => return Placement::Refuse(Status::NotFound),
        // Only a caller proved local may call out, and only through a trunk open to it: no
        // toll fraud by a forged From.
        (None, Some((name, contact, true))) if arrival.caller_is_local => {
            return Placement::Call(Delivery::Trunk(name.clone(), *contact))
        }
        (None, Some(_)) => return Placement::Refuse(Status::TrunkNotAllowed),
        (Some(kind), _) => kind,
    };
    if kind == DnKind::RoutingPoint {
        return if facts.queue_full {
            Placement::Refuse(Status::QueueFull)
        } else {
            Placement::Call(Delivery::RoutingPoint)
        };
    }
    match facts.peer_target {
        // A local caller, or a remote site that would not follow a 302: over the peer trunk.
        Some(to)
            if kind.is_agent_line()
                && !arrival.forwarded
                && (arrival.caller_is_local || !arrival.follows_redirects) =>
        {
            Placement::Call(Delivery::ViaPeer(to))
        }
        Some(to) if kind.is_agent_line() && !arrival.forwarded => Placement::RedirectToPeer(to),
        _ => Placement::Call(Delivery::Local),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(caller_is_local: bool, forwarded: bool) -> Arrival {
        Arrival {
            dn: "1001".into(),
            caller: "1002".into(),
            caller_is_local,
            from_dr_peer: forwarded,
            forwarded,
            out_of_hops: false,
            follows_redirects: true,
        }
    }

    fn facts(kind: Option<DnKind>, peer: bool) -> Facts {
        Facts { kind, peer_target: peer.then(|| "127.0.0.1:5062".parse().expect("addr")), ..Facts::default() }
    }

    #[test]
    fn an_agent_at_the_peer_gets_a_302_for_outside_callers_and_the_trunk_for_local_ones() {
        let peer: SocketAddr = "127.0.0.1:5062".parse().expect("addr");
        let agent = Some(DnKind::Extension);
        assert_eq!(place(&arrival(false, false), &facts(agent, true)), Placement::RedirectToPeer(peer));
        assert_eq!(place(&arrival(true, false), &facts(agent, true)), Placement::Call(Delivery::ViaPeer(peer)));
        assert_eq!(
            place(&arrival(false, true), &facts(agent, true)),
            Placement::Call(Delivery::Local),
            "never sent back"
        );
        assert_eq!(place(&arrival(true, true), &facts(agent, true)), Placement::Call(Delivery::Local));
        assert_eq!(place(&arrival(false, false), &facts(agent, false)), Placement::Call(Delivery::Local));
        let remote_site = Arrival { follows_redirects: false, ..arrival(false, false) };
        assert_eq!(
            place(&remote_site, &facts(agent, true)),
            Placement::Call(Delivery::ViaPeer(peer)),
            "BC-53: corrected over the trunk"
        );
    }

    #[test]
    fn unknown_digits_leave_by_trunk_only_when_one_was_found_and_trunk_dns_are_not_dialled() {
        let contact: SocketAddr = "127.0.0.1:5080".parse().expect("addr");
        let out = Facts { trunk: Some(("GW".into(), contact, true)), ..Facts::default() };
        assert_eq!(place(&arrival(true, false), &out), Placement::Call(Delivery::Trunk("GW".into(), contact)));
        assert_eq!(place(&arrival(false, false), &out), Placement::Refuse(Status::TrunkNotAllowed), "not local");
        let closed = Facts { trunk: Some(("GW".into(), contact, false)), ..Facts::default() };
        assert_eq!(place(&arrival(true, false), &closed), Placement::Refuse(Status::TrunkNotAllowed), "callers");
        assert_eq!(place(&arrival(false, false), &Facts::default()), Placement::Refuse(Status::NotFound));
        assert_eq!(
            place(&arrival(true, false), &facts(Some(DnKind::Trunk), false)),
            Placement::Refuse(Status::NotFound)
        );
    }

    #[test]
    fn routing_points_park_unless_full_and_hops_run_out_first() {
        let rp = Some(DnKind::RoutingPoint);
        assert_eq!(place(&arrival(false, false), &facts(rp, false)), Placement::Call(Delivery::RoutingPoint));
        let full = Facts { queue_full: true, ..facts(rp, false) };
        assert_eq!(place(&arrival(false, false), &full), Placement::Refuse(Status::QueueFull));
        let hops = Arrival { out_of_hops: true, ..arrival(false, false) };
        assert_eq!(place(&hops, &facts(Some(DnKind::Extension), false)), Placement::Refuse(Status::TooManyHops));
    }
}
