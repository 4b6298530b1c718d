//! `[[site.dn]]`, `dns` and `acd_positions`: the DN plan as written, and how it becomes an
//! [`engine::DnPlan`] (ranges, single DNs, trunks with their allow-lists and callers).

use std::net::SocketAddr;
use std::time::Duration;

use engine::{Dn, DnKind, DnOptions, DnPlan, DnRange, DrForward, Trunk};
use serde::Deserialize;
use toml::Spanned;

use super::Invalid;

pub(super) fn dr_forward(value: Option<&Spanned<String>>) -> Result<Option<DrForward>, Invalid> {
    let Some(v) = value else { return Ok(None) };
    match v.get_ref().as_str() {
        "off" => Ok(Some(DrForward::Off)),
        "no-agent" => Ok(Some(DrForward::NoAgent)),
        "oos" => Ok(Some(DrForward::Oos)),
        other => Err((v.span().start, format!("`dr-forward`: `{other}` is not one of off, no-agent, oos"))),
    }
}

/// `[site.dn.options]`: DN-level overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct DnOptionsFile {
    dr_forward: Option<Spanned<String>>,
    router_timeout: Option<u32>,
    pub(super) default_dn: Option<Spanned<String>>,
    no_answer_timeout: Option<u32>,
}

/// `[[site.dn]]`: one DN with its type and options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct DnFile {
    /// The DN number (or trunk name).
    number: Spanned<String>,
    /// `extension`, `acd-position`, `routing-point` or `trunk`.
    #[serde(rename = "type")]
    kind: Spanned<String>,
    /// Trunk: where the peer listens.
    contact: Option<SocketAddr>,
    /// Trunk: dialled prefix it serves. Default "" (matches everything).
    prefix: Option<String>,
    /// Trunk: lower wins among equal prefixes. Default 0.
    priority: Option<u32>,
    /// Trunk: OPTIONS polling interval in seconds, 0-300 (0 = off). Default 0.
    oos_check: Option<u32>,
    /// Trunk: seconds without an answer before out of service, 0-30. Default 0.
    oos_force: Option<u32>,
    /// Trunk: source addresses or networks (`"192.0.2.0/24"`) whose requests are this
    /// trunk's, besides `contact`. Default none.
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    /// Trunk: DNs (ranges or single) that may call out through it. Default every
    /// authenticated agent line.
    #[serde(default)]
    callers: Vec<Spanned<DnSpec>>,
    /// Trunk: false for a remote site (a Tandem peer that does not follow 302s): its calls
    /// for an agent at the DR peer go over the peer trunk. Default true.
    follows_redirects: Option<bool>,
    #[serde(default)]
    pub(super) options: DnOptionsFile,
}

/// A DN entry: a numeric range `first-last` of equal width, or one DN.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) enum DnSpec {
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
        Ok(Self::Range(DnRange { first: a, last: b, width: first.len(), kind: DnKind::Extension }))
    }
}

pub(super) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn add_spec(dns: &mut DnPlan, spec: DnSpec, kind: DnKind, at: usize) -> Result<(), Invalid> {
    match spec {
        DnSpec::Range(mut r) => {
            r.kind = kind;
            if dns.ranges.iter().any(|o| o.width == r.width && o.first <= r.last && r.first <= o.last) {
                return Err((at, format!("DN range {}-{} overlaps another range", r.first, r.last)));
            }
            dns.ranges.push(r);
        }
        DnSpec::Single(number) => {
            if dns.contains(&number) {
                return Err((at, format!("DN `{number}` is provisioned twice")));
            }
            dns.singles.insert(number, Dn { kind, options: DnOptions::default(), trunk: None });
        }
    }
    Ok(())
}

/// Where the first `allow` rule naming a client certificate is written, if any.
pub(super) fn first_cert_rule(dns: &[DnFile]) -> Option<usize> {
    dns.iter().flat_map(|d| &d.allow).find(|a| a.get_ref().contains("cert=")).map(|a| a.span().start)
}

