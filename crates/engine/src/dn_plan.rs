//! The DN plan a site controls: its DNs (Extension, ACD Position, Routing Point, Trunk),
//! agent logins, and the `TServer` options with their DN-level overrides.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// DN types (spec section 1; T-Library address types in section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnKind {
    /// An ordinary phone line.
    Extension,
    /// A line dedicated to contact-center work.
    AcdPosition,
    /// Where calls wait for a routing decision.
    RoutingPoint,
    /// A SIP peer: gateway, SBC or another server.
    Trunk,
}

impl DnKind {
    /// Agents and phones live on Extensions and ACD Positions.
    pub fn is_agent_line(self) -> bool {
        matches!(self, Self::Extension | Self::AcdPosition)
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extension => "extension",
            Self::AcdPosition => "acd-position",
            Self::RoutingPoint => "routing-point",
            Self::Trunk => "trunk",
        }
    }
}

/// Where a Trunk DN leads and how it is chosen and watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// The peer's SIP address (`contact`).
    pub contact: SocketAddr,
    /// Dialled-digit prefix this trunk serves (`prefix`); the longest match wins.
    pub prefix: String,
    /// Among equal prefixes the lowest value wins (`priority`).
    pub priority: u32,
    /// OPTIONS polling interval (`oos-check`); zero turns polling off.
    pub oos_check: Duration,
    /// How long a poll may go unanswered before the trunk is out of service (`oos-force`).
    pub oos_force: Duration,
    /// Sources whose requests count as this trunk's, besides `contact` (`allow`): they
    /// are not challenged and their callers are never local.
    pub allow: Vec<Allow>,
    /// DNs that may call out through this trunk (`callers`); empty lets every
    /// authenticated agent line.
    pub callers: Vec<DnRange>,
    /// The far end follows a `302` (`follows-redirects`, default true). A remote site (a
    /// Tandem peer with no agents, BC-53) does not: a call from it for an agent at the DR
    /// peer is carried over the peer trunk (BC-29) instead of redirected (BC-22).
    pub follows_redirects: bool,
    /// The Tandem site at the far end, when the deployment knows it (its `sip_udp` is the
    /// trunk's `contact`): a RequestRouteCall `Location` may name it.
    pub site: Option<String>,
}

/// One `allow` rule of a trunk: a network, and optionally the one source port, the one
/// transport and the client certificate its requests must come with. A rule naming `tcp`
/// or `tls` cannot be met by a spoofed UDP datagram (a TCP connection needs the
/// handshake); one naming a certificate only by a TLS client that holds its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow {
    /// Source addresses.
    pub net: ipnet::IpNet,
    /// The source port, if only one.
    pub port: Option<u16>,
    /// The transport, if only one.
    pub transport: Option<sipcore::Transport>,
    /// The certificate name the TLS client must have proven, as an index into
    /// [`DnPlan::cert_names`] (the bit of [`sipcore::Peer::certified`]).
    pub cert: Option<u8>,
}

impl Allow {
    /// Any port and transport from `net`.
    pub fn net(net: ipnet::IpNet) -> Self {
        Self { net, port: None, transport: None, cert: None }
    }

    /// True when a request from `peer` meets this rule.
    pub fn matches(&self, peer: &sipcore::Peer) -> bool {
        self.net.contains(&peer.addr.ip())
            && self.port.is_none_or(|p| p == peer.addr.port())
            && self.transport.is_none_or(|t| t == peer.transport)
            && self.cert.is_none_or(|bit| peer.certified & (1 << bit) != 0)
    }
}

/// The most certificate names a site's `allow` rules may name (bits of
/// [`sipcore::Peer::certified`]).
pub const MAX_CERT_NAMES: usize = 64;

impl Trunk {
    /// A trunk at `contact` for `prefix`, no allow-list, open to every local caller.
    pub fn new(contact: SocketAddr, prefix: &str, priority: u32, oos_check: Duration, oos_force: Duration) -> Self {
        Self {
            contact,
            prefix: prefix.into(),
            priority,
            oos_check,
            oos_force,
            allow: Vec::new(),
            callers: Vec::new(),
            follows_redirects: true,
            site: None,
        }
    }

    /// True when `caller` may call out through this trunk.
    pub fn admits_caller(&self, caller: &str) -> bool {
        self.callers.is_empty() || self.callers.iter().any(|r| r.contains(caller))
    }
}

/// `dr-forward`: when a direct call for an agent DN goes to the DR peer (spec BC-18..20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DrForward {
    /// Never forward; always deliver here.
    #[default]
    Off,
    /// Forward when no agent is logged in on the DN here and the peer reports one there.
    NoAgent,
    /// Forward when the DN is out of service here (no registration).
    Oos,
}

