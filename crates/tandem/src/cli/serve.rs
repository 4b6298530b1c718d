//! Serving sites in this process: each site's engine task, a router per site and a stat
//! service per site with a `stats` address (under `tandem up`), the configuration
//! reloaded on SIGHUP or RequestReloadConfig, and the stop signals.

use std::path::PathBuf;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use super::{block_on, Threads};
use crate::config::{self, SiteConfig};
use crate::site;

/// Runs `sites` in this process; with `services` (a deployment with `[routing]`), also a
/// router per site and a stat service per site that has a `stats` address.
pub(super) fn serve(
    sites: Vec<SiteConfig>,
    source: Option<PathBuf>,
    services: Option<config::Deployment>,
) -> anyhow::Result<()> {
    block_on(Threads::All, async move {
        let mut bound = Vec::new();
        for site in sites {
            bound.push(site::bind(site).await?);
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(deployment) = services.filter(|d| d.routing.is_some()) {
            start_services(&deployment, &stop_rx).await?;
        }
        let (admin_tx, admin_rx) = mpsc::channel::<site::AdminRequest>(16);
        let mut running = Running::spawn(bound, &stop_rx, &admin_tx);
        running.until_stopped(source.as_deref(), admin_rx).await?;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        for task in running.tasks {
            task.await???;
        }
        Ok(())
    })
}

/// The sites' engine tasks, each with its reload channel; `done` hears each task end.
struct Running {
    tasks: Vec<tokio::task::JoinHandle<Result<anyhow::Result<()>, tokio::task::JoinError>>>,
    reloaders: Vec<(String, mpsc::Sender<site::Reloaded>)>,
    done: mpsc::Receiver<()>,
}

impl Running {
    fn spawn(
        bound: Vec<site::BoundSite>,
        stop: &watch::Receiver<bool>,
        admin: &mpsc::Sender<site::AdminRequest>,
    ) -> Self {
        let (done_tx, done) = mpsc::channel::<()>(bound.len().max(1));
        let mut running = Self { tasks: Vec::new(), reloaders: Vec::new(), done };
        for site in bound {
            let (tx, rx) = mpsc::channel(4);
            running.reloaders.push((site.name().to_owned(), tx));
            // Every log line of the site's task names the site.
            let span = tracing::info_span!("site", site = %site.name());
            let task = tokio::spawn(site.run(stop.clone(), rx, admin.clone()).instrument(span));
            let done = done_tx.clone();
            running.tasks.push(tokio::spawn(async move {
                let result = task.await;
                let _ = done.send(()).await;
                result
            }));
        }
        running
    }

    /// Serves reloads until a stop signal, or until every site has ended on its own (a
    /// graceful shutdown drained it).
    async fn until_stopped(
        &mut self,
        source: Option<&std::path::Path>,
        mut admin: mpsc::Receiver<site::AdminRequest>,
    ) -> anyhow::Result<()> {
        let mut signals = Signals::new()?;
        let mut running = self.tasks.len();
        loop {
            tokio::select! {
                Some(()) = self.done.recv() => {
                    running -= 1;
                    if running == 0 {
                        return Ok(());
                    }
                }
                signal = signals.next() => match signal {
                    Signal::Stop => return Ok(()),
                    Signal::Reload => {
                        let _ = reload(source, &self.reloaders).await;
                    }
                },
                Some(site::AdminRequest::Reload(reply)) = admin.recv() => {
                    let _ = reply.send(reload(source, &self.reloaders).await);
                }
            }
        }
    }
}

/// Re-reads the configuration file and hands each running site its new configuration.
/// An invalid file is refused with its errors and the running configuration stays.
async fn reload(
    source: Option<&std::path::Path>,
    sites: &[(String, mpsc::Sender<site::Reloaded>)],
) -> Result<(), String> {
    let refuse = |text: String| {
        tracing::warn!("reload refused, keeping the running configuration: {text}");
        Err(text)
    };
    let Some(path) = source else {
        return refuse("the embedded configuration cannot change; start with --config FILE".into());
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return refuse(format!("reading {}: {e}", path.display())),
    };
    let new = match config::load(&text, &path.display().to_string()) {
        Ok(n) => n,
        Err(e) => return refuse(e.to_string()),
    };
    for (name, tx) in sites {
        match new.iter().find(|s| &s.node.site == name) {
            Some(site) => {
                let reloaded = site::Reloaded { node: site.node.clone(), cti: site.cti_table() };
                let _ = tx.send(reloaded).await;
            }
            None => tracing::warn!(site = %name, "site missing from the new configuration; it keeps its old one"),
        }
    }
    Ok(())
}

enum Signal {
    Stop,
    Reload,
}

/// The process signals Tandem answers: Ctrl-C / SIGTERM stop, SIGHUP reloads.
pub(super) struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())? })
    }

    /// Waits for Ctrl-C or SIGTERM (SIGHUP is ignored here).
    pub(super) async fn until_stop(&mut self) {
        loop {
            if let Signal::Stop = self.next().await {
                return;
            }
        }
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Signal::Stop,
            _ = self.term.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

/// A router for every site, and a stat service for every site with a `stats` address.
async fn start_services(deployment: &config::Deployment, stop: &watch::Receiver<bool>) -> anyhow::Result<()> {
    for (home, site) in deployment.sites.iter().enumerate() {
        let span = tracing::info_span!("router", site = %site.node.site);
        let router = crate::router_service::run(deployment.clone(), home, stop.clone()).instrument(span);
        tokio::spawn(async move {
            if let Err(e) = router.await {
                tracing::error!(error = %e, "router failed");
            }
        });
        if let Some(addr) = site.stats {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            site::announce(&site.node.site, "stats", listener.local_addr()?);
            let span = tracing::info_span!("stats", site = %site.node.site);
            let service = crate::stats_service::run(deployment.clone(), home, listener, stop.clone()).instrument(span);
            tokio::spawn(async move {
                if let Err(e) = service.await {
                    tracing::error!(error = %e, "stat service failed");
                }
            });
        }
    }
    Ok(())
}
