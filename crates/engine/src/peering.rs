//! The DR peer link (spec 3.1, OQ-2): which agents are logged in at the other peer.
//!
//! Each peer sends the other its full login presence (DN -> AgentID) in a SIP MESSAGE over
//! the `dr-peer-trunk`, whenever it changes and every few seconds as a heartbeat. A full
//! snapshot replaces the previous one, so nothing goes stale and nothing is counted twice;
//! when the trunk goes out of service the peer's presence is forgotten (BC-5, BC-26), and
//! when it returns the next snapshot resynchronises both sides.
//!
//! Each entry carries how long ago the agent logged in, so that an agent who logged in at
//! both peers while the link was down (accepted for disaster recovery, BC-15) is resolved
//! when it returns (OQ-3): the older login is logged out. Both peers reach the same verdict
//! from the same two ages; logins closer than [`SAME_TIME`] are decided by site name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sipcore::{Peer, TransactionLayer};
use sipmsg::Method;

use crate::peer_seal::SEAL_HEADER;
use crate::request_head::{with_call_id, Ends};

/// Content type of presence snapshots.
pub(crate) const PRESENCE_TYPE: &str = "application/vnd.tandem.presence+json";
/// Heartbeat interval of presence snapshots.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Two logins closer than this count as simultaneous (ages travel with a network delay).
const SAME_TIME: Duration = Duration::from_secs(2);
/// How long our snapshots keep naming an agent we logged out in favour of the peer.
const YIELD_NOTICE: Duration = Duration::from_secs(30);

/// The presence snapshot one peer sends the other: the body of a MESSAGE of
/// [`PRESENCE_TYPE`]. Fields in alphabetical order, so the JSON reads as it always has.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PresenceSnapshot {
    /// Milliseconds each DN's login has lasted, by DN.
    #[serde(default)]
    age_ms: BTreeMap<String, u64>,
    /// The AgentID logged in on each DN.
    agents: BTreeMap<String, String>,
    /// Random per start of the sender; with `seq`, orders snapshots.
    #[serde(default)]
    boot: u64,
    #[serde(default)]
    seq: u64,
    /// The sender's site name.
    #[serde(default)]
    site: String,
    /// Agents the sender logged out in favour of our login (OQ-3).
    #[serde(default)]
    yielded: Vec<String>,
}

/// A node's incarnation, from its seed and site name, drawn apart from the node's own
/// random stream (which it leaves as it was): in our snapshots and seals, so what we sent
/// is known when it comes back.
pub(crate) fn incarnation(seed: u64, site: &str) -> u64 {
    use rand::SeedableRng as _;
    let name = site.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_1dea_0000_0001).gen::<u64>() ^ name
}

/// The two ends of the DR peer link, for sending presence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link<'a> {
    /// Our site's name.
    pub(crate) site: &'a str,
    /// Our SIP address.
    pub(crate) local: SocketAddr,
    /// The DR peer's SIP address.
    pub(crate) contact: SocketAddr,
    /// Seals what we tell the peer (`peer_secret`), if configured.
    pub(crate) seal: Option<crate::peer_seal::Sealer<'a>>,
}

/// Which login of an agent logged in at both peers stays (OQ-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DoubleLogin {
    /// Ours is the newer one: it stays and the peer logs its own out.
    OursStays,
    /// Ours is the older one: log it out.
    OursGoes,
}

/// The peer's presence as last reported, and what we last told it.
#[derive(Debug, Default)]
pub(crate) struct Peering {
    remote: BTreeMap<String, String>,
    /// Since when each remote agent (by AgentID) is logged in, in our clock.
    remote_since: BTreeMap<String, Instant>,
    /// The peer's site name, from its snapshots.
    remote_site: String,
    /// Agents the peer logged out in favour of their login here (OQ-3), as it last said.
    remote_yielded: BTreeSet<String>,
    /// Agents whose login here we logged out in favour of the peer's, and when: named in
    /// our snapshots for [`YIELD_NOTICE`] so the peer can tell the winning desktop even if
    /// it never saw both logins at once.
    yielded: BTreeMap<String, Instant>,
    /// Winning logins whose desktops were told already.
    told: BTreeSet<String>,
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
    /// No peer seen yet; `incarnation` (random per start, never 0) marks our snapshots.
    pub(crate) fn new(incarnation: u64) -> Self {
        Self { boot: incarnation | 1, ..Self::default() }
    }

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
        self.remote_since.clear();
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

