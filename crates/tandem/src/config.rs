//! The TOML configuration file: serde types with `deny_unknown_fields`, converted into
//! typed [`engine::NodeConfig`]s. Every error names the field and its line.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use engine::{CallConfig, DnKind, DnPlan, NodeConfig, Options, RegistrarConfig};
use serde::Deserialize;
use sipcore::TransactionConfig;
use toml::Spanned;

use dns::{add_dn, add_spec, dr_forward, DnFile, DnSpec};
use limits::LimitsFile;
pub(crate) use limits::TcpLimits;
pub(crate) use load::{load, load_deployment};
pub(crate) use media::MediaPartnerConfig;
pub(crate) use tls::TlsFiles;

/// The whole file: one `[[site]]` table per SIP Server peer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The sites (at least one).
    site: Vec<SiteFile>,
    /// Routing and statistics across the sites (a router and a stat service per site).
    routing: Option<Spanned<routing::RoutingFile>>,
    /// Network SIP Servers in front of the sites.
    #[serde(default)]
    nss: Vec<nss::NssFile>,
}

/// One `[[site]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    /// Unique site name, used in logs and `endpoint` lines.
    name: Spanned<String>,
    /// The peer group (BC pair) the site belongs to: its routers and stat service see
    /// the sites of its group only. Default `main`.
    group: Option<Spanned<String>>,
    /// UDP listen address for SIP. Optional if `sip_tcp` is set.
    sip_udp: Option<Spanned<SocketAddr>>,
    /// TCP listen address for SIP. Optional if `sip_udp` is set.
    sip_tcp: Option<Spanned<SocketAddr>>,
    /// TLS listen address for SIP (conventionally port 5061); needs `[site.tls]`. Optional.
    sip_tls: Option<Spanned<SocketAddr>>,
    /// The certificate and key for `sip_tls` and `cti_tls`.
    tls: Option<tls::TlsFile>,
    /// Serve CTI as `wss://` (and the agent page as `https://`) with `[site.tls]`. Default false.
    cti_tls: Option<Spanned<bool>>,
    /// Serve the stats API and wallboard as `https://` / `wss://` with `[site.tls]`. Default false.
    stats_tls: Option<Spanned<bool>>,
    /// CTI (agent desktop) WebSocket listen address. Optional.
    cti: Option<Spanned<SocketAddr>>,
    /// Admin tokens a CTI client may present (every request allowed); `cti` needs at
    /// least one token here or in `cti_token`.
    #[serde(default)]
    cti_tokens: Vec<Spanned<String>>,
    /// CTI tokens with a role: admin, client (routers, stat services), desktop (its DNs).
    #[serde(default)]
    cti_token: Vec<cti::CtiTokenFile>,
    /// The reasons an agent may pick for NotReady on the agent page (sent as its
    /// `ReasonCode`): `["Break", "Lunch", "Training"]`. Default `["Break"]`.
    #[serde(default)]
    not_ready_reasons: Vec<Spanned<String>>,
    /// `optional` (default) or `required`: every agent must have a `password_hash`.
    agent_passwords: Option<Spanned<String>>,
    /// HTTP listen address for `/metrics` and admin requests. Optional.
    http: Option<Spanned<SocketAddr>>,
    /// Where this site's stat service serves its API (`/stats`, WebSocket and HTTP).
    /// Optional; needs `[routing]`.
    stats: Option<Spanned<SocketAddr>>,
    /// Extensions: ranges `"1000-1999"` or single DNs `"operator"`.
    dns: Spanned<Vec<DnSpec>>,
    /// ACD Positions: ranges or single DNs, as `dns`. Default none.
    #[serde(default)]
    acd_positions: Vec<Spanned<DnSpec>>,
    /// Single DNs of any type, with their DN-level options.
    #[serde(default)]
    dn: Vec<DnFile>,
    /// Agent logins.
    #[serde(default)]
    agent: Vec<agents::AgentFile>,
    /// Application-level `TServer` options.
    #[serde(default)]
    options: OptionsFile,
    /// Registrar limits; defaults documented on [`RegistrarFile`].
    #[serde(default)]
    registrar: RegistrarFile,
    /// Transaction timers; defaults documented on [`TimersFile`].
    #[serde(default)]
    timers: TimersFile,
    /// Call handling; defaults documented on [`CallsFile`].
    #[serde(default)]
    calls: CallsFile,
    /// Capacity caps, flood and connection limits; defaults on [`LimitsFile`].
    #[serde(default)]
    limits: LimitsFile,
    /// Call detail records and state kept across restarts. Optional.
    store: Option<store::StoreFile>,
    /// SIP digest authentication. Optional (off: every From is believed).
    auth: Option<auth::AuthFile>,
    /// The secret both sites of a BC pair share, at least 16 characters: what only the DR
    /// peer may say (presence, call UUID, UserData, ConnID, the 302 marker) is sealed
    /// with it and unsealed copies are refused. Optional (absent: the peer is known by
    /// its address alone).
    peer_secret: Option<Spanned<String>>,
    /// The DR peer link over mutual TLS. Optional (absent: UDP on `sip_udp`).
    peer_link: Option<tls::PeerLinkFile>,
    /// The media partner (rtpengine) calls are anchored at. Optional (absent: media
    /// flows endpoint to endpoint).
    media: Option<media::MediaFile>,
}

