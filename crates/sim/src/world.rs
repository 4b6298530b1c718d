//! The world: any number of sites (all alike), user agents and desktops on one lossy
//! network and one clock. The site [`World::new`] starts with is the "home" site that the
//! shorthands ([`World::site`], [`World::desk`], [`World::call`]...) address; every site
//! is stepped, flushed and recorded the same way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use engine::{CallRecord, DeskId, Input, Node, NodeConfig, Record, Recorder};
use netem::{LinkConfig, Network, Packet};

use crate::client::Client;
use crate::media_partner::{MediaPartner, PartnerMode};
use crate::model::SiteModel;
use crate::ua::Ua;

/// Sites, their UAs and desktops.
pub struct World {
    /// Virtual now.
    pub now: Instant,
    /// The sites, by SIP address.
    pub sites: BTreeMap<SocketAddr, Node>,
    /// The site the shorthands address (the one [`World::new`] started with).
    pub home: SocketAddr,
    /// The network between everybody.
    pub net: Network<SocketAddr>,
    /// UAs by address.
    pub uas: BTreeMap<SocketAddr, Ua>,
    /// Every event each desktop received, in order, by (site, desk).
    pub desks: BTreeMap<(SocketAddr, u64), Vec<cti::Event>>,
    /// Every datagram a site sent, in order: (from, to, bytes). Same seed, same transcript.
    pub sent: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Sites in the order they were added: a [`Client`]'s `SiteId` indexes this.
    pub site_order: Vec<SocketAddr>,
    /// Call detail records and agent state log of every site, in order (each site's
    /// domain events through an [`engine::Recorder`]).
    pub records: BTreeMap<SocketAddr, Vec<Record>>,
    recorders: BTreeMap<SocketAddr, Recorder>,
    /// What each site must hold ([`crate::model`]), compared after every flush.
    models: BTreeMap<SocketAddr, SiteModel>,
    seed: u64,
    /// CTI clients of every site (routers, stat services), by the desk id they use.
    clients: BTreeMap<u64, Box<dyn Client>>,
    /// Media partners, by the site they serve.
    partners: BTreeMap<SocketAddr, MediaPartner>,
    start: Instant,
    /// Any ERROR log on this thread fails the test while the world lives.
    _errors_fail: tracing::subscriber::DefaultGuard,
}

impl World {
    /// A world with `config`'s site (at `config.local`) as home, randomness from `seed`.
    pub fn new(seed: u64, config: NodeConfig, link: LinkConfig) -> Self {
        #[allow(clippy::disallowed_methods)] // the virtual clock may start anywhere: only differences count
        let now = Instant::now();
        let home = config.local;
        let mut world = Self {
            now,
            start: now,
            sites: BTreeMap::new(),
            home,
            net: Network::new(seed, link),
            uas: BTreeMap::new(),
            desks: BTreeMap::new(),
            sent: Vec::new(),
            site_order: Vec::new(),
            records: BTreeMap::new(),
            recorders: BTreeMap::new(),
            models: BTreeMap::new(),
            seed,
            clients: BTreeMap::new(),
            partners: BTreeMap::new(),
            _errors_fail: crate::deny_error_logs(),
        };
        world.add_site(config, seed);
        world
    }

    /// Adds a site (at `config.local`), e.g. the DR peer.
    pub fn add_site(&mut self, config: NodeConfig, seed: u64) -> SocketAddr {
        let addr = config.local;
        self.sites.insert(addr, Node::new(config, seed, self.now));
        self.recorders.insert(addr, Recorder::new(100_000));
        self.models.insert(addr, SiteModel::default());
        self.site_order.push(addr);
        addr
    }

    /// Gives the site at `site` a media partner behaving as `mode` (its node needs
    /// `NodeConfig::media` to use it; without a partner its commands go unanswered).
    pub fn add_media_partner(&mut self, site: SocketAddr, mode: PartnerMode) {
        self.partners.insert(site, MediaPartner::new(mode));
    }