    /// The peer's site name as it last reported it.
    pub(crate) fn remote_site(&self) -> &str {
        &self.remote_site
    }

    /// OQ-3: the verdict on `agent`, logged in here since `ours` in site `site`, when the
    /// peer reports it logged in too; `None` when it does not.
    pub(crate) fn double_login(&self, site: &str, agent: &str, ours: Instant) -> Option<DoubleLogin> {
        let theirs = *self.remote_since.get(agent)?;
        let gap = if ours > theirs { ours - theirs } else { theirs - ours };
        let ours_newer = if gap < SAME_TIME { site > self.remote_site.as_str() } else { ours > theirs };
        Some(if ours_newer { DoubleLogin::OursStays } else { DoubleLogin::OursGoes })
    }

    /// We logged out our login of `agent` in favour of the peer's (OQ-3).
    pub(crate) fn yield_agent(&mut self, now: Instant, agent: &str) {
        self.yielded.insert(agent.to_owned(), now);
    }

    /// True once per winning login of `agent` here: the peer logged its own out (or is
    /// about to). Call when our login of `agent` stays.
    pub(crate) fn tell_winner_once(&mut self, agent: &str) -> bool {
        self.told.insert(agent.to_owned())
    }

    /// True if the peer says it logged `agent` out in favour of our login.
    pub(crate) fn peer_yielded(&self, agent: &str) -> bool {
        self.remote_yielded.contains(agent)
    }

    /// Our incarnation: random per start (never 0), in our snapshots and seals.
    pub(crate) fn incarnation(&self) -> u64 {
        self.boot
    }

    /// A presence snapshot from the peer, received at `now`; `false` when the body is not
    /// one, or is one of ours sent back to us (our incarnation), or names a site other
    /// than the peer's (`peer`, the name its seal or the deployment gives, if known).
    pub(crate) fn apply(&mut self, now: Instant, body: &[u8], peer: Option<&str>) -> bool {
        let Ok(snapshot) = serde_json::from_slice::<PresenceSnapshot>(body) else { return false };
        if snapshot.boot == self.boot || peer.is_some_and(|p| p != snapshot.site) {
            tracing::warn!(site = %snapshot.site, "presence snapshot naming the wrong site refused");
            return false;
        }
        if let Some((boot, seq)) = self.remote_seq {
            if snapshot.boot == boot && snapshot.seq <= seq {
                return true; // an older snapshot, delivered late: ignore it
            }
        }
        self.remote_seq = Some((snapshot.boot, snapshot.seq));
        let ages = &snapshot.age_ms;
        self.remote_since = snapshot
            .agents
            .iter()
            .map(|(dn, agent)| {
                let age = ages.get(dn).copied().unwrap_or(0);
                (agent.clone(), now.checked_sub(Duration::from_millis(age)).unwrap_or(now))
            })
            .collect();
        self.remote_site = snapshot.site;
        self.remote_yielded = snapshot.yielded.into_iter().collect();
        let remote = snapshot.agents;
        let (since, yielded) = (&self.remote_since, &self.remote_yielded);
        self.told.retain(|agent| since.contains_key(agent) || yielded.contains(agent));
        if remote != self.remote {
            tracing::info!(agents = remote.len(), "DR peer presence updated");
        }
        self.remote = remote;
        true
    }

