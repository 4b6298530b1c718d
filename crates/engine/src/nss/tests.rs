use super::*;
use crate::dn_plan::{Dn, DnKind, DnRange};

fn plan() -> DnPlan {
    let range = DnRange { first: 1000, last: 1999, width: 4, kind: DnKind::Extension };
    let mut plan = DnPlan { ranges: vec![range], ..DnPlan::default() };
    let rp = Dn { kind: DnKind::RoutingPoint, options: crate::DnOptions::default(), trunk: None };
    plan.singles.insert("5000".into(), rp);
    plan
}

fn site(name: &str, group: &str, weight: u32) -> NssSite {
    NssSite { name: name.into(), group: group.into(), weight, dns: plan() }
}

fn config(policy: Policy) -> NssConfig {
    NssConfig {
        sites: vec![site("ss1", "east", 1), site("ss2", "east", 3), site("ss3", "west", 1), site("ss4", "west", 1)],
        policy,
        default_sites: vec!["ss1".into(), "ss3".into()],
    }
}

fn counts(ready: u32, logged_in: u32) -> SiteFigures {
    SiteFigures { all: Counts { ready, logged_in }, points: BTreeMap::new() }
}

fn figures(per_site: [(u32, u32); 4]) -> Figures {
    let sites = ["ss1", "ss2", "ss3", "ss4"].iter().zip(per_site).map(|(s, (r, l))| ((*s).to_owned(), counts(r, l)));
    Figures { sites: sites.collect(), agents: BTreeMap::new() }
}

fn all(_: &str) -> bool {
    true
}

fn pick(config: &NssConfig, figures: Option<&Figures>, dn: &str, usable: impl Fn(&str) -> bool, turn: u64) -> String {
    match choose(config, figures, dn, usable, turn) {
        Choice::Site(s, _) => s,
        other => format!("{other:?}"),
    }
}

#[test]
fn f10_the_site_with_more_logged_in_agents_gets_the_call() {
    // F10: 3 agents logged in at SS2, 1 at SS1 (one peer group).
    let mut c = config(Policy::MostLoggedIn);
    c.sites.truncate(2);
    let f = figures([(0, 1), (0, 3), (0, 0), (0, 0)]);
    for turn in 0..4 {
        assert_eq!(choose(&c, Some(&f), "5000", all, turn), Choice::Site("ss2".into(), Why::Policy));
    }
}

#[test]
fn most_ready_picks_the_group_then_the_site_and_breaks_ties_by_logged_in() {
    let c = config(Policy::MostReady);
    // east has 1+2 ready, west 4+0: west, then ss3 in it.
    let f = figures([(1, 5), (2, 2), (4, 4), (0, 9)]);
    assert_eq!(pick(&c, Some(&f), "5000", all, 0), "ss3");
    // Equal ready everywhere: logged-in decides (east 2+2 vs west 3+3, then ss3 vs ss4).
    let f = figures([(1, 2), (1, 2), (1, 3), (1, 4)]);
    assert_eq!(pick(&c, Some(&f), "5000", all, 0), "ss4");
}

#[test]
fn ties_go_round_every_tied_site_in_turn() {
    let c = config(Policy::MostReady);
    let f = figures([(1, 1), (1, 1), (1, 1), (1, 1)]);
    let picked: std::collections::BTreeSet<String> = (0..8).map(|t| pick(&c, Some(&f), "5000", all, t)).collect();
    assert_eq!(picked.len(), 4, "each of the four tied sites gets calls: {picked:?}");
}

#[test]
fn a_routing_point_counts_only_the_agents_its_target_admits() {
    let c = config(Policy::MostReady);
    let mut f = figures([(5, 5), (0, 0), (0, 0), (0, 0)]);
    // ss1 has 5 ready agents but none for 5000; ss4 has the one who is.
    f.sites.entry("ss1".into()).or_default().points.insert("5000".into(), Counts::default());
    f.sites.entry("ss4".into()).or_default().points.insert("5000".into(), Counts { ready: 1, logged_in: 1 });
    assert_eq!(pick(&c, Some(&f), "5000", all, 0), "ss4");
    assert_eq!(pick(&c, Some(&f), "1500", all, 0), "ss1", "an extension counts every agent");
}

#[test]
fn an_agent_dn_goes_where_the_agent_is_logged_in_unless_that_site_is_out_of_service() {
    let c = config(Policy::MostReady);
    let mut f = figures([(9, 9), (0, 0), (0, 0), (0, 0)]);
    f.agents.insert("1002".into(), "ss4".into());
    assert_eq!(choose(&c, Some(&f), "1002", all, 0), Choice::Site("ss4".into(), Why::Agent));
    assert_eq!(pick(&c, Some(&f), "1002", |s| s != "ss4", 0), "ss1", "the policy instead");
}

#[test]
fn out_of_service_sites_are_skipped_and_none_left_is_no_site() {
    let c = config(Policy::MostReady);
    let f = figures([(0, 0), (0, 0), (7, 7), (0, 0)]);
    assert_eq!(pick(&c, Some(&f), "5000", |s| s != "ss3", 0), "ss1", "west has no ready agent left");
    assert_eq!(choose(&c, Some(&f), "5000", |_| false, 0), Choice::NoSite);
    assert_eq!(choose(&c, Some(&f), "777", all, 0), Choice::Unknown, "no site knows 777");
}

#[test]
fn without_figures_default_routing_takes_the_default_sites_in_turn() {
    let c = config(Policy::MostReady);
    let picks: Vec<Choice> = (0..4).map(|t| choose(&c, None, "5000", all, t)).collect();
    let expect = |s: &str| Choice::Site(s.into(), Why::Default);
    assert_eq!(picks, vec![expect("ss1"), expect("ss3"), expect("ss1"), expect("ss3")]);
    // A site without statistics does not compete; the others do.
    let mut f = figures([(1, 1), (5, 5), (1, 1), (1, 1)]);
    f.sites.remove("ss2");
    let picks: std::collections::BTreeSet<String> = (0..8).map(|t| pick(&c, Some(&f), "5000", all, t)).collect();
    // east is ss1 alone now (1 ready), west 2: ss3 and ss4 in turn, never ss2.
    assert_eq!(picks, ["ss3", "ss4"].iter().map(|s| (*s).to_owned()).collect(), "{picks:?}");
    assert_eq!(choose(&c, Some(&Figures::default()), "5000", all, 1), expect("ss3"), "no site has figures");
    // Default sites out of service: any site that knows the number.
    assert_eq!(choose(&c, None, "5000", |s| s == "ss4", 0), expect("ss4"));
}

#[test]
fn weighted_sends_each_site_its_share() {
    let c = config(Policy::Weighted);
    let mut per_site = BTreeMap::<String, u32>::new();
    for turn in 0..600 {
        *per_site.entry(pick(&c, None, "5000", all, turn)).or_default() += 1;
    }
    assert_eq!(per_site.get("ss2"), Some(&300), "weight 3 of 6: {per_site:?}");
    assert_eq!(per_site.get("ss1"), Some(&100));
}
