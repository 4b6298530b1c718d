//! Out-of-service detection of Trunk DNs (spec BC-10, options `oos-check`/`oos-force`):
//! every `oos-check` seconds an OPTIONS goes to the trunk's contact; a trunk that leaves
//! two polls in a row unanswered for `oos-force` seconds each is out of service (outbound
//! calls skip it; for the DR peer trunk, the pair falls back to standalone), and the first
//! answer brings it back. Two misses, not one, so that a lost datagram does not flap the
//! Business Continuity mode.
//!
//! A refusal (ICMP port unreachable on the socket connected to the DR peer) is only a
//! hint: anyone off the path can forge one. It starts a confirmation: [`CONFIRM_PROBES`]
//! OPTIONS probes [`CONFIRM_GAP`] apart; any answer (which a forger cannot make: it
//! would need the probe's random branch) ends it with the trunk in service, and only
//! when none is answered within [`CONFIRM_WINDOW`] does the trunk go out of service.
//! A killed peer process is still noticed in a fraction of a second.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sipcore::{Peer, TransactionLayer, TxKey};
use sipmsg::Method;

use crate::request_head::{out_of_dialog, Ends};

use crate::dn_plan::DnPlan;
use crate::event::DomainEvent;

/// How long a refusal's confirmation waits for an answer to its probes.
pub(crate) const CONFIRM_WINDOW: Duration = Duration::from_millis(300);
/// Probes a confirmation sends (the first at once), in case one is lost.
const CONFIRM_PROBES: u32 = 3;
/// Between two probes of a confirmation.
const CONFIRM_GAP: Duration = Duration::from_millis(100);

/// A refusal being confirmed: probes sent, when the next goes, when silence confirms it.
#[derive(Debug)]
struct Confirm {
    sent: Vec<TxKey>,
    next_probe: Instant,
    deadline: Instant,
}

#[derive(Debug)]
struct Watch {
    in_service: bool,
    /// Polls in a row left unanswered.
    misses: u32,
    /// A poll was answered since the last (re)start: the far end was there, so a refusal
    /// means it went away (a refusal before then is a peer not started yet).
    answered: bool,
    next_poll: Instant,
    /// The poll waiting for an answer, and when it counts as unanswered.
    waiting: Option<(TxKey, Instant)>,
    /// A refusal under confirmation.
    confirm: Option<Confirm>,
}

/// The state of every polled trunk.
#[derive(Debug, Default)]
pub(crate) struct TrunkMonitor {
    watches: BTreeMap<String, Watch>,
    polls: HashMap<TxKey, String>,
}

impl TrunkMonitor {
    /// Starts (or restarts, after a reload) watching the plan's trunks with `oos-check` set.
    pub(crate) fn reset(&mut self, now: Instant, plan: &DnPlan) {
        let old = std::mem::take(&mut self.watches);
        self.polls.clear();
        for (name, _) in plan.trunks().filter(|(_, t)| !t.oos_check.is_zero()) {
            let in_service = old.get(name).is_none_or(|w| w.in_service);
            let answered = old.get(name).is_some_and(|w| w.answered);
            self.watches.insert(
                name.to_owned(),
                Watch { in_service, misses: 0, answered, next_poll: now, waiting: None, confirm: None },
            );
        }
    }

    /// The trunk's far end refused a datagram (ICMP port unreachable: its process may be
    /// gone, or someone forged the ICMP): a confirmation starts (see the module docs), its
    /// first probe at the next [`TrunkMonitor::on_timeout`], due at `now`. True if one
    /// started (the trunk is polled, in service, answered before, and not confirming).
    pub(crate) fn refused(&mut self, now: Instant, name: &str) -> bool {
        let Some(w) = self.watches.get_mut(name).filter(|w| w.in_service && w.answered && w.confirm.is_none()) else {
            return false;
        };
        tracing::info!(trunk = %name, "the trunk's address refused a datagram: confirming with probes");
        w.confirm = Some(Confirm { sent: Vec::new(), next_probe: now, deadline: now + CONFIRM_WINDOW });
        true
    }

