//! Out-of-service detection of Trunk DNs (spec BC-10, options `oos-check`/`oos-force`):
//! every `oos-check` seconds an OPTIONS goes to the trunk's contact; a trunk that leaves
//! two polls in a row unanswered for `oos-force` seconds each is out of service (outbound
//! calls skip it; for the DR peer trunk, the pair falls back to standalone), and the first
//! answer brings it back. Two misses, not one, so that a lost datagram does not flap the
//! Business Continuity mode.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sipcore::{Peer, TransactionLayer, TxKey};
use sipmsg::Method;

use crate::request_head::{out_of_dialog, Ends};

use crate::dn_plan::DnPlan;
use crate::event::DomainEvent;

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
            self.watches
                .insert(name.to_owned(), Watch { in_service, misses: 0, answered, next_poll: now, waiting: None });
        }
    }

    /// The trunk's far end refused a datagram (ICMP port unreachable: nothing listens
    /// there any more, its process is gone): out of service at once, without waiting for
    /// polls to go unanswered; the next answered poll brings it back. True if it was in
    /// service (only polled trunks can come back, so only they are taken out).
    pub(crate) fn refused(&mut self, name: &str, events: &mut Vec<DomainEvent>) -> bool {
        let Some(w) = self.watches.get_mut(name).filter(|w| w.in_service && w.answered) else {
            return false;
        };
        w.in_service = false;
        w.misses = w.misses.max(2);
        tracing::warn!(trunk = %name, "trunk out of service: its address refused our datagrams (process gone)");
        events.push(DomainEvent::DnOutOfService { dn: name.to_owned() });
        true
    }

    /// False only for a trunk that failed its polls.
    pub(crate) fn usable(&self, trunk: &str) -> bool {
        self.watches.get(trunk).is_none_or(|w| w.in_service)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.watches.values().map(|w| w.waiting.as_ref().map_or(w.next_poll, |(_, d)| (*d).min(w.next_poll))).min()
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
                let branch = format!("z9hG4bKoos{:016x}", rng.gen::<u64>());
                let target = format!("sip:{}", trunk.contact);
                let ends = Ends { local, from_user: "tandem", target: &target };
                let b = out_of_dialog(Method::Options, &ends, &branch, rng);
                let bytes: Arc<[u8]> = b.finish(None, b"").into();
                let key = tx.send_request(now, &branch, Method::Options, Peer::udp(trunk.contact), bytes);
                self.polls.insert(key.clone(), name.clone());
                w.waiting = Some((key, now + trunk.oos_force.max(std::time::Duration::from_millis(100))));
                w.next_poll = now + trunk.oos_check;
            }
        }
    }

    /// A final answer to one of our polls: the trunk is alive. Returns false when the
    /// transaction is not one of ours.
    pub(crate) fn on_response(&mut self, key: &TxKey, events: &mut Vec<DomainEvent>) -> bool {
        let Some(name) = self.polls.remove(key) else { return false };
        if let Some(w) = self.watches.get_mut(&name) {
            w.waiting = None;
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
