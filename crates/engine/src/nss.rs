//! The Network SIP Server role (spec 3.9, BC-50..52): a node that owns no phones and no
//! agents and stays in no call. A carrier's INVITE gets a `302` naming the site (a SIP
//! Server peer of one of several BC pairs, "peer groups") that should take it; the
//! Request-URI's DN is kept. The decision is [`choose`], a pure function of the
//! configuration, the latest [`Figures`] (agents per site, fed by the shell from the
//! sites' CTI events, the stat service's model) and which sites answer their OPTIONS
//! polls (each site is a Trunk DN of the NSS's plan, polled as trunks are, BC-10).
//!
//! - A call for an agent's DN goes straight to the site where that agent is logged in.
//! - Otherwise the policy picks the peer group, then the site in it: most ready agents
//!   (default), most logged-in agents (the seed's rule), or fixed weights; ties go round
//!   the candidates in turn. For a Routing Point, only the agents its target admits count.
//! - A site without figures (its statistics link is down) does not compete; with no
//!   figures for any candidate, or when a router was asked and stayed silent for
//!   `router-timeout`: default routing, round-robin over `default_sites`.

use std::collections::BTreeMap;

use crate::dn_plan::DnPlan;

/// The NSS part of a node's configuration ([`crate::NodeConfig::nss`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NssConfig {
    /// The sites calls may be sent to, in configuration order.
    pub sites: Vec<NssSite>,
    /// How a site is picked.
    pub policy: Policy,
    /// Where default routing sends calls, in turn (all sites when empty).
    pub default_sites: Vec<String>,
}

/// A site the NSS may send calls to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssSite {
    /// Its name: also the name of the Trunk DN (in the NSS's plan) that holds its SIP
    /// address and is polled with OPTIONS.
    pub name: String,
    /// The peer group (BC pair) it belongs to.
    pub group: String,
    /// Its share under [`Policy::Weighted`].
    pub weight: u32,
    /// The DNs it provisions: a call is only sent to a site that knows the number.
    pub dns: DnPlan,
}

/// How the NSS picks a site for a call that is not for a logged-in agent's DN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// The group, then the site, with the most Ready agents (then most logged in).
    #[default]
    MostReady,
    /// The group, then the site, with the most logged-in agents (the seed's rule).
    MostLoggedIn,
    /// Each site in proportion to its `weight`, regardless of agents.
    Weighted,
}

/// Agents per site, as the statistics see them now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Figures {
    /// By site name. A site missing here has no statistics (its link is down).
    pub sites: BTreeMap<String, SiteFigures>,
    /// DN -> the site where an agent is logged in on it.
    pub agents: BTreeMap<String, String>,
}

/// One site's agents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteFigures {
    /// Every agent logged in there.
    pub all: Counts,
    /// Only the agents a Routing Point's target admits, by Routing Point DN.
    pub points: BTreeMap<String, Counts>,
}

/// Agents Ready and logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Counts {
    pub ready: u32,
    pub logged_in: u32,
}

/// Why a site was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The dialled DN's agent is logged in there.
    Agent,
    /// The policy picked it from the figures.
    Policy,
    /// Default routing (no figures, or the router stayed silent).
    Default,
}

impl Why {
    /// A short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Policy => "policy",
            Self::Default => "default",
        }
    }
}

/// The decision for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Send it to this site.
    Site(String, Why),
    /// Some site knows the number but none is in service.
    NoSite,
    /// No site knows the number.
    Unknown,
}

/// The sites that know `dn`, in configuration order, and those of them `usable`.
fn candidates<'a>(config: &'a NssConfig, dn: &str, usable: &impl Fn(&str) -> bool) -> (bool, Vec<&'a NssSite>) {
    let knowing: Vec<&NssSite> = config.sites.iter().filter(|s| s.dns.contains(dn)).collect();
    let known = !knowing.is_empty();
    (known, knowing.into_iter().filter(|s| usable(&s.name)).collect())
}

