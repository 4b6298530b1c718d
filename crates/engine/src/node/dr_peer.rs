//! The node's side of the DR peer link (spec 3.1-3.5, OQ-2, OQ-3): presence snapshots
//! out and in, settling double logins after a split, and the `dr-forward` decision.

use std::net::SocketAddr;
use std::time::Instant;

use sipcore::Peer;
use sipmsg::{HeaderName, Message};

use super::answer::Answer;
use super::Node;
use crate::peering::{DoubleLogin, Link, PRESENCE_TYPE};
use crate::Status;

impl Node {
    /// In BC mode, tells the DR peer our agents' logins when they changed or at heartbeat.
    pub(super) fn send_presence(&mut self, now: Instant) {
        let Some(contact) = self.peer_contact() else {
            self.peering.idle();
            return;
        };
        let version = self.desks.presence_version();
        let unix_now = self.unix_now(now);
        let seal = self.config.sealer(unix_now, self.peering.incarnation());
        let link = Link { site: &self.config.site, local: self.config.local, contact, seal };
        self.peering.maybe_send(now, link, version, self.desks.presence(), &mut self.transactions, &mut self.rng);
        while let Some(t) = self.transactions.poll_transmit() {
            self.transmits.push_back(t);
        }
    }
    /// The DR peer's address while BC mode holds (`dr-peer-trunk` set and in service).
    pub(super) fn peer_contact(&self) -> Option<SocketAddr> {
        let (name, trunk) = self.config.dr_peer_trunk()?;
        self.trunks.usable(name).then_some(trunk.contact)
    }
    /// A MESSAGE: the DR peer's presence snapshot, accepted only from the peer (sealed,
    /// when `peer_secret` is set: the gate checked) and only while the peer trunk is in
    /// service (a snapshot arriving while the link is down is ignored and counted).
    pub(super) fn peer_message(&mut self, now: Instant, req: &Message<'_>, peer: Peer) -> Answer {
        if !self.config.is_dr_peer(peer.addr) {
            return Answer::Final(Status::NotFromDrPeer);
        }
        if self.peer_contact().is_none() {
            self.stats.peer_refused += 1;
            return Answer::Final(Status::TemporarilyUnavailable);
        }
        let is_presence =
            req.header(HeaderName::ContentType).is_some_and(|ct| ct.trim().eq_ignore_ascii_case(PRESENCE_TYPE));
        // The gate checked the seal already (sender, incarnation, receiver); the snapshot
        // must name the peer's site where the deployment knows it.
        let peer = self.config.dr_peer_trunk().and_then(|(_, t)| t.site.clone());
        if is_presence && self.peering.apply(now, req.body(), peer.as_deref()) {
            self.resolve_double_logins(now);
            Answer::Final(Status::Ok)
        } else {
            Answer::Final(Status::UnsupportedMediaType)
        }
    }
    /// OQ-3: agents logged in both here and at the peer (a login accepted at each side
    /// while the link was down) keep only their newer login; both desktops are told.
    pub(super) fn resolve_double_logins(&mut self, now: Instant) {
        let site = self.config.site.clone();
        let peering = &self.peering;
        let doubles: Vec<(String, String, DoubleLogin)> = self
            .desks
            .presence()
            .filter_map(|(dn, agent, since)| {
                let verdict = peering.double_login(&site, &agent, since).or_else(|| {
                    // The peer may have logged its login out before we saw both.
                    peering.peer_yielded(&agent).then_some(DoubleLogin::OursStays)
                })?;
                Some((dn, agent, verdict))
            })
            .collect();
        let peer_site = self.peering.remote_site().to_owned();
        for (dn, agent, verdict) in doubles {
            match verdict {
                DoubleLogin::OursGoes => {
                    tracing::warn!(%agent, %dn, peer = %peer_site, "double login: ours was older, logged out");
                    self.peering.yield_agent(now, &agent);
                    self.desks.lose_double_login(&dn, &agent, &peer_site);
                }
                DoubleLogin::OursStays if self.peering.tell_winner_once(&agent) => {
                    tracing::warn!(%agent, %dn, peer = %peer_site, "double login: ours was newer, it stays");
                    self.desks.win_double_login(&dn, &peer_site);
                }
                DoubleLogin::OursStays => {}
            }
        }
        self.desk_out.extend(self.desks.drain());
    }
}
