//! A scripted SIP user agent: registers, calls, answers by policy, hangs up, cancels,
//! re-INVITEs. Built on `sipcore`'s transactions so it retransmits like a real phone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipcore::{ClientOutcome, Peer, RequestOutcome, TransactionConfig, TransactionLayer, TxKey};
use sipmsg::{Framing, HeaderName, Message, MessageBuilder, Method, ViaStamp};

pub use crate::ua_event::{Pickup, UaEvent};

#[derive(Debug, Clone)]
struct Dialog {
    call_id: String,
    local: String,
    remote: String,
    target: String,
    cseq: u32,
    invite_branch: String,
    invite: Option<Arc<[u8]>>,
    confirmed: bool,
}

#[derive(Debug)]
enum Pending {
    Register,
    Refer,
    Invite,
    ReInvite,
    Bye,
    Other,
}

/// One user agent at one address.
#[derive(Debug)]
pub struct Ua {
    /// Its address.
    pub addr: SocketAddr,
    /// Its DN / user.
    pub user: String,
    /// How it answers calls.
    pub answer: Pickup,
    /// Follows 3xx redirects (as media gateways do). Default true.
    pub follow_redirects: bool,
    /// Never answers a re-INVITE (a broken phone). Default false.
    pub deaf_to_reinvites: bool,
    tx: TransactionLayer,
    dialogs: BTreeMap<String, Dialog>,
    pending: BTreeMap<TxKey, Pending>,
    /// Our 200s to incoming INVITEs waiting for their ACK: call -> (bytes, next, interval).
    unacked: BTreeMap<String, (Arc<[u8]>, Instant, Duration)>,
    /// Delayed answers: (when, call).
    answers: Vec<(Instant, String, TxKey)>,
    incoming: BTreeMap<String, (Arc<[u8]>, TxKey)>,
    /// Incoming calls ringing or answered, not yet cancelled or hung up.
    live: std::collections::BTreeSet<String>,
    seq: u64,
    /// Everything that happened, in order.
    pub events: Vec<UaEvent>,
}

use crate::media::{answer_to, direction_of, sdp_with, SDP};

impl Ua {
    /// A UA for `user` at `addr`.
    pub fn new(user: &str, addr: SocketAddr, answer: Pickup) -> Self {
        Self {
            addr,
            user: user.into(),
            answer,
            follow_redirects: true,
            deaf_to_reinvites: false,
            tx: TransactionLayer::new(TransactionConfig::default()),
            dialogs: BTreeMap::new(),
            pending: BTreeMap::new(),
            unacked: BTreeMap::new(),
            answers: Vec::new(),
            incoming: BTreeMap::new(),
            live: std::collections::BTreeSet::new(),
            seq: 0,
            events: Vec::new(),
        }
    }

    fn next(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("{what}{}x{}", self.addr.port(), self.seq)
    }

    /// Registers `self.user` at `registrar` with this UA's address as Contact.
    pub fn register(&mut self, now: Instant, registrar: SocketAddr) {
        let branch = format!("z9hG4bK{}", self.next("r"));
        let call_id = self.next("reg");
        let mut b = MessageBuilder::request(Method::Register, &format!("sip:{registrar}"));
        b.header_fmt("Via", format_args!("SIP/2.0/UDP {};branch={branch};rport", self.addr));
        b.header("Max-Forwards", "70");
        let tag = self.next("t");
        b.header_fmt("From", format_args!("<sip:{}@{registrar}>;tag={tag}", self.user));
        b.header_fmt("To", format_args!("<sip:{}@{registrar}>", self.user));
        b.header("Call-ID", &call_id);
        b.header("CSeq", "1 REGISTER");
        b.header_fmt("Contact", format_args!("<sip:{}@{}>", self.user, self.addr));
        b.header("Expires", "3600");
        let key =
            self.tx.send_request(now, &branch, Method::Register, Peer::udp(registrar), b.finish(None, b"").into());
        self.pending.insert(key, Pending::Register);
    }

    /// Calls `dn` at `site`; returns the call's Call-ID.
    pub fn call(&mut self, now: Instant, site: SocketAddr, dn: &str) -> String {
        self.call_uri(now, site, &format!("sip:{dn}@{site}"))
    }