/// Where a call for `dn` goes (see the module docs). `turn` counts the decisions made so
/// far: ties and default routing take the candidates in turn.
pub fn choose(
    config: &NssConfig,
    figures: Option<&Figures>,
    dn: &str,
    usable: impl Fn(&str) -> bool,
    turn: u64,
) -> Choice {
    let (known, sites) = candidates(config, dn, &usable);
    if let Some(site) = figures.and_then(|f| f.agents.get(dn)).filter(|s| usable(s)) {
        return Choice::Site(site.clone(), Why::Agent);
    }
    if !known {
        return Choice::Unknown;
    }
    if sites.is_empty() {
        return Choice::NoSite;
    }
    if config.policy == Policy::Weighted {
        if let Some(site) = weighted(&sites, turn) {
            return Choice::Site(site.to_owned(), Why::Policy);
        }
    }
    // Only sites with statistics compete: one whose link is down (often: it just died)
    // cannot say it has agents.
    let (seen, counts): (Vec<&NssSite>, Vec<Counts>) =
        sites.iter().filter_map(|s| Some((*s, site_counts(figures?, &s.name, dn)?))).unzip();
    if seen.is_empty() {
        return default_site(config, dn, usable, turn);
    }
    Choice::Site(by_figures(config.policy, &seen, &counts, turn).to_owned(), Why::Policy)
}

/// Default routing for `dn`: the next of `default_sites` that knows it and is in service
/// (any such site when `default_sites` names none).
pub fn default_site(config: &NssConfig, dn: &str, usable: impl Fn(&str) -> bool, turn: u64) -> Choice {
    let (known, sites) = candidates(config, dn, &usable);
    if !known {
        return Choice::Unknown;
    }
    let listed: Vec<&NssSite> = sites.iter().copied().filter(|s| config.default_sites.contains(&s.name)).collect();
    let pool = if listed.is_empty() { sites } else { listed };
    match pool.get(index(turn, pool.len())) {
        Some(site) => Choice::Site(site.name.clone(), Why::Default),
        None => Choice::NoSite,
    }
}

/// `turn` reduced to an index below `len` (0 when `len` is 0).
fn index(turn: u64, len: usize) -> usize {
    usize::try_from(turn % (len.max(1) as u64)).unwrap_or(0)
}

/// A site's figures for a call to `dn`: the Routing Point's admitted agents when it has
/// them, else all its agents. None when the site has no statistics.
fn site_counts(figures: &Figures, site: &str, dn: &str) -> Option<Counts> {
    let f = figures.sites.get(site)?;
    Some(f.points.get(dn).copied().unwrap_or(f.all))
}

/// The score a policy ranks by: higher is better.
fn score(policy: Policy, c: Counts) -> (u32, u32) {
    match policy {
        Policy::MostLoggedIn => (c.logged_in, c.ready),
        Policy::MostReady | Policy::Weighted => (c.ready, c.logged_in),
    }
}

/// The group with the best total score, then its best site; ties in turn.
fn by_figures<'a>(policy: Policy, sites: &[&'a NssSite], counts: &[Counts], turn: u64) -> &'a str {
    let mut groups: Vec<(&str, (u32, u32))> = Vec::new();
    for (site, c) in sites.iter().zip(counts) {
        let (a, b) = score(policy, *c);
        match groups.iter_mut().find(|(g, _)| *g == site.group) {
            Some((_, total)) => *total = (total.0 + a, total.1 + b),
            None => groups.push((&site.group, (a, b))),
        }
    }
    let best_group = groups.iter().map(|(_, s)| *s).max().unwrap_or_default();
    let tied_groups: Vec<&str> = groups.iter().filter(|(_, s)| *s == best_group).map(|(g, _)| *g).collect();
    let group = tied_groups.get(index(turn, tied_groups.len())).copied().unwrap_or_default();
    let in_group: Vec<(&NssSite, (u32, u32))> =
        sites.iter().zip(counts).filter(|(s, _)| s.group == group).map(|(s, c)| (*s, score(policy, *c))).collect();
    let best = in_group.iter().map(|(_, s)| *s).max().unwrap_or_default();
    let tied: Vec<&NssSite> = in_group.iter().filter(|(_, s)| *s == best).map(|(site, _)| *site).collect();
    let next = turn / tied_groups.len().max(1) as u64;
    tied.get(index(next, tied.len())).map_or("", |s| s.name.as_str())
}

/// The site whose share of the weights `turn` falls in; None when all weights are 0.
fn weighted<'a>(sites: &[&'a NssSite], turn: u64) -> Option<&'a str> {
    let total: u64 = sites.iter().map(|s| u64::from(s.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut slot = turn % total;
    for site in sites {
        if slot < u64::from(site.weight) {
            return Some(&site.name);
        }
        slot -= u64::from(site.weight);
    }
    None
}

#[cfg(test)]
mod tests;