/// `[site.calls]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CallsFile {
    /// Calls one DN may have at once before new ones get 486; 0 = no limit (the phone
    /// answers 486 itself). Default 0.
    max_calls_per_dn: u32,
}

/// `[site.registrar]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RegistrarFile {
    /// Seconds; shorter registrations get 423. Default 60.
    min_expires: u32,
    /// Seconds; longer requests are shortened. Default 3600.
    max_expires: u32,
    /// Seconds, when the REGISTER names none. Default 3600.
    default_expires: u32,
    /// Contacts per DN. Default 10.
    max_contacts: u32,
}

impl Default for RegistrarFile {
    fn default() -> Self {
        Self { min_expires: 60, max_expires: 3600, default_expires: 3600, max_contacts: 10 }
    }
}

/// `[site.timers]` (RFC 3261 T1/T2/T4), milliseconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TimersFile {
    /// Default 500.
    t1_ms: u64,
    /// Default 4000.
    t2_ms: u64,
    /// Default 5000.
    t4_ms: u64,
}

impl Default for TimersFile {
    fn default() -> Self {
        Self { t1_ms: 500, t2_ms: 4000, t4_ms: 5000 }
    }
}

/// `[site.options]`: the `TServer` options, spelled as the reference system spells them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
struct OptionsFile {
    /// Seconds on a Routing Point before default routing. Default 10.
    router_timeout: u32,
    /// Default routing target. Default none.
    default_dn: Option<Spanned<String>>,
    /// Seconds a call may wait on a Routing Point, 1-3600; then default routing, else 480.
    /// Default 180.
    queue_max_wait: u32,
    /// Chained default routings allowed, 0-15 (0 = off). Default 4.
    default_redirection_limit: u32,
    /// Seconds of AfterCallWork after an ACD call. Default 0.
    wrap_up_time: u32,
    /// Seconds callees ring before the caller gets 480. Default 20.
    no_answer_timeout: u32,
    /// The Trunk DN leading to the DR peer; Business Continuity only when set. Default none.
    dr_peer_trunk: Option<Spanned<String>>,
    /// `off`, `no-agent` or `oos`. Default off.
    dr_forward: Option<Spanned<String>>,
    /// Answer to new INVITEs during graceful shutdown, 300-603 (300-302 redirect to the DR
    /// peer). Default 603.
    shutdown_sip_reject_code: u16,
    /// Milliseconds RequestReserveAgent requests for one agent are gathered, 0-5000. Default 100.
    request_collection_time: u32,
    /// Seconds a reservation with Duration -1 holds, 1-600. Default 10.
    reservation_time: u32,
}

impl Default for OptionsFile {
    fn default() -> Self {
        Self {
            router_timeout: 10,
            default_dn: None,
            queue_max_wait: 180,
            default_redirection_limit: 4,
            wrap_up_time: 0,
            no_answer_timeout: 20,
            dr_peer_trunk: None,
            dr_forward: None,
            shutdown_sip_reject_code: 603,
            request_collection_time: 100,
            reservation_time: 10,
        }
    }
}