    /// Calls `uri`, sending the INVITE to `site`; returns the call's Call-ID.
    pub fn call_uri(&mut self, now: Instant, site: SocketAddr, uri: &str) -> String {
        let branch = format!("z9hG4bK{}", self.next("i"));
        let call_id = self.next("call");
        let tag = self.next("t");
        let local = format!("<sip:{}@{}>;tag={tag}", self.user, self.addr);
        let remote = format!("<{uri}>");
        let mut b = MessageBuilder::request(Method::Invite, uri);
        b.header_fmt("Via", format_args!("SIP/2.0/UDP {};branch={branch}", self.addr));
        b.header("Max-Forwards", "70");
        b.header("From", &local);
        b.header("To", &remote);
        b.header("Call-ID", &call_id);
        b.header("CSeq", "1 INVITE");
        b.header_fmt("Contact", format_args!("<sip:{}@{}>", self.user, self.addr));
        let bytes: Arc<[u8]> = b.finish(Some("application/sdp"), SDP).into();
        let key = self.tx.send_request(now, &branch, Method::Invite, Peer::udp(site), bytes.clone());
        self.pending.insert(key, Pending::Invite);
        let dialog = Dialog {
            call_id: call_id.clone(),
            local,
            remote,
            target: uri.to_owned(),
            cseq: 1,
            invite_branch: branch,
            invite: Some(bytes),
            confirmed: false,
        };
        self.dialogs.insert(call_id.clone(), dialog);
        call_id
    }

    /// Hangs up `call` (BYE inside its dialog).
    pub fn hang_up(&mut self, now: Instant, site: SocketAddr, call: &str) {
        self.in_dialog(now, site, call, Method::Bye);
    }

    /// Sends a re-INVITE inside `call`'s dialog.
    pub fn re_invite(&mut self, now: Instant, site: SocketAddr, call: &str) {
        self.in_dialog(now, site, call, Method::Invite);
    }

    /// Cancels our ringing INVITE `call`.
    pub fn cancel(&mut self, now: Instant, site: SocketAddr, call: &str) {
        let Some(d) = self.dialogs.get(call) else { return };
        let Some(invite) = d.invite.clone() else { return };
        let Ok(inv) = Message::parse(&invite, Framing::Datagram) else { return };
        let mut b = MessageBuilder::request(Method::Cancel, inv.request_uri().unwrap_or(""));
        b.header("Via", inv.values(HeaderName::Via).next().unwrap_or(""));
        b.header("Max-Forwards", "70");
        b.header("From", inv.header(HeaderName::From).unwrap_or(""));
        b.header("To", inv.header(HeaderName::To).unwrap_or(""));
        b.header("Call-ID", call);
        b.header("CSeq", "1 CANCEL");
        let branch = d.invite_branch.clone();
        let key = self.tx.send_request(now, &branch, Method::Cancel, Peer::udp(site), b.finish(None, b"").into());
        self.pending.insert(key, Pending::Other);
    }

    fn in_dialog(&mut self, now: Instant, site: SocketAddr, call: &str, method: Method<'_>) {
        self.in_dialog_with(now, site, call, method, SDP);
    }

    /// Sends `method` in dialog `call` to `site`; an INVITE carries `sdp`.
    pub(crate) fn in_dialog_with(
        &mut self,
        now: Instant,
        site: SocketAddr,
        call: &str,
        method: Method<'_>,
        sdp: &[u8],
    ) {
        self.in_dialog_headers(now, site, call, (method, sdp), &[]);
    }

