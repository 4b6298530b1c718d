//! The phone: registers the DNs with the generator's address as Contact, then answers
//! every INVITE at once with 200 (SDP) and every BYE with 200, statelessly: a
//! retransmitted INVITE gets the same 200 again (the To tag comes from the Call-ID).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipmsg::{Framing, Message, MessageBuilder, Method, ViaStamp};

use crate::link::Link;

pub(crate) struct Phone {
    target: SocketAddr,
    local: SocketAddr,
    /// `UDP` or `TLS`, for Via and Contact.
    transport: &'static str,
    /// This run (in the REGISTERs' Call-ID: an earlier run's CSeq does not count).
    run: u32,
}

const SDP: &[u8] = b"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

impl Phone {
    pub(crate) fn new(local: SocketAddr, target: SocketAddr, transport: &'static str, run: u32) -> Self {
        Self { target, local, transport, run }
    }

    /// Registers `count` DNs from `first` with this run's address as their only contact:
    /// first `Contact: *` clears what earlier runs left (else calls would fork to their
    /// closed ports too), then the REGISTERs proper.
    pub(crate) fn register(&self, link: &mut Link, first: u32, count: u32) -> anyhow::Result<()> {
        self.exchange(link, first, count, true)?;
        self.exchange(link, first, count, false)
    }

    /// Sends a REGISTER per DN, 100 at a time (a site may shed a burst from one source);
    /// fails if any is still unanswered after ten rounds.
    fn exchange(&self, link: &mut Link, first: u32, count: u32, clear: bool) -> anyhow::Result<()> {
        let mut missing: Vec<u32> = (first..first + count).collect();
        let mut buf = vec![0u8; 65_536];
        for round in 0..10 {
            for chunk in missing.clone().chunks(100) {
                for &dn in chunk {
                    link.send(&self.register_request(dn, round, clear));
                }
                let until = Instant::now() + Duration::from_millis(300);
                while Instant::now() < until && chunk.iter().any(|dn| missing.contains(dn)) {
                    take_register_answers(link, &mut buf, &mut missing)?;
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
        }
        anyhow::bail!("{} DNs not registered (first: {:?})", missing.len(), missing.first())
    }

    fn register_request(&self, dn: u32, round: u32, clear: bool) -> Vec<u8> {
        let (target, run) = (self.target, self.run);
        let cseq = if clear { round + 1 } else { round + 11 };
        let mut b = MessageBuilder::request(Method::Register, &format!("sip:{target}"));
        b.header_fmt(
            "Via",
            format_args!("SIP/2.0/{} {};branch=z9hG4bK-lgreg{run:x}-{dn}-{cseq}", self.transport, self.local),
        );
        b.header("Max-Forwards", "70");
        b.header_fmt("From", format_args!("<sip:{dn}@{target}>;tag=lgreg{dn}"));
        b.header_fmt("To", format_args!("<sip:{dn}@{target}>"));
        b.header_fmt("Call-ID", format_args!("lgreg-{dn}-{run:x}@loadgen"));
        b.header_fmt("CSeq", format_args!("{cseq} REGISTER"));
        if clear {
            b.header("Contact", "*");
            b.header("Expires", "0");
        } else {
            let param = if self.transport == "TLS" { ";transport=tls" } else { "" };
            b.header_fmt("Contact", format_args!("<sip:{dn}@{}{param}>", self.local));
            b.header("Expires", "3600");
        }
        b.finish(None, b"")
    }

    /// The answer to a request (none to an ACK).
    pub(crate) fn answer(&self, msg: &Message<'_>) -> Option<Vec<u8>> {
        let method = msg.method()?;
        let tag = format!("ph{:x}", fnv(msg.call_id().unwrap_or("").as_bytes()));
        let mut b = MessageBuilder::response_to(msg, 200, "OK", Some(&tag), &ViaStamp::default());
        match method {
            Method::Invite => {
                b.header_fmt("Contact", format_args!("<sip:phone@{}>", self.local));
                Some(b.finish(Some("application/sdp"), SDP))
            }
            Method::Ack => None,
            _ => Some(b.finish(None, b"")),
        }
    }
}

/// Reads answers to REGISTER; false when nothing was waiting.
fn take_register_answers(link: &mut Link, buf: &mut [u8], missing: &mut Vec<u32>) -> anyhow::Result<bool> {
    let Some((n, _)) = link.recv(buf)? else { return Ok(false) };
    let Ok(msg) = Message::parse(&buf[..n], Framing::Datagram) else { return Ok(true) };
    if msg.status() == Some(200) {
        let dn = msg.call_id().and_then(|c| c.strip_prefix("lgreg-")?.split_once('-')?.0.parse().ok());
        if let Some(dn) = dn {
            missing.retain(|m| *m != dn);
        }
    }
    Ok(true)
}

/// FNV-1a: a stable tag per Call-ID without keeping state.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
