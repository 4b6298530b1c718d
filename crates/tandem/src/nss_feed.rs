//! What feeds a Network SIP Server's decisions: a stat service's model of the served
//! sites (CTI links to each, as `tandem stat-server` keeps), turned into
//! [`engine::nss::Figures`] whenever an event changes it. A site whose CTI link is down
//! has no figures, so calls it could take are default-routed (`engine::nss`).

use std::collections::BTreeSet;

use engine::nss::{Counts, Figures, SiteFigures};
use routing::site_counts;
use tokio::sync::{mpsc, watch};

use crate::clock;
use crate::config::Deployment;
use crate::cti_link::{self, Endpoint, LinkEvent};

/// The served sites' CTI endpoints and what the stat service needs.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    endpoints: Vec<Endpoint>,
    names: Vec<String>,
    monitored: Vec<String>,
    routing: routing::RoutingConfig,
}

impl Feed {
    /// The feed over `served` (a deployment of the NSS's sites only).
    pub(crate) fn new(served: &Deployment) -> Self {
        Self {
            endpoints: cti_link::endpoints(served),
            names: served.site_names(),
            monitored: served.agent_dns(),
            routing: served.routing.clone().unwrap_or_default(),
        }
    }

    /// Sites that have no CTI address (and so never any figures).
    pub(crate) fn blind_sites(&self) -> Vec<&str> {
        let linked: BTreeSet<usize> = self.endpoints.iter().map(|e| e.site).collect();
        self.names.iter().enumerate().filter(|(i, _)| !linked.contains(i)).map(|(_, n)| n.as_str()).collect()
    }
}

/// Keeps `out` up to date until shutdown.
pub(crate) async fn run(feed: Feed, out: watch::Sender<Option<Figures>>, mut shutdown: watch::Receiver<bool>) {
    let now = clock::now();
    let mut service = routing::stats::StatService::new(now, feed.routing.clone(), feed.names.clone(), feed.monitored);
    let (events_tx, mut events) = mpsc::channel(4096);
    let links = cti_link::spawn(feed.endpoints, events_tx, &shutdown);
    let mut up = vec![false; feed.names.len()];
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                apply(&mut service, &mut up, event);
                // Take what else is queued before computing the figures once.
                while let Ok(event) = events.try_recv() {
                    apply(&mut service, &mut up, event);
                }
            }
            _ = shutdown.changed() => break,
        }
        while let Some((site, request)) = service.poll_request() {
            cti_link::send(&links, site, request);
        }
        let figures = figures(service.model(), &feed.routing, &feed.names, &up);
        out.send_if_modified(|old| {
            let changed = old.as_ref() != Some(&figures);
            *old = Some(figures);
            changed
        });
    }
}

fn apply(service: &mut routing::stats::StatService, up: &mut [bool], event: LinkEvent) {
    let now = clock::now();
    match event {
        LinkEvent::Up(site) => {
            service.connected(site);
            if let Some(u) = up.get_mut(site) {
                *u = true;
            }
        }
        LinkEvent::Down(site) => {
            service.disconnected(now, site);
            if let Some(u) = up.get_mut(site) {
                *u = false;
            }
        }
        LinkEvent::Event(site, event) => {
            service.on_event(now, site, &event);
        }
    }
}

/// The figures of the sites whose link is up.
fn figures(model: &routing::Model, config: &routing::RoutingConfig, names: &[String], up: &[bool]) -> Figures {
    let count = |c: site_counts::Counts| Counts { ready: c.ready, logged_in: c.logged_in };
    let sites = site_counts::per_site(model, config, names.len())
        .into_iter()
        .zip(names.iter().zip(up))
        .filter(|(_, (_, up))| **up)
        .map(|(c, (name, _))| {
            let points = c.points.into_iter().map(|(rp, p)| (rp, count(p))).collect();
            (name.clone(), SiteFigures { all: count(c.all), points })
        })
        .collect();
    let agents = site_counts::agent_sites(model)
        .into_iter()
        .filter_map(|(dn, site)| Some((dn, names.get(site)?.clone())))
        .collect();
    Figures { sites, agents }
}