    /// The media partner of the site at `site`.
    pub fn partner(&mut self, site: SocketAddr) -> &mut MediaPartner {
        // Invariant: tests only ask for partners they added.
        #[allow(clippy::expect_used)]
        self.partners.get_mut(&site).expect("a media partner added to this world")
    }

    /// Connects a CTI client to every site, as desk `desk` at each.
    pub fn add_client(&mut self, desk: u64, mut client: Box<dyn Client>) {
        for site in 0..self.site_order.len() {
            client.connected(self.now, site);
        }
        self.clients.insert(desk, client);
        self.flush_all();
    }

    /// The client on desk `desk` stops (its connections close at every site).
    pub fn remove_client(&mut self, desk: u64) -> Option<Box<dyn Client>> {
        let client = self.clients.remove(&desk)?;
        let now = self.now;
        for node in self.sites.values_mut() {
            node.handle_input(Input::DeskClosed { at: now, desk: DeskId(desk) });
        }
        self.flush_all();
        Some(client)
    }

    /// The client on desk `desk`.
    pub fn client(&self, desk: u64) -> Option<&dyn Client> {
        self.clients.get(&desk).map(|c| &**c)
    }

    /// The home site.
    pub fn site(&self) -> &Node {
        self.site_ref(self.home)
    }

    /// The site at `addr`.
    pub fn site_ref(&self, addr: SocketAddr) -> &Node {
        // Invariant: tests only ask for sites they added.
        #[allow(clippy::expect_used)]
        self.sites.get(&addr).expect("a site of this world")
    }

    /// The site at `addr`, to feed.
    pub fn site_at(&mut self, addr: SocketAddr) -> &mut Node {
        // Invariant: tests only ask for sites they added.
        #[allow(clippy::expect_used)]
        self.sites.get_mut(&addr).expect("a site of this world")
    }

    /// Sends a CTI request from desktop `desk` of the site at `site`.
    pub fn desk_at(&mut self, site: SocketAddr, desk: u64, json: &str) {
        // Invariant: tests write valid requests.
        #[allow(clippy::expect_used)]
        let request: cti::Request = serde_json_from(json).expect("a valid CTI request");
        let now = self.now;
        self.site_at(site).handle_input(Input::Desk { at: now, desk: DeskId(desk), request: &request });
        self.flush_all();
    }

    /// The `message` names desktop `desk` of the site at `site` received.
    pub fn desk_names_at(&self, site: SocketAddr, desk: u64) -> Vec<String> {
        self.desks.get(&(site, desk)).map(|events| events.iter().map(event_name).collect()).unwrap_or_default()
    }

    /// What desktop `desk` of the home site received.
    pub fn desk_events(&self, desk: u64) -> &[cti::Event] {
        self.desks.get(&(self.home, desk)).map_or(&[], Vec::as_slice)
    }