pub(super) fn add_dn(dns: &mut DnPlan, dn: DnFile) -> Result<(), Invalid> {
    let at = dn.number.span().start;
    let number = dn.number.into_inner();
    let kind = match dn.kind.get_ref().as_str() {
        "extension" => DnKind::Extension,
        "acd-position" => DnKind::AcdPosition,
        "routing-point" => DnKind::RoutingPoint,
        "trunk" => DnKind::Trunk,
        other => {
            return Err((
                dn.kind.span().start,
                format!("`type`: `{other}` is not one of extension, acd-position, routing-point, trunk"),
            ))
        }
    };
    if dns.contains(&number) {
        return Err((at, format!("`number`: DN `{number}` is provisioned twice")));
    }
    let trunk = match (kind, dn.contact) {
        (DnKind::Trunk, Some(contact)) => {
            let (check, force) = (dn.oos_check.unwrap_or(0), dn.oos_force.unwrap_or(0));
            if check > 300 || force > 30 {
                return Err((at, format!("trunk `{number}`: `oos-check` is 0-300 and `oos-force` 0-30 seconds")));
            }
            Some(Trunk {
                contact,
                prefix: dn.prefix.unwrap_or_default(),
                priority: dn.priority.unwrap_or(0),
                oos_check: Duration::from_secs(check.into()),
                oos_force: Duration::from_secs(force.into()),
                allow: allow_list(&dn.allow, &mut dns.cert_names)?,
                callers: callers(dn.callers)?,
                follows_redirects: dn.follows_redirects.unwrap_or(true),
                site: None,
            })
        }
        (DnKind::Trunk, None) => return Err((at, format!("trunk `{number}` needs a `contact`"))),
        (_, Some(_)) => return Err((at, format!("`contact`: only trunks have one (`{number}` is not a trunk)"))),
        (_, None) if dn.prefix.is_some() || dn.priority.is_some() || !dn.allow.is_empty() || !dn.callers.is_empty() => {
            return Err((
                at,
                format!("`prefix`/`priority`/`allow`/`callers`: only trunks have them (`{number}` is not a trunk)"),
            ))
        }
        (_, None) => None,
    };
    let options = DnOptions {
        dr_forward: dr_forward(dn.options.dr_forward.as_ref())?,
        router_timeout: dn.options.router_timeout.map(|s| Duration::from_secs(s.into())),
        default_dn: dn.options.default_dn.map(Spanned::into_inner),
        no_answer_timeout: dn.options.no_answer_timeout.map(|s| Duration::from_secs(s.into())),
    };
    dns.singles.insert(number, Dn { kind, options, trunk });
    Ok(())
}

/// A trunk's `allow`: an address (`192.0.2.7`), a network (`192.0.2.0/24`) or an
/// address with its port (`192.0.2.7:5060`, `[2001:db8::7]:5060`), optionally followed by
/// the one transport its requests must use (`192.0.2.0/24 tls`) and, over TLS, the name
/// its client certificate must be verified for (`192.0.2.0/24 tls cert=gw1.example.net`;
/// the name goes into `names`, the site's list, which the rule then indexes).
fn allow_list(entries: &[Spanned<String>], names: &mut Vec<String>) -> Result<Vec<engine::Allow>, Invalid> {
    entries
        .iter()
        .map(|e| {
            let (at, text) = (e.span().start, e.get_ref());
            let (rule, cert) = allow_rule(text).ok_or_else(|| (at, allow_error(text)))?;
            let Some(name) = cert else { return Ok(rule) };
            let index = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            let cert = u8::try_from(index).ok().filter(|i| usize::from(*i) < engine::MAX_CERT_NAMES);
            let too_many = format!("`allow`: at most {} certificate names per site", engine::MAX_CERT_NAMES);
            Ok(engine::Allow { cert: Some(cert.ok_or((at, too_many))?), ..rule })
        })
        .collect()
}

fn allow_error(text: &str) -> String {
    format!(
        "`allow`: `{}` is no address, network (a.b.c.d/n) or address:port, then optionally udp, tcp or tls, \
         then optionally (after tls) cert=<a DNS name or IP address of the client's certificate>",
        text.trim()
    )
}

/// One rule, and the certificate name it asks for.
fn allow_rule(text: &str) -> Option<(engine::Allow, Option<String>)> {
    let mut words = text.split_whitespace();
    let source = words.next()?;
    let transport = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("udp") => Some(engine::Transport::Udp),
        Some("tcp") => Some(engine::Transport::Tcp),
        Some("tls") => Some(engine::Transport::Tls),
        Some(_) => return None,
    };
    let cert = match words.next() {
        None => None,
        Some(word) if transport == Some(engine::Transport::Tls) => Some(cert_name(word)?),
        Some(_) => return None,
    };
    if words.next().is_some() {
        return None;
    }
    let (net, port) = if let Ok(net) = source.parse::<ipnet::IpNet>() {
        (net, None)
    } else if let Ok(ip) = source.parse::<std::net::IpAddr>() {
        (ipnet::IpNet::from(ip), None)
    } else {
        let addr = source.parse::<SocketAddr>().ok()?;
        (ipnet::IpNet::from(addr.ip()), Some(addr.port()))
    };
    Some((engine::Allow { net, port, transport, cert: None }, cert))
}

/// `cert=NAME`: a DNS name or an IP address, as a certificate's subjectAltName carries it.
fn cert_name(word: &str) -> Option<String> {
    let name = word.strip_prefix("cert=")?;
    let ok =
        !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    ok.then(|| name.to_ascii_lowercase())
}

/// A trunk's `callers`: DN ranges (a single DN is a range of one).
fn callers(entries: Vec<Spanned<DnSpec>>) -> Result<Vec<DnRange>, Invalid> {
    entries
        .into_iter()
        .map(|e| {
            let at = e.span().start;
            match e.into_inner() {
                DnSpec::Range(r) => Ok(r),
                DnSpec::Single(n) => match n.parse::<u64>() {
                    Ok(v) if n.bytes().all(|b| b.is_ascii_digit()) => {
                        Ok(DnRange { first: v, last: v, width: n.len(), kind: DnKind::Extension })
                    }
                    _ => Err((at, format!("`callers`: `{n}` is not a numeric DN or range"))),
                },
            }
        })
        .collect()
}
