//! The door every new request passes when `[site.auth]` is on: a REGISTER must prove it
//! is the DN it registers (To user), any other new request from a source that is no
//! trunk and not the DR peer must prove it is the caller it claims (From user). OPTIONS
//! (keep-alives, trunk polls) and CANCEL (which cannot be challenged, RFC 3261 section
//! 22.1) pass. What a request proved travels on as [`Caller`].

use std::time::Instant;

use sipcore::Peer;
use sipmsg::{Message, Method};

use super::answer::Answer;
use super::Node;
use crate::auth::{Asker, Guard, Verdict};
use crate::caller::Caller;
use crate::peer_seal::Sealer;
use crate::Status;

/// The gate's answer for one request.
#[derive(Debug)]
pub(super) enum Gate {
    /// Go on; the request comes from this caller.
    Pass(Caller),
    /// Answer this instead (401/407 with a challenge, or 403).
    Answer(Answer),
}

impl Node {
    /// True when `req` from `peer` must carry credentials.
    pub(super) fn needs_credentials(&self, req: &Message<'_>, peer: Peer) -> bool {
        if self.config.auth.is_none() || req.to().and_then(|t| t.tag()).is_some() {
            return false;
        }
        match req.method() {
            Some(Method::Register) => true,
            Some(Method::Options | Method::Cancel | Method::Ack) | None => false,
            Some(_) => !self.is_trunk_source(peer),
        }
    }

    /// The source is one of our trunks (by address or allow-list) or the DR peer (whose
    /// requests, REGISTER aside, the peer gate checks).
    pub(super) fn is_trunk_source(&self, peer: Peer) -> bool {
        self.config.dns.trunk_from(&peer).is_some() || self.config.is_dr_peer(peer.addr)
    }

    /// Checks a new request's credentials (see the module docs).
    pub(super) fn gate(&mut self, now: Instant, req: &Message<'_>, peer: Peer) -> Gate {
        // The DR peer registers no phones with us: a REGISTER from its address (spoofed,
        // most likely) is challenged like anyone's.
        if self.config.is_dr_peer(peer.addr) && req.method() != Some(Method::Register) {
            return self.peer_gate(now, req);
        }
        let Some(auth) = self.config.auth.as_ref() else {
            return Gate::Pass(Caller::Unchecked);
        };
        if !self.needs_credentials(req, peer) {
            return Gate::Pass(if self.is_trunk_source(peer) { Caller::Trunk } else { Caller::Unchecked });
        }
        let register = req.method() == Some(Method::Register);
        let who = if register { req.to().map(|t| t.uri) } else { req.from().map(|f| f.uri) };
        let identity = who.as_ref().and_then(|u| u.user()).unwrap_or("");
        let unix_now = self.unix_now(now);
        let asker = Asker { site: &self.config.site, identity, source: peer.addr.ip() };
        match self.guard.check(auth, req, asker, now, unix_now) {
            Verdict::Accepted(dn) => Gate::Pass(Caller::Authenticated(dn)),
            Verdict::Refused => {
                // One line per refused request (retransmissions are answered by its
                // transaction), in a form fail2ban can match: examples/fail2ban/.
                let (site, source) = (&self.config.site, peer.addr);
                tracing::warn!(%site, %source, dn = %identity, "SIP authentication failed: wrong credentials");
                Gate::Answer(Answer::Final(Status::BadCredentials))
            }
            Verdict::Throttled => {
                let (site, source) = (&self.config.site, peer.addr);
                tracing::debug!(%site, %source, dn = %identity, "SIP authentication refused: too many failures; slowed");
                Gate::Answer(Answer::Final(Status::TooManyFailures))
            }
            Verdict::Challenge { stale } => {
                let random = rand::Rng::gen(&mut self.rng);
                let headers = Guard::challenges(auth, asker, unix_now, random, stale);
                Gate::Answer(Answer::Challenge { proxy: !register, headers })
            }
        }
    }

    /// A new request from the DR peer's address: with `peer_secret`, everything but
    /// OPTIONS, CANCEL and ACK must carry the peer's seal; an unsealed copy is refused
    /// (403) and counted.
    fn peer_gate(&mut self, now: Instant, req: &Message<'_>) -> Gate {
        let exempt = matches!(req.method(), Some(Method::Options | Method::Cancel | Method::Ack));
        match self.sealer(now) {
            Some(sealer) if !exempt && !sealer.check(req) => {
                self.stats.peer_refused += 1;
                tracing::warn!(site = %self.config.site, "unsealed request from the DR peer's address refused");
                Gate::Answer(Answer::Final(Status::NotFromDrPeer))
            }
            _ => Gate::Pass(Caller::DrPeer),
        }
    }

    /// The pair's sealer at `now`, when `peer_secret` is set.
    pub(crate) fn sealer(&self, now: Instant) -> Option<Sealer<'_>> {
        self.config.sealer(self.unix_now(now), self.peering.incarnation())
    }

    /// Wall-clock seconds at `now`, from the shell's [`Node::set_wall_clock`].
    pub(super) fn unix_now(&self, now: Instant) -> u64 {
        let (at, unix) = self.wall_clock;
        unix + now.saturating_duration_since(at).as_secs()
    }

    /// Tells the node the wall-clock time (Unix seconds) at `now`: nonces carry it so
    /// that the other site of the pair, with its own monotonic clock, can judge their age.
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: u64) {
        self.wall_clock = (now, unix_secs);
    }
}
