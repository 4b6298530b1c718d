//! A site's CTI tokens: `cti_tokens` (admin tokens, the short form) and `[[site.cti_token]]`
//! entries with a role (`admin`, `client`, `desktop` with its `dns`).

use engine::{DnKind, DnRange};
use serde::Deserialize;
use toml::Spanned;

use super::DnSpec;
use crate::cti_access::{Grant, Role};

/// `[[site.cti_token]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CtiTokenFile {
    /// The secret the client presents.
    token: Spanned<String>,
    /// `admin`, `client` (routers, stat services) or `desktop`.
    role: Spanned<String>,
    /// Desktop: the DNs (ranges or single) it may act on.
    #[serde(default)]
    dns: Vec<Spanned<DnSpec>>,
}

type Invalid = (usize, String);

/// The site's grants; `cti_at` is the CTI address, if any (and where it is written).
pub(super) fn grants(
    admin_tokens: &[Spanned<String>],
    entries: Vec<CtiTokenFile>,
    cti_at: Option<(std::net::SocketAddr, usize)>,
) -> Result<Vec<Grant>, Invalid> {
    let mut grants: Vec<Grant> = admin_tokens
        .iter()
        .filter(|t| !t.get_ref().trim().is_empty())
        .map(|t| Grant { token: t.get_ref().clone(), role: Role::Admin })
        .collect();
    for entry in entries {
        let at = entry.token.span().start;
        if entry.token.get_ref().trim().len() < 8 {
            return Err((at, "`cti_token.token` must be at least 8 characters".into()));
        }
        let role = match entry.role.get_ref().as_str() {
            "admin" => Role::Admin,
            "client" => Role::Client,
            "viewer" => Role::Viewer,
            "desktop" if entry.dns.is_empty() => {
                return Err((entry.role.span().start, "`cti_token`: a desktop token needs its `dns`".into()))
            }
            "desktop" => Role::Desktop(ranges(entry.dns)?),
            other => {
                return Err((
                    entry.role.span().start,
                    format!("`cti_token.role`: `{other}` is not one of admin, client, desktop, viewer"),
                ))
            }
        };
        grants.push(Grant { token: entry.token.into_inner(), role });
    }
    if let Some((addr, at)) = cti_at {
        if grants.is_empty() {
            return Err((at, "`cti_tokens`: a CTI address needs at least one non-empty token".into()));
        }
        if !addr.ip().is_loopback() {
            exposed_tokens(&grants, addr, at)?;
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = grants.iter().find(|g| !seen.insert(g.token.as_str())) {
        let at = cti_at.map_or(0, |(_, at)| at);
        return Err((at, format!("CTI token `{}…` is listed twice", twice.token.chars().take(3).collect::<String>())));
    }
    Ok(grants)
}

/// Tokens on a CTI address off loopback: not the demo's, and long enough not to be guessed.
fn exposed_tokens(grants: &[Grant], addr: std::net::SocketAddr, at: usize) -> Result<(), Invalid> {
    /// Characters a CTI token needs on an address off loopback.
    const MIN_EXPOSED_TOKEN: usize = 16;
    if grants.iter().any(|g| g.token == "demo-token") {
        return Err((
            at,
            format!("`cti`: {addr} is not a loopback address; the token `demo-token` is for the demo only"),
        ));
    }
    if grants.iter().any(|g| g.token.trim().len() < MIN_EXPOSED_TOKEN) {
        return Err((
            at,
            format!(
                "`cti`: {addr} is not a loopback address; every CTI token there must be at least \
                 {MIN_EXPOSED_TOKEN} characters (a short one is guessed)"
            ),
        ));
    }
    Ok(())
}

fn ranges(dns: Vec<Spanned<DnSpec>>) -> Result<Vec<DnRange>, Invalid> {
    dns.into_iter()
        .map(|d| {
            let at = d.span().start;
            match d.into_inner() {
                DnSpec::Range(r) => Ok(r),
                DnSpec::Single(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.len() <= 18 => {
                    let v = n.parse::<u64>().map_err(|_| (at, format!("`cti_token.dns`: `{n}`")))?;
                    Ok(DnRange { first: v, last: v, width: n.len(), kind: DnKind::Extension })
                }
                DnSpec::Single(n) => Err((at, format!("`cti_token.dns`: `{n}` is not a numeric DN or range"))),
            }
        })
        .collect()
}

/// `not_ready_reasons`, checked: at most 32, each 1 to 32 visible characters (they become
/// buttons on the agent page and `ReasonCode`s in the agent state log). Empty: `Break`.
pub(super) fn reasons(written: Vec<Spanned<String>>) -> Result<Vec<String>, Invalid> {
    if written.len() > 32 {
        return Err((written[32].span().start, "`not_ready_reasons`: at most 32".into()));
    }
    let mut reasons = Vec::with_capacity(written.len());
    for reason in written {
        let text = reason.get_ref();
        let visible = text.chars().all(|c| !c.is_control()) && !text.trim().is_empty();
        if !visible || text.chars().count() > 32 {
            return Err((reason.span().start, "`not_ready_reasons`: each 1 to 32 visible characters".into()));
        }
        if reasons.contains(text) {
            return Err((reason.span().start, format!("`not_ready_reasons`: `{text}` twice")));
        }
        reasons.push(reason.into_inner());
    }
    if reasons.is_empty() {
        reasons.push("Break".to_owned());
    }
    Ok(reasons)
}
