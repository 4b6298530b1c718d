//! The site's client of rtpengine's ng control protocol: the engine's
//! [`MediaCommand`]s become `<cookie> <bencode dictionary>` datagrams, retransmitted with
//! the same cookie (rtpengine answers a repeated cookie from its cache) until the answer
//! or the command's timeout; answers go back to the site task as [`MediaReply`]s, which
//! feeds them to the node as `Input::Media`. A command not answered in time is simply
//! dropped here: the engine times it itself.
//!
//! Every answer is read warily: it must come from a configured rtpengine address and
//! carry a cookie we sent (random), and its nesting is bounded before it is decoded.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use engine::media::{MediaCommand, MediaFigures, MediaOp, MediaReply};
use rand::Rng;
use serde_bencode::value::Value;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Commands queued for the client before new ones are dropped (the engine times them).
const QUEUE: usize = 4096;
/// How often a treatment or hold music plays over: until it is stopped, in practice.
const REPEAT: i64 = 100_000;
/// Deepest nesting of lists and dictionaries accepted in an answer.
const MAX_DEPTH: usize = 16;
/// Sessions pinned to an rtpengine instance before the pins are forgotten (they are
/// only needed when an instance failed over).
const MAX_PINS: usize = 200_000;

/// The site task's end of the client.
pub(crate) struct NgLink {
    pub(crate) commands: mpsc::Sender<MediaCommand>,
    pub(crate) replies: mpsc::Receiver<(u64, MediaReply)>,
}

/// Starts the client for rtpengine at `ng` (one or more addresses); commands time out
/// after `timeout`. The conference mixer's commands go to the client of the Janus at
/// `mixer` ([`crate::mixer`]), when one is configured.
pub(crate) fn start(ng: Vec<SocketAddr>, timeout: Duration, mixer: Option<String>) -> std::io::Result<NgLink> {
    let bind: SocketAddr = match ng.first() {
        Some(a) if a.ip().is_loopback() && a.is_ipv4() => ([127, 0, 0, 1], 0).into(),
        Some(a) if a.is_ipv6() => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        _ => ([0, 0, 0, 0], 0).into(),
    };
    let socket = std::net::UdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    let (commands, rx) = mpsc::channel(QUEUE);
    let (tx, replies) = mpsc::channel(QUEUE);
    let rng = rand::SeedableRng::seed_from_u64(crate::clock::seed());
    let mixer = mixer.map(|url| crate::mixer::start(url, tx.clone()));
    let (out, pins, down) = (BTreeMap::new(), HashMap::new(), Vec::new());
    let client = Client { socket, ng, timeout, out, rng, pins, down, mixer, held: HashMap::new() };
    tokio::spawn(client.run(rx, tx));
    Ok(NgLink { commands, replies })
}

/// A command sent and not yet answered.
struct Out {
    id: u64,
    bytes: Vec<u8>,
    to: SocketAddr,
    /// A delete: the call UUID whose pin goes with its answer.
    unpin: Option<String>,
    /// A query: its session, whose delete waits for the answer (rtpengine handles
    /// commands on several threads: a delete sent at once may overtake the query, which
    /// then finds no call and the figures are lost).
    query_of: Option<String>,
    next_send: Instant,
    deadline: Instant,
}

struct Client {
    socket: UdpSocket,
    ng: Vec<SocketAddr>,
    timeout: Duration,
    /// By cookie.
    out: BTreeMap<String, Out>,
    /// Cookies: unguessable to anyone who might forge an answer.
    rng: rand::rngs::StdRng,
    /// Call UUID -> the instance its sessions went to.
    pins: HashMap<String, usize>,
    /// Instances that let a command time out, until when.
    down: Vec<(usize, Instant)>,
    /// The conference mixer's client, when the site has one.
    mixer: Option<mpsc::Sender<MediaCommand>>,
    /// Deletes waiting for their session's query to be answered (or to time out).
    held: HashMap<String, MediaCommand>,
}

