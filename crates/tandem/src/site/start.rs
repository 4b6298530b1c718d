//! Starting a bound site: the services that run beside its engine task (TCP/TLS
//! connection tasks, the CTI server, `/metrics`, a Network SIP Server's figures), its
//! node with what the store saved, and the task itself.

use std::collections::HashMap;
use std::sync::Arc;

use engine::Node;
use tokio::sync::{mpsc, watch};

use super::desk_links::DeskLinks;
use super::task::{Inbox, Outlets, SiteTask};
use super::{AdminRequest, BoundSite, Reloaded};
use crate::clock;
use crate::config::SiteConfig;
use crate::cti_server::{self, DeskMsg};
use crate::metrics::{self, Snapshot};
use crate::store::{Saved, Store};
use crate::tcp::{self, ConnControl, StreamMessage};
use crate::udp_intake::UdpIntake;

/// Messages queued from connection tasks to the engine before readers wait.
const STREAM_QUEUE: usize = 4096;
/// How often a CRLF keep-alive goes to the DR peer on the connected socket: if the peer
/// process is gone, its host answers with ICMP port unreachable and the socket reports
/// "connection refused" within one interval, so the pair splits in well under a second
/// (a silent network still waits for `oos-check`/`oos-force`).
const PEER_KEEPALIVE: std::time::Duration = std::time::Duration::from_millis(200);

