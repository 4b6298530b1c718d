//! Hostile sequences: one site (its DR peer played by the input) or two real sites, fed a
//! sequence of [`Op`]s built from a grammar of realistic messages with mutated fields.
//! The fuzz targets in `fuzz/` and the seeded smoke test in CI drive the same harness.
//!
//! Besides "never panics", each step checks what a deployment relies on: every message a
//! site sends parses (answers to unparseable requests may lack the lines they could not
//! echo), a site's next deadline lies after the time it was just given (no busy loop),
//! and once the network falls quiet for long enough, no transaction is left.

mod grammar;
mod messages;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use grammar::{Code, DeskOp, Expires, Field, Header, InDialog, MediaAnswer, Op, Src, Tag};

use crate::model::SiteModel;
use engine::{AgentLogin, DeskId, Dn, DnKind, DnOptions, DrForward, Input, Node, NodeConfig, Trunk};
use sipcore::{ConnId, Peer};
use sipmsg::{Framing, Message};

/// Site addresses: the first site, and its DR peer.
pub const SITES: [&str; 2] = ["127.0.0.1:5060", "127.0.0.1:5062"];
/// The gateway (a configured trunk).
pub const GATEWAY: &str = "127.0.0.1:5080";
/// DNs, trunk names and dialled digits ops pick from.
const DNS: [&str; 12] =
    ["1000", "1001", "1002", "1003", "5000", "TO_PEER", "0123456", "99021001", "77777", "", "*", "1000;x=1"];
/// Most requests kept for [`Op::Respond`] and [`Op::CalleeInDialog`].
const KEPT: usize = 64;
/// How long the network stays quiet at the end: longer than the longest chain of timers a
/// call can start (queue-max-wait 60 s, no answer 20 s, then 32 s of timer F/H/J).
const QUIET: Duration = Duration::from_secs(150);
/// Bound on messages exchanged between the two sites after one op.
const MAX_HOPS: usize = 10_000;

/// The world a hostile sequence runs in.
pub struct Hostile {
    sites: Vec<Node>,
    addrs: Vec<SocketAddr>,
    now: Instant,
    /// Requests the sites sent to others (phones, gateway, a simulated peer): (from site, to, bytes).
    sent: VecDeque<(usize, Peer, Vec<u8>)>,
    /// The latest answer each site gave each caller's INVITE, by (site, Call-ID).
    answers: BTreeMap<(usize, String), Vec<u8>>,
    /// ConnIDs seen in desk events, newest last.
    conn_ids: VecDeque<String>,
    cseq: u32,
    /// What each site must hold ([`crate::model`]), checked after every step.
    models: Vec<SiteModel>,
    /// Media commands the sites gave and nobody answered yet: (site, command id).
    media_out: VecDeque<(usize, u64)>,
    seed: u64,
    step: usize,
}

impl Hostile {
    /// One site (`sites == 1`; the input plays its DR peer) or both.
    pub fn new(sites: usize, seed: u64) -> Self {
        #[allow(clippy::disallowed_methods)] // the virtual clock may start anywhere: only differences count
        let now = Instant::now();
        let addrs: Vec<SocketAddr> = SITES.iter().take(sites.clamp(1, 2)).map(|a| addr(a)).collect();
        let nodes = (0..addrs.len()).map(|i| Node::new(config(i), seed + i as u64, now)).collect();
        let addrs_len = addrs.len();
        Self {
            sites: nodes,
            addrs,
            now,
            sent: VecDeque::new(),
            answers: BTreeMap::new(),
            conn_ids: VecDeque::new(),
            cseq: 1,
            models: vec![SiteModel::default(); addrs_len],
            media_out: VecDeque::new(),
            seed,
            step: 0,
        }
    }

    /// Runs `ops`, then lets the network fall quiet and checks that no transaction is
    /// left. Panics (the fuzzer's finding) when a check fails.
    pub fn run(&mut self, ops: &[Op]) {
        for op in ops {
            self.apply(op);
            self.step += 1;
            self.compare();
        }
        self.advance(QUIET);
        for (site, baseline) in self.sites.iter().zip(idle_transactions(self.sites.len())) {
            // Only the trunk polls that an idle site has in flight too (one more each for phase).
            let live = site.stats().transactions.live;
            assert!(live <= baseline + 2, "{live} transactions left after the quiet time (idle: {baseline})");
        }
    }