impl Client {
    async fn run(mut self, mut commands: mpsc::Receiver<MediaCommand>, replies: mpsc::Sender<(u64, MediaReply)>) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let next = self.out.values().map(|o| o.next_send.min(o.deadline)).min();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) if command.op.for_mixer() => {
                        let sent = self.mixer.as_ref().map(|m| m.try_send(command.clone()).is_ok());
                        if sent != Some(true) {
                            let _ = replies.try_send((command.id, MediaReply::Unreachable));
                        }
                    }
                    Some(command) => self.send(command).await,
                    None => return,
                },
                got = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = got {
                        if let Some((answer, queried)) = self.answer(from, &buf[..n]) {
                            let _ = replies.try_send(answer);
                            self.release(queried).await;
                        }
                    }
                },
                () = sleep_until(next) => self.retransmit().await,
            }
        }
    }

    async fn send(&mut self, command: MediaCommand) {
        if let MediaOp::Delete { session } = &command.op {
            if self.out.values().any(|o| o.query_of.as_ref() == Some(session)) {
                self.held.insert(session.clone(), command);
                return;
            }
        }
        let now = Instant::now();
        let instance = self.instance_for(command.session(), now);
        let Some(&to) = self.ng.get(instance) else { return };
        let cookie = format!("{:016x}", self.rng.gen::<u64>());
        let bytes = encode(&cookie, &command.op);
        let _ = self.socket.send_to(&bytes, to).await;
        let unpin = match &command.op {
            MediaOp::Delete { session } => Some(session.rsplit_once('.').map_or(&session[..], |(u, _)| u).to_owned()),
            MediaOp::Offer { .. }
            | MediaOp::Answer { .. }
            | MediaOp::Query { .. }
            | MediaOp::StartRecording { .. }
            | MediaOp::StopRecording { .. }
            | MediaOp::Play { .. }
            | MediaOp::StopPlay { .. }
            | MediaOp::Block { .. }
            | MediaOp::Unblock { .. }
            | MediaOp::MixerJoin { .. }
            | MediaOp::MixerLeave { .. }
            | MediaOp::MixerClose { .. } => None,
        };
        let query_of = matches!(command.op, MediaOp::Query { .. }).then(|| command.session().to_owned());
        let (next_send, deadline) = (now + self.timeout / 4, now + self.timeout);
        self.out.insert(cookie, Out { id: command.id, bytes, to, unpin, query_of, next_send, deadline });
    }

    /// The rtpengine a session's commands go to: the one its call went to before, else
    /// one picked by the call's UUID among those not down.
    fn instance_for(&mut self, session: &str, now: Instant) -> usize {
        let uuid = session.rsplit_once('.').map_or(session, |(u, _)| u);
        if let Some(&pinned) = self.pins.get(uuid) {
            return pinned;
        }
        self.down.retain(|(_, until)| *until > now);
        let n = self.ng.len().max(1);
        let first = fnv(uuid.as_bytes()) as usize % n;
        let up = (0..n).map(|k| (first + k) % n).find(|i| !self.down.iter().any(|(d, _)| d == i)).unwrap_or(first);
        if self.ng.len() > 1 {
            if self.pins.len() >= MAX_PINS {
                self.pins.clear();
            }
            self.pins.insert(uuid.to_owned(), up);
        }
        up
    }

    async fn retransmit(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self.out.iter().filter(|(_, o)| o.deadline <= now).map(|(c, _)| c.clone()).collect();
        for cookie in expired {
            if let Some(out) = self.out.remove(&cookie) {
                if let Some(i) = self.ng.iter().position(|a| *a == out.to) {
                    self.down.push((i, now + self.timeout * 5));
                }
                self.release(out.query_of).await;
            }
        }
        for out in self.out.values_mut().filter(|o| o.next_send <= now) {
            let _ = self.socket.send_to(&out.bytes, out.to).await;
            out.next_send = now + self.timeout / 4;
        }
    }

    /// The delete held back for `queried`'s query goes now.
    async fn release(&mut self, queried: Option<String>) {
        if let Some(delete) = queried.and_then(|s| self.held.remove(&s)) {
            self.send(delete).await;
        }
    }

    /// An answer datagram from `from`: its command's id and what it says, if it is one,
    /// and the session whose query it answered.
    fn answer(&mut self, from: SocketAddr, bytes: &[u8]) -> Option<((u64, MediaReply), Option<String>)> {
        if !self.ng.contains(&from) {
            return None;
        }
        let space = bytes.iter().position(|b| *b == b' ')?;
        let cookie = std::str::from_utf8(&bytes[..space]).ok()?;
        let out = self.out.get(cookie).filter(|o| o.to == from)?;
        let (id, delete) = (out.id, out.unpin.is_some());
        let out = self.out.remove(cookie)?;
        if let Some(uuid) = out.unpin {
            self.pins.remove(&uuid);
        }
        Some(((id, reply_of(&bytes[space + 1..], delete)), out.query_of))
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// FNV-1a: a stable pick of an instance for a call.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

/// `op` as an ng datagram with `cookie`.
pub(crate) fn encode(cookie: &str, op: &MediaOp) -> Vec<u8> {
    let mut dict: HashMap<Vec<u8>, Value> = HashMap::new();
    let mut put = |k: &str, v: Value| {
        dict.insert(k.as_bytes().to_vec(), v);
    };
    put("call-id", text(op.session()));
    match op {
        MediaOp::Offer { from, to, sdp, origin, .. } => {
            put("command", text("offer"));
            put("from-tag", text(from));
            if let Some(to) = to {
                put("to-tag", text(to));
            }
            put("sdp", Value::Bytes(sdp.to_vec()));
            media_flags(&mut put, *origin);
        }
        MediaOp::Answer { from, to, sdp, origin, .. } => {
            put("command", text("answer"));
            put("from-tag", text(from));
            put("to-tag", text(to));
            put("sdp", Value::Bytes(sdp.to_vec()));
            media_flags(&mut put, *origin);
        }
        MediaOp::Delete { .. } => {
            put("command", text("delete"));
            // Tandem deletes when the whole call is over: nothing may fork into it later.
            put("delete-delay", Value::Int(0));
        }
        MediaOp::Query { .. } => put("command", text("query")),
        MediaOp::StartRecording { .. } => put("command", text("start recording")),
        MediaOp::StopRecording { .. } => put("command", text("stop recording")),
        MediaOp::Play { to, file, .. } => {
            put("command", text("play media"));
            put("from-tag", text(to));
            put("file", text(file));
            put("repeat-times", Value::Int(REPEAT));
        }
        MediaOp::StopPlay { to, .. } => {
            put("command", text("stop media"));
            put("from-tag", text(to));
        }
        MediaOp::Block { from, .. } | MediaOp::Unblock { from, .. } => {
            let block = matches!(op, MediaOp::Block { .. });
            put("command", text(if block { "block media" } else { "unblock media" }));
            put("from-tag", text(from));
        }
        // The mixer's: never sent to rtpengine (see `Client::run`); a ping if they were.
        MediaOp::MixerJoin { .. } | MediaOp::MixerLeave { .. } | MediaOp::MixerClose { .. } => {
            put("command", text("ping"))
        }
    }
    let mut out = format!("{cookie} ").into_bytes();
    out.extend(serde_bencode::to_bytes(&Value::Dict(dict)).unwrap_or_default());
    out
}

/// What every offer and answer asks: rtpengine writes the `o=` and `c=` lines, no ICE
/// towards plain SIP phones, and media is taken from `origin` (a NAT'd phone's address)
/// or from the description itself (trusted).
fn media_flags(put: &mut impl FnMut(&str, Value), origin: Option<std::net::IpAddr>) {
    put("replace", Value::List(vec![text("origin"), text("session-connection")]));
    put("ICE", text("remove"));
    match origin {
        Some(ip) => {
            let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
            put("received-from", Value::List(vec![text(family), text(&ip.to_string())]));
        }
        None => put("flags", Value::List(vec![text("trust-address")])),
    }
}

/// What an answer's dictionary says (`delete`: the command was a delete).
pub(crate) fn reply_of(body: &[u8], delete: bool) -> MediaReply {
    if !depth_within(body, MAX_DEPTH) {
        return MediaReply::Refused("answer nested too deep".into());
    }
    let Ok(Value::Dict(dict)) = serde_bencode::from_bytes::<Value>(body) else {
        return MediaReply::Refused("answer is not a bencode dictionary".into());
    };
    let get = |k: &str| dict.get(k.as_bytes());
    match get("result").and_then(as_text).as_deref() {
        Some("ok") => match get("sdp") {
            Some(Value::Bytes(sdp)) if !delete => MediaReply::Sdp(sdp.clone()),
            _ => MediaReply::Done(figures(&dict)),
        },
        Some("error") => {
            MediaReply::Refused(get("error-reason").and_then(as_text).unwrap_or_else(|| "error".to_owned()))
        }
        _ => MediaReply::Refused("answer without result".into()),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(_) | Value::List(_) | Value::Dict(_) => None,
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Dict(d) => d.get(k.as_bytes()),
        Value::Bytes(_) | Value::Int(_) | Value::List(_) => None,
    })
}