    /// Sends `method` in dialog `call` with extra headers (`Refer-To`); an INVITE carries `sdp`.
    pub(crate) fn in_dialog_headers(
        &mut self,
        now: Instant,
        site: SocketAddr,
        call: &str,
        (method, sdp): (Method<'_>, &[u8]),
        extra: &[(&str, &str)],
    ) {
        let branch = format!("z9hG4bK{}", self.next("d"));
        let Some(d) = self.dialogs.get_mut(call) else { return };
        d.cseq += 1;
        let mut b = MessageBuilder::request(method, &d.target);
        b.header_fmt("Via", format_args!("SIP/2.0/UDP {};branch={branch}", self.addr));
        b.header("Max-Forwards", "70");
        b.header("From", &d.local);
        b.header("To", &d.remote);
        b.header("Call-ID", &d.call_id);
        b.header_fmt("CSeq", format_args!("{} {method}", d.cseq));
        for (name, value) in extra {
            b.header(name, value);
        }
        let bytes = if method == Method::Invite { b.finish(Some("application/sdp"), sdp) } else { b.finish(None, b"") };
        let key = self.tx.send_request(now, &branch, method, Peer::udp(site), bytes.into());
        let what = match method {
            Method::Bye => Pending::Bye,
            Method::Refer => Pending::Refer,
            _ => Pending::ReInvite,
        };
        self.pending.insert(key, what);
    }

    /// A datagram for this UA.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = Message::parse(bytes, Framing::Datagram) else { return };
        if msg.is_request() {
            self.on_request(now, &msg, from);
        } else {
            self.on_response(now, &msg, from);
        }
    }

    fn on_response(&mut self, now: Instant, msg: &Message<'_>, from: SocketAddr) {
        let code = msg.status().unwrap_or(0);
        let ClientOutcome::Deliver(key) = self.tx.handle_response(now, msg) else {
            // A 2xx retransmission after our INVITE transaction ended: ACK it again.
            if (200..300).contains(&code) && msg.cseq().is_some_and(|c| c.method == Method::Invite) {
                if let Some(call) = msg.call_id().map(str::to_owned) {
                    self.ack(now, &call, from, msg.cseq().map_or(1, |c| c.seq));
                }
            }
            return;
        };
        let call = msg.call_id().unwrap_or("").to_owned();
        match self.pending.get(&key) {
            Some(Pending::Register) if code >= 200 => self.events.push(UaEvent::Registered(code)),
            Some(Pending::Invite) if code < 200 => self.events.push(UaEvent::Provisional { call, code }),
            Some(Pending::Invite) => {
                if (200..300).contains(&code) {
                    let first = self.dialogs.get(&call).is_some_and(|d| !d.confirmed);
                    if let Some(d) = self.dialogs.get_mut(&call) {
                        d.confirmed = true;
                        if let Some(tag) = msg.to().and_then(|t| t.tag()) {
                            d.remote = format!("{};tag={tag}", d.remote.split(";tag=").next().unwrap_or(""));
                        }
                        if let Some(Some(sipmsg::Contact::Address(a))) = msg.contacts().next() {
                            d.target = a.uri_text.to_owned();
                        }
                    }
                    self.ack(now, &call, from, 1);
                    if first {
                        self.events.push(UaEvent::Final { call, code });
                    }
                } else {
                    self.events.push(UaEvent::Final { call: call.clone(), code });
                    if (300..400).contains(&code) && self.follow_redirects {
                        // A gateway follows the redirect: a new INVITE to the Contact (BC-24).
                        if let Some(Some(sipmsg::Contact::Address(a))) = msg.contacts().next() {
                            if let Some(target) = a.uri.as_sip().and_then(|u| {
                                format!("{}:{}", u.host, u.port.unwrap_or(5060)).parse::<SocketAddr>().ok()
                            }) {
                                let uri = a.uri_text.to_owned();
                                let new_call = self.call_uri(now, target, &uri);
                                self.events.push(UaEvent::Redirected { call, to: uri, new_call });
                            }
                        }
                    }
                }
            }
            Some(Pending::ReInvite) if code >= 200 => {
                let cseq = msg.cseq().map_or(1, |c| c.seq);
                if (200..300).contains(&code) {
                    self.ack(now, &call, from, cseq);
                }
                self.events.push(UaEvent::ReInviteAnswered { call, code });
            }
            Some(Pending::Bye) if code >= 200 => self.events.push(UaEvent::ByeAnswered { call, code }),
            Some(Pending::Refer) if code >= 200 => self.events.push(UaEvent::ReferAnswered { call, code }),
            _ => {}
        }
    }

    fn ack(&mut self, _now: Instant, call: &str, to: SocketAddr, cseq: u32) {
        let branch = format!("z9hG4bK{}", self.next("a"));
        let Some(d) = self.dialogs.get(call) else { return };
        let mut b = MessageBuilder::request(Method::Ack, &d.target);
        b.header_fmt("Via", format_args!("SIP/2.0/UDP {};branch={branch}", self.addr));
        b.header("Max-Forwards", "70");
        b.header("From", &d.local);
        b.header("To", &d.remote);
        b.header("Call-ID", &d.call_id);
        b.header_fmt("CSeq", format_args!("{cseq} ACK"));
        self.tx.send_stateless(Peer::udp(to), b.finish(None, b"").into());
    }

