//! The `[routing]` section of a deployment file: agents' skills and groups, and one plan
//! per Routing Point (target, strategy, tiers, maximum wait and overflow).
//!
//! ```toml
//! [routing]
//! no-answer-limit = 3
//! [[routing.agent]]
//! id = "A1001"
//! groups = ["sales"]
//! skills = { sales = 5, english = 3 }
//! [[routing.point]]
//! dn = "5000"
//! target = "sales >= 5"
//! strategy = "longest-idle"
//! tiers = [{ after = 20, target = "sales >= 1" }]
//! max-wait = 120
//! overflow = "1999"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::target::{Profile, Target, TargetError};

/// How a Routing Point picks among the agents its target admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The agent Ready the longest (FreeSWITCH longest-idle-agent, Genesys StatTimeInReadyState).
    #[default]
    LongestIdle,
    /// The next agent after the last one chosen on this Routing Point, in AgentID order.
    RoundRobin,
    /// The agent who handled the fewest calls.
    FewestCalls,
    /// The agent with the least talk time.
    LeastTalkTime,
    /// Any admitted agent, at random.
    Random,
}

/// A widening of the target after the caller waited `after` seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierFile {
    /// Seconds of waiting after which this tier's agents are admitted too.
    pub after: u64,
    /// Who else may take the call from then on.
    pub target: String,
}

/// `[[routing.point]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PointFile {
    /// The Routing Point DN (the same at both sites).
    pub dn: String,
    /// Who may take the call (see [`crate::target`]). Default `*`.
    #[serde(default = "any")]
    pub target: String,
    /// How to choose among them.
    #[serde(default)]
    pub strategy: Strategy,
    /// Wider targets after some waiting.
    #[serde(default)]
    pub tiers: Vec<TierFile>,
    /// Caller priority on this Routing Point, in seconds of waiting it is worth.
    #[serde(default)]
    pub priority: u64,
    /// Seconds a caller waits for an agent before going to `overflow`.
    #[serde(default)]
    pub max_wait: Option<u64>,
    /// Where a call goes after `max-wait` (a DN of the call's site).
    #[serde(default)]
    pub overflow: Option<String>,
}

fn any() -> String {
    "*".into()
}

/// `[[routing.agent]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// AgentID.
    pub id: String,
    /// Agent groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Skill name -> level.
    #[serde(default)]
    pub skills: BTreeMap<String, u32>,
}

/// `[routing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoutingFile {
    /// Agents' skills and groups.
    #[serde(default)]
    pub agent: Vec<AgentFile>,
    /// One plan per Routing Point.
    #[serde(default)]
    pub point: Vec<PointFile>,
    /// Routed calls in a row an agent may leave unanswered before being made NotReady.
    /// Default 3 (0 = never).
    #[serde(default = "three")]
    pub no_answer_limit: u32,
    /// Seconds within which an answer counts for the service level. Default 20.
    #[serde(default = "twenty")]
    pub service_level: u64,
    /// Milliseconds a router waits before routing a call that waits at another site than
    /// its own (that site's router goes first; this one takes over if it is gone). Default 1000.
    #[serde(default = "thousand")]
    pub takeover_after_ms: u64,
    /// Seconds a reservation holds while the router routes. Default 5.
    #[serde(default = "five")]
    pub reservation: u64,
    /// Seconds of the stat service's counting interval (offered, answered, service level
    /// start again from zero at its end). Default 900 (15 minutes); 0 = never.
    #[serde(default = "nine_hundred")]
    pub stats_interval: u64,
}

fn three() -> u32 {
    3
}
fn twenty() -> u64 {
    20
}
fn thousand() -> u64 {
    1000
}
fn five() -> u64 {
    5
}
fn nine_hundred() -> u64 {
    900
}