/// A validated site: its node configuration and where it listens.
#[derive(Debug, Clone)]
pub(crate) struct SiteConfig {
    pub(crate) node: NodeConfig,
    /// The site's peer group (empty for a Network SIP Server).
    pub(crate) group: String,
    pub(crate) sip_udp: Option<SocketAddr>,
    pub(crate) sip_tcp: Option<SocketAddr>,
    /// SIP over TLS: where, and the PEM certificate chain and key.
    pub(crate) sip_tls: Option<(SocketAddr, TlsFiles)>,
    /// CTI over TLS (`wss://`) with these files.
    pub(crate) cti_tls: Option<TlsFiles>,
    /// The stats API and wallboard over TLS with these files.
    pub(crate) stats_tls: Option<TlsFiles>,
    pub(crate) cti: Option<SocketAddr>,
    /// CTI tokens and their roles (replaced on reload).
    pub(crate) cti_grants: Vec<crate::cti_access::Grant>,
    /// Agents' password hashes (argon2 PHC strings), by AgentID.
    pub(crate) agent_hashes: BTreeMap<String, String>,
    /// NotReady reasons the agent page offers.
    pub(crate) not_ready_reasons: Vec<String>,
    /// Most CTI connections open at once.
    pub(crate) cti_clients: usize,
    /// What the CTI listener admits (`[site.limits] http_*`).
    pub(crate) cti_http: crate::http_serve::HttpLimits,
    pub(crate) http: Option<SocketAddr>,
    pub(crate) stats: Option<SocketAddr>,
    pub(crate) tcp: TcpLimits,
    pub(crate) store: Option<crate::store::StoreConfig>,
    /// The DR peer link over mutual TLS, when configured.
    pub(crate) peer_link: Option<crate::peer_tls::PeerLinkConfig>,
    /// The media partner, when configured (`[site.media]`).
    pub(crate) media: Option<MediaPartnerConfig>,
    /// A Network SIP Server's served sites (what its statistics links reach).
    pub(crate) nss_served: Option<Box<Deployment>>,
}

impl SiteConfig {
    /// What the CTI server checks: tokens and agents' password hashes.
    pub(crate) fn cti_table(&self) -> crate::cti_access::CtiTable {
        let agent_dns = self.node.agents.iter().map(|(id, a)| (id.clone(), a.default_dn.clone())).collect();
        crate::cti_access::CtiTable {
            grants: self.cti_grants.clone(),
            agent_hashes: self.agent_hashes.clone(),
            agent_dns,
        }
    }
}

/// A whole deployment file: its sites and, when `[routing]` is present, the routing
/// configuration their routers and stat services share.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub(crate) sites: Vec<SiteConfig>,
    pub(crate) routing: Option<routing::RoutingConfig>,
    /// Network SIP Servers (`[[nss]]`), runnable like sites.
    pub(crate) nss: Vec<SiteConfig>,
}

impl Deployment {
    /// The agent DNs routers and stat services watch: every agent login's DN, all sites.
    pub(crate) fn agent_dns(&self) -> Vec<String> {
        let dns: BTreeSet<String> =
            self.sites.iter().flat_map(|s| s.node.agents.values().filter_map(|a| a.default_dn.clone())).collect();
        dns.into_iter().collect()
    }

    /// The sites' names, in file order (a router's `SiteId` indexes this).
    pub(crate) fn site_names(&self) -> Vec<String> {
        self.sites.iter().map(|s| s.node.site.clone()).collect()
    }

    /// The deployment as site `home`'s router and stat service see it: the sites of its
    /// peer group only; and `home`'s index among them.
    pub(crate) fn peer_group(&self, home: usize) -> (Self, usize) {
        let group = self.sites.get(home).map(|s| s.group.clone()).unwrap_or_default();
        let sites: Vec<SiteConfig> = self.sites.iter().filter(|s| s.group == group).cloned().collect();
        let name = self.sites.get(home).map(|s| s.node.site.clone());
        let index = sites.iter().position(|s| Some(&s.node.site) == name.as_ref()).unwrap_or(0);
        (Self { sites, routing: self.routing.clone(), nss: Vec::new() }, index)
    }