    fn on_request(&mut self, now: Instant, msg: &Message<'_>, from: SocketAddr) {
        let peer = Peer::udp(from);
        let call = msg.call_id().unwrap_or("").to_owned();
        let key = match self.tx.handle_request(now, msg, peer) {
            RequestOutcome::New(key) => key,
            RequestOutcome::AckForTu => {
                self.unacked.remove(&call);
                return;
            }
            _ => return,
        };
        let tag = format!("ua{}", self.addr.port());
        let respond = |ua: &mut Self, code: u16, body: bool| {
            let mut b = MessageBuilder::response_to(msg, code, "UA", Some(&tag), &ViaStamp::default());
            b.header_fmt("Contact", format_args!("<sip:{}@{}>", ua.user, ua.addr));
            let bytes: Arc<[u8]> =
                if body { b.finish(Some("application/sdp"), SDP) } else { b.finish(None, b"") }.into();
            ua.tx.respond(now, &key, code, bytes.clone());
            bytes
        };
        match msg.method() {
            Some(Method::Invite) if self.deaf_to_reinvites && msg.to().and_then(|t| t.tag()).is_some() => {}
            Some(Method::Invite) if msg.to().and_then(|t| t.tag()).is_some() => {
                let direction = direction_of(msg.body());
                self.events.push(UaEvent::ReInvited { call: call.clone(), direction });
                let mut b = MessageBuilder::response_to(msg, 200, "OK", Some(&tag), &ViaStamp::default());
                b.header_fmt("Contact", format_args!("<sip:{}@{}>", self.user, self.addr));
                let bytes: Arc<[u8]> = b.finish(Some("application/sdp"), &sdp_with(answer_to(direction))).into();
                self.tx.respond(now, &key, 200, bytes.clone());
                self.unacked.insert(call, (bytes, now + Duration::from_millis(500), Duration::from_millis(500)));
            }
            Some(Method::Invite) => {
                self.events.push(UaEvent::Incoming { call: call.clone() });
                if self.answer != Pickup::Busy {
                    self.live.insert(call.clone());
                }
                match self.answer {
                    Pickup::Busy => {
                        respond(self, 486, false);
                    }
                    Pickup::Never => {
                        respond(self, 180, false);
                        self.incoming.insert(call, (Arc::from(msg.as_bytes()), key.clone()));
                    }
                    Pickup::After(delay) => {
                        respond(self, 180, false);
                        self.incoming.insert(call.clone(), (Arc::from(msg.as_bytes()), key.clone()));
                        self.answers.push((now + delay, call, key.clone()));
                    }
                }
            }
            Some(Method::Cancel) => {
                respond(self, 200, false);
                if let Some((invite, invite_key)) = self.incoming.remove(&call) {
                    if let Ok(inv) = Message::parse(&invite, Framing::Datagram) {
                        let b = MessageBuilder::response_to(
                            &inv,
                            487,
                            "Request Terminated",
                            Some(&tag),
                            &ViaStamp::default(),
                        );
                        self.tx.respond(now, &invite_key, 487, b.finish(None, b"").into());
                    }
                    self.answers.retain(|a| a.1 != call);
                    self.live.remove(&call);
                    self.events.push(UaEvent::Cancelled { call });
                }
            }
            Some(Method::Notify)
                if msg
                    .headers()
                    .iter()
                    .any(|h| h.raw_name.eq_ignore_ascii_case("Event") && h.value.trim() == "talk") =>
            {
                // Remote answer (BroadSoft-style talk event): answer the ringing call now.
                respond(self, 200, false);
                if let Some((_, invite_key)) = self.incoming.get(&call) {
                    self.answers.push((now, call.clone(), invite_key.clone()));
                    self.events.push(UaEvent::TalkRequested { call });
                }
            }
            Some(Method::Notify) => {
                respond(self, 200, false);
                let body = String::from_utf8_lossy(msg.body()).trim().to_owned();
                self.events.push(UaEvent::Notified { call, body });
            }
            Some(Method::Bye) => {
                respond(self, 200, false);
                self.dialogs.remove(&call);
                self.unacked.remove(&call);
                self.live.remove(&call);
                self.events.push(UaEvent::ByeReceived { call });
            }
            _ => {
                respond(self, 200, false);
            }
        }
    }