/// DN-level option values; `None` means "use the application value".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnOptions {
    /// `dr-forward`.
    pub dr_forward: Option<DrForward>,
    /// `router-timeout`.
    pub router_timeout: Option<Duration>,
    /// `default-dn`.
    pub default_dn: Option<String>,
    /// `no-answer-timeout`.
    pub no_answer_timeout: Option<Duration>,
}

/// One configured DN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn {
    /// Its type.
    pub kind: DnKind,
    /// Its overrides.
    pub options: DnOptions,
    /// For Trunk DNs.
    pub trunk: Option<Trunk>,
}

/// Application-level `TServer` options (spec section 4). Each field documents its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `router-timeout`: how long a call waits on a Routing Point for the router. Default 10 s.
    pub router_timeout: Duration,
    /// `default-dn`: where calls go when the router is silent. Default none.
    pub default_dn: Option<String>,
    /// `queue-max-wait`: the longest a call waits on a Routing Point; then it goes to the
    /// default target, or the caller gets 480. Default 180 s.
    pub queue_max_wait: Duration,
    /// `default-redirection-limit`: chained default routings allowed (0 = off). Default 4.
    pub default_redirection_limit: u32,
    /// `wrap-up-time`: AfterCallWork after an ACD call, then Ready again. Default 0 (none).
    pub wrap_up_time: Duration,
    /// `no-answer-timeout`: how long callees ring before the caller gets 480. Default 20 s.
    pub no_answer_timeout: Duration,
    /// `dr-peer-trunk`: the Trunk DN leading to the DR peer; Business Continuity mode only
    /// while it is set (and the trunk is in service). Default none.
    pub dr_peer_trunk: Option<String>,
    /// `dr-forward`. Default off.
    pub dr_forward: DrForward,
    /// `shutdown-sip-reject-code`: the answer to new INVITEs during graceful shutdown,
    /// 300-603; 300-302 redirect to the `dr-peer-trunk` contact. Default 603.
    pub shutdown_sip_reject_code: u16,
    /// `request-collection-time`: how long RequestReserveAgent requests for one agent are
    /// gathered before the highest priority wins (BC-43). Default 100 ms.
    pub request_collection_time: Duration,
    /// `reservation-time`: how long a reservation with Duration -1 holds (OQ-15). Default 10 s.
    pub reservation_time: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            router_timeout: Duration::from_secs(10),
            default_dn: None,
            queue_max_wait: Duration::from_secs(180),
            default_redirection_limit: 4,
            wrap_up_time: Duration::ZERO,
            no_answer_timeout: Duration::from_secs(20),
            dr_peer_trunk: None,
            dr_forward: DrForward::Off,
            shutdown_sip_reject_code: 603,
            request_collection_time: Duration::from_millis(100),
            reservation_time: Duration::from_secs(10),
        }
    }
}

/// An agent login that may be used on this switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLogin {
    /// AgentID.
    pub id: String,
    /// Password, if the login needs one.
    pub password: Option<String>,
    /// DN the agent logs in on when the request names none.
    pub default_dn: Option<String>,
}

/// A numeric range of Extensions or ACD Positions, e.g. 1000-1999, matched at its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnRange {
    /// First DN.
    pub first: u64,
    /// Last DN, inclusive.
    pub last: u64,
    /// Digits in a DN of this range (so `01000` is not `1000`).
    pub width: usize,
    /// Extension or ACD Position.
    pub kind: DnKind,
}

impl DnRange {
    /// True when `dn` is a number of this range, written with its width.
    pub fn contains(&self, dn: &str) -> bool {
        dn.len() == self.width
            && dn.bytes().all(|b| b.is_ascii_digit())
            && dn.parse::<u64>().is_ok_and(|n| (self.first..=self.last).contains(&n))
    }
}

/// The DNs provisioned at a site: numeric ranges of agent lines and single DNs of any type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnPlan {
    /// Ranges of Extensions / ACD Positions.
    pub ranges: Vec<DnRange>,
    /// Single DNs by number.
    pub singles: BTreeMap<String, Dn>,
    /// The client-certificate names trunks' `allow` rules name ([`Allow::cert`]): the
    /// shell sets bit `i` of a TLS connection's [`sipcore::Peer::certified`] when its
    /// client's certificate is verified for name `i`.
    pub cert_names: Vec<String>,
}

const PLAIN_EXTENSION: Dn = Dn {
    kind: DnKind::Extension,
    options: DnOptions { dr_forward: None, router_timeout: None, default_dn: None, no_answer_timeout: None },
    trunk: None,
};
const PLAIN_POSITION: Dn = Dn {
    kind: DnKind::AcdPosition,
    options: DnOptions { dr_forward: None, router_timeout: None, default_dn: None, no_answer_timeout: None },
    trunk: None,
};

