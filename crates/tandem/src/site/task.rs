//! The site's engine task: one loop, two beats a turn, as str0m's examples drive a peer.
//!
//! 1. [`SiteTask::wait`] sleeps until something happens (a socket readable, a message
//!    from a connection or a desktop, the node's next deadline, a tick) and returns it
//!    as a [`Woke`]: what woke it, and the instant and the thread's CPU time, read once.
//! 2. [`SiteTask::handle`] feeds it to the node, then [`SiteTask::flush`] sends what the
//!    node has to send and [`SiteTask::account`] times the turn: the wake-up latency
//!    histogram, the engine's busy share ([`Input::Busy`], the overload signal's) and
//!    the slow wake-up log.
//!
//! Nothing else blocks the task: connection tasks frame and write, the CTI server,
//! `/metrics` and a Network SIP Server's figures run beside it (started in `start.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Input, Node, Wake};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Interval;

use super::desk_links::DeskLinks;
use super::outputs::{self, Outputs, Writers};
use super::{sockets, AdminRequest, Reloaded};
use crate::clock;
use crate::cti_access::CtiTable;
use crate::cti_server::DeskMsg;
use crate::metrics::Snapshot;
use crate::peer_tls::{LinkEvent, PeerLink};
use crate::probe::{self, WakeLatency};
use crate::store::Store;
use crate::tcp::{ConnControl, StreamMessage};
use crate::udp_intake::UdpIntake;

/// A wake-up this long is logged (at most once per [`SLOW_WAKE_LOG_EVERY`]) with what
/// woke the task and how its time split between handling and sending.
const SLOW_WAKE: Duration = Duration::from_millis(5);
const SLOW_WAKE_LOG_EVERY: Duration = Duration::from_secs(1);

/// Everything that can wake the task besides its sockets, deadline and link.
pub(super) struct Inbox {
    pub(super) streams: mpsc::Receiver<StreamMessage>,
    pub(super) controls: mpsc::UnboundedReceiver<ConnControl>,
    pub(super) desks: mpsc::Receiver<DeskMsg>,
    pub(super) reload: mpsc::Receiver<Reloaded>,
    pub(super) figures: watch::Receiver<Option<engine::nss::Figures>>,
    pub(super) shutdown: watch::Receiver<bool>,
    /// Once a second: metrics snapshot, wall clock.
    pub(super) tick: Interval,
    /// Keep-alives to the DR peer on its connected socket.
    pub(super) keepalive: Interval,
}

/// Where the task publishes: CTI grants after a reload, `/metrics` snapshots, and the
/// process's admin requests.
pub(super) struct Outlets {
    pub(super) grants: watch::Sender<Arc<CtiTable>>,
    pub(super) snapshots: watch::Sender<Snapshot>,
    pub(super) admin: mpsc::Sender<AdminRequest>,
}

/// One site's running state: the node and everything the task owns around it.
pub(super) struct SiteTask {
    pub(super) site: String,
    pub(super) node: Node,
    pub(super) inbox: Inbox,
    pub(super) outlets: Outlets,
    pub(super) udp: Option<UdpSocket>,
    /// Connected to the DR peer, sharing `udp`'s address (`sockets.rs`).
    pub(super) peer_udp: Option<UdpSocket>,
    /// The DR peer link over mutual TLS.
    pub(super) link: Option<PeerLink>,
    pub(super) intake: UdpIntake,
    pub(super) writers: Writers,
    pub(super) desks: DeskLinks,
    pub(super) store: Option<Store>,
    pub(super) wake: WakeLatency,
    pub(super) slow_logged: Option<Instant>,
    /// The media partner's client (`[site.media]`).
    pub(super) media: Option<crate::media_ng::NgLink>,
    /// Recorded sessions' captures made WAV files (`[site.media] record`).
    pub(super) recordings: Option<crate::recording::Recordings>,
}

/// What woke the task.
enum Wakeup {
    /// The DR peer link's socket is readable (false: readiness failed).
    PeerDatagrams(bool),
    /// The main UDP socket is readable.
    Datagrams(bool),
    PeerLink(LinkEvent),
    Stream(StreamMessage),
    Control(ConnControl),
    /// The node's deadline, and whose it was.
    Timer(Option<Wake>),
    Reload(Box<Reloaded>),
    NssFigures,
    Desk(DeskMsg),
    Tick,
    PeerKeepalive,
    /// The media partner answered a command.
    Media(u64, engine::media::MediaReply),
}

/// A wake-up, with the instant and the thread's CPU time read when it woke.
struct Woke {
    wakeup: Wakeup,
    at: Instant,
    cpu: Duration,
}

impl Wakeup {
    /// The name the slow wake-up log gives it.
    fn name(&self) -> &'static str {
        match self {
            Self::PeerDatagrams(_) => "peer-udp",
            Self::Datagrams(_) => "udp",
            Self::PeerLink(_) => "peer-link",
            Self::Stream(_) => "stream",
            Self::Control(_) => "conn-control",
            Self::Timer(wake) => timer_name(*wake),
            Self::Reload(_) => "reload",
            Self::NssFigures => "nss-figures",
            Self::Desk(_) => "desk",
            Self::Tick => "tick",
            Self::PeerKeepalive => "peer-keepalive",
            Self::Media(..) => "media",
        }
    }
}

