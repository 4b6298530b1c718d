//! Routing targets: which agents may take a call. A target is a small expression over an
//! agent's skills (with levels) and groups:
//!
//! ```text
//! sales >= 5 & english        a skill at level 5 or more, and another at any level (>= 1)
//! group:support | billing > 2 either a member of group "support", or billing above 2
//! *                           any agent
//! ```
//!
//! `&` binds tighter than `|`; no parentheses (a list of tiers covers what they would).

use std::collections::BTreeMap;
use std::fmt;

/// One condition on an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Any,
    Group(String),
    Skill { name: String, op: Op, level: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    AtLeast,
    Above,
    Equal,
    AtMost,
    Below,
}

/// A parsed target: OR of ANDs of terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    any_of: Vec<Vec<Term>>,
    text: String,
}

/// A target that does not parse, with the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target `{text}`: {problem}")]
pub struct TargetError {
    text: String,
    problem: String,
}

/// What a target is checked against.
pub trait Qualities {
    /// The agent's level in `skill`, if it has it.
    fn skill(&self, skill: &str) -> Option<u32>;
    /// True when the agent belongs to `group`.
    fn in_group(&self, group: &str) -> bool;
}

impl Target {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let fail = |problem: String| TargetError { text: text.to_owned(), problem };
        let mut any_of = Vec::new();
        for alternative in text.split('|') {
            let mut all_of = Vec::new();
            for term in alternative.split('&') {
                all_of.push(parse_term(term.trim()).map_err(fail)?);
            }
            any_of.push(all_of);
        }
        Ok(Self { any_of, text: text.trim().to_owned() })
    }

    /// True when an agent with these qualities may take the call.
    pub fn admits(&self, agent: &impl Qualities) -> bool {
        self.any_of.iter().any(|all| all.iter().all(|t| term_admits(t, agent)))
    }

    /// The groups the target names (for per-group statistics).
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.any_of.iter().flatten().filter_map(|t| match t {
            Term::Group(g) => Some(g.as_str()),
            Term::Any | Term::Skill { .. } => None,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_term(term: &str) -> Result<Term, String> {
    if term == "*" {
        return Ok(Term::Any);
    }
    if let Some(group) = term.strip_prefix("group:") {
        return name(group.trim()).map(|g| Term::Group(g.to_owned()));
    }
    let ops = [(">=", Op::AtLeast), ("<=", Op::AtMost), (">", Op::Above), ("<", Op::Below), ("=", Op::Equal)];
    for (symbol, op) in ops {
        if let Some((skill, level)) = term.split_once(symbol) {
            let level = level.trim().parse::<u32>().map_err(|_| format!("`{}` is not a skill level", level.trim()))?;
            return name(skill.trim()).map(|s| Term::Skill { name: s.to_owned(), op, level });
        }
    }
    name(term).map(|s| Term::Skill { name: s.to_owned(), op: Op::AtLeast, level: 1 })
}

fn name(text: &str) -> Result<&str, String> {
    let ok = !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(text)
    } else if text.is_empty() {
        Err("an empty term (write `*` for any agent)".into())
    } else {
        Err(format!("`{text}` is not a skill or group name (letters, digits, _ - .)"))
    }
}

fn term_admits(term: &Term, agent: &impl Qualities) -> bool {
    match term {
        Term::Any => true,
        Term::Group(g) => agent.in_group(g),
        Term::Skill { name, op, level } => agent.skill(name).is_some_and(|have| match op {
            Op::AtLeast => have >= *level,
            Op::Above => have > *level,
            Op::Equal => have == *level,
            Op::AtMost => have <= *level,
            Op::Below => have < *level,
        }),
    }
}

/// Skills and groups as plain maps (what the configuration gives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Skill name -> level.
    pub skills: BTreeMap<String, u32>,
    /// Group names.
    pub groups: Vec<String>,
}

impl Qualities for Profile {
    fn skill(&self, skill: &str) -> Option<u32> {
        self.skills.get(skill).copied()
    }

    fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(skills: &[(&str, u32)], groups: &[&str]) -> Profile {
        Profile {
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    #[test]
    fn levels_groups_and_alternatives() {
        let t = Target::parse("sales >= 5 & english | group:vip").expect("parses");
        assert!(t.admits(&agent(&[("sales", 5), ("english", 1)], &[])));
        assert!(!t.admits(&agent(&[("sales", 4), ("english", 9)], &[])));
        assert!(!t.admits(&agent(&[("sales", 9)], &[])), "english missing");
        assert!(t.admits(&agent(&[], &["vip"])));
        assert!(Target::parse("*").expect("any").admits(&agent(&[], &[])));
        assert!(Target::parse("billing<3").expect("parses").admits(&agent(&[("billing", 2)], &[])));
        assert!(!Target::parse("billing=3").expect("parses").admits(&agent(&[("billing", 2)], &[])));
        assert_eq!(t.groups().collect::<Vec<_>>(), vec!["vip"]);
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let e = Target::parse("sales >= high").expect_err("not a level");
        assert!(e.to_string().contains("`high` is not a skill level"), "{e}");
        let e = Target::parse("sales & ").expect_err("empty");
        assert!(e.to_string().contains("empty term"), "{e}");
        let e = Target::parse("sa les").expect_err("space");
        assert!(e.to_string().contains("not a skill or group name"), "{e}");
    }
}