    /// The CTI events desktop `desk` of the site at `site` received.
    pub fn desk_events_at(&self, site: SocketAddr, desk: u64) -> &[cti::Event] {
        self.desks.get(&(site, desk)).map_or(&[], Vec::as_slice)
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Adds a UA.
    pub fn add(&mut self, ua: Ua) -> SocketAddr {
        let addr = ua.addr;
        self.uas.insert(addr, ua);
        addr
    }

    /// The UA at `addr`.
    pub fn ua(&mut self, addr: SocketAddr) -> &mut Ua {
        // Invariant: tests only ask for UAs they added.
        #[allow(clippy::expect_used)]
        self.uas.get_mut(&addr).expect("a UA added to this world")
    }

    /// The UA at `from` registers at the site.
    pub fn register(&mut self, from: SocketAddr) {
        let (now, site) = (self.now, self.home);
        self.ua(from).register(now, site);
    }

    /// The UA at `from` calls `dn` at the site; returns the Call-ID.
    pub fn call(&mut self, from: SocketAddr, dn: &str) -> String {
        let (now, site) = (self.now, self.home);
        self.ua(from).call(now, site, dn)
    }

    /// The UA at `from` hangs up `call`.
    pub fn hang_up(&mut self, from: SocketAddr, call: &str) {
        let (now, site) = (self.now, self.home);
        self.ua(from).hang_up(now, site, call);
    }

    /// The UA at `from` cancels its ringing `call`.
    pub fn cancel(&mut self, from: SocketAddr, call: &str) {
        let (now, site) = (self.now, self.home);
        self.ua(from).cancel(now, site, call);
    }

    /// The UA at `from` re-INVITEs inside `call`.
    pub fn re_invite(&mut self, from: SocketAddr, call: &str) {
        let (now, site) = (self.now, self.home);
        self.ua(from).re_invite(now, site, call);
    }

    /// Phone `from` holds (or resumes) its call `call` with the home site.
    pub fn phone_hold(&mut self, from: SocketAddr, call: &str, hold: bool) {
        let (now, site) = (self.now, self.home);
        // A phone holds by offering sendonly, and resumes with sendrecv (RFC 3264 section 8.4).
        let sdp = crate::media::sdp_with(if hold { "sendonly" } else { "sendrecv" });
        self.ua(from).in_dialog_with(now, site, call, sipmsg::Method::Invite, &sdp);
    }

    /// Phone `from` sends REFER in its dialog `call` with the home site (`Refer-To`).
    pub fn refer(&mut self, from: SocketAddr, call: &str, refer_to: &str) {
        let (now, site) = (self.now, self.home);
        self.ua(from).in_dialog_headers(now, site, call, (sipmsg::Method::Refer, b""), &[("Refer-To", refer_to)]);
    }

    /// Puts `bytes` on the network toward the home site as if `from` sent them (an
    /// attacker who forges a source, or one that learned a dialog's identifiers).
    pub fn spoof(&mut self, from: SocketAddr, bytes: &[u8]) {
        let (now, site) = (self.now, self.home);
        self.net.send(now, from, site, bytes.to_vec());
    }

    /// Sends a CTI request from desktop `desk` of the home site (JSON text).
    pub fn desk(&mut self, desk: u64, json: &str) {
        self.desk_at(self.home, desk, json);
    }

    /// Moves everything queued onto the network and into the desktops' logs.
    fn flush_all(&mut self) {
        let now = self.now;
        // Bounded: clients answer events with requests that raise more events.
        for _ in 0..10_000 {
            self.flush_sites(now);
            if !self.feed_clients(now) {
                break;
            }
        }
        for ua in self.uas.values_mut() {
            while let Some((to, bytes)) = ua.poll_transmit() {
                self.net.send(now, ua.addr, to, bytes);
            }
        }
        self.compare_with_models();
    }

    /// Each site against its reference model; a divergence fails with the seed and the time.
    fn compare_with_models(&self) {
        for (addr, node) in &self.sites {
            let Some(model) = self.models.get(addr) else { continue };
            if let Err(divergence) = model.compare(node) {
                let at = self.now.saturating_duration_since(self.start);
                panic!("seed {} at {at:?}: site {addr} diverges from the reference model: {divergence}", self.seed);
            }
        }
    }

    fn flush_sites(&mut self, now: Instant) {
        for (addr, node) in &mut self.sites {
            while let Some(t) = node.poll_transmit() {
                self.sent.push((*addr, t.to.addr, t.bytes.to_vec()));
                self.net.send(now, *addr, t.to.addr, t.bytes.to_vec());
            }
            if let Some(recorder) = self.recorders.get_mut(addr) {
                while let Some(event) = node.poll_event() {
                    recorder.observe(now, &event);
                    let model = self.models.entry(*addr).or_default();
                    if let Err(divergence) = model.observe(&event) {
                        let at = now.saturating_duration_since(self.start);
                        panic!(
                            "seed {} at {at:?}: site {addr} raised an event the model forbids: {divergence}",
                            self.seed
                        );
                    }
                }
                let records = self.records.entry(*addr).or_default();
                records.extend(std::iter::from_fn(|| recorder.poll()));
            }
            while let Some(command) = node.poll_media() {
                if let Some(partner) = self.partners.get_mut(addr) {
                    partner.take(now, command);
                }
            }
            while let Some((desk, event)) = node.poll_desk() {
                if let Some(client) = self.clients.get_mut(&desk.0) {
                    let site = self.site_order.iter().position(|a| a == addr).unwrap_or(0);
                    client.on_event(now, site, &event);
                }
                self.desks.entry((*addr, desk.0)).or_default().push(event);
            }
        }
    }

    /// Hands the clients' requests to their sites; false when there were none.
    fn feed_clients(&mut self, now: Instant) -> bool {
        let mut any = false;
        for (desk, client) in &mut self.clients {
            while let Some((site, request)) = client.poll_request() {
                any = true;
                let Some(node) = self.site_order.get(site).and_then(|a| self.sites.get_mut(a)) else { continue };
                node.handle_input(Input::Desk { at: now, desk: DeskId(*desk), request: &request });
            }
        }
        any
    }

    /// Runs for `span` of virtual time (bounded: a livelock fails the test).
    pub fn run_for(&mut self, span: Duration) {
        if let Err(livelock) = netem::run_for(self, span, 1_000_000) {
            panic!("{livelock}");
        }
    }

    /// The call records of the site at `site`, in the order the calls ended.
    pub fn call_records(&self, site: SocketAddr) -> Vec<&CallRecord> {
        let records = self.records.get(&site).map_or(&[][..], Vec::as_slice);
        records.iter().filter_map(|r| if let Record::Call(c) = r { Some(&**c) } else { None }).collect()
    }

    /// Calls of the site at `site` begun and not yet recorded as ended.
    pub fn open_records(&self, site: SocketAddr) -> usize {
        self.recorders.get(&site).map_or(0, Recorder::open_calls)
    }

    /// The `message` names desktop `desk` of the home site received, in order.
    pub fn desk_names(&self, desk: u64) -> Vec<String> {
        self.desk_names_at(self.home, desk)
    }
}

/// The world moves by the stepper every test world shares (`netem::step`).
impl netem::Stepped<SocketAddr> for World {
    fn now(&self) -> Instant {
        self.now
    }

    fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    fn network(&mut self) -> &mut Network<SocketAddr> {
        &mut self.net
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.sites.values().filter_map(Node::poll_timeout).min(),
            self.uas.values().filter_map(Ua::poll_timeout).min(),
            self.clients.values().filter_map(|c| c.poll_timeout()).min(),
            self.partners.values().filter_map(MediaPartner::next_deadline).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn deliver(&mut self, p: Packet<SocketAddr>) {
        if let Some(node) = self.sites.get_mut(&p.to) {
            node.handle_input(Input::Datagram { at: self.now, remote: p.from, bytes: &p.bytes });
        } else if let Some(ua) = self.uas.get_mut(&p.to) {
            ua.handle(self.now, p.from, &p.bytes);
        }
        self.flush_all();
    }

    fn fire_due(&mut self) {
        let now = self.now;
        for (addr, partner) in &mut self.partners {
            for (id, reply) in partner.due(now) {
                if let Some(node) = self.sites.get_mut(addr) {
                    node.handle_input(Input::Media { at: now, id, reply: &reply });
                }
            }
        }
        for node in self.sites.values_mut() {
            node.handle_input(Input::Timeout(now));
        }
        for ua in self.uas.values_mut() {
            ua.handle_timeout(now);
        }
        for client in self.clients.values_mut() {
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.on_timeout(now);
            }
        }
    }

    fn flush(&mut self) {
        self.flush_all();
    }
}

fn event_name(e: &cti::Event) -> String {
    let text = format!("{e:?}");
    text.split([' ', '{']).next().unwrap_or("").to_owned()
}

fn serde_json_from(json: &str) -> Result<cti::Request, String> {
    cti::request_from_json(json)
}