    /// One step.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Register { site, from, dn, contact, expires, cseq, star } => {
                let bytes = messages::register(self.src(*from), pick(&DNS, *dn), contact, *expires, *cseq, *star);
                self.datagram(*site, *from, &bytes);
            }
            Op::Invite { site, from, dn, call, mutations } => {
                let target = self.addrs[self.site(*site)];
                let bytes = messages::invite(self.src(*from), target, pick(&DNS, *dn), *call, mutations);
                self.datagram(*site, *from, &bytes);
            }
            Op::Cancel { site, from, call, wrong_branch } => {
                let target = self.addrs[self.site(*site)];
                let bytes = messages::cancel(self.src(*from), target, *call, *wrong_branch);
                self.datagram(*site, *from, &bytes);
            }
            Op::CallerInDialog { site, call, method, tag } => self.caller_in_dialog(*site, *call, *method, *tag),
            Op::Respond { pick, code, tag, sdp, contact } => self.respond(*pick, *code, *tag, *sdp, contact),
            Op::CalleeInDialog { pick, method, tag } => self.callee_in_dialog(*pick, *method, *tag),
            Op::Desk { site, desk, request } => self.desk(*site, *desk, request),
            Op::DeskClosed { site, desk } => {
                let i = self.site(*site);
                self.sites[i].handle_input(Input::DeskClosed { at: self.now, desk: DeskId(u64::from(*desk % 4)) });
                self.pump();
            }
            Op::Wait { millis } => self.advance(Duration::from_millis(u64::from(*millis))),
            Op::WaitLong { seconds } => self.advance(Duration::from_secs(u64::from(*seconds))),
            Op::Raw { site, from, bytes } => self.datagram(*site, *from, bytes),
            Op::Stream { site, conn, bytes } => {
                let i = self.site(*site);
                let remote = self.src(Src::Phone(*conn));
                let conn = ConnId(u64::from(*conn % 4));
                self.sites[i].handle_input(Input::Stream {
                    at: self.now,
                    transport: engine::Transport::Tcp,
                    conn,
                    remote,
                    certified: 0,
                    bytes,
                });
                self.pump();
            }
            Op::Shutdown { site } => {
                let i = self.site(*site);
                self.sites[i].begin_shutdown(self.now);
                self.pump();
            }
            Op::Media { pick, answer } => self.media(*pick, answer),
        }
    }

    /// The media partner's answer to a command given (or to one never given).
    fn media(&mut self, pick: u8, answer: &MediaAnswer) {
        let (site, id) = match self.media_out.len() {
            0 => (self.site(pick), u64::from(pick)),
            n => self.media_out.remove(usize::from(pick) % n).unwrap_or((0, 0)),
        };
        let reply = match answer {
            MediaAnswer::Rewritten => engine::media::MediaReply::Sdp(
                b"v=0\r\no=- 1 1 IN IP4 203.0.113.7\r\ns=-\r\nc=IN IP4 203.0.113.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n"
                    .to_vec(),
            ),
            MediaAnswer::Bytes(bytes) => engine::media::MediaReply::Sdp(bytes.clone()),
            MediaAnswer::Done => engine::media::MediaReply::Done(None),
            MediaAnswer::Refused => engine::media::MediaReply::Refused("hostile".into()),
            MediaAnswer::Unreachable => engine::media::MediaReply::Unreachable,
        };
        self.sites[site].handle_input(Input::Media { at: self.now, id, reply: &reply });
        self.pump();
    }

    /// Each site against its reference model.
    fn compare(&self) {
        for (i, (site, model)) in self.sites.iter().zip(&self.models).enumerate() {
            if let Err(divergence) = model.compare(site) {
                panic!(
                    "seed {} step {}: site {i} diverges from the reference model: {divergence}",
                    self.seed, self.step
                );
            }
        }
    }

    fn site(&self, site: u8) -> usize {
        usize::from(site) % self.sites.len()
    }

    fn src(&self, src: Src) -> SocketAddr {
        match src {
            Src::Gateway => addr(GATEWAY),
            Src::Phone(i) => SocketAddr::from(([127, 0, 0, 1], 6000 + u16::from(i % 4))),
            Src::Peer => addr(SITES[1]),
            Src::Stranger => SocketAddr::from(([127, 0, 0, 9], 5999)),
        }
    }

    fn datagram(&mut self, site: u8, from: Src, bytes: &[u8]) {
        let i = self.site(site);
        let remote = self.src(from);
        self.sites[i].handle_input(Input::Datagram { at: self.now, remote, bytes });
        self.pump();
    }

    fn caller_in_dialog(&mut self, site: u8, call: u8, method: InDialog, tag: Tag) {
        let i = self.site(site);
        let Some(answer) = self.answers.get(&(i, messages::call_id(call))).cloned() else { return };
        self.cseq += 1;
        let Some(bytes) = messages::caller_in_dialog(&answer, self.addrs[i], method, tag, self.cseq) else { return };
        self.datagram(site, Src::Gateway, &bytes);
    }

    fn respond(&mut self, pick: u8, code: Code, tag: Tag, sdp: bool, contact: &Field) {
        let Some((site, to, request)) = self.kept(pick, |_| true) else { return };
        let Some(bytes) = messages::response(&request, to.addr, code, tag, sdp, contact) else { return };
        self.sites[site].handle_input(Input::Datagram { at: self.now, remote: to.addr, bytes: &bytes });
        self.pump();
    }

    fn callee_in_dialog(&mut self, pick: u8, method: InDialog, tag: Tag) {
        let Some((site, to, invite)) = self.kept(pick, |b| b.starts_with(b"INVITE ")) else { return };
        self.cseq += 1;
        let Some(bytes) = messages::callee_in_dialog(&invite, to.addr, method, tag, self.cseq) else { return };
        self.sites[site].handle_input(Input::Datagram { at: self.now, remote: to.addr, bytes: &bytes });
        self.pump();
    }

    fn kept(&self, pick: u8, which: impl Fn(&[u8]) -> bool) -> Option<(usize, Peer, Vec<u8>)> {
        let matching: Vec<&(usize, Peer, Vec<u8>)> = self.sent.iter().filter(|(_, _, b)| which(b)).collect();
        if matching.is_empty() {
            return None;
        }
        matching.get(usize::from(pick) % matching.len()).map(|&(s, p, b)| (*s, *p, b.clone()))
    }

    fn desk(&mut self, site: u8, desk: u8, op: &DeskOp) {
        let i = self.site(site);
        let conn = |n: u8| {
            let len = self.conn_ids.len().max(1);
            self.conn_ids.get(usize::from(n) % len).cloned().unwrap_or_else(|| "0000000000000001".into())
        };
        let request = messages::desk_request(op, |n| pick(&DNS, n), conn);
        let Ok(request) = serde_json::from_value::<cti::Request>(request) else { return };
        self.sites[i].handle_input(Input::Desk { at: self.now, desk: DeskId(u64::from(desk % 4)), request: &request });
        self.pump();
    }

    /// Moves the clock by `by`, firing every deadline on the way.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        for _ in 0..1_000_000 {
            let next = self.sites.iter().filter_map(Node::poll_timeout).min();
            let Some(at) = next.filter(|at| *at <= end) else { break };
            self.now = self.now.max(at);
            for site in &mut self.sites {
                if site.poll_timeout().is_some_and(|t| t <= self.now) {
                    site.handle_input(Input::Timeout(self.now));
                    let again = site.poll_timeout();
                    assert!(again.is_none_or(|t| t > self.now), "a deadline stays due after its timeout: busy loop");
                }
            }
            self.pump();
        }
        self.now = self.now.max(end);
    }

    /// Collects what every site sent: between sites it is delivered, the rest is kept.
    fn pump(&mut self) {
        let mut hops = 0;
        loop {
            let mut between = Vec::new();
            for i in 0..self.sites.len() {
                self.drain(i, &mut between);
            }
            if between.is_empty() || hops > MAX_HOPS {
                return;
            }
            for (from, to, bytes) in between {
                hops += 1;
                let remote = self.addrs[from];
                self.sites[to].handle_input(Input::Datagram { at: self.now, remote, bytes: &bytes });
            }
        }
    }

    fn drain(&mut self, i: usize, between: &mut Vec<(usize, usize, Vec<u8>)>) {
        while let Some(t) = self.sites[i].poll_transmit() {
            check_parses(&t.bytes);
            if let Some(j) = self.addrs.iter().position(|a| *a == t.to.addr) {
                between.push((i, j, t.bytes.to_vec()));
            } else if t.bytes.starts_with(b"SIP/2.0 ") {
                self.note_answer(i, &t.bytes);
            } else {
                if self.sent.len() == KEPT {
                    self.sent.pop_front();
                }
                self.sent.push_back((i, t.to, t.bytes.to_vec()));
            }
        }
        while let Some(event) = self.sites[i].poll_event() {
            if let Err(divergence) = self.models[i].observe(&event) {
                panic!(
                    "seed {} step {}: site {i} raised an event the model forbids: {divergence}",
                    self.seed, self.step
                );
            }
        }
        while let Some(command) = self.sites[i].poll_media() {
            if self.media_out.len() == KEPT {
                self.media_out.pop_front();
            }
            self.media_out.push_back((i, command.id));
        }
        while let Some((_, event)) = self.sites[i].poll_desk() {
            let Ok(value) = serde_json::to_value(&event) else { continue };
            if let Some(conn) = value.get("ConnID").and_then(|c| c.as_str()) {
                if self.conn_ids.len() == KEPT {
                    self.conn_ids.pop_front();
                }
                self.conn_ids.push_back(conn.to_owned());
            }
        }
    }

    fn note_answer(&mut self, site: usize, bytes: &[u8]) {
        let Ok(m) = Message::parse(bytes, Framing::Datagram) else { return };
        let (Some(call_id), Some(true)) = (m.call_id(), m.to().map(|t| t.tag().is_some())) else { return };
        if m.cseq().is_some_and(|c| c.method.as_str() == "INVITE") && self.answers.len() < 256 {
            self.answers.insert((site, call_id.to_owned()), bytes.to_vec());
        }
    }
}