fn timer_name(wake: Option<Wake>) -> &'static str {
    match wake {
        Some(Wake::Transaction) => "timer:transaction",
        Some(Wake::Registration) => "timer:registration",
        Some(Wake::Call) => "timer:call",
        Some(Wake::AfterCallWork) => "timer:after-call-work",
        Some(Wake::TrunkPoll) => "timer:trunk-poll",
        Some(Wake::PresenceHeartbeat) => "timer:presence",
        Some(Wake::Reservation) => "timer:reservation",
        None => "timer",
    }
}

impl SiteTask {
    /// Runs until shutdown, or until a graceful shutdown has no call left.
    pub(super) async fn run(mut self) {
        tracing::info!(site = %self.site, "site running");
        while let Some(Woke { wakeup, at, cpu }) = self.wait().await {
            let name = wakeup.name();
            self.handle(wakeup, at);
            let handled = clock::now();
            self.flush().await;
            self.account(name, at, cpu, handled);
            if self.node.is_drained() {
                tracing::warn!(site = %self.site, "graceful shutdown complete: no call left");
                break;
            }
        }
        self.desks.close_all();
        if let Some(store) = self.store {
            store.close();
        }
        tracing::info!(site = %self.site, "site stopped");
    }

    /// The first beat: sleeps until something happens; None at shutdown.
    async fn wait(&mut self) -> Option<Woke> {
        let next = self.node.next_deadline();
        let deadline = next.map(|(at, _)| tokio::time::Instant::from_std(at));
        let inbox = &mut self.inbox;
        let wakeup = tokio::select! {
            ready = readable(self.peer_udp.as_ref()) => Wakeup::PeerDatagrams(ready.is_ok()),
            ready = readable(self.udp.as_ref()) => Wakeup::Datagrams(ready.is_ok()),
            Some(event) = link_event(self.link.as_mut()) => Wakeup::PeerLink(event),
            Some(msg) = inbox.streams.recv() => Wakeup::Stream(msg),
            Some(control) = inbox.controls.recv() => Wakeup::Control(control),
            () = sleep_until(deadline) => Wakeup::Timer(next.map(|(_, wake)| wake)),
            Some(reloaded) = inbox.reload.recv() => Wakeup::Reload(Box::new(reloaded)),
            Ok(()) = inbox.figures.changed() => Wakeup::NssFigures,
            Some(msg) = inbox.desks.recv() => Wakeup::Desk(msg),
            _ = inbox.tick.tick() => Wakeup::Tick,
            _ = inbox.keepalive.tick(), if self.peer_udp.is_some() => Wakeup::PeerKeepalive,
            Some((id, reply)) = media_reply(self.media.as_mut()) => Wakeup::Media(id, reply),
            _ = inbox.shutdown.changed() => return None,
        };
        Some(Woke { wakeup, at: clock::now(), cpu: probe::thread_cpu() })
    }

    /// The second beat: feeds what woke the task to the node.
    fn handle(&mut self, wakeup: Wakeup, at: Instant) {
        match wakeup {
            Wakeup::PeerDatagrams(ready) => {
                if let (true, Some(socket)) = (ready, self.peer_udp.as_ref()) {
                    self.intake.drain_peer(socket, &mut self.node);
                }
            }
            Wakeup::Datagrams(ready) => self.on_datagrams(ready),
            Wakeup::PeerLink(event) => on_link_event(&mut self.node, event),
            Wakeup::Stream(msg) => self.on_stream(&msg),
            Wakeup::Control(control) => apply_control(&mut self.writers, control),
            Wakeup::Timer(_) => self.node.handle_input(Input::Timeout(at)),
            Wakeup::Reload(reloaded) => self.on_reload(at, *reloaded),
            Wakeup::NssFigures => {
                let figures = self.inbox.figures.borrow_and_update().clone();
                self.node.set_nss_figures(figures);
            }
            Wakeup::Desk(msg) => self.desks.handle(&mut self.node, msg, &self.outlets.admin),
            Wakeup::Tick => self.on_tick(at),
            Wakeup::PeerKeepalive => {
                if let Some(socket) = self.peer_udp.as_ref() {
                    ping_peer(socket, &mut self.node);
                }
            }
            Wakeup::Media(id, reply) => self.node.handle_input(Input::Media { at, id, reply: &reply }),
        }
    }

    /// The main socket: the peer link first, whenever the main socket is served.
    fn on_datagrams(&mut self, ready: bool) {
        if let Some(socket) = self.peer_udp.as_ref() {
            self.intake.drain_peer(socket, &mut self.node);
        }
        if let (true, Some(socket)) = (ready, self.udp.as_ref()) {
            self.intake.drain(socket, &mut self.node);
        }
    }

