//! The DR peer link (spec 3.1, OQ-2): which agents are logged in at the other peer.
//!
//! Each peer sends the other its full login presence (DN -> AgentID) in a SIP MESSAGE over
//! the `dr-peer-trunk`, whenever it changes and every few seconds as a heartbeat. A full
//! snapshot replaces the previous one, so nothing goes stale and nothing is counted twice;
//! when the trunk goes out of service the peer's presence is forgotten (BC-5, BC-26), and
//! when it returns the next snapshot resynchronises both sides.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sipcore::{Peer, TransactionLayer};
use sipmsg::{MessageBuilder, Method};

/// Content type of presence snapshots.
pub(crate) const PRESENCE_TYPE: &str = "application/vnd.tandem.presence+json";
/// Heartbeat interval of presence snapshots.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The peer's presence as last reported, and what we last told it.
#[derive(Debug, Default)]
pub(crate) struct Peering {
    remote: BTreeMap<String, String>,
    /// The (incarnation, sequence) of the last snapshot applied: a retransmitted older
    /// snapshot that arrives late must not overwrite a newer one.
    remote_seq: Option<(u64, u64)>,
    sent_version: Option<u64>,
    next_heartbeat: Option<Instant>,
    /// Our incarnation (random per start) and snapshot counter.
    boot: u64,
    seq: u64,
}

impl Peering {
    /// The agent the peer reports on `dn`.
    pub(crate) fn agent_on(&self, dn: &str) -> Option<&str> {
        self.remote.get(dn).map(String::as_str)
    }

    /// True if the peer reports `agent` logged in anywhere.
    pub(crate) fn has_agent(&self, agent: &str) -> bool {
        self.remote.values().any(|a| a == agent)
    }

    /// The link went down: forget the peer's presence.
    pub(crate) fn link_lost(&mut self) {
        tracing::warn!(forgotten_agents = self.remote.len(), "DR peer link down: working standalone");
        self.remote.clear();
        self.remote_seq = None;
        self.sent_version = None;
    }

    /// The link came back: send our presence at once.
    pub(crate) fn link_restored(&mut self) {
        self.sent_version = None;
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_heartbeat
    }

    /// A presence snapshot from the peer; `false` when the body is not one.
    pub(crate) fn apply(&mut self, body: &[u8]) -> bool {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return false };
        let Some(agents) = value.get("agents").and_then(|a| a.as_object()) else { return false };
        let stamp = (
            value.get("boot").and_then(|b| b.as_u64()).unwrap_or(0),
            value.get("seq").and_then(|s| s.as_u64()).unwrap_or(0),
        );
        if let Some((boot, seq)) = self.remote_seq {
            if stamp.0 == boot && stamp.1 <= seq {
                return true; // an older snapshot, delivered late: ignore it
            }
        }
        self.remote_seq = Some(stamp);
        let remote: BTreeMap<String, String> =
            agents.iter().filter_map(|(dn, a)| a.as_str().map(|a| (dn.clone(), a.to_owned()))).collect();
        if remote != self.remote {
            tracing::info!(agents = remote.len(), "DR peer presence updated");
        }
        self.remote = remote;
        true
    }

    /// Sends our presence to the peer at `contact` when it changed (`version`) or the
    /// heartbeat is due.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn maybe_send(
        &mut self,
        now: Instant,
        site: &str,
        local: SocketAddr,
        contact: SocketAddr,
        version: u64,
        presence: impl Iterator<Item = (String, String)>,
        tx: &mut TransactionLayer,
        rng: &mut ChaCha8Rng,
    ) {
        let due = self.next_heartbeat.is_none_or(|t| t <= now);
        if self.sent_version == Some(version) && !due {
            return;
        }
        let agents: serde_json::Map<String, serde_json::Value> = presence.map(|(dn, a)| (dn, a.into())).collect();
        if self.boot == 0 {
            self.boot = rng.gen::<u64>() | 1;
        }
        self.seq += 1;
        let body =
            serde_json::json!({ "site": site, "boot": self.boot, "seq": self.seq, "agents": agents }).to_string();
        let branch = format!("z9hG4bKdr{:016x}", rng.gen::<u64>());
        let mut b = MessageBuilder::request(Method::Message, &format!("sip:presence@{contact}"));
        b.header_fmt("Via", format_args!("SIP/2.0/UDP {local};branch={branch};rport"));
        b.header("Max-Forwards", "70");
        b.header_fmt("From", format_args!("<sip:{site}@{local}>;tag={:08x}", rng.gen::<u32>()));
        b.header_fmt("To", format_args!("<sip:presence@{contact}>"));
        b.header_fmt("Call-ID", format_args!("{:016x}@tandem", rng.gen::<u64>()));
        b.header("CSeq", "1 MESSAGE");
        let bytes: Arc<[u8]> = b.finish(Some(PRESENCE_TYPE), body.as_bytes()).into();
        tx.send_request(now, &branch, Method::Message, Peer::udp(contact), bytes);
        self.sent_version = Some(version);
        self.next_heartbeat = Some(now + HEARTBEAT);
    }

    /// Not in BC mode: nothing to send.
    pub(crate) fn idle(&mut self) {
        self.next_heartbeat = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_older_snapshot_does_not_overwrite_a_newer_one() {
        let mut p = Peering::default();
        assert!(p.apply(br#"{"boot":7,"seq":2,"agents":{"1001":"A1001"}}"#));
        assert!(p.apply(br#"{"boot":7,"seq":1,"agents":{}}"#));
        assert_eq!(p.agent_on("1001"), Some("A1001"));
        // A restarted peer (new incarnation) starts its count again.
        assert!(p.apply(br#"{"boot":9,"seq":1,"agents":{}}"#));
        assert_eq!(p.agent_on("1001"), None);
        assert!(!p.apply(b"not json"));
    }
}