/// Transactions each site of an idle world has in flight after the quiet time (its trunk polls).
fn idle_transactions(sites: usize) -> Vec<u64> {
    static IDLE: [OnceLock<Vec<u64>>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = &IDLE[sites.clamp(1, 2) - 1];
    slot.get_or_init(|| {
        let mut idle = Hostile::new(sites, 0);
        idle.advance(QUIET);
        idle.sites.iter().map(|s| s.stats().transactions.live).collect()
    })
    .clone()
}

/// Everything a site sends must parse; an answer to a request too malformed to echo may
/// lack the lines it could not copy.
fn check_parses(bytes: &[u8]) {
    match Message::parse(bytes, Framing::Datagram) {
        Ok(_) => {}
        Err(sipmsg::ParseError::Missing(_)) if bytes.starts_with(b"SIP/2.0 ") => {}
        Err(e) => panic!("a site sent a message that does not parse ({e:?}): {:?}", String::from_utf8_lossy(bytes)),
    }
}

fn pick<'a>(from: &[&'a str], n: u8) -> &'a str {
    from[usize::from(n) % from.len()]
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060)))
}

/// The second site anchors its calls at a media partner the input plays (queue music, hold
/// music, recording): it answers late, wrong, refused or never.
fn media_config() -> engine::media::MediaConfig {
    let mut media = engine::media::MediaConfig {
        timeout: Duration::from_millis(500),
        record: true,
        can_record: true,
        ..Default::default()
    };
    media.sounds.queue = Some("/sounds/queue.wav".into());
    media.sounds.hold = Some("/sounds/hold.wav".into());
    media
}