impl Default for RoutingFile {
    fn default() -> Self {
        Self {
            agent: Vec::new(),
            point: Vec::new(),
            no_answer_limit: three(),
            service_level: twenty(),
            takeover_after_ms: thousand(),
            reservation: five(),
            stats_interval: nine_hundred(),
        }
    }
}

/// A Routing Point's plan, parsed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Targets with the wait after which each applies, widest last.
    pub tiers: Vec<(Duration, Target)>,
    pub strategy: Strategy,
    pub priority: Duration,
    pub max_wait: Option<Duration>,
    pub overflow: Option<String>,
}

/// The routing configuration, checked.
#[derive(Debug, Clone, Default)]
pub struct RoutingConfig {
    /// Skills and groups by AgentID.
    pub agents: BTreeMap<String, Profile>,
    /// Plans by Routing Point DN.
    pub points: BTreeMap<String, Plan>,
    pub no_answer_limit: u32,
    pub service_level: Duration,
    pub takeover_after: Duration,
    pub reservation: Duration,
    /// The stat service's counting interval; `None`: counters grow for ever.
    pub stats_interval: Option<Duration>,
}

/// A `[routing]` section that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("routing.point `{dn}`: {source}")]
    Target { dn: String, source: TargetError },
    #[error("routing.point `{0}` is listed twice")]
    DuplicatePoint(String),
    #[error("routing.agent `{0}` is listed twice")]
    DuplicateAgent(String),
    #[error("routing.point `{0}`: `overflow` needs `max-wait` (and the other way round)")]
    Overflow(String),
}

impl RoutingFile {
    /// Checks and parses the section.
    pub fn compile(self) -> Result<RoutingConfig, ConfigError> {
        let mut agents = BTreeMap::new();
        for a in self.agent {
            let profile = Profile { skills: a.skills, groups: a.groups };
            if agents.insert(a.id.clone(), profile).is_some() {
                return Err(ConfigError::DuplicateAgent(a.id));
            }
        }
        let mut points = BTreeMap::new();
        for p in self.point {
            let plan = plan(&p)?;
            if points.insert(p.dn.clone(), plan).is_some() {
                return Err(ConfigError::DuplicatePoint(p.dn));
            }
        }
        Ok(RoutingConfig {
            agents,
            points,
            no_answer_limit: self.no_answer_limit,
            service_level: Duration::from_secs(self.service_level),
            takeover_after: Duration::from_millis(self.takeover_after_ms),
            reservation: Duration::from_secs(self.reservation.max(1)),
            stats_interval: (self.stats_interval > 0).then(|| Duration::from_secs(self.stats_interval)),
        })
    }
}

fn plan(p: &PointFile) -> Result<Plan, ConfigError> {
    let parse = |text: &str| Target::parse(text).map_err(|source| ConfigError::Target { dn: p.dn.clone(), source });
    let mut tiers = vec![(Duration::ZERO, parse(&p.target)?)];
    for t in &p.tiers {
        tiers.push((Duration::from_secs(t.after), parse(&t.target)?));
    }
    tiers.sort_by_key(|(after, _)| *after);
    if p.max_wait.is_some() != p.overflow.is_some() {
        return Err(ConfigError::Overflow(p.dn.clone()));
    }
    Ok(Plan {
        tiers,
        strategy: p.strategy,
        priority: Duration::from_secs(p.priority),
        max_wait: p.max_wait.map(Duration::from_secs),
        overflow: p.overflow.clone(),
    })
}

impl Plan {
    /// True when an agent with `profile` may take a call that waited `waited`.
    pub fn admits(&self, profile: &Profile, waited: Duration) -> bool {
        self.tiers.iter().take_while(|(after, _)| *after <= waited).any(|(_, t)| t.admits(profile))
    }

    /// When the next tier opens for a call that waited `waited`.
    pub fn next_widening(&self, waited: Duration) -> Option<Duration> {
        self.tiers.iter().map(|(after, _)| *after).find(|after| *after > waited)
    }
}