impl DnPlan {
    /// The DN, if provisioned.
    pub fn get(&self, dn: &str) -> Option<&Dn> {
        if let Some(single) = self.singles.get(dn) {
            return Some(single);
        }
        if dn.is_empty() || dn.len() > 18 || !dn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let range = self.ranges.iter().find(|r| r.contains(dn))?;
        Some(if range.kind == DnKind::AcdPosition { &PLAIN_POSITION } else { &PLAIN_EXTENSION })
    }

    /// True if `dn` is provisioned.
    pub fn contains(&self, dn: &str) -> bool {
        self.get(dn).is_some()
    }

    /// The DN's type, if provisioned.
    pub fn kind(&self, dn: &str) -> Option<DnKind> {
        self.get(dn).map(|d| d.kind)
    }

    /// How many DNs the plan provisions.
    pub fn len(&self) -> u64 {
        self.singles.len() as u64 + self.ranges.iter().map(|r| r.last - r.first + 1).sum::<u64>()
    }

    /// True when nothing is provisioned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every Trunk DN, by name.
    pub fn trunks(&self) -> impl Iterator<Item = (&str, &Trunk)> + '_ {
        self.singles.iter().filter_map(|(name, dn)| dn.trunk.as_ref().map(|t| (name.as_str(), t)))
    }

    /// The trunk for dialled `digits` (spec BC-32): the longest matching prefix, then the
    /// lowest priority, skipping trunks `usable` refuses (out of service).
    pub fn trunk_for(&self, digits: &str, usable: impl Fn(&str) -> bool) -> Option<(&str, &Trunk)> {
        self.trunks().filter(|(name, t)| digits.starts_with(t.prefix.as_str()) && usable(name)).max_by(
            |(an, a), (bn, b)| a.prefix.len().cmp(&b.prefix.len()).then(b.priority.cmp(&a.priority)).then(bn.cmp(an)),
        )
    }

    /// The trunk a request over UDP from `source` comes from.
    pub fn trunk_at(&self, source: SocketAddr) -> Option<&str> {
        self.trunk_from(&sipcore::Peer::udp(source))
    }

    /// The trunk a request from `peer` comes from: its `contact`, or a source its `allow`
    /// rules admit (address, and port and transport where a rule names them).
    pub fn trunk_from(&self, peer: &sipcore::Peer) -> Option<&str> {
        let at = |t: &Trunk| t.contact == peer.addr || t.allow.iter().any(|a| a.matches(peer));
        self.trunks().find(|(_, t)| at(t)).map(|(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(contact: &str, prefix: &str, priority: u32) -> Dn {
        Dn {
            kind: DnKind::Trunk,
            options: DnOptions::default(),
            trunk: Some(Trunk {
                contact: contact.parse().expect("addr"),
                prefix: prefix.into(),
                priority,
                oos_check: Duration::ZERO,
                oos_force: Duration::ZERO,
                allow: Vec::new(),
                callers: Vec::new(),
                follows_redirects: true,
                site: None,
            }),
        }
    }

    #[test]
    fn longest_prefix_then_lowest_priority_then_next_when_out_of_service() {
        let mut plan = DnPlan::default();
        plan.singles.insert("gw-a".into(), trunk("127.0.0.1:5081", "9", 2));
        plan.singles.insert("gw-b".into(), trunk("127.0.0.1:5082", "9", 1));
        plan.singles.insert("intl".into(), trunk("127.0.0.1:5083", "900", 5));
        assert_eq!(plan.trunk_for("912025550147", |_| true).map(|t| t.0), Some("gw-b"));
        assert_eq!(plan.trunk_for("90044207", |_| true).map(|t| t.0), Some("intl"));
        assert_eq!(plan.trunk_for("912025550147", |n| n != "gw-b").map(|t| t.0), Some("gw-a"));
        assert_eq!(plan.trunk_for("812025550147", |_| true), None);
        assert_eq!(plan.trunk_at("127.0.0.1:5083".parse().expect("addr")), Some("intl"));
    }

    #[test]
    fn ranges_carry_their_kind() {
        let plan = DnPlan {
            ranges: vec![
                DnRange { first: 1000, last: 1999, width: 4, kind: DnKind::Extension },
                DnRange { first: 3000, last: 3099, width: 4, kind: DnKind::AcdPosition },
            ],
            singles: BTreeMap::new(),
            cert_names: Vec::new(),
        };
        assert_eq!(plan.kind("1500"), Some(DnKind::Extension));
        assert_eq!(plan.kind("3050"), Some(DnKind::AcdPosition));
        assert_eq!(plan.kind("01500"), None);
        assert_eq!(plan.len(), 1100);
    }
}