    /// A message framed off a connection. Its Opened is queued before its first message:
    /// pending control goes first so that the answer finds the connection's writer.
    fn on_stream(&mut self, msg: &StreamMessage) {
        while let Ok(control) = self.inbox.controls.try_recv() {
            apply_control(&mut self.writers, control);
        }
        let (transport, conn, remote, certified) = (msg.transport, msg.conn, msg.remote, msg.certified);
        let at = clock::now();
        self.node.handle_input(Input::Stream { at, transport, conn, remote, certified, bytes: &msg.bytes });
    }

    /// A new configuration: the DR peer link follows the peer's address; new CTI tokens
    /// apply to new connections, and clients whose token went are closed.
    fn on_reload(&mut self, at: Instant, Reloaded { node: config, cti }: Reloaded) {
        if self.link.is_none() {
            let peer = config.dr_peer_contact();
            self.peer_udp = sockets::relink_peer(&self.site, self.udp.as_ref(), self.peer_udp.take(), peer);
        }
        self.node.reconfigure(at, config);
        let _ = self.outlets.grants.send(Arc::new(cti));
    }

    /// Once a second: the wall clock, and a snapshot for `/metrics`.
    fn on_tick(&mut self, at: Instant) {
        self.wake.tick();
        self.node.set_wall_clock(at, clock::unix_ms() / 1000);
        let snapshot = Snapshot {
            wake: self.wake.clone(),
            store: self.store.as_ref().map(Store::stats).unwrap_or_default(),
            peer_link: self.link.as_ref().map(|l| l.stats.clone()),
            udp_kernel_drops: self.intake.kernel_drops(),
            ..self.desks.snapshot(&self.node)
        };
        let _ = self.outlets.snapshots.send(snapshot);
    }

    /// Sends the node's messages, files its events, sends its desk events.
    async fn flush(&mut self) {
        while let Some(command) = self.node.poll_media() {
            if let Some(media) = &self.media {
                // Full: dropped, and the engine times the command out.
                let _ = media.commands.try_send(command);
            }
        }
        let out = Outputs {
            udp: self.udp.as_ref(),
            writers: &self.writers,
            link: self.link.as_ref(),
            recordings: self.recordings.as_ref(),
        };
        outputs::flush(&mut self.node, &out, self.store.as_mut()).await;
        self.desks.flush(&mut self.node);
    }

    /// Times the turn that woke at `woke` with `cpu_at_wake` of CPU time used.
    fn account(&mut self, name: &'static str, woke: Instant, cpu_at_wake: Duration, handled: Instant) {
        let done = clock::now();
        let took = done.saturating_duration_since(woke);
        let cpu = probe::thread_cpu().saturating_sub(cpu_at_wake);
        self.wake.observe(took, cpu);
        self.node.handle_input(Input::Busy { at: done, took, cpu });
        if took < SLOW_WAKE
            || self.slow_logged.is_some_and(|at| done.saturating_duration_since(at) < SLOW_WAKE_LOG_EVERY)
        {
            return;
        }
        self.slow_logged = Some(done);
        tracing::warn!(
            site = %self.site,
            arm = name,
            handle_us = handled.saturating_duration_since(woke).as_micros() as u64,
            flush_us = done.saturating_duration_since(handled).as_micros() as u64,
            "slow engine wake-up"
        );
    }
}

fn apply_control(writers: &mut Writers, control: ConnControl) {
    match control {
        ConnControl::Opened(id, tx) => {
            writers.insert(id, tx);
        }
        ConnControl::Closed(id) => {
            writers.remove(&id);
        }
    }
}

/// Sends one keep-alive to the DR peer; a refusal (a pending ICMP error) goes to the engine.
fn ping_peer(socket: &UdpSocket, node: &mut Node) {
    if let Err(e) = socket.try_send(b"\r\n\r\n") {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            node.handle_input(Input::PeerRefused { at: clock::now() });
        }
    }
}

/// A message from the TLS link comes from the DR peer (its certificate said so): the
/// engine sees it as from the peer's SIP address. A lost link splits the pair now.
fn on_link_event(node: &mut Node, event: LinkEvent) {
    match event {
        LinkEvent::Message(bytes) => {
            if let Some(remote) = node.config().dr_peer_contact() {
                node.handle_input(Input::Datagram { at: clock::now(), remote, bytes: &bytes });
            }
        }
        LinkEvent::Down => node.handle_input(Input::PeerRefused { at: clock::now() }),
        LinkEvent::Up => {}
    }
}

async fn readable(udp: Option<&UdpSocket>) -> std::io::Result<()> {
    match udp {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The media partner's next answer (never, without a partner).
async fn media_reply(media: Option<&mut crate::media_ng::NgLink>) -> Option<(u64, engine::media::MediaReply)> {
    match media {
        Some(media) => media.replies.recv().await,
        None => std::future::pending().await,
    }
}

/// The next news from the DR peer's TLS link (never, without one).
async fn link_event(link: Option<&mut PeerLink>) -> Option<LinkEvent> {
    match link {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}
