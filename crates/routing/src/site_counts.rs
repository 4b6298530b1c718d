//! Agents per site, for a pre-router (the Network SIP Server takes these figures, see
//! `engine::nss`): how many are logged in and Ready at each site, in all and as each
//! Routing Point's first target admits them, and at which site each logged-in agent's DN is.

use std::collections::BTreeMap;
use std::time::Duration;

use cti::AgentState;

use crate::model::{Model, SiteId};
use crate::target::Profile;
use crate::RoutingConfig;

/// Agents Ready and logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub ready: u32,
    pub logged_in: u32,
}

impl Counts {
    fn add(&mut self, ready: bool) {
        self.logged_in += 1;
        self.ready += u32::from(ready);
    }
}

/// One site's agents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteCounts {
    /// Every agent logged in at the site.
    pub all: Counts,
    /// The agents each Routing Point (of the routing plan) admits at once, by its DN.
    pub points: BTreeMap<String, Counts>,
}

/// The counts of sites `0..sites` (an agent counts once, at the site holding its login).
pub fn per_site(model: &Model, config: &RoutingConfig, sites: usize) -> Vec<SiteCounts> {
    let mut out = vec![SiteCounts::default(); sites];
    for counts in &mut out {
        counts.points = config.points.keys().map(|rp| (rp.clone(), Counts::default())).collect();
    }
    let no_profile = Profile::default();
    for (id, agent) in model.agents.iter().filter(|(_, a)| a.logged_in()) {
        let Some(counts) = agent.site.and_then(|s| out.get_mut(s)) else { continue };
        let ready = agent.state == AgentState::Ready;
        counts.all.add(ready);
        let profile = config.agents.get(id).unwrap_or(&no_profile);
        for (rp, plan) in &config.points {
            if plan.admits(profile, Duration::ZERO) {
                counts.points.entry(rp.clone()).or_default().add(ready);
            }
        }
    }
    out
}

/// DN -> the site where an agent is logged in on it.
pub fn agent_sites(model: &Model) -> BTreeMap<String, SiteId> {
    model.agents.values().filter(|a| a.logged_in()).filter_map(|a| Some((a.dn.clone(), a.site?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn login(model: &mut Model, now: Instant, site: SiteId, id: &str, dn: &str, ready: bool) {
        let login = cti::Event::EventAgentLogin { reference_id: None, this_dn: dn.into(), agent_id: id.into() };
        model.apply(now, site, &login);
        if ready {
            let work_mode = cti::AgentWorkMode::Unknown;
            let event =
                cti::Event::EventAgentReady { reference_id: None, this_dn: dn.into(), agent_id: id.into(), work_mode };
            model.apply(now, site, &event);
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn agents_count_at_their_site_and_for_the_points_that_admit_them() {
        let file: crate::RoutingFile = toml::from_str(
            r#"
            [[agent]]
            id = "A1"
            groups = ["sales"]
            [[point]]
            dn = "5000"
            target = "group:sales"
            "#,
        )
        .expect("routing section");
        let config = file.compile().expect("compiles");
        let now = Instant::now();
        let mut model = Model::default();
        login(&mut model, now, 1, "A1", "1001", true);
        login(&mut model, now, 1, "A2", "1002", false);
        login(&mut model, now, 0, "A3", "1003", true);
        let counts = per_site(&model, &config, 2);
        assert_eq!(counts[1].all, Counts { ready: 1, logged_in: 2 });
        assert_eq!(counts[0].all, Counts { ready: 1, logged_in: 1 });
        assert_eq!(counts[1].points["5000"], Counts { ready: 1, logged_in: 1 }, "only A1 is in sales");
        assert_eq!(counts[0].points["5000"], Counts::default());
        assert_eq!(agent_sites(&model).get("1002"), Some(&1));
    }
}
