//! `tandem router`: one [`routing::Router`] connected to every site of the deployment,
//! routing the calls on their Routing Points (its own site's at once, the others' when
//! their router is gone). The router owns no socket: CTI links ([`crate::cti_link`]) bring
//! events in and take requests out; this task feeds it and sleeps until its deadline.

use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;

use crate::clock;
use crate::config::Deployment;
use crate::cti_link::{self, LinkEvent};

/// Runs the router of site `home` (an index into the deployment's sites) until shutdown.
pub(crate) async fn run(
    deployment: Deployment,
    home: usize,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // A router and a stat service see the sites of their own peer group.
    let (deployment, home) = deployment.peer_group(home);
    let Some(config) = deployment.routing.clone() else {
        anyhow::bail!("the configuration has no [routing] section");
    };
    let sites = deployment.site_names();
    let name = sites.get(home).cloned().unwrap_or_default();
    let seed = clock::seed();
    let mut router = routing::Router::new(config, home, sites, deployment.agent_dns(), seed);
    let (events_tx, mut events) = mpsc::channel(4096);
    let links = cti_link::spawn(cti_link::endpoints(&deployment), events_tx, &shutdown);
    tracing::info!(site = %name, "router started");
    loop {
        let deadline = router.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let now = clock::now();
                match event {
                    LinkEvent::Up(site) => router.connected(site),
                    LinkEvent::Down(site) => router.disconnected(now, site),
                    LinkEvent::Event(site, event) => {
                        tracing::debug!(site, ?event, "router: event");
                        router.on_event(now, site, &event);
                    }
                }
            }
            () = sleep_or_forever(deadline) => router.on_timeout(clock::now()),
            _ = shutdown.changed() => break,
        }
        while let Some((site, request)) = router.poll_request() {
            tracing::debug!(site, ?request, "router: request");
            cti_link::send(&links, site, request);
        }
    }
    let s = router.stats();
    tracing::info!(
        site = %name,
        routed = s.routed,
        routed_remote = s.routed_remote,
        overflowed = s.overflowed,
        reservations_refused = s.reservations_refused,
        returned_unanswered = s.returned_unanswered,
        "router stopped"
    );
    Ok(())
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_or_forever(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
