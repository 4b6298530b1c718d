//! The TOML configuration file: serde types with `deny_unknown_fields`, converted into
//! typed [`engine::NodeConfig`]s. Every error names the field and its line.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use engine::{CallConfig, DnPlan, DnRange, NodeConfig, RegistrarConfig};
use serde::Deserialize;
use sipcore::TransactionConfig;
use toml::Spanned;

/// The whole file: one `[[site]]` table per SIP Server peer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The sites (at least one).
    site: Vec<SiteFile>,
}

/// One `[[site]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    /// Unique site name, used in logs and `endpoint` lines.
    name: Spanned<String>,
    /// UDP listen address for SIP. Optional if `sip_tcp` is set.
    sip_udp: Option<Spanned<SocketAddr>>,
    /// TCP listen address for SIP. Optional if `sip_udp` is set.
    sip_tcp: Option<Spanned<SocketAddr>>,
    /// Provisioned DNs: ranges `"1000-1999"` or single DNs `"operator"`.
    dns: Spanned<Vec<DnSpec>>,
    /// Registrar limits; defaults documented on [`RegistrarFile`].
    #[serde(default)]
    registrar: RegistrarFile,
    /// Transaction timers; defaults documented on [`TimersFile`].
    #[serde(default)]
    timers: TimersFile,
    /// Call handling; defaults documented on [`CallsFile`].
    #[serde(default)]
    calls: CallsFile,
}

/// `[site.calls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CallsFile {
    /// Seconds a call may ring before the caller gets 480. Default 20.
    no_answer_s: u32,
    /// Calls one DN may have at once before new ones get 486; 0 = no limit (the phone
    /// answers 486 itself). Default 0.
    max_calls_per_dn: u32,
}

impl Default for CallsFile {
    fn default() -> Self {
        Self { no_answer_s: 20, max_calls_per_dn: 0 }
    }
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

/// A DN entry: a numeric range `first-last` of equal width, or one DN.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
enum DnSpec {
    Range(DnRange),
    Single(String),
}

impl TryFrom<String> for DnSpec {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.contains(char::is_whitespace) {
            return Err(format!("DN `{s}` must be non-empty and contain no spaces"));
        }
        let Some((first, last)) = s.split_once('-').filter(|(a, b)| is_digits(a) && is_digits(b)) else {
            return Ok(Self::Single(s.to_owned()));
        };
        if first.len() != last.len() {
            return Err(format!("DN range `{s}`: both ends need the same number of digits"));
        }
        let (Ok(a), Ok(b)) = (first.parse::<u64>(), last.parse::<u64>()) else {
            return Err(format!("DN range `{s}` is too long"));
        };
        if a > b {
            return Err(format!("DN range `{s}` ends before it starts"));
        }
        Ok(Self::Range(DnRange { first: a, last: b, width: first.len() }))
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A validated site: its node configuration and where it listens.
#[derive(Debug, Clone)]
pub(crate) struct SiteConfig {
    pub(crate) node: NodeConfig,
    pub(crate) sip_udp: Option<SocketAddr>,
    pub(crate) sip_tcp: Option<SocketAddr>,
}

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
        if !names.insert(site.name.get_ref().clone()) {
            return Err(err(
                site.name.span().start,
                format!("`name`: site `{}` is defined twice", site.name.get_ref()),
            ));
        }
        if site.sip_udp.is_none() && site.sip_tcp.is_none() {
            return Err(err(
                site.name.span().start,
                format!("site `{}`: set `sip_udp` or `sip_tcp`", site.name.get_ref()),
            ));
        }
        for (field, addr) in [("sip_udp", &site.sip_udp), ("sip_tcp", &site.sip_tcp)] {
            if let Some(a) = addr {
                if !addrs.insert((field == "sip_udp", *a.get_ref())) {
                    return Err(err(
                        a.span().start,
                        format!("`{field}`: {} is already used by another site", a.get_ref()),
                    ));
                }
            }
        }
        if site.dns.get_ref().is_empty() {
            return Err(err(site.dns.span().start, "`dns`: provision at least one DN or range".into()));
        }
        let r = &site.registrar;
        if r.min_expires == 0 || r.min_expires > r.max_expires {
            return Err(err(
                site.name.span().start,
                "`registrar.min_expires` must be between 1 and `max_expires`".into(),
            ));
        }
        if site.timers.t1_ms == 0 || site.timers.t2_ms < site.timers.t1_ms {
            return Err(err(site.name.span().start, "`timers`: need 0 < t1_ms <= t2_ms".into()));
        }
        sites.push(site.into_site_config());
    }
    Ok(sites)
}

impl SiteFile {
    fn into_site_config(self) -> SiteConfig {
        let mut dns = DnPlan::default();
        for spec in self.dns.into_inner() {
            match spec {
                DnSpec::Range(r) => dns.ranges.push(r),
                DnSpec::Single(s) => {
                    dns.singles.insert(s);
                }
            }
        }
        let r = self.registrar;
        let node = NodeConfig {
            site: self.name.into_inner(),
            dns,
            registrar: RegistrarConfig {
                min_expires: Duration::from_secs(r.min_expires.into()),
                max_expires: Duration::from_secs(r.max_expires.into()),
                default_expires: Duration::from_secs(r.default_expires.into()),
                max_contacts: r.max_contacts as usize,
            },
            transactions: TransactionConfig {
                t1: Duration::from_millis(self.timers.t1_ms),
                t2: Duration::from_millis(self.timers.t2_ms),
                t4: Duration::from_millis(self.timers.t4_ms),
                ..TransactionConfig::default()
            },
            calls: CallConfig {
                no_answer: Duration::from_secs(self.calls.no_answer_s.into()),
                max_per_dn: self.calls.max_calls_per_dn as usize,
            },
            // Replaced by the bound address once the sockets exist (port 0 picks one).
            local: self
                .sip_udp
                .as_ref()
                .or(self.sip_tcp.as_ref())
                .map_or(SocketAddr::from(([127, 0, 0, 1], 5060)), |a| *a.get_ref()),
        };
        SiteConfig {
            node,
            sip_udp: self.sip_udp.map(Spanned::into_inner),
            sip_tcp: self.sip_tcp.map(Spanned::into_inner),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_loads() {
        let sites = load(include_str!("../../../examples/two-sites.toml"), "two-sites.toml").expect("valid");
        assert_eq!(sites.len(), 2);
        assert!(sites.iter().all(|s| s.node.dns.contains("1000") && s.node.dns.contains("1999")));
        assert_eq!(sites[0].node.dns.len(), 1000);
    }

    fn error_of(text: &str) -> String {
        load(text, "t.toml").expect_err("invalid").to_string()
    }

    #[test]
    fn unknown_field_is_named_with_its_line() {
        let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1000\"]\nbogus = 1\n");
        assert!(e.starts_with("t.toml:5:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn bad_values_are_named_with_their_line() {
        let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:99999\"\ndns = [\"1000\"]\n");
        assert!(e.starts_with("t.toml:3:"), "{e}");
        let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1999-1000\"]\n");
        assert!(e.starts_with("t.toml:4:") && e.contains("ends before it starts"), "{e}");
        let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1\"]\n[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5062\"\ndns = [\"1\"]\n");
        assert!(e.starts_with("t.toml:6:") && e.contains("defined twice"), "{e}");
        let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1\"]\n[[site]]\nname = \"b\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1\"]\n");
        assert!(e.starts_with("t.toml:7:") && e.contains("already used"), "{e}");
    }
}