    /// False only for a trunk that failed its polls.
    pub(crate) fn usable(&self, trunk: &str) -> bool {
        self.watches.get(trunk).is_none_or(|w| w.in_service)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let confirm = |w: &Watch| w.confirm.as_ref().map(|c| c.next_probe.min(c.deadline));
        let watch = |w: &Watch| {
            let poll = w.waiting.as_ref().map_or(w.next_poll, |(_, d)| (*d).min(w.next_poll));
            confirm(w).map_or(poll, |c| c.min(poll))
        };
        self.watches.values().map(watch).min()
    }

    /// Sends due polls and declares unanswered trunks out of service.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        plan: &DnPlan,
        local: std::net::SocketAddr,
        tx: &mut TransactionLayer,
        rng: &mut ChaCha8Rng,
        events: &mut Vec<DomainEvent>,
    ) {
        for (name, w) in &mut self.watches {
            let Some(trunk) = plan.get(name).and_then(|d| d.trunk.as_ref()) else { continue };
            let probe = |tx: &mut TransactionLayer, rng: &mut ChaCha8Rng| {
                let branch = format!("z9hG4bKoos{:016x}", rng.gen::<u64>());
                let target = format!("sip:{}", trunk.contact);
                let ends = Ends { local, from_user: "tandem", target: &target };
                let b = out_of_dialog(Method::Options, &ends, &branch, rng);
                let bytes: Arc<[u8]> = b.finish(None, b"").into();
                tx.send_request(now, &branch, Method::Options, Peer::udp(trunk.contact), bytes)
            };
            if let Some(c) = &mut w.confirm {
                if c.deadline <= now {
                    for key in std::mem::take(&mut c.sent) {
                        self.polls.remove(&key);
                    }
                    w.confirm = None;
                    w.misses = w.misses.max(2);
                    if w.in_service {
                        w.in_service = false;
                        tracing::warn!(trunk = %name, "trunk out of service: refused, and no probe answered");
                        events.push(DomainEvent::DnOutOfService { dn: name.clone() });
                    }
                } else if c.next_probe <= now {
                    let key = probe(tx, rng);
                    self.polls.insert(key.clone(), name.clone());
                    c.sent.push(key);
                    c.next_probe = if c.sent.len() < CONFIRM_PROBES as usize { now + CONFIRM_GAP } else { c.deadline };
                }
            }
            if let Some((key, deadline)) = w.waiting.clone() {
                if deadline <= now {
                    w.waiting = None;
                    self.polls.remove(&key);
                    w.misses += 1;
                    if w.in_service && w.misses >= 2 {
                        w.in_service = false;
                        tracing::warn!(trunk = %name, "trunk out of service: OPTIONS unanswered");
                        events.push(DomainEvent::DnOutOfService { dn: name.clone() });
                    }
                }
            }
            if w.next_poll <= now && w.waiting.is_none() {
                let key = probe(tx, rng);
                self.polls.insert(key.clone(), name.clone());
                w.waiting = Some((key, now + trunk.oos_force.max(Duration::from_millis(100))));
                w.next_poll = now + trunk.oos_check;
            }
        }
    }

    /// A final answer to one of our polls: the trunk is alive. Returns false when the
    /// transaction is not one of ours.
    pub(crate) fn on_response(&mut self, key: &TxKey, events: &mut Vec<DomainEvent>) -> bool {
        let Some(name) = self.polls.remove(key) else { return false };
        if let Some(w) = self.watches.get_mut(&name) {
            if let Some(c) = w.confirm.take() {
                tracing::info!(trunk = %name, "a confirmation probe was answered: the refusal was no death");
                for other in c.sent.iter().filter(|k| *k != key) {
                    self.polls.remove(other);
                }
            }
            if w.waiting.as_ref().is_some_and(|(k, _)| k == key) {
                w.waiting = None;
            }
            w.misses = 0;
            w.answered = true;
            if !w.in_service {
                w.in_service = true;
                tracing::info!(trunk = %name, "trunk back in service");
                events.push(DomainEvent::DnBackInService { dn: name });
            }
        }
        true
    }

    /// True when the transaction is one of our polls (its end needs no other handling).
    pub(crate) fn owns(&self, key: &TxKey) -> bool {
        self.polls.contains_key(key)
    }
}