impl BoundSite {
    /// Starts the services beside the engine task and returns the task, ready to run.
    pub(super) fn start(
        mut self,
        shutdown: watch::Receiver<bool>,
        reload: mpsc::Receiver<Reloaded>,
        admin: mpsc::Sender<AdminRequest>,
    ) -> SiteTask {
        let (streams, controls) = self.spawn_connections(&shutdown);
        let (desks, grants) = self.spawn_cti(&shutdown);
        let snapshots = self.spawn_metrics(&shutdown);
        let figures = spawn_nss_feed(&self.config, &shutdown);
        let media = start_media(&self.config);
        let recordings_dir = self.config.media.as_ref().and_then(|m| m.recordings.clone());
        let keep = self.config.media.as_ref().and_then(|m| m.keep_recordings);
        let convert = self.config.media.as_ref().is_none_or(|m| m.convert_recordings);
        let recordings = recordings_dir.clone().map(|dir| crate::recording::Recordings::start(dir, keep, convert));
        warn_open_settings(&self.config);
        let (node, mut store) = restored_node(self.config, self.store);
        if let Some(store) = store.as_mut() {
            store.set_recordings(recordings_dir);
        }
        let mut intake = UdpIntake::new();
        let link = self.peer_link.map(|l| l.start(shutdown.clone()));
        if let Some(link) = &link {
            intake.link_only(link.stats.clone());
        }
        let mut keepalive = tokio::time::interval(PEER_KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let tick = tokio::time::interval(std::time::Duration::from_secs(1));
        SiteTask {
            site: node.config().site.clone(),
            node,
            inbox: Inbox { streams, controls, desks, reload, figures, shutdown, tick, keepalive },
            outlets: Outlets { grants, snapshots, admin },
            udp: self.udp,
            peer_udp: self.peer_udp,
            link,
            intake,
            writers: HashMap::new(),
            desks: DeskLinks::default(),
            store,
            wake: Default::default(),
            slow_logged: None,
            media,
            recordings,
        }
    }

    /// The SIP TCP and TLS listeners' accept loops: their connection tasks send framed
    /// messages and open/close notices to the engine task.
    fn spawn_connections(
        &mut self,
        shutdown: &watch::Receiver<bool>,
    ) -> (mpsc::Receiver<StreamMessage>, mpsc::UnboundedReceiver<ConnControl>) {
        let (stream_tx, streams) = mpsc::channel::<StreamMessage>(STREAM_QUEUE);
        let (control_tx, controls) = mpsc::unbounded_channel::<ConnControl>();
        let limits = self.config.tcp;
        if let Some(listener) = self.tcp.take() {
            let (stream_tx, control_tx) = (stream_tx.clone(), control_tx.clone());
            tokio::spawn(tcp::accept_loop(listener, None, limits, stream_tx, control_tx, shutdown.clone()));
        }
        if let Some((listener, acceptor)) = self.tls.take() {
            tokio::spawn(tcp::accept_loop(listener, Some(acceptor), limits, stream_tx, control_tx, shutdown.clone()));
        }
        (streams, controls)
    }

    /// The CTI server, and the sender that hands it new tokens after a reload.
    fn spawn_cti(
        &mut self,
        shutdown: &watch::Receiver<bool>,
    ) -> (mpsc::Receiver<DeskMsg>, watch::Sender<Arc<crate::cti_access::CtiTable>>) {
        let (desk_tx, desks) = mpsc::channel::<DeskMsg>(cti_server::REQUEST_QUEUE);
        let (grants_tx, grants) = watch::channel(Arc::new(self.config.cti_table()));
        if let Some(listener) = self.cti.take() {
            let access = cti_server::CtiAccess {
                site: self.config.node.site.clone(),
                grants,
                max_clients: self.config.cti_clients,
                http: self.config.cti_http,
                tls: self.cti_tls.take(),
                reasons: self.config.not_ready_reasons.clone(),
                can: self.config.node.media.as_ref().map_or_else(Default::default, |m| {
                    crate::agent_page::MediaAbilities { record: m.can_record, conference: m.mixer }
                }),
                store: self.config.store.as_ref().filter(|s| s.cdr).map(|s| s.target.clone()),
            };
            tokio::spawn(cti_server::serve(listener, access, desk_tx, shutdown.clone()));
        }
        (desks, grants_tx)
    }

    /// `/metrics`, fed a snapshot once a second.
    fn spawn_metrics(&mut self, shutdown: &watch::Receiver<bool>) -> watch::Sender<Snapshot> {
        let (snapshot_tx, snapshot_rx) = watch::channel(Snapshot::default());
        if let Some(listener) = self.http.take() {
            let site = self.config.node.site.clone();
            tokio::spawn(metrics::serve(listener, site, snapshot_rx, shutdown.clone()));
        }
        snapshot_tx
    }
}

/// A Network SIP Server's figures of the sites it serves (never any on a site).
fn spawn_nss_feed(
    config: &SiteConfig,
    shutdown: &watch::Receiver<bool>,
) -> watch::Receiver<Option<engine::nss::Figures>> {
    let (figures_tx, figures) = watch::channel(None);
    if let Some(served) = config.nss_served.as_deref() {
        let feed = crate::nss_feed::Feed::new(served);
        for blind in feed.blind_sites() {
            tracing::warn!(site = %blind, "the NSS has no CTI link to this site (no `cti`): no figures, default routing");
        }
        tokio::spawn(crate::nss_feed::run(feed, figures_tx, shutdown.clone()));
    }
    figures
}

/// Says so at start when the site runs without authentication or a peer secret.
fn warn_open_settings(config: &SiteConfig) {
    let site = &config.node.site;
    if config.node.auth.is_none() && config.node.nss.is_none() {
        tracing::warn!(site = %site, "SIP authentication is off ([site.auth]): any host may register any DN and call as it");
    }
    if config.node.options.dr_peer_trunk.is_some() && config.node.peer_secret.is_none() {
        tracing::warn!(site = %site, "no peer_secret: the DR peer is known by its address alone, which can be spoofed");
    }
}

/// The site's node, with the bindings and logins its store saved put back.
/// The client of the site's media partner (`[site.media]`), if it has one.
fn start_media(config: &SiteConfig) -> Option<crate::media_ng::NgLink> {
    let media = config.media.as_ref()?;
    match crate::media_ng::start(media.ng.clone(), media.engine.timeout, media.mixer.clone()) {
        Ok(link) => {
            tracing::info!(site = %config.node.site, ng = ?media.ng, "media anchored at rtpengine");
            Some(link)
        }
        Err(e) => {
            tracing::error!(site = %config.node.site, error = %e, "no socket for rtpengine: calls follow media.on_failure");
            None
        }
    }
}

fn restored_node(config: SiteConfig, store: Option<(Store, Saved)>) -> (Node, Option<Store>) {
    let site = config.node.site.clone();
    let mut node = Node::new(config.node, clock::seed(), clock::now());
    node.set_wall_clock(clock::now(), clock::unix_ms() / 1000);
    let store = store.map(|(mut store, saved)| {
        node.restore(clock::now(), saved.bindings.clone(), saved.agents.clone());
        store.restored_agents(&saved);
        if saved.unreadable > 0 {
            tracing::warn!(site, rows = saved.unreadable, "saved state rows that could not be read were skipped");
        }
        store
    });
    (node, store)
}