    /// Keeps the dialog of an incoming call we answered, so this phone can hold it or
    /// hang up itself.
    fn answered_dialog(&mut self, invite: &Message<'_>, tag: &str) {
        let (Some(call_id), Some(from), Some(to)) =
            (invite.call_id(), invite.header(HeaderName::From), invite.header(HeaderName::To))
        else {
            return;
        };
        let target = match invite.contacts().next().flatten() {
            Some(sipmsg::Contact::Address(a)) => a.uri_text.to_owned(),
            _ => invite.request_uri().unwrap_or("").to_owned(),
        };
        let dialog = Dialog {
            call_id: call_id.to_owned(),
            local: format!("{to};tag={tag}"),
            remote: from.to_owned(),
            target,
            cseq: 100,
            invite_branch: String::new(),
            invite: None,
            confirmed: true,
        };
        self.dialogs.insert(call_id.to_owned(), dialog);
    }

    /// Fires due timers (transactions, delayed answers, 2xx retransmissions).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        let due: Vec<(Instant, String, TxKey)> = self.answers.iter().filter(|a| a.0 <= now).cloned().collect();
        self.answers.retain(|a| a.0 > now);
        let tag = format!("ua{}", self.addr.port());
        for (_, call, key) in due {
            let Some((invite, _)) = self.incoming.remove(&call) else { continue };
            let Ok(inv) = Message::parse(&invite, Framing::Datagram) else { continue };
            let mut b = MessageBuilder::response_to(&inv, 200, "OK", Some(&tag), &ViaStamp::default());
            b.header_fmt("Contact", format_args!("<sip:{}@{}>", self.user, self.addr));
            let bytes: Arc<[u8]> = b.finish(Some("application/sdp"), SDP).into();
            self.tx.respond(now, &key, 200, bytes.clone());
            self.answered_dialog(&inv, &tag);
            self.unacked.insert(call, (bytes, now + Duration::from_millis(500), Duration::from_millis(500)));
        }
        let resend: Vec<String> = self.unacked.iter().filter(|(_, u)| u.1 <= now).map(|(c, _)| c.clone()).collect();
        for call in resend {
            let Some((bytes, _, interval)) = self.unacked.get(&call).cloned() else { continue };
            if interval > Duration::from_secs(16) {
                self.unacked.remove(&call);
                continue;
            }
            let to: Option<SocketAddr> = Message::parse(&bytes, Framing::Datagram)
                .ok()
                .and_then(|m| m.top_via().and_then(|v| format!("{}:{}", v.host, v.port.unwrap_or(5060)).parse().ok()));
            if let Some(to) = to {
                self.tx.send_stateless(Peer::udp(to), bytes.clone());
            }
            let next = (interval * 2).min(Duration::from_secs(4));
            self.unacked.insert(call, (bytes, now + next, next));
        }
        while let Some(e) = self.tx.poll_event() {
            if let sipcore::TransactionEvent::TimedOut(k) = e {
                if !k.server {
                    self.events.push(UaEvent::TimedOut);
                }
            }
        }
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.tx.poll_timeout(), self.answers.iter().map(|a| a.0).min(), self.unacked.values().map(|u| u.1).min()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next datagram to send: (to, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.tx.poll_transmit().map(|t| (t.to.addr, t.bytes.to_vec()))
    }

    /// Incoming calls ringing or answered here (not cancelled, not hung up).
    pub fn live_calls(&self) -> usize {
        self.live.len()
    }

    /// Dialog `call`'s tags: (ours, the other side's), once both are known.
    pub fn tags(&self, call: &str) -> Option<(String, String)> {
        let tag = |v: &str| v.split(";tag=").nth(1).map(|t| t.split(';').next().unwrap_or(t).to_owned());
        self.dialogs.get(call).and_then(|d| Some((tag(&d.local)?, tag(&d.remote)?)))
    }

    /// Calls in a confirmed dialog or waiting for an answer.
    pub fn dialogs(&self) -> usize {
        self.dialogs.len()
    }
}
