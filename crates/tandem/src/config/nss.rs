//! `[[nss]]`: a Network SIP Server in front of the file's sites (see `engine::nss`).
//!
//! ```toml
//! [[nss]]
//! name = "nss1"
//! sip_udp = "127.0.0.1:5070"
//! http = "127.0.0.1:9070"
//! policy = "most-ready"            # most-ready | most-logged-in | weighted
//! sites = ["site1", "site2"]       # default: every [[site]]
//! default_sites = ["site1"]        # default routing, in turn (default: the served sites)
//! weights = { site1 = 2, site2 = 1 }
//! ```
//!
//! Each served site becomes a Trunk DN of the NSS (its `sip_udp`, else `sip_tcp`, polled
//! with OPTIONS every `oos_check` seconds); the NSS knows their Routing Points (a router
//! may register on them over `cti`) and sends a call only to a site that provisions the
//! dialled number.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use engine::nss::{NssConfig, NssSite, Policy};
use engine::{Dn, DnKind, DnOptions, DnPlan, NodeConfig, Options, Trunk};
use serde::Deserialize;
use toml::Spanned;

use super::limits::LimitsFile;
use super::{Invalid, SiteConfig};

/// One `[[nss]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NssFile {
    /// Unique name (among sites and NSSs), used in logs and `endpoint` lines.
    pub(super) name: Spanned<String>,
    /// UDP listen address for SIP. Optional if `sip_tcp` is set.
    sip_udp: Option<Spanned<SocketAddr>>,
    /// TCP listen address for SIP. Optional if `sip_udp` is set.
    sip_tcp: Option<Spanned<SocketAddr>>,
    /// CTI WebSocket address, for a router taking the calls of the Routing Points (BC-50). Optional.
    cti: Option<Spanned<SocketAddr>>,
    /// Admin CTI tokens.
    #[serde(default)]
    cti_tokens: Vec<Spanned<String>>,
    /// CTI tokens with a role.
    #[serde(default)]
    cti_token: Vec<super::cti::CtiTokenFile>,
    /// HTTP address for `/metrics`. Optional.
    http: Option<Spanned<SocketAddr>>,
    /// `most-ready` (default), `most-logged-in` or `weighted`.
    policy: Option<Spanned<String>>,
    /// The sites served, by name. Default: every `[[site]]`.
    #[serde(default)]
    sites: Vec<Spanned<String>>,
    /// Where default routing goes, in turn. Default: the served sites.
    #[serde(default)]
    default_sites: Vec<Spanned<String>>,
    /// Shares under `policy = "weighted"`, by site name. Default 1 each.
    #[serde(default)]
    weights: BTreeMap<String, u32>,
    /// Seconds a call on a Routing Point waits for a router registered on it. Default 2.
    router_timeout: Option<u32>,
    /// Seconds between OPTIONS polls of each site. Default 2.
    oos_check: Option<u32>,
    /// Seconds a poll may go unanswered (twice in a row: out of service). Default 1.
    oos_force: Option<u32>,
    /// Capacity caps and flood limits, as `[site.limits]`.
    #[serde(default)]
    limits: LimitsFile,
}

impl NssFile {
    /// The NSS as a runnable site over `sites` (the file's validated sites).
    pub(super) fn into_site_config(self, sites: &[SiteConfig]) -> Result<SiteConfig, Invalid> {
        let name_at = self.name.span().start;
        let served = served(&self.sites, sites, name_at)?;
        let (dns, nss) = self.plan(&served, name_at)?;
        let options = Options {
            router_timeout: Duration::from_secs(self.router_timeout.unwrap_or(2).max(1).into()),
            ..Options::default()
        };
        let cti_at = self.cti.as_ref().map(|c| (*c.get_ref(), c.span().start));
        let cti_grants = super::cti::grants(&self.cti_tokens, self.cti_token, cti_at)?;
        let addr = self.sip_udp.as_ref().or(self.sip_tcp.as_ref()).map(|a| *a.get_ref());
        let local = addr.ok_or((name_at, format!("nss `{}`: set `sip_udp` or `sip_tcp`", self.name.get_ref())))?;
        let node = NodeConfig {
            site: self.name.into_inner(),
            dns,
            options,
            capacity: self.limits.capacity(),
            local,
            local_tls: None,
            agents: BTreeMap::new(),
            registrar: engine::RegistrarConfig::default(),
            transactions: sipcore::TransactionConfig::default(),
            calls: engine::CallConfig::default(),
            auth: None,
            peer_secret: None,
            nss: Some(nss),
            media: None,
        };
        Ok(SiteConfig {
            node,
            group: String::new(),
            sip_udp: self.sip_udp.map(Spanned::into_inner),
            sip_tcp: self.sip_tcp.map(Spanned::into_inner),
            sip_tls: None,
            cti_tls: None,
            stats_tls: None,
            cti: self.cti.map(Spanned::into_inner),
            cti_grants,
            not_ready_reasons: Vec::new(),
            agent_hashes: BTreeMap::new(),
            cti_clients: self.limits.cti_clients.max(1) as usize,
            cti_http: self.limits.http(),
            http: self.http.map(Spanned::into_inner),
            stats: None,
            tcp: self.limits.tcp(),
            store: None,
            peer_link: None,
            media: None,
            nss_served: None,
        })
    }

