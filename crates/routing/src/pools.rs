//! Who is free, per target: for every distinct target of the routing plans, the agents it
//! admits who are available now (Ready, no call, not held by this router), longest idle
//! first. A decision then reads one small ordered set instead of scanning every agent:
//! with 10,000 agents in 100 groups a call looks at its group's free agents only.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::target::{Profile, Target};

/// Index of a distinct target.
pub(crate) type TargetId = usize;

#[derive(Debug, Clone, Default)]
pub(crate) struct Pools {
    targets: Vec<Target>,
    /// Agent -> the targets that admit it (worked out when the agent is first seen).
    members: BTreeMap<String, Vec<TargetId>>,
    /// Per target: free agents by idle-since.
    free: Vec<BTreeSet<(Instant, String)>>,
    /// Agent -> its idle-since while free.
    since: BTreeMap<String, Instant>,
}

impl Pools {
    /// Pools for these targets (deduplicated by the caller).
    pub(crate) fn new(targets: Vec<Target>) -> Self {
        let free = vec![BTreeSet::new(); targets.len()];
        Self { targets, members: BTreeMap::new(), free, since: BTreeMap::new() }
    }

    /// Marks `agent` free since `idle_since`, or not free (`None`); true if that changed.
    pub(crate) fn set(&mut self, agent: &str, profile: &Profile, idle_since: Option<Instant>) -> bool {
        if self.since.get(agent).copied() == idle_since {
            return false;
        }
        let targets = &self.targets;
        let member_of = self
            .members
            .entry(agent.to_owned())
            .or_insert_with(|| (0..targets.len()).filter(|t| targets[*t].admits(profile)).collect());
        if let Some(old) = self.since.remove(agent) {
            for t in member_of.iter() {
                self.free[*t].remove(&(old, agent.to_owned()));
            }
        }
        if let Some(at) = idle_since {
            for t in member_of.iter() {
                self.free[*t].insert((at, agent.to_owned()));
            }
            self.since.insert(agent.to_owned(), at);
        }
        true
    }

    /// No agent is free.
    pub(crate) fn is_empty(&self) -> bool {
        self.since.is_empty()
    }

    /// How many distinct targets there are.
    pub(crate) fn targets(&self) -> usize {
        self.targets.len()
    }

    /// Free agents admitted by `target`, longest idle first.
    pub(crate) fn free(&self, target: TargetId) -> impl Iterator<Item = &(Instant, String)> + '_ {
        self.free.get(target).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn an_agent_is_listed_under_the_targets_that_admit_it_while_free() {
        let t0 = Instant::now();
        let targets = vec![
            Target::parse("sales").expect("t"),
            Target::parse("support").expect("t"),
            Target::parse("*").expect("t"),
        ];
        let mut pools = Pools::new(targets);
        let sales = Profile { skills: [("sales".to_owned(), 3)].into_iter().collect(), groups: Vec::new() };
        pools.set("A1", &sales, Some(t0));
        assert_eq!(pools.free(0).count(), 1);
        assert_eq!(pools.free(1).count(), 0);
        assert_eq!(pools.free(2).count(), 1);
        pools.set("A1", &sales, None);
        assert_eq!(pools.free(0).count() + pools.free(2).count(), 0);
    }
}