/// Site `i` of a BC pair: DNs 1000-1999, Routing Point 5000 (router-timeout 2 s, default
/// routing to 1003 at the first site only), agents A1001-A1003, a trunk to the DR peer and
/// one to the gateway for dialled digits starting with 0, `dr-forward=no-agent`.
fn config(i: usize) -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.site = format!("site{}", i + 1);
    c.local = addr(SITES[i]);
    for n in 1..=3 {
        let id = format!("A100{n}");
        c.agents.insert(id.clone(), AgentLogin { id, password: None, default_dn: Some(format!("100{n}")) });
    }
    let trunk = |contact: &str, prefix: &str| Dn {
        kind: DnKind::Trunk,
        options: DnOptions::default(),
        trunk: Some(Trunk {
            contact: addr(contact),
            prefix: prefix.into(),
            priority: 1,
            oos_check: Duration::from_secs(5),
            oos_force: Duration::from_secs(2),
            allow: Vec::new(),
            callers: Vec::new(),
            follows_redirects: true,
            site: None,
        }),
    };
    c.dns.singles.insert("TO_PEER".into(), trunk(SITES[1 - i], "9902"));
    c.dns.singles.insert("PSTN".into(), trunk(GATEWAY, "0"));
    let rp_options = DnOptions { router_timeout: Some(Duration::from_secs(2)), ..DnOptions::default() };
    c.dns.singles.insert("5000".into(), Dn { kind: DnKind::RoutingPoint, options: rp_options, trunk: None });
    c.options.default_dn = (i == 0).then(|| "1003".into());
    c.options.queue_max_wait = Duration::from_secs(60);
    c.capacity.per_source_rate = 200;
    c.options.dr_peer_trunk = Some("TO_PEER".into());
    c.options.dr_forward = DrForward::NoAgent;
    c.peer_secret = Some(b"hostile pair secret".to_vec());
    c.media = (i == 1).then(media_config);
    // The first site asks for digest credentials (DNs 1001-1003), the second does not:
    // sequences meet both the gate and the open door.
    c.auth = (i == 0).then(|| engine::auth::AuthConfig {
        realm: "hostile".into(),
        nonce_secret: b"hostile nonce secret".to_vec(),
        users: (1..=3)
            .map(|n| {
                let dn = format!("100{n}");
                let md5 = Some(engine::auth::Algorithm::Md5.ha1(&dn, "hostile", "pw"));
                (dn, engine::auth::UserHashes { md5, sha256: None })
            })
            .collect(),
        algorithms: vec![engine::auth::Algorithm::Sha256, engine::auth::Algorithm::Md5],
        nonce_lifetime: Duration::from_secs(300),
        throttle: engine::auth::Throttle::default(),
        md5_per_mille: 1000,
    });
    c
}