    /// Sends our presence to the peer at `contact` when it changed (`version`) or the
    /// heartbeat is due.
    pub(crate) fn maybe_send(
        &mut self,
        now: Instant,
        link: Link<'_>,
        version: u64,
        presence: impl Iterator<Item = (String, String, Instant)>,
        tx: &mut TransactionLayer,
        rng: &mut ChaCha8Rng,
    ) {
        let Link { site, local, contact, seal } = link;
        self.yielded.retain(|_, at| now.saturating_duration_since(*at) < YIELD_NOTICE);
        let due = self.next_heartbeat.is_none_or(|t| t <= now);
        if self.sent_version == Some(version) && !due {
            return;
        }
        let mut snapshot = PresenceSnapshot { site: site.to_owned(), ..PresenceSnapshot::default() };
        for (dn, agent, since) in presence {
            let age = u64::try_from(now.saturating_duration_since(since).as_millis()).unwrap_or(u64::MAX);
            snapshot.age_ms.insert(dn.clone(), age);
            snapshot.agents.insert(dn, agent);
        }
        self.seq += 1;
        (snapshot.boot, snapshot.seq) = (self.boot, self.seq);
        snapshot.yielded = self.yielded.keys().cloned().collect();
        let body = serde_json::to_string(&snapshot).unwrap_or_default();
        let branch = format!("z9hG4bKdr{:016x}", rng.gen::<u64>());
        let target = format!("sip:presence@{contact}");
        let call_id = format!("{:016x}@tandem", rng.gen::<u64>());
        let mut b =
            with_call_id(Method::Message, &Ends { local, from_user: site, target: &target }, &branch, &call_id, rng);
        if let Some(seal) = seal {
            b.header(SEAL_HEADER, &seal.seal("MESSAGE", &call_id, [None; 4], body.as_bytes()));
        }
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
#[allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock
mod tests {
    use super::*;

    fn t0() -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(|| Instant::now() + Duration::from_secs(3600))
    }

    #[test]
    fn of_a_double_login_the_older_goes_on_both_sides_and_a_tie_goes_by_site_name() {
        let now = t0();
        // ss2 reports A1 logged in 60 s ago; ours (ss1) is 10 s old: ours stays.
        let mut at_ss1 = Peering::new(99);
        assert!(at_ss1.apply(
            now,
            br#"{"site":"ss2","boot":1,"seq":1,"agents":{"1001":"A1"},"age_ms":{"1001":60000}}"#,
            None
        ));
        assert_eq!(at_ss1.double_login("ss1", "A1", now - Duration::from_secs(10)), Some(DoubleLogin::OursStays));
        // The same two logins seen from ss2: its own is the older one and goes.
        let mut at_ss2 = Peering::new(99);
        assert!(at_ss2.apply(
            now,
            br#"{"site":"ss1","boot":1,"seq":1,"agents":{"1001":"A1"},"age_ms":{"1001":10000}}"#,
            None
        ));
        assert_eq!(at_ss2.double_login("ss2", "A1", now - Duration::from_secs(60)), Some(DoubleLogin::OursGoes));
        // Within a second of each other: the site whose name sorts last keeps it, on both sides.
        let ours = now - Duration::from_millis(10_500);
        assert_eq!(at_ss2.double_login("ss2", "A1", ours), Some(DoubleLogin::OursStays));
        assert!(at_ss1.apply(
            now,
            br#"{"site":"ss2","boot":1,"seq":2,"agents":{"1001":"A1"},"age_ms":{"1001":10500}}"#,
            None
        ));
        assert_eq!(at_ss1.double_login("ss1", "A1", now - Duration::from_secs(10)), Some(DoubleLogin::OursGoes));
        assert_eq!(at_ss1.double_login("ss1", "A2", now), None, "an agent the peer does not report");
    }

    #[test]
    fn a_late_older_snapshot_does_not_overwrite_a_newer_one() {
        let mut p = Peering::new(99);
        assert!(p.apply(t0(), br#"{"boot":7,"seq":2,"agents":{"1001":"A1001"}}"#, None));
        assert!(p.apply(t0(), br#"{"boot":7,"seq":1,"agents":{}}"#, None));
        assert_eq!(p.agent_on("1001"), Some("A1001"));
        // A restarted peer (new incarnation) starts its count again.
        assert!(p.apply(t0(), br#"{"boot":9,"seq":1,"agents":{}}"#, None));
        assert_eq!(p.agent_on("1001"), None);
        assert!(!p.apply(t0(), b"not json", None));
    }
}
