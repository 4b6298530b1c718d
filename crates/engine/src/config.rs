//! Typed runtime configuration of one site's node. Built by the shell from the TOML
//! file; once it exists it is valid ("parse, don't validate").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use sipcore::TransactionConfig;

use crate::dn_plan::{AgentLogin, DnKind, DnPlan, DnRange, Options};
use crate::overload::Capacity;

/// Everything one site's [`crate::Node`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Site name, used in logs and the Server header.
    pub site: String,
    /// Which DNs exist at this site.
    pub dns: DnPlan,
    /// Application-level `TServer` options.
    pub options: Options,
    /// Agent logins, by AgentID.
    pub agents: BTreeMap<String, AgentLogin>,
    /// Registrar limits.
    pub registrar: RegistrarConfig,
    /// Transaction timers.
    pub transactions: TransactionConfig,
    /// Call handling.
    pub calls: CallConfig,
    /// Capacity caps and flood limits.
    pub capacity: Capacity,
    /// The address this site puts in Via and Contact of what it sends.
    pub local: SocketAddr,
    /// The SIP over TLS listen address, if any: Via and Contact towards TLS peers.
    pub local_tls: Option<SocketAddr>,
    /// SIP digest authentication; None leaves it off (every From is believed: a lab only).
    pub auth: Option<crate::auth::AuthConfig>,
    /// The secret both sites of the BC pair share (`peer_secret`): what only the DR peer
    /// may say is sealed with it, and unsealed copies are refused. None: the peer is known
    /// by its address alone (spoofable over UDP).
    pub peer_secret: Option<Vec<u8>>,
    /// Set for a Network SIP Server ([`crate::nss`]): new INVITEs get a `302` to the site
    /// chosen for them; the node keeps no call past the 302.
    pub nss: Option<crate::nss::NssConfig>,
    /// `[site.media]`: anchor every call's media at the media partner; None: media flows
    /// endpoint to endpoint and Tandem only relays SDP.
    pub media: Option<crate::media::MediaConfig>,
}

impl NodeConfig {
    /// The DR peer trunk (`dr-peer-trunk`): its name and settings, if configured.
    pub fn dr_peer_trunk(&self) -> Option<(&str, &crate::Trunk)> {
        let name = self.options.dr_peer_trunk.as_deref()?;
        Some((name, self.dns.get(name)?.trunk.as_ref()?))
    }

    /// The DR peer's SIP address (the `dr-peer-trunk` Trunk DN's contact), if any.
    pub fn dr_peer_contact(&self) -> Option<SocketAddr> {
        self.dr_peer_trunk().map(|(_, t)| t.contact)
    }

    /// A DN's own value of an option (`pick` chooses it), when the DN overrides the
    /// site's; callers fall back to the site's value with `unwrap_or(options.X)`.
    pub fn dn_option<T>(&self, dn: &str, pick: impl FnOnce(&crate::DnOptions) -> Option<T>) -> Option<T> {
        self.dns.get(dn).and_then(|d| pick(&d.options))
    }

    /// The pair's sealer at `unix_now` for the process of `incarnation`, when
    /// `peer_secret` is set.
    pub(crate) fn sealer(&self, unix_now: u64, incarnation: u64) -> Option<crate::peer_seal::Sealer<'_>> {
        let secret = self.peer_secret.as_deref()?;
        let peer = self.dr_peer_trunk().and_then(|(_, t)| t.site.as_deref());
        Some(crate::peer_seal::Sealer { secret, unix_now, site: &self.site, peer, incarnation })
    }

    /// True when `addr` is the DR peer's SIP address.
    pub fn is_dr_peer(&self, addr: SocketAddr) -> bool {
        self.dr_peer_contact() == Some(addr)
    }
}

/// Call handling limits (the `TServer` timing options live in [`Options`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallConfig {
    /// Calls a DN may have at once before new ones get 486; 0 leaves it to the phone
    /// (which answers 486 itself when busy). Default 0.
    pub max_per_dn: usize,
}

impl NodeConfig {
    /// A small configuration for tests and examples: DNs 1000-1999 and the RFC 4475
    /// users `user`, `j.user` and `watson`, default timers and limits.
    pub fn for_tests() -> Self {
        Self {
            site: "test".into(),
            dns: DnPlan {
                ranges: vec![DnRange { first: 1000, last: 1999, width: 4, kind: DnKind::Extension }],
                singles: ["user", "j.user", "watson"]
                    .into_iter()
                    .map(|n| {
                        (
                            n.to_owned(),
                            crate::dn_plan::Dn { kind: DnKind::Extension, options: Default::default(), trunk: None },
                        )
                    })
                    .collect(),
                cert_names: Vec::new(),
            },
            options: Options::default(),
            agents: BTreeMap::new(),
            registrar: RegistrarConfig::default(),
            transactions: TransactionConfig::default(),
            calls: CallConfig::default(),
            capacity: Capacity::default(),
            local: SocketAddr::from(([127, 0, 0, 1], 5060)),
            local_tls: None,
            auth: None,
            peer_secret: None,
            nss: None,
            media: None,
        }
    }
}

/// Registrar limits (RFC 3261 section 10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest registration accepted; shorter ones get 423 with Min-Expires. Default 60 s.
    pub min_expires: Duration,
    /// Longest registration granted; longer requests are shortened. Default 3600 s.
    pub max_expires: Duration,
    /// Used when the REGISTER names no expiry. Default 3600 s.
    pub default_expires: Duration,
    /// Most contacts one DN may bind; more gets 403. Default 10.
    pub max_contacts: usize,
    /// Most bindings across all DNs; a new binding past it gets 503. Default 100,000.
    pub max_bindings: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(3600),
            max_contacts: 10,
            max_bindings: 100_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_plan_matches_ranges_at_their_width() {
        let plan = NodeConfig::for_tests().dns;
        assert!(plan.contains("1000"));
        assert!(plan.contains("1999"));
        assert!(!plan.contains("2000"));
        assert!(!plan.contains("01000"));
        assert!(plan.contains("watson"));
        assert!(!plan.contains(""));
        assert_eq!(plan.len(), 1003);
    }
}
