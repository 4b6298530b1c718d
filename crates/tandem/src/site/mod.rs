//! One site at run time: its sockets (`sockets.rs`), the services started beside it
//! (`start.rs`) and the engine task that drives its node (`task.rs`: the two-beat loop;
//! `outputs.rs` where its messages leave; `desk_links.rs` its desktops' queues).

mod desk_links;
mod outputs;
mod sockets;
mod start;
mod task;

use std::net::SocketAddr;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::config::SiteConfig;
use crate::store::{Saved, Store};

pub(crate) use sockets::bind;

/// Sockets bound for one site, before it runs.
pub(crate) struct BoundSite {
    config: SiteConfig,
    udp: Option<UdpSocket>,
    /// Connected to the DR peer, sharing `udp`'s address (`sockets.rs`).
    peer_udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    /// The SIP over TLS listener and its acceptor.
    tls: Option<(TcpListener, crate::tls::SipTls)>,
    cti: Option<TcpListener>,
    /// The CTI server's TLS acceptor (`cti_tls`).
    cti_tls: Option<tokio_rustls::TlsAcceptor>,
    http: Option<TcpListener>,
    /// The site's store, opened, and what it had saved.
    store: Option<(Store, Saved)>,
    /// The DR peer link over mutual TLS (`[site.peer_link]`), bound.
    peer_link: Option<crate::peer_tls::BoundLink>,
}

/// Requests from a site to the process (answered on the oneshot).
pub(crate) enum AdminRequest {
    /// Re-read the configuration file (RequestReloadConfig).
    Reload(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// Prints an `endpoint <site> <kind> <addr>` line (what scripts and tests read). A
/// reader that has gone (a closed pipe) must not stop the site: write errors are ignored.
pub(crate) fn announce(site: &str, kind: &str, addr: SocketAddr) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "endpoint {site} {kind} {addr}").and_then(|()| out.flush());
}

/// What a reload hands a running site: its new engine configuration and CTI tokens.
pub(crate) struct Reloaded {
    pub(crate) node: engine::NodeConfig,
    pub(crate) cti: crate::cti_access::CtiTable,
}

impl BoundSite {
    /// The site's name.
    pub(crate) fn name(&self) -> &str {
        &self.config.node.site
    }

    /// Runs the site until `shutdown` turns true; configurations arriving on `reload`
    /// replace the running one (hot reload).
    pub(crate) async fn run(
        self,
        shutdown: watch::Receiver<bool>,
        reload: mpsc::Receiver<Reloaded>,
        admin: mpsc::Sender<AdminRequest>,
    ) -> anyhow::Result<()> {
        self.start(shutdown, reload, admin).run().await;
        Ok(())
    }
}