    /// Everything that runs as a site task: the sites, then the NSSs.
    pub(crate) fn runnable(&self) -> Vec<SiteConfig> {
        self.sites.iter().chain(&self.nss).cloned().collect()
    }
}

/// A validation failure: byte offset into the file and the message.
type Invalid = (usize, String);

impl SiteFile {
    /// The TLS listeners, checked (the settings are taken out of the file).
    fn take_tls(&mut self) -> Result<tls::Listeners, Invalid> {
        let cert_rule_at = dns::first_cert_rule(&self.dn);
        let (tls, sip_tls, cti_tls) = (self.tls.take(), self.sip_tls.take(), self.cti_tls.take());
        tls::listeners(tls::TlsUse { tls, sip_tls, cti_tls, stats_tls: self.stats_tls.take(), cert_rule_at })
    }

    fn into_site_config(mut self) -> Result<SiteConfig, Invalid> {
        let name_at = self.name.span().start;
        let (tls, media) = (self.take_tls()?, self.media.take().map(media::MediaFile::into_config).transpose()?);
        let dns = dn_plan(self.dns, self.acd_positions, self.dn)?;
        let options = self.options.into_options(&dns)?;
        let (agents, agent_hashes) = agents::logins(&dns, self.agent, self.agent_passwords, name_at)?;
        let cti_at = self.cti.as_ref().map(|c| (*c.get_ref(), c.span().start));
        let cti_grants = cti::grants(&self.cti_tokens, self.cti_token, cti_at)?;
        let auth = self.auth.map(|a| a.into_config(&dns)).transpose()?;
        let sip_at = self.sip_udp.as_ref().or(self.sip_tcp.as_ref()).map(|a| *a.get_ref());
        safety::check(&safety::Site {
            name_at,
            exposed: sip_at.is_some_and(|a| !a.ip().is_loopback()),
            auth: auth.as_ref(),
            dns: &dns,
            dr_peer_trunk: options.dr_peer_trunk.as_deref(),
            peer_secret: self.peer_secret.as_ref(),
            peer_link: self.peer_link.is_some(),
            registrar: (self.registrar.default_expires, self.registrar.max_contacts),
        })?;
        let peer_link = self.peer_link.map(|l| l.into_config(options.dr_peer_trunk.is_some())).transpose()?;
        let node = NodeConfig {
            site: self.name.into_inner(),
            dns,
            options,
            agents,
            registrar: self.registrar.config(self.limits.max_bindings),
            transactions: self.timers.config(),
            calls: CallConfig { max_per_dn: self.calls.max_calls_per_dn as usize },
            capacity: self.limits.capacity(),
            local: sip_at.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060))), // the bound one, once bound
            local_tls: None,
            auth,
            peer_secret: self.peer_secret.map(|s| s.into_inner().into_bytes()),
            nss: None,
            media: media.as_ref().map(|m| m.engine.clone()),
        };
        Ok(SiteConfig {
            node,
            group: self.group.map_or_else(|| "main".to_owned(), Spanned::into_inner),
            sip_udp: self.sip_udp.map(Spanned::into_inner),
            sip_tcp: self.sip_tcp.map(Spanned::into_inner),
            sip_tls: tls.sip,
            cti_tls: tls.cti,
            stats_tls: tls.stats,
            cti: self.cti.map(Spanned::into_inner),
            cti_grants,
            not_ready_reasons: cti::reasons(self.not_ready_reasons)?,
            agent_hashes,
            cti_clients: self.limits.cti_clients.max(1) as usize,
            cti_http: self.limits.http(),
            http: self.http.map(Spanned::into_inner),
            stats: self.stats.map(Spanned::into_inner),
            tcp: self.limits.tcp(),
            store: self.store.map(|s| s.into_config(name_at)).transpose()?,
            peer_link,
            media,
            nss_served: None,
        })
    }
}

