//! [`Node`]: one site's state machine and its request dispatcher.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sipcore::{Peer, TransactionEvent, TransactionLayer, Transmit};
use sipmsg::Framing;

mod answer;
mod answers;
mod auth_gate;
mod call_control;
mod desk_requests;
mod dr_peer;
mod input;
mod messages;
mod restore;
mod shed;

use crate::auth::Guard;
use crate::b2bua::{B2bua, Ctx, Local};
use crate::desks::{DeskId, Desks};
use crate::overload::{Admission, LoadSignal, Pressure};
use crate::peering::Peering;
use crate::registrar::Registrar;
use crate::site_view::SiteView;
use crate::trunks::TrunkMonitor;
use crate::{DomainEvent, NodeConfig, NodeStats};
pub use input::{Input, Wake};

/// Methods this node answers; others of RFC 3261's family get 405.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO";

/// One site's SIP brain: registrar and dispatcher over a transaction layer.
///
/// Inputs go in with [`Node::handle_input`]; then drain [`Node::poll_transmit`] and
/// [`Node::poll_event`] and sleep until [`Node::poll_timeout`]. The node reads no clock
/// and does no I/O; all randomness (To tags) comes from the seed.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    transactions: TransactionLayer,
    registrar: Registrar,
    b2bua: B2bua,
    trunks: TrunkMonitor,
    peering: Peering,
    desks: Desks,
    desk_out: VecDeque<(DeskId, cti::Event)>,
    /// DNs with at least one binding, to tell desks when that changes.
    in_service: HashSet<String>,
    rng: ChaCha8Rng,
    transmits: VecDeque<Transmit>,
    events: Vec<DomainEvent>,
    events_out: VecDeque<DomainEvent>,
    stats: NodeStats,
    tag: String,
    /// Time of the input being handled (for transaction events raised while collecting).
    /// Graceful shutdown in progress (BC-54..58).
    shutting_down: bool,
    /// Overload state and per-source limits.
    admission: Admission,
    /// What the shell's measurements of its input show (the pressure's source).
    load: LoadSignal,
    /// Digest authentication state (nonce-counts, failures per source).
    guard: Guard,
    /// An instant and the wall-clock Unix seconds at it (see [`Node::set_wall_clock`]).
    wall_clock: (Instant, u64),
}

