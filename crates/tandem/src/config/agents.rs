//! `[[site.agent]]`: agent logins, their passwords (clear, or argon2id hashes the CTI
//! server checks) and whether a hash is mandatory (`agent_passwords`).

use std::collections::BTreeMap;

use engine::{AgentLogin, DnKind, DnPlan};
use serde::Deserialize;
use toml::Spanned;

type Invalid = (usize, String);
/// Agent logins by AgentID.
type Logins = BTreeMap<String, AgentLogin>;
/// argon2id PHC strings by AgentID.
type Hashes = BTreeMap<String, String>;

/// `[[site.agent]]`: an agent login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentFile {
    /// AgentID.
    id: Spanned<String>,
    /// Password in clear (optional; prefer `password_hash`).
    password: Option<String>,
    /// The password as an argon2 PHC string (`tandem passwd --agent ID` prints one);
    /// checked by the CTI server off the engine thread.
    password_hash: Option<Spanned<String>>,
    /// Default DN for the login (optional).
    dn: Option<Spanned<String>>,
}

/// The agent logins by AgentID, and the password hashes by AgentID.
pub(super) fn logins(
    dns: &DnPlan,
    files: Vec<AgentFile>,
    agent_passwords: Option<Spanned<String>>,
    name_at: usize,
) -> Result<(Logins, Hashes), Invalid> {
    let mut agents = BTreeMap::new();
    let required = match agent_passwords.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("optional") => false,
        Some("required") => true,
        Some(other) => {
            let at = agent_passwords.as_ref().map_or(name_at, |p| p.span().start);
            return Err((at, format!("`agent_passwords`: `{other}` is not one of optional, required")));
        }
    };
    let mut agent_hashes = BTreeMap::new();
    for agent in files {
        let at = agent.id.span().start;
        match (&agent.password, &agent.password_hash) {
            (Some(_), Some(h)) => {
                return Err((h.span().start, "`agent`: set `password` or `password_hash`, not both".into()))
            }
            (_, Some(h)) if argon2::password_hash::PasswordHash::new(h.get_ref()).is_err() => {
                return Err((
                    h.span().start,
                    "`agent.password_hash`: not a PHC string (`tandem passwd --agent ID`)".into(),
                ))
            }
            (_, Some(h)) => {
                agent_hashes.insert(agent.id.get_ref().clone(), h.get_ref().clone());
            }
            (Some(_), None) if required => {
                return Err((
                    at,
                    "`agent`: `agent_passwords = \"required\"` wants a `password_hash`, not a clear `password`".into(),
                ))
            }
            (None, None) if required => {
                return Err((
                    at,
                    "`agent`: `agent_passwords = \"required\"` and this agent has no `password_hash`".into(),
                ))
            }
            _ => {}
        }
        let login = agent_login(dns, agent.dn.as_ref(), agent.password)?;
        let at = agent.id.span().start;
        let id = agent.id.into_inner();
        if agents.insert(id.clone(), AgentLogin { id: id.clone(), ..login }).is_some() {
            return Err((at, format!("`agent.id`: agent `{id}` is defined twice")));
        }
    }
    Ok((agents, agent_hashes))
}

fn agent_login(dns: &DnPlan, dn: Option<&Spanned<String>>, password: Option<String>) -> Result<AgentLogin, Invalid> {
    if let Some(d) = dn {
        if !dns.kind(d.get_ref()).is_some_and(DnKind::is_agent_line) {
            return Err((
                d.span().start,
                format!("`agent.dn`: `{}` is not a provisioned Extension or ACD Position", d.get_ref()),
            ));
        }
    }
    Ok(AgentLogin { id: String::new(), password, default_dn: dn.map(|d| d.get_ref().clone()) })
}
