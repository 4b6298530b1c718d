//! The gateway: places calls at the offered rate and plays the UAC of each: the INVITE
//! retransmitted on timer A until a provisional or final answer (timer B: 32 s), the ACK
//! of any final answer, a BYE right after the 200 (retransmitted until its 200, 32 s).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipmsg::{Framing, HeaderName, Message, Method};

use crate::link::Link;
use crate::phone::Phone;
use crate::report::Report;

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const GIVE_UP: Duration = Duration::from_secs(32);
const SDP: &str = "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[derive(Debug)]
enum State {
    /// INVITE sent, nothing heard.
    Inviting,
    /// A provisional answer came: no more retransmissions.
    Proceeding,
    /// Answered: BYE sent to `uri` in the dialog with To tag `tag`.
    Byeing {
        tag: Box<str>,
        uri: Box<str>,
    },
    Done,
}

#[derive(Debug)]
struct Call {
    dn: u32,
    invited: Instant,
    state: State,
}

/// A retransmission due: call index, the interval it waited, whether of the BYE.
type Timer = Reverse<(Instant, u32, Duration, bool)>;

/// Our address, the site's and the transport: what every message we build names.
#[derive(Debug, Clone, Copy)]
struct Wire {
    local: SocketAddr,
    target: SocketAddr,
    transport: &'static str,
    /// Tells this run's calls from an earlier run's, whose transactions the site may
    /// still hold (Call-ID, tags and branches carry it).
    run: u32,
}

pub(crate) struct Caller {
    link: Link,
    /// Answers the requests that come over the same link (the DNs' Contact).
    phone: Phone,
    /// The link's current read timeout.
    wait: Duration,
    wire: Wire,
    first_dn: u32,
    dns: u32,
    calls: Vec<Call>,
    timers: BinaryHeap<Timer>,
    open: u64,
    report: Report,
}

impl Caller {
    pub(crate) fn new(link: Link, phone: Phone, target: SocketAddr, first_dn: u32, dns: u32, run: u32) -> Self {
        let local = link.local_addr().unwrap_or(target);
        let transport = link.transport();
        let (calls, timers, wait) = (Vec::new(), BinaryHeap::new(), Duration::ZERO);
        Self {
            link,
            phone,
            wait,
            wire: Wire { local, target, transport, run },
            first_dn,
            dns: dns.max(1),
            calls,
            timers,
            open: 0,
            report: Report::default(),
        }
    }

    /// No call is under way.
    pub(crate) fn idle(&self) -> bool {
        self.open == 0
    }

    /// Offers new calls until `due` have been offered (at most 1,000 at once); returns
    /// how many have been offered in all.
    pub(crate) fn offer_until(&mut self, now: Instant, due: u64) -> anyhow::Result<u64> {
        let mut burst = 0;
        while (self.calls.len() as u64) < due && burst < 1_000 {
            let index = self.calls.len() as u32;
            let dn = self.first_dn + index % self.dns;
            self.calls.push(Call { dn, invited: now, state: State::Inviting });
            self.link.send(&self.wire.invite(index, dn));
            self.timers.push(Reverse((now + T1, index, T1, false)));
            self.open += 1;
            self.report.offered += 1;
            burst += 1;
        }
        Ok(self.calls.len() as u64)
    }