impl Node {
    /// A node for `config`; `seed` drives every random choice, `now` is its start.
    pub fn new(config: NodeConfig, seed: u64, now: Instant) -> Self {
        Self {
            transactions: TransactionLayer::new(config.transactions),
            registrar: Registrar::new(config.registrar),
            b2bua: B2bua::default(),
            trunks: {
                let mut t = TrunkMonitor::default();
                t.reset(now, &config.dns);
                t
            },
            peering: Peering::new(crate::peering::incarnation(seed, &config.site)),
            desks: Desks::default(),
            desk_out: VecDeque::new(),
            in_service: HashSet::new(),
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            transmits: VecDeque::new(),
            events: Vec::new(),
            events_out: VecDeque::new(),
            stats: NodeStats::default(),
            tag: String::with_capacity(16),
            shutting_down: false,
            admission: Admission::default(),
            load: LoadSignal::default(),
            guard: Guard::default(),
            wall_clock: (now, 0),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Replaces the configuration while running (hot reload). Calls and registrations
    /// stay; options apply from the next call; bindings of DNs no longer provisioned are
    /// removed. The advertised address stays (sockets are the shell's). Returns how many
    /// bindings were dropped.
    pub fn reconfigure(&mut self, now: Instant, mut config: NodeConfig) -> usize {
        config.local = self.config.local;
        config.local_tls = self.config.local_tls;
        self.transactions.set_config(config.transactions);
        self.registrar.config = config.registrar;
        let dropped = self.registrar.bindings.retain_dns(|dn| config.dns.contains(dn), &mut self.events);
        self.trunks.reset(now, &config.dns);
        self.config = config;
        self.collect(now);
        tracing::info!(site = %self.config.site, dropped_bindings = dropped, "configuration reloaded");
        dropped
    }

    /// Feeds one input. Never fails: bad network input is answered or dropped, and counted.
    pub fn handle_input(&mut self, input: Input<'_>) {
        let now = input.at();
        match input {
            Input::Datagram { at, remote, bytes } => {
                self.handle_message(at, Peer::udp(remote), bytes, Framing::Datagram)
            }
            Input::Stream { at, transport, conn, remote, certified, bytes } => {
                let peer = Peer { transport, addr: remote, conn: Some(conn), certified };
                self.handle_message(at, peer, bytes, Framing::Stream)
            }
            Input::Desk { at, desk, request } => {
                self.handle_desk(at, desk, request);
            }
            Input::Intake { at, batch } => {
                let pressure = self.load.batch(at, batch, self.admission.pressure());
                return self.set_pressure(at, pressure);
            }
            Input::Busy { took, cpu, .. } => return self.load.busy(took, cpu),
            Input::Media { at, id, reply } => self.with_b2bua(at, |b, ctx| b.on_media_reply(ctx, id, reply)),
            Input::Pressure { at, pressure } => return self.set_pressure(at, pressure),
            Input::PeerRefused { at } => {
                if let Some((name, _)) = self.config.dr_peer_trunk() {
                    let name = name.to_owned();
                    if self.trunks.refused(at, &name) {
                        let local = self.config.local;
                        let (tx, rng, events) = (&mut self.transactions, &mut self.rng, &mut self.events);
                        self.trunks.on_timeout(at, &self.config.dns, local, tx, rng, events);
                    }
                }
            }
            Input::DeskClosed { at, desk } => {
                for dn in self.desks.closed(desk) {
                    if self.config.dns.kind(&dn) == Some(crate::DnKind::RoutingPoint) {
                        self.with_b2bua(at, |b, ctx| b.routers_gone(ctx, &dn));
                    }
                }
            }
            Input::Timeout(now) => {
                self.transactions.handle_timeout(now);
                self.registrar.bindings.expire(now, &mut self.events);
                self.with_b2bua(now, |b, ctx| b.on_timeout(ctx));
                self.desks.on_timeout(now);
                let rng = &mut self.rng;
                self.desks.close_reservations(now, |n| rng.gen_range(0..n.max(1)));
                let local = self.config.local;
                self.trunks.on_timeout(
                    now,
                    &self.config.dns,
                    local,
                    &mut self.transactions,
                    &mut self.rng,
                    &mut self.events,
                );
            }
        }
        self.collect(now);
    }

    /// Puts `pressure` in force when it differs from the pressure in force.
    fn set_pressure(&mut self, at: Instant, pressure: Pressure) {
        let current = self.admission.pressure();
        if pressure == current {
            return;
        }
        if (current > Pressure::Normal) != (pressure > Pressure::Normal) {
            tracing::warn!(site = %self.config.site, ?pressure, "input pressure changed");
        }
        self.admission.set_pressure(at, pressure);
    }

    /// Runs `f` on the B2BUA with a context borrowing the rest of the node.
    fn with_b2bua<R>(&mut self, now: Instant, f: impl FnOnce(&mut B2bua, &mut Ctx<'_>) -> R) -> R {
        let unix_now = self.unix_now(now);
        let view = SiteView {
            config: &self.config,
            desks: &self.desks,
            trunks: &self.trunks,
            peering: &self.peering,
            bindings: &self.registrar.bindings,
        };
        let mut ctx = Ctx {
            now,
            tx: &mut self.transactions,
            rng: &mut self.rng,
            bindings: &self.registrar.bindings,
            config: &self.config,
            events: &mut self.events,
            local: Local { addr: self.config.local, tls: self.config.local_tls },
            view,
            seal: self.config.sealer(unix_now, self.peering.incarnation()),
        };
        f(&mut self.b2bua, &mut ctx)
    }

    /// Starts the graceful shutdown of this site (BC-54..58): new INVITEs get
    /// `shutdown-sip-reject-code` (a redirect to the DR peer for 300-302), new CTI calls are
    /// refused, idle agents are logged out now and agents on calls when their calls end;
    /// established calls go on. The shell stops the site once [`Node::is_drained`].
    pub fn begin_shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        tracing::warn!(site = %self.config.site, calls = self.b2bua.len(), "graceful shutdown started");
        let b2bua = &self.b2bua;
        self.desks.begin_shutdown(now, |dn| b2bua.in_call(dn));
        self.collect(now);
    }

    /// True once a graceful shutdown has started and no call is left.
    pub fn is_drained(&self) -> bool {
        self.shutting_down && self.b2bua.len() == 0
    }

    /// The agent logged in on `dn`, if any.
    pub fn agent_on(&self, dn: &str) -> Option<&str> {
        self.desks.agent_on(dn)
    }

    /// How many agents are in `state`.
    pub fn agents_in(&self, state: cti::AgentState) -> usize {
        self.desks.agents_in(state).count()
    }

    /// The next event for a desktop.
    pub fn poll_desk(&mut self) -> Option<(DeskId, cti::Event)> {
        self.desk_out.pop_front()
    }

    /// Calls ringing or connected on `dn` at this site.
    pub fn calls_on(&self, dn: &str) -> usize {
        self.b2bua.calls_on(dn)
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.b2bua.len()
    }

    /// One line per active call (its ConnID, DN, legs and phases): what a test prints
    /// when it finds a call left behind.
    pub fn describe_calls(&self) -> Vec<String> {
        self.b2bua.describe_calls()
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next command for the media partner (`[site.media]`); its answer comes back as
    /// [`Input::Media`].
    pub fn poll_media(&mut self) -> Option<crate::media::MediaCommand> {
        self.b2bua.media.poll()
    }

    /// The next domain event.
    pub fn poll_event(&mut self) -> Option<DomainEvent> {
        self.events_out.pop_front()
    }

    /// When the node next needs [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(at, _)| at)
    }

    /// The next deadline and whose it is (the earliest wins; ties go to the first listed
    /// in [`Wake`]).
    pub fn next_deadline(&self) -> Option<(Instant, Wake)> {
        [
            (self.transactions.poll_timeout(), Wake::Transaction),
            (self.registrar.bindings.next_expiry(), Wake::Registration),
            (self.b2bua.poll_timeout(), Wake::Call),
            (self.desks.poll_timeout(), Wake::AfterCallWork),
            (self.trunks.poll_timeout(), Wake::TrunkPoll),
            (self.peering.poll_timeout(), Wake::PresenceHeartbeat),
            (self.desks.reservation_deadline(), Wake::Reservation),
        ]
        .into_iter()
        .filter_map(|(at, wake)| at.map(|at| (at, wake)))
        .min_by_key(|(at, _)| *at)
    }

    /// Counters so far.
    pub fn stats(&self) -> NodeStats {
        let mut s = self.stats.clone();
        s.bindings = self.registrar.bindings.count();
        s.registered_dns = self.registrar.bindings.dns();
        s.binding_expiry_entries = self.registrar.bindings.expiry_entries() as u64;
        s.transactions = self.transactions.stats();
        s.active_calls = self.b2bua.len() as u64;
        s.auth = self.guard.stats;
        s.nss = self.b2bua.pre_route.stats;
        s.media = self.b2bua.media.stats;
        s.new_work_limit = self.admission.new_work_limit().map_or(0, |l| l.round() as u64);
        s.input_pressure = self.admission.pressure() as u64;
        s.agents_ready = self.desks.agents_in(cti::AgentState::Ready).count() as u64;
        s.agents_logged_in =
            [cti::AgentState::Ready, cti::AgentState::NotReady, cti::AgentState::Busy, cti::AgentState::AfterCallWork]
                .into_iter()
                .map(|st| self.desks.agents_in(st).count() as u64)
                .sum();
        s
    }

    /// At a Network SIP Server: the latest agent figures of the sites (None while the
    /// statistics are missing: calls are then default-routed).
    pub fn set_nss_figures(&mut self, figures: Option<crate::nss::Figures>) {
        self.b2bua.pre_route.figures = figures;
    }

    /// The current bindings of a DN.
    pub fn bindings(&self, dn: &str) -> &[crate::Binding] {
        self.registrar.bindings.of(dn)
    }

    fn collect(&mut self, now: Instant) {
        // Transaction events can make the B2BUA send more, so loop until quiet.
        loop {
            while let Some(t) = self.transactions.poll_transmit() {
                self.transmits.push_back(t);
            }
            let Some(event) = self.transactions.poll_event() else {
                break;
            };
            match event {
                TransactionEvent::TimedOut(key) => self.with_b2bua(now, |b, ctx| b.on_transaction_timeout(ctx, &key)),
                TransactionEvent::Ended(key) => self.b2bua.on_transaction_ended(&key),
            }
        }
        // Handling an event may raise more (a DN going out of service, an agent's state
        // after a call), so loop.
        loop {
            self.events.extend(self.desks.take_changes());
            if self.events.is_empty() {
                break;
            }
            for event in std::mem::take(&mut self.events) {
                self.count(&event);
                self.track_service(&event);
                self.desks.on_domain_event(now, &self.config, &event);
                self.events_out.push_back(event);
            }
        }
        self.desk_out.extend(self.desks.drain());
        self.send_presence(now);
    }

    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over domain events: the events not named do not concern this code"
    )]
    fn count(&mut self, event: &DomainEvent) {
        let peer_trunk = self.config.options.dr_peer_trunk.as_deref();
        match event {
            DomainEvent::DnOutOfService { dn } if Some(dn.as_str()) == peer_trunk => self.peering.link_lost(),
            DomainEvent::DnBackInService { dn } if Some(dn.as_str()) == peer_trunk => self.peering.link_restored(),
            DomainEvent::CallRedirected { .. } => self.stats.calls_redirected += 1,
            DomainEvent::CallRinging { .. } => self.stats.calls_offered += 1,
            DomainEvent::CallEstablished { .. } => self.stats.calls_answered += 1,
            DomainEvent::CallHeld { .. } => self.stats.calls_held += 1,
            DomainEvent::CallTransferred { answered: true, .. } | DomainEvent::CallsMerged { .. } => {
                self.stats.calls_transferred += 1
            }
            DomainEvent::CallAbandoned { .. } => self.stats.calls_abandoned += 1,
            DomainEvent::CallFailed { code, .. } => *self.stats.calls_failed.entry(*code).or_default() += 1,
            _ => {}
        }
    }

    /// Turns binding changes into DN in/out of service events.
    fn track_service(&mut self, event: &DomainEvent) {
        let (DomainEvent::Registered { dn, .. }
        | DomainEvent::Unregistered { dn, .. }
        | DomainEvent::BindingExpired { dn, .. }) = event
        else {
            return;
        };
        let bound = !self.registrar.bindings.of(dn).is_empty();
        if bound && self.in_service.insert(dn.clone()) {
            self.events.push(DomainEvent::DnBackInService { dn: dn.clone() });
        } else if !bound && self.in_service.remove(dn) {
            self.events.push(DomainEvent::DnOutOfService { dn: dn.clone() });
        }
    }

    /// A fresh To tag for the next response (8 hex digits from the seeded RNG).
    fn new_tag(&mut self) {
        use std::fmt::Write as _;
        self.tag.clear();
        let _ = write!(self.tag, "{:08x}", self.rng.gen::<u32>());
    }
}
