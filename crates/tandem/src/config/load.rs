//! Loading a whole file: parsing, the checks that look across tables (names and
//! addresses used once, `[routing]` naming what the sites know, trunks that lead to
//! another site), and errors with the line they point at.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use engine::DnKind;

use super::{nss, Deployment, FileConfig, Invalid, SiteConfig, SiteFile};

/// A configuration error with the line it points at.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub(crate) struct ConfigError {
    origin: String,
    line: usize,
    message: String,
}

/// Parses and validates a configuration file's text. `origin` names it in errors.
pub(crate) fn load(text: &str, origin: &str) -> Result<Vec<SiteConfig>, ConfigError> {
    load_deployment(text, origin).map(|d| d.runnable())
}

/// Parses and validates a whole deployment file: sites and `[routing]`.
pub(crate) fn load_deployment(text: &str, origin: &str) -> Result<Deployment, ConfigError> {
    let err = |offset: usize, message: String| ConfigError {
        origin: origin.to_owned(),
        line: line_of(text, offset),
        message,
    };
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        err(offset, e.message().to_owned())
    })?;
    if file.site.is_empty() {
        return Err(err(0, "`site`: at least one [[site]] is needed".into()));
    }
    let mut names = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    let mut sites = Vec::new();
    for site in file.site {
        check_site(&site, &mut names, &mut addrs, file.routing.is_some()).map_err(|(at, m)| err(at, m))?;
        let site = site.into_site_config().map_err(|(offset, message)| err(offset, message))?;
        sites.push(site);
    }
    name_trunk_sites(&mut sites);
    let routing = match file.routing {
        Some(r) => {
            let at = r.span().start;
            let compiled = r.into_inner().compile().map_err(|e| err(at, format!("[routing]: {e}")))?;
            check_routing(&compiled, &sites).map_err(|m| err(at, format!("[routing]: {m}")))?;
            Some(compiled)
        }
        None => None,
    };
    let nss = network_sip_servers(file.nss, &sites, routing.as_ref(), &mut names).map_err(|(at, m)| err(at, m))?;
    Ok(Deployment { sites, routing, nss })
}

/// What a `[[site]]` table must be beside the others: a name and SIP addresses of its
/// own, DNs, sane registrar and timer values, and `[routing]` for a `stats` address.
fn check_site(
    site: &SiteFile,
    names: &mut BTreeSet<String>,
    addrs: &mut BTreeSet<(bool, SocketAddr)>,
    has_routing: bool,
) -> Result<(), Invalid> {
    let err = |at: usize, message: String| Err((at, message));
    if !names.insert(site.name.get_ref().clone()) {
        return err(site.name.span().start, format!("`name`: site `{}` is defined twice", site.name.get_ref()));
    }
    if site.sip_udp.is_none() && site.sip_tcp.is_none() {
        return err(site.name.span().start, format!("site `{}`: set `sip_udp` or `sip_tcp`", site.name.get_ref()));
    }
    for (field, addr) in [("sip_udp", &site.sip_udp), ("sip_tcp", &site.sip_tcp)] {
        // Port 0 (any free port) never clashes.
        if let Some(a) = addr.as_ref().filter(|a| a.get_ref().port() != 0) {
            if !addrs.insert((field == "sip_udp", *a.get_ref())) {
                return err(a.span().start, format!("`{field}`: {} is already used by another site", a.get_ref()));
            }
        }
    }
    if site.dns.get_ref().is_empty() {
        return err(site.dns.span().start, "`dns`: provision at least one DN or range".into());
    }
    let r = &site.registrar;
    if r.min_expires == 0 || r.min_expires > r.max_expires {
        return err(site.name.span().start, "`registrar.min_expires` must be between 1 and `max_expires`".into());
    }
    if site.timers.t1_ms == 0 || site.timers.t2_ms < site.timers.t1_ms {
        return err(site.name.span().start, "`timers`: need 0 < t1_ms <= t2_ms".into());
    }
    if let (Some(stats), false) = (&site.stats, has_routing) {
        return err(stats.span().start, "`stats`: a stat service needs a [routing] section".into());
    }
    Ok(())
}

/// The `[[nss]]` tables, each with the sites it serves (what its statistics links reach).
fn network_sip_servers(
    tables: Vec<nss::NssFile>,
    sites: &[SiteConfig],
    routing: Option<&routing::RoutingConfig>,
    names: &mut BTreeSet<String>,
) -> Result<Vec<SiteConfig>, Invalid> {
    let mut nss = Vec::new();
    for file in tables {
        if !names.insert(file.name.get_ref().clone()) {
            let message = format!("`name`: `{}` is already the name of a site or NSS", file.name.get_ref());
            return Err((file.name.span().start, message));
        }
        let mut site = file.into_site_config(sites)?;
        let served: Vec<SiteConfig> = site
            .node
            .nss
            .iter()
            .flat_map(|n| &n.sites)
            .filter_map(|n| sites.iter().find(|s| s.node.site == n.name).cloned())
            .collect();
        let served = Deployment { sites: served, routing: routing.cloned(), nss: Vec::new() };
        site.nss_served = Some(Box::new(served));
        nss.push(site);
    }
    Ok(nss)
}

/// A trunk whose `contact` is another site's SIP address leads to that site: a
/// RequestRouteCall `Location` may name the site (from a remote site, BC-53).
fn name_trunk_sites(sites: &mut [SiteConfig]) {
    let addrs: Vec<(SocketAddr, String)> = sites
        .iter()
        .flat_map(|s| [s.sip_udp, s.sip_tcp].into_iter().flatten().map(|a| (a, s.node.site.clone())))
        .collect();
    for site in sites {
        for dn in site.node.dns.singles.values_mut() {
            if let Some(t) = dn.trunk.as_mut() {
                t.site = addrs.iter().find(|(a, _)| *a == t.contact).map(|(_, name)| name.clone());
            }
        }
    }
}

/// The routing section names Routing Points and agents the sites know.
fn check_routing(routing: &routing::RoutingConfig, sites: &[SiteConfig]) -> Result<(), String> {
    for dn in routing.points.keys() {
        if !sites.iter().any(|s| s.node.dns.kind(dn) == Some(DnKind::RoutingPoint)) {
            return Err(format!("point `{dn}` is no Routing Point of any site"));
        }
    }
    for id in routing.agents.keys() {
        if !sites.iter().any(|s| s.node.agents.contains_key(id)) {
            return Err(format!("agent `{id}` is no agent login of any site ([[site.agent]])"));
        }
    }
    if sites.iter().any(|s| s.cti.is_none()) {
        return Err("every site needs a `cti` address: routers and stat services connect to all of them".into());
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}
