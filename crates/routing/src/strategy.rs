//! Choosing one agent among those a Routing Point's plan admits and who are free.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::Strategy;

/// A free, admitted agent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub(crate) id: &'a str,
    pub(crate) ready_since: Instant,
    pub(crate) calls: u64,
    pub(crate) talk: Duration,
}

/// Picks by `strategy`. `candidates` come longest-idle first; `last` is the agent this
/// Routing Point chose last (round-robin).
pub(crate) fn pick<'a>(
    strategy: Strategy,
    mut candidates: impl Iterator<Item = Candidate<'a>>,
    last: Option<&str>,
    rng: &mut impl Rng,
) -> Option<String> {
    let chosen = match strategy {
        // Candidates arrive in Ready order: the first is the longest idle.
        Strategy::LongestIdle => candidates.next(),
        Strategy::FewestCalls => candidates.min_by_key(|c| (c.calls, c.ready_since)),
        Strategy::LeastTalkTime => candidates.min_by_key(|c| (c.talk, c.ready_since)),
        Strategy::Random => {
            let all: Vec<Candidate<'a>> = candidates.collect();
            (!all.is_empty()).then(|| all[rng.gen_range(0..all.len())])
        }
        Strategy::RoundRobin => {
            let mut all: Vec<Candidate<'a>> = candidates.collect();
            all.sort_by(|a, b| a.id.cmp(b.id));
            let after = last.and_then(|l| all.iter().position(|c| c.id > l));
            after.map(|i| all[i]).or_else(|| all.first().copied())
        }
    };
    chosen.map(|c| c.id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[allow(clippy::disallowed_methods)]
    fn agents(now: Instant) -> Vec<(String, Instant, u64, Duration)> {
        vec![
            ("A1".into(), now, 5, Duration::from_secs(50)),
            ("A2".into(), now + Duration::from_secs(1), 1, Duration::from_secs(90)),
            ("A3".into(), now + Duration::from_secs(2), 3, Duration::from_secs(10)),
        ]
    }

    fn run(strategy: Strategy, last: Option<&str>) -> Option<String> {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let list = agents(now);
        let candidates = list.iter().map(|(id, ready_since, calls, talk)| Candidate {
            id,
            ready_since: *ready_since,
            calls: *calls,
            talk: *talk,
        });
        pick(strategy, candidates, last, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1))
    }

    #[test]
    fn each_strategy_picks_what_its_name_says() {
        assert_eq!(run(Strategy::LongestIdle, None).as_deref(), Some("A1"));
        assert_eq!(run(Strategy::FewestCalls, None).as_deref(), Some("A2"));
        assert_eq!(run(Strategy::LeastTalkTime, None).as_deref(), Some("A3"));
        assert_eq!(run(Strategy::RoundRobin, None).as_deref(), Some("A1"));
        assert_eq!(run(Strategy::RoundRobin, Some("A1")).as_deref(), Some("A2"));
        assert_eq!(run(Strategy::RoundRobin, Some("A3")).as_deref(), Some("A1"), "wraps around");
        assert!(run(Strategy::Random, None).is_some());
    }
}
