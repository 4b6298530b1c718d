//! Ready-made configurations for scenarios: a BC pair of peers on loopback addresses, a
//! Network SIP Server in front of sites, and the figures it is fed.

use std::net::SocketAddr;
use std::time::Duration;

use engine::nss::{Counts, Figures, NssConfig, NssSite, Policy, SiteFigures};
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
        follows_redirects: true,
        site: None,
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

/// A Network SIP Server at `local` in front of `sites` (name, the site's configuration,
/// peer group): each site is a Trunk DN of the NSS's plan (its contact, OPTIONS every 2 s,
/// out of service after 1 s unanswered twice), with weight 1; the NSS knows the Routing
/// Points of the sites (a router may register on them) and sends calls by `policy`.
pub fn nss(local: SocketAddr, sites: &[(&str, &NodeConfig, &str)], policy: Policy) -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.site = "nss".into();
    c.local = local;
    c.dns = engine::DnPlan::default();
    let mut nss = NssConfig { policy, ..NssConfig::default() };
    for (name, site, group) in sites {
        let t = Trunk::new(site.local, "", 1, Duration::from_secs(2), Duration::from_secs(1));
        c.dns.singles.insert((*name).into(), Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(t) });
        for (dn, d) in site.dns.singles.iter().filter(|(_, d)| d.kind == DnKind::RoutingPoint) {
            c.dns.singles.insert(dn.clone(), Dn { trunk: None, ..d.clone() });
        }
        nss.sites.push(NssSite { name: (*name).into(), group: (*group).into(), weight: 1, dns: site.dns.clone() });
    }
    c.nss = Some(nss);
    c
}

/// The figures a Network SIP Server gets from the stat service's model: agents per site
/// (`names[i]` is the name of `SiteId` i; sites without a name are skipped) and where each
/// agent's DN is logged in.
pub fn nss_figures(model: &routing::Model, config: &routing::RoutingConfig, names: &[&str]) -> Figures {
    let counts = routing::site_counts::per_site(model, config, names.len());
    let count = |c: routing::site_counts::Counts| Counts { ready: c.ready, logged_in: c.logged_in };
    let sites = names.iter().zip(counts).map(|(name, c)| {
        let points = c.points.into_iter().map(|(rp, p)| (rp, count(p))).collect();
        ((*name).to_owned(), SiteFigures { all: count(c.all), points })
    });
    let agents = routing::site_counts::agent_sites(model)
        .into_iter()
        .filter_map(|(dn, site)| Some((dn, (*names.get(site)?).to_owned())))
        .collect();
    Figures { sites: sites.collect(), agents }
}