    /// The NSS's DN plan (a Trunk DN per served site, the sites' Routing Points) and its
    /// decision's configuration (policy, weights, default sites).
    fn plan(&self, served: &[&SiteConfig], name_at: usize) -> Result<(DnPlan, NssConfig), Invalid> {
        let check = Duration::from_secs(self.oos_check.unwrap_or(2).max(1).into());
        let force = Duration::from_secs(self.oos_force.unwrap_or(1).max(1).into());
        let mut dns = DnPlan::default();
        let mut nss = NssConfig { policy: policy(self.policy.as_ref())?, ..NssConfig::default() };
        for site in served {
            let contact = site.sip_udp.or(site.sip_tcp).ok_or((name_at, "a served site has no SIP address".into()))?;
            let trunk = Trunk::new(contact, "", 1, check, force);
            let name = site.node.site.clone();
            dns.singles
                .insert(name.clone(), Dn { kind: DnKind::Trunk, options: DnOptions::default(), trunk: Some(trunk) });
            for (dn, _) in site.node.dns.singles.iter().filter(|(_, d)| d.kind == DnKind::RoutingPoint) {
                let rp = Dn { kind: DnKind::RoutingPoint, options: DnOptions::default(), trunk: None };
                dns.singles.insert(dn.clone(), rp);
            }
            let weight = self.weights.get(&name).copied().unwrap_or(1);
            nss.sites.push(NssSite { name, group: site.group.clone(), weight, dns: site.node.dns.clone() });
        }
        if let Some(unknown) = self.weights.keys().find(|w| !nss.sites.iter().any(|s| &s.name == *w)) {
            return Err((name_at, format!("`weights`: `{unknown}` is not a site this NSS serves")));
        }
        for d in &self.default_sites {
            if !nss.sites.iter().any(|s| &s.name == d.get_ref()) {
                return Err((
                    d.span().start,
                    format!("`default_sites`: `{}` is not a site this NSS serves", d.get_ref()),
                ));
            }
            nss.default_sites.push(d.get_ref().clone());
        }
        Ok((dns, nss))
    }
}

/// The sites named (all when none are).
fn served<'a>(names: &[Spanned<String>], sites: &'a [SiteConfig], at: usize) -> Result<Vec<&'a SiteConfig>, Invalid> {
    if names.is_empty() {
        return Ok(sites.iter().collect());
    }
    let mut out = Vec::new();
    for name in names {
        let site = sites.iter().find(|s| &s.node.site == name.get_ref());
        out.push(site.ok_or((name.span().start, format!("`sites`: no [[site]] is called `{}`", name.get_ref())))?);
    }
    if out.is_empty() {
        return Err((at, "`sites`: name at least one site".into()));
    }
    Ok(out)
}

fn policy(text: Option<&Spanned<String>>) -> Result<Policy, Invalid> {
    let Some(text) = text else { return Ok(Policy::default()) };
    match text.get_ref().as_str() {
        "most-ready" => Ok(Policy::MostReady),
        "most-logged-in" => Ok(Policy::MostLoggedIn),
        "weighted" => Ok(Policy::Weighted),
        other => {
            Err((text.span().start, format!("`policy`: `{other}` is not one of most-ready, most-logged-in, weighted")))
        }
    }
}
