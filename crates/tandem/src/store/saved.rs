//! Reading back, at start-up, the bindings and agent logins a site had when it stopped.
//! Expired bindings are deleted on the way; what no longer fits the configuration is
//! left to [`engine::Node::restore`] to skip.

use std::time::Duration;

use engine::{Peer, SavedAgent, SavedBinding};
use rusqlite::{params, Connection};

/// A site's saved state.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// Bindings still valid.
    pub(crate) bindings: Vec<SavedBinding>,
    /// Agents logged in.
    pub(crate) agents: Vec<SavedAgent>,
    /// Rows that could not be read back (a source that is no address, an unknown state).
    pub(crate) unreadable: usize,
}

/// Loads `site`'s saved state as of `now_ms` (Unix milliseconds).
pub(crate) fn load(conn: &Connection, site: &str, now_ms: i64) -> anyhow::Result<Saved> {
    conn.execute("DELETE FROM bindings WHERE site = ?1 AND expires_at <= ?2", params![site, now_ms])?;
    let mut saved = Saved::default();
    let mut bindings = conn.prepare(
        "SELECT dn, contact, expires_at, source, transport, call_id, cseq, q FROM bindings WHERE site = ?1 ORDER BY dn",
    )?;
    let rows = bindings.query_map(params![site], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, u32>(6)?,
            r.get::<_, u16>(7)?,
        ))
    })?;
    for row in rows {
        let (dn, contact, expires_at, source, transport, call_id, cseq, q) = row?;
        let Some(source) = peer(&source, &transport) else {
            saved.unreadable += 1;
            continue;
        };
        let expires_in = Duration::from_millis(u64::try_from(expires_at - now_ms).unwrap_or(0));
        saved.bindings.push(SavedBinding { dn, contact, expires_in, source, call_id, cseq, q });
    }
    let mut agents = conn.prepare(
        "SELECT agent_id, dn, state, work_mode, logged_in_at, state_since FROM agents WHERE site = ?1 ORDER BY agent_id",
    )?;
    let rows = agents.query_map(params![site], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (agent_id, dn, state, work_mode, logged_in_at, state_since) = row?;
        let Some((state, work_mode)) = agent_state(&state, work_mode) else {
            saved.unreadable += 1;
            continue;
        };
        let ago = |at: i64| Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0));
        saved.agents.push(SavedAgent {
            agent_id,
            dn,
            state,
            work_mode,
            logged_in_for: ago(logged_in_at),
            in_state_for: ago(state_since),
        });
    }
    Ok(saved)
}

/// A saved agent's state and work mode as stored (`ready`, `ManualIn`); `None` for a
/// state that cannot be restored.
pub(super) fn agent_state(state: &str, work_mode: Option<String>) -> Option<(cti::AgentState, cti::AgentWorkMode)> {
    let state = match state {
        "ready" | "after-call-work" => cti::AgentState::Ready,
        "not-ready" => cti::AgentState::NotReady,
        _ => return None,
    };
    let work_mode = work_mode
        .and_then(|m| serde_json::from_value(serde_json::Value::String(m)).ok())
        .unwrap_or(cti::AgentWorkMode::AuxWork);
    Some((state, work_mode))
}

/// The source of a binding as stored (`127.0.0.1:6001`, `UDP`). A TCP binding comes
/// back as such for [`engine::Node::restore`] to skip: its connection ended with the
/// process, and the phone registers again over a new one.
pub(super) fn peer(source: &str, transport: &str) -> Option<Peer> {
    let addr = source.parse().ok()?;
    match transport {
        "UDP" => Some(Peer::udp(addr)),
        "TCP" => Some(Peer::tcp(addr, engine::ConnId(0))),
        "TLS" => Some(Peer::tls(addr, engine::ConnId(0))),
        _ => None,
    }
}