    /// When a retransmission is next due.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, ..))| *at)
    }

    /// Waits up to `wait` for one datagram and takes it: a request is the phone's to
    /// answer, a response the gateway's.
    pub(crate) fn receive(&mut self, wait: Duration, buf: &mut [u8]) -> anyhow::Result<()> {
        let wait = wait.clamp(Duration::from_micros(50), Duration::from_millis(5));
        if wait.abs_diff(self.wait) > Duration::from_micros(50) {
            self.link.set_wait(wait)?;
            self.wait = wait;
        }
        let Some((n, from)) = self.link.recv(buf)? else { return Ok(()) };
        let Ok(msg) = Message::parse(&buf[..n], Framing::Datagram) else { return Ok(()) };
        if msg.is_request() {
            if let Some(answer) = self.phone.answer(&msg) {
                self.link.reply(&answer, from);
            }
        } else {
            self.on_response(Instant::now(), &msg);
        }
        Ok(())
    }

    fn on_response(&mut self, now: Instant, msg: &Message<'_>) {
        let (Some(code), Some(cseq)) = (msg.status(), msg.cseq()) else { return };
        let Some(index) = msg.call_id().and_then(call_index) else { return };
        let Some(call) = self.calls.get_mut(index as usize) else { return };
        let tag = msg.to().and_then(|t| t.tag()).unwrap_or("");
        match (cseq.method, code) {
            (Method::Invite, 100..=199) => {
                if matches!(call.state, State::Inviting) {
                    call.state = State::Proceeding;
                }
            }
            (Method::Invite, 200..=299) => {
                let uri = contact_uri(msg).unwrap_or_default();
                let dn = call.dn;
                if matches!(call.state, State::Inviting | State::Proceeding) {
                    self.report.setup_us.push((now - call.invited).as_micros() as u64);
                    call.state = State::Byeing { tag: tag.into(), uri: uri.clone().into() };
                    self.link.send(&self.wire.in_dialog(index, dn, Method::Ack, tag, &uri));
                    self.link.send(&self.wire.in_dialog(index, dn, Method::Bye, tag, &uri));
                    self.timers.push(Reverse((now + T1, index, T1, true)));
                } else {
                    // A retransmitted 200: our ACK was lost.
                    self.link.send(&self.wire.in_dialog(index, dn, Method::Ack, tag, &uri));
                }
            }
            (Method::Invite, _) => {
                let dn = call.dn;
                if matches!(call.state, State::Inviting | State::Proceeding) {
                    call.state = State::Done;
                    self.open -= 1;
                    if code == 503 {
                        self.report.rejected_503 += 1;
                    } else {
                        self.report.rejected_other += 1;
                    }
                }
                self.link.send(&self.wire.failure_ack(index, dn, tag));
            }
            (Method::Bye, 200..=699) => {
                if matches!(call.state, State::Byeing { .. }) {
                    call.state = State::Done;
                    self.open -= 1;
                    if code < 300 {
                        self.report.completed += 1;
                    } else {
                        self.report.rejected_other += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// Retransmits what is due; gives up on calls past timer B/F.
    pub(crate) fn on_timers(&mut self, now: Instant) -> anyhow::Result<()> {
        while let Some(&Reverse((at, index, waited, bye))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(call) = self.calls.get_mut(index as usize) else { continue };
            let dn = call.dn;
            let bytes = match &call.state {
                State::Inviting if !bye => self.wire.invite(index, dn),
                State::Byeing { tag, uri } if bye => self.wire.in_dialog(index, dn, Method::Bye, tag, uri),
                State::Inviting | State::Byeing { .. } | State::Proceeding | State::Done => continue,
            };
            let Some(call) = self.calls.get_mut(index as usize) else { continue };
            if now.saturating_duration_since(call.invited) >= GIVE_UP {
                call.state = State::Done;
                self.open -= 1;
                self.report.timed_out += 1;
                continue;
            }
            if !self.link.reliable() {
                if matches!(call.state, State::Inviting) {
                    self.report.retransmissions += 1;
                }
                self.link.send(&bytes);
            }
            let next = if matches!(call.state, State::Inviting) { waited * 2 } else { (waited * 2).min(T2) };
            self.timers.push(Reverse((now + next, index, next, bye)));
        }
        Ok(())
    }

    pub(crate) fn report(mut self, elapsed: Duration, cpu_s: f64) -> Report {
        self.report.unfinished = self.open;
        self.report.elapsed = elapsed;
        self.report.cpu_s = cpu_s;
        self.report
    }
}

impl Wire {
    fn invite(&self, index: u32, dn: u32) -> Vec<u8> {
        let Self { local, target, transport, run } = *self;
        format!(
            "INVITE sip:{dn}@{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-lg{run:x}-{index}-i\r\n\
             Max-Forwards: 70\r\nFrom: \"gateway\" <sip:+12025550147@{local}>;tag=lg{run:x}-{index}\r\n\
             To: <sip:{dn}@{target}>\r\nCall-ID: lg-{index}-{run:x}@loadgen\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:gw@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        )
        .into_bytes()
    }

    /// The ACK of a failure answer: same branch as the INVITE (RFC 3261 section 17.1.1.3).
    fn failure_ack(&self, index: u32, dn: u32, tag: &str) -> Vec<u8> {
        let Self { local, target, transport, run } = *self;
        format!(
            "ACK sip:{dn}@{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-lg{run:x}-{index}-i\r\n\
             Max-Forwards: 70\r\nFrom: \"gateway\" <sip:+12025550147@{local}>;tag=lg{run:x}-{index}\r\n\
             To: <sip:{dn}@{target}>;tag={tag}\r\nCall-ID: lg-{index}-{run:x}@loadgen\r\nCSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    /// ACK of a 200, or BYE: in the dialog, to the 200's Contact.
    fn in_dialog(&self, index: u32, dn: u32, method: Method<'_>, tag: &str, uri: &str) -> Vec<u8> {
        let Self { local, target, transport, run } = *self;
        let (seq, branch) = if method == Method::Ack { (1, "a") } else { (2, "b") };
        let uri = if uri.is_empty() { format!("sip:{dn}@{target}") } else { uri.to_owned() };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-lg{run:x}-{index}-{branch}\r\n\
             Max-Forwards: 70\r\nFrom: \"gateway\" <sip:+12025550147@{local}>;tag=lg{run:x}-{index}\r\n\
             To: <sip:{dn}@{target}>;tag={tag}\r\nCall-ID: lg-{index}-{run:x}@loadgen\r\nCSeq: {seq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }
}

fn call_index(call_id: &str) -> Option<u32> {
    call_id.strip_prefix("lg-")?.split_once('-')?.0.parse().ok()
}

fn contact_uri(msg: &Message<'_>) -> Option<String> {
    let value = msg.header(HeaderName::Contact)?;
    let inner = value.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map_or(value, |(uri, _)| uri);
    Some(inner.trim().to_owned())
}
