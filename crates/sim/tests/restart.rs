//! A restarted site (issue 12): given its saved bindings and agent logins back, it
//! delivers a call at once without the phone registering again, its agents keep their
//! state, and the DR peer learns the logins again (a call there is redirected here).

use std::net::SocketAddr;
use std::time::Duration;

use engine::{Node, SavedAgent, SavedBinding};
use netem::LinkConfig;
use sim::{Pickup, Ua, UaEvent, World};

const SS1: &str = "127.0.0.1:5060";
const SS2: &str = "127.0.0.1:5062";
const GW: &str = "127.0.0.1:5080";
const PH1001: &str = "127.0.0.1:6001";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn peer(local: &str, other: &str, trunk: &str, prefix: &str) -> engine::NodeConfig {
    sim::fixtures::bc_peer(addr(local), addr(other), trunk, prefix, &[("A1001", "1001")])
}

fn finals(w: &mut World) -> Vec<u16> {
    let events = &w.ua(addr(GW)).events;
    events.iter().filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None }).collect()
}

#[test]
fn a_restarted_site_delivers_at_once_and_the_peer_learns_its_agents_again() {
    for seed in 0..10 {
        let link = LinkConfig { loss: 0.02, duplicate: 0.0, latency: Duration::from_millis(5), jitter: Duration::ZERO };
        let mut w = World::new(seed, peer(SS1, SS2, "TO_SS2", "9902"), link);
        w.add_site(peer(SS2, SS1, "TO_SS1", "9901"), seed + 1000);
        w.add(Ua::new("gw", addr(GW), Pickup::Never));
        w.add(Ua::new("1001", addr(PH1001), Pickup::After(Duration::from_millis(200))));
        w.register(addr(PH1001));
        w.run_for(Duration::from_secs(5));
        w.desk_at(addr(SS1), 1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
        w.desk_at(addr(SS1), 1, r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1001"}"#);
        w.desk_at(addr(SS1), 1, r#"{"message":"RequestAgentReady","ThisDN":"1001","AgentWorkMode":"ManualIn"}"#);
        w.run_for(Duration::from_secs(10));

        // What the shell's store holds, then the process dies and comes back.
        let now = w.now;
        let bindings: Vec<SavedBinding> = w
            .site_ref(addr(SS1))
            .bindings("1001")
            .iter()
            .map(|b| SavedBinding {
                dn: "1001".into(),
                contact: b.contact.clone(),
                expires_in: b.expires_at.saturating_duration_since(now),
                source: b.source,
                call_id: b.call_id.clone(),
                cseq: b.cseq,
                q: b.q,
            })
            .collect();
        let agents = vec![SavedAgent {
            agent_id: "A1001".into(),
            dn: "1001".into(),
            state: cti::AgentState::Ready,
            work_mode: cti::AgentWorkMode::ManualIn,
            logged_in_for: Duration::from_secs(10),
            in_state_for: Duration::from_secs(10),
        }];
        w.net.set_blocked(addr(SS1), addr(SS2), true);
        w.run_for(Duration::from_secs(8)); // down long enough for SS2 to see the trunk out of service
        let fresh = Node::new(peer(SS1, SS2, "TO_SS2", "9902"), seed + 7, w.now);
        w.sites.insert(addr(SS1), fresh);
        let now = w.now;
        let restored = w.site_at(addr(SS1)).restore(now, bindings, agents);
        assert_eq!((restored.bindings, restored.agents, restored.skipped), (1, 1, 0), "seed {seed}");
        assert_eq!(w.site_ref(addr(SS1)).agents_in(cti::AgentState::Ready), 1);
        w.net.set_blocked(addr(SS1), addr(SS2), false);

        let now = w.now;
        w.ua(addr(GW)).call_uri(now, addr(SS1), "sip:1001@127.0.0.1:5060");
        w.run_for(Duration::from_secs(5));
        assert_eq!(finals(&mut w), vec![200], "seed {seed}: delivered without a new REGISTER");

        w.run_for(Duration::from_secs(15)); // trunk back in service, presence resent
        let now = w.now;
        w.ua(addr(GW)).call_uri(now, addr(SS2), "sip:1001@127.0.0.1:5062");
        w.run_for(Duration::from_secs(5));
        assert_eq!(finals(&mut w), vec![200, 302, 200], "seed {seed}: SS2 knows the agent is at SS1 again");
    }
}

#[test]
fn saved_entries_that_no_longer_fit_are_skipped() {
    let mut w = World::new(1, peer(SS1, SS2, "TO_SS2", "9902"), LinkConfig::default());
    let now = w.now;
    let binding = |dn: &str, secs: u64, tcp: bool| SavedBinding {
        dn: dn.into(),
        contact: format!("sip:{dn}@127.0.0.1:6001"),
        expires_in: Duration::from_secs(secs),
        source: if tcp { engine::Peer::tcp(addr(PH1001), engine::ConnId(1)) } else { engine::Peer::udp(addr(PH1001)) },
        call_id: "c".into(),
        cseq: 1,
        q: 1000,
    };
    let agent = |id: &str, dn: &str| SavedAgent {
        agent_id: id.into(),
        dn: dn.into(),
        state: cti::AgentState::NotReady,
        work_mode: cti::AgentWorkMode::AuxWork,
        logged_in_for: Duration::from_secs(1),
        in_state_for: Duration::from_secs(1),
    };
    let bindings = vec![
        binding("1001", 60, false),
        binding("1001", 0, false),
        binding("9999", 60, false),
        binding("1002", 60, true),
    ];
    let agents = vec![agent("A1001", "1001"), agent("A9999", "1002"), agent("A1001", "1003")];
    let restored = w.site_at(addr(SS1)).restore(now, bindings, agents);
    assert_eq!((restored.bindings, restored.agents, restored.skipped), (1, 1, 5));
    assert_eq!(w.site_ref(addr(SS1)).agents_in(cti::AgentState::NotReady), 1);
}