fn int(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Int(i)) => u64::try_from(*i).unwrap_or(0),
        _ => 0,
    }
}

/// A query's figures: RTP packets in all (`totals`), and the worst loss and jitter its
/// streams' SSRCs reported (from RTCP: 0 when the parties sent none).
fn figures(dict: &HashMap<Vec<u8>, Value>) -> Option<MediaFigures> {
    let whole = Value::Dict(dict.clone());
    let packets = int(field(&whole, &["totals", "RTP", "packets"]));
    let mut f = MediaFigures { packets, ..MediaFigures::default() };
    if let Some(Value::Dict(ssrcs)) = field(&whole, &["SSRC"]) {
        #[allow(clippy::disallowed_methods)] // the worst of all: the order does not matter
        for ssrc in ssrcs.values() {
            f.lost = f.lost.max(int(field(ssrc, &["lowest MOS", "packet loss"])));
            let jitter = int(field(ssrc, &["lowest MOS", "jitter"]));
            f.jitter_ms = f.jitter_ms.max(u32::try_from(jitter).unwrap_or(u32::MAX));
        }
    }
    (field(&whole, &["totals"]).is_some()).then_some(f)
}

/// True when no list or dictionary in `b` nests deeper than `max` (checked without
/// recursion, before a decoder that recurses sees it).
fn depth_within(b: &[u8], max: usize) -> bool {
    let (mut i, mut depth) = (0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'l' | b'd' => {
                depth += 1;
                if depth > max {
                    return false;
                }
                i += 1;
            }
            b'e' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'i' => match b[i..].iter().position(|c| *c == b'e') {
                Some(end) => i += end + 1,
                None => return false,
            },
            b'0'..=b'9' => {
                let Some(colon) = b[i..].iter().position(|c| *c == b':') else { return false };
                let len: usize = match std::str::from_utf8(&b[i..i + colon]).ok().and_then(|s| s.parse().ok()) {
                    Some(len) => len,
                    None => return false,
                };
                i = i.saturating_add(colon + 1).saturating_add(len);
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_offer_is_a_cookie_and_a_bencode_dictionary_with_sorted_keys() {
        let sdp = Arc::from(&b"v=0\r\n"[..]);
        let op = MediaOp::Offer { session: "u.0".into(), from: "a".into(), to: None, sdp, origin: None };
        let text = String::from_utf8(encode("c1", &op)).expect("ascii");
        assert_eq!(
            text,
            "c1 d3:ICE6:remove7:call-id3:u.07:command5:offer5:flagsl13:trust-addresse8:from-tag1:a\
7:replacel6:origin18:session-connectione3:sdp5:v=0\r\ne"
        );
        let behind_nat = MediaOp::Offer {
            session: "u.0".into(),
            from: "a".into(),
            to: Some("b0".into()),
            sdp: Arc::from(&b"v=0\r\n"[..]),
            origin: Some([198, 51, 100, 4].into()),
        };
        let text = String::from_utf8(encode("c2", &behind_nat)).expect("ascii");
        assert!(text.contains("13:received-froml3:IP412:198.51.100.4e"), "{text}");
        assert!(text.contains("6:to-tag2:b0") && !text.contains("trust-address"), "{text}");
    }

    #[test]
    fn answers_read_as_sdp_done_or_refused() {
        assert_eq!(reply_of(b"d6:result2:ok3:sdp3:v=0e", false), MediaReply::Sdp(b"v=0".to_vec()));
        assert_eq!(
            reply_of(b"d6:result5:error12:error-reason12:Unknown codee", false),
            MediaReply::Refused("Unknown code".into())
        );
        let deleted = b"d6:result2:ok6:totalsd3:RTPd7:packetsi120eeee";
        assert_eq!(
            reply_of(deleted, true),
            MediaReply::Done(Some(MediaFigures { packets: 120, lost: 0, jitter_ms: 0 }))
        );
    }

    #[test]
    fn hostile_answers_are_refused_without_recursing() {
        let deep = "l".repeat(100_000);
        assert!(matches!(reply_of(deep.as_bytes(), false), MediaReply::Refused(_)));
        assert!(matches!(reply_of(b"99999999999999999999999:x", false), MediaReply::Refused(_)));
        assert!(matches!(reply_of(b"i12", false), MediaReply::Refused(_)));
        assert!(matches!(reply_of(b"", false), MediaReply::Refused(_)));
        assert!(matches!(reply_of(b"d6:result4:ponge", false), MediaReply::Refused(_)));
    }
}
