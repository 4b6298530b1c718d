//! What the B2BUA may read of the rest of its site while it handles one input: who
//! watches a Routing Point, which trunks are in service, and where the DR peer would take
//! a call. A plain borrow of the node's parts (no call-backs), so a placement decision
//! is a function of values the caller can see.

use std::net::SocketAddr;

use crate::desks::Desks;
use crate::dn_plan::DrForward;
use crate::peering::Peering;
use crate::registrar::Bindings;
use crate::trunks::TrunkMonitor;
use crate::NodeConfig;

/// Read-only parts of a node, borrowed for one input.
#[derive(Clone, Copy)]
pub(crate) struct SiteView<'a> {
    pub(crate) config: &'a NodeConfig,
    pub(crate) desks: &'a Desks,
    pub(crate) trunks: &'a TrunkMonitor,
    pub(crate) peering: &'a Peering,
    pub(crate) bindings: &'a Bindings,
}

impl SiteView<'_> {
    /// True when a router (a CTI client registered in share mode, not a monitor) watches
    /// the Routing Point.
    pub(crate) fn router_watching(&self, rp: &str) -> bool {
        self.desks.routers(rp) > 0
    }

    /// The DR peer's address when `location` names it (its site name as its presence
    /// reports it, or the DR peer trunk's DN) and its trunk is in service.
    pub(crate) fn peer_location(&self, location: &str) -> Option<SocketAddr> {
        let (name, trunk) = self.config.dr_peer_trunk()?;
        let named = location == name || (!location.is_empty() && location == self.peering.remote_site());
        (named && self.trunks.usable(name)).then_some(trunk.contact)
    }

    /// A usable trunk to `location` (a Trunk DN's name, or the Tandem site at its far
    /// end) for a call to `dn`: that trunk when in service, else the trunk the dialled
    /// digits would take (the next priority, BC-53). Its name and contact.
    pub(crate) fn trunk_to(&self, location: &str, dn: &str) -> Option<(String, SocketAddr)> {
        let named = self.config.dns.trunks().find(|(name, t)| *name == location || t.site.as_deref() == Some(location));
        let (name, _) = named?;
        match self.config.dns.get(name).and_then(|d| d.trunk.as_ref()) {
            Some(t) if self.trunk_usable(name) => Some((name.to_owned(), t.contact)),
            _ => self.config.dns.trunk_for(dn, |n| self.trunk_usable(n)).map(|(n, t)| (n.to_owned(), t.contact)),
        }
    }

    /// True when a trunk is in service (not failed by OPTIONS polling).
    pub(crate) fn trunk_usable(&self, name: &str) -> bool {
        self.trunks.usable(name)
    }

    /// A usable trunk for dialled digits that are no DN of ours (BC-32): its name and
    /// contact, and whether `caller` may use it (`callers`).
    pub(crate) fn trunk_for(&self, digits: &str, caller: &str) -> Option<(String, SocketAddr, bool)> {
        self.config
            .dns
            .trunk_for(digits, |name| self.trunk_usable(name))
            .map(|(name, t)| (name.to_owned(), t.contact, t.admits_caller(caller)))
    }

    /// The DR peer's address when a call to `dn` should go there (`dr-forward`, BC-18..21, BC-26):
    /// the peer trunk is in service and the DN's effective `dr-forward` says so.
    pub(crate) fn forward_target(&self, dn: &str) -> Option<SocketAddr> {
        let (name, trunk) = self.config.dr_peer_trunk()?;
        let contact = trunk.contact;
        if !self.trunks.usable(name) {
            return None;
        }
        match self.config.dn_option(dn, |o| o.dr_forward).unwrap_or(self.config.options.dr_forward) {
            DrForward::Off => None,
            DrForward::NoAgent => {
                (self.desks.agent_on(dn).is_none() && self.peering.agent_on(dn).is_some()).then_some(contact)
            }
            DrForward::Oos => self.bindings.of(dn).is_empty().then_some(contact),
        }
    }
}
