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
    /// The wallboard's thresholds for this Routing Point (default: `[routing]`'s).
    #[serde(default)]
    pub service_level_target: Option<u32>,
    /// Seconds of the longest wait that turn its tile amber.
    #[serde(default)]
    pub wait_amber: Option<u64>,
    /// ... and red.
    #[serde(default)]
    pub wait_red: Option<u64>,
}

/// A Routing Point's wallboard thresholds: its tile turns amber when a call has waited
/// `wait_amber`, red when one has waited `wait_red` or the service level is below
/// `service_level_target` per cent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub service_level_target: u32,
    pub wait_amber: Duration,
    pub wait_red: Duration,
}

impl Default for Thresholds {
    /// `[routing]`'s defaults for the default service level of 20 s.
    fn default() -> Self {
        Self { service_level_target: 80, wait_amber: Duration::from_secs(20), wait_red: Duration::from_secs(40) }
    }
}

impl Thresholds {
    /// `ok`, `amber` or `red` for a queue whose longest call waited `longest`, at
    /// `service_level` per cent (None before its first answer).
    pub fn alarm(&self, longest: Duration, service_level: Option<f64>) -> &'static str {
        let below_target = service_level.is_some_and(|sl| sl < f64::from(self.service_level_target));
        if longest >= self.wait_red || below_target {
            "red"
        } else if longest >= self.wait_amber {
            "amber"
        } else {
            "ok"
        }
    }
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
    /// The wallboard's service-level target, per cent, for every Routing Point without its
    /// own. Default 80.
    #[serde(default = "eighty")]
    pub service_level_target: u32,
    /// Seconds of waiting that turn a queue's tile amber. Default: `service-level`.
    #[serde(default)]
    pub wait_amber: Option<u64>,
    /// ... and red. Default: twice `service-level`.
    #[serde(default)]
    pub wait_red: Option<u64>,
}

fn eighty() -> u32 {
    80
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
            service_level_target: eighty(),
            wait_amber: None,
            wait_red: None,
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
    /// Its wallboard thresholds.
    pub thresholds: Thresholds,
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
    /// The wallboard's thresholds of Routing Points without their own.
    pub thresholds: Thresholds,
}

impl RoutingConfig {
    /// Routing Point `rp`'s wallboard thresholds.
    pub fn thresholds_of(&self, rp: &str) -> Thresholds {
        self.points.get(rp).map_or(self.thresholds, |p| p.thresholds)
    }
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
        let service_level = Duration::from_secs(self.service_level);
        let thresholds = Thresholds {
            service_level_target: self.service_level_target.min(100),
            wait_amber: Duration::from_secs(self.wait_amber.unwrap_or(self.service_level)),
            wait_red: Duration::from_secs(self.wait_red.unwrap_or(self.service_level * 2)),
        };
        let mut points = BTreeMap::new();
        for p in self.point {
            let mut plan = plan(&p)?;
            plan.thresholds = Thresholds {
                service_level_target: p.service_level_target.map_or(thresholds.service_level_target, |t| t.min(100)),
                wait_amber: p.wait_amber.map_or(thresholds.wait_amber, Duration::from_secs),
                wait_red: p.wait_red.map_or(thresholds.wait_red, Duration::from_secs),
            };
            if points.insert(p.dn.clone(), plan).is_some() {
                return Err(ConfigError::DuplicatePoint(p.dn));
            }
        }
        Ok(RoutingConfig {
            agents,
            points,
            no_answer_limit: self.no_answer_limit,
            service_level,
            takeover_after: Duration::from_millis(self.takeover_after_ms),
            reservation: Duration::from_secs(self.reservation.max(1)),
            stats_interval: (self.stats_interval > 0).then(|| Duration::from_secs(self.stats_interval)),
            thresholds,
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
        thresholds: Thresholds { service_level_target: 80, wait_amber: Duration::ZERO, wait_red: Duration::ZERO },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn point(dn: &str) -> PointFile {
        PointFile {
            dn: dn.into(),
            target: "*".into(),
            strategy: Strategy::default(),
            tiers: Vec::new(),
            priority: 0,
            max_wait: None,
            overflow: None,
            service_level_target: None,
            wait_amber: None,
            wait_red: None,
        }
    }

    #[test]
    fn a_queue_turns_amber_then_red_by_its_longest_wait_and_red_below_its_target() {
        let mut own = point("5001");
        (own.wait_amber, own.wait_red, own.service_level_target) = (Some(5), Some(10), Some(90));
        let file = RoutingFile { point: vec![point("5000"), own], service_level: 30, ..RoutingFile::default() };
        let config = file.compile().expect("valid");
        let defaults = config.thresholds_of("5000");
        assert_eq!((defaults.wait_amber.as_secs(), defaults.wait_red.as_secs()), (30, 60), "from the service level");
        assert_eq!(config.thresholds_of("7777"), defaults, "a Routing Point without a plan gets the defaults");
        let own = config.thresholds_of("5001");
        let s = Duration::from_secs;
        assert_eq!(own.alarm(s(4), None), "ok");
        assert_eq!(own.alarm(s(5), None), "amber");
        assert_eq!(own.alarm(s(10), Some(100.0)), "red");
        assert_eq!(own.alarm(s(0), Some(85.0)), "red", "below its 90 % target");
        assert_eq!(own.alarm(s(0), Some(95.0)), "ok");
    }
}