/// The DN plan of a site: `dns` and `acd_positions` ranges, then `[[site.dn]]` tables
/// (whose `default-dn` must name a DN of the plan).
fn dn_plan(
    dns: Spanned<Vec<DnSpec>>,
    acd_positions: Vec<Spanned<DnSpec>>,
    tables: Vec<DnFile>,
) -> Result<DnPlan, Invalid> {
    let mut plan = DnPlan::default();
    let dns_span = dns.span().start;
    for spec in dns.into_inner() {
        add_spec(&mut plan, spec, DnKind::Extension, dns_span)?;
    }
    for spec in acd_positions {
        let at = spec.span().start;
        add_spec(&mut plan, spec.into_inner(), DnKind::AcdPosition, at)?;
    }
    let mut default_dns = Vec::new();
    for dn in tables {
        if let Some(target) = &dn.options.default_dn {
            default_dns.push((target.span().start, target.get_ref().clone()));
        }
        add_dn(&mut plan, dn)?;
    }
    if let Some((at, target)) = default_dns.into_iter().find(|(_, t)| !plan.contains(t)) {
        return Err((at, format!("`options.default-dn`: DN `{target}` is not provisioned")));
    }
    Ok(plan)
}

impl RegistrarFile {
    fn config(&self, max_bindings: u32) -> RegistrarConfig {
        RegistrarConfig {
            min_expires: Duration::from_secs(self.min_expires.into()),
            max_expires: Duration::from_secs(self.max_expires.into()),
            default_expires: Duration::from_secs(self.default_expires.into()),
            max_contacts: self.max_contacts as usize,
            max_bindings: max_bindings as usize,
        }
    }
}

impl TimersFile {
    fn config(&self) -> TransactionConfig {
        TransactionConfig {
            t1: Duration::from_millis(self.t1_ms),
            t2: Duration::from_millis(self.t2_ms),
            t4: Duration::from_millis(self.t4_ms),
            ..TransactionConfig::default()
        }
    }
}

impl OptionsFile {
    fn into_options(self, dns: &DnPlan) -> Result<Options, Invalid> {
        if self.default_redirection_limit > 15 {
            return Err((0, "`options.default-redirection-limit` must be 0-15".into()));
        }
        let default_dn = match self.default_dn {
            Some(d) if !dns.contains(d.get_ref()) => {
                return Err((d.span().start, format!("`options.default-dn`: DN `{}` is not provisioned", d.get_ref())))
            }
            d => d.map(Spanned::into_inner),
        };
        let dr_peer_trunk = match self.dr_peer_trunk {
            Some(t) if dns.kind(t.get_ref()) != Some(DnKind::Trunk) => {
                return Err((
                    t.span().start,
                    format!("`options.dr-peer-trunk`: `{}` is not a Trunk DN of this site", t.get_ref()),
                ))
            }
            t => t.map(Spanned::into_inner),
        };
        if !(1..=3600).contains(&self.queue_max_wait) {
            return Err((0, "`options.queue-max-wait` must be 1-3600 seconds".into()));
        }
        if !(300..=603).contains(&self.shutdown_sip_reject_code) {
            return Err((0, "`options.shutdown-sip-reject-code` must be 300-603".into()));
        }
        if self.request_collection_time > 5000 {
            return Err((0, "`options.request-collection-time` must be 0-5000 milliseconds".into()));
        }
        if !(1..=600).contains(&self.reservation_time) {
            return Err((0, "`options.reservation-time` must be 1-600 seconds".into()));
        }
        Ok(Options {
            shutdown_sip_reject_code: self.shutdown_sip_reject_code,
            dr_peer_trunk,
            dr_forward: dr_forward(self.dr_forward.as_ref())?.unwrap_or_default(),
            router_timeout: Duration::from_secs(self.router_timeout.into()),
            default_dn,
            default_redirection_limit: self.default_redirection_limit,
            queue_max_wait: Duration::from_secs(self.queue_max_wait.into()),
            wrap_up_time: Duration::from_secs(self.wrap_up_time.into()),
            no_answer_timeout: Duration::from_secs(self.no_answer_timeout.into()),
            request_collection_time: Duration::from_millis(self.request_collection_time.into()),
            reservation_time: Duration::from_secs(self.reservation_time.into()),
        })
    }
}

mod agents;
mod auth;
mod cti;
mod dns;
mod limits;
mod load;
mod media;
mod nss;
mod safety;
mod store;
#[cfg(test)]
mod tests;
mod tls;
