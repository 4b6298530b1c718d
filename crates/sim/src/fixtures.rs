//! Ready-made configurations for scenarios: a BC pair of peers on loopback addresses.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{AgentLogin, Dn, DnKind, DnOptions, DrForward, NodeConfig, Trunk};

/// One peer of a BC pair at `local`: DNs 1000-1999 (the test default), the given
/// (AgentID, DN) logins, a trunk named `trunk` to `other` with access prefix `prefix`
/// used as `dr-peer-trunk`, `dr-forward=no-agent`, Routing Point 5000, and the pair's
/// `peer_secret` [`PAIR_SECRET`] (so every scenario runs over a sealed peer link).
pub fn bc_peer(local: SocketAddr, other: SocketAddr, trunk: &str, prefix: &str, agents: &[(&str, &str)]) -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.site = local.to_string();
    c.local = local;
    for (id, dn) in agents {
        c.agents.insert((*id).into(), AgentLogin { id: (*id).into(), password: None, default_dn: Some((*dn).into()) });
    }
    let t = Trunk {
        contact: other,
        prefix: prefix.into(),
        priority: 1,
        oos_check: Duration::from_secs(2),
        oos_force: Duration::from_secs(1),
        allow: Vec::new(),
        callers: Vec::new(),
    };
    c.dns.singles.insert(trunk.into(), Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(t) });
    c.dns.singles.insert("5000".into(), Dn { kind: DnKind::RoutingPoint, options: DnOptions::default(), trunk: None });
    c.options.dr_peer_trunk = Some(trunk.into());
    c.options.dr_forward = DrForward::NoAgent;
    c.peer_secret = Some(PAIR_SECRET.to_vec());
    c
}

/// The `peer_secret` of [`bc_peer`]'s pairs.
pub const PAIR_SECRET: &[u8] = b"the sim pair's secret";
